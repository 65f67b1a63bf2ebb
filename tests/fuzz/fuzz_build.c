/* fuzz_build_<format>: a provider's build() on any Anthropic request body (mutated from the
 * Claude Code fixtures): it either fails with a message or produces a URL and a body; for the
 * translating formats that body is JSON. For the pass-through, the build that moves the raw bytes
 * out of their buffer (raw_buf) gives the same bytes as the one that copies them. Input: byte 0 =
 * provider (low nibble), bit 4 = the body was modified (raw bytes not given), bit 5 = stream;
 * then the request body. */
#include "fuzz_xl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (!body) return 0;
    struct fz_prov pv;
    if (fz_prov_init(&pv, FZ_FMT, mode & 15) != 0) {
        cJSON_Delete(body);
        return 0;
    }
    struct http_hdrs ch;
    http_hdrs_init(&ch);
    http_hdrs_add(&ch, "authorization", "Bearer client-token");
    http_hdrs_add(&ch, "anthropic-beta", "interleaved-thinking-2025-05-14,context-1m-2025-08-07");
    http_hdrs_add(&ch, "anthropic-version", "2023-06-01");
    http_hdrs_add(&ch, "x-claude-code-session-id", "fuzz-session");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    struct xl_request in = {.body = body, .raw = mode & 16 ? NULL : (const char *)data,
                            .raw_len = mode & 16 ? 0 : size, .client_headers = &ch,
                            .provider = &pv.p, .model = "up-model-1",
                            .client_model = cJSON_IsString(m) ? m->valuestring : "claude-x",
                            .api_key = "sk-fuzz-key", .stream = (mode & 32) != 0};
    struct xl_http_request out;
    xl_http_request_init(&out);
    struct err e = {0};
    if (FZ_OPS.build(&in, &out, &e) == 0) {
        assert(out.url && out.body);
        if (FZ_FMT != FMT_ANTHROPIC || !in.raw) {
            size_t n;
            char *s = fz_drain(out.body, &n);
            if (s) {
                cJSON *j = cJSON_ParseWithLength(s, n);
                assert(j && "the upstream body is JSON");
                cJSON_Delete(j);
                free(s);
            }
        }
        if (FZ_FMT == FMT_ANTHROPIC && in.raw) {
            struct evbuffer *src = evbuffer_new();
            struct xl_http_request moved;
            xl_http_request_init(&moved);
            struct err e2 = {0};
            if (src && evbuffer_add(src, data, size) == 0) {
                struct xl_request in2 = in;
                in2.raw_buf = src;
                int rc = FZ_OPS.build(&in2, &moved, &e2);
                assert(rc == 0 && evbuffer_get_length(src) == 0);
                size_t n1, n2;
                char *a = fz_drain(out.body, &n1), *b = fz_drain(moved.body, &n2);
                if (a && b) assert(n1 == n2 && memcmp(a, b, n1) == 0);
                free(a);
                free(b);
            }
            xl_http_request_free(&moved);
            if (src) evbuffer_free(src);
        }
    } else {
        assert(e.msg[0] && "a failed build says why");
    }
    xl_http_request_free(&out);
    http_hdrs_free(&ch);
    fz_prov_free(&pv);
    cJSON_Delete(body);
    return 0;
}
