/* gemini: requests built from every real Claude Code fixture pass a strict check of Gemini's
 * request shape; streams translate at any byte split into Anthropic's exact event grammar; thought
 * signatures survive a round trip through Claude Code's own history. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/gemini.h"
#include "providers/gemini_schema.h"
#include "providers/util.h"
#include "sse.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------------
 * Fixtures of the test: a provider, a request, the built upstream request */

struct prov {
    struct cfg_provider p;
    cJSON *json;
};

static void prov_init(struct prov *pv, const char *options_json) {
    memset(pv, 0, sizeof *pv);
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"name\":\"gemini\",\"options\":%s}",
             options_json ? options_json : "{}");
    pv->json = cJSON_Parse(buf);
    assert_non_null(pv->json);
    pv->p.name = "gemini";
    pv->p.url = "https://generativelanguage.googleapis.com/v1beta/models/";
    pv->p.format = FMT_GEMINI;
    pv->p.json = pv->json;
}

static void prov_free(struct prov *pv) {
    cJSON_Delete(pv->json);
}

struct built {
    char *url;
    struct http_hdrs hdrs;
    char *body_text;
    cJSON *body;
};

static void built_free(struct built *b) {
    free(b->url);
    for (size_t i = 0; i < b->hdrs.n; i++) {
        free(b->hdrs.v[i].name);
        free(b->hdrs.v[i].value);
    }
    free(b->hdrs.v);
    free(b->body_text);
    cJSON_Delete(b->body);
    memset(b, 0, sizeof *b);
}

static const char *hdr(const struct built *b, const char *name) {
    for (size_t i = 0; i < b->hdrs.n; i++)
        if (strcmp(b->hdrs.v[i].name, name) == 0) return b->hdrs.v[i].value;
    return NULL;
}

static int build(const cJSON *body, const struct prov *pv, const char *model, bool stream,
                 struct built *out, struct err *e) {
    memset(out, 0, sizeof *out);
    struct xl_request in = {.body = body,
                            .provider = &pv->p,
                            .model = model,
                            .client_model = "claude-opus-5-5",
                            .api_key = "AIzaTESTKEY",
                            .stream = stream};
    struct xl_http_request req;
    memset(&req, 0, sizeof req);
    int rc = provider_gemini.build(&in, &req, e);
    if (rc < 0) {
        assert_null(req.body);
        return rc;
    }
    out->url = req.url;
    out->hdrs = req.headers;
    size_t n = evbuffer_get_length(req.body);
    out->body_text = malloc(n + 1);
    assert_non_null(out->body_text);
    evbuffer_remove(req.body, out->body_text, n);
    out->body_text[n] = '\0';
    evbuffer_free(req.body);
    out->body = cJSON_Parse(out->body_text);
    assert_non_null(out->body);
    return 0;
}

static const cJSON *J(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}
static const char *S(const cJSON *o, const char *k) {
    const cJSON *v = J(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The strict checker of Gemini's request shape */

static bool valid_fn_name(const char *n) {
    size_t l = n ? strlen(n) : 0;
    if (l == 0 || l > 63) return false;
    if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') || n[0] == '_'))
        return false;
    for (size_t i = 0; i < l; i++) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok) return false;
    }
    return true;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(why, whyn, __VA_ARGS__);                                                      \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static int check_part(const cJSON *p, bool model, char *why, size_t whyn) {
    static const char *const kinds[] = {"text", "inlineData", "fileData", "functionCall",
                                        "functionResponse"};
    int n = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        n += J(p, kinds[i]) != NULL;
    CHECK(n == 1, "a part must hold exactly one kind of data");
    const cJSON *k;
    cJSON_ArrayForEach(k, p) {
        bool ok = strcmp(k->string, "thoughtSignature") == 0 || strcmp(k->string, "thought") == 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            ok = ok || strcmp(k->string, kinds[i]) == 0;
        CHECK(ok, "unknown part field %s", k->string);
    }
    if (J(p, "text")) {
        CHECK(S(p, "text") && S(p, "text")[0], "empty text part");
    }
    if (J(p, "functionCall")) {
        CHECK(model, "functionCall in a user content");
        const cJSON *fc = J(p, "functionCall");
        CHECK(valid_fn_name(S(fc, "name")), "bad functionCall name");
        CHECK(cJSON_IsObject(J(fc, "args")), "functionCall args is not an object");
    }
    if (J(p, "functionResponse")) {
        CHECK(!model, "functionResponse in a model content");
        const cJSON *fr = J(p, "functionResponse");
        CHECK(valid_fn_name(S(fr, "name")), "bad functionResponse name");
        CHECK(cJSON_IsObject(J(fr, "response")), "functionResponse.response is not an object");
        CHECK(J(J(fr, "response"), "output") || J(J(fr, "response"), "error"),
              "functionResponse.response has neither output nor error");
    }
    if (J(p, "inlineData")) {
        CHECK(S(J(p, "inlineData"), "mimeType") && S(J(p, "inlineData"), "data"), "bad inlineData");
    }
    return 0;
}

static int check_request(const cJSON *req, char *why, size_t whyn) {
    static const char *const top[] = {"systemInstruction", "contents",       "tools",
                                      "toolConfig",        "safetySettings", "generationConfig"};
    const cJSON *k;
    cJSON_ArrayForEach(k, req) {
        bool ok = false;
        for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
            ok = ok || !strcmp(k->string, top[i]);
        CHECK(ok, "unexpected top-level field %s", k->string);
    }
    /* systemInstruction */
    const cJSON *si = J(req, "systemInstruction");
    if (si) {
        CHECK(cJSON_GetArraySize(J(si, "parts")) > 0, "empty systemInstruction");
        const cJSON *p;
        cJSON_ArrayForEach(p, J(si, "parts")) {
            const char *t = S(p, "text");
            CHECK(t && *t, "systemInstruction part without text");
            CHECK(strncmp(t, "x-anthropic-billing-header", 26) != 0, "billing block in system");
        }
    }
    /* contents */
    const cJSON *contents = J(req, "contents");
    CHECK(cJSON_IsArray(contents) && cJSON_GetArraySize(contents) > 0, "no contents");
    const cJSON *prev = NULL, *c;
    cJSON_ArrayForEach(c, contents) {
        const char *role = S(c, "role");
        CHECK(role && (!strcmp(role, "user") || !strcmp(role, "model")), "bad role");
        if (prev)
            CHECK(strcmp(S(prev, "role"), role) != 0, "two %s contents in a row", role);
        else
            CHECK(!strcmp(role, "user"), "first content is not user");
        const cJSON *parts = J(c, "parts");
        CHECK(cJSON_GetArraySize(parts) > 0, "content without parts");
        bool model = !strcmp(role, "model");
        bool after_fr = false;
        const cJSON *p;
        cJSON_ArrayForEach(p, parts) {
            if (check_part(p, model, why, whyn) < 0) return -1;
            CHECK(!after_fr || J(p, "functionResponse"), "a part follows a functionResponse (G1)");
            if (J(p, "functionResponse")) after_fr = true;
        }
        /* every call answered, in order, by the next content */
        if (model) {
            const cJSON *next = c->next;
            int ncalls = 0;
            cJSON_ArrayForEach(p, parts) if (J(p, "functionCall")) ncalls++;
            if (ncalls) {
                CHECK(next, "function calls not answered");
                int i = 0;
                const cJSON *q;
                cJSON_ArrayForEach(q, J(next, "parts")) {
                    const cJSON *fr = J(q, "functionResponse");
                    if (!fr) continue;
                    /* the i-th call */
                    int j = 0;
                    const cJSON *call = NULL, *x;
                    cJSON_ArrayForEach(x, parts) if (J(x, "functionCall") && j++ == i) call = x;
                    CHECK(call, "more responses than calls");
                    CHECK(!strcmp(S(J(call, "functionCall"), "name"), S(fr, "name")),
                          "response %d answers %s, not %s", i, S(fr, "name"),
                          S(J(call, "functionCall"), "name"));
                    i++;
                }
                CHECK(i == ncalls, "%d calls but %d responses", ncalls, i);
            }
        } else if (prev) {
            /* responses only right after a model content with that many calls (checked above) */
        } else {
            cJSON_ArrayForEach(p, parts) CHECK(!J(p, "functionResponse"), "response without call");
        }
        prev = c;
    }
    CHECK(!strcmp(S(prev, "role"), "user"), "last content is not user");
    /* tools */
    const cJSON *tools = J(req, "tools");
    int ndecl = 0;
    if (tools) {
        CHECK(cJSON_GetArraySize(tools) > 0, "empty tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *fd = J(t, "functionDeclarations");
            CHECK(fd || J(t, "googleSearch"), "unknown tool kind");
            const cJSON *d;
            cJSON_ArrayForEach(d, fd) {
                ndecl++;
                CHECK(valid_fn_name(S(d, "name")), "bad declaration name");
                CHECK(S(d, "description"), "declaration without description");
                CHECK(strcmp(S(d, "name"), "DeferredToolPlaceholder") != 0, "placeholder declared");
                const cJSON *params = J(d, "parameters"), *pjs = J(d, "parametersJsonSchema");
                CHECK(!(params && pjs), "parameters and parametersJsonSchema together");
                const cJSON *s = params ? params : pjs;
                char sw[400];
                if (s && gemini_schema_check(s, 1, sw, sizeof sw) < 0)
                    CHECK(0, "declaration %s: %s", S(d, "name"), sw);
                cJSON_ArrayForEach(k, d) {
                    CHECK(!strcmp(k->string, "name") || !strcmp(k->string, "description") ||
                              !strcmp(k->string, "parameters") ||
                              !strcmp(k->string, "parametersJsonSchema"),
                          "unknown declaration field %s", k->string);
                }
            }
        }
    }
    /* calls name declared functions */
    cJSON_ArrayForEach(c, contents) {
        const cJSON *p;
        cJSON_ArrayForEach(p, J(c, "parts")) {
            const cJSON *fc = J(p, "functionCall");
            if (!fc) continue;
            bool found = false;
            const cJSON *t, *d;
            cJSON_ArrayForEach(t, tools) cJSON_ArrayForEach(d, J(t, "functionDeclarations")) found =
                found || !strcmp(S(d, "name"), S(fc, "name"));
            CHECK(found, "call of undeclared function %s", S(fc, "name"));
        }
    }
    CHECK(!J(req, "toolConfig") || ndecl > 0, "toolConfig without declarations (G6)");
    const cJSON *gen = J(req, "generationConfig");
    if (gen) {
        const cJSON *tc = J(gen, "thinkingConfig");
        CHECK(!(J(tc, "thinkingBudget") && J(tc, "thinkingLevel")), "budget and level together");
        const cJSON *mo = J(gen, "maxOutputTokens");
        CHECK(!mo || (mo->valuedouble >= 1 && mo->valuedouble <= 65536), "maxOutputTokens %g",
              mo ? mo->valuedouble : 0);
    }
    return 0;
}

/* R1: a system message after the last user message (other than the stable first one, when no
 * assistant message precedes it) is a per-request reminder: never in systemInstruction, always
 * in the last user content. */
static void assert_reminders_placed(const cJSON *anth, const struct built *b) {
    const cJSON *msgs = J(anth, "messages"), *m;
    int last_user = -1, i = 0, first_sys = -1;
    bool assistant_before = false, seen_sys = false;
    cJSON_ArrayForEach(m, msgs) {
        if (!strcmp(S(m, "role"), "user")) last_user = i;
        if (!seen_sys && !strcmp(S(m, "role"), "assistant")) assistant_before = true;
        if (!seen_sys && !strcmp(S(m, "role"), "system")) {
            seen_sys = true;
            first_sys = i;
        }
        i++;
    }
    char *si = cJSON_PrintUnformatted(J(b->body, "systemInstruction"));
    const cJSON *contents = J(b->body, "contents");
    char *last =
        cJSON_PrintUnformatted(cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1));
    i = 0;
    cJSON_ArrayForEach(m, msgs) {
        bool stable = i == first_sys && !assistant_before;
        if (i > last_user && !strcmp(S(m, "role"), "system") && !stable) {
            const cJSON *c = J(m, "content");
            const char *t =
                cJSON_IsString(c) ? c->valuestring : S(cJSON_GetArrayItem(c, 0), "text");
            assert_non_null(t);
            cJSON *tmp = cJSON_CreateString(t);
            char *q = cJSON_PrintUnformatted(tmp); /* the text as JSON, quotes included */
            q[strlen(q) - 1] = '\0';
            assert_null(si ? strstr(si, q + 1) : NULL);
            assert_non_null(strstr(last, q + 1));
            assert_non_null(strstr(last, "<system-reminder>"));
            cJSON_free(q);
            cJSON_Delete(tmp);
        }
        i++;
    }
    cJSON_free(si);
    cJSON_free(last);
}

static void assert_request_ok(const struct built *b, const char *what) {
    char why[512] = "";
    int rc = check_request(b->body, why, sizeof why);
    if (rc != 0) fprintf(stderr, "%s: %s\n", what, why);
    assert_int_equal(rc, 0);
    /* never anything cache-related or a placeholder tool, anywhere in the bytes */
    assert_null(strstr(b->body_text, "cachedContent"));
    assert_null(strstr(b->body_text, "cache_control"));
    assert_null(strstr(b->body_text, "DeferredToolPlaceholder"));
    assert_null(strstr(b->body_text, "x-anthropic-billing-header"));
    assert_null(strstr(b->body_text, "\"safeguards\""));
    assert_null(strstr(b->body_text, "defer_loading"));
    assert_null(strstr(b->body_text, "\"$schema\""));
    /* in the declarations (the structured-output schema may keep JSON Schema keywords Gemini's
     * responseJsonSchema documents) */
    char *tools = cJSON_PrintUnformatted(J(b->body, "tools"));
    if (tools) {
        assert_null(strstr(tools, "additionalProperties"));
        assert_null(strstr(tools, "exclusiveMinimum"));
        assert_null(strstr(tools, "\"const\""));
        assert_null(strstr(tools, "propertyNames"));
        assert_null(strstr(tools, "\"default\""));
        cJSON_free(tools);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Request tests */

static const char *const MODELS[] = {"gemini-3-flash-preview", "gemini-2.5-flash",
                                     "models/gemini-2.0-flash"};

static void every_fixture_builds_a_strict_request(void **state) {
    (void)state;
    struct prov pv_default, pv_openapi;
    prov_init(&pv_default, NULL);
    prov_init(&pv_openapi, "{\"gemini_schema_mode\":\"openapi\"}");
    const struct prov *pvs[] = {&pv_default, &pv_openapi};
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        assert_non_null(fx);
        const cJSON *body = J(fx, "body");
        for (size_t m = 0; m < sizeof MODELS / sizeof MODELS[0]; m++) {
            for (size_t k = 0; k < 2; k++) {
                struct built b;
                struct err e = {0};
                int rc = build(body, pvs[k], MODELS[m], true, &b, &e);
                if (rc != 0) fprintf(stderr, "%s: %s\n", tu_fixture_names[i], e.msg);
                assert_int_equal(rc, 0);
                char what[256];
                snprintf(what, sizeof what, "%s on %s", tu_fixture_names[i], MODELS[m]);
                assert_request_ok(&b, what);
                assert_reminders_placed(body, &b);
                /* every custom tool of the request that Gemini should see is declared */
                const cJSON *t;
                int want = 0, have = 0;
                cJSON_ArrayForEach(t, J(body, "tools")) {
                    if (!strcmp(S(t, "name"), "DeferredToolPlaceholder")) continue;
                    if (!cJSON_IsTrue(J(t, "defer_loading"))) want++;
                }
                cJSON_ArrayForEach(t, J(b.body, "tools")) have +=
                    cJSON_GetArraySize(J(t, "functionDeclarations"));
                assert_true(have >= want);
                /* deterministic: the same request gives the same bytes */
                struct built b2;
                assert_int_equal(build(body, pvs[k], MODELS[m], true, &b2, &e), 0);
                assert_string_equal(b.body_text, b2.body_text);
                built_free(&b2);
                built_free(&b);
            }
        }
        cJSON_Delete(fx);
    }
    prov_free(&pv_default);
    prov_free(&pv_openapi);
}

static const cJSON *last_content(const cJSON *req) {
    const cJSON *c = J(req, "contents");
    return cJSON_GetArrayItem(c, cJSON_GetArraySize(c) - 1);
}

static void trailing_reminder_goes_before_function_responses(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    cJSON *fx = tu_fixture("claude-code-2.1.331/haiku55-trailing-system.json");
    struct built b;
    struct err e = {0};
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    const cJSON *parts = J(last_content(b.body), "parts");
    assert_int_equal(cJSON_GetArraySize(parts), 2);
    const char *t = S(cJSON_GetArrayItem(parts, 0), "text");
    assert_non_null(t);
    assert_non_null(strstr(t, "<system-reminder>"));
    assert_non_null(strstr(t, "<total_tokens>"));
    assert_non_null(J(cJSON_GetArrayItem(parts, 1), "functionResponse"));
    /* the stable environment message is in systemInstruction */
    char *si = cJSON_PrintUnformatted(J(b.body, "systemInstruction"));
    assert_non_null(strstr(si, "You have been invoked in the following environment"));
    cJSON_free(si);
    built_free(&b);
    cJSON_Delete(fx);
    prov_free(&pv);
}

static void first_turn_environment_message_is_hoisted(void **state) {
    (void)state;
    /* hello-opus55: the environment system message is last, but it is the stable one */
    struct prov pv;
    prov_init(&pv, NULL);
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    struct built b;
    struct err e = {0};
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    char *si = cJSON_PrintUnformatted(J(b.body, "systemInstruction"));
    assert_non_null(strstr(si, "You have been invoked in the following environment"));
    cJSON_free(si);
    char *ct = cJSON_PrintUnformatted(J(b.body, "contents"));
    assert_null(strstr(ct, "You have been invoked in the following environment"));
    cJSON_free(ct);
    built_free(&b);
    cJSON_Delete(fx);
    prov_free(&pv);
}

static void tool_reference_loads_the_deferred_tool(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    cJSON *fx = tu_fixture("claude-code-2.1.331/toolsearch-tool-reference.json");
    struct built b;
    struct err e = {0};
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_non_null(strstr(b.body_text, "\"name\":\"WebFetch\""));
    const cJSON *parts = J(last_content(b.body), "parts");
    assert_string_equal(S(cJSON_GetArrayItem(parts, 0), "text"), "Tool loaded.");
    const cJSON *fr = J(cJSON_GetArrayItem(parts, 1), "functionResponse");
    assert_string_equal(S(fr, "name"), "ToolSearch");
    assert_string_equal(S(J(fr, "response"), "output"), "Tool loaded: WebFetch");
    built_free(&b);
    cJSON_Delete(fx);
    prov_free(&pv);
}

static void short_prompt_with_cache_control_is_a_plain_request(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    cJSON *body = cJSON_Parse(
        "{\"model\":\"claude-opus-5-5\",\"max_tokens\":1000,\"stream\":true,\"system\":[{\"type\":"
        "\"text\",\"text\":\"Be brief.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\","
        "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]}]}");
    struct built b;
    struct err e = {0};
    assert_int_equal(build(body, &pv, "gemini-2.5-flash", true, &b, &e), 0);
    assert_request_ok(&b, "short prompt");
    assert_string_equal(
        b.body_text, "{\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},\"contents\":"
                     "[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{"
                     "\"maxOutputTokens\":1000}}");
    assert_string_equal(b.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                               "gemini-2.5-flash:streamGenerateContent?alt=sse");
    assert_null(strstr(b.url, "key="));
    assert_string_equal(hdr(&b, "x-goog-api-key"), "AIzaTESTKEY");
    built_free(&b);
    /* non-streaming, a base without the trailing slash, a models/ prefix */
    pv.p.url = "https://example.test/v1beta/models";
    assert_int_equal(build(body, &pv, "models/gemini-2.5-pro", false, &b, &e), 0);
    assert_string_equal(b.url, "https://example.test/v1beta/models/gemini-2.5-pro:generateContent");
    built_free(&b);
    cJSON_Delete(body);
    prov_free(&pv);
}

static const cJSON *gen_of(const struct built *b) {
    return J(b->body, "generationConfig");
}

static void generation_and_thinking_config(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    struct err e = {0};
    struct built b;
    /* 2.1.331: max_tokens 128000, adaptive + effort medium, display omitted */
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_int_equal((int)J(gen_of(&b), "maxOutputTokens")->valuedouble, 65536);
    assert_string_equal(S(J(gen_of(&b), "thinkingConfig"), "thinkingLevel"), "high");
    assert_true(cJSON_IsTrue(J(J(gen_of(&b), "thinkingConfig"), "includeThoughts")));
    assert_non_null(J(
        cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(b.body, "tools"), 0), "functionDeclarations"), 0),
        "parametersJsonSchema"));
    built_free(&b);
    cJSON_Delete(fx);
    /* the level table of the config decides (G5) */
    struct prov pv3;
    prov_init(&pv3, "{\"gemini_thinking_levels\":[\"minimal\",\"low\",\"medium\",\"high\"]}");
    fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    assert_int_equal(build(J(fx, "body"), &pv3, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_string_equal(S(J(gen_of(&b), "thinkingConfig"), "thinkingLevel"), "medium");
    built_free(&b);
    cJSON_Delete(fx);
    /* thinking disabled: lowest level, no thoughts; temperature dropped for the level family */
    fx = tu_fixture("claude-code-2.1.331/thinking-disabled-sonnet45.json");
    assert_int_equal(build(J(fx, "body"), &pv3, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_string_equal(S(J(gen_of(&b), "thinkingConfig"), "thinkingLevel"), "minimal");
    assert_true(cJSON_IsFalse(J(J(gen_of(&b), "thinkingConfig"), "includeThoughts")));
    assert_null(J(gen_of(&b), "temperature"));
    built_free(&b);
    /* ... but kept for 2.5, where thinking off is a zero budget on Flash */
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-2.5-flash", true, &b, &e), 0);
    assert_true(J(gen_of(&b), "temperature")->valuedouble == 1.0);
    assert_int_equal((int)J(J(gen_of(&b), "thinkingConfig"), "thinkingBudget")->valuedouble, 0);
    assert_non_null(J(
        cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(b.body, "tools"), 0), "functionDeclarations"), 0),
        "parameters"));
    built_free(&b);
    cJSON_Delete(fx);
    /* haiku 2.1.197: enabled + budget 31999 -> the 2.5 Flash maximum */
    fx = tu_fixture("claude-code/model-haiku.json");
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-2.5-flash", true, &b, &e), 0);
    assert_int_equal((int)J(J(gen_of(&b), "thinkingConfig"), "thinkingBudget")->valuedouble, 24576);
    assert_null(J(J(gen_of(&b), "thinkingConfig"), "thinkingLevel"));
    built_free(&b);
    /* gemini-2.0: no thinking config at all, 8192 cap */
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-2.0-flash", true, &b, &e), 0);
    assert_null(J(gen_of(&b), "thinkingConfig"));
    assert_int_equal((int)J(gen_of(&b), "maxOutputTokens")->valuedouble, 8192);
    built_free(&b);
    cJSON_Delete(fx);
    /* the title call: JSON schema output, no tools, no $schema */
    fx = tu_fixture("claude-code/title-structured-output.json");
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_string_equal(S(gen_of(&b), "responseMimeType"), "application/json");
    assert_non_null(J(J(gen_of(&b), "responseJsonSchema"), "properties"));
    assert_null(J(b.body, "tools"));
    assert_null(J(b.body, "toolConfig"));
    built_free(&b);
    cJSON_Delete(fx);
    prov_free(&pv);
    prov_free(&pv3);
}

static const cJSON *first_call_part(const cJSON *req) {
    const cJSON *c, *p;
    cJSON_ArrayForEach(c, J(req, "contents"))
        cJSON_ArrayForEach(p, J(c, "parts")) if (J(p, "functionCall")) return p;
    return NULL;
}

static void unsigned_history_gets_the_placeholder(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    struct err e = {0};
    struct built b;
    /* Anthropic-signed thinking + a toolu_ id: nothing Gemini issued */
    cJSON *fx = tu_fixture("claude-code-2.1.331/thinking-roundtrip.json");
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    const cJSON *p = first_call_part(b.body);
    assert_non_null(p);
    assert_string_equal(S(p, "thoughtSignature"), GEMINI_SKIP_SIGNATURE);
    assert_null(strstr(b.body_text, "c2lnbmF0dXJlLWZyb20tY2FwdHVyZS1zZXJ2ZXI")); /* not replayed */
    assert_null(strstr(b.body_text, "The user wants a greeting")); /* thinking never as text */
    built_free(&b);
    /* 2.5 does not require signatures: no placeholder */
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-2.5-flash", true, &b, &e), 0);
    assert_null(S(first_call_part(b.body), "thoughtSignature"));
    built_free(&b);
    cJSON_Delete(fx);
    prov_free(&pv);
}

static void tool_choice_and_web_search(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    struct err e = {0};
    struct built b;
    cJSON *body = cJSON_Parse(
        "{\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"find it\"}],"
        "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}");
    /* web search alone: googleSearch, no toolConfig */
    assert_int_equal(build(body, &pv, "gemini-2.5-flash", false, &b, &e), 0);
    assert_string_equal(b.body_text,
                        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"find it\"}]}],"
                        "\"tools\":[{\"googleSearch\":{}}],\"generationConfig\":{"
                        "\"maxOutputTokens\":100}}");
    built_free(&b);
    cJSON_Delete(body);
    /* with a function: search dropped (G3), tool_choice tool -> ANY + allowed name */
    body = cJSON_Parse(
        "{\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"mcp__srv__do.it\"},\"tools\":[{\"type\":"
        "\"web_search_20250305\",\"name\":\"web_search\"},{\"name\":\"mcp__srv__do.it\","
        "\"input_schema\":{\"type\":\"object\",\"properties\":{}}},{\"name\":\"x y\","
        "\"description\":\"d\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"a\":{"
        "\"type\":\"string\"}}}}]}");
    assert_int_equal(build(body, &pv, "gemini-2.5-flash", false, &b, &e), 0);
    assert_request_ok(&b, "tool choice");
    assert_null(strstr(b.body_text, "googleSearch"));
    const cJSON *fcc = J(J(b.body, "toolConfig"), "functionCallingConfig");
    assert_string_equal(S(fcc, "mode"), "ANY");
    assert_string_equal(cJSON_GetArrayItem(J(fcc, "allowedFunctionNames"), 0)->valuestring,
                        "mcp__srv__do.it");
    const cJSON *d0 =
        cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(b.body, "tools"), 0), "functionDeclarations"), 0);
    assert_null(J(d0, "parameters")); /* no properties: no parameters */
    assert_string_equal(S(d0, "description"), "mcp__srv__do.it");
    const cJSON *d1 =
        cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(b.body, "tools"), 0), "functionDeclarations"), 1);
    assert_true(valid_fn_name(S(d1, "name")));
    assert_true(strncmp(S(d1, "name"), "x_y_", 4) == 0);
    built_free(&b);
    cJSON_Delete(body);
    prov_free(&pv);
}

/* ---------------------------------------------------------------------------------------------
 * Stream tests: the Anthropic grammar checker and the feeders */

struct grammar {
    int nstart, nstop, ndelta_msg;
    int next_index;
    int open; /* -1 none, else index */
    char open_type[32];
    bool after_stop;
    bool bad;
    char why[200];
};

static int grammar_event(void *arg, const char *event, const char *data, size_t len) {
    struct grammar *g = arg;
    cJSON *e = cJSON_ParseWithLength(data, len);
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (!g->bad) snprintf(g->why, sizeof g->why, __VA_ARGS__);                                 \
        g->bad = true;                                                                             \
        cJSON_Delete(e);                                                                           \
        return 0;                                                                                  \
    } while (0)
    if (!e) BAD("event data is not JSON");
    const char *type = S(e, "type");
    if (!type || strcmp(type, event) != 0) BAD("event name %s != type %s", event, type ? type : "");
    if (g->after_stop) BAD("%s after message_stop", type);
    if (!strcmp(type, "message_start")) {
        if (g->nstart++) BAD("two message_start");
        const cJSON *u = J(J(e, "message"), "usage");
        if (J(u, "input_tokens")->valuedouble != 0) BAD("message_start input_tokens not 0 (O9)");
    } else if (!g->nstart) {
        BAD("%s before message_start", type);
    } else if (!strcmp(type, "content_block_start")) {
        int idx = (int)J(e, "index")->valuedouble;
        if (g->open >= 0) BAD("block %d opened while %d open", idx, g->open);
        if (idx != g->next_index) BAD("index %d, expected %d", idx, g->next_index);
        g->open = idx;
        g->next_index++;
        snprintf(g->open_type, sizeof g->open_type, "%s", S(J(e, "content_block"), "type"));
    } else if (!strcmp(type, "content_block_delta")) {
        int idx = (int)J(e, "index")->valuedouble;
        if (idx != g->open) BAD("delta for %d while %d open", idx, g->open);
        const char *dt = S(J(e, "delta"), "type");
        bool ok = (!strcmp(dt, "text_delta") && !strcmp(g->open_type, "text") &&
                   *S(J(e, "delta"), "text")) ||
                  ((!strcmp(dt, "thinking_delta") || !strcmp(dt, "signature_delta")) &&
                   !strcmp(g->open_type, "thinking")) ||
                  (!strcmp(dt, "input_json_delta") && !strcmp(g->open_type, "tool_use"));
        if (!ok) BAD("%s inside %s", dt, g->open_type);
    } else if (!strcmp(type, "content_block_stop")) {
        int idx = (int)J(e, "index")->valuedouble;
        if (idx != g->open) BAD("stop for %d while %d open", idx, g->open);
        g->open = -1;
    } else if (!strcmp(type, "message_delta")) {
        if (g->open >= 0) BAD("message_delta with block %d open", g->open);
        if (g->ndelta_msg++) BAD("two message_delta");
        if (!S(J(e, "delta"), "stop_reason")) BAD("message_delta without stop_reason");
        if (!cJSON_IsNumber(J(J(e, "usage"), "output_tokens"))) BAD("no output_tokens");
    } else if (!strcmp(type, "message_stop")) {
        if (g->ndelta_msg != 1) BAD("message_stop without message_delta");
        g->after_stop = true;
        g->nstop++;
    } else if (strcmp(type, "ping") != 0) {
        BAD("unknown event %s", type);
    }
    cJSON_Delete(e);
    return 0;
#undef BAD
}

/* Check a complete client stream; returns the folded message (caller deletes). */
static cJSON *check_stream(const char *sse, size_t len, bool complete) {
    struct grammar g = {.open = -1};
    struct sse_parser p;
    assert_int_equal(sse_parser_init(&p, 1 << 24), 0);
    assert_int_equal(sse_feed(&p, sse, len, grammar_event, &g), 0);
    assert_int_equal(sse_finish(&p, grammar_event, &g), 0);
    sse_parser_free(&p);
    if (g.bad) fprintf(stderr, "grammar: %s\n%.*s\n", g.why, (int)len, sse);
    assert_false(g.bad);
    if (!complete) return NULL;
    assert_int_equal(g.nstop, 1);
    struct evbuffer *m = evbuffer_new();
    struct err e = {0};
    assert_int_equal(gemini_fold_sse(sse, len, m, NULL, &e), 0);
    size_t n = evbuffer_get_length(m);
    cJSON *msg = cJSON_ParseWithLength((const char *)evbuffer_pullup(m, -1), n);
    evbuffer_free(m);
    assert_non_null(msg);
    return msg;
}

struct run {
    int rc; /* last return: XL_DONE, XL_MORE or -1 */
    struct err err;
    char *out; /* client bytes */
    size_t len;
    struct xl_usage usage;
    struct xl_error xerr; /* gemini_stream_error after a failure */
    int xerr_rc;
};

static void run_free(struct run *r) {
    free(r->out);
}

static struct run run_stream_on(const struct prov *pvp, const cJSON *body, const char *model,
                                const char *up, size_t step);

static struct run run_stream(const cJSON *body, const char *model, const char *up, size_t step) {
    struct prov pv;
    prov_init(&pv, NULL);
    struct run r = run_stream_on(&pv, body, model, up, step);
    prov_free(&pv);
    return r;
}

/* Feed `up` in pieces of `step` bytes (0: all at once), then end. */
static struct run run_stream_on(const struct prov *pvp, const cJSON *body, const char *model,
                                const char *up, size_t step) {
    const struct prov pv = *pvp;
    struct xl_request in = {.body = body,
                            .provider = &pv.p,
                            .model = model,
                            .client_model = "claude-opus-5-5",
                            .stream = true};
    struct run r;
    memset(&r, 0, sizeof r);
    struct xl_stream *st = provider_gemini.stream_new(&in, &r.err);
    if (!st) {
        r.rc = -1;
        r.out = calloc(1, 1);
        return r;
    }
    struct evbuffer *out = evbuffer_new();
    size_t n = strlen(up);
    if (step == 0) step = n ? n : 1;
    r.rc = XL_MORE;
    for (size_t i = 0; i < n && r.rc == XL_MORE; i += step) {
        size_t k = i + step > n ? n - i : step;
        r.rc = provider_gemini.stream_feed(st, up + i, k, out, &r.err);
    }
    if (r.rc == XL_MORE) r.rc = provider_gemini.stream_end(st, out, &r.err);
    provider_gemini.stream_usage(st, &r.usage);
    r.xerr_rc = gemini_stream_error(st, &r.xerr);
    provider_gemini.stream_free(st);
    r.len = evbuffer_get_length(out);
    r.out = malloc(r.len + 1);
    evbuffer_remove(out, r.out, r.len);
    r.out[r.len] = '\0';
    evbuffer_free(out);
    return r;
}

static cJSON *simple_body(const char *extra) {
    char buf[1024];
    snprintf(
        buf, sizeof buf,
        "{\"model\":\"claude-opus-5-5\",\"max_tokens\":1000,\"stream\":true,\"messages\":[{"
        "\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"name\":\"Bash\",\"input_schema\":"
        "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"}}}},{\"name\":"
        "\"Read\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"file_path\":{\"type\":"
        "\"string\"}}}}]%s}",
        extra ? extra : "");
    cJSON *b = cJSON_Parse(buf);
    assert_non_null(b);
    return b;
}

#define EV(json) "data: " json "\r\n\r\n"

/* Split points: every byte for short streams, a spread of steps otherwise. */
static const size_t STEPS[] = {1, 2, 3, 5, 7, 11, 13, 64, 0};
#define NSTEPS (sizeof STEPS / sizeof STEPS[0])

static const cJSON *block(const cJSON *msg, int i) {
    return cJSON_GetArrayItem(J(msg, "content"), i);
}

static const char UP_TEXT[] =
    EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]},"
       "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"totalTokenCount\":12}}")
        EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo "
           "\xc3\xa9t\xc3\xa9\"}]},"
           "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,"
           "\"candidatesTokenCount\":3,\"totalTokenCount\":15}}");

static void stream_text(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", UP_TEXT, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_string_equal(S(msg, "model"), "claude-opus-5-5");
        assert_int_equal(cJSON_GetArraySize(J(msg, "content")), 1);
        assert_string_equal(S(block(msg, 0), "text"), "Hello \xc3\xa9t\xc3\xa9");
        assert_string_equal(S(msg, "stop_reason"), "end_turn");
        assert_int_equal(r.usage.input_tokens, 12);
        assert_int_equal(r.usage.output_tokens, 3);
        cJSON_Delete(msg);
        run_free(&r);
    }
    cJSON_Delete(body);
}

static const char UP_THINK_TEXT[] = EV(
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Let me think.\","
    "\"thought\":true}]}}],\"usageMetadata\":{\"promptTokenCount\":9000,"
    "\"cachedContentTokenCount\":8000}}")
    EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" Done.\","
       "\"thought\":true,\"thoughtSignature\":\"Q0FGRUJBQkU=\"}]}}]}")
        EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Answer.\"}]},"
           "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":9000,"
           "\"candidatesTokenCount\":25,\"thoughtsTokenCount\":60,\"cachedContentTokenCount\":8000,"
           "\"totalTokenCount\":9085}}");

static void stream_thinking_then_text_with_cached_usage(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", UP_THINK_TEXT, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_int_equal(cJSON_GetArraySize(J(msg, "content")), 2);
        assert_string_equal(S(block(msg, 0), "type"), "thinking");
        assert_string_equal(S(block(msg, 0), "thinking"), "Let me think. Done.");
        assert_true(strncmp(S(block(msg, 0), "signature"), "ccrelay1.", 9) == 0);
        assert_string_equal(S(block(msg, 1), "text"), "Answer.");
        const cJSON *u = J(msg, "usage");
        assert_int_equal((int)J(u, "input_tokens")->valuedouble, 1000);
        assert_int_equal((int)J(u, "cache_read_input_tokens")->valuedouble, 8000);
        assert_int_equal((int)J(u, "output_tokens")->valuedouble, 85);
        assert_int_equal((int)J(J(u, "output_tokens_details"), "thinking_tokens")->valuedouble, 60);
        cJSON_Delete(msg);
        run_free(&r);
    }
    /* display omitted: the block is there, its text is not */
    cJSON *b2 = simple_body(",\"thinking\":{\"type\":\"adaptive\",\"display\":\"omitted\"}");
    struct run r = run_stream(b2, "gemini-3-flash-preview", UP_THINK_TEXT, 0);
    cJSON *msg = check_stream(r.out, r.len, true);
    assert_string_equal(S(block(msg, 0), "thinking"), "");
    assert_true(strncmp(S(block(msg, 0), "signature"), "ccrelay1.", 9) == 0);
    cJSON_Delete(msg);
    run_free(&r);
    cJSON_Delete(b2);
    cJSON_Delete(body);
}

static const char UP_ONE_CALL[] =
    EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Need a listing.\","
       "\"thought\":true}]}}],\"usageMetadata\":{\"promptTokenCount\":9000}}")
        EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Checking "
           "src.\"}]}}]}")
            EV("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{"
               "\"name\":"
               "\"Bash\",\"args\":{\"command\":\"ls src\"},\"id\":\"call-7\"},\"thoughtSignature\":"
               "\"CpwBAdHtim9xQ3Y1cW5z\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{"
               "\"promptTokenCount\":9000,\"candidatesTokenCount\":25,\"thoughtsTokenCount\":60,"
               "\"totalTokenCount\":9085}}");

static void stream_one_function_call(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", UP_ONE_CALL, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_int_equal(cJSON_GetArraySize(J(msg, "content")), 3);
        const cJSON *tu = block(msg, 2);
        assert_string_equal(S(tu, "type"), "tool_use");
        assert_string_equal(S(tu, "name"), "Bash");
        assert_string_equal(S(J(tu, "input"), "command"), "ls src");
        const char *id = S(tu, "id");
        assert_non_null(id);
        if (!id) return;
        assert_true(strncmp(id, "toolu_", 6) == 0);
        char idbuf[512];
        snprintf(idbuf, sizeof idbuf, "%s", id);
        assert_true(strlen(idbuf) > 30);
        assert_non_null(strstr(idbuf + 30, "__gi"));
        assert_non_null(strstr(idbuf + 30, "__gs"));
        for (const char *p = id; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '_' || *p == '-');
        assert_string_equal(S(msg, "stop_reason"), "tool_use");
        cJSON_Delete(msg);
        run_free(&r);
    }
    cJSON_Delete(body);
}

static const char UP_TWO_CALLS[] = EV(
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
    "\"Bash\",\"args\":{\"command\":\"ls\"}},\"thoughtSignature\":\"c2lnMQ==\"},{\"functionCall\":"
    "{\"name\":\"Read\",\"args\":{\"file_path\":\"/a\"}}}]},\"finishReason\":\"STOP\"}],"
    "\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":5,"
    "\"totalTokenCount\":15}}");

static void stream_two_function_calls(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", UP_TWO_CALLS, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_int_equal(cJSON_GetArraySize(J(msg, "content")), 2);
        assert_string_equal(S(block(msg, 0), "name"), "Bash");
        assert_string_equal(S(block(msg, 1), "name"), "Read");
        assert_string_equal(S(J(block(msg, 1), "input"), "file_path"), "/a");
        /* distinct ids; only the first carries the signature (§6 edge case 55) */
        assert_string_not_equal(S(block(msg, 0), "id"), S(block(msg, 1), "id"));
        assert_non_null(strstr(S(block(msg, 0), "id"), "__gs"));
        assert_int_equal(strlen(S(block(msg, 1), "id")), 30);
        assert_string_equal(S(msg, "stop_reason"), "tool_use");
        cJSON_Delete(msg);
        run_free(&r);
    }
    cJSON_Delete(body);
}

static void stream_safety_max_tokens_and_blocks(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    static const char safety[] =
        EV("{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}],\"usageMetadata\":{"
           "\"promptTokenCount\":5,\"totalTokenCount\":5}}");
    static const char maxtok[] =
        EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"partial\"}]}}]}") EV(
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" answer\"}]},\"finishReason\":"
            "\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":"
            "1000,\"totalTokenCount\":1005}}");
    static const char blocked[] =
        EV("{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\"usageMetadata\":{"
           "\"promptTokenCount\":7}}");
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", safety, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_string_equal(S(msg, "stop_reason"), "refusal");
        assert_string_equal(S(block(msg, 0), "text"), "Gemini stopped: SAFETY.");
        cJSON_Delete(msg);
        run_free(&r);

        r = run_stream(body, "gemini-3-flash-preview", maxtok, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        msg = check_stream(r.out, r.len, true);
        assert_string_equal(S(msg, "stop_reason"), "max_tokens");
        assert_string_equal(S(block(msg, 0), "text"), "partial answer");
        cJSON_Delete(msg);
        run_free(&r);

        r = run_stream(body, "gemini-3-flash-preview", blocked, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        msg = check_stream(r.out, r.len, true);
        assert_string_equal(S(msg, "stop_reason"), "refusal");
        assert_non_null(strstr(S(block(msg, 0), "text"), "blockReason=PROHIBITED_CONTENT"));
        cJSON_Delete(msg);
        run_free(&r);
    }
    cJSON_Delete(body);
}

static void stream_failures(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    /* MALFORMED_FUNCTION_CALL with nothing produced: an error before anything is written */
    struct run r = run_stream(body, "gemini-3-flash-preview",
                              EV("{\"candidates\":[{\"finishReason\":\"MALFORMED_FUNCTION_CALL\","
                                 "\"finishMessage\":\"bad call\"}]}"),
                              0);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.err.kind, ERR_UPSTREAM);
    assert_non_null(strstr(r.err.msg, "MALFORMED_FUNCTION_CALL"));
    assert_int_equal(r.len, 0);
    assert_int_equal(r.xerr_rc, 0);
    assert_int_equal(r.xerr.status, 502);
    assert_string_equal(r.xerr.type, "api_error");
    assert_int_equal(r.xerr.should_retry, 1);
    run_free(&r);
    /* a quota error inside the stream keeps its meaning for the client */
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\","
                      "\"status\":\"RESOURCE_EXHAUSTED\"}}"),
                   0);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.xerr_rc, 0);
    assert_int_equal(r.xerr.status, 429);
    assert_string_equal(r.xerr.type, "rate_limit_error");
    run_free(&r);
    /* a lone surrogate escape split from its pair is repaired, not fatal */
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\\ud83d\"}]},"
                      "\"finishReason\":\"STOP\"}],\"usageMetadata\":{}}"),
                   0);
    assert_int_equal(r.rc, XL_DONE);
    assert_int_equal(r.xerr_rc, -1);
    cJSON *rm = check_stream(r.out, r.len, true);
    assert_string_equal(S(block(rm, 0), "text"), "a\xef\xbf\xbd");
    cJSON_Delete(rm);
    run_free(&r);
    /* a cut stream: what was written is valid so far, then an error */
    static const char cut[] =
        EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hal\"}]}}]}");
    for (size_t s = 0; s < NSTEPS; s++) {
        r = run_stream(body, "gemini-3-flash-preview", cut, STEPS[s]);
        assert_int_equal(r.rc, -1);
        assert_non_null(strstr(r.err.msg, "ended before completion"));
        check_stream(r.out, r.len, false);
        run_free(&r);
    }
    /* an error object inside the stream */
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\","
                      "\"status\":\"UNAVAILABLE\"}}"),
                   0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err.msg, "overloaded"));
    run_free(&r);
    /* garbage */
    r = run_stream(body, "gemini-3-flash-preview", "data: {not json\r\n\r\n", 0);
    assert_int_equal(r.rc, -1);
    run_free(&r);
    /* a finish without usage waits for the end, then completes */
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ok\"}]},"
                      "\"finishReason\":\"STOP\"}]}"),
                   0);
    assert_int_equal(r.rc, XL_DONE);
    cJSON_Delete(check_stream(r.out, r.len, true));
    run_free(&r);
    cJSON_Delete(body);
}

/* Turn 2 is built from turn 1's own output: the signature and Gemini call id come back. */
static void thought_signature_round_trip(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    struct run r = run_stream(body, "gemini-3-flash-preview", UP_ONE_CALL, 5);
    assert_int_equal(r.rc, XL_DONE);
    cJSON *msg = check_stream(r.out, r.len, true);
    const char *id = S(block(msg, 2), "id");
    /* turn 2: [user, assistant (turn 1 output), user (tool_result)] */
    cJSON *msgs = cJSON_GetObjectItem(body, "messages");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "role", "assistant");
    cJSON_AddItemToObject(a, "content", cJSON_Duplicate(J(msg, "content"), 1));
    cJSON_AddItemToArray(msgs, a);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON *uc = cJSON_AddArrayToObject(u, "content");
    cJSON *tr = cJSON_CreateObject();
    cJSON_AddStringToObject(tr, "type", "tool_result");
    cJSON_AddStringToObject(tr, "tool_use_id", id);
    cJSON_AddStringToObject(tr, "content", "a.c\nb.c");
    cJSON_AddItemToArray(uc, tr);
    cJSON_AddItemToArray(msgs, u);

    struct prov pv;
    prov_init(&pv, NULL);
    struct built b;
    struct err e = {0};
    assert_int_equal(build(body, &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_request_ok(&b, "turn 2");
    const cJSON *model = cJSON_GetArrayItem(J(b.body, "contents"), 1);
    assert_string_equal(S(model, "role"), "model");
    const cJSON *parts = J(model, "parts");
    assert_int_equal(cJSON_GetArraySize(parts), 2);
    assert_string_equal(S(cJSON_GetArrayItem(parts, 0), "text"), "Checking src.");
    const cJSON *fcp = cJSON_GetArrayItem(parts, 1);
    assert_string_equal(S(fcp, "thoughtSignature"), "CpwBAdHtim9xQ3Y1cW5z");
    assert_string_equal(S(J(fcp, "functionCall"), "id"), "call-7");
    assert_string_equal(S(J(J(fcp, "functionCall"), "args"), "command"), "ls src");
    const cJSON *fr =
        J(cJSON_GetArrayItem(J(last_content(b.body), "parts"), 0), "functionResponse");
    assert_string_equal(S(fr, "name"), "Bash");
    assert_string_equal(S(fr, "id"), "call-7");
    assert_string_equal(S(J(fr, "response"), "output"), "a.c\nb.c");
    assert_null(strstr(b.body_text, "Need a listing")); /* thinking text never sent back */
    built_free(&b);
    /* another model now: the signature is not replayed, the placeholder is used (G4) */
    assert_int_equal(build(body, &pv, "gemini-3-pro-preview", true, &b, &e), 0);
    fcp = cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(b.body, "contents"), 1), "parts"), 1);
    assert_string_equal(S(fcp, "thoughtSignature"), GEMINI_SKIP_SIGNATURE);
    built_free(&b);
    prov_free(&pv);
    cJSON_Delete(msg);
    run_free(&r);
    cJSON_Delete(body);
}

/* G7: a text answer's signature on its last text part comes back on that part next turn. */
static void text_signature_round_trip(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    static const char up[] = EV(
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\",\"thought\":true}]}}]}")
        EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}]}}]}") EV(
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" there\",\"thoughtSignature\":"
            "\"VEVYVFNJRw==\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{"
            "\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5}}");
    struct run r = run_stream(body, "gemini-3-flash-preview", up, 3);
    assert_int_equal(r.rc, XL_DONE);
    cJSON *msg = check_stream(r.out, r.len, true);
    cJSON *msgs = cJSON_GetObjectItem(body, "messages");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "role", "assistant");
    cJSON_AddItemToObject(a, "content", cJSON_Duplicate(J(msg, "content"), 1));
    cJSON_AddItemToArray(msgs, a);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", "and?");
    cJSON_AddItemToArray(msgs, u);
    struct prov pv;
    prov_init(&pv, NULL);
    struct built b;
    struct err e = {0};
    assert_int_equal(build(body, &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_request_ok(&b, "text signature");
    const cJSON *parts = J(cJSON_GetArrayItem(J(b.body, "contents"), 1), "parts");
    const cJSON *last = cJSON_GetArrayItem(parts, cJSON_GetArraySize(parts) - 1);
    assert_string_equal(S(last, "thoughtSignature"), "VEVYVFNJRw==");
    built_free(&b);
    prov_free(&pv);
    cJSON_Delete(msg);
    run_free(&r);
    cJSON_Delete(body);
}

static void non_streaming_response(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    struct prov pv;
    prov_init(&pv, NULL);
    struct xl_request in = {.body = body,
                            .provider = &pv.p,
                            .model = "gemini-2.5-flash",
                            .client_model = "claude-sonnet-5-5"};
    static const char resp[] =
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"plan\","
        "\"thought\":true},{\"text\":\"Running it.\"},{\"functionCall\":{\"name\":\"Bash\"}}]},"
        "\"finishReason\":\"STOP\",\"groundingMetadata\":{\"webSearchQueries\":[\"q\"],"
        "\"groundingChunks\":[{\"web\":{\"uri\":\"https://a.example/\",\"title\":\"A\"}}]}}],"
        "\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":10,"
        "\"thoughtsTokenCount\":5,\"cachedContentTokenCount\":40,\"totalTokenCount\":115}}";
    struct evbuffer *out = evbuffer_new();
    struct xl_usage u;
    struct err e = {0};
    assert_int_equal(provider_gemini.response(&in, resp, strlen(resp), out, &u, &e), 0);
    size_t n = evbuffer_get_length(out);
    cJSON *msg = cJSON_ParseWithLength((const char *)evbuffer_pullup(out, -1), n);
    assert_non_null(msg);
    assert_string_equal(S(msg, "type"), "message");
    assert_string_equal(S(msg, "model"), "claude-sonnet-5-5");
    assert_string_equal(S(msg, "stop_reason"), "tool_use");
    assert_string_equal(S(block(msg, 0), "thinking"), "plan");
    /* search blocks before the text in a whole answer */
    assert_string_equal(S(block(msg, 1), "type"), "server_tool_use");
    assert_string_equal(S(J(block(msg, 1), "input"), "query"), "q");
    assert_string_equal(S(block(msg, 2), "type"), "web_search_tool_result");
    assert_string_equal(S(cJSON_GetArrayItem(J(block(msg, 2), "content"), 0), "url"),
                        "https://a.example/");
    assert_string_equal(S(block(msg, 3), "text"), "Running it.");
    assert_string_equal(S(block(msg, 4), "name"), "Bash");
    assert_true(cJSON_IsObject(J(block(msg, 4), "input"))); /* args absent -> {} */
    assert_int_equal(
        (int)J(J(J(msg, "usage"), "server_tool_use"), "web_search_requests")->valuedouble, 1);
    assert_int_equal(u.input_tokens, 60);
    assert_int_equal(u.cache_read_input_tokens, 40);
    assert_int_equal(u.output_tokens, 15);
    cJSON_Delete(msg);
    evbuffer_free(out);
    /* an error body and a blocked prompt */
    out = evbuffer_new();
    static const char err_body[] =
        "[{\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":"
        "\"RESOURCE_EXHAUSTED\"}}]";
    assert_int_equal(provider_gemini.response(&in, err_body, strlen(err_body), out, &u, &e), -1);
    assert_int_equal(evbuffer_get_length(out), 0);
    static const char blocked[] = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}";
    assert_int_equal(provider_gemini.response(&in, blocked, strlen(blocked), out, &u, &e), 0);
    n = evbuffer_get_length(out);
    msg = cJSON_ParseWithLength((const char *)evbuffer_pullup(out, -1), n);
    assert_string_equal(S(msg, "stop_reason"), "refusal");
    cJSON_Delete(msg);
    evbuffer_free(out);
    prov_free(&pv);
    cJSON_Delete(body);
}

static cJSON *parse_or_die(const char *t) {
    cJSON *j = cJSON_Parse(t);
    assert_non_null(j);
    return j;
}

/* History shapes Claude Code produces after interrupts, compaction, images. */
static void awkward_histories_stay_legal(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    struct err e = {0};
    struct built b;
    static const char png[] = "iVBORw0KGgo=";
    char text[4096];
    /* starts with an assistant turn; a call without a result; an orphan result; images */
    snprintf(
        text, sizeof text,
        "{\"max_tokens\":10,\"tools\":[{\"name\":\"Read\",\"input_schema\":{\"type\":"
        "\"object\",\"properties\":{\"p\":{\"type\":\"string\"}}}}],\"messages\":["
        "{\"role\":\"assistant\",\"content\":\"Earlier answer.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
        "\"data\":\"%s\"}},{\"type\":\"image\",\"source\":{\"type\":\"base64\","
        "\"media_type\":\"image/gif\",\"data\":\"R0lG\"}},{\"type\":\"image\",\"source\":"
        "{\"type\":\"url\",\"url\":\"https://x.example/a.png\"}},{\"type\":\"image\",\"source\":"
        "{\"type\":\"file\",\"file_id\":\"file_011\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\","
        "\"signature\":\"\"},{\"type\":\"tool_use\",\"id\":\"toolu_A\",\"name\":\"Read\","
        "\"input\":{\"p\":\"/a\"}},{\"type\":\"tool_use\",\"id\":\"toolu_B\",\"name\":"
        "\"Read\",\"input\":{\"p\":\"/b\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"toolu_B\",\"content\":[{\"type\":\"text\",\"text\":\"B here\"},{\"type\":"
        "\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":"
        "\"%s\"}}]},{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_ZZ\",\"content\":"
        "\"stale\"},{\"type\":\"text\",\"text\":\"go on\"}]}]}",
        png, png);
    cJSON *body = parse_or_die(text);
    for (int m = 0; m < 2; m++) {
        const char *model = m ? "gemini-2.5-flash" : "gemini-3-flash-preview";
        assert_int_equal(build(body, &pv, model, true, &b, &e), 0);
        assert_request_ok(&b, model);
        const cJSON *c0 = cJSON_GetArrayItem(J(b.body, "contents"), 0);
        assert_string_equal(S(cJSON_GetArrayItem(J(c0, "parts"), 0), "text"), "Continue.");
        assert_non_null(strstr(b.body_text, "\"inlineData\":{\"mimeType\":\"image/png\""));
        assert_non_null(strstr(b.body_text, "[GIF image omitted"));
        assert_non_null(strstr(b.body_text, "[image: https://x.example/a.png]"));
        assert_non_null(strstr(b.body_text, "[image file file_011 omitted]"));
        const cJSON *last = J(last_content(b.body), "parts");
        /* results in call order: A was never answered (synthetic error), then B */
        int n = cJSON_GetArraySize(last);
        const cJSON *fa = J(cJSON_GetArrayItem(last, n - 2), "functionResponse");
        const cJSON *fb = J(cJSON_GetArrayItem(last, n - 1), "functionResponse");
        assert_non_null(fa);
        assert_non_null(fb);
        assert_non_null(S(J(fa, "response"), "error"));
        assert_string_equal(S(J(fb, "response"), "output"), "B here");
        assert_non_null(strstr(b.body_text, "stale")); /* the orphan survives as text */
        if (m == 0) {
            /* Gemini 3: the tool's image inside the function response */
            assert_non_null(J(fb, "parts"));
        } else {
            assert_null(J(fb, "parts"));
            assert_non_null(strstr(b.body_text, "Images returned by tool Read:"));
        }
        built_free(&b);
    }
    cJSON_Delete(body);
    /* tool history without tools: textualised, no function parts at all (N6) */
    body = parse_or_die(
        "{\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":"
        "\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
        "\"Bash\",\"input\":{\"command\":\"ls\"}}]},{\"role\":\"user\",\"content\":[{\"type\":"
        "\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"a.c\"}]}]}");
    assert_int_equal(build(body, &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_request_ok(&b, "N6");
    assert_null(strstr(b.body_text, "functionCall"));
    assert_null(strstr(b.body_text, "functionResponse"));
    assert_non_null(strstr(b.body_text, "[Called tool Bash"));
    built_free(&b);
    cJSON_Delete(body);
    /* nothing to send: a clear 400 */
    static const char *const bad[] = {
        "{\"max_tokens\":10,\"messages\":[]}",
        "{\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"  \"}]}",
        "{\"max_tokens\":10}",
        "{\"max_tokens\":10,\"messages\":[{\"role\":\"system\",\"content\":\"only system\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = parse_or_die(bad[i]);
        memset(&e, 0, sizeof e);
        assert_int_equal(build(body, &pv, "gemini-3-flash-preview", true, &b, &e), -1);
        assert_int_equal(e.kind, ERR_INVALID);
        assert_true(e.msg[0] != '\0');
        cJSON_Delete(body);
    }
    /* wrong types everywhere: never a crash */
    body = parse_or_die(
        "{\"max_tokens\":\"x\",\"tools\":7,\"thinking\":[],\"system\":5,"
        "\"stop_sequences\":[1,\" \",\"END\"],\"tool_choice\":\"any\","
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"},"
        "{\"type\":\"tool_result\"},{\"text\":1},{\"type\":\"text\",\"text\":\"ok\"}]}]}");
    assert_int_equal(build(body, &pv, "gemini-2.5-flash", true, &b, &e), 0);
    assert_request_ok(&b, "wrong types");
    assert_string_equal(cJSON_GetArrayItem(J(gen_of(&b), "stopSequences"), 0)->valuestring, "END");
    built_free(&b);
    cJSON_Delete(body);
    prov_free(&pv);
}

/* `levels` objects nested under "k": {"k":{"k":{}}} for 3. */
static cJSON *nested_objects(int levels) {
    cJSON *v = cJSON_CreateObject();
    for (int i = 1; i < levels; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "k", v);
        v = o;
    }
    return v;
}

static int depth_of(const cJSON *v) {
    int d = 0;
    for (; cJSON_IsObject(v); v = J(v, "k"))
        d++;
    return d;
}

/* A tool input or a structured-output schema nested deeper than the request writer allows: a
 * 400 that names the tool_use, never a crash or a body with values dropped. */
static void deep_inputs_fail_cleanly(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    struct built b;
    struct err e = {0};
    /* args sit 6 levels deep in the body, the schema 2 */
    const int args_max = XL_JW_MAX_DEPTH - 6, schema_max = XL_JW_MAX_DEPTH - 2;
    for (int levels = args_max - 1; levels <= args_max + 2; levels++) {
        cJSON *body = parse_or_die(
            "{\"max_tokens\":10,\"tools\":[{\"name\":\"Bash\",\"input_schema\":{\"type\":"
            "\"object\",\"properties\":{\"command\":{\"type\":\"string\"}}}}],\"messages\":["
            "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
            "\"tool_use\",\"id\":\"toolu_deep\",\"name\":\"Bash\",\"input\":{}}]},{\"role\":"
            "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_deep\","
            "\"content\":\"ok\"}]}]}");
        cJSON *call =
            cJSON_GetArrayItem(J(cJSON_GetArrayItem(J(body, "messages"), 1), "content"), 0);
        cJSON_ReplaceItemInObject(call, "input", nested_objects(levels));
        memset(&e, 0, sizeof e);
        int rc = build(body, &pv, "gemini-3-flash-preview", true, &b, &e);
        if (levels <= args_max) {
            assert_int_equal(rc, 0);
            const cJSON *model = cJSON_GetArrayItem(J(b.body, "contents"), 1);
            const cJSON *fc = J(cJSON_GetArrayItem(J(model, "parts"), 0), "functionCall");
            assert_int_equal(depth_of(J(fc, "args")), levels);
            built_free(&b);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(e.kind, ERR_INVALID);
            assert_non_null(strstr(e.msg, "toolu_deep"));
            assert_non_null(strstr(e.msg, "nested too deeply"));
        }
        cJSON_Delete(body);
    }
    /* structured output: the schema is copied as it is, under generationConfig */
    for (int levels = schema_max; levels <= schema_max + 1; levels++) {
        cJSON *body = parse_or_die("{\"max_tokens\":10,\"output_config\":{\"format\":{\"type\":"
                                   "\"json_schema\",\"schema\":{}}},\"messages\":[{\"role\":"
                                   "\"user\",\"content\":\"hi\"}]}");
        cJSON *fmt = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(body, "output_config"), "format");
        cJSON_ReplaceItemInObject(fmt, "schema", nested_objects(levels));
        memset(&e, 0, sizeof e);
        int rc = build(body, &pv, "gemini-3-flash-preview", true, &b, &e);
        if (levels == schema_max) {
            assert_int_equal(rc, 0);
            assert_int_equal(depth_of(J(gen_of(&b), "responseJsonSchema")), levels);
            built_free(&b);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(e.kind, ERR_INVALID);
            assert_non_null(strstr(e.msg, "nested too deeply"));
        }
        cJSON_Delete(body);
    }
    prov_free(&pv);
}

static void provider_knobs(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, "{\"extra_headers\":{\"x-gateway\":\"1\",\"x-goog-api-key\":\"other\"}}");
    cJSON_AddItemToObject(pv.json, "transformer",
                          parse_or_die("{\"use\":[[\"maxtoken\",{\"max_tokens\":4096}]]}"));
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    struct built b;
    struct err e = {0};
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_int_equal((int)J(gen_of(&b), "maxOutputTokens")->valuedouble, 4096);
    assert_string_equal(hdr(&b, "x-gateway"), "1");
    assert_null(J(b.body, "safetySettings"));
    assert_string_equal(hdr(&b, "x-goog-api-key"), "AIzaTESTKEY");
    int keys = 0;
    for (size_t i = 0; i < b.hdrs.n; i++)
        keys += !strcmp(b.hdrs.v[i].name, "x-goog-api-key");
    assert_int_equal(keys, 1);
    built_free(&b);
    prov_free(&pv);
    /* in-conversation system messages as user text, safety settings from the config */
    prov_init(&pv, "{\"gemini_inline_system\":\"as_user\",\"gemini_safety_settings\":[{"
                   "\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"BLOCK_NONE\"}]}");
    assert_int_equal(build(J(fx, "body"), &pv, "gemini-3-flash-preview", true, &b, &e), 0);
    assert_request_ok(&b, "as_user");
    char *si = cJSON_PrintUnformatted(J(b.body, "systemInstruction"));
    assert_null(strstr(si, "You have been invoked in the following environment"));
    cJSON_free(si);
    const cJSON *parts = J(cJSON_GetArrayItem(J(b.body, "contents"), 0), "parts");
    const char *t = S(cJSON_GetArrayItem(parts, cJSON_GetArraySize(parts) - 1), "text");
    assert_non_null(t);
    assert_true(strncmp(t, "<system-reminder>\n# Environment", 31) == 0);
    assert_string_equal(S(cJSON_GetArrayItem(J(b.body, "safetySettings"), 0), "threshold"),
                        "BLOCK_NONE");
    built_free(&b);
    prov_free(&pv);
    /* URL images as fileData when asked */
    prov_init(&pv, "{\"gemini_image_url\":\"file_data\"}");
    cJSON *img = parse_or_die(
        "{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\","
        "\"source\":{\"type\":\"url\",\"url\":\"https://x.example/a.JPG?s=1\"}},{\"type\":"
        "\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x.example/noext\"}}]}]}");
    assert_int_equal(build(img, &pv, "gemini-3-flash-preview", false, &b, &e), 0);
    assert_request_ok(&b, "file_data");
    parts = J(cJSON_GetArrayItem(J(b.body, "contents"), 0), "parts");
    assert_string_equal(S(J(cJSON_GetArrayItem(parts, 0), "fileData"), "mimeType"), "image/jpeg");
    assert_string_equal(S(cJSON_GetArrayItem(parts, 1), "text"),
                        "[image: https://x.example/noext]");
    built_free(&b);
    cJSON_Delete(img);
    cJSON_Delete(fx);
    prov_free(&pv);
}

static void stream_odd_shapes(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    /* the upstream ignored alt=sse: a JSON array of responses */
    static const char arr[] =
        "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one \"}]}}]},\r\n"
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"two\"}]},\"finishReason\":"
        "\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2}}]";
    for (size_t s = 0; s < NSTEPS; s++) {
        struct run r = run_stream(body, "gemini-3-flash-preview", arr, STEPS[s]);
        assert_int_equal(r.rc, XL_DONE);
        cJSON *msg = check_stream(r.out, r.len, true);
        assert_string_equal(S(block(msg, 0), "text"), "one two");
        cJSON_Delete(msg);
        run_free(&r);
    }
    /* a signature on an empty thought part just before the call belongs to the call (G4);
     * UNEXPECTED_TOOL_CALL after text ends the turn */
    static const char up[] =
        EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\",\"thought\":true,"
           "\"thoughtSignature\":\"U0lHMQ==\"},{\"functionCall\":{\"name\":\"Read\",\"args\":"
           "{\"file_path\":\"/x\"}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{"
           "\"promptTokenCount\":1}}");
    struct run r = run_stream(body, "gemini-3-flash-preview", up, 0);
    assert_int_equal(r.rc, XL_DONE);
    cJSON *msg = check_stream(r.out, r.len, true);
    assert_int_equal(cJSON_GetArraySize(J(msg, "content")), 1);
    assert_non_null(strstr(S(block(msg, 0), "id"), "__gs"));
    cJSON_Delete(msg);
    run_free(&r);
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"so far\"}]},"
                      "\"finishReason\":\"UNEXPECTED_TOOL_CALL\"}],\"usageMetadata\":{}}"),
                   0);
    assert_int_equal(r.rc, XL_DONE);
    msg = check_stream(r.out, r.len, true);
    assert_string_equal(S(msg, "stop_reason"), "end_turn");
    cJSON_Delete(msg);
    run_free(&r);
    /* a namespaced or unknown function name: mapped back when it hides a declared one */
    r = run_stream(body, "gemini-3-flash-preview",
                   EV("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":"
                      "\"default_api:Bash\",\"args\":null}}]},\"finishReason\":\"STOP\"}]}"),
                   0);
    assert_int_equal(r.rc, XL_DONE);
    msg = check_stream(r.out, r.len, true);
    assert_string_equal(S(block(msg, 0), "name"), "Bash");
    assert_int_equal(cJSON_GetArraySize(J(block(msg, 0), "input")), 0);
    cJSON_Delete(msg);
    run_free(&r);
    cJSON_Delete(body);
}

/* Allocation failures (through cJSON's hooks) at every cJSON allocation of a build and of a
 * stream: an error comes back, nothing leaks (the sanitizer run checks), nothing crashes. */
static long fail_after = -1;
static void *failing_malloc(size_t n) {
    if (fail_after == 0) return NULL;
    if (fail_after > 0) fail_after--;
    return malloc(n);
}

static void allocation_failures_are_errors(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    /* The build's own memory (plan, scratch text, body buffer) comes from malloc, which these
     * hooks do not reach; cJSON allocates for a ccrelay1 carrier (the normalisation decodes
     * it), a schema with $ref or a union (the schema cleaner's tree) and the structured output
     * instruction next to tools: a body with all three. */
    struct xl_buf cb;
    xl_buf_init(&cb);
    xl_carrier_write(&cb, "gemini", "gemini-2.5-flash", NULL, "c2ln");
    char tmpl[2048];
    snprintf(tmpl, sizeof tmpl,
             "{\"max_tokens\":100,\"output_config\":{\"format\":{\"type\":\"json_schema\","
             "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}},"
             "\"tools\":[{\"name\":\"T\",\"input_schema\":{\"type\":\"object\",\"$defs\":{\"D\":"
             "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}},\"properties\":"
             "{\"d\":{\"$ref\":\"#/$defs/D\"},\"u\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":"
             "\"integer\"}]}}}}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":"
             "\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":"
             "\"%s\"},{\"type\":\"text\",\"text\":\"ok\"}]},{\"role\":\"user\",\"content\":"
             "\"more\"}]}",
             xl_buf_cstr(&cb));
    xl_buf_free(&cb);
    cJSON *fx = cJSON_CreateObject();
    cJSON_AddItemToObject(fx, "body", parse_or_die(tmpl));
    int failures = 0, successes = 0;
    for (long k = 0; k < 20000; k += 1 + k / 64) {
        cJSON_Hooks h = {failing_malloc, free};
        fail_after = k;
        cJSON_InitHooks(&h);
        struct built b;
        struct err e = {0};
        struct xl_request in = {.body = J(fx, "body"),
                                .provider = &pv.p,
                                .model = "gemini-2.5-flash",
                                .client_model = "c",
                                .api_key = "k",
                                .stream = true};
        struct xl_http_request req;
        memset(&req, 0, sizeof req);
        int rc = provider_gemini.build(&in, &req, &e);
        cJSON_InitHooks(NULL);
        fail_after = -1;
        if (rc < 0) {
            failures++;
            assert_true(e.msg[0] != '\0');
            assert_null(req.body);
            assert_null(req.url);
        } else {
            successes++;
            b.url = req.url;
            b.hdrs = req.headers;
            b.body_text = NULL;
            b.body = NULL;
            evbuffer_free(req.body);
            built_free(&b);
            break; /* past the last allocation */
        }
    }
    assert_true(failures > 10);
    assert_int_equal(successes, 1);
    cJSON_Delete(fx);
    /* the stream */
    cJSON *body = simple_body(NULL);
    for (long k = 0; k < 400; k++) {
        cJSON_Hooks h = {failing_malloc, free};
        fail_after = k;
        cJSON_InitHooks(&h);
        struct run r = run_stream_on(&pv, body, "gemini-3-flash-preview", UP_ONE_CALL, 7);
        cJSON_InitHooks(NULL);
        fail_after = -1;
        bool done = r.rc == XL_DONE;
        if (!done) {
            assert_int_equal(r.rc, -1);
            assert_int_equal(r.xerr_rc, 0);
            assert_true(r.err.msg[0] != '\0');
        }
        run_free(&r);
        if (done && k > 50) break;
    }
    cJSON_Delete(body);
    prov_free(&pv);
}

/* Mutated upstream bytes (deterministic pseudo-random flips, cuts and splices): the translator
 * ends with XL_DONE or an error, and what it wrote is always a valid prefix of the grammar. */
static unsigned long lcg(unsigned long *x) {
    *x = *x * 6364136223846793005UL + 1442695040888963407UL;
    return *x >> 33;
}

static void mutated_streams_never_break_the_grammar(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    const char *const seeds[] = {UP_TEXT, UP_THINK_TEXT, UP_ONE_CALL, UP_TWO_CALLS};
    unsigned long x = 12345;
    for (int round = 0; round < 400; round++) {
        const char *src = seeds[round % 4];
        size_t n = strlen(src);
        char *m = malloc(n + 1);
        memcpy(m, src, n + 1);
        int edits = 1 + (int)(lcg(&x) % 4);
        for (int k = 0; k < edits; k++) {
            size_t at = lcg(&x) % n;
            switch (lcg(&x) % 4) {
            case 0:
                m[at] = (char)(lcg(&x) % 256);
                break; /* flip a byte */
            case 1:
                m[at] = '\0';
                break; /* cut */
            case 2:
                m[at] = "{}[]\":,\n\r"[lcg(&x) % 10];
                break; /* structural noise */
            default:
                memmove(m + at, m + at + 1, n - at);
                break; /* drop a byte */
            }
            n = strlen(m);
            if (n == 0) break;
        }
        struct run r = run_stream(body, "gemini-3-flash-preview", m, 1 + lcg(&x) % 40);
        assert_true(r.rc == XL_DONE || r.rc == -1);
        /* a failure always has its client-facing error */
        if (r.rc == -1) assert_int_equal(r.xerr_rc, 0);
        cJSON *msg = check_stream(r.out, r.len, r.rc == XL_DONE && r.len > 0);
        cJSON_Delete(msg);
        run_free(&r);
        free(m);
    }
    cJSON_Delete(body);
}

/* Every fixture with one key removed or retyped at a time still builds or fails cleanly. */
static void mutated_requests_build_or_fail_cleanly(void **state) {
    (void)state;
    struct prov pv;
    prov_init(&pv, NULL);
    cJSON *fx = tu_fixture("claude-code-2.1.331/toolsearch-tool-reference.json");
    const cJSON *orig = J(fx, "body");
    static const char *const keys[] = {"messages",   "tools",         "system",      "thinking",
                                       "max_tokens", "output_config", "tool_choice", "stream"};
    static const char *const values[] = {"null", "7", "\"x\"", "[]", "{}", "[null,1,\"a\",{}]"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            cJSON *b = cJSON_Duplicate(orig, 1);
            cJSON *val = cJSON_Parse(values[v]);
            if (cJSON_GetObjectItem(b, keys[k]))
                cJSON_ReplaceItemInObject(b, keys[k], val);
            else
                cJSON_AddItemToObject(b, keys[k], val);
            struct built out;
            struct err e = {0};
            int rc = build(b, &pv, "gemini-3-flash-preview", true, &out, &e);
            if (rc == 0) {
                assert_request_ok(&out, keys[k]);
                built_free(&out);
            } else {
                assert_true(e.msg[0] != '\0');
            }
            cJSON_Delete(b);
        }
    }
    /* blocks of every message retyped */
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, J(orig, "messages")) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            cJSON *b = cJSON_Duplicate(orig, 1);
            cJSON *msg = cJSON_GetArrayItem(J(b, "messages"), i);
            cJSON_ReplaceItemInObject(msg, "content", cJSON_Parse(values[v]));
            struct built out;
            struct err e = {0};
            if (build(b, &pv, "gemini-3-flash-preview", true, &out, &e) == 0) {
                assert_request_ok(&out, "retyped content");
                built_free(&out);
            }
            cJSON_Delete(b);
        }
        i++;
    }
    cJSON_Delete(fx);
    prov_free(&pv);
}

/* conversion.md §4.13, event for event (message_start input 0 per errata O9). */
static void worked_example_of_the_spec(void **state) {
    (void)state;
    cJSON *body = simple_body(NULL);
    static const char up[] =
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Need a "
        "listing of src.\",\"thought\":true}]},\"index\":0}],\"usageMetadata\":{"
        "\"promptTokenCount\":9000,\"cachedContentTokenCount\":8000,\"totalTokenCount\":9000},"
        "\"modelVersion\":\"gemini-3-flash\",\"responseId\":\"r-77\"}\r\n\r\n"
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Checking "
        "src.\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9000,"
        "\"cachedContentTokenCount\":8000,\"totalTokenCount\":9000},\"modelVersion\":"
        "\"gemini-3-flash\",\"responseId\":\"r-77\"}\r\n\r\n"
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{"
        "\"name\":\"Bash\",\"args\":{\"command\":\"ls src\"}},\"thoughtSignature\":"
        "\"CpwBAdHtim9xQ3Y1cW5z\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
        "\"promptTokenCount\":9000,\"candidatesTokenCount\":25,\"thoughtsTokenCount\":60,"
        "\"cachedContentTokenCount\":8000,\"totalTokenCount\":9085},\"modelVersion\":"
        "\"gemini-3-flash\",\"responseId\":\"r-77\"}\r\n\r\n";
    struct run r = run_stream(body, "gemini-3-flash", up, 0);
    assert_int_equal(r.rc, XL_DONE);
    /* the event names, in order */
    const char *expect[] = {"message_start",       "ping",
                            "content_block_start", "content_block_delta",
                            "content_block_delta", "content_block_stop",
                            "content_block_start", "content_block_delta",
                            "content_block_stop",  "content_block_start",
                            "content_block_delta", "content_block_stop",
                            "message_delta",       "message_stop"};
    const char *p = r.out;
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        assert_true(strncmp(p, "event: ", 7) == 0);
        assert_true(strncmp(p + 7, expect[i], strlen(expect[i])) == 0);
        p = strstr(p, "\n\n");
        assert_non_null(p);
        p += 2;
    }
    assert_int_equal(*p, '\0');
    assert_non_null(strstr(r.out, "\"signature\":\"ccrelay1.eyJ2IjoxLCJwIjoiZ2VtaW5pIiwibSI6ImdlbWl"
                                  "uaS0zLWZsYXNoIn0\""));
    assert_non_null(strstr(r.out, "__gs20_CpwBAdHtim9xQ3Y1cW5z\",\"name\":\"Bash\""));
    assert_non_null(strstr(r.out, "\"partial_json\":\"{\\\"command\\\":\\\"ls src\\\"}\""));
    assert_non_null(strstr(r.out,
                           "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                           "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":"
                           "1000,\"output_tokens\":85,\"cache_creation_input_tokens\":0,"
                           "\"cache_read_input_tokens\":8000,\"output_tokens_details\":{"
                           "\"thinking_tokens\":60}}}"));
    run_free(&r);
    cJSON_Delete(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_builds_a_strict_request),
        cmocka_unit_test(trailing_reminder_goes_before_function_responses),
        cmocka_unit_test(first_turn_environment_message_is_hoisted),
        cmocka_unit_test(tool_reference_loads_the_deferred_tool),
        cmocka_unit_test(short_prompt_with_cache_control_is_a_plain_request),
        cmocka_unit_test(generation_and_thinking_config),
        cmocka_unit_test(unsigned_history_gets_the_placeholder),
        cmocka_unit_test(tool_choice_and_web_search),
        cmocka_unit_test(stream_text),
        cmocka_unit_test(stream_thinking_then_text_with_cached_usage),
        cmocka_unit_test(stream_one_function_call),
        cmocka_unit_test(worked_example_of_the_spec),
        cmocka_unit_test(stream_two_function_calls),
        cmocka_unit_test(stream_safety_max_tokens_and_blocks),
        cmocka_unit_test(stream_failures),
        cmocka_unit_test(thought_signature_round_trip),
        cmocka_unit_test(text_signature_round_trip),
        cmocka_unit_test(non_streaming_response),
        cmocka_unit_test(awkward_histories_stay_legal),
        cmocka_unit_test(deep_inputs_fail_cleanly),
        cmocka_unit_test(provider_knobs),
        cmocka_unit_test(stream_odd_shapes),
        cmocka_unit_test(allocation_failures_are_errors),
        cmocka_unit_test(mutated_streams_never_break_the_grammar),
        cmocka_unit_test(mutated_requests_build_or_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
