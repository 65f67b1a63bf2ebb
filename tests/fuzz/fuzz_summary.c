/* fuzz_summary: what the policy sees of a request, computed from any body, by both builders:
 * summary_build on the cJSON tree (the <CCR-SUBAGENT-MODEL> tag scanner edits the body in place;
 * thinking level; session id from headers or metadata.user_id) and summary_scan on the raw text
 * (reqscan.c). The two must agree: on whether the body is a Messages request, and field for
 * field when it is. Input: byte 0 = header set, then the body. */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "summary.h"

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_same(const struct summary *t, const struct summary *s) {
    assert(same_str(t->model, s->model));
    assert(t->tokens == s->tokens);
    assert(t->stream == s->stream);
    assert(same_str(t->thinking_type, s->thinking_type));
    assert(t->thinking_budget == s->thinking_budget);
    assert(same_str(t->effort, s->effort));
    assert(same_str(t->thinking_level, s->thinking_level));
    assert(t->web_search == s->web_search);
    assert(t->images == s->images);
    assert(t->ntools == s->ntools);
    for (size_t i = 0; i < t->ntools; i++)
        assert(same_str(t->tools[i], s->tools[i]));
    assert(same_str(t->session_id, s->session_id));
    assert(same_str(t->agent_id, s->agent_id));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const char *raw = (const char *)data + 1;
    struct http_hdrs h;
    http_hdrs_init(&h);
    if (mode & 1) http_hdrs_add(&h, "x-claude-code-session-id", "0b6f-fuzz");
    if (mode & 2) http_hdrs_add(&h, "x-claude-code-agent-id", "agent-7");
    if (mode & 4) http_hdrs_add(&h, "anthropic-beta", "context-1m-2025-08-07");
    const char *path = mode & 8 ? "/v1/messages/count_tokens" : "/v1/messages";

    struct summary s;
    struct err se = {0};
    int src = summary_scan(raw, size - 1, &h, path, &s, &se);
    assert(src == 0 || src == 1 || (src == -1 && se.msg[0]));

    cJSON *body = cJSON_ParseWithLengthOpts(raw, size - 1, NULL, 0);
    bool request = cJSON_IsObject(body) &&
                   cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "model")) &&
                   cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "messages"));
    if (src != 1) assert((src == 0) == request); /* scan and tree agree on what is a request */

    struct summary t;
    struct err e = {0};
    if (body && summary_build(body, &h, path, &t, &e) == 0) {
        assert(t.model && t.thinking_level && t.tokens >= 0);
        for (size_t i = 0; i < t.ntools; i++)
            assert(t.tools[i]);
        if (t.subagent_model) assert(t.subagent_model[0] && t.body_modified);
        if (t.body_modified) assert(src == 1); /* a tag to remove is never missed */
        if (src == 0) assert_same(&t, &s);
        /* the edited body still prints (the relay re-prints it when body_modified) */
        char *p = cJSON_PrintUnformatted(body);
        free(p);
        summary_free(&t);
    } else if (body) {
        assert(e.msg[0]);
    }
    if (src == 0) summary_free(&s);
    http_hdrs_free(&h);
    cJSON_Delete(body);
    return 0;
}
