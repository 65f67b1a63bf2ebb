/* tokens: a cheap estimate of the input tokens a request costs the model.
 * Counts what the model will read: system, system messages, message text, tool_use input,
 * tool_result content, thinking text, and the tool definitions that will be sent (deferred
 * tools only once a tool_reference names them). Pure: no allocation beyond the call. */
#ifndef CCRELAY_TOKENS_H
#define CCRELAY_TOKENS_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Estimated tokens of a plain text. */
long tokens_text(const char *s, size_t len);
/* Estimated input tokens of an Anthropic Messages request body. */
long tokens_estimate(const cJSON *body);

#endif
