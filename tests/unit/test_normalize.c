/* normalize: the §0.3 pass (N1-N12) and the 2.1.331 rules R1-R4, on hand-made requests and on
 * every real fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/normalize.h"
#include "testutil.h"

static cJSON *parse(const char *s) {
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    return j;
}

static int norm(const cJSON *body, struct xn_conv *c, struct err *e) {
    struct xn_opts o;
    xn_opts_default(&o);
    return xn_normalize(body, &o, c, e);
}

static bool text_is(const struct xn_block *b, const char *s) {
    return b->kind == XN_TEXT && b->len == strlen(s) && memcmp(b->text, s, b->len) == 0;
}

/* Invariants every canonical conversation keeps. */
static void check_invariants(const struct xn_conv *c) {
    for (size_t i = 0; i < c->nmsgs; i++) {
        const struct xn_msg *m = &c->msgs[i];
        assert_true(m->nblocks > 0);
        if (i && m->role != XN_SYSTEM) assert_false(c->msgs[i - 1].role == m->role && m->role != XN_USER);
        size_t ncalls = 0;
        for (size_t k = 0; k < m->nblocks; k++) {
            const struct xn_block *b = &m->blocks[k];
            if (b->kind == XN_TEXT) assert_true(b->len > 0);
            if (b->kind == XN_TOOL_USE) {
                ncalls++;
                assert_true(strlen(b->id) <= 40);
            }
            if (b->kind == XN_TOOL_RESULT) assert_true(k < m->nresults);
        }
        if (m->role == XN_ASSISTANT && ncalls) {
            size_t j = i + 1;
            while (j < c->nmsgs && c->msgs[j].role == XN_SYSTEM) j++;
            assert_true(j < c->nmsgs);
            const struct xn_msg *u = &c->msgs[j];
            assert_int_equal(u->role, XN_USER);
            assert_int_equal(u->nresults, ncalls);
            size_t r = 0;
            for (size_t k = 0; k < m->nblocks; k++)
                if (m->blocks[k].kind == XN_TOOL_USE) assert_string_equal(u->blocks[r++].id, m->blocks[k].id);
        }
    }
}

static void every_fixture_normalizes(void **state) {
    (void)state;
    for (size_t f = 0; f < TU_NFIXTURES; f++) {
        cJSON *fx = tu_fixture(tu_fixture_names[f]);
        assert_non_null(fx);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(fx, "body");
        struct xn_conv c;
        struct err e = {0};
        if (norm(body, &c, &e) != 0) fail_msg("%s: %s", tu_fixture_names[f], e.msg);
        check_invariants(&c);
        /* N1: the billing block is gone, the rest kept */
        for (size_t i = 0; i < c.nsys; i++) assert_null(strstr(c.sys[i].text, "x-anthropic-billing-header"));
        const cJSON *sys = cJSON_GetObjectItemCaseSensitive(body, "system");
        if (cJSON_IsArray(sys)) assert_int_equal(c.nsys, (size_t)cJSON_GetArraySize(sys) - 1);
        /* R3 */
        for (size_t i = 0; i < c.ntools; i++) assert_string_not_equal(c.tools[i].name, "DeferredToolPlaceholder");
        /* R1/R2: a request ending with a system message keeps it last, marked trailing */
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
        const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
        if (strcmp(cJSON_GetObjectItem(last, "role")->valuestring, "system") == 0) {
            assert_int_equal(c.msgs[c.nmsgs - 1].role, XN_SYSTEM);
            assert_true(c.msgs[c.nmsgs - 1].trailing);
        }
        assert_true(c.last_user < c.nmsgs);
        xn_free(&c);
        cJSON_Delete(fx);
    }
}

static void fixture_details(void **state) {
    (void)state;
    struct err e = {0};
    struct xn_conv c;
    /* toolsearch: WebFetch is loaded by a tool_reference, which becomes text */
    cJSON *fx = tu_fixture("claude-code-2.1.331/toolsearch-tool-reference.json");
    assert_int_equal(norm(cJSON_GetObjectItem(fx, "body"), &c, &e), 0);
    bool webfetch = false;
    for (size_t i = 0; i < c.ntools; i++) webfetch |= strcmp(c.tools[i].name, "WebFetch") == 0;
    assert_true(webfetch);
    const struct xn_msg *u = &c.msgs[c.nmsgs - 1];
    assert_int_equal(u->role, XN_USER);
    assert_int_equal(u->nresults, 1);
    assert_true(text_is(&u->blocks[0].parts[0], "Tool loaded: WebFetch"));
    assert_true(text_is(&u->blocks[1], "Tool loaded."));
    assert_true(u->blocks[1].cache); /* N9 noted */
    xn_free(&c);
    cJSON_Delete(fx);
    /* hello-opus55: deferred, unreferenced WebFetch is not declared */
    fx = tu_fixture("claude-code-2.1.331/hello-opus55.json");
    assert_int_equal(norm(cJSON_GetObjectItem(fx, "body"), &c, &e), 0);
    for (size_t i = 0; i < c.ntools; i++) assert_string_not_equal(c.tools[i].name, "WebFetch");
    assert_int_equal(c.thinking.intent, XN_THINK_EFFORT);
    assert_string_equal(c.thinking.effort, "medium");
    assert_int_equal(c.thinking.display, XN_DISPLAY_OMITTED);
    xn_free(&c);
    cJSON_Delete(fx);
    /* thinking-roundtrip: an Anthropic-signed thinking block is foreign */
    fx = tu_fixture("claude-code/thinking-roundtrip.json");
    assert_int_equal(norm(cJSON_GetObjectItem(fx, "body"), &c, &e), 0);
    bool found = false;
    for (size_t i = 0; i < c.nmsgs; i++)
        for (size_t k = 0; k < c.msgs[i].nblocks; k++)
            if (c.msgs[i].blocks[k].kind == XN_THINKING) {
                assert_int_equal(c.msgs[i].blocks[k].origin, XN_ORIGIN_FOREIGN);
                found = true;
            }
    assert_true(found);
    xn_free(&c);
    cJSON_Delete(fx);
}

static void empty_content_and_merge(void **state) {
    (void)state;
    cJSON *b = parse("{\"system\":[{\"type\":\"text\",\"text\":\"x-anthropic-billing-header: cc_version=1\"},"
                     "{\"type\":\"text\",\"text\":\"sys\",\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":\" \"}],"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"  \"}]},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                     "{\"role\":\"assistant\",\"content\":\"prefill\"}]}");
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    assert_int_equal(c.nsys, 1);
    assert_string_equal(c.sys[0].text, "sys");
    assert_true(c.sys[0].cache);
    assert_int_equal(c.nmsgs, 1); /* the empty assistant removed, users merged, prefill dropped */
    assert_int_equal(c.msgs[0].nblocks, 2);
    assert_true(text_is(&c.msgs[0].blocks[0], "a"));
    assert_true(text_is(&c.msgs[0].blocks[1], "b"));
    assert_true(c.prefill_dropped);
    xn_free(&c);
    /* prefill kept when supported */
    struct xn_opts o;
    xn_opts_default(&o);
    o.supports_prefill = true;
    assert_int_equal(xn_normalize(b, &o, &c, &e), 0);
    assert_int_equal(c.nmsgs, 2);
    assert_int_equal(c.msgs[1].role, XN_ASSISTANT);
    xn_free(&c);
    cJSON_Delete(b);
    /* nothing left: 400 */
    b = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"  \"},{\"role\":\"system\",\"content\":\"s\"}]}");
    assert_int_equal(norm(b, &c, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    cJSON_Delete(b);
    b = parse("{\"messages\":\"nope\"}");
    assert_int_equal(norm(b, &c, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    cJSON_Delete(b);
}

static const char *TOOLS = "\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}},{\"name\":\"Read\",\"input_schema\":{}}],";

static void tool_pairing(void **state) {
    (void)state;
    char req[4096];
    /* results out of order, one missing, one orphan, text before results */
    snprintf(req, sizeof req,
             "{%s\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Bash\",\"input\":{}},"
             "{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"Read\",\"input\":{}},{\"type\":\"tool_use\",\"id\":\"t3\",\"name\":\"Bash\"}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"note\"},"
             "{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"content\":\"r2\"},"
             "{\"type\":\"tool_result\",\"tool_use_id\":\"old\",\"content\":[{\"type\":\"text\",\"text\":\"stale\"}]},"
             "{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"r1\",\"is_error\":true}]}]}",
             TOOLS);
    cJSON *b = parse(req);
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    check_invariants(&c);
    const struct xn_msg *u = &c.msgs[2];
    assert_int_equal(u->nresults, 3);
    assert_string_equal(u->blocks[0].id, "t1");
    assert_true(u->blocks[0].is_error);
    assert_string_equal(u->blocks[1].id, "t2");
    assert_string_equal(u->blocks[2].id, "t3");
    assert_true(u->blocks[2].synthetic);
    assert_true(text_is(&u->blocks[2].parts[0], "No result was provided for this tool call."));
    assert_true(text_is(&u->blocks[3], "note"));
    assert_true(text_is(&u->blocks[4], "[Result of an earlier tool call old]\nstale"));
    xn_free(&c);
    cJSON_Delete(b);

    /* an assistant with calls followed by another assistant, duplicate ids across turns */
    snprintf(req, sizeof req,
             "{%s\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_0\",\"name\":\"Bash\",\"input\":{}}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_0\",\"content\":\"one\"}]},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_0\",\"name\":\"Read\",\"input\":{}}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_0\",\"content\":\"two\"}]},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"x\",\"name\":\"Bash\",\"input\":{}}]},"
             "{\"role\":\"user\",\"content\":\"interrupted\"}]}",
             TOOLS);
    b = parse(req);
    assert_int_equal(norm(b, &c, &e), 0);
    check_invariants(&c);
    assert_string_equal(c.msgs[1].blocks[0].id, "call_0");
    assert_string_equal(c.msgs[3].blocks[0].id, "call_0_2"); /* N4 */
    assert_string_equal(c.msgs[4].blocks[0].id, "call_0_2");
    assert_true(text_is(&c.msgs[4].blocks[0].parts[0], "two"));
    assert_true(c.msgs[6].blocks[0].synthetic);
    assert_true(text_is(&c.msgs[6].blocks[1], "interrupted"));
    xn_free(&c);
    cJSON_Delete(b);

    /* history cut after a call: a user message with the synthetic result is added */
    snprintf(req, sizeof req,
             "{%s\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"Bash\",\"input\":{}}]}]}",
             TOOLS);
    b = parse(req);
    assert_int_equal(norm(b, &c, &e), 0);
    assert_int_equal(c.nmsgs, 3);
    assert_int_equal(c.msgs[2].nresults, 1);
    xn_free(&c);
    cJSON_Delete(b);
}

static void tool_history_without_tools_is_text(void **state) {
    (void)state;
    cJSON *b = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
                     "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"Bash\",\"input\":{\"command\":\"ls\"}}]},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"a b\"}]}]}");
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    assert_true(c.tools_textualized);
    assert_true(text_is(&c.msgs[1].blocks[0], "[Called tool Bash with {\"command\":\"ls\"}]"));
    assert_true(text_is(&c.msgs[2].blocks[0], "[Tool Bash returned: a b]"));
    assert_int_equal(c.msgs[2].nresults, 0);
    xn_free(&c);
    cJSON_Delete(b);
}

static void ids_thinking_and_foreign_blocks(void **state) {
    (void)state;
    struct xl_buf sig;
    xl_buf_init(&sig);
    xl_carrier_write(&sig, "openrouter", "m", NULL, NULL);
    char req[4096];
    snprintf(req, sizeof req,
             "{%s\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t1\",\"signature\":\"%s\"},"
             "{\"type\":\"thinking\",\"thinking\":\"t2\",\"signature\":\"\"},{\"type\":\"redacted_thinking\",\"data\":\"opaque\"},"
             "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{\"query\":\"cats\"}},"
             "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://c\",\"title\":\"C\"}]},"
             "{\"type\":\"mcp_tool_use\",\"id\":\"m\"},"
             "{\"type\":\"tool_use\",\"id\":\"toolu_01234567890123456789012345678901234567890123\",\"name\":\"Bash\",\"input\":{}}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01234567890123456789012345678901234567890123\",\"content\":\"ok\"}]}]}",
             TOOLS, xl_buf_cstr(&sig));
    cJSON *b = parse(req);
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    const struct xn_msg *a = &c.msgs[1];
    assert_int_equal(a->nblocks, 6);
    assert_int_equal(a->blocks[0].origin, XN_ORIGIN_CCRELAY);
    assert_string_equal(a->blocks[0].carrier->p, "openrouter");
    assert_int_equal(a->blocks[1].origin, XN_ORIGIN_UNSIGNED);
    assert_int_equal(a->blocks[2].kind, XN_REDACTED);
    assert_int_equal(a->blocks[2].origin, XN_ORIGIN_FOREIGN);
    assert_true(text_is(&a->blocks[3], "[web search: \"cats\"]"));
    assert_true(text_is(&a->blocks[4], "[web search results: C <https://c>]"));
    /* N8: a long foreign id is shortened, the same way for call and result */
    assert_int_equal(strlen(a->blocks[5].id), 30);
    assert_string_equal(a->blocks[5].id, c.msgs[2].blocks[0].id);
    assert_string_equal(c.msgs[2].blocks[0].raw_id, "toolu_01234567890123456789012345678901234567890123");
    xn_free(&c);
    cJSON_Delete(b);
    xl_buf_free(&sig);
}

static void system_messages_and_tools(void **state) {
    (void)state;
    cJSON *b = parse("{\"tools\":[{\"name\":\"A\",\"input_schema\":{}},{\"name\":\"A\",\"input_schema\":{}},"
                     "{\"name\":\"D\",\"defer_loading\":true},{\"name\":\"DeferredToolPlaceholder\"},"
                     "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}],"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"system\",\"content\":\"mid\"},"
                     "{\"role\":\"user\",\"content\":\"u2\"},{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"tail\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}");
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    assert_int_equal(c.ntools, 2);
    assert_string_equal(c.tools[0].name, "A");
    assert_null(c.tools[0].server_type);
    assert_string_equal(c.tools[1].server_type, "web_search_20250305");
    assert_int_equal(c.nmsgs, 4); /* system messages stay in place, users around them unmerged */
    assert_int_equal(c.msgs[1].role, XN_SYSTEM);
    assert_false(c.msgs[1].trailing);
    assert_true(c.msgs[3].trailing);
    assert_true(text_is(&c.msgs[3].blocks[0], "tail"));
    assert_int_equal(c.last_user, 2);
    xn_free(&c);
    cJSON_Delete(b);
}

static void system_between_calls_and_results_moves_after(void **state) {
    (void)state;
    char req[2048];
    snprintf(req, sizeof req,
             "{%s\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"Bash\",\"input\":{}}]},"
             "{\"role\":\"system\",\"content\":\"note\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"ok\"}]}]}",
             TOOLS);
    cJSON *b = parse(req);
    struct xn_conv c;
    struct err e = {0};
    assert_int_equal(norm(b, &c, &e), 0);
    assert_int_equal(c.nmsgs, 4);
    assert_int_equal(c.msgs[1].role, XN_ASSISTANT);
    assert_int_equal(c.msgs[2].role, XN_USER);
    assert_int_equal(c.msgs[2].nresults, 1);
    assert_true(text_is(&c.msgs[2].blocks[0].parts[0], "ok"));
    assert_int_equal(c.msgs[3].role, XN_SYSTEM);
    xn_free(&c);
    cJSON_Delete(b);
}

static void thinking_intents(void **state) {
    (void)state;
    struct {
        const char *body;
        enum xn_intent intent;
        long budget;
        const char *effort;
    } rows[] = {
        {"{}", XN_THINK_DEFAULT, 0, NULL},
        {"{\"thinking\":{\"type\":\"disabled\"},\"output_config\":{\"effort\":\"high\"}}", XN_THINK_OFF, 0, NULL},
        {"{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":31999}}", XN_THINK_BUDGET, 31999, NULL},
        {"{\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"xhigh\"}}", XN_THINK_EFFORT, 0, "xhigh"},
        {"{\"thinking\":{\"type\":\"adaptive\",\"display\":\"updates\"}}", XN_THINK_ON, 0, NULL},
        {"{\"output_config\":{\"effort\":\"high\"}}", XN_THINK_DEFAULT, 0, NULL}, /* effort alone */
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        cJSON *b = parse(rows[i].body);
        struct xn_thinking t;
        xn_thinking_of(b, &t);
        assert_int_equal(t.intent, rows[i].intent);
        assert_int_equal(t.budget, rows[i].budget);
        if (rows[i].effort) assert_string_equal(t.effort, rows[i].effort);
        cJSON_Delete(b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_normalizes),
        cmocka_unit_test(fixture_details),
        cmocka_unit_test(empty_content_and_merge),
        cmocka_unit_test(tool_pairing),
        cmocka_unit_test(tool_history_without_tools_is_text),
        cmocka_unit_test(ids_thinking_and_foreign_blocks),
        cmocka_unit_test(system_messages_and_tools),
        cmocka_unit_test(system_between_calls_and_results_moves_after),
        cmocka_unit_test(thinking_intents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
