/* json5: a JSON5 reader that builds cJSON trees (what Claude Code Router's config.json allows).
 *
 * Accepted on top of JSON: `//` and `/ * * /` comments, trailing commas in objects and arrays,
 * single-quoted strings, unquoted identifier keys, JSON5 string escapes (\' \v \0-free \xHH,
 * line continuations), numbers with a leading `+`, a leading or trailing `.`, and hexadecimal
 * (`0x1F`), and the JSON5 extra whitespace (\v \f, NBSP, BOM, U+2028/2029).
 * Refused: `Infinity` / `NaN` (cJSON cannot represent them), a NUL character in a string
 * (`\u0000`), lone UTF-16 surrogates, nesting deeper than JSON5_MAX_DEPTH, anything after the
 * value but whitespace and comments.
 *
 * Valid strict JSON gives the same tree as cJSON_Parse (same types, values, order, duplicate
 * members kept).
 *
 * Errors say where: "<name>:<line>:<column>: <what>", line and column counted from 1, the
 * column in characters (UTF-8 sequences count once). */
#ifndef CCRELAY_JSON5_H
#define CCRELAY_JSON5_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

#define JSON5_MAX_DEPTH 1000 /* cJSON_Parse's own limit (CJSON_NESTING_LIMIT) */

/* Parse `len` bytes of `text` (need not be NUL-terminated). Returns a tree the caller frees
 * with cJSON_Delete, or NULL with `err` set (kind ERR_CONFIG, message "<line>:<col>: ..."). */
cJSON *json5_parse(const char *text, size_t len, struct err *err);

/* The same, with `name` (a file name; may be NULL) leading the message: "name:12:5: ...". */
cJSON *json5_parse_named(const char *text, size_t len, const char *name, struct err *err);

#endif
