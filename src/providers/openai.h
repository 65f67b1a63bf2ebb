/* openai: the OpenAI-compatible Chat Completions wire format (conversion.md §1-§3, errata O1-O14).
 * The translator itself is `provider_openai` (provider.h); this header adds what the relay and
 * the config loader need beside it. */
#ifndef CCRELAY_PROVIDER_OPENAI_H
#define CCRELAY_PROVIDER_OPENAI_H

#include "config.h"
#include "err.h"
#include "providers/provider.h"

/* Check the provider's Claude Code Router `transformer` entries ({"use": [...], "<model>":
 * {"use": [...]}}): -1 with a clear ERR_CONFIG message for an unknown transformer name or a
 * malformed entry, 0 otherwise (also when there is no `transformer` key). */
int openai_check_transformers(const struct cfg_provider *p, struct err *err);

/* The provider profile whose defaults apply (§1.11): "openrouter", "deepseek", "groq", "xai",
 * "ollama", "vllm" (also llama.cpp and LM Studio), "openai" or "generic". Chosen by the knob
 * `profile`, then a profile transformer (openrouter, deepseek, groq), then the provider name,
 * then the URL host. Static string. */
const char *openai_profile_name(const struct cfg_provider *p, const char *model);

#endif
