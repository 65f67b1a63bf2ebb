/* openai: the OpenAI-compatible Chat Completions wire format (conversion.md §1-§3, errata O1-O14).
 * The translator itself is `provider_openai` (provider.h); this header adds what the relay and
 * the config loader need beside it. */
#ifndef CCRELAY_PROVIDER_OPENAI_H
#define CCRELAY_PROVIDER_OPENAI_H

#include "config.h"
#include "err.h"
#include "providers/provider.h"
#include "providers/util.h"

/* Check the provider's Claude Code Router `transformer` entries ({"use": [...], "<model>":
 * {"use": [...]}}): -1 with a clear ERR_CONFIG message for an unknown transformer name or a
 * malformed entry, 0 otherwise (also when there is no `transformer` key). */
int openai_check_transformers(const struct cfg_provider *p, struct err *err);

/* The provider profile whose defaults apply (§1.11): "openrouter", "deepseek", "groq", "xai",
 * "ollama", "vllm" (also llama.cpp and LM Studio), "openai" or "generic". Chosen by the knob
 * `profile`, then a profile transformer (openrouter, deepseek, groq), then the provider name,
 * then the URL host. Static string. */
const char *openai_profile_name(const struct cfg_provider *p, const char *model);

/* After a stream_feed / stream_end of provider_openai returned -1: the Anthropic error to send
 * as `event: error` once committed, or as the HTTP answer before (status, type, message, retry
 * hints; upstream error payloads mapped per §5.2, e.g. a Groq tool_use_failed event -> 502 api_error
 * retryable, an OpenRouter 429 chunk -> rate_limit_error). Returns 0, or -1 when the stream has
 * not failed. Note for the relay: on -1, `out` may already hold the events produced earlier in
 * the same call: write them first, then the error event. */
int openai_stream_error(const struct xl_stream *st, struct xl_error *out);

/* For a non-stream answer that response() refused with ERR_UPSTREAM (a 2xx body carrying an
 * error object), call xl_map_upstream_error(0, hdrs, body, len, ...) on the same body: status 0
 * lets the body's own code decide. */

#endif
