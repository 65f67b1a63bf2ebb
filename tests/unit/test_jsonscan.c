/* jsonscan: one field rewritten, every other byte kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "testutil.h"

static char *replaced(const char *s, const char *const *path, size_t depth, const char *v) {
    struct evbuffer *b = evbuffer_new();
    char *out = NULL;
    if (jsonscan_replace_string(s, strlen(s), path, depth, v, b) == 0) {
        size_t n = evbuffer_get_length(b);
        out = malloc(n + 1);
        evbuffer_remove(b, out, n);
        out[n] = '\0';
    }
    evbuffer_free(b);
    return out;
}

static const char *const MODEL[] = {"model"};
static const char *const MSG_MODEL[] = {"message", "model"};

static void rewrites_only_the_top_level_model(void **state) {
    (void)state;
    const char *in = "{ \"messages\":[{\"model\":\"inner\",\"x\":\"\\\"model\\\"\"}],"
                     "\"nested\":{\"model\":\"n\"}, \"model\" : \"claude-opus-4-8\",\"z\":1}";
    char *out = replaced(in, MODEL, 1, "x-ai/grok-4.1-fast");
    assert_non_null(out);
    assert_string_equal(out, "{ \"messages\":[{\"model\":\"inner\",\"x\":\"\\\"model\\\"\"}],"
                             "\"nested\":{\"model\":\"n\"}, \"model\" : \"x-ai/grok-4.1-fast\","
                             "\"z\":1}");
    free(out);
}

static void rewrites_a_nested_path_and_escapes_the_value(void **state) {
    (void)state;
    const char *in = "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"up\"}}";
    char *out = replaced(in, MSG_MODEL, 2, "we\"ird");
    assert_string_equal(out, "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":"
                             "\"we\\\"ird\"}}");
    free(out);
}

static void fails_cleanly_on_absent_or_non_string_or_broken(void **state) {
    (void)state;
    assert_null(replaced("{\"a\":1}", MODEL, 1, "x"));
    assert_null(replaced("{\"model\":5}", MODEL, 1, "x"));
    assert_null(replaced("{\"model\":\"unterminated", MODEL, 1, "x"));
    assert_null(replaced("[\"model\"]", MODEL, 1, "x"));
    assert_null(replaced("", MODEL, 1, "x"));
    assert_null(replaced("{\"message\":[{\"model\":\"x\"}]}", MSG_MODEL, 2, "y"));
}

static void every_fixture_keeps_its_bytes_but_the_model(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *f = tu_fixture(tu_fixture_names[i]);
        assert_non_null(f);
        char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(f, "body"));
        char *out = replaced(body, MODEL, 1, "routed-model");
        assert_non_null(out);
        cJSON *a = cJSON_Parse(body), *b = cJSON_Parse(out);
        assert_string_equal(cJSON_GetObjectItem(b, "model")->valuestring, "routed-model");
        cJSON_ReplaceItemInObject(a, "model", cJSON_CreateString("routed-model"));
        assert_true(cJSON_Compare(a, b, 1));
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(out);
        free(body);
        cJSON_Delete(f);
    }
}

/* The moving variant gives the same bytes, leaves its source empty, and hands the bytes after
 * the value on without copying them (the output's last piece is the source's own memory). */
static void moving_gives_the_same_bytes_without_copying_the_rest(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *f = tu_fixture(tu_fixture_names[i]);
        assert_non_null(f);
        char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(f, "body"));
        char *want = replaced(body, MODEL, 1, "routed-model");
        assert_non_null(want);
        struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
        assert_int_equal(evbuffer_add(src, body, strlen(body)), 0);
        const char *mem = (const char *)evbuffer_pullup(src, -1);
        size_t n = strlen(body);
        assert_int_equal(jsonscan_move_replace_string(src, MODEL, 1, "routed-model", out), 0);
        assert_int_equal(evbuffer_get_length(src), 0);
        size_t m = evbuffer_get_length(out);
        assert_int_equal(m, strlen(want));
        /* the last piece of out is the tail of the source's memory, not a copy */
        int nvec = evbuffer_peek(out, -1, NULL, NULL, 0);
        assert_true(nvec >= 2);
        struct evbuffer_iovec v[8];
        assert_true(nvec <= 8);
        evbuffer_peek(out, -1, NULL, v, nvec);
        assert_ptr_equal((const char *)v[nvec - 1].iov_base + v[nvec - 1].iov_len, mem + n);
        char *got = malloc(m + 1);
        assert_non_null(got);
        evbuffer_remove(out, got, m);
        got[m] = '\0';
        assert_string_equal(got, want);
        free(got);
        evbuffer_free(src);
        evbuffer_free(out);
        free(want);
        free(body);
        cJSON_Delete(f);
    }
    /* no string at the path: both buffers untouched */
    struct evbuffer *src = evbuffer_new(), *out = evbuffer_new();
    evbuffer_add(src, "{\"model\":5}", 11);
    assert_int_equal(jsonscan_move_replace_string(src, MODEL, 1, "x", out), -1);
    assert_int_equal(evbuffer_get_length(src), 11);
    assert_int_equal(evbuffer_get_length(out), 0);
    evbuffer_drain(src, 11);
    assert_int_equal(jsonscan_move_replace_string(src, MODEL, 1, "x", out), -1);
    evbuffer_free(src);
    evbuffer_free(out);
}

static void fuzz_a_key_without_a_value_is_not_found(void **state);

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewrites_only_the_top_level_model),
        cmocka_unit_test(rewrites_a_nested_path_and_escapes_the_value),
        cmocka_unit_test(fails_cleanly_on_absent_or_non_string_or_broken),
        cmocka_unit_test(every_fixture_keeps_its_bytes_but_the_model),
        cmocka_unit_test(moving_gives_the_same_bytes_without_copying_the_rest),
        cmocka_unit_test(fuzz_a_key_without_a_value_is_not_found),
    };
    return cmocka_run_group_tests_name("jsonscan", tests, NULL, NULL);
}

/* Found by fuzz_jsonscan (tests/fuzz/regress/jsonscan/): in `{"message":{"model":]x"}}` the
 * model "value" was the empty range before `]`, against the contract that a found value has
 * bytes. A key with no value is malformed: not found. */
static void fuzz_a_key_without_a_value_is_not_found(void **state) {
    (void)state;
    static const char *const path[] = {"message", "model"};
    static const char *const bad[] = {"{\"message\":{\"model\":]x\"}}", "{\"message\":{\"model\":}}",
                                      "{\"message\":{\"model\":,\"a\":1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t a = 7, b = 7;
        assert_int_equal(jsonscan_find(bad[i], strlen(bad[i]), path, 2, &a, &b), -1);
    }
    const char *ok = "{\"message\":{\"model\":1}}";
    size_t a, b;
    assert_int_equal(jsonscan_find(ok, strlen(ok), path, 2, &a, &b), 0);
    assert_int_equal(b - a, 1);
}
