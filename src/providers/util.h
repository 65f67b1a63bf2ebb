/* util: helpers shared by the translators (openai, gemini) and the relay.
 *
 *   - xl_buf / xl_jw: a growable byte buffer and a streaming JSON writer on it. Translators write
 *     upstream bodies and Anthropic events with it instead of building cJSON trees: no deep
 *     copies of borrowed request nodes, deterministic key order, and every string it writes is
 *     valid UTF-8 (invalid bytes become U+FFFD, conversion.md §0.2.6).
 *   - ids (§0.4): msg_ / toolu_ / srvtoolu_ + 24 base62 characters (OpenSSL RAND_bytes),
 *     tool-id sanitising and SHA-256 shortening (N8), Gemini id segments (§4.12).
 *   - tool names (§0.4): validity per target, `<prefix>_<8 hex of SHA-256>` rewriting, and the
 *     reverse map applied to names in answers.
 *   - the `ccrelay1.` thinking carrier (§3.5): encode / decode.
 *   - tool-call argument validation and repair (§3.6.2).
 *   - xl_aout: the Anthropic SSE event writer every stream translator uses (§3.3 grammar: one
 *     message_start, consecutive block indices, one open block at a time, message_delta,
 *     message_stop).
 *   - xl_map_upstream_error: any upstream error body (OpenAI, OpenRouter, Gemini, vLLM,
 *     Anthropic, plain text, HTML) to the client status, Anthropic error type, a masked message
 *     and retry hints (§5.1-5.5, errata O5, O6, O14).
 *
 * No global mutable state. Every function that allocates can fail: it returns -1 (or NULL) and,
 * where it takes one, fills `struct err`. */
#ifndef CCRELAY_PROVIDER_UTIL_H
#define CCRELAY_PROVIDER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "err.h"
#include "http.h"
#include "providers/provider.h"

/* ------------------------------------------------------------------------------------------ */
/* Byte buffer. Grows geometrically. After an allocation failure `oom` is set and further
 * appends are ignored: check it once at the end (xl_buf_ok). Owns `p`; xl_buf_free. */
struct xl_buf {
    char *p;
    size_t len, cap;
    bool oom;
};
void xl_buf_init(struct xl_buf *b);
void xl_buf_free(struct xl_buf *b);
void xl_buf_reset(struct xl_buf *b); /* len = 0, memory kept (reuse on the stream hot path) */
void xl_buf_printf(struct xl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grows the buffer for n more bytes (the slow path of xl_buf_reserve); NULL on OOM. */
char *xl_buf_grow(struct xl_buf *b, size_t n);
/* Reserve room for n more bytes; NULL on OOM. The caller writes then bumps len. Inline: the
 * translators' writers call it for every few bytes they write. */
static inline char *xl_buf_reserve(struct xl_buf *b, size_t n) {
    if (!b->oom && b->p && n < b->cap - b->len) return b->p + b->len;
    return xl_buf_grow(b, n);
}
static inline void xl_buf_add(struct xl_buf *b, const void *p, size_t n) {
    if (!n) return;
    char *d = xl_buf_reserve(b, n);
    if (!d) return;
    memcpy(d, p, n);
    b->len += n;
}
static inline void xl_buf_adds(struct xl_buf *b, const char *s) { xl_buf_add(b, s, strlen(s)); }
static inline void xl_buf_addc(struct xl_buf *b, char c) {
    char *d = xl_buf_reserve(b, 1);
    if (!d) return;
    *d = c;
    b->len++;
}
static inline bool xl_buf_ok(const struct xl_buf *b) { return !b->oom; }
/* NUL-terminated view (adds a NUL after len without counting it); NULL on OOM. */
const char *xl_buf_cstr(struct xl_buf *b);
/* A JSON number: integers within +-9e15 in full, -0 as 0, others in 15 significant digits or 17
 * when 15 do not round-trip; NaN and infinities as null (xl_jw_num's format). */
void xl_buf_num(struct xl_buf *b, double d);
/* Hand b's bytes to out without a copy (the evbuffer frees them when drained); b is left empty.
 * A large body copied into fresh evbuffer chunks costs page faults on every request. Returns -1
 * (b unchanged) when out refuses them. */
int xl_buf_move_to(struct xl_buf *b, struct evbuffer *out);

/* ------------------------------------------------------------------------------------------ */
/* Streaming JSON writer on an xl_buf. Commas are inserted automatically. Nesting is bounded by
 * XL_JW_MAX_DEPTH; deeper input sets `bad` (checked with xl_jw_ok, like oom). */
#define XL_JW_MAX_DEPTH 128
struct xl_jw {
    struct xl_buf *b;
    int depth;
    bool bad;
    bool after_key;                   /* a key was just written: the next value takes no comma */
    unsigned char n[XL_JW_MAX_DEPTH]; /* per level: 1 once an element was written */
};
void xl_jw_init(struct xl_jw *w, struct xl_buf *b);
static inline bool xl_jw_ok(const struct xl_jw *w) { return !w->bad && !w->b->oom; }
void xl_jw_obj(struct xl_jw *w);    /* { */
void xl_jw_obj_end(struct xl_jw *w); /* } */
void xl_jw_arr(struct xl_jw *w);    /* [ */
void xl_jw_arr_end(struct xl_jw *w); /* ] */
void xl_jw_key(struct xl_jw *w, const char *k);
void xl_jw_str(struct xl_jw *w, const char *s); /* NULL writes null */
void xl_jw_strn(struct xl_jw *w, const char *s, size_t n);
void xl_jw_int(struct xl_jw *w, long long v);
void xl_jw_num(struct xl_jw *w, double v); /* in xl_buf_num's format */
void xl_jw_bool(struct xl_jw *w, bool v);
void xl_jw_null(struct xl_jw *w);
/* A value that is already JSON text (trusted: the caller validated it). */
void xl_jw_raw(struct xl_jw *w, const char *json, size_t n);
/* A cJSON node printed in place (key order kept, strings re-escaped as valid UTF-8). `skip`,
 * when non-NULL, is a NULL-terminated list of keys omitted at the node's top level only. */
void xl_jw_cjson(struct xl_jw *w, const cJSON *node, const char *const *skip);
/* Key + value shorthands. */
void xl_jw_kstr(struct xl_jw *w, const char *k, const char *s);
void xl_jw_kint(struct xl_jw *w, const char *k, long long v);
void xl_jw_kbool(struct xl_jw *w, const char *k, bool v);
/* Copy JSON text `s` to `out` with every lone UTF-16 surrogate escape (\\uD83D without its pair)
 * replaced by \\ufffd, so cJSON (which rejects them) can parse it. Returns how many were
 * replaced (0: out holds an identical copy). For upstream chunks that fail to parse. */
int xl_json_fix_surrogates(const char *s, size_t n, struct xl_buf *out);
/* Append `s` (n bytes) to `b` as the inside of a JSON string: escapes, invalid UTF-8 -> U+FFFD. */
void xl_json_escape(struct xl_buf *b, const char *s, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Ids. */
#define XL_ID_RANDOM_LEN 24
#define XL_TOOL_ID_BASE_LEN 30 /* "toolu_" + 24 */
/* `prefix` + 24 random base62 characters into `out` (size >= strlen(prefix) + 25). -1 when the
 * system RNG fails. */
int xl_mint_id(const char *prefix, char *out, size_t outsz);
/* Base62 of the first bytes of SHA-256(data): `n` characters (n <= 43) into out[n+1]. */
void xl_sha256_base62(const void *data, size_t len, char *out, size_t n);
/* Lower-case hex of SHA-256(data), first `n` characters (n <= 64) into out[n+1]. */
void xl_sha256_hex(const void *data, size_t len, char *out, size_t n);

/* A tool id as sent to OpenAI-style targets (N8): the 30-char base of a ccrelay id (Gemini
 * segments stripped); any other id with characters outside [A-Za-z0-9_-] replaced by '_', and
 * shortened to "toolu_" + 24 chars of a SHA-256 base62 digest when longer than 40 characters.
 * Deterministic: the call and its result map alike. out must hold XL_TOOL_ID_MAX + 1 bytes. */
#define XL_TOOL_ID_MAX 40
void xl_tool_id_canon(const char *id, char out[XL_TOOL_ID_MAX + 1]);

/* Gemini segments of a ccrelay tool id (§4.12):
 *   "<30-char base>[__gi<LEN>_<DATA>][__gs<LEN>_<DATA>]".
 * Returns true and fills the spans (pointing into `id`; len 0 when a segment is absent) when the
 * id is a ccrelay id whose tail is exactly well-formed segments; false otherwise (foreign id). */
struct xl_tool_id_parts {
    const char *gi; /* base64url data of the Gemini functionCall.id */
    size_t gi_len;
    const char *gs; /* base64url data of the thought signature */
    size_t gs_len;
};
bool xl_tool_id_split(const char *id, struct xl_tool_id_parts *out);

/* base64url without padding; the decoder also accepts the standard alphabet and padding.
 * Return the number of bytes written, or -1 (bad input / out too small). */
long xl_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz);
long xl_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz);

/* ------------------------------------------------------------------------------------------ */
/* Tool names (§0.4). */
enum xl_name_rule {
    XL_NAMES_OPENAI, /* ^[a-zA-Z0-9_-]{1,64}$ */
    XL_NAMES_GEMINI, /* [a-zA-Z0-9_.:-], first char a letter or '_', at most 63 */
};
bool xl_tool_name_valid(const char *name, enum xl_name_rule rule);
/* The name to send upstream: `name` itself when valid, else `<prefix, invalid chars -> _>_<8 hex
 * of SHA-256(name)>` fitting the rule. out must hold 65 bytes. */
void xl_tool_name_upstream(const char *name, enum xl_name_rule rule, char out[65]);

/* Reverse map for names in answers: upstream name -> client name. Holds only rewritten names.
 * Owns its strings. */
struct xl_namemap {
    struct xl_namemap_ent {
        char *upstream;
        char *client;
    } *v;
    size_t n, cap;
};
void xl_namemap_init(struct xl_namemap *m);
void xl_namemap_free(struct xl_namemap *m);
/* Map `name` for upstream into out[65]; records the pair when it was rewritten. -1 on OOM. */
int xl_namemap_add(struct xl_namemap *m, const char *name, enum xl_name_rule rule, char out[65]);
/* Record every tool name of an Anthropic `tools` array (NULL/absent is fine). -1 on OOM. */
int xl_namemap_add_tools(struct xl_namemap *m, const cJSON *tools, enum xl_name_rule rule);
/* The client name for an upstream name: the recorded original, else `name` itself. */
const char *xl_namemap_back(const struct xl_namemap *m, const char *name);

/* ------------------------------------------------------------------------------------------ */
/* The ccrelay1 thinking carrier (§3.5): "ccrelay1." + base64url(compact JSON
 * {"v":1,"p":profile,"m":model,"rd":[...]?,"gs":"..."?}). */
#define XL_CARRIER_PREFIX "ccrelay1."
/* Append the carrier to `b`. rd (reasoning_details array) and gs may be NULL. */
void xl_carrier_write(struct xl_buf *b, const char *profile, const char *model, const cJSON *rd,
                      const char *gs);
struct xl_carrier {
    cJSON *json;       /* the decoded payload; owned: xl_carrier_free */
    const char *p;     /* profile, or NULL (points into json) */
    const char *m;     /* upstream model, or NULL */
    const cJSON *rd;   /* reasoning_details array, or NULL */
    const char *gs;    /* Gemini text signature, or NULL */
};
/* Decode a signature / redacted data. Returns 1 when it is a valid ccrelay1 carrier, 0 when it
 * is not one (foreign or empty: out->json NULL), -1 on OOM. */
int xl_carrier_read(const char *sig, struct xl_carrier *out);
void xl_carrier_free(struct xl_carrier *c);

/* ------------------------------------------------------------------------------------------ */
/* Tool-call arguments (§3.6.2). Validate `raw` (n bytes) and write the object JSON to use as
 * the tool input into `out` (compact, or `raw` itself when it is already a valid object).
 * `truncated` (the finish reason was length) allows closing unterminated strings/containers.
 * Returns 0 (valid as is), 1 (repaired: *what says how, a static string), or -1 when it cannot be
 * repaired (out untouched). Empty / whitespace-only -> "{}" (returns 0). */
int xl_tool_args_fix(const char *raw, size_t n, bool truncated, struct xl_buf *out,
                     const char **what);

/* ------------------------------------------------------------------------------------------ */
/* Anthropic SSE writer (§3.3). Holds the block index counter and the open block; reuses one
 * scratch buffer for every event (no allocation per event once warm). Each call appends one
 * complete event to `out` and returns 0, or -1 on OOM (err set). */
enum xl_block {
    XL_BLOCK_NONE = 0,
    XL_BLOCK_TEXT,
    XL_BLOCK_THINKING,
    XL_BLOCK_TOOL,
    XL_BLOCK_REDACTED
};
struct xl_aout {
    char msg_id[32];
    char *model;       /* echoed model (client_model); owned */
    int next_index;    /* index of the next block */
    enum xl_block open; /* the open block, XL_BLOCK_NONE when none */
    bool started;      /* message_start written */
    bool finished;     /* message_stop written */
    size_t out_bytes;  /* UTF-8 bytes of text/thinking/arguments written (output estimate) */
    struct xl_buf scratch;
};
int xl_aout_init(struct xl_aout *a, const char *model, struct err *err);
void xl_aout_free(struct xl_aout *a);
/* message_start (usage input 0, output 1: errata O9) then ping. */
int xl_aout_start(struct xl_aout *a, struct evbuffer *out, struct err *err);
int xl_aout_ping(struct xl_aout *a, struct evbuffer *out, struct err *err);
/* Open a block (closes none: call xl_aout_stop first; these fail with ERR_INTERNAL when a
 * block is open). */
int xl_aout_text_start(struct xl_aout *a, struct evbuffer *out, struct err *err);
int xl_aout_thinking_start(struct xl_aout *a, struct evbuffer *out, struct err *err);
int xl_aout_tool_start(struct xl_aout *a, const char *id, const char *name, struct evbuffer *out,
                       struct err *err);
/* A redacted_thinking block: start + stop in one call (it has no deltas). */
int xl_aout_redacted(struct xl_aout *a, const char *data, size_t len, struct evbuffer *out,
                     struct err *err);
/* Deltas for the open block (an empty delta writes nothing). */
int xl_aout_text(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out, struct err *err);
int xl_aout_thinking(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                     struct err *err);
int xl_aout_signature(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                      struct err *err);
/* input_json_delta, sliced into <= 32 KiB pieces on UTF-8 boundaries. */
int xl_aout_json(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out, struct err *err);
/* content_block_stop for the open block (no-op when none). */
int xl_aout_stop(struct xl_aout *a, struct evbuffer *out, struct err *err);
/* message_delta {stop_reason, stop_sequence (NULL -> null)} with usage, then message_stop.
 * thinking_tokens < 0: not reported. */
int xl_aout_finish(struct xl_aout *a, const char *stop_reason, const char *stop_sequence,
                   const struct xl_usage *u, long thinking_tokens, struct evbuffer *out,
                   struct err *err);
/* Write an Anthropic usage object ({"input_tokens",...}) with the writer. */
void xl_jw_usage(struct xl_jw *w, const struct xl_usage *u, long thinking_tokens);

/* ------------------------------------------------------------------------------------------ */
/* A JSON number as a long, clamped to +-2^53 (a body may say 1e300, which a plain cast makes
 * undefined behaviour; the bound is far above any count and leaves room to add a few without
 * overflow), or as an int clamped to its range. NaN gives 0. */
long xl_long(double d);
int xl_int(double d);

/* Upstream errors (§5). */
#define XL_ERROR_MSG_MAX 1024
struct xl_error {
    int status;           /* HTTP status for the client */
    const char *type;     /* Anthropic error type (static string) */
    char message[XL_ERROR_MSG_MAX + 1]; /* names provider/model, upstream text masked, <= 1 KiB */
    long retry_after_ms;  /* -1: none; clamped to 60 s (errata O6) */
    int should_retry;     /* x-should-retry: -1 unset, 0 false, 1 true */
};
/* Map an upstream failure: `status` is the upstream HTTP status (0 when none: an error event
 * inside a 200 stream; the body's own code then decides), `hdrs` its headers (may be NULL),
 * `body` its bytes (any format; may be NULL). provider/model name the target in the message
 * (may be NULL). Always fills `out`; returns 0 (-1 only when out is NULL). */
int xl_map_upstream_error(int status, const struct http_hdrs *hdrs, const char *body, size_t len,
                          const char *provider, const char *model, struct xl_error *out);
/* Parse a duration ("17s", "0.5s", "6m0s", "250ms", "1h2m") into ms; -1 when unparseable. */
long xl_parse_duration_ms(const char *s);
/* Mask credentials (sk-..., AIza..., Bearer ..., key=...) in place. */
void xl_mask_secrets(char *s);
/* The Anthropic error body {"type":"error","error":{"type","message"}} for `e` into b. */
void xl_error_body(struct xl_buf *b, const struct xl_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Misc. */
/* Append a header to hdrs (copies; the same layout as http.h's http_hdrs_add, which lives in the
 * lead's http.c). -1 on OOM. */
int xl_hdrs_add(struct http_hdrs *h, const char *name, const char *value);
/* true for headers that must never go upstream (§0.2.2): authorization, x-api-key, cookie,
 * anthropic-*, x-stainless-*, x-claude-code-*, x-app, hop-by-hop and framing headers. */
bool xl_header_is_private(const char *name);
/* Case-insensitive host of a URL into out (lower-cased); "" when none. */
void xl_url_host(const char *url, char *out, size_t outsz);

#endif
