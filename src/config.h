/* config: load, interpolate and validate ccrelay's configuration.
 *
 * Accepts Claude Code Router's config.json as it is (JSON5: comments, trailing commas,
 * single-quoted strings, unquoted keys), with `$VAR` / `${VAR}` replaced from the environment.
 * With no file, an embedded default serves (providers enabled from GEMINI_API_KEY /
 * OPENROUTER_API_KEY).
 *
 * Ownership: `config_load*` returns a `struct config` that owns everything it points to,
 * `root` included; free it with config_free. Pointers into it (providers, strings, cJSON nodes)
 * are valid until then. A config is immutable once loaded: a reload builds a new one. */
#ifndef CCRELAY_CONFIG_H
#define CCRELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "log.h"

enum wire_format { FMT_ANTHROPIC = 0, FMT_OPENAI, FMT_GEMINI };

const char *wire_format_name(enum wire_format f);

struct cfg_provider {
    char *name;              /* as configured (matched case-insensitively) */
    char *url;               /* api_base_url, interpolated */
    enum wire_format format; /* "format" key, else inferred from URL / transformer */
    char **keys;             /* api_key: a string or a list; interpolated; nkeys may be 0 */
    size_t nkeys;
    char **models; /* configured model ids, in order */
    size_t nmodels;
    const cJSON *json; /* this provider's object inside config.root (options, transformer...) */
};

struct config {
    cJSON *root;  /* the whole interpolated config; the policy's `config` table is built from it */
    char *source; /* file path, or "<embedded default>" */
    bool is_default;

    char *host;      /* HOST, default "127.0.0.1" */
    int port;        /* PORT, default 3456 */
    char *apikey;    /* APIKEY, NULL when unset */
    bool log_to_file;       /* LOG */
    enum log_level log_level; /* LOG_LEVEL, default info */
    char *custom_router_path; /* CUSTOM_ROUTER_PATH (expanded ~), NULL when unset */
    char *proxy_url;          /* PROXY_URL, NULL when unset */
    char *litellm_config;     /* litellm_config, NULL when unset; once loaded, the path of the
                               * LiteLLM file actually read (--litellm-config wins) */

    /* Limits and timeouts (ms / bytes). API_TIMEOUT_MS sets the first-byte and idle timeouts. */
    long api_timeout_ms;        /* default 600000 */
    long connect_timeout_ms;    /* LIMITS.connect_timeout_ms, default 10000 */
    long first_byte_timeout_ms; /* default api_timeout_ms */
    long idle_timeout_ms;       /* time between stream events, default api_timeout_ms */
    size_t max_body_bytes;      /* default 32 MiB */
    size_t max_header_bytes;    /* default 64 KiB */
    int max_connections;        /* default 1024 */
    long header_timeout_ms;     /* whole request head, from its first byte; default 30000 */

    struct cfg_provider *providers;
    size_t nproviders;

    /* Human-readable notes about the embedded default (which providers are active, which key
     * is missing); NULL-terminated, may be NULL. Printed at start-up. */
    char **notes;
};

/* Where the config comes from when no --config is given: $CCRELAY_CONFIG, else
 * ~/.ccrelay/config.json if it exists, else NULL (embedded default). Returns a malloc'd path or
 * NULL. */
char *config_default_path(void);

/* Load from `path`; NULL means the embedded default. A LiteLLM config (src/litellm.h) named by
 * $CCRELAY_LITELLM_CONFIG (what --litellm-config sets; it wins) or by the litellm_config key is
 * read and merged: its providers join Providers, its model map becomes root.model_map (the
 * policy's config.model_map; the built-in rules are then lua/model_map.lua). With the embedded
 * default, the LiteLLM file replaces the default's providers and routes. */
int config_load(const char *path, struct config **out, struct err *err);
/* Load from text; `source` names it in error messages. Reads no other file: a litellm_config
 * path is recorded, not read (an inline litellm_config object is merged). */
int config_load_text(const char *text, size_t len, const char *source, struct config **out,
                     struct err *err);
void config_free(struct config *cfg);

/* Case-insensitive provider lookup. NULL when absent. */
const struct cfg_provider *config_provider(const struct config *cfg, const char *name);
/* The configured spelling of `model` in provider `p` (case-insensitive match), or NULL. */
const char *config_provider_model(const struct cfg_provider *p, const char *model);
/* Router.<key> as a string ("provider,model"), NULL when unset. */
const char *config_route(const struct config *cfg, const char *key);

/* A copy of the config as JSON with every key and secret redacted; caller frees. */
char *config_dump_redacted(const struct config *cfg);

#endif
