/* fuzz_jsonparse: json_parse against cJSON_ParseWithLength on any bytes: the same verdict, and
 * trees that compare equal (cJSON_Compare, keys and order included) and print the same. */
#include <assert.h>
#include <stdio.h>

#include "fuzz.h"
#include "jsonparse.h"

/* cJSON_Compare ignores key order and duplicate keys of objects: compare the shape too. */
static void same(const cJSON *a, const cJSON *b) {
    assert((a->type & 0xFF) == (b->type & 0xFF));
    assert((a->string == NULL) == (b->string == NULL));
    if (a->string) assert(strcmp(a->string, b->string) == 0);
    switch (a->type & 0xFF) {
    case cJSON_String:
        assert(strcmp(a->valuestring, b->valuestring) == 0);
        break;
    case cJSON_Number:
        assert(memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) == 0 ||
               (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble));
        assert(a->valueint == b->valueint);
        break;
    case cJSON_True:
        assert(a->valueint == b->valueint);
        break;
    default:
        break;
    }
    const cJSON *x = a->child, *y = b->child;
    if (x) assert(y && x->prev && y->prev);
    for (; x && y; x = x->next, y = y->next) {
        assert((x->next == NULL) == (y->next == NULL));
        same(x, y);
    }
    assert(!x && !y);
    if (a->child) {
        /* the first item's prev is the last (cJSON_AddItemToArray appends through it) */
        const cJSON *last = a->child;
        while (last->next)
            last = last->next;
        assert(a->child->prev == last && b->child->prev != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *want = cJSON_ParseWithLength((const char *)data, size);
    cJSON *got = json_parse((const char *)data, size);
    assert((want == NULL) == (got == NULL) && "the same verdict as cJSON");
    if (want) {
        same(want, got);
        char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
        assert(a && b && strcmp(a, b) == 0);
        cJSON_free(a);
        cJSON_free(b);
    }
    cJSON_Delete(want);
    cJSON_Delete(got);
    return 0;
}
