/* models: discovery ids for every configured provider,model (see models.h). */
#include "models.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

/* Fixed: the list is regenerated from the config; a stable date keeps answers identical. */
#define MODELS_CREATED_AT "2026-01-01T00:00:00Z"

static void base_id(const char *prov, const char *model, char *buf) {
    size_t n = 0, cap = MODELS_ID_MAX - 16; /* room for a "-N" suffix and the NUL */
    const char *parts[3] = {prov, "-", model};
    memcpy(buf, MODELS_ID_PREFIX, sizeof MODELS_ID_PREFIX - 1);
    n = sizeof MODELS_ID_PREFIX - 1;
    for (int k = 0; k < 3; k++)
        for (const char *s = parts[k]; s && *s && n < cap; s++) {
            char c = *s;
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
                c = '-';
            buf[n++] = c;
        }
    buf[n] = '\0';
}

/* Every entry's final id, in config order, in one malloc'd block of n * MODELS_ID_MAX bytes
 * (NULL with *n = 0 when there is none or on OOM). A candidate ("base", then "base-2",
 * "base-3"...) is taken when an earlier entry's final id equals it, so ids are unique and
 * depend only on the config order. */
static char *all_ids(const struct config *cfg, size_t *n) {
    size_t total = 0;
    for (size_t pi = 0; cfg && pi < cfg->nproviders; pi++) total += cfg->providers[pi].nmodels;
    *n = 0;
    if (!total) return NULL;
    char *ids = malloc(total * MODELS_ID_MAX);
    if (!ids) return NULL;
    size_t k = 0;
    char base[MODELS_ID_MAX];
    for (size_t pi = 0; pi < cfg->nproviders; pi++) {
        const struct cfg_provider *p = &cfg->providers[pi];
        for (size_t mi = 0; mi < p->nmodels; mi++, k++) {
            base_id(p->name, p->models[mi], base);
            char *out = ids + k * MODELS_ID_MAX;
            for (unsigned suffix = 1;; suffix++) {
                if (suffix == 1)
                    memcpy(out, base, strlen(base) + 1);
                else
                    snprintf(out, MODELS_ID_MAX, "%.240s-%u", base, suffix);
                size_t j = 0;
                while (j < k && strcmp(ids + j * MODELS_ID_MAX, out) != 0) j++;
                if (j == k) break;
            }
        }
    }
    *n = total;
    return ids;
}

char *models_list_json(const struct config *cfg) {
    char *ids = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *data = root ? cJSON_AddArrayToObject(root, "data") : NULL;
    if (!data) goto oom;
    size_t nids = 0, k = 0;
    ids = all_ids(cfg, &nids);
    if (!ids && cfg && cfg->nproviders) {
        size_t total = 0;
        for (size_t pi = 0; pi < cfg->nproviders; pi++) total += cfg->providers[pi].nmodels;
        if (total) goto oom;
    }
    const char *first = NULL, *last = NULL;
    for (size_t pi = 0; cfg && pi < cfg->nproviders; pi++) {
        const struct cfg_provider *p = &cfg->providers[pi];
        for (size_t mi = 0; mi < p->nmodels && k < nids; mi++, k++) {
            const char *id = ids + k * MODELS_ID_MAX;
            size_t dl = strlen(p->name) + strlen(p->models[mi]) + 2;
            char *display = malloc(dl);
            if (!display) goto oom;
            snprintf(display, dl, "%s,%s", p->name, p->models[mi]);
            cJSON *e = cJSON_CreateObject();
            int ok = e && cJSON_AddStringToObject(e, "type", "model") &&
                     cJSON_AddStringToObject(e, "id", id) &&
                     cJSON_AddStringToObject(e, "display_name", display) &&
                     cJSON_AddStringToObject(e, "created_at", MODELS_CREATED_AT);
            free(display);
            if (!ok || !cJSON_AddItemToArray(data, e)) {
                cJSON_Delete(e);
                goto oom;
            }
            if (!first) first = id;
            last = id;
        }
    }
    if (!cJSON_AddFalseToObject(root, "has_more")) goto oom;
    if (first) {
        if (!cJSON_AddStringToObject(root, "first_id", first) ||
            !cJSON_AddStringToObject(root, "last_id", last))
            goto oom;
    } else if (!cJSON_AddNullToObject(root, "first_id") || !cJSON_AddNullToObject(root, "last_id")) {
        goto oom;
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(ids);
    return out;
oom:
    cJSON_Delete(root);
    free(ids);
    return NULL;
}

int models_resolve(const struct config *cfg, const char *id, const struct cfg_provider **p,
                   const char **model) {
    if (!cfg || !id || strncasecmp(id, MODELS_ID_PREFIX, sizeof MODELS_ID_PREFIX - 1) != 0)
        return -1;
    size_t n = 0, k = 0;
    char *ids = all_ids(cfg, &n);
    int rc = -1;
    for (size_t pi = 0; pi < cfg->nproviders && rc < 0; pi++)
        for (size_t mi = 0; mi < cfg->providers[pi].nmodels && k < n && rc < 0; mi++, k++)
            if (strcasecmp(ids + k * MODELS_ID_MAX, id) == 0) {
                if (p) *p = &cfg->providers[pi];
                if (model) *model = cfg->providers[pi].models[mi];
                rc = 0;
            }
    free(ids);
    return rc;
}
