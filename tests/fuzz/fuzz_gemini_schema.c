/* fuzz_gemini_schema: the Gemini tool-schema cleaner on any JSON. The writer (what the Gemini
 * request uses) gives byte for byte what printing the cleaned tree gives, for a declaration's
 * parameters and for any node; what it writes is JSON; and a cleaned root is within the subset
 * Gemini accepts (gemini_schema_check). Input: byte 0 = mode (bit 0 jsonschema, bit 1
 * gemini_anyof first, bit 2 gemini_empty_object placeholder), then the schema. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "providers/gemini_schema.h"
#include "providers/util.h"

static void same_bytes(const struct xl_buf *a, const struct xl_buf *b) {
    if (a->len != b->len || memcmp(a->p, b->p, a->len) != 0) {
        fprintf(stderr, "tree:   %.*s\nwriter: %.*s\n", (int)a->len, a->p, (int)b->len, b->p);
        assert(!"the writer gives the cleaned tree's bytes");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = (data[0] & 1 ? GEMINI_SCHEMA_JSONSCHEMA : GEMINI_SCHEMA_OPENAPI) |
                    (data[0] & 2 ? GEMINI_SCHEMA_ANYOF_FIRST : 0) |
                    (data[0] & 4 ? GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER : 0);
    cJSON *schema = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!schema) return 0;
    struct err e = {0};
    struct xl_buf a, b;
    struct xl_jw wa, wb;

    /* a declaration's parameters */
    xl_buf_init(&a);
    xl_buf_init(&b);
    xl_jw_init(&wa, &a);
    xl_jw_init(&wb, &b);
    xl_jw_obj(&wa);
    xl_jw_obj(&wb);
    cJSON *t = NULL;
    int rc = gemini_schema_clean(schema, mode, &t, &e);
    assert(rc == 0);
    if (t) {
        char why[512];
        if (gemini_schema_check(t, 1, why, sizeof why) != 0) {
            fprintf(stderr, "rejected: %s\n", why);
            assert(!"a cleaned root is accepted by the strict check");
        }
        xl_jw_key(&wa, "parameters");
        xl_jw_cjson(&wa, t, NULL);
    }
    rc = gemini_schema_write(&wb, "parameters", schema, mode, &e);
    assert(rc == (t ? 1 : 0));
    cJSON_Delete(t);
    xl_jw_obj_end(&wa);
    xl_jw_obj_end(&wb);
    assert(xl_jw_ok(&wa) && xl_jw_ok(&wb));
    same_bytes(&a, &b);
    cJSON *back = cJSON_ParseWithLength(b.p, b.len);
    assert(back && "the writer's output is JSON");
    cJSON_Delete(back);
    xl_buf_free(&a);
    xl_buf_free(&b);

    /* any node (a structured-output schema) */
    xl_buf_init(&a);
    xl_buf_init(&b);
    xl_jw_init(&wa, &a);
    xl_jw_init(&wb, &b);
    t = NULL;
    assert(gemini_schema_clean_node(schema, mode, &t, &e) == 0);
    xl_jw_cjson(&wa, t, NULL);
    cJSON_Delete(t);
    assert(gemini_schema_write_node(&wb, schema, mode, &e) == 0);
    assert(xl_jw_ok(&wa) && xl_jw_ok(&wb));
    same_bytes(&a, &b);
    xl_buf_free(&a);
    xl_buf_free(&b);
    cJSON_Delete(schema);
    return 0;
}
