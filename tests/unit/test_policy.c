/* policy: the built-in rules route every fixture as DESIGN.md says; custom routers run first,
 * inside a sandbox and under limits, and can never stop the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "route_cmd.h"
#include "summary.h"
#include "testutil.h"

/* ---------- helpers ---------- */

static char tmpdir[256];
static char *logbuf;
static size_t loglen;
static FILE *logf_;
static struct logger lg;

/* A config built by hand from JSON (the real loader lives in config.c). Strings point into
 * root. */
static struct config *cfg_from_json(const char *text) {
    cJSON *root = cJSON_Parse(text);
    if (!root) fail_msg("bad test config: %s", text);
    struct config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->root = root;
    const cJSON *provs = cJSON_GetObjectItem(root, "Providers");
    size_t n = (size_t)cJSON_GetArraySize(provs);
    c->providers = calloc(n ? n : 1, sizeof *c->providers);
    assert_non_null(c->providers);
    const cJSON *p;
    cJSON_ArrayForEach(p, provs) {
        struct cfg_provider *cp = &c->providers[c->nproviders++];
        cp->name = cJSON_GetObjectItem(p, "name")->valuestring;
        const cJSON *models = cJSON_GetObjectItem(p, "models");
        cp->models = calloc((size_t)cJSON_GetArraySize(models) + 1, sizeof *cp->models);
        assert_non_null(cp->models);
        const cJSON *m;
        cJSON_ArrayForEach(m, models) cp->models[cp->nmodels++] = m->valuestring;
        cp->json = p;
    }
    const cJSON *crp = cJSON_GetObjectItem(root, "CUSTOM_ROUTER_PATH");
    if (cJSON_IsString(crp)) c->custom_router_path = crp->valuestring;
    return c;
}

static void cfg_free(struct config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nproviders; i++) free(c->providers[i].models);
    free(c->providers);
    cJSON_Delete(c->root);
    free(c);
}

#define PROVIDERS                                                                                \
    "\"Providers\":[{\"name\":\"openrouter\",\"api_key\":\"sk-or-secret\",\"models\":[\"x-ai/"  \
    "grok-4.1-fast\",\"deepseek/deepseek-v3.2\",\"qwen/qwen3-coder\"]},{\"name\":\"gemini\","   \
    "\"api_key\":\"g-secret\",\"models\":[\"gemini-2.5-flash\",\"gemini-2.5-flash-lite\","       \
    "\"gemini-2.5-pro\"]},{\"name\":\"Local\",\"models\":[\"llama3\",\"Qwen3-Coder-30B\"]}]"

/* Every Router key set, each to a different target, so the target shows which rule fired. */
#define ROUTER_ALL                                                                               \
    "\"Router\":{\"default\":\"openrouter,x-ai/grok-4.1-fast\",\"background\":\"gemini,gemini-" \
    "2.5-flash-lite\",\"think\":\"gemini,gemini-2.5-pro\",\"longContext\":\"openrouter,qwen/"    \
    "qwen3-coder\",\"longContextThreshold\":60000,\"webSearch\":\"gemini,gemini-2.5-flash\","    \
    "\"image\":\"openrouter,deepseek/deepseek-v3.2\",\"subagent\":\"Local,llama3\","            \
    "\"thinkLevel\":\"high\"}"

static const char *router_target(const struct config *c, const char *rule) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(c->root, "Router"), rule)->valuestring;
}

static const char *log_text(void) {
    fflush(logf_);
    return logbuf ? logbuf : "";
}

static void log_reset(void) {
    fflush(logf_);
    rewind(logf_);
    if (logbuf) logbuf[0] = '\0';
}

static char *write_script(const char *name, const char *src) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    return path;
}

/* A config with every Router key and a custom router (src, or none when NULL). */
static struct config *cfg_with(const char *src, const char *extra) {
    char text[8192];
    char crp[600] = "";
    if (src) snprintf(crp, sizeof crp, ",\"CUSTOM_ROUTER_PATH\":\"%s\"",
                      write_script("custom-router.lua", src));
    snprintf(text, sizeof text, "{" PROVIDERS "," ROUTER_ALL "%s%s}", crp, extra ? extra : "");
    return cfg_from_json(text);
}

struct routed {
    int rc;
    struct err e;
    struct route_decision d;
    char target[256];
};

/* Route one body (a fixture's {"headers","body"} or a bare body). */
static struct routed route_json(struct policy *p, cJSON *fx) {
    struct routed r;
    memset(&r, 0, sizeof r);
    cJSON *body = cJSON_GetObjectItem(fx, "body");
    const cJSON *headers = cJSON_GetObjectItem(fx, "headers");
    if (!body) body = fx;
    struct http_hdrs h = {0};
    struct http_header hv[64];
    if (headers) {
        const cJSON *c;
        cJSON_ArrayForEach(c, headers) {
            if (h.n < 64 && cJSON_IsString(c))
                hv[h.n++] = (struct http_header){c->string, c->valuestring};
        }
        h.v = hv;
    }
    struct summary s;
    if (summary_build(body, &h, "/v1/messages", &s, &r.e) != 0) fail_msg("summary: %s", r.e.msg);
    struct policy_body pb = {.tree = body};
    r.rc = policy_route(p, &s, &pb, &r.d, &r.e);
    if (r.rc == 0 && r.d.n)
        snprintf(r.target, sizeof r.target, "%s,%s", r.d.t[0].provider->name, r.d.t[0].model);
    summary_free(&s);
    return r;
}

static struct routed route_text(struct policy *p, const char *json) {
    cJSON *b = cJSON_Parse(json);
    if (!b) fail_msg("bad test body: %s", json);
    struct routed r = route_json(p, b);
    cJSON_Delete(b);
    return r;
}

static struct policy *load(struct config *c) {
    struct policy *p = NULL;
    struct err e = {0};
    if (policy_new(c, &lg, &p, &e) != 0) fail_msg("policy_new: %s", e.msg);
    return p;
}

/* ---------- built-in rules on the real fixtures ---------- */

static void fixtures_route_by_the_rules(void **state) {
    (void)state;
    static const struct {
        const char *fixture, *rule;
    } ex[] = {
        {"claude-code/compact.json", "think"},
        {"claude-code/count-tokens.json", "default"},
        {"claude-code/explore-subagent-haiku.json", "background"},
        {"claude-code/hello-opus.json", "think"}, /* 2.1.197: opus, effort high */
        {"claude-code/model-haiku.json", "background"},
        {"claude-code/thinking-disabled.json", "default"},
        {"claude-code/thinking-roundtrip.json", "think"},
        {"claude-code/title-structured-output.json", "default"},
        {"claude-code/tool-result-followup.json", "think"},
        {"claude-code-2.1.331/compact-tui.json", "default"},
        {"claude-code-2.1.331/count-tokens.json", "default"},
        {"claude-code-2.1.331/explore-subagent.json", "subagent"}, /* agent id header */
        {"claude-code-2.1.331/haiku55-trailing-system.json", "background"},
        {"claude-code-2.1.331/hello-opus55.json", "default"}, /* effort medium */
        {"claude-code-2.1.331/model-haiku55.json", "background"},
        {"claude-code-2.1.331/nonstream-fallback.json", "default"},
        {"claude-code-2.1.331/thinking-disabled-sonnet45.json", "default"},
        {"claude-code-2.1.331/thinking-roundtrip.json", "default"},
        {"claude-code-2.1.331/tool-result-followup.json", "default"},
        {"claude-code-2.1.331/toolsearch-tool-reference.json", "default"},
        {"claude-code-2.1.331/tui-auto-mode-safeguards.json", "default"},
    };
    assert_int_equal(sizeof ex / sizeof ex[0], TU_NFIXTURES);
    struct config *c = cfg_with(NULL, NULL);
    struct policy *p = load(c);
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cJSON *fx = tu_fixture(ex[i].fixture);
        if (!fx) fail_msg("fixture %s missing", ex[i].fixture);
        struct routed r = route_json(p, fx);
        if (r.rc != 0) fail_msg("%s: %s", ex[i].fixture, r.e.msg);
        if (strcmp(r.d.rule, ex[i].rule) != 0)
            fail_msg("%s: rule %s, want %s", ex[i].fixture, r.d.rule, ex[i].rule);
        assert_string_equal(r.d.source, "builtin");
        assert_int_equal(r.d.n, 1);
        assert_string_equal(r.target, router_target(c, ex[i].rule));
        route_decision_free(&r.d);
        cJSON_Delete(fx);
    }
    /* 2.1.331 with /effort high moves to the think route */
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    cJSON *oc = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "body"), "output_config");
    cJSON_ReplaceItemInObject(oc, "effort", cJSON_CreateString("high"));
    struct routed r = route_json(p, fx);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.rule, "think");
    assert_string_equal(r.target, "gemini,gemini-2.5-pro");
    route_decision_free(&r.d);
    cJSON_Delete(fx);
    policy_free(p);
    cfg_free(c);
}

static void made_up_bodies_trip_each_rule(void **state) {
    (void)state;
    struct config *c = cfg_with(NULL, NULL);
    struct policy *p = load(c);
    struct routed r;

    /* long context: ~80,000 tokens of text */
    size_t n = 12 * 40000;
    char *big = malloc(n + 256);
    assert_non_null(big);
    strcpy(big, "{\"model\":\"claude-haiku-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    char *w = big + strlen(big);
    for (size_t i = 0; i < 40000; i++, w += 12) memcpy(w, "hello world ", 12);
    strcpy(w, "\"}]}");
    r = route_text(p, big);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.rule, "longContext");
    assert_string_equal(r.target, "openrouter,qwen/qwen3-coder");
    route_decision_free(&r.d);
    free(big);

    /* the subagent tag wins over background; the tag leaves the body */
    cJSON *b = cJSON_Parse(
        "{\"model\":\"claude-haiku-4-5\",\"system\":[{\"type\":\"text\",\"text\":\"You are an "
        "agent.<CCR-SUBAGENT-MODEL>gemini,gemini-2.5-pro</CCR-SUBAGENT-MODEL>\"}],\"messages\":"
        "[{\"role\":\"user\",\"content\":\"hi\"}]}");
    r = route_json(p, b);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.rule, "subagentModel");
    assert_string_equal(r.target, "gemini,gemini-2.5-pro");
    char *text = cJSON_PrintUnformatted(b);
    assert_null(strstr(text, "CCR-SUBAGENT-MODEL"));
    free(text);
    route_decision_free(&r.d);
    cJSON_Delete(b);

    /* web search tool */
    r = route_text(p, "{\"model\":\"claude-opus-5-5\",\"tools\":[{\"type\":\"web_search_20250305\","
                      "\"name\":\"web_search\"}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    assert_string_equal(r.d.rule, "webSearch");
    assert_string_equal(r.target, "gemini,gemini-2.5-flash");
    route_decision_free(&r.d);

    /* explicit provider,model: provider and model matched case-insensitively, configured
     * spelling returned */
    static const struct {
        const char *model, *target;
    } explicit[] = {
        {"OpenRouter,X-AI/Grok-4.1-Fast", "openrouter,x-ai/grok-4.1-fast"},
        {"local,qwen3-coder-30b", "Local,Qwen3-Coder-30B"},
        {" gemini , gemini-2.5-pro ", "gemini,gemini-2.5-pro"},
        {"gemini/gemini-2.5-flash", "gemini,gemini-2.5-flash"},          /* CCR 3 form */
        {"openrouter/x-ai/grok-4.1-fast", "openrouter,x-ai/grok-4.1-fast"}, /* slash in model */
        {"claude-via-gemini-gemini-2.5-pro", "gemini,gemini-2.5-pro"},    /* discovery id */
        {"claude-via-local-qwen3-coder-30b", "Local,Qwen3-Coder-30B"},
    };
    for (size_t i = 0; i < sizeof explicit / sizeof explicit[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 explicit[i].model);
        r = route_text(p, body);
        if (r.rc != 0) fail_msg("%s: %s", explicit[i].model, r.e.msg);
        assert_string_equal(r.d.rule, "explicit");
        assert_string_equal(r.target, explicit[i].target);
        route_decision_free(&r.d);
    }
    /* an explicit target that is not configured is an error, not a silent default */
    r = route_text(p, "{\"model\":\"nope,some-model\",\"messages\":[]}");
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.e.kind, ERR_NOT_FOUND);
    assert_non_null(strstr(r.e.msg, "nope"));
    r = route_text(p, "{\"model\":\"gemini,gemini-9\",\"messages\":[]}");
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "gemini-9"));
    /* a slash whose first segment is no provider is just a model name */
    r = route_text(p, "{\"model\":\"anthropic/claude-sonnet-4.5\",\"messages\":[]}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.rule, "default");
    route_decision_free(&r.d);

    /* image in the last user turn, before a trailing system message */
    r = route_text(p, "{\"model\":\"claude-opus-5-5\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/"
                      "png\",\"data\":\"AAAA\"}},{\"type\":\"text\",\"text\":\"what is this\"}]},"
                      "{\"role\":\"system\",\"content\":\"<total_tokens>9</total_tokens>\"}]}");
    assert_string_equal(r.d.rule, "image");
    assert_string_equal(r.target, "openrouter,deepseek/deepseek-v3.2");
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);
}

static void unset_routes_fall_through(void **state) {
    (void)state;
    struct config *c = cfg_from_json(
        "{" PROVIDERS ",\"Router\":{\"default\":\"gemini,gemini-2.5-flash\",\"image\":\"gemini,"
        "gemini-2.5-pro\",\"think\":\"\"}}");
    struct policy *p = load(c);
    const char *fixtures[] = {"claude-code/model-haiku.json",            /* no background */
                              "claude-code-2.1.331/explore-subagent.json", /* no subagent */
                              "claude-code/hello-opus.json"};             /* think is "" */
    for (size_t i = 0; i < 3; i++) {
        cJSON *fx = tu_fixture(fixtures[i]);
        struct routed r = route_json(p, fx);
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.d.rule, "default");
        assert_string_equal(r.target, "gemini,gemini-2.5-flash");
        route_decision_free(&r.d);
        cJSON_Delete(fx);
    }
    /* think unset: a thinking request with an image reaches the image rule */
    struct routed r = route_text(
        p, "{\"model\":\"claude-opus-4-8\",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":"
           "20000},\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}");
    assert_string_equal(r.d.rule, "image");
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);

    /* nothing set at all: a clear error */
    c = cfg_from_json("{" PROVIDERS ",\"Router\":{}}");
    p = load(c);
    r = route_text(p, "{\"model\":\"claude-opus-4-8\",\"messages\":[]}");
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.e.kind, ERR_NOT_FOUND);
    assert_non_null(strstr(r.e.msg, "Router.default"));
    policy_free(p);
    cfg_free(c);
}

static void think_level_and_threshold_are_configurable(void **state) {
    (void)state;
    static const struct {
        const char *extra_router, *fixture, *rule;
    } cases[] = {
        {"\"any\"", "claude-code-2.1.331/hello-opus55.json", "think"},   /* CCR's old rule */
        {"\"medium\"", "claude-code-2.1.331/hello-opus55.json", "think"},
        {"\"xhigh\"", "claude-code/hello-opus.json", "default"},
        {"\"any\"", "claude-code/thinking-disabled.json", "default"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text,
                 "{" PROVIDERS ",\"Router\":{\"default\":\"gemini,gemini-2.5-flash\",\"think\":"
                 "\"gemini,gemini-2.5-pro\",\"thinkLevel\":%s}}",
                 cases[i].extra_router);
        struct config *c = cfg_from_json(text);
        struct policy *p = load(c);
        cJSON *fx = tu_fixture(cases[i].fixture);
        struct routed r = route_json(p, fx);
        assert_int_equal(r.rc, 0);
        if (strcmp(r.d.rule, cases[i].rule) != 0)
            fail_msg("case %zu: %s, want %s", i, r.d.rule, cases[i].rule);
        route_decision_free(&r.d);
        cJSON_Delete(fx);
        policy_free(p);
        cfg_free(c);
    }
    struct config *c = cfg_from_json(
        "{" PROVIDERS ",\"Router\":{\"default\":\"gemini,gemini-2.5-flash\",\"longContext\":"
        "\"gemini,gemini-2.5-pro\",\"longContextThreshold\":\"1000\"}}");
    struct policy *p = load(c);
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    struct routed r = route_json(p, fx);
    assert_string_equal(r.d.rule, "longContext");
    route_decision_free(&r.d);
    cJSON_Delete(fx);
    policy_free(p);
    cfg_free(c);
}

/* ---------- custom routers ---------- */

static const char BODY[] = "{\"model\":\"claude-opus-4-8\",\"thinking\":{\"type\":\"adaptive\"},"
                           "\"output_config\":{\"effort\":\"high\"},\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":[{"
                           "\"type\":\"text\",\"text\":\"hello\"}]}]}";

/* The config of the last custom_once: the decision's providers point into it. */
static struct config *last_cfg;

/* Load `src` as the custom router and route BODY once. */
static struct routed custom_once(const char *src, const char *extra) {
    cfg_free(last_cfg);
    struct config *c = last_cfg = cfg_with(src, extra);
    struct policy *p = load(c);
    struct routed r = route_text(p, BODY);
    policy_free(p);
    return r;
}

static void custom_nil_falls_through(void **state) {
    (void)state;
    struct routed r = custom_once("function route(req, config) return nil end", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.source, "builtin");
    assert_string_equal(r.d.rule, "think");
    route_decision_free(&r.d);
}

static void custom_string_and_fallbacks(void **state) {
    (void)state;
    struct routed r = custom_once("return function(req) return 'GEMINI,Gemini-2.5-Pro' end", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.source, "custom");
    assert_string_equal(r.d.rule, "custom");
    assert_string_equal(r.target, "gemini,gemini-2.5-pro");
    route_decision_free(&r.d);

    r = custom_once("function route(req, config)\n"
                    "  return { target = 'gemini,gemini-2.5-pro',\n"
                    "           fallback = { config.Router.default, 'local/llama3' } }\n"
                    "end",
                    NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.d.n, 3);
    assert_string_equal(r.d.t[1].provider->name, "openrouter");
    assert_string_equal(r.d.t[1].model, "x-ai/grok-4.1-fast");
    assert_string_equal(r.d.t[2].provider->name, "Local");
    assert_string_equal(r.d.t[2].model, "llama3");
    route_decision_free(&r.d);

    r = custom_once("return function() return { 'gemini,gemini-2.5-flash', 'claude-via-local-llama3' } end",
                    NULL);
    assert_int_equal(r.d.n, 2);
    assert_string_equal(r.d.t[1].provider->name, "Local");
    route_decision_free(&r.d);

    /* more than ROUTE_MAX_TARGETS: the rest are ignored */
    r = custom_once("return function() local t = {} for i = 1, 20 do t[i] = 'gemini,gemini-2.5-pro' "
                    "end return t end",
                    NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.d.n, ROUTE_MAX_TARGETS);
    route_decision_free(&r.d);

    /* a read-only list from the config works as a fallback list */
    r = custom_once("return function(req, config) return config.Chain end",
                    ",\"Chain\":[\"gemini,gemini-2.5-pro\",\"local,llama3\"]");
    assert_string_equal(r.d.source, "custom");
    assert_int_equal(r.d.n, 2);
    assert_string_equal(r.d.t[1].model, "llama3");
    route_decision_free(&r.d);
}

static void custom_runtime_error_goes_to_builtin_with_file_line(void **state) {
    (void)state;
    log_reset();
    struct routed r = custom_once("function route(req, config)\n"
                                  "  local t = nil\n"
                                  "  return t.field\n"
                                  "end\n",
                                  NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.d.source, "builtin");
    assert_string_equal(r.d.rule, "think");
    route_decision_free(&r.d);
    if (!strstr(log_text(), "custom-router.lua:3:")) fail_msg("log: %s", log_text());
    assert_non_null(strstr(log_text(), "built-in rules decide"));

    /* error() with a table value, and error(msg, 0): the position is still given */
    log_reset();
    r = custom_once("function route()\n\n  error({code = 1})\nend\n", NULL);
    assert_string_equal(r.d.source, "builtin");
    route_decision_free(&r.d);
    if (!strstr(log_text(), "custom-router.lua:3:")) fail_msg("log: %s", log_text());
    log_reset();
    r = custom_once("function route()\n  error('boom', 0)\nend\n", NULL);
    route_decision_free(&r.d);
    if (!strstr(log_text(), "custom-router.lua:2: boom")) fail_msg("log: %s", log_text());
}

static void custom_endless_loop_is_cut_off(void **state) {
    (void)state;
    static const char *loops[] = {
        "function route() while true do end end",
        /* pcall cannot swallow the budget */
        "function route() while true do pcall(function() while true do end end) end end",
        "function route() local co = coroutine.wrap(function() while true do end end) co() end",
        "function route() local s = 0 for i = 1, math.maxinteger do s = s + i end return s end",
    };
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        log_reset();
        struct routed r = custom_once(loops[i], ",\"POLICY_MAX_INSTRUCTIONS\":200000");
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.d.source, "builtin");
        route_decision_free(&r.d);
        if (!strstr(log_text(), "instruction budget") || !strstr(log_text(), "custom-router.lua:1"))
            fail_msg("loop %zu: log: %s", i, log_text());
    }
}

static void custom_unbounded_allocation_is_stopped(void **state) {
    (void)state;
    static const char SRC[] =
        "local hog = {}\n"
        "function route(req)\n"
        "  if req.model == 'hungry' then\n"
        "    local t = {}\n"
        "    for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end\n"
        "  end\n"
        "  if req.model == 'huge' then return string.rep('x', 1 << 40) end\n"
        "  return 'gemini,gemini-2.5-flash'\n"
        "end\n";
    struct config *c = cfg_with(SRC, ",\"POLICY_MAX_MEMORY_MB\":8,\"POLICY_MAX_INSTRUCTIONS\":"
                                     "100000000");
    struct policy *p = load(c);
    for (int round = 0; round < 2; round++) {
        log_reset();
        struct routed r = route_text(p, "{\"model\":\"hungry\",\"messages\":[]}");
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.d.source, "builtin");
        route_decision_free(&r.d);
        if (!strstr(log_text(), "memory limit of 8 MiB") || !strstr(log_text(), "custom-router.lua:"))
            fail_msg("log: %s", log_text());
        r = route_text(p, "{\"model\":\"huge\",\"messages\":[]}");
        assert_string_equal(r.d.source, "builtin");
        route_decision_free(&r.d);
        /* the state recovers: the next request is served by the script */
        r = route_text(p, "{\"model\":\"claude-opus-4-8\",\"messages\":[]}");
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.d.source, "custom");
        route_decision_free(&r.d);
    }
    policy_free(p);
    cfg_free(c);
}

static void custom_invalid_targets_go_to_builtin(void **state) {
    (void)state;
    static const struct {
        const char *src, *log;
    } cases[] = {
        {"function route() return 'nowhere,model-x' end", "no provider named nowhere"},
        {"function route() return 'gemini,gemini-9' end", "does not list model gemini-9"},
        {"function route() return 42 end", "a number"},
        {"function route() return {} end", "an empty table"},
        {"function route() return { 'gemini,gemini-2.5-pro', 7 } end", "target 2 is a number"},
        {"function route() return { target = true } end", "target is a boolean"},
        {"function route() return 'just-a-model' end", "is not \"provider,model\""},
        {"function route() return setmetatable({}, {__index = function() while true do end end}) end",
         "an empty table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_reset();
        struct routed r = custom_once(cases[i].src, NULL);
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.d.source, "builtin");
        route_decision_free(&r.d);
        if (!strstr(log_text(), cases[i].log) || !strstr(log_text(), "custom-router.lua:1"))
            fail_msg("case %zu: log: %s", i, log_text());
    }
}

static void custom_load_failures_fail_policy_new(void **state) {
    (void)state;
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"function route(req)\n  return 'a' +\nend\n", "custom-router.lua:3:"},
        {"local x = nil\nx.y = 1\nfunction route() end\n", "custom-router.lua:2:"},
        {"local x = 1\n", "no route function"},
        {"route = 5\n", "no route function"},
        {"while true do end\n", "instruction budget"},
        {"\x1bLua\x54\x00", "custom-router.lua"}, /* binary chunk */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config *c = cfg_with(cases[i].src, ",\"POLICY_MAX_INSTRUCTIONS\":100000");
        struct policy *p = NULL;
        struct err e = {0};
        assert_int_equal(policy_new(c, &lg, &p, &e), -1);
        assert_null(p);
        assert_int_equal(e.kind, ERR_CONFIG);
        if (!strstr(e.msg, cases[i].msg)) fail_msg("case %zu: %s", i, e.msg);
        cfg_free(c);
    }
    /* memory exhausted at load: a clear error, no abort */
    struct config *mc = cfg_with("hog = {}\nfor i = 1, 1e9 do hog[i] = ('x'):rep(64) .. i end\n",
                                 ",\"POLICY_MAX_MEMORY_MB\":4,\"POLICY_MAX_INSTRUCTIONS\":1000000000");
    struct policy *mp = NULL;
    struct err me = {0};
    assert_int_equal(policy_new(mc, &lg, &mp, &me), -1);
    if (!strstr(me.msg, "memory limit of 4 MiB") || !strstr(me.msg, "custom-router.lua:2"))
        fail_msg("%s", me.msg);
    cfg_free(mc);
    /* a trap on _G's metatable does not run when ccrelay looks for route */
    mc = cfg_with("function route() return 'gemini,gemini-2.5-pro' end\n"
                  "setmetatable(_G, {__index = function() while true do end end})\n",
                  NULL);
    mp = load(mc);
    struct routed mr = route_text(mp, BODY);
    assert_string_equal(mr.d.source, "custom");
    route_decision_free(&mr.d);
    policy_free(mp);
    cfg_free(mc);
    /* a configured path that does not exist */
    struct config *c = cfg_from_json("{" PROVIDERS "," ROUTER_ALL
                                     ",\"CUSTOM_ROUTER_PATH\":\"/nonexistent/router.lua\"}");
    struct policy *p = NULL;
    struct err e = {0};
    assert_int_equal(policy_new(c, &lg, &p, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/router.lua"));
    cfg_free(c);
}

static void custom_runs_in_a_sandbox(void **state) {
    (void)state;
    write_script("helper.lua", "local M = {}\nfunction M.pick() return 'gemini,gemini-2.5-pro' end\n"
                               "return M\n");
    static const char SRC[] =
        "local checks = {\n"
        "  io = io == nil, execute = os.execute == nil, getenv = os.getenv == nil,\n"
        "  remove = os.remove == nil, debug = debug == nil, package = package == nil,\n"
        "  dofile = dofile == nil, loadfile = loadfile == nil, dump = string.dump == nil,\n"
        "  gc = collectgarbage == nil, time = type(os.time()) == 'number',\n"
        "  clock = type(os.clock()) == 'number',\n"
        "  binary = not pcall(load, '\\27Lua', 'x', 'b'),\n"
        "  text = load('return 1 + 1')() == 2,\n"
        "  ccr = require('ccr').family('claude-3-5-sonnet-20241022') == 'sonnet',\n"
        "  noc = not pcall(require, 'os'),\n"
        "  noescape = not pcall(require, '../etc/passwd'),\n"
        "}\n"
        "local helper = require('helper')\n"
        "function route(req, config)\n"
        "  for k, ok in pairs(checks) do if not ok then error('sandbox check failed: ' .. k) end end\n"
        "  if pcall(function() req.model = 'x' end) then error('req is writable') end\n"
        "  if pcall(function() config.Router.default = 'x' end) then error('config is writable') end\n"
        "  if pcall(function() req.headers.x = 'x' end) then error('headers are writable') end\n"
        "  if req.headers.authorization or req.headers['x-api-key'] or req.headers.cookie then\n"
        "    error('credentials visible')\n"
        "  end\n"
        "  if req.headers['user-agent'] == nil then error('headers missing') end\n"
        "  if config.Providers[1].api_key ~= '<redacted>' then error('secret visible') end\n"
        "  if #config.Providers ~= 3 then error('config length') end\n"
        "  local n = 0 for _ in pairs(config.Router) do n = n + 1 end\n"
        "  if n ~= 9 then error('config pairs ' .. n) end\n"
        "  if req.thinking.type ~= 'adaptive' or req.thinking_level ~= 'high' then error('thinking') end\n"
        "  if req.effort ~= 'high' or req.stream ~= false or req.tokens <= 0 then error('fields') end\n"
        "  if req.session_id ~= 'sess-1' or req.agent_id ~= nil then error('ids') end\n"
        "  if #req.tools ~= 1 or req.tools[1] ~= 'Bash' then error('tools') end\n"
        "  if req.path ~= '/v1/messages' then error('path') end\n"
        "  string.find = nil -- our own state only: the built-in rules keep theirs\n"
        "  return helper.pick()\n"
        "end\n";
    struct config *c = cfg_with(SRC, NULL);
    struct policy *p = load(c);
    cJSON *fx = cJSON_Parse(
        "{\"headers\":{\"Authorization\":\"Bearer sk-secret\",\"x-api-key\":\"sk-2\",\"cookie\":\"c\","
        "\"user-agent\":\"claude-cli\",\"x-claude-code-session-id\":\"sess-1\"},\"body\":{\"model\":"
        "\"claude-opus-4-8\",\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":"
        "\"high\"},\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}}],\"messages\":[{\"role\":\"user\","
        "\"content\":\"hi\"}]}}");
    log_reset();
    struct routed r = route_json(p, fx);
    if (strcmp(r.d.source, "custom") != 0) fail_msg("log: %s", log_text());
    assert_string_equal(r.target, "gemini,gemini-2.5-pro");
    route_decision_free(&r.d);
    /* the custom state's vandalism did not reach the built-in rules */
    const char *const *files;
    assert_int_equal(policy_files(p, &files), 2);
    assert_non_null(strstr(files[0], "helper.lua"));
    assert_non_null(strstr(policy_custom_path(p), "custom-router.lua"));
    policy_free(p);
    cfg_free(c);
    cJSON_Delete(fx);

    c = cfg_with("string.find = nil\nfunction route() return nil end", NULL);
    p = load(c);
    r = route_text(p, "{\"model\":\"claude-haiku-4-5\",\"messages\":[]}");
    assert_string_equal(r.d.rule, "background");
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);
}

static void body_view_is_lazy_and_read_only(void **state) {
    (void)state;
    static const char SRC[] =
        "local kept\n"
        "function route(req)\n"
        "  local b = req.body\n"
        "  if kept then\n"
        "    local ok, err = pcall(function() return kept.model end)\n"
        "    if ok or not tostring(err):find('after its route') then error('stale view readable') end\n"
        "    return 'local,llama3'\n"
        "  end\n"
        "  kept = b\n"
        "  assert(b.model == req.model, 'model')\n"
        "  assert(#b.messages == 2, 'len')\n"
        "  assert(b.messages[1].role == 'user', 'nested')\n"
        "  assert(b.messages[2].content[1].text == 'hello', 'deep')\n"
        "  assert(b.messages[3] == nil and b.messages[0] == nil and b.nope == nil, 'absent')\n"
        "  assert(b.messages.x == nil and b[1] == nil, 'wrong key types')\n"
        "  assert(#b == 0, 'object length')\n"
        "  local keys = {}\n"
        "  for k, v in pairs(b) do keys[#keys + 1] = k end\n"
        "  assert(table.concat(keys, ',') == 'model,thinking,output_config,messages', table.concat(keys, ','))\n"
        "  local roles = {}\n"
        "  for i, m in ipairs(b.messages) do roles[i] = m.role end\n"
        "  assert(table.concat(roles, ',') == 'user,assistant', 'ipairs')\n"
        "  local n = 0\n"
        "  for i, m in pairs(b.messages) do n = n + i end\n"
        "  assert(n == 3, 'array pairs')\n"
        "  assert(type(b) == 'userdata' and tostring(b):find('object'), 'tostring')\n"
        "  assert(not pcall(function() b.model = 'x' end), 'assign')\n"
        "  assert(not pcall(function() b.messages[1] = 'x' end), 'assign nested')\n"
        "  assert(not pcall(setmetatable, b, {}), 'metatable')\n"
        "  assert(getmetatable(b) == false, 'metatable hidden')\n"
        "  return 'gemini,gemini-2.5-flash'\n"
        "end\n";
    struct config *c = cfg_with(SRC, NULL);
    struct policy *p = load(c);
    log_reset();
    struct routed r = route_text(p, BODY);
    if (strcmp(r.d.source, "custom") != 0) fail_msg("log: %s", log_text());
    route_decision_free(&r.d);
    r = route_text(p, BODY);
    if (strcmp(r.d.source, "custom") != 0) fail_msg("log: %s", log_text());
    assert_string_equal(r.target, "Local,llama3");
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);
}

/* Route the raw text as the relay does for a request it forwards as it came: summary_scan and no
 * tree; *parsed tells whether req.body made the policy parse one. */
static struct routed route_raw(struct policy *p, const char *json, bool *parsed) {
    struct routed r;
    memset(&r, 0, sizeof r);
    struct summary s;
    if (summary_scan(json, strlen(json), NULL, "/v1/messages", &s, &r.e) != 0)
        fail_msg("summary_scan: %s", r.e.msg);
    struct policy_body pb = {.raw = json, .raw_len = strlen(json)};
    r.rc = policy_route(p, &s, &pb, &r.d, &r.e);
    if (r.rc == 0 && r.d.n)
        snprintf(r.target, sizeof r.target, "%s,%s", r.d.t[0].provider->name, r.d.t[0].model);
    *parsed = pb.tree != NULL;
    cJSON_Delete(pb.tree);
    summary_free(&s);
    return r;
}

/* Without a tree, req.body is parsed from the raw text when a script reads it, and only then. */
static void raw_body_is_parsed_only_when_read(void **state) {
    (void)state;
    static const char READS[] =
        "function route(req)\n"
        "  local b = req.body\n"
        "  assert(type(b) == 'userdata', 'a view before it is read')\n"
        "  if b.messages[2].content[1].text == 'hello' and b.model == req.model then\n"
        "    return 'gemini,gemini-2.5-flash'\n"
        "  end\n"
        "  return 'local,llama3'\n"
        "end\n";
    static const char IGNORES[] = "function route(req) local b = req.body return 'local,llama3' end\n";
    struct config *c = cfg_with(READS, NULL);
    struct policy *p = load(c);
    bool parsed = false;
    struct routed r = route_raw(p, BODY, &parsed);
    assert_string_equal(r.d.source, "custom");
    assert_string_equal(r.target, "gemini,gemini-2.5-flash");
    assert_true(parsed);
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);

    c = cfg_with(IGNORES, NULL);
    p = load(c);
    r = route_raw(p, BODY, &parsed);
    assert_string_equal(r.target, "Local,llama3");
    assert_false(parsed); /* holding req.body without reading it costs nothing */
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);

    c = cfg_with(NULL, NULL); /* the built-in rules never read the body */
    p = load(c);
    r = route_raw(p, BODY, &parsed);
    assert_int_equal(r.rc, 0);
    assert_false(parsed);
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);
}

static void home_custom_router_is_found(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/.ccrelay", tmpdir);
    mkdir(dir, 0700);
    char path[700];
    snprintf(path, sizeof path, "%s/custom-router.lua", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/usr/bin/env lua\nreturn function() return 'local,llama3' end\n", f);
    fclose(f);
    struct config *c = cfg_with(NULL, NULL);
    struct policy *p = load(c);
    struct routed r = route_text(p, BODY);
    assert_string_equal(r.d.source, "custom");
    assert_string_equal(r.target, "Local,llama3");
    route_decision_free(&r.d);
    assert_string_equal(policy_custom_path(p), path);
    policy_free(p);
    cfg_free(c);
    unlink(path);
    rmdir(dir);
}

/* ---------- the examples ---------- */

static void examples_do_what_they_say(void **state) {
    (void)state;
    char path[256];
    struct {
        const char *example, *fixture, *source, *target;
    } cases[] = {
        {"opus-sonnet-split", "claude-code/hello-opus.json", "custom", "openrouter,x-ai/grok-4.1-fast"},
        {"opus-sonnet-split", "claude-code-2.1.331/hello-opus55.json", "custom", "openrouter,x-ai/grok-4.1-fast"},
        {"opus-sonnet-split", "claude-code-2.1.331/thinking-disabled-sonnet45.json", "custom", "gemini,gemini-2.5-flash"},
        {"opus-sonnet-split", "claude-code/model-haiku.json", "builtin", "gemini,gemini-2.5-flash-lite"},
        {"subagents-to-cheap-model", "claude-code-2.1.331/explore-subagent.json", "custom", "gemini,gemini-2.5-flash-lite"},
        {"subagents-to-cheap-model", "claude-code-2.1.331/model-haiku55.json", "custom", "gemini,gemini-2.5-flash-lite"},
        {"subagents-to-cheap-model", "claude-code-2.1.331/hello-opus55.json", "builtin", "openrouter,x-ai/grok-4.1-fast"},
        {"effort-based", "claude-code-2.1.331/hello-opus55.json", "custom", "openrouter,x-ai/grok-4.1-fast"},
        {"effort-based", "claude-code/hello-opus.json", "custom", "gemini,gemini-2.5-pro"},
        {"effort-based", "claude-code/thinking-disabled.json", "custom", "gemini,gemini-2.5-flash-lite"},
        /* the 2.1.331 system prompt says "Primary working directory: /srv/cc/proj" */
        {"by-project", "claude-code-2.1.331/hello-opus55.json", "custom", "gemini,gemini-2.5-pro"},
        /* /srv/cc/proj5 is not inside /srv/cc/proj: the built-in rules decide (think) */
        {"by-project", "claude-code/compact.json", "builtin", "gemini,gemini-2.5-pro"},
        {"by-project", "claude-code-2.1.331/model-haiku55.json", "custom", "gemini,gemini-2.5-pro"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "lua/examples/%s.lua", cases[i].example);
        char text[8192];
        snprintf(text, sizeof text, "{" PROVIDERS "," ROUTER_ALL ",\"CUSTOM_ROUTER_PATH\":\"%s\"}",
                 path);
        struct config *c = cfg_from_json(text);
        struct policy *p = load(c);
        cJSON *fx = tu_fixture(cases[i].fixture);
        log_reset();
        struct routed r = route_json(p, fx);
        assert_int_equal(r.rc, 0);
        if (strcmp(r.d.source, cases[i].source) != 0 || strcmp(r.target, cases[i].target) != 0)
            fail_msg("%s on %s: %s %s (log: %s)", cases[i].example, cases[i].fixture, r.d.source,
                     r.target, log_text());
        route_decision_free(&r.d);
        cJSON_Delete(fx);
        policy_free(p);
        cfg_free(c);
    }
    /* effort xhigh: a target with a fallback */
    struct config *c = cfg_from_json("{" PROVIDERS "," ROUTER_ALL
                                     ",\"CUSTOM_ROUTER_PATH\":\"lua/examples/effort-based.lua\"}");
    struct policy *p = load(c);
    struct routed r = route_text(p, "{\"model\":\"claude-opus-5-5\",\"thinking\":{\"type\":\"adaptive\"},"
                                    "\"output_config\":{\"effort\":\"xhigh\"},\"messages\":[]}");
    assert_int_equal(r.d.n, 2);
    assert_string_equal(r.target, "openrouter,deepseek/deepseek-v3.2");
    route_decision_free(&r.d);
    policy_free(p);
    cfg_free(c);
    /* by-project: the header wins, with the default as fallback */
    c = cfg_from_json("{" PROVIDERS "," ROUTER_ALL
                      ",\"CUSTOM_ROUTER_PATH\":\"lua/examples/by-project.lua\"}");
    p = load(c);
    cJSON *fx = cJSON_Parse("{\"headers\":{\"x-ccrelay-project\":\"billing\"},\"body\":{\"model\":"
                            "\"claude-opus-4-8\",\"messages\":[]}}");
    r = route_json(p, fx);
    assert_int_equal(r.d.n, 2);
    assert_string_equal(r.target, "openrouter,deepseek/deepseek-v3.2");
    assert_string_equal(r.d.t[1].model, "x-ai/grok-4.1-fast");
    route_decision_free(&r.d);
    cJSON_Delete(fx);
    policy_free(p);
    cfg_free(c);
}

static void lib_helpers(void **state) {
    (void)state;
    static const char SRC[] =
        "local ccr = require('ccr')\n"
        "local F = { ['claude-opus-4-8'] = 'opus', ['claude-opus-5-5'] = 'opus',\n"
        "  ['claude-3-5-sonnet-20241022'] = 'sonnet', ['claude-haiku-4-5-20251001'] = 'haiku',\n"
        "  ['anthropic/claude-sonnet-4.5'] = 'sonnet', ['CLAUDE-3-OPUS-LATEST'] = 'opus',\n"
        "  ['gpt-5'] = false, ['opus-like'] = false }\n"
        "for m, f in pairs(F) do assert(ccr.family(m) == (f or nil), m) end\n"
        "assert(ccr.level_at_least('high', 'high') and ccr.level_at_least('max', 'xhigh'))\n"
        "assert(not ccr.level_at_least('medium', 'high') and not ccr.level_at_least('off', 'low'))\n"
        "assert(ccr.level_at_least('low', 'any') and not ccr.level_at_least('off', 'any'))\n"
        "assert(not ccr.level_at_least('high', 'bogus'))\n"
        "function route(req, config)\n"
        "  assert(ccr.first_route(config, 'nope', 'think', 'default') == 'gemini,gemini-2.5-pro')\n"
        "  assert(ccr.with_fallback(nil, 'a', nil, 'b')[2] == 'b' and ccr.with_fallback() == nil)\n"
        "  assert(ccrelay.resolve('GEMINI/GEMINI-2.5-PRO') == 'gemini,gemini-2.5-pro')\n"
        "  local none, why = ccrelay.resolve('x,y')\n"
        "  assert(none == nil and why:find('no provider'))\n"
        "  assert(ccr.working_directory(req) == nil)\n"
        "  ccrelay.log('lib ok', 1)\n"
        "  return ccr.first_route(config, 'background')\n"
        "end\n";
    log_reset();
    struct routed r = custom_once(SRC, NULL);
    if (strcmp(r.d.source, "custom") != 0) fail_msg("log: %s", log_text());
    assert_string_equal(r.target, "gemini,gemini-2.5-flash-lite");
    assert_non_null(strstr(log_text(), "lib ok\t1"));
    route_decision_free(&r.d);
}

/* ---------- ccrelay route / ccrelay check ---------- */

static char *capture(int (*fn)(void *), void *arg, int *rc) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct {
        FILE *f;
        void *arg;
    } a = {f, arg};
    *rc = fn(&a);
    fclose(f);
    return buf;
}

struct cmd_args {
    struct config *c;
    const char *file;
    struct err e;
};

static int do_route(void *p) {
    struct {
        FILE *f;
        struct cmd_args *a;
    } *x = p;
    return route_cmd_run(x->a->c, &lg, x->a->file, x->f, &x->a->e);
}

static int do_check(void *p) {
    struct {
        FILE *f;
        struct cmd_args *a;
    } *x = p;
    return check_cmd_run(x->a->c, &lg, x->f, &x->a->e);
}

static void route_command_explains_the_decision(void **state) {
    (void)state;
    char fixture[512];
    snprintf(fixture, sizeof fixture, "%s/fixtures/claude-code/hello-opus.json", tu_shared_dir());
    struct cmd_args a = {.c = cfg_with(NULL, NULL), .file = fixture};
    int rc;
    char *text = capture(do_route, &a, &rc);
    if (rc != 0) fail_msg("%s", a.e.msg);
    assert_non_null(strstr(text, "rule:      think (built-in rules)"));
    assert_non_null(strstr(text, "thinking:  high (adaptive, effort high)"));
    assert_non_null(strstr(text, "tokens:    ~"));
    assert_non_null(strstr(text, "target:    gemini,gemini-2.5-pro"));
    free(text);
    cfg_free(a.c);

    /* a bare body, with a custom router that gives a fallback */
    a.c = cfg_with("return function() return {'local,llama3', 'gemini,gemini-2.5-flash'} end", NULL);
    a.file = write_script("body.json", "{\"model\":\"claude-haiku-4-5\",\"messages\":[{\"role\":"
                                       "\"user\",\"content\":\"hi\"}]}");
    text = capture(do_route, &a, &rc);
    if (rc != 0) fail_msg("%s", a.e.msg);
    assert_non_null(strstr(text, "rule:      custom ("));
    assert_non_null(strstr(text, "thinking:  off"));
    assert_non_null(strstr(text, "target:    Local,llama3"));
    assert_non_null(strstr(text, "fallback:  gemini,gemini-2.5-flash"));
    free(text);

    /* not JSON; missing file */
    a.file = write_script("body.json", "{\"model\": nope");
    text = capture(do_route, &a, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(a.e.kind, ERR_INVALID);
    free(text);
    a.file = "/nonexistent/body.json";
    text = capture(do_route, &a, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(a.e.kind, ERR_IO);
    free(text);
    cfg_free(a.c);
    char path[600];
    snprintf(path, sizeof path, "%s/body.json", tmpdir);
    unlink(path);
}

static void check_command_reports_problems(void **state) {
    (void)state;
    struct cmd_args a = {.c = cfg_with("function route() end", NULL)};
    int rc;
    char *text = capture(do_check, &a, &rc);
    if (rc != 0) fail_msg("%s", a.e.msg);
    assert_non_null(strstr(text, "custom-router.lua loaded"));
    assert_non_null(strstr(text, "Router.subagent     Local,llama3"));
    assert_non_null(strstr(text, "ok\n"));
    free(text);
    cfg_free(a.c);

    a.c = cfg_from_json("{" PROVIDERS ",\"Router\":{\"default\":\"gemini,gemini-2.5-flash\","
                        "\"think\":\"gemni,gemini-2.5-pro\"}}");
    text = capture(do_check, &a, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(a.e.msg, "Router.think"));
    assert_non_null(strstr(text, "no provider named gemni"));
    free(text);
    cfg_free(a.c);

    a.c = cfg_with("function route(\n", NULL);
    text = capture(do_check, &a, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(a.e.msg, "custom-router.lua:"));
    free(text);
    cfg_free(a.c);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ccrelay-policy-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    setenv("HOME", tmpdir, 1); /* never pick up the developer's own custom router */
    logf_ = open_memstream(&logbuf, &loglen);
    if (!logf_) return -1;
    log_init(&lg, LOG_DEBUG, logf_);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cfg_free(last_cfg);
    fclose(logf_);
    free(logbuf);
    char path[512];
    snprintf(path, sizeof path, "%s/custom-router.lua", tmpdir);
    unlink(path);
    snprintf(path, sizeof path, "%s/helper.lua", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_route_by_the_rules),
        cmocka_unit_test(made_up_bodies_trip_each_rule),
        cmocka_unit_test(unset_routes_fall_through),
        cmocka_unit_test(think_level_and_threshold_are_configurable),
        cmocka_unit_test(custom_nil_falls_through),
        cmocka_unit_test(raw_body_is_parsed_only_when_read),
        cmocka_unit_test(custom_string_and_fallbacks),
        cmocka_unit_test(custom_runtime_error_goes_to_builtin_with_file_line),
        cmocka_unit_test(custom_endless_loop_is_cut_off),
        cmocka_unit_test(custom_unbounded_allocation_is_stopped),
        cmocka_unit_test(custom_invalid_targets_go_to_builtin),
        cmocka_unit_test(custom_load_failures_fail_policy_new),
        cmocka_unit_test(custom_runs_in_a_sandbox),
        cmocka_unit_test(body_view_is_lazy_and_read_only),
        cmocka_unit_test(home_custom_router_is_found),
        cmocka_unit_test(examples_do_what_they_say),
        cmocka_unit_test(lib_helpers),
        cmocka_unit_test(route_command_explains_the_decision),
        cmocka_unit_test(check_command_reports_problems),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
