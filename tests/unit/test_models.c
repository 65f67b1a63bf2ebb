/* models: GET /v1/models lists every provider,model in Anthropic's shape; ids map back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "models.h"

static char *or_models[] = {"x-ai/grok-4.1-fast", "deepseek/deepseek-v3.2", "Qwen/Qwen3_Coder"};
static char *gm_models[] = {"gemini-2.5-flash-lite", "gemini-2.5-flash"};
/* a second provider whose ids clash with the first ("OpenRouter" vs "openrouter") */
static char *clash_models[] = {"x-ai/grok-4.1-fast", "x-ai/grok-4.1-fast-2"};

static struct cfg_provider providers[] = {
    {.name = "openrouter", .models = or_models, .nmodels = 3},
    {.name = "gemini", .models = gm_models, .nmodels = 2},
    {.name = "OpenRouter", .models = clash_models, .nmodels = 2},
};
static struct config cfg = {.providers = providers, .nproviders = 3};

static void list_has_anthropic_shape(void **state) {
    (void)state;
    char *text = models_list_json(&cfg);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 7);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "has_more")));
    const cJSON *e0 = cJSON_GetArrayItem(data, 0);
    assert_string_equal(cJSON_GetObjectItem(e0, "type")->valuestring, "model");
    assert_string_equal(cJSON_GetObjectItem(e0, "id")->valuestring,
                        "claude-via-openrouter-x-ai-grok-4.1-fast");
    assert_string_equal(cJSON_GetObjectItem(e0, "display_name")->valuestring,
                        "openrouter,x-ai/grok-4.1-fast");
    /* RFC 3339 */
    const char *ca = cJSON_GetObjectItem(e0, "created_at")->valuestring;
    assert_int_equal(strlen(ca), 20);
    assert_true(ca[4] == '-' && ca[10] == 'T' && ca[19] == 'Z');
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "id")->valuestring,
                        "claude-via-openrouter-qwen-qwen3-coder");
    assert_string_equal(cJSON_GetObjectItem(j, "first_id")->valuestring,
                        "claude-via-openrouter-x-ai-grok-4.1-fast");
    assert_string_equal(cJSON_GetObjectItem(j, "last_id")->valuestring,
                        cJSON_GetObjectItem(cJSON_GetArrayItem(data, 6), "id")->valuestring);
    /* every id starts with claude- (Claude Code's picker keeps only those), all unique, and
     * only [a-z0-9.-] */
    for (int i = 0; i < 7; i++) {
        const char *id = cJSON_GetObjectItem(cJSON_GetArrayItem(data, i), "id")->valuestring;
        assert_int_equal(strncmp(id, "claude-", 7), 0);
        for (const char *c = id; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' ||
                        *c == '-');
        for (int k = 0; k < i; k++)
            assert_string_not_equal(
                id, cJSON_GetObjectItem(cJSON_GetArrayItem(data, k), "id")->valuestring);
    }
    /* the clash: OpenRouter,x-ai/grok-4.1-fast gets -2; then the real "...-fast-2" id is taken,
     * so OpenRouter,x-ai/grok-4.1-fast-2 gets "...-fast-2-2" */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 5), "id")->valuestring,
                        "claude-via-openrouter-x-ai-grok-4.1-fast-2");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 6), "id")->valuestring,
                        "claude-via-openrouter-x-ai-grok-4.1-fast-2-2");
    cJSON_Delete(j);
    free(text);
}

static void every_id_resolves_back(void **state) {
    (void)state;
    char *text = models_list_json(&cfg);
    cJSON *j = cJSON_Parse(text);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "data")) {
        const struct cfg_provider *p = NULL;
        const char *m = NULL;
        assert_int_equal(models_resolve(&cfg, cJSON_GetObjectItem(e, "id")->valuestring, &p, &m), 0);
        char display[256];
        snprintf(display, sizeof display, "%s,%s", p->name, m);
        assert_string_equal(display, cJSON_GetObjectItem(e, "display_name")->valuestring);
    }
    cJSON_Delete(j);
    free(text);
    const struct cfg_provider *p = NULL;
    const char *m = NULL;
    assert_int_equal(models_resolve(&cfg, "CLAUDE-VIA-GEMINI-GEMINI-2.5-FLASH", &p, &m), 0);
    assert_ptr_equal(p, &providers[1]);
    assert_string_equal(m, "gemini-2.5-flash");
    assert_int_equal(models_resolve(&cfg, "claude-via-gemini-nope", &p, &m), -1);
    assert_int_equal(models_resolve(&cfg, "claude-opus-4-8", &p, &m), -1);
    assert_int_equal(models_resolve(&cfg, NULL, &p, &m), -1);
}

static void empty_config_lists_nothing(void **state) {
    (void)state;
    struct config empty = {0};
    char *text = models_list_json(&empty);
    assert_non_null(text);
    assert_string_equal(text, "{\"data\":[],\"has_more\":false,\"first_id\":null,\"last_id\":null}");
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_has_anthropic_shape),
        cmocka_unit_test(every_id_resolves_back),
        cmocka_unit_test(empty_config_lists_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
