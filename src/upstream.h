/* upstream: the HTTP/1.1 client that talks to providers, on libevent with OpenSSL.
 *
 * Certificates and host names are verified (system CA store; SSL_CERT_FILE is honoured), SNI is
 * sent, connections are kept alive and reused per (scheme, host, port), every phase is bounded by
 * a timeout (connect+TLS, first byte of the response, idle time between reads), and a call can be
 * cancelled at any moment (the connection is closed at once: no tokens are spent for no one).
 *
 * Ownership: `struct upstream` is owned by the server's loop context and outlives every call.
 * An `upstream_call` is owned by the upstream module; the caller holds a handle until the call
 * reports on_done / on_error (after which the handle is dead) or until it cancels it. */
#ifndef CCRELAY_UPSTREAM_H
#define CCRELAY_UPSTREAM_H

#include <event2/buffer.h>
#include <event2/event.h>

#include "err.h"
#include "http.h"
#include "log.h"

struct upstream;
struct upstream_call;

struct upstream_timeouts {
    long connect_ms;    /* TCP connect + TLS handshake */
    long first_byte_ms; /* request sent -> response head */
    long idle_ms;       /* between two reads of the response body */
};

struct upstream_cbs {
    /* The response head arrived. Return non-zero to cancel the call from inside (no further
     * callbacks follow). */
    int (*on_head)(void *arg, const struct http_head *head);
    /* Decoded body bytes are in `body`; consume (drain) what you use. Return non-zero to
     * cancel. */
    int (*on_data)(void *arg, struct evbuffer *body);
    /* The body is complete. The call is finished; the handle is dead after this. */
    void (*on_done)(void *arg);
    /* The call failed (connect, TLS, reset, timeout, malformed response); err->kind is
     * ERR_TIMEOUT for timeouts, ERR_UPSTREAM otherwise. The handle is dead after this. */
    void (*on_error)(void *arg, const struct err *e);
};

struct upstream *upstream_new(struct event_base *base, const struct logger *lg, struct err *err);
void upstream_free(struct upstream *u);

/* Start a call. `url` is absolute; `headers` are sent as given (Host, Content-Length and
 * Connection are added here); `body` is drained (may be NULL). `proxy_url` (the config's
 * PROXY_URL, may be NULL; then HTTPS_PROXY / HTTP_PROXY minus NO_PROXY apply) is an HTTP proxy:
 * CONNECT tunnels for https, the absolute form for http; loopback is never proxied. Callbacks
 * never run before this returns. Returns NULL and fills err when the call cannot start (bad
 * URL, bad proxy, OOM). */
struct upstream_call *upstream_send(struct upstream *u, const char *method, const char *url,
                                    const struct http_hdrs *headers, struct evbuffer *body,
                                    const struct upstream_timeouts *t, const char *proxy_url,
                                    const struct upstream_cbs *cbs, void *arg, struct err *err);

/* Cancel a live call: no callback runs afterwards; its connection is closed. */
void upstream_cancel(struct upstream_call *c);

/* Flow control: stop / restart reading the response (the client is slow to read). */
void upstream_pause(struct upstream_call *c);
void upstream_resume(struct upstream_call *c);

/* Counters, for tests and the status line. */
struct upstream_stats {
    unsigned long connects, reuses, idle_now;
};
void upstream_stats(const struct upstream *u, struct upstream_stats *out);

#endif
