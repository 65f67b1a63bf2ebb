/* fuzz_tokens: the token estimator on any text (tokens_text) and on any JSON body
 * (tokens_estimate, which walks whatever shape the client sent). Estimates are never negative. */
#include <assert.h>

#include "fuzz.h"
#include "tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    assert(tokens_text((const char *)data, size) >= 0);
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (body) {
        assert(tokens_estimate(body) >= 0);
        cJSON_Delete(body);
    }
    return 0;
}
