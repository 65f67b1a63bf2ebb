/* apierr: errors in Anthropic's shape, as HTTP responses and as stream events.
 *   {"type":"error","error":{"type":"<type>","message":"<message>"},"request_id":"<id>"} */
#ifndef CCRELAY_APIERR_H
#define CCRELAY_APIERR_H

#include <event2/buffer.h>

#include "err.h"

/* The Anthropic error type of an HTTP status (400 invalid_request_error, 401
 * authentication_error, 402 billing_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 504 timeout_error, 529 overloaded_error, other 5xx
 * api_error). */
const char *apierr_type_for_status(int status);
/* The HTTP status a ccrelay error kind answers with. */
int apierr_status_for_kind(enum err_kind kind);

/* Append the error JSON to out. `request_id` may be NULL. */
int apierr_json(struct evbuffer *out, const char *type, const char *message,
                const char *request_id);
/* Append an SSE `event: error` carrying the error JSON. */
int apierr_event(struct evbuffer *out, const char *type, const char *message);

/* A fresh request id, "req_" + 24 base62 characters, into buf (>= 29 bytes). */
void apierr_request_id(char *buf, size_t n);

#endif
