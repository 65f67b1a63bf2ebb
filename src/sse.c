#include "sse.h"

#include <stdlib.h>
#include <string.h>

#define SSE_KEEP_CAP (16 * 1024) /* capacity kept between events; more is given back */

int sse_parser_init(struct sse_parser *p, size_t max_event_bytes) {
    memset(p, 0, sizeof *p);
    p->max_event_bytes = max_event_bytes ? max_event_bytes : (size_t)16 << 20;
    return 0;
}

void sse_parser_free(struct sse_parser *p) {
    free(p->line.p);
    free(p->data.p);
    memset(&p->line, 0, sizeof p->line);
    memset(&p->data, 0, sizeof p->data);
}

/* Append n bytes (plus room for a NUL). -1 when memory runs out. */
static int buf_add(struct sse_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static void buf_clear(struct sse_buf *b) {
    b->len = 0;
    if (b->cap > SSE_KEEP_CAP) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static int dispatch(struct sse_parser *p, sse_event_fn fn, void *arg) {
    int rc = 0;
    if (p->has_data) {
        p->data.p[p->data.len] = '\0'; /* buf_add always leaves room for it */
        rc = fn(arg, p->event, p->data.p, p->data.len);
    }
    buf_clear(&p->data);
    p->event[0] = '\0';
    p->has_data = 0;
    return rc;
}

/* One complete line (without its terminator). */
static int process_line(struct sse_parser *p, const char *s, size_t n, sse_event_fn fn,
                        void *arg) {
    if (n == 0) return dispatch(p, fn, arg);
    if (s[0] == ':') return 0; /* comment */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        if (p->data.len + (p->has_data ? 1 : 0) + vlen > p->max_event_bytes) return SSE_TOO_LARGE;
        if (p->has_data && buf_add(&p->data, "\n", 1) != 0) return -1;
        if (buf_add(&p->data, v, vlen) != 0) return -1;
        p->has_data = 1;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        size_t m = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, m);
        p->event[m] = '\0';
    }
    /* id:, retry: and unknown fields are ignored */
    return 0;
}

int sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *arg) {
    size_t i = 0;
    while (i < len) {
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        /* find the end of the line in this chunk */
        const char *nl = memchr(buf + i, '\n', len - i);
        const char *cr = memchr(buf + i, '\r', nl ? (size_t)(nl - (buf + i)) : len - i);
        size_t j = cr ? (size_t)(cr - buf) : nl ? (size_t)(nl - buf) : len;
        if (j == len) { /* partial line: keep it */
            if (p->line.len + (len - i) > p->max_event_bytes) return SSE_TOO_LARGE;
            return buf_add(&p->line, buf + i, len - i) != 0 ? -1 : 0;
        }
        int rc;
        if (p->line.len > 0) {
            if (buf_add(&p->line, buf + i, j - i) != 0) return -1;
            rc = process_line(p, p->line.p, p->line.len, fn, arg);
            buf_clear(&p->line);
        } else {
            rc = process_line(p, buf + i, j - i, fn, arg);
        }
        if (buf[j] == '\r') p->skip_lf = 1;
        i = j + 1;
        if (rc != 0) return rc;
    }
    return 0;
}

int sse_finish(struct sse_parser *p, sse_event_fn fn, void *arg) {
    if (p->line.len > 0) {
        int rc = process_line(p, p->line.p, p->line.len, fn, arg);
        buf_clear(&p->line);
        if (rc != 0) return rc;
    }
    return dispatch(p, fn, arg);
}

int sse_write(struct evbuffer *out, const char *event, const char *data, size_t len) {
    size_t en = event ? strlen(event) : 0;
    size_t need = (event ? 8 + en : 0) + 6 + len + 2;
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1) return -1;
    char *p = v.iov_base;
    if (event) {
        memcpy(p, "event: ", 7);
        memcpy(p + 7, event, en);
        p[7 + en] = '\n';
        p += 8 + en;
    }
    memcpy(p, "data: ", 6);
    memcpy(p + 6, data, len);
    memcpy(p + 6 + len, "\n\n", 2);
    v.iov_len = need;
    return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}
