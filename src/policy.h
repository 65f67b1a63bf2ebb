/* policy: the Lua routing engine. route(req, config) from the user's custom router, then the
 * built-in rules (lua/router.lua, compiled in).
 *
 * Ownership: a `struct policy` owns its Lua state(s). The config passed to policy_new is
 * borrowed and must outlive the policy (the server keeps them together in one generation).
 * A route_decision owns its strings; route_decision_free releases them. */
#ifndef CCRELAY_POLICY_H
#define CCRELAY_POLICY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "summary.h"

#define ROUTE_MAX_TARGETS 8

struct route_target {
    const struct cfg_provider *provider; /* borrowed from the config */
    char *model;                         /* owned: the upstream model id */
};

struct route_decision {
    struct route_target t[ROUTE_MAX_TARGETS];
    size_t n;
    char rule[48];   /* which rule fired: "custom" for a custom router, else the built-in rule:
                        explicit | longContext | subagentModel | background | subagent |
                        webSearch | think | image | default */
    char source[16]; /* "custom" | "builtin" */
};

struct policy;

/* Load the built-in rules and the custom router named by the config. */
int policy_new(const struct config *cfg, const struct logger *lg, struct policy **out,
               struct err *err);
void policy_free(struct policy *p);

/* The request body as scripts may read it (req.body): the caller's tree, or when it has none
 * the raw text, parsed here the first time a script reads req.body. A tree parsed here is left
 * in `tree` and is the caller's to free (cJSON_Delete) once policy_route returns. */
struct policy_body {
    cJSON *tree;
    const char *raw; /* borrowed during the call */
    size_t raw_len;
};

/* Decide the target(s) of one request. Never fails because of a custom script (its errors are
 * logged and the built-in rules decide); fails only when no rule yields a valid target:
 * ERR_NOT_FOUND for an explicit provider,model that is not configured or when no rule applies
 * (no Router.default), ERR_CONFIG when a Router entry names an unknown provider or model.
 * `body` (NULL: no req.body) is read only during the call, and only if a script reads
 * req.body. Not reentrant: one event loop uses a policy. */
int policy_route(struct policy *p, const struct summary *s, struct policy_body *body,
                 struct route_decision *out, struct err *err);
void route_decision_free(struct route_decision *d);

/* Resolve one target string as route() results are: "provider,model", "provider/model" (first
 * segment a configured provider) or a GET /v1/models id; provider and model compared
 * case-insensitively, the configured spelling returned. out->model is owned (free it, or use
 * route_decision_free on a decision holding it). */
int policy_target(const struct config *cfg, const char *target, struct route_target *out,
                  struct err *err);

/* The custom router's path, or NULL when the built-in rules run alone. Valid while p lives. */
const char *policy_custom_path(const struct policy *p);
/* The files the policy was loaded from (the custom router and the modules it required from its
 * directory), to be watched for a reload. A module required for the first time inside route()
 * is added then, so the array is valid until the next policy_route or policy_free: copy it
 * (the watcher does). */
size_t policy_files(const struct policy *p, const char *const **files);

#endif
