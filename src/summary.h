/* summary: what the policy sees of a request, computed once by C before any script runs.
 *
 * Ownership: strings marked "borrowed" point into the request body (cJSON) or the header list
 * and are valid while those live; the summary must not outlive them. summary_free releases
 * what the summary owns. */
#ifndef CCRELAY_SUMMARY_H
#define CCRELAY_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "http.h"

struct summary {
    const char *model;          /* borrowed; "" when absent */
    long tokens;                /* input token estimate */
    bool stream;                /* true only for "stream": true */
    const char *thinking_type;  /* borrowed: "adaptive" | "enabled" | "disabled" | NULL */
    long thinking_budget;       /* budget_tokens, -1 when none */
    const char *effort;         /* borrowed: output_config.effort, NULL when absent */
    const char *thinking_level; /* static: "off" | "low" | "medium" | "high" | "xhigh" | "max" */
    bool web_search;            /* a tool whose type starts with "web_search" */
    bool images;                /* an image in the last user turn (trailing system skipped) */
    const char **tools;         /* tool names (borrowed strings, owned array) */
    size_t ntools;
    char *subagent_model;   /* owned: "provider,model" from a <CCR-SUBAGENT-MODEL> tag, or NULL */
    bool body_modified;     /* the tag was removed from the body: the raw bytes are stale */
    const char *session_id; /* x-claude-code-session-id (borrowed), else from metadata.user_id
                               (borrowed or session_buf), NULL */
    char *session_buf;      /* owned: a session id cut out of metadata.user_id, or NULL */
    const char *agent_id;   /* borrowed: x-claude-code-agent-id, NULL for the main agent */
    const char *path;       /* borrowed: request path without query */
    const struct http_hdrs *headers; /* borrowed; credentials are filtered when shown to Lua */
};

/* Build the summary. `body` may be modified: a <CCR-SUBAGENT-MODEL> tag is removed from it. */
int summary_build(cJSON *body, const struct http_hdrs *headers, const char *path,
                  struct summary *out, struct err *err);
void summary_free(struct summary *s);

/* Thinking level per DESIGN.md: "off" | "low" | "medium" | "high" | "xhigh" | "max". */
const char *summary_thinking_level(const char *type, long budget, const char *effort);

#endif
