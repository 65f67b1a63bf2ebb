/* fuzz_json5: the JSON5 reader of config files. Any bytes either give a tree or an error that
 * names a line and column; a tree prints back as JSON that cJSON reads again. */
#include <assert.h>

#include "err.h"
#include "fuzz.h"
#include "json5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct err e = {0};
    cJSON *j = json5_parse_named((const char *)data, size, "fuzz.json", &e);
    if (!j) {
        assert(e.msg[0]);
        return 0;
    }
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        cJSON *back = cJSON_Parse(s);
        assert(back);
        cJSON_Delete(back);
        free(s);
    }
    cJSON_Delete(j);
    return 0;
}
