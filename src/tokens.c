/* tokens: a cheap estimate of the input tokens of an Anthropic Messages request.
 *
 * Method. No tokenizer is shipped (Claude's is not public and none is available offline), so
 * the estimate follows Anthropic's documented rule of thumb (about 3.5 characters of English per
 * token) and the shapes a BPE tokenizer produces, in one linear pass over each string with no
 * allocation:
 *   - a run of ASCII letters costs one token per started 4 letters ("the" 1, "quick" 2,
 *     "configuration" 4): on English prose that gives 3.3-3.6 characters per token;
 *   - a run of digits costs one token per started 3 digits (tokenizers split numbers in threes);
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
#include <string.h>

#define TOKENS_TOOL_PROMPT 346 /* Anthropic: tool-use system prompt, tool_choice auto/none */
#define TOKENS_IMAGE 1600      /* Anthropic: ~1.15 megapixel image, the size cap before resize */
#define TOKENS_DOCUMENT 1600   /* unknown-size document: one image-sized guess */
#define TOKENS_FRAME 4         /* role / block framing */

long tokens_text(const char *s, size_t len) {
    long t = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i + 1;
            while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) j++;
            t += (long)((j - i + 3) / 4);
            i = j;
        } else if (c >= '0' && c <= '9') {
            size_t j = i + 1;
            while (j < len && s[j] >= '0' && s[j] <= '9') j++;
            t += (long)((j - i + 2) / 3);
            i = j;
        } else if (c == ' ' || c == '\t') {
            size_t j = i + 1;
            while (j < len && (s[j] == ' ' || s[j] == '\t')) j++;
            if (j - i > 1) t += (long)((j - i + 3) / 4);
            i = j;
        } else if (c == '\r') {
            i++;
        } else if (c < 0x80) {
            t++; /* newline, punctuation, control */
            i++;
        } else {
            t++; /* one code point: skip its continuation bytes */
            i++;
            while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        }
    }
    return t;
}

static long str_tokens(const char *s) { return s ? tokens_text(s, strlen(s)) : 0; }

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
