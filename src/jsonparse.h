/* jsonparse: a JSON text to a cJSON tree, the same tree cJSON_ParseWithLength gives (cJSON 1.7.15
 * as Debian ships it: what it accepts and refuses, its string decoding, its numbers), in less
 * time on the long strings Claude Code's requests are made of: strings are found and copied in
 * runs instead of byte by byte. The tree's memory comes from cJSON's allocator (its hooks), so
 * the caller frees it with cJSON_Delete as any cJSON tree.
 *
 * The equality is checked by the `jsonparse` fuzz target (any input: the same verdict and an
 * equal tree, printed the same) and by test_jsonparse on the fixtures. No state. */
#ifndef CCRELAY_JSONPARSE_H
#define CCRELAY_JSONPARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Parses the n bytes at p (not NUL-terminated; borrowed for the call). NULL when cJSON would
 * refuse the text, or when memory runs out. */
cJSON *json_parse(const char *p, size_t n);

#endif
