/* watch: call one function when any of a set of files changes (the config, the custom router
 * and the modules it requires), so the server can reload them while sessions run.
 *
 * Editors save by writing in place or by writing a temporary file and renaming it over the
 * original, which replaces the inode; so the watcher watches the parent DIRECTORIES (inotify)
 * and matches file names. Where inotify is unavailable (or a directory cannot be watched) it
 * falls back to polling: stat() every second, comparing inode, size and modification time.
 * Changes are debounced: the callback runs once, ~100 ms after the last event of a burst.
 *
 * Ownership: the watcher borrows the event_base and the logger (both must outlive it) and owns
 * copies of the paths. The callback runs from the event loop; it may call watcher_set_paths
 * (e.g. after a reload changed the custom router's path) but not watcher_free. */
#ifndef CCRELAY_WATCH_H
#define CCRELAY_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "err.h"
#include "log.h"

#define WATCH_DEBOUNCE_MS 100
#define WATCH_POLL_MS 1000

typedef void (*watch_fn)(void *arg);

struct watcher;

struct watcher *watcher_new(struct event_base *base, const struct logger *lg, watch_fn fn,
                            void *arg, struct err *err);
/* Use stat() polling instead of inotify (tests; file systems where inotify says nothing, such
 * as some network or container mounts). Call before watcher_set_paths. */
void watcher_force_polling(struct watcher *w);
/* Watch exactly these files (replacing the previous set). A file may not exist yet: its
 * creation is a change. */
int watcher_set_paths(struct watcher *w, const char *const *paths, size_t n, struct err *err);
/* Is the watcher polling (no inotify)? */
bool watcher_is_polling(const struct watcher *w);
void watcher_free(struct watcher *w);

#endif
