/* route_cmd: the back-ends of `ccrelay route [FILE|-]` and `ccrelay check`, called by main.c.
 * Both load the policy from the given config (custom router included) and contact nothing.
 *
 * Ownership: everything is borrowed; output goes to `out`. */
#ifndef CCRELAY_ROUTE_CMD_H
#define CCRELAY_ROUTE_CMD_H

#include <stdio.h>

#include "config.h"
#include "err.h"
#include "log.h"

/* Read an Anthropic request body, or a captured {"method","path","headers","body"} request,
 * from FILE ("-" or NULL: stdin); print the rule that fired, the thinking level, the token
 * estimate and the target(s). Returns 0, or -1 with err (unreadable input, policy that does not
 * load, no route). */
int route_cmd_run(const struct config *cfg, const struct logger *lg, const char *file_or_dash,
                  FILE *out, struct err *err);

/* Load the policy (built-in rules and custom router) and check every Router entry against the
 * providers; print what was found. Returns 0 when all is well, -1 with err naming the problems. */
int check_cmd_run(const struct config *cfg, const struct logger *lg, FILE *out, struct err *err);

#endif
