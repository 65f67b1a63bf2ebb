/* summary: every field the policy sees, from real Claude Code requests and made-up bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "testutil.h"

/* Header list of a fixture, built by hand (names lower-cased like the server's parser does). */
static void hdrs_from_json(const cJSON *h, struct http_hdrs *out) {
    memset(out, 0, sizeof *out);
    size_t n = (size_t)cJSON_GetArraySize(h);
    out->v = calloc(n ? n : 1, sizeof *out->v);
    assert_non_null(out->v);
    for (const cJSON *c = h ? h->child : NULL; c; c = c->next) {
        if (!cJSON_IsString(c)) continue;
        char *name = strdup(c->string);
        assert_non_null(name);
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        out->v[out->n].name = name;
        out->v[out->n].value = strdup(c->valuestring);
        out->n++;
    }
    out->cap = n;
}

static void hdrs_free(struct http_hdrs *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
}

static void thinking_levels_follow_the_design(void **state) {
    (void)state;
    static const struct {
        const char *type;
        long budget;
        const char *effort;
        const char *level;
    } cases[] = {
        {NULL, -1, NULL, "off"},
        {NULL, -1, "high", "off"}, /* no thinking: effort alone is not thinking */
        {"disabled", -1, "max", "off"},
        {"adaptive", -1, NULL, "medium"},
        {"adaptive", -1, "low", "low"},
        {"adaptive", -1, "medium", "medium"},
        {"adaptive", -1, "high", "high"},
        {"adaptive", -1, "xhigh", "xhigh"},
        {"adaptive", -1, "max", "max"},
        {"adaptive", -1, "HIGH", "high"},
        {"adaptive", -1, "bogus", "medium"},
        {"enabled", 1024, NULL, "low"},
        {"enabled", 4095, NULL, "low"},
        {"enabled", 4096, NULL, "medium"},
        {"enabled", 16383, NULL, "medium"},
        {"enabled", 16384, NULL, "high"},
        {"enabled", 31999, NULL, "high"},
        {"enabled", 1024, "max", "max"}, /* effort wins when thinking is on */
        {"enabled", -1, NULL, "medium"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = summary_thinking_level(cases[i].type, cases[i].budget, cases[i].effort);
        if (strcmp(got, cases[i].level) != 0)
            fail_msg("case %zu (%s, %ld, %s): got %s, want %s", i,
                     cases[i].type ? cases[i].type : "-", cases[i].budget,
                     cases[i].effort ? cases[i].effort : "-", got, cases[i].level);
    }
}

struct expect {
    const char *fixture;
    const char *level;
    bool stream;
    bool agent;
    size_t ntools;
};

static void fixtures_summarise(void **state) {
    (void)state;
    static const struct expect ex[] = {
        {"claude-code/hello-opus.json", "high", true, false, 24},
        {"claude-code/model-haiku.json", "high", true, false, 24},
        {"claude-code/thinking-disabled.json", "off", true, false, 24},
        {"claude-code/explore-subagent-haiku.json", "off", true, true, 17},
        {"claude-code/count-tokens.json", "off", false, false, 0},
        {"claude-code-2.1.331/hello-opus55.json", "medium", true, false, 12},
        {"claude-code-2.1.331/explore-subagent.json", "medium", true, true, 5},
        {"claude-code-2.1.331/nonstream-fallback.json", "medium", false, false, 12},
        {"claude-code-2.1.331/thinking-disabled-sonnet45.json", "off", true, false, 12},
        {"claude-code-2.1.331/toolsearch-tool-reference.json", "medium", true, false, 13},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cJSON *fx = tu_fixture(ex[i].fixture);
        if (!fx) fail_msg("fixture %s missing (CCRELAY_SHARED?)", ex[i].fixture);
        struct http_hdrs h;
        hdrs_from_json(cJSON_GetObjectItem(fx, "headers"), &h);
        cJSON *body = cJSON_GetObjectItem(fx, "body");
        struct summary s;
        struct err e = {0};
        assert_int_equal(summary_build(body, &h, "/v1/messages", &s, &e), 0);
        assert_string_equal(s.model, cJSON_GetObjectItem(body, "model")->valuestring);
        if (strcmp(s.thinking_level, ex[i].level) != 0)
            fail_msg("%s: level %s, want %s", ex[i].fixture, s.thinking_level, ex[i].level);
        assert_int_equal(s.stream, ex[i].stream);
        assert_int_equal(s.agent_id != NULL, ex[i].agent);
        assert_int_equal(s.ntools, ex[i].ntools);
        assert_non_null(s.session_id);
        assert_false(s.web_search);
        assert_false(s.images);
        assert_null(s.subagent_model);
        assert_false(s.body_modified);
        assert_true(s.tokens > 300);
        assert_string_equal(s.path, "/v1/messages");
        summary_free(&s);
        hdrs_free(&h);
        cJSON_Delete(fx);
    }
}

static void every_fixture_builds(void **state) {
    (void)state;
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *fx = tu_fixture(tu_fixture_names[i]);
        assert_non_null(fx);
        struct summary s;
        assert_int_equal(summary_build(cJSON_GetObjectItem(fx, "body"), NULL, NULL, &s, NULL), 0);
        assert_true(s.tokens > 0);
        /* no headers: the session id comes from metadata.user_id, and is the header's */
        const cJSON *body = cJSON_GetObjectItem(fx, "body");
        const char *hdr = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "headers"), "X-Claude-Code-Session-Id"));
        if (cJSON_GetObjectItem(body, "metadata")) {
            assert_non_null(s.session_id);
            assert_non_null(hdr);
            assert_string_equal(s.session_id, hdr);
        } else {
            assert_null(s.session_id);
        }
        summary_free(&s);
        cJSON_Delete(fx);
    }
}

static struct summary build(const char *json, cJSON **body) {
    *body = cJSON_Parse(json);
    assert_non_null(*body);
    struct summary s;
    struct err e = {0};
    if (summary_build(*body, NULL, "/v1/messages", &s, &e) != 0) fail_msg("%s", e.msg);
    return s;
}

static void thinking_fields_and_effort(void **state) {
    (void)state;
    cJSON *b;
    struct summary s = build("{\"model\":\"m\",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":"
                             "8000},\"output_config\":{\"effort\":\"xhigh\"},\"stream\":false}",
                             &b);
    assert_string_equal(s.thinking_type, "enabled");
    assert_int_equal(s.thinking_budget, 8000);
    assert_string_equal(s.effort, "xhigh");
    assert_string_equal(s.thinking_level, "xhigh");
    assert_false(s.stream);
    summary_free(&s);
    cJSON_Delete(b);
    s = build("{\"model\":\"m\",\"stream\":\"true\"}", &b);
    assert_false(s.stream); /* only the JSON true */
    assert_null(s.thinking_type);
    assert_int_equal(s.thinking_budget, -1);
    assert_string_equal(s.thinking_level, "off");
    summary_free(&s);
    cJSON_Delete(b);
}

static void subagent_tag_is_taken_from_system_and_removed(void **state) {
    (void)state;
    const char *cases[] = {
        /* a system block */
        "{\"model\":\"m\",\"system\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":"
        "\"You are X.<CCR-SUBAGENT-MODEL>openrouter,x-ai/grok-4.1-fast</CCR-SUBAGENT-MODEL> "
        "Go.\"}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        /* a system string */
        "{\"model\":\"m\",\"system\":\"<CCR-SUBAGENT-MODEL> openrouter,x-ai/grok-4.1-fast "
        "</CCR-SUBAGENT-MODEL>You are X.\",\"messages\":[]}",
        /* a role:system message with block content */
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"system\","
        "\"content\":[{\"type\":\"text\",\"text\":\"<CCR-SUBAGENT-MODEL>openrouter,x-ai/grok-4.1-"
        "fast</CCR-SUBAGENT-MODEL>\"}]}]}",
        /* twice in one text: both go, the first value is kept */
        "{\"model\":\"m\",\"system\":\"<CCR-SUBAGENT-MODEL>openrouter,x-ai/grok-4.1-fast</CCR-"
        "SUBAGENT-MODEL>You are X.<CCR-SUBAGENT-MODEL>gemini,gemini-2.5-pro</CCR-SUBAGENT-MODEL>\","
        "\"messages\":[]}",
        /* the first user message */
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"<system-reminder>x</system-reminder>\"},{\"type\":\"text\",\"text\":\"<CCR-SUBAGENT-"
        "MODEL>openrouter,x-ai/grok-4.1-fast</CCR-SUBAGENT-MODEL>Find the bug\"}]}]}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *b;
        struct summary s = build(cases[i], &b);
        assert_non_null(s.subagent_model);
        assert_string_equal(s.subagent_model, "openrouter,x-ai/grok-4.1-fast");
        assert_true(s.body_modified);
        char *text = cJSON_PrintUnformatted(b);
        assert_null(strstr(text, "CCR-SUBAGENT-MODEL"));
        assert_null(strstr(text, "grok"));
        assert_null(strstr(text, "gemini-2.5-pro"));
        free(text);
        summary_free(&s);
        cJSON_Delete(b);
    }
    /* not in a later user message */
    cJSON *b;
    struct summary s = build(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
        "\"content\":\"b\"},{\"role\":\"user\",\"content\":\"<CCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-"
        "MODEL>\"}]}",
        &b);
    assert_null(s.subagent_model);
    assert_false(s.body_modified);
    summary_free(&s);
    cJSON_Delete(b);
}

static void images_in_last_user_turn(void **state) {
    (void)state;
    static const char IMG[] =
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":"
        "\"iVBORw0KGgo=\"}}";
    char buf[2048];
    cJSON *b;
    struct summary s;
    /* image in the last user message, then a trailing system reminder */
    snprintf(buf, sizeof buf,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
             "\"text\":\"look\"},%s]},{\"role\":\"system\",\"content\":\"<total_tokens>1</total_"
             "tokens>\"}]}",
             IMG);
    s = build(buf, &b);
    assert_true(s.images);
    summary_free(&s);
    cJSON_Delete(b);
    /* image inside a tool_result */
    snprintf(buf, sizeof buf,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
             "\"tool_use_id\":\"t\",\"content\":[%s]}]}]}",
             IMG);
    s = build(buf, &b);
    assert_true(s.images);
    summary_free(&s);
    cJSON_Delete(b);
    /* image in an earlier turn only */
    snprintf(buf, sizeof buf,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[%s]},{\"role\":"
             "\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"thanks\"}]}",
             IMG);
    s = build(buf, &b);
    assert_false(s.images);
    summary_free(&s);
    cJSON_Delete(b);
}

static void web_search_and_tool_names(void **state) {
    (void)state;
    cJSON *b;
    struct summary s = build(
        "{\"model\":\"m\",\"tools\":[{\"name\":\"Bash\",\"input_schema\":{}},{\"type\":\"web_search_"
        "20250305\",\"name\":\"web_search\",\"max_uses\":8}],\"messages\":[]}",
        &b);
    assert_true(s.web_search);
    assert_int_equal(s.ntools, 2);
    assert_string_equal(s.tools[0], "Bash");
    assert_string_equal(s.tools[1], "web_search");
    summary_free(&s);
    cJSON_Delete(b);
}

static void session_id_from_metadata_when_no_header(void **state) {
    (void)state;
    cJSON *b;
    struct summary s = build("{\"model\":\"m\",\"metadata\":{\"user_id\":\"user_ab12_account__"
                             "session_1b2c3d\"},\"messages\":[]}",
                             &b);
    assert_string_equal(s.session_id, "1b2c3d");
    summary_free(&s);
    cJSON_Delete(b);
    s = build("{\"model\":\"m\",\"metadata\":{\"user_id\":\"{\\\"device_id\\\":\\\"d\\\","
              "\\\"session_id\\\":\\\"ee9e-f9\\\"}\"},\"messages\":[]}",
              &b);
    assert_string_equal(s.session_id, "ee9e-f9");
    summary_free(&s);
    cJSON_Delete(b);
    s = build("{\"model\":\"m\",\"metadata\":{\"user_id\":\"plain\"},\"messages\":[]}", &b);
    assert_null(s.session_id);
    summary_free(&s);
    cJSON_Delete(b);
}

static void bad_bodies_are_refused_not_crashed(void **state) {
    (void)state;
    const char *bad[] = {"[]", "\"x\"", "null"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *b = cJSON_Parse(bad[i]);
        struct summary s;
        struct err e = {0};
        assert_int_equal(summary_build(b, NULL, NULL, &s, &e), -1);
        assert_int_equal(e.kind, ERR_INVALID);
        summary_free(&s);
        cJSON_Delete(b);
    }
    /* wrong types inside are ignored */
    cJSON *b;
    struct summary s =
        build("{\"model\":5,\"thinking\":\"on\",\"tools\":{},\"messages\":{\"role\":\"user\"},"
              "\"system\":7,\"output_config\":[]}",
              &b);
    assert_string_equal(s.model, "");
    assert_string_equal(s.thinking_level, "off");
    summary_free(&s);
    cJSON_Delete(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thinking_levels_follow_the_design),
        cmocka_unit_test(fixtures_summarise),
        cmocka_unit_test(every_fixture_builds),
        cmocka_unit_test(thinking_fields_and_effort),
        cmocka_unit_test(subagent_tag_is_taken_from_system_and_removed),
        cmocka_unit_test(images_in_last_user_turn),
        cmocka_unit_test(web_search_and_tool_names),
        cmocka_unit_test(session_id_from_metadata_when_no_header),
        cmocka_unit_test(bad_bodies_are_refused_not_crashed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
