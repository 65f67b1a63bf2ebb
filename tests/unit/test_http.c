/* http: request/response heads, chunked bodies and URLs as the server and the upstream client
 * see them, split at any point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http.h"

static enum http_parse_rc parse(const char *text, bool req, size_t max, struct http_head *h,
                                struct evbuffer **rest) {
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    enum http_parse_rc rc = http_parse_head(b, req, max, h);
    if (rest) *rest = b;
    else evbuffer_free(b);
    return rc;
}

static void parses_a_claude_code_request_head(void **state) {
    (void)state;
    struct http_head h;
    struct evbuffer *rest;
    assert_int_equal(parse("POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:3456\r\n"
                           "Authorization: Bearer abc\r\nContent-Length: 4\r\n"
                           "X-Claude-Code-Session-Id:  s1 \r\n\r\nbody",
                           true, 65536, &h, &rest),
                     HTTP_PARSE_OK);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.target, "/v1/messages?beta=true");
    assert_int_equal(h.content_length, 4);
    assert_true(h.keep_alive);
    assert_string_equal(http_hdrs_get(&h.hdrs, "x-claude-code-session-id"), "s1");
    assert_string_equal(http_hdrs_get(&h.hdrs, "AUTHORIZATION"), "Bearer abc");
    assert_string_equal(h.hdrs.v[0].name, "host"); /* names are lower-cased */
    assert_int_equal(evbuffer_get_length(rest), 4); /* the body stays in the buffer */
    evbuffer_free(rest);
    http_head_free(&h);
}

static void waits_for_the_whole_head_at_every_split(void **state) {
    (void)state;
    const char *full = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    size_t n = strlen(full);
    for (size_t cut = 0; cut < n; cut++) {
        struct evbuffer *b = evbuffer_new();
        struct http_head h;
        evbuffer_add(b, full, cut);
        assert_int_equal(http_parse_head(b, false, 65536, &h), HTTP_PARSE_NEED_MORE);
        evbuffer_add(b, full + cut, n - cut);
        assert_int_equal(http_parse_head(b, false, 65536, &h), HTTP_PARSE_OK);
        assert_int_equal(h.status, 429);
        assert_true(h.chunked);
        assert_string_equal(http_hdrs_get(&h.hdrs, "retry-after"), "7");
        http_head_free(&h);
        evbuffer_free(b);
    }
}

static void refuses_malformed_and_ambiguous_heads(void **state) {
    (void)state;
    static const char *const bad[] = {
        "GET\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct http_head h;
        assert_int_equal(parse(bad[i], true, 65536, &h, NULL), HTTP_PARSE_BAD);
    }
    struct http_head h;
    assert_int_equal(parse("HTTP/1.1 2x0 OK\r\n\r\n", false, 65536, &h, NULL), HTTP_PARSE_BAD);
}

static void bounds_the_head_size(void **state) {
    (void)state;
    char big[5000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    big[sizeof big - 1] = '\0';
    struct http_head h;
    assert_int_equal(parse(big, true, 1024, &h, NULL), HTTP_PARSE_TOO_LARGE);
}

static void keep_alive_follows_the_version_and_connection_header(void **state) {
    (void)state;
    struct http_head h;
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", true, 999, &h, NULL), HTTP_PARSE_OK);
    assert_false(h.keep_alive);
    http_head_free(&h);
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", true, 999, &h, NULL),
                     HTTP_PARSE_OK);
    assert_false(h.keep_alive);
    http_head_free(&h);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, 999, &h,
                           NULL),
                     HTTP_PARSE_OK);
    assert_true(h.keep_alive);
    http_head_free(&h);
}

static void decodes_chunked_bodies_at_every_split(void **state) {
    (void)state;
    const char *enc = "5\r\nhello\r\n1;ext=1\r\n \r\nC\r\nworld, again\r\n0\r\nTrailer: x\r\n\r\n";
    size_t n = strlen(enc);
    for (size_t step = 1; step <= n; step++) {
        struct http_chunked c = {0};
        struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
        enum http_chunk_rc rc = HTTP_CHUNK_MORE;
        for (size_t i = 0; i < n && rc == HTTP_CHUNK_MORE; i += step) {
            evbuffer_add(in, enc + i, i + step > n ? n - i : step);
            rc = http_chunked_decode(&c, in, out);
        }
        assert_int_equal(rc, HTTP_CHUNK_DONE);
        size_t m = evbuffer_get_length(out);
        assert_memory_equal(evbuffer_pullup(out, -1), "hello world, again", m);
        evbuffer_free(in);
        evbuffer_free(out);
    }
}

static void refuses_bad_chunk_sizes(void **state) {
    (void)state;
    static const char *const bad[] = {"zz\r\n", "5\r\nhelloXX", "-1\r\n",
                                      "ffffffffffffffffff\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct http_chunked c = {0};
        struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
        evbuffer_add(in, bad[i], strlen(bad[i]));
        assert_int_equal(http_chunked_decode(&c, in, out), HTTP_CHUNK_BAD);
        evbuffer_free(in);
        evbuffer_free(out);
    }
}

static void splits_provider_urls(void **state) {
    (void)state;
    struct http_url u;
    assert_int_equal(http_url_parse("https://openrouter.ai/api/v1/chat/completions", &u), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "openrouter.ai");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/api/v1/chat/completions");
    http_url_free(&u);
    assert_int_equal(http_url_parse("http://127.0.0.1:11434", &u), 0);
    assert_false(u.tls);
    assert_int_equal(u.port, 11434);
    assert_string_equal(u.path, "/");
    http_url_free(&u);
    assert_int_equal(http_url_parse("http://[::1]:8080/v1?x=1#frag", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.path, "/v1?x=1");
    http_url_free(&u);
    static const char *const bad[] = {"ftp://x/", "http://", "http://h:0/", "http://h:99999/",
                                      "http://user@h/", "https://h:x/", "openrouter.ai/api"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(http_url_parse(bad[i], &u), -1);
}

static void set_replaces_every_value_of_a_name(void **state) {
    (void)state;
    struct http_hdrs h;
    http_hdrs_init(&h);
    http_hdrs_add(&h, "x-title", "ccrelay");
    http_hdrs_add(&h, "accept", "text/event-stream");
    http_hdrs_add(&h, "X-Title", "again");
    assert_int_equal(http_hdrs_set(&h, "X-TITLE", "mine"), 0);
    assert_int_equal(h.n, 2);
    assert_string_equal(http_hdrs_get(&h, "x-title"), "mine");
    assert_string_equal(http_hdrs_get(&h, "accept"), "text/event-stream");
    http_hdrs_free(&h);
}

static void fuzz_refuses_a_status_below_100(void **state);

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_a_claude_code_request_head),
        cmocka_unit_test(waits_for_the_whole_head_at_every_split),
        cmocka_unit_test(refuses_malformed_and_ambiguous_heads),
        cmocka_unit_test(bounds_the_head_size),
        cmocka_unit_test(keep_alive_follows_the_version_and_connection_header),
        cmocka_unit_test(decodes_chunked_bodies_at_every_split),
        cmocka_unit_test(refuses_bad_chunk_sizes),
        cmocka_unit_test(splits_provider_urls),
        cmocka_unit_test(set_replaces_every_value_of_a_name),
        cmocka_unit_test(fuzz_refuses_a_status_below_100),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}

/* Found by fuzz_http_head (tests/fuzz/regress/http_head/): "HTTP/1.1 099 Continue" parsed as a
 * response with status 99, and "000" as status 0, which the error mapping reads as "no HTTP
 * error". A status is 100..999. */
static void fuzz_refuses_a_status_below_100(void **state) {
    (void)state;
    static const char *const bad[] = {"HTTP/1.1 099 Continue\r\n\r\n", "HTTP/1.1 000\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, bad[i], strlen(bad[i]));
        struct http_head h;
        assert_int_equal(http_parse_head(b, false, 65536, &h), HTTP_PARSE_BAD);
        evbuffer_free(b);
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    struct http_head h;
    assert_int_equal(http_parse_head(b, false, 65536, &h), HTTP_PARSE_OK);
    assert_int_equal(h.status, 100);
    http_head_free(&h);
    evbuffer_free(b);
}
