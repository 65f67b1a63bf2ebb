/* fuzz_config: config_load_text on any text (JSON5, `$VAR` / `${VAR}` interpolation against a
 * fixed environment, validation of every section), then what the rest of ccrelay reads from a
 * loaded config: the redacted dump, provider and route lookups. */
#include <assert.h>

#include "config.h"
#include "err.h"
#include "fuzz.h"

/* The environment interpolation reads: set once per process (LLVMFuzzerInitialize runs before
 * any input, in libFuzzer and in driver.c alike). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("FUZZ_KEY", "sk-fuzz-0123456789abcdef", 1);
    setenv("FUZZ_EMPTY", "", 1);
    setenv("FUZZ_DOLLAR", "$FUZZ_KEY ${FUZZ_KEY} $$", 1);
    setenv("FUZZ_QUOTE", "a\"b\\c'd\n", 1);
    setenv("OPENROUTER_API_KEY", "sk-or-fuzz", 1);
    setenv("HOME", "/nonexistent-fuzz-home", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct config *cfg = NULL;
    struct err e = {0};
    if (config_load_text((const char *)data, size, "fuzz.json", &cfg, &e) != 0) {
        assert(!cfg && e.msg[0]);
        return 0;
    }
    assert(cfg && cfg->root);
    char *dump = config_dump_redacted(cfg);
    if (dump) {
        cJSON *j = cJSON_Parse(dump);
        assert(j && "the redacted dump is JSON");
        cJSON_Delete(j);
        /* whether secrets stay out of the dump is the secrets tests' business: a fuzzer easily
         * writes the key's text into a field that is no secret */
        free(dump);
    }
    for (size_t i = 0; i < cfg->nproviders; i++) {
        const struct cfg_provider *p = &cfg->providers[i];
        assert(config_provider(cfg, p->name));
        for (size_t k = 0; k < p->nmodels; k++) assert(config_provider_model(p, p->models[k]));
    }
    static const char *const ROUTES[] = {"default", "background", "think", "longContext",
                                         "webSearch", "image"};
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) (void)config_route(cfg, ROUTES[i]);
    config_free(cfg);
    return 0;
}
