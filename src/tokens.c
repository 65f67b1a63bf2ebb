/* tokens: a cheap estimate of the input tokens of an Anthropic Messages request.
 *
 * Method. No tokenizer is shipped (Claude's is not public and none is available offline), so
 * the estimate follows Anthropic's documented rule of thumb (about 3.5 characters of English per
 * token) and the shapes a BPE tokenizer produces, in one linear, branch-free pass over each
 * string (two table loads and an add per byte, ~0.3 ns/byte) with no allocation:
 *   - a run of ASCII letters costs one token per started 4 letters ("the" 1, "quick" 2,
 *     "configuration" 4), counted as its average, L/4 + 3/8 (the sum over a text is what
 *     matters): on English prose that gives 3.3-3.6 characters per token;
 *   - a run of digits costs one token per started 3 digits (tokenizers split numbers in
 *     threes), counted as L/3 + 1/3;
 *   - a single space before a word is free (it merges with the word); a run of 2+ spaces or
 *     tabs costs one token per 4; every newline costs one;
 *   - every other ASCII character (punctuation, quotes, braces) costs one token: this is what
 *     makes JSON, code and schemas denser than prose (2-3 characters per token);
 *   - every non-ASCII code point costs one token (CJK, emoji, accented letters).
 * JSON values (tool input, tool schemas) are walked as the serialised text would read: a key
 * costs its text plus 2 (quotes, colon, comma merge into about two tokens), a string value its
 * text plus 1, a number 1-3, a container 1.
 * Fixed costs from Anthropic's documentation: the tool-use system prompt that the API adds when
 * tools are sent (346 tokens), an image (up to ~1,600 tokens; its size is unknown here, so
 * 1,600), about 4 tokens of framing per message and per content block.
 *
 * What counts: system (string or text blocks), every message (role:"system" ones included):
 * text, tool_use name and input, tool_result content, thinking text (not signatures, not
 * redacted_thinking data), images; tool definitions that will be sent: a tool with
 * `defer_loading: true` only when a tool_reference block in the conversation names it.
 *
 * Expected error: the rules are calibrated by hand on prose, code and JSON-schema shapes, not
 * against Claude's tokenizer (unavailable offline); expect within about +-25% on typical Claude
 * Code requests (prose system prompt + JSON tool schemas), more on unusual text (long base64
 * strings, long hex ids: each counts as letter/digit runs). It is an estimate for routing
 * (long-context threshold) and count_tokens, not a bill. */
#include "tokens.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Byte classes for the scan (enum tokens_class in tokens.h). The raw-JSON scanner (reqscan.c)
 * reads the same table with four bytes marked apart: NUL, '"' and '\\' stop its string loop, and
 * '<' is looked at for the subagent tag. */
#define R4(c) c, c, c, c
#define R16(c) R4(c), R4(c), R4(c), R4(c)
#define CLASS_TABLE(nul, quote, bslash, lt)                                                           \
    {/* 0x00 NUL ends a C string (and counts as punctuation inside a sized text) */              \
     nul, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT,      \
     TOKC_PUNCT, TOKC_SPACE /* \t */, TOKC_PUNCT /* \n */, TOKC_PUNCT, TOKC_PUNCT,                  \
     TOKC_SKIP /* \r */, TOKC_PUNCT, TOKC_PUNCT, R16(TOKC_PUNCT),                                 \
     /* 0x20 */ TOKC_SPACE, TOKC_PUNCT, quote, TOKC_PUNCT, R4(TOKC_PUNCT), R4(TOKC_PUNCT),         \
     R4(TOKC_PUNCT),                                                                             \
     /* 0x30 */ R4(TOKC_DIGIT), R4(TOKC_DIGIT), TOKC_DIGIT, TOKC_DIGIT, TOKC_PUNCT, TOKC_PUNCT,   \
     lt, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT,                                                     \
     /* 0x40 */ TOKC_PUNCT, TOKC_ALPHA, TOKC_ALPHA, TOKC_ALPHA, R4(TOKC_ALPHA), R4(TOKC_ALPHA),   \
     R4(TOKC_ALPHA),                                                                             \
     /* 0x50 */ R4(TOKC_ALPHA), R4(TOKC_ALPHA), TOKC_ALPHA, TOKC_ALPHA, TOKC_ALPHA, TOKC_PUNCT,   \
     bslash, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT,                                                 \
     /* 0x60 */ TOKC_PUNCT, TOKC_ALPHA, TOKC_ALPHA, TOKC_ALPHA, R4(TOKC_ALPHA), R4(TOKC_ALPHA),   \
     R4(TOKC_ALPHA),                                                                             \
     /* 0x70 */ R4(TOKC_ALPHA), R4(TOKC_ALPHA), TOKC_ALPHA, TOKC_ALPHA, TOKC_ALPHA, TOKC_PUNCT,   \
     R4(TOKC_PUNCT),                                                                             \
     /* 0x80-0xBF continuation bytes */ R16(TOKC_CONT), R16(TOKC_CONT), R16(TOKC_CONT),          \
     R16(TOKC_CONT),                                                                             \
     /* 0xC0-0xFF lead bytes */ R16(TOKC_LEAD), R16(TOKC_LEAD), R16(TOKC_LEAD), R16(TOKC_LEAD)}

const unsigned char tokens_class[256] = CLASS_TABLE(TOKC_END, TOKC_PUNCT, TOKC_PUNCT, TOKC_PUNCT);
const unsigned char tokens_rawclass[256] =
    CLASS_TABLE(TOKC_RAW_NUL, TOKC_RAW_QUOTE, TOKC_RAW_BSLASH, TOKC_RAW_LT);

/* A run of L letters costs ceil(L/4), on average L/4 + 3/8: each letter adds 6/24 and each run
 * start 9/24. Digits (ceil(L/3)): 8/24 each and 8/24 per run. A single space is free, longer
 * runs cost one per four: 6/24 per space, -6/24 per run. Punctuation and each non-ASCII code
 * point (its lead byte): one token. tokens_step[prev][cur] holds the cost of a byte of class cur
 * after one of class prev, so the loop is two table loads and an add per byte. */
#define U TOKENS_UNIT
#define BYTE_COST(c)                                                                             \
    ((c) == TOKC_ALPHA   ? 6                                                                     \
     : (c) == TOKC_DIGIT ? 8                                                                     \
     : (c) == TOKC_SPACE ? 6                                                                     \
     : (c) == TOKC_END || (c) == TOKC_PUNCT || (c) == TOKC_LEAD ? U                              \
                                                                : 0)
#define RUN_COST(c) ((c) == TOKC_ALPHA ? 9 : (c) == TOKC_DIGIT ? 8 : (c) == TOKC_SPACE ? -6 : 0)
#define STEP(p, c) (BYTE_COST(c) + ((p) != (c)) * RUN_COST(c))
#define STEP_ROW(p)                                                                              \
    {STEP(p, 0), STEP(p, 1), STEP(p, 2), STEP(p, 3), STEP(p, 4), STEP(p, 5), STEP(p, 6), STEP(p, 7)}

const signed char tokens_step[TOKC_N][TOKC_N] = {STEP_ROW(0), STEP_ROW(1), STEP_ROW(2),
                                                 STEP_ROW(3), STEP_ROW(4), STEP_ROW(5),
                                                 STEP_ROW(6), STEP_ROW(7)};

static long scan(const unsigned char *s, size_t len) {
    long t = 0;
    unsigned prev = TOKC_END;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) { /* four bytes a step: the loads do not wait on each other */
        unsigned k0 = tokens_class[s[i]], k1 = tokens_class[s[i + 1]],
                 k2 = tokens_class[s[i + 2]], k3 = tokens_class[s[i + 3]];
        t += tokens_step4(prev, k0, k1, k2, k3);
        prev = k3;
    }
    for (; i < len; i++) {
        unsigned c = tokens_class[s[i]];
        t += tokens_step[prev][c];
        prev = c;
    }
    return tokens_round(t);
}

long tokens_text(const char *s, size_t len) {
    if (!s) return 0;
    return scan((const unsigned char *)s, len);
}

static long str_tokens(const char *s) { return s ? scan((const unsigned char *)s, strlen(s)) : 0; }

/* A JSON value as its serialised text would tokenize. */
static long json_tokens(const cJSON *v) {
    if (!v) return 0;
    if (cJSON_IsString(v)) return 1 + str_tokens(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d < 0) d = -d;
        return d < 1000 ? 1 : d < 1e6 ? 2 : 3;
    }
    if (cJSON_IsBool(v) || cJSON_IsNull(v)) return 1;
    long t = 1;
    bool obj = cJSON_IsObject(v);
    for (const cJSON *c = v->child; c; c = c->next) {
        if (obj) t += 2 + str_tokens(c->string);
        t += json_tokens(c);
    }
    return t;
}

/* Text of a `system` value or a message content: a string or an array of blocks. */
static long content_tokens(const cJSON *content);

static long block_tokens(const cJSON *b) {
    if (cJSON_IsString(b)) return str_tokens(b->valuestring);
    if (!cJSON_IsObject(b)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "";
    long t = TOKENS_FRAME;
    if (strcmp(ty, "text") == 0) {
        t += str_tokens(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "text")));
    } else if (strcmp(ty, "thinking") == 0) {
        t += str_tokens(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "thinking")));
    } else if (strcmp(ty, "tool_use") == 0 || strcmp(ty, "server_tool_use") == 0) {
        t += str_tokens(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name")));
        t += json_tokens(cJSON_GetObjectItemCaseSensitive(b, "input"));
    } else if (strcmp(ty, "tool_result") == 0 || strcmp(ty, "web_search_tool_result") == 0) {
        t += content_tokens(cJSON_GetObjectItemCaseSensitive(b, "content"));
    } else if (strcmp(ty, "tool_reference") == 0) {
        t += str_tokens(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "tool_name")));
    } else if (strcmp(ty, "image") == 0) {
        t += TOKENS_IMAGE;
    } else if (strcmp(ty, "document") == 0) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(src, "data");
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(src, "content");
        if (cJSON_IsString(data) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(src, "type")) &&
            strcmp(cJSON_GetObjectItemCaseSensitive(src, "type")->valuestring, "text") == 0)
            t += str_tokens(data->valuestring);
        else if (inner)
            t += content_tokens(inner);
        else
            t += TOKENS_DOCUMENT;
    }
    /* redacted_thinking (opaque data), unknown types: framing only */
    return t;
}

static long content_tokens(const cJSON *content) {
    if (cJSON_IsString(content)) return str_tokens(content->valuestring);
    long t = 0;
    if (cJSON_IsArray(content))
        for (const cJSON *b = content->child; b; b = b->next) t += block_tokens(b);
    return t;
}

/* Does a tool_reference block anywhere in the messages name `name`? A linear scan of the
 * tool_result contents; called only for deferred tools (a handful). */
static bool referenced(const cJSON *messages, const char *name) {
    for (const cJSON *m = messages ? messages->child : NULL; m; m = m->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsArray(content)) continue;
        for (const cJSON *b = content->child; b; b = b->next) {
            const cJSON *inner = cJSON_GetObjectItemCaseSensitive(b, "content");
            if (!cJSON_IsArray(inner)) continue;
            for (const cJSON *r = inner->child; r; r = r->next) {
                const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "type"));
                const char *tn =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "tool_name"));
                if (ty && tn && strcmp(ty, "tool_reference") == 0 && strcmp(tn, name) == 0)
                    return true;
            }
        }
    }
    return false;
}

long tokens_estimate(const cJSON *body) {
    if (!cJSON_IsObject(body)) return 0;
    long t = 0;
    t += content_tokens(cJSON_GetObjectItemCaseSensitive(body, "system"));

    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (cJSON_IsArray(messages))
        for (const cJSON *m = messages->child; m; m = m->next)
            t += TOKENS_FRAME + content_tokens(cJSON_GetObjectItemCaseSensitive(m, "content"));

    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    bool any_tool = false;
    if (cJSON_IsArray(tools)) {
        for (const cJSON *tool = tools->child; tool; tool = tool->next) {
            if (!cJSON_IsObject(tool)) continue;
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tool, "name"));
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tool, "defer_loading")) &&
                !(name && referenced(messages, name)))
                continue;
            any_tool = true;
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(tool, "input_schema");
            t += TOKENS_FRAME + str_tokens(name);
            t += str_tokens(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tool, "description")));
            if (schema) t += json_tokens(schema);
        }
    }
    if (any_tool) t += TOKENS_TOOL_PROMPT;
    return t;
}
