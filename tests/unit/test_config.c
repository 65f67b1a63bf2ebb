/* config: a Claude Code Router config.json loads as it is; every mistake is reported with its
 * key path; $VAR interpolation; defaults; wire-format inference; the embedded default with and
 * without keys; secrets never appear in a dump. */
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

#include "config.h"
#include "testutil.h"

static struct config *must_load(const char *text) {
    struct config *cfg = NULL;
    struct err e = {0};
    if (config_load_text(text, strlen(text), "config.json", &cfg, &e))
        fail_msg("config_load_text failed: %s", e.msg);
    assert_non_null(cfg);
    return cfg;
}

/* Loading must fail, with every one of the NULL-terminated fragments in the message. */
static void assert_load_error(const char *text, ...) {
    struct config *cfg = NULL;
    struct err e = {0};
    if (config_load_text(text, strlen(text), "config.json", &cfg, &e) == 0) {
        config_free(cfg);
        fail_msg("expected an error for: %s", text);
    }
    assert_null(cfg);
    assert_int_not_equal(e.kind, ERR_NONE);
    va_list ap;
    va_start(ap, text);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(e.msg, want)) fail_msg("error \"%s\" lacks \"%s\"", e.msg, want);
    va_end(ap);
}

static bool has_note(const struct config *cfg, const char *frag) {
    for (char **n = cfg->notes; n && *n; n++)
        if (strstr(*n, frag)) return true;
    return false;
}

/* A config as Claude Code Router users write it, comments and trailing commas included. */
static const char CCR_CONFIG[] =
    "{\n"
    "  // proxy settings\n"
    "  \"LOG\": true,\n"
    "  \"LOG_LEVEL\": \"debug\",\n"
    "  \"API_TIMEOUT_MS\": 120000,\n"
    "  \"NON_INTERACTIVE_MODE\": false,\n"
    "  \"APIKEY\": \"${TC_PROXY_KEY}\",\n"
    "  \"Providers\": [\n"
    "    {\n"
    "      \"name\": \"openrouter\",\n"
    "      \"api_base_url\": \"https://openrouter.ai/api/v1/chat/completions\",\n"
    "      \"api_key\": \"$TC_OPENROUTER\",\n"
    "      \"models\": [\"x-ai/grok-4.1-fast\", \"anthropic/claude-sonnet-4\",],\n"
    "      \"transformer\": {\n"
    "        \"use\": [\"openrouter\", [\"maxtoken\", {\"max_tokens\": 16384}]],\n"
    "        \"anthropic/claude-sonnet-4\": {\"use\": [\"cleancache\"]},\n"
    "      },\n"
    "    },\n"
    "    {\n"
    "      name: 'deepseek', /* JSON5 style */\n"
    "      api_base_url: 'https://api.deepseek.com/chat/completions',\n"
    "      api_key: ['$TC_DS1', '${TC_DS2}', 'sk-literal'],\n"
    "      models: ['deepseek-chat', 'deepseek-reasoner'],\n"
    "      transformer: {use: ['deepseek'], 'deepseek-chat': {use: ['tooluse']}},\n"
    "    },\n"
    "    {\n"
    "      \"name\": \"gemini\",\n"
    "      \"api_base_url\": \"https://generativelanguage.googleapis.com/v1beta/models/\",\n"
    "      \"api_key\": \"$TC_GEMINI\",\n"
    "      \"models\": [\"gemini-2.5-flash\", \"gemini-2.5-pro\"],\n"
    "      \"transformer\": {\"use\": [\"gemini\"]}\n"
    "    },\n"
    "    {\n"
    "      \"name\": \"ollama\",\n"
    "      \"api_base_url\": \"http://localhost:11434/v1/chat/completions\",\n"
    "      \"api_key\": \"ollama\",\n"
    "      \"models\": [\"qwen2.5-coder:latest\"]\n"
    "    }\n"
    "  ],\n"
    "  \"Router\": {\n"
    "    \"default\": \"deepseek,deepseek-chat\",\n"
    "    \"background\": \"ollama,qwen2.5-coder:latest\",\n"
    "    \"think\": \"deepseek,deepseek-reasoner\",\n"
    "    \"longContext\": \"openrouter,x-ai/grok-4.1-fast\",\n"
    "    \"longContextThreshold\": 60000,\n"
    "    \"webSearch\": \"gemini,gemini-2.5-flash\",\n"
    "    \"image\": \"\",\n"
    "  },\n"
    "  \"transformers\": [{\"path\": \"/home/u/.claude-code-router/plugins/x.js\"}],\n"
    "  \"StatusLine\": {\"enabled\": false},\n"
    "  \"myPolicySetting\": {\"cheap\": \"ollama,qwen2.5-coder:latest\"},\n"
    "}\n";

static int set_ccr_env(void **state) {
    (void)state;
    setenv("TC_PROXY_KEY", "proxy-secret", 1);
    setenv("TC_OPENROUTER", "sk-or-secret", 1);
    setenv("TC_DS1", "sk-ds-one", 1);
    setenv("TC_DS2", "sk-ds-two", 1);
    setenv("TC_GEMINI", "gm-secret", 1);
    return 0;
}

static void ccr_config_loads_as_it_is(void **state) {
    (void)state;
    struct config *cfg = must_load(CCR_CONFIG);
    assert_false(cfg->is_default);
    assert_string_equal(cfg->source, "config.json");
    assert_true(cfg->log_to_file);
    assert_int_equal(cfg->log_level, LOG_DEBUG);
    assert_int_equal(cfg->api_timeout_ms, 120000);
    assert_int_equal(cfg->first_byte_timeout_ms, 120000);
    assert_int_equal(cfg->idle_timeout_ms, 120000);
    assert_string_equal(cfg->apikey, "proxy-secret");
    assert_int_equal(cfg->nproviders, 4);

    const struct cfg_provider *or = config_provider(cfg, "OpenRouter");
    assert_non_null(or);
    assert_string_equal(or->name, "openrouter");
    assert_int_equal(or->format, FMT_OPENAI);
    assert_int_equal(or->nkeys, 1);
    assert_string_equal(or->keys[0], "sk-or-secret");
    assert_int_equal(or->nmodels, 2);
    /* the CCR transformer object is reachable, untouched, through json */
    const cJSON *use = cJSON_GetObjectItem(cJSON_GetObjectItem(or->json, "transformer"), "use");
    assert_int_equal(cJSON_GetArraySize(use), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(use, 1), 0)->valuestring,
                        "maxtoken");

    const struct cfg_provider *ds = config_provider(cfg, "deepseek");
    assert_int_equal(ds->nkeys, 3);
    assert_string_equal(ds->keys[0], "sk-ds-one");
    assert_string_equal(ds->keys[1], "sk-ds-two");
    assert_string_equal(ds->keys[2], "sk-literal");
    assert_int_equal(config_provider(cfg, "gemini")->format, FMT_GEMINI);
    assert_int_equal(config_provider(cfg, "ollama")->nkeys, 1);

    assert_string_equal(config_route(cfg, "default"), "deepseek,deepseek-chat");
    assert_string_equal(config_route(cfg, "webSearch"), "gemini,gemini-2.5-flash");
    assert_null(config_route(cfg, "image"));    /* "" is unset */
    assert_null(config_route(cfg, "subagent")); /* absent */
    /* an empty route is removed from root so that a policy reads it as nil */
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg->root, "Router"), "image"));
    /* unknown keys are kept for the policy */
    assert_non_null(cJSON_GetObjectItem(cfg->root, "myPolicySetting"));
    assert_non_null(cJSON_GetObjectItem(cfg->root, "StatusLine"));
    /* custom JS transformers: a warning, not an error */
    assert_true(has_note(cfg, "transformers: custom JavaScript transformer plugins"));
    config_free(cfg);
}

static void example_config_loads(void **state) {
    (void)state;
    setenv("OPENROUTER_API_KEY", "sk-or", 1);
    setenv("GEMINI_API_KEY", "gm", 1);
    setenv("DEEPSEEK_API_KEY", "sk-ds", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant", 1);
    struct config *cfg = NULL;
    struct err e = {0};
    if (config_load("config/config.example.json", &cfg, &e))
        fail_msg("config/config.example.json: %s", e.msg);
    assert_int_equal(cfg->nproviders, 5);
    assert_int_equal(config_provider(cfg, "openrouter")->format, FMT_OPENAI);
    assert_int_equal(config_provider(cfg, "gemini")->format, FMT_GEMINI);
    assert_int_equal(config_provider(cfg, "deepseek")->format, FMT_OPENAI);
    assert_int_equal(config_provider(cfg, "ollama")->format, FMT_OPENAI);
    assert_int_equal(config_provider(cfg, "ollama")->nkeys, 0);
    assert_int_equal(config_provider(cfg, "anthropic")->format, FMT_ANTHROPIC);
    assert_string_equal(config_route(cfg, "default"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "think"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "background"), "gemini,gemini-2.5-flash-lite");
    assert_string_equal(config_route(cfg, "webSearch"), "gemini,gemini-2.5-flash");
    assert_string_equal(cfg->host, "127.0.0.1");
    assert_int_equal(cfg->port, 3456);
    config_free(cfg);
    unsetenv("DEEPSEEK_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");
}

static void defaults(void **state) {
    (void)state;
    struct config *cfg = must_load("{}");
    assert_string_equal(cfg->host, "127.0.0.1");
    assert_int_equal(cfg->port, 3456);
    assert_null(cfg->apikey);
    assert_false(cfg->log_to_file);
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_null(cfg->custom_router_path);
    assert_null(cfg->proxy_url);
    assert_null(cfg->litellm_config);
    assert_int_equal(cfg->api_timeout_ms, 600000);
    assert_int_equal(cfg->connect_timeout_ms, 10000);
    assert_int_equal(cfg->first_byte_timeout_ms, 600000);
    assert_int_equal(cfg->idle_timeout_ms, 600000);
    assert_int_equal(cfg->max_body_bytes, 32u << 20);
    assert_int_equal(cfg->max_header_bytes, 64u << 10);
    assert_int_equal(cfg->max_connections, 1024);
    assert_int_equal(cfg->nproviders, 0);
    assert_null(config_route(cfg, "default"));
    assert_null(config_provider(cfg, "x"));
    config_free(cfg);
}

static void limits_and_top_level_values(void **state) {
    (void)state;
    setenv("TC_PORT", "8080", 1);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/home/tester", 1);
    struct config *cfg = must_load(
        "{HOST: '0.0.0.0', APIKEY: 'k', PORT: '${TC_PORT}', API_TIMEOUT_MS: 5000,"
        " CUSTOM_ROUTER_PATH: '~/.ccrelay/custom-router.lua', PROXY_URL: 'http://127.0.0.1:7890',"
        " litellm_config: '~/litellm_config.yaml', LOG: 'true',"
        " LIMITS: {connect_timeout_ms: 2000, idle_timeout_ms: 90000, max_body_bytes: 1048576,"
        "          max_header_bytes: 8192, max_connections: 64}}");
    assert_string_equal(cfg->host, "0.0.0.0");
    assert_int_equal(cfg->port, 8080);
    assert_true(cfg->log_to_file);
    assert_string_equal(cfg->custom_router_path, "/home/tester/.ccrelay/custom-router.lua");
    assert_string_equal(cfg->litellm_config, "/home/tester/litellm_config.yaml");
    assert_string_equal(cfg->proxy_url, "http://127.0.0.1:7890");
    assert_int_equal(cfg->api_timeout_ms, 5000);
    assert_int_equal(cfg->connect_timeout_ms, 2000);
    assert_int_equal(cfg->first_byte_timeout_ms, 5000); /* from API_TIMEOUT_MS */
    assert_int_equal(cfg->idle_timeout_ms, 90000);      /* LIMITS wins */
    assert_int_equal(cfg->max_body_bytes, 1048576);
    assert_int_equal(cfg->max_header_bytes, 8192);
    assert_int_equal(cfg->max_connections, 64);
    config_free(cfg);
    unsetenv("TC_PORT");

    unsetenv("HOME");
    assert_load_error("{CUSTOM_ROUTER_PATH: '~/r.lua'}", "config.json: CUSTOM_ROUTER_PATH: ",
                      "HOME is not set", NULL);
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
}

static void header_timeout_default_and_bounds(void **state) {
    (void)state;
    struct config *cfg = must_load("{}");
    assert_int_equal(cfg->header_timeout_ms, 30000);
    config_free(cfg);
    cfg = must_load("{LIMITS: {header_timeout_ms: 1500}}");
    assert_int_equal(cfg->header_timeout_ms, 1500);
    config_free(cfg);
    assert_load_error("{LIMITS: {header_timeout_ms: 0}}", "LIMITS.header_timeout_ms", NULL);
    assert_load_error("{LIMITS: {header_timeout_ms: -5}}", "LIMITS.header_timeout_ms", NULL);
    assert_load_error("{LIMITS: {header_timeout_ms: 'soon'}}", "LIMITS.header_timeout_ms", NULL);
}

static void env_interpolation(void **state) {
    (void)state;
    setenv("TC_TOKEN", "tok123", 1);
    setenv("TC_HOST", "example.test", 1);
    setenv("TC_EMPTY", "", 1);
    struct config *cfg = must_load(
        "{Providers: [{name: 'p', api_base_url: 'https://${TC_HOST}/v1/chat/completions',"
        "  api_key: '$TC_TOKEN', models: ['m'],"
        "  options: {extra_headers: {Authorization: 'Bearer ${TC_TOKEN}', X: 'a$TC_TOKEN-b'}}}],"
        " price: 'costs $$5 or $5 $', deep: [[{k: 'x${TC_EMPTY}y'}]], 'lit': '$$TC_TOKEN'}");
    const struct cfg_provider *p = config_provider(cfg, "p");
    assert_string_equal(p->url, "https://example.test/v1/chat/completions");
    assert_string_equal(p->keys[0], "tok123");
    const cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(p->json,
                                                                                 "options"),
                                                             "extra_headers"),
                                         "Authorization");
    assert_string_equal(h->valuestring, "Bearer tok123");
    h = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p->json, "options"), "extra_headers"), "X");
    assert_string_equal(h->valuestring, "atok123-b");
    assert_string_equal(cJSON_GetObjectItem(cfg->root, "price")->valuestring, "costs $5 or $5 $");
    assert_string_equal(cJSON_GetObjectItem(cfg->root, "lit")->valuestring, "$TC_TOKEN");
    const cJSON *deep = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cfg->root,
                                                                                  "deep"),
                                                              0),
                                           0);
    assert_string_equal(cJSON_GetObjectItem(deep, "k")->valuestring, "xy");
    config_free(cfg);

    unsetenv("TC_MISSING");
    assert_load_error("{Providers: [{name: 'a', api_base_url: 'https://a.test/v1/messages'},"
                      " {name: 'openrouter', api_base_url: 'https://b.test/chat/completions',"
                      "  api_key: '$TC_MISSING'}]}",
                      "config.json: Providers[1].api_key: environment variable TC_MISSING is "
                      "not set",
                      "export TC_MISSING=", NULL);
    assert_load_error("{a: {b: ['x', 'Bearer ${TC_MISSING}']}}", "config.json: a.b[1]: ",
                      "TC_MISSING is not set", NULL);
    assert_load_error("{k: 'a ${TC_TOKEN'}", "config.json: k: ", "'${' must be followed", NULL);
    assert_load_error("{k: 'a ${}'}", "config.json: k: ", "empty ${}", NULL);
    unsetenv("TC_TOKEN");
    unsetenv("TC_HOST");
    unsetenv("TC_EMPTY");
}

struct bad {
    const char *text, *path, *what;
};

#define P0 "{name: 'p', api_base_url: 'https://a.test/chat/completions', models: ['m1', 'M2']}"

static void every_validation_error_names_its_key(void **state) {
    (void)state;
    static const struct bad cases[] = {
        {"[1, 2]", "config.json", "must be a JSON object"},
        {"{Providers: {}}", "Providers", "must be a list"},
        {"{Providers: ['x']}", "Providers[0]", "must be an object"},
        {"{Providers: [{api_base_url: 'https://a.test/v1/messages'}]}", "Providers[0].name",
         "is missing"},
        {"{Providers: [{name: '', api_base_url: 'https://a.test'}]}", "Providers[0].name",
         "is empty"},
        {"{Providers: [{name: 7, api_base_url: 'https://a.test'}]}", "Providers[0].name",
         "must be a string, found a number"},
        {"{Providers: [{name: 'a,b', api_base_url: 'https://a.test'}]}", "Providers[0].name",
         "contains a comma"},
        {"{Providers: [" P0 ", {name: 'P', api_base_url: 'https://b.test'}]}",
         "Providers[1].name", "already the name of Providers[0]"},
        {"{Providers: [{name: 'p'}]}", "Providers[0].api_base_url", "has no api_base_url"},
        {"{Providers: [{name: 'p', api_base_url: 'ftp://a.test/x'}]}",
         "Providers[0].api_base_url", "is not an http:// or https:// URL"},
        {"{Providers: [{name: 'p', api_base_url: 'https:///v1/messages'}]}",
         "Providers[0].api_base_url", "has no host name"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test:99999/x'}]}",
         "Providers[0].api_base_url", "port that is not a number"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a b.test/x'}]}",
         "Providers[0].api_base_url", "space"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', models: 'm'}]}",
         "Providers[0].models", "must be a list of model ids"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', models: ['m', 3]}]}",
         "Providers[0].models[1]", "must be a model id"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', models: ['']}]}",
         "Providers[0].models[0]", "empty string"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', api_key: 5}]}",
         "Providers[0].api_key", "must be a string or a list of strings"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', api_key: ['k', '']}]}",
         "Providers[0].api_key[1]", "must be a non-empty string"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', format: 'cohere'}]}",
         "Providers[0].format", "unknown format \"cohere\""},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', format: 1}]}",
         "Providers[0].format", "must be a string"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', transformer: ['x']}]}",
         "Providers[0].transformer", "must be an object"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', transformer: {use: 'x'}}]}",
         "Providers[0].transformer.use", "must be a list"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test',"
         " transformer: {use: ['a', ['maxtoken', 16384]]}}]}",
         "Providers[0].transformer.use[1]", "[\"maxtoken\", {\"max_tokens\": 16384}]"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test',"
         " transformer: {m1: {use: [1]}}}]}",
         "Providers[0].transformer.m1.use[0]", "must be a transformer name"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', transformer: {m1: 1}}]}",
         "Providers[0].transformer.m1", "per-model transformers"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', options: []}]}",
         "Providers[0].options", "must be an object"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', model_options: {m: 1}}]}",
         "Providers[0].model_options.m", "must be an object"},
        {"{Providers: [{name: 'p', api_base_url: 'https://generativelanguage.googleapis.com/"
         "v1beta/models/gemini-2.5-flash:generateContent'}]}",
         "Providers[0].api_base_url", "write the models base"},
        {"{Providers: [{name: 'p', name: 'q', api_base_url: 'https://a.test'}]}", "Providers[0]",
         "\"name\" is written twice"},
        {"{Providers: [{name: 'p', api_base_url: 'https://a.test', transformer: {use: [],"
         " use: []}}]}",
         "Providers[0].transformer", "\"use\" is written twice"},
        {"{Router: {}, Router: {}}", "Router", "is written twice at the top level"},
        {"{Providers: [" P0 "], Router: {default: 'p,m1', default: 'p,m2'}}", "Router",
         "\"default\" is written twice"},
        {"{LIMITS: {max_connections: 1, max_connections: 2}}", "LIMITS",
         "\"max_connections\" is written twice"},
        {"{Providers: [" P0 "], Router: []}", "Router", "must be an object"},
        {"{Providers: [" P0 "], Router: {default: 'p'}}", "Router.default",
         "is not \"provider,model\""},
        {"{Providers: [" P0 "], Router: {think: ',m1'}}", "Router.think",
         "is not \"provider,model\""},
        {"{Providers: [" P0 "], Router: {background: 'q,m1'}}", "Router.background",
         "names provider \"q\", which is not in Providers (\"p\")"},
        {"{Providers: [" P0 "], Router: {webSearch: 'p,m3'}}", "Router.webSearch",
         "does not list model \"m3\""},
        {"{Providers: [" P0 "], Router: {longContext: 5}}", "Router.longContext",
         "must be a string"},
        {"{Providers: [" P0 "], Router: {longContextThreshold: -1}}",
         "Router.longContextThreshold", "must not be negative"},
        {"{Providers: [" P0 "], Router: {thinkLevel: 'huge'}}", "Router.thinkLevel",
         "unknown level \"huge\""},
        {"{PORT: 0}", "PORT", "must be between 1 and 65535"},
        {"{PORT: 70000}", "PORT", "must be between 1 and 65535"},
        {"{PORT: 'http'}", "PORT", "must be an integer"},
        {"{PORT: 80.5}", "PORT", "whole number"},
        {"{LOG_LEVEL: 'loud'}", "LOG_LEVEL", "unknown level \"loud\""},
        {"{LOG_LEVEL: 3}", "LOG_LEVEL", "must be a string"},
        {"{LOG: 'yes'}", "LOG", "must be true or false"},
        {"{HOST: 1}", "HOST", "must be a string"},
        {"{HOST: ''}", "HOST", "is empty"},
        {"{APIKEY: []}", "APIKEY", "must be a string"},
        {"{CUSTOM_ROUTER_PATH: true}", "CUSTOM_ROUTER_PATH", "must be a string"},
        {"{API_TIMEOUT_MS: -5}", "API_TIMEOUT_MS", "must not be negative"},
        {"{API_TIMEOUT_MS: {}}", "API_TIMEOUT_MS", "must be an integer"},
        {"{PROXY_URL: 'socks5://127.0.0.1:1080'}", "PROXY_URL", "is not an http://"},
        {"{litellm_config: 3}", "litellm_config", "must be a file path"},
        {"{LIMITS: 5}", "LIMITS", "must be an object"},
        {"{LIMITS: {max_body_bytes: -1}}", "LIMITS.max_body_bytes", "must not be negative"},
        {"{LIMITS: {connect_timeout_ms: 0}}", "LIMITS.connect_timeout_ms", "between 1 and"},
        {"{LIMITS: {max_connections: 'many'}}", "LIMITS.max_connections", "must be an integer"},
        {"{LIMITS: {max_body: 1}}", "LIMITS.max_body", "unknown limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "config.json: %s", cases[i].path);
        if (strcmp(cases[i].path, "config.json") == 0) snprintf(path, sizeof path, "config.json");
        assert_load_error(cases[i].text, path, cases[i].what, NULL);
    }
}

static void json5_errors_carry_the_file_position(void **state) {
    (void)state;
    assert_load_error("{\n  \"PORT\": 3456\n  \"HOST\": \"x\"\n}",
                      "config.json:3:3: expected ',' or '}' after the value of \"PORT\"", NULL);
    assert_load_error("", "config.json:1:1: empty input", NULL);
}

static void route_lookup_is_case_insensitive(void **state) {
    (void)state;
    struct config *cfg =
        must_load("{Providers: [" P0 "], Router: {default: 'P,m2', think: 'p,M1'}}");
    const struct cfg_provider *p = config_provider(cfg, "P");
    assert_non_null(p);
    assert_string_equal(config_provider_model(p, "m2"), "M2"); /* the configured spelling */
    assert_string_equal(config_provider_model(p, "M1"), "m1");
    assert_null(config_provider_model(p, "m3"));
    assert_null(config_provider_model(NULL, "m1"));
    assert_string_equal(config_route(cfg, "default"), "P,m2");
    assert_null(config_route(cfg, "nope"));
    config_free(cfg);
    /* a provider that lists no models (a local server) takes any model id */
    cfg = must_load("{Providers: [{name: 'local', api_base_url: 'http://127.0.0.1:8000/v1/"
                    "chat/completions'}], Router: {default: 'local,whatever-is-loaded'}}");
    assert_int_equal(cfg->providers[0].nmodels, 0);
    assert_int_equal(cfg->providers[0].nkeys, 0);
    assert_string_equal(config_route(cfg, "default"), "local,whatever-is-loaded");
    config_free(cfg);
}

static enum wire_format format_of(const char *url, const char *extra) {
    char text[512];
    snprintf(text, sizeof text, "{Providers: [{name: 'p', api_base_url: '%s'%s}]}", url, extra);
    struct config *cfg = must_load(text);
    enum wire_format f = cfg->providers[0].format;
    config_free(cfg);
    return f;
}

static void wire_format_inference(void **state) {
    (void)state;
    assert_int_equal(format_of("https://api.anthropic.com/v1/messages", ""), FMT_ANTHROPIC);
    assert_int_equal(format_of("https://proxy.test/v1/messages/?beta=true", ""), FMT_ANTHROPIC);
    assert_int_equal(format_of("https://api.deepseek.com/chat/completions", ""), FMT_OPENAI);
    assert_int_equal(format_of("http://127.0.0.1:8000/v1/chat/completions/", ""), FMT_OPENAI);
    assert_int_equal(format_of("https://generativelanguage.googleapis.com/v1beta/models/", ""),
                     FMT_GEMINI);
    assert_int_equal(format_of("https://GenerativeLanguage.googleapis.com/", ""), FMT_GEMINI);
    assert_int_equal(format_of("https://gw.example.test/google/v1beta/models", ""), FMT_GEMINI);
    /* Claude Code Router's transformer names */
    assert_int_equal(format_of("https://api.deepseek.com/anthropic", ", transformer: {use: "
                                                                     "['Anthropic']}"),
                     FMT_ANTHROPIC);
    assert_int_equal(format_of("https://gw.example.test/gemini", ", transformer: {use: "
                                                                 "[['gemini', {}]]}"),
                     FMT_GEMINI);
    assert_int_equal(format_of("https://gw.example.test/x", ", transformer: {use: ['openrouter']}"),
                     FMT_OPENAI);
    /* anything else is openai */
    assert_int_equal(format_of("https://api.groq.com/openai/v1", ""), FMT_OPENAI);
    /* an explicit format wins over everything */
    assert_int_equal(format_of("https://api.anthropic.com/v1/messages", ", format: 'openai'"),
                     FMT_OPENAI);
    assert_int_equal(format_of("https://x.test/chat/completions", ", format: 'Gemini'"),
                     FMT_GEMINI);
    assert_string_equal(wire_format_name(FMT_ANTHROPIC), "anthropic");
    assert_string_equal(wire_format_name(FMT_OPENAI), "openai");
    assert_string_equal(wire_format_name(FMT_GEMINI), "gemini");
}

static struct config *load_default(void) {
    struct config *cfg = NULL;
    struct err e = {0};
    if (config_load(NULL, &cfg, &e)) fail_msg("embedded default: %s", e.msg);
    assert_true(cfg->is_default);
    assert_string_equal(cfg->source, "<embedded default>");
    return cfg;
}

static void embedded_default_without_keys(void **state) {
    (void)state;
    unsetenv("GEMINI_API_KEY");
    unsetenv("OPENROUTER_API_KEY");
    struct config *cfg = load_default();
    assert_int_equal(cfg->nproviders, 2);
    assert_int_equal(config_provider(cfg, "gemini")->nkeys, 0);
    assert_int_equal(config_provider(cfg, "openrouter")->nkeys, 0);
    assert_true(has_note(cfg, "provider openrouter: OPENROUTER_API_KEY is not set; requests "
                              "routed to it will fail with an authentication error. export "
                              "OPENROUTER_API_KEY=..."));
    assert_true(has_note(cfg, "provider gemini: GEMINI_API_KEY is not set"));
    assert_true(has_note(cfg, "no provider has an API key"));
    /* nothing to re-point to: the routes stay as shipped */
    assert_string_equal(config_route(cfg, "default"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "background"), "gemini,gemini-2.5-flash-lite");
    /* the unset key is not in the policy's view either */
    assert_null(cJSON_GetObjectItem(config_provider(cfg, "gemini")->json, "api_key"));
    assert_string_equal(cfg->host, "127.0.0.1");
    assert_int_equal(cfg->port, 3456);
    config_free(cfg);
}

static void embedded_default_with_both_keys(void **state) {
    (void)state;
    setenv("GEMINI_API_KEY", "gm-key", 1);
    setenv("OPENROUTER_API_KEY", "or-key", 1);
    struct config *cfg = load_default();
    const struct cfg_provider *g = config_provider(cfg, "gemini"),
                              *o = config_provider(cfg, "openrouter");
    assert_int_equal(g->nkeys, 1);
    assert_string_equal(g->keys[0], "gm-key");
    assert_int_equal(g->format, FMT_GEMINI);
    assert_int_equal(o->nkeys, 1);
    assert_string_equal(o->keys[0], "or-key");
    assert_int_equal(o->format, FMT_OPENAI);
    assert_true(has_note(cfg, "provider gemini: active (GEMINI_API_KEY)"));
    assert_true(has_note(cfg, "provider openrouter: active (OPENROUTER_API_KEY)"));
    assert_false(has_note(cfg, "not set"));
    assert_string_equal(config_route(cfg, "default"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "think"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "background"), "gemini,gemini-2.5-flash-lite");
    assert_string_equal(config_route(cfg, "webSearch"), "gemini,gemini-2.5-flash");
    config_free(cfg);
}

static void embedded_default_with_one_key(void **state) {
    (void)state;
    /* only Gemini: the OpenRouter routes move to Gemini so that the proxy works */
    setenv("GEMINI_API_KEY", "gm-key", 1);
    unsetenv("OPENROUTER_API_KEY");
    struct config *cfg = load_default();
    assert_int_equal(config_provider(cfg, "openrouter")->nkeys, 0);
    assert_string_equal(config_route(cfg, "default"), "gemini,gemini-2.5-flash");
    assert_string_equal(config_route(cfg, "think"), "gemini,gemini-2.5-flash");
    assert_string_equal(config_route(cfg, "longContext"), "gemini,gemini-2.5-flash");
    assert_string_equal(config_route(cfg, "background"), "gemini,gemini-2.5-flash-lite");
    assert_true(has_note(cfg, "provider gemini: active (GEMINI_API_KEY)"));
    assert_true(has_note(cfg, "provider openrouter: OPENROUTER_API_KEY is not set; "
                              "Router.default, Router.think, Router.longContext use "
                              "gemini,gemini-2.5-flash instead"));
    assert_true(has_note(cfg, "export OPENROUTER_API_KEY=..."));
    config_free(cfg);

    /* only OpenRouter: background and webSearch move to Grok; an empty variable is unset */
    setenv("GEMINI_API_KEY", "", 1);
    setenv("OPENROUTER_API_KEY", "or-key", 1);
    cfg = load_default();
    assert_int_equal(config_provider(cfg, "gemini")->nkeys, 0);
    assert_string_equal(config_route(cfg, "background"), "openrouter,x-ai/grok-4.1-fast");
    assert_string_equal(config_route(cfg, "webSearch"), "openrouter,x-ai/grok-4.1-fast");
    assert_true(has_note(cfg, "provider gemini: GEMINI_API_KEY is not set"));
    config_free(cfg);
    unsetenv("GEMINI_API_KEY");
    unsetenv("OPENROUTER_API_KEY");
}

static void dump_redacts_every_secret(void **state) {
    (void)state;
    struct config *cfg = must_load(CCR_CONFIG);
    char *d = config_dump_redacted(cfg);
    assert_non_null(d);
    static const char *const secrets[] = {"proxy-secret", "sk-or-secret", "sk-ds-one",
                                          "sk-ds-two",    "sk-literal",   "gm-secret"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(d, secrets[i])) fail_msg("%s appears in the dump:\n%s", secrets[i], d);
    /* the keys are still visible as present, a pool keeps its size */
    cJSON *j = cJSON_Parse(d);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "APIKEY")->valuestring, "***");
    const cJSON *ps = cJSON_GetObjectItem(j, "Providers");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ps, 0), "api_key")->valuestring,
                        "***");
    const cJSON *pool = cJSON_GetObjectItem(cJSON_GetArrayItem(ps, 1), "api_key");
    assert_int_equal(cJSON_GetArraySize(pool), 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(cJSON_GetArrayItem(pool, i)->valuestring, "***");
    /* everything else is intact */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ps, 0), "api_base_url")
                            ->valuestring,
                        "https://openrouter.ai/api/v1/chat/completions");
    cJSON_Delete(j);
    free(d);
    /* the config itself is unchanged by a dump */
    assert_string_equal(cfg->providers[0].keys[0], "sk-or-secret");
    config_free(cfg);

    cfg = must_load("{APIKEY: 'top', PROXY_URL: 'http://user:pw123@proxy.test:8080',"
                    " Providers: [{name: 'p', api_base_url: 'https://a.test/chat/completions',"
                    "  options: {extra_headers: {Authorization: 'Bearer hdr-secret',"
                    "                            'x-api-key': 'xk-secret'}}}]}");
    d = config_dump_redacted(cfg);
    assert_null(strstr(d, "top\""));
    assert_null(strstr(d, "pw123"));
    assert_null(strstr(d, "hdr-secret"));
    assert_null(strstr(d, "xk-secret"));
    assert_non_null(strstr(d, "proxy.test:8080"));
    free(d);
    config_free(cfg);
    assert_null(config_dump_redacted(NULL));
    /* a key interpolated into another field is masked there too */
    setenv("TC_GEMKEY", "AIzaInterpolated123", 1);
    cfg = must_load("{APIKEY: 'k1', Providers: [{name: 'g', api_base_url: "
                    "'https://generativelanguage.googleapis.com/v1beta/models/?key=${TC_GEMKEY}',"
                    " api_key: '$TC_GEMKEY', models: ['m']}], Router: {default: 'g,m'}}");
    d = config_dump_redacted(cfg);
    assert_non_null(d);
    assert_null(strstr(d, "AIzaInterpolated123"));
    assert_non_null(strstr(d, "?key=***"));
    free(d);
    config_free(cfg);
    unsetenv("TC_GEMKEY");
}

static void javascript_router_is_ignored_with_a_note(void **state) {
    (void)state;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/home/u", 1);
    struct config *cfg =
        must_load("{CUSTOM_ROUTER_PATH: '$HOME/.claude-code-router/custom-router.js'}");
    assert_null(cfg->custom_router_path);
    assert_null(cJSON_GetObjectItem(cfg->root, "CUSTOM_ROUTER_PATH"));
    assert_true(has_note(cfg, "CUSTOM_ROUTER_PATH: /home/u/.claude-code-router/custom-router.js "
                              "is a JavaScript router"));
    config_free(cfg);
    cfg = must_load("{CUSTOM_ROUTER_PATH: '/etc/ccrelay/router.lua'}");
    assert_string_equal(cfg->custom_router_path, "/etc/ccrelay/router.lua");
    assert_null(cfg->notes);
    config_free(cfg);
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
}

static void host_beyond_loopback_needs_apikey(void **state) {
    (void)state;
    /* Claude Code Router's rule: without APIKEY the proxy stays on loopback */
    struct config *cfg = must_load("{HOST: '0.0.0.0', PORT: 3456}");
    assert_string_equal(cfg->host, "127.0.0.1");
    assert_string_equal(cJSON_GetObjectItem(cfg->root, "HOST")->valuestring, "127.0.0.1");
    assert_true(has_note(cfg, "HOST: listening on 127.0.0.1, not \"0.0.0.0\""));
    assert_true(has_note(cfg, "needs APIKEY"));
    config_free(cfg);
    cfg = must_load("{HOST: '0.0.0.0', APIKEY: 'k'}");
    assert_string_equal(cfg->host, "0.0.0.0");
    assert_null(cfg->notes);
    config_free(cfg);
    cfg = must_load("{HOST: 'localhost'}");
    assert_string_equal(cfg->host, "localhost");
    assert_null(cfg->notes);
    config_free(cfg);
}

static void notes_for_typos(void **state) {
    (void)state;
    struct config *cfg = must_load("{port: 1234, router: {}}");
    assert_int_equal(cfg->port, 3456);
    assert_true(has_note(cfg, "port: unknown key, ignored; did you mean PORT?"));
    assert_true(has_note(cfg, "router: unknown key, ignored; did you mean Router?"));
    config_free(cfg);
}

/* A fresh directory under /tmp for file tests; removed by the caller. */
static void tmpdir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/ccrelay-test-config-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void files(void **state) {
    (void)state;
    char dir[64], path[128];
    tmpdir(dir, sizeof dir);
    struct config *cfg = NULL;
    struct err e = {0};

    snprintf(path, sizeof path, "%s/missing.json", dir);
    assert_int_equal(config_load(path, &cfg, &e), -1);
    assert_null(cfg);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "no such file"));
    assert_non_null(strstr(e.msg, "config.example.json"));

    assert_int_equal(config_load(dir, &cfg, &e), -1);
    assert_non_null(strstr(e.msg, "is a directory"));

    snprintf(path, sizeof path, "%s/big.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{}", f);
    fclose(f);
    assert_int_equal(truncate(path, (4 << 20) + 1), 0); /* one byte over the limit */
    assert_int_equal(config_load(path, &cfg, &e), -1);
    assert_non_null(strstr(e.msg, "too large"));
    assert_non_null(strstr(e.msg, "4 MiB"));
    unlink(path);

    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("// mine\n{PORT: 4000,\n LOG_LEVEL: 'nope'}\n", f);
    fclose(f);
    assert_int_equal(config_load(path, &cfg, &e), -1);
    char want[200];
    snprintf(want, sizeof want, "%s: LOG_LEVEL: unknown level", path);
    assert_non_null(strstr(e.msg, want));
    f = fopen(path, "wb");
    fputs("// mine\n{PORT: 4000,}\n", f);
    fclose(f);
    assert_int_equal(config_load(path, &cfg, &e), 0);
    assert_int_equal(cfg->port, 4000);
    assert_string_equal(cfg->source, path);
    config_free(cfg);
    unlink(path);
    rmdir(dir);
}

static void default_path(void **state) {
    (void)state;
    char dir[64], sub[128], path[160];
    tmpdir(dir, sizeof dir);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

    setenv("CCRELAY_CONFIG", "/etc/ccrelay.json", 1);
    char *p = config_default_path();
    assert_string_equal(p, "/etc/ccrelay.json");
    free(p);

    unsetenv("CCRELAY_CONFIG");
    setenv("HOME", dir, 1);
    assert_null(config_default_path()); /* no ~/.ccrelay/config.json: embedded default */

    snprintf(sub, sizeof sub, "%s/.ccrelay", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/config.json", sub);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{}", f);
    fclose(f);
    p = config_default_path();
    assert_string_equal(p, path);
    free(p);

    setenv("CCRELAY_CONFIG", "", 1); /* empty counts as unset */
    p = config_default_path();
    assert_string_equal(p, path);
    free(p);
    unsetenv("CCRELAY_CONFIG");

    unlink(path);
    rmdir(sub);
    rmdir(dir);
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ccr_config_loads_as_it_is, set_ccr_env),
        cmocka_unit_test(example_config_loads),
        cmocka_unit_test(defaults),
        cmocka_unit_test(limits_and_top_level_values),
        cmocka_unit_test(header_timeout_default_and_bounds),
        cmocka_unit_test(env_interpolation),
        cmocka_unit_test(every_validation_error_names_its_key),
        cmocka_unit_test(json5_errors_carry_the_file_position),
        cmocka_unit_test(route_lookup_is_case_insensitive),
        cmocka_unit_test(wire_format_inference),
        cmocka_unit_test(embedded_default_without_keys),
        cmocka_unit_test(embedded_default_with_both_keys),
        cmocka_unit_test(embedded_default_with_one_key),
        cmocka_unit_test_setup(dump_redacts_every_secret, set_ccr_env),
        cmocka_unit_test(javascript_router_is_ignored_with_a_note),
        cmocka_unit_test(host_beyond_loopback_needs_apikey),
        cmocka_unit_test(notes_for_typos),
        cmocka_unit_test(files),
        cmocka_unit_test(default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
