/* normalize: the §0.3 normalisation pass (conversion.md N1-N12, addendum R1-R4), run once per
 * translated request before an encoder (openai, gemini) writes the upstream body.
 *
 * Input: the client's Anthropic request (parsed). Output: a canonical conversation
 *   - system text blocks without the billing block (N1), cache hints noted (N9);
 *   - messages with roles user / assistant / system, in order, where:
 *       empty text dropped and empty messages removed (N3); same-role neighbours merged (N11;
 *       system messages are never merged into user or assistant messages: they keep their
 *       position, R1); every assistant tool_use has exactly one tool_result in the user message
 *       right after it, in call order, before that message's other blocks (N4, N5: duplicates
 *       renamed, missing results synthesised, orphans turned into text); tool history
 *       textualised when no tools are declared (N6); thinking classified (N7); tool ids
 *       canonical (N8); foreign block types turned into text or dropped (N10); a trailing
 *       assistant dropped unless prefill is allowed (N12); tool_reference blocks turned into
 *       "Tool loaded: <name>" text (R4);
 *   - the tools to declare: custom tools in order, duplicates dropped, deferred tools kept only
 *     when a tool_reference names them, DeferredToolPlaceholder never (R3); server tools flagged;
 *   - the thinking intent (§1.6 table) and display (R5).
 *
 * Ownership and lifetimes: the conversation BORROWS from the request body (strings, cJSON
 * nodes: `text`, `src`, `input`, schemas): the body must outlive it. What the pass creates
 * (merged block arrays, synthesised text, canonical ids, decoded carriers) lives in an arena
 * owned by the conversation. xn_free releases everything; nothing in it is freed separately.
 * Cost: one walk of the tree, no copy of any text or schema. */
#ifndef CCRELAY_PROVIDER_NORMALIZE_H
#define CCRELAY_PROVIDER_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "providers/util.h"

enum xn_role { XN_USER = 0, XN_ASSISTANT, XN_SYSTEM };

enum xn_kind {
    XN_TEXT = 0,    /* text, len */
    XN_IMAGE,       /* src: the Anthropic image block (source base64 | url | file) */
    XN_DOCUMENT,    /* src: the Anthropic document block (source base64 | text | content | url) */
    XN_TOOL_USE,    /* assistant: id, raw_id, name, input */
    XN_TOOL_RESULT, /* user: id, raw_id, is_error, parts */
    XN_THINKING,    /* assistant: text = thinking text, signature, origin, carrier */
    XN_REDACTED,    /* assistant: signature = data, origin, carrier */
};

/* Where a thinking block comes from (N7). */
enum xn_origin {
    XN_ORIGIN_UNSIGNED = 0, /* empty signature */
    XN_ORIGIN_CCRELAY,      /* ccrelay1. carrier: `carrier` is decoded */
    XN_ORIGIN_FOREIGN,      /* Anthropic-native (opaque, only for Anthropic upstreams) */
};

struct xn_block {
    enum xn_kind kind;
    /* N9: the block carried cache_control (`cache_control` is that object, borrowed). */
    bool cache;
    const cJSON *cache_control;
    /* The client's block (borrowed); NULL for blocks the pass synthesised. */
    const cJSON *src;

    /* XN_TEXT: the text (not NUL-terminated in general: use len). XN_THINKING: thinking text. */
    const char *text;
    size_t len;

    /* XN_TOOL_USE / XN_TOOL_RESULT */
    const char *id;     /* canonical id for OpenAI-style targets (N8; N4 renaming applied) */
    const char *raw_id; /* the id as the client sent it (Gemini reads its segments); may equal id */
    const char *name;   /* TOOL_USE: client tool name (map it with xl_tool_name_upstream);
                         * TOOL_RESULT: the name of the call it answers */
    const cJSON *input; /* TOOL_USE: the input object (borrowed); NULL means {} */
    bool is_error;      /* TOOL_RESULT */
    bool synthetic;     /* TOOL_RESULT synthesised by N5 (no result was provided) */
    struct xn_block *parts; /* TOOL_RESULT content: XN_TEXT / XN_IMAGE / XN_DOCUMENT; */
    size_t nparts;          /*   empty when the result had no content */

    /* XN_THINKING / XN_REDACTED */
    const char *signature; /* signature (thinking) or data (redacted); "" when absent */
    enum xn_origin origin;
    const struct xl_carrier *carrier; /* decoded when origin == XN_ORIGIN_CCRELAY, else NULL */
};

struct xn_msg {
    enum xn_role role;
    struct xn_block *blocks;
    size_t nblocks;
    /* XN_SYSTEM only: the message comes after the last user message (R1/R2: the trailing
     * reminder that changes every request; never hoist it into the leading system prompt). */
    bool trailing;
    /* XN_USER: the message answers the assistant message right before it (its first
     * nresults blocks are TOOL_RESULT in call order). */
    size_t nresults;
};

struct xn_sys {
    const char *text; /* borrowed, NUL-terminated */
    size_t len;
    bool cache;
    const cJSON *cache_control;
};

struct xn_tool {
    const cJSON *src;         /* the client's tool object */
    const char *name;         /* client name */
    const char *description;  /* NULL when absent */
    const cJSON *schema;      /* input_schema, NULL when absent */
    const char *server_type;  /* NULL for a custom tool, else its `type` (web_search_...) */
    bool cache;
};

/* §1.6 intent table. */
enum xn_intent {
    XN_THINK_DEFAULT = 0, /* thinking absent: send nothing */
    XN_THINK_OFF,         /* disabled (wins over any effort) */
    XN_THINK_BUDGET,      /* enabled + budget_tokens */
    XN_THINK_EFFORT,      /* adaptive + output_config.effort */
    XN_THINK_ON,          /* adaptive without effort (or enabled without budget) */
};
enum xn_display {
    XN_DISPLAY_DEFAULT = 0, /* absent or "summarized": stream the reasoning text */
    XN_DISPLAY_OMITTED,     /* "omitted": empty thinking text, carrier signature only */
    XN_DISPLAY_UPDATES,     /* "updates": like omitted unless knob updates_show_reasoning */
};
struct xn_thinking {
    enum xn_intent intent;
    long budget;        /* XN_THINK_BUDGET */
    const char *effort; /* XN_THINK_EFFORT: low|medium|high|xhigh|max as sent (borrowed) */
    enum xn_display display;
};

struct xn_opts {
    bool textualize_orphan_tool_history; /* N6; knob textualize_orphan_tool_history, default true */
    bool supports_prefill;               /* N12; knob supports_prefill, default false */
};
/* The defaults above. */
void xn_opts_default(struct xn_opts *o);

struct xn_arena;

struct xn_conv {
    struct xn_sys *sys;
    size_t nsys;
    struct xn_msg *msgs;
    size_t nmsgs;
    struct xn_tool *tools; /* what to declare (custom and server tools) */
    size_t ntools;
    struct xn_thinking thinking;
    size_t last_user;       /* index of the last user message (R2); nmsgs when none */
    bool tools_textualized; /* N6 applied */
    bool prefill_dropped;   /* N12 dropped a trailing assistant message */
    struct xn_arena *arena; /* owns every array and synthesised string above */
};

/* Run the pass. Returns 0, or -1 with err: ERR_INVALID (400) for a request the pass cannot
 * accept (messages missing or not an array, nothing left after N3: "messages: at least one
 * non-empty message is required"), ERR_NOMEM. On error `out` holds nothing to free. */
int xn_normalize(const cJSON *body, const struct xn_opts *opts, struct xn_conv *out,
                 struct err *err);
void xn_free(struct xn_conv *c);

/* The §1.6 intent of a request alone (also filled by xn_normalize). */
void xn_thinking_of(const cJSON *body, struct xn_thinking *out);

/* Allocate from the conversation's arena (zeroed); for encoders that need scratch memory that
 * lives as long as the conversation. NULL on OOM. */
void *xn_alloc(struct xn_conv *c, size_t n);

#endif
