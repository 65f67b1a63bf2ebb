/* loadgen: a closed-loop HTTP/1.1 load client for ccrelay's benchmarks, 127.0.0.1 only.
 *
 * N keep-alive connections each send the same request (a JSON body from a file) again as soon as
 * the previous answer ended, for D seconds or until a total count is reached, whichever comes
 * first. For every request it measures the latency to the end of the answer, the time to its
 * first byte, and (streams) the time to the first content delta; it checks every answer: status
 * 200, and a stream must end with its format's end marker (Anthropic: `message_stop`, nothing
 * after it, no `event: error`), a body must parse as the format's message. It prints one line of
 * JSON per run on stdout.
 *
 * Bounded always: the run stops sending after --duration (default 10 s, at most 3600), a request
 * that stays silent for --timeout ms fails, and a hard deadline (duration + timeout + 2 s) ends
 * whatever is still in flight. Only loopback addresses are accepted.
 *
 * The HTTP client is written here on bufferevents (not evhttp) so that the first byte and each
 * stream line are seen as they arrive, and so that the 100 KB request is sent by reference, not
 * copied per request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define MAX_HEAD_BYTES (64 << 10)
#define MAX_BODY_KEEP (16 << 20) /* a non-streamed answer larger than this fails */
#define MAX_SAMPLES (20u << 20)   /* per series; further samples are counted, not stored */
#define LINE_KEEP 512             /* bytes of a stream line kept for classification */
#define SNIP 200                  /* bytes of an answer kept for the first failure's message */

enum fmt { F_ANTHROPIC = 0, F_OPENAI, F_GEMINI };
static const char *const fmt_names[] = {"anthropic", "openai", "gemini"};

enum fail_kind {
    FK_CONNECT = 0, /* connect() failed */
    FK_STATUS,      /* answered, but not 200 */
    FK_TIMEOUT,     /* silent for --timeout ms */
    FK_CUT,         /* connection closed before the answer ended */
    FK_NO_STOP,     /* stream ended without its end marker */
    FK_BAD_STREAM,  /* error event, or events after the end marker */
    FK_DELTAS,      /* not the --expect-deltas count */
    FK_BAD_BODY,    /* non-streamed answer is not the format's message */
    FK_PROTOCOL,    /* malformed HTTP */
    FK_COUNT
};
static const char *const fail_names[] = {"connect", "status",   "timeout",  "cut",     "no_stop",
                                         "bad_stream", "deltas", "bad_body", "protocol"};

struct opts {
    const char *url;
    int conns;
    double duration_s;
    long long count; /* 0: no count limit */
    const char *body_file;
    const char *fixture_file;
    int stream;      /* -1: as in the body */
    const char *model;
    enum fmt fmt;
    const char *headers[32];
    int nheaders;
    long timeout_ms;
    long expect_deltas; /* -1: do not check */
    long min_deltas;    /* 0: do not check */
    long ramp_ms;       /* connection i starts at i * ramp / N ms */
    const char *label;
};

struct series {
    uint32_t *v; /* microseconds */
    size_t n, cap;
    unsigned long long dropped;
};

enum cstate { C_CONNECTING, C_HEAD, C_BODY, C_DONE };
enum bmode { B_LENGTH, B_CHUNKED, B_EOF };
enum chstate { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

struct lg;

/* One client connection and the request in flight on it. Owned by lg.conns. */
struct conn {
    struct lg *lg;
    struct bufferevent *bev; /* NULL once closed for good */
    enum cstate st;
    uint64_t t_req, t_first_byte, t_delta;
    bool got_byte, got_delta;
    bool connected; /* this socket finished connecting */
    int status;
    bool close_after;
    enum bmode bm;
    unsigned long long remaining; /* B_LENGTH: body bytes; B_CHUNKED: bytes of this chunk */
    enum chstate cs;
    /* stream scan */
    char line[LINE_KEEP];
    size_t line_len;
    bool saw_stop, after_stop, saw_error;
    long deltas;
    struct evbuffer *body; /* non-streamed answer */
    char snip[SNIP];
    size_t snip_len;
    unsigned long long ok; /* answers that passed the checks */
};

/* The whole run. Lives in main. */
struct lg {
    struct opts o;
    struct event_base *base;
    struct sockaddr_in addr;
    char *req; /* the complete request bytes, sent by reference */
    size_t req_len;
    bool expect_stream;
    struct conn *conns;
    int open; /* connections not yet C_DONE */
    bool stopping;
    uint64_t t_start, t_last_done;
    unsigned long long sent, ok, failed, fails[FK_COUNT], reconnects, aborted;
    struct series lat, ttfb, delta;
    char first_failure[SNIP + 128];
    struct event *stop_ev, *hard_ev, *sigint_ev;
    struct timeval timeout_tv;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void series_add(struct series *s, uint64_t us) {
    if (s->n == s->cap) {
        if (s->cap >= MAX_SAMPLES) {
            s->dropped++;
            return;
        }
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        uint32_t *nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv) {
            s->dropped++;
            return;
        }
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile (nearest rank) of a sorted series, in ms. */
static double pct_ms(const struct series *s, double q) {
    if (s->n == 0) return 0;
    size_t k = (size_t)ceil(q * (double)s->n);
    if (k == 0) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1] / 1000.0;
}

/* ---- connection life ---- */

static void conn_start(struct conn *c);
static void send_request(struct conn *c);
static void retry_later(struct conn *c);

static void fail(struct conn *c, enum fail_kind k, const char *detail) {
    struct lg *lg = c->lg;
    lg->failed++;
    lg->fails[k]++;
    if (!lg->first_failure[0])
        snprintf(lg->first_failure, sizeof lg->first_failure, "%s: %s", fail_names[k],
                 detail ? detail : "");
}

static void conn_close(struct conn *c) {
    if (c->bev) bufferevent_free(c->bev);
    c->bev = NULL;
}

static void conn_done(struct conn *c) {
    conn_close(c);
    if (c->st != C_DONE) {
        c->st = C_DONE;
        if (--c->lg->open == 0) event_base_loopbreak(c->lg->base);
    }
}

/* After a failure or a `Connection: close`: open a new connection unless the run is over. */
static void conn_reopen(struct conn *c) {
    conn_close(c);
    if (c->lg->stopping) {
        conn_done(c);
        return;
    }
    c->lg->reconnects++;
    conn_start(c);
}

static void reset_answer(struct conn *c) {
    c->got_byte = c->got_delta = false;
    c->status = 0;
    c->close_after = false;
    c->bm = B_EOF;
    c->remaining = 0;
    c->cs = CH_SIZE;
    c->line_len = 0;
    c->saw_stop = c->after_stop = c->saw_error = false;
    c->deltas = 0;
    c->snip_len = 0;
    if (c->body) evbuffer_drain(c->body, evbuffer_get_length(c->body));
}

/* ---- stream line classification ---- */

static bool has_nonempty(const char *s, size_t n, const char *key) {
    size_t kl = strlen(key);
    const char *p = memmem(s, n, key, kl);
    return p && (size_t)(p - s) + kl < n && p[kl] != '"';
}

static void stream_line(struct conn *c, const char *s, size_t n) {
    struct lg *lg = c->lg;
    if (n && s[n - 1] == '\r') n--;
    if (n == 0) return;
    bool delta = false;
    if (lg->o.fmt == F_ANTHROPIC) {
        if (n < 6 || memcmp(s, "event:", 6) != 0) return;
        s += 6;
        n -= 6;
        if (n && *s == ' ') s++, n--;
        if (c->saw_stop) c->after_stop = true;
        if (n == 19 && memcmp(s, "content_block_delta", 19) == 0) delta = true;
        else if (n == 12 && memcmp(s, "message_stop", 12) == 0) c->saw_stop = true;
        else if (n == 5 && memcmp(s, "error", 5) == 0) c->saw_error = true;
    } else {
        if (n < 5 || memcmp(s, "data:", 5) != 0) return;
        if (lg->o.fmt == F_OPENAI) {
            if (c->saw_stop) c->after_stop = true;
            if (n >= 11 && memmem(s, n, "[DONE]", 6)) c->saw_stop = true;
            else if (has_nonempty(s, n, "\"content\":\"") || has_nonempty(s, n, "\"arguments\":\""))
                delta = true;
            else if (memmem(s, n, "\"error\"", 7) && !memmem(s, n, "\"choices\"", 9))
                c->saw_error = true;
        } else {
            if (has_nonempty(s, n, "\"text\":\"") || memmem(s, n, "\"functionCall\"", 14))
                delta = true;
            if (memmem(s, n, "\"finishReason\"", 14)) c->saw_stop = true;
            if (memmem(s, n, "\"error\"", 7) && !memmem(s, n, "\"candidates\"", 12))
                c->saw_error = true;
        }
    }
    if (delta) {
        c->deltas++;
        if (!c->got_delta) {
            c->got_delta = true;
            c->t_delta = now_us();
        }
    }
}

/* Body bytes, de-chunked, in any split. */
static void body_bytes(struct conn *c, const char *p, size_t n) {
    if (c->snip_len < SNIP) {
        size_t k = n < SNIP - c->snip_len ? n : SNIP - c->snip_len;
        memcpy(c->snip + c->snip_len, p, k);
        c->snip_len += k;
    }
    if (!c->lg->expect_stream || c->status != 200) {
        if (evbuffer_get_length(c->body) + n <= MAX_BODY_KEEP) evbuffer_add(c->body, p, n);
        return;
    }
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_KEEP - c->line_len;
        size_t k = take < room ? take : room;
        memcpy(c->line + c->line_len, p, k);
        c->line_len += k;
        if (!nl) return;
        stream_line(c, c->line, c->line_len);
        c->line_len = 0;
        p = nl + 1;
        n -= take + 1;
    }
}

static void body_chain(struct conn *c, struct evbuffer *in, size_t n) {
    struct evbuffer_iovec v[16];
    while (n) {
        int k = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 16);
        if (k <= 0) return;
        size_t used = 0;
        for (int i = 0; i < k && i < 16 && used < n; i++) {
            size_t m = v[i].iov_len < n - used ? v[i].iov_len : n - used;
            body_bytes(c, v[i].iov_base, m);
            used += m;
        }
        evbuffer_drain(in, used);
        n -= used;
    }
}

static bool body_valid(struct conn *c) {
    size_t n = evbuffer_get_length(c->body);
    const char *b = (const char *)evbuffer_pullup(c->body, -1);
    if (!b) return false;
    cJSON *j = cJSON_ParseWithLength(b, n);
    bool ok = false;
    if (j) {
        switch (c->lg->o.fmt) {
        case F_ANTHROPIC: {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
            ok = cJSON_IsString(t) && strcmp(t->valuestring, "message") == 0 &&
                 cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "content")) &&
                 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "stop_reason"));
            break;
        }
        case F_OPENAI:
            ok = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "choices")) > 0;
            break;
        case F_GEMINI:
            ok = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "candidates")) > 0;
            break;
        }
    }
    cJSON_Delete(j);
    return ok;
}

static void answer_done(struct conn *c) {
    struct lg *lg = c->lg;
    uint64_t t = now_us();
    char snip[SNIP + 1];
    size_t sn = c->snip_len;
    memcpy(snip, c->snip, sn);
    snip[sn] = 0;
    for (size_t i = 0; i < sn; i++)
        if (snip[i] == '\n' || snip[i] == '\r' || (unsigned char)snip[i] < 0x20) snip[i] = ' ';
    char detail[SNIP + 64];
    bool good = false;
    if (c->status != 200) {
        snprintf(detail, sizeof detail, "HTTP %d: %s", c->status, snip);
        fail(c, FK_STATUS, detail);
    } else if (lg->expect_stream) {
        if (c->line_len) stream_line(c, c->line, c->line_len); /* a last line without LF */
        if (c->saw_error || c->after_stop) fail(c, FK_BAD_STREAM, c->saw_error ? "error event"
                                                                              : "events after the end");
        else if (!c->saw_stop) fail(c, FK_NO_STOP, "the stream ended without its end marker");
        else if (lg->o.expect_deltas >= 0 && c->deltas != lg->o.expect_deltas) {
            snprintf(detail, sizeof detail, "%ld content deltas, expected %ld", c->deltas,
                     lg->o.expect_deltas);
            fail(c, FK_DELTAS, detail);
        } else if (c->deltas < lg->o.min_deltas) {
            snprintf(detail, sizeof detail, "%ld content deltas, expected at least %ld", c->deltas,
                     lg->o.min_deltas);
            fail(c, FK_DELTAS, detail);
        } else good = true;
    } else if (!body_valid(c)) {
        snprintf(detail, sizeof detail, "not a %s message: %s", fmt_names[lg->o.fmt], snip);
        fail(c, FK_BAD_BODY, detail);
    } else good = true;

    if (c->got_byte) series_add(&lg->ttfb, c->t_first_byte - c->t_req);
    if (good) {
        lg->ok++;
        c->ok++;
        series_add(&lg->lat, t - c->t_req);
        if (c->got_delta) series_add(&lg->delta, c->t_delta - c->t_req);
    }
    lg->t_last_done = t;
    if (c->close_after || !good) conn_reopen(c);
    else send_request(c);
}

/* Parse the response head. Returns 1 when complete, 0 for more, -1 on error. */
static int read_head(struct conn *c, struct evbuffer *in) {
    for (;;) {
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) return evbuffer_get_length(in) > MAX_HEAD_BYTES ? -1 : 0;
        if (c->status == 0) {
            int minor = 1, st = 0;
            if (sscanf(line, "HTTP/1.%d %d", &minor, &st) != 2 || st < 100 || st > 999) {
                free(line);
                return -1;
            }
            c->status = st;
            c->close_after = minor == 0;
        } else if (n == 0) {
            free(line);
            if (c->status >= 100 && c->status < 200) { /* interim: the real head follows */
                c->status = 0;
                continue;
            }
            if (c->status == 204 || c->status == 304) c->bm = B_LENGTH, c->remaining = 0;
            return 1;
        } else {
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = 0;
                char *v = colon + 1;
                while (*v == ' ' || *v == '\t') v++;
                if (!strcasecmp(line, "content-length")) {
                    if (c->bm != B_CHUNKED) {
                        c->bm = B_LENGTH;
                        c->remaining = strtoull(v, NULL, 10);
                    }
                } else if (!strcasecmp(line, "transfer-encoding") && strcasestr(v, "chunked")) {
                    c->bm = B_CHUNKED;
                    c->cs = CH_SIZE;
                } else if (!strcasecmp(line, "connection")) {
                    if (strcasestr(v, "close")) c->close_after = true;
                    else if (strcasestr(v, "keep-alive")) c->close_after = false;
                }
            }
        }
        free(line);
    }
}

/* Returns 1 when the body is complete, 0 for more, -1 on error. */
static int read_body(struct conn *c, struct evbuffer *in) {
    if (c->bm == B_EOF) {
        body_chain(c, in, evbuffer_get_length(in));
        return 0;
    }
    if (c->bm == B_LENGTH) {
        size_t have = evbuffer_get_length(in);
        size_t k = have < c->remaining ? have : (size_t)c->remaining;
        body_chain(c, in, k);
        c->remaining -= k;
        return c->remaining == 0;
    }
    for (;;) {
        switch (c->cs) {
        case CH_SIZE: {
            size_t n;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) return evbuffer_get_length(in) > 1024 ? -1 : 0;
            char *end;
            errno = 0;
            unsigned long long sz = strtoull(line, &end, 16);
            bool bad = end == line || errno != 0;
            free(line);
            if (bad) return -1;
            c->remaining = sz;
            c->cs = sz ? CH_DATA : CH_TRAILER;
            break;
        }
        case CH_DATA: {
            size_t have = evbuffer_get_length(in);
            if (!have) return 0;
            size_t k = have < c->remaining ? have : (size_t)c->remaining;
            body_chain(c, in, k);
            c->remaining -= k;
            if (c->remaining) return 0;
            c->cs = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF: {
            size_t n;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) return evbuffer_get_length(in) > 2 ? -1 : 0;
            free(line);
            if (n != 0) return -1;
            c->cs = CH_SIZE;
            break;
        }
        case CH_TRAILER: {
            size_t n;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) return evbuffer_get_length(in) > MAX_HEAD_BYTES ? -1 : 0;
            free(line);
            if (n == 0) return 1;
            break;
        }
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg) {
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->st != C_HEAD && c->st != C_BODY) { /* bytes nobody asked for */
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (!c->got_byte && evbuffer_get_length(in)) {
        c->got_byte = true;
        c->t_first_byte = now_us();
    }
    if (c->st == C_HEAD) {
        int r = read_head(c, in);
        if (r < 0) {
            fail(c, FK_PROTOCOL, "malformed response head");
            conn_reopen(c);
            return;
        }
        if (r == 0) return;
        c->st = C_BODY;
    }
    int r = read_body(c, in);
    if (r < 0) {
        fail(c, FK_PROTOCOL, "malformed chunked body");
        conn_reopen(c);
    } else if (r > 0) {
        answer_done(c);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->connected = true;
        /* The first request was queued before the connection existed: time it from now, so
         * that a connect storm (1000 clients at once) is not counted as the server's latency. */
        if (!c->got_byte) c->t_req = now_us();
        return;
    }
    if (!c->connected) {
        char d[128];
        snprintf(d, sizeof d, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        fail(c, FK_CONNECT, d);
        c->lg->sent--; /* that request never left */
        conn_close(c);
        retry_later(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        fail(c, FK_TIMEOUT, "no byte for --timeout ms");
        conn_reopen(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && c->st == C_BODY && c->bm == B_EOF) {
        c->close_after = true;
        answer_done(c);
        return;
    }
    fail(c, FK_CUT, c->got_byte ? "connection closed mid-answer" : "connection closed unanswered");
    conn_reopen(c);
}

static void send_request(struct conn *c) {
    struct lg *lg = c->lg;
    if (lg->stopping || (lg->o.count && lg->sent >= (unsigned long long)lg->o.count)) {
        conn_done(c);
        return;
    }
    reset_answer(c);
    c->st = C_HEAD;
    c->t_req = now_us();
    lg->sent++;
    if (evbuffer_add_reference(bufferevent_get_output(c->bev), lg->req, lg->req_len, NULL, NULL) !=
        0) {
        fail(c, FK_CONNECT, "out of memory queueing the request");
        conn_reopen(c);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg) {
    struct conn *c = arg;
    if (c->st == C_DONE) return;
    if (c->lg->stopping) conn_done(c);
    else conn_start(c);
}

/* A refused connect is retried after 100 ms, not in a busy loop. */
static void retry_later(struct conn *c) {
    struct timeval tv = {0, 100000};
    if (c->lg->stopping || event_base_once(c->lg->base, -1, EV_TIMEOUT, on_retry, c, &tv) != 0)
        conn_done(c);
}

static void conn_start(struct conn *c) {
    struct lg *lg = c->lg;
    c->st = C_CONNECTING;
    c->connected = false;
    c->bev = bufferevent_socket_new(lg->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        fail(c, FK_CONNECT, "cannot create a socket (raise ulimit -n?)");
        conn_done(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_set_timeouts(c->bev, &lg->timeout_tv, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&lg->addr, sizeof lg->addr) != 0) {
        char d[128];
        snprintf(d, sizeof d, "%s", strerror(errno));
        fail(c, FK_CONNECT, d);
        conn_done(c); /* a socket that cannot even be created will not be created on retry */
        return;
    }
    send_request(c); /* queued now, leaves once connected */
}

/* ---- run control ---- */

static void on_stop(evutil_socket_t fd, short what, void *arg) {
    struct lg *lg = arg;
    lg->stopping = true;
    /* Idle connections do not exist in a closed loop; in-flight ones end with their answer. */
}

static void on_hard(evutil_socket_t fd, short what, void *arg) {
    struct lg *lg = arg;
    lg->stopping = true;
    for (int i = 0; i < lg->o.conns; i++) {
        struct conn *c = &lg->conns[i];
        if (c->st != C_DONE) {
            lg->aborted++;
            conn_done(c);
        }
    }
    event_base_loopbreak(lg->base);
}

static void on_sigint(evutil_socket_t fd, short what, void *arg) {
    on_stop(fd, what, arg);
    on_hard(fd, what, arg);
}

/* ---- set-up ---- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 131072);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Build the request body: the file as it is, unless it must be rewritten (a fixture's `body`,
 * or --stream / --model). Sets lg->expect_stream. Returns a malloc'd body or NULL. */
static char *make_body(struct lg *lg, const char *path_part, size_t *len) {
    const struct opts *o = &lg->o;
    const char *file = o->fixture_file ? o->fixture_file : o->body_file;
    size_t n;
    char *text = read_file(file, &n);
    if (!text) {
        fprintf(stderr, "loadgen: cannot read %s: %s\n", file, strerror(errno));
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    if (!root) {
        fprintf(stderr, "loadgen: %s is not JSON\n", file);
        free(text);
        return NULL;
    }
    cJSON *body = root;
    if (o->fixture_file) {
        body = cJSON_GetObjectItemCaseSensitive(root, "body");
        if (!cJSON_IsObject(body)) {
            fprintf(stderr, "loadgen: %s has no \"body\" object (is it a fixture?)\n", file);
            goto fail;
        }
    }
    if (o->stream >= 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "stream");
        if (!cJSON_AddBoolToObject(body, "stream", o->stream)) goto oom;
    }
    if (o->model) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "model");
        if (!cJSON_AddStringToObject(body, "model", o->model)) goto oom;
    }
    if (o->fmt == F_GEMINI) lg->expect_stream = strstr(path_part, "streamGenerateContent") != NULL;
    else lg->expect_stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"));
    char *out;
    if (o->fixture_file || o->stream >= 0 || o->model) {
        out = cJSON_PrintUnformatted(body);
        if (!out) goto oom;
        *len = strlen(out);
        free(text);
    } else {
        out = text;
        *len = n;
    }
    cJSON_Delete(root);
    return out;
oom:
    fprintf(stderr, "loadgen: out of memory building the body\n");
fail:
    cJSON_Delete(root);
    free(text);
    return NULL;
}

/* http://127.0.0.1:PORT/path (or localhost, any 127.0.0.0/8 address). */
static int parse_url(struct lg *lg, const char **path) {
    const char *u = lg->o.url;
    if (strncmp(u, "http://", 7) != 0) {
        fprintf(stderr, "loadgen: --url must start with http:// (got %s)\n", u);
        return -1;
    }
    u += 7;
    const char *slash = strchr(u, '/');
    *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - u) : strlen(u);
    char host[64];
    if (hl >= sizeof host) return -1;
    memcpy(host, u, hl);
    host[hl] = 0;
    int port = 80;
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = 0;
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535) {
            fprintf(stderr, "loadgen: bad port in --url\n");
            return -1;
        }
        port = (int)p;
    }
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    memset(&lg->addr, 0, sizeof lg->addr);
    lg->addr.sin_family = AF_INET;
    lg->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &lg->addr.sin_addr) != 1 ||
        (ntohl(lg->addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "loadgen: only loopback targets (127.0.0.0/8, localhost) are allowed, "
                        "not '%s'\n",
                host);
        return -1;
    }
    return 0;
}

static int build_request(struct lg *lg) {
    const char *path;
    if (parse_url(lg, &path) != 0) return -1;
    size_t blen;
    char *body = make_body(lg, path, &blen);
    if (!body) return -1;
    char head[8192];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                     "Accept: %s\r\nContent-Length: %zu\r\n",
                     path, "127.0.0.1", (unsigned)ntohs(lg->addr.sin_port),
                     lg->expect_stream ? "text/event-stream" : "application/json", blen);
    for (int i = 0; i < lg->o.nheaders && n > 0 && (size_t)n < sizeof head; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n", lg->o.headers[i]);
    if (n < 0 || (size_t)n + 3 > sizeof head) {
        fprintf(stderr, "loadgen: request head too long\n");
        free(body);
        return -1;
    }
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    lg->req_len = (size_t)n + blen;
    lg->req = malloc(lg->req_len);
    if (!lg->req) {
        free(body);
        return -1;
    }
    memcpy(lg->req, head, (size_t)n);
    memcpy(lg->req + n, body, blen);
    free(body);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: loadgen --url http://127.0.0.1:PORT/PATH (--body FILE | --fixture FILE)\n"
            "               [-c CONNS] [-d SECONDS] [-n REQUESTS] [--stream 0|1] [--model M]\n"
            "               [--format anthropic|openai|gemini] [-H 'Name: value']...\n"
            "               [--timeout MS] [--expect-deltas N] [--min-deltas N]\n"
            "               [--ramp MS] [--label TEXT]\n"
            "  --body FILE      the request body, sent as is (unless --stream/--model rewrite it)\n"
            "  --fixture FILE   a captured request {method,path,headers,body}: its body is sent\n"
            "  -c               keep-alive connections, each one request at a time (default 1)\n"
            "  -d               stop sending after this many seconds (default 10, max 3600)\n"
            "  -n               stop after this many requests in all (default: no count limit)\n"
            "  --stream 0|1     set \"stream\" in the body\n"
            "  --format         how answers end and are checked (default anthropic)\n"
            "  --timeout MS     a request silent this long fails (default 30000)\n"
            "  --expect-deltas  a stream must carry exactly N content deltas\n"
            "  --min-deltas     a stream must carry at least N content deltas\n"
            "  --ramp MS        spread the connections' starts over MS (default 0: all at once);\n"
            "                   with answers of fixed length they then stay spread, as real\n"
            "                   users' requests are, instead of arriving in one burst\n"
            "Prints one JSON line: counts, failures by kind, rps, latency/ttfb/first-delta "
            "percentiles (ms).\n");
}

static int parse_opts(int argc, char **argv, struct opts *o) {
    *o = (struct opts){.conns = 1, .duration_s = 10, .stream = -1, .fmt = F_ANTHROPIC,
                       .timeout_ms = 30000, .expect_deltas = -1, .label = ""};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "loadgen: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        if (!strcmp(a, "--url")) o->url = v;
        else if (!strcmp(a, "--body")) o->body_file = v;
        else if (!strcmp(a, "--fixture")) o->fixture_file = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--label")) o->label = v;
        else if (!strcmp(a, "-H") || !strcmp(a, "--header")) {
            if (o->nheaders >= 32 || strpbrk(v, "\r\n") || !strchr(v, ':')) {
                fprintf(stderr, "loadgen: bad header '%s' (at most 32, 'Name: value')\n", v);
                return -1;
            }
            o->headers[o->nheaders++] = v;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "anthropic")) o->fmt = F_ANTHROPIC;
            else if (!strcmp(v, "openai")) o->fmt = F_OPENAI;
            else if (!strcmp(v, "gemini")) o->fmt = F_GEMINI;
            else {
                fprintf(stderr, "loadgen: --format is anthropic, openai or gemini\n");
                return -1;
            }
        } else {
            double d = strtod(v, &end);
            if (errno || end == v || *end) {
                fprintf(stderr, "loadgen: %s wants a number, got '%s'\n", a, v);
                return -1;
            }
            if ((!strcmp(a, "-c") || !strcmp(a, "--connections")) && d >= 1 && d <= 20000)
                o->conns = (int)d;
            else if ((!strcmp(a, "-d") || !strcmp(a, "--duration")) && d > 0 && d <= 3600)
                o->duration_s = d;
            else if ((!strcmp(a, "-n") || !strcmp(a, "--requests")) && d >= 1 && d <= 1e12)
                o->count = (long long)d;
            else if (!strcmp(a, "--stream") && (d == 0 || d == 1)) o->stream = (int)d;
            else if (!strcmp(a, "--timeout") && d >= 1 && d <= 600000) o->timeout_ms = (long)d;
            else if (!strcmp(a, "--expect-deltas") && d >= 0 && d <= 1e9)
                o->expect_deltas = (long)d;
            else if (!strcmp(a, "--min-deltas") && d >= 0 && d <= 1e9) o->min_deltas = (long)d;
            else if (!strcmp(a, "--ramp") && d >= 0 && d <= 600000) o->ramp_ms = (long)d;
            else {
                fprintf(stderr, "loadgen: unknown option or value out of range: %s %s\n", a, v);
                return -1;
            }
        }
    }
    if (!o->url || (!o->body_file == !o->fixture_file)) {
        fprintf(stderr, "loadgen: --url and one of --body / --fixture are required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static void add_pcts(cJSON *obj, const char *name, struct series *s) {
    if (s->n) qsort(s->v, s->n, sizeof *s->v, cmp_u32);
    cJSON *o = cJSON_AddObjectToObject(obj, name);
    if (!o) return;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += s->v[i];
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    cJSON_AddNumberToObject(o, "p50", pct_ms(s, 0.50));
    cJSON_AddNumberToObject(o, "p90", pct_ms(s, 0.90));
    cJSON_AddNumberToObject(o, "p99", pct_ms(s, 0.99));
    cJSON_AddNumberToObject(o, "max", s->n ? s->v[s->n - 1] / 1000.0 : 0);
    cJSON_AddNumberToObject(o, "mean", s->n ? round(sum / (double)s->n) / 1000.0 : 0);
}

static int report(struct lg *lg) {
    double elapsed = (double)((lg->t_last_done > lg->t_start ? lg->t_last_done : now_us()) -
                              lg->t_start) / 1e6;
    int unserved = 0;
    for (int i = 0; i < lg->o.conns; i++)
        if (lg->conns[i].ok == 0) unserved++;
    cJSON *j = cJSON_CreateObject();
    if (!j) return -1;
    cJSON_AddStringToObject(j, "label", lg->o.label);
    cJSON_AddStringToObject(j, "url", lg->o.url);
    cJSON_AddStringToObject(j, "format", fmt_names[lg->o.fmt]);
    cJSON_AddBoolToObject(j, "stream", lg->expect_stream);
    cJSON_AddNumberToObject(j, "connections", lg->o.conns);
    cJSON_AddNumberToObject(j, "body_bytes", (double)lg->req_len);
    cJSON_AddNumberToObject(j, "elapsed_s", round(elapsed * 1000) / 1000);
    cJSON_AddNumberToObject(j, "sent", (double)lg->sent);
    cJSON_AddNumberToObject(j, "ok", (double)lg->ok);
    cJSON_AddNumberToObject(j, "failed", (double)lg->failed);
    cJSON_AddNumberToObject(j, "aborted", (double)lg->aborted);
    cJSON *fk = cJSON_AddObjectToObject(j, "failures");
    for (int k = 0; fk && k < FK_COUNT; k++)
        if (lg->fails[k]) cJSON_AddNumberToObject(fk, fail_names[k], (double)lg->fails[k]);
    cJSON_AddNumberToObject(j, "unserved_connections", unserved);
    cJSON_AddNumberToObject(j, "reconnects", (double)lg->reconnects);
    cJSON_AddNumberToObject(j, "rps", elapsed > 0 ? round(lg->ok / elapsed * 10) / 10 : 0);
    add_pcts(j, "latency_ms", &lg->lat);
    add_pcts(j, "ttfb_ms", &lg->ttfb);
    add_pcts(j, "first_delta_ms", &lg->delta);
    if (lg->lat.dropped)
        cJSON_AddNumberToObject(j, "samples_dropped", (double)lg->lat.dropped);
    if (lg->first_failure[0]) cJSON_AddStringToObject(j, "first_failure", lg->first_failure);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return -1;
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    return 0;
}

int main(int argc, char **argv) {
    struct lg lg;
    memset(&lg, 0, sizeof lg);
    if (parse_opts(argc, argv, &lg.o) != 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    /* Each connection is one descriptor: take the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)lg.o.conns + 32) {
        fprintf(stderr, "loadgen: %d connections need more descriptors than ulimit -n (%llu)\n",
                lg.o.conns, (unsigned long long)rl.rlim_cur);
        return 2;
    }
    int rc = 1;
    if (build_request(&lg) != 0) goto out;
    lg.base = event_base_new();
    lg.conns = calloc((size_t)lg.o.conns, sizeof *lg.conns);
    if (!lg.base || !lg.conns) {
        fprintf(stderr, "loadgen: out of memory\n");
        goto out;
    }
    lg.timeout_tv.tv_sec = lg.o.timeout_ms / 1000;
    lg.timeout_tv.tv_usec = (lg.o.timeout_ms % 1000) * 1000;
    lg.stop_ev = evtimer_new(lg.base, on_stop, &lg);
    lg.hard_ev = evtimer_new(lg.base, on_hard, &lg);
    lg.sigint_ev = evsignal_new(lg.base, SIGINT, on_sigint, &lg);
    double hard = lg.o.duration_s + lg.o.timeout_ms / 1000.0 + 2;
    struct timeval stv = {(time_t)lg.o.duration_s,
                          (suseconds_t)((lg.o.duration_s - (time_t)lg.o.duration_s) * 1e6)};
    struct timeval htv = {(time_t)hard, (suseconds_t)((hard - (time_t)hard) * 1e6)};
    if (!lg.stop_ev || !lg.hard_ev || !lg.sigint_ev || evtimer_add(lg.stop_ev, &stv) ||
        evtimer_add(lg.hard_ev, &htv) || evsignal_add(lg.sigint_ev, NULL)) {
        fprintf(stderr, "loadgen: cannot set up timers\n");
        goto out;
    }
    lg.open = lg.o.conns;
    lg.t_start = now_us();
    for (int i = 0; i < lg.o.conns; i++) {
        struct conn *c = &lg.conns[i];
        c->lg = &lg;
        c->body = evbuffer_new();
        if (!c->body) {
            fprintf(stderr, "loadgen: out of memory\n");
            goto out;
        }
    }
    for (int i = 0; i < lg.o.conns && !lg.stopping; i++) {
        long at_us = lg.o.ramp_ms * 1000 / lg.o.conns * i;
        if (at_us == 0) {
            conn_start(&lg.conns[i]);
            continue;
        }
        struct timeval tv = {at_us / 1000000, at_us % 1000000};
        lg.conns[i].st = C_CONNECTING;
        if (event_base_once(lg.base, -1, EV_TIMEOUT, on_retry, &lg.conns[i], &tv) != 0)
            conn_start(&lg.conns[i]);
    }
    if (lg.open > 0) event_base_dispatch(lg.base);
    rc = report(&lg) == 0 ? 0 : 1;
out:
    if (lg.conns) {
        for (int i = 0; i < lg.o.conns; i++) {
            conn_close(&lg.conns[i]);
            if (lg.conns[i].body) evbuffer_free(lg.conns[i].body);
        }
        free(lg.conns);
    }
    if (lg.stop_ev) event_free(lg.stop_ev);
    if (lg.hard_ev) event_free(lg.hard_ev);
    if (lg.sigint_ev) event_free(lg.sigint_ev);
    if (lg.base) event_base_free(lg.base);
    free(lg.req);
    free(lg.lat.v);
    free(lg.ttfb.v);
    free(lg.delta.v);
    return rc;
}
