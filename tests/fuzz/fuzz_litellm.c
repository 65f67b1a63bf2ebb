/* fuzz_litellm: the LiteLLM proxy config reader (litellm_config.yaml, through libyaml) on any
 * text, and, when the text is JSON, the same conversion from a parsed tree (config.json's
 * inline `litellm_config`). Either it fails with a message or it gives an array of providers and
 * a model map object. */
#include <assert.h>

#include "err.h"
#include "fuzz.h"
#include "litellm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("OPENROUTER_API_KEY", "sk-or-fuzz", 1);
    setenv("GEMINI_API_KEY", "AIza-fuzz", 1);
    setenv("TL_OR_KEY", "sk-or-test", 1);
    setenv("TL_GEM_KEY", "gem-test", 1);
    unsetenv("TL_UNSET_KEY");
    unsetenv("CCRELAY_LITELLM_CONFIG");
    return 0;
}

static void check(int rc, struct litellm_map *m, const struct err *e) {
    if (rc != 0) {
        assert(e->msg[0] && !m->providers && !m->model_map);
        return;
    }
    assert(cJSON_IsArray(m->providers) && cJSON_IsObject(m->model_map));
    char *s = cJSON_PrintUnformatted(m->model_map);
    free(s);
    for (size_t i = 0; i < m->nnotes; i++) assert(m->notes[i]);
    litellm_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const taken[] = {"openrouter", "gemini"};
    struct litellm_map m;
    struct err e = {0};
    memset(&m, 0, sizeof m);
    check(litellm_load_text((const char *)data, size, "fuzz.yaml", taken, 2, &m, &e), &m, &e);
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j) {
        memset(&m, 0, sizeof m);
        memset(&e, 0, sizeof e);
        check(litellm_from_json(j, "fuzz.json", taken, 2, &m, &e), &m, &e);
        cJSON_Delete(j);
    }
    return 0;
}
