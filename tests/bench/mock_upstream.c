/* mock_upstream: a model provider stand-in for ccrelay's benchmarks, on 127.0.0.1 only.
 *
 * One process, one port, three wire formats chosen by path:
 *   POST /v1/chat/completions                         OpenAI Chat Completions
 *   POST /v1/messages                                 Anthropic Messages
 *   POST /v1/messages/count_tokens                    Anthropic token count
 *   POST /v1beta/models/<m>:streamGenerateContent     Gemini, SSE (alt=sse)
 *   POST /v1beta/models/<m>:generateContent           Gemini, one JSON body
 * Whether the first two stream is read from the request: the last `"stream"` key of the body is
 * looked up with memmem and its value checked for `true`; nothing else of the body is parsed, so
 * the mock costs the same whatever the request (the benchmark measures the proxy, not the mock).
 *
 * Every answer is `--chunks` content deltas (text, or with --tool one tool call whose arguments
 * are streamed in pieces), the first after `--first` ms, the next ones `--delay` ms apart. A
 * non-streamed answer is sent when the stream would have ended. All answer bytes are built once
 * at start-up; a request costs one small state (only when there is a timer to wait for) and the
 * evbuffer writes.
 *
 * Usage: mock_upstream [--port N] [--chunks N] [--delay MS] [--first MS] [--tool]
 *                      [--lifetime S] [--quiet]
 * With --port 0 the kernel picks a free port. Either way the first line on stdout is
 * "port <N>", once the socket listens. SIGINT/SIGTERM end it cleanly, and it exits by itself
 * after --lifetime seconds (default 3600) so a forgotten mock never lingers. On exit it prints
 * the number of requests it answered on stderr. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

enum fmt { F_ANTHROPIC = 0, F_OPENAI, F_GEMINI, F_COUNT };

/* The bytes of one format's answer, built once. A stream is: head, delta[0..n-1], tail, where
 * the deltas are `first` (i == 0), `mid`, `last` (i == n-1), or `single` when n == 1. */
struct answer {
    char *head, *first, *mid, *last, *single, *tail; /* SSE bytes */
    size_t head_len, first_len, mid_len, last_len, single_len, tail_len;
    char *body; /* the non-streamed answer */
    size_t body_len;
    int nchunks; /* Gemini sends a tool call whole: one chunk */
};

struct opts {
    int port;
    int chunks;
    long delay_ms;
    long first_ms;
    bool tool;
    long lifetime_s;
    bool quiet;
};

struct pending; /* a request waiting for its next chunk */

/* Everything the server owns; lives in main for the whole run. */
struct mock {
    struct event_base *base;
    struct evhttp *http;
    struct opts o;
    struct answer ans[F_COUNT];
    struct pending *live; /* doubly linked list of waiting requests */
    unsigned long long served, streams, cut;
};

/* One request whose answer is paced by a timer. Owned by the mock's `live` list: freed when the
 * answer is complete, when the client's connection closes, or at exit. */
struct pending {
    struct mock *m;
    struct evhttp_request *req; /* borrowed from evhttp; invalid once the connection closes */
    struct event *timer;
    const struct answer *a;
    int next; /* index of the next delta to send */
    bool stream;
    struct pending *prev, *nxt;
};

/* ---- answer construction ---- */

/* Append printf output to a growing heap string. Returns -1 on OOM. */
static int sadd(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sadd(char **s, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    char *ns = realloc(*s, *len + (size_t)n + 1);
    if (!ns) return -1;
    *s = ns;
    va_start(ap, fmt);
    vsnprintf(ns + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return 0;
}

/* Tool arguments are streamed as pieces whose concatenation is {"command":"echo x x ... x"}:
 * piece 0 opens the object, the last closes it. `esc` gives the JSON-in-a-JSON-string form. */
#define ARG_OPEN_ESC "{\\\"command\\\":\\\"echo"
#define ARG_MID " x"
#define ARG_CLOSE_ESC " x\\\"}"
#define ARG_SINGLE_ESC "{\\\"command\\\":\\\"echo x\\\"}"
#define TEXT_PIECE "tok "

static void answer_free(struct answer *a) {
    free(a->head);
    free(a->first);
    free(a->mid);
    free(a->last);
    free(a->single);
    free(a->tail);
    free(a->body);
    memset(a, 0, sizeof *a);
}

/* The full tool-call argument string of n pieces, escaped for a JSON string. */
static int tool_args_escaped(int n, char **s, size_t *len) {
    if (n == 1) return sadd(s, len, "%s", ARG_SINGLE_ESC);
    if (sadd(s, len, "%s", ARG_OPEN_ESC) != 0) return -1;
    for (int i = 1; i < n - 1; i++)
        if (sadd(s, len, "%s", ARG_MID) != 0) return -1;
    return sadd(s, len, "%s", ARG_CLOSE_ESC);
}

static int text_whole(int n, char **s, size_t *len) {
    for (int i = 0; i < n; i++)
        if (sadd(s, len, "%s", TEXT_PIECE) != 0) return -1;
    return 0;
}

#define ADD(field, ...)                                                                           \
    do {                                                                                          \
        if (sadd(&a->field, &a->field##_len, __VA_ARGS__) != 0) return -1;                        \
    } while (0)

static int build_anthropic(struct answer *a, int n, bool tool) {
    a->nchunks = n;
    ADD(head, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
              "\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock\","
              "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
              "{\"input_tokens\":100,\"output_tokens\":1}}}\n\n");
    if (tool)
        ADD(head, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"
                  "0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":"
                  "\"Bash\",\"input\":{}}}\n\n");
    else
        ADD(head, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"
                  "0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    ADD(head, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
#define ADELTA(field, kind, key, piece)                                                           \
    ADD(field, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0," \
               "\"delta\":{\"type\":\"" kind "\",\"" key "\":\"%s\"}}\n\n",                        \
        piece)
    if (tool) {
        ADELTA(first, "input_json_delta", "partial_json", ARG_OPEN_ESC);
        ADELTA(mid, "input_json_delta", "partial_json", ARG_MID);
        ADELTA(last, "input_json_delta", "partial_json", ARG_CLOSE_ESC);
        ADELTA(single, "input_json_delta", "partial_json", ARG_SINGLE_ESC);
    } else {
        ADELTA(first, "text_delta", "text", TEXT_PIECE);
        ADELTA(mid, "text_delta", "text", TEXT_PIECE);
        ADELTA(last, "text_delta", "text", TEXT_PIECE);
        ADELTA(single, "text_delta", "text", TEXT_PIECE);
    }
#undef ADELTA
    ADD(tail, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
              "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
              "\"%s\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n"
              "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        tool ? "tool_use" : "end_turn", n);

    ADD(body, "{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock\","
              "\"content\":[");
    if (tool) {
        ADD(body, "{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":\"Bash\",\"input\":");
        /* the unescaped arguments object */
        ADD(body, "{\"command\":\"echo");
        for (int i = 0; i < (n > 1 ? n - 1 : 1); i++) ADD(body, " x"); /* as the pieces add up */
        ADD(body, "\"}}");
    } else {
        ADD(body, "{\"type\":\"text\",\"text\":\"");
        if (text_whole(n, &a->body, &a->body_len) != 0) return -1;
        ADD(body, "\"}");
    }
    ADD(body, "],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":100,"
              "\"output_tokens\":%d}}",
        tool ? "tool_use" : "end_turn", n);
    return 0;
}

static int build_openai(struct answer *a, int n, bool tool) {
    a->nchunks = n;
#define OPRE "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":" \
             "1700000000,\"model\":\"mock\",\"choices\":[{\"index\":0,\"delta\":"
    if (tool)
        ADD(head, OPRE "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
                       "\"id\":\"call_mock\",\"type\":\"function\",\"function\":{\"name\":"
                       "\"Bash\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n");
    else
        ADD(head, OPRE "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
#define ODELTA_TOOL(field, piece)                                                                 \
    ADD(field, OPRE "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"%s\"}}]},"       \
                    "\"finish_reason\":null}]}\n\n",                                              \
        piece)
#define ODELTA_TEXT(field)                                                                        \
    ADD(field, OPRE "{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", TEXT_PIECE)
    if (tool) {
        ODELTA_TOOL(first, ARG_OPEN_ESC);
        ODELTA_TOOL(mid, ARG_MID);
        ODELTA_TOOL(last, ARG_CLOSE_ESC);
        ODELTA_TOOL(single, ARG_SINGLE_ESC);
    } else {
        ODELTA_TEXT(first);
        ODELTA_TEXT(mid);
        ODELTA_TEXT(last);
        ODELTA_TEXT(single);
    }
    ADD(tail, OPRE "{},\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":100,"
                   "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n",
        tool ? "tool_calls" : "stop", n, 100 + n);
#undef ODELTA_TOOL
#undef ODELTA_TEXT
#undef OPRE

    ADD(body, "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":1700000000,"
              "\"model\":\"mock\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",");
    if (tool) {
        ADD(body, "\"content\":null,\"tool_calls\":[{\"id\":\"call_mock\",\"type\":\"function\","
                  "\"function\":{\"name\":\"Bash\",\"arguments\":\"");
        if (tool_args_escaped(n, &a->body, &a->body_len) != 0) return -1;
        ADD(body, "\"}}]},\"finish_reason\":\"tool_calls\"}]");
    } else {
        ADD(body, "\"content\":\"");
        if (text_whole(n, &a->body, &a->body_len) != 0) return -1;
        ADD(body, "\"},\"finish_reason\":\"stop\"}]");
    }
    ADD(body, ",\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":%d,\"total_tokens\":%d}}",
        n, 100 + n);
    return 0;
}

static int build_gemini(struct answer *a, int n, bool tool) {
#define GUSAGE1                                                                                   \
    "\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":1,"                      \
    "\"totalTokenCount\":101},\"modelVersion\":\"mock\"}"
    /* Gemini never streams partial function arguments: a tool call is one chunk. */
    a->nchunks = tool ? 1 : n;
    ADD(head, "%s", "");
    if (tool) {
        ADD(single, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":"
                    "\"Bash\",\"args\":{\"command\":\"echo x\"}}}],\"role\":\"model\"},"
                    "\"index\":0}]," GUSAGE1 "\n\n");
        ADD(first, "%s", "");
        ADD(mid, "%s", "");
        ADD(last, "%s", "");
    } else {
#define GDELTA(field)                                                                             \
    ADD(field, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"%s\"}],\"role\":"     \
               "\"model\"},\"index\":0}]," GUSAGE1 "\n\n",                                    \
        TEXT_PIECE)
        GDELTA(first);
        GDELTA(mid);
        GDELTA(last);
        GDELTA(single);
#undef GDELTA
    }
    ADD(tail, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":"
              "\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":"
              "{\"promptTokenCount\":100,\"candidatesTokenCount\":%d,\"totalTokenCount\":%d},"
              "\"modelVersion\":\"mock\"}\n\n",
        n, 100 + n);

    ADD(body, "{\"candidates\":[{\"content\":{\"parts\":[");
    if (tool) {
        ADD(body, "{\"functionCall\":{\"name\":\"Bash\",\"args\":{\"command\":\"echo x\"}}}");
    } else {
        ADD(body, "{\"text\":\"");
        if (text_whole(n, &a->body, &a->body_len) != 0) return -1;
        ADD(body, "\"}");
    }
    ADD(body, "],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":"
              "{\"promptTokenCount\":100,\"candidatesTokenCount\":%d,\"totalTokenCount\":%d},"
              "\"modelVersion\":\"mock\"}",
        n, 100 + n);
#undef GUSAGE1
    return 0;
}
#undef ADD

/* ---- request handling ---- */

/* Does the body ask for a stream? The last `"stream"` key decides (Claude Code and the proxy's
 * translators put it at the top level); a key inside a JSON string would have escaped quotes
 * and cannot match. */
static bool body_wants_stream(struct evbuffer *body) {
    size_t len = evbuffer_get_length(body);
    if (len == 0) return false;
    const char *b = (const char *)evbuffer_pullup(body, -1);
    if (!b) return false;
    static const char key[] = "\"stream\"";
    const char *hit = NULL, *p = b, *end = b + len;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
        hit = p;
        p += sizeof key - 1;
    }
    if (!hit) return false;
    p = hit + sizeof key - 1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':')) p++;
    return (size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0;
}

static void pending_unlink_free(struct pending *p) {
    struct mock *m = p->m;
    if (p->prev) p->prev->nxt = p->nxt;
    else m->live = p->nxt;
    if (p->nxt) p->nxt->prev = p->prev;
    if (p->timer) event_free(p->timer);
    free(p);
}

/* The client's connection closed (or the server is shutting down) before the answer ended.
 * When the connection failed, evhttp has already detached the request (its connection is NULL)
 * and leaves it to us: libevent frees such a request only when it is answered, so free it here.
 * A request still attached (evhttp_free at exit) is freed by evhttp itself. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg) {
    struct pending *p = arg;
    p->m->cut++;
    if (!evhttp_request_get_connection(p->req)) evhttp_request_free(p->req);
    pending_unlink_free(p);
}

static void set_headers(struct evhttp_request *req, bool stream) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (stream) {
        evhttp_add_header(h, "Content-Type", "text/event-stream");
        evhttp_add_header(h, "Cache-Control", "no-cache");
    } else {
        evhttp_add_header(h, "Content-Type", "application/json");
    }
}

static void reply_body(struct mock *m, struct evhttp_request *req, const struct answer *a) {
    struct evbuffer *out = evbuffer_new();
    set_headers(req, false);
    if (!out || evbuffer_add_reference(out, a->body, a->body_len, NULL, NULL) != 0) {
        if (out) evbuffer_free(out);
        evhttp_send_error(req, 500, "mock out of memory");
        return;
    }
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    m->served++;
}

/* Append delta i of n (by reference: the answer bytes live as long as the mock). */
static int add_delta(struct evbuffer *out, const struct answer *a, int i, int n) {
    const char *s;
    size_t len;
    if (n == 1) s = a->single, len = a->single_len;
    else if (i == 0) s = a->first, len = a->first_len;
    else if (i == n - 1) s = a->last, len = a->last_len;
    else s = a->mid, len = a->mid_len;
    return len ? evbuffer_add_reference(out, s, len, NULL, NULL) : 0;
}

/* Send deltas [from, to) of a stream; the head first when from == 0, the tail and the end of
 * the reply when `to` reaches the last. Returns 1 when the reply is complete. */
static int stream_send(struct mock *m, struct evhttp_request *req, const struct answer *a,
                       int from, int to) {
    int n = a->nchunks;
    struct evbuffer *out = evbuffer_new();
    if (!out) return -1;
    int rc = 0;
    if (from == 0) {
        set_headers(req, true);
        evhttp_send_reply_start(req, 200, "OK");
        if (a->head_len) rc |= evbuffer_add_reference(out, a->head, a->head_len, NULL, NULL);
    }
    for (int i = from; i < to; i++) rc |= add_delta(out, a, i, n);
    bool done = to >= n;
    if (done) rc |= evbuffer_add_reference(out, a->tail, a->tail_len, NULL, NULL);
    if (rc != 0) {
        evbuffer_free(out);
        return -1;
    }
    evhttp_send_reply_chunk(req, out);
    evbuffer_free(out);
    if (done) {
        evhttp_send_reply_end(req);
        m->served++;
        m->streams++;
        return 1;
    }
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    struct pending *p = arg;
    struct mock *m = p->m;
    struct evhttp_connection *evcon = evhttp_request_get_connection(p->req);
    if (!evcon) { /* the client left and no close callback told us: the request is ours */
        m->cut++;
        evhttp_request_free(p->req);
        pending_unlink_free(p);
        return;
    }
    if (!p->stream) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        reply_body(m, p->req, p->a);
        pending_unlink_free(p);
        return;
    }
    int n = p->a->nchunks;
    /* With no delay between chunks, everything left goes at once. */
    int to = m->o.delay_ms > 0 ? p->next + 1 : n;
    /* The reply may end (and evhttp may recycle the connection) inside stream_send: drop the
     * close callback first. */
    if (to >= n) evhttp_connection_set_closecb(evcon, NULL, NULL);
    int rc = stream_send(m, p->req, p->a, p->next, to);
    if (rc != 0) {
        if (rc < 0) {
            evhttp_connection_set_closecb(evcon, NULL, NULL);
            if (p->next == 0) evhttp_send_error(p->req, 500, "mock out of memory");
            else evhttp_send_reply_end(p->req);
        }
        pending_unlink_free(p);
        return;
    }
    p->next = to;
    struct timeval tv = {m->o.delay_ms / 1000, (m->o.delay_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void answer_later(struct mock *m, struct evhttp_request *req, const struct answer *a,
                         bool stream, long wait_ms) {
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        evhttp_send_error(req, 500, "mock out of memory");
        return;
    }
    p->m = m;
    p->req = req;
    p->a = a;
    p->stream = stream;
    p->timer = evtimer_new(m->base, on_timer, p);
    if (!p->timer) {
        free(p);
        evhttp_send_error(req, 500, "mock out of memory");
        return;
    }
    p->nxt = m->live;
    if (m->live) m->live->prev = p;
    m->live = p;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, p);
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void on_request(struct evhttp_request *req, void *arg) {
    struct mock *m = arg;
    const char *uri = evhttp_request_get_uri(req);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "the mock answers POST only");
        return;
    }
    size_t plen = strcspn(uri, "?");
    enum fmt f;
    bool stream;
    if (plen == 20 && memcmp(uri, "/v1/chat/completions", 20) == 0) {
        f = F_OPENAI;
        stream = body_wants_stream(evhttp_request_get_input_buffer(req));
    } else if (plen == 12 && memcmp(uri, "/v1/messages", 12) == 0) {
        f = F_ANTHROPIC;
        stream = body_wants_stream(evhttp_request_get_input_buffer(req));
    } else if (plen == 25 && memcmp(uri, "/v1/messages/count_tokens", 25) == 0) {
        struct evbuffer *out = evbuffer_new();
        if (!out) {
            evhttp_send_error(req, 500, "mock out of memory");
            return;
        }
        evbuffer_add_printf(out, "{\"input_tokens\":100}");
        set_headers(req, false);
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
        m->served++;
        return;
    } else if (plen > 15 && memcmp(uri, "/v1beta/models/", 15) == 0) {
        const char *colon = memchr(uri + 15, ':', plen - 15);
        if (!colon) {
            evhttp_send_error(req, 404, "expected /v1beta/models/<model>:<method>");
            return;
        }
        size_t mlen = plen - (size_t)(colon + 1 - uri);
        if (mlen == 21 && memcmp(colon + 1, "streamGenerateContent", 21) == 0) stream = true;
        else if (mlen == 15 && memcmp(colon + 1, "generateContent", 15) == 0) stream = false;
        else {
            evhttp_send_error(req, 404, "unknown Gemini method");
            return;
        }
        f = F_GEMINI;
    } else {
        evhttp_send_error(req, 404, "unknown path");
        return;
    }
    const struct answer *a = &m->ans[f];
    long wait = m->o.first_ms;
    if (!stream && m->o.delay_ms > 0 && a->nchunks > 1) wait += m->o.delay_ms * (a->nchunks - 1);
    if (wait > 0 || (stream && m->o.delay_ms > 0 && a->nchunks > 1)) {
        answer_later(m, req, a, stream, wait);
        return;
    }
    if (!stream) {
        reply_body(m, req, a);
        return;
    }
    if (stream_send(m, req, a, 0, a->nchunks) < 0) evhttp_send_error(req, 500, "mock OOM");
}

/* ---- main ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    event_base_loopbreak(arg);
}

static void on_lifetime(evutil_socket_t fd, short what, void *arg) {
    fprintf(stderr, "mock_upstream: --lifetime reached, exiting\n");
    event_base_loopbreak(arg);
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: mock_upstream [--port N] [--chunks N] [--delay MS] [--first MS] [--tool]\n"
               "                     [--lifetime S] [--quiet]\n"
               "  --port N      port on 127.0.0.1 (0: any free port; printed as 'port N')\n"
               "  --chunks N    content deltas per answer (default 20)\n"
               "  --delay MS    pause between deltas (default 0: all at once)\n"
               "  --first MS    pause before the first delta (default 0)\n"
               "  --tool        answer with a streamed tool call instead of text\n"
               "  --lifetime S  exit after S seconds (default 3600)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o) {
    *o = (struct opts){.port = 0, .chunks = 20, .lifetime_s = 3600};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--tool")) {
            o->tool = true;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) goto bad;
        const char *val = argv[++i];
        if (!strcmp(a, "--port") && parse_long(val, 0, 65535, &v) == 0) o->port = (int)v;
        else if (!strcmp(a, "--chunks") && parse_long(val, 1, 100000, &v) == 0) o->chunks = (int)v;
        else if (!strcmp(a, "--delay") && parse_long(val, 0, 600000, &v) == 0) o->delay_ms = v;
        else if (!strcmp(a, "--first") && parse_long(val, 0, 600000, &v) == 0) o->first_ms = v;
        else if (!strcmp(a, "--lifetime") && parse_long(val, 1, 86400, &v) == 0) o->lifetime_s = v;
        else {
            i--;
            goto bad;
        }
    }
    return 0;
bad:
    fprintf(stderr, "mock_upstream: bad or incomplete option '%s'\n", argv[argc > 1 ? argc - 1 : 0]);
    usage(stderr);
    return -1;
}

int main(int argc, char **argv) {
    struct mock m;
    memset(&m, 0, sizeof m);
    if (parse_opts(argc, argv, &m.o) != 0) return 2;
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    struct evconnlistener *lis = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *life = NULL;
    if (build_anthropic(&m.ans[F_ANTHROPIC], m.o.chunks, m.o.tool) != 0 ||
        build_openai(&m.ans[F_OPENAI], m.o.chunks, m.o.tool) != 0 ||
        build_gemini(&m.ans[F_GEMINI], m.o.chunks, m.o.tool) != 0) {
        fprintf(stderr, "mock_upstream: out of memory building the answers\n");
        goto out;
    }
    m.base = event_base_new();
    m.http = m.base ? evhttp_new(m.base) : NULL;
    if (!m.http) {
        fprintf(stderr, "mock_upstream: cannot create the event base / HTTP server\n");
        goto out;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m.o.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Our own listener: evhttp_bind_socket's backlog (128) drops SYNs when 1000 clients
     * connect at once. */
    lis = evconnlistener_new_bind(m.base, NULL, NULL,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                  4096, (struct sockaddr *)&sin, sizeof sin);
    if (!lis) {
        fprintf(stderr, "mock_upstream: cannot listen on 127.0.0.1:%d: %s; pick another --port\n",
                m.o.port, strerror(errno));
        goto out;
    }
    if (!evhttp_bind_listener(m.http, lis)) {
        fprintf(stderr, "mock_upstream: evhttp_bind_listener failed\n");
        evconnlistener_free(lis);
        goto out;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&bound, &blen) != 0) {
        fprintf(stderr, "mock_upstream: getsockname: %s\n", strerror(errno));
        goto out;
    }
    evhttp_set_max_body_size(m.http, (ev_ssize_t)64 << 20);
    evhttp_set_max_headers_size(m.http, 256 << 10);
    evhttp_set_timeout(m.http, 600);
    evhttp_set_allowed_methods(m.http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(m.http, on_request, &m);

    sigint = evsignal_new(m.base, SIGINT, on_signal, m.base);
    sigterm = evsignal_new(m.base, SIGTERM, on_signal, m.base);
    life = evtimer_new(m.base, on_lifetime, m.base);
    struct timeval ltv = {m.o.lifetime_s, 0};
    if (!sigint || !sigterm || !life || evsignal_add(sigint, NULL) || evsignal_add(sigterm, NULL) ||
        evtimer_add(life, &ltv)) {
        fprintf(stderr, "mock_upstream: cannot set up signals/timers\n");
        goto out;
    }
    printf("port %d\n", ntohs(bound.sin_port));
    fflush(stdout);
    if (!m.o.quiet)
        fprintf(stderr,
                "mock_upstream: 127.0.0.1:%d, %d chunks, first %ld ms, delay %ld ms, %s\n",
                ntohs(bound.sin_port), m.o.chunks, m.o.first_ms, m.o.delay_ms,
                m.o.tool ? "tool call" : "text");
    event_base_dispatch(m.base);
    rc = 0;
    if (!m.o.quiet)
        fprintf(stderr, "mock_upstream: answered %llu requests (%llu streams), %llu cut by the client\n",
                m.served, m.streams, m.cut);
out:
    if (m.http) evhttp_free(m.http); /* closes connections: their close callbacks free pendings */
    while (m.live) {
        m.cut--; /* not a client's doing */
        pending_unlink_free(m.live);
    }
    if (sigint) event_free(sigint);
    if (sigterm) event_free(sigterm);
    if (life) event_free(life);
    if (m.base) event_base_free(m.base);
    for (int f = 0; f < F_COUNT; f++) answer_free(&m.ans[f]);
    return rc;
}
