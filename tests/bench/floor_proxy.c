/* floor_proxy: the cheapest proxy this machine can run, as a floor for ccrelay's benchmarks.
 *
 * It relays bytes and nothing else: no HTTP parsing, no routing, no translation. Each client
 * connection accepted on 127.0.0.1:--port gets its own TCP connection to 127.0.0.1:--upstream-port
 * and bytes are forwarded both ways until either side closes; then both are closed. Whatever
 * CPU it uses under a load is what any user-space proxy must pay at least on this machine (the
 * socket work of both sides), so the benchmark can tell how much of ccrelay's cost is the proxy's
 * own work and whether the machine, not the proxy, limits the throughput.
 *
 * Design (chosen to be as cheap as an honest relay can be):
 *   - one thread, one edge-triggered epoll set; both sockets of a pair are registered once for
 *     EPOLLIN|EPOLLOUT|EPOLLRDHUP and never modified (no epoll_ctl per event);
 *   - nonblocking sockets with TCP_NODELAY (as ccrelay and mock_upstream set it);
 *   - a read goes into one process-wide 64 KB scratch buffer and is written to the other socket
 *     at once; only when that write is partial is the rest copied into the direction's own
 *     buffer (allocated on first need, 64 KB), and that direction is not read again until the
 *     buffer has drained on EPOLLOUT, so the kernel's buffers provide the back-pressure;
 *   - a read shorter than the buffer means the socket is drained (a later arrival raises a new
 *     edge), which saves the extra read that would return EAGAIN;
 *   - signals and the lifetime are a signalfd and a timerfd in the same epoll set.
 *
 * Usage: floor_proxy --port N --upstream-port M [--lifetime S] [--quiet]
 * With --port 0 the kernel picks a free port. Either way the first line on stdout is
 * "port <N>", once the socket listens. SIGINT/SIGTERM end it cleanly, and it exits by itself
 * after --lifetime seconds (default 1800) so a forgotten proxy never lingers. On exit it prints
 * the connections it relayed and the bytes each way on stderr (unless --quiet). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 512

struct opts {
    int port;
    int upstream_port;
    long lifetime_s;
    bool quiet;
};

struct pair;

/* One socket of a pair. `pend` holds bytes read from the OTHER end that this socket's kernel
 * buffer could not take yet: while pend_len > 0 the other end is not read. */
struct end {
    int fd;              /* -1 once closed */
    struct pair *pair;   /* the pair this end is embedded in */
    char *pend;          /* BUF_SIZE bytes, allocated on the first partial write; owned here */
    size_t pend_off, pend_len;
    bool hup;            /* EPOLLRDHUP/HUP/ERR seen: read to EOF, a short read proves nothing */
};

/* A client connection and its upstream connection: e[0] client, e[1] upstream. Owned by the
 * relay's `live` list until closed, then by its `dead` list until the current batch of events
 * has been handled (a later event of the same batch may still point at it). */
struct pair {
    struct end e[2];
    struct pair *prev, *next;
};

/* Everything the proxy owns; lives in main for the whole run. */
struct relay {
    struct opts o;
    int ep, lfd, sfd, tfd;
    struct sockaddr_in upstream;
    char *scratch; /* BUF_SIZE: every read lands here first */
    struct pair *live, *dead;
    unsigned long long accepted, bytes[2]; /* bytes[0]: client -> upstream */
    bool stop;
};

/* ---- pairs ---- */

static void pair_close(struct relay *r, struct pair *p) {
    if (p->e[0].fd < 0) return; /* already closed in this batch */
    for (int i = 0; i < 2; i++) {
        if (p->e[i].fd >= 0) close(p->e[i].fd); /* also leaves the epoll set */
        p->e[i].fd = -1;
    }
    if (p->prev) p->prev->next = p->next;
    else r->live = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = NULL;
    p->next = r->dead;
    r->dead = p;
}

static void pair_free(struct pair *p) {
    for (int i = 0; i < 2; i++) {
        if (p->e[i].fd >= 0) close(p->e[i].fd);
        free(p->e[i].pend);
    }
    free(p);
}

static void free_list(struct pair **head) {
    while (*head) {
        struct pair *n = (*head)->next;
        pair_free(*head);
        *head = n;
    }
}

/* Write what `dst` still holds. Returns 1 when drained, 0 when the kernel is full again,
 * -1 when the socket failed. */
static int flush_pending(struct relay *r, struct end *dst, int dir) {
    while (dst->pend_len > 0) {
        ssize_t w = write(dst->fd, dst->pend + dst->pend_off, dst->pend_len);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        dst->pend_off += (size_t)w;
        dst->pend_len -= (size_t)w;
        r->bytes[dir] += (unsigned long long)w;
    }
    dst->pend_off = 0;
    return 1;
}

/* Move bytes from p->e[from] to the other end until the source is drained or the destination
 * full. Returns -1 when the pair must be closed (EOF or error on either side). */
static int pump(struct relay *r, struct pair *p, int from) {
    struct end *src = &p->e[from], *dst = &p->e[!from];
    if (dst->pend_len > 0) return 0; /* blocked until dst drains */
    for (;;) {
        ssize_t n = read(src->fd, r->scratch, BUF_SIZE);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        if (n == 0) return -1; /* everything read before the EOF has been delivered */
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = write(dst->fd, r->scratch + off, (size_t)n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return -1;
            }
            off += (size_t)w;
        }
        r->bytes[from] += off;
        if (off < (size_t)n) {
            if (!dst->pend && !(dst->pend = malloc(BUF_SIZE))) {
                fprintf(stderr, "floor_proxy: out of memory; dropping a connection\n");
                return -1;
            }
            memcpy(dst->pend, r->scratch + off, (size_t)n - off);
            dst->pend_off = 0;
            dst->pend_len = (size_t)n - off;
            return 0; /* resume on dst's EPOLLOUT */
        }
        if (n < BUF_SIZE && !src->hup) return 0; /* drained: the next arrival is a new edge */
    }
}

static void on_end_event(struct relay *r, struct end *e, uint32_t ev) {
    struct pair *p = e->pair;
    if (e->fd < 0) return; /* its pair was closed earlier in this batch */
    int self = (int)(e - p->e);
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e->hup = true;
    if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && e->pend_len > 0) {
        int f = flush_pending(r, e, !self);
        if (f < 0) goto close;
        if (f > 0 && pump(r, p, !self) < 0) goto close; /* the other end may read again */
    }
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && pump(r, p, self) < 0) goto close;
    return;
close:
    pair_close(r, p);
}

static int set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int watch(struct relay *r, int fd, void *tag, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* A new client: connect its upstream and register both. On failure the client is closed. */
static void start_pair(struct relay *r, int cfd) {
    struct pair *p = NULL;
    int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) {
        fprintf(stderr, "floor_proxy: socket: %s; dropping a client\n", strerror(errno));
        goto fail;
    }
    if (set_nodelay(cfd) != 0 || set_nodelay(ufd) != 0) {
        fprintf(stderr, "floor_proxy: TCP_NODELAY: %s; dropping a client\n", strerror(errno));
        goto fail;
    }
    if (connect(ufd, (struct sockaddr *)&r->upstream, sizeof r->upstream) != 0 &&
        errno != EINPROGRESS) {
        fprintf(stderr, "floor_proxy: connect 127.0.0.1:%d: %s; dropping a client\n",
                r->o.upstream_port, strerror(errno));
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "floor_proxy: out of memory; dropping a client\n");
        goto fail;
    }
    p->e[0].fd = cfd;
    p->e[1].fd = ufd;
    p->e[0].pair = p->e[1].pair = p;
    const uint32_t evs = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    if (watch(r, cfd, &p->e[0], evs) != 0 || watch(r, ufd, &p->e[1], evs) != 0) {
        fprintf(stderr, "floor_proxy: epoll_ctl: %s; dropping a client\n", strerror(errno));
        goto fail;
    }
    p->next = r->live;
    if (r->live) r->live->prev = p;
    r->live = p;
    r->accepted++;
    return;
fail:
    free(p);
    if (ufd >= 0) close(ufd);
    close(cfd);
}

static void on_accept(struct relay *r) {
    for (;;) {
        int cfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "floor_proxy: accept: %s\n", strerror(errno));
            return; /* the listener is level-triggered: a backlog left over comes back */
        }
        start_pair(r, cfd);
    }
}

/* ---- main ---- */

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: floor_proxy --port N --upstream-port M [--lifetime S] [--quiet]\n"
               "  --port N           listen on 127.0.0.1:N (0: any free port; printed as 'port N')\n"
               "  --upstream-port M  relay every connection to 127.0.0.1:M\n"
               "  --lifetime S       exit after S seconds (default 1800)\n"
               "  --quiet            no summary on stderr at exit\n");
}

static int parse_opts(int argc, char **argv, struct opts *o) {
    *o = (struct opts){.port = -1, .upstream_port = -1, .lifetime_s = 1800};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--quiet")) {
            o->quiet = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "floor_proxy: option '%s' needs a value\n", a);
            goto bad;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--port") && parse_long(val, 0, 65535, &v) == 0) o->port = (int)v;
        else if (!strcmp(a, "--upstream-port") && parse_long(val, 1, 65535, &v) == 0)
            o->upstream_port = (int)v;
        else if (!strcmp(a, "--lifetime") && parse_long(val, 1, 86400, &v) == 0) o->lifetime_s = v;
        else {
            fprintf(stderr, "floor_proxy: bad option or value '%s %s'\n", a, val);
            goto bad;
        }
    }
    if (o->port < 0 || o->upstream_port < 0) {
        fprintf(stderr, "floor_proxy: --port and --upstream-port are required\n");
        goto bad;
    }
    return 0;
bad:
    usage(stderr);
    return -1;
}

/* Listening socket, signalfd, timerfd and epoll set. Returns -1 with a message on stderr. */
static int setup(struct relay *r, struct sockaddr_in *bound) {
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        fprintf(stderr, "floor_proxy: epoll_create1: %s\n", strerror(errno));
        return -1;
    }
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->o.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t blen = sizeof *bound;
    /* A deep backlog: 1000 clients connect at once in the benchmark. */
    if (r->lfd < 0 || setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(r->lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(r->lfd, 4096) != 0 ||
        getsockname(r->lfd, (struct sockaddr *)bound, &blen) != 0) {
        fprintf(stderr, "floor_proxy: cannot listen on 127.0.0.1:%d: %s; pick another --port\n",
                r->o.port, strerror(errno));
        return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (r->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "floor_proxy: signalfd: %s\n", strerror(errno));
        return -1;
    }
    struct itimerspec life = {.it_value = {.tv_sec = r->o.lifetime_s}};
    r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r->tfd < 0 || timerfd_settime(r->tfd, 0, &life, NULL) != 0) {
        fprintf(stderr, "floor_proxy: timerfd: %s\n", strerror(errno));
        return -1;
    }
    /* The three are told apart by the address of their fd field. */
    if (watch(r, r->lfd, &r->lfd, EPOLLIN) != 0 || watch(r, r->sfd, &r->sfd, EPOLLIN) != 0 ||
        watch(r, r->tfd, &r->tfd, EPOLLIN) != 0) {
        fprintf(stderr, "floor_proxy: epoll_ctl: %s\n", strerror(errno));
        return -1;
    }
    r->upstream = (struct sockaddr_in){.sin_family = AF_INET,
                                       .sin_port = htons((uint16_t)r->o.upstream_port)};
    r->upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

int main(int argc, char **argv) {
    struct relay r = {.ep = -1, .lfd = -1, .sfd = -1, .tfd = -1};
    if (parse_opts(argc, argv, &r.o) != 0) return 2;
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE, handled as a close */

    int rc = 1;
    struct sockaddr_in bound;
    struct epoll_event evs[MAX_EVENTS];
    r.scratch = malloc(BUF_SIZE);
    if (!r.scratch) {
        fprintf(stderr, "floor_proxy: out of memory\n");
        goto out;
    }
    if (setup(&r, &bound) != 0) goto out;
    printf("port %d\n", ntohs(bound.sin_port));
    fflush(stdout);

    while (!r.stop) {
        int n = epoll_wait(r.ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "floor_proxy: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &r.lfd) on_accept(&r);
            else if (tag == &r.sfd) r.stop = true;
            else if (tag == &r.tfd) {
                fprintf(stderr, "floor_proxy: --lifetime reached, exiting\n");
                r.stop = true;
            } else on_end_event(&r, tag, evs[i].events);
        }
        free_list(&r.dead);
    }
    rc = 0;
    if (!r.o.quiet)
        fprintf(stderr, "floor_proxy: relayed %llu connections, %llu bytes up, %llu bytes down\n",
                r.accepted, r.bytes[0], r.bytes[1]);
out:
    free_list(&r.live);
    free_list(&r.dead);
    if (r.lfd >= 0) close(r.lfd);
    if (r.sfd >= 0) close(r.sfd);
    if (r.tfd >= 0) close(r.tfd);
    if (r.ep >= 0) close(r.ep);
    free(r.scratch);
    return rc;
}
