/* fuzz_http_head: HTTP/1.1 heads as the server (requests) and the upstream client (responses)
 * receive them: fed in arbitrary pieces, pipelined heads parsed one after another, and the
 * request target and any absolute URL through http_url_parse.
 * Input: byte 0 = mode (bit 0: response head; bits 1-2: head size limit; bit 3: the rest is a
 * URL for http_url_parse), byte 1 = split seed, then the bytes on the wire. */
#include <assert.h>
#include <stdbool.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "http.h"

static void url(const char *s) {
    struct http_url u;
    if (http_url_parse(s, &u) == 0) {
        assert(u.host && u.path && u.path[0] == '/' && u.port > 0 && u.port < 65536);
        http_url_free(&u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t mode = data[0];
    struct fz_split sp;
    fz_split_init(&sp, data[1]);
    data += 2;
    size -= 2;
    if (mode & 8) {
        char *s = fz_strndup(data, size);
        if (s) url(s);
        free(s);
        return 0;
    }
    static const size_t LIMITS[] = {64, 1024, 8192, 65536};
    bool is_request = !(mode & 1);
    size_t max = LIMITS[(mode >> 1) & 3];
    struct evbuffer *buf = evbuffer_new();
    if (!buf) return 0;
    size_t off = 0;
    bool stop = false;
    while (!stop && off < size) {
        size_t n = fz_split_next(&sp, size - off);
        evbuffer_add(buf, data + off, n);
        off += n;
        for (;;) {
            struct http_head h;
            enum http_parse_rc rc = http_parse_head(buf, is_request, max, &h);
            if (rc == HTTP_PARSE_NEED_MORE) break;
            if (rc != HTTP_PARSE_OK) {
                stop = true;
                break;
            }
            assert(h.content_length >= -1);
            if (is_request) {
                assert(h.method && h.target);
                url(h.target);
            } else {
                assert(h.status >= 100 && h.status <= 999);
            }
            for (size_t i = 0; i < h.hdrs.n; i++) {
                assert(h.hdrs.v[i].name && h.hdrs.v[i].value);
                assert(http_hdrs_get(&h.hdrs, h.hdrs.v[i].name));
            }
            http_head_free(&h);
        }
    }
    evbuffer_free(buf);
    return 0;
}
