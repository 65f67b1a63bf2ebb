/* Interim back-ends of `ccrelay route` / `ccrelay check` (the policy engine's owner replaces
 * route with the full dry run). check loads the policy exactly as the server does. */
#include "route_cmd.h"

#include "policy.h"

int route_cmd_run(const struct config *cfg, const struct logger *lg, const char *file_or_dash,
                  FILE *out, struct err *err) {
    (void)cfg, (void)lg, (void)file_or_dash, (void)out;
    return err_set(err, ERR_INTERNAL, "route: not available in this build yet");
}

int check_cmd_run(const struct config *cfg, const struct logger *lg, FILE *out, struct err *err) {
    struct policy *p = NULL;
    if (policy_new(cfg, lg, &p, err) != 0) return -1;
    policy_free(p);
    fprintf(out, "config %s: OK\n", cfg->source);
    return 0;
}
