/* litellm: LiteLLM's litellm_config.yaml -> providers + model map (see litellm.h).
 *
 * Two stages. (1) libyaml's document loader gives a node graph; it becomes a cJSON tree with
 * PyYAML's scalar rules (LiteLLM reads its file with PyYAML: YAML 1.1, so `yes`/`on` are
 * booleans), merge keys (`<<: *base`) applied, and a side table of (node, line, column) so that
 * every message can point into the file. Aliases are expanded, so the node count and depth are
 * capped (a "billion laughs" file fails instead of eating memory). (2) The conversion walks the
 * tree once, checking every key it meets: a key it does not know, or knows but cannot honour,
 * stops the load with its place and key path.
 *
 * State: none global. A `struct conv` lives for one load and owns what it builds until it is
 * handed to the caller in a struct litellm_map. */
#include "keypath.h"
#include "litellm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "config.h"

#define MAX_DEPTH 64
#define MAX_NODES 200000
#define MAX_ENTRIES 4096 /* model_list entries: keeps every check below linear enough */
#define ENV_PREFIX "os.environ/"

/* ------------------------------------------------------------------------------------------ */
/* Positions: which line and column of the file a cJSON node (a mapping member: its key; a list
 * item: the item) comes from. Looked up only to write a message, so a plain array serves.     */

struct pos {
    const cJSON *node;
    size_t seq;    /* order of recording: a freed node's address may be reused, the last wins */
    int line, col; /* 1-based */
};

struct posv {
    struct pos *v;
    size_t n, cap;
};

static int pos_add(struct posv *pv, const cJSON *node, const yaml_mark_t *m) {
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 256;
        struct pos *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv) return -1;
        pv->v = nv;
        pv->cap = cap;
    }
    pv->v[pv->n] = (struct pos){node, pv->n, (int)m->line + 1, (int)m->column + 1};
    pv->n++;
    return 0;
}

static int pos_cmp_node(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const struct pos *)a)->node;
    uintptr_t y = (uintptr_t)((const struct pos *)b)->node;
    return x < y ? -1 : x > y;
}

static int pos_cmp(const void *a, const void *b) {
    int c = pos_cmp_node(a, b);
    if (c) return c;
    size_t x = ((const struct pos *)a)->seq, y = ((const struct pos *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Sorted once the tree is complete, so that lookups are a binary search. Nodes of a merge
 * source that were not merged are freed while converting, and their address may be given to a
 * later node: entries of one address are kept in recording order and the last one is live. */
static void pos_sort(struct posv *pv) {
    if (pv->n > 1) qsort(pv->v, pv->n, sizeof *pv->v, pos_cmp);
}

static const struct pos *pos_of(const struct posv *pv, const cJSON *node) {
    if (!pv || !node || pv->n == 0) return NULL;
    struct pos key = {.node = node};
    const struct pos *hit = bsearch(&key, pv->v, pv->n, sizeof *pv->v, pos_cmp_node);
    while (hit && hit + 1 < pv->v + pv->n && hit[1].node == node) hit++;
    return hit;
}

/* ------------------------------------------------------------------------------------------ */
/* YAML -> cJSON                                                                               */

struct yload {
    yaml_document_t *doc;
    struct posv *pv;
    const char *src;
    struct err *err;
    size_t nodes;
};

static bool is_one_of(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

/* A plain scalar's value as PyYAML's safe_load resolves it (YAML 1.1). Quoted and block
 * scalars are always strings. */
static cJSON *scalar_value(const char *s, size_t len, yaml_scalar_style_t style) {
    if (style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len) return cJSON_CreateString(s);
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                        "on",   "On",   "ON",   NULL};
    static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO",
                                         "off",   "Off",   "OFF",   NULL};
    if (is_one_of(s, nulls)) return cJSON_CreateNull();
    if (is_one_of(s, trues)) return cJSON_CreateTrue();
    if (is_one_of(s, falses)) return cJSON_CreateFalse();
    const char *c = s + (*s == '-' || *s == '+');
    size_t digits = strspn(c, "0123456789");
    if (digits > 0 && digits < 16 && c[digits] == '\0' && !(c[0] == '0' && digits > 1))
        return cJSON_CreateNumber((double)strtoll(s, NULL, 10));
    if ((digits > 0 || c[0] == '.') && strchr(c, '.') && strspn(c, "0123456789.eE+-") == strlen(c)) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (*end == '\0' && !errno && isfinite(d)) return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(s);
}

static int yl_fail(struct yload *Y, const yaml_mark_t *m, const char *msg) {
    return err_set(Y->err, ERR_CONFIG, "%s:%zu:%zu: %s", Y->src, m->line + 1, m->column + 1, msg);
}

/* Move the members of `from` that `to` lacks into `to` (a merge key: explicit keys win).
 * Returns -1 when out of memory. */
static int merge_missing(cJSON *to, cJSON *from) {
    cJSON *c = from->child;
    while (c) {
        cJSON *next = c->next;
        if (!cJSON_GetObjectItemCaseSensitive(to, c->string)) {
            cJSON_DetachItemViaPointer(from, c);
            if (!cJSON_AddItemToObject(to, c->string, c)) {
                cJSON_Delete(c);
                return -1;
            }
        }
        c = next;
    }
    return 0;
}

static int yl_convert(struct yload *Y, yaml_node_t *n, int depth, cJSON **out) {
    *out = NULL;
    if (depth > MAX_DEPTH) return yl_fail(Y, &n->start_mark, "nested too deeply");
    if (++Y->nodes > MAX_NODES)
        return yl_fail(Y, &n->start_mark, "too many nodes once aliases are expanded (at most "
                                          "200000); write the values out instead of nesting "
                                          "aliases");
    switch (n->type) {
    case YAML_SCALAR_NODE:
        *out = scalar_value((const char *)n->data.scalar.value, n->data.scalar.length,
                            n->data.scalar.style);
        break;
    case YAML_SEQUENCE_NODE: {
        cJSON *a = cJSON_CreateArray();
        if (!a) break;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *c = yaml_document_get_node(Y->doc, *it);
            cJSON *v = NULL;
            if (!c || yl_convert(Y, c, depth + 1, &v)) {
                cJSON_Delete(a);
                return -1;
            }
            cJSON_AddItemToArray(a, v);
            if (pos_add(Y->pv, v, &c->start_mark)) {
                cJSON_Delete(a);
                a = NULL;
                break;
            }
        }
        *out = a;
        break;
    }
    case YAML_MAPPING_NODE: {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        yaml_node_t *merges[8];
        size_t nmerges = 0;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(Y->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(Y->doc, p->value);
            if (!k || !v) continue;
            if (k->type != YAML_SCALAR_NODE) {
                cJSON_Delete(o);
                return yl_fail(Y, &k->start_mark, "a key must be a plain name, not a list or "
                                                  "a mapping");
            }
            const char *key = (const char *)k->data.scalar.value;
            if (strlen(key) != k->data.scalar.length) {
                cJSON_Delete(o);
                return yl_fail(Y, &k->start_mark, "a key contains a NUL character");
            }
            if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(key, "<<") == 0) {
                if (nmerges == sizeof merges / sizeof *merges) {
                    cJSON_Delete(o);
                    return yl_fail(Y, &k->start_mark, "more than 8 merge keys (<<) in one "
                                                      "mapping");
                }
                merges[nmerges++] = v;
                continue;
            }
            if (cJSON_GetObjectItemCaseSensitive(o, key)) {
                char msg[200];
                snprintf(msg, sizeof msg, "\"%.60s\" is written twice in this mapping; keep one",
                         key);
                cJSON_Delete(o);
                return yl_fail(Y, &k->start_mark, msg);
            }
            cJSON *cv = NULL;
            if (yl_convert(Y, v, depth + 1, &cv)) {
                cJSON_Delete(o);
                return -1;
            }
            cJSON_AddItemToObject(o, key, cv);
            if (pos_add(Y->pv, cv, &k->start_mark)) {
                cJSON_Delete(o);
                o = NULL;
                break;
            }
        }
        /* explicit keys win over merged ones, wherever the << is written */
        for (size_t i = 0; o && i < nmerges; i++) {
            if (merges[i]->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = merges[i]->data.sequence.items.start;
                     it < merges[i]->data.sequence.items.top; it++) {
                    yaml_node_t *s = yaml_document_get_node(Y->doc, *it);
                    cJSON *m = NULL;
                    if (!s || s->type != YAML_MAPPING_NODE || yl_convert(Y, s, depth + 1, &m)) {
                        cJSON_Delete(o);
                        if (!s || s->type != YAML_MAPPING_NODE)
                            return yl_fail(Y, &merges[i]->start_mark,
                                           "a merge key (<<) takes a mapping or a list of "
                                           "mappings");
                        return -1;
                    }
                    int mrc = merge_missing(o, m);
                    cJSON_Delete(m);
                    if (mrc) {
                        cJSON_Delete(o);
                        o = NULL;
                        break;
                    }
                }
            } else if (merges[i]->type == YAML_MAPPING_NODE) {
                cJSON *m = NULL;
                if (yl_convert(Y, merges[i], depth + 1, &m)) {
                    cJSON_Delete(o);
                    return -1;
                }
                int mrc = merge_missing(o, m);
                cJSON_Delete(m);
                if (mrc) {
                    cJSON_Delete(o);
                    o = NULL;
                }
            } else {
                cJSON_Delete(o);
                return yl_fail(Y, &merges[i]->start_mark,
                               "a merge key (<<) takes a mapping or a list of mappings");
            }
        }
        *out = o;
        break;
    }
    default:
        return yl_fail(Y, &n->start_mark, "empty node");
    }
    if (!*out) return err_set(Y->err, ERR_NOMEM, "%s: out of memory reading the file", Y->src);
    return 0;
}

static int yaml_to_json(const char *text, size_t len, const char *src, struct posv *pv,
                        cJSON **out, struct err *err) {
    *out = NULL;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return err_set(err, ERR_NOMEM, "%s: out of memory", src);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        const yaml_mark_t *m = &p.problem_mark;
        err_set(err, ERR_CONFIG, "%s:%zu:%zu: not valid YAML: %s%s%s; fix the file (indent with "
                                 "spaces, quote values that contain ': ' or start with '*', "
                                 "'&', '!', '%%', '@' or '`')",
                src, m->line + 1, m->column + 1, p.problem ? p.problem : "syntax error",
                p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc;
    if (!root) {
        rc = err_set(err, ERR_CONFIG, "%s: the file is empty; write a model_list (see "
                                      "config/litellm_config.example.yaml)",
                     src);
    } else {
        struct yload Y = {.doc = &doc, .pv = pv, .src = src, .err = err};
        rc = yl_convert(&Y, root, 0, out);
    }
    yaml_document_delete(&doc);
    if (rc == 0) { /* a second document ("---") would be silently ignored: refuse it */
        if (yaml_parser_load(&p, &doc)) {
            yaml_node_t *more = yaml_document_get_root_node(&doc);
            if (more)
                rc = err_set(err, ERR_CONFIG, "%s:%zu:%zu: a second YAML document; "
                                              "litellm_config.yaml holds one (remove the "
                                              "\"---\" line and what follows, or merge it)",
                             src, more->start_mark.line + 1, more->start_mark.column + 1);
            yaml_document_delete(&doc);
        }
        if (rc) {
            cJSON_Delete(*out);
            *out = NULL;
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Provider prefixes: LiteLLM's names -> ccrelay's wire formats and endpoints                  */

enum base_rule {
    BASE_CHAT,      /* OpenAI-compatible: api_base + /chat/completions */
    BASE_OLLAMA,    /* api_base (the server root) + /v1/chat/completions */
    BASE_ANTHROPIC, /* api_base + /v1/messages */
    BASE_GEMINI,    /* api_base + /v1beta/models/ */
};

struct prefix {
    const char *name;     /* LiteLLM's provider prefix */
    const char *provider; /* base of the generated provider name */
    enum wire_format format;
    const char *url;     /* default endpoint; NULL: api_base is required */
    const char *profile; /* openai translator profile (options.profile); NULL: inferred */
    const char *key_env; /* the variable LiteLLM reads when api_key is absent; NULL: no key */
    enum base_rule rule;
};

static const struct prefix PREFIXES[] = {
    {"openrouter", "openrouter", FMT_OPENAI, "https://openrouter.ai/api/v1/chat/completions",
     "openrouter", "OPENROUTER_API_KEY", BASE_CHAT},
    {"gemini", "gemini", FMT_GEMINI, "https://generativelanguage.googleapis.com/v1beta/models/",
     NULL, "GEMINI_API_KEY", BASE_GEMINI},
    {"openai", "openai", FMT_OPENAI, "https://api.openai.com/v1/chat/completions", "openai",
     "OPENAI_API_KEY", BASE_CHAT},
    {"anthropic", "anthropic", FMT_ANTHROPIC, "https://api.anthropic.com/v1/messages", NULL,
     "ANTHROPIC_API_KEY", BASE_ANTHROPIC},
    {"deepseek", "deepseek", FMT_OPENAI, "https://api.deepseek.com/chat/completions",
     "deepseek", "DEEPSEEK_API_KEY", BASE_CHAT},
    {"ollama", "ollama", FMT_OPENAI, "http://localhost:11434/v1/chat/completions", "ollama",
     NULL, BASE_OLLAMA},
    {"ollama_chat", "ollama", FMT_OPENAI, "http://localhost:11434/v1/chat/completions",
     "ollama", NULL, BASE_OLLAMA},
    {"groq", "groq", FMT_OPENAI, "https://api.groq.com/openai/v1/chat/completions", "groq",
     "GROQ_API_KEY", BASE_CHAT},
    {"xai", "xai", FMT_OPENAI, "https://api.x.ai/v1/chat/completions", "xai", "XAI_API_KEY",
     BASE_CHAT},
    {"mistral", "mistral", FMT_OPENAI, "https://api.mistral.ai/v1/chat/completions", NULL,
     "MISTRAL_API_KEY", BASE_CHAT},
    {"hosted_vllm", "vllm", FMT_OPENAI, NULL, "vllm", NULL, BASE_CHAT},
    {"lm_studio", "lmstudio", FMT_OPENAI, "http://localhost:1234/v1/chat/completions", "vllm",
     NULL, BASE_CHAT},
};
#define NPREFIXES (sizeof PREFIXES / sizeof PREFIXES[0])
#define PREFIX_LIST                                                                           \
    "openrouter/, gemini/, openai/, anthropic/, deepseek/, ollama/, ollama_chat/, groq/, "   \
    "xai/, mistral/, hosted_vllm/, lm_studio/"

static const struct prefix *find_prefix(const char *s, size_t n) {
    for (size_t i = 0; i < NPREFIXES; i++)
        if (strlen(PREFIXES[i].name) == n && strncasecmp(PREFIXES[i].name, s, n) == 0)
            return &PREFIXES[i];
    return NULL;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* The endpoint for api_base under prefix `px`; malloc'd. */
static char *endpoint(const struct prefix *px, const char *base) {
    size_t n = strlen(base);
    const char *q = base + strcspn(base, "?#"); /* a query stays at the end */
    size_t pl = (size_t)(q - base);
    while (pl > 0 && base[pl - 1] == '/') pl--;
    const char *add = "";
    switch (px->rule) {
    case BASE_CHAT:
        if (!ends_with(base, pl, "/chat/completions")) add = "/chat/completions";
        break;
    case BASE_OLLAMA:
        if (!ends_with(base, pl, "/chat/completions"))
            add = ends_with(base, pl, "/v1") ? "/chat/completions" : "/v1/chat/completions";
        break;
    case BASE_ANTHROPIC:
        if (!ends_with(base, pl, "/messages"))
            add = ends_with(base, pl, "/v1") ? "/messages" : "/v1/messages";
        break;
    case BASE_GEMINI: {
        bool models = false;
        for (size_t i = 0; i + 7 <= pl && !models; i++)
            models = strncasecmp(base + i, "/models", 7) == 0;
        add = models ? "/" : ends_with(base, pl, "/v1beta") ? "/models/" : "/v1beta/models/";
        break;
    }
    }
    size_t total = pl + strlen(add) + (n - (size_t)(q - base)) + 1;
    char *u = malloc(total);
    if (u) snprintf(u, total, "%.*s%s%s", (int)pl, base, add, q);
    return u;
}

/* ------------------------------------------------------------------------------------------ */
/* The conversion                                                                              */


/* One generated provider. */
struct gen {
    cJSON *obj; /* in conv.providers */
    enum wire_format format;
    const char *url; /* borrowed from obj */
    const char *key; /* borrowed from obj; NULL: none */
    bool wildcard;   /* serves a wildcard model: its own provider, accepts any model */
};

struct conv {
    const char *src;
    const struct posv *pv; /* NULL for an inline JSON object */
    struct err *err;
    const char *const *taken;
    size_t ntaken;
    const cJSON *envvars; /* environment_variables, or NULL */

    cJSON *providers, *model_map, *groups;
    struct gen *gens;
    size_t ngens;
    long timeout_ms;
    char *master_key;
    char **notes;
    size_t nnotes;
};

static const char *type_name(const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return "nothing (null)";
    if (cJSON_IsBool(n)) return "a boolean";
    if (cJSON_IsNumber(n)) return "a number";
    if (cJSON_IsString(n)) return "a string";
    if (cJSON_IsArray(n)) return "a list";
    if (cJSON_IsObject(n)) return "a mapping";
    return "an unknown value";
}

/* "<src>:<line>:<col>: <path>: <message>" (no line for an inline object or a node that has no
 * recorded place, e.g. one that came through a merge key). */
__attribute__((format(printf, 4, 5))) static int fail(struct conv *C, const cJSON *at,
                                                      const char *path, const char *fmt, ...) {
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct pos *p = pos_of(C->pv, at);
    if (p)
        return err_set(C->err, ERR_CONFIG, "%s:%d:%d: %s: %s", C->src, p->line, p->col,
                       path && *path ? path : "(top level)", msg);
    return err_set(C->err, ERR_CONFIG, "%s: %s: %s", C->src, path && *path ? path : "(top level)",
                   msg);
}

static int nomem(struct conv *C) {
    return err_set(C->err, ERR_NOMEM, "%s: out of memory while reading the LiteLLM config",
                   C->src);
}

__attribute__((format(printf, 2, 3))) static int note(struct conv *C, const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nv = realloc(C->notes, (C->nnotes + 2) * sizeof *nv);
    if (!nv) return nomem(C);
    C->notes = nv;
    if (!(nv[C->nnotes] = strdup(buf))) return nomem(C);
    nv[++C->nnotes] = NULL;
    return 0;
}

/* "file:line: " for notes, or "file: " */
static void place(const struct conv *C, const cJSON *at, char *buf, size_t n) {
    const struct pos *p = pos_of(C->pv, at);
    if (p)
        snprintf(buf, n, "%s:%d", C->src, p->line);
    else
        snprintf(buf, n, "%s", C->src);
}

/* A string value, with `os.environ/NAME` looked up in environment_variables (the file's, as
 * LiteLLM sets them first) and then the environment. Returns 0 with *val (borrowed, NULL when
 * the variable is unset: *var then names it), or -1. */
static int env_string(struct conv *C, const cJSON *n, const char *path, const char **val,
                      char *var, size_t varcap) {
    *val = NULL;
    var[0] = '\0';
    if (!cJSON_IsString(n))
        return fail(C, n, path, "must be a string, found %s", type_name(n));
    const char *s = n->valuestring;
    if (strncmp(s, ENV_PREFIX, strlen(ENV_PREFIX)) != 0) {
        *val = s;
        return 0;
    }
    const char *name = s + strlen(ENV_PREFIX);
    size_t nl = strlen(name);
    if (nl == 0 || nl >= varcap || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                                                "vwxyz0123456789_") != nl)
        return fail(C, n, path, "\"%.80s\" does not name an environment variable; write "
                                "os.environ/NAME",
                    s);
    snprintf(var, varcap, "%s", name);
    const cJSON *fv = cJSON_GetObjectItemCaseSensitive(C->envvars, name);
    if (cJSON_IsString(fv)) {
        *val = fv->valuestring;
        return 0;
    }
    const char *e = getenv(name);
    *val = e && *e ? e : NULL;
    return 0;
}

static int check_object(struct conv *C, const cJSON *n, const char *path, const char *what) {
    if (cJSON_IsObject(n)) return 0;
    return fail(C, n, path, "must be a mapping (%s), found %s", what, type_name(n));
}

/* A number of seconds (LiteLLM's timeouts) -> ms. */
static int seconds_ms(struct conv *C, const cJSON *n, const char *path, long *ms) {
    if (!cJSON_IsNumber(n) || !(n->valuedouble > 0) || n->valuedouble > 86400.0 * 7)
        return fail(C, n, path, "must be a number of seconds above 0 (e.g. 600), found %s",
                    cJSON_IsNumber(n) ? "a number out of range" : type_name(n));
    *ms = (long)ceil(n->valuedouble * 1000.0);
    return 0;
}

static int small_int(struct conv *C, const cJSON *n, const char *path, long lo, long hi,
                     long *out) {
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < lo ||
        n->valuedouble > hi)
        return fail(C, n, path, "must be a whole number from %ld to %ld, found %s", lo, hi,
                    cJSON_IsNumber(n) ? "a number out of range" : type_name(n));
    *out = (long)n->valuedouble;
    return 0;
}

/* ---- glob matching (model_name patterns), case-insensitive ---- */

static bool glob_match(const char *g, const char *s) {
    while (*g) {
        if (*g == '*') {
            while (*g == '*') g++;
            if (!*g) return true;
            for (; *s; s++)
                if (glob_match(g, s)) return true;
            return false;
        }
        if (!*s || tolower((unsigned char)*g) != tolower((unsigned char)*s)) return false;
        g++, s++;
    }
    return *s == '\0';
}

/* Does `name` reach a model group: an exact model_name, an alias, or a pattern? */
static bool names_group(const struct conv *C, const char *name) {
    const cJSON *g;
    cJSON_ArrayForEach(g, C->groups) {
        const char *mn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "model_name"));
        if (mn && (strcasecmp(mn, name) == 0 || (strchr(mn, '*') && glob_match(mn, name))))
            return true;
    }
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(C->model_map, "aliases");
    return cJSON_GetObjectItemCaseSensitive(al, name) != NULL;
}

/* ---- providers ---- */

static bool name_taken(const struct conv *C, const char *name) {
    for (size_t i = 0; i < C->ntaken; i++)
        if (C->taken[i] && strcasecmp(C->taken[i], name) == 0) return true;
    for (size_t i = 0; i < C->ngens; i++) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(C->gens[i].obj, "name"));
        if (n && strcasecmp(n, name) == 0) return true;
    }
    return false;
}

/* The provider for one deployment: an existing one with the same format, endpoint and key whose
 * knobs for this model agree, else a new one. `knobs` (owned, may be NULL) are this model's
 * options (model_max_output, extra_headers, extra_body). Returns the provider's name, or NULL
 * (err set). */
static const char *provider_for(struct conv *C, const struct prefix *px, const char *url,
                                const char *key, const char *model, cJSON *knobs) {
    bool wildcard = strchr(model, '*') != NULL;
    if (knobs && !knobs->child) {
        cJSON_Delete(knobs);
        knobs = NULL;
    }
    for (size_t i = 0; !wildcard && i < C->ngens; i++) {
        struct gen *g = &C->gens[i];
        if (g->wildcard || g->format != px->format || strcmp(g->url, url) != 0 ||
            (g->key == NULL) != (key == NULL) || (key && strcmp(g->key, key) != 0))
            continue;
        cJSON *models = cJSON_GetObjectItemCaseSensitive(g->obj, "models");
        cJSON *mo = cJSON_GetObjectItemCaseSensitive(g->obj, "model_options");
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(mo, model);
        bool listed = false;
        const cJSON *m;
        cJSON_ArrayForEach(m, models) listed = listed || strcmp(m->valuestring, model) == 0;
        if (listed && !(have == NULL && knobs == NULL) && !(have && knobs && cJSON_Compare(have, knobs, 1)))
            continue; /* the same model with other knobs: another provider */
        if (!listed) {
            cJSON *s = cJSON_CreateString(model);
            if (!s) goto oom;
            cJSON_AddItemToArray(models, s);
            if (knobs) {
                if (!mo && !(mo = cJSON_AddObjectToObject(g->obj, "model_options"))) goto oom;
                cJSON_AddItemToObject(mo, model, knobs);
                knobs = NULL;
            }
        }
        cJSON_Delete(knobs);
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g->obj, "name"));
    }
    struct gen *ng = realloc(C->gens, (C->ngens + 1) * sizeof *ng);
    if (!ng) goto oom;
    C->gens = ng;
    char name[64];
    snprintf(name, sizeof name, "%s", px->provider);
    int seq = 1; /* start after the providers of this prefix made so far: one probe, usually */
    for (size_t i = 0; i < C->ngens; i++) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(C->gens[i].obj, "name"));
        seq += n && strncmp(n, px->provider, strlen(px->provider)) == 0;
    }
    if (seq > 1) snprintf(name, sizeof name, "%s-%d", px->provider, seq);
    while (name_taken(C, name)) snprintf(name, sizeof name, "%s-%d", px->provider, ++seq);
    cJSON *o = cJSON_CreateObject();
    if (!o) goto oom;
    cJSON_AddItemToArray(C->providers, o);
    cJSON *opts = cJSON_CreateObject();
    if (!cJSON_AddStringToObject(o, "name", name) ||
        !cJSON_AddStringToObject(o, "api_base_url", url) ||
        !cJSON_AddStringToObject(o, "format", wire_format_name(px->format)) || !opts)
        goto oom_opts;
    if (key && !cJSON_AddStringToObject(o, "api_key", key)) goto oom_opts;
    if (px->profile && !cJSON_AddStringToObject(opts, "profile", px->profile)) goto oom_opts;
    cJSON *models = NULL;
    if (!wildcard) {
        if (!(models = cJSON_AddArrayToObject(o, "models"))) goto oom_opts;
        cJSON *s = cJSON_CreateString(model);
        if (!s) goto oom_opts;
        cJSON_AddItemToArray(models, s);
        if (knobs) {
            cJSON *mo = cJSON_AddObjectToObject(o, "model_options");
            if (!mo) goto oom_opts;
            cJSON_AddItemToObject(mo, model, knobs);
            knobs = NULL;
        }
    } else if (knobs) { /* a wildcard deployment has its own provider: its knobs are global */
        cJSON *k = knobs->child;
        while (k) {
            cJSON *next = k->next;
            cJSON_AddItemToObject(opts, k->string, cJSON_DetachItemViaPointer(knobs, k));
            k = next;
        }
    }
    cJSON_Delete(knobs);
    knobs = NULL;
    cJSON_AddItemToObject(o, "options", opts);
    struct gen *g = &C->gens[C->ngens++];
    g->obj = o;
    g->format = px->format;
    g->url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "api_base_url"));
    g->key = key ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "api_key")) : NULL;
    g->wildcard = wildcard;
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
oom_opts:
    cJSON_Delete(opts);
oom:
    cJSON_Delete(knobs);
    nomem(C);
    return NULL;
}

/* ---- model_list ---- */

/* litellm_params keys that become a sampling default of the upstream body (extra_body); only
 * the OpenAI translator applies extra_body. */
static const char *const BODY_PARAMS[] = {"temperature",       "top_p", "top_k",
                                          "seed",              "stop",  "presence_penalty",
                                          "frequency_penalty", NULL};

/* litellm_params keys accepted without effect (metadata, or what ccrelay always does). */
static const char *const INERT_PARAMS[] = {"drop_params", "input_cost_per_token",
                                           "output_cost_per_token", "model_info", NULL};

/* One litellm_params mapping, its keys sorted out (each pointer NULL when absent). */
struct params {
    const cJSON *lp;
    const cJSON *model, *base, *key, *cprov;
    const cJSON *weight, *rpm, *tpm, *order;
    const cJSON *maxtok, *headers, *xbody;
    const cJSON *first_sampling; /* the first of BODY_PARAMS, for messages */
};

/* Sort the keys of litellm_params; refuse what ccrelay cannot honour. */
static int read_params(struct conv *C, const cJSON *lp, struct keypath *p, struct params *P) {
    memset(P, 0, sizeof *P);
    P->lp = lp;
    for (const cJSON *k = lp->child; k; k = k->next) {
        const char *n = k->string;
        size_t o = keypath_key(p, n);
        if (strcmp(n, "model") == 0) P->model = k;
        else if (strcmp(n, "api_base") == 0 || strcmp(n, "base_url") == 0) P->base = k;
        else if (strcmp(n, "api_key") == 0) P->key = k;
        else if (strcmp(n, "custom_llm_provider") == 0) P->cprov = k;
        else if (strcmp(n, "weight") == 0) P->weight = k;
        else if (strcmp(n, "rpm") == 0) P->rpm = k;
        else if (strcmp(n, "tpm") == 0) P->tpm = k;
        else if (strcmp(n, "order") == 0) P->order = k;
        else if (strcmp(n, "max_tokens") == 0) P->maxtok = k;
        else if (strcmp(n, "extra_headers") == 0 || strcmp(n, "headers") == 0) P->headers = k;
        else if (strcmp(n, "extra_body") == 0) P->xbody = k;
        else if (is_one_of(n, BODY_PARAMS)) {
            if (!P->first_sampling) P->first_sampling = k;
        } else if (is_one_of(n, INERT_PARAMS)) {
            /* no effect here */
        } else if (strcmp(n, "timeout") == 0 || strcmp(n, "stream_timeout") == 0) {
            return fail(C, k, p->buf, "a timeout per deployment is not supported; set "
                                      "router_settings.timeout (seconds, for every upstream) or "
                                      "LIMITS in config.json, and remove this key");
        } else if (strcmp(n, "max_retries") == 0) {
            return fail(C, k, p->buf, "retries per deployment are not supported; set "
                                      "router_settings.num_retries (retries of a model group, "
                                      "over its deployments) and remove this key");
        } else if (strcmp(n, "reasoning_effort") == 0) {
            return fail(C, k, p->buf, "not supported here: ccrelay sets the reasoning effort "
                                      "from Claude Code's own thinking settings (/effort); "
                                      "remove this key");
        } else {
            return fail(C, k, p->buf, "unsupported key; ccrelay reads model, api_base, api_key, "
                                      "custom_llm_provider, max_tokens, weight, rpm, tpm, order, "
                                      "extra_headers, extra_body and the sampling parameters "
                                      "temperature, top_p, top_k, seed, stop, presence_penalty, "
                                      "frequency_penalty; remove it");
        }
        keypath_pop(p, o);
    }
    return 0;
}

/* litellm_params.model (and custom_llm_provider) -> the prefix and the upstream model id
 * (borrowed from the tree). */
static int model_prefix(struct conv *C, const struct params *P, struct keypath *p,
                        const struct prefix **pxo, const char **upstream) {
    size_t o = keypath_key(p, "model");
    const cJSON *model = P->model;
    if (!model) return fail(C, P->lp, p->buf, "is missing; write e.g. \"openrouter/x-ai/grok-4.1-fast\"");
    if (!cJSON_IsString(model) || !*model->valuestring)
        return fail(C, model, p->buf, "must be a non-empty string like "
                                      "\"gemini/gemini-2.5-flash\", found %s",
                    cJSON_IsString(model) ? "an empty string" : type_name(model));
    const char *m = model->valuestring;
    const struct prefix *px = NULL;
    *upstream = m;
    if (P->cprov) {
        const cJSON *cp = P->cprov;
        if (!cJSON_IsString(cp) || !(px = find_prefix(cp->valuestring, strlen(cp->valuestring)))) {
            keypath_pop(p, o);
            keypath_key(p, "custom_llm_provider");
            return fail(C, cp, p->buf, "%s%.40s%s is not a provider ccrelay supports; use one of "
                                       "%s (without the slash)",
                        cJSON_IsString(cp) ? "\"" : "",
                        cJSON_IsString(cp) ? cp->valuestring : type_name(cp),
                        cJSON_IsString(cp) ? "\"" : "", PREFIX_LIST);
        }
        size_t pl = strlen(px->name);
        if (strncasecmp(m, px->name, pl) == 0 && m[pl] == '/') *upstream = m + pl + 1;
    } else {
        const char *slash = strchr(m, '/');
        if (slash) px = find_prefix(m, (size_t)(slash - m));
        if (px) {
            *upstream = slash + 1;
        } else if (!slash && (strncasecmp(m, "gpt-", 4) == 0 || strncasecmp(m, "chatgpt-", 8) == 0 ||
                              ((m[0] == 'o' || m[0] == 'O') && m[1] >= '1' && m[1] <= '9'))) {
            px = find_prefix("openai", 6); /* LiteLLM knows OpenAI's model names */
        } else if (!slash && strncasecmp(m, "claude-", 7) == 0) {
            px = find_prefix("anthropic", 9);
        } else {
            return fail(C, model, p->buf, "\"%.80s\" %s; write one of %s before the model id "
                                          "(e.g. \"openrouter/x-ai/grok-4.1-fast\"); an "
                                          "OpenAI-compatible server is \"openai/<model>\" with "
                                          "api_base",
                        m, slash ? "starts with a provider prefix ccrelay does not support"
                                 : "has no provider prefix",
                        PREFIX_LIST);
        }
    }
    if (!**upstream)
        return fail(C, model, p->buf, "\"%.80s\" names no model after the provider prefix", m);
    keypath_pop(p, o);
    *pxo = px;
    return 0;
}

/* The endpoint: api_base (os.environ/ allowed) by the prefix's rule, else its default URL.
 * *url is malloc'd. */
static int endpoint_of(struct conv *C, const struct params *P, const struct prefix *px,
                       struct keypath *p, char **url) {
    *url = NULL;
    const char *bv = NULL;
    if (P->base) {
        char var[128];
        size_t o = keypath_key(p, P->base->string);
        if (env_string(C, P->base, p->buf, &bv, var, sizeof var)) return -1;
        if (!bv)
            return fail(C, P->base, p->buf, "environment variable %s is not set; export it or "
                                            "write the URL",
                        var);
        if (!(strncasecmp(bv, "http://", 7) == 0 || strncasecmp(bv, "https://", 8) == 0) ||
            strcspn(bv, " \t\r\n") != strlen(bv) || strlen(bv) < 10)
            return fail(C, P->base, p->buf, "\"%.80s\" is not an http:// or https:// URL", bv);
        keypath_pop(p, o);
    } else if (!px->url) {
        return fail(C, P->lp, p->buf, "%s/ needs api_base (the server's URL, e.g. "
                                      "\"http://127.0.0.1:8000/v1\")",
                    px->name);
    }
    *url = bv ? endpoint(px, bv) : strdup(px->url);
    return *url ? 0 : nomem(C);
}

/* The key: api_key (os.environ/ allowed), else LiteLLM's variable for the prefix. *key is
 * borrowed (NULL: none); *missing when a variable is named but unset (one start-up note per
 * variable says so). */
static int key_of(struct conv *C, const struct params *P, const struct prefix *px,
                  const char *model_name, struct keypath *p, const char **key, bool *missing) {
    *key = NULL;
    *missing = false;
    char var[128] = "";
    size_t o = keypath_key(p, "api_key");
    if (P->key && !cJSON_IsNull(P->key)) {
        if (env_string(C, P->key, p->buf, key, var, sizeof var)) return -1;
        *missing = *key == NULL && var[0];
    } else if (px->key_env) {
        snprintf(var, sizeof var, "%s", px->key_env);
        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(C->envvars, var);
        *key = cJSON_IsString(fv) ? fv->valuestring : getenv(var);
        /* with api_base (a local or self-hosted server) no key may be needed: not a problem */
        *missing = (*key == NULL || !**key) && !P->base;
    }
    if (*key && !**key) *key = NULL; /* "": no key (a local server) */
    char said[160];
    snprintf(said, sizeof said, " %s is not set;", var);
    bool noted = false;
    for (size_t i = 0; *missing && i < C->nnotes && !noted; i++)
        noted = strstr(C->notes[i], said) != NULL;
    if (*missing && !noted) {
        char where[300];
        place(C, P->key ? P->key : P->lp, where, sizeof where);
        if (note(C, "%s: %s: %s is not set; the deployments that use it (first: \"%.80s\" -> "
                    "%.100s) are tried last and fail with an authentication error; export "
                    "%s=... to enable them",
                 where, p->buf, var, model_name, P->model->valuestring, var))
            return -1;
    }
    keypath_pop(p, o);
    return 0;
}

/* This model's knobs at its provider (providers/options.h): max_tokens -> model_max_output,
 * extra_headers, sampling parameters and extra_body -> extra_body. *out owned, never NULL on
 * success. */
static int knobs_of(struct conv *C, const struct params *P, const struct prefix *px,
                    struct keypath *p, cJSON **out) {
    cJSON *knobs = cJSON_CreateObject(), *body = cJSON_CreateObject();
    *out = NULL;
    if (!knobs || !body) goto oom;
    if (P->maxtok) {
        long v;
        size_t o = keypath_key(p, "max_tokens");
        if (small_int(C, P->maxtok, p->buf, 1, 10000000, &v)) goto bad;
        if (px->format == FMT_ANTHROPIC) {
            fail(C, P->maxtok, p->buf, "cannot be honoured for anthropic/ (the request is "
                                       "passed through unchanged, so Claude Code's max_tokens is "
                                       "sent); remove it");
            goto bad;
        }
        if (!cJSON_AddNumberToObject(knobs, "model_max_output", (double)v)) goto oom;
        keypath_pop(p, o);
    }
    if (P->headers) {
        size_t o = keypath_key(p, P->headers->string);
        if (check_object(C, P->headers, p->buf, "header name: value")) goto bad;
        if (px->format == FMT_ANTHROPIC) {
            fail(C, P->headers, p->buf, "extra headers are not sent to anthropic/ endpoints "
                                        "(pass-through); remove it");
            goto bad;
        }
        for (const cJSON *h = P->headers->child; h; h = h->next) {
            if (!cJSON_IsString(h)) {
                keypath_key(p, h->string);
                fail(C, h, p->buf, "must be a string (quote it), found %s", type_name(h));
                goto bad;
            }
        }
        cJSON *hc = cJSON_Duplicate(P->headers, 1);
        if (!hc) goto oom;
        cJSON_AddItemToObject(knobs, "extra_headers", hc);
        keypath_pop(p, o);
    }
    for (const cJSON *k = P->lp->child; k; k = k->next) {
        if (!is_one_of(k->string, BODY_PARAMS)) continue;
        cJSON *v = cJSON_Duplicate(k, 1);
        if (!v) goto oom;
        cJSON_AddItemToObject(body, k->string, v);
    }
    if (P->xbody) {
        size_t o = keypath_key(p, "extra_body");
        if (check_object(C, P->xbody, p->buf, "fields merged into the upstream request")) goto bad;
        for (const cJSON *f = P->xbody->child; f; f = f->next) { /* extra_body wins */
            cJSON *v = cJSON_Duplicate(f, 1);
            if (!v) goto oom;
            cJSON_DeleteItemFromObjectCaseSensitive(body, f->string);
            cJSON_AddItemToObject(body, f->string, v);
        }
        keypath_pop(p, o);
    }
    if (body->child) {
        if (px->format != FMT_OPENAI) {
            const cJSON *first = P->first_sampling ? P->first_sampling : P->xbody;
            keypath_key(p, first->string);
            fail(C, first, p->buf, "request parameters from the config are applied only to "
                                   "OpenAI-format providers, not to %s/ (%s format); remove it",
                 px->name, wire_format_name(px->format));
            goto bad;
        }
        cJSON_AddItemToObject(knobs, "extra_body", body);
        body = NULL;
    }
    cJSON_Delete(body);
    *out = knobs;
    return 0;
oom:
    nomem(C);
bad:
    cJSON_Delete(knobs);
    cJSON_Delete(body);
    return -1;
}

/* weight / rpm / tpm (w[i] = -1 when unset) and order (0 when unset). */
static int balance_of(struct conv *C, const struct params *P, struct keypath *p, double w[3],
                      long *ord) {
    const cJSON *wn[3] = {P->weight, P->rpm, P->tpm};
    static const char *const wname[3] = {"weight", "rpm", "tpm"};
    for (int i = 0; i < 3; i++) {
        w[i] = -1;
        if (!wn[i]) continue;
        if (!cJSON_IsNumber(wn[i]) || wn[i]->valuedouble < 0 || !isfinite(wn[i]->valuedouble)) {
            keypath_key(p, wname[i]);
            return fail(C, wn[i], p->buf, "must be a number from 0 up, found %s",
                        type_name(wn[i]));
        }
        w[i] = wn[i]->valuedouble;
    }
    *ord = 0;
    if (P->order) {
        size_t o = keypath_key(p, "order");
        if (small_int(C, P->order, p->buf, 1, 1000000, ord)) return -1;
        keypath_pop(p, o);
    }
    return 0;
}

/* Append `dep` (taken) to the group of model_name, created in first-appearance order. */
static int add_to_group(struct conv *C, const char *model_name, cJSON *dep) {
    cJSON *grp = NULL, *g;
    cJSON_ArrayForEach(g, C->groups) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "model_name")),
                   model_name) == 0)
            grp = g;
    }
    if (!grp) {
        grp = cJSON_CreateObject();
        if (!grp || !cJSON_AddStringToObject(grp, "model_name", model_name) ||
            !cJSON_AddArrayToObject(grp, "deployments")) {
            cJSON_Delete(grp);
            cJSON_Delete(dep);
            return nomem(C);
        }
        cJSON_AddItemToArray(C->groups, grp);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(grp, "deployments"), dep);
    return 0;
}

/* model_list[idx]: {model_name, litellm_params, model_info}. */
static int deployment(struct conv *C, const cJSON *d, size_t idx, struct keypath *p) {
    if (check_object(C, d, p->buf, "model_name and litellm_params")) return -1;
    const cJSON *mn = NULL, *lp = NULL;
    for (const cJSON *k = d->child; k; k = k->next) {
        size_t o = keypath_key(p, k->string);
        if (strcmp(k->string, "model_name") == 0)
            mn = k;
        else if (strcmp(k->string, "litellm_params") == 0)
            lp = k;
        else if (strcmp(k->string, "model_info") != 0) /* model_info: metadata, no effect */
            return fail(C, k, p->buf, "unknown key; a model_list entry has model_name, "
                                      "litellm_params and model_info");
        keypath_pop(p, o);
    }
    size_t o = keypath_key(p, "model_name");
    if (!mn)
        return fail(C, d, p->buf, "is missing; write the model name clients ask for (e.g. "
                                  "\"claude-sonnet-*\")");
    if (!cJSON_IsString(mn) || !*mn->valuestring)
        return fail(C, mn, p->buf, "must be a non-empty string, found %s",
                    cJSON_IsString(mn) ? "an empty string" : type_name(mn));
    const char *model_name = mn->valuestring;
    keypath_pop(p, o);

    keypath_key(p, "litellm_params");
    if (!lp) return fail(C, d, p->buf, "is missing; write at least litellm_params.model");
    if (check_object(C, lp, p->buf, "model, api_base, api_key, ...")) return -1;
    struct params P;
    const struct prefix *px = NULL;
    const char *upstream = NULL, *key = NULL;
    bool missing = false;
    double w[3] = {-1, -1, -1};
    long ord = 0;
    char *url = NULL;
    cJSON *knobs = NULL;
    if (read_params(C, lp, p, &P) || model_prefix(C, &P, p, &px, &upstream) ||
        endpoint_of(C, &P, px, p, &url) || key_of(C, &P, px, model_name, p, &key, &missing) ||
        knobs_of(C, &P, px, p, &knobs) || balance_of(C, &P, p, w, &ord)) {
        free(url);
        cJSON_Delete(knobs);
        return -1;
    }
    const char *pname = provider_for(C, px, url, key, upstream, knobs); /* takes knobs */
    free(url);
    if (!pname) return -1;

    cJSON *dep = cJSON_CreateObject();
    const struct pos *ps = pos_of(C->pv, d);
    if (!dep || !cJSON_AddStringToObject(dep, "provider", pname) ||
        !cJSON_AddStringToObject(dep, "model", upstream) ||
        !cJSON_AddStringToObject(dep, "litellm_model", P.model->valuestring) ||
        (w[0] >= 0 && !cJSON_AddNumberToObject(dep, "_weight", w[0])) ||
        (w[1] >= 0 && !cJSON_AddNumberToObject(dep, "_rpm", w[1])) ||
        (w[2] >= 0 && !cJSON_AddNumberToObject(dep, "_tpm", w[2])) ||
        (ord > 0 && !cJSON_AddNumberToObject(dep, "order", (double)ord)) ||
        (missing && !cJSON_AddTrueToObject(dep, "missing_key")) ||
        !cJSON_AddNumberToObject(dep, "index", (double)idx) ||
        (ps && !cJSON_AddNumberToObject(dep, "line", ps->line))) {
        cJSON_Delete(dep);
        return nomem(C);
    }
    return add_to_group(C, model_name, dep);
}

/* Each group's effective weights, as LiteLLM's simple-shuffle takes them: `weight` when a
 * deployment of the group sets it, else rpm, else tpm (a deployment without the value counts
 * 0), else all equal. */
static int finish_weights(struct conv *C) {
    static const char *const src[] = {"_weight", "_rpm", "_tpm"};
    cJSON *g;
    cJSON_ArrayForEach(g, C->groups) {
        cJSON *deps = cJSON_GetObjectItemCaseSensitive(g, "deployments"), *d;
        int use = -1;
        for (int i = 0; i < 3 && use < 0; i++)
            cJSON_ArrayForEach(d, deps) if (cJSON_GetObjectItemCaseSensitive(d, src[i])) use = i;
        cJSON_ArrayForEach(d, deps) {
            const cJSON *v = use >= 0 ? cJSON_GetObjectItemCaseSensitive(d, src[use]) : NULL;
            double w = use < 0 ? 1.0 : cJSON_IsNumber(v) ? v->valuedouble : 0.0;
            for (int i = 0; i < 3; i++) cJSON_DeleteItemFromObjectCaseSensitive(d, src[i]);
            if (!cJSON_AddNumberToObject(d, "weight", w)) return nomem(C);
        }
    }
    return 0;
}

static int model_list(struct conv *C, const cJSON *ml) {
    struct keypath p = {.buf = "", .len = 0};
    keypath_key(&p, "model_list");
    if (!cJSON_IsArray(ml) || !ml->child)
        return fail(C, ml, p.buf, "must be a non-empty list of {model_name, litellm_params}, "
                                  "found %s",
                    cJSON_IsArray(ml) ? "an empty list" : type_name(ml));
    if (cJSON_GetArraySize(ml) > MAX_ENTRIES)
        return fail(C, ml, p.buf, "has %d entries; ccrelay takes at most %d", cJSON_GetArraySize(ml),
                    MAX_ENTRIES);
    size_t i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, ml) {
        size_t o = keypath_index(&p, i);
        if (deployment(C, d, i, &p)) return -1;
        keypath_pop(&p, o);
        i++;
    }
    return finish_weights(C);
}

/* ---- router_settings / litellm_settings / general_settings ---- */

/* A list of model names (or one name). */
static int name_list(struct conv *C, const cJSON *v, const char *path, cJSON **out) {
    *out = cJSON_CreateArray();
    if (!*out) return nomem(C);
    if (cJSON_IsString(v)) {
        cJSON_AddItemToArray(*out, cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e) || !*e->valuestring) {
                cJSON_Delete(*out);
                *out = NULL;
                return fail(C, e, path, "must list model names (strings), found %s",
                            type_name(e));
            }
            cJSON_AddItemToArray(*out, cJSON_CreateString(e->valuestring));
        }
    } else {
        cJSON_Delete(*out);
        *out = NULL;
        return fail(C, v, path, "must be a list of model names, found %s", type_name(v));
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, *out) {
        if (!names_group(C, e->valuestring)) {
            fail(C, v, path, "\"%.80s\" is no model_name of model_list (nor an alias, nor "
                             "matched by a wildcard); add it or fix the name",
                 e->valuestring);
            cJSON_Delete(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

/* fallbacks: [{"group": ["other", ...]}, ...] (LiteLLM's shape), or one mapping. */
static int fallbacks(struct conv *C, const cJSON *v, const char *path) {
    cJSON *fb = cJSON_GetObjectItemCaseSensitive(C->model_map, "fallbacks");
    if (!fb && !(fb = cJSON_AddObjectToObject(C->model_map, "fallbacks"))) return nomem(C);
    char sub[320];
    size_t i = 0;
    const cJSON *e = cJSON_IsArray(v) ? v->child : v;
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return fail(C, v, path, "must be a list like [{\"claude-sonnet-*\": [\"gpt-4o\"]}], "
                                "found %s",
                    type_name(v));
    for (; e; e = cJSON_IsArray(v) ? e->next : NULL, i++) {
        if (cJSON_IsArray(v)) snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        else snprintf(sub, sizeof sub, "%s", path);
        if (!cJSON_IsObject(e))
            return fail(C, e, sub, "must be a mapping {model_name: [fallback names]}, found %s",
                        type_name(e));
        for (const cJSON *k = e->child; k; k = k->next) {
            char kp[400];
            snprintf(kp, sizeof kp, "%s.%s", sub, k->string);
            if (!names_group(C, k->string))
                return fail(C, k, kp, "\"%.80s\" is no model_name of model_list (nor an alias, "
                                      "nor matched by a wildcard); fix the name",
                            k->string);
            cJSON *list;
            if (name_list(C, k, kp, &list)) return -1;
            cJSON_DeleteItemFromObjectCaseSensitive(fb, k->string);
            cJSON_AddItemToObject(fb, k->string, list);
        }
    }
    return 0;
}

static int retries(struct conv *C, const cJSON *v, const char *path) {
    long n;
    if (small_int(C, v, path, 0, 7, &n)) return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(C->model_map, "num_retries");
    return cJSON_AddNumberToObject(C->model_map, "num_retries", (double)n) ? 0 : nomem(C);
}

static int default_fallbacks(struct conv *C, const cJSON *v, const char *path) {
    cJSON *list;
    if (name_list(C, v, path, &list)) return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(C->model_map, "default_fallbacks");
    cJSON_AddItemToObject(C->model_map, "default_fallbacks", list);
    return 0;
}

static int router_settings(struct conv *C, const cJSON *rs) {
    if (check_object(C, rs, "router_settings", "routing_strategy, num_retries, ...")) return -1;
    char path[300];
    /* num_retries here wins over litellm_settings' (read first) */
    for (const cJSON *k = rs->child; k; k = k->next) {
        snprintf(path, sizeof path, "router_settings.%s", k->string);
        const char *n = k->string;
        if (strcmp(n, "routing_strategy") == 0) {
            if (!cJSON_IsString(k) || (strcmp(k->valuestring, "simple-shuffle") != 0 &&
                                       strcmp(k->valuestring, "round-robin") != 0))
                return fail(C, k, path, "%s%.60s%s cannot be honoured; ccrelay balances with "
                                        "\"simple-shuffle\" (LiteLLM's default: weighted random) "
                                        "or \"round-robin\"",
                            cJSON_IsString(k) ? "\"" : "",
                            cJSON_IsString(k) ? k->valuestring : type_name(k),
                            cJSON_IsString(k) ? "\"" : "");
            cJSON_DeleteItemFromObjectCaseSensitive(C->model_map, "routing_strategy");
            if (!cJSON_AddStringToObject(C->model_map, "routing_strategy", k->valuestring))
                return nomem(C);
        } else if (strcmp(n, "num_retries") == 0) {
            if (retries(C, k, path)) return -1;
        } else if (strcmp(n, "timeout") == 0) {
            if (seconds_ms(C, k, path, &C->timeout_ms)) return -1;
        } else if (strcmp(n, "fallbacks") == 0) {
            if (fallbacks(C, k, path)) return -1;
        } else if (strcmp(n, "default_fallbacks") == 0) {
            if (default_fallbacks(C, k, path)) return -1;
        } else if (strcmp(n, "model_group_alias") == 0) {
            continue; /* read before the fallbacks, see litellm_convert */
        } else if (strcmp(n, "context_window_fallbacks") == 0 ||
                   strcmp(n, "content_policy_fallbacks") == 0) {
            return fail(C, k, path, "cannot be honoured: ccrelay fails over on connection errors, "
                                    "429 and 5xx only; remove it (Router.longContext in "
                                    "config.json routes long requests)");
        } else {
            return fail(C, k, path, "unsupported key; ccrelay reads routing_strategy, "
                                    "num_retries, timeout, fallbacks, default_fallbacks and "
                                    "model_group_alias here; remove it");
        }
    }
    return 0;
}

static int aliases(struct conv *C, const cJSON *v) {
    const char *path = "router_settings.model_group_alias";
    if (check_object(C, v, path, "alias: model_name")) return -1;
    cJSON *al = cJSON_AddObjectToObject(C->model_map, "aliases");
    if (!al) return nomem(C);
    char sub[300];
    for (const cJSON *k = v->child; k; k = k->next) {
        snprintf(sub, sizeof sub, "%s.%s", path, k->string);
        const cJSON *t = k;
        if (cJSON_IsObject(k)) { /* {model: name, hidden: bool} */
            t = cJSON_GetObjectItemCaseSensitive(k, "model");
            for (const cJSON *f = k->child; f; f = f->next)
                if (strcmp(f->string, "model") != 0 && strcmp(f->string, "hidden") != 0)
                    return fail(C, f, sub, "unknown key \"%.40s\"; an alias is a name or "
                                           "{model: name, hidden: true|false}",
                                f->string);
        }
        if (!cJSON_IsString(t) || !*t->valuestring)
            return fail(C, k, sub, "must name a model_name of model_list");
        if (!names_group(C, t->valuestring))
            return fail(C, k, sub, "\"%.80s\" is no model_name of model_list; fix the name",
                        t->valuestring);
        if (!cJSON_AddStringToObject(al, k->string, t->valuestring)) return nomem(C);
    }
    return 0;
}

static int litellm_settings(struct conv *C, const cJSON *ls) {
    if (check_object(C, ls, "litellm_settings", "num_retries, request_timeout, ...")) return -1;
    char path[300];
    for (const cJSON *k = ls->child; k; k = k->next) {
        snprintf(path, sizeof path, "litellm_settings.%s", k->string);
        const char *n = k->string;
        if (strcmp(n, "num_retries") == 0) {
            if (retries(C, k, path)) return -1;
        } else if (strcmp(n, "request_timeout") == 0) {
            if (seconds_ms(C, k, path, &C->timeout_ms)) return -1;
        } else if (strcmp(n, "fallbacks") == 0) {
            if (fallbacks(C, k, path)) return -1;
        } else if (strcmp(n, "default_fallbacks") == 0) {
            if (default_fallbacks(C, k, path)) return -1;
        } else if (strcmp(n, "drop_params") == 0) {
            if (!cJSON_IsBool(k)) return fail(C, k, path, "must be true or false");
            /* ccrelay's translators always drop what an upstream does not take */
        } else if (strcmp(n, "set_verbose") == 0 || strcmp(n, "json_logs") == 0) {
            if (!cJSON_IsBool(k)) return fail(C, k, path, "must be true or false");
            char where[300];
            place(C, k, where, sizeof where);
            if (cJSON_IsTrue(k) && note(C, "%s: %s has no effect; LOG_LEVEL in config.json (or "
                                           "--log-level) sets ccrelay's log detail",
                                        where, path))
                return -1;
        } else if (strcmp(n, "context_window_fallbacks") == 0 ||
                   strcmp(n, "content_policy_fallbacks") == 0) {
            return fail(C, k, path, "cannot be honoured: ccrelay fails over on connection errors, "
                                    "429 and 5xx only; remove it (Router.longContext in "
                                    "config.json routes long requests)");
        } else {
            return fail(C, k, path, "unsupported key; ccrelay reads num_retries, "
                                    "request_timeout, fallbacks, default_fallbacks, drop_params, "
                                    "set_verbose and json_logs here; remove it (callbacks, "
                                    "caching and the like are LiteLLM services)");
        }
    }
    return 0;
}

static int general_settings(struct conv *C, const cJSON *gs) {
    if (check_object(C, gs, "general_settings", "master_key")) return -1;
    char path[300], var[128];
    for (const cJSON *k = gs->child; k; k = k->next) {
        snprintf(path, sizeof path, "general_settings.%s", k->string);
        if (strcmp(k->string, "master_key") != 0)
            return fail(C, k, path, "unsupported key; ccrelay reads only master_key here (its "
                                    "APIKEY); remove it");
        const char *v;
        if (env_string(C, k, path, &v, var, sizeof var)) return -1;
        if (!v)
            return fail(C, k, path, "environment variable %s is not set; export it or remove "
                                    "master_key",
                        var);
        free(C->master_key);
        if (!(C->master_key = strdup(v))) return nomem(C);
    }
    return 0;
}

static int environment_variables(struct conv *C, const cJSON *ev, cJSON **out) {
    const char *path = "environment_variables";
    *out = NULL;
    if (check_object(C, ev, path, "NAME: value")) return -1;
    cJSON *o = cJSON_CreateObject();
    if (!o) return nomem(C);
    for (const cJSON *k = ev->child; k; k = k->next) {
        char buf[64];
        const char *s = NULL;
        if (cJSON_IsString(k)) s = k->valuestring;
        else if (cJSON_IsNumber(k)) s = (snprintf(buf, sizeof buf, "%.17g", k->valuedouble), buf);
        else if (cJSON_IsBool(k)) s = cJSON_IsTrue(k) ? "True" : "False";
        if (!s) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s.%s", path, k->string);
            cJSON_Delete(o);
            return fail(C, k, sub, "must be a string, found %s", type_name(k));
        }
        if (!cJSON_AddStringToObject(o, k->string, s)) {
            cJSON_Delete(o);
            return nomem(C);
        }
    }
    *out = o;
    return 0;
}

static int convert(struct conv *C, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return err_set(C->err, ERR_CONFIG, "%s: the file must be a mapping with a model_list, "
                                           "found %s",
                       C->src, type_name(root));
    C->providers = cJSON_CreateArray();
    C->model_map = cJSON_CreateObject();
    C->groups = cJSON_CreateArray();
    if (!C->providers || !C->model_map || !C->groups) return nomem(C);
    cJSON_AddItemToObject(C->model_map, "groups", C->groups);
    if (!cJSON_AddStringToObject(C->model_map, "source", C->src) ||
        !cJSON_AddStringToObject(C->model_map, "routing_strategy", "simple-shuffle") ||
        !cJSON_AddNumberToObject(C->model_map, "num_retries", 0))
        return nomem(C);

    const cJSON *ml = NULL, *rs = NULL, *ls = NULL, *gs = NULL, *ev = NULL;
    for (const cJSON *k = root->child; k; k = k->next) {
        const char *n = k->string;
        if (strcmp(n, "model_list") == 0) ml = k;
        else if (strcmp(n, "router_settings") == 0) rs = k;
        else if (strcmp(n, "litellm_settings") == 0) ls = k;
        else if (strcmp(n, "general_settings") == 0) gs = k;
        else if (strcmp(n, "environment_variables") == 0) ev = k;
        else if (strcmp(n, "include") == 0)
            return fail(C, k, n, "including other files is not supported; copy their "
                                 "model_list entries into this file");
        else
            return fail(C, k, n, "unknown key; ccrelay reads model_list, router_settings, "
                                 "litellm_settings, general_settings and environment_variables; "
                                 "remove it");
    }
    cJSON *env = NULL;
    if (ev && !cJSON_IsNull(ev) && environment_variables(C, ev, &env)) return -1;
    C->envvars = env;
    int rc = -1;
    if (!ml) {
        err_set(C->err, ERR_CONFIG, "%s: model_list is missing; list the model names to serve "
                                    "(see config/litellm_config.example.yaml)",
                C->src);
        goto out;
    }
    if (model_list(C, ml)) goto out;
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(rs, "model_group_alias");
    if (cJSON_IsObject(rs) && al && aliases(C, al)) goto out;
    /* litellm_settings first, so router_settings wins where both set a value, as in LiteLLM */
    if (ls && !cJSON_IsNull(ls) && litellm_settings(C, ls)) goto out;
    if (rs && !cJSON_IsNull(rs) && router_settings(C, rs)) goto out;
    if (gs && !cJSON_IsNull(gs) && general_settings(C, gs)) goto out;
    /* a wildcard deployment's provider lists no models: it takes any model id */
    for (size_t i = 0; i < C->ngens; i++)
        if (C->gens[i].wildcard) cJSON_DeleteItemFromObjectCaseSensitive(C->gens[i].obj, "models");
    rc = 0;
out:
    C->envvars = NULL;
    cJSON_Delete(env);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

void litellm_map_free(struct litellm_map *m) {
    if (!m) return;
    cJSON_Delete(m->providers);
    cJSON_Delete(m->model_map);
    free(m->master_key);
    for (size_t i = 0; i < m->nnotes; i++) free(m->notes[i]);
    free(m->notes);
    memset(m, 0, sizeof *m);
    m->timeout_ms = -1;
}

static int run(const cJSON *root, const char *source, const struct posv *pv,
               const char *const *taken, size_t ntaken, struct litellm_map *out,
               struct err *err) {
    struct conv C = {.src = source, .pv = pv, .err = err, .taken = taken, .ntaken = ntaken,
                     .timeout_ms = -1};
    int rc = convert(&C, root);
    if (rc == 0) {
        out->providers = C.providers;
        out->model_map = C.model_map;
        out->timeout_ms = C.timeout_ms;
        out->master_key = C.master_key;
        out->notes = C.notes;
        out->nnotes = C.nnotes;
    } else {
        cJSON_Delete(C.providers);
        cJSON_Delete(C.model_map);
        if (!C.model_map) cJSON_Delete(C.groups);
        free(C.master_key);
        for (size_t i = 0; i < C.nnotes; i++) free(C.notes[i]);
        free(C.notes);
    }
    free(C.gens);
    return rc;
}

int litellm_from_json(const cJSON *root, const char *source, const char *const *taken,
                      size_t ntaken, struct litellm_map *out, struct err *err) {
    memset(out, 0, sizeof *out);
    out->timeout_ms = -1;
    return run(root, source ? source : "litellm_config", NULL, taken, ntaken, out, err);
}

int litellm_load_text(const char *text, size_t len, const char *source,
                      const char *const *taken, size_t ntaken, struct litellm_map *out,
                      struct err *err) {
    memset(out, 0, sizeof *out);
    out->timeout_ms = -1;
    if (!source) source = "<litellm config>";
    if (len > LITELLM_MAX_FILE)
        return err_set(err, ERR_CONFIG, "%s: %zu bytes is too large (the limit is 4 MiB)", source,
                       len);
    struct posv pv = {0};
    cJSON *root = NULL;
    int rc = yaml_to_json(text, len, source, &pv, &root, err);
    if (rc == 0) {
        pos_sort(&pv);
        rc = run(root, source, &pv, taken, ntaken, out, err);
    }
    cJSON_Delete(root);
    free(pv.v);
    return rc;
}

int litellm_load_file(const char *path, const char *const *taken, size_t ntaken,
                      struct litellm_map *out, struct err *err) {
    memset(out, 0, sizeof *out);
    out->timeout_ms = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, errno == ENOENT ? ERR_CONFIG : ERR_IO,
                       "%s: cannot open the LiteLLM config: %s (check --litellm-config or the "
                       "litellm_config key; config/litellm_config.example.yaml is a start)",
                       path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return err_set(err, ERR_CONFIG, "%s: is a directory; give the path of "
                                        "litellm_config.yaml",
                       path);
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap > LITELLM_MAX_FILE) break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf) return err_set(err, ERR_NOMEM, "%s: out of memory reading the file", path);
    if (bad) {
        free(buf);
        return err_set(err, ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    int rc = litellm_load_text(buf, n, path, taken, ntaken, out, err);
    free(buf);
    return rc;
}
