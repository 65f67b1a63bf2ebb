/* litellm: a LiteLLM litellm_config.yaml loads as it is (prefixes, endpoints, keys from the
 * environment, balancing fields, settings), everything it cannot honour stops the load with file,
 * line and key path, and the model map routes every Claude Code model name of the fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "litellm.h"
#include "policy.h"
#include "summary.h"
#include "testutil.h"

static char tmpdir[256];

static int setup_all(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ccrelay-test-litellm-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    unsetenv("CCRELAY_LITELLM_CONFIG");
    setenv("TL_OR_KEY", "sk-or-test", 1);
    setenv("TL_GEM_KEY", "gem-test", 1);
    unsetenv("TL_UNSET_KEY");
    unsetenv("OPENROUTER_API_KEY");
    unsetenv("GEMINI_API_KEY");
    unsetenv("DEEPSEEK_API_KEY");
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_tmp(const char *name, const char *text) {
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void must(const char *yaml, struct litellm_map *m) {
    struct err e = {0};
    if (litellm_load_text(yaml, strlen(yaml), "t.yaml", NULL, 0, m, &e) != 0)
        fail_msg("load failed: %s", e.msg);
}

/* The load fails, and the message holds every given piece (place, key path, advice). */
static void must_fail(const char *yaml, ...) {
    struct litellm_map m;
    struct err e = {0};
    int rc = litellm_load_text(yaml, strlen(yaml), "t.yaml", NULL, 0, &m, &e);
    if (rc == 0) {
        litellm_map_free(&m);
        fail_msg("expected an error for:\n%s", yaml);
    }
    assert_null(m.providers);
    va_list ap;
    va_start(ap, yaml);
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
        if (!strstr(e.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
    va_end(ap);
}

static const cJSON *prov(const struct litellm_map *m, const char *name) {
    const cJSON *p;
    cJSON_ArrayForEach(p, m->providers) {
        if (strcmp(cJSON_GetObjectItem(p, "name")->valuestring, name) == 0) return p;
    }
    fail_msg("no provider %s", name);
    return NULL;
}

static const char *pstr(const cJSON *p, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(p, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *group(const struct litellm_map *m, const char *name) {
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(m->model_map, "groups")) {
        if (strcmp(pstr(g, "model_name"), name) == 0) return g;
    }
    fail_msg("no group %s", name);
    return NULL;
}

static const cJSON *dep(const struct litellm_map *m, const char *name, int i) {
    return cJSON_GetArrayItem(cJSON_GetObjectItem(group(m, name), "deployments"), i);
}

/* ---------- parsing ---------- */

static void example_config_loads(void **state) {
    (void)state;
    setenv("OPENROUTER_API_KEY", "sk-or-example", 1);
    setenv("GEMINI_API_KEY", "gem-example", 1);
    struct litellm_map m;
    struct err e = {0};
    if (litellm_load_file("config/litellm_config.example.yaml", NULL, 0, &m, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(cJSON_GetArraySize(m.providers), 2);
    const cJSON *o = prov(&m, "openrouter"), *g = prov(&m, "gemini");
    assert_string_equal(pstr(o, "api_base_url"), "https://openrouter.ai/api/v1/chat/completions");
    assert_string_equal(pstr(o, "format"), "openai");
    assert_string_equal(pstr(o, "api_key"), "sk-or-example");
    assert_string_equal(pstr(cJSON_GetObjectItem(o, "options"), "profile"), "openrouter");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "models"), 0)->valuestring,
                        "x-ai/grok-4.1-fast");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "models")), 1);
    assert_string_equal(pstr(g, "api_base_url"),
                        "https://generativelanguage.googleapis.com/v1beta/models/");
    assert_string_equal(pstr(g, "format"), "gemini");
    assert_string_equal(pstr(g, "api_key"), "gem-example");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m.model_map, "groups")), 7);
    assert_string_equal(pstr(dep(&m, "claude-haiku-*", 0), "model"), "gemini-2.5-flash-lite");
    assert_string_equal(pstr(dep(&m, "*", 0), "provider"), "openrouter");
    assert_int_equal(cJSON_GetObjectItem(m.model_map, "num_retries")->valueint, 1);
    assert_string_equal(pstr(m.model_map, "routing_strategy"), "simple-shuffle");
    assert_int_equal(m.timeout_ms, 600000);
    assert_null(m.notes);
    litellm_map_free(&m);
    unsetenv("OPENROUTER_API_KEY");
    unsetenv("GEMINI_API_KEY");
}

struct prefix_case {
    const char *model, *api_base, *url, *format, *upstream, *provider;
};

static void prefixes_map_to_formats_and_endpoints(void **state) {
    (void)state;
    static const struct prefix_case cases[] = {
        {"openrouter/x-ai/grok-4.1-fast", NULL, "https://openrouter.ai/api/v1/chat/completions",
         "openai", "x-ai/grok-4.1-fast", "openrouter"},
        {"openrouter/x-ai/grok-4.1-fast", "https://openrouter.ai/api/v1",
         "https://openrouter.ai/api/v1/chat/completions", "openai", "x-ai/grok-4.1-fast",
         "openrouter"},
        {"gemini/gemini-2.5-flash", NULL,
         "https://generativelanguage.googleapis.com/v1beta/models/", "gemini", "gemini-2.5-flash",
         "gemini"},
        {"gemini/gemini-2.5-flash", "https://gw.example.com",
         "https://gw.example.com/v1beta/models/", "gemini", "gemini-2.5-flash", "gemini"},
        {"gemini/gemini-2.5-flash", "https://gw.example.com/v1beta/models",
         "https://gw.example.com/v1beta/models/", "gemini", "gemini-2.5-flash", "gemini"},
        {"deepseek/deepseek-chat", NULL, "https://api.deepseek.com/chat/completions", "openai",
         "deepseek-chat", "deepseek"},
        {"deepseek/deepseek-chat", "https://api.deepseek.com/v1",
         "https://api.deepseek.com/v1/chat/completions", "openai", "deepseek-chat", "deepseek"},
        {"anthropic/claude-sonnet-4-5", NULL, "https://api.anthropic.com/v1/messages",
         "anthropic", "claude-sonnet-4-5", "anthropic"},
        {"anthropic/claude-sonnet-4-5", "http://127.0.0.1:9999",
         "http://127.0.0.1:9999/v1/messages", "anthropic", "claude-sonnet-4-5", "anthropic"},
        {"anthropic/claude-sonnet-4-5", "http://127.0.0.1:9999/v1/messages",
         "http://127.0.0.1:9999/v1/messages", "anthropic", "claude-sonnet-4-5", "anthropic"},
        {"ollama/qwen2.5-coder:7b", NULL, "http://localhost:11434/v1/chat/completions", "openai",
         "qwen2.5-coder:7b", "ollama"},
        {"ollama_chat/llama3.2", "http://10.0.0.5:11434",
         "http://10.0.0.5:11434/v1/chat/completions", "openai", "llama3.2", "ollama"},
        {"openai/gpt-4o", NULL, "https://api.openai.com/v1/chat/completions", "openai", "gpt-4o",
         "openai"},
        {"openai/qwen3-coder", "http://127.0.0.1:8000/v1",
         "http://127.0.0.1:8000/v1/chat/completions", "openai", "qwen3-coder", "openai"},
        {"gpt-4o-mini", NULL, "https://api.openai.com/v1/chat/completions", "openai",
         "gpt-4o-mini", "openai"},
        {"hosted_vllm/Qwen/Qwen3-Coder", "http://gpu:8000/v1",
         "http://gpu:8000/v1/chat/completions", "openai", "Qwen/Qwen3-Coder", "vllm"},
        {"groq/llama-3.3-70b-versatile", NULL, "https://api.groq.com/openai/v1/chat/completions",
         "openai", "llama-3.3-70b-versatile", "groq"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char yaml[600];
        snprintf(yaml, sizeof yaml,
                 "model_list:\n  - model_name: m\n    litellm_params:\n      model: %s\n%s%s%s",
                 cases[i].model, cases[i].api_base ? "      api_base: " : "",
                 cases[i].api_base ? cases[i].api_base : "", cases[i].api_base ? "\n" : "");
        struct litellm_map m;
        must(yaml, &m);
        const cJSON *p = cJSON_GetArrayItem(m.providers, 0);
        assert_string_equal(pstr(p, "name"), cases[i].provider);
        assert_string_equal(pstr(p, "api_base_url"), cases[i].url);
        assert_string_equal(pstr(p, "format"), cases[i].format);
        assert_string_equal(pstr(dep(&m, "m", 0), "model"), cases[i].upstream);
        assert_string_equal(pstr(dep(&m, "m", 0), "provider"), cases[i].provider);
        litellm_map_free(&m);
    }
}

static void keys_come_from_the_environment(void **state) {
    (void)state;
    struct litellm_map m;
    /* os.environ/NAME; environment_variables of the file win, as LiteLLM sets them first */
    must("environment_variables:\n  TL_FILE_KEY: from-file\n  TL_OR_KEY: file-wins\n"
         "model_list:\n"
         "  - model_name: a\n    litellm_params: {model: openrouter/x, api_key: os.environ/TL_OR_KEY}\n"
         "  - model_name: b\n    litellm_params: {model: gemini/g, api_key: os.environ/TL_GEM_KEY}\n"
         "  - model_name: c\n    litellm_params: {model: deepseek/d, api_key: os.environ/TL_FILE_KEY}\n"
         "  - model_name: d\n    litellm_params: {model: openai/o, api_key: literal-key}\n",
         &m);
    assert_string_equal(pstr(prov(&m, "openrouter"), "api_key"), "file-wins");
    assert_string_equal(pstr(prov(&m, "gemini"), "api_key"), "gem-test");
    assert_string_equal(pstr(prov(&m, "deepseek"), "api_key"), "from-file");
    assert_string_equal(pstr(prov(&m, "openai"), "api_key"), "literal-key");
    assert_null(m.notes);
    litellm_map_free(&m);

    /* no api_key: LiteLLM's variable for the prefix; ollama needs none */
    setenv("DEEPSEEK_API_KEY", "ds-env", 1);
    must("model_list:\n"
         "  - model_name: a\n    litellm_params: {model: deepseek/deepseek-chat}\n"
         "  - model_name: b\n    litellm_params: {model: ollama/llama3}\n",
         &m);
    assert_string_equal(pstr(prov(&m, "deepseek"), "api_key"), "ds-env");
    assert_null(pstr(prov(&m, "ollama"), "api_key"));
    assert_null(m.notes);
    litellm_map_free(&m);
    /* an OpenAI-compatible server of one's own (api_base) may need no key: no note */
    unsetenv("OPENAI_API_KEY");
    must("model_list:\n  - model_name: a\n    litellm_params: {model: openai/q, api_base: "
         "\"http://127.0.0.1:8000/v1\"}\n",
         &m);
    assert_null(m.notes);
    assert_null(pstr(prov(&m, "openai"), "api_key"));
    assert_null(cJSON_GetObjectItem(dep(&m, "a", 0), "missing_key"));
    litellm_map_free(&m);
    unsetenv("DEEPSEEK_API_KEY");

    /* an unset variable: a start-up note with the place, and the deployment is marked */
    must("model_list:\n"
         "  - model_name: a\n    litellm_params:\n      model: openrouter/x\n"
         "      api_key: os.environ/TL_UNSET_KEY\n"
         "  - model_name: b\n    litellm_params: {model: gemini/gemini-2.5-flash}\n"
         "  - model_name: c\n    litellm_params: {model: openai/o, api_key: "
         "os.environ/TL_UNSET_KEY}\n",
         &m);
    assert_int_equal(m.nnotes, 2); /* one note per variable */
    assert_non_null(strstr(m.notes[0], "t.yaml:5: model_list[0].litellm_params.api_key: "
                                       "TL_UNSET_KEY is not set"));
    assert_non_null(strstr(m.notes[1], "GEMINI_API_KEY is not set"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(dep(&m, "a", 0), "missing_key")));
    assert_null(pstr(prov(&m, "openrouter"), "api_key"));
    litellm_map_free(&m);
}

static void deployments_share_providers_and_keep_their_knobs(void **state) {
    (void)state;
    struct litellm_map m;
    const char *taken[] = {"openrouter"};
    const char *yaml =
        "model_list:\n"
        "  - model_name: big\n    litellm_params:\n      model: openrouter/x-ai/grok-4.1-fast\n"
        "      api_key: os.environ/TL_OR_KEY\n      max_tokens: 8192\n"
        "      temperature: 0.2\n      extra_headers: {X-Title: mine}\n"
        "  - model_name: big\n    litellm_params:\n      model: openrouter/qwen/qwen3-coder\n"
        "      api_key: os.environ/TL_OR_KEY\n      weight: 3\n"
        "  - model_name: big\n    litellm_params:\n      model: openrouter/qwen/qwen3-coder\n"
        "      api_key: other-key\n"
        "  - model_name: small\n    litellm_params:\n      model: openrouter/x-ai/grok-4.1-fast\n"
        "      api_key: os.environ/TL_OR_KEY\n      max_tokens: 1024\n"
        "  - model_name: any\n    litellm_params: {model: \"openrouter/*\", api_key: k, "
        "max_tokens: 4096}\n";
    struct err e = {0};
    if (litellm_load_text(yaml, strlen(yaml), "t.yaml", taken, 1, &m, &e) != 0)
        fail_msg("%s", e.msg);
    /* the JSON config already has "openrouter": generated names avoid it */
    const cJSON *p2 = prov(&m, "openrouter-2"), *p3 = prov(&m, "openrouter-3");
    const cJSON *p4 = prov(&m, "openrouter-4"), *p5 = prov(&m, "openrouter-5");
    assert_int_equal(cJSON_GetArraySize(m.providers), 4);
    /* one provider serves both models of the same endpoint and key */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p2, "models")), 2);
    const cJSON *mo = cJSON_GetObjectItem(cJSON_GetObjectItem(p2, "model_options"),
                                          "x-ai/grok-4.1-fast");
    assert_int_equal(cJSON_GetObjectItem(mo, "model_max_output")->valueint, 8192);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(mo, "extra_body"), "temperature")
                    ->valuedouble == 0.2);
    assert_string_equal(pstr(cJSON_GetObjectItem(mo, "extra_headers"), "X-Title"), "mine");
    /* another key: another provider */
    assert_string_equal(pstr(p3, "api_key"), "other-key");
    /* the same model with another max_tokens cannot share a provider */
    mo = cJSON_GetObjectItem(cJSON_GetObjectItem(p4, "model_options"), "x-ai/grok-4.1-fast");
    assert_int_equal(cJSON_GetObjectItem(mo, "model_max_output")->valueint, 1024);
    assert_string_equal(pstr(dep(&m, "small", 0), "provider"), "openrouter-4");
    /* a wildcard model: its own provider, no model list (it takes any id), knobs global */
    assert_null(cJSON_GetObjectItem(p5, "models"));
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p5, "options"), "model_max_output")->valueint,
        4096);
    /* weights: `weight` set on one deployment of the group, the others count 0 */
    assert_true(cJSON_GetObjectItem(dep(&m, "big", 1), "weight")->valuedouble == 3);
    assert_true(cJSON_GetObjectItem(dep(&m, "big", 0), "weight")->valuedouble == 0);
    assert_true(cJSON_GetObjectItem(dep(&m, "small", 0), "weight")->valuedouble == 1);
    assert_int_equal(cJSON_GetObjectItem(dep(&m, "big", 2), "line")->valueint, 14);
    litellm_map_free(&m);
}

static void settings_that_mean_something_here(void **state) {
    (void)state;
    struct litellm_map m;
    must("model_list:\n"
         "  - model_name: claude-sonnet-*\n    litellm_params: {model: openrouter/a}\n"
         "  - model_name: claude-haiku-*\n    litellm_params: {model: gemini/b}\n"
         "  - model_name: local\n    litellm_params: {model: ollama/c, rpm: 10}\n"
         "  - model_name: local\n    litellm_params: {model: ollama/d, rpm: 30, order: 2}\n"
         "router_settings:\n  routing_strategy: round-robin\n  num_retries: 2\n  timeout: 30.5\n"
         "  fallbacks: [{\"claude-sonnet-*\": [\"local\"]}, {\"claude-sonnet-4-5\": local}]\n"
         "  default_fallbacks: [claude-haiku-4-5]\n"
         "  model_group_alias: {sonnet: claude-sonnet-4-5, fast: {model: local, hidden: true}}\n"
         "litellm_settings:\n  num_retries: 5\n  request_timeout: 100\n  drop_params: true\n"
         "general_settings:\n  master_key: os.environ/TL_OR_KEY\n",
         &m);
    const cJSON *mm = m.model_map;
    assert_string_equal(pstr(mm, "routing_strategy"), "round-robin");
    assert_int_equal(cJSON_GetObjectItem(mm, "num_retries")->valueint, 2); /* router wins */
    assert_int_equal(m.timeout_ms, 30500);
    const cJSON *fb = cJSON_GetObjectItem(mm, "fallbacks");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(fb, "claude-sonnet-*"), 0)->valuestring,
                        "local");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(fb, "claude-sonnet-4-5"), 0)->valuestring,
                        "local");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(mm, "default_fallbacks"), 0)->valuestring,
                        "claude-haiku-4-5");
    assert_string_equal(pstr(cJSON_GetObjectItem(mm, "aliases"), "fast"), "local");
    assert_string_equal(m.master_key, "sk-or-test");
    assert_true(cJSON_GetObjectItem(dep(&m, "local", 1), "weight")->valuedouble == 30);
    assert_int_equal(cJSON_GetObjectItem(dep(&m, "local", 1), "order")->valueint, 2);
    litellm_map_free(&m);
}

static void yaml_merge_keys_and_scalars(void **state) {
    (void)state;
    struct litellm_map m;
    must("model_list:\n"
         "  - model_name: \"1.5\"\n    litellm_params: &p\n      model: openrouter/a\n"
         "      api_key: os.environ/TL_OR_KEY\n      max_tokens: 100\n"
         "  - model_name: b\n    litellm_params:\n      <<: *p\n      max_tokens: 200\n"
         "litellm_settings:\n  drop_params: yes\n",
         &m);
    assert_non_null(group(&m, "1.5"));
    /* b inherits model and key from the anchor; its own max_tokens wins */
    const cJSON *b = dep(&m, "b", 0);
    assert_string_equal(pstr(b, "model"), "a");
    const cJSON *pb = prov(&m, pstr(b, "provider"));
    const cJSON *mo = cJSON_GetObjectItem(cJSON_GetObjectItem(pb, "model_options"), "a");
    assert_int_equal(cJSON_GetObjectItem(mo, "model_max_output")->valueint, 200);
    assert_string_equal(pstr(pb, "api_key"), "sk-or-test");
    litellm_map_free(&m);
    /* a key that came through a merge is reported where the anchor wrote it */
    must_fail("model_list:\n  - model_name: a\n    litellm_params: &p {model: openrouter/a}\n"
              "  - model_name: b\n    model_info: &bad {frobnicate: 1}\n"
              "    litellm_params:\n      <<: [*p, *bad]\n",
              "t.yaml:5:23: model_list[1].litellm_params.frobnicate: unsupported key", NULL);
    /* an unquoted number is a number, as in LiteLLM: model_name must be a string */
    must_fail("model_list:\n  - model_name: 1.5\n    litellm_params: {model: openrouter/a}\n",
              "t.yaml:2:5: model_list[0].model_name: must be a non-empty string", NULL);
    /* an alias bomb is cut off, not expanded */
    must_fail("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
              "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
              "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
              "model_list: [*f]\n",
              "too many nodes", NULL);
}

/* ---------- errors: each names the file, line, column and key path ---------- */

static void errors_name_the_place_and_key_path(void **state) {
    (void)state;
    const char *head = "model_list:\n  - model_name: m\n    litellm_params:\n";
    char y[800];
#define WITH(extra) (snprintf(y, sizeof y, "%s%s", head, extra), y)
    must_fail(WITH("      model: openrouter/a\n      rpm_limit: 5\n"),
              "t.yaml:5:7: model_list[0].litellm_params.rpm_limit: unsupported key", NULL);
    must_fail(WITH("      model: openrouter/a\n      timeout: 30\n"),
              "t.yaml:5:7: model_list[0].litellm_params.timeout:", "router_settings.timeout", NULL);
    must_fail(WITH("      model: openrouter/a\n      max_retries: 3\n"),
              "t.yaml:5:7: model_list[0].litellm_params.max_retries:", "num_retries", NULL);
    must_fail(WITH("      model: azure/gpt-4o\n"),
              "t.yaml:4:7: model_list[0].litellm_params.model:", "does not support", "openrouter/",
              NULL);
    must_fail(WITH("      model: grok-4\n"),
              "t.yaml:4:7: model_list[0].litellm_params.model:", "has no provider prefix", NULL);
    must_fail(WITH("      model: openrouter/\n"), "names no model", NULL);
    must_fail(WITH("      api_key: k\n"),
              "t.yaml:3:5: model_list[0].litellm_params.model: is missing", NULL);
    must_fail(WITH("      model: openrouter/a\n      api_key: 12345\n"),
              "t.yaml:5:7: model_list[0].litellm_params.api_key: must be a string", NULL);
    must_fail(WITH("      model: hosted_vllm/q\n"),
              "model_list[0].litellm_params: hosted_vllm/ needs api_base", NULL);
    must_fail(WITH("      model: openai/q\n      api_base: ftp://x.example\n"),
              "t.yaml:5:7: model_list[0].litellm_params.api_base:", "not an http", NULL);
    must_fail(WITH("      model: openai/q\n      api_base: os.environ/TL_UNSET_KEY\n"),
              "TL_UNSET_KEY is not set", NULL);
    must_fail(WITH("      model: anthropic/claude\n      max_tokens: 100\n"),
              "t.yaml:5:7: model_list[0].litellm_params.max_tokens: cannot be honoured", NULL);
    must_fail(WITH("      model: gemini/g\n      temperature: 0.1\n"),
              "t.yaml:5:7: model_list[0].litellm_params.temperature:", "OpenAI-format", NULL);
    must_fail(WITH("      model: openai/g\n      max_tokens: -5\n"),
              "model_list[0].litellm_params.max_tokens: must be a whole number", NULL);
    must_fail(WITH("      model: openai/g\n      weight: fast\n"),
              "t.yaml:5:7: model_list[0].litellm_params.weight: must be a number", NULL);
    must_fail(WITH("      model: openai/g\n      custom_llm_provider: azure\n"),
              "model_list[0].litellm_params.custom_llm_provider:", NULL);
    must_fail(WITH("      model: openai/g\n      model: openai/h\n"),
              "t.yaml:5:7: \"model\" is written twice", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "    tags: [a]\n",
              "t.yaml:4:5: model_list[0].tags: unknown key", NULL);
    must_fail("model_list:\n  - litellm_params: {model: openai/g}\n",
              "t.yaml:2:5: model_list[0].model_name: is missing", NULL);
    must_fail("model_list: []\n", "t.yaml:1:1: model_list: must be a non-empty list", NULL);
    must_fail("router_settings: {}\n", "t.yaml: model_list is missing", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "callbacks: [langfuse]\n",
              "t.yaml:4:1: callbacks: unknown key", NULL);
    must_fail("include: [other.yaml]\nmodel_list: []\n", "t.yaml:1:1: include:", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "router_settings:\n  routing_strategy: latency-based-routing\n",
              "t.yaml:5:3: router_settings.routing_strategy: \"latency-based-routing\" cannot be "
              "honoured",
              NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "router_settings:\n  redis_host: localhost\n",
              "t.yaml:5:3: router_settings.redis_host: unsupported key", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "router_settings:\n  fallbacks: [{m: [nope]}]\n",
              "router_settings.fallbacks[0].m:", "\"nope\" is no model_name", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "litellm_settings:\n  context_window_fallbacks: [{m: [m]}]\n",
              "t.yaml:5:3: litellm_settings.context_window_fallbacks: cannot be honoured", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "litellm_settings:\n  success_callback: [langfuse]\n",
              "t.yaml:5:3: litellm_settings.success_callback: unsupported key", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "general_settings:\n  database_url: postgres://x\n",
              "t.yaml:5:3: general_settings.database_url: unsupported key", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n"
              "router_settings:\n  num_retries: 50\n",
              "t.yaml:5:3: router_settings.num_retries: must be a whole number from 0 to 7", NULL);
    /* YAML syntax: the parser's place */
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g\n",
              "t.yaml:4:", "not valid YAML", NULL);
    must_fail("model_list:\n  - model_name: m\n    litellm_params: {model: openai/g}\n---\n"
              "x: 1\n",
              "t.yaml:5:1: a second YAML document", NULL);
    must_fail("", "t.yaml: the file is empty", NULL);
    must_fail("- a\n- b\n", "t.yaml: the file must be a mapping", NULL);
#undef WITH
}

/* Bad input never crashes or leaks: every truncation of the example, and byte flips in it,
 * either load or fail with a message. */
static void truncated_and_garbled_files_fail_cleanly(void **state) {
    (void)state;
    size_t len = 0;
    char *ex = tu_read_file("config/litellm_config.example.yaml", &len);
    assert_non_null(ex);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    static const char flips[] = {':', '-', '*', '&', '[', '{', '"', '\'', '\t', '#', '\0', '<'};
    for (size_t cut = 0; cut <= len; cut += 7) {
        for (size_t f = 0; f <= sizeof flips; f++) {
            memcpy(buf, ex, len);
            if (f < sizeof flips && cut < len) buf[cut] = flips[f];
            struct litellm_map m;
            struct err e = {0};
            size_t n = f == sizeof flips ? cut : len;
            if (litellm_load_text(buf, n, "g.yaml", NULL, 0, &m, &e) == 0)
                litellm_map_free(&m);
            else
                assert_true(strncmp(e.msg, "g.yaml", 6) == 0);
        }
    }
    free(buf);
    free(ex);
}

static void missing_file_is_reported(void **state) {
    (void)state;
    struct litellm_map m;
    struct err e = {0};
    assert_int_equal(litellm_load_file("/nonexistent/litellm.yaml", NULL, 0, &m, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/litellm.yaml: cannot open"));
}

/* ---------- routing with the model map (config.c + policy.c + lua/model_map.lua) ---------- */

struct routed {
    struct config *cfg;
    struct policy *pol;
    struct logger lg;
    FILE *logf;
};

static void open_map(struct routed *r, const char *yaml, const char *json_extra) {
    char *yp = write_tmp("litellm_config.yaml", yaml);
    char json[1200];
    snprintf(json, sizeof json, "{\"litellm_config\": \"litellm_config.yaml\"%s%s}",
             json_extra ? ", " : "", json_extra ? json_extra : "");
    (void)yp;
    char jp[400];
    snprintf(jp, sizeof jp, "%s", write_tmp("config.json", json));
    struct err e = {0};
    r->cfg = NULL;
    if (config_load(jp, &r->cfg, &e) != 0) fail_msg("config_load: %s", e.msg);
    r->logf = fopen("/dev/null", "w");
    log_init(&r->lg, LOG_ERROR, r->logf);
    if (policy_new(r->cfg, &r->lg, &r->pol, &e) != 0) fail_msg("policy_new: %s", e.msg);
}

static void close_map(struct routed *r) {
    policy_free(r->pol);
    config_free(r->cfg);
    fclose(r->logf);
}

/* Route a request for `model` (or `body` when given); returns the decision's targets joined
 * "prov,model;prov,model" in `out`, or "ERR:<message>". */
static const char *route_model(struct routed *r, const char *model, cJSON *body, char *out,
                               size_t n) {
    cJSON *b = body;
    if (!b) {
        b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "model", model);
        cJSON_AddItemToObject(b, "messages", cJSON_CreateArray());
    }
    struct http_hdrs h;
    http_hdrs_init(&h);
    struct summary s;
    struct err e = {0};
    if (summary_build(b, &h, "/v1/messages", &s, &e) != 0) fail_msg("summary: %s", e.msg);
    struct route_decision d;
    struct policy_body pb = {.tree = b};
    if (policy_route(r->pol, &s, &pb, &d, &e) != 0) {
        snprintf(out, n, "ERR:%s", e.msg);
    } else {
        size_t k = 0;
        out[0] = '\0';
        for (size_t i = 0; i < d.n; i++)
            k += (size_t)snprintf(out + k, n - k, "%s%s,%s", i ? ";" : "", d.t[i].provider->name,
                                  d.t[i].model);
        route_decision_free(&d);
    }
    summary_free(&s);
    http_hdrs_free(&h);
    if (!body) cJSON_Delete(b);
    return out;
}

static void every_fixture_model_lands_on_its_mapping(void **state) {
    (void)state;
    setenv("OPENROUTER_API_KEY", "sk-or-example", 1);
    setenv("GEMINI_API_KEY", "gem-example", 1);
    char *ex = tu_read_file("config/litellm_config.example.yaml", NULL);
    assert_non_null(ex);
    struct routed r;
    open_map(&r, ex, NULL);
    free(ex);
    for (size_t i = 0; i < sizeof tu_fixture_names / sizeof *tu_fixture_names; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        if (!fx) fail_msg("fixture %s missing", tu_fixture_names[i]);
        cJSON *body = cJSON_GetObjectItem(fx, "body");
        const char *model = cJSON_GetObjectItem(body, "model")->valuestring;
        char got[600];
        route_model(&r, NULL, body, got, sizeof got);
        /* num_retries: 1 -> the deployment is tried twice */
        const char *want = strstr(model, "haiku")
                               ? "gemini,gemini-2.5-flash-lite;gemini,gemini-2.5-flash-lite"
                               : "openrouter,x-ai/grok-4.1-fast;openrouter,x-ai/grok-4.1-fast";
        if (strcmp(got, want) != 0)
            fail_msg("%s (model %s): got %s, want %s", tu_fixture_names[i], model, got, want);
        cJSON_Delete(fx);
    }
    char got[600];
    assert_string_equal(route_model(&r, "claude-3-5-sonnet", NULL, got, sizeof got),
                        "openrouter,x-ai/grok-4.1-fast;openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(route_model(&r, "claude-3-5-haiku-20241022", NULL, got, sizeof got),
                        "gemini,gemini-2.5-flash-lite;gemini,gemini-2.5-flash-lite");
    assert_string_equal(route_model(&r, "some-other-model", NULL, got, sizeof got),
                        "openrouter,x-ai/grok-4.1-fast;openrouter,x-ai/grok-4.1-fast");
    /* GET /v1/models ids and "provider,model" stay explicit routes */
    assert_string_equal(route_model(&r, "gemini,gemini-2.5-flash-lite", NULL, got, sizeof got),
                        "gemini,gemini-2.5-flash-lite");
    close_map(&r);
    unsetenv("OPENROUTER_API_KEY");
    unsetenv("GEMINI_API_KEY");
}

static void wildcards_most_specific_first_and_substitution(void **state) {
    (void)state;
    struct routed r;
    open_map(&r,
             "model_list:\n"
             "  - model_name: \"*\"\n    litellm_params: {model: \"openai/*\", api_key: k}\n"
             "  - model_name: claude-*\n    litellm_params: {model: openrouter/c, api_key: k}\n"
             "  - model_name: claude-opus-*\n    litellm_params: {model: openrouter/o, api_key: k}\n"
             "  - model_name: Claude-Exact\n    litellm_params: {model: openrouter/e, api_key: k}\n"
             "  - model_name: \"vendor/*-pro\"\n    litellm_params: {model: \"gemini/*-pro\", "
             "api_key: k}\n"
             "router_settings:\n  model_group_alias: {fav: claude-exact}\n",
             NULL);
    char got[600];
    assert_string_equal(route_model(&r, "claude-opus-4-8", NULL, got, sizeof got), "openrouter,o");
    assert_string_equal(route_model(&r, "claude-sonnet-4-5", NULL, got, sizeof got),
                        "openrouter,c");
    assert_string_equal(route_model(&r, "CLAUDE-OPUS-5-5", NULL, got, sizeof got), "openrouter,o");
    assert_string_equal(route_model(&r, "claude-exact", NULL, got, sizeof got), "openrouter,e");
    assert_string_equal(route_model(&r, "fav", NULL, got, sizeof got), "openrouter,e");
    /* the catch-all passes the requested name on; a pattern passes what its * matched */
    assert_string_equal(route_model(&r, "gpt-4o-mini", NULL, got, sizeof got),
                        "openai,gpt-4o-mini");
    assert_string_equal(route_model(&r, "vendor/Gemini-3-pro", NULL, got, sizeof got),
                        "gemini,Gemini-3-pro");
    close_map(&r);
}

static void duplicates_are_balanced_and_back_each_other_up(void **state) {
    (void)state;
    struct routed r;
    open_map(&r,
             "model_list:\n"
             "  - model_name: m\n    litellm_params: {model: openai/a, api_key: k}\n"
             "  - model_name: m\n    litellm_params: {model: openai/b, api_key: k}\n"
             "  - model_name: m\n    litellm_params: {model: openai/c, api_key: k}\n"
             "  - model_name: spare\n    litellm_params: {model: gemini/s, api_key: k}\n"
             "router_settings:\n  routing_strategy: round-robin\n"
             "  fallbacks: [{m: [spare]}]\n",
             NULL);
    char got[600];
    /* round robin: each request starts at the next deployment, the others follow, then the
     * fallback group */
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got),
                        "openai,a;openai,b;openai,c;gemini,s");
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got),
                        "openai,b;openai,c;openai,a;gemini,s");
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got),
                        "openai,c;openai,a;openai,b;gemini,s");
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got),
                        "openai,a;openai,b;openai,c;gemini,s");
    close_map(&r);

    /* simple-shuffle (the default): weighted random first pick; weight 0 never leads */
    open_map(&r,
             "model_list:\n"
             "  - model_name: m\n    litellm_params: {model: openai/a, api_key: k, weight: 1}\n"
             "  - model_name: m\n    litellm_params: {model: openai/b, api_key: k, weight: 1}\n"
             "  - model_name: m\n    litellm_params: {model: openai/z, api_key: k, weight: 0}\n",
             NULL);
    int first_a = 0, first_b = 0;
    for (int i = 0; i < 200; i++) {
        route_model(&r, "m", NULL, got, sizeof got);
        assert_int_equal(strlen(got), strlen("openai,a;openai,b;openai,z"));
        if (strncmp(got, "openai,a;", 9) == 0) first_a++;
        else if (strncmp(got, "openai,b;", 9) == 0) first_b++;
        else fail_msg("weight 0 led: %s", got);
    }
    assert_true(first_a > 40 && first_b > 40);
    close_map(&r);
}

static void order_retries_and_unset_keys_shape_the_list(void **state) {
    (void)state;
    struct routed r;
    open_map(&r,
             "model_list:\n"
             "  - model_name: m\n    litellm_params: {model: openai/backup, api_key: k, order: 2}\n"
             "  - model_name: m\n    litellm_params: {model: openai/nokey, api_key: "
             "os.environ/TL_UNSET_KEY, order: 1}\n"
             "  - model_name: m\n    litellm_params: {model: openai/main, api_key: k, order: 1}\n"
             "  - model_name: one\n    litellm_params: {model: gemini/g, api_key: k}\n"
             "router_settings:\n  num_retries: 2\n",
             NULL);
    char got[600];
    /* order 1 first (the keyless one after its keyed peer), then order 2 */
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got),
                        "openai,main;openai-2,nokey;openai,backup");
    /* num_retries: 2 -> three attempts in all, even with a single deployment */
    assert_string_equal(route_model(&r, "one", NULL, got, sizeof got),
                        "gemini,g;gemini,g;gemini,g");
    /* no match and no Router.default: a clear error */
    route_model(&r, "unknown-model", NULL, got, sizeof got);
    assert_non_null(strstr(got, "ERR:"));
    assert_non_null(strstr(got, "matches no model_name"));
    assert_non_null(strstr(got, "litellm_config.yaml"));
    close_map(&r);
}

static void config_json_and_litellm_work_together(void **state) {
    (void)state;
    struct routed r;
    /* providers of config.json keep their names; Router.default catches unknown names; the
     * file's timeout and master_key apply */
    open_map(&r,
             "model_list:\n"
             "  - model_name: m\n    litellm_params: {model: openrouter/a, api_key: k}\n"
             "router_settings:\n  timeout: 42\n"
             "general_settings:\n  master_key: proxy-key\n",
             "\"Providers\": [{\"name\": \"openrouter\", \"api_base_url\": "
             "\"https://openrouter.ai/api/v1/chat/completions\", \"api_key\": \"x\", \"models\": "
             "[\"z\"]}], \"Router\": {\"default\": \"openrouter,z\"}");
    char got[600];
    assert_string_equal(route_model(&r, "m", NULL, got, sizeof got), "openrouter-2,a");
    assert_string_equal(route_model(&r, "other", NULL, got, sizeof got), "openrouter,z");
    assert_int_equal(r.cfg->first_byte_timeout_ms, 42000);
    assert_int_equal(r.cfg->idle_timeout_ms, 42000);
    assert_string_equal(r.cfg->apikey, "proxy-key");
    assert_non_null(strstr(r.cfg->litellm_config, "/litellm_config.yaml"));
    assert_non_null(config_provider(r.cfg, "openrouter-2"));
    close_map(&r);
}

static void config_hook_errors_and_forms(void **state) {
    (void)state;
    struct config *cfg = NULL;
    struct err e = {0};
    /* an error in the YAML stops the config load with the YAML's place */
    write_tmp("bad.yaml", "model_list:\n  - model_name: m\n    litellm_params:\n"
                          "      model: openai/g\n      frobnicate: 1\n");
    char *jp = write_tmp("bad.json", "{\"litellm_config\": \"bad.yaml\"}");
    assert_int_equal(config_load(jp, &cfg, &e), -1);
    assert_non_null(strstr(e.msg, "bad.yaml:5:7: model_list[0].litellm_params.frobnicate: "
                                  "unsupported key"));
    /* a user-written model_map is refused */
    assert_int_equal(config_load_text("{model_map: {}}", 15, "c.json", &cfg, &e), -1);
    assert_non_null(strstr(e.msg, "c.json: model_map: is built by ccrelay"));
    /* config_load_text reads no file: the path is only recorded */
    const char *t = "{litellm_config: '/nonexistent.yaml'}";
    assert_int_equal(config_load_text(t, strlen(t), "c.json", &cfg, &e), 0);
    assert_null(cJSON_GetObjectItem(cfg->root, "model_map"));
    config_free(cfg);
    /* an inline object converts the same way (no line numbers) */
    t = "{litellm_config: {model_list: [{model_name: 'm', litellm_params: {model: 'deepseek/d', "
        "api_key: 'k'}}]}}";
    assert_int_equal(config_load_text(t, strlen(t), "c.json", &cfg, &e), 0);
    assert_non_null(config_provider(cfg, "deepseek"));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(cfg->root, "model_map")));
    config_free(cfg);
    t = "{litellm_config: {model_list: [{model_name: 'm', litellm_params: {model: 'x/d'}}]}}";
    assert_int_equal(config_load_text(t, strlen(t), "c.json", &cfg, &e), -1);
    assert_non_null(strstr(e.msg, "c.json: litellm_config: model_list[0].litellm_params.model:"));
    /* --litellm-config over the embedded default: the file replaces its providers and routes */
    char *yp = write_tmp("cli.yaml", "model_list:\n  - model_name: '*'\n"
                                     "    litellm_params: {model: ollama/llama3}\n");
    setenv("CCRELAY_LITELLM_CONFIG", yp, 1);
    assert_int_equal(config_load(NULL, &cfg, &e), 0);
    unsetenv("CCRELAY_LITELLM_CONFIG");
    assert_int_equal(cfg->nproviders, 1);
    assert_string_equal(cfg->providers[0].name, "ollama");
    assert_null(config_route(cfg, "default"));
    config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_config_loads),
        cmocka_unit_test(prefixes_map_to_formats_and_endpoints),
        cmocka_unit_test(keys_come_from_the_environment),
        cmocka_unit_test(deployments_share_providers_and_keep_their_knobs),
        cmocka_unit_test(settings_that_mean_something_here),
        cmocka_unit_test(yaml_merge_keys_and_scalars),
        cmocka_unit_test(errors_name_the_place_and_key_path),
        cmocka_unit_test(truncated_and_garbled_files_fail_cleanly),
        cmocka_unit_test(missing_file_is_reported),
        cmocka_unit_test(every_fixture_model_lands_on_its_mapping),
        cmocka_unit_test(wildcards_most_specific_first_and_substitution),
        cmocka_unit_test(duplicates_are_balanced_and_back_each_other_up),
        cmocka_unit_test(order_retries_and_unset_keys_shape_the_list),
        cmocka_unit_test(config_json_and_litellm_work_together),
        cmocka_unit_test(config_hook_errors_and_forms),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
