/* sse: events survive any chunking; limits hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sse.h"

struct seen {
    char log[4096];
    int n;
};

static int collect(void *arg, const char *event, const char *data, size_t len) {
    struct seen *s = arg;
    size_t used = strlen(s->log);
    snprintf(s->log + used, sizeof s->log - used, "[%s|%.*s]", event, (int)len, data);
    s->n++;
    return 0;
}

static const char STREAM[] = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
                             ": comment\n"
                             "event: content_block_delta\ndata: {\"t\":\"h\xc3\xa9\"}\n\n"
                             "data: line1\ndata: line2\n\n"
                             "data:nospace\n\n";
static const char EXPECT[] =
    "[message_start|{\"a\":1}][content_block_delta|{\"t\":\"h\xc3\xa9\"}][|line1\nline2][|nospace]";

static void every_split_gives_same_events(void **state) {
    (void)state;
    size_t n = sizeof STREAM - 1;
    for (size_t step = 1; step <= n; step++) {
        struct sse_parser p;
        assert_int_equal(sse_parser_init(&p, 1024), 0);
        struct seen s = {0};
        for (size_t i = 0; i < n; i += step) {
            size_t m = i + step > n ? n - i : step;
            assert_int_equal(sse_feed(&p, STREAM + i, m, collect, &s), 0);
        }
        assert_int_equal(sse_finish(&p, collect, &s), 0);
        assert_string_equal(s.log, EXPECT);
        sse_parser_free(&p);
    }
}

static void final_event_without_blank_line_is_dispatched_at_finish(void **state) {
    (void)state;
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 1024), 0);
    struct seen s = {0};
    const char *in = "event: x\ndata: tail";
    assert_int_equal(sse_feed(&p, in, strlen(in), collect, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(sse_finish(&p, collect, &s), 0);
    assert_string_equal(s.log, "[x|tail]");
    sse_parser_free(&p);
}

static void oversized_event_is_refused(void **state) {
    (void)state;
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 16), 0);
    struct seen s = {0};
    const char *in = "data: 0123456789abcdefghij\n\n";
    assert_int_equal(sse_feed(&p, in, strlen(in), collect, &s), SSE_TOO_LARGE);
    assert_int_equal(s.n, 0);
    sse_parser_free(&p);
}

static int stop_at_first(void *arg, const char *e, const char *d, size_t l) {
    (void)e, (void)d, (void)l;
    ++*(int *)arg;
    return 7;
}

static void callback_can_stop_the_parser(void **state) {
    (void)state;
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 1024), 0);
    int calls = 0;
    const char *in = "data: a\n\ndata: b\n\n";
    assert_int_equal(sse_feed(&p, in, strlen(in), stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    sse_parser_free(&p);
}

static void writer_formats_events(void **state) {
    (void)state;
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(sse_write(b, "ping", "{\"type\":\"ping\"}", 15), 0);
    assert_int_equal(sse_write(b, NULL, "x", 1), 0);
    size_t n = evbuffer_get_length(b);
    char *s = (char *)evbuffer_pullup(b, -1);
    assert_memory_equal(s, "event: ping\ndata: {\"type\":\"ping\"}\n\ndata: x\n\n", n);
    evbuffer_free(b);
}

struct sizes {
    size_t len[8];
    char first[8];
    int n;
};

static int record_size(void *arg, const char *event, const char *data, size_t len) {
    (void)event;
    struct sizes *z = arg;
    if (z->n < 8) {
        z->len[z->n] = len;
        z->first[z->n] = len ? data[0] : 0;
    }
    z->n++;
    return data[len] == '\0' ? 0 : -9; /* the data is NUL-terminated for the callback */
}

/* The parser keeps its buffers between events; an event far larger than what it keeps (and
 * split across feeds) is still whole, and the small events after it are not disturbed. */
static void large_event_between_small_ones(void **state) {
    (void)state;
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 1 << 20), 0);
    struct sizes z = {0};
    static char big[200 * 1024];
    memset(big, 'b', sizeof big);
    const char *small = "data: s\n\n";
    assert_int_equal(sse_feed(&p, small, strlen(small), record_size, &z), 0);
    assert_int_equal(sse_feed(&p, "data: ", 6, record_size, &z), 0);
    for (size_t i = 0; i < sizeof big; i += 7000) {
        size_t m = sizeof big - i < 7000 ? sizeof big - i : 7000;
        assert_int_equal(sse_feed(&p, big + i, m, record_size, &z), 0);
    }
    assert_int_equal(sse_feed(&p, "\n\n", 2, record_size, &z), 0);
    const char *after = "data: t\n\ndata: uv\n\n";
    assert_int_equal(sse_feed(&p, after, strlen(after), record_size, &z), 0);
    assert_int_equal(z.n, 4);
    assert_int_equal(z.len[0], 1);
    assert_int_equal(z.len[1], sizeof big);
    assert_int_equal(z.first[1], 'b');
    assert_int_equal(z.len[2], 1);
    assert_int_equal(z.first[2], 't');
    assert_int_equal(z.len[3], 2);
    assert_int_equal(z.first[3], 'u');
    sse_parser_free(&p);
}

/* The bound counts the joined data of one event, over several data: lines. */
static void bound_counts_joined_data_lines(void **state) {
    (void)state;
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 10), 0);
    struct sizes z = {0};
    /* 4 + 1 + 4 = 9 bytes: within the bound */
    const char *fits = "data: aaaa\ndata: bbbb\n\n";
    assert_int_equal(sse_feed(&p, fits, strlen(fits), record_size, &z), 0);
    assert_int_equal(z.n, 1);
    assert_int_equal(z.len[0], 9);
    /* 4 + 1 + 4 + 1 + 4 = 14 bytes: refused */
    const char *over = "data: aaaa\ndata: bbbb\ndata: cccc\n\n";
    assert_int_equal(sse_feed(&p, over, strlen(over), record_size, &z), SSE_TOO_LARGE);
    sse_parser_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_split_gives_same_events),
        cmocka_unit_test(final_event_without_blank_line_is_dispatched_at_finish),
        cmocka_unit_test(oversized_event_is_refused),
        cmocka_unit_test(callback_can_stop_the_parser),
        cmocka_unit_test(writer_formats_events),
        cmocka_unit_test(large_event_between_small_ones),
        cmocka_unit_test(bound_counts_joined_data_lines),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
