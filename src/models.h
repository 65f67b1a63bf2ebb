/* models: `GET /v1/models` support. Every configured provider,model is listed in Anthropic's
 * list shape under an id that Claude Code's model picker keeps (it starts with "claude-"):
 * "claude-via-<provider>-<model>", lower-cased, every character outside [a-z0-9.-] replaced by
 * '-' (e.g. claude-via-openrouter-x-ai-grok-4.1-fast), display name "provider,model". Ids are
 * unique: on a clash the later entry (config order) gets "-2", "-3", ...
 *
 * Ownership: the config is borrowed; models_list_json returns a malloc'd string the caller
 * frees; models_resolve hands back pointers into the config (valid while it lives). */
#ifndef CCRELAY_MODELS_H
#define CCRELAY_MODELS_H

#include "config.h"

#define MODELS_ID_PREFIX "claude-via-"
#define MODELS_ID_MAX 256 /* longer ids are cut (uniqueness is kept by the suffix rule) */

/* The list body; NULL on OOM. */
char *models_list_json(const struct config *cfg);

/* Map a discovery id (compared case-insensitively) back to its provider and configured model
 * spelling. Returns 0 when found, -1 otherwise (outputs untouched). */
int models_resolve(const struct config *cfg, const char *id, const struct cfg_provider **p,
                   const char **model);

#endif
