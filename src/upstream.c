#include "upstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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

enum call_state {
    CS_CONNECTING, /* TCP (and TLS) towards the upstream, or towards the proxy */
    CS_TUNNEL,     /* CONNECT sent to the proxy, waiting for its answer */
    CS_WAIT_HEAD,
    CS_BODY,
    CS_FINISHED
};

struct upstream_call {
    struct upstream *u;
    struct conn *conn;
    enum call_state state;
    struct http_url url;
    struct http_url proxy; /* host NULL: direct */
    char *proxy_auth;      /* "Basic ..." from the proxy URL's user:password, or NULL */
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
    http_url_free(&c->proxy);
    free(c->proxy_auth);
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

static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static SSL *new_ssl(struct upstream_call *c);

/* The proxy answered our CONNECT: on 200, start TLS to the upstream inside the tunnel. */
static void tunnel_answer(struct upstream_call *c, struct evbuffer *in) {
    struct http_head h;
    enum http_parse_rc rc = http_parse_head(in, false, MAX_RESPONSE_HEAD, &h);
    if (rc == HTTP_PARSE_NEED_MORE) return;
    if (rc != HTTP_PARSE_OK) {
        fail(c, ERR_UPSTREAM, "proxy %s:%d sent a malformed answer to CONNECT", c->proxy.host,
             c->proxy.port);
        return;
    }
    int status = h.status;
    http_head_free(&h);
    if (status != 200) {
        fail(c, ERR_UPSTREAM, "proxy %s:%d refused to connect to %s:%d (HTTP %d%s)",
             c->proxy.host, c->proxy.port, c->url.host, c->url.port, status,
             status == 407 ? ": proxy authentication required, put user:password in PROXY_URL"
                           : "");
        return;
    }
    SSL *ssl = new_ssl(c);
    struct bufferevent *f =
        ssl ? bufferevent_openssl_filter_new(c->u->base, c->conn->bev, ssl,
                                             BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
            : NULL;
    if (!f) {
        if (ssl) SSL_free(ssl);
        fail(c, ERR_INTERNAL, "cannot start TLS through the proxy");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    c->conn->bev = f; /* the filter owns the tunnel's bufferevent now */
    c->state = CS_CONNECTING;
    bufferevent_setwatermark(f, EV_READ, 0, READ_HIGH_WATER);
    bufferevent_setcb(f, read_cb, NULL, event_cb, c);
    bufferevent_enable(f, EV_READ | EV_WRITE);
    arm_timer(c, c->t.connect_ms);
}

static void read_cb(struct bufferevent *bev, void *arg) {
    struct upstream_call *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->state == CS_TUNNEL) {
        tunnel_answer(c, in);
        return;
    }
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
        if (c->state == CS_CONNECTING && c->proxy.host && c->url.tls &&
            !bufferevent_openssl_get_ssl(c->conn->bev)) {
            /* connected to the proxy: ask it for a tunnel to the upstream */
            struct evbuffer *out = bufferevent_get_output(c->conn->bev);
            bool v6 = strchr(c->url.host, ':') != NULL;
            int rc = evbuffer_add_printf(out, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n",
                                         v6 ? "[" : "", c->url.host, v6 ? "]" : "", c->url.port,
                                         v6 ? "[" : "", c->url.host, v6 ? "]" : "", c->url.port);
            if (rc >= 0 && c->proxy_auth)
                rc = evbuffer_add_printf(out, "Proxy-Authorization: %s\r\n", c->proxy_auth);
            if (rc >= 0) rc = evbuffer_add(out, "\r\n", 2);
            if (rc < 0) {
                fail(c, ERR_NOMEM, "cannot send CONNECT to the proxy (out of memory)");
                return;
            }
            c->state = CS_TUNNEL;
            arm_timer(c, c->t.connect_ms);
            return;
        }
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
    } else if (c->proxy.host && (c->state == CS_CONNECTING || c->state == CS_TUNNEL) &&
               !bufferevent_openssl_get_ssl(c->conn->bev)) {
        fail(c, ERR_UPSTREAM, "cannot reach %s:%d through proxy %s:%d: %s", c->url.host,
             c->url.port, c->proxy.host, c->proxy.port,
             sockerr ? evutil_socket_error_to_string(sockerr) : "connection failed");
    } else {
        fail(c, ERR_UPSTREAM, "error %s %s:%d: %s", where, c->url.host, c->url.port,
             sockerr ? evutil_socket_error_to_string(sockerr) : "connection failed");
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct upstream_call *c = arg;
    const char *phase = c->state == CS_CONNECTING   ? "connect"
                        : c->state == CS_TUNNEL    ? "proxy CONNECT"
                        : c->state == CS_WAIT_HEAD ? "first byte"
                                                   : "idle";
    long ms = c->state == CS_CONNECTING || c->state == CS_TUNNEL ? c->t.connect_ms
              : c->state == CS_WAIT_HEAD                        ? c->t.first_byte_ms
                                                                : c->t.idle_ms;
    fail(c, ERR_TIMEOUT, "%s:%d: %s timeout after %ld ms", c->url.host, c->url.port, phase, ms);
}

static bool is_ip_literal(const char *h) {
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* A TLS session for the upstream host: SNI, certificate and host-name verification. */
static SSL *new_ssl(struct upstream_call *c) {
    SSL *ssl = SSL_new(c->u->ssl);
    if (!ssl) return NULL;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(c->url.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->url.host);
    } else {
        SSL_set_tlsext_host_name(ssl, c->url.host);
        SSL_set1_host(ssl, c->url.host);
    }
    return ssl;
}

static int start_connection(struct upstream_call *c, struct err *err) {
    struct upstream *u = c->u;
    char key[600];
    snprintf(key, sizeof key, "%c|%s|%d|%s|%d", c->url.tls ? 's' : 'p', c->url.host, c->url.port,
             c->proxy.host ? c->proxy.host : "", c->proxy.port);
    struct conn *k = c->retried ? NULL : pool_take(u, key);
    if (k) {
        c->reused = true;
        c->conn = k;
        k->call = c;
        u->stats.reuses++;
        bufferevent_setcb(k->bev, read_cb, NULL, event_cb, c);
        bufferevent_enable(k->bev, EV_READ | EV_WRITE);
        c->state = CS_WAIT_HEAD;
        /* The socket's buffer refers to the request's memory instead of copying it (a 100 KB
         * body would cost a pull-up and a copy); the request stays intact for the retry on a
         * stale connection. A buffer that cannot be referred to is copied. */
        struct evbuffer *out = bufferevent_get_output(k->bev);
        if (evbuffer_add_buffer_reference(out, c->req) != 0) {
            size_t n = evbuffer_get_length(c->req);
            if (bufferevent_write(k->bev, evbuffer_pullup(c->req, -1), n) != 0)
                return err_set(err, ERR_NOMEM, "cannot queue the request to %s", c->url.host);
        }
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
    if (c->url.tls && !c->proxy.host) {
        SSL *ssl = new_ssl(c);
        if (!ssl) {
            conn_free(k);
            return err_set(err, ERR_INTERNAL, "cannot create a TLS session");
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
    const char *host = c->proxy.host ? c->proxy.host : c->url.host;
    int port = c->proxy.host ? c->proxy.port : c->url.port;
    (void)bufferevent_socket_connect_hostname(k->bev, u->dns, AF_UNSPEC, host, port);
    return 0;
}

/* Is `host` covered by a NO_PROXY list ("a.com,.b.org,*,10.0.0.1")? */
static bool no_proxy_match(const char *list, const char *host) {
    if (!list) return false;
    size_t hl = strlen(host);
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ') e++;
        size_t n = (size_t)(e - p);
        if (n == 1 && *p == '*') return true;
        const char *q = p;
        if (n && *q == '.') { /* ".b.org" matches b.org and its subdomains */
            q++;
            n--;
        }
        if (n && hl >= n && strncasecmp(host + hl - n, q, n) == 0 &&
            (hl == n || host[hl - n - 1] == '.'))
            return true;
        p = e;
    }
    return false;
}

static bool is_loopback_host(const char *h) {
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcasecmp(h, "localhost") == 0;
}

/* The proxy for this call: the config's PROXY_URL, else HTTPS_PROXY / HTTP_PROXY (and their
 * lower-case forms) minus NO_PROXY; never for loopback. Fills c->proxy and c->proxy_auth. */
static int choose_proxy(struct upstream_call *c, const char *configured, struct err *err) {
    if (is_loopback_host(c->url.host)) return 0;
    const char *p = configured && *configured ? configured : NULL;
    if (!p) {
        const char *np = getenv("NO_PROXY");
        if (!np) np = getenv("no_proxy");
        if (no_proxy_match(np, c->url.host)) return 0;
        p = c->url.tls ? getenv("HTTPS_PROXY") : getenv("HTTP_PROXY");
        if (!p || !*p) p = c->url.tls ? getenv("https_proxy") : getenv("http_proxy");
        if (!p || !*p) return 0;
    }
    /* split off user:password@ (http_url_parse refuses userinfo) */
    const char *scheme_end = strstr(p, "://");
    const char *hs = scheme_end ? scheme_end + 3 : p;
    const char *at = strchr(hs, '@');
    const char *slash = strchr(hs, '/');
    char *clean = NULL;
    if (at && (!slash || at < slash)) {
        size_t ul = (size_t)(at - hs);
        unsigned char b64[512];
        if (ul >= 256) return err_set(err, ERR_CONFIG, "the proxy's user:password is too long");
        int bl = EVP_EncodeBlock(b64, (const unsigned char *)hs, (int)ul);
        if (bl < 0 || asprintf(&c->proxy_auth, "Basic %s", b64) < 0) c->proxy_auth = NULL;
        if (asprintf(&clean, "%.*s%s", (int)(hs - p), p, at + 1) < 0) clean = NULL;
        if (!c->proxy_auth || !clean) {
            free(clean);
            return err_set(err, ERR_NOMEM, "out of memory");
        }
    }
    if (!scheme_end) { /* "host:port" alone means an HTTP proxy */
        char *with = NULL;
        if (asprintf(&with, "http://%s", clean ? clean : p) < 0) with = NULL;
        free(clean);
        if (!with) return err_set(err, ERR_NOMEM, "out of memory");
        clean = with;
    }
    int rc = http_url_parse(clean ? clean : p, &c->proxy);
    free(clean);
    if (rc != 0 || c->proxy.tls)
        return err_set(err, ERR_CONFIG,
                       "proxy URL not usable: write an HTTP proxy such as http://host:port or "
                       "http://user:password@host:port (PROXY_URL, or HTTPS_PROXY)");
    return 0;
}

struct upstream_call *upstream_send(struct upstream *u, const char *method, const char *url,
                                    const struct http_hdrs *headers, struct evbuffer *body,
                                    const struct upstream_timeouts *t, const char *proxy_url,
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
    if (choose_proxy(c, proxy_url, err) != 0) {
        call_free(c);
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
    int rc;
    if (c->proxy.host && !c->url.tls) /* plain HTTP through a proxy: the absolute form */
        rc = evbuffer_add_printf(c->req, "%s http://%s%s%s:%d%s HTTP/1.1\r\n", method,
                                 ipv6 ? "[" : "", c->url.host, ipv6 ? "]" : "", c->url.port,
                                 c->url.path);
    else
        rc = evbuffer_add_printf(c->req, "%s %s HTTP/1.1\r\n", method, c->url.path);
    if (rc >= 0 && c->proxy.host && !c->url.tls && c->proxy_auth)
        rc = evbuffer_add_printf(c->req, "Proxy-Authorization: %s\r\n", c->proxy_auth);
    if (rc >= 0)
        rc = evbuffer_add_printf(c->req, "Host: %s%s%s", ipv6 ? "[" : "", c->url.host,
                                 ipv6 ? "]" : "");
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
