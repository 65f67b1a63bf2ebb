/* jsonparse: the relay's parser gives cJSON's tree, on every Claude Code body of the fixtures (as
 * captured, compact and indented) and on the texts where cJSON's reading is peculiar. The
 * `jsonparse` fuzz target checks the same on any input. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdio.h>
#include <string.h>

#include "jsonparse.h"
#include "testutil.h"

/* The same verdict as cJSON_ParseWithLength, and when both accept, the same printed tree and
 * the first item's prev pointing at the last (cJSON_AddItemToArray appends through it). */
static void like_cjson(const char *text, size_t n) {
    cJSON *want = cJSON_ParseWithLength(text, n), *got = json_parse(text, n);
    if ((want == NULL) != (got == NULL))
        fprintf(stderr, "verdicts differ (cJSON %s) on: %.*s\n", want ? "accepts" : "refuses",
                (int)(n > 200 ? 200 : n), text);
    assert_int_equal(want == NULL, got == NULL);
    if (want) {
        char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        cJSON_free(a);
        cJSON_free(b);
        /* cJSON_Compare does not hold between two of cJSON's own parses of a text with an
         * infinity or a repeated key: where it holds for those, it must hold for ours */
        cJSON *again = cJSON_ParseWithLength(text, n);
        assert_true(cJSON_Compare(want, got, 1) || !cJSON_Compare(want, again, 1));
        cJSON_Delete(again);
        if (got->child) {
            const cJSON *last = got->child;
            while (last->next)
                last = last->next;
            assert_ptr_equal(got->child->prev, last);
        }
    }
    cJSON_Delete(want);
    cJSON_Delete(got);
}

static void like_cjson_s(const char *text) {
    like_cjson(text, strlen(text));
}

static void every_fixture_body_parses_to_cjsons_tree(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        assert_non_null(fx);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(fx, "body");
        char *compact = cJSON_PrintUnformatted(body), *indented = cJSON_Print(body);
        assert_non_null(compact);
        assert_non_null(indented);
        like_cjson_s(compact);
        like_cjson_s(indented);
        cJSON_free(compact);
        cJSON_free(indented);
        char path[512];
        snprintf(path, sizeof path, "%s/fixtures/%s", tu_shared_dir(), tu_fixture_names[i]);
        size_t n = 0;
        char *raw = tu_read_file(path, &n);
        assert_non_null(raw);
        like_cjson(raw, n); /* the capture file itself, as written */
        free(raw);
        cJSON_Delete(fx);
    }
}

static void cjsons_peculiar_readings_are_kept(void **state) {
    (void)state;
    static const char *const texts[] = {
        /* white space and what surrounds the value */
        " \t\n{}",
        "\x01\x1f {\"a\":1}\x02",
        "{} trailing",
        "[1] ]",
        "",
        " ",
        "\xEF\xBB\xBF{}",
        "\xEF\xBB\xBF"
        "0",
        "\xEF\xBB\xBF"
        "00",
        "\xEF\xBB\xBF",
        "{\"a\":[1,2,]}",
        "[,1]",
        "{\"a\" 1}",
        "{\"a\":}",
        "{,}",
        "{\"a\":1,}",
        "[1 2]",
        "{1:2}",
        /* literals */
        "null",
        "nul",
        "true",
        "tru",
        "false",
        "falsey",
        "[true,false,null]",
        "nullx",
        /* numbers: strtod on the run of number bytes */
        "-",
        "-0",
        "1e",
        "1e+",
        "1.5e3",
        "0x10",
        "01",
        "1.2.3",
        "+1",
        ".5",
        "-.5e-3",
        "123456789012345678901234567890123456789012345678901234567890123456789012345",
        "1e400",
        "-1e400",
        "2147483647",
        "2147483648",
        "-2147483649",
        "3.9999999999",
        "[1-2]",
        "[1e5e5]",
        "[- 1]",
        /* strings */
        "\"\"",
        "\"a\\\"b\"",
        "\"\\/\\b\\f\\n\\r\\t\"",
        "\"\\x\"",
        "\"\\",
        "\"abc",
        "\"a\\\"",
        "\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"",
        "\"\\u00\"",
        "\"\\u00zz\"",
        "\"\\u\\\"ab\"",
        "\"\\uzzzz tail\"",
        "\"\\ud83d\"",
        "\"\\ud83d\\u0041\"",
        "\"\\ude00\"",
        "\"\\ud83d\\ude0\"",
        "\"\\u0000after\"",
        "\"raw\x01\x7f\xff\xfe bytes\"",
        "{\"k\\u0000ey\":1}",
        "{\"a\":1,\"a\":2}",
        "\"\\uD83D\\uDE00\"",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        like_cjson_s(texts[i]);
    /* a NUL inside the text, and texts cut anywhere */
    like_cjson("{\"a\":\"x\0y\"}", 11);
    like_cjson("[1,\0 2]", 7);
    const char *whole = "{\"a\":[1,\"b\\u00e9\",{\"c\":null}],\"d\":true}";
    for (size_t n = 0; n <= strlen(whole); n++)
        like_cjson(whole, n);
}

static void nesting_stops_where_cjsons_does(void **state) {
    (void)state;
    for (int depth = 998; depth <= 1002; depth++) {
        char *t = malloc((size_t)depth * 2 + 1);
        assert_non_null(t);
        memset(t, '[', (size_t)depth);
        memset(t + depth, ']', (size_t)depth);
        like_cjson(t, (size_t)depth * 2);
        for (int i = 0; i < depth; i++) { /* objects too */
            t[i] = '{';
            t[depth + i] = '}';
        }
        like_cjson(t, (size_t)depth * 2);
        free(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_body_parses_to_cjsons_tree),
        cmocka_unit_test(cjsons_peculiar_readings_are_kept),
        cmocka_unit_test(nesting_stops_where_cjsons_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
