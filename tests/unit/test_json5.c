/* json5: Claude Code Router's config syntax is accepted, strict JSON comes out exactly as
 * cJSON_Parse gives it, and every error says where it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json5.h"
#include "testutil.h"

/* Node by node, in order: type, member name, value (stricter than cJSON_Compare, which
 * matches members by name and so cannot compare objects with duplicate names). */
static int same_tree(const cJSON *a, const cJSON *b) {
    for (; a && b; a = a->next, b = b->next) {
        if ((a->type & 0xFF) != (b->type & 0xFF)) return 0;
        if ((a->string == NULL) != (b->string == NULL)) return 0;
        if (a->string && strcmp(a->string, b->string) != 0) return 0;
        if ((a->valuestring == NULL) != (b->valuestring == NULL)) return 0;
        if (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0) return 0;
        if (a->valueint != b->valueint) return 0;
        if (memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0) return 0;
        if (!same_tree(a->child, b->child)) return 0;
    }
    return a == NULL && b == NULL;
}

/* Parse with both readers and require the same tree and the same printed bytes. */
static void assert_same_as_cjson(const char *text, size_t len) {
    struct err e = {0};
    cJSON *a = json5_parse(text, len, &e);
    if (!a) fail_msg("json5_parse failed: %s", e.msg);
    cJSON *b = cJSON_ParseWithLength(text, len);
    assert_non_null(b);
    assert_true(same_tree(a, b));
    char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_string_equal(pa, pb);
    free(pa);
    free(pb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static cJSON *must_parse(const char *text) {
    struct err e = {0};
    cJSON *j = json5_parse(text, strlen(text), &e);
    if (!j) fail_msg("json5_parse(%s) failed: %s", text, e.msg);
    return j;
}

/* Parsing must fail with a message that contains `expect`. */
static void assert_error(const char *text, size_t len, const char *expect) {
    struct err e = {0};
    cJSON *j = json5_parse(text, len, &e);
    if (j) {
        cJSON_Delete(j);
        fail_msg("expected an error containing \"%s\" for %s", expect, text);
    }
    assert_int_equal(e.kind, ERR_CONFIG);
    if (!strstr(e.msg, expect)) fail_msg("error \"%s\" does not contain \"%s\"", e.msg, expect);
}

static void real_claude_code_bodies_match_cjson(void **state) {
    (void)state;
    size_t done = 0;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fixtures/%s", tu_shared_dir(), tu_fixture_names[i]);
        size_t len;
        char *text = tu_read_file(path, &len);
        if (!text) continue;
        assert_same_as_cjson(text, len);
        free(text);
        done++;
    }
    assert_true(done >= TU_NFIXTURES / 2); /* the fixtures are there: this test ran */
}

static void strict_json_edge_values_match_cjson(void **state) {
    (void)state;
    static const char *const docs[] = {
        "{\"a\":1,\"a\":2,\"b\":[],\"c\":{},\"d\":[[[]]],\"e\":null,\"f\":true,\"g\":false}",
        "[0,-0,1.5,-2.25e-3,1E10,1e+2,123456789012345678901234567890,2147483648,-2147483649,"
        "0.1,9007199254740993]",
        "\"esc: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20AC \\ud83d\\ude00 caf\xc3\xa9\"",
        "  \r\n\t{ \"k\" : [ 1 , \"two\" , { \"x\" : [ ] } ] }  \n",
        "42",
        "\"\"",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        assert_same_as_cjson(docs[i], strlen(docs[i]));
}

static void ccr_syntax_is_accepted(void **state) {
    (void)state;
    const char *text = "// Claude Code Router config\n"
                       "{\n"
                       "  /* block\n comment */ Providers: [\n"
                       "    { name: 'openrouter', 'api_key': \"$KEY\", models: ['a', 'b',], },\n"
                       "  ],\n"
                       "  $dollar_key: 1, _under: 2, k3y: +3, hex: 0x1F, neg_hex: -0x10,\n"
                       "  half: .5, whole: 5., exp: 1e3, // trailing comment\n"
                       "}\n"
                       "// after the value\n";
    cJSON *j = must_parse(text);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Providers"), 0);
    assert_string_equal(cJSON_GetObjectItem(p, "name")->valuestring, "openrouter");
    assert_string_equal(cJSON_GetObjectItem(p, "api_key")->valuestring, "$KEY");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "models")), 2);
    assert_int_equal(cJSON_GetObjectItem(j, "$dollar_key")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "_under")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(j, "k3y")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "hex")->valueint, 31);
    assert_int_equal(cJSON_GetObjectItem(j, "neg_hex")->valueint, -16);
    assert_true(cJSON_GetObjectItem(j, "half")->valuedouble == 0.5);
    assert_true(cJSON_GetObjectItem(j, "whole")->valuedouble == 5.0);
    assert_true(cJSON_GetObjectItem(j, "exp")->valuedouble == 1000.0);
    cJSON_Delete(j);
}

static void comments_inside_strings_are_not_comments(void **state) {
    (void)state;
    cJSON *j = must_parse("{\"url\": \"https://x.test/a/*b*/c\", 'c': '// not a comment',"
                          " d: \"/* nor this */\"}");
    assert_string_equal(cJSON_GetObjectItem(j, "url")->valuestring, "https://x.test/a/*b*/c");
    assert_string_equal(cJSON_GetObjectItem(j, "c")->valuestring, "// not a comment");
    assert_string_equal(cJSON_GetObjectItem(j, "d")->valuestring, "/* nor this */");
    cJSON_Delete(j);
}

static void quotes_and_escapes(void **state) {
    (void)state;
    cJSON *j = must_parse("{a: \"say \\\"hi\\\"\", b: 'it\\'s', c: \"it's\", d: '\"q\"',"
                          " e: 'tab\\there', f: '\\x41\\u00e9\\v', g: 'line \\\ncontinued',"
                          " h: 'crlf \\\r\ncontinued', i: '\\a\\%'}");
    assert_string_equal(cJSON_GetObjectItem(j, "a")->valuestring, "say \"hi\"");
    assert_string_equal(cJSON_GetObjectItem(j, "b")->valuestring, "it's");
    assert_string_equal(cJSON_GetObjectItem(j, "c")->valuestring, "it's");
    assert_string_equal(cJSON_GetObjectItem(j, "d")->valuestring, "\"q\"");
    assert_string_equal(cJSON_GetObjectItem(j, "e")->valuestring, "tab\there");
    assert_string_equal(cJSON_GetObjectItem(j, "f")->valuestring, "A\xc3\xa9\v");
    assert_string_equal(cJSON_GetObjectItem(j, "g")->valuestring, "line continued");
    assert_string_equal(cJSON_GetObjectItem(j, "h")->valuestring, "crlf continued");
    assert_string_equal(cJSON_GetObjectItem(j, "i")->valuestring, "a%");
    cJSON_Delete(j);
}

static void nested_trailing_commas(void **state) {
    (void)state;
    cJSON *j = must_parse("{\"a\": [1, 2, [3,], {\"b\": {\"c\": [],},},], \"d\": {},}");
    char *s = cJSON_PrintUnformatted(j);
    assert_string_equal(s, "{\"a\":[1,2,[3],{\"b\":{\"c\":[]}}],\"d\":{}}");
    free(s);
    cJSON_Delete(j);
    assert_error("[1,,2]", 6, "1:4: expected a value, found ','");
    assert_error("{,}", 3, "1:2: expected a member name or '}', found ','");
    assert_error("[,]", 3, "1:2: expected a value, found ','");
}

static void errors_name_line_and_column(void **state) {
    (void)state;
    /* the missing comma is reported where the next member starts */
    const char *text = "{\n  \"a\": 1,\n  \"b\": 2\n  \"c\": 3\n}";
    struct err e = {0};
    assert_null(json5_parse_named(text, strlen(text), "config.json", &e));
    assert_string_equal(e.msg,
                        "config.json:4:3: expected ',' or '}' after the value of \"b\", found '\"'");

    assert_error("{\"a\" 1}", 7, "1:6: expected ':' after the member name \"a\", found '1'");
    assert_error("[1 2]", 5, "1:4: expected ',' or ']' after array element 0, found '2'");
    assert_error("{\n  \"s\": \"open\n}", 15, "2:13: line break inside a string");
    assert_error("{\"s\": 'open}", 12, "1:7: string not closed");
    assert_error("{a: 1} /* unclosed", 18, "1:8: comment not closed");
    assert_error("{\n\"a\": [1,\n", 11, "3:1: unexpected end of input: ']' missing for the "
                                        "array opened at 2:6");
    assert_error("{\"a\": 1", 7, "'}' missing for the object opened at 1:1");
    assert_error("{a: yes}", 8, "1:5: unexpected word 'yes': strings need quotes");
    assert_error("{a: 1} x", 8, "1:8: unexpected 'x' after the end of the value");
    assert_error("{a: @}", 6, "1:5: expected a value, found '@'");
    /* the column counts characters, not bytes: "é" is one column */
    assert_error("{\"\xc3\xa9\": x}", 9, "1:7: unexpected word 'x'");
    /* CRLF line ends count once */
    assert_error("{\r\n\r\n  a: ?}", 12, "3:6: expected a value, found '?'");
}

static void empty_input_is_an_error(void **state) {
    (void)state;
    assert_error("", 0, "1:1: empty input");
    assert_error("   \n\t ", 6, "empty input");
    assert_error("// only a comment\n/* and another */", 35, "empty input");
    struct err e = {0};
    assert_null(json5_parse(NULL, 0, &e));
    assert_non_null(strstr(e.msg, "empty input"));
}

static void refused_values(void **state) {
    (void)state;
    assert_error("[Infinity]", 10, "Infinity and NaN are not supported");
    assert_error("[-Infinity]", 11, "Infinity and NaN are not supported");
    assert_error("[NaN]", 5, "Infinity and NaN are not supported");
    assert_error("[\"a\\u0000b\"]", 12, "NUL");
    assert_error("[\"\\ud83d\"]", 10, "high surrogate not followed by a low surrogate");
    assert_error("[\"\\ude00\"]", 10, "lone low surrogate");
    assert_error("[\"\\u12\"]", 8, "\\u needs four hexadecimal digits");
    assert_error("['\\1']", 6, "octal escapes are not allowed");
    assert_error("[0x]", 4, "hexadecimal number without digits");
    assert_error("[1e]", 4, "exponent without digits");
    assert_error("[-]", 3, "expected a number");
    assert_error("[\"a\0b\"]", 7, "NUL byte inside a string");
}

static void length_bounds_the_input(void **state) {
    (void)state;
    /* only the first len bytes are read: no terminator needed, nothing past it is seen */
    const char buf[] = {'[', '1', ',', '2', ']', 'x', 'x'};
    struct err e = {0};
    cJSON *j = json5_parse(buf, 5, &e);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);
    assert_error("[1,2]", 4, "']' missing");
    assert_error("\"abc\"", 4, "string not closed");
    assert_error("/*", 2, "comment not closed");
}

static char *nested(size_t depth) {
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void deep_nesting_is_bounded(void **state) {
    (void)state;
    char *ok = nested(JSON5_MAX_DEPTH);
    assert_same_as_cjson(ok, strlen(ok));
    free(ok);
    char *deep = nested(JSON5_MAX_DEPTH + 1);
    assert_error(deep, strlen(deep), "nested more than 1000 levels deep");
    free(deep);
    /* a hostile input: no stack overflow, just an error */
    size_t n = 1000000;
    char *bomb = malloc(n);
    assert_non_null(bomb);
    for (size_t i = 0; i < n; i++) bomb[i] = (i % 2) ? '[' : '{';
    bomb[0] = '[';
    struct err e = {0};
    assert_null(json5_parse(bomb, n, &e));
    assert_non_null(e.msg[0] ? e.msg : NULL);
    free(bomb);
}

static void huge_input_parses(void **state) {
    (void)state;
    /* about 6 MB of objects with escapes and comments stripped: same tree as cJSON */
    size_t n = 60000, cap = n * 110 + 16, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"id\":%zu,\"name\":\"item \\\"%zu\\\"\",\"v\":[1.5,true,null],"
                                "\"t\":\"\\u00e9\\n\"}",
                                i ? "," : "", i, i);
    s[len++] = ']';
    s[len] = '\0';
    assert_same_as_cjson(s, len);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_claude_code_bodies_match_cjson),
        cmocka_unit_test(strict_json_edge_values_match_cjson),
        cmocka_unit_test(ccr_syntax_is_accepted),
        cmocka_unit_test(comments_inside_strings_are_not_comments),
        cmocka_unit_test(quotes_and_escapes),
        cmocka_unit_test(nested_trailing_commas),
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(empty_input_is_an_error),
        cmocka_unit_test(refused_values),
        cmocka_unit_test(length_bounds_the_input),
        cmocka_unit_test(deep_nesting_is_bounded),
        cmocka_unit_test(huge_input_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
