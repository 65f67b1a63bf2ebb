/* Allocation failures in the translators' request builds: every allocation the build makes
 * (malloc, calloc and realloc in ccrelay's own code, linked with -Wl,--wrap, and cJSON's through
 * its hooks) is made to fail in turn, on Claude Code's own requests. Each failure must give an
 * out-of-memory error with a message; what it filled in is freed as the relay frees it, and
 * `make asan` checks that nothing leaks. The builds
 * write straight into their buffers, so most of their allocations are no longer cJSON's: the
 * hooks alone would miss them. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "err.h"
#include "providers/provider.h"
#include "testutil.h"

extern const struct provider_ops provider_gemini, provider_openai;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

/* The allocation that fails: the k-th from when it is set (-1: none). The test is one thread. */
static long countdown = -1;

static bool fail_now(void) {
    if (countdown < 0) return false;
    if (countdown == 0) return true;
    countdown--;
    return false;
}

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
    return fail_now() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    return fail_now() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    return fail_now() ? NULL : __real_realloc(p, n);
}
static void *hook_malloc(size_t n) {
    return fail_now() ? NULL : __real_malloc(n);
}

static const char *const fixtures[] = {"claude-code/tool-result-followup.json",
                                       "claude-code/thinking-roundtrip.json",
                                       "claude-code/title-structured-output.json",
                                       "claude-code-2.1.331/toolsearch-tool-reference.json",
                                       "claude-code-2.1.331/haiku55-trailing-system.json"};

/* Fails each allocation of one build in turn until the build gets through; returns how many
 * failure points there were. */
static long fail_each(const struct provider_ops *ops, enum wire_format fmt, const char *options,
                      const char *model, const cJSON *body) {
    cJSON *pj = cJSON_Parse(options);
    assert_non_null(pj);
    struct cfg_provider cp;
    memset(&cp, 0, sizeof cp);
    cp.name = "p";
    cp.url = fmt == FMT_GEMINI ? "https://g.example/v1beta/models/"
                               : "https://o.example/v1/chat/completions";
    cp.format = fmt;
    cp.json = pj;
    struct xl_request in = {.body = body,
                            .provider = &cp,
                            .model = model,
                            .client_model = "c",
                            .api_key = "k",
                            .stream = true};
    cJSON_Hooks hooks = {hook_malloc, free};
    long k;
    for (k = 0;; k++) {
        struct xl_http_request out;
        xl_http_request_init(&out);
        struct err e;
        memset(&e, 0x5a, sizeof e); /* builds may be handed an uninitialised record */
        cJSON_InitHooks(&hooks);
        countdown = k;
        int rc = ops->build(&in, &out, &e);
        countdown = -1;
        cJSON_InitHooks(NULL);
        if (rc == 0) {
            assert_non_null(out.body);
            assert_true(evbuffer_get_length(out.body) > 0);
            xl_http_request_free(&out);
            break;
        }
        /* what a failed build may have filled in is the caller's to free, as the relay does */
        if (!memchr(e.msg, '\0', sizeof e.msg) || !e.msg[0]) {
            fprintf(stderr, "allocation %ld of a %s build: rc %d, message \"%.200s\"\n", k, model,
                    rc, memchr(e.msg, '\0', sizeof e.msg) ? e.msg : "(not terminated)");
            fail();
        }
        assert_int_equal(e.kind, ERR_NOMEM);
        xl_http_request_free(&out);
        assert_true(k < 100000);
    }
    cJSON_Delete(pj);
    return k;
}

static void run(const struct provider_ops *ops, enum wire_format fmt, const char *options,
                const char *model) {
    long total = 0;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        cJSON *fx = tu_fixture(fixtures[i]);
        assert_non_null(fx);
        total += fail_each(ops, fmt, options, model, cJSON_GetObjectItemCaseSensitive(fx, "body"));
        cJSON_Delete(fx);
    }
    /* the builds do allocate: a count of zero would mean the wrapping is not in effect */
    assert_true(total > 20);
}

static void gemini_build_fails_cleanly_at_every_allocation(void **state) {
    (void)state;
    run(&provider_gemini, FMT_GEMINI, "{}", "gemini-2.5-pro");
    run(&provider_gemini, FMT_GEMINI,
        "{\"options\":{\"gemini_fr_siblings\":\"separate\",\"gemini_inline_system\":\"as_user\","
        "\"gemini_response_schema\":\"openapi\",\"gemini_anyof\":\"first\","
        "\"gemini_empty_object\":\"placeholder\",\"extra_headers\":{\"x-a\":\"b\"}}}",
        "gemini-3-pro-preview");
}

static void openai_build_fails_cleanly_at_every_allocation(void **state) {
    (void)state;
    run(&provider_openai, FMT_OPENAI, "{}", "gpt-5");
    run(&provider_openai, FMT_OPENAI, "{\"options\":{\"schema_profile\":\"gemini\"}}",
        "google/gemini-2.5-pro");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemini_build_fails_cleanly_at_every_allocation),
        cmocka_unit_test(openai_build_fails_cleanly_at_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
