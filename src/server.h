/* server: the listener, client connections, endpoints, auth and limits.
 *
 * `struct server` is the one loop context: it owns the event base's listener, the upstream
 * client, the current generation (config + policy) and every client connection. Nothing else in
 * the process holds mutable state.
 *
 * A generation pairs a config with the policy built from it. Requests take a reference when
 * they start and keep it to the end, so a reload never changes the route or the provider data of
 * a request in flight. */
#ifndef CCRELAY_SERVER_H
#define CCRELAY_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "keypool.h"
#include "upstream.h"

struct generation {
    int refs;
    struct config *cfg;  /* owned */
    struct policy *pol;  /* owned */
    unsigned long number;
    /* Some provider takes Anthropic requests as they come (the pass-through): requests are
     * summarised from their raw text and parsed only if routed to a translator. Without one,
     * every request is translated, so it is parsed first and summarised from the tree. */
    bool pass_through;
    bool translates; /* some provider translates (not Anthropic-format) */
    /* With both kinds of provider (pass_through && translates), where the last request of each client model went (by a hash
     * of the model's raw JSON bytes; 1 = a translator): a model routed to a translator is parsed
     * first next time, as when every provider translates. Written by the relay; a generation
     * lives in one process's loop. A wrong guess costs time, never the answer: both paths give
     * the same summary. */
    unsigned char translated_by_model[32];
};

struct generation *generation_ref(struct generation *g);
void generation_unref(struct generation *g);

struct server;
struct client;

struct server_opts {
    const char *host; /* overrides cfg->host when non-NULL */
    int port;         /* overrides cfg->port when > 0 */
    const char *config_path; /* file to watch and reload; NULL = embedded default */
    bool reuse_port;         /* SO_REUSEPORT: several worker processes share the port */
};

/* Takes ownership of cfg. Binds the listener (a clear error when the port is taken or a
 * non-loopback bind has no APIKEY). */
struct server *server_new(struct event_base *base, struct logger *lg, struct config *cfg,
                          const struct server_opts *opts, struct err *err);
void server_free(struct server *s);
/* Stop accepting, let the loop end once in-flight requests finish (or now, if `now`). */
void server_shutdown(struct server *s, bool now);
/* Reload config + policy from disk; keeps the current generation on failure. */
int server_reload(struct server *s, struct err *err);
int server_port(const struct server *s);
/* Client connections open now. */
int server_clients(const struct server *s);
/* The current generation (borrowed; take a reference to keep it). */
struct generation *server_generation(struct server *s);

/* ---- used by relay: the response side of one client connection ---- */

struct logger *server_logger(struct server *s);
struct upstream *server_upstream(struct server *s);
struct keypool *server_keypool(struct server *s);
struct event_base *server_base(struct server *s);

/* A complete response. `extra` may be NULL. */
int client_respond(struct client *c, int status, const struct http_hdrs *extra,
                   const char *content_type, const char *body, size_t len);
/* Start a streamed (chunked) response; then client_write / client_end. */
int client_stream_start(struct client *c, int status, const struct http_hdrs *extra,
                        const char *content_type);
/* Move the bytes of `data` into the response (as one chunk). */
int client_write(struct client *c, struct evbuffer *data);
void client_stream_end(struct client *c);
/* Bytes queued towards the client and not yet written (for flow control). */
size_t client_pending(const struct client *c);

#endif
