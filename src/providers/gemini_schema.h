/* gemini_schema: Anthropic tool schemas (JSON Schema, as Claude Code writes them) cleaned to the
 * subset Gemini's function declarations accept (conversion.md §4.4, errata G2, G8, addendum R11).
 *
 * The cleaner reads the client's schema and builds a new tree; it never modifies its input.
 * Passes run on schema positions only (the root, values under `properties`, `items`, branches of
 * anyOf/oneOf/allOf, inlined $defs targets): a property named `format` or `default` is data.
 * What a dropped keyword meant is kept as a note in the node's description (P10), so the model
 * still sees it (default values, formats, "greater than 0", ...).
 *
 * Both schema modes get the same cleaned tree (the strict subset is valid in both); the mode only
 * decides the declaration field: `parameters` (openapi) or `parametersJsonSchema` (jsonschema).
 * No state: every call is independent (no cache, no globals). */
#ifndef CCRELAY_GEMINI_SCHEMA_H
#define CCRELAY_GEMINI_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

struct xl_jw; /* providers/util.h */

enum gemini_schema_mode { GEMINI_SCHEMA_OPENAPI = 0, GEMINI_SCHEMA_JSONSCHEMA = 1 };
/* Flags that may be or-ed into the mode argument, for older models (§4.4 knobs):
 *   ANYOF_FIRST (gemini_anyof: first): a union keeps its first branch, the others become a note;
 *   EMPTY_OBJECT_PLACEHOLDER (gemini_empty_object: placeholder): a nested object without
 *   properties gets one optional string property `json` (models that refuse property-less
 *   objects). */
enum { GEMINI_SCHEMA_ANYOF_FIRST = 1 << 4, GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER = 1 << 5 };

/* Clean a tool's `input_schema` for use as a function declaration's parameters.
 * On success returns 0 and sets *out to a new tree (caller cJSON_Delete's it), or to NULL when the
 * tool takes no parameters (no properties left: Gemini rejects an OBJECT with empty properties,
 * so the declaration must omit `parameters`). A union at the root is folded into one object
 * (all properties, the common `required`). Returns -1 on allocation failure (err set). */
int gemini_schema_clean(const cJSON *schema, unsigned mode, cJSON **out, struct err *err);

/* Clean any schema node (not only a root), e.g. a structured-output schema. Never NULL on success;
 * -1 on allocation failure. */
int gemini_schema_clean_node(const cJSON *schema, unsigned mode, cJSON **out, struct err *err);

/* The same two, written straight into a JSON writer (no output tree for the shapes tool schemas
 * have; a node with $ref, allOf or a union is cleaned as a tree and printed in place). The output
 * is byte for byte what printing the cleaned tree gives.
 *   gemini_schema_write: writes `"<key>":<cleaned schema>` into the open object of w and returns
 *     1, or writes nothing and returns 0 when the tool takes no parameters (as gemini_schema_clean
 *     gives NULL).
 *   gemini_schema_write_node: writes the cleaned node as a value; returns 0.
 * Both return -1 on allocation failure (err set); the writer may then hold a partial value (the
 * caller drops the whole buffer). `schema` is borrowed for the call. */
int gemini_schema_write(struct xl_jw *w, const char *key, const cJSON *schema, unsigned mode,
                        struct err *err);
int gemini_schema_write_node(struct xl_jw *w, const cJSON *schema, unsigned mode, struct err *err);

/* Strict check of a cleaned schema against the subset Gemini accepts: only allowed keywords,
 * `anyOf` alone in its node, valid types, `enum` only of strings on strings, `properties` only on
 * objects and never empty, `required` names that exist, `items` on every array, allowed formats,
 * RE2-compatible patterns. `root` asks for an object at the top. Returns 0 when accepted, else -1
 * with a description of the first problem (JSON-pointer-like path) in why. */
int gemini_schema_check(const cJSON *schema, int root, char *why, size_t whylen);

/* 1 when a `pattern` uses constructs RE2 (Gemini's regex engine) rejects: lookaround,
 * backreferences, atomic groups. */
int gemini_pattern_unsupported(const char *pattern);

#endif
