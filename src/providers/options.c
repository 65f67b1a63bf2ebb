#include "providers/options.h"
#include "providers/util.h"

#include <strings.h>

static const cJSON *child_ci(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj) || !key) return NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, obj) {
        if (c->string && strcasecmp(c->string, key) == 0) return c;
    }
    return NULL;
}

const cJSON *xl_opt(const struct cfg_provider *p, const char *model, const char *name) {
    if (!p || !p->json) return NULL;
    const cJSON *mo = child_ci(child_ci(p->json, "model_options"), model);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mo, name);
    if (v) return v;
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p->json, "options"),
                                            name);
}

bool xl_opt_bool(const struct cfg_provider *p, const char *model, const char *name, bool dflt) {
    const cJSON *v = xl_opt(p, model, name);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

long xl_opt_long(const struct cfg_provider *p, const char *model, const char *name, long dflt) {
    const cJSON *v = xl_opt(p, model, name);
    return cJSON_IsNumber(v) ? xl_long(v->valuedouble) : dflt;
}

const char *xl_opt_str(const struct cfg_provider *p, const char *model, const char *name,
                       const char *dflt) {
    const cJSON *v = xl_opt(p, model, name);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}
