/* sse: incremental server-sent-events parser and writer (text/event-stream).
 *
 * The parser takes bytes in any chunking (an event or a UTF-8 character may be split across
 * reads) and calls back once per complete event. It buffers at most one event, bounded by
 * max_event_bytes. It owns its buffers; sse_parser_free releases them. */
#ifndef CCRELAY_SSE_H
#define CCRELAY_SSE_H

#include <stddef.h>

#include <event2/buffer.h>

/* Called once per event. `event` is "" when the event had no `event:` field; `data` is the
 * `data:` lines joined with '\n', NUL-terminated (data[data_len] == 0). Both are valid only
 * during the call. Return 0 to go on, non-zero to stop: sse_feed then returns that value. */
typedef int (*sse_event_fn)(void *arg, const char *event, const char *data, size_t data_len);

/* A byte array that keeps its capacity from one event to the next, so that a stream of events of
 * similar sizes allocates nothing after its first few (it shrinks back after an unusually large
 * event, so that a thousand open streams do not each hold their largest event). */
struct sse_buf {
    char *p;
    size_t len, cap;
};

struct sse_parser {
    struct sse_buf line;    /* partial line */
    struct sse_buf data;    /* data of the current event, NUL-terminated when dispatched */
    char event[64];
    int has_data;
    int skip_lf;            /* last byte was CR: a following LF belongs to it */
    size_t max_event_bytes;
};

enum { SSE_TOO_LARGE = -2 };

int sse_parser_init(struct sse_parser *p, size_t max_event_bytes); /* -1 on OOM */
void sse_parser_free(struct sse_parser *p);
/* Feed bytes. Returns 0, SSE_TOO_LARGE when an event exceeds the bound, or the callback's
 * non-zero return. */
int sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *arg);
/* At end of stream: dispatch a final event that lacked its blank line. Same returns. */
int sse_finish(struct sse_parser *p, sse_event_fn fn, void *arg);

/* Append "event: <event>\ndata: <data>\n\n" to out (event may be NULL: no event line).
 * `data` must not contain newlines (JSON printed unformatted never does). */
int sse_write(struct evbuffer *out, const char *event, const char *data, size_t len);

#endif
