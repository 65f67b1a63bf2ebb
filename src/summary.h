/* summary: what the policy sees of a request, computed once by C before any script runs.
 *
 * Two builders give the same summary: summary_build reads a cJSON tree; summary_scan reads the
 * raw JSON text in one pass without building one (reqscan.c), for the requests that are
 * forwarded as they came and never need a tree.
 *
 * Ownership: strings marked "borrowed" point into the request body (the cJSON tree, or the
 * summary's own arena when it was scanned) or the header list and are valid while those live;
 * the summary must not outlive them. summary_free releases what the summary owns. */
#ifndef CCRELAY_SUMMARY_H
#define CCRELAY_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "http.h"

/* The tag by which a Claude Code subagent's prompt names its model ("provider,model"). */
#define SUMMARY_SUBAGENT_TAG "<CCR-SUBAGENT-MODEL>"

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
    struct summary_arena *arena; /* owned: the decoded strings of a scanned summary, or NULL */
};

/* Build the summary. `body` may be modified: a <CCR-SUBAGENT-MODEL> tag is removed from it. */
int summary_build(cJSON *body, const struct http_hdrs *headers, const char *path,
                  struct summary *out, struct err *err);
void summary_free(struct summary *s);

/* Build the summary from the raw body text (n bytes, not NUL-terminated; borrowed only during
 * the call), checking what the relay requires of a Messages request: valid JSON (as cJSON reads
 * it), an object, a string "model", an array "messages". Returns 0 (the summary is filled), -1
 * (err: ERR_INVALID with a message for the client, ERR_NOMEM), or 1 when the text may hold a
 * <CCR-SUBAGENT-MODEL> tag: removing it edits the body, so the caller parses a tree and uses
 * summary_build (the summary is then empty). */
int summary_scan(const char *raw, size_t n, const struct http_hdrs *headers, const char *path,
                 struct summary *out, struct err *err);

/* What the relay requires of a Messages request, in this order: a JSON object, a string
 * "model", an array "messages". Returns 0, or -1 with err set (ERR_INVALID, a message for the
 * client) for the first that is missing. Shared by the scan and the relay's tree path. */
int summary_check_request(bool object, bool model_string, bool messages_array, struct err *err);

/* For the builders (summary.c, reqscan.c): the common start (defaults, header fields) and end
 * (thinking level; the session id from metadata.user_id `uid` when no header gave one). */
void summary_begin(struct summary *out, const struct http_hdrs *headers, const char *path);
int summary_finish(struct summary *out, const char *uid, struct err *err);
void summary_arena_free(struct summary_arena *a);

/* Thinking level per DESIGN.md: "off" | "low" | "medium" | "high" | "xhigh" | "max". */
const char *summary_thinking_level(const char *type, long budget, const char *effort);

#endif
