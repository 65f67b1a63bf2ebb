/* route_cmd: back-ends of `ccrelay route` and `ccrelay check`. */
#ifndef CCRELAY_ROUTE_CMD_H
#define CCRELAY_ROUTE_CMD_H

#include <stdio.h>

#include "config.h"
#include "err.h"
#include "log.h"

int route_cmd_run(const struct config *cfg, const struct logger *lg, const char *file_or_dash,
                  FILE *out, struct err *err);
int check_cmd_run(const struct config *cfg, const struct logger *lg, FILE *out, struct err *err);

#endif
