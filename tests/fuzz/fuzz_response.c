/* fuzz_response_<format>: a provider's whole-body translation of a 2xx answer, and the mapping
 * of an upstream error body to an Anthropic error. Input: byte 0 = provider (low nibble),
 * request (bits 4-5), bit 6 = treat the rest as an error body; byte 1 = upstream status for the
 * error path; then the upstream body. A 2xx translation that succeeds is a JSON message. */
#include "fuzz_xl.h"
#include "providers/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t mode = data[0];
    int status = 400 + data[1] % 200;
    data += 2;
    size -= 2;
    if (mode & 64) {
        struct xl_error xe;
        static const int CODES[] = {0, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 529};
        if (data[-1] < sizeof CODES / sizeof CODES[0] * 4) status = CODES[data[-1] % 12];
        xl_map_upstream_error(status, NULL, (const char *)data, size, "prov", "model-x", &xe);
        assert(xe.type && xe.status >= 400 && strlen(xe.message) <= XL_ERROR_MSG_MAX);
        struct xl_buf b;
        xl_buf_init(&b);
        xl_error_body(&b, &xe);
        if (!b.oom) {
            cJSON *j = cJSON_ParseWithLength(b.p, b.len);
            assert(j && "the Anthropic error body is JSON");
            cJSON_Delete(j);
        }
        xl_buf_free(&b);
        return 0;
    }
    struct fz_prov pv;
    if (fz_prov_init(&pv, FZ_FMT, mode & 15) != 0) return 0;
    cJSON *body = cJSON_Parse(FZ_REQS[((mode >> 4) & 3) % FZ_NREQS]);
    struct evbuffer *out = evbuffer_new();
    if (body && out) {
        struct xl_request in = {.body = body, .provider = &pv.p, .model = "up-model-1",
                                .client_model = "claude-opus-4-8", .api_key = "sk-fuzz-key"};
        struct xl_usage u;
        struct err e = {0};
        /* the translators may require a NUL after the body; the relay gives them none */
        if (FZ_OPS.response(&in, (const char *)data, size, out, &u, &e) == 0) {
            size_t n;
            char *s = fz_drain(out, &n);
            if (s) {
                cJSON *j = cJSON_ParseWithLength(s, n);
                assert(j && "a translated response is JSON");
                cJSON_Delete(j);
                free(s);
            }
        } else {
            assert(e.msg[0] && "a failed translation says why");
        }
    }
    if (out) evbuffer_free(out);
    cJSON_Delete(body);
    fz_prov_free(&pv);
    return 0;
}
