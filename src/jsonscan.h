/* jsonscan: find a value in JSON text without parsing it into a tree, so that a body we only
 * forward can have one field rewritten (the model name) and stay byte for byte the same
 * elsewhere. The text is assumed to be valid JSON (it was parsed once already, or comes from a
 * provider); on malformed text the functions fail, never read out of bounds. */
#ifndef CCRELAY_JSONSCAN_H
#define CCRELAY_JSONSCAN_H

#include <stddef.h>

#include <event2/buffer.h>

/* Find the value at an object-key path (e.g. {"message","model"}). On success sets
 * [*start, *end) to the value's bytes (quotes included for strings) and returns 0; -1 when
 * absent or malformed. */
int jsonscan_find(const char *s, size_t n, const char *const *path, size_t depth, size_t *start,
                  size_t *end);

/* Append `s` to out with the string value at `path` replaced by `value` (JSON-escaped here).
 * Returns 0, or -1 when the path does not name a string (out is then untouched). */
int jsonscan_replace_string(const char *s, size_t n, const char *const *path, size_t depth,
                            const char *value, struct evbuffer *out);

/* The same, taking the text from `src` (pulled up here): the bytes before and after the value
 * are moved into out, not copied (libevent passes whole chains on), and src is left empty.
 * Returns 0, or -1 when the path does not name a string (src and out are then untouched) or on
 * an allocation failure (src may then be partly consumed). */
int jsonscan_move_replace_string(struct evbuffer *src, const char *const *path, size_t depth,
                                 const char *value, struct evbuffer *out);

#endif
