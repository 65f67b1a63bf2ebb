/* reqscan: summary_scan (raw text, no tree) gives what cJSON + summary_build give, field for
 * field, on every fixture as captured and on the shapes that trip a one-pass reader: fields in
 * any order, repeated keys, escapes, deferred tools referenced before or after their
 * definition; and it refuses what cJSON refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "summary.h"
#include "testutil.h"
#include "tokens.h"

static bool str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field of the two summaries; fail_msg names the first that differs. */
static void assert_same(const struct summary *t, const struct summary *s, const char *what) {
#define SAME(cond, field)                                                                          \
    if (!(cond)) fail_msg("%s: %s differs", what, field)
    SAME(str_eq(t->model, s->model), "model");
    if (t->tokens != s->tokens)
        fail_msg("%s: tokens %ld (tree) vs %ld (scan)", what, t->tokens, s->tokens);
    SAME(t->stream == s->stream, "stream");
    SAME(str_eq(t->thinking_type, s->thinking_type), "thinking_type");
    SAME(t->thinking_budget == s->thinking_budget, "thinking_budget");
    SAME(str_eq(t->effort, s->effort), "effort");
    SAME(str_eq(t->thinking_level, s->thinking_level), "thinking_level");
    SAME(t->web_search == s->web_search, "web_search");
    SAME(t->images == s->images, "images");
    SAME(t->ntools == s->ntools, "ntools");
    for (size_t i = 0; i < t->ntools && i < s->ntools; i++)
        SAME(str_eq(t->tools[i], s->tools[i]), "tools[i]");
    SAME(str_eq(t->subagent_model, s->subagent_model), "subagent_model");
    SAME(t->body_modified == s->body_modified, "body_modified");
    SAME(str_eq(t->session_id, s->session_id), "session_id");
    SAME(str_eq(t->agent_id, s->agent_id), "agent_id");
    SAME(str_eq(t->path, s->path), "path");
#undef SAME
}

/* Both readers on the same text: equal summaries, or both refuse. Returns 1 when accepted. */
static int check(const char *raw, size_t n, const struct http_hdrs *h, const char *what) {
    struct summary t, s;
    struct err e = {0};
    cJSON *tree = cJSON_ParseWithLengthOpts(raw, n, NULL, 0);
    bool tree_ok = cJSON_IsObject(tree) &&
                   cJSON_IsString(cJSON_GetObjectItemCaseSensitive(tree, "model")) &&
                   cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(tree, "messages"));
    int rc = summary_scan(raw, n, h, "/v1/messages", &s, &e);
    if (rc == 1) fail_msg("%s: scan asked for the tree", what);
    if (!tree_ok) {
        if (rc == 0) fail_msg("%s: scan accepted what the tree path refuses", what);
        assert_int_equal(e.kind, ERR_INVALID);
        assert_true(e.msg[0] != '\0');
        cJSON_Delete(tree);
        return 0;
    }
    if (rc != 0) fail_msg("%s: scan refused a good body: %s", what, e.msg);
    assert_int_equal(summary_build(tree, h, "/v1/messages", &t, &e), 0);
    assert_same(&t, &s, what);
    summary_free(&t);
    summary_free(&s);
    cJSON_Delete(tree);
    return 1;
}

static int check_str(const char *json) {
    return check(json, strlen(json), NULL, json);
}

static void every_fixture_as_captured_and_reprinted(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fixtures/%s", tu_shared_dir(), tu_fixture_names[i]);
        size_t len = 0;
        char *text = tu_read_file(path, &len);
        if (!text) fail_msg("fixture %s missing (CCRELAY_SHARED?)", path);
        cJSON *fx = cJSON_Parse(text);
        assert_non_null(fx);
        struct http_hdrs h;
        http_hdrs_init(&h);
        for (const cJSON *c = cJSON_GetObjectItem(fx, "headers")->child; c; c = c->next) {
            char lower[128];
            size_t k = 0;
            for (; c->string[k] && k + 1 < sizeof lower; k++)
                lower[k] = (char)(c->string[k] >= 'A' && c->string[k] <= 'Z' ? c->string[k] + 32
                                                                             : c->string[k]);
            lower[k] = '\0';
            if (cJSON_IsString(c)) http_hdrs_add(&h, lower, c->valuestring);
        }
        /* the body's bytes as the client sent them, escapes and all */
        static const char *const body_path[] = {"body"};
        size_t a, b;
        assert_int_equal(jsonscan_find(text, len, body_path, 1, &a, &b), 0);
        assert_int_equal(check(text + a, b - a, &h, tu_fixture_names[i]), 1);
        assert_int_equal(check(text + a, b - a, NULL, tu_fixture_names[i]), 1);
        /* the same body as other encoders write it: compact, indented */
        cJSON *body = cJSON_GetObjectItem(fx, "body");
        char *compact = cJSON_PrintUnformatted(body), *pretty = cJSON_Print(body);
        assert_non_null(compact);
        assert_non_null(pretty);
        assert_int_equal(check(compact, strlen(compact), &h, tu_fixture_names[i]), 1);
        assert_int_equal(check(pretty, strlen(pretty), &h, tu_fixture_names[i]), 1);
        free(compact);
        free(pretty);
        http_hdrs_free(&h);
        cJSON_Delete(fx);
        free(text);
    }
}

#define M "\"model\":\"m\",\"messages\":"

static void shapes_a_one_pass_reader_must_get_right(void **state) {
    (void)state;
    static const char *const bodies[] = {
        /* the block's type after its text; the message's role after its content */
        "{" M
        "[{\"content\":[{\"text\":\"hello there world\",\"type\":\"text\"}],\"role\":\"user\"}]}",
        /* repeated keys: the first is read, at every level */
        "{\"model\":\"a\",\"model\":\"b\",\"messages\":[],\"messages\":7,\"stream\":true,"
        "\"stream\":false}",
        "{" M "[{\"role\":\"user\",\"role\":\"assistant\",\"content\":\"x y z\",\"content\":[1]}]}",
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"type\":\"image\","
        "\"text\":\"a\",\"text\":\"bbbbbbbbbbbbbbbbbbbbbb\"}]}]}",
        /* deferred tools: referenced after, before, not at all, by a non-tool_result block */
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"content\":"
        "[{\"type\":\"tool_reference\",\"tool_name\":\"Late\"}]}]}],\"tools\":[{\"name\":\"Late\","
        "\"defer_loading\":true,\"description\":\"d e f\",\"input_schema\":{\"type\":\"object\"}},"
        "{\"name\":\"Never\",\"defer_loading\":true,\"input_schema\":{\"a\":[1,2000,3e6]}}]}",
        "{\"tools\":[{\"defer_loading\":true,\"name\":\"Early\"},{\"name\":\"Plain\"}]," M
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"content\":[{\"tool_name\":"
        "\"Early\",\"type\":\"tool_reference\"}]}]}]}",
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"tool_reference\",\"tool_name\":"
        "\"Top\"}]}],\"tools\":[{\"name\":\"Top\",\"defer_loading\":true}]}",
        "{" M "[],\"tools\":[{\"name\":\"OnlyDeferred\",\"defer_loading\":true},7,\"s\","
        "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
        /* images: the last user turn (a trailing system message skipped), inside tool_result */
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":"
        "[{\"type\":\"tool_result\",\"content\":[{\"type\":\"image\"}]}]},"
        "{\"role\":\"system\",\"content\":\"s\"}]}",
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]},{\"role\":\"user\","
        "\"content\":\"text only\"}]}",
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"content\":[{\"type\":"
        "\"image\"}]}]}]}",
        "{" M "[{\"content\":[{\"type\":\"image\"}]}]}",
        /* documents */
        "{" M "[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":{\"data\":"
        "\"plain text body\",\"type\":\"text\"}},{\"type\":\"document\",\"source\":{\"type\":"
        "\"content\",\"content\":[{\"type\":\"text\",\"text\":\"inner\"}]}},{\"type\":"
        "\"document\",\"source\":{\"type\":\"base64\",\"data\":\"QUJD\"}},{\"type\":\"document\","
        "\"source\":[1]}]}]}",
        /* every block type and the odd ones */
        "{\"system\":[{\"type\":\"text\",\"text\":\"You are Claude Code.\"},\"bare\",3]," M
        "[{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm, let "
        "me see\",\"signature\":\"c2ln\"},{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
        "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Bash\",\"input\":{\"command\":\"ls -la\","
        "\"n\":[1,-2.5,1234567,true,null,{}]}},{\"type\":\"server_tool_use\",\"name\":\"web\","
        "\"input\":\"q\"},{\"type\":\"tool_use\"}]},{\"role\":\"user\",\"content\":[{\"type\":"
        "\"tool_result\",\"content\":\"42 files\"},{\"type\":\"web_search_tool_result\","
        "\"content\":[{\"type\":\"web_search_result\",\"title\":\"t\"}]},{\"type\":\"mystery\"},"
        "null,[\"nested\"]]},7,\"str\",{\"role\":\"user\"}]}",
        /* escapes decoded before counting: newlines, tabs, quotes, \\u, surrogate pairs, NUL */
        "{" M "[{\"role\":\"user\",\"content\":\"line\\none\\ttab \\\"q\\\" \\\\ \\/ "
        "caf\\u00e9 \\u4e2d\\u6587 \\ud83d\\ude00 \\u0041BC\\r\\n\\b\\f\"}]}",
        "{" M "[{\"role\":\"user\",\"content\":\"before\\u0000after the NUL\"}],"
        "\"system\":\"sys\\u0000tem\"}",
        "{\"model\":\"m\\u0000x\",\"messages\":[],\"thinking\":{\"type\":\"ena\\u0062led\","
        "\"budget_tokens\":8192}}",
        "{\"mo\\u0064el\":\"escaped key\",\"messages\":[{\"role\":\"us\\u0065r\",\"content\":"
        "[{\"type\\u0000junk\":\"image\"}]}]}",
        /* a \\u with a non-hex digit: cJSON reads U+0000 and takes six bytes, whatever they are */
        "{" M "[{\"role\":\"user\",\"content\":\"ok \\u12G4 rest\"}]}",
        "{" M "[{\"role\":\"user\",\"content\":\"ok \\u1\\\"4 rest \\n\"}]}",
        "{" M "[{\"role\":\"user\",\"content\":\"ok \\u123\\\"\"}]}",
        /* thinking, effort, metadata */
        "{" M "[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":20000},"
        "\"output_config\":{\"effort\":\"xhigh\"}}",
        "{" M "[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":-5}}",
        "{" M "[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1e13}}",
        "{" M "[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":\"4096\"}}",
        "{" M "[],\"thinking\":[\"adaptive\"],\"output_config\":[\"high\"]}",
        "{" M "[],\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"max\"}}",
        "{" M "[],\"metadata\":{\"user_id\":\"{\\\"device_id\\\":\\\"d\\\",\\\"session_id\\\":"
        "\\\"0b6f-1\\\"}\"}}",
        "{" M "[],\"metadata\":{\"user_id\":\"user_abc_account__session_77aa\"}}",
        "{" M "[],\"metadata\":{\"user_id\":42}}",
        /* long strings: a tool name past the small buffer, a long type, a long key */
        "{" M "[],\"tools\":[{\"name\":\"ToolNameThatIsLongerThanTheSmallDecodeBufferOfTheScanner"
        "ToolNameThatIsLongerThanTheSmallDecodeBufferOfTheScannerToolNameThatIsLongerThanThe"
        "SmallDecodeBufferOfTheScannerToolNameThatIsLongerThanTheSmallDecodeBufferOfTheScanner"
        "ToolNameThatIsLongerThanTheSmallDecodeBufferOfTheScanner\\u00e9\"},{\"type\":"
        "\"web_search_and_a_very_long_suffix_beyond_the_key_buffer\"}]}",
        "{\"a_key_longer_than_the_key_buffer_of_the_scanner\":{\"model\":\"no\"}," M "[]}",
        /* numbers as cJSON reads them, white space as cJSON reads it, a BOM, trailing text */
        "{" M "[],\"n\":[0,-0,1.,1e5,1E+5,-1.5e-3,12345678901234567890123]}",
        "{" M "[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":"
        "1000000000000000000000000000000000000000000000000000000000000000000000000000000.5e-74}}",
        "\xEF\xBB\xBF{" M "[]}",
        "\t\r\n {\x01" M "\x1f[ ]\x02}\x03",
        "{" M "[]} trailing text that cJSON ignores",
        /* a tag where the tree path does not look for one (not counted text), or after a NUL */
        "{" M "[{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"signature\":"
        "\"<CCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>\"}]}],\"x\":\"<CCR-SUBAGENT-MODEL>\"}",
        "{" M "[{\"role\":\"user\",\"content\":\"a\\u0000<CCR-SUBAGENT-MODEL>p,m</"
              "CCR-SUBAGENT-MODEL>\"}]}",
        /* not a tag: text near it, and the tags of a real system prompt */
        "{\"system\":\"<system-reminder>\\nbe brief\\n</system-reminder> <\\u0043CR>\"," M "[]}",
        "{" M "[{\"role\":\"user\",\"content\":\"<CCR-SUBAGENT> CCR-SUBAGENT-MODEL\"}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        if (!check_str(bodies[i])) fail_msg("refused: %s", bodies[i]);
}

static void bad_bodies_are_refused_by_both(void **state) {
    (void)state;
    static const char *const bodies[] = {
        "{",
        "{\"model\":",
        "{" M "[}",
        "{" M "[1,]}",
        "{" M "[]",
        "{\"model\":\"m\"",
        "{" M "[\"unterminated]}",
        "{" M "[\"bad \\x escape\"]}",
        "{" M "[\"\\u12\"]}",
        "{" M "[\"\\u1\"4\"]}",
        "{" M "[\"\\u12G4 \\q\"]}",
        "{" M "[\"lone \\udc00 low\"]}",
        "{" M "[\"high \\ud83d alone\"]}",
        "{" M "[\"high \\ud83d\\u0041 then not low\"]}",
        "{" M "[tru]}",
        "{" M "[nul]}",
        "{" M "[-]}",
        "{" M "[.5]}",
        "{" M "[+1]}",
        "{" M "[1 2]}",
        "{\"model\" \"m\"}",
        "{model:\"m\"}",
        "{" M "[],}",
        "",
        /* valid JSON, not a Messages request */
        "[]",
        "\"text\"",
        "42",
        "{\"messages\":[]}",
        "{\"model\":7,\"messages\":[]}",
        "{\"model\":\"m\"}",
        "{\"model\":\"m\",\"messages\":{}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        if (check_str(bodies[i])) fail_msg("accepted: %s", bodies[i]);
}

static void messages_say_what_is_wrong(void **state) {
    (void)state;
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"", "the request body is empty"},
        {"[1]", "must be a JSON object"},
        {"{\"messages\":[]}", "model: a string is required"},
        {"{\"model\":\"m\",\"messages\":null}", "messages: an array is required"},
        {"{\"model\":\"m\",\"messages\":[1,]}",
         "not valid JSON: expected a JSON value (near byte 27)"},
        {"{\"model\":\"m\",\"messages\":[\"\\q\"]}", "invalid escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct summary s;
        struct err e = {0};
        assert_int_equal(summary_scan(cases[i].body, strlen(cases[i].body), NULL, NULL, &s, &e),
                         -1);
        if (!strstr(e.msg, cases[i].msg)) fail_msg("%s: got '%s'", cases[i].body, e.msg);
    }
}

/* 1000 nested containers are read (cJSON's limit), 1001 are not. */
static void nesting_stops_where_cjson_stops(void **state) {
    (void)state;
    for (int depth = 999; depth <= 1001; depth++) {
        size_t inner = (size_t)depth - 1; /* the top-level object is one */
        size_t len = strlen("{" M "[],\"x\":") + 2 * inner + 1;
        char *b = malloc(len + 1);
        assert_non_null(b);
        size_t k = (size_t)sprintf(b, "{" M "[],\"x\":");
        for (size_t i = 0; i < inner; i++)
            b[k++] = '[';
        for (size_t i = 0; i < inner; i++)
            b[k++] = ']';
        b[k++] = '}';
        b[k] = '\0';
        assert_int_equal(check(b, k, NULL, "nesting"), depth <= 1000);
        free(b);
    }
}

/* The tag edits the body: the scan hands the request to the tree path. */
static void a_subagent_tag_asks_for_the_tree(void **state) {
    (void)state;
    static const char *const bodies[] = {
        "{" M "[{\"role\":\"user\",\"content\":\"<CCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>\"}]}",
        "{" M
        "[{\"role\":\"user\",\"content\":\"\\u003cCCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>\"}]}",
        "{\"system\":[{\"text\":\"<\\u0043CR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>\"}]," M "[]}",
        "{" M "[{\"role\":\"system\",\"content\":\"x <CCR-SUBAGENT-MODEL\\u003e\"}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct summary s;
        struct err e = {0};
        assert_int_equal(summary_scan(bodies[i], strlen(bodies[i]), NULL, NULL, &s, &e), 1);
        summary_free(&s);
    }
}

/* The raw-JSON class table is the token class table with NUL, '"', '\\' and '<' set apart. */
static void the_class_tables_agree(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        if (c == 0)
            assert_int_equal(tokens_rawclass[c], TOKC_RAW_NUL);
        else if (c == '"')
            assert_int_equal(tokens_rawclass[c], TOKC_RAW_QUOTE);
        else if (c == '\\')
            assert_int_equal(tokens_rawclass[c], TOKC_RAW_BSLASH);
        else if (c == '<')
            assert_int_equal(tokens_rawclass[c], TOKC_RAW_LT);
        else
            assert_int_equal(tokens_rawclass[c], tokens_class[c]);
    }
    assert_int_equal(tokens_class['"'], TOKC_PUNCT);
    assert_int_equal(tokens_class['\\'], TOKC_PUNCT);
    assert_int_equal(tokens_class['<'], TOKC_PUNCT);
    assert_int_equal(tokens_class[0xFF], TOKC_LEAD);
    assert_int_equal(tokens_class['z'], TOKC_ALPHA);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_as_captured_and_reprinted),
        cmocka_unit_test(shapes_a_one_pass_reader_must_get_right),
        cmocka_unit_test(bad_bodies_are_refused_by_both),
        cmocka_unit_test(messages_say_what_is_wrong),
        cmocka_unit_test(nesting_stops_where_cjson_stops),
        cmocka_unit_test(a_subagent_tag_asks_for_the_tree),
        cmocka_unit_test(the_class_tables_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
