/* route_cmd: `ccrelay route` and `ccrelay check` (see route_cmd.h). */
#include "route_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "policy.h"
#include "summary.h"

#define INPUT_MAX ((size_t)64 << 20)

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= INPUT_MAX) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    if (buf && ferror(f)) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* Headers of a captured request, names lower-cased (as the server's parser gives them). The
 * strings are owned by `h` (freed by hdrs_free); http.c is not needed. */
static int hdrs_from_json(const cJSON *obj, struct http_hdrs *h) {
    memset(h, 0, sizeof *h);
    size_t n = (size_t)cJSON_GetArraySize(obj);
    if (!n) return 0;
    h->v = calloc(n, sizeof *h->v);
    if (!h->v) return -1;
    h->cap = n;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->string) continue;
        char *name = strdup(c->string), *value = strdup(c->valuestring);
        if (!name || !value) {
            free(name);
            free(value);
            return -1;
        }
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        h->v[h->n].name = name;
        h->v[h->n].value = value;
        h->n++;
    }
    return 0;
}

static void hdrs_free(struct http_hdrs *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    memset(h, 0, sizeof *h);
}

int route_cmd_run(const struct config *cfg, const struct logger *lg, const char *file_or_dash,
                  FILE *out, struct err *err) {
    bool from_stdin = !file_or_dash || strcmp(file_or_dash, "-") == 0;
    const char *name = from_stdin ? "<stdin>" : file_or_dash;
    FILE *f = from_stdin ? stdin : fopen(file_or_dash, "rb");
    if (!f) return err_set(err, ERR_IO, "route: cannot open %s: %s", name, strerror(errno));
    size_t len = 0;
    char *text = read_all(f, &len);
    int saved = errno;
    if (!from_stdin) fclose(f);
    if (!text) return err_set(err, ERR_IO, "route: cannot read %s: %s", name, strerror(saved));
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        free(text);
        return err_set(err, ERR_INVALID,
                       "route: %s is not JSON (error near byte %zu); give a request body or a "
                       "captured {\"method\",\"path\",\"headers\",\"body\"} file",
                       name, at);
    }
    free(text);

    int rc = -1;
    struct policy *p = NULL;
    struct http_hdrs h = {0};
    struct summary s;
    bool have_summary = false;
    struct route_decision d = {0};
    char path[1024] = "/v1/messages";

    cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    if (cJSON_IsObject(body)) { /* a captured request */
        const char *cp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "path"));
        if (cp) {
            snprintf(path, sizeof path, "%s", cp);
            path[strcspn(path, "?")] = '\0';
        }
        if (hdrs_from_json(cJSON_GetObjectItemCaseSensitive(doc, "headers"), &h) != 0) {
            err_set(err, ERR_NOMEM, "route: out of memory");
            goto done;
        }
    } else {
        body = doc;
    }
    if (summary_build(body, &h, path, &s, err) != 0) {
        err_prefix(err, "route: %s", name);
        goto done;
    }
    have_summary = true;
    if (policy_new(cfg, lg, &p, err) != 0) goto done;
    struct policy_body pb = {.tree = body};
    if (policy_route(p, &s, &pb, &d, err) != 0) goto done;

    const char *custom = policy_custom_path(p);
    fprintf(out, "rule:      %s (%s)\n", d.rule,
            strcmp(d.source, "custom") == 0 ? custom : "built-in rules");
    fprintf(out, "model:     %s\n", s.model);
    fprintf(out, "thinking:  %s", s.thinking_level);
    if (s.thinking_type) {
        fprintf(out, " (%s", s.thinking_type);
        if (s.thinking_budget >= 0) fprintf(out, ", budget %ld", s.thinking_budget);
        if (s.effort) fprintf(out, ", effort %s", s.effort);
        fputc(')', out);
    } else if (s.effort) {
        fprintf(out, " (no thinking; effort %s)", s.effort);
    }
    fputc('\n', out);
    fprintf(out, "tokens:    ~%ld (estimate)\n", s.tokens);
    fprintf(out, "request:   %s, %zu tools%s%s%s\n", s.stream ? "stream" : "no stream", s.ntools,
            s.web_search ? ", web search" : "", s.images ? ", images" : "",
            s.agent_id ? ", subagent" : "");
    if (s.subagent_model) fprintf(out, "tag:       <CCR-SUBAGENT-MODEL>%s\n", s.subagent_model);
    for (size_t i = 0; i < d.n; i++)
        fprintf(out, "%s %s,%s\n", i == 0 ? "target:   " : "fallback: ", d.t[i].provider->name,
                d.t[i].model);
    if (custom && strcmp(d.source, "custom") != 0)
        fprintf(out, "custom:    %s had no opinion or failed (see the log)\n", custom);
    rc = 0;
done:
    route_decision_free(&d);
    if (have_summary) summary_free(&s);
    policy_free(p);
    hdrs_free(&h);
    cJSON_Delete(doc);
    return rc;
}

static const char *const ROUTER_KEYS[] = {"default", "background", "think", "longContext",
                                          "webSearch", "image", "subagent"};

int check_cmd_run(const struct config *cfg, const struct logger *lg, FILE *out, struct err *err) {
    struct policy *p = NULL;
    if (policy_new(cfg, lg, &p, err) != 0) return -1;
    const char *custom = policy_custom_path(p);
    if (cfg && cfg->source) fprintf(out, "config:    %s\n", cfg->source);
    const cJSON *mm = cfg ? cJSON_GetObjectItemCaseSensitive(cfg->root, "model_map") : NULL;
    if (mm)
        fprintf(out, "policy:    model map of %s (lua/model_map.lua, compiled in), %d model names\n",
                cfg->litellm_config ? cfg->litellm_config : "litellm_config",
                cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(mm, "groups")));
    else
        fprintf(out, "policy:    built-in rules (lua/router.lua, compiled in)\n");
    if (custom) {
        const char *const *files;
        size_t n = policy_files(p, &files);
        fprintf(out, "custom:    %s loaded", custom);
        if (n > 1) fprintf(out, " (+%zu required file%s)", n - 1, n > 2 ? "s" : "");
        fputc('\n', out);
    } else {
        fprintf(out, "custom:    none (set CUSTOM_ROUTER_PATH or create ~/.ccrelay/custom-router.lua)\n");
    }
    policy_free(p);

    const cJSON *router = cfg ? cJSON_GetObjectItemCaseSensitive(cfg->root, "Router") : NULL;
    int bad = 0;
    char first[ERR_MSG_MAX / 2] = "";
    for (size_t i = 0; i < sizeof ROUTER_KEYS / sizeof ROUTER_KEYS[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(router, ROUTER_KEYS[i]);
        const char *s = cJSON_GetStringValue(v);
        if (!s || !*s) {
            if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
                fprintf(out, "Router.%-12s not a \"provider,model\" string\n", ROUTER_KEYS[i]);
                if (!bad++) snprintf(first, sizeof first, "Router.%s is not a string", ROUTER_KEYS[i]);
            } else if (strcmp(ROUTER_KEYS[i], "default") == 0 && !mm) {
                fprintf(out, "Router.%-12s unset: requests no rule claims get no route\n",
                        ROUTER_KEYS[i]);
                if (!bad++) snprintf(first, sizeof first, "Router.default is not set");
            }
            continue;
        }
        struct route_target t;
        struct err e = {0};
        if (policy_target(cfg, s, &t, &e) != 0) {
            fprintf(out, "Router.%-12s %s: %s\n", ROUTER_KEYS[i], s, e.msg);
            if (!bad++) snprintf(first, sizeof first, "Router.%s: %.400s", ROUTER_KEYS[i], e.msg);
        } else {
            fprintf(out, "Router.%-12s %s,%s\n", ROUTER_KEYS[i], t.provider->name, t.model);
            free(t.model);
        }
    }
    if (bad)
        return err_set(err, ERR_CONFIG, "check: %d problem%s in the config; first: %s", bad,
                       bad > 1 ? "s" : "", first);
    fprintf(out, "ok\n");
    return 0;
}
