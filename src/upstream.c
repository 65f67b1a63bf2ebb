#include "upstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_RESPONSE_HEAD (64 * 1024)
#define IDLE_POOL_MS 60000
#define IDLE_PER_KEY 32
#define READ_HIGH_WATER (256 * 1024)

struct conn {
    struct upstream *u;
    struct bufferevent *bev;
    char *key;
    struct upstream_call *call; /* NULL while idle in the pool */
    struct conn *next;          /* idle list */
    struct event *idle_timer;
};

enum call_state { CS_CONNECTING, CS_WAIT_HEAD, CS_BODY, CS_FINISHED };

struct upstream_call {
    struct upstream *u;
    struct conn *conn;
    enum call_state state;
    struct http_url url;
    struct evbuffer *req; /* the serialised request, kept until the head arrives (retry) */
    struct upstream_timeouts t;
    struct upstream_cbs cbs;
    void *arg;
    struct event *timer;
    struct http_head head;
    bool have_head;
    bool head_only; /* HEAD request, 1xx/204/304: no body */
    struct http_chunked chunked;
    long long remaining; /* content-length left; -1 = until close */
    struct evbuffer *body;
    bool reused;
    bool retried;
    bool in_cb;
    bool cancelled;
    bool paused;
};

struct upstream {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ssl;
    const struct logger *lg;
    struct conn *idle;
    struct upstream_stats stats;
};

/* ---- connection lifecycle ---- */

static void conn_free(struct conn *k) {
    if (!k) return;
    if (k->idle_timer) event_free(k->idle_timer);
    if (k->bev) bufferevent_free(k->bev);
    free(k->key);
    free(k);
}

static void pool_remove(struct upstream *u, struct conn *k) {
    for (struct conn **pp = &u->idle; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            k->next = NULL;
            if (u->stats.idle_now) u->stats.idle_now--;
            return;
        }
    }
}

static void idle_close(struct conn *k) {
    pool_remove(k->u, k);
    conn_free(k);
}

static void idle_read_cb(struct bufferevent *bev, void *arg) {
    (void)bev;
    idle_close(arg); /* unsolicited data on an idle connection: drop it */
}
static void idle_event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev, (void)what;
    idle_close(arg);
}
static void idle_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    idle_close(arg);
}

static void pool_put(struct upstream *u, struct conn *k) {
    size_t same = 0;
    for (struct conn *c = u->idle; c; c = c->next)
        if (strcmp(c->key, k->key) == 0) same++;
    if (same >= IDLE_PER_KEY) {
        conn_free(k);
        return;
    }
    if (!k->idle_timer) k->idle_timer = evtimer_new(u->base, idle_timer_cb, k);
    if (!k->idle_timer) {
        conn_free(k);
        return;
    }
    struct timeval tv = {IDLE_POOL_MS / 1000, 0};
    evtimer_add(k->idle_timer, &tv);
    k->call = NULL;
    bufferevent_setcb(k->bev, idle_read_cb, NULL, idle_event_cb, k);
    bufferevent_enable(k->bev, EV_READ);
    k->next = u->idle;
    u->idle = k;
    u->stats.idle_now++;
}

static struct conn *pool_take(struct upstream *u, const char *key) {
    for (struct conn **pp = &u->idle; *pp; pp = &(*pp)->next) {
        struct conn *k = *pp;
        if (strcmp(k->key, key) == 0) {
            *pp = k->next;
            k->next = NULL;
            u->stats.idle_now--;
            evtimer_del(k->idle_timer);
            return k;
        }
    }
    return NULL;
}

/* ---- call lifecycle ---- */

static void call_free(struct upstream_call *c) {
    if (c->timer) event_free(c->timer);
    if (c->conn) conn_free(c->conn);
    if (c->req) evbuffer_free(c->req);
    if (c->body) evbuffer_free(c->body);
    http_head_free(&c->head);
    http_url_free(&c->url);
    free(c);
}

static void arm_timer(struct upstream_call *c, long ms) {
    if (ms <= 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void fail(struct upstream_call *c, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct upstream_call *c, enum err_kind kind, const char *fmt, ...) {
    struct err e;
    va_list ap;
    va_start(ap, fmt);
    err_vset(&e, kind, fmt, ap);
    va_end(ap);
    c->state = CS_FINISHED;
    if (c->cbs.on_error) c->cbs.on_error(c->arg, &e);
    call_free(c);
}

static void finish(struct upstream_call *c) {
    struct conn *k = c->conn;
    bool reusable = c->head.keep_alive && c->remaining != -1 &&
                    evbuffer_get_length(bufferevent_get_input(k->bev)) == 0;
    c->conn = NULL;
    if (reusable)
        pool_put(c->u, k);
    else
        conn_free(k);
    c->state = CS_FINISHED;
    if (c->cbs.on_done) c->cbs.on_done(c->arg);
    call_free(c);
}

static int start_connection(struct upstream_call *c, struct err *err);

/* Run a user callback that may cancel the call; returns true when the call must stop. */
#define CALLBACK(c, expr)                                                                          \
    do {                                                                                           \
        (c)->in_cb = true;                                                                         \
        int stop_ = (expr);                                                                        \
        (c)->in_cb = false;                                                                        \
        if (stop_ || (c)->cancelled) {                                                             \
            call_free(c);                                                                          \
            return true;                                                                           \
        }                                                                                          \
    } while (0)

/* Push decoded bytes to the user. Returns true when the call ended (freed). */
static bool process_body(struct upstream_call *c) {
    struct evbuffer *in = bufferevent_get_input(c->conn->bev);
    bool complete = false;
    if (c->head_only) {
        complete = true;
    } else if (c->head.chunked) {
        enum http_chunk_rc rc = http_chunked_decode(&c->chunked, in, c->body);
        if (rc == HTTP_CHUNK_BAD) {
            fail(c, ERR_UPSTREAM, "malformed chunked encoding from %s", c->url.host);
            return true;
        }
        complete = rc == HTTP_CHUNK_DONE;
    } else if (c->remaining >= 0) {
        size_t have = evbuffer_get_length(in);
        size_t take = (long long)have < c->remaining ? have : (size_t)c->remaining;
        evbuffer_remove_buffer(in, c->body, take);
        c->remaining -= (long long)take;
        complete = c->remaining == 0;
    } else {
        evbuffer_remove_buffer(in, c->body, evbuffer_get_length(in));
    }
    if (evbuffer_get_length(c->body) > 0 && c->cbs.on_data)
        CALLBACK(c, c->cbs.on_data(c->arg, c->body));
    if (complete) {
        if (c->head.chunked) c->remaining = 0; /* framing known: reusable */
        finish(c);
        return true;
    }
    return false;
}

static void read_cb(struct bufferevent *bev, void *arg) {
    struct upstream_call *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->have_head) {
        enum http_parse_rc rc = http_parse_head(in, false, MAX_RESPONSE_HEAD, &c->head);
        if (rc == HTTP_PARSE_NEED_MORE) return;
        if (rc != HTTP_PARSE_OK) {
            fail(c, ERR_UPSTREAM, "%s sent a malformed HTTP response head", c->url.host);
            return;
        }
        if (c->head.status >= 100 && c->head.status < 200) { /* interim: skip */
            http_head_free(&c->head);
            continue;
        }
        c->have_head = true;
        c->state = CS_BODY;
        evbuffer_free(c->req);
        c->req = NULL;
        if (c->head_only || c->head.status == 204 || c->head.status == 304) {
            c->head_only = true;
            c->remaining = 0;
        } else if (c->head.chunked) {
            c->remaining = 0;
        } else {
            c->remaining = c->head.content_length; /* -1: until close */
        }
        if (c->cbs.on_head) {
            c->in_cb = true;
            int stop = c->cbs.on_head(c->arg, &c->head);
            c->in_cb = false;
            if (stop || c->cancelled) {
                call_free(c);
                return;
            }
        }
    }
    arm_timer(c, c->t.idle_ms);
    process_body(c);
}

static void describe_tls_error(struct upstream_call *c, char *buf, size_t n) {
    unsigned long e = bufferevent_get_openssl_error(c->conn->bev);
    SSL *ssl = bufferevent_openssl_get_ssl(c->conn->bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(buf, n, "TLS certificate of %s not accepted: %s", c->url.host,
                 X509_verify_cert_error_string(vr));
    } else if (e) {
        char tmp[256];
        ERR_error_string_n(e, tmp, sizeof tmp);
        snprintf(buf, n, "TLS error with %s: %s", c->url.host, tmp);
    } else {
        buf[0] = '\0';
    }
    while (bufferevent_get_openssl_error(c->conn->bev)) {
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    struct upstream_call *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* no Nagle: the last segment of a request must not wait for the peer's delayed ACK */
        int one = 1;
        setsockopt(bufferevent_getfd(c->conn->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->state = CS_WAIT_HEAD;
        /* A fresh connection is never retried, so the request moves into the socket's buffer
         * instead of being copied (a reused one keeps its copy until the head arrives). */
        if (bufferevent_write_buffer(c->conn->bev, c->req) != 0) {
            fail(c, ERR_UPSTREAM, "cannot send the request to %s (out of memory)", c->url.host);
            return;
        }
        arm_timer(c, c->t.first_byte_ms);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (c->state == CS_BODY && c->remaining == -1 && !c->head.chunked) {
            struct evbuffer *in = bufferevent_get_input(c->conn->bev);
            if (evbuffer_get_length(in)) {
                evbuffer_remove_buffer(in, c->body, evbuffer_get_length(in));
                if (c->cbs.on_data) {
                    c->in_cb = true;
                    int stop = c->cbs.on_data(c->arg, c->body);
                    c->in_cb = false;
                    if (stop || c->cancelled) {
                        call_free(c);
                        return;
                    }
                }
            }
            c->head.keep_alive = false;
            finish(c);
            return;
        }
    }
    /* error or premature EOF */
    bool before_response = c->state != CS_BODY;
    if (before_response && c->reused && !c->retried) {
        /* a kept-alive connection the server had closed: try once more on a fresh one */
        c->retried = true;
        c->reused = false;
        conn_free(c->conn);
        c->conn = NULL;
        http_head_free(&c->head);
        struct err e;
        if (start_connection(c, &e) != 0) fail(c, ERR_UPSTREAM, "%s", e.msg);
        return;
    }
    char tls[512] = "";
    if (c->url.tls) describe_tls_error(c, tls, sizeof tls);
    int sockerr = EVUTIL_SOCKET_ERROR();
    const char *where = c->state == CS_CONNECTING ? "connecting to"
                        : c->state == CS_WAIT_HEAD ? "waiting for the response of"
                                                   : "reading the response of";
    if (tls[0]) {
        fail(c, ERR_UPSTREAM, "%s", tls);
    } else if (what & BEV_EVENT_EOF) {
        fail(c, ERR_UPSTREAM, "%s:%d closed the connection while ccrelay was %s it",
             c->url.host, c->url.port,
             c->state == CS_BODY ? "reading the response body from" : "waiting for a response from");
    } else if (c->state == CS_CONNECTING && bufferevent_socket_get_dns_error(c->conn->bev)) {
        fail(c, ERR_UPSTREAM, "cannot resolve %s: %s", c->url.host,
             evutil_gai_strerror(bufferevent_socket_get_dns_error(c->conn->bev)));
    } else {
        fail(c, ERR_UPSTREAM, "error %s %s:%d: %s", where, c->url.host, c->url.port,
             sockerr ? evutil_socket_error_to_string(sockerr) : "connection failed");
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct upstream_call *c = arg;
    const char *phase = c->state == CS_CONNECTING   ? "connect"
                        : c->state == CS_WAIT_HEAD ? "first byte"
                                                   : "idle";
    long ms = c->state == CS_CONNECTING   ? c->t.connect_ms
              : c->state == CS_WAIT_HEAD ? c->t.first_byte_ms
                                         : c->t.idle_ms;
    fail(c, ERR_TIMEOUT, "%s:%d: %s timeout after %ld ms", c->url.host, c->url.port, phase, ms);
}

static bool is_ip_literal(const char *h) {
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static int start_connection(struct upstream_call *c, struct err *err) {
    struct upstream *u = c->u;
    char key[600];
    snprintf(key, sizeof key, "%c|%s|%d", c->url.tls ? 's' : 'p', c->url.host, c->url.port);
    struct conn *k = c->retried ? NULL : pool_take(u, key);
    if (k) {
        c->reused = true;
        c->conn = k;
        k->call = c;
        u->stats.reuses++;
        bufferevent_setcb(k->bev, read_cb, NULL, event_cb, c);
        bufferevent_enable(k->bev, EV_READ | EV_WRITE);
        c->state = CS_WAIT_HEAD;
        size_t n = evbuffer_get_length(c->req);
        if (bufferevent_write(k->bev, evbuffer_pullup(c->req, -1), n) != 0)
            return err_set(err, ERR_NOMEM, "cannot queue the request to %s", c->url.host);
        arm_timer(c, c->t.first_byte_ms);
        return 0;
    }
    k = calloc(1, sizeof *k);
    if (!k) return err_set(err, ERR_NOMEM, "out of memory");
    k->u = u;
    k->key = strdup(key);
    if (!k->key) {
        free(k);
        return err_set(err, ERR_NOMEM, "out of memory");
    }
    if (c->url.tls) {
        SSL *ssl = SSL_new(u->ssl);
        if (!ssl) {
            conn_free(k);
            return err_set(err, ERR_INTERNAL, "cannot create a TLS session");
        }
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (is_ip_literal(c->url.host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->url.host);
        } else {
            SSL_set_tlsext_host_name(ssl, c->url.host);
            SSL_set1_host(ssl, c->url.host);
        }
        k->bev = bufferevent_openssl_socket_new(u->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (!k->bev) SSL_free(ssl);
        else bufferevent_openssl_set_allow_dirty_shutdown(k->bev, 1);
    } else {
        k->bev = bufferevent_socket_new(u->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    if (!k->bev) {
        conn_free(k);
        return err_set(err, ERR_INTERNAL, "cannot create a connection to %s", c->url.host);
    }
    k->call = c;
    c->conn = k;
    c->state = CS_CONNECTING;
    bufferevent_setwatermark(k->bev, EV_READ, 0, READ_HIGH_WATER);
    bufferevent_setcb(k->bev, read_cb, NULL, event_cb, c);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    u->stats.connects++;
    arm_timer(c, c->t.connect_ms);
    /* A failure to start (bad address, resolver refusal) is reported through event_cb, which
     * libevent runs deferred; the connect timer bounds the rest. */
    (void)bufferevent_socket_connect_hostname(k->bev, u->dns, AF_UNSPEC, c->url.host, c->url.port);
    return 0;
}

struct upstream_call *upstream_send(struct upstream *u, const char *method, const char *url,
                                    const struct http_hdrs *headers, struct evbuffer *body,
                                    const struct upstream_timeouts *t,
                                    const struct upstream_cbs *cbs, void *arg, struct err *err) {
    struct upstream_call *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->u = u;
    c->t = *t;
    c->cbs = *cbs;
    c->arg = arg;
    c->head.content_length = -1;
    if (http_url_parse(url, &c->url) != 0) {
        err_set(err, ERR_CONFIG, "invalid upstream URL '%s': expected http(s)://host[:port]/path",
                url);
        free(c);
        return NULL;
    }
    c->req = evbuffer_new();
    c->body = evbuffer_new();
    c->timer = evtimer_new(u->base, timer_cb, c);
    if (!c->req || !c->body || !c->timer) {
        err_set(err, ERR_NOMEM, "out of memory");
        call_free(c);
        return NULL;
    }
    c->head_only = strcmp(method, "HEAD") == 0;
    size_t blen = body ? evbuffer_get_length(body) : 0;
    bool ipv6 = strchr(c->url.host, ':') != NULL;
    bool default_port = c->url.port == (c->url.tls ? 443 : 80);
    int rc = evbuffer_add_printf(c->req, "%s %s HTTP/1.1\r\nHost: %s%s%s", method, c->url.path,
                                 ipv6 ? "[" : "", c->url.host, ipv6 ? "]" : "");
    if (rc >= 0 && !default_port) rc = evbuffer_add_printf(c->req, ":%d", c->url.port);
    if (rc >= 0) rc = evbuffer_add_printf(c->req, "\r\n");
    for (size_t i = 0; rc >= 0 && headers && i < headers->n; i++) {
        const char *n = headers->v[i].name;
        if (!strcmp(n, "host") || !strcmp(n, "content-length") || !strcmp(n, "connection") ||
            !strcmp(n, "transfer-encoding"))
            continue;
        rc = evbuffer_add_printf(c->req, "%s: %s\r\n", n, headers->v[i].value);
    }
    if (rc >= 0 && (body || strcmp(method, "POST") == 0))
        rc = evbuffer_add_printf(c->req, "Content-Length: %zu\r\n", blen);
    if (rc >= 0) rc = evbuffer_add(c->req, "Connection: keep-alive\r\n\r\n", 26);
    if (rc >= 0 && body) rc = evbuffer_add_buffer(c->req, body);
    if (rc < 0) {
        err_set(err, ERR_NOMEM, "out of memory while building the upstream request");
        call_free(c);
        return NULL;
    }
    if (start_connection(c, err) != 0) {
        call_free(c);
        return NULL;
    }
    return c;
}

void upstream_cancel(struct upstream_call *c) {
    if (!c) return;
    if (c->in_cb) {
        c->cancelled = true; /* freed when the callback returns */
        return;
    }
    call_free(c);
}

void upstream_pause(struct upstream_call *c) {
    if (c && c->conn && !c->paused) {
        c->paused = true;
        bufferevent_disable(c->conn->bev, EV_READ);
        evtimer_del(c->timer); /* a paused read is the client's doing, not the upstream's */
    }
}

void upstream_resume(struct upstream_call *c) {
    if (c && c->conn && c->paused) {
        c->paused = false;
        bufferevent_enable(c->conn->bev, EV_READ);
        arm_timer(c, c->state == CS_BODY ? c->t.idle_ms : c->t.first_byte_ms);
    }
}

struct upstream *upstream_new(struct event_base *base, const struct logger *lg, struct err *err) {
    struct upstream *u = calloc(1, sizeof *u);
    if (!u) {
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    u->base = base;
    u->lg = lg;
    u->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!u->dns) {
        /* no resolv.conf: keep going with numeric hosts and /etc/hosts only */
        u->dns = evdns_base_new(base, 0);
        if (u->dns) evdns_base_load_hosts(u->dns, NULL);
    }
    u->ssl = SSL_CTX_new(TLS_client_method());
    if (!u->dns || !u->ssl) {
        err_set(err, ERR_INTERNAL, "cannot initialise DNS or TLS for upstream connections");
        upstream_free(u);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(u->ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(u->ssl, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(u->ssl) != 1)
        log_warn(lg, "upstream: cannot load the system CA store; TLS to providers will fail "
                     "(install ca-certificates or set SSL_CERT_FILE)");
    const char *extra = getenv("CCRELAY_CA_FILE");
    if (extra && *extra && SSL_CTX_load_verify_locations(u->ssl, extra, NULL) != 1)
        log_warn(lg, "upstream: cannot load CCRELAY_CA_FILE=%s", extra);
    return u;
}

void upstream_free(struct upstream *u) {
    if (!u) return;
    while (u->idle) {
        struct conn *k = u->idle;
        u->idle = k->next;
        conn_free(k);
    }
    if (u->dns) evdns_base_free(u->dns, 0);
    if (u->ssl) SSL_CTX_free(u->ssl);
    free(u);
}

void upstream_stats(const struct upstream *u, struct upstream_stats *out) {
    *out = u->stats;
}
