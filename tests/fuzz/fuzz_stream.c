/* fuzz_stream_<format>: a provider's stream translator fed an upstream byte stream in arbitrary
 * pieces, then the end of the body. Input: byte 0 = provider (low nibble) and request (high
 * nibble) variants, byte 1 = split seed, then the upstream body. Whatever the bytes, the
 * translator writes only well-formed Anthropic SSE, fails with a message, and leaks nothing. */
#include "fuzz_xl.h"
#include "providers/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    struct fz_prov pv;
    if (fz_prov_init(&pv, FZ_FMT, data[0] & 15) != 0) return 0;
    cJSON *body = cJSON_Parse(FZ_REQS[(data[0] >> 4) % FZ_NREQS]);
    struct evbuffer *out = evbuffer_new();
    struct xl_stream *st = NULL;
    struct err e = {0};
    if (!body || !out) goto done;
    struct fz_split sp;
    fz_split_init(&sp, data[1]);
    data += 2;
    size -= 2;
    struct xl_request in = {.body = body, .provider = &pv.p, .model = "up-model-1",
                            .client_model = "claude-opus-4-8", .api_key = "sk-fuzz-key",
                            .stream = true};
    st = FZ_OPS.stream_new(&in, &e);
    if (!st) goto done;
    int rc = XL_MORE;
    size_t off = 0;
    while (rc == XL_MORE && off < size) {
        size_t n = fz_split_next(&sp, size - off);
        rc = FZ_OPS.stream_feed(st, (const char *)data + off, n, out, &e);
        off += n;
    }
    if (rc == XL_MORE) rc = FZ_OPS.stream_end(st, out, &e);
    if (rc < 0) {
        assert(e.msg[0] && "a failed stream says why");
        struct xl_error xe;
        if (provider_stream_error(FZ_FMT, st, &xe) == 0) assert(xe.type && xe.status >= 400);
    }
    struct xl_usage u;
    FZ_OPS.stream_usage(st, &u);
#if defined(FUZZ_FORMAT_anthropic)
    /* the pass-through: the client parses the events the upstream sent, in order, up to
     * message_stop or error, each with the same data (message_start's model and the error's
     * masked text aside), whether or not the stream ended properly */
    {
        struct fz_events up = {.stop_at_end = 1}, down = {0};
        size_t n;
        char *s = fz_drain(out, &n);
        if (s && fz_events_parse(&up, (const char *)data, size, 0) == 0 &&
            fz_events_parse(&down, s, n, 0) == 0) {
            assert(up.n == down.n && "the pass-through lost or split events");
            for (size_t i = 0; i < up.n; i++) {
                assert(strcmp(up.name[i], down.name[i]) == 0);
                /* message_start carries the client's model; an error's text is masked */
                if (strcmp(up.name[i], "message_start") != 0 && strcmp(up.name[i], "error") != 0)
                    assert(up.len[i] == down.len[i] &&
                           memcmp(up.data[i], down.data[i], up.len[i]) == 0);
            }
        }
        free(s);
        fz_events_free(&up);
        fz_events_free(&down);
    }
#else
    fz_check_anthropic_sse(out);
#endif
done:
    if (st) FZ_OPS.stream_free(st);
    if (out) evbuffer_free(out);
    cJSON_Delete(body);
    fz_prov_free(&pv);
    return 0;
}
