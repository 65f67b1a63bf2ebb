/* fuzz_summary: what the policy sees of a request, computed from any JSON body: the
 * <CCR-SUBAGENT-MODEL> tag scanner (which edits the body in place), thinking level, session id
 * from headers or metadata.user_id. Input: byte 0 = header set, then the body. */
#include <assert.h>

#include "fuzz.h"
#include "summary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    cJSON *body = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!body) return 0;
    struct http_hdrs h;
    http_hdrs_init(&h);
    if (mode & 1) http_hdrs_add(&h, "x-claude-code-session-id", "0b6f-fuzz");
    if (mode & 2) http_hdrs_add(&h, "x-claude-code-agent-id", "agent-7");
    if (mode & 4) http_hdrs_add(&h, "anthropic-beta", "context-1m-2025-08-07");
    struct summary s;
    struct err e = {0};
    if (summary_build(body, &h, mode & 8 ? "/v1/messages/count_tokens" : "/v1/messages", &s,
                      &e) == 0) {
        assert(s.model && s.thinking_level && s.tokens >= 0);
        for (size_t i = 0; i < s.ntools; i++) assert(s.tools[i]);
        if (s.subagent_model) assert(s.subagent_model[0] && s.body_modified);
        /* the edited body still prints (the relay re-prints it when body_modified) */
        char *p = cJSON_PrintUnformatted(body);
        free(p);
        summary_free(&s);
    } else {
        assert(e.msg[0]);
    }
    http_hdrs_free(&h);
    cJSON_Delete(body);
    return 0;
}
