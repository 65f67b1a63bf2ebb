#include "sse.h"

#include <string.h>

int sse_parser_init(struct sse_parser *p, size_t max_event_bytes) {
    memset(p, 0, sizeof *p);
    p->line = evbuffer_new();
    p->data = evbuffer_new();
    p->max_event_bytes = max_event_bytes ? max_event_bytes : (size_t)16 << 20;
    if (!p->line || !p->data) {
        sse_parser_free(p);
        return -1;
    }
    return 0;
}

void sse_parser_free(struct sse_parser *p) {
    if (p->line) evbuffer_free(p->line);
    if (p->data) evbuffer_free(p->data);
    p->line = p->data = NULL;
}

static int dispatch(struct sse_parser *p, sse_event_fn fn, void *arg) {
    int rc = 0;
    if (p->has_data) {
        size_t n = evbuffer_get_length(p->data);
        if (evbuffer_add(p->data, "", 1) != 0) return -1; /* NUL terminator */
        char *d = (char *)evbuffer_pullup(p->data, -1);
        if (!d) return -1;
        rc = fn(arg, p->event, d, n);
    }
    evbuffer_drain(p->data, evbuffer_get_length(p->data));
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
        if (p->has_data && evbuffer_add(p->data, "\n", 1) != 0) return -1;
        if (evbuffer_add(p->data, v, vlen) != 0) return -1;
        p->has_data = 1;
        if (evbuffer_get_length(p->data) > p->max_event_bytes) return SSE_TOO_LARGE;
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
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r') j++;
        if (j == len) { /* partial line: keep it */
            if (evbuffer_add(p->line, buf + i, len - i) != 0) return -1;
            if (evbuffer_get_length(p->line) > p->max_event_bytes) return SSE_TOO_LARGE;
            return 0;
        }
        int rc;
        if (evbuffer_get_length(p->line) > 0) {
            if (evbuffer_add(p->line, buf + i, j - i) != 0) return -1;
            size_t n = evbuffer_get_length(p->line);
            const char *s = (const char *)evbuffer_pullup(p->line, -1);
            rc = process_line(p, s, n, fn, arg);
            evbuffer_drain(p->line, n);
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
    size_t n = evbuffer_get_length(p->line);
    if (n > 0) {
        const char *s = (const char *)evbuffer_pullup(p->line, -1);
        int rc = process_line(p, s, n, fn, arg);
        evbuffer_drain(p->line, n);
        if (rc != 0) return rc;
    }
    return dispatch(p, fn, arg);
}

/* One reservation and one copy per event: this runs for every event of every stream. */
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
