/* tokens: the estimate is in the expected range on real requests, grows with the input, and
 * counts deferred tools only once a tool_reference loads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tokens.h"

static double chars_per_token(const char *s) {
    long t = tokens_text(s, strlen(s));
    assert_true(t > 0);
    return (double)strlen(s) / (double)t;
}

static void prose_follows_the_rule_of_thumb(void **state) {
    (void)state;
    /* Anthropic: about 3.5 characters of English per token. */
    const char *prose =
        "The quick brown fox jumps over the lazy dog. Claude Code is an agentic coding tool that "
        "lives in your terminal, understands your codebase, and helps you code faster by "
        "executing routine tasks, explaining complex code, and handling git workflows.";
    double r = chars_per_token(prose);
    if (r < 3.0 || r > 4.2) fail_msg("prose: %.2f chars/token", r);
    /* JSON and code are denser than prose */
    const char *schema = "{\"type\":\"object\",\"properties\":{\"file_path\":{\"type\":\"string\"},"
                         "\"limit\":{\"type\":\"number\",\"exclusiveMinimum\":0}},\"required\":"
                         "[\"file_path\"],\"additionalProperties\":false}";
    double rs = chars_per_token(schema);
    if (!(rs < r) || rs < 1.5) fail_msg("schema: %.2f chars/token (prose %.2f)", rs, r);
    /* non-ASCII: about one token per code point */
    assert_int_equal(tokens_text("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9), 3);
    assert_int_equal(tokens_text("", 0), 0);
    assert_int_equal(tokens_text("a", 1), 1);
    /* a length bound is honoured (no read past len) */
    assert_int_equal(tokens_text("hello world", 5), 2);
}

static void fixtures_are_in_the_expected_range(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        if (!fx) fail_msg("fixture %s missing", tu_fixture_names[i]);
        const cJSON *body = cJSON_GetObjectItem(fx, "body");
        char *text = cJSON_PrintUnformatted(body);
        double bytes = (double)strlen(text);
        long t = tokens_estimate(body);
        /* Claude Code requests: prose prompt + JSON tool schemas, 2.5-4.5 bytes per token. */
        if (t < bytes / 4.5 || t > bytes / 2.5)
            fail_msg("%s: %ld tokens for %.0f bytes", tu_fixture_names[i], t, bytes);
        free(text);
        cJSON_Delete(fx);
    }
}

static void more_input_means_more_tokens(void **state) {
    (void)state;
    cJSON *fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    assert_non_null(fx);
    cJSON *body = cJSON_GetObjectItem(fx, "body");
    long prev = tokens_estimate(body);
    cJSON *messages = cJSON_GetObjectItem(body, "messages");
    for (int i = 0; i < 5; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", i % 2 ? "user" : "assistant");
        cJSON_AddStringToObject(m, "content", "Let me read the file and fix the failing test.");
        cJSON_AddItemToArray(messages, m);
        long now = tokens_estimate(body);
        assert_true(now > prev);
        assert_true(now - prev < 30);
        prev = now;
    }
    /* a tool_use input and a thinking block count too */
    cJSON *m = cJSON_Parse("{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
                           "\"I should run the tests first.\",\"signature\":\"AAAA\"},{\"type\":"
                           "\"tool_use\",\"id\":\"t1\",\"name\":\"Bash\",\"input\":{\"command\":"
                           "\"make test\"}}]}");
    cJSON_AddItemToArray(messages, m);
    long now = tokens_estimate(body);
    assert_true(now > prev + 10);
    prev = now;
    /* an image is ~1,600 tokens */
    m = cJSON_Parse("{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\","
                    "\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
                    "\"image/png\",\"data\":\"AAAA\"}}]}]}");
    cJSON_AddItemToArray(messages, m);
    now = tokens_estimate(body);
    assert_true(now >= prev + 1600);
    cJSON_Delete(fx);
}

static long tool_cost(const cJSON *tools, const char *name) {
    for (const cJSON *t = tools->child; t; t = t->next)
        if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, name) == 0) {
            cJSON *b = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(b, "tools");
            cJSON *copy = cJSON_Duplicate(t, 1);
            cJSON_DeleteItemFromObject(copy, "defer_loading");
            cJSON_AddItemToArray(arr, copy);
            long c = tokens_estimate(b);
            cJSON_Delete(b);
            return c - 346; /* minus the tool-use system prompt */
        }
    fail_msg("tool %s not found", name);
    return 0;
}

static void deferred_tools_count_only_once_referenced(void **state) {
    (void)state;
    cJSON *fx = tu_fixture("claude-code-2.1.331/toolsearch-tool-reference.json");
    assert_non_null(fx);
    cJSON *body = cJSON_GetObjectItem(fx, "body");
    cJSON *tools = cJSON_GetObjectItem(body, "tools");
    long with_ref = tokens_estimate(body);
    long webfetch = tool_cost(tools, "WebFetch");
    assert_true(webfetch > 50);
    /* The placeholder is never referenced: it costs nothing. Removing it changes nothing. */
    cJSON *copy = cJSON_Duplicate(body, 1);
    cJSON *ct = cJSON_GetObjectItem(copy, "tools");
    int idx = 0;
    for (cJSON *t = ct->child; t; t = t->next, idx++)
        if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, "DeferredToolPlaceholder") == 0)
            break;
    cJSON_DeleteItemFromArray(ct, idx);
    assert_int_equal(tokens_estimate(copy), with_ref);
    cJSON_Delete(copy);
    /* Without the tool_reference, WebFetch is not sent: the estimate drops by its cost. */
    char *text = cJSON_PrintUnformatted(body);
    char *p = strstr(text, "\"tool_reference\"");
    assert_non_null(p);
    memcpy(p, "\"tool_referencX\"", 16);
    cJSON *noref = cJSON_Parse(text);
    free(text);
    long without = tokens_estimate(noref);
    long diff = with_ref - without;
    /* the block itself (framing + name) also goes */
    assert_true(diff >= webfetch && diff <= webfetch + 10);
    cJSON_Delete(noref);
    cJSON_Delete(fx);
}

static void odd_bodies_are_safe(void **state) {
    (void)state;
    const char *odd[] = {"{}", "[]", "{\"messages\":5}", "{\"messages\":[1,\"x\",{\"content\":7}]}",
                         "{\"system\":[{\"type\":5}],\"tools\":[7,{\"defer_loading\":true}]}"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        cJSON *b = cJSON_Parse(odd[i]);
        assert_non_null(b);
        long t = tokens_estimate(b);
        assert_true(t >= 0 && t < 100);
        cJSON_Delete(b);
    }
    assert_int_equal(tokens_estimate(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prose_follows_the_rule_of_thumb),
        cmocka_unit_test(fixtures_are_in_the_expected_range),
        cmocka_unit_test(more_input_means_more_tokens),
        cmocka_unit_test(deferred_tools_count_only_once_referenced),
        cmocka_unit_test(odd_bodies_are_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
