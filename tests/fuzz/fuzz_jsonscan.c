/* fuzz_jsonscan: finding and replacing a value in JSON text without a parse, on any bytes (the
 * functions promise to fail on malformed text, never read out of bounds). When the text is
 * valid JSON, a replacement gives valid JSON with the new value at the path.
 * Input: byte 0 = path (top-level "model", "message"."model", or "a"."b"."c"), then the text. */
#include <assert.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const P1[] = {"model"};
    static const char *const P2[] = {"message", "model"};
    static const char *const P3[] = {"a", "b", "c"};
    static const char *const *const PATHS[] = {P1, P2, P3};
    static const size_t DEPTH[] = {1, 2, 3};
    unsigned k = data[0] % 3;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    /* an exact-size copy: out-of-bounds reads show */
    char *t = malloc(n ? n : 1);
    if (!t) return 0;
    if (n) memcpy(t, s, n);
    size_t a, b;
    if (jsonscan_find(t, n, PATHS[k], DEPTH[k], &a, &b) == 0) assert(a < b && b <= n);
    struct evbuffer *out = evbuffer_new();
    if (out) {
        const char *value = data[0] & 128 ? "new\"model\\\n\x01\xc3\xa9" : "m";
        if (jsonscan_replace_string(t, n, PATHS[k], DEPTH[k], value, out) == 0) {
            cJSON *in = cJSON_ParseWithLength(t, n);
            if (in) {
                size_t on = evbuffer_get_length(out);
                const char *o = (const char *)evbuffer_pullup(out, -1);
                cJSON *j = o ? cJSON_ParseWithLength(o, on) : NULL;
                assert(!o || j);
                const cJSON *v = j;
                for (size_t i = 0; v && i < DEPTH[k]; i++)
                    v = cJSON_GetObjectItemCaseSensitive(v, PATHS[k][i]);
                (void)v; /* duplicate keys make "which one" ambiguous: only validity is checked */
                cJSON_Delete(j);
                cJSON_Delete(in);
            }
        } else {
            assert(evbuffer_get_length(out) == 0);
        }
        evbuffer_free(out);
    }
    free(t);
    return 0;
}
