/* config: read (JSON5), interpolate ($VAR), validate and index ccrelay's configuration.
 *
 * Load order: text -> json5 tree (root) -> environment interpolation over every string value
 * -> top-level keys, LIMITS, Providers, Router, each checked with its exact key path -> the
 * embedded default's key handling -> struct config. The first problem found stops the load and
 * is reported as "<source>: <key path>: <what is wrong>; <what to do>".
 *
 * Normalisations of root (the tree the policy sees): Router entries that are "" or null are
 * removed (so a policy reads them as nil); in the embedded default, an api_key whose variable
 * is unset is removed, and routes to a keyless provider may be re-pointed (see
 * apply_default_keys). Everything else stays as the user wrote it, unknown keys included.
 *
 * State: none global. A `struct loader` lives for one load; the result owns all its memory. */
#include "keypath.h"
#include "config.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"
#include "json5.h"
#include "litellm.h"

#define CONFIG_MAX_FILE ((size_t)4 << 20)
#define DEFAULT_SOURCE "<embedded default>"
#define DEFAULT_NAME "config/default.json"
#ifndef CCRELAY_DATADIR
#define CCRELAY_DATADIR "/usr/local/share/ccrelay"
#endif
#define EXAMPLE_PATH CCRELAY_DATADIR "/config/config.example.json"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

const char *wire_format_name(enum wire_format f) {
    switch (f) {
    case FMT_ANTHROPIC: return "anthropic";
    case FMT_OPENAI: return "openai";
    case FMT_GEMINI: return "gemini";
    }
    return "?";
}

static int parse_format(const char *s, enum wire_format *out) {
    static const enum wire_format all[] = {FMT_ANTHROPIC, FMT_OPENAI, FMT_GEMINI};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(s, wire_format_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

static const char *type_name(const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return "null";
    if (cJSON_IsBool(n)) return "a boolean";
    if (cJSON_IsNumber(n)) return "a number";
    if (cJSON_IsString(n)) return "a string";
    if (cJSON_IsArray(n)) return "a list";
    if (cJSON_IsObject(n)) return "an object";
    return "an unknown value";
}

struct loader {
    struct config *cfg;
    const char *src; /* names the config in messages */
    struct err *err;
    bool dflt; /* loading the embedded default */
    char **notes;
    size_t nnotes, capnotes;
};

__attribute__((format(printf, 3, 4))) static int fail(struct loader *L, const char *path,
                                                      const char *fmt, ...) {
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(L->err, ERR_CONFIG, "%s: %s: %s", L->src, path, msg);
}

static int nomem(struct loader *L) {
    return err_set(L->err, ERR_NOMEM, "%s: out of memory while loading the configuration",
                   L->src);
}

__attribute__((format(printf, 2, 3))) static int note(struct loader *L, const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (L->nnotes + 2 > L->capnotes) {
        size_t cap = L->capnotes ? L->capnotes * 2 : 8;
        char **n = realloc(L->notes, cap * sizeof *n);
        if (!n) return nomem(L);
        L->notes = n;
        L->capnotes = cap;
    }
    char *s = strdup(buf);
    if (!s) return nomem(L);
    L->notes[L->nnotes++] = s;
    L->notes[L->nnotes] = NULL;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Environment interpolation                                                                   */

enum expand_rc { EXP_OK = 0, EXP_UNSET = 1, EXP_SYNTAX = 2 };

/* One pass over `s`: `$$` -> `$`, `$NAME` / `${NAME}` -> getenv(NAME) (NAME is
 * [A-Za-z_][A-Za-z0-9_]*), any other `$` stays literal. Writes into `out` when not NULL (sized
 * by a first pass with out == NULL); always sets *len. On EXP_UNSET `var` holds the name; on
 * EXP_SYNTAX `*why` says what is wrong. */
static enum expand_rc expand_pass(const char *s, char *out, size_t *len, char *var, size_t varcap,
                                  const char **why) {
    size_t n = 0;
    while (*s) {
        if (*s != '$') {
            if (out) out[n] = *s;
            n++, s++;
            continue;
        }
        if (s[1] == '$') {
            if (out) out[n] = '$';
            n++, s += 2;
            continue;
        }
        bool braced = s[1] == '{';
        const char *name = s + (braced ? 2 : 1);
        const char *e = name;
        if ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || *e == '_') {
            while ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || *e == '_' ||
                   (*e >= '0' && *e <= '9'))
                e++;
        }
        if (braced && (e == name || *e != '}')) {
            *why = e == name && *e == '}' ? "empty ${} (a literal $ is written $$)"
                                          : "'${' must be followed by a variable name and '}' "
                                            "(a literal $ is written $$)";
            return EXP_SYNTAX;
        }
        if (e == name) { /* "$5", "$ ", "$" at the end: a literal dollar */
            if (out) out[n] = '$';
            n++, s++;
            continue;
        }
        size_t nl = (size_t)(e - name);
        if (nl + 1 > varcap) {
            *why = "environment variable name too long";
            return EXP_SYNTAX;
        }
        memcpy(var, name, nl);
        var[nl] = '\0';
        const char *val = getenv(var);
        if (!val) return EXP_UNSET;
        size_t vl = strlen(val);
        if (out) memcpy(out + n, val, vl);
        n += vl;
        s = braced ? e + 1 : e;
    }
    if (out) out[n] = '\0';
    *len = n;
    return EXP_OK;
}

/* Expand `s`: *out is a new cJSON_malloc'd string, or NULL when `s` has no `$` (unchanged).
 * Returns an expand_rc, or -1 when out of memory. */
static int expand(const char *s, char **out, char *var, size_t varcap, const char **why) {
    *out = NULL;
    if (!strchr(s, '$')) return EXP_OK;
    size_t len;
    enum expand_rc rc = expand_pass(s, NULL, &len, var, varcap, why);
    if (rc != EXP_OK) return rc;
    char *buf = cJSON_malloc(len + 1);
    if (!buf) return -1;
    rc = expand_pass(s, buf, &len, var, varcap, why);
    if (rc != EXP_OK) { /* the environment changed between the passes */
        cJSON_free(buf);
        return rc;
    }
    *out = buf;
    return EXP_OK;
}

static void set_valuestring(cJSON *n, char *s) {
    cJSON_free(n->valuestring);
    n->valuestring = s;
}

static int interp_node(struct loader *L, cJSON *n, struct keypath *p);

static int interp_children(struct loader *L, cJSON *n, struct keypath *p) {
    size_t i = 0;
    for (cJSON *c = n->child; c; c = c->next, i++) {
        size_t old = cJSON_IsArray(n) ? keypath_index(p, i) : keypath_key(p, c->string);
        int rc = interp_node(L, c, p);
        keypath_pop(p, old);
        if (rc) return rc;
    }
    return 0;
}

static int interp_node(struct loader *L, cJSON *n, struct keypath *p) {
    if (cJSON_IsArray(n) || cJSON_IsObject(n)) return interp_children(L, n, p);
    if (!cJSON_IsString(n) || !n->valuestring) return 0;
    char var[128], *out;
    const char *why = "";
    int rc = expand(n->valuestring, &out, var, sizeof var, &why);
    if (rc < 0) return nomem(L);
    if (rc == EXP_UNSET)
        return fail(L, p->buf,
                    "environment variable %s is not set; export %s=... before starting ccrelay, "
                    "or write the value in the file (a literal $ is written $$)",
                    var, var);
    if (rc == EXP_SYNTAX) return fail(L, p->buf, "%s", why);
    if (out) set_valuestring(n, out);
    return 0;
}

/* Interpolate the whole tree. In the embedded default, Providers[].api_key is left for
 * apply_default_keys (an unset key is not an error there). */
static int interpolate(struct loader *L, cJSON *root) {
    struct keypath p = {.buf = "", .len = 0};
    for (cJSON *c = root->child; c; c = c->next) {
        size_t old = keypath_key(&p, c->string);
        int rc;
        if (L->dflt && strcmp(c->string, "Providers") == 0 && cJSON_IsArray(c)) {
            rc = 0;
            size_t i = 0;
            for (cJSON *prov = c->child; prov && !rc; prov = prov->next, i++) {
                size_t o2 = keypath_index(&p, i);
                if (cJSON_IsObject(prov)) {
                    for (cJSON *m = prov->child; m && !rc; m = m->next) {
                        if (strcmp(m->string, "api_key") == 0) continue;
                        size_t o3 = keypath_key(&p, m->string);
                        rc = interp_node(L, m, &p);
                        keypath_pop(&p, o3);
                    }
                } else {
                    rc = interp_node(L, prov, &p);
                }
                keypath_pop(&p, o2);
            }
        } else {
            rc = interp_node(L, c, &p);
        }
        keypath_pop(&p, old);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Typed getters: each names the key path in its message                                       */

static const cJSON *member(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool present(const cJSON *n) { return n && !cJSON_IsNull(n); }

/* A member name that appears twice in `obj` (cJSON would read the first, Claude Code Router
 * the last, so neither is silently chosen), or NULL. Objects above 4096 members are not
 * checked (the known objects are small). */
static const char *duplicate_member(const cJSON *obj) {
    size_t n = 0;
    for (const cJSON *a = obj ? obj->child : NULL; a; a = a->next) {
        if (++n > 4096) return NULL;
        for (const cJSON *b = obj->child; b != a; b = b->next)
            if (strcmp(a->string, b->string) == 0) return a->string;
    }
    return NULL;
}

static int no_duplicates(struct loader *L, const cJSON *obj, const char *path) {
    const char *d = duplicate_member(obj);
    if (!d) return 0;
    return fail(L, path, "\"%.60s\" is written twice; keep one", d);
}

/* A string value (borrowed) or NULL when absent/null. */
static int get_str(struct loader *L, const cJSON *n, const char *path, const char **out) {
    *out = NULL;
    if (!present(n)) return 0;
    if (!cJSON_IsString(n) || !n->valuestring)
        return fail(L, path, "must be a string, found %s", type_name(n));
    *out = n->valuestring;
    return 0;
}

/* An integer in [lo, hi]: a JSON number without fraction, or a string of digits (so that
 * "${PORT}" works). */
static int get_long(struct loader *L, const cJSON *n, const char *path, long lo, long hi,
                    long *out) {
    double d;
    if (cJSON_IsNumber(n)) {
        d = n->valuedouble;
    } else if (cJSON_IsString(n) && n->valuestring && *n->valuestring) {
        char *end;
        errno = 0;
        d = strtod(n->valuestring, &end);
        if (*end || errno || end == n->valuestring)
            return fail(L, path, "must be an integer, found the string \"%.40s\"",
                        n->valuestring);
    } else {
        return fail(L, path, "must be an integer, found %s", type_name(n));
    }
    if (!isfinite(d) || d != floor(d))
        return fail(L, path, "must be a whole number, found %g", d);
    if (d < (double)lo || d > (double)hi) {
        if (d < 0 && lo >= 0)
            return fail(L, path, "must not be negative (found %.0f); use a value from %ld to %ld",
                        d, lo, hi);
        return fail(L, path, "must be between %ld and %ld, found %.0f", lo, hi, d);
    }
    *out = (long)d;
    return 0;
}

static int get_bool(struct loader *L, const cJSON *n, const char *path, bool *out) {
    if (cJSON_IsBool(n)) {
        *out = cJSON_IsTrue(n);
        return 0;
    }
    if (cJSON_IsString(n) && n->valuestring) {
        if (strcasecmp(n->valuestring, "true") == 0) return *out = true, 0;
        if (strcasecmp(n->valuestring, "false") == 0) return *out = false, 0;
    }
    return fail(L, path, "must be true or false, found %s", type_name(n));
}

/* "~" or "~/x" -> "$HOME/x"; anything else copied. */
static int expand_tilde(struct loader *L, const char *s, const char *path, char **out) {
    *out = NULL;
    if (s[0] == '~' && (s[1] == '/' || s[1] == '\0')) {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return fail(L, path, "cannot expand '~': HOME is not set; write an absolute path");
        size_t n = strlen(home) + strlen(s);
        *out = malloc(n);
        if (!*out) return nomem(L);
        snprintf(*out, n, "%s%s", home, s + 1);
        return 0;
    }
    *out = strdup(s);
    return *out ? 0 : nomem(L);
}

/* ------------------------------------------------------------------------------------------ */
/* URLs and wire formats                                                                       */

struct url_parts {
    const char *host, *path; /* path: from the first '/' after the authority */
    size_t hostlen, pathlen; /* pathlen stops at '?' or '#' */
};

/* Check an http(s) URL. Returns NULL when fine, else what is wrong. */
static const char *url_check(const char *u, struct url_parts *parts) {
    const char *a;
    if (strncasecmp(u, "https://", 8) == 0)
        a = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        a = u + 7;
    else
        return "is not an http:// or https:// URL";
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) return "contains a space or control character";
    const char *ae = a + strcspn(a, "/?#");
    const char *at = NULL;
    for (const char *c = a; c < ae; c++)
        if (*c == '@') at = c;
    const char *h = at ? at + 1 : a, *he, *port = NULL;
    if (*h == '[') {
        he = memchr(h, ']', (size_t)(ae - h));
        if (!he) return "has an IPv6 host without its closing ']'";
        he++;
        if (he < ae && *he != ':') return "has characters after the IPv6 host";
        if (he < ae) port = he + 1;
    } else {
        he = h;
        while (he < ae && *he != ':') {
            char c = *he;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_'))
                return "has an invalid character in its host name";
            he++;
        }
        if (he < ae) port = he + 1;
    }
    if (he == h || (h[0] == '[' && he - h <= 2)) return "has no host name";
    if (port) {
        long v = 0;
        const char *c = port;
        for (; c < ae && *c >= '0' && *c <= '9' && v <= 65535; c++) v = v * 10 + (*c - '0');
        if (c != ae || c == port || v < 1 || v > 65535)
            return "has a port that is not a number from 1 to 65535";
    }
    if (parts) {
        parts->host = h;
        parts->hostlen = (size_t)((port ? port - 1 : he) - h);
        parts->path = ae;
        parts->pathlen = *ae == '/' ? strcspn(ae, "?#") : 0;
    }
    return NULL;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

static bool contains(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, needle, k) == 0) return true;
    return false;
}

/* The transformer name of one `use` entry: "name" or ["name", {options}]. */
static const char *use_name(const cJSON *u) {
    if (cJSON_IsString(u)) return u->valuestring;
    if (cJSON_IsArray(u) && cJSON_IsString(u->child)) return u->child->valuestring;
    return NULL;
}

/* DESIGN.md "Providers": the URL decides first, then Claude Code Router's transformer names,
 * then openai (the most common shape of a third-party endpoint). */
static enum wire_format infer_format(const struct url_parts *u, const cJSON *transformer) {
    size_t pl = u->pathlen;
    while (pl > 0 && u->path[pl - 1] == '/') pl--;
    if (ends_with(u->path, pl, "/messages")) return FMT_ANTHROPIC;
    if (ends_with(u->path, pl, "/chat/completions")) return FMT_OPENAI;
    if (contains(u->path, pl, "/v1beta/models") ||
        (u->hostlen == strlen("generativelanguage.googleapis.com") &&
         strncasecmp(u->host, "generativelanguage.googleapis.com", u->hostlen) == 0))
        return FMT_GEMINI;
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(transformer, "use");
    const cJSON *t;
    cJSON_ArrayForEach(t, use) {
        const char *name = use_name(t);
        if (!name) continue;
        if (strcasecmp(name, "Anthropic") == 0) return FMT_ANTHROPIC;
        if (strcasecmp(name, "gemini") == 0) return FMT_GEMINI;
    }
    return FMT_OPENAI;
}

/* ------------------------------------------------------------------------------------------ */
/* Providers                                                                                   */

static int check_use(struct loader *L, const cJSON *use, struct keypath *p) {
    if (!cJSON_IsArray(use))
        return fail(L, p->buf,
                    "must be a list of transformer names or [name, {options}] pairs, found %s",
                    type_name(use));
    size_t i = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, use) {
        size_t old = keypath_index(p, i++);
        int bad = 0;
        if (cJSON_IsString(u)) {
            bad = !*u->valuestring;
        } else if (cJSON_IsArray(u)) {
            int n = cJSON_GetArraySize(u);
            bad = n < 1 || n > 2 || !cJSON_IsString(u->child) || !*u->child->valuestring ||
                  (n == 2 && !cJSON_IsObject(u->child->next));
        } else {
            bad = 1;
        }
        if (bad) {
            fail(L, p->buf,
                 "must be a transformer name (\"openrouter\") or a pair [\"maxtoken\", "
                 "{\"max_tokens\": 16384}], found %s",
                 type_name(u));
            return -1;
        }
        keypath_pop(p, old);
    }
    return 0;
}

/* transformer: {"use": [...], "<model>": {"use": [...]}} */
static int check_transformer(struct loader *L, const cJSON *t, struct keypath *p) {
    if (!cJSON_IsObject(t))
        return fail(L, p->buf, "must be an object like {\"use\": [\"openrouter\"]}, found %s",
                    type_name(t));
    if (no_duplicates(L, t, p->buf)) return -1;
    for (const cJSON *m = t->child; m; m = m->next) {
        size_t old = keypath_key(p, m->string);
        int rc;
        if (strcmp(m->string, "use") == 0) {
            rc = check_use(L, m, p);
        } else if (!cJSON_IsObject(m)) {
            rc = fail(L, p->buf,
                      "must be an object like {\"use\": [...]} (per-model transformers), found %s",
                      type_name(m));
        } else {
            const cJSON *use = member(m, "use");
            rc = 0;
            if (use) {
                size_t o2 = keypath_key(p, "use");
                rc = check_use(L, use, p);
                keypath_pop(p, o2);
            }
        }
        keypath_pop(p, old);
        if (rc) return rc;
    }
    return 0;
}

static int strv_push(char ***v, size_t *n, const char *s) {
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

static int load_keys(struct loader *L, struct cfg_provider *prov, const cJSON *k, struct keypath *p) {
    if (!present(k)) return 0;
    if (cJSON_IsString(k)) {
        if (!*k->valuestring) return 0; /* "" : no key (local servers) */
        return strv_push(&prov->keys, &prov->nkeys, k->valuestring) ? nomem(L) : 0;
    }
    if (!cJSON_IsArray(k))
        return fail(L, p->buf, "must be a string or a list of strings (a key pool), found %s",
                    type_name(k));
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, k) {
        size_t old = keypath_index(p, i++);
        if (!cJSON_IsString(e) || !*e->valuestring)
            return fail(L, p->buf, "must be a non-empty string (one key of the pool), found %s",
                        cJSON_IsString(e) ? "an empty string" : type_name(e));
        keypath_pop(p, old);
        if (strv_push(&prov->keys, &prov->nkeys, e->valuestring)) return nomem(L);
    }
    return 0;
}

static int load_provider(struct loader *L, const cJSON *pj, size_t idx, struct cfg_provider *prov,
                         struct keypath *p) {
    if (!cJSON_IsObject(pj))
        return fail(L, p->buf, "must be an object with name, api_base_url, api_key, models; "
                               "found %s",
                    type_name(pj));
    prov->json = pj;
    if (no_duplicates(L, pj, p->buf)) return -1;
    size_t old = keypath_key(p, "name");
    const char *name;
    if (get_str(L, member(pj, "name"), p->buf, &name)) return -1;
    if (!name || !*name)
        return fail(L, p->buf, "%s: every provider needs a name (used in routes as "
                               "\"name,model\")",
                    name ? "is empty" : "is missing");
    if (strchr(name, ','))
        return fail(L, p->buf, "\"%s\" contains a comma; routes are written \"provider,model\", "
                               "so a provider name cannot contain one",
                    name);
    for (size_t i = 0; i < idx; i++)
        if (strcasecmp(L->cfg->providers[i].name, name) == 0)
            return fail(L, p->buf,
                        "\"%s\" is already the name of Providers[%zu] (names are compared "
                        "ignoring case); give each provider its own name",
                        name, i);
    if (!(prov->name = strdup(name))) return nomem(L);
    keypath_pop(p, old);

    old = keypath_key(p, "api_base_url");
    const char *url;
    if (get_str(L, member(pj, "api_base_url"), p->buf, &url)) return -1;
    if (!url || !*url)
        return fail(L, p->buf, "provider \"%s\" has no api_base_url; write the endpoint, e.g. "
                               "\"https://openrouter.ai/api/v1/chat/completions\"",
                    name);
    struct url_parts parts;
    const char *why = url_check(url, &parts);
    if (why) {
        int shown = (int)strcspn(url, "?@");
        return fail(L, p->buf, "\"%.*s%s\" %s; write the full endpoint, e.g. "
                               "\"https://api.deepseek.com/chat/completions\"",
                    shown > 80 ? 80 : shown, url, url[shown] ? "..." : "", why);
    }
    if (strstr(url, ":generateContent") || strstr(url, ":streamGenerateContent"))
        return fail(L, p->buf, "for Gemini write the models base, e.g. "
                               "\"https://generativelanguage.googleapis.com/v1beta/models/\"; "
                               "ccrelay appends {model}:generateContent or "
                               ":streamGenerateContent itself");
    if (!(prov->url = strdup(url))) return nomem(L);
    keypath_pop(p, old);

    const cJSON *tr = member(pj, "transformer");
    if (present(tr)) {
        old = keypath_key(p, "transformer");
        if (check_transformer(L, tr, p)) return -1;
        keypath_pop(p, old);
    }

    /* translator knobs (providers/options.h): options {...}, model_options {model: {...}} */
    const cJSON *o = member(pj, "options");
    if (present(o) && !cJSON_IsObject(o)) {
        keypath_key(p, "options");
        return fail(L, p->buf, "must be an object of translator knobs, found %s", type_name(o));
    }
    o = member(pj, "model_options");
    if (present(o)) {
        old = keypath_key(p, "model_options");
        if (!cJSON_IsObject(o))
            return fail(L, p->buf, "must be an object {\"<model>\": {knobs}}, found %s",
                        type_name(o));
        for (const cJSON *m = o->child; m; m = m->next) {
            if (cJSON_IsObject(m)) continue;
            keypath_key(p, m->string);
            return fail(L, p->buf, "must be an object of translator knobs, found %s",
                        type_name(m));
        }
        keypath_pop(p, old);
    }

    old = keypath_key(p, "format");
    const char *fmt;
    if (get_str(L, member(pj, "format"), p->buf, &fmt)) return -1;
    if (fmt) {
        if (parse_format(fmt, &prov->format))
            return fail(L, p->buf, "unknown format \"%.40s\"; use \"anthropic\", \"openai\" or "
                                   "\"gemini\" (or leave it out to infer it from the URL)",
                        fmt);
    } else {
        prov->format = infer_format(&parts, present(tr) ? tr : NULL);
    }
    keypath_pop(p, old);

    old = keypath_key(p, "api_key");
    if (load_keys(L, prov, member(pj, "api_key"), p)) return -1;
    keypath_pop(p, old);

    old = keypath_key(p, "models");
    const cJSON *models = member(pj, "models");
    if (present(models)) {
        if (!cJSON_IsArray(models))
            return fail(L, p->buf, "must be a list of model ids like [\"x-ai/grok-4.1-fast\"], "
                                   "found %s",
                        type_name(models));
        size_t i = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, models) {
            size_t o2 = keypath_index(p, i++);
            if (!cJSON_IsString(m) || !*m->valuestring)
                return fail(L, p->buf, "must be a model id (a non-empty string), found %s",
                            cJSON_IsString(m) ? "an empty string" : type_name(m));
            keypath_pop(p, o2);
            if (strv_push(&prov->models, &prov->nmodels, m->valuestring)) return nomem(L);
        }
    }
    keypath_pop(p, old);
    return 0;
}

static int load_providers(struct loader *L, const cJSON *root) {
    const cJSON *ps = member(root, "Providers");
    if (!present(ps)) return 0;
    if (!cJSON_IsArray(ps))
        return fail(L, "Providers", "must be a list of provider objects, found %s",
                    type_name(ps));
    size_t n = (size_t)cJSON_GetArraySize(ps);
    if (n == 0) return 0;
    L->cfg->providers = calloc(n, sizeof *L->cfg->providers);
    if (!L->cfg->providers) return nomem(L);
    struct keypath p = {.buf = "", .len = 0};
    keypath_key(&p, "Providers");
    size_t i = 0;
    const cJSON *pj;
    cJSON_ArrayForEach(pj, ps) {
        size_t old = keypath_index(&p, i);
        L->cfg->nproviders = i + 1; /* so config_free releases a half-built one */
        if (load_provider(L, pj, i, &L->cfg->providers[i], &p)) return -1;
        keypath_pop(&p, old);
        i++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Router                                                                                      */

static const char *const route_keys[] = {"default",   "think",    "longContext", "webSearch",
                                         "background", "image",   "subagent"};
#define NROUTE_KEYS (sizeof route_keys / sizeof route_keys[0])

static const char *const think_levels[] = {"off", "low", "medium", "high", "xhigh", "max", "any"};

/* Split "provider,model" and resolve it: the provider by name, the model among its "models"
 * (both ignoring case). Returns NULL with *why set when it does not resolve. */
static const struct cfg_provider *resolve_route(const struct config *cfg, const char *r,
                                                char *why, size_t whycap) {
    const char *comma = strchr(r, ',');
    if (!comma || comma == r || !comma[1]) {
        snprintf(why, whycap,
                 "\"%.80s\" is not \"provider,model\"; write e.g. "
                 "\"openrouter,x-ai/grok-4.1-fast\"",
                 r);
        return NULL;
    }
    size_t pl = (size_t)(comma - r);
    const struct cfg_provider *prov = NULL;
    for (size_t i = 0; i < cfg->nproviders && !prov; i++)
        if (strlen(cfg->providers[i].name) == pl &&
            strncasecmp(cfg->providers[i].name, r, pl) == 0)
            prov = &cfg->providers[i];
    if (!prov) {
        int n = snprintf(why, whycap, "names provider \"%.*s\", which is not in Providers (",
                         (int)(pl > 60 ? 60 : pl), r);
        for (size_t i = 0; i < cfg->nproviders && n > 0 && (size_t)n < whycap; i++)
            n += snprintf(why + n, whycap - (size_t)n, "%s\"%s\"", i ? ", " : "",
                          cfg->providers[i].name);
        if (n > 0 && (size_t)n < whycap)
            snprintf(why + n, whycap - (size_t)n, "%s); add it or fix the route",
                     cfg->nproviders ? "" : "none configured");
        return NULL;
    }
    /* A provider that lists no models takes any model id (a local server, a gateway): the
     * policy module resolves targets the same way. */
    if (prov->nmodels > 0 && !config_provider_model(prov, comma + 1)) {
        snprintf(why, whycap,
                 "provider \"%s\" does not list model \"%.80s\"; add it to that provider's "
                 "\"models\" or fix the route",
                 prov->name, comma + 1);
        return NULL;
    }
    return prov;
}

static int load_router(struct loader *L, cJSON *root) {
    cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "Router");
    if (!present(r)) return 0;
    if (!cJSON_IsObject(r))
        return fail(L, "Router", "must be an object like {\"default\": \"provider,model\"}, "
                                 "found %s",
                    type_name(r));
    if (no_duplicates(L, r, "Router")) return -1;
    char path[96], why[512];
    for (size_t k = 0; k < NROUTE_KEYS; k++) {
        snprintf(path, sizeof path, "Router.%s", route_keys[k]);
        cJSON *v = cJSON_GetObjectItemCaseSensitive(r, route_keys[k]);
        if (!v) continue;
        if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
            cJSON_DeleteItemFromObjectCaseSensitive(r, route_keys[k]); /* unset: nil in Lua */
            continue;
        }
        if (!cJSON_IsString(v))
            return fail(L, path, "must be a string \"provider,model\", found %s", type_name(v));
        if (!resolve_route(L->cfg, v->valuestring, why, sizeof why))
            return fail(L, path, "%s", why);
    }
    const cJSON *t = member(r, "longContextThreshold");
    long lv;
    if (present(t) && get_long(L, t, "Router.longContextThreshold", 0, INT_MAX, &lv))
        return -1;
    const char *tl;
    if (get_str(L, member(r, "thinkLevel"), "Router.thinkLevel", &tl)) return -1;
    if (tl) {
        bool ok = false;
        for (size_t i = 0; i < sizeof think_levels / sizeof think_levels[0]; i++)
            ok = ok || strcmp(tl, think_levels[i]) == 0;
        if (!ok)
            return fail(L, "Router.thinkLevel", "unknown level \"%.40s\"; use off, low, medium, "
                                                "high, xhigh, max or any",
                        tl);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The embedded default's keys                                                                 */

/* The embedded default exists so that `export GEMINI_API_KEY=...` (or OPENROUTER_API_KEY) is
 * the whole setup. Behaviour, decided here:
 *  - a provider whose api_key names an unset (or empty) variable is kept, with nkeys = 0 and
 *    its api_key removed from root; a pool drops just the unset entries;
 *  - when at least one provider has a key, every Router entry that points at a keyless
 *    provider is re-pointed at the first active route in the order default, think,
 *    longContext, webSearch, background, image, subagent, so that one key gives a working
 *    proxy (with only GEMINI_API_KEY, default/think/longContext go to gemini-2.5-flash);
 *    explicit "provider,model" requests to the keyless provider still fail upstream with an
 *    authentication error, and the note says so;
 *  - with no key at all nothing is re-pointed: every request fails with an authentication
 *    error, and the notes say which variables to export;
 *  - one note per provider says whether it is active and from which variable.
 * Called after interpolate() (which skipped these keys) and before load_providers(). */
struct key_state {
    char var[128];     /* the first variable of a key that is set ("" for a literal key) */
    char missing[128]; /* the first variable that is unset or empty */
    bool keyless;      /* nothing is left of the api_key */
};

/* The first variable named in `s` ("" when none), for the notes. */
static void first_var(const char *s, char *var, size_t cap) {
    var[0] = '\0';
    for (const char *d = strchr(s, '$'); d; d = strchr(d, '$')) {
        if (d[1] == '$') {
            d += 2;
            continue;
        }
        const char *nm = d + (d[1] == '{' ? 2 : 1);
        size_t n = strspn(nm, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789");
        if (n) {
            snprintf(var, cap, "%.*s", (int)n, nm);
            return;
        }
        d++;
    }
}

/* Expand one key string of Providers[i]. Returns 1 when it is to be dropped (its variable is
 * unset or empty), 0 when kept (expanded in place), -1 on error. */
static int default_key_string(struct loader *L, cJSON *s, size_t i, struct key_state *ks) {
    char var[128], *out;
    const char *why = "";
    int rc = expand(s->valuestring, &out, var, sizeof var, &why);
    if (rc < 0) return nomem(L);
    if (rc == EXP_SYNTAX) {
        char path[64];
        snprintf(path, sizeof path, "Providers[%zu].api_key", i);
        return fail(L, path, "%s", why);
    }
    if (rc == EXP_OK && !(out && !*out)) {
        if (!ks->var[0]) first_var(s->valuestring, ks->var, sizeof ks->var);
        if (out) set_valuestring(s, out);
        return 0;
    }
    if (rc == EXP_OK) first_var(s->valuestring, var, sizeof var); /* set but empty */
    cJSON_free(out);
    if (!ks->missing[0]) snprintf(ks->missing, sizeof ks->missing, "%s", var);
    return 1;
}

static int default_keys(struct loader *L, cJSON *root, struct key_state **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "Providers");
    if (!cJSON_IsArray(ps)) return 0;
    size_t n = (size_t)cJSON_GetArraySize(ps);
    struct key_state *ks = calloc(n ? n : 1, sizeof *ks);
    if (!ks) return nomem(L);
    *out = ks;
    *nout = n;
    size_t i = 0;
    cJSON *pj;
    cJSON_ArrayForEach(pj, ps) {
        cJSON *k = cJSON_GetObjectItemCaseSensitive(pj, "api_key");
        if (cJSON_IsString(k)) {
            int rc = default_key_string(L, k, i, &ks[i]);
            if (rc < 0) return -1;
            if (rc == 1) {
                ks[i].keyless = true;
                cJSON_DeleteItemFromObjectCaseSensitive(pj, "api_key");
            }
        } else if (cJSON_IsArray(k)) {
            cJSON *e = k->child;
            while (e) {
                cJSON *next = e->next;
                if (cJSON_IsString(e)) {
                    int rc = default_key_string(L, e, i, &ks[i]);
                    if (rc < 0) return -1;
                    if (rc == 1) cJSON_Delete(cJSON_DetachItemViaPointer(k, e));
                }
                e = next;
            }
            /* a pool is keyless only when nothing of it is left */
            ks[i].keyless = ks[i].missing[0] && k->child == NULL;
        }
        i++;
    }
    return 0;
}

static int apply_default_keys(struct loader *L, cJSON *root, const struct key_state *ks,
                              size_t nks) {
    struct config *cfg = L->cfg;
    cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "Router");
    size_t nactive = 0;
    for (size_t i = 0; i < cfg->nproviders; i++) nactive += cfg->providers[i].nkeys > 0;

    const char *repl = NULL; /* the first route whose provider has a key */
    char why[512];
    for (size_t k = 0; k < NROUTE_KEYS && !repl && cJSON_IsObject(r); k++) {
        const char *v = config_route(cfg, route_keys[k]);
        const struct cfg_provider *p = v ? resolve_route(cfg, v, why, sizeof why) : NULL;
        if (p && p->nkeys > 0) repl = v;
    }
    char *repl_copy = repl ? strdup(repl) : NULL;
    if (repl && !repl_copy) return nomem(L);

    for (size_t i = 0; i < cfg->nproviders; i++) {
        const struct cfg_provider *p = &cfg->providers[i];
        const char *var = i < nks ? ks[i].var : "";
        if (p->nkeys > 0 || !(i < nks && ks[i].keyless)) {
            int rc = var[0] ? note(L, "provider %s: active (%s)", p->name, var)
                            : note(L, "provider %s: active", p->name);
            if (rc) goto bad;
            continue;
        }
        /* keyless: re-point its routes when another provider can take them */
        var = ks[i].missing;
        char moved[160] = "";
        size_t ml = 0;
        for (size_t k = 0; k < NROUTE_KEYS && repl_copy; k++) {
            const char *v = config_route(cfg, route_keys[k]);
            if (!v || resolve_route(cfg, v, why, sizeof why) != p) continue;
            if (!cJSON_ReplaceItemInObjectCaseSensitive(r, route_keys[k],
                                                         cJSON_CreateString(repl_copy)))
                goto oom;
            int n = snprintf(moved + ml, sizeof moved - ml, "%sRouter.%s", ml ? ", " : "",
                             route_keys[k]);
            if (n > 0 && ml + (size_t)n < sizeof moved) ml += (size_t)n;
        }
        int rc;
        if (ml)
            rc = note(L,
                      "provider %s: %s is not set; %s use %s instead, and requests that name %s "
                      "explicitly will fail with an authentication error. export %s=... to "
                      "enable it",
                      p->name, var, moved, repl_copy, p->name, var);
        else
            rc = note(L,
                      "provider %s: %s is not set; requests routed to it will fail with an "
                      "authentication error. export %s=... to enable it",
                      p->name, var, var);
        if (rc) goto bad;
    }
    if (nactive == 0 && cfg->nproviders > 0 &&
        note(L, "no provider has an API key: export one of the variables above, or write "
                "~/.ccrelay/config.json (see %s)",
             EXAMPLE_PATH))
        goto bad;
    free(repl_copy);
    return 0;
oom:
    nomem(L);
bad:
    free(repl_copy);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Top level                                                                                   */

static const char *const known_keys[] = {
    "Providers", "Router", "APIKEY", "HOST", "PORT", "LOG", "LOG_LEVEL", "CUSTOM_ROUTER_PATH",
    "API_TIMEOUT_MS", "PROXY_URL", "litellm_config", "LIMITS", "transformers",
    "NON_INTERACTIVE_MODE", "StatusLine",
};

struct limit_key {
    const char *name;
    long lo, hi;
};
static const struct limit_key limit_keys[] = {
    {"connect_timeout_ms", 1, INT_MAX},   {"first_byte_timeout_ms", 1, INT_MAX},
    {"idle_timeout_ms", 1, INT_MAX},      {"max_body_bytes", 1, INT_MAX},
    {"max_header_bytes", 1, INT_MAX},     {"max_connections", 1, INT_MAX},
    {"header_timeout_ms", 1, INT_MAX},
};
#define NLIMITS (sizeof limit_keys / sizeof limit_keys[0])

static bool is_loopback(const char *h) {
    return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "[::1]") == 0;
}

static int load_limits(struct loader *L, const cJSON *root) {
    struct config *cfg = L->cfg;
    const cJSON *lim = member(root, "LIMITS");
    long set[NLIMITS];
    bool have[NLIMITS] = {false};
    if (present(lim)) {
        if (!cJSON_IsObject(lim))
            return fail(L, "LIMITS", "must be an object like {\"max_body_bytes\": 33554432}, "
                                     "found %s",
                        type_name(lim));
        if (no_duplicates(L, lim, "LIMITS")) return -1;
        for (const cJSON *m = lim->child; m; m = m->next) {
            char path[160];
            snprintf(path, sizeof path, "LIMITS.%.100s", m->string);
            size_t k = 0;
            while (k < NLIMITS && strcmp(limit_keys[k].name, m->string) != 0) k++;
            if (k == NLIMITS)
                return fail(L, path, "unknown limit; the known ones are connect_timeout_ms, "
                                     "first_byte_timeout_ms, idle_timeout_ms, max_body_bytes, "
                                     "max_header_bytes, max_connections, header_timeout_ms");
            if (!present(m)) continue;
            if (get_long(L, m, path, limit_keys[k].lo, limit_keys[k].hi, &set[k])) return -1;
            have[k] = true;
        }
    }
    if (have[0]) cfg->connect_timeout_ms = set[0];
    if (have[1]) cfg->first_byte_timeout_ms = set[1];
    if (have[2]) cfg->idle_timeout_ms = set[2];
    if (have[3]) cfg->max_body_bytes = (size_t)set[3];
    if (have[4]) cfg->max_header_bytes = (size_t)set[4];
    if (have[5]) cfg->max_connections = (int)set[5];
    if (have[6]) cfg->header_timeout_ms = set[6];
    return 0;
}

static bool is_js_path(const char *s) {
    static const char *const ext[] = {".js", ".mjs", ".cjs", ".ts"};
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (ends_with(s, n, ext[i])) return true;
    return false;
}

static int load_top(struct loader *L, cJSON *root) {
    struct config *cfg = L->cfg;
    const char *s;
    long v;

    const char *d = duplicate_member(root);
    if (d) return fail(L, d, "is written twice at the top level; keep one");

    if (get_str(L, member(root, "HOST"), "HOST", &s)) return -1;
    if (s && !*s) return fail(L, "HOST", "is empty; write an address such as \"127.0.0.1\"");
    if (!(cfg->host = strdup(s ? s : "127.0.0.1"))) return nomem(L);

    const cJSON *n = member(root, "PORT");
    if (present(n)) {
        if (get_long(L, n, "PORT", 1, 65535, &v)) return -1;
        cfg->port = (int)v;
    }

    if (get_str(L, member(root, "APIKEY"), "APIKEY", &s)) return -1;
    if (s && *s && !(cfg->apikey = strdup(s))) return nomem(L);

    n = member(root, "LOG");
    if (present(n) && get_bool(L, n, "LOG", &cfg->log_to_file)) return -1;

    if (get_str(L, member(root, "LOG_LEVEL"), "LOG_LEVEL", &s)) return -1;
    if (s && log_level_parse(s, &cfg->log_level))
        return fail(L, "LOG_LEVEL", "unknown level \"%.40s\"; use error, warn, info, debug or "
                                    "trace",
                    s);

    if (get_str(L, member(root, "CUSTOM_ROUTER_PATH"), "CUSTOM_ROUTER_PATH", &s)) return -1;
    if (s && *s && is_js_path(s)) {
        /* A Claude Code Router config names its JavaScript router here. Accepted, not run:
         * the entry is dropped from root too, so that no module tries to load it as Lua. */
        if (note(L, "CUSTOM_ROUTER_PATH: %.200s is a JavaScript router (Claude Code Router); "
                    "ccrelay runs Lua routers, so it is ignored. Port it to a Lua "
                    "route(req, config) and point CUSTOM_ROUTER_PATH at that .lua file",
                 s))
            return -1;
        cJSON_DeleteItemFromObjectCaseSensitive(root, "CUSTOM_ROUTER_PATH");
    } else if (s && *s && expand_tilde(L, s, "CUSTOM_ROUTER_PATH", &cfg->custom_router_path)) {
        return -1;
    }

    n = member(root, "API_TIMEOUT_MS");
    if (present(n)) {
        if (get_long(L, n, "API_TIMEOUT_MS", 1, INT_MAX, &v)) return -1;
        cfg->api_timeout_ms = v;
    }
    cfg->first_byte_timeout_ms = cfg->api_timeout_ms;
    cfg->idle_timeout_ms = cfg->api_timeout_ms;

    if (get_str(L, member(root, "PROXY_URL"), "PROXY_URL", &s)) return -1;
    if (s && *s) {
        const char *why = url_check(s, NULL);
        if (why)
            return fail(L, "PROXY_URL", "%s; write an HTTP proxy such as "
                                        "\"http://127.0.0.1:7890\"",
                        why);
        if (!(cfg->proxy_url = strdup(s))) return nomem(L);
    }

    n = member(root, "litellm_config");
    if (present(n)) {
        if (cJSON_IsString(n)) {
            if (*n->valuestring &&
                expand_tilde(L, n->valuestring, "litellm_config", &cfg->litellm_config))
                return -1;
        } else if (!cJSON_IsObject(n)) {
            return fail(L, "litellm_config", "must be a file path (string) or an object, "
                                             "found %s",
                        type_name(n));
        }
    }

    if (load_limits(L, root)) return -1;

    const cJSON *tr = member(root, "transformers");
    if (cJSON_IsArray(tr) && cJSON_GetArraySize(tr) > 0 &&
        note(L, "transformers: custom JavaScript transformer plugins (%d configured) are not "
                "supported by ccrelay and are ignored; its built-in translators cover the "
                "common ones (openrouter, deepseek, gemini, maxtoken...)",
             cJSON_GetArraySize(tr)))
        return -1;

    /* A key that differs from a known one only by case is almost surely a typo. */
    for (const cJSON *m = root->child; m; m = m->next) {
        bool exact = false;
        const char *near = NULL;
        for (size_t k = 0; k < sizeof known_keys / sizeof known_keys[0]; k++) {
            if (strcmp(m->string, known_keys[k]) == 0) exact = true;
            else if (strcasecmp(m->string, known_keys[k]) == 0) near = known_keys[k];
        }
        if (!exact && near &&
            note(L, "%s: unknown key, ignored; did you mean %s?", m->string, near))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* LiteLLM model map (src/litellm.c, lua/model_map.lua)                                        */

/* When a LiteLLM config is given (`override`: --litellm-config / $CCRELAY_LITELLM_CONFIG, else
 * the litellm_config key: a path, or an inline object), read it and merge it into root before
 * the providers are loaded: its providers are appended to Providers (and then validated like
 * any other), its model map becomes root.model_map (config.model_map for the policy, whose
 * built-in rules are then lua/model_map.lua). A relative litellm_config path is taken from the
 * config file's directory. `read_files` is false for config_load_text, which reads no other
 * file: a path is then only recorded. Called after load_top, before load_providers. */
static int merge_litellm(struct loader *L, cJSON *root, const char *override, bool read_files) {
    struct config *cfg = L->cfg;
    if (member(root, "model_map"))
        return fail(L, "model_map", "is built by ccrelay from a LiteLLM config; write "
                                    "litellm_config (the path of litellm_config.yaml) instead");
    const cJSON *inl = member(root, "litellm_config");
    char *path = NULL;
    if (override && *override) {
        if (!(path = strdup(override))) return nomem(L);
    } else if (cfg->litellm_config) {
        if (!read_files) return 0;
        const char *slash = strrchr(L->src, '/');
        size_t n = strlen(cfg->litellm_config) + strlen(L->src) + 2;
        if (!(path = malloc(n))) return nomem(L);
        if (cfg->litellm_config[0] != '/' && slash)
            snprintf(path, n, "%.*s/%s", (int)(slash - L->src), L->src, cfg->litellm_config);
        else
            snprintf(path, n, "%s", cfg->litellm_config);
    } else if (!cJSON_IsObject(inl)) {
        return 0;
    }
    cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "Providers");
    if (present(ps) && !cJSON_IsArray(ps)) {
        free(path);
        return fail(L, "Providers", "must be a list of provider objects, found %s", type_name(ps));
    }
    size_t nt = cJSON_IsArray(ps) ? (size_t)cJSON_GetArraySize(ps) : 0;
    const char **taken = calloc(nt + 1, sizeof *taken);
    if (!taken) {
        free(path);
        return nomem(L);
    }
    size_t k = 0;
    const cJSON *pj;
    cJSON_ArrayForEach(pj, ps) taken[k++] = cJSON_GetStringValue(member(pj, "name"));
    struct litellm_map m;
    char src[300];
    snprintf(src, sizeof src, "%s: litellm_config", L->src);
    int rc = path ? litellm_load_file(path, taken, nt, &m, L->err)
                  : litellm_from_json(inl, src, taken, nt, &m, L->err);
    free(taken);
    if (rc) {
        free(path);
        return -1;
    }
    if (path) {
        free(cfg->litellm_config);
        cfg->litellm_config = path; /* the file actually read, for watching */
        path = NULL;
    }
    if (!ps && !(ps = cJSON_AddArrayToObject(root, "Providers"))) goto oom;
    char names[200] = "";
    size_t nl = 0;
    const cJSON *gp;
    cJSON_ArrayForEach(gp, m.providers) {
        int w = snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "",
                         cJSON_GetStringValue(member(gp, "name")));
        if (w > 0 && nl + (size_t)w < sizeof names) nl += (size_t)w;
    }
    if (note(L, "model map: %d model names from %s over provider(s) %s; lua/model_map.lua "
                "routes requests by model name",
             cJSON_GetArraySize(member(m.model_map, "groups")),
             cfg->litellm_config ? cfg->litellm_config : src, names))
        goto bad;
    while (m.providers->child)
        cJSON_AddItemToArray(ps, cJSON_DetachItemViaPointer(m.providers, m.providers->child));
    cJSON_AddItemToObject(root, "model_map", m.model_map);
    m.model_map = NULL;
    if (m.master_key && !cfg->apikey) {
        cfg->apikey = m.master_key;
        m.master_key = NULL;
    }
    if (m.timeout_ms > 0 && !present(member(root, "API_TIMEOUT_MS"))) {
        const cJSON *lim = member(root, "LIMITS");
        cfg->api_timeout_ms = m.timeout_ms;
        if (!present(member(lim, "first_byte_timeout_ms"))) cfg->first_byte_timeout_ms = m.timeout_ms;
        if (!present(member(lim, "idle_timeout_ms"))) cfg->idle_timeout_ms = m.timeout_ms;
    }
    for (size_t i = 0; i < m.nnotes; i++)
        if (note(L, "%s", m.notes[i])) {
            litellm_map_free(&m);
            return -1;
        }
    litellm_map_free(&m);
    return 0;
oom:
    nomem(L);
bad:
    litellm_map_free(&m);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

static void strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Overwrite a secret before its memory goes back to the allocator (OPENSSL_cleanse is not
 * optimised away), so a later core dump or heap read does not find old keys. */
static void cleanse_str(char *s) {
    if (s) OPENSSL_cleanse(s, strlen(s));
}

/* Every string of the config tree: keys may have been interpolated anywhere. */
static void cleanse_tree(cJSON *n) {
    for (; n; n = n->next) {
        if (cJSON_IsString(n)) cleanse_str(n->valuestring);
        if (n->child) cleanse_tree(n->child);
    }
}

void config_free(struct config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < cfg->nproviders; i++) {
        struct cfg_provider *p = &cfg->providers[i];
        for (size_t k = 0; k < p->nkeys; k++) cleanse_str(p->keys[k]);
        free(p->name);
        free(p->url);
        strv_free(p->keys, p->nkeys);
        strv_free(p->models, p->nmodels);
    }
    free(cfg->providers);
    if (cfg->notes) {
        for (char **n = cfg->notes; *n; n++) free(*n);
        free(cfg->notes);
    }
    free(cfg->host);
    cleanse_str(cfg->apikey);
    cleanse_str(cfg->proxy_url); /* may hold user:password */
    free(cfg->apikey);
    free(cfg->custom_router_path);
    free(cfg->proxy_url);
    free(cfg->litellm_config);
    free(cfg->source);
    if (cfg->root) cleanse_tree(cfg->root->child);
    cJSON_Delete(cfg->root);
    free(cfg);
}

static int load_impl(const char *text, size_t len, const char *source, bool dflt,
                     const char *litellm_path, bool read_files, struct config **out,
                     struct err *err) {
    *out = NULL;
    if (len > CONFIG_MAX_FILE)
        return err_set(err, ERR_CONFIG, "%s: %zu bytes is too large for a config (the limit is "
                                        "4 MiB)",
                       source, len);
    struct config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return err_set(err, ERR_NOMEM, "%s: out of memory", source);
    struct loader L = {.cfg = cfg, .src = source, .err = err, .dflt = dflt};
    struct key_state *ks = NULL;
    size_t nks = 0;

    cfg->is_default = dflt;
    cfg->port = 3456;
    cfg->log_level = LOG_INFO;
    cfg->api_timeout_ms = 600000;
    cfg->connect_timeout_ms = 10000;
    cfg->first_byte_timeout_ms = cfg->api_timeout_ms;
    cfg->idle_timeout_ms = cfg->api_timeout_ms;
    cfg->max_body_bytes = (size_t)32 << 20;
    cfg->max_header_bytes = (size_t)64 << 10;
    cfg->max_connections = 1024;
    cfg->header_timeout_ms = 30000;
    if (!(cfg->source = strdup(source))) {
        nomem(&L);
        goto bad;
    }

    cfg->root = json5_parse_named(text, len, source, err);
    if (!cfg->root) goto bad;
    if (!cJSON_IsObject(cfg->root)) {
        err_set(err, ERR_CONFIG, "%s: the configuration must be a JSON object ({...}), found %s",
                source, type_name(cfg->root));
        goto bad;
    }
    if (interpolate(&L, cfg->root)) goto bad;
    bool litellm = litellm_path && *litellm_path;
    if (dflt && litellm) { /* the LiteLLM file replaces the default's providers and routes */
        cJSON_DeleteItemFromObjectCaseSensitive(cfg->root, "Providers");
        cJSON_DeleteItemFromObjectCaseSensitive(cfg->root, "Router");
    }
    bool dkeys = dflt && !litellm;
    if (dkeys && default_keys(&L, cfg->root, &ks, &nks)) goto bad;
    if (load_top(&L, cfg->root)) goto bad;
    if (merge_litellm(&L, cfg->root, litellm_path, read_files)) goto bad;
    if (load_providers(&L, cfg->root)) goto bad;
    if (load_router(&L, cfg->root)) goto bad;
    if (dkeys && apply_default_keys(&L, cfg->root, ks, nks)) goto bad;
    if (!is_loopback(cfg->host) && !cfg->apikey) {
        /* As Claude Code Router does (so its configs load as they are): without APIKEY the
         * proxy stays on loopback, and the start-up notes say why. */
        if (note(&L, "HOST: listening on 127.0.0.1, not \"%.100s\": binding beyond this "
                     "machine needs APIKEY (clients then send it as x-api-key or "
                     "Authorization: Bearer); set APIKEY to listen on %.100s",
                 cfg->host, cfg->host))
            goto bad;
        char *lo = strdup("127.0.0.1");
        cJSON *h = cJSON_CreateString("127.0.0.1");
        if (!lo || !h || !cJSON_ReplaceItemInObjectCaseSensitive(cfg->root, "HOST", h)) {
            free(lo);
            cJSON_Delete(h);
            nomem(&L);
            goto bad;
        }
        free(cfg->host);
        cfg->host = lo;
    }
    free(ks);
    cfg->notes = L.notes;
    *out = cfg;
    return 0;
bad:
    free(ks);
    if (L.notes) {
        for (size_t i = 0; i < L.nnotes; i++) free(L.notes[i]);
        free(L.notes);
    }
    config_free(cfg);
    return -1;
}

int config_load_text(const char *text, size_t len, const char *source, struct config **out,
                     struct err *err) {
    return load_impl(text, len, source ? source : "<config>", false, NULL, false, out, err);
}

static int read_file(const char *path, char **out, size_t *len, struct err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return err_set(err, ERR_CONFIG,
                           "%s: no such file. Create it from the example shipped with ccrelay "
                           "(mkdir -p \"$(dirname %s)\" && cp %s %s), then edit it; or start "
                           "without --config to use the embedded default",
                           path, path, EXAMPLE_PATH, path);
        return err_set(err, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return err_set(err, ERR_CONFIG, "%s: is a directory; give the path of a config.json file",
                       path);
    }
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > CONFIG_MAX_FILE) {
        fclose(f);
        return err_set(err, ERR_CONFIG, "%s: %lld bytes is too large for a config (the limit is "
                                        "4 MiB)",
                       path, (long long)st.st_size);
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap > CONFIG_MAX_FILE) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) return err_set(err, ERR_NOMEM, "%s: out of memory reading the file", path);
    if (rerr) {
        free(buf);
        return err_set(err, ERR_IO, "%s: read error", path);
    }
    if (n > CONFIG_MAX_FILE) {
        free(buf);
        return err_set(err, ERR_CONFIG, "%s: larger than 4 MiB, too large for a config", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

int config_load(const char *path, struct config **out, struct err *err) {
    *out = NULL;
    const char *litellm = getenv("CCRELAY_LITELLM_CONFIG"); /* set by --litellm-config */
    if (!path) {
        const struct embedded_file *f = embedded_find(DEFAULT_NAME);
        if (!f)
            return err_set(err, ERR_INTERNAL, "%s is missing from this build; rebuild ccrelay",
                           DEFAULT_NAME);
        return load_impl(f->data, f->len, DEFAULT_SOURCE, true, litellm, true, out, err);
    }
    char *text;
    size_t len = 0;
    if (read_file(path, &text, &len, err)) return -1;
    int rc = load_impl(text, len, path, false, litellm, true, out, err);
    free(text);
    return rc;
}

char *config_default_path(void) {
    const char *env = getenv("CCRELAY_CONFIG");
    if (env && *env) return strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + sizeof "/.ccrelay/config.json";
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/.ccrelay/config.json", home);
    if (access(p, F_OK) == 0) return p;
    free(p);
    return NULL;
}

const struct cfg_provider *config_provider(const struct config *cfg, const char *name) {
    if (!cfg || !name) return NULL;
    for (size_t i = 0; i < cfg->nproviders; i++)
        if (strcasecmp(cfg->providers[i].name, name) == 0) return &cfg->providers[i];
    return NULL;
}

const char *config_provider_model(const struct cfg_provider *p, const char *model) {
    if (!p || !model) return NULL;
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcasecmp(p->models[i], model) == 0) return p->models[i];
    return NULL;
}

const char *config_route(const struct config *cfg, const char *key) {
    if (!cfg || !key) return NULL;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cfg->root, "Router");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Redacted dump                                                                               */

static bool is_secret_key(const char *k) {
    static const char *const secret[] = {"api_key", "apikey", "api-key", "x-api-key",
                                         "authorization", "proxy-authorization",
                                         "x-goog-api-key", "token", "access_token", "secret"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (strcasecmp(k, secret[i]) == 0) return true;
    return false;
}

/* Replace a secret value in place: strings become "***", lists of strings each "***". */
static void redact_value(cJSON *v) {
    if (cJSON_IsString(v)) {
        char *s = cJSON_malloc(4);
        if (s) {
            memcpy(s, "***", 4);
            set_valuestring(v, s);
        }
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        for (cJSON *c = v->child; c; c = c->next) redact_value(c);
    } else if (!cJSON_IsNull(v)) {
        /* a secret as a number: keep only the key's presence */
        v->type = cJSON_String;
        v->valuestring = NULL;
        char *s = cJSON_malloc(4);
        if (s) {
            memcpy(s, "***", 4);
            v->valuestring = s;
        } else {
            v->type = cJSON_NULL;
        }
    }
}

/* Hide the user:password of a URL ("http://user:pw@proxy:8080" keeps only "@proxy:8080"). */
static void redact_url_userinfo(cJSON *v) {
    const char *s = v->valuestring;
    const char *a = strstr(s, "://");
    if (!a) return;
    a += 3;
    size_t auth = strcspn(a, "/?#");
    const char *at = NULL;
    for (const char *c = a; c < a + auth; c++)
        if (*c == '@') at = c;
    if (!at) return;
    size_t pre = (size_t)(a - s), post = strlen(at);
    char *out = cJSON_malloc(pre + 3 + post + 1);
    if (!out) return;
    memcpy(out, s, pre);
    memcpy(out + pre, "***", 3);
    memcpy(out + pre + 3, at, post + 1);
    set_valuestring(v, out);
}

/* Replace every occurrence of a known secret (a provider key, APIKEY) inside a string value:
 * a key interpolated into another field ("...?key=$GEMINI_API_KEY") is as secret as the key. */
static void redact_known(cJSON *v, const struct config *cfg) {
    const char *secrets[256];
    size_t ns = 0;
    if (cfg->apikey && *cfg->apikey) secrets[ns++] = cfg->apikey;
    for (size_t i = 0; i < cfg->nproviders; i++)
        for (size_t k = 0; k < cfg->providers[i].nkeys && ns < 256; k++)
            if (cfg->providers[i].keys[k] && strlen(cfg->providers[i].keys[k]) >= 4)
                secrets[ns++] = cfg->providers[i].keys[k];
    for (size_t i = 0; i < ns; i++) {
        const char *hit = strstr(v->valuestring, secrets[i]);
        if (!hit) continue;
        size_t sl = strlen(secrets[i]), n = strlen(v->valuestring);
        char *out = cJSON_malloc(n + (n / sl + 1) * 3 + 1); /* hits become "***" */
        if (!out) return;
        size_t o = 0;
        for (const char *p = v->valuestring; *p;) {
            if (strncmp(p, secrets[i], sl) == 0) {
                memcpy(out + o, "***", 3);
                o += 3;
                p += sl;
            } else {
                out[o++] = *p++;
            }
        }
        out[o] = '\0';
        set_valuestring(v, out);
    }
}

static void redact_tree(cJSON *n, const struct config *cfg) {
    for (cJSON *c = n->child; c; c = c->next) {
        if (c->string && is_secret_key(c->string)) {
            redact_value(c);
        } else if (cJSON_IsString(c) && c->valuestring) {
            if (strstr(c->valuestring, "://")) redact_url_userinfo(c);
            redact_known(c, cfg);
        } else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            redact_tree(c, cfg);
        }
    }
}

char *config_dump_redacted(const struct config *cfg) {
    if (!cfg || !cfg->root) return NULL;
    cJSON *copy = cJSON_Duplicate(cfg->root, 1);
    if (!copy) return NULL;
    redact_tree(copy, cfg);
    char *s = cJSON_Print(copy);
    cJSON_Delete(copy);
    return s;
}
