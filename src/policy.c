/* Interim policy: Router.default only, until the Lua engine lands. */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "route_cmd.h"

struct policy {
    const struct config *cfg;
};

int policy_new(const struct config *cfg, const struct logger *lg, struct policy **out,
               struct err *err) {
    (void)lg;
    *out = calloc(1, sizeof **out);
    if (!*out) return err_set(err, ERR_NOMEM, "out of memory");
    (*out)->cfg = cfg;
    return 0;
}

void policy_free(struct policy *p) {
    free(p);
}

int policy_route(struct policy *p, const struct summary *s, const cJSON *body,
                 struct route_decision *out, struct err *err) {
    (void)s, (void)body;
    memset(out, 0, sizeof *out);
    const char *r = config_route(p->cfg, "default");
    if (!r) return err_set(err, ERR_NOT_FOUND, "no route: set Router.default");
    const char *comma = strchr(r, ',');
    if (!comma) return err_set(err, ERR_CONFIG, "Router.default is not provider,model");
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(comma - r), r);
    out->t[0].provider = config_provider(p->cfg, name);
    if (!out->t[0].provider) return err_set(err, ERR_CONFIG, "unknown provider %s", name);
    out->t[0].model = strdup(comma + 1);
    out->n = 1;
    snprintf(out->rule, sizeof out->rule, "default");
    snprintf(out->source, sizeof out->source, "builtin");
    return 0;
}

void route_decision_free(struct route_decision *d) {
    for (size_t i = 0; i < d->n; i++) free(d->t[i].model);
    d->n = 0;
}

int route_cmd_run(const struct config *cfg, const struct logger *lg, const char *file_or_dash,
                  FILE *out, struct err *err) {
    (void)cfg, (void)lg, (void)file_or_dash, (void)out;
    return err_set(err, ERR_INTERNAL, "route: not available in this build");
}

int check_cmd_run(const struct config *cfg, const struct logger *lg, FILE *out, struct err *err) {
    (void)cfg, (void)lg, (void)err;
    fprintf(out, "config OK\n");
    return 0;
}
