/* gemini_schema: every Claude Code tool schema of the fixtures cleans to something Gemini's strict
 * subset accepts, and keeps its meaning (enums merged, bounds rewritten, notes kept). */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdio.h>
#include <string.h>

#include "providers/gemini_schema.h"
#include "providers/util.h"
#include "testutil.h"

static cJSON *clean_text(const char *json) {
    cJSON *in = cJSON_Parse(json);
    assert_non_null(in);
    cJSON *out = NULL;
    struct err e = {0};
    assert_int_equal(gemini_schema_clean(in, GEMINI_SCHEMA_OPENAPI, &out, &e), 0);
    cJSON_Delete(in);
    return out;
}

static const cJSON *at(const cJSON *o, const char *path) {
    /* "a/b/c": object keys or array indices */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "/"); tok && cur; tok = strtok(NULL, "/")) {
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(tok));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return cur;
}

static const char *str_at(const cJSON *o, const char *path) {
    const cJSON *v = at(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_accepted(const cJSON *s) {
    char why[512];
    int rc = gemini_schema_check(s, 1, why, sizeof why);
    if (rc != 0) {
        char *p = cJSON_PrintUnformatted(s);
        fprintf(stderr, "rejected: %s\n%s\n", why, p);
        cJSON_free(p);
    }
    assert_int_equal(rc, 0);
}

static void every_fixture_tool_is_accepted(void **state) {
    (void)state;
    int ntools = 0;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        assert_non_null(fx);
        const cJSON *t;
        cJSON_ArrayForEach(t, at(fx, "body/tools")) {
            const cJSON *schema = cJSON_GetObjectItem(t, "input_schema");
            for (int mode = 0; mode < 2; mode++) {
                cJSON *out = NULL;
                struct err e = {0};
                assert_int_equal(
                    gemini_schema_clean(schema, (enum gemini_schema_mode)mode, &out, &e), 0);
                if (out) assert_accepted(out);
                /* every property of the original survives (the model can still send it) */
                const cJSON *p;
                cJSON_ArrayForEach(p, cJSON_GetObjectItem(schema, "properties")) {
                    assert_non_null(out);
                    assert_non_null(at(out, "properties") ? cJSON_GetObjectItemCaseSensitive(
                                                                at(out, "properties"), p->string)
                                                          : NULL);
                }
                cJSON_Delete(out);
            }
            ntools++;
        }
        cJSON_Delete(fx);
    }
    assert_true(ntools > 100);
}

static void claude_code_keywords_keep_their_meaning(void **state) {
    (void)state;
    /* TaskUpdate.status: anyOf[enum, const] -> one string enum with all four values */
    cJSON *s = clean_text("{\"$schema\":\"x\",\"type\":\"object\",\"properties\":{\"status\":{"
                          "\"description\":\"New status\",\"anyOf\":[{\"type\":\"string\",\"enum\":"
                          "[\"pending\",\"in_progress\",\"completed\"]},{\"type\":\"string\","
                          "\"const\":\"deleted\"}]},\"limit\":{\"type\":\"integer\","
                          "\"exclusiveMinimum\":0,\"maximum\":9007199254740991},\"url\":{\"type\":"
                          "\"string\",\"format\":\"uri\"},\"metadata\":{\"type\":\"object\","
                          "\"propertyNames\":{\"type\":\"string\"},\"additionalProperties\":{}},"
                          "\"n\":{\"type\":\"integer\",\"default\":20}},\"required\":[\"status\","
                          "\"gone\"],\"additionalProperties\":false}");
    assert_non_null(s);
    assert_accepted(s);
    assert_string_equal(str_at(s, "properties/status/type"), "string");
    assert_int_equal(cJSON_GetArraySize(at(s, "properties/status/enum")), 4);
    assert_string_equal(str_at(s, "properties/status/enum/3"), "deleted");
    assert_string_equal(str_at(s, "properties/status/description"), "New status");
    assert_true(at(s, "properties/limit/minimum")->valuedouble == 1.0);
    assert_null(at(s, "properties/limit/exclusiveMinimum"));
    /* Number.MAX_SAFE_INTEGER bounds mean "no bound" (and cJSON cannot print them exactly) */
    assert_null(at(s, "properties/limit/maximum"));
    assert_null(at(s, "properties/url/format"));
    assert_non_null(strstr(str_at(s, "properties/url/description"), "format: uri"));
    assert_null(at(s, "properties/metadata/properties"));
    assert_non_null(strstr(str_at(s, "properties/metadata/description"), "free-form object"));
    assert_non_null(strstr(str_at(s, "properties/n/description"), "default: 20"));
    assert_int_equal(cJSON_GetArraySize(at(s, "required")), 1);
    cJSON_Delete(s);
}

static void property_named_like_a_keyword_is_data(void **state) {
    (void)state;
    cJSON *s = clean_text("{\"type\":\"object\",\"properties\":{\"format\":{\"type\":\"string\"},"
                          "\"default\":{\"type\":\"string\"},\"$schema\":{\"type\":\"string\"}},"
                          "\"required\":[\"format\",\"default\"]}");
    assert_accepted(s);
    assert_string_equal(str_at(s, "properties/format/type"), "string");
    assert_string_equal(str_at(s, "properties/default/type"), "string");
    assert_non_null(at(s, "properties/$schema"));
    assert_int_equal(cJSON_GetArraySize(at(s, "required")), 2);
    cJSON_Delete(s);
}

static void allof_with_two_patterns_keeps_the_first(void **state) {
    (void)state;
    /* addendum R11: the deferred SendMessage schema */
    cJSON *s = clean_text("{\"type\":\"object\",\"properties\":{\"to\":{\"description\":\"who\","
                          "\"type\":\"string\",\"allOf\":[{\"pattern\":\"^[^\\\\n\\\\r]*$\"},"
                          "{\"pattern\":\"^[\\\\s\\\\S]{0,300}$\"}]}}}");
    assert_accepted(s);
    assert_string_equal(str_at(s, "properties/to/type"), "string");
    assert_string_equal(str_at(s, "properties/to/pattern"), "^[^\\n\\r]*$");
    assert_non_null(strstr(str_at(s, "properties/to/description"), "also pattern"));
    cJSON_Delete(s);
}

static void anyof_stays_alone_with_description_in_branches(void **state) {
    (void)state;
    cJSON *s =
        clean_text("{\"type\":\"object\",\"properties\":{\"v\":{\"description\":\"a value\","
                   "\"title\":\"V\",\"default\":1,\"type\":[\"string\",\"integer\",\"null\"]},"
                   "\"w\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"array\",\"items\":{}},"
                   "{\"type\":\"null\"}],\"description\":\"w\"}}}");
    assert_accepted(s);
    assert_int_equal(cJSON_GetArraySize(at(s, "properties/v")), 1);
    assert_int_equal(cJSON_GetArraySize(at(s, "properties/v/anyOf")), 2);
    assert_non_null(strstr(str_at(s, "properties/v/anyOf/0/description"), "a value"));
    assert_true(cJSON_IsTrue(at(s, "properties/v/anyOf/1/nullable")));
    assert_int_equal(cJSON_GetArraySize(at(s, "properties/w")), 1);
    assert_string_equal(str_at(s, "properties/w/anyOf/1/items/type"), "string");
    assert_true(cJSON_IsTrue(at(s, "properties/w/anyOf/0/nullable")));
    cJSON_Delete(s);
}

static void root_union_is_folded_and_refs_inlined(void **state) {
    (void)state;
    cJSON *s = clean_text(
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
        "\"child\":{\"$ref\":\"#/$defs/node\"}}}},\"anyOf\":[{\"type\":\"object\",\"properties\":"
        "{\"a\":{\"$ref\":\"#/$defs/"
        "node\"},\"k\":{\"type\":\"string\"}},\"required\":[\"a\",\"k\"]},"
        "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"number\",\"enum\":[1,2]},\"k\":"
        "{\"type\":\"string\"}},\"required\":[\"k\"]}]}");
    assert_non_null(s);
    assert_accepted(s);
    assert_string_equal(str_at(s, "type"), "object");
    assert_non_null(at(s, "properties/a/properties/child"));
    assert_string_equal(str_at(s, "properties/a/properties/name/type"), "string");
    assert_string_equal(str_at(s, "properties/a/properties/child/type"), "object");
    assert_non_null(strstr(str_at(s, "properties/a/properties/child/description"), "recursive"));
    assert_non_null(strstr(str_at(s, "properties/b/description"), "allowed values: 1, 2"));
    assert_int_equal(cJSON_GetArraySize(at(s, "required")), 1);
    assert_string_equal(str_at(s, "required/0"), "k");
    cJSON_Delete(s);
}

static void empty_schema_means_no_parameters(void **state) {
    (void)state;
    assert_null(clean_text("{\"$schema\":\"x\",\"type\":\"object\",\"properties\":{},"
                           "\"additionalProperties\":false}"));
    assert_null(clean_text("{}"));
}

static void unsupported_patterns_become_notes(void **state) {
    (void)state;
    assert_true(gemini_pattern_unsupported("^(?!foo).*$"));
    assert_true(gemini_pattern_unsupported("(a)\\1"));
    assert_false(gemini_pattern_unsupported("^wf_[a-z0-9-]{6,}$"));
    cJSON *s = clean_text("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"array\","
                          "\"items\":{\"type\":\"string\",\"pattern\":\"^(?<=a)b$\"}},\"y\":{"
                          "\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":"
                          "\"^[a-z]+$\"}}}}");
    assert_accepted(s);
    assert_null(at(s, "properties/x/items/pattern"));
    assert_non_null(strstr(str_at(s, "properties/x/items/description"), "pattern: ^(?<=a)b$"));
    assert_string_equal(str_at(s, "properties/y/items/pattern"), "^[a-z]+$");
    cJSON_Delete(s);
}

static void checker_rejects_what_gemini_rejects(void **state) {
    (void)state;
    static const char *const bad[] = {
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
        "\"additionalProperties\":false}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"anyOf\":[{\"type\":"
        "\"string\"}]}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"enum\":[1]}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"b\"]}",
        "{\"type\":\"object\",\"properties\":{}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"const\":\"x\"}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"exclusiveMinimum\":0}}"
        "}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"uri\"}}}",
        "{\"$schema\":\"x\",\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
        "{\"type\":\"string\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *s = cJSON_Parse(bad[i]);
        assert_non_null(s);
        char why[256];
        assert_int_equal(gemini_schema_check(s, 1, why, sizeof why), -1);
        assert_true(why[0] != '\0');
        cJSON_Delete(s);
    }
}

static void hostile_input_does_not_crash(void **state) {
    (void)state;
    /* deep nesting, self reference, non-object schemas, wrong types everywhere */
    char deep[8192];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"type\":\"object\",\"properties\":{\"x\":");
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"type\":\"array\",\"items\":");
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{}");
    for (int i = 0; i < 200; i++)
        deep[k++] = '}';
    k += (size_t)snprintf(deep + k, sizeof deep - k, "}}");
    cJSON *s = clean_text(deep);
    assert_accepted(s);
    cJSON_Delete(s);
    s = clean_text(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"},\"b\":true,"
        "\"c\":{\"type\":7,\"enum\":{},\"required\":3,\"properties\":[1]},"
        "\"d\":{\"$ref\":\"https://x/y\"},\"e\":{\"allOf\":[1,{\"$ref\":\"#/$defs/zz\"}]}}}");
    assert_accepted(s);
    cJSON_Delete(s);
}

static void old_model_knobs(void **state) {
    (void)state;
    cJSON *in = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"v\":{\"description\":\"d\","
                            "\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},\"m\":{"
                            "\"type\":\"object\",\"additionalProperties\":{}}}}");
    cJSON *out = NULL;
    struct err e = {0};
    assert_int_equal(gemini_schema_clean(in,
                                         GEMINI_SCHEMA_OPENAPI | GEMINI_SCHEMA_ANYOF_FIRST |
                                             GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER,
                                         &out, &e),
                     0);
    assert_accepted(out);
    assert_string_equal(str_at(out, "properties/v/type"), "string");
    assert_non_null(strstr(str_at(out, "properties/v/description"), "also accepts: integer"));
    assert_string_equal(str_at(out, "properties/m/properties/json/type"), "string");
    cJSON_Delete(out);
    cJSON_Delete(in);
}

/* gemini_schema_write gives, byte for byte, what printing gemini_schema_clean's tree gives (the
 * same decision to omit the parameters included), and write_node what clean_node gives. */
static void write_matches(const cJSON *schema, unsigned mode) {
    struct err e = {0};
    struct xl_buf a, b;
    struct xl_jw wa, wb;
    xl_buf_init(&a);
    xl_buf_init(&b);
    xl_jw_init(&wa, &a);
    xl_jw_init(&wb, &b);
    xl_jw_obj(&wa);
    xl_jw_obj(&wb);
    cJSON *t = NULL;
    assert_int_equal(gemini_schema_clean(schema, mode, &t, &e), 0);
    if (t) {
        xl_jw_key(&wa, "parameters");
        xl_jw_cjson(&wa, t, NULL);
    }
    assert_int_equal(gemini_schema_write(&wb, "parameters", schema, mode, &e), t ? 1 : 0);
    cJSON_Delete(t);
    xl_jw_key(&wa, "node");
    xl_jw_key(&wb, "node");
    assert_int_equal(gemini_schema_clean_node(schema, mode, &t, &e), 0);
    xl_jw_cjson(&wa, t, NULL);
    cJSON_Delete(t);
    assert_int_equal(gemini_schema_write_node(&wb, schema, mode, &e), 0);
    xl_jw_obj_end(&wa);
    xl_jw_obj_end(&wb);
    assert_true(xl_jw_ok(&wa) && xl_jw_ok(&wb));
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
        fprintf(stderr, "tree:   %.*s\nwriter: %.*s\n", (int)a.len, a.p, (int)b.len, b.p);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    xl_buf_free(&a);
    xl_buf_free(&b);
}

static void writer_gives_the_bytes_of_the_cleaned_tree(void **state) {
    (void)state;
    static const unsigned modes[] = {GEMINI_SCHEMA_OPENAPI, GEMINI_SCHEMA_JSONSCHEMA,
                                     GEMINI_SCHEMA_OPENAPI | GEMINI_SCHEMA_ANYOF_FIRST,
                                     GEMINI_SCHEMA_JSONSCHEMA |
                                         GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER};
    static const char *const shapes[] = {
        "{\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"string\",\"enum\":["
        "\"x\"]"
        "},{\"const\":\"y\"},{\"type\":\"null\"}],\"description\":\"d\"}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"integer\",\"null\"],"
        "\"minimum\":3}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/"
        "X\",\"description\":\"o\"}},"
        "\"$defs\":{\"X\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"integer\","
        "\"exclusiveMinimum\":0}}}}}",
        "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
        "\"required\":"
        "[\"a\"]},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"number\"}}}]}",
        "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}},"
        "{\"properties\":{\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}]}",
        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\",\"exclusiveMinimum\":true,"
        "\"minimum\":1.5,\"exclusiveMaximum\":10.25,\"multipleOf\":0.5,\"default\":-0}}}",
        "{\"type\":\"object\",\"properties\":{\"e\":{\"enum\":[1,\"a\",null]},\"c\":{\"const\":{"
        "\"k\":"
        "[1]}},\"f\":{\"type\":\"string\",\"format\":\"email\"},\"o\":{\"type\":\"object\"},"
        "\"q\":{\"type\":\"array\",\"items\":[]},\"r\":{\"type\":\"array\",\"prefixItems\":[{"
        "\"type\""
        ":\"integer\"}]}},\"required\":[\"e\",\"e\",\"nope\",3,\"c\"]}",
        "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"weird\"},\"y\":{},\"z\":{\"type\":"
        "\"null\"},\"s\":{\"type\":\"string\",\"pattern\":\"(?=a)b\",\"description\":\"caf\\u00e9 "
        "\\\"q\\\" \\\\ \\n\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"string\"}}}",
        "{\"type\":\"object\",\"properties\":{}}",
        "{\"type\":\"object\",\"properties\":[{\"type\":\"string\"}]}",
        "{\"type\":\"string\"}",
        "[]",
        "{}",
    };
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            cJSON *s = cJSON_Parse(shapes[i]);
            assert_non_null(s);
            write_matches(s, modes[m]);
            cJSON_Delete(s);
        }
        for (size_t i = 0; i < TU_NFIXTURES; i++) {
            cJSON *fx = tu_fixture(tu_fixture_names[i]);
            assert_non_null(fx);
            const cJSON *t;
            cJSON_ArrayForEach(t, at(fx, "body/tools")) {
                const cJSON *schema = cJSON_GetObjectItem(t, "input_schema");
                if (schema) write_matches(schema, modes[m]);
            }
            cJSON_Delete(fx);
        }
    }
}

/* `properties` given as an array is a user's mistake, not an allocation failure: the object is
 * free-form (it was reported as "out of memory" before). */
static void properties_that_are_not_an_object_are_no_error(void **state) {
    (void)state;
    cJSON *in = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\","
                            "\"properties\":[{\"type\":\"string\"}]}}}");
    cJSON *out = NULL;
    struct err e = {0};
    assert_int_equal(gemini_schema_clean(in, GEMINI_SCHEMA_OPENAPI, &out, &e), 0);
    assert_non_null(out);
    assert_accepted(out);
    assert_string_equal(str_at(out, "properties/a/type"), "object");
    assert_non_null(strstr(str_at(out, "properties/a/description"), "free-form object"));
    cJSON_Delete(out);
    cJSON_Delete(in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_tool_is_accepted),
        cmocka_unit_test(claude_code_keywords_keep_their_meaning),
        cmocka_unit_test(property_named_like_a_keyword_is_data),
        cmocka_unit_test(allof_with_two_patterns_keeps_the_first),
        cmocka_unit_test(anyof_stays_alone_with_description_in_branches),
        cmocka_unit_test(root_union_is_folded_and_refs_inlined),
        cmocka_unit_test(empty_schema_means_no_parameters),
        cmocka_unit_test(unsupported_patterns_become_notes),
        cmocka_unit_test(checker_rejects_what_gemini_rejects),
        cmocka_unit_test(hostile_input_does_not_crash),
        cmocka_unit_test(old_model_knobs),
        cmocka_unit_test(writer_gives_the_bytes_of_the_cleaned_tree),
        cmocka_unit_test(properties_that_are_not_an_object_are_no_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
