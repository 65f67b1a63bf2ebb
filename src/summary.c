/* summary: what the policy sees of a request (see summary.h). One pass over the body's top
 * level and the last user turn; strings are borrowed from the body and the headers. */
#include "summary.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tokens.h"

#define TAG_OPEN SUMMARY_SUBAGENT_TAG
#define TAG_CLOSE "</CCR-SUBAGENT-MODEL>"

static const char *const LEVELS[] = {"off", "low", "medium", "high", "xhigh", "max"};

const char *summary_thinking_level(const char *type, long budget, const char *effort) {
    if (!type || strcmp(type, "disabled") == 0) return "off";
    if (effort)
        for (size_t i = 1; i < sizeof LEVELS / sizeof LEVELS[0]; i++)
            if (strcasecmp(effort, LEVELS[i]) == 0) return LEVELS[i];
    if (strcmp(type, "enabled") == 0 && budget >= 0)
        return budget < 4096 ? "low" : budget < 16384 ? "medium" : "high";
    return "medium"; /* adaptive (or enabled without a budget) and no usable effort */
}

static const char *hdr(const struct http_hdrs *h, const char *name) {
    if (!h) return NULL;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].name && strcasecmp(h->v[i].name, name) == 0) return h->v[i].value;
    return NULL;
}

/* Remove the first <CCR-SUBAGENT-MODEL>...</CCR-SUBAGENT-MODEL> from the NUL-terminated text s
 * (in place: the text only shrinks); the first value found is kept. Returns 1 when found, 0 when
 * not, -1 on OOM. */
static int take_one_tag(char *s, struct summary *out) {
    char *open = strstr(s, TAG_OPEN);
    if (!open) return 0;
    char *val = open + strlen(TAG_OPEN);
    char *close = strstr(val, TAG_CLOSE);
    if (!close) return 0;
    /* trim the value */
    char *a = val, *b = close;
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\t' || b[-1] == '\r')) b--;
    if (!out->subagent_model && b > a) {
        out->subagent_model = strndup(a, (size_t)(b - a));
        if (!out->subagent_model) return -1;
    }
    char *end = close + strlen(TAG_CLOSE);
    memmove(open, end, strlen(end) + 1);
    out->body_modified = true;
    return 1;
}

/* Remove every tag from string node `v`. */
static int take_tag(cJSON *v, struct summary *out) {
    if (!cJSON_IsString(v) || !v->valuestring) return 0;
    int found = 0, rc;
    while ((rc = take_one_tag(v->valuestring, out)) == 1) found = 1;
    return rc < 0 ? -1 : found;
}

/* A `system` value or a message content: the string itself or its text blocks. */
static int take_tag_content(cJSON *content, struct summary *out) {
    if (cJSON_IsString(content)) return take_tag(content, out);
    int found = 0;
    if (cJSON_IsArray(content))
        for (cJSON *b = content->child; b; b = b->next) {
            int rc = take_tag(cJSON_GetObjectItemCaseSensitive(b, "text"), out);
            if (rc < 0) return -1;
            found |= rc;
        }
    return found;
}

static bool is_image_block(const cJSON *b) {
    const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "type"));
    return ty && strcmp(ty, "image") == 0;
}

static bool content_has_image(const cJSON *content) {
    if (!cJSON_IsArray(content)) return false;
    for (const cJSON *b = content->child; b; b = b->next) {
        if (is_image_block(b)) return true;
        const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "type"));
        if (ty && strcmp(ty, "tool_result") == 0) {
            const cJSON *inner = cJSON_GetObjectItemCaseSensitive(b, "content");
            if (cJSON_IsArray(inner))
                for (const cJSON *r = inner->child; r; r = r->next)
                    if (is_image_block(r)) return true;
        }
    }
    return false;
}

static const char *role_of(const cJSON *m) {
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));
    return r ? r : "";
}

int summary_check_request(bool object, bool model_string, bool messages_array, struct err *err) {
    if (!object) return err_set(err, ERR_INVALID, "the request body must be a JSON object");
    if (!model_string) return err_set(err, ERR_INVALID, "model: a string is required");
    if (!messages_array) return err_set(err, ERR_INVALID, "messages: an array is required");
    return 0;
}

void summary_begin(struct summary *out, const struct http_hdrs *headers, const char *path) {
    memset(out, 0, sizeof *out);
    out->model = "";
    out->thinking_budget = -1;
    out->thinking_level = "off";
    out->headers = headers;
    out->path = path ? path : "";
    out->session_id = hdr(headers, "x-claude-code-session-id");
    out->agent_id = hdr(headers, "x-claude-code-agent-id");
}

int summary_finish(struct summary *out, const char *uid, struct err *err) {
    out->thinking_level =
        summary_thinking_level(out->thinking_type, out->thinking_budget, out->effort);
    /* Without the header (other clients), the session id Claude Code also puts in
     * metadata.user_id: "...\"session_id\":\"<id>\"..." (JSON in a string, 2.1.x) or
     * "user_..._session_<id>" (older). */
    if (!out->session_id) {
        const char *k = uid ? strstr(uid, "\"session_id\":\"") : NULL;
        if (k) {
            k += strlen("\"session_id\":\"");
            size_t n = strcspn(k, "\"");
            if (n && k[n] == '"' && !(out->session_buf = strndup(k, n))) {
                summary_free(out);
                return err_set(err, ERR_NOMEM, "summary: out of memory");
            }
            out->session_id = out->session_buf;
        } else if (uid && (k = strstr(uid, "_session_")) && k[9]) {
            out->session_id = k + 9;
        }
    }
    return 0;
}

int summary_build(cJSON *body, const struct http_hdrs *headers, const char *path,
                  struct summary *out, struct err *err) {
    summary_begin(out, headers, path);
    if (!cJSON_IsObject(body))
        return err_set(err, ERR_INVALID, "request body: expected a JSON object");

    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "model"));
    if (model) out->model = model;
    out->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"));

    const cJSON *thinking = cJSON_GetObjectItemCaseSensitive(body, "thinking");
    if (cJSON_IsObject(thinking)) {
        out->thinking_type =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(thinking, "type"));
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(thinking, "budget_tokens");
        if (cJSON_IsNumber(bt) && bt->valuedouble >= 0 && bt->valuedouble < 1e12)
            out->thinking_budget = (long)bt->valuedouble;
    }
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(body, "output_config");
    out->effort = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(oc, "effort"));

    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    if (cJSON_IsArray(tools)) {
        size_t n = (size_t)cJSON_GetArraySize(tools);
        if (n) {
            out->tools = calloc(n, sizeof *out->tools);
            if (!out->tools) return err_set(err, ERR_NOMEM, "summary: out of memory (tools)");
        }
        for (const cJSON *t = tools->child; t; t = t->next) {
            const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "type"));
            if (ty && strncmp(ty, "web_search", 10) == 0) out->web_search = true;
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
            if (name && out->ntools < n) out->tools[out->ntools++] = name;
        }
    }

    /* The subagent tag: system blocks, role:"system" messages, the first user message. */
    if (take_tag_content(cJSON_GetObjectItemCaseSensitive(body, "system"), out) < 0) goto oom;
    cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (cJSON_IsArray(messages)) {
        bool first_user = true;
        for (cJSON *m = messages->child; m; m = m->next) {
            const char *role = role_of(m);
            bool sys = strcmp(role, "system") == 0;
            bool user = strcmp(role, "user") == 0;
            if (sys || (user && first_user))
                if (take_tag_content(cJSON_GetObjectItemCaseSensitive(m, "content"), out) < 0)
                    goto oom;
            if (user) first_user = false;
        }
        /* The last user turn: the last role:"user" message (trailing system ones skipped). */
        for (cJSON *m = messages->child ? messages->child->prev : NULL; m; m = m->prev) {
            if (strcmp(role_of(m), "user") == 0) {
                out->images = content_has_image(cJSON_GetObjectItemCaseSensitive(m, "content"));
                break;
            }
            if (m == messages->child) break;
        }
    }

    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    if (summary_finish(out, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "user_id")),
                       err) != 0)
        return -1;
    out->tokens = tokens_estimate(body);
    return 0;
oom:
    summary_free(out);
    return err_set(err, ERR_NOMEM, "summary: out of memory");
}

void summary_free(struct summary *s) {
    if (!s) return;
    free(s->tools);
    s->tools = NULL;
    s->ntools = 0;
    free(s->subagent_model);
    s->subagent_model = NULL;
    free(s->session_buf);
    s->session_buf = NULL;
    summary_arena_free(s->arena);
    s->arena = NULL;
}
