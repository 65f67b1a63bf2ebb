/* The anthropic pass-through: the request keeps its bytes but the model; the stream keeps its
 * events but message.model; credentials and betas go where they belong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"
#include "testutil.h"

static struct cfg_provider prov(cJSON *json) {
    struct cfg_provider p = {0};
    p.name = "ant";
    p.url = "https://api.anthropic.com/v1/messages";
    p.format = FMT_ANTHROPIC;
    p.json = json;
    return p;
}

static char *drain(struct evbuffer *b) {
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void builds_every_fixture_with_only_the_model_changed(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    for (size_t i = 0; i < TU_NFIXTURES; i++) {
        cJSON *f = tu_fixture(tu_fixture_names[i]);
        cJSON *body = cJSON_GetObjectItem(f, "body");
        char *raw = cJSON_PrintUnformatted(body);
        struct http_hdrs ch;
        http_hdrs_init(&ch);
        http_hdrs_add(&ch, "authorization", "Bearer client-token");
        http_hdrs_add(&ch, "anthropic-beta", "advanced-tool-use-2025-11-20,afk-mode-2026-01-31");
        http_hdrs_add(&ch, "anthropic-version", "2023-06-01");
        struct xl_request in = {.body = body, .raw = raw, .raw_len = strlen(raw),
                                .client_headers = &ch, .provider = &p, .model = "claude-x",
                                .client_model = "claude-opus-4-8", .api_key = "sk-ant-key",
                                .stream = true};
        struct xl_http_request out;
        xl_http_request_init(&out);
        struct err e;
        assert_int_equal(provider_anthropic.build(&in, &out, &e), 0);
        assert_string_equal(out.url, p.url);
        assert_string_equal(http_hdrs_get(&out.headers, "x-api-key"), "sk-ant-key");
        assert_null(http_hdrs_get(&out.headers, "authorization"));
        assert_string_equal(http_hdrs_get(&out.headers, "anthropic-beta"),
                            "advanced-tool-use-2025-11-20,afk-mode-2026-01-31");
        char *sent = drain(out.body);
        cJSON *a = cJSON_Parse(sent);
        assert_string_equal(cJSON_GetObjectItem(a, "model")->valuestring, "claude-x");
        assert_int_equal(strlen(sent), strlen(raw) - strlen(cJSON_GetObjectItem(body, "model")->valuestring) + 8);
        cJSON_Delete(a);
        free(sent);
        /* a modified body (raw == NULL) is re-printed */
        in.raw = NULL;
        xl_http_request_free(&out);
        xl_http_request_init(&out);
        assert_int_equal(provider_anthropic.build(&in, &out, &e), 0);
        sent = drain(out.body);
        a = cJSON_Parse(sent);
        assert_string_equal(cJSON_GetObjectItem(a, "model")->valuestring, "claude-x");
        cJSON_Delete(a);
        free(sent);
        xl_http_request_free(&out);
        http_hdrs_free(&ch);
        free(raw);
        cJSON_Delete(f);
    }
}

static void bearer_auth_is_a_provider_option(void **state) {
    (void)state;
    cJSON *json = cJSON_Parse("{\"options\":{\"auth\":\"bearer\"}}");
    struct cfg_provider p = prov(json);
    cJSON *body = cJSON_Parse("{\"model\":\"m\",\"messages\":[]}");
    struct xl_request in = {.body = body, .provider = &p, .model = "m2", .client_model = "m",
                            .api_key = "tok"};
    struct xl_http_request out;
    xl_http_request_init(&out);
    assert_int_equal(provider_anthropic.build(&in, &out, NULL), 0);
    assert_string_equal(http_hdrs_get(&out.headers, "authorization"), "Bearer tok");
    assert_null(http_hdrs_get(&out.headers, "x-api-key"));
    assert_string_equal(http_hdrs_get(&out.headers, "anthropic-version"), "2023-06-01");
    xl_http_request_free(&out);
    cJSON_Delete(body);
    cJSON_Delete(json);
}

static const char STREAM[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"model\":\"up-model\",\"usage\":{\"input_tokens\":120,\"output_tokens\":1,"
    "\"cache_read_input_tokens\":100}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"h\xc3\xa9llo\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void relays_the_stream_at_every_split(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    struct xl_request in = {.provider = &p, .model = "up-model", .client_model = "claude-opus-4-8"};
    size_t n = sizeof STREAM - 1;
    char *expected = NULL;
    for (size_t step = 1; step <= n; step += (step < 40 ? 1 : 37)) {
        struct err e;
        struct xl_stream *st = provider_anthropic.stream_new(&in, &e);
        struct evbuffer *out = evbuffer_new();
        int rc = XL_MORE;
        for (size_t i = 0; i < n; i += step)
            rc = provider_anthropic.stream_feed(st, STREAM + i, i + step > n ? n - i : step, out, &e);
        assert_int_equal(rc, XL_DONE);
        char *got = drain(out);
        if (!expected) {
            expected = got;
            assert_non_null(strstr(got, "\"model\":\"claude-opus-4-8\""));
            assert_null(strstr(got, "up-model"));
        } else {
            assert_string_equal(got, expected);
            free(got);
        }
        struct xl_usage u;
        provider_anthropic.stream_usage(st, &u);
        assert_int_equal(u.input_tokens, 120);
        assert_int_equal(u.output_tokens, 9);
        assert_int_equal(u.cache_read_input_tokens, 100);
        provider_anthropic.stream_free(st);
        evbuffer_free(out);
    }
    /* all but the model is identical */
    char *want = calloc(1, sizeof STREAM + 16);
    memcpy(want, STREAM, sizeof STREAM);
    char *m = strstr(want, "up-model");
    memmove(m + 15, m + 8, strlen(m + 8) + 1);
    memcpy(m, "claude-opus-4-8", 15);
    assert_string_equal(expected, want);
    free(want);
    free(expected);
}

static void a_cut_stream_is_an_error(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    struct xl_request in = {.provider = &p, .model = "up", .client_model = "c"};
    struct err e;
    struct xl_stream *st = provider_anthropic.stream_new(&in, &e);
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(provider_anthropic.stream_feed(st, STREAM, 200, out, &e), XL_MORE);
    assert_int_equal(provider_anthropic.stream_end(st, out, &e), -1);
    assert_non_null(strstr(e.msg, "before message_stop"));
    provider_anthropic.stream_free(st);
    evbuffer_free(out);
}

static void fuzz_a_modified_body_without_model_is_refused_without_leak(void **state);
static void fuzz_multi_line_data_reaches_the_client_whole(void **state);

static void non_stream_answer_names_the_client_model(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    struct xl_request in = {.provider = &p, .model = "up", .client_model = "claude-haiku-5-5"};
    const char *body = "{\"id\":\"msg_1\",\"model\":\"up\",\"content\":[],"
                       "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}";
    struct evbuffer *out = evbuffer_new();
    struct xl_usage u = {0};
    assert_int_equal(provider_anthropic.response(&in, body, strlen(body), out, &u, NULL), 0);
    char *got = drain(out);
    assert_string_equal(got, "{\"id\":\"msg_1\",\"model\":\"claude-haiku-5-5\",\"content\":[],"
                             "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
    assert_int_equal(u.output_tokens, 4);
    free(got);
    struct err e;
    assert_int_equal(provider_anthropic.response(&in, "<html>", 6, out, &u, &e), -1);
    evbuffer_free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builds_every_fixture_with_only_the_model_changed),
        cmocka_unit_test(bearer_auth_is_a_provider_option),
        cmocka_unit_test(relays_the_stream_at_every_split),
        cmocka_unit_test(a_cut_stream_is_an_error),
        cmocka_unit_test(non_stream_answer_names_the_client_model),
        cmocka_unit_test(fuzz_a_modified_body_without_model_is_refused_without_leak),
        cmocka_unit_test(fuzz_multi_line_data_reaches_the_client_whole),
    };
    return cmocka_run_group_tests_name("anthropic", tests, NULL, NULL);
}

/* Found by fuzz_build_anthropic (tests/fuzz/regress/build_anthropic/): a body re-printed after
 * an edit (raw == NULL) that has no "model" leaked the replacement string. It is refused with a
 * message; LeakSanitizer (make asan) checks nothing is left behind. */
static void fuzz_a_modified_body_without_model_is_refused_without_leak(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    cJSON *body = cJSON_Parse("{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_non_null(body);
    struct xl_request in = {.body = body, .provider = &p, .model = "claude-x",
                            .client_model = "claude-opus-4-8"};
    struct xl_http_request out;
    xl_http_request_init(&out);
    struct err e = {0};
    assert_int_equal(provider_anthropic.build(&in, &out, &e), -1);
    assert_non_null(strstr(e.msg, "model"));
    xl_http_request_free(&out);
    cJSON_Delete(body);
}

/* Found by fuzz_stream_anthropic (tests/fuzz/regress/stream_anthropic/): an event whose data
 * came on several `data:` lines (legal SSE, e.g. pretty-printed JSON) went out as one `data:`
 * line holding raw newlines, so the client read only its first line and dropped the rest. */
static void fuzz_multi_line_data_reaches_the_client_whole(void **state) {
    (void)state;
    struct cfg_provider p = prov(NULL);
    cJSON *body = cJSON_Parse("{\"model\":\"c\",\"max_tokens\":1,\"stream\":true,\"messages\":[]}");
    struct xl_request in = {.body = body, .provider = &p, .model = "claude-x",
                            .client_model = "claude-opus-4-8", .stream = true};
    struct err e = {0};
    struct xl_stream *st = provider_anthropic.stream_new(&in, &e);
    assert_non_null(st);
    const char *up = "event: message_start\ndata: {\"type\":\"message_start\",\n"
                     "data:  \"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":3}}}\n\n"
                     "event: ping\ndata: {\ndata: \"type\":\"ping\"}\n\n"
                     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(provider_anthropic.stream_feed(st, up, strlen(up), out, &e), XL_DONE);
    char *s = drain(out);
    assert_string_equal(s, "event: message_start\ndata: {\"type\":\"message_start\",\n"
                           "data:  \"message\":{\"model\":\"claude-opus-4-8\",\"usage\":{\"input_tokens\":3}}}\n\n"
                           "event: ping\ndata: {\ndata: \"type\":\"ping\"}\n\n"
                           "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    struct xl_usage u;
    provider_anthropic.stream_usage(st, &u);
    assert_int_equal(u.input_tokens, 3);
    free(s);
    evbuffer_free(out);
    provider_anthropic.stream_free(st);
    cJSON_Delete(body);
}
