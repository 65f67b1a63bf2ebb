/* fuzz_http_chunked: the chunked transfer decoder (upstream bodies, client bodies) fed in
 * arbitrary pieces. Input: byte 0 = split seed, then the encoded body. Checks that the decoder
 * never produces more bytes than it was given and stops for good after DONE or BAD. */
#include <assert.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    struct fz_split sp;
    fz_split_init(&sp, data[0]);
    data++;
    size--;
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    if (!in || !out) goto done;
    struct http_chunked c = {0};
    size_t off = 0;
    enum http_chunk_rc rc = HTTP_CHUNK_MORE;
    while (rc == HTTP_CHUNK_MORE && off < size) {
        size_t n = fz_split_next(&sp, size - off);
        evbuffer_add(in, data + off, n);
        off += n;
        rc = http_chunked_decode(&c, in, out);
        assert(evbuffer_get_length(out) <= off);
    }
    if (rc == HTTP_CHUNK_DONE) assert(http_chunked_decode(&c, in, out) == HTTP_CHUNK_DONE);
done:
    if (in) evbuffer_free(in);
    if (out) evbuffer_free(out);
    return 0;
}
