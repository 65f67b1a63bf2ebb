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

#define TOKENS_TOOL_PROMPT 346 /* Anthropic: tool-use system prompt, tool_choice auto/none */
#define TOKENS_IMAGE 1600      /* Anthropic: ~1.15 megapixel image, the size cap before resize */
#define TOKENS_DOCUMENT 1600   /* unknown-size document: one image-sized guess */
#define TOKENS_FRAME 4         /* role / block framing */

/* Byte classes for the scan. */
enum { C_END, C_PUNCT, C_ALPHA, C_DIGIT, C_SPACE, C_SKIP, C_CONT, C_LEAD };

#define R4(c) c, c, c, c
#define R16(c) R4(c), R4(c), R4(c), R4(c)
static const unsigned char CLASS[256] = {
    /* 0x00 NUL ends a C string (and counts as punctuation inside a sized text) */
    C_END, C_PUNCT, C_PUNCT, C_PUNCT, C_PUNCT, C_PUNCT, C_PUNCT, C_PUNCT,
    C_PUNCT, C_SPACE /* \t */, C_PUNCT /* \n */, C_PUNCT, C_PUNCT, C_SKIP /* \r */, C_PUNCT, C_PUNCT,
    R16(C_PUNCT),
    /* 0x20 */ C_SPACE, C_PUNCT, C_PUNCT, C_PUNCT, R4(C_PUNCT), R4(C_PUNCT), R4(C_PUNCT),
    /* 0x30 */ R4(C_DIGIT), R4(C_DIGIT), C_DIGIT, C_DIGIT, C_PUNCT, C_PUNCT, R4(C_PUNCT),
    /* 0x40 */ C_PUNCT, C_ALPHA, C_ALPHA, C_ALPHA, R4(C_ALPHA), R4(C_ALPHA), R4(C_ALPHA),
    /* 0x50 */ R4(C_ALPHA), R4(C_ALPHA), C_ALPHA, C_ALPHA, C_ALPHA, C_PUNCT, R4(C_PUNCT),
    /* 0x60 */ C_PUNCT, C_ALPHA, C_ALPHA, C_ALPHA, R4(C_ALPHA), R4(C_ALPHA), R4(C_ALPHA),
    /* 0x70 */ R4(C_ALPHA), R4(C_ALPHA), C_ALPHA, C_ALPHA, C_ALPHA, C_PUNCT, R4(C_PUNCT),
    /* 0x80-0xBF continuation bytes */ R16(C_CONT), R16(C_CONT), R16(C_CONT), R16(C_CONT),
    /* 0xC0-0xFF lead bytes */ R16(C_LEAD), R16(C_LEAD), R16(C_LEAD), R16(C_LEAD),
};

/* One branch-free pass over s[0..len), in 24ths of a token. A run of L letters costs
 * ceil(L/4), on average L/4 + 3/8: each letter adds 6/24 and each run start 9/24. Digits
 * (ceil(L/3)): 8/24 each and 8/24 per run. A single space is free, longer runs cost one per
 * four: 6/24 per space, -6/24 per run. Punctuation and each non-ASCII code point (its lead
 * byte): one token. STEP[prev][cur] holds the cost of a byte of class cur after one of class
 * prev, so the loop is two table loads and an add per byte. */
#define U 24
static const signed char BYTE_COST[C_LEAD + 1] = {
    [C_END] = U, [C_PUNCT] = U, [C_ALPHA] = 6, [C_DIGIT] = 8, [C_SPACE] = 6, [C_LEAD] = U};
static const signed char RUN_COST[C_LEAD + 1] = {[C_ALPHA] = 9, [C_DIGIT] = 8, [C_SPACE] = -6};
#define STEP_ROW(p)                                                                              \
    {                                                                                            \
        BYTE_COST[0] + (p != 0) * RUN_COST[0], BYTE_COST[1] + (p != 1) * RUN_COST[1],             \
            BYTE_COST[2] + (p != 2) * RUN_COST[2], BYTE_COST[3] + (p != 3) * RUN_COST[3],         \
            BYTE_COST[4] + (p != 4) * RUN_COST[4], BYTE_COST[5] + (p != 5) * RUN_COST[5],         \
            BYTE_COST[6] + (p != 6) * RUN_COST[6], BYTE_COST[7] + (p != 7) * RUN_COST[7]          \
    }

static long scan(const unsigned char *s, size_t len) {
    /* built once per call from the constant tables (64 bytes; the compiler folds it) */
    const signed char step[8][8] = {STEP_ROW(0), STEP_ROW(1), STEP_ROW(2), STEP_ROW(3),
                                    STEP_ROW(4), STEP_ROW(5), STEP_ROW(6), STEP_ROW(7)};
    long t = 0;
    unsigned prev = C_END;
    for (size_t i = 0; i < len; i++) {
        unsigned c = CLASS[s[i]];
        t += step[prev][c];
        prev = c;
    }
    return t > 0 ? (t + U - 1) / U : 0;
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
