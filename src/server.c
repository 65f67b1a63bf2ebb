#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/crypto.h>

#include "apierr.h"
#include "jsonparse.h"
#include "models.h"
#include "providers/provider.h"
#include "relay.h"
#include "summary.h"
#include "tokens.h"
#include "watch.h"

#define CLIENT_READ_TIMEOUT_S 60 /* longest silence while a request head or body is read */
#define CLIENT_WRITE_LOW (64 * 1024)

enum client_state { CL_HEAD, CL_BODY, CL_HANDLING, CL_CLOSING };

struct client {
    struct server *srv;
    struct bufferevent *bev;
    enum client_state state;
    struct http_head head;
    struct evbuffer *body;
    struct http_chunked chunked;
    long long remaining;
    struct relay *relay;
    struct event *head_timer; /* LIMITS.header_timeout_ms from a head's first byte (slowloris) */
    bool streaming;   /* a chunked response is open */
    bool close_after; /* close once the response is written */
    bool head_request;
    struct client *prev, *next;
    char peer[64];
};

struct server {
    struct event_base *base;
    struct logger *lg;
    struct upstream *up;
    struct keypool *keys;
    struct generation *gen;
    struct evconnlistener *listener;
    struct event *sighup;
    struct event *trim; /* gives the heap's free memory back after a burst */
    struct watcher *watcher;
    struct client *clients;
    int nclients;
    int port;
    bool shutting_down;
    char *config_path;
    unsigned long next_gen;
};

/* ---- generations ---- */

struct generation *generation_ref(struct generation *g) {
    if (g) g->refs++;
    return g;
}

void generation_unref(struct generation *g) {
    if (!g || --g->refs > 0) return;
    policy_free(g->pol);
    config_free(g->cfg);
    free(g);
}

static struct generation *generation_new(struct config *cfg, const struct logger *lg,
                                         unsigned long number, struct err *err) {
    struct generation *g = calloc(1, sizeof *g);
    if (!g) {
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nproviders; i++) {
        if (provider_check(&cfg->providers[i], err) != 0) {
            err_prefix(err, "%s: Providers[%zu] (%s)", cfg->source, i, cfg->providers[i].name);
            free(g);
            return NULL;
        }
        if (cfg->providers[i].format == FMT_ANTHROPIC) g->pass_through = true;
        else g->translates = true;
    }
    if (policy_new(cfg, lg, &g->pol, err) != 0) {
        free(g);
        return NULL;
    }
    g->cfg = cfg;
    g->refs = 1;
    g->number = number;
    return g;
}

/* ---- accessors ---- */

struct logger *server_logger(struct server *s) {
    return s->lg;
}
struct upstream *server_upstream(struct server *s) {
    return s->up;
}
struct keypool *server_keypool(struct server *s) {
    return s->keys;
}
struct event_base *server_base(struct server *s) {
    return s->base;
}
int server_port(const struct server *s) {
    return s->port;
}
int server_clients(const struct server *s) {
    return s->nclients;
}
struct generation *server_generation(struct server *s) {
    return s->gen;
}

/* ---- responses ---- */

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return status < 300 ? "OK" : "Error";
    }
}

static int write_head(struct client *c, int status, const struct http_hdrs *extra,
                      const char *content_type, long long content_length) {
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int rc = evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    if (content_type) rc |= evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type) < 0;
    if (content_length >= 0)
        rc |= evbuffer_add_printf(out, "Content-Length: %lld\r\n", content_length) < 0;
    else
        rc |= evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n") < 0;
    for (size_t i = 0; extra && i < extra->n; i++)
        rc |= evbuffer_add_printf(out, "%s: %s\r\n", extra->v[i].name, extra->v[i].value) < 0;
    rc |= evbuffer_add_printf(out, "Connection: %s\r\n\r\n",
                              c->close_after ? "close" : "keep-alive") < 0;
    return rc < 0 ? -1 : 0;
}

int client_respond(struct client *c, int status, const struct http_hdrs *extra,
                   const char *content_type, const char *body, size_t len) {
    if (write_head(c, status, extra, content_type, (long long)len) != 0) return -1;
    if (!c->head_request && len && evbuffer_add(bufferevent_get_output(c->bev), body, len) != 0)
        return -1;
    return 0;
}

int client_stream_start(struct client *c, int status, const struct http_hdrs *extra,
                        const char *content_type) {
    c->streaming = true;
    return write_head(c, status, extra, content_type, -1);
}

#define DIRECT_IOV 16 /* stream events are one or two segments; more goes the queued way */

/* Send pre + data + post to the client. When nothing is queued on the connection, the bytes go
 * straight to the socket with one writev: a stream event to a client that keeps up then costs no
 * event changes and no extra turn of the loop (through the bufferevent, every event would add
 * and then remove the write event: two epoll_ctl calls). What the socket does not take is
 * queued on the bufferevent in order, and a write error is left for the bufferevent to meet and
 * report (the client is then freed by client_event_cb). `data` (may be NULL) is drained. */
static int client_send(struct client *c, const char *pre, size_t pre_n, struct evbuffer *data,
                       const char *post, size_t post_n) {
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t written = 0;
    if (evbuffer_get_length(out) == 0) {
        struct iovec iov[DIRECT_IOV + 2];
        int n = 0;
        if (pre_n) iov[n++] = (struct iovec){(void *)pre, pre_n};
        int segs = data ? evbuffer_peek(data, -1, NULL, NULL, 0) : 0;
        if (segs <= DIRECT_IOV) {
            struct evbuffer_iovec v[DIRECT_IOV];
            if (segs > 0) evbuffer_peek(data, -1, NULL, v, segs);
            for (int i = 0; i < segs; i++) iov[n++] = (struct iovec){v[i].iov_base, v[i].iov_len};
            if (post_n) iov[n++] = (struct iovec){(void *)post, post_n};
            ssize_t w;
            do w = writev(bufferevent_getfd(c->bev), iov, n);
            while (w < 0 && errno == EINTR);
            if (w > 0) written = (size_t)w;
        }
    }
    int rc = 0;
    if (written < pre_n) rc |= evbuffer_add(out, pre + written, pre_n - written);
    written = written > pre_n ? written - pre_n : 0;
    size_t dn = data ? evbuffer_get_length(data) : 0;
    if (dn) {
        evbuffer_drain(data, written < dn ? written : dn);
        rc |= evbuffer_add_buffer(out, data);
    }
    written = written > dn ? written - dn : 0;
    if (written < post_n) rc |= evbuffer_add(out, post + written, post_n - written);
    return rc ? -1 : 0;
}

int client_write(struct client *c, struct evbuffer *data) {
    size_t n = evbuffer_get_length(data);
    if (n == 0) return 0;
    if (!c->streaming) return client_send(c, NULL, 0, data, NULL, 0);
    char hex[24];
    int hn = snprintf(hex, sizeof hex, "%zx\r\n", n);
    return client_send(c, hex, (size_t)hn, data, "\r\n", 2);
}

void client_stream_end(struct client *c) {
    if (c->streaming) client_send(c, "0\r\n\r\n", 5, NULL, NULL, 0);
    c->streaming = false;
}

size_t client_pending(const struct client *c) {
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void respond_error(struct client *c, int status, const char *message,
                          const struct http_hdrs *extra) {
    char rid[32];
    apierr_request_id(rid, sizeof rid);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        c->close_after = true;
        return;
    }
    apierr_json(b, apierr_type_for_status(status), message, rid);
    struct http_hdrs h;
    http_hdrs_init(&h);
    for (size_t i = 0; extra && i < extra->n; i++)
        http_hdrs_add(&h, extra->v[i].name, extra->v[i].value);
    http_hdrs_add(&h, "request-id", rid);
    size_t n = evbuffer_get_length(b);
    client_respond(c, status, &h, "application/json", (const char *)evbuffer_pullup(b, -1), n);
    http_hdrs_free(&h);
    evbuffer_free(b);
    log_info(c->srv->lg, "%s %s -> %d %s", c->head.method ? c->head.method : "-",
             c->head.target ? c->head.target : "-", status, message);
}

/* ---- connection lifecycle ---- */

static void client_free(struct client *c) {
    if (c->relay) relay_abort(c->relay); /* cancels the upstream call at once */
    c->relay = NULL;
    struct server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nclients--;
    if (c->head_timer) event_free(c->head_timer);
    if (c->bev) bufferevent_free(c->bev);
    if (c->body) evbuffer_free(c->body);
    http_head_free(&c->head);
    free(c);
}

static void process_input(struct client *c);

static void set_read_timeout(struct client *c, bool on) {
    struct timeval tv = {CLIENT_READ_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, on ? &tv : NULL, NULL);
    if (!on) evtimer_del(c->head_timer);
}

/* The read timeout restarts on every byte, so a head that trickles in one byte at a time would
 * hold the connection for ever: the head as a whole gets header_timeout_ms from its first byte. */
static void arm_head_timer(struct client *c) {
    if (evtimer_pending(c->head_timer, NULL)) return;
    long ms = c->srv->gen->cfg->header_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->head_timer, &tv);
}

void client_set_relay(struct client *c, struct relay *r) {
    c->relay = r;
}

void client_request_done(struct client *c) {
    c->relay = NULL;
    if (c->state != CL_HANDLING) return;
    if (c->close_after || c->srv->shutting_down) {
        c->state = CL_CLOSING;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) client_free(c);
        return;
    }
    http_head_free(&c->head);
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    c->state = CL_HEAD;
    c->head_request = false;
    set_read_timeout(c, true);
    /* A pipelined next request may already be buffered. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) process_input(c);
}

static bool path_is(const char *target, const char *path) {
    size_t n = strlen(path);
    return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

static bool authorized(struct client *c, const struct config *cfg) {
    if (!cfg->apikey || !cfg->apikey[0]) return true;
    const char *k = http_hdrs_get(&c->head.hdrs, "x-api-key");
    const char *a = http_hdrs_get(&c->head.hdrs, "authorization");
    if (!k && a && strncasecmp(a, "Bearer ", 7) == 0) k = a + 7;
    if (!k) return false;
    size_t n = strlen(k), m = strlen(cfg->apikey);
    /* constant time for equal lengths; a length mismatch fails without comparing */
    return n == m && CRYPTO_memcmp(k, cfg->apikey, n) == 0;
}

static void handle_count_tokens(struct client *c) {
    size_t n = evbuffer_get_length(c->body);
    const char *p = (const char *)evbuffer_pullup(c->body, -1);
    /* the scan gives tokens_estimate's count without a tree (Claude Code 2.1.331 sends the whole
     * conversation, 30+ KB); a tree when it cannot say (a subagent tag, a body that is not a
     * Messages request: the count is then of whatever object came) */
    struct summary s;
    struct err e;
    err_clear(&e);
    int rc = summary_scan(p ? p : "", n, &c->head.hdrs, "/v1/messages/count_tokens", &s, &e);
    long tokens = s.tokens;
    summary_free(&s);
    if (rc != 0) {
        cJSON *body = json_parse(p, n);
        if (!cJSON_IsObject(body)) {
            cJSON_Delete(body);
            respond_error(c, 400, "the request body is not valid JSON: send an Anthropic "
                                  "count_tokens request ({\"model\":...,\"messages\":[...]})",
                          NULL);
            return;
        }
        tokens = tokens_estimate(body);
        cJSON_Delete(body);
    }
    char out[64];
    int len = snprintf(out, sizeof out, "{\"input_tokens\":%ld}", tokens);
    client_respond(c, 200, NULL, "application/json", out, (size_t)len);
    log_debug(c->srv->lg, "POST count_tokens -> 200 %s", out);
}

static void dispatch(struct client *c) {
    struct server *s = c->srv;
    const char *m = c->head.method, *t = c->head.target;
    c->state = CL_HANDLING;
    set_read_timeout(c, false);
    c->head_request = strcmp(m, "HEAD") == 0;
    if (!c->head.keep_alive) c->close_after = true;

    bool get = strcmp(m, "GET") == 0 || c->head_request;
    if (get && (path_is(t, "/") || path_is(t, "/health"))) {
        static const char ok[] = "{\"status\":\"ok\",\"service\":\"ccrelay\"}";
        client_respond(c, 200, NULL, "application/json", ok, sizeof ok - 1);
        client_request_done(c);
        return;
    }
    struct generation *g = generation_ref(s->gen);
    if (!authorized(c, g->cfg)) {
        generation_unref(g);
        respond_error(c, 401,
                      "invalid API key: send the APIKEY of ccrelay's config as x-api-key or "
                      "Authorization: Bearer (ANTHROPIC_AUTH_TOKEN for Claude Code)",
                      NULL);
        client_request_done(c);
        return;
    }
    if (strcmp(m, "POST") == 0 && path_is(t, "/v1/messages")) {
        char rid[32];
        apierr_request_id(rid, sizeof rid);
        relay_start(s, c, g, &c->head, c->body, rid);
        generation_unref(g);
        return;
    }
    if (strcmp(m, "POST") == 0 && path_is(t, "/v1/messages/count_tokens")) {
        handle_count_tokens(c);
    } else if (get && path_is(t, "/v1/models")) {
        char *list = models_list_json(g->cfg);
        if (list) client_respond(c, 200, NULL, "application/json", list, strlen(list));
        else respond_error(c, 500, "out of memory while listing models", NULL);
        free(list);
    } else {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "no endpoint %s %.200s: ccrelay serves POST /v1/messages, POST "
                 "/v1/messages/count_tokens, GET /v1/models and GET /health",
                 m, t);
        respond_error(c, 404, msg, NULL);
    }
    generation_unref(g);
    client_request_done(c);
}

/* The rest of a Content-Length body, read from the socket straight into c->body. libevent 2.1
 * reads at most 4 KB per readiness (an ioctl and a readv each, and a turn of the loop between
 * them): a Claude Code request of 50-130 KB would take 13-33 turns, behind every other
 * connection's events each time. One read of up to the whole remainder takes what the socket
 * holds. EOF and errors are left for the bufferevent's own next read to report. Returns -1 only
 * when memory runs out. */
#define BODY_READ_MAX (1024 * 1024)
static int read_body_direct(struct client *c) {
    while (c->remaining > 0) {
        size_t want = c->remaining < BODY_READ_MAX ? (size_t)c->remaining : BODY_READ_MAX;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->body, (ev_ssize_t)want, &v, 1) != 1) return -1;
        ssize_t n;
        do n = read(bufferevent_getfd(c->bev), v.iov_base, want);
        while (n < 0 && errno == EINTR);
        if (n <= 0) return 0; /* EAGAIN: wait for more; EOF or error: the bufferevent sees it */
        v.iov_len = (size_t)n;
        if (evbuffer_commit_space(c->body, &v, 1) != 0) return -1;
        c->remaining -= n;
        if ((size_t)n < want) return 0; /* the socket is drained for now */
    }
    return 0;
}

static void process_input(struct client *c) {
    struct server *s = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    const struct config *cfg = s->gen->cfg;
    if (c->state == CL_HEAD) {
        enum http_parse_rc rc = http_parse_head(in, true, cfg->max_header_bytes, &c->head);
        if (rc == HTTP_PARSE_NEED_MORE) return;
        if (rc != HTTP_PARSE_OK) {
            c->close_after = true;
            c->state = CL_HANDLING;
            if (rc == HTTP_PARSE_TOO_LARGE) {
                char msg[160];
                snprintf(msg, sizeof msg, "request headers exceed %zu bytes",
                         cfg->max_header_bytes);
                respond_error(c, 431, msg, NULL);
            } else {
                respond_error(c, 400, "malformed HTTP request", NULL);
            }
            client_request_done(c);
            return;
        }
        long long cl = c->head.content_length;
        if (cl > (long long)cfg->max_body_bytes) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "request body of %lld bytes exceeds the limit of %zu bytes "
                     "(LIMITS.max_body_bytes in ccrelay's config)",
                     cl, cfg->max_body_bytes);
            c->close_after = true;
            c->state = CL_HANDLING;
            respond_error(c, 413, msg, NULL);
            client_request_done(c);
            return;
        }
        evtimer_del(c->head_timer);
        const char *expect = http_hdrs_get(&c->head.hdrs, "expect");
        if (expect && strcasecmp(expect, "100-continue") == 0)
            evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
        c->state = CL_BODY;
        c->remaining = c->head.chunked ? -1 : (cl > 0 ? cl : 0);
        memset(&c->chunked, 0, sizeof c->chunked);
    }
    if (c->state == CL_BODY) {
        if (c->head.chunked) {
            enum http_chunk_rc rc = http_chunked_decode(&c->chunked, in, c->body);
            if (rc == HTTP_CHUNK_BAD || evbuffer_get_length(c->body) > cfg->max_body_bytes) {
                c->close_after = true;
                c->state = CL_HANDLING;
                if (rc == HTTP_CHUNK_BAD)
                    respond_error(c, 400, "malformed chunked request body", NULL);
                else
                    respond_error(c, 413, "request body exceeds LIMITS.max_body_bytes", NULL);
                client_request_done(c);
                return;
            }
            if (rc != HTTP_CHUNK_DONE) return;
        } else {
            size_t have = evbuffer_get_length(in);
            size_t take = (long long)have < c->remaining ? have : (size_t)c->remaining;
            evbuffer_remove_buffer(in, c->body, take);
            c->remaining -= (long long)take;
            if (c->remaining > 0 && read_body_direct(c) != 0) {
                c->close_after = true;
                c->state = CL_HANDLING;
                respond_error(c, 500, "out of memory while reading the request body", NULL);
                client_request_done(c);
                return;
            }
            if (c->remaining > 0) return;
        }
        dispatch(c);
    }
}

static void client_read_cb(struct bufferevent *bev, void *arg) {
    (void)bev;
    struct client *c = arg;
    if (c->state == CL_HEAD) arm_head_timer(c);
    if (c->state == CL_HEAD || c->state == CL_BODY) process_input(c);
    /* while handling, further bytes wait in the input buffer (pipelining) */
}

static void client_write_cb(struct bufferevent *bev, void *arg) {
    struct client *c = arg;
    if (c->state == CL_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        client_free(c);
        return;
    }
    if (c->relay) relay_client_drained(c->relay);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    struct client *c = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        if (c->state == CL_HEAD && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
            !c->head.method) {
            client_free(c); /* idle keep-alive connection */
            return;
        }
        c->close_after = true;
        c->state = CL_HANDLING;
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        respond_error(c, 408, "the request was not received in time", NULL);
        client_request_done(c);
        return;
    }
    /* EOF or error: the client is gone; relay_abort (in client_free) cancels the upstream */
    if (c->relay)
        log_info(c->srv->lg, "client %s disconnected; upstream request cancelled", c->peer);
    client_free(c);
}

static void head_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct client *c = arg;
    if (c->state != CL_HEAD) return;
    c->close_after = true;
    c->state = CL_HANDLING;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    char msg[160];
    snprintf(msg, sizeof msg,
             "the request headers were not received within %ld ms (LIMITS.header_timeout_ms)",
             c->srv->gen->cfg->header_timeout_ms);
    respond_error(c, 408, msg, NULL);
    client_request_done(c);
}

/* At the connection limit, an idle keep-alive connection (no request under way, nothing
 * received) makes room for a new one, so that idle sockets cannot lock real requests out. */
static bool evict_idle(struct server *s, struct client *except) {
    for (struct client *o = s->clients; o; o = o->next) {
        if (o != except && o->state == CL_HEAD && !o->head.method &&
            evbuffer_get_length(bufferevent_get_input(o->bev)) == 0) {
            client_free(o);
            return true;
        }
    }
    return false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg) {
    (void)l, (void)len;
    struct server *s = arg;
    struct client *c = calloc(1, sizeof *c);
    if (c) {
        c->body = evbuffer_new();
        c->head_timer = evtimer_new(s->base, head_timeout_cb, c);
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c || !c->body || !c->head_timer || !c->bev) {
        if (c && c->body) evbuffer_free(c->body);
        if (c && c->head_timer) event_free(c->head_timer);
        if (c && c->bev) bufferevent_free(c->bev);
        else evutil_closesocket(fd);
        free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->srv = s;
    c->head.content_length = -1;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof c->peer);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof c->peer);
    c->next = s->clients;
    if (s->clients) s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_WRITE_LOW, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    set_read_timeout(c, true);
    if (s->nclients > s->gen->cfg->max_connections && !evict_idle(s, c)) {
        c->close_after = true;
        c->state = CL_HANDLING;
        struct http_hdrs h;
        http_hdrs_init(&h);
        http_hdrs_add(&h, "retry-after", "1");
        respond_error(c, 529, "too many connections to ccrelay (LIMITS.max_connections); retry", &h);
        http_hdrs_free(&h);
        client_request_done(c);
    }
}

static bool is_loopback(const char *host) {
    return strcmp(host, "127.0.0.1") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0 || strcasecmp(host, "localhost") == 0;
}

/* Watch the config file and every file the policy loaded. */
static void update_watch(struct server *s) {
    if (!s->watcher) return;
    const char *paths[64];
    size_t n = 0;
    if (s->config_path) paths[n++] = s->config_path;
    if (s->gen->cfg->litellm_config) paths[n++] = s->gen->cfg->litellm_config;
    const char *const *files = NULL;
    size_t nf = policy_files(s->gen->pol, &files);
    for (size_t i = 0; i < nf && n < sizeof paths / sizeof *paths; i++) paths[n++] = files[i];
    struct err e;
    if (watcher_set_paths(s->watcher, paths, n, &e) != 0)
        log_warn(s->lg, "cannot watch the config for changes (%s); SIGHUP still reloads", e.msg);
}

static void watch_cb(void *arg) {
    struct server *s = arg;
    struct err e;
    if (server_reload(s, &e) != 0)
        log_error(s->lg, "reload failed, keeping the running configuration and policy: %s", e.msg);
}

/* Request bodies (50-130 KB, a few copies each) come from the heap (main.c sets the mmap
 * threshold above them: a mapping per body cost page faults and munmap calls, 5-13% of the CPU
 * in perf profiles of 256 paced streams). After a burst the heap would keep its peak for good: every second,
 * when more than TRIM_FREE_BYTES of it are free, its free pages go back to the system (glibc's
 * malloc_trim also releases free chunks in the middle of the heap). Measured: after 1,000
 * concurrent 76 KB requests, 14 MB resident instead of 31 MB with a mapping per body. */
#define TRIM_INTERVAL_S 1
#define TRIM_FREE_BYTES (4u << 20)
static void trim_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what, (void)arg;
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks > TRIM_FREE_BYTES) malloc_trim(0);
#endif
}

static void sighup_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct server *s = arg;
    struct err e;
    if (server_reload(s, &e) != 0)
        log_error(s->lg, "reload on SIGHUP failed, keeping the running configuration: %s", e.msg);
}

int server_reload(struct server *s, struct err *err) {
    struct config *cfg = NULL;
    if (config_load(s->config_path, &cfg, err) != 0) return -1;
    struct generation *g = generation_new(cfg, s->lg, ++s->next_gen, err);
    if (!g) {
        config_free(cfg);
        return -1;
    }
    struct generation *old = s->gen;
    s->gen = g;
    generation_unref(old); /* requests in flight keep their own reference */
    update_watch(s);
    log_info(s->lg, "configuration reloaded from %s (generation %lu)", cfg->source, g->number);
    return 0;
}

struct server *server_new(struct event_base *base, struct logger *lg, struct config *cfg,
                          const struct server_opts *opts, struct err *err) {
    const char *host = opts && opts->host ? opts->host : cfg->host;
    int port = opts && opts->port > 0 ? opts->port : cfg->port;
    if (!is_loopback(host) && (!cfg->apikey || !cfg->apikey[0])) {
        err_set(err, ERR_CONFIG,
                "refusing to listen on %s without an API key: anyone on the network could spend "
                "your provider credits. Set APIKEY in the config, or bind to 127.0.0.1",
                host);
        config_free(cfg);
        return NULL;
    }
    struct server *s = calloc(1, sizeof *s);
    if (!s) {
        config_free(cfg);
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->base = base;
    s->lg = lg;
    if (opts && opts->config_path) s->config_path = strdup(opts->config_path);
    s->gen = generation_new(cfg, lg, ++s->next_gen, err);
    if (!s->gen) {
        config_free(cfg);
        server_free(s);
        return NULL;
    }
    s->up = upstream_new(base, lg, err);
    s->keys = keypool_new();
    if (!s->up || !s->keys) {
        if (s->up) err_set(err, ERR_NOMEM, "out of memory");
        server_free(s);
        return NULL;
    }
    struct evutil_addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = evutil_getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        err_set(err, ERR_CONFIG, "cannot resolve listen address %s: %s", host,
                evutil_gai_strerror(gai));
        server_free(s);
        return NULL;
    }
    s->listener = evconnlistener_new_bind(base, accept_cb, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_EXEC |
                                              (opts && opts->reuse_port ? LEV_OPT_REUSEABLE_PORT
                                                                        : 0),
                                          512, ai->ai_addr, (int)ai->ai_addrlen);
    int e = errno;
    evutil_freeaddrinfo(ai);
    if (!s->listener) {
        if (e == EADDRINUSE)
            err_set(err, ERR_IO,
                    "port %d on %s is already in use: is ccrelay already running (`ccrelay "
                    "status`)? Stop it, or choose another port with --port",
                    port, host);
        else
            err_set(err, ERR_IO, "cannot listen on %s:%d: %s", host, port, strerror(e));
        server_free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    s->sighup = evsignal_new(base, SIGHUP, sighup_cb, s);
    if (s->sighup) evsignal_add(s->sighup, NULL);
    s->trim = event_new(base, -1, EV_PERSIST, trim_cb, s);
    if (s->trim) {
        struct timeval tv = {TRIM_INTERVAL_S, 0};
        event_add(s->trim, &tv);
    }
    struct err we;
    s->watcher = watcher_new(base, lg, watch_cb, s, &we);
    if (!s->watcher) log_warn(lg, "file watching is off (%s); SIGHUP reloads", we.msg);
    else if (getenv("CCRELAY_WATCH_POLL")) watcher_force_polling(s->watcher);
    update_watch(s);
    return s;
}

void server_shutdown(struct server *s, bool now) {
    s->shutting_down = true;
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    if (s->sighup) {
        event_free(s->sighup);
        s->sighup = NULL;
    }
    if (s->trim) {
        event_free(s->trim);
        s->trim = NULL;
    }
    if (s->watcher) {
        watcher_free(s->watcher);
        s->watcher = NULL;
    }
    /* idle connections go now; busy ones when their request ends (or now) */
    struct client *c = s->clients;
    while (c) {
        struct client *next = c->next;
        if (now || (c->state == CL_HEAD && !c->head.method &&
                    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0))
            client_free(c);
        c = next;
    }
}

void server_free(struct server *s) {
    if (!s) return;
    server_shutdown(s, true);
    generation_unref(s->gen);
    upstream_free(s->up);
    keypool_free(s->keys);
    free(s->config_path);
    free(s);
}
