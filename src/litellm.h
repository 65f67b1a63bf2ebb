/* litellm: read a LiteLLM proxy config (`litellm_config.yaml`) and turn it into ccrelay's terms.
 *
 * LiteLLM's `model_list` maps the model names a client asks for (`model_name`, wildcards such
 * as "claude-*" and a catch-all "*" allowed) to deployments (`litellm_params.model` with a
 * provider prefix: "openrouter/x-ai/grok-4.1-fast", "gemini/gemini-2.5-flash", ...). This
 * module reads that file with libyaml and produces:
 *   - providers in config.json's shape (name, api_base_url, api_key, format, models, options,
 *     model_options), one per distinct (wire format, endpoint, key); the config loader appends
 *     them to `Providers` and validates them like any other;
 *   - the model map, the `config.model_map` table that lua/model_map.lua (the built-in rules
 *     when a model map is active) routes with; its shape is documented there;
 *   - the router_settings / litellm_settings / general_settings values that mean something
 *     here (timeouts, the proxy key), and start-up notes (keys whose variable is unset).
 * Whatever it cannot honour is an error naming the file, line, column and key path, e.g.
 * "litellm_config.yaml:12:7: model_list[1].litellm_params.timeout: ...".
 *
 * The same conversion reads an inline `litellm_config` object of config.json (no line
 * numbers then). State: none global; each call owns what it builds. */
#ifndef CCRELAY_LITELLM_H
#define CCRELAY_LITELLM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

#define LITELLM_MAX_FILE ((size_t)4 << 20)

struct litellm_map {
    cJSON *providers; /* array of provider objects (config.json shape); owned */
    cJSON *model_map; /* object: config.model_map of lua/model_map.lua; owned */
    long timeout_ms;  /* router_settings.timeout / litellm_settings.request_timeout; -1: unset */
    char *master_key; /* general_settings.master_key (the proxy's own key); NULL: unset */
    char **notes;     /* start-up notes, NULL-terminated; NULL when none */
    size_t nnotes;
};

/* Read the YAML file at `path`. `taken` lists provider names already in use (the JSON
 * config's), which generated names avoid; may be NULL when ntaken is 0. On success *out owns
 * everything; on failure *out is empty and err says file:line:col, key path and what to do. */
int litellm_load_file(const char *path, const char *const *taken, size_t ntaken,
                      struct litellm_map *out, struct err *err);
/* The same from YAML text; `source` names it in messages. */
int litellm_load_text(const char *text, size_t len, const char *source,
                      const char *const *taken, size_t ntaken, struct litellm_map *out,
                      struct err *err);
/* The same from an already parsed tree (config.json's inline `litellm_config` object). */
int litellm_from_json(const cJSON *root, const char *source, const char *const *taken,
                      size_t ntaken, struct litellm_map *out, struct err *err);
void litellm_map_free(struct litellm_map *m);

#endif
