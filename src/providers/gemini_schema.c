/* gemini_schema: JSON Schema -> the subset Gemini function declarations accept. See the header.
 * Pass names (P0..P10) are those of conversion.md §4.4. */
#include "providers/gemini_schema.h"

#include "providers/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 48    /* nesting bound: deeper input is summarised, never recursed into */
#define MAX_REF_DEPTH 8 /* P0: local references inlined at most this deep */
#define NOTES_MAX 300   /* P10: notes appended to a description, at most this many bytes */

struct ctx {
    const cJSON *root; /* the schema's root, for local $ref */
    unsigned mode;     /* gemini_schema_mode | GEMINI_SCHEMA_* flags */
    const char *refstack[MAX_REF_DEPTH];
    int nref;
    bool oom;
    struct xl_buf scratch; /* a description being composed (owned; ctx_done frees it) */
};

/* Notes collected while cleaning one node (P10). */
struct notes {
    char buf[NOTES_MAX + 64];
    size_t len;
};

static void note(struct notes *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct notes *n, const char *fmt, ...) {
    if (n->len >= NOTES_MAX) return;
    char tmp[NOTES_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k <= 0) return;
    size_t add = (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1;
    size_t sep = n->len ? 2 : 0;
    if (n->len + sep + add > NOTES_MAX) {
        add = NOTES_MAX > n->len + sep ? NOTES_MAX - n->len - sep : 0;
        /* do not cut a UTF-8 sequence */
        while (add > 0 && ((unsigned char)tmp[add] & 0xC0) == 0x80)
            add--;
        if (add == 0) {
            n->len = NOTES_MAX;
            return;
        }
    }
    if (sep) memcpy(n->buf + n->len, "; ", 2);
    memcpy(n->buf + n->len + sep, tmp, add);
    n->len += sep + add;
    n->buf[n->len] = '\0';
}

/* Compact JSON text of a value for a note, shortened. */
static void json_snippet(const cJSON *v, char *out, size_t outsz) {
    out[0] = '\0';
    if (cJSON_IsString(v)) {
        snprintf(out, outsz, "%s", v->valuestring);
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (!s) return;
    snprintf(out, outsz, "%s", s);
    cJSON_free(s);
}

static const cJSON *get(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static bool streq(const char *a, const char *b) {
    return a && b && strcmp(a, b) == 0;
}

static void add(struct ctx *c, cJSON *obj, const char *k, cJSON *v) {
    if (!v || !obj) {
        c->oom = true;
        cJSON_Delete(v);
        return;
    }
    if (!cJSON_AddItemToObject(obj, k, v)) {
        cJSON_Delete(v);
        c->oom = true;
    }
}

static void add_str(struct ctx *c, cJSON *obj, const char *k, const char *s) {
    add(c, obj, k, cJSON_CreateString(s));
}

static cJSON *new_obj(struct ctx *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) c->oom = true;
    return o;
}

/* {"type":t[, "description":d]} */
static cJSON *simple(struct ctx *c, const char *t, const char *d) {
    cJSON *o = new_obj(c);
    if (!o) return NULL;
    add_str(c, o, "type", t);
    if (d) add_str(c, o, "description", d);
    return o;
}

/* Set the description of a node to base + " (" notes ")". A node that is only an anyOf gets it
 * on every branch instead (G2: anyOf must stay alone), together with nullable. */
static void apply_outer(struct ctx *c, cJSON *node, const char *base, const struct notes *n,
                        bool nullable);

/* The description text base + " " + inner + " (" notes ")" into out (replaced); the inner text
 * is left out when it equals base. Returns false when there is none (or out is out of memory). */
static bool desc_compose(struct xl_buf *out, const char *base, const char *inner,
                         const struct notes *n) {
    size_t bl = base ? strlen(base) : 0, il = inner ? strlen(inner) : 0, nl = n ? n->len : 0;
    out->len = 0;
    if (!bl && !il && !nl) return false;
    if (bl) xl_buf_add(out, base, bl);
    if (il && !(bl && streq(base, inner))) {
        if (out->len) xl_buf_addc(out, ' ');
        xl_buf_add(out, inner, il);
    }
    if (nl) {
        if (out->len) xl_buf_addc(out, ' ');
        xl_buf_addc(out, '(');
        xl_buf_add(out, n->buf, nl);
        xl_buf_addc(out, ')');
    }
    return xl_buf_ok(out);
}

static void set_desc(struct ctx *c, cJSON *node, const char *base, const char *inner,
                     const struct notes *n) {
    if (!desc_compose(&c->scratch, base, inner, n)) {
        if (!xl_buf_ok(&c->scratch)) c->oom = true;
        return;
    }
    cJSON *d = cJSON_CreateString(xl_buf_cstr(&c->scratch));
    if (!d) {
        c->oom = true;
        return;
    }
    if (get(node, "description"))
        cJSON_ReplaceItemInObjectCaseSensitive(node, "description", d);
    else
        add(c, node, "description", d);
}

static void apply_outer(struct ctx *c, cJSON *node, const char *base, const struct notes *n,
                        bool nullable) {
    cJSON *any = cJSON_GetObjectItemCaseSensitive(node, "anyOf");
    if (any) {
        cJSON *b;
        cJSON_ArrayForEach(b, any) apply_outer(c, b, base, n, nullable);
        return;
    }
    if (base || (n && n->len)) {
        const cJSON *inner = get(node, "description");
        char *inner_copy = NULL;
        if (cJSON_IsString(inner)) {
            inner_copy = strdup(inner->valuestring);
            if (!inner_copy) {
                c->oom = true;
                return;
            }
        }
        set_desc(c, node, base, inner_copy, n);
        free(inner_copy);
    }
    if (nullable && !get(node, "nullable")) add(c, node, "nullable", cJSON_CreateTrue());
}

/* ---------------------------------------------------------------------------------------------
 * P7 helpers */

int gemini_pattern_unsupported(const char *p) {
    if (!p) return 0;
    for (const char *s = p; *s; s++) {
        if (*s == '\\') {
            if (s[1] >= '1' && s[1] <= '9') return 1; /* backreference */
            if (s[1] == 'k' && s[2] == '<') return 1; /* named backreference */
            if (s[1]) s++;
            continue;
        }
        if (s[0] == '(' && s[1] == '?') {
            if (s[2] == '=' || s[2] == '!' || s[2] == '>') return 1;
            if (s[2] == '<' && (s[3] == '=' || s[3] == '!')) return 1;
        }
        if ((s[0] == '*' || s[0] == '+' || s[0] == '?' || s[0] == '}') && s[1] == '+')
            return 1; /* possessive quantifier */
    }
    return 0;
}

static bool format_allowed(const char *type, const char *fmt) {
    if (streq(type, "string")) return streq(fmt, "date-time") || streq(fmt, "enum");
    if (streq(type, "integer")) return streq(fmt, "int32") || streq(fmt, "int64");
    if (streq(type, "number")) return streq(fmt, "float") || streq(fmt, "double");
    return false;
}

static bool known_type(const char *t) {
    static const char *const types[] = {"string",  "number", "integer",
                                        "boolean", "array",  "object"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (streq(t, types[i])) return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * The cleaner */

static cJSON *clean(struct ctx *c, const cJSON *src, int depth);

/* P0: resolve a local reference "#/$defs/X" or "#/definitions/X". */
static const cJSON *resolve_ref(struct ctx *c, const char *ref) {
    const char *name = NULL;
    const cJSON *defs = NULL;
    if (strncmp(ref, "#/$defs/", 8) == 0) {
        name = ref + 8;
        defs = get(c->root, "$defs");
    } else if (strncmp(ref, "#/definitions/", 14) == 0) {
        name = ref + 14;
        defs = get(c->root, "definitions");
    }
    if (!name || !*name || strchr(name, '/')) return NULL;
    return get(defs, name);
}

static cJSON *clean_ref(struct ctx *c, const cJSON *src, const char *ref, int depth) {
    const cJSON *desc = get(src, "description");
    bool local = ref[0] == '#';
    const cJSON *target = local ? resolve_ref(c, ref) : NULL;
    bool recursive = streq(ref, "#") || c->nref >= MAX_REF_DEPTH;
    for (int i = 0; i < c->nref && !recursive; i++)
        if (streq(c->refstack[i], ref)) recursive = true;
    cJSON *r;
    if (recursive) {
        r = simple(c, "object", "(recursive structure omitted)");
    } else if (!target) {
        char buf[200];
        snprintf(buf, sizeof buf, "(reference %s not resolved; any value, as text)", ref);
        r = simple(c, "string", buf);
    } else {
        c->refstack[c->nref++] = ref;
        r = clean(c, target, depth + 1);
        c->nref--;
    }
    if (r && cJSON_IsString(desc)) apply_outer(c, r, desc->valuestring, NULL, false);
    return r;
}

/* allOf: merge the branches into one node, key by key; where two branches set the same keyword
 * differently the first wins and the others become a note (R11). Returns the merged node (owned
 * by the caller) or NULL on OOM. */
static cJSON *merge_allof(struct ctx *c, const cJSON *src) {
    cJSON *m = new_obj(c);
    if (!m) return NULL;
    const cJSON *k;
    cJSON_ArrayForEach(k, src) {
        if (streq(k->string, "allOf")) continue;
        add(c, m, k->string, cJSON_Duplicate(k, 1));
    }
    struct notes n = {.len = 0};
    const cJSON *br;
    cJSON_ArrayForEach(br, get(src, "allOf")) {
        const cJSON *b = br;
        const cJSON *ref = get(b, "$ref");
        if (cJSON_IsString(ref)) {
            const cJSON *t = resolve_ref(c, ref->valuestring);
            if (t) b = t;
        }
        if (!cJSON_IsObject(b)) continue;
        cJSON_ArrayForEach(k, b) {
            cJSON *have = cJSON_GetObjectItemCaseSensitive(m, k->string);
            if (streq(k->string, "properties") && cJSON_IsObject(k)) {
                if (!have) {
                    add(c, m, "properties", cJSON_Duplicate(k, 1));
                    continue;
                }
                const cJSON *p;
                cJSON_ArrayForEach(p, k) {
                    if (!get(have, p->string)) add(c, have, p->string, cJSON_Duplicate(p, 1));
                }
            } else if (streq(k->string, "required") && cJSON_IsArray(k)) {
                if (!have) {
                    add(c, m, "required", cJSON_Duplicate(k, 1));
                    continue;
                }
                const cJSON *r;
                cJSON_ArrayForEach(r, k) {
                    bool dup = false;
                    const cJSON *h;
                    cJSON_ArrayForEach(h, have) dup = dup || cJSON_Compare(h, r, 1);
                    if (!dup) {
                        cJSON *d = cJSON_Duplicate(r, 1);
                        if (!d || !cJSON_AddItemToArray(have, d)) {
                            cJSON_Delete(d);
                            c->oom = true;
                        }
                    }
                }
            } else if (!have) {
                add(c, m, k->string, cJSON_Duplicate(k, 1));
            } else if (!cJSON_Compare(have, k, 1) && !streq(k->string, "description")) {
                char snip[160];
                json_snippet(k, snip, sizeof snip);
                note(&n, "also %s: %s", k->string, snip);
            }
        }
    }
    if (n.len) {
        const cJSON *d = get(m, "description");
        char *base = cJSON_IsString(d) ? strdup(d->valuestring) : NULL;
        if (cJSON_IsString(d) && !base) c->oom = true;
        set_desc(c, m, base, NULL, &n);
        free(base);
    }
    return m;
}

static bool is_null_branch(const cJSON *b) {
    const cJSON *t = get(b, "type");
    return cJSON_IsString(t) && streq(t->valuestring, "null");
}

/* A cleaned node that is a plain string enum (mergeable in P2). */
static bool is_string_enum(const cJSON *n) {
    const cJSON *t = get(n, "type"), *e = get(n, "enum");
    if (!cJSON_IsString(t) || !streq(t->valuestring, "string") || !cJSON_IsArray(e)) return false;
    const cJSON *k;
    cJSON_ArrayForEach(k, n) {
        if (!streq(k->string, "type") && !streq(k->string, "enum") &&
            !streq(k->string, "description") && !streq(k->string, "nullable"))
            return false;
    }
    return true;
}

/* P1/P2: a node with anyOf/oneOf, or a type array with several types. */
static cJSON *clean_union(struct ctx *c, const cJSON *src, const char *const *types, int ntypes,
                          bool nullable, const char *desc, struct notes *n, int depth) {
    cJSON *list = cJSON_CreateArray();
    if (!list) {
        c->oom = true;
        return NULL;
    }
    /* the branches, cleaned; nested unions are spliced in */
    const char *const keys[] = {"anyOf", "oneOf"};
    for (int ki = 0; ki < 2; ki++) {
        const cJSON *b;
        cJSON_ArrayForEach(b, get(src, keys[ki])) {
            if (is_null_branch(b)) {
                nullable = true;
                continue;
            }
            cJSON *cb = clean(c, b, depth + 1);
            if (!cb) break;
            cJSON *inner = cJSON_GetObjectItemCaseSensitive(cb, "anyOf");
            if (inner) {
                cJSON *x;
                while ((x = cJSON_DetachItemFromArray(inner, 0)) != NULL)
                    cJSON_AddItemToArray(list, x);
                cJSON_Delete(cb);
            } else {
                cJSON_AddItemToArray(list, cb);
            }
        }
    }
    for (int i = 0; i < ntypes; i++) {
        /* one branch per type: the node itself with that type, minus the union and description */
        cJSON *d = cJSON_Duplicate(src, 1);
        if (!d) {
            c->oom = true;
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(d, "description");
        cJSON_DeleteItemFromObjectCaseSensitive(d, "title");
        cJSON_DeleteItemFromObjectCaseSensitive(d, "default");
        cJSON_DeleteItemFromObjectCaseSensitive(d, "anyOf");
        cJSON_DeleteItemFromObjectCaseSensitive(d, "oneOf");
        cJSON *t = cJSON_CreateString(types[i]);
        if (!t) {
            c->oom = true;
            cJSON_Delete(d);
            break;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(d, "type", t);
        cJSON *cb = clean(c, d, depth + 1);
        cJSON_Delete(d);
        if (!cb) break;
        cJSON_AddItemToArray(list, cb);
    }
    if (c->oom) {
        cJSON_Delete(list);
        return NULL;
    }
    int count = cJSON_GetArraySize(list);
    cJSON *out = NULL;
    if (count == 0) {
        cJSON_Delete(list);
        out = simple(c, "string", NULL);
        if (out) apply_outer(c, out, desc, n, true);
        return out;
    }
    bool all_enum = true;
    const cJSON *b;
    cJSON_ArrayForEach(b, list) all_enum = all_enum && is_string_enum(b);
    if (all_enum && count > 1) {
        /* TaskUpdate.status: anyOf[{enum:[a,b,c]},{const:d}] -> enum [a,b,c,d] */
        out = simple(c, "string", NULL);
        cJSON *e = cJSON_CreateArray();
        if (!out || !e) {
            c->oom = true;
            cJSON_Delete(e);
            cJSON_Delete(list);
            cJSON_Delete(out);
            return NULL;
        }
        const char *inner_desc = NULL;
        cJSON_ArrayForEach(b, list) {
            const cJSON *d = get(b, "description");
            if (!inner_desc && cJSON_IsString(d)) inner_desc = d->valuestring;
            if (cJSON_IsTrue(get(b, "nullable"))) nullable = true;
            const cJSON *v;
            cJSON_ArrayForEach(v, get(b, "enum")) {
                bool dup = false;
                const cJSON *h;
                cJSON_ArrayForEach(h, e) dup = dup || cJSON_Compare(h, v, 1);
                if (!dup) cJSON_AddItemToArray(e, cJSON_CreateString(v->valuestring));
            }
        }
        add(c, out, "enum", e);
        set_desc(c, out, desc ? desc : inner_desc, NULL, n);
        if (nullable) add(c, out, "nullable", cJSON_CreateTrue());
        cJSON_Delete(list);
        return out;
    }
    if (count == 1) {
        out = cJSON_DetachItemFromArray(list, 0);
        cJSON_Delete(list);
        apply_outer(c, out, desc, n, nullable);
        return out;
    }
    if (c->mode & GEMINI_SCHEMA_ANYOF_FIRST) {
        /* older models: the first branch, the others named in a note */
        char others[200];
        size_t k = 0;
        others[0] = '\0';
        for (const cJSON *x = list->child ? list->child->next : NULL; x; x = x->next) {
            const cJSON *t = get(x, "type");
            int w = snprintf(others + k, sizeof others - k, "%s%s", k ? ", " : "",
                             cJSON_IsString(t) ? t->valuestring : "value");
            if (w < 0 || (size_t)w >= sizeof others - k) break;
            k += (size_t)w;
        }
        note(n, "also accepts: %s", others);
        out = cJSON_DetachItemFromArray(list, 0);
        cJSON_Delete(list);
        apply_outer(c, out, desc, n, nullable);
        return out;
    }
    /* G2: anyOf is the only key of its node; description and nullable go to the branches */
    out = new_obj(c);
    if (!out) {
        cJSON_Delete(list);
        return NULL;
    }
    add(c, out, "anyOf", list);
    apply_outer(c, out, desc, n, nullable);
    return out;
}

/* The keywords the cleaner reads from one node, found in one pass over its keys; the first of
 * repeated keys wins (as cJSON_GetObjectItemCaseSensitive). */
struct kw {
    const cJSON *ref, *all_of, *any_of, *one_of, *description, *title, *nullable, *dflt, *type,
        *properties, *items, *prefix_items, *cnst, *enm, *format, *required, *pattern, *min_props,
        *max_props, *min_items, *max_items, *min_len, *max_len, *minimum, *maximum, *ex_min,
        *ex_max, *multiple_of;
};

static void kw_read(const cJSON *src, struct kw *k) {
#define KW(name, field)                                                                            \
    { name, offsetof(struct kw, field) }
    static const struct {
        const char *name;
        size_t off;
    } table[] = {KW("type", type),
                 KW("description", description),
                 KW("properties", properties),
                 KW("required", required),
                 KW("items", items),
                 KW("enum", enm),
                 KW("default", dflt),
                 KW("anyOf", any_of),
                 KW("$ref", ref),
                 KW("allOf", all_of),
                 KW("oneOf", one_of),
                 KW("title", title),
                 KW("nullable", nullable),
                 KW("prefixItems", prefix_items),
                 KW("const", cnst),
                 KW("format", format),
                 KW("pattern", pattern),
                 KW("minProperties", min_props),
                 KW("maxProperties", max_props),
                 KW("minItems", min_items),
                 KW("maxItems", max_items),
                 KW("minLength", min_len),
                 KW("maxLength", max_len),
                 KW("minimum", minimum),
                 KW("maximum", maximum),
                 KW("exclusiveMinimum", ex_min),
                 KW("exclusiveMaximum", ex_max),
                 KW("multipleOf", multiple_of)};
#undef KW
    memset(k, 0, sizeof *k);
    for (const cJSON *x = src->child; x; x = x->next) {
        const char *name = x->string;
        if (!name) continue;
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
            if (name[0] != table[i].name[0] || strcmp(name, table[i].name) != 0) continue;
            const cJSON **slot = (const cJSON **)(void *)((char *)k + table[i].off);
            if (!*slot) *slot = x;
            break;
        }
    }
}

/* What is decided about a node before its kind is known: description, nullable, the notes so
 * far, the type or the list of types (P1, P8). */
struct plan {
    struct notes n;
    const char *desc;
    bool nullable;
    const char *type; /* NULL: not given (inferred by plain_type) */
    const char *types[8];
    int ntypes; /* > 1: a union of types */
};

/* Fills p; returns true when the node is a union (P2). */
static bool plan_node(const struct kw *k, struct plan *p) {
    p->n.len = 0;
    p->n.buf[0] = '\0';
    p->desc = cJSON_IsString(k->description) ? k->description->valuestring
              : cJSON_IsString(k->title)     ? k->title->valuestring
                                             : NULL;
    p->nullable = cJSON_IsTrue(k->nullable);
    /* P8: default -> note (support differs across Gemini surfaces) */
    if (k->dflt) {
        char snip[120];
        json_snippet(k->dflt, snip, sizeof snip);
        note(&p->n, "default: %s", snip);
    }
    /* P1: types */
    p->type = NULL;
    p->ntypes = 0;
    const cJSON *tn = k->type;
    if (cJSON_IsString(tn)) {
        p->type = tn->valuestring;
        if (streq(p->type, "null")) {
            p->type = "string";
            p->nullable = true;
        }
    } else if (cJSON_IsArray(tn)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, tn) {
            if (!cJSON_IsString(t)) continue;
            if (streq(t->valuestring, "null"))
                p->nullable = true;
            else if (p->ntypes < 8)
                p->types[p->ntypes++] = t->valuestring;
        }
        if (p->ntypes == 0) p->type = "string";
        if (p->ntypes == 1) {
            p->type = p->types[0];
            p->ntypes = 0;
        }
    }
    return p->ntypes > 1 || cJSON_IsArray(k->any_of) || cJSON_IsArray(k->one_of);
}

/* The type of a node that is not a union: given, else inferred; unknown types become strings. */
static void plain_type(const struct kw *k, struct plan *p) {
    if (!p->type) {
        if (cJSON_IsObject(k->properties))
            p->type = "object";
        else if (k->items || k->prefix_items)
            p->type = "array";
        else if (cJSON_IsString(k->cnst) || cJSON_IsArray(k->enm))
            p->type = "string";
        else {
            p->type = "string";
            note(&p->n, "any JSON value, as text");
        }
    }
    if (!known_type(p->type)) {
        note(&p->n, "type: %s", p->type);
        p->type = "string";
    }
}

static bool has_allof(const struct kw *k) {
    return cJSON_IsArray(k->all_of) && k->all_of->child;
}

/* A node the writer hands to the tree cleaner: a reference, an allOf, a union. */
static bool needs_tree(const struct kw *k, struct plan *p) {
    return cJSON_IsString(k->ref) || has_allof(k) || plan_node(k, p);
}

/* A property of `props` that the object keeps: it has a name. */
static bool any_named(const cJSON *props) {
    for (const cJSON *x = props ? props->child : NULL; x; x = x->next)
        if (x->string) return true;
    return false;
}

static const char *const DEEP_NOTE = "(deeply nested value, as JSON text)";
static const char *const ANY_NOTE = "any JSON value, as text";

static void wnode(struct ctx *c, struct xl_jw *w, const cJSON *src, int depth);

/* {"type":t[, "description":d]} */
static void wsimple(struct xl_jw *w, const char *t, const char *d) {
    xl_jw_obj(w);
    xl_jw_kstr(w, "type", t);
    if (d) xl_jw_kstr(w, "description", d);
    xl_jw_obj_end(w);
}

static void wnum(struct xl_jw *w, const cJSON *v, const char *k) {
    if (!cJSON_IsNumber(v)) return;
    xl_jw_key(w, k);
    xl_jw_num(w, v->valuedouble);
}

static void wnumeric(struct xl_jw *w, const struct kw *k, bool integer, struct notes *n) {
    const cJSON *mn = k->minimum, *mx = k->maximum;
    bool has_min = cJSON_IsNumber(mn), has_max = cJSON_IsNumber(mx);
    double vmin = has_min ? mn->valuedouble : 0, vmax = has_max ? mx->valuedouble : 0;
    const cJSON *emin = k->ex_min, *emax = k->ex_max;
    if (cJSON_IsNumber(emin)) {
        double v = emin->valuedouble;
        double lo = integer ? floor(v) + 1 : v;
        if (!integer) note(n, "greater than %g", v);
        if (!has_min || lo > vmin) vmin = lo;
        has_min = true;
    } else if (cJSON_IsTrue(emin) && has_min) {
        if (integer)
            vmin = floor(vmin) + 1;
        else
            note(n, "greater than %g", vmin);
    }
    if (cJSON_IsNumber(emax)) {
        double v = emax->valuedouble;
        double hi = integer ? ceil(v) - 1 : v;
        if (!integer) note(n, "less than %g", v);
        if (!has_max || hi < vmax) vmax = hi;
        has_max = true;
    } else if (cJSON_IsTrue(emax) && has_max) {
        if (integer)
            vmax = ceil(vmax) - 1;
        else
            note(n, "less than %g", vmax);
    }
    /* +-(2^53 - 1) bounds (Claude Code's "any safe integer") say nothing: leave them out */
    if (has_min && vmin > -9007199254740991.0) {
        xl_jw_key(w, "minimum");
        xl_jw_num(w, vmin);
    }
    if (has_max && vmax < 9007199254740991.0) {
        xl_jw_key(w, "maximum");
        xl_jw_num(w, vmax);
    }
    if (cJSON_IsNumber(k->multiple_of)) note(n, "multiple of %g", k->multiple_of->valuedouble);
}

/* Whether `r` (an entry of `required`) is written: a string naming a kept property, not named
 * by an earlier entry. */
static bool required_kept(const cJSON *req, const cJSON *r, const cJSON *props) {
    if (!cJSON_IsString(r) || !cJSON_GetObjectItemCaseSensitive(props, r->valuestring))
        return false;
    for (const cJSON *h = req->child; h && h != r; h = h->next)
        if (cJSON_IsString(h) && streq(h->valuestring, r->valuestring) &&
            cJSON_GetObjectItemCaseSensitive(props, h->valuestring))
            return false;
    return true;
}

/* A node that is not a reference, an allOf or a union (p from plan_node, then plain_type), in
 * the key order: type, enum, format, the kind's keywords, description, nullable. */
static void wplain(struct ctx *c, struct xl_jw *w, const struct kw *k, struct plan *p, int depth) {
    struct notes *n = &p->n;
    const char *type = p->type;
    bool is_str = streq(type, "string");
    xl_jw_obj(w);
    xl_jw_kstr(w, "type", type);

    /* P3: literals */
    const cJSON *cst = k->cnst, *en = k->enm;
    if (cst) {
        if (cJSON_IsString(cst) && is_str) {
            xl_jw_key(w, "enum");
            xl_jw_arr(w);
            xl_jw_str(w, cst->valuestring);
            xl_jw_arr_end(w);
        } else {
            char snip[120];
            json_snippet(cst, snip, sizeof snip);
            note(n, "must be %s", snip);
        }
    } else if (cJSON_IsArray(en)) {
        bool all_str = en->child != NULL;
        const cJSON *v;
        cJSON_ArrayForEach(v, en) all_str = all_str && cJSON_IsString(v);
        if (is_str && all_str) {
            xl_jw_key(w, "enum");
            xl_jw_cjson(w, en, NULL);
        } else {
            char vals[240];
            size_t len = 0;
            vals[0] = '\0';
            cJSON_ArrayForEach(v, en) {
                char snip[60];
                json_snippet(v, snip, sizeof snip);
                int wr = snprintf(vals + len, sizeof vals - len, "%s%s", len ? ", " : "", snip);
                if (wr < 0 || (size_t)wr >= sizeof vals - len) break;
                len += (size_t)wr;
            }
            note(n, "allowed values: %s", vals);
        }
    }

    /* P7: format */
    if (cJSON_IsString(k->format)) {
        if (format_allowed(type, k->format->valuestring))
            xl_jw_kstr(w, "format", k->format->valuestring);
        else
            note(n, "format: %s", k->format->valuestring);
    }

    if (streq(type, "object")) {
        /* P4: objects (a property without a name, under a `properties` that is not an object,
         * is not one) */
        const cJSON *props = k->properties, *r;
        if (any_named(props)) {
            xl_jw_key(w, "properties");
            xl_jw_obj(w);
            for (const cJSON *x = props->child; x && !c->oom; x = x->next) {
                if (!x->string) continue;
                xl_jw_key(w, x->string);
                wnode(c, w, x, depth + 1);
            }
            xl_jw_obj_end(w);
            bool any = false;
            cJSON_ArrayForEach(r, k->required) any = any || required_kept(k->required, r, props);
            if (any) {
                xl_jw_key(w, "required");
                xl_jw_arr(w);
                cJSON_ArrayForEach(r, k->required) {
                    if (required_kept(k->required, r, props)) xl_jw_str(w, r->valuestring);
                }
                xl_jw_arr_end(w);
            }
        } else if ((c->mode & GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER) && depth > 0) {
            xl_jw_key(w, "properties");
            xl_jw_obj(w);
            xl_jw_key(w, "json");
            wsimple(w, "string", "the object's content, as JSON text");
            xl_jw_obj_end(w);
            note(n, "free-form object");
        } else {
            note(n, "free-form object");
        }
        wnum(w, k->min_props, "minProperties");
        wnum(w, k->max_props, "maxProperties");
    } else if (streq(type, "array")) {
        /* P5: arrays */
        const cJSON *it = k->items;
        if (cJSON_IsArray(it)) it = it->child;
        if (!it && cJSON_IsArray(k->prefix_items)) it = k->prefix_items->child;
        xl_jw_key(w, "items");
        if (cJSON_IsObject(it) && it->child)
            wnode(c, w, it, depth + 1);
        else
            wsimple(w, "string", NULL);
        wnum(w, k->min_items, "minItems");
        wnum(w, k->max_items, "maxItems");
    } else if (is_str) {
        wnum(w, k->min_len, "minLength");
        wnum(w, k->max_len, "maxLength");
        const cJSON *pat = k->pattern;
        if (cJSON_IsString(pat)) {
            if (gemini_pattern_unsupported(pat->valuestring))
                note(n, "pattern: %s", pat->valuestring);
            else
                xl_jw_kstr(w, "pattern", pat->valuestring);
        }
    } else if (streq(type, "integer") || streq(type, "number")) {
        wnumeric(w, k, streq(type, "integer"), n);
    }

    if (desc_compose(&c->scratch, p->desc, NULL, n)) {
        xl_jw_key(w, "description");
        xl_jw_strn(w, c->scratch.p, c->scratch.len);
    }
    if (p->nullable) xl_jw_kbool(w, "nullable", true);
    xl_jw_obj_end(w);
    if (!xl_buf_ok(&c->scratch)) c->oom = true;
}

/* Any node, written in place. */
static void wnode(struct ctx *c, struct xl_jw *w, const cJSON *src, int depth) {
    if (c->oom) return;
    if (depth > MAX_DEPTH) return wsimple(w, "string", DEEP_NOTE);
    if (!cJSON_IsObject(src)) return wsimple(w, "string", ANY_NOTE);
    struct kw k;
    struct plan p;
    kw_read(src, &k);
    if (needs_tree(&k, &p)) {
        cJSON *t = clean(c, src, depth);
        if (t) xl_jw_cjson(w, t, NULL);
        cJSON_Delete(t);
        return;
    }
    plain_type(&k, &p);
    wplain(c, w, &k, &p, depth);
}

/* Any node, as a tree: references, allOf and unions are cleaned here; a plain node is written
 * and read back (one implementation of the common case; the tree is only needed under a union
 * or a reference, which tool schemas seldom have). */
static cJSON *clean(struct ctx *c, const cJSON *src, int depth) {
    if (c->oom) return NULL;
    if (depth > MAX_DEPTH) return simple(c, "string", DEEP_NOTE);
    if (!cJSON_IsObject(src)) return simple(c, "string", ANY_NOTE);
    struct kw k;
    kw_read(src, &k);
    if (cJSON_IsString(k.ref)) return clean_ref(c, src, k.ref->valuestring, depth);
    if (has_allof(&k)) {
        cJSON *m = merge_allof(c, src);
        if (!m) return NULL;
        cJSON *r = c->oom ? NULL : clean(c, m, depth + 1);
        cJSON_Delete(m);
        return r;
    }
    struct plan p;
    if (plan_node(&k, &p))
        return clean_union(c, src, p.types, p.ntypes > 1 ? p.ntypes : 0, p.nullable, p.desc, &p.n,
                           depth);
    plain_type(&k, &p);
    struct xl_buf b;
    struct xl_jw w;
    xl_buf_init(&b);
    xl_jw_init(&w, &b);
    wplain(c, &w, &k, &p, depth);
    cJSON *out = !c->oom && xl_jw_ok(&w) ? cJSON_ParseWithLength(b.p, b.len) : NULL;
    xl_buf_free(&b);
    if (!out) c->oom = true;
    return out;
}

/* G2 at the root: a union of objects becomes one object with every property and the required
 * names common to all branches. */
static cJSON *fold_root_union(struct ctx *c, cJSON *u) {
    cJSON *any = cJSON_GetObjectItemCaseSensitive(u, "anyOf");
    cJSON *out = simple(c, "object", NULL);
    cJSON *props = new_obj(c);
    if (!out || !props) {
        cJSON_Delete(out);
        cJSON_Delete(props);
        return NULL;
    }
    const cJSON *b, *first_desc = NULL;
    int nobj = 0;
    cJSON_ArrayForEach(b, any) {
        if (!first_desc && cJSON_IsString(get(b, "description")))
            first_desc = get(b, "description");
        const cJSON *p;
        cJSON_ArrayForEach(p, get(b, "properties")) {
            if (!get(props, p->string)) add(c, props, p->string, cJSON_Duplicate(p, 1));
        }
        if (get(b, "properties")) nobj++;
    }
    cJSON *req = cJSON_CreateArray();
    const cJSON *first = cJSON_GetArrayItem(any, 0);
    const cJSON *r;
    cJSON_ArrayForEach(r, get(first, "required")) {
        bool everywhere = true;
        cJSON_ArrayForEach(b, any) {
            bool in = false;
            const cJSON *h;
            cJSON_ArrayForEach(h, get(b, "required")) in = in || cJSON_Compare(h, r, 1);
            everywhere = everywhere && in;
        }
        if (everywhere && req) cJSON_AddItemToArray(req, cJSON_CreateString(r->valuestring));
    }
    if (first_desc) add_str(c, out, "description", first_desc->valuestring);
    if (cJSON_GetArraySize(props) > 0 && nobj > 0) {
        add(c, out, "properties", props);
        if (req && cJSON_GetArraySize(req) > 0)
            add(c, out, "required", req);
        else
            cJSON_Delete(req);
    } else {
        cJSON_Delete(props);
        cJSON_Delete(req);
    }
    return out;
}

static void ctx_init(struct ctx *c, const cJSON *root, unsigned mode) {
    memset(c, 0, sizeof *c);
    c->root = root;
    c->mode = mode;
    xl_buf_init(&c->scratch);
}

/* Frees what the context holds; -1 (err set) when the cleaning ran out of memory. */
static int ctx_done(struct ctx *c, struct err *err) {
    xl_buf_free(&c->scratch);
    if (c->oom)
        return err_set(err, ERR_NOMEM, "gemini: out of memory while cleaning a tool schema");
    return 0;
}

int gemini_schema_clean_node(const cJSON *schema, unsigned mode, cJSON **out, struct err *err) {
    struct ctx c;
    ctx_init(&c, schema, mode);
    *out = clean(&c, schema, 0);
    if (!*out) c.oom = true;
    if (ctx_done(&c, err) < 0) {
        cJSON_Delete(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int gemini_schema_clean(const cJSON *schema, unsigned mode, cJSON **out, struct err *err) {
    *out = NULL;
    if (!schema) return 0;
    cJSON *r;
    if (gemini_schema_clean_node(schema, mode, &r, err) < 0) return -1;
    if (get(r, "anyOf")) {
        struct ctx c;
        ctx_init(&c, schema, mode);
        cJSON *f = fold_root_union(&c, r);
        cJSON_Delete(r);
        if (!f) c.oom = true;
        if (ctx_done(&c, err) < 0) {
            cJSON_Delete(f);
            return -1;
        }
        r = f;
    }
    const cJSON *t = get(r, "type");
    if (!cJSON_IsString(t) || !streq(t->valuestring, "object") || !get(r, "properties")) {
        cJSON_Delete(r); /* no parameters: the declaration omits the field */
        return 0;
    }
    *out = r;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writing straight into a JSON writer */

int gemini_schema_write(struct xl_jw *w, const char *key, const cJSON *schema, unsigned mode,
                        struct err *err) {
    if (!cJSON_IsObject(schema)) return 0; /* cleans to a string: no parameters */
    struct kw k;
    struct plan p;
    kw_read(schema, &k);
    if (needs_tree(&k, &p)) {
        /* a root union is folded into one object (fold_root_union): the tree path */
        cJSON *t = NULL;
        if (gemini_schema_clean(schema, mode, &t, err) < 0) return -1;
        if (!t) return 0;
        xl_jw_key(w, key);
        xl_jw_cjson(w, t, NULL);
        cJSON_Delete(t);
        return 1;
    }
    plain_type(&k, &p);
    if (!streq(p.type, "object") || !any_named(k.properties)) return 0;
    struct ctx c;
    ctx_init(&c, schema, mode);
    xl_jw_key(w, key);
    wplain(&c, w, &k, &p, 0);
    return ctx_done(&c, err) < 0 ? -1 : 1;
}

int gemini_schema_write_node(struct xl_jw *w, const cJSON *schema, unsigned mode, struct err *err) {
    struct ctx c;
    ctx_init(&c, schema, mode);
    wnode(&c, w, schema, 0);
    return ctx_done(&c, err);
}

/* ---------------------------------------------------------------------------------------------
 * The strict checker */

static int fail(char *why, size_t n, const char *path, const char *what) {
    if (why && n) snprintf(why, n, "%s: %s", *path ? path : "/", what);
    return -1;
}

static int check(const cJSON *s, const char *path, bool root, char *why, size_t wn, int depth) {
    static const char *const allowed[] = {
        "type",     "format",        "title",         "description", "nullable",
        "enum",     "items",         "properties",    "required",    "minItems",
        "maxItems", "minProperties", "maxProperties", "minLength",   "maxLength",
        "pattern",  "minimum",       "maximum",       "anyOf",       "propertyOrdering",
        "example"};
    char sub[512];
    if (depth > MAX_DEPTH + 8) return fail(why, wn, path, "nested too deeply");
    if (!cJSON_IsObject(s)) return fail(why, wn, path, "schema is not an object");
    const cJSON *k;
    cJSON_ArrayForEach(k, s) {
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && !ok; i++)
            ok = streq(k->string, allowed[i]);
        if (!ok) {
            snprintf(sub, sizeof sub, "keyword '%s' is not accepted by Gemini", k->string);
            return fail(why, wn, path, sub);
        }
    }
    const cJSON *any = get(s, "anyOf");
    if (any) {
        if (root) return fail(why, wn, path, "anyOf at the root of parameters");
        if (cJSON_GetArraySize(s) != 1)
            return fail(why, wn, path, "anyOf is not alone in its node");
        if (!cJSON_IsArray(any) || cJSON_GetArraySize(any) < 1)
            return fail(why, wn, path, "anyOf is empty");
        int i = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, any) {
            snprintf(sub, sizeof sub, "%s/anyOf/%d", path, i++);
            if (check(b, sub, false, why, wn, depth + 1) < 0) return -1;
        }
        return 0;
    }
    const cJSON *t = get(s, "type");
    if (!cJSON_IsString(t) || !known_type(t->valuestring))
        return fail(why, wn, path, "missing or invalid type");
    const char *type = t->valuestring;
    if (root && !streq(type, "object")) return fail(why, wn, path, "parameters must be an object");
    const cJSON *d = get(s, "description");
    if (d && !cJSON_IsString(d)) return fail(why, wn, path, "description is not a string");
    const cJSON *nl = get(s, "nullable");
    if (nl && !cJSON_IsBool(nl)) return fail(why, wn, path, "nullable is not a boolean");
    const cJSON *e = get(s, "enum");
    if (e) {
        if (!streq(type, "string")) return fail(why, wn, path, "enum on a non-string type");
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) == 0)
            return fail(why, wn, path, "enum is empty");
        const cJSON *v;
        cJSON_ArrayForEach(v, e) if (!cJSON_IsString(v)) return fail(why, wn, path,
                                                                     "enum member is not a string");
    }
    const cJSON *f = get(s, "format");
    if (f && (!cJSON_IsString(f) || !format_allowed(type, f->valuestring)))
        return fail(why, wn, path, "format not accepted for this type");
    const cJSON *props = get(s, "properties"), *req = get(s, "required");
    if ((props || req) && !streq(type, "object"))
        return fail(why, wn, path, "properties/required on a non-object");
    if (props) {
        if (!cJSON_IsObject(props) || cJSON_GetArraySize(props) == 0)
            return fail(why, wn, path, "properties is empty");
        const cJSON *p;
        cJSON_ArrayForEach(p, props) {
            snprintf(sub, sizeof sub, "%s/properties/%s", path, p->string);
            if (check(p, sub, false, why, wn, depth + 1) < 0) return -1;
        }
    }
    if (req) {
        if (!cJSON_IsArray(req) || cJSON_GetArraySize(req) == 0)
            return fail(why, wn, path, "required is empty");
        const cJSON *r;
        cJSON_ArrayForEach(r, req) {
            if (!cJSON_IsString(r) || !get(props, r->valuestring)) {
                snprintf(sub, sizeof sub, "required name '%s' is not a property",
                         cJSON_IsString(r) ? r->valuestring : "?");
                return fail(why, wn, path, sub);
            }
        }
    }
    const cJSON *it = get(s, "items");
    if (streq(type, "array") && !it) return fail(why, wn, path, "array without items");
    if (it) {
        if (!streq(type, "array")) return fail(why, wn, path, "items on a non-array");
        snprintf(sub, sizeof sub, "%s/items", path);
        if (check(it, sub, false, why, wn, depth + 1) < 0) return -1;
    }
    const cJSON *pat = get(s, "pattern");
    if (pat) {
        if (!streq(type, "string") || !cJSON_IsString(pat))
            return fail(why, wn, path, "pattern on a non-string");
        if (gemini_pattern_unsupported(pat->valuestring))
            return fail(why, wn, path, "pattern uses constructs RE2 rejects");
    }
    static const char *const nums[] = {"minItems",  "maxItems",  "minProperties", "maxProperties",
                                       "minLength", "maxLength", "minimum",       "maximum"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const cJSON *v = get(s, nums[i]);
        if (v && !cJSON_IsNumber(v)) return fail(why, wn, path, "bound is not a number");
    }
    if ((get(s, "minimum") || get(s, "maximum")) && !streq(type, "integer") &&
        !streq(type, "number"))
        return fail(why, wn, path, "minimum/maximum on a non-number");
    return 0;
}

int gemini_schema_check(const cJSON *schema, int root, char *why, size_t whylen) {
    if (why && whylen) why[0] = '\0';
    return check(schema, "", root != 0, why, whylen, 0);
}
