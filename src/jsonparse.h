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

/* cJSON's readings, shared with the other readers of raw JSON text (reqscan.c, json5.c):
 *   json_hex4: four hex digits at p into *out; -1 when one is not a hex digit (cJSON then
 *     reads the \u escape as U+0000).
 *   json_number: a number at p (before end): the run of bytes from "0123456789+-eE." given to
 *     strtod. Returns how many bytes strtod took (0: not a number), -1 when out of memory.
 *   json_put_utf8: code point cp as UTF-8 at o (1 to 4 bytes); returns the byte after. */
int json_hex4(const unsigned char *p, unsigned *out);
/*   json_escape_char: the byte a one-letter escape \e stands for (b f n r t " \ /), 0 for any
 *     other letter.
 *   json_unicode: the \u escape at p, before the string's end q, as cJSON reads it: returns the
 *     bytes it takes (6, or 12 for a surrogate pair) and the code point in *cp, or 0 when cJSON
 *     refuses it (too short, a lone low surrogate, a high one without its low half). */
unsigned char json_escape_char(unsigned char e);
size_t json_unicode(const unsigned char *p, const unsigned char *q, unsigned *cp);
long json_number(const unsigned char *p, const unsigned char *end, double *out);
char *json_put_utf8(char *o, unsigned long cp);

#endif
