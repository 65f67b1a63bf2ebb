/* openai: the OpenAI-compatible Chat Completions wire format (conversion.md §1-§3, errata O1-O14,
 * addendum R1-R11). The translator itself is `provider_openai` (provider.h); this header adds
 * what the relay and the config loader need beside it.
 *
 * Knobs (provider `model_options["<model>"]`, then `options`; defaults from the profile):
 *   profile                     force a profile (see openai_profile_name)
 *   max_tokens / model_max_output   output cap; default 32000, DeepSeek 8192 (*chat*) / 65536;
 *                               also CCR's ["maxtoken", {"max_tokens": N}]
 *   max_tokens_field            "max_tokens" | "max_completion_tokens" (Groq, OpenAI default);
 *                               also `max_completion_tokens: true`, CCR "maxcompletiontokens"
 *   reasoning_style             openrouter | openai | deepseek | groq | none
 *   efforts                     list of efforts the model takes (O7, O12: nearest listed below)
 *   reasoning_off               explicit (default) | omit (models that cannot stop reasoning)
 *   reasoning_content_roundtrip all (default, O1) | tool_turns | never      (DeepSeek)
 *   reasoning_details_roundtrip true; reasoning_details_same_model_only true (OpenRouter)
 *   inline_system               keep | hoist | as_user (default as_user for ollama and vllm, O4)
 *   keep_cache_control          default on for OpenRouter models "anthropic/..." and
 *                               "google/gemini..." (off with CCR "cleancache"); at most the
 *                               last 4 markers
 *   vision, supports_pdf, supports_pdf_url, image_url_mode (pass | placeholder: Ollama)
 *   supports_top_k, supports_json_schema, supports_parallel_tool_calls_param, supports_prefill
 *   stream_options (true), flatten_user_content (DeepSeek), system_as_string_only,
 *   assistant_empty_content (null | omit | ""), empty_tool_result_text ("(no output)"),
 *   textualize_orphan_tool_history (true), forward_user (false), updates_show_reasoning (false)
 *   tool_stream                 buffered (default) | live;  invalid_tool_args: wrap | error
 *   think_tags                  a leading <think>...</think> in content is reasoning (false)
 *   schema_profile              "gemini": tool schemas through the Gemini cleaner (endpoints
 *                               that front Gemini or similarly strict backends)
 *   extra_headers, extra_body   merged last (a null in extra_body deletes a key); CCR
 *                               "customparams" options are an extra_body
 *   provider, models, plugins   OpenRouter body fields; http_referer, x_title headers
 * CCR transformers with a meaning here: openrouter, deepseek, groq (profiles), maxtoken,
 * maxcompletiontokens, cleancache, sampling (top_k), customparams; the others are accepted and
 * have nothing left to do (the translator already does what they did). */
#ifndef CCRELAY_PROVIDER_OPENAI_H
#define CCRELAY_PROVIDER_OPENAI_H

#include <stdbool.h>

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
 * hints; upstream error payloads mapped per §5.2, e.g. a Groq tool_use_failed event -> 502
 * api_error retryable, an OpenRouter 429 chunk -> rate_limit_error). Returns 0, or -1 when the
 * stream has not failed. Note for the relay: on -1, `out` may already hold the events produced
 * earlier in the same call: write them first, then the error event. */
int openai_stream_error(const struct xl_stream *st, struct xl_error *out);

/* True when the upstream sent its finish_reason but neither usage nor [DONE] yet (§3.7): the
 * relay may arm a usage grace timer (1.5 s) and call stream_end when it fires; the message is
 * then completed with the usage known so far. */
bool openai_stream_awaiting_usage(const struct xl_stream *st);

/* For a non-stream answer that response() refused with ERR_UPSTREAM (a 2xx body carrying an
 * error object), call xl_map_upstream_error(0, hdrs, body, len, ...) on the same body: status 0
 * lets the body's own code decide. */

#endif
