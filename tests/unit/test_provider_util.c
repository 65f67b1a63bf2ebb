/* provider util: error mapping (§5.2 table, retry hints, errata O5/O6/O14), ids, names, the
 * thinking carrier, argument repair, the JSON writer and the Anthropic event writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/util.h"

/* ------------------------------------------------------------------------------------------ */
/* errors */

static struct xl_error map(int status, const char *body, const char *h1, const char *v1) {
    struct http_hdrs h = {0};
    if (h1) assert_int_equal(xl_hdrs_add(&h, h1, v1), 0);
    struct xl_error e;
    assert_int_equal(xl_map_upstream_error(status, &h, body, body ? strlen(body) : 0, "openrouter",
                                           "x-ai/grok-4", &e),
                     0);
    for (size_t i = 0; i < h.n; i++) {
        free(h.v[i].name);
        free(h.v[i].value);
    }
    free(h.v);
    return e;
}

static void error_table_rows(void **state) {
    (void)state;
    struct {
        int status;
        const char *body;
        int want_status;
        const char *want_type;
    } rows[] = {
        {400, "{\"error\":{\"message\":\"bad field\",\"type\":\"invalid_request_error\"}}", 400, "invalid_request_error"},
        {422, "{\"detail\":\"unprocessable\"}", 400, "invalid_request_error"},
        {401, "{\"error\":{\"message\":\"Invalid API key\"}}", 502, "api_error"}, /* O6 */
        {400, "{\"error\":{\"code\":400,\"message\":\"API key not valid.\",\"status\":\"INVALID_ARGUMENT\","
              "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\"}]}}",
         502, "api_error"},
        {402, "{\"error\":{\"code\":402,\"message\":\"Insufficient credits\"}}", 402, "billing_error"},
        {403, "{\"error\":{\"code\":403,\"message\":\"flagged\",\"metadata\":{\"reasons\":[\"violence\"]}}}", 403, "permission_error"},
        {400, "[{\"error\":{\"code\":400,\"message\":\"User location is not supported\",\"status\":\"FAILED_PRECONDITION\"}}]", 403, "permission_error"},
        {404, "{\"error\":\"model 'qwen3' not found, try pulling it first\"}", 404, "not_found_error"},
        {408, "timeout", 504, "timeout_error"},
        {504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, "timeout_error"},
        {413, "{\"error\":{\"message\":\"Request too large for model\"}}", 413, "request_too_large"},
        {429, "{\"error\":{\"message\":\"Rate limit exceeded: free-models-per-min\"}}", 429, "rate_limit_error"},
        {429, "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}", 429, "rate_limit_error"},
        {400, "{\"error\":{\"message\":\"Failed to call a function\",\"type\":\"invalid_request_error\",\"code\":\"tool_use_failed\"}}", 502, "api_error"},
        {500, "{\"error\":{\"message\":\"internal\"}}", 502, "api_error"},
        {502, "<html>Bad gateway</html>", 502, "api_error"},
        {522, "<!DOCTYPE html><html><head><title>Connection timed out</title></head></html>", 502, "api_error"},
        {503, "{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}", 529, "overloaded_error"},
        {529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", 529, "overloaded_error"},
        {498, "{\"error\":{\"message\":\"capacity\"}}", 529, "overloaded_error"},
        {503, "{\"error\":{\"message\":\"No instances available\"}}", 503, "api_error"}, /* O6 */
        {400, "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"code\":400}", 400, "invalid_request_error"},
        {500, "plain text failure", 502, "api_error"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct xl_error e = map(rows[i].status, rows[i].body, NULL, NULL);
        if (e.status != rows[i].want_status || strcmp(e.type, rows[i].want_type) != 0)
            fail_msg("row %zu: got %d %s, want %d %s (%s)", i, e.status, e.type, rows[i].want_status,
                     rows[i].want_type, e.message);
        assert_non_null(strstr(e.message, "openrouter/x-ai/grok-4"));
        assert_true(strlen(e.message) <= XL_ERROR_MSG_MAX);
        assert_null(strchr(e.message, '<')); /* HTML stripped */
    }
    /* messages carry the upstream text and status; key errors say what to do */
    struct xl_error e = map(401, "{\"error\":{\"message\":\"Invalid API key\"}}", NULL, NULL);
    assert_int_equal(e.should_retry, 0);
    assert_non_null(strstr(e.message, "Invalid API key"));
    assert_non_null(strstr(e.message, "401"));
    e = map(400, "{\"error\":{\"code\":\"tool_use_failed\",\"message\":\"x\"}}", NULL, NULL);
    assert_int_equal(e.should_retry, 1);
    e = map(404, "{\"error\":\"model 'qwen3' not found, try pulling it first\"}", NULL, NULL);
    assert_non_null(strstr(e.message, "ollama pull"));
    e = map(400, "{\"error\":{\"code\":400,\"message\":\"Provider returned error\",\"metadata\":{\"provider_name\":\"Anthropic\",\"raw\":\"x\"}}}", NULL, NULL);
    assert_non_null(strstr(e.message, "Anthropic"));
    /* in-stream errors (status 0): the body decides */
    e = map(0, "{\"error\":{\"code\":429,\"message\":\"slow down\"}}", NULL, NULL);
    assert_int_equal(e.status, 429);
    e = map(0, "{\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}", NULL, NULL);
    assert_string_equal(e.type, "overloaded_error");
    e = map(0, "{\"error\":{\"message\":\"boom\"}}", NULL, NULL);
    assert_string_equal(e.type, "api_error");
}

static void error_retry_after_variants(void **state) {
    (void)state;
    const char *b = "{\"error\":{\"message\":\"Rate limit\"}}";
    struct xl_error e = map(429, b, "retry-after-ms", "1500");
    assert_int_equal(e.retry_after_ms, 1500);
    assert_int_equal(e.should_retry, -1);
    e = map(429, b, "Retry-After", "2.5");
    assert_int_equal(e.retry_after_ms, 2500);
    e = map(429, b, "x-ratelimit-reset-tokens", "6m0s");
    assert_int_equal(e.retry_after_ms, 60000); /* clamped (O6) */
    assert_int_equal(e.should_retry, 0);
    e = map(429, b, "x-ratelimit-reset-requests", "250ms");
    assert_int_equal(e.retry_after_ms, 250);
    e = map(429, "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
                 "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"17s\"}]}}",
            NULL, NULL);
    assert_int_equal(e.retry_after_ms, 17000);
    e = map(429, "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
                 "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":\"GenerateRequestsPerDayPerProjectPerModel-FreeTier\"}]},"
                 "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"0.5s\"}]}}",
            NULL, NULL);
    assert_int_equal(e.retry_after_ms, 500);
    assert_int_equal(e.should_retry, 0); /* daily quota */
    e = map(429, "{\"error\":{\"message\":\"You exceeded your current quota\",\"code\":\"insufficient_quota\"}}", NULL, NULL);
    assert_int_equal(e.should_retry, 0);
    e = map(400, "{\"error\":{\"message\":\"bad\"}}", "retry-after", "5");
    assert_int_equal(e.retry_after_ms, -1); /* no retry hint on a 400 */
    /* O14: a 402 with Retry-After is a rate limit */
    e = map(402, "{\"error\":{\"code\":402,\"message\":\"credits\"}}", "retry-after", "3");
    assert_int_equal(e.status, 429);
    assert_string_equal(e.type, "rate_limit_error");
    assert_int_equal(e.retry_after_ms, 3000);
    e = map(503, "{\"error\":{\"message\":\"busy\"}}", "retry-after", "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_int_equal(e.retry_after_ms, 0); /* a date in the past */
    assert_int_equal(xl_parse_duration_ms("1h2m"), 3720000);
    assert_int_equal(xl_parse_duration_ms("junk"), -1);
}

static void error_context_overflow(void **state) {
    (void)state;
    /* O5: I < M with a completion part -> Claude Code's retryable wording */
    struct xl_error e = map(400,
                            "{\"error\":{\"message\":\"This model's maximum context length is 131072 tokens. However, you "
                            "requested 140000 tokens (100000 in the messages, 40000 in the completion). Please reduce "
                            "the length of the messages or completion.\",\"code\":\"context_length_exceeded\"}}",
                            NULL, NULL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_int_equal(strncmp(e.message,
                             "input length and `max_tokens` exceed context limit: 100000 + 40000 > 131072, "
                             "decrease input length or `max_tokens` and try again",
                             120),
                     0);
    assert_non_null(strstr(e.message, "(upstream: This model's maximum context length"));
    /* I >= M -> prompt is too long */
    e = map(400,
            "{\"error\":{\"code\":400,\"message\":\"The input token count (1200000) exceeds the maximum number of "
            "tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}",
            NULL, NULL);
    assert_int_equal(strncmp(e.message, "prompt is too long: 1200000 tokens > 1048576 maximum", 52), 0);
    /* unknown numbers */
    e = map(400, "{\"error\":{\"message\":\"context length exceeded\"}}", NULL, NULL);
    assert_int_equal(strncmp(e.message, "prompt is too long for x-ai/grok-4", 34), 0);
    /* OpenRouter: wording inside metadata.raw */
    e = map(400, "{\"error\":{\"code\":400,\"message\":\"Provider returned error\",\"metadata\":{\"raw\":\"prompt is too long: 210000 tokens > 200000 maximum\"}}}",
            NULL, NULL);
    assert_int_equal(strncmp(e.message, "prompt is too long: 210000 tokens > 200000 maximum", 50), 0);
}

static void error_masks_secrets_and_bounds(void **state) {
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"error\":{\"message\":\"key sk-or-v1-abcdef0123456789 and AIzaSyA1234567890abcdefg and Bearer abcdefghijk ", 104);
    memcpy(big + sizeof big - 4, "\"}}", 4);
    struct xl_error e = map(401, big, NULL, NULL);
    assert_null(strstr(e.message, "abcdef0123456789"));
    assert_null(strstr(e.message, "SyA1234567890"));
    assert_null(strstr(e.message, "abcdefghijk"));
    assert_true(strlen(e.message) <= XL_ERROR_MSG_MAX);
    char plain[] = "the task-manager123 failed; key sk-abcdefgh123 leaked";
    xl_mask_secrets(plain);
    assert_string_equal(plain, "the task-manager123 failed; key sk-*** leaked");
    /* error body */
    struct xl_buf b;
    xl_buf_init(&b);
    xl_error_body(&b, &e);
    cJSON *j = cJSON_Parse(xl_buf_cstr(&b));
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "type")->valuestring, "api_error");
    cJSON_Delete(j);
    xl_buf_free(&b);
    /* no body at all */
    e = map(503, NULL, NULL, NULL);
    assert_int_equal(e.status, 503);
}

/* ------------------------------------------------------------------------------------------ */
/* ids, names, carrier */

static void ids_and_names(void **state) {
    (void)state;
    char a[40], b[40];
    assert_int_equal(xl_mint_id("toolu_", a, sizeof a), 0);
    assert_int_equal(xl_mint_id("toolu_", b, sizeof b), 0);
    assert_int_equal(strlen(a), 30);
    assert_string_not_equal(a, b);
    for (size_t i = 6; i < 30; i++) assert_true(isalnum((unsigned char)a[i]));
    char small[10];
    assert_int_equal(xl_mint_id("toolu_", small, sizeof small), -1);

    char c[XL_TOOL_ID_MAX + 1];
    xl_tool_id_canon("functions.Bash:0", c);
    assert_string_equal(c, "functions_Bash_0");
    xl_tool_id_canon("toolu_Qm3Tz8Rb1Kx6Vn2Lp9Hc4Wd7__gs20_CpwBAdHtim9xQ3Y1cW5z", c);
    assert_string_equal(c, "toolu_Qm3Tz8Rb1Kx6Vn2Lp9Hc4Wd7");
    const char *longid = "call_0123456789012345678901234567890123456789";
    xl_tool_id_canon(longid, c);
    assert_int_equal(strlen(c), 30);
    char c2[XL_TOOL_ID_MAX + 1];
    xl_tool_id_canon(longid, c2);
    assert_string_equal(c, c2); /* deterministic */
    struct xl_tool_id_parts parts;
    assert_true(xl_tool_id_split("toolu_Qm3Tz8Rb1Kx6Vn2Lp9Hc4Wd7__gi3_abc__gs4_AbC-", &parts));
    assert_int_equal(parts.gi_len, 3);
    assert_int_equal(parts.gs_len, 4);
    assert_false(xl_tool_id_split("toolu_Qm3Tz8Rb1Kx6Vn2Lp9Hc4Wd7__gs9_abc", &parts)); /* length mismatch */
    assert_false(xl_tool_id_split("call_1", &parts));

    char n[65];
    xl_tool_name_upstream("Bash", XL_NAMES_OPENAI, n);
    assert_string_equal(n, "Bash");
    xl_tool_name_upstream("mcp__server.tool", XL_NAMES_OPENAI, n);
    assert_true(xl_tool_name_valid(n, XL_NAMES_OPENAI));
    assert_int_equal(strncmp(n, "mcp__server_tool_", 17), 0);
    xl_tool_name_upstream("mcp__server.tool", XL_NAMES_GEMINI, n);
    assert_string_equal(n, "mcp__server.tool");
    char longname[100];
    memset(longname, 'a', 99);
    longname[99] = 0;
    xl_tool_name_upstream(longname, XL_NAMES_OPENAI, n);
    assert_int_equal(strlen(n), 64);
    xl_tool_name_upstream(longname, XL_NAMES_GEMINI, n);
    assert_int_equal(strlen(n), 63);
    xl_tool_name_upstream("9lives", XL_NAMES_GEMINI, n);
    assert_true(xl_tool_name_valid(n, XL_NAMES_GEMINI));

    struct xl_namemap m;
    xl_namemap_init(&m);
    assert_int_equal(xl_namemap_add(&m, "mcp__server.tool", XL_NAMES_OPENAI, n), 0);
    assert_int_equal(xl_namemap_add(&m, "Bash", XL_NAMES_OPENAI, n), 0);
    assert_int_equal(m.n, 1); /* only rewritten names are recorded */
    xl_tool_name_upstream("mcp__server.tool", XL_NAMES_OPENAI, n);
    assert_string_equal(xl_namemap_back(&m, n), "mcp__server.tool");
    assert_string_equal(xl_namemap_back(&m, "Bash"), "Bash");
    xl_namemap_free(&m);
}

static void carrier_round_trip(void **state) {
    (void)state;
    cJSON *rd = cJSON_Parse("[{\"type\":\"reasoning.encrypted\",\"data\":\"QUJD\",\"index\":0}]");
    struct xl_buf b;
    xl_buf_init(&b);
    xl_carrier_write(&b, "openrouter", "x-ai/grok-4.1-fast", rd, "sig==");
    const char *s = xl_buf_cstr(&b);
    assert_int_equal(strncmp(s, "ccrelay1.", 9), 0);
    for (const char *p = s + 9; *p; p++) assert_true(isalnum((unsigned char)*p) || *p == '-' || *p == '_');
    struct xl_carrier c;
    assert_int_equal(xl_carrier_read(s, &c), 1);
    assert_string_equal(c.p, "openrouter");
    assert_string_equal(c.m, "x-ai/grok-4.1-fast");
    assert_string_equal(c.gs, "sig==");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(c.rd, 0), "data")->valuestring, "QUJD");
    xl_carrier_free(&c);
    xl_buf_free(&b);
    cJSON_Delete(rd);
    /* the example of conversion.md §2.5 */
    assert_int_equal(xl_carrier_read("ccrelay1.eyJ2IjoxLCJwIjoib3BlbnJvdXRlciIsIm0iOiJ4LWFpL2dyb2stNC4xLWZhc3QifQ", &c), 1);
    assert_string_equal(c.m, "x-ai/grok-4.1-fast");
    xl_carrier_free(&c);
    assert_int_equal(xl_carrier_read("c2lnbmF0dXJlLWZyb20tY2FwdHVyZS1zZXJ2ZXI=", &c), 0);
    assert_int_equal(xl_carrier_read("ccrelay1.!!!", &c), 0);
    assert_int_equal(xl_carrier_read("", &c), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* argument repair (§3.6.2) */

static void args_repair(void **state) {
    (void)state;
    struct {
        const char *in;
        bool truncated;
        int rc;
        const char *out;
    } rows[] = {
        {"", false, 0, "{}"},
        {"  \n ", false, 0, "{}"},
        {"{\"a\":1}", false, 0, "{\"a\":1}"},
        {"{\"n\":9007199254740993}", false, 0, "{\"n\":9007199254740993}"}, /* raw text kept */
        {"```json\n{\"a\":1}\n```", false, 1, "{\"a\":1}"},
        {"{\"a\":1}{\"a\":1}", false, 1, "{\"a\":1}"},
        {"{\"a\":1} I called the tool.", false, 1, "{\"a\":1}"},
        {"\"{\\\"a\\\":1}\"", false, 1, "{\"a\":1}"},
        {"{\"a\":[1,2,],}", false, 1, "{\"a\":[1,2]}"},
        {"{\"a\":True,\"b\":None,\"c\":\"True\"}", false, 1, "{\"a\":true,\"b\":null,\"c\":\"True\"}"},
        {"{\"a\":\"unterminated", true, 1, "{\"a\":\"unterminated\"}"},
        {"{\"a\":[1,{\"b\":2", true, 1, "{\"a\":[1,{\"b\":2}]}"},
        {"{\"a\":\"unterminated", false, -1, NULL},
        {"[1,2]", false, -1, NULL},
        {"42", false, -1, NULL},
        {"not json", false, -1, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct xl_buf b;
        xl_buf_init(&b);
        const char *what = NULL;
        int rc = xl_tool_args_fix(rows[i].in, strlen(rows[i].in), rows[i].truncated, &b, &what);
        if (rc != rows[i].rc) fail_msg("row %zu (%s): rc %d, want %d", i, rows[i].in, rc, rows[i].rc);
        if (rows[i].out) assert_string_equal(xl_buf_cstr(&b), rows[i].out);
        if (rc == 1) assert_non_null(what);
        xl_buf_free(&b);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* JSON writer and Anthropic events */

static void json_writer_valid_utf8(void **state) {
    (void)state;
    struct xl_buf b;
    xl_buf_init(&b);
    struct xl_jw w;
    xl_jw_init(&w, &b);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "s", "a\"b\\c\n\x01 \xc3\xa9 \xff bad \xe2\x82");
    xl_jw_key(&w, "n");
    xl_jw_num(&w, 0.1);
    xl_jw_key(&w, "big");
    xl_jw_num(&w, 9007199254740991.0);
    xl_jw_key(&w, "nums");
    xl_jw_arr(&w);
    xl_jw_num(&w, -0.0);
    xl_jw_num(&w, 1e15);
    xl_jw_num(&w, -9e15);
    xl_jw_num(&w, 1e16);
    xl_jw_num(&w, -3.5);
    xl_jw_num(&w, 1e300);
    xl_jw_num(&w, 1.0000000000000002);
    xl_jw_arr_end(&w);
    xl_jw_key(&w, "arr");
    xl_jw_arr(&w);
    xl_jw_int(&w, 1);
    xl_jw_null(&w);
    xl_jw_bool(&w, true);
    xl_jw_arr_end(&w);
    cJSON *src = cJSON_Parse("{\"$schema\":\"x\",\"k\":{\"$schema\":\"inner kept\"},\"e\":[]}");
    static const char *const skip[] = {"$schema", NULL};
    xl_jw_key(&w, "c");
    xl_jw_cjson(&w, src, skip);
    xl_jw_obj_end(&w);
    assert_true(xl_jw_ok(&w));
    const char *s = xl_buf_cstr(&b);
    assert_string_equal(
        s, "{\"s\":\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \xef\xbf\xbd bad \xef\xbf\xbd\xef\xbf\xbd\","
           "\"n\":0.1,\"big\":9007199254740991,"
           "\"nums\":[0,1000000000000000,-9000000000000000,1e+16,-3.5,1e+300,"
           "1.0000000000000002],\"arr\":[1,null,true],"
           "\"c\":{\"k\":{\"$schema\":\"inner kept\"},\"e\":[]}}");
    cJSON_Delete(src);
    xl_buf_free(&b);
}

static void anthropic_event_writer(void **state) {
    (void)state;
    struct xl_aout a;
    struct err e = {0};
    assert_int_equal(xl_aout_init(&a, "claude-x", &e), 0);
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(xl_aout_text_start(&a, out, &e), 0); /* starts the message first */
    assert_int_equal(xl_aout_text(&a, "hi", 2, out, &e), 0);
    assert_int_equal(xl_aout_text(&a, "", 0, out, &e), 0); /* nothing */
    assert_int_equal(xl_aout_thinking_start(&a, out, &e), -1); /* a block is open */
    assert_int_equal(xl_aout_stop(&a, out, &e), 0);
    char big[70000];
    memset(big, 'a', sizeof big);
    memcpy(big + 32766, "\xe2\x82\xac", 3); /* a 3-byte char across the 32 KiB slice boundary */
    assert_int_equal(xl_aout_tool_start(&a, "toolu_x", "Bash", out, &e), 0);
    assert_int_equal(xl_aout_json(&a, big, sizeof big, out, &e), 0);
    assert_int_equal(xl_aout_stop(&a, out, &e), 0);
    struct xl_usage u = {10, 5, 1, 2};
    assert_int_equal(xl_aout_finish(&a, "tool_use", NULL, &u, 3, out, &e), 0);
    size_t n = evbuffer_get_length(out);
    char *s = calloc(1, n + 1);
    evbuffer_copyout(out, s, n);
    assert_int_equal(strncmp(s, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_", 71), 0);
    assert_non_null(strstr(s, "\"model\":\"claude-x\""));
    assert_non_null(strstr(s, "event: ping\n"));
    assert_non_null(strstr(s, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
    assert_non_null(strstr(s, "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_x\",\"name\":\"Bash\",\"input\":{}}}"));
    assert_null(strstr(s, "\xef\xbf\xbd")); /* no character was cut */
    int slices = 0;
    for (const char *p = s; (p = strstr(p, "input_json_delta")) != NULL; p++) slices++;
    assert_int_equal(slices, 3);
    assert_non_null(strstr(s, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
                              "\"usage\":{\"input_tokens\":10,\"output_tokens\":5,\"cache_creation_input_tokens\":2,"
                              "\"cache_read_input_tokens\":1,\"output_tokens_details\":{\"thinking_tokens\":3}}}"));
    assert_non_null(strstr(s, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    free(s);
    evbuffer_free(out);
    xl_aout_free(&a);
}

static void headers_and_hosts(void **state) {
    (void)state;
    assert_true(xl_header_is_private("Authorization"));
    assert_true(xl_header_is_private("x-api-key"));
    assert_true(xl_header_is_private("anthropic-beta"));
    assert_true(xl_header_is_private("X-Stainless-OS"));
    assert_true(xl_header_is_private("x-claude-code-session-id"));
    assert_true(xl_header_is_private("x-app"));
    assert_false(xl_header_is_private("x-title"));
    char h[64];
    xl_url_host("https://user:pw@OpenRouter.ai:443/api/v1", h, sizeof h);
    assert_string_equal(h, "openrouter.ai");
    xl_url_host("localhost:11434/v1", h, sizeof h);
    assert_string_equal(h, "localhost");
    unsigned char raw[3] = {0xfb, 0xff, 0x01};
    char enc[8];
    assert_int_equal(xl_b64url_encode(raw, 3, enc, sizeof enc), 4);
    assert_string_equal(enc, "-_8B");
    unsigned char dec[8];
    assert_int_equal(xl_b64url_decode("+/8B", 4, dec, sizeof dec), 3);
    assert_memory_equal(dec, raw, 3);
}

static void fuzz_huge_json_numbers_clamp(void **state);

/* The escaper's 16-byte fast path must agree with the byte loop at every offset and length:
 * each escaped string reads back, through cJSON, as the bytes it came from. */
static void escape_round_trips_at_every_alignment(void **state) {
    (void)state;
    static const char *const pieces[] = {"plain text ", "\"q\"", "\\", "\n", "\t", "\x01",
                                         "caf\xc3\xa9", "\xf0\x9f\x98\x80", "{\"k\":1}",
                                         "0123456789abcdef"};
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        char in[256];
        size_t n = 0;
        while (n < 200) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            size_t l = strlen(p);
            memcpy(in + n, p, l);
            n += l;
        }
        size_t cut = (seed >> 8) % n;
        struct xl_buf b;
        xl_buf_init(&b);
        xl_buf_add(&b, "\"", 1);
        xl_json_escape(&b, in + (round % 7), cut > (size_t)(round % 7) ? cut - (size_t)(round % 7) : 0);
        xl_buf_add(&b, "\"", 1);
        xl_buf_addc(&b, '\0');
        cJSON *j = cJSON_Parse(b.p);
        assert_non_null(j);
        size_t want = cut > (size_t)(round % 7) ? cut - (size_t)(round % 7) : 0;
        /* a cut inside a UTF-8 sequence becomes U+FFFD: compare only whole-ASCII prefixes */
        size_t k = 0;
        while (k < want && (unsigned char)in[round % 7 + k] < 0x80) k++;
        assert_memory_equal(j->valuestring, in + round % 7, k);
        cJSON_Delete(j);
        xl_buf_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_table_rows),
        cmocka_unit_test(error_retry_after_variants),
        cmocka_unit_test(error_context_overflow),
        cmocka_unit_test(error_masks_secrets_and_bounds),
        cmocka_unit_test(ids_and_names),
        cmocka_unit_test(carrier_round_trip),
        cmocka_unit_test(args_repair),
        cmocka_unit_test(json_writer_valid_utf8),
        cmocka_unit_test(anthropic_event_writer),
        cmocka_unit_test(headers_and_hosts),
        cmocka_unit_test(fuzz_huge_json_numbers_clamp),
        cmocka_unit_test(escape_round_trips_at_every_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Found by fuzz_stream_anthropic (tests/fuzz/regress/stream_anthropic/): a usage count of
 * 1e111 was cast to long, which is undefined behaviour (UBSan stops the process). Every JSON
 * number the translators read as an integer goes through xl_long / xl_int, which clamp. */
static void fuzz_huge_json_numbers_clamp(void **state) {
    (void)state;
    assert_int_equal(xl_long(1e111), 9007199254740992L);
    assert_int_equal(xl_long(-1e300), -9007199254740992L);
    assert_int_equal(xl_long(12345.9), 12345);
    assert_int_equal(xl_int(1e111), INT_MAX);
    assert_int_equal(xl_int(-1e111), INT_MIN);
    assert_int_equal(xl_int(429), 429);
    cJSON *j = cJSON_Parse("{\"error\":{\"code\":1e300,\"message\":\"m\"}}");
    char *s = cJSON_PrintUnformatted(j);
    struct xl_error xe;
    assert_int_equal(xl_map_upstream_error(500, NULL, s, strlen(s), "p", "m", &xe), 0);
    assert_true(xe.status >= 400);
    free(s);
    cJSON_Delete(j);
}
