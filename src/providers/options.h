/* options: per-provider and per-model knobs for the translators (conversion.md writes them
 * `knob_name`). Looked up, first match wins, in:
 *   1. provider.model_options["<routed model>"].<name>
 *   2. provider.options.<name>
 * then the caller's default (which the translator may derive from the provider's profile).
 * Claude Code Router's `transformer` entries are read by the translators themselves.
 * All returned pointers borrow from the config, valid while it lives. */
#ifndef CCRELAY_PROVIDER_OPTIONS_H
#define CCRELAY_PROVIDER_OPTIONS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "config.h"

/* The knob's JSON node, or NULL when no level sets it. */
const cJSON *xl_opt(const struct cfg_provider *p, const char *model, const char *name);
bool xl_opt_bool(const struct cfg_provider *p, const char *model, const char *name, bool dflt);
long xl_opt_long(const struct cfg_provider *p, const char *model, const char *name, long dflt);
/* A string knob, or dflt (which may be NULL). */
const char *xl_opt_str(const struct cfg_provider *p, const char *model, const char *name,
                       const char *dflt);

#endif
