/* main: the `ccrelay` command line. serve (foreground), start / stop / restart / status
 * (background, pid and log files under ~/.ccrelay/), code (run Claude Code through the proxy),
 * activate (print the environment for a shell), route / check (dry runs), version. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "route_cmd.h"
#include "server.h"

#ifndef CCRELAY_VERSION
#define CCRELAY_VERSION "0.1.0"
#endif

struct opts {
    const char *config;
    const char *host;
    int port;
    const char *log_level;
    const char *pid_file;
    int workers; /* -1: one per core (1 with --port 0) */
};

static const char USAGE[] =
    "ccrelay " CCRELAY_VERSION ": run Claude Code on any model.\n"
    "\n"
    "Usage: ccrelay <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve              run the proxy in the foreground\n"
    "  start              run the proxy in the background (pid and log under ~/.ccrelay/)\n"
    "  stop               stop the background proxy\n"
    "  restart            stop, then start\n"
    "  status             say whether the proxy runs, where, and with which config\n"
    "  code [ARGS...]     start the proxy if needed, then run `claude ARGS...` through it\n"
    "  activate           print `export` lines: eval \"$(ccrelay activate)\"\n"
    "  route [FILE|-]     show which route a request would take (contacts nothing)\n"
    "  check              validate the config and the routing scripts\n"
    "  version            print the version\n"
    "\n"
    "Options (every command):\n"
    "  --config FILE      config file (default: $CCRELAY_CONFIG, ~/.ccrelay/config.json,\n"
    "                     else the embedded default)\n"
    "  --host HOST        listen address (default 127.0.0.1, or HOST in the config)\n"
    "  --port PORT        listen port (default 3456, or PORT in the config)\n"
    "  --log-level LEVEL  error | warn | info | debug\n"
    "  --workers N        serve / start: N processes share the port (SO_REUSEPORT);\n"
    "                     default one per core (one with --port 0)\n"
    "  --litellm-config FILE  route by a LiteLLM litellm_config.yaml (model_list)\n"
    "  -h, --help         help (also `ccrelay <command> --help`)\n";

static const struct {
    const char *name, *help;
} CMD_HELP[] = {
    {"serve", "Usage: ccrelay serve [--config FILE] [--host HOST] [--port PORT] [--log-level L]\n"
              "Run the proxy in the foreground, logging to stderr. SIGHUP (or an edit of the\n"
              "config file or a routing script) reloads the configuration; SIGINT/SIGTERM stop\n"
              "it after the requests in flight end.\n"},
    {"start", "Usage: ccrelay start [--config FILE] [--host HOST] [--port PORT]\n"
              "Run the proxy in the background. Pid file: ~/.ccrelay/ccrelay.pid, log file:\n"
              "~/.ccrelay/ccrelay.log. Waits until the proxy answers.\n"},
    {"stop", "Usage: ccrelay stop\nStop the background proxy (SIGTERM, then waits up to 10 s).\n"},
    {"restart", "Usage: ccrelay restart [options]\nStop the background proxy, then start it.\n"},
    {"status", "Usage: ccrelay status\nSay whether the background proxy runs, its pid and "
               "port, and whether it answers.\n"},
    {"code", "Usage: ccrelay code [claude arguments...]\n"
             "Start the proxy if it is not running, then run `claude` with ANTHROPIC_BASE_URL\n"
             "and ANTHROPIC_AUTH_TOKEN pointing at it. Every argument is passed to claude\n"
             "(`ccrelay code -- --help` shows claude's own help).\n"},
    {"activate", "Usage: eval \"$(ccrelay activate)\"\n"
                 "Print the export lines that point Claude Code (and the Anthropic SDKs) at "
                 "ccrelay.\nccrelay never edits your shell files: you decide.\n"},
    {"route", "Usage: ccrelay route [--config FILE] [FILE|-]\n"
              "Read an Anthropic request body (or a captured {\"headers\",\"body\"} file) and\n"
              "print which rule fires, the thinking level, the token estimate and the targets,\n"
              "without contacting any provider.\n"},
    {"check", "Usage: ccrelay check [--config FILE]\n"
              "Validate the config and the routing scripts; exit 1 with the errors.\n"},
    {"version", "Usage: ccrelay version\n"},
};

static void print_help(const char *cmd) {
    for (size_t i = 0; cmd && i < sizeof CMD_HELP / sizeof *CMD_HELP; i++) {
        if (strcmp(cmd, CMD_HELP[i].name) == 0) {
            fputs(CMD_HELP[i].help, stdout);
            return;
        }
    }
    fputs(USAGE, stdout);
}

/* ---- files under ~/.ccrelay ---- */

static int state_path(char *buf, size_t n, const char *name) {
    const char *home = getenv("HOME");
    if (!home || !*home) return -1;
    int k = snprintf(buf, n, "%s/.ccrelay%s%s", home, name ? "/" : "", name ? name : "");
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

static int ensure_state_dir(void) {
    char dir[PATH_MAX];
    if (state_path(dir, sizeof dir, NULL) != 0) return -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* pid from the pid file: >0 running, 0 none, -N stale (process N is gone) */
static long read_pid(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1) pid = 0;
    fclose(f);
    if (pid <= 0) return 0;
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) return pid;
    return -pid;
}

/* ---- a tiny blocking health probe (loopback) ---- */

static bool probe_health(const char *host, int port) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
    if (strcmp(host, "::") == 0) host = "::1";
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) return false;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    bool ok = false;
    if (fd >= 0) {
        struct timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            static const char req[] = "GET /health HTTP/1.0\r\n\r\n";
            char buf[64] = {0};
            if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
                read(fd, buf, sizeof buf - 1) > 12)
                ok = strncmp(buf + 9, "200", 3) == 0;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

/* ---- config ---- */

static struct config *load_config(const struct opts *o, char **path_out, struct err *e) {
    char *path = o->config ? strdup(o->config) : config_default_path();
    struct config *cfg = NULL;
    if (config_load(path, &cfg, e) != 0) {
        free(path);
        return NULL;
    }
    if (o->host) {
        free(cfg->host);
        cfg->host = strdup(o->host);
    }
    if (o->port >= 0) cfg->port = o->port;
    if (o->log_level) log_level_parse(o->log_level, &cfg->log_level);
    if (path_out) *path_out = path;
    else free(path);
    return cfg;
}

/* ---- serve ---- */

struct serve_ctx {
    struct event_base *base;
    struct server *srv;
    struct event *check;
    int signals;
};

static void drain_check_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct serve_ctx *sc = arg;
    if (server_clients(sc->srv) == 0) event_base_loopbreak(sc->base);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    struct serve_ctx *sc = arg;
    if (++sc->signals > 1) { /* second signal: stop now */
        event_base_loopbreak(sc->base);
        return;
    }
    log_info(server_logger(sc->srv), "signal %d: no new connections; stopping when the %d "
                                     "open connection(s) finish (again to stop now)",
             (int)fd, server_clients(sc->srv));
    server_shutdown(sc->srv, false);
    struct timeval tv = {0, 100000};
    sc->check = event_new(sc->base, -1, EV_PERSIST, drain_check_cb, sc);
    if (sc->check) event_add(sc->check, &tv);
    struct timeval limit = {30, 0};
    event_base_loopexit(sc->base, &limit);
}

/* Run one server process. worker > 0: one of several sharing the port (SO_REUSEPORT) under a
 * supervisor, which owns the pid file. */
static int run_server(const struct opts *o, int worker) {
    struct err e = {0};
    /* Request bodies and their copies are 50-130 KB each: they come from the heap, not from a
     * mapping each (page faults and munmap calls were 5-13% of the CPU in perf profiles of 256
     * paced streams); the server gives the heap's free memory back after a burst (server.c,
     * trim_cb). A fixed threshold also keeps glibc from raising it for ever larger blocks. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    char *path = NULL;
    struct config *cfg = load_config(o, &path, &e);
    if (!cfg) {
        fprintf(stderr, "ccrelay: %s\n", e.msg);
        return 1;
    }
    struct logger lg;
    log_init(&lg, cfg->log_level, stderr);
    lg.worker = worker;
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "ccrelay: cannot create the event loop\n");
        config_free(cfg);
        free(path);
        return 1;
    }
    char *source = strdup(cfg->source);
    char **notes = NULL;
    size_t nnotes = 0;
    for (char **n = cfg->notes; n && *n; n++) nnotes++;
    notes = calloc(nnotes + 1, sizeof *notes);
    for (size_t i = 0; notes && i < nnotes; i++) notes[i] = strdup(cfg->notes[i]);
    struct server_opts so = {.config_path = path, .reuse_port = worker > 0};
    struct server *srv = server_new(base, &lg, cfg, &so, &e); /* takes cfg */
    if (!srv) {
        fprintf(stderr, "ccrelay: %s\n", e.msg);
        event_base_free(base);
        free(path);
        free(source);
        for (size_t i = 0; notes && i < nnotes; i++) free(notes[i]);
        free(notes);
        return 1;
    }
    const struct config *live = server_generation(srv)->cfg;
    log_info(&lg, "ccrelay %s listening on http://%s:%d (config: %s)", CCRELAY_VERSION,
             live->host, server_port(srv), source);
    for (size_t i = 0; notes && i < nnotes; i++) {
        log_info(&lg, "%s", notes[i]);
        free(notes[i]);
    }
    free(notes);
    free(source);
    const cJSON *router = cJSON_GetObjectItemCaseSensitive(live->root, "Router");
    const cJSON *rt;
    cJSON_ArrayForEach(rt, router) {
        if (cJSON_IsString(rt) && rt->valuestring[0])
            log_info(&lg, "route %-12s -> %s", rt->string, rt->valuestring);
    }
    FILE *pf = NULL;
    if (worker == 0 && o->pid_file && (pf = fopen(o->pid_file, "w")) != NULL) {
        fprintf(pf, "%ld %d\n", (long)getpid(), server_port(srv));
        fclose(pf);
    }
    struct serve_ctx sc = {.base = base, .srv = srv};
    struct event *sigint = evsignal_new(base, SIGINT, stop_cb, &sc);
    struct event *sigterm = evsignal_new(base, SIGTERM, stop_cb, &sc);
    if (sigint) evsignal_add(sigint, NULL);
    if (sigterm) evsignal_add(sigterm, NULL);
    event_base_dispatch(base);
    log_info(&lg, "ccrelay stopped");
    if (worker == 0 && o->pid_file) unlink(o->pid_file);
    if (sigint) event_free(sigint);
    if (sigterm) event_free(sigterm);
    if (sc.check) event_free(sc.check);
    server_free(srv);
    event_base_free(base);
    free(path);
    return 0;
}

/* ---- several workers sharing the port ---- */

/* Is host:port free? A bind without SO_REUSEPORT fails when anything holds the port, another
 * ccrelay's workers included (which a SO_REUSEPORT bind would silently join). */
static int port_free(const char *host, int port, char *why, size_t n) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
        snprintf(why, n, "cannot resolve listen address %s", host);
        return 0;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int one = 1, ok = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        if (!ok && errno == EADDRINUSE)
            snprintf(why, n,
                     "port %d on %s is already in use: is ccrelay already running (`ccrelay "
                     "status`)? Stop it, or choose another port with --port",
                     port, host);
        else if (!ok)
            snprintf(why, n, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

static pid_t spawn_worker(const struct opts *o, int idx, const sigset_t *orig) {
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, orig, NULL);
        _exit(run_server(o, idx));
    }
    return pid;
}

/* The supervisor: starts the workers, passes SIGHUP / SIGTERM / SIGINT on, restarts a worker
 * that dies (giving up when they keep dying at once), and owns the pid file. Signals are taken
 * synchronously (sigtimedwait), so no handler and no global state is needed. */
static int supervise(const struct opts *o, int n) {
    struct err e = {0};
    struct config *cfg = load_config(o, NULL, &e); /* validated once, so errors appear once */
    if (!cfg) {
        fprintf(stderr, "ccrelay: %s\n", e.msg);
        return 1;
    }
    char host[256], why[300];
    snprintf(host, sizeof host, "%s", cfg->host);
    int port = cfg->port;
    config_free(cfg);
    if (!port_free(host, port, why, sizeof why)) {
        fprintf(stderr, "ccrelay: %s\n", why);
        return 1;
    }
    sigset_t set, orig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &orig);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    time_t *born = calloc((size_t)n, sizeof *born);
    if (!pids || !born) {
        free(pids);
        free(born);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        pids[i] = spawn_worker(o, i + 1, &orig);
        born[i] = time(NULL);
    }
    FILE *pf = o->pid_file ? fopen(o->pid_file, "w") : NULL;
    if (pf) {
        fprintf(pf, "%ld %d\n", (long)getpid(), port);
        fclose(pf);
    }
    fprintf(stderr, "ccrelay: %d workers share port %d (--workers); SIGHUP reloads them all\n", n,
            port);
    bool stopping = false;
    int alive = n, quick_deaths = 0, rc = 0;
    while (alive > 0) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (sig != SIGHUP) stopping = true;
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) kill(pids[i], sig);
        }
        int status;
        pid_t dead;
        while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] != dead) continue;
                pids[i] = 0;
                alive--;
                bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (stopping) {
                    if (!clean) rc = 1;
                    break;
                }
                quick_deaths = time(NULL) - born[i] < 2 ? quick_deaths + 1 : 0;
                if (quick_deaths >= 5) {
                    fprintf(stderr, "ccrelay: workers keep exiting at start; giving up\n");
                    stopping = true;
                    rc = 1;
                    for (int j = 0; j < n; j++)
                        if (pids[j] > 0) kill(pids[j], SIGTERM);
                    break;
                }
                fprintf(stderr, "ccrelay: worker %d exited (%s %d); starting it again\n", i + 1,
                        WIFSIGNALED(status) ? "signal" : "status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                pids[i] = spawn_worker(o, i + 1, &orig);
                born[i] = time(NULL);
                if (pids[i] > 0) alive++;
            }
        }
    }
    if (o->pid_file) unlink(o->pid_file);
    free(pids);
    free(born);
    return rc;
}

static int cmd_serve(const struct opts *o) {
    int n = o->workers;
    if (n < 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
        if (o->port == 0) n = 1; /* any free port: one process, one port */
    }
    if (n <= 1) return run_server(o, 0);
    if (o->port == 0) {
        fprintf(stderr, "ccrelay: --workers needs a fixed --port (0 gives each worker its own)\n");
        return 2;
    }
    return supervise(o, n);
}

/* ---- background management ---- */

static int resolved_port(const struct opts *o, char *host, size_t hn) {
    struct err e;
    struct config *cfg = load_config(o, NULL, &e);
    if (!cfg) {
        snprintf(host, hn, "127.0.0.1");
        return o->port >= 0 ? o->port : 3456;
    }
    int port = cfg->port;
    snprintf(host, hn, "%s", cfg->host);
    config_free(cfg);
    return port;
}

static int cmd_start(const struct opts *o, const char *self, bool quiet) {
    char pidf[PATH_MAX], logf[PATH_MAX];
    if (ensure_state_dir() != 0 || state_path(pidf, sizeof pidf, "ccrelay.pid") != 0 ||
        state_path(logf, sizeof logf, "ccrelay.log") != 0) {
        fprintf(stderr, "ccrelay: cannot create ~/.ccrelay (is HOME set and writable?)\n");
        return 1;
    }
    long pid = read_pid(pidf);
    if (pid > 0) {
        if (!quiet) printf("ccrelay is already running (pid %ld)\n", pid);
        return 0;
    }
    if (pid < 0) {
        fprintf(stderr, "ccrelay: removed a stale pid file (%s: process %ld is not running)\n",
                pidf, -pid);
        unlink(pidf);
    }
    /* validate before forking, so that errors reach the terminal */
    struct err e;
    struct config *cfg = load_config(o, NULL, &e);
    if (!cfg) {
        fprintf(stderr, "ccrelay: %s\n", e.msg);
        return 1;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", cfg->host);
    int port = cfg->port;
    config_free(cfg);
    if (probe_health(host, port)) {
        fprintf(stderr, "ccrelay: something already answers on %s:%d (another ccrelay started "
                        "by hand?); not starting a second one\n", host, port);
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("ccrelay: fork");
        return 1;
    }
    if (child == 0) {
        setsid();
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0) dup2(nul, 0);
        char portbuf[16];
        snprintf(portbuf, sizeof portbuf, "%d", port);
        const char *argv[20];
        int k = 0;
        argv[k++] = self;
        argv[k++] = "serve";
        argv[k++] = "--pid-file";
        argv[k++] = pidf;
        argv[k++] = "--port";
        argv[k++] = portbuf;
        argv[k++] = "--host";
        argv[k++] = host;
        if (o->config) {
            argv[k++] = "--config";
            argv[k++] = o->config;
        }
        if (o->log_level) {
            argv[k++] = "--log-level";
            argv[k++] = o->log_level;
        }
        char wbuf[16];
        if (o->workers > 0) {
            snprintf(wbuf, sizeof wbuf, "%d", o->workers);
            argv[k++] = "--workers";
            argv[k++] = wbuf;
        }
        argv[k] = NULL;
        execv(self, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* up to 10 s */
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            fprintf(stderr, "ccrelay: the server exited at start; see %s:\n", logf);
            char cmd[PATH_MAX + 32];
            snprintf(cmd, sizeof cmd, "tail -n 5 '%s' >&2", logf);
            if (system(cmd) != 0) { /* nothing more to say */
            }
            return 1;
        }
        if (probe_health(host, port)) {
            if (!quiet)
                printf("ccrelay started (pid %ld) on http://%s:%d; log: %s\n", (long)child, host,
                       port, logf);
            return 0;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "ccrelay: started (pid %ld) but it does not answer on %s:%d yet; see %s\n",
            (long)child, host, port, logf);
    return 1;
}

static int cmd_stop(void) {
    char pidf[PATH_MAX];
    if (state_path(pidf, sizeof pidf, "ccrelay.pid") != 0) return 1;
    long pid = read_pid(pidf);
    if (pid == 0) {
        printf("ccrelay is not running (no %s)\n", pidf);
        return 0;
    }
    if (pid < 0) {
        printf("ccrelay is not running; removed a stale pid file (process %ld is gone)\n", -pid);
        unlink(pidf);
        return 0;
    }
    if (kill((pid_t)pid, SIGTERM) != 0) {
        fprintf(stderr, "ccrelay: cannot signal pid %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 100; i++) {
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            unlink(pidf);
            printf("ccrelay stopped (pid %ld)\n", pid);
            return 0;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "ccrelay: pid %ld did not stop within 10 s; `kill -9 %ld` forces it\n", pid,
            pid);
    return 1;
}

static int cmd_status(const struct opts *o) {
    char pidf[PATH_MAX], host[256];
    if (state_path(pidf, sizeof pidf, "ccrelay.pid") != 0) return 1;
    long pid = read_pid(pidf);
    int port = resolved_port(o, host, sizeof host);
    FILE *f = fopen(pidf, "r");
    if (f) {
        long p2;
        int fport;
        if (fscanf(f, "%ld %d", &p2, &fport) == 2) port = fport;
        fclose(f);
    }
    if (pid > 0) {
        bool ok = probe_health(host, port);
        printf("ccrelay is running (pid %ld) on http://%s:%d: %s\n", pid, host, port,
               ok ? "answering" : "NOT answering");
        return ok ? 0 : 1;
    }
    if (pid < 0) printf("ccrelay is not running (stale pid file %s for process %ld)\n", pidf, -pid);
    else printf("ccrelay is not running\n");
    if (probe_health(host, port)) printf("note: something answers on %s:%d\n", host, port);
    return 3;
}

static void print_env(const struct opts *o, bool as_exports) {
    char host[256];
    int port = resolved_port(o, host, sizeof host);
    struct err e;
    struct config *cfg = load_config(o, NULL, &e);
    const char *token = cfg && cfg->apikey ? cfg->apikey : "ccrelay";
    if (strcmp(host, "0.0.0.0") == 0) snprintf(host, sizeof host, "127.0.0.1");
    char url[300];
    snprintf(url, sizeof url, "http://%s:%d", host, port);
    if (as_exports) {
        printf("export ANTHROPIC_BASE_URL=%s\n", url);
        printf("export ANTHROPIC_AUTH_TOKEN='%s'\n", token);
        printf("export CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1\n");
        printf("unset ANTHROPIC_API_KEY\n");
    } else {
        setenv("ANTHROPIC_BASE_URL", url, 1);
        setenv("ANTHROPIC_AUTH_TOKEN", token, 1);
        setenv("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1", 1);
        unsetenv("ANTHROPIC_API_KEY");
    }
    config_free(cfg);
}

static int cmd_code(const struct opts *o, const char *self, int argc, char **argv) {
    /* a proxy already answering there (`make run` in another terminal, `ccrelay start`) serves */
    char host[256];
    int port = resolved_port(o, host, sizeof host);
    if (!probe_health(host, port) && cmd_start(o, self, true) != 0) return 1;
    print_env(o, false);
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) return 1;
    args[0] = "claude";
    for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
    execvp("claude", args);
    fprintf(stderr, "ccrelay: cannot run `claude` (%s). Install Claude Code (npm install -g "
                    "@anthropic-ai/claude-code) or put it on PATH.\n",
            strerror(errno));
    free(args);
    return 127;
}

static int cmd_route_or_check(const struct opts *o, bool check, const char *file) {
    struct err e = {0};
    struct config *cfg = load_config(o, NULL, &e);
    if (!cfg) {
        fprintf(stderr, "ccrelay: %s\n", e.msg);
        return 1;
    }
    struct logger lg;
    log_init(&lg, cfg->log_level < LOG_WARN ? cfg->log_level : LOG_WARN, stderr);
    int rc = check ? check_cmd_run(cfg, &lg, stdout, &e)
                   : route_cmd_run(cfg, &lg, file ? file : "-", stdout, &e);
    if (rc != 0) fprintf(stderr, "ccrelay: %s\n", e.msg);
    config_free(cfg);
    return rc != 0 ? 1 : 0;
}

static const char *self_path(const char *argv0) {
    static char buf[PATH_MAX]; /* written once at start-up, read-only afterwards */
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        return buf;
    }
    return argv0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        print_help(argc > 2 ? argv[2] : NULL);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ccrelay %s\n", CCRELAY_VERSION);
        return 0;
    }
    struct opts o = {.port = -1, .workers = -1};
    bool is_code = strcmp(cmd, "code") == 0;
    /* Our options come first; `code` passes everything after them to claude untouched. */
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help(cmd);
            return 0;
        }
        if (is_code && strcmp(a, "--") == 0) { /* everything after `--` is claude's */
            i++;
            break;
        }
        static const char *const names[] = {"--config", "--host", "--port", "--log-level",
                                            "--pid-file", "--litellm-config", "--workers"};
        size_t k, nl = 0;
        for (k = 0; k < sizeof names / sizeof *names; k++) {
            nl = strlen(names[k]);
            if (strncmp(a, names[k], nl) == 0 && (a[nl] == '\0' || a[nl] == '=')) break;
        }
        if (k == sizeof names / sizeof *names) {
            if (is_code || a[0] != '-' || strcmp(a, "-") == 0) break;
            fprintf(stderr, "ccrelay: unknown option '%s' (see ccrelay %s --help)\n", a, cmd);
            return 2;
        }
        const char *v = a[nl] == '=' ? a + nl + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "ccrelay: %s needs a value\n", names[k]);
            return 2;
        }
        if (k == 0) o.config = v;
        else if (k == 1) o.host = v;
        else if (k == 2) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "ccrelay: --port wants a number from 0 (any free port) to 65535, not '%s'\n", v);
                return 2;
            }
            o.port = (int)p;
        } else if (k == 3) {
            enum log_level l;
            if (log_level_parse(v, &l) != 0) {
                fprintf(stderr, "ccrelay: --log-level wants error, warn, info or debug\n");
                return 2;
            }
            o.log_level = v;
        } else if (k == 4) {
            o.pid_file = v;
        } else if (k == 6) {
            char *end;
            long w = strtol(v, &end, 10);
            if (*end || w < 1 || w > 256) {
                fprintf(stderr, "ccrelay: --workers wants a number from 1 to 256, not '%s'\n", v);
                return 2;
            }
            o.workers = (int)w;
        } else {
            /* read by config_load (src/config.h); the environment carries it into reloads and
             * into the background server of `start` */
            setenv("CCRELAY_LITELLM_CONFIG", v, 1);
        }
    }
    int rest = i;
    const char *self = self_path(argv[0]);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(&o);
    if (strcmp(cmd, "start") == 0) return cmd_start(&o, self, false);
    if (strcmp(cmd, "stop") == 0) return cmd_stop();
    if (strcmp(cmd, "restart") == 0) {
        if (cmd_stop() != 0) return 1;
        return cmd_start(&o, self, false);
    }
    if (strcmp(cmd, "status") == 0) return cmd_status(&o);
    if (strcmp(cmd, "activate") == 0) {
        print_env(&o, true);
        return 0;
    }
    if (is_code) return cmd_code(&o, self, argc - rest, argv + rest);
    if (strcmp(cmd, "route") == 0)
        return cmd_route_or_check(&o, false, rest < argc ? argv[rest] : NULL);
    if (strcmp(cmd, "check") == 0) return cmd_route_or_check(&o, true, NULL);
    fprintf(stderr, "ccrelay: unknown command '%s'\n\n%s", cmd, USAGE);
    return 2;
}
