/* relay: one /v1/messages request's life, as a state machine:
 *   PARSE -> ROUTE -> ATTEMPT (connect, wait head) -> COMMITTED (streaming / body) -> FINISHED
 * with fallback to the next target on a connect error, 408, 429 or 5xx before anything reached
 * the client, and cancel when the client goes away.
 *
 * Ownership: the relay owns the parsed body, the summary, the route decision, the translator
 * state and the upstream call; it holds a reference on the generation it started with. It frees
 * all of it when the request ends, on every path. The client connection is borrowed: the server
 * guarantees it outlives the relay (it calls relay_abort before freeing a client). */
#ifndef CCRELAY_RELAY_H
#define CCRELAY_RELAY_H

#include <event2/buffer.h>

#include "http.h"
#include "server.h"

struct relay;

/* Start handling a request; `body` is drained. When the response is complete the relay calls
 * client_request_done(c) and frees itself. Never fails: errors become responses. */
void relay_start(struct server *s, struct client *c, struct generation *g,
                 const struct http_head *head, struct evbuffer *body, const char *request_id);

/* The client connection is going away: cancel the upstream call and free the relay now. */
void relay_abort(struct relay *r);
/* The client's output buffer drained: resume reading from the upstream. */
void relay_client_drained(struct relay *r);

/* Called by the relay when its response is complete (server.c). */
void client_request_done(struct client *c);
/* The relay registers itself on the client so the server can abort it (server.c). */
void client_set_relay(struct client *c, struct relay *r);

#endif
