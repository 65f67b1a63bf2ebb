/* openai: Chat Completions requests built from the real Claude Code fixtures are valid; upstream
 * streams (any split) become exactly Anthropic's event grammar; responses, errors, knobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/normalize.h"
#include "providers/openai.h"
#include "providers/provider.h"
#include "providers/util.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* helpers */

struct prov {
    struct cfg_provider p;
    cJSON *json;
};

static void prov_init(struct prov *pv, const char *name, const char *url, const char *json) {
    memset(pv, 0, sizeof *pv);
    pv->json = cJSON_Parse(json ? json : "{}");
    assert_non_null(pv->json);
    pv->p.name = (char *)name;
    pv->p.url = (char *)url;
    pv->p.format = FMT_OPENAI;
    pv->p.json = pv->json;
}

static void prov_free(struct prov *pv) { cJSON_Delete(pv->json); }

static void req_free(struct xl_http_request *r) {
    free(r->url);
    for (size_t i = 0; i < r->headers.n; i++) {
        free(r->headers.v[i].name);
        free(r->headers.v[i].value);
    }
    free(r->headers.v);
    if (r->body) evbuffer_free(r->body);
    memset(r, 0, sizeof *r);
}

static const char *hdr(const struct xl_http_request *r, const char *name) {
    for (size_t i = 0; i < r->headers.n; i++)
        if (strcasecmp(r->headers.v[i].name, name) == 0) return r->headers.v[i].value;
    return NULL;
}

/* Build the upstream request for `body`; returns the parsed upstream body (caller deletes) and
 * leaves the raw text in *text (caller frees) when non-NULL. */
static cJSON *build(const struct prov *pv, const char *model, const cJSON *body,
                    struct xl_http_request *out, char **text) {
    struct xl_request in = {.body = body, .provider = &pv->p, .model = model,
                            .client_model = "claude-opus-4-8", .api_key = "sk-test-key-123456"};
    memset(out, 0, sizeof *out);
    struct err e = {0};
    int rc = provider_openai.build(&in, out, &e);
    if (rc != 0) fprintf(stderr, "build failed: %s\n", e.msg);
    assert_int_equal(rc, 0);
    size_t n = evbuffer_get_length(out->body);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_copyout(out->body, s, n);
    s[n] = 0;
    cJSON *j = cJSON_Parse(s);
    if (!j) fprintf(stderr, "invalid JSON body: %.300s\n", s);
    assert_non_null(j);
    if (text) *text = s;
    else free(s);
    return j;
}

static cJSON *build_str(const struct prov *pv, const char *model, const char *req, char **text) {
    cJSON *body = cJSON_Parse(req);
    assert_non_null(body);
    struct xl_http_request out;
    cJSON *j = build(pv, model, body, &out, text);
    req_free(&out);
    cJSON_Delete(body);
    return j;
}

static const char *js(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Every fixture, several profiles: the body is valid Chat Completions, field by field. */

static bool name_ok(const char *n) {
    regex_t re;
    assert_int_equal(regcomp(&re, "^[a-zA-Z0-9_-]{1,64}$", REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, n, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void check_chat_body(const char *fx, const cJSON *req, const cJSON *up, const char *text,
                            long cap, const char *profile) {
    static const char *const allowed[] = {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "top_k", "stop", "stream", "stream_options", "tools", "tool_choice",
        "parallel_tool_calls", "reasoning", "reasoning_effort", "thinking", "reasoning_format",
        "chat_template_kwargs", "response_format", "provider", "plugins", NULL};
    const cJSON *key;
    cJSON_ArrayForEach(key, up) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(allowed[i], key->string) == 0;
        if (!ok) fail_msg("%s (%s): unexpected top-level key %s", fx, profile, key->string);
    }
    if (cJSON_GetObjectItemCaseSensitive(up, "thinking"))
        assert_string_equal(profile, "deepseek");
    /* anthropic-only strings never leak */
    static const char *const leaks[] = {"DeferredToolPlaceholder", "x-anthropic-billing-header",
                                        "\"input_schema\"", "\"defer_loading\"", "\"tool_use_id\"",
                                        "\"tool_reference\"", "\"context_management\"",
                                        "\"safeguards\"", "\"output_config\"", "\"signature\"",
                                        "\"$schema\"", NULL};
    for (size_t i = 0; leaks[i]; i++)
        if (strstr(text, leaks[i])) fail_msg("%s (%s): %s leaked upstream", fx, profile, leaks[i]);
    if (strcmp(profile, "openrouter-anthropic") != 0)
        assert_null(strstr(text, "cache_control"));
    /* max tokens clamped */
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(up, "max_tokens");
    if (!mt) mt = cJSON_GetObjectItemCaseSensitive(up, "max_completion_tokens");
    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    assert_non_null(mt);
    assert_true(mt->valuedouble <= cap);
    assert_true(mt->valuedouble <= amt->valuedouble);
    /* stream only with "stream": true (R7) */
    bool want_stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(up, "stream")), want_stream);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(up, "stream_options") != NULL, want_stream);
    /* tools */
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(up, "tools")) {
        assert_string_equal(js(t, "type"), "function");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        assert_true(name_ok(js(fn, "name")));
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        assert_string_equal(js(params, "type"), "object");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(params, "properties"));
    }
    /* messages: legal roles and order; tool calls paired */
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(up, "messages");
    assert_true(cJSON_IsArray(msgs));
    int n = cJSON_GetArraySize(msgs);
    assert_true(n >= 1);
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 0), "role"), "system");
    assert_null(strstr(js(cJSON_GetArrayItem(msgs, 0), "content") ? js(cJSON_GetArrayItem(msgs, 0), "content") : "",
                       "x-anthropic-billing-header"));
    int last_user_or_tool = -1;
    for (int i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const char *role = js(m, "role");
        assert_non_null(role);
        if (strcmp(role, "user") == 0 || strcmp(role, "tool") == 0) last_user_or_tool = i;
        if (strcmp(role, "tool") == 0) {
            const char *prev = js(cJSON_GetArrayItem(msgs, i - 1), "role");
            assert_true(strcmp(prev, "tool") == 0 || strcmp(prev, "assistant") == 0);
            assert_true(js(m, "tool_call_id") && strlen(js(m, "tool_call_id")) <= 40);
            assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "content")));
            assert_true(strlen(js(m, "content")) > 0);
            continue;
        }
        if (strcmp(role, "assistant") != 0) {
            assert_true(strcmp(role, "user") == 0 || strcmp(role, "system") == 0);
            continue;
        }
        /* no two assistants in a row */
        if (i + 1 < n) assert_string_not_equal(js(cJSON_GetArrayItem(msgs, i + 1), "role"), "assistant");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        int k = 0;
        const cJSON *call;
        cJSON_ArrayForEach(call, calls) {
            const cJSON *tm = cJSON_GetArrayItem(msgs, i + 1 + k);
            assert_non_null(tm);
            assert_string_equal(js(tm, "role"), "tool");
            assert_string_equal(js(tm, "tool_call_id"), js(call, "id"));
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
            assert_true(name_ok(js(fn, "name")));
            cJSON *args = cJSON_Parse(js(fn, "arguments"));
            assert_true(cJSON_IsObject(args));
            cJSON_Delete(args);
            k++;
        }
    }
    /* the trailing system message of the request stays after the last user/tool message */
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(req, "messages");
    const cJSON *lastreq = cJSON_GetArrayItem(rm, cJSON_GetArraySize(rm) - 1);
    if (strcmp(js(lastreq, "role"), "system") == 0) {
        const cJSON *lastup = cJSON_GetArrayItem(msgs, n - 1);
        if (strcmp(profile, "ollama") == 0) {
            /* as_user: the reminder is the end of the last user message */
            assert_string_equal(js(lastup, "role"), "user");
            /* the start of the reminder's text, up to the first character JSON escapes */
            const cJSON *rc = cJSON_GetObjectItemCaseSensitive(lastreq, "content");
            const char *rt = cJSON_IsString(rc) ? rc->valuestring : js(cJSON_GetArrayItem(rc, 0), "text");
            char want[21];
            size_t wn = 0;
            while (rt[wn] && wn < 20 && rt[wn] >= 0x20 && rt[wn] != '"' && rt[wn] != '\\') wn++;
            memcpy(want, rt, wn);
            want[wn] = 0;
            char *s = cJSON_PrintUnformatted(lastup);
            assert_non_null(strstr(s, want));
            assert_non_null(strstr(s, "<system-reminder>"));
            free(s);
        } else {
            assert_string_equal(js(lastup, "role"), "system");
            assert_true(n - 1 > last_user_or_tool);
        }
    }
}

static void fixtures_build_valid_chat_completions(void **state) {
    (void)state;
    struct {
        const char *name, *url, *model, *label;
        long cap;
    } targets[] = {
        {"generic", "http://10.0.0.5/v1/chat/completions", "qwen3-coder", "generic", 32000},
        {"openrouter", "https://openrouter.ai/api/v1/chat/completions", "x-ai/grok-4.1-fast",
         "openrouter", 32000},
        {"openrouter", "https://openrouter.ai/api/v1/chat/completions", "anthropic/claude-sonnet-4.5",
         "openrouter-anthropic", 32000},
        {"deepseek", "https://api.deepseek.com/chat/completions", "deepseek-chat", "deepseek", 8192},
        {"ollama", "http://127.0.0.1:11434/v1/chat/completions", "qwen3:8b", "ollama", 32000},
        {"groq", "https://api.groq.com/openai/v1/chat/completions", "openai/gpt-oss-120b", "groq", 32000},
    };
    int built = 0;
    for (size_t f = 0; f < TU_NFIXTURES; f++) {
        cJSON *fx = tu_fixture(tu_fixture_names[f]);
        assert_non_null(fx);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(fx, "body");
        if (!cJSON_GetObjectItemCaseSensitive(body, "max_tokens")) { /* count_tokens */
            cJSON_Delete(fx);
            continue;
        }
        for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
            struct prov pv;
            prov_init(&pv, targets[t].name, targets[t].url, "{}");
            struct xl_http_request out;
            char *text = NULL;
            cJSON *up = build(&pv, targets[t].model, body, &out, &text);
            check_chat_body(tu_fixture_names[f], body, up, text, targets[t].cap, targets[t].label);
            assert_string_equal(hdr(&out, "authorization"), "Bearer sk-test-key-123456");
            assert_string_equal(hdr(&out, "content-type"), "application/json");
            assert_string_equal(out.url, targets[t].url);
            for (size_t i = 0; i < out.headers.n; i++) {
                assert_false(strncmp(out.headers.v[i].name, "anthropic-", 10) == 0);
                assert_false(strncmp(out.headers.v[i].name, "x-stainless", 11) == 0);
                assert_false(strcmp(out.headers.v[i].name, "x-api-key") == 0);
            }
            /* deterministic: the same input gives the same bytes */
            struct xl_http_request out2;
            char *text2 = NULL;
            cJSON *up2 = build(&pv, targets[t].model, body, &out2, &text2);
            assert_string_equal(text, text2);
            cJSON_Delete(up2);
            free(text2);
            req_free(&out2);
            cJSON_Delete(up);
            free(text);
            req_free(&out);
            prov_free(&pv);
            built++;
        }
        cJSON_Delete(fx);
    }
    assert_true(built >= 19 * 6);
}

/* Specific fixture facts. */
static void fixture_toolsearch_loads_deferred_tool(void **state) {
    (void)state;
    cJSON *fx = tu_fixture("claude-code-2.1.331/toolsearch-tool-reference.json");
    struct prov pv;
    prov_init(&pv, "generic", "http://h/v1/chat/completions", "{}");
    struct xl_http_request out;
    char *text;
    cJSON *up = build(&pv, "m", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    assert_non_null(strstr(text, "\"name\":\"WebFetch\""));            /* referenced: declared */
    assert_null(strstr(text, "DeferredToolPlaceholder"));              /* never */
    assert_non_null(strstr(text, "Tool loaded: WebFetch"));            /* R4 */
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    /* hello-opus55: WebFetch deferred and not referenced -> not declared */
    cJSON *fx2 = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    up = build(&pv, "m", cJSON_GetObjectItemCaseSensitive(fx2, "body"), &out, &text);
    assert_null(strstr(text, "DeferredToolPlaceholder"));
    assert_non_null(strstr(text, "\"name\":\"ToolSearch\""));
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    prov_free(&pv);
    cJSON_Delete(fx);
    cJSON_Delete(fx2);
}

static void fixture_title_structured_output(void **state) {
    (void)state;
    cJSON *fx = tu_fixture("claude-code/title-structured-output.json");
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    struct xl_http_request out;
    char *text;
    cJSON *up = build(&pv, "x-ai/grok-4.1-fast", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(up, "response_format");
    assert_string_equal(js(rf, "type"), "json_schema");
    const cJSON *jsch = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    assert_string_equal(js(jsch, "name"), "output");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(jsch, "strict")));
    /* thinking disabled + effort high: reasoning explicitly off, no effort (§1.6) */
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(up, "reasoning");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "enabled")));
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "effort"));
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "tools"));
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    prov_free(&pv);
    cJSON_Delete(fx);
}

static void fixture_safeguards_and_nonstream(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "generic", "http://h/v1/chat/completions", "{}");
    cJSON *fx = tu_fixture("claude-code-2.1.331/tui-auto-mode-safeguards.json");
    struct xl_http_request out;
    char *text;
    cJSON *up = build(&pv, "m", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    assert_null(strstr(text, "safeguards"));
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    cJSON_Delete(fx);
    fx = tu_fixture("claude-code-2.1.331/nonstream-fallback.json");
    up = build(&pv, "m", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(up, "stream")));
    assert_string_equal(hdr(&out, "accept"), "application/json");
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    cJSON_Delete(fx);
    prov_free(&pv);
}

/* ------------------------------------------------------------------------------------------ */
/* Request details */

static void request_content_blocks_and_tools(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    const char *req =
        "{\"model\":\"claude-opus-4-8\",\"max_tokens\":100,\"stream\":true,"
        "\"system\":\"be brief\",\"stop_sequences\":[\"END\",\" \",\"a\",\"b\",\"c\",\"d\"],"
        "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"mcp__srv.do\",\"disable_parallel_tool_use\":true},"
        "\"tools\":[{\"name\":\"mcp__srv.do\",\"description\":\"d\",\"input_schema\":{\"$schema\":\"x\","
        "\"properties\":{\"a\":{\"type\":\"string\"}}}},{\"name\":\"Bash\",\"input_schema\":{}},"
        "{\"name\":\"Bash\",\"input_schema\":{}},{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAAA\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/y.png\"}},"
        "{\"type\":\"document\",\"title\":\"notes\",\"source\":{\"type\":\"text\",\"data\":\"hello\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"functions.Bash:0\",\"name\":\"mcp__srv.do\",\"input\":{\"a\":\"1\"}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_B\",\"name\":\"Bash\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"after\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_B\",\"is_error\":true,\"content\":\"boom\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"functions.Bash:0\",\"content\":[{\"type\":\"text\",\"text\":\"r1\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"BBBB\"}}]}]}]}";
    char *text;
    cJSON *up = build_str(&pv, "openai/gpt-5", req, &text);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(up, "messages");
    /* system, user, assistant, tool(call 1), tool(call 2), user(images + after) */
    assert_int_equal(cJSON_GetArraySize(msgs), 6);
    const cJSON *u = cJSON_GetArrayItem(msgs, 1);
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(u, "content");
    assert_int_equal(cJSON_GetArraySize(parts), 4);
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(parts, 1), "image_url"), "url"),
                        "data:image/png;base64,AAAA");
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(parts, 2), "image_url"), "url"),
                        "https://x/y.png");
    assert_string_equal(js(cJSON_GetArrayItem(parts, 3), "text"), "notes\nhello");
    const cJSON *a = cJSON_GetArrayItem(msgs, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "content")));
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(a, "tool_calls");
    const cJSON *c0 = cJSON_GetArrayItem(calls, 0);
    assert_string_equal(js(c0, "id"), "functions_Bash_0");
    const char *mapped = js(cJSON_GetObjectItemCaseSensitive(c0, "function"), "name");
    assert_true(name_ok(mapped));
    assert_string_not_equal(mapped, "mcp__srv.do");
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(c0, "function"), "arguments"), "{\"a\":\"1\"}");
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(calls, 1), "function"), "arguments"), "{}");
    /* tool messages in call order, error prefix */
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 3), "tool_call_id"), "functions_Bash_0");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 3), "content"), "r1");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 4), "content"), "Error: boom");
    const cJSON *carrier = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, 5), "content");
    assert_string_equal(js(cJSON_GetArrayItem(carrier, 0), "text"), "Images returned by tool call functions_Bash_0:");
    assert_string_equal(js(cJSON_GetArrayItem(carrier, 2), "text"), "after");
    /* tools: duplicates dropped, server tool -> plugin, schema cleaned, choice mapped */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(up, "tools");
    assert_int_equal(cJSON_GetArraySize(tools), 2);
    const cJSON *p0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 0), "function"), "parameters");
    assert_string_equal(js(p0, "type"), "object");
    assert_null(cJSON_GetObjectItemCaseSensitive(p0, "$schema"));
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(up, "tool_choice"), "function"), "name"), mapped);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(up, "parallel_tool_calls")));
    assert_string_equal(js(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "plugins"), 0), "id"), "web");
    /* sampling */
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(up, "stop");
    assert_int_equal(cJSON_GetArraySize(stop), 4);
    assert_string_equal(cJSON_GetArrayItem(stop, 0)->valuestring, "END");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(up, "top_k"));
    assert_true(cJSON_GetObjectItemCaseSensitive(up, "temperature")->valuedouble == 0.5);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "max_tokens")->valuedouble, 100);
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
}

static const char *SIMPLE_TPL =
    "{\"model\":\"c\",\"max_tokens\":64000,\"stream\":true,%s"
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static cJSON *build_with(const char *name, const char *url, const char *opts, const char *model,
                         const char *extra) {
    char req[2048];
    snprintf(req, sizeof req, SIMPLE_TPL, extra);
    struct prov pv;
    prov_init(&pv, name, url, opts);
    cJSON *up = build_str(&pv, model, req, NULL);
    prov_free(&pv);
    return up;
}

static void openrouter_reasoning_per_effort(void **state) {
    (void)state;
    const char *OR = "https://openrouter.ai/api/v1/chat/completions";
    struct {
        const char *extra, *key;
        const char *sval;
        long nval;
    } rows[] = {
        {"\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"low\"},", "effort", "low", 0},
        {"\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"medium\"},", "effort", "medium", 0},
        {"\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"high\"},", "effort", "high", 0},
        {"\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"max\"},", "effort", "xhigh", 0},
        {"\"thinking\":{\"type\":\"adaptive\"},", "enabled", NULL, 1},
        {"\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4000},", "max_tokens", NULL, 4000},
        /* budget above the capped max_tokens: half the cap */
        {"\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":63999},", "max_tokens", NULL, 16000},
        {"\"thinking\":{\"type\":\"disabled\"},\"output_config\":{\"effort\":\"high\"},", "enabled", NULL, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        cJSON *up = build_with("or", OR, "{}", "x-ai/grok-4", rows[i].extra);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(up, "reasoning");
        assert_non_null(r);
        assert_int_equal(cJSON_GetArraySize(r), 1); /* never effort and budget together */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, rows[i].key);
        assert_non_null(v);
        if (rows[i].sval) assert_string_equal(v->valuestring, rows[i].sval);
        else if (cJSON_IsBool(v)) assert_int_equal(cJSON_IsTrue(v), rows[i].nval);
        else assert_int_equal((long)v->valuedouble, rows[i].nval);
        cJSON_Delete(up);
    }
    /* an efforts list: the nearest listed value below (O12); none for OFF */
    cJSON *up = build_with("or", OR, "{\"options\":{\"efforts\":[\"low\",\"high\",\"none\"]}}", "m",
                           "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"medium\"},");
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(up, "reasoning"), "effort"), "low");
    cJSON_Delete(up);
    up = build_with("or", OR, "{\"options\":{\"efforts\":[\"low\",\"high\",\"none\"]}}", "m",
                    "\"thinking\":{\"type\":\"disabled\"},");
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(up, "reasoning"), "effort"), "none");
    cJSON_Delete(up);
    /* absent thinking: nothing; reasoning_off omit */
    up = build_with("or", OR, "{}", "m", "");
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning"));
    cJSON_Delete(up);
    up = build_with("or", OR, "{\"model_options\":{\"m\":{\"reasoning_off\":\"omit\"}}}", "m",
                    "\"thinking\":{\"type\":\"disabled\"},");
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning"));
    cJSON_Delete(up);
}

static void profile_defaults_and_reasoning_styles(void **state) {
    (void)state;
    struct {
        const char *name, *url, *profile;
    } p[] = {
        {"openrouter", "https://openrouter.ai/api/v1/chat/completions", "openrouter"},
        {"x", "https://api.deepseek.com/chat/completions", "deepseek"},
        {"x", "https://api.groq.com/openai/v1/chat/completions", "groq"},
        {"xai", "https://api.x.ai/v1/chat/completions", "xai"},
        {"ollama", "http://localhost:11434/v1/chat/completions", "ollama"},
        {"local", "http://127.0.0.1:8000/v1/chat/completions", "vllm"},
        {"lmstudio", "http://127.0.0.1:9999/v1/chat/completions", "vllm"},
        {"x", "https://api.openai.com/v1/chat/completions", "openai"},
        {"mine", "https://llm.example.com/v1/chat/completions", "generic"},
    };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        struct prov pv;
        prov_init(&pv, p[i].name, p[i].url, "{}");
        assert_string_equal(openai_profile_name(&pv.p, "m"), p[i].profile);
        prov_free(&pv);
    }
    struct prov pv;
    prov_init(&pv, "mine", "https://llm.example.com/v1", "{\"transformer\":{\"use\":[\"deepseek\"]}}");
    assert_string_equal(openai_profile_name(&pv.p, "m"), "deepseek");
    prov_free(&pv);
    prov_init(&pv, "mine", "https://llm.example.com/v1", "{\"options\":{\"profile\":\"groq\"}}");
    assert_string_equal(openai_profile_name(&pv.p, "m"), "groq");
    prov_free(&pv);

    const char *EFF = "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"high\"},";
    const char *OFF = "\"thinking\":{\"type\":\"disabled\"},";
    /* DeepSeek (O2) */
    cJSON *up = build_with("deepseek", "https://api.deepseek.com/chat/completions", "{}", "deepseek-chat", EFF);
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(up, "thinking"), "type"), "enabled");
    assert_string_equal(js(up, "reasoning_effort"), "high");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "max_tokens")->valuedouble, 8192);
    cJSON_Delete(up);
    up = build_with("deepseek", "https://api.deepseek.com/chat/completions", "{}", "deepseek-chat", OFF);
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(up, "thinking"), "type"), "disabled");
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_effort"));
    cJSON_Delete(up);
    /* Groq (O8): gpt-oss effort, never reasoning_format; qwen3 default + parsed; others nothing */
    const char *GQ = "https://api.groq.com/openai/v1/chat/completions";
    up = build_with("groq", GQ, "{}", "openai/gpt-oss-120b", EFF);
    assert_string_equal(js(up, "reasoning_effort"), "high");
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_format"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(up, "max_completion_tokens"));
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "max_tokens"));
    cJSON_Delete(up);
    up = build_with("groq", GQ, "{}", "qwen/qwen3-32b", EFF);
    assert_string_equal(js(up, "reasoning_effort"), "default");
    assert_string_equal(js(up, "reasoning_format"), "parsed");
    cJSON_Delete(up);
    up = build_with("groq", GQ, "{}", "qwen/qwen3-32b", OFF);
    assert_string_equal(js(up, "reasoning_effort"), "none");
    cJSON_Delete(up);
    up = build_with("groq", GQ, "{}", "llama-3.3-70b-versatile", EFF);
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_effort"));
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_format"));
    cJSON_Delete(up);
    /* xAI direct (O7): only with an efforts list */
    const char *XA = "https://api.x.ai/v1/chat/completions";
    up = build_with("xai", XA, "{}", "grok-4.1-fast", EFF);
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_effort"));
    cJSON_Delete(up);
    up = build_with("xai", XA, "{\"model_options\":{\"grok-3-mini\":{\"efforts\":[\"low\",\"high\"]}}}",
                    "grok-3-mini", "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"medium\"},");
    assert_string_equal(js(up, "reasoning_effort"), "low");
    cJSON_Delete(up);
    /* vLLM Qwen3 OFF (O14) */
    up = build_with("vllm", "http://127.0.0.1:8000/v1/chat/completions", "{}", "Qwen/Qwen3-8B", OFF);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(up, "chat_template_kwargs"), "enable_thinking")));
    cJSON_Delete(up);
    /* Ollama: no reasoning parameters, no top_k from the request unless given */
    up = build_with("ollama", "http://127.0.0.1:11434/v1/chat/completions", "{}", "qwen3", EFF);
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning_effort"));
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "reasoning"));
    cJSON_Delete(up);
    /* knobs: max_tokens cap per model, extra_body merge (null deletes), headers */
    struct prov kp;
    prov_init(&kp, "openrouter", "https://openrouter.ai/api/v1/chat/completions",
              "{\"options\":{\"max_tokens\":20000,\"extra_body\":{\"stream_options\":null,\"seed\":7},"
              "\"extra_headers\":{\"X-Custom\":\"1\"},\"provider\":{\"order\":[\"xai\"]}},"
              "\"model_options\":{\"small\":{\"max_tokens\":4096}}}");
    char req[512];
    snprintf(req, sizeof req, SIMPLE_TPL, "");
    cJSON *body = cJSON_Parse(req);
    struct xl_http_request out;
    up = build(&kp, "big", body, &out, NULL);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "max_tokens")->valuedouble, 20000);
    assert_null(cJSON_GetObjectItemCaseSensitive(up, "stream_options"));
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "seed")->valuedouble, 7);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(up, "provider"), "order"));
    assert_string_equal(hdr(&out, "x-custom"), "1");
    assert_null(hdr(&out, "http-referer")); /* sent only when configured */
    assert_string_equal(hdr(&out, "x-title"), "ccrelay");
    cJSON_Delete(up);
    req_free(&out);
    up = build(&kp, "small", body, &out, NULL);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "max_tokens")->valuedouble, 4096);
    cJSON_Delete(up);
    req_free(&out);
    cJSON_Delete(body);
    prov_free(&kp);
    /* maxtoken transformer */
    up = build_with("x", "https://h/v1/chat/completions",
                    "{\"transformer\":{\"use\":[[\"maxtoken\",{\"max_tokens\":16384}]]}}", "m", "");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(up, "max_tokens")->valuedouble, 16384);
    cJSON_Delete(up);
}

static void transformer_names(void **state) {
    (void)state;
    struct err e = {0};
    struct prov pv;
    prov_init(&pv, "or", "https://openrouter.ai/api/v1/chat/completions",
              "{\"transformer\":{\"use\":[\"openrouter\",[\"maxtoken\",{\"max_tokens\":16384}],\"cleancache\"],"
              "\"deepseek/deepseek-chat\":{\"use\":[\"tooluse\",\"enhancetool\",\"reasoning\",\"sampling\"]}}}");
    assert_int_equal(openai_check_transformers(&pv.p, &e), 0);
    prov_free(&pv);
    prov_init(&pv, "or", "https://x/v1", "{\"transformer\":{\"use\":[\"openrouter\",\"frobnicate\"]}}");
    assert_int_equal(openai_check_transformers(&pv.p, &e), -1);
    assert_int_equal(e.kind, ERR_CONFIG);
    assert_non_null(strstr(e.msg, "frobnicate"));
    assert_non_null(strstr(e.msg, "or"));
    prov_free(&pv);
    prov_init(&pv, "p", "https://x/v1", "{\"transformer\":{\"m1\":{\"use\":[\"nope\"]}}}");
    assert_int_equal(openai_check_transformers(&pv.p, &e), -1);
    assert_non_null(strstr(e.msg, "m1"));
    prov_free(&pv);
    prov_init(&pv, "p", "https://x/v1", "{\"transformer\":{\"use\":[[\"maxtoken\",5]]}}");
    assert_int_equal(openai_check_transformers(&pv.p, &e), -1);
    prov_free(&pv);
    prov_init(&pv, "p", "https://x/v1", "{}");
    assert_int_equal(openai_check_transformers(&pv.p, &e), 0);
    prov_free(&pv);
}

static char *respond(const struct prov *pv, const char *req, const char *body, int *rc, struct err *e,
                     struct xl_usage *u);

static void deepseek_reasoning_content_round_trip(void **state) {
    (void)state;
    /* an answer from DeepSeek through ccrelay: thinking block with a deepseek carrier */
    struct xl_buf sig;
    xl_buf_init(&sig);
    xl_carrier_write(&sig, "deepseek", "deepseek-reasoner", NULL, NULL);
    const char *s = xl_buf_cstr(&sig);
    char req[4096];
    snprintf(req, sizeof req,
             "{\"model\":\"c\",\"max_tokens\":1000,\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}}],"
             "\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"I should list.\",\"signature\":\"%s\"},"
             "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\",\"input\":{\"command\":\"ls\"}}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"a b\"}]},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"foreign\",\"signature\":\"c2ln\"},"
             "{\"type\":\"text\",\"text\":\"done\"}]},"
             "{\"role\":\"user\",\"content\":\"thanks\"}]}",
             s);
    struct prov pv;
    prov_init(&pv, "deepseek", "https://api.deepseek.com/chat/completions", "{}");
    cJSON *up = build_str(&pv, "deepseek-reasoner", req, NULL);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(up, "messages");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 1), "role"), "assistant");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 1), "reasoning_content"), "I should list.");
    /* O1: every assistant message carries it; foreign thinking becomes "" */
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 3), "role"), "assistant");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 3), "reasoning_content"), "");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 3), "content"), "done");
    char *dstext = cJSON_PrintUnformatted(up);
    assert_null(strstr(dstext, "foreign")); /* thinking text of another model is never sent */
    free(dstext);
    cJSON_Delete(up);
    prov_free(&pv);
    /* the same history to a generic target: no reasoning_content, thinking text never sent */
    prov_init(&pv, "generic", "https://h/v1/chat/completions", "{}");
    char *text;
    up = build_str(&pv, "m", req, &text);
    assert_null(strstr(text, "reasoning_content"));
    assert_null(strstr(text, "I should list."));
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
    xl_buf_free(&sig);

    /* a DeepSeek stream: reasoning_content deltas become a thinking block whose carrier says
     * "deepseek", so the next request can send the text back */
    prov_init(&pv, "deepseek", "https://api.deepseek.com/chat/completions", "{}");
    cJSON *body = cJSON_Parse("{\"model\":\"c\",\"max_tokens\":10,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    struct xl_request in = {.body = body, .provider = &pv.p, .model = "deepseek-reasoner", .client_model = "claude-x"};
    struct err e = {0};
    struct xl_stream *st = provider_openai.stream_new(&in, &e);
    assert_non_null(st);
    const char *up_stream =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Think.\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    struct evbuffer *ob = evbuffer_new();
    assert_int_equal(provider_openai.stream_feed(st, up_stream, strlen(up_stream), ob, &e), XL_DONE);
    size_t n = evbuffer_get_length(ob);
    char *o = calloc(1, n + 1);
    evbuffer_copyout(ob, o, n);
    const char *sp = strstr(o, "\"signature\":\"ccrelay1.");
    assert_non_null(sp);
    char carrier[512] = {0};
    sscanf(sp + strlen("\"signature\":\""), "%511[^\"]", carrier);
    struct xl_carrier c;
    assert_int_equal(xl_carrier_read(carrier, &c), 1);
    assert_string_equal(c.p, "deepseek");
    assert_string_equal(c.m, "deepseek-reasoner");
    xl_carrier_free(&c);
    free(o);
    evbuffer_free(ob);
    provider_openai.stream_free(st);
    cJSON_Delete(body);

    /* display "omitted" (R5): no text to the client, but the next DeepSeek request gets it back */
    body = cJSON_Parse("{\"model\":\"c\",\"max_tokens\":10,\"stream\":true,\"thinking\":{\"type\":\"adaptive\",\"display\":\"omitted\"},"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    in.body = body;
    st = provider_openai.stream_new(&in, &e);
    ob = evbuffer_new();
    assert_int_equal(provider_openai.stream_feed(st, up_stream, strlen(up_stream), ob, &e), XL_DONE);
    n = evbuffer_get_length(ob);
    o = calloc(1, n + 1);
    evbuffer_copyout(ob, o, n);
    assert_null(strstr(o, "Think."));
    sp = strstr(o, "\"signature\":\"ccrelay1.");
    assert_non_null(sp);
    sscanf(sp + strlen("\"signature\":\""), "%511[^\"]", carrier);
    free(o);
    evbuffer_free(ob);
    provider_openai.stream_free(st);
    cJSON_Delete(body);
    char req2[2048];
    snprintf(req2, sizeof req2,
             "{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"%s\"},"
             "{\"type\":\"text\",\"text\":\"Hi\"}]},{\"role\":\"user\",\"content\":\"more\"}]}",
             carrier);
    cJSON *up2 = build_str(&pv, "deepseek-reasoner", req2, NULL);
    assert_string_equal(js(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up2, "messages"), 1), "reasoning_content"),
                        "Think.");
    cJSON_Delete(up2);
    /* the same for a whole body */
    int rc;
    struct xl_usage us;
    o = respond(&pv, "{\"model\":\"c\",\"max_tokens\":10,\"thinking\":{\"type\":\"adaptive\",\"display\":\"omitted\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                "{\"choices\":[{\"message\":{\"content\":\"Hi\",\"reasoning_content\":\"Deep.\"},\"finish_reason\":\"stop\"}]}", &rc, &e, &us);
    assert_int_equal(rc, 0);
    cJSON *m = cJSON_Parse(o);
    const cJSON *th = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "content"), 0);
    assert_string_equal(js(th, "thinking"), "");
    struct xl_carrier c2;
    assert_int_equal(xl_carrier_read(js(th, "signature"), &c2), 1);
    assert_string_equal(js(cJSON_GetArrayItem(c2.rd, 0), "text"), "Deep.");
    xl_carrier_free(&c2);
    cJSON_Delete(m);
    free(o);
    prov_free(&pv);
}

static void openrouter_reasoning_details_round_trip(void **state) {
    (void)state;
    cJSON *rd = cJSON_Parse("[{\"type\":\"reasoning.encrypted\",\"data\":\"ENC\",\"index\":0}]");
    struct xl_buf sig;
    xl_buf_init(&sig);
    xl_carrier_write(&sig, "openrouter", "x-ai/grok-4", rd, NULL);
    char req[4096];
    snprintf(req, sizeof req,
             "{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"redacted_thinking\",\"data\":\"%s\"},"
             "{\"type\":\"text\",\"text\":\"Hi\"}]},{\"role\":\"user\",\"content\":\"more\"}]}",
             xl_buf_cstr(&sig));
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    cJSON *up = build_str(&pv, "x-ai/grok-4", req, NULL);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "messages"), 1);
    const cJSON *back = cJSON_GetObjectItemCaseSensitive(a, "reasoning_details");
    assert_true(cJSON_Compare(back, rd, true)); /* unmodified */
    cJSON_Delete(up);
    /* another model now: not replayed */
    char *text;
    up = build_str(&pv, "openai/gpt-5", req, &text);
    assert_null(strstr(text, "reasoning_details"));
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
    xl_buf_free(&sig);
    cJSON_Delete(rd);
}

static void openrouter_cache_control_last_four(void **state) {
    (void)state;
    cJSON *fx = tu_fixture("claude-code/tool-result-followup.json");
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    struct xl_http_request out;
    char *text;
    cJSON *up = build(&pv, "anthropic/claude-sonnet-4.5", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    int n = 0;
    for (const char *p = text; (p = strstr(p, "cache_control")) != NULL; p++) n++;
    assert_true(n >= 1 && n <= 4);
    /* system as parts */
    const cJSON *sys = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "messages"), 0);
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(sys, "content")));
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    /* other models: stripped */
    up = build(&pv, "x-ai/grok-4", cJSON_GetObjectItemCaseSensitive(fx, "body"), &out, &text);
    assert_null(strstr(text, "cache_control"));
    cJSON_Delete(up);
    free(text);
    req_free(&out);
    prov_free(&pv);
    cJSON_Delete(fx);
}

static void inline_system_modes(void **state) {
    (void)state;
    const char *req =
        "{\"model\":\"c\",\"max_tokens\":10,\"system\":\"S\",\"messages\":[{\"role\":\"user\",\"content\":\"u1\"},"
        "{\"role\":\"system\",\"content\":\"mid\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
        "{\"role\":\"user\",\"content\":\"u2\"},{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"tail\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}";
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1/chat/completions", "{\"options\":{\"inline_system\":\"hoist\"}}");
    char *text;
    cJSON *up = build_str(&pv, "m", req, &text);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(up, "messages");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 0), "content"), "S\n\nmid");
    /* the trailing one is never hoisted: user text at the end */
    const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    assert_string_equal(js(last, "role"), "user");
    assert_non_null(strstr(text, "<system-reminder>\\ntail\\n</system-reminder>"));
    assert_null(strstr(text, "cache_control"));
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
    prov_init(&pv, "g", "https://h/v1/chat/completions", "{}"); /* keep */
    up = build_str(&pv, "m", req, NULL);
    msgs = cJSON_GetObjectItemCaseSensitive(up, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 6);
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 2), "content"), "mid");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 5), "role"), "system");
    assert_string_equal(js(cJSON_GetArrayItem(msgs, 5), "content"), "tail");
    cJSON_Delete(up);
    prov_free(&pv);
}

static void request_knob_variants(void **state) {
    (void)state;
    const char *media =
        "{\"model\":\"c\",\"max_tokens\":10,\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}}],"
        "\"tool_choice\":{\"type\":\"%s\"},"
        "\"output_config\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"$schema\":\"s\",\"type\":\"object\"}}},"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/i.png\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"file_1\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"JVBE\"}}]}]}";
    char req[2048];
    struct {
        const char *name, *url, *opts, *choice, *want_choice;
    } rows[] = {
        {"openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}", "auto", "auto"},
        {"ollama", "http://127.0.0.1:11434/v1/chat/completions", "{}", "any", "required"},
        {"deepseek", "https://api.deepseek.com/chat/completions", "{}", "none", "none"}, /* json_object only */
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf(req, sizeof req, media, rows[i].choice);
        struct prov pv;
        prov_init(&pv, rows[i].name, rows[i].url, rows[i].opts);
        char *text;
        cJSON *up = build_str(&pv, "m", req, &text);
        assert_string_equal(js(up, "tool_choice"), rows[i].want_choice);
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(up, "response_format");
        const cJSON *sys = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "messages"), 0);
        if (i == 0) { /* OpenRouter: URL image passed, file placeholder, PDF as a file part */
            assert_string_equal(js(rf, "type"), "json_schema");
            assert_non_null(strstr(text, "\"url\":\"https://x/i.png\""));
            assert_non_null(strstr(text, "[image file file_1 omitted]"));
            assert_non_null(strstr(text, "\"file_data\":\"data:application/pdf;base64,JVBE\""));
            assert_null(strstr(text, "$schema"));
        } else if (i == 1) { /* Ollama: no URL fetching, no PDF */
            assert_non_null(strstr(text, "cannot fetch image URLs"));
            assert_non_null(strstr(text, "[document  omitted: this model cannot read it]"));
        } else { /* DeepSeek: no images at all; json_object + instruction; flattened text */
            assert_string_equal(js(rf, "type"), "json_object");
            assert_non_null(strstr(js(sys, "content"), "Reply with a single JSON object that conforms to this JSON Schema"));
            assert_non_null(strstr(text, "[image omitted: model has no image input]"));
            assert_null(strstr(text, "image_url"));
            const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "messages"), 1);
            assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(u, "content"))); /* not all text */
        }
        cJSON_Delete(up);
        free(text);
        prov_free(&pv);
    }
    /* DeepSeek flattens an all-text user message to a string */
    struct prov pv;
    prov_init(&pv, "deepseek", "https://api.deepseek.com/chat/completions", "{}");
    cJSON *up = build_str(&pv, "deepseek-chat",
                          "{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}",
                          NULL);
    assert_string_equal(js(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(up, "messages"), 0), "content"), "a\nb");
    cJSON_Delete(up);
    prov_free(&pv);
}

static void schema_profile_gemini(void **state) {
    (void)state;
    const char *req = "{\"model\":\"c\",\"max_tokens\":10,\"tools\":[{\"name\":\"T\",\"input_schema\":{"
                      "\"$schema\":\"x\",\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
                      "\"u\":{\"type\":\"string\",\"format\":\"uri\"},\"n\":{\"type\":\"number\",\"exclusiveMinimum\":0}}}},"
                      "{\"name\":\"E\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    struct prov pv;
    prov_init(&pv, "g", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
              "{\"options\":{\"schema_profile\":\"gemini\"}}");
    char *text;
    cJSON *up = build_str(&pv, "gemini-2.5-flash", req, &text);
    assert_null(strstr(text, "additionalProperties"));
    assert_null(strstr(text, "exclusiveMinimum"));
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(up, "tools");
    const cJSON *p1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 1), "function"), "parameters");
    assert_string_equal(js(p1, "type"), "object");
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
    /* default: light handling keeps them */
    prov_init(&pv, "g", "https://h/v1/chat/completions", "{}");
    up = build_str(&pv, "m", req, &text);
    assert_non_null(strstr(text, "additionalProperties"));
    cJSON_Delete(up);
    free(text);
    prov_free(&pv);
}

static void empty_request_is_400(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1/chat/completions", "{}");
    cJSON *body = cJSON_Parse("{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"  \"}]}");
    struct xl_request in = {.body = body, .provider = &pv.p, .model = "m"};
    struct xl_http_request out = {0};
    struct err e = {0};
    assert_int_equal(provider_openai.build(&in, &out, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    assert_non_null(strstr(e.msg, "non-empty"));
    req_free(&out);
    cJSON_Delete(body);
    prov_free(&pv);
}

/* ------------------------------------------------------------------------------------------ */
/* Stream translation: grammar checker */

struct block {
    char type[24];
    char *text; /* text / thinking / partial_json concatenated */
    char sig[600];
    char name[80];
    char id[64];
};

struct parsed {
    struct block b[16];
    int nb;
    char stop_reason[32];
    char stop_sequence[32];
    long in, out, cache_read, cache_write;
    char model[64];
};

static void parsed_free(struct parsed *p) {
    for (int i = 0; i < p->nb; i++) free(p->b[i].text);
    memset(p, 0, sizeof *p);
}

static void cat(char **dst, const char *s) {
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(s);
    *dst = realloc(*dst, a + b + 1);
    memcpy(*dst + a, s, b + 1);
}

/* Check the Anthropic event grammar (§3.3) of `s` and extract its content. */
static void check_grammar(const char *s, struct parsed *p) {
    memset(p, 0, sizeof *p);
    enum { G_START, G_BODY, G_BLOCK, G_DELTA_DONE, G_END } g = G_START;
    int open = -1;
    while (*s) {
        char ev[64];
        assert_int_equal(sscanf(s, "event: %63[^\n]\n", ev), 1);
        s = strchr(s, '\n') + 1;
        assert_int_equal(strncmp(s, "data: ", 6), 0);
        s += 6;
        const char *nl = strstr(s, "\n\n");
        assert_non_null(nl);
        char *data = strndup(s, (size_t)(nl - s));
        s = nl + 2;
        cJSON *j = cJSON_Parse(data);
        assert_non_null(j);
        assert_string_equal(js(j, "type"), ev);
        if (strcmp(ev, "ping") == 0) {
            assert_true(g != G_START && g != G_END);
        } else if (strcmp(ev, "message_start") == 0) {
            assert_int_equal(g, G_START);
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
            snprintf(p->model, sizeof p->model, "%s", js(m, "model"));
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "usage");
            assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(u, "input_tokens")->valuedouble, 0); /* O9 */
            assert_int_equal(strncmp(js(m, "id"), "msg_", 4), 0);
            g = G_BODY;
        } else if (strcmp(ev, "content_block_start") == 0) {
            assert_int_equal(g, G_BODY);
            int idx = (int)cJSON_GetObjectItemCaseSensitive(j, "index")->valuedouble;
            assert_int_equal(idx, p->nb); /* consecutive, from 0 */
            assert_true(p->nb < 16);
            const cJSON *cb = cJSON_GetObjectItemCaseSensitive(j, "content_block");
            struct block *b = &p->b[p->nb++];
            snprintf(b->type, sizeof b->type, "%s", js(cb, "type"));
            if (strcmp(b->type, "tool_use") == 0) {
                snprintf(b->name, sizeof b->name, "%s", js(cb, "name"));
                snprintf(b->id, sizeof b->id, "%s", js(cb, "id"));
                assert_int_equal(strlen(b->id), 30);
                assert_int_equal(strncmp(b->id, "toolu_", 6), 0);
            }
            if (strcmp(b->type, "redacted_thinking") == 0) snprintf(b->sig, sizeof b->sig, "%s", js(cb, "data"));
            cat(&b->text, "");
            open = idx;
            g = G_BLOCK;
        } else if (strcmp(ev, "content_block_delta") == 0) {
            assert_int_equal(g, G_BLOCK);
            assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "index")->valuedouble, open);
            struct block *b = &p->b[open];
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
            const char *dt = js(d, "type");
            if (strcmp(dt, "text_delta") == 0) {
                assert_string_equal(b->type, "text");
                assert_true(strlen(js(d, "text")) > 0);
                cat(&b->text, js(d, "text"));
            } else if (strcmp(dt, "thinking_delta") == 0) {
                assert_string_equal(b->type, "thinking");
                assert_int_equal(b->sig[0], 0); /* no thinking after the signature */
                cat(&b->text, js(d, "thinking"));
            } else if (strcmp(dt, "signature_delta") == 0) {
                assert_string_equal(b->type, "thinking");
                assert_int_equal(b->sig[0], 0);
                snprintf(b->sig, sizeof b->sig, "%s", js(d, "signature"));
            } else if (strcmp(dt, "input_json_delta") == 0) {
                assert_string_equal(b->type, "tool_use");
                cat(&b->text, js(d, "partial_json"));
            } else {
                fail_msg("unknown delta %s", dt);
            }
        } else if (strcmp(ev, "content_block_stop") == 0) {
            assert_int_equal(g, G_BLOCK);
            assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "index")->valuedouble, open);
            if (strcmp(p->b[open].type, "thinking") == 0)
                assert_int_equal(strncmp(p->b[open].sig, "ccrelay1.", 9), 0);
            if (strcmp(p->b[open].type, "tool_use") == 0 && p->b[open].text[0]) { /* "" is {} */
                cJSON *in = cJSON_Parse(p->b[open].text);
                assert_true(cJSON_IsObject(in));
                cJSON_Delete(in);
            }
            open = -1;
            g = G_BODY;
        } else if (strcmp(ev, "message_delta") == 0) {
            assert_int_equal(g, G_BODY);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
            assert_non_null(js(d, "stop_reason"));
            snprintf(p->stop_reason, sizeof p->stop_reason, "%s", js(d, "stop_reason"));
            if (js(d, "stop_sequence")) snprintf(p->stop_sequence, sizeof p->stop_sequence, "%s", js(d, "stop_sequence"));
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u, "output_tokens")));
            p->in = (long)cJSON_GetObjectItemCaseSensitive(u, "input_tokens")->valuedouble;
            p->out = (long)cJSON_GetObjectItemCaseSensitive(u, "output_tokens")->valuedouble;
            p->cache_read = (long)cJSON_GetObjectItemCaseSensitive(u, "cache_read_input_tokens")->valuedouble;
            p->cache_write = (long)cJSON_GetObjectItemCaseSensitive(u, "cache_creation_input_tokens")->valuedouble;
            g = G_DELTA_DONE;
        } else if (strcmp(ev, "message_stop") == 0) {
            assert_int_equal(g, G_DELTA_DONE);
            g = G_END;
        } else {
            fail_msg("unexpected event %s", ev);
        }
        cJSON_Delete(j);
        free(data);
    }
    assert_int_equal(g, G_END);
}

struct run {
    int rc;       /* last feed/end result */
    char *out;    /* output bytes */
    struct err e;
    struct xl_error xe; /* when rc == -1 */
    int has_xe;
};

/* Feed `up` in pieces of `step` bytes (0: all at once), then end. */
static struct run run_stream(const struct prov *pv, const char *model, const char *req, const char *up,
                             size_t step) {
    struct run r = {0};
    cJSON *body = cJSON_Parse(req);
    assert_non_null(body);
    struct xl_request in = {.body = body, .provider = &pv->p, .model = model, .client_model = "claude-opus-4-8",
                            .stream = true};
    struct xl_stream *st = provider_openai.stream_new(&in, &r.e);
    assert_non_null(st);
    struct evbuffer *ob = evbuffer_new();
    size_t n = strlen(up), off = 0;
    r.rc = XL_MORE;
    while (off < n && r.rc == XL_MORE) {
        size_t k = step ? (n - off < step ? n - off : step) : n;
        r.rc = provider_openai.stream_feed(st, up + off, k, ob, &r.e);
        off += k;
    }
    if (r.rc == XL_MORE) r.rc = provider_openai.stream_end(st, ob, &r.e);
    r.has_xe = openai_stream_error(st, &r.xe) == 0;
    assert_int_equal(r.has_xe, r.rc == -1);
    size_t on = evbuffer_get_length(ob);
    r.out = calloc(1, on + 1);
    evbuffer_copyout(ob, r.out, on);
    evbuffer_free(ob);
    provider_openai.stream_free(st);
    cJSON_Delete(body);
    return r;
}

static const char *REQ = "{\"model\":\"claude-opus-4-8\",\"max_tokens\":100,\"stream\":true,"
                         "\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}},{\"name\":\"mcp__a.b\",\"input_schema\":{}}],"
                         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* Run at every split (when small) and all at once; every run must give the same content. */
static void stream_all_splits_opts(const char *opts, const char *up, struct parsed *out) {
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", opts);
    size_t n = strlen(up);
    size_t max_step = n <= 1500 ? n : 1;
    struct run r0 = run_stream(&pv, "x-ai/grok-4", REQ, up, 0);
    if (r0.rc != XL_DONE) fprintf(stderr, "stream failed: %s\n", r0.e.msg);
    assert_int_equal(r0.rc, XL_DONE);
    check_grammar(r0.out, out);
    assert_string_equal(out->model, "claude-opus-4-8");
    for (size_t step = 1; step < max_step; step++) {
        struct run r = run_stream(&pv, "x-ai/grok-4", REQ, up, step);
        assert_int_equal(r.rc, XL_DONE);
        struct parsed p;
        check_grammar(r.out, &p);
        assert_int_equal(p.nb, out->nb);
        for (int i = 0; i < p.nb; i++) {
            assert_string_equal(p.b[i].type, out->b[i].type);
            assert_string_equal(p.b[i].text, out->b[i].text);
        }
        assert_string_equal(p.stop_reason, out->stop_reason);
        parsed_free(&p);
        free(r.out);
    }
    free(r0.out);
    prov_free(&pv);
}

static void stream_all_splits(const char *up, struct parsed *out) { stream_all_splits_opts("{}", up, out); }

#define D(x) "data: " x "\n\n"

static void stream_plain_text_utf8_splits(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(": OPENROUTER PROCESSING\n\n"
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\xc3\xa9llo \xe2\x82\xac\"}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\xf0\x9f\x98\x80rld\"},\"finish_reason\":\"stop\"}]}")
                      D("{\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":5}}")
                      "data: [DONE]\n\n",
                      &p);
    assert_int_equal(p.nb, 1);
    assert_string_equal(p.b[0].type, "text");
    assert_string_equal(p.b[0].text, "h\xc3\xa9llo \xe2\x82\xac w\xf0\x9f\x98\x80rld");
    assert_string_equal(p.stop_reason, "end_turn");
    assert_int_equal(p.in, 50);
    assert_int_equal(p.out, 5);
    parsed_free(&p);
}

static void stream_reasoning_then_text(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning\":\"User wants\"}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning\":\" two.\"}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Done.\"},\"finish_reason\":\"stop\"}],"
                        "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}"),
                      &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].type, "thinking");
    assert_string_equal(p.b[0].text, "User wants two.");
    struct xl_carrier c;
    assert_int_equal(xl_carrier_read(p.b[0].sig, &c), 1);
    assert_string_equal(c.p, "openrouter");
    assert_string_equal(c.m, "x-ai/grok-4");
    xl_carrier_free(&c);
    assert_string_equal(p.b[1].type, "text");
    assert_string_equal(p.b[1].text, "Done.");
    parsed_free(&p);
}

static void stream_text_then_tool_call_many_fragments(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Listing.\"}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"Bash\",\"arguments\":\"\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"com\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"mand\\\":\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"ls \\u00e9\\\"}\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}")
                      "data: [DONE]\n\n",
                      &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].text, "Listing.");
    assert_string_equal(p.b[1].type, "tool_use");
    assert_string_equal(p.b[1].name, "Bash");
    assert_string_equal(p.b[1].text, "{\"command\":\"ls \xc3\xa9\"}");
    assert_string_equal(p.stop_reason, "tool_use");
    parsed_free(&p);
}

static void stream_parallel_interleaved_calls(void **state) {
    (void)state;
    struct parsed p;
    /* the §3.10 shape: index 0 gets arguments after index 1 started; a mapped name comes back */
    char name[65];
    xl_tool_name_upstream("mcp__a.b", XL_NAMES_OPENAI, name);
    char up[4096];
    snprintf(up, sizeof up,
             D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_9f2\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":\\\"ls sr\"}}]}}]}")
             D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_a71\",\"function\":{\"name\":\"%s\",\"arguments\":\"{\\\"command\\\":\"}}]}}]}")
             D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"c\\\"}\"}},{\"index\":1,\"function\":{\"arguments\":\"\\\"ls docs\\\"}\"}}]}}]}")
             D("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}")
             D("{\"choices\":[],\"usage\":{\"prompt_tokens\":18500,\"completion_tokens\":96,\"prompt_tokens_details\":{\"cached_tokens\":16000,\"cache_write_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":40}}}")
             "data: [DONE]\n\n",
             name);
    stream_all_splits(up, &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].text, "{\"command\":\"ls src\"}");
    assert_string_equal(p.b[1].name, "mcp__a.b");
    assert_string_equal(p.b[1].text, "{\"command\":\"ls docs\"}");
    assert_string_not_equal(p.b[0].id, p.b[1].id);
    /* usage with cached tokens (§2.4) */
    assert_int_equal(p.in, 2500);
    assert_int_equal(p.cache_read, 16000);
    assert_int_equal(p.cache_write, 0);
    assert_int_equal(p.out, 96);
    parsed_free(&p);
}

static void stream_ollama_index0_parallel_calls(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":\\\"a\\\"}\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_b\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":\\\"b\\\"}\"}}]}}]}")
                      D("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"),
                      &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].text, "{\"command\":\"a\"}");
    assert_string_equal(p.b[1].text, "{\"command\":\"b\"}");
    assert_string_equal(p.stop_reason, "tool_use"); /* stop with calls */
    parsed_free(&p);
}

static void stream_length_is_max_tokens(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part\"},\"finish_reason\":\"length\"}]}")
                      "data: [DONE]\n\n",
                      &p);
    assert_string_equal(p.stop_reason, "max_tokens");
    parsed_free(&p);
    /* truncated arguments closed on length */
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":\\\"ls -\"}}]},\"finish_reason\":\"length\"}]}"),
                      &p);
    assert_string_equal(p.b[0].text, "{\"command\":\"ls -\"}");
    assert_string_equal(p.stop_reason, "max_tokens");
    parsed_free(&p);
}

static void stream_invalid_arguments_repaired_or_wrapped(void **state) {
    (void)state;
    struct parsed p;
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"a\\\":True,}\"}}]},\"finish_reason\":\"tool_calls\"}]}"),
                      &p);
    assert_string_equal(p.b[0].text, "{\"a\":true}");
    parsed_free(&p);
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"Bash\",\"arguments\":\"not json at all\"}}]},\"finish_reason\":\"tool_calls\"}]}"),
                      &p);
    assert_string_equal(p.b[0].text, "{\"_invalid_arguments\":\"not json at all\"}");
    parsed_free(&p);
    /* knob invalid_tool_args=error: a clear error */
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1", "{\"options\":{\"invalid_tool_args\":\"error\"}}");
    struct run r = run_stream(&pv, "m", REQ,
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{oops\"}}]},\"finish_reason\":\"tool_calls\"}]}"),
                              0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "invalid JSON arguments for tool Bash"));
    free(r.out);
    prov_free(&pv);
}

static void stream_error_chunk_mid_stream(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    const char *up = D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}")
        D("{\"error\":{\"code\":502,\"message\":\"Provider returned error\",\"metadata\":{\"provider_name\":\"xAI\"}},\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}]}");
    for (size_t step = 0; step < 40; step += 7) {
        struct run r = run_stream(&pv, "x-ai/grok-4", REQ, up, step);
        assert_int_equal(r.rc, -1);
        assert_int_equal(r.e.kind, ERR_UPSTREAM);
        assert_non_null(strstr(r.e.msg, "Provider returned error"));
        assert_int_equal(r.xe.status, 502);
        assert_string_equal(r.xe.type, "api_error");
        assert_non_null(strstr(r.xe.message, "[provider: xAI]"));
        /* committed output so far, no message_stop */
        assert_non_null(strstr(r.out, "message_start"));
        assert_null(strstr(r.out, "message_stop"));
        free(r.out);
    }
    /* an error before anything was written: nothing written (the relay answers with HTTP) */
    struct run r = run_stream(&pv, "x-ai/grok-4", REQ, "event: error\ndata: {\"error\":{\"message\":\"tool call validation failed\",\"code\":\"tool_use_failed\"}}\n\n", 0);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.out, "");
    assert_int_equal(r.xe.status, 502); /* Groq tool_use_failed: a new sample usually works */
    assert_int_equal(r.xe.should_retry, 1);
    free(r.out);
    r = run_stream(&pv, "x-ai/grok-4", REQ, D("{\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"}}"), 0);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.xe.type, "rate_limit_error");
    free(r.out);
    /* not JSON */
    r = run_stream(&pv, "x-ai/grok-4", REQ, "data: {nope\n\n", 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "not JSON"));
    free(r.out);
    prov_free(&pv);
}

static void stream_cut_before_finish(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1", "{}");
    struct run r = run_stream(&pv, "m", REQ, D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}"), 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "ended before completion"));
    assert_null(strstr(r.out, "message_stop"));
    free(r.out);
    /* finish without [DONE]: a normal end */
    r = run_stream(&pv, "m", REQ, D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}"), 0);
    assert_int_equal(r.rc, XL_DONE);
    struct parsed p;
    check_grammar(r.out, &p);
    parsed_free(&p);
    free(r.out);
    /* empty body: cut */
    r = run_stream(&pv, "m", REQ, "", 0);
    assert_int_equal(r.rc, -1);
    free(r.out);
    prov_free(&pv);
}

static void stream_waits_for_usage_after_finish(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1", "{}");
    cJSON *body = cJSON_Parse(REQ);
    struct xl_request in = {.body = body, .provider = &pv.p, .model = "m", .client_model = "c"};
    struct err e = {0};
    struct xl_stream *st = provider_openai.stream_new(&in, &e);
    struct evbuffer *ob = evbuffer_new();
    const char *a = D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}");
    assert_int_equal(provider_openai.stream_feed(st, a, strlen(a), ob, &e), XL_MORE);
    assert_true(openai_stream_awaiting_usage(st));
    size_t before = evbuffer_get_length(ob);
    const char *u = D("{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}");
    assert_int_equal(provider_openai.stream_feed(st, u, strlen(u), ob, &e), XL_DONE);
    assert_false(openai_stream_awaiting_usage(st));
    assert_true(evbuffer_get_length(ob) > before);
    const char *more = D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}");
    assert_int_equal(provider_openai.stream_feed(st, more, strlen(more), ob, &e), XL_DONE); /* ignored */
    assert_int_equal(provider_openai.stream_end(st, ob, &e), XL_DONE);
    size_t n = evbuffer_get_length(ob);
    char *o = calloc(1, n + 1);
    evbuffer_copyout(ob, o, n);
    struct parsed p;
    check_grammar(o, &p);
    assert_int_equal(p.in, 9);
    parsed_free(&p);
    free(o);
    evbuffer_free(ob);
    provider_openai.stream_free(st);
    cJSON_Delete(body);
    prov_free(&pv);
}

static void stream_not_sse_body_is_converted(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1", "{}");
    struct run r = run_stream(&pv, "m", REQ,
                              "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"whole\","
                              "\"tool_calls\":[{\"id\":\"x\",\"type\":\"function\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{}\"}}]},"
                              "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}",
                              5);
    assert_int_equal(r.rc, XL_DONE);
    struct parsed p;
    check_grammar(r.out, &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].text, "whole");
    assert_string_equal(p.b[1].text, "{}");
    assert_string_equal(p.stop_reason, "tool_use");
    parsed_free(&p);
    free(r.out);
    prov_free(&pv);
}

static void stream_display_omitted_and_encrypted_reasoning(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    const char *req = "{\"model\":\"c\",\"max_tokens\":10,\"stream\":true,\"thinking\":{\"type\":\"adaptive\",\"display\":\"omitted\"},"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    struct run r = run_stream(&pv, "m", req,
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"secret\"}}]}")
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}"), 0);
    assert_int_equal(r.rc, XL_DONE);
    struct parsed p;
    check_grammar(r.out, &p);
    assert_string_equal(p.b[0].type, "thinking");
    assert_string_equal(p.b[0].text, ""); /* R5: no reasoning text */
    assert_null(strstr(r.out, "secret"));
    parsed_free(&p);
    free(r.out);
    /* encrypted-only reasoning_details -> redacted_thinking before the text? (it comes first
     * here because no text block was open when it is flushed at finish: O13 order) */
    r = run_stream(&pv, "m", REQ,
                   D("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning_details\":[{\"type\":\"reasoning.encrypted\",\"data\":\"ENC\",\"index\":0}]}}]}")
                   D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}"), 0);
    assert_int_equal(r.rc, XL_DONE);
    check_grammar(r.out, &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].type, "redacted_thinking");
    struct xl_carrier c;
    assert_int_equal(xl_carrier_read(p.b[0].sig, &c), 1);
    assert_non_null(c.rd);
    assert_string_equal(cJSON_GetArrayItem(c.rd, 0)->child ? js(cJSON_GetArrayItem(c.rd, 0), "data") : "", "ENC");
    xl_carrier_free(&c);
    assert_string_equal(p.b[1].type, "tool_use");
    parsed_free(&p);
    free(r.out);
    prov_free(&pv);
}

static void stream_stop_sequence_and_groq_usage(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "vllm", "http://127.0.0.1:8000/v1/chat/completions", "{}");
    const char *req = "{\"model\":\"c\",\"max_tokens\":10,\"stream\":true,\"stop_sequences\":[\"###\"],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    struct run r = run_stream(&pv, "m", req,
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\",\"stop_reason\":\"###\"}],"
                                "\"x_groq\":{\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}}"), 0);
    assert_int_equal(r.rc, XL_DONE);
    struct parsed p;
    check_grammar(r.out, &p);
    assert_string_equal(p.stop_reason, "stop_sequence");
    assert_string_equal(p.stop_sequence, "###");
    assert_int_equal(p.in, 7);
    parsed_free(&p);
    free(r.out);
    prov_free(&pv);
}

static void stream_lone_surrogates_and_comments(void **state) {
    (void)state;
    struct parsed p;
    /* a pair split across two deltas: each half is lone in its chunk -> U+FFFD, never a failure */
    stream_all_splits("\xef\xbb\xbf" "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<\"}}]}\r\r: keepalive\r\n\r\n"
                      "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\ud83d\"}}]}\r\n\r\n"
                      D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ude00b \\ud83d\\ude00\"}}]}")
                      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
                      &p);
    assert_string_equal(p.b[0].text, "<a\xef\xbf\xbd\xef\xbf\xbd" "b \xf0\x9f\x98\x80");
    parsed_free(&p);
}

static void stream_think_tags(void **state) {
    (void)state;
    struct parsed p;
    const char *on = "{\"options\":{\"think_tags\":true}}";
    stream_all_splits_opts(on,
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\n<thi\"}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>Let me see</th\"}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ink>\\n\\nAnswer <b>\"},\"finish_reason\":\"stop\"}]}"),
                           &p);
    assert_int_equal(p.nb, 2);
    assert_string_equal(p.b[0].type, "thinking");
    assert_string_equal(p.b[0].text, "Let me see");
    assert_string_equal(p.b[1].text, "Answer <b>");
    parsed_free(&p);
    /* no tag: content untouched; knob off: tags are text */
    stream_all_splits_opts(on, D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<b>hi</b>\"},\"finish_reason\":\"stop\"}]}"), &p);
    assert_int_equal(p.nb, 1);
    assert_string_equal(p.b[0].text, "<b>hi</b>");
    parsed_free(&p);
    stream_all_splits(D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<think>x</think>y\"},\"finish_reason\":\"stop\"}]}"), &p);
    assert_string_equal(p.b[0].text, "<think>x</think>y");
    parsed_free(&p);
    /* cut inside the reasoning (length): what was held is still thinking */
    stream_all_splits_opts(on, D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<think>abc</t\"},\"finish_reason\":\"length\"}]}"), &p);
    assert_int_equal(p.nb, 1);
    assert_string_equal(p.b[0].text, "abc</t");
    assert_string_equal(p.stop_reason, "max_tokens");
    parsed_free(&p);
}

static void stream_live_tool_mode(void **state) {
    (void)state;
    const char *live = "{\"options\":{\"tool_stream\":\"live\"}}";
    struct parsed p;
    /* sequential calls: one delta per fragment, blocks in order */
    stream_all_splits_opts(live,
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Go.\"}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"command\\\":\"}}]}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"Bash\",\"arguments\":\"\\\"ls sr\"}}]}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"c\\\"}\"}}]}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{}\"}}]}}]}")
                           D("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"),
                           &p);
    assert_int_equal(p.nb, 3);
    assert_string_equal(p.b[1].text, "{\"command\":\"ls src\"}");
    assert_string_equal(p.b[2].text, "{}");
    assert_string_equal(p.stop_reason, "tool_use");
    parsed_free(&p);
    /* interleaving is a protocol error in live mode: a block closed incomplete ... */
    struct prov pv;
    prov_init(&pv, "g", "https://h/v1", live);
    struct run r = run_stream(&pv, "m", REQ,
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"c\"}}]}}]}")
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\"}}]}}]}"),
                              0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "tool call Bash ended with invalid or incomplete JSON"));
    assert_non_null(strstr(r.e.msg, "retry without streaming"));
    free(r.out);
    /* ... or a fragment for a block already closed */
    r = run_stream(&pv, "m", REQ,
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{}\"}}]}}]}")
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\"}}]}}]}")
                              D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\":1}\"}}]}}]}"),
                              0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "interleaved tool-call arguments (slot 0 after slot 1)"));
    assert_null(strstr(r.out, "message_stop"));
    free(r.out);
    prov_free(&pv);
}

/* ------------------------------------------------------------------------------------------ */
/* Non-stream responses (§2) */

static char *respond(const struct prov *pv, const char *req, const char *body, int *rc, struct err *e,
                     struct xl_usage *u) {
    cJSON *rq = cJSON_Parse(req);
    struct xl_request in = {.body = rq, .provider = &pv->p, .model = "up-model", .client_model = "claude-opus-4-8"};
    struct evbuffer *ob = evbuffer_new();
    *rc = provider_openai.response(&in, body, strlen(body), ob, u, e);
    size_t n = evbuffer_get_length(ob);
    char *o = calloc(1, n + 1);
    evbuffer_copyout(ob, o, n);
    evbuffer_free(ob);
    cJSON_Delete(rq);
    return o;
}

static void nonstream_responses(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    struct err e = {0};
    struct xl_usage u;
    int rc;
    char *o = respond(&pv, REQ,
                      "{\"id\":\"gen\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Listing.\","
                      "\"reasoning\":\"think\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"think\",\"index\":0}],"
                      "\"tool_calls\":[{\"id\":\"functions.Bash:0\",\"type\":\"function\",\"function\":{\"name\":\"Bash\",\"arguments\":\"```json\\n{\\\"command\\\":\\\"ls\\\"}\\n```\"}}]},"
                      "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,"
                      "\"prompt_tokens_details\":{\"cached_tokens\":60}}}",
                      &rc, &e, &u);
    assert_int_equal(rc, 0);
    cJSON *m = cJSON_Parse(o);
    assert_non_null(m);
    assert_string_equal(js(m, "model"), "claude-opus-4-8");
    assert_string_equal(js(m, "stop_reason"), "tool_use");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    assert_int_equal(cJSON_GetArraySize(content), 3);
    const cJSON *th = cJSON_GetArrayItem(content, 0);
    assert_string_equal(js(th, "type"), "thinking");
    assert_string_equal(js(th, "thinking"), "think"); /* one source, not doubled */
    assert_int_equal(strncmp(js(th, "signature"), "ccrelay1.", 9), 0);
    assert_string_equal(js(cJSON_GetArrayItem(content, 1), "text"), "Listing.");
    const cJSON *tu = cJSON_GetArrayItem(content, 2);
    assert_string_equal(js(tu, "name"), "Bash");
    assert_int_equal(strlen(js(tu, "id")), 30);
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(tu, "input"), "command"), "ls");
    const cJSON *us = cJSON_GetObjectItemCaseSensitive(m, "usage");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(us, "input_tokens")->valuedouble, 40);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(us, "cache_read_input_tokens")->valuedouble, 60);
    assert_int_equal(u.output_tokens, 20);
    cJSON_Delete(m);
    free(o);
    /* 200 with an error object */
    o = respond(&pv, REQ, "{\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"}}", &rc, &e, &u);
    assert_int_equal(rc, -1);
    assert_int_equal(e.kind, ERR_UPSTREAM);
    assert_non_null(strstr(e.msg, "Rate limit exceeded"));
    free(o);
    /* no choices */
    o = respond(&pv, REQ, "{\"choices\":[]}", &rc, &e, &u);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "no choices"));
    free(o);
    /* content_filter, empty content, length */
    o = respond(&pv, REQ, "{\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":\"content_filter\"}]}", &rc, &e, &u);
    assert_int_equal(rc, 0);
    m = cJSON_Parse(o);
    assert_string_equal(js(m, "stop_reason"), "refusal");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "content")), 0);
    cJSON_Delete(m);
    free(o);
    /* arguments object; invalid JSON wrapped; not JSON body */
    o = respond(&pv, REQ, "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"Bash\",\"arguments\":{\"x\":1}}},"
                          "{\"function\":{\"name\":\"Bash\",\"arguments\":\"{bad\"}}]},\"finish_reason\":\"stop\"}]}", &rc, &e, &u);
    assert_int_equal(rc, 0);
    m = cJSON_Parse(o);
    content = cJSON_GetObjectItemCaseSensitive(m, "content");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 0), "input"), "x")->valuedouble, 1);
    assert_string_equal(js(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 1), "input"), "_invalid_arguments"), "{bad");
    assert_string_equal(js(m, "stop_reason"), "tool_use");
    cJSON_Delete(m);
    free(o);
    struct prov tp;
    prov_init(&tp, "g", "https://h/v1", "{\"options\":{\"think_tags\":true}}");
    o = respond(&tp, REQ, "{\"choices\":[{\"message\":{\"content\":\"<think>hmm</think>\\n\\nYes.\"},\"finish_reason\":\"stop\"}]}", &rc, &e, &u);
    assert_int_equal(rc, 0);
    m = cJSON_Parse(o);
    content = cJSON_GetObjectItemCaseSensitive(m, "content");
    assert_string_equal(js(cJSON_GetArrayItem(content, 0), "thinking"), "hmm");
    assert_string_equal(js(cJSON_GetArrayItem(content, 1), "text"), "Yes.");
    cJSON_Delete(m);
    free(o);
    prov_free(&tp);
    o = respond(&pv, REQ, "<html>bad gateway</html>", &rc, &e, &u);
    assert_int_equal(rc, -1);
    free(o);
    prov_free(&pv);
}

/* ------------------------------------------------------------------------------------------ */
/* Bad input never crashes: fixtures with random nodes replaced by values of other types, and
 * streams assembled from odd chunks. Deterministic (fixed seed). */

static unsigned long rnd(unsigned long *s) {
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

static int count_nodes(const cJSON *n) {
    int c = 1;
    const cJSON *k;
    for (k = n ? n->child : NULL; k; k = k->next) c += count_nodes(k);
    return c;
}

static cJSON *nth_node(cJSON *n, int *i) {
    if ((*i)-- == 0) return n;
    for (cJSON *k = n->child; k; k = k->next) {
        cJSON *r = nth_node(k, i);
        if (r) return r;
    }
    return NULL;
}

static cJSON *parent_of(cJSON *root, const cJSON *n) {
    for (cJSON *k = root->child; k; k = k->next) {
        if (k == n) return root;
        cJSON *r = parent_of(k, n);
        if (r) return r;
    }
    return NULL;
}

static void mutated_requests_never_crash(void **state) {
    (void)state;
    unsigned long seed = 42;
    struct prov pvs[3];
    prov_init(&pvs[0], "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}");
    prov_init(&pvs[1], "deepseek", "https://api.deepseek.com/chat/completions", "{}");
    prov_init(&pvs[2], "ollama", "http://127.0.0.1:11434/v1/chat/completions", "{}");
    int ok = 0, refused = 0;
    for (size_t f = 0; f < TU_NFIXTURES; f++) {
        cJSON *fx = tu_fixture(tu_fixture_names[f]);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(fx, "body");
        int total = count_nodes(body);
        for (int it = 0; it < 12; it++) {
            cJSON *b = cJSON_Duplicate(body, 1);
            for (int m = 0; m < 3; m++) {
                int idx = 1 + (int)(rnd(&seed) % (unsigned long)(total - 1));
                cJSON *n = nth_node(b, &idx);
                if (!n || n == b) continue;
                cJSON *repl;
                switch (rnd(&seed) % 6) {
                case 0: repl = cJSON_CreateNumber(-1); break;
                case 1: repl = cJSON_CreateString(""); break;
                case 2: repl = cJSON_CreateNull(); break;
                case 3: repl = cJSON_CreateArray(); break;
                case 4: repl = cJSON_CreateObject(); break;
                default: repl = cJSON_CreateString("\xff\xfe bad utf-8 \xc3"); break;
                }
                if (!cJSON_ReplaceItemViaPointer(parent_of(b, n), n, repl)) cJSON_Delete(repl);
            }
            struct xl_request in = {.body = b, .provider = &pvs[it % 3].p, .model = "m", .api_key = "k"};
            struct xl_http_request out = {0};
            struct err e = {0};
            if (provider_openai.build(&in, &out, &e) == 0) {
                size_t n = evbuffer_get_length(out.body);
                char *t = calloc(1, n + 1);
                evbuffer_copyout(out.body, t, n);
                cJSON *j = cJSON_Parse(t);
                assert_non_null(j); /* always valid JSON */
                cJSON_Delete(j);
                free(t);
                ok++;
            } else {
                assert_true(e.msg[0] != 0);
                refused++;
            }
            req_free(&out);
            cJSON_Delete(b);
        }
        cJSON_Delete(fx);
    }
    assert_true(ok > 0);
    (void)refused;
    for (int i = 0; i < 3; i++) prov_free(&pvs[i]);
}

static void odd_streams_never_crash(void **state) {
    (void)state;
    static const char *const pieces[] = {
        D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t\"}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"r\"}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\"}}]}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"}\"}}]}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":{\"a\":1}}}]}"),
        D("{\"choices\":\"x\",\"usage\":5}"),
        D("{\"choices\":[{\"delta\":7,\"finish_reason\":3}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"d\",\"index\":0},5]}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"p\"}]}}]}"),
        D("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"),
        D("{\"choices\":[],\"usage\":{\"prompt_tokens\":\"many\"}}"),
        D("[1,2,3]"),
        D("\"str\""),
        "data: [DONE]\n\n",
        ": comment\n\n",
        "event: ping\ndata: {}\n\n",
        "\r\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud800\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\"}}]}\n\n",
    };
    const size_t np = sizeof pieces / sizeof *pieces;
    unsigned long seed = 7;
    const char *opts[] = {"{}", "{\"options\":{\"tool_stream\":\"live\",\"think_tags\":true}}"};
    for (int it = 0; it < 300; it++) {
        char up[8192] = "";
        int k = 1 + (int)(rnd(&seed) % 8);
        for (int i = 0; i < k; i++) strcat(up, pieces[rnd(&seed) % np]);
        struct prov pv;
        prov_init(&pv, "g", "https://h/v1", opts[it % 2]);
        struct run r = run_stream(&pv, "m", REQ, up, 1 + rnd(&seed) % 40);
        if (r.rc == XL_DONE) {
            struct parsed p;
            check_grammar(r.out, &p); /* complete and well formed */
            parsed_free(&p);
        } else {
            assert_int_equal(r.rc, -1);
            assert_true(r.e.msg[0] != 0);
            assert_null(strstr(r.out, "message_stop"));
        }
        free(r.out);
        prov_free(&pv);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_build_valid_chat_completions),
        cmocka_unit_test(fixture_toolsearch_loads_deferred_tool),
        cmocka_unit_test(fixture_title_structured_output),
        cmocka_unit_test(fixture_safeguards_and_nonstream),
        cmocka_unit_test(request_content_blocks_and_tools),
        cmocka_unit_test(openrouter_reasoning_per_effort),
        cmocka_unit_test(profile_defaults_and_reasoning_styles),
        cmocka_unit_test(transformer_names),
        cmocka_unit_test(deepseek_reasoning_content_round_trip),
        cmocka_unit_test(openrouter_reasoning_details_round_trip),
        cmocka_unit_test(openrouter_cache_control_last_four),
        cmocka_unit_test(inline_system_modes),
        cmocka_unit_test(request_knob_variants),
        cmocka_unit_test(schema_profile_gemini),
        cmocka_unit_test(empty_request_is_400),
        cmocka_unit_test(stream_plain_text_utf8_splits),
        cmocka_unit_test(stream_reasoning_then_text),
        cmocka_unit_test(stream_text_then_tool_call_many_fragments),
        cmocka_unit_test(stream_parallel_interleaved_calls),
        cmocka_unit_test(stream_ollama_index0_parallel_calls),
        cmocka_unit_test(stream_length_is_max_tokens),
        cmocka_unit_test(stream_invalid_arguments_repaired_or_wrapped),
        cmocka_unit_test(stream_error_chunk_mid_stream),
        cmocka_unit_test(stream_cut_before_finish),
        cmocka_unit_test(stream_waits_for_usage_after_finish),
        cmocka_unit_test(stream_not_sse_body_is_converted),
        cmocka_unit_test(stream_display_omitted_and_encrypted_reasoning),
        cmocka_unit_test(stream_stop_sequence_and_groq_usage),
        cmocka_unit_test(stream_lone_surrogates_and_comments),
        cmocka_unit_test(stream_think_tags),
        cmocka_unit_test(stream_live_tool_mode),
        cmocka_unit_test(nonstream_responses),
        cmocka_unit_test(mutated_requests_never_crash),
        cmocka_unit_test(odd_streams_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
