/* provider: the wire-format adapters. Each turns an Anthropic request into an upstream HTTP
 * request, and the upstream's answer (a body, or a byte stream) back into Anthropic's format.
 *
 * Translators are pure: no socket, timer or event loop. They read what they are given and
 * append bytes to evbuffers (used here as plain byte buffers). That keeps each one
 * unit-testable and fuzzable on its own. Only `relay` drives them.
 *
 * Errors: a translator returns -1 and fills `err` (kind + message). It never writes an
 * Anthropic error event itself: the relay decides between an HTTP error (nothing sent to the
 * client yet) and an `event: error` (a stream has started). */
#ifndef CCRELAY_PROVIDER_H
#define CCRELAY_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config.h"
#include "err.h"
#include "http.h"

struct xl_usage {
    long input_tokens;
    long output_tokens;
    long cache_read_input_tokens;
    long cache_creation_input_tokens;
};

/* One attempt's input. Everything is borrowed for the duration of the call that receives it;
 * a stream translator copies what it needs at stream_new. */
struct xl_request {
    const cJSON *body;                      /* the client's Anthropic request, parsed */
    const char *raw;                        /* the client's body bytes, or NULL when the body */
    size_t raw_len;                         /*   was modified after parsing (re-print it) */
    /* The buffer holding `raw` when the caller needs those bytes no more: a pass-through build
     * moves them into its output instead of copying them, leaving it empty (then raw is
     * stale). NULL: copy. */
    struct evbuffer *raw_buf;
    const struct http_hdrs *client_headers; /* lower-case names, as received */
    const struct cfg_provider *provider;
    const char *model;        /* the routed upstream model id */
    const char *client_model; /* the model the client asked for: echoed in answers */
    const char *api_key;      /* the key chosen from the provider's pool; NULL when none */
    bool stream;              /* the client asked for a stream ("stream": true) */
};

/* The upstream HTTP request a translator builds. Owned by the caller: xl_http_request_free. */
struct xl_http_request {
    char *url;                /* absolute URL */
    struct http_hdrs headers; /* all but Host, Content-Length, Connection (the client adds) */
    struct evbuffer *body;
};
void xl_http_request_init(struct xl_http_request *r);
void xl_http_request_free(struct xl_http_request *r);

struct xl_stream; /* a provider's streaming state machine */

enum xl_stream_rc { XL_MORE = 0, XL_DONE = 1 }; /* or -1: error, see err */

struct provider_ops {
    enum wire_format format;
    /* Build the upstream request for `in`. */
    int (*build)(const struct xl_request *in, struct xl_http_request *out, struct err *err);

    /* Streaming: upstream body bytes (de-chunked, any split) in, Anthropic SSE bytes out. */
    struct xl_stream *(*stream_new)(const struct xl_request *in, struct err *err);
    /* Returns XL_MORE, XL_DONE (the Anthropic stream is complete: message_stop written), or -1. */
    int (*stream_feed)(struct xl_stream *st, const char *buf, size_t len, struct evbuffer *out,
                       struct err *err);
    /* The upstream closed the body. Returns XL_DONE when the stream ended properly, -1 when it
     * was cut (err says how). May append final events. */
    int (*stream_end)(struct xl_stream *st, struct evbuffer *out, struct err *err);
    void (*stream_usage)(const struct xl_stream *st, struct xl_usage *out);
    void (*stream_free)(struct xl_stream *st);

    /* Non-streaming: the upstream's whole 2xx body in, an Anthropic message JSON out. */
    int (*response)(const struct xl_request *in, const char *buf, size_t len, struct evbuffer *out,
                    struct xl_usage *usage, struct err *err);
};

const struct provider_ops *provider_ops_for(enum wire_format f);

struct xl_error; /* providers/util.h */
/* After stream_feed / stream_end returned -1: the Anthropic error the provider mapped from the
 * upstream's own error payload (type, status, message, retry hints). -1 when the format has no
 * such mapping or the stream did not fail that way (then the call's err says it all). */
int provider_stream_error(enum wire_format f, const struct xl_stream *st, struct xl_error *out);
/* The answer is complete but the upstream may still send usage (Chat Completions sends it after
 * finish_reason): the relay waits a short grace time, then calls stream_end itself. */
bool provider_stream_lingering(enum wire_format f, const struct xl_stream *st);
/* Provider-specific checks of a config entry (e.g. Claude Code Router transformer names). */
int provider_check(const struct cfg_provider *p, struct err *err);

extern const struct provider_ops provider_anthropic;
extern const struct provider_ops provider_openai;
extern const struct provider_ops provider_gemini;

#endif
