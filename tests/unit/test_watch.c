/* watch: a real event loop sees in-place writes and rename-replace saves, once per burst, and
 * ignores other files; the polling fallback sees them too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watch.h"

static char dir[256];
static char target[512];

struct ctx {
    struct event_base *base;
    int calls;
    void (*action)(void);
    int actions_left; /* how many times to run action, 20 ms apart */
    struct event *tick;
};

static void on_change(void *arg) {
    struct ctx *c = arg;
    c->calls++;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int counter;

static void in_place(void) {
    char text[64];
    snprintf(text, sizeof text, "return function() return nil end -- %d\n", ++counter);
    write_file(target, text);
}

static void rename_replace(void) {
    char tmp[600], text[64];
    snprintf(tmp, sizeof tmp, "%s/.router.lua.swp", dir);
    snprintf(text, sizeof text, "-- saved %d\nreturn function() end\n", ++counter);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, target), 0);
}

static void other_file(void) {
    char other[600];
    snprintf(other, sizeof other, "%s/unrelated.txt", dir);
    write_file(other, "x");
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct ctx *c = arg;
    if (c->actions_left-- > 0) {
        c->action();
        struct timeval tv = {0, 20000};
        evtimer_add(c->tick, &tv);
    }
}

/* Run the loop: `n` actions 20 ms apart starting after 50 ms, for `ms` milliseconds. */
static int run(bool polling, void (*action)(void), int n, int ms) {
    struct ctx c = {0};
    c.base = event_base_new();
    assert_non_null(c.base);
    struct err e = {0};
    struct watcher *w = watcher_new(c.base, NULL, on_change, &c, &e);
    assert_non_null(w);
    if (polling) watcher_force_polling(w);
    const char *paths[] = {target};
    assert_int_equal(watcher_set_paths(w, paths, 1, &e), 0);
    assert_int_equal(watcher_is_polling(w), polling);
    c.action = action;
    c.actions_left = n;
    c.tick = evtimer_new(c.base, on_tick, &c);
    struct timeval start = {0, 50000}, stop = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c.tick, &start);
    event_base_loopexit(c.base, &stop);
    event_base_dispatch(c.base);
    event_free(c.tick);
    watcher_free(w);
    event_base_free(c.base);
    return c.calls;
}

static void in_place_write_is_seen(void **state) {
    (void)state;
    assert_int_equal(run(false, in_place, 1, 600), 1);
}

static void rename_replace_is_seen(void **state) {
    (void)state;
    assert_int_equal(run(false, rename_replace, 1, 600), 1);
    /* and again: the watch survives the inode change */
    assert_int_equal(run(false, rename_replace, 2, 600), 1);
}

static void a_burst_gives_one_call(void **state) {
    (void)state;
    /* 4 writes 20 ms apart: within the 100 ms debounce of each other */
    assert_int_equal(run(false, in_place, 4, 700), 1);
}

static void other_files_are_ignored(void **state) {
    (void)state;
    assert_int_equal(run(false, other_file, 3, 400), 0);
}

static void deleted_then_created_is_seen(void **state) {
    (void)state;
    unlink(target);
    assert_int_equal(run(false, in_place, 1, 600), 1);
}

static void polling_fallback_sees_changes(void **state) {
    (void)state;
    /* the first poll (1 s) records nothing new; the write happens before it */
    assert_int_equal(run(true, in_place, 1, 1700), 1);
    assert_int_equal(run(true, rename_replace, 1, 1700), 1);
    assert_int_equal(run(true, other_file, 1, 1300), 0);
}

static void bad_paths(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct err e = {0};
    struct watcher *w = watcher_new(base, NULL, on_change, NULL, &e);
    const char *dirpath[] = {"/tmp/"};
    assert_int_equal(watcher_set_paths(w, dirpath, 1, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    /* a directory that does not exist: polled, no failure */
    const char *missing[] = {"/nonexistent-dir-ccrelay/router.lua"};
    assert_int_equal(watcher_set_paths(w, missing, 1, &e), 0);
    assert_true(watcher_is_polling(w));
    assert_int_equal(watcher_set_paths(w, NULL, 0, &e), 0);
    watcher_free(w);
    event_base_free(base);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ccrelay-watch-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(target, sizeof target, "%s/router.lua", dir);
    write_file(target, "return function() end\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char p[600];
    unlink(target);
    snprintf(p, sizeof p, "%s/unrelated.txt", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_place_write_is_seen),
        cmocka_unit_test(rename_replace_is_seen),
        cmocka_unit_test(a_burst_gives_one_call),
        cmocka_unit_test(other_files_are_ignored),
        cmocka_unit_test(deleted_then_created_is_seen),
        cmocka_unit_test(polling_fallback_sees_changes),
        cmocka_unit_test(bad_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
