/* fuzz_sse: the SSE parser (every upstream stream goes through it) fed in arbitrary pieces,
 * with a small or a large event bound. Every event it reports is written back with sse_write
 * and parsed again: the same event must come out (what the translators rely on).
 * Input: byte 0 = bound (bit 0: 256 bytes, else 1 MiB) and stop-after (bits 1-4: the callback
 * asks to stop after that many events, 0 = never), byte 1 = split seed, then the stream. */
#include <assert.h>

#include "fuzz.h"
#include "sse.h"

struct ev {
    const char *event;
    const char *data;
    size_t len;
    int seen;
};

static int same(void *arg, const char *event, const char *data, size_t len) {
    struct ev *w = arg;
    assert(!w->seen && "one written event parsed as several");
    assert(strcmp(event, w->event) == 0);
    assert(len == w->len && memcmp(data, w->data, len) == 0);
    w->seen = 1;
    return 0;
}

struct run {
    int events, stop_after;
};

static int on_event(void *arg, const char *event, const char *data, size_t len) {
    struct run *r = arg;
    assert(data[len] == 0 && strlen(event) < 64);
    if (!memchr(data, '\n', len)) {
        struct evbuffer *b = evbuffer_new();
        struct sse_parser p;
        if (b && sse_write(b, event[0] ? event : NULL, data, len) == 0 &&
            sse_parser_init(&p, 0) == 0) {
            struct ev w = {event, data, len, 0};
            size_t n = evbuffer_get_length(b);
            const char *s = (const char *)evbuffer_pullup(b, -1);
            if (s) {
                assert(sse_feed(&p, s, n, same, &w) == 0);
                assert(w.seen);
            }
            sse_parser_free(&p);
        }
        if (b) evbuffer_free(b);
    }
    return ++r->events == r->stop_after ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    struct run r = {0, (data[0] >> 1) & 15};
    struct sse_parser p;
    if (sse_parser_init(&p, data[0] & 1 ? 256 : 1 << 20) != 0) return 0;
    struct fz_split sp;
    fz_split_init(&sp, data[1]);
    data += 2;
    size -= 2;
    int rc = 0;
    size_t off = 0;
    while (rc == 0 && off < size) {
        size_t n = fz_split_next(&sp, size - off);
        rc = sse_feed(&p, (const char *)data + off, n, on_event, &r);
        off += n;
    }
    if (rc == 0) rc = sse_finish(&p, on_event, &r);
    assert(rc == 0 || rc == 7 || rc == SSE_TOO_LARGE);
    sse_parser_free(&p);
    return 0;
}
