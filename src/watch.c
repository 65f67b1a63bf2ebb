/* watch: inotify on parent directories, stat() polling as the fallback (see watch.h). */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)

struct wpath {
    char *path;
    char *dir;  /* parent directory */
    char *base; /* file name inside dir */
    int wd;     /* inotify watch of dir, -1 when polled */
    /* last stat (polling) */
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct watcher {
    struct event_base *base;
    const struct logger *lg;
    watch_fn fn;
    void *arg;
    int ifd; /* inotify fd, -1 when unavailable */
    bool force_polling;
    struct event *ev_inotify;
    struct event *ev_debounce;
    struct event *ev_poll;
    struct wpath *paths;
    size_t npaths;
};

static void fire(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct watcher *w = arg;
    w->fn(w->arg);
}

static void changed(struct watcher *w) {
    struct timeval tv = {0, WATCH_DEBOUNCE_MS * 1000};
    evtimer_add(w->ev_debounce, &tv); /* re-arming restarts the delay: one call per burst */
}

static void snap(struct wpath *p) {
    struct stat st;
    if (stat(p->path, &st) == 0) {
        p->exists = true;
        p->dev = st.st_dev;
        p->ino = st.st_ino;
        p->size = st.st_size;
        p->mtime = st.st_mtim;
    } else {
        p->exists = false;
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct watcher *w = arg;
    bool any = false;
    for (size_t i = 0; i < w->npaths; i++) {
        struct wpath *p = &w->paths[i];
        if (p->wd >= 0) continue;
        struct wpath before = *p;
        snap(p);
        if (before.exists != p->exists ||
            (p->exists && (before.dev != p->dev || before.ino != p->ino || before.size != p->size ||
                           before.mtime.tv_sec != p->mtime.tv_sec ||
                           before.mtime.tv_nsec != p->mtime.tv_nsec)))
            any = true;
    }
    if (any) changed(w);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    struct watcher *w = arg;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (char *c = buf; c < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)c;
            c += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                any = true; /* events were lost: assume a change */
                continue;
            }
            if (!ev->len) continue;
            for (size_t i = 0; i < w->npaths; i++)
                if (w->paths[i].wd == ev->wd && strcmp(w->paths[i].base, ev->name) == 0) any = true;
        }
    }
    if (any) changed(w);
}

struct watcher *watcher_new(struct event_base *base, const struct logger *lg, watch_fn fn,
                            void *arg, struct err *err) {
    struct watcher *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(err, ERR_NOMEM, "watcher: out of memory");
        return NULL;
    }
    w->base = base;
    w->lg = lg;
    w->fn = fn;
    w->arg = arg;
    w->ifd = -1;
    w->ev_debounce = evtimer_new(base, fire, w);
    w->ev_poll = event_new(base, -1, EV_PERSIST, on_poll, w);
    if (!w->ev_debounce || !w->ev_poll) {
        watcher_free(w);
        err_set(err, ERR_NOMEM, "watcher: cannot create timers");
        return NULL;
    }
    return w;
}

void watcher_force_polling(struct watcher *w) { w->force_polling = true; }

bool watcher_is_polling(const struct watcher *w) {
    for (size_t i = 0; i < w->npaths; i++)
        if (w->paths[i].wd < 0) return true;
    return false;
}

static void clear_paths(struct watcher *w) {
    for (size_t i = 0; i < w->npaths; i++) {
        free(w->paths[i].path);
        free(w->paths[i].dir);
        free(w->paths[i].base);
    }
    free(w->paths);
    w->paths = NULL;
    w->npaths = 0;
}

/* inotify, created on first use; -1 when unavailable (the caller polls). */
static int inotify_fd(struct watcher *w) {
    if (w->ifd >= 0 || w->force_polling) return w->ifd;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        log_info(w->lg, "watch: inotify unavailable (%s); polling files every %d ms",
                 strerror(errno), WATCH_POLL_MS);
        w->force_polling = true;
        return -1;
    }
    w->ev_inotify = event_new(w->base, fd, EV_READ | EV_PERSIST, on_inotify, w);
    if (!w->ev_inotify || event_add(w->ev_inotify, NULL) != 0) {
        if (w->ev_inotify) event_free(w->ev_inotify);
        w->ev_inotify = NULL;
        close(fd);
        w->force_polling = true;
        return -1;
    }
    w->ifd = fd;
    return fd;
}

int watcher_set_paths(struct watcher *w, const char *const *paths, size_t n, struct err *err) {
    /* Start from a fresh inotify instance: dropping it drops every old watch at once. */
    if (w->ev_inotify) {
        event_free(w->ev_inotify);
        w->ev_inotify = NULL;
    }
    if (w->ifd >= 0) close(w->ifd);
    w->ifd = -1;
    event_del(w->ev_poll);
    clear_paths(w);
    if (n == 0) return 0;
    w->paths = calloc(n, sizeof *w->paths);
    if (!w->paths) return err_set(err, ERR_NOMEM, "watcher: out of memory");
    bool polled = false;
    for (size_t i = 0; i < n; i++) {
        struct wpath *p = &w->paths[w->npaths];
        const char *slash = strrchr(paths[i], '/');
        p->path = strdup(paths[i]);
        if (slash)
            p->dir = slash == paths[i] ? strdup("/") : strndup(paths[i], (size_t)(slash - paths[i]));
        else
            p->dir = strdup(".");
        p->base = strdup(slash ? slash + 1 : paths[i]);
        p->wd = -1;
        w->npaths++;
        if (!p->path || !p->dir || !p->base) {
            clear_paths(w);
            return err_set(err, ERR_NOMEM, "watcher: out of memory");
        }
        if (!*p->base) {
            clear_paths(w);
            return err_set(err, ERR_INVALID, "watcher: '%s' names a directory, not a file",
                           paths[i]);
        }
        int fd = inotify_fd(w);
        if (fd >= 0) {
            p->wd = inotify_add_watch(fd, p->dir, DIR_MASK);
            if (p->wd < 0)
                log_info(w->lg, "watch: cannot watch directory %s (%s); polling %s", p->dir,
                         strerror(errno), p->path);
        }
        if (p->wd < 0) {
            snap(p);
            polled = true;
        }
    }
    if (polled) {
        struct timeval tv = {WATCH_POLL_MS / 1000, (WATCH_POLL_MS % 1000) * 1000};
        if (event_add(w->ev_poll, &tv) != 0) {
            clear_paths(w);
            return err_set(err, ERR_INTERNAL, "watcher: cannot start the polling timer");
        }
    }
    return 0;
}

void watcher_free(struct watcher *w) {
    if (!w) return;
    if (w->ev_inotify) event_free(w->ev_inotify);
    if (w->ifd >= 0) close(w->ifd);
    if (w->ev_debounce) event_free(w->ev_debounce);
    if (w->ev_poll) event_free(w->ev_poll);
    clear_paths(w);
    free(w);
}
