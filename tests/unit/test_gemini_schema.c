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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
