#include "providers/normalize.h"
#include "providers/util.h"

#include <ctype.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Arena: a list of chunks, freed at once. Decoded carriers are listed so their cJSON trees can
 * be released too. */

struct xn_chunk {
    struct xn_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct xn_carrier_node {
    struct xl_carrier c;
    struct xn_carrier_node *next;
};

struct xn_arena {
    struct xn_chunk *head;
    struct xn_carrier_node *carriers;
};

static void *arena_alloc(struct xn_arena *a, size_t n) {
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (n == 0) n = alignof(max_align_t);
    struct xn_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(struct xn_arena *a) {
    if (!a) return;
    for (struct xn_carrier_node *n = a->carriers; n; n = n->next)
        xl_carrier_free(&n->c);
    struct xn_chunk *c = a->head;
    while (c) {
        struct xn_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *xn_alloc(struct xn_conv *c, size_t n) {
    return arena_alloc(c->arena, n);
}

static char *arena_strndup(struct xn_arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */

void xn_opts_default(struct xn_opts *o) {
    o->textualize_orphan_tool_history = true;
    o->supports_prefill = false;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool blank(const char *s) {
    if (!s) return true;
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

void xn_thinking_of(const cJSON *body, struct xn_thinking *out) {
    memset(out, 0, sizeof *out);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "thinking");
    const char *type = jstr(t, "type");
    const char *disp = jstr(t, "display");
    if (disp && strcmp(disp, "omitted") == 0)
        out->display = XN_DISPLAY_OMITTED;
    else if (disp && strcmp(disp, "updates") == 0)
        out->display = XN_DISPLAY_UPDATES;
    const char *effort = jstr(cJSON_GetObjectItemCaseSensitive(body, "output_config"), "effort");
    if (!type) {
        out->intent = XN_THINK_DEFAULT;
    } else if (strcmp(type, "disabled") == 0) {
        out->intent = XN_THINK_OFF;
    } else if (strcmp(type, "enabled") == 0) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(t, "budget_tokens");
        if (cJSON_IsNumber(b) && b->valuedouble > 0) {
            out->intent = XN_THINK_BUDGET;
            out->budget = xl_long(b->valuedouble);
        } else if (effort) {
            out->intent = XN_THINK_EFFORT;
            out->effort = effort;
        } else {
            out->intent = XN_THINK_ON;
        }
    } else { /* adaptive, or a newer type that still means "think" */
        if (effort) {
            out->intent = XN_THINK_EFFORT;
            out->effort = effort;
        } else {
            out->intent = XN_THINK_ON;
        }
    }
}

/* A growable list of blocks built in the arena (the old array is simply left behind). */
struct blist {
    struct xn_block *v;
    size_t n, cap;
};

static struct xn_block *blist_push(struct xn_arena *a, struct blist *l) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        struct xn_block *nv = arena_alloc(a, nc * sizeof *nv);
        if (!nv) return NULL;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    struct xn_block *b = &l->v[l->n++];
    memset(b, 0, sizeof *b);
    return b;
}

struct ctx {
    struct xn_arena *a;
    const struct xn_opts *o;
    bool textualize;
    const cJSON *msgs_json; /* for the tool-name lookup of N6 */
    struct err *err;
};

static int oom(struct ctx *c) {
    return err_set(c->err, ERR_NOMEM, "normalize: out of memory");
}

static void cache_of(struct xn_block *b, const cJSON *src) {
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(src, "cache_control");
    if (cJSON_IsObject(cc)) {
        b->cache = true;
        b->cache_control = cc;
    }
}

static int push_text(struct ctx *c, struct blist *l, const char *s, size_t n, const cJSON *src) {
    struct xn_block *b = blist_push(c->a, l);
    if (!b) return oom(c);
    b->kind = XN_TEXT;
    b->text = s;
    b->len = n;
    b->src = src;
    if (src) cache_of(b, src);
    return 0;
}

/* Build a text from a printf format into the arena. */
static const char *afmt(struct ctx *c, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *afmt(struct ctx *c, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = arena_alloc(c->a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (len) *len = (size_t)n;
    return p;
}

/* Tool-result content into parts (text / image / document; tool_reference -> text, R4). */
static int result_parts(struct ctx *c, const cJSON *content, struct xn_block *rb) {
    struct blist l = {0};
    if (cJSON_IsString(content)) {
        if (content->valuestring[0] &&
            push_text(c, &l, content->valuestring, strlen(content->valuestring), NULL) < 0)
            return -1;
    } else if (cJSON_IsArray(content)) {
        const cJSON *p;
        cJSON_ArrayForEach(p, content) {
            const char *t = jstr(p, "type");
            if (!t) continue;
            if (strcmp(t, "text") == 0) {
                const char *s = jstr(p, "text");
                if (s && *s && push_text(c, &l, s, strlen(s), p) < 0) return -1;
            } else if (strcmp(t, "image") == 0 || strcmp(t, "document") == 0) {
                struct xn_block *b = blist_push(c->a, &l);
                if (!b) return oom(c);
                b->kind = t[0] == 'i' ? XN_IMAGE : XN_DOCUMENT;
                b->src = p;
                cache_of(b, p);
            } else if (strcmp(t, "tool_reference") == 0) {
                const char *name = jstr(p, "tool_name");
                size_t n;
                const char *s = afmt(c, &n, "Tool loaded: %s", name ? name : "(unnamed)");
                if (!s || push_text(c, &l, s, n, NULL) < 0) return s ? -1 : oom(c);
            } else if (strcmp(t, "search_result") == 0) {
                const char *title = jstr(p, "title"), *src = jstr(p, "source");
                size_t n;
                const char *s =
                    afmt(c, &n, "[search result: %s <%s>]", title ? title : "", src ? src : "");
                if (!s || push_text(c, &l, s, n, NULL) < 0) return s ? -1 : oom(c);
            }
        }
    }
    rb->parts = l.v;
    rb->nparts = l.n;
    return 0;
}

/* The text of a tool result's parts joined with '\n' (for orphans and N6). */
static const char *parts_text(struct ctx *c, const struct xn_block *rb, size_t *len) {
    size_t n = 0;
    for (size_t i = 0; i < rb->nparts; i++)
        if (rb->parts[i].kind == XN_TEXT)
            n += rb->parts[i].len + 1;
        else
            n += 24;
    char *p = arena_alloc(c->a, n + 1), *o = p;
    if (!p) return NULL;
    for (size_t i = 0; i < rb->nparts; i++) {
        if (o > p) *o++ = '\n';
        if (rb->parts[i].kind == XN_TEXT) {
            memcpy(o, rb->parts[i].text, rb->parts[i].len);
            o += rb->parts[i].len;
        } else {
            const char *ph = rb->parts[i].kind == XN_IMAGE ? "[image]" : "[document]";
            memcpy(o, ph, strlen(ph));
            o += strlen(ph);
        }
    }
    *o = '\0';
    *len = (size_t)(o - p);
    return p;
}

static const char *canon_id(struct ctx *c, const char *id) {
    char tmp[XL_TOOL_ID_MAX + 1];
    xl_tool_id_canon(id, tmp);
    return arena_strndup(c->a, tmp, strlen(tmp));
}

/* Name of the call with this raw id anywhere in the history (N6 wording). */
static const char *call_name(const cJSON *msgs, const char *id) {
    const cJSON *m, *b;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsArray(content)) continue;
        cJSON_ArrayForEach(b, content) {
            const char *t = jstr(b, "type"), *bid = jstr(b, "id");
            if (t && strcmp(t, "tool_use") == 0 && bid && id && strcmp(bid, id) == 0)
                return jstr(b, "name");
        }
    }
    return NULL;
}

/* N10: a foreign block as short text, or NULL to drop it. */
static const char *foreign_text(struct ctx *c, const cJSON *b, const char *type, size_t *len) {
    if (strcmp(type, "server_tool_use") == 0) {
        const char *q = jstr(cJSON_GetObjectItemCaseSensitive(b, "input"), "query");
        const char *name = jstr(b, "name");
        if (q)
            return afmt(c, len, "[%s: \"%s\"]",
                        name && strstr(name, "fetch") ? "web fetch" : "web search", q);
        return afmt(c, len, "[server tool %s called]", name ? name : "?");
    }
    if (strcmp(type, "web_search_tool_result") == 0) {
        struct xl_buf t;
        xl_buf_init(&t);
        xl_buf_adds(&t, "[web search results: ");
        const cJSON *r;
        int k = 0;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(b, "content")) {
            const char *title = jstr(r, "title"), *url = jstr(r, "url");
            if (!url) continue;
            if (k++) xl_buf_adds(&t, "; ");
            xl_buf_printf(&t, "%s <%s>", title ? title : "", url);
            if (k >= 20) break;
        }
        xl_buf_addc(&t, ']');
        const char *s = xl_buf_ok(&t) ? arena_strndup(c->a, t.p, t.len) : NULL;
        if (s) *len = t.len;
        xl_buf_free(&t);
        return s;
    }
    if (strcmp(type, "web_fetch_tool_result") == 0) {
        const char *url = jstr(cJSON_GetObjectItemCaseSensitive(b, "content"), "url");
        return afmt(c, len, "[web fetch result%s%s]", url ? ": " : "", url ? url : "");
    }
    if (strcmp(type, "search_result") == 0) {
        const char *title = jstr(b, "title"), *src = jstr(b, "source");
        return afmt(c, len, "[search result: %s <%s>]", title ? title : "", src ? src : "");
    }
    return NULL; /* container_upload, mcp_*, unknown: dropped */
}

/* One client message into blocks. */
static int convert_msg(struct ctx *c, const cJSON *m, enum xn_role role, struct blist *l) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(content)) {
        if (!blank(content->valuestring))
            return push_text(c, l, content->valuestring, strlen(content->valuestring), NULL);
        return 0;
    }
    if (!cJSON_IsArray(content)) return 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *t = jstr(b, "type");
        if (!t) continue;
        if (strcmp(t, "text") == 0) {
            const char *s = jstr(b, "text");
            if (!blank(s) && push_text(c, l, s, strlen(s), b) < 0) return -1;
            continue;
        }
        if (role == XN_SYSTEM) continue; /* system messages carry text only */
        if (strcmp(t, "image") == 0 || strcmp(t, "document") == 0) {
            struct xn_block *x = blist_push(c->a, l);
            if (!x) return oom(c);
            x->kind = t[0] == 'i' ? XN_IMAGE : XN_DOCUMENT;
            x->src = b;
            cache_of(x, b);
        } else if (strcmp(t, "tool_use") == 0 && role == XN_ASSISTANT) {
            const char *id = jstr(b, "id"), *name = jstr(b, "name");
            const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
            if (c->textualize) {
                struct xl_buf tb;
                xl_buf_init(&tb);
                struct xl_jw w;
                xl_jw_init(&w, &tb);
                if (input)
                    xl_jw_cjson(&w, input, NULL);
                else
                    xl_buf_adds(&tb, "{}");
                size_t n;
                const char *s = xl_buf_ok(&tb) ? afmt(c, &n, "[Called tool %s with %.*s]",
                                                      name ? name : "?", (int)tb.len, tb.p)
                                               : NULL;
                xl_buf_free(&tb);
                if (!s || push_text(c, l, s, n, NULL) < 0) return s ? -1 : oom(c);
                continue;
            }
            struct xn_block *x = blist_push(c->a, l);
            if (!x) return oom(c);
            x->kind = XN_TOOL_USE;
            x->src = b;
            x->raw_id = id ? id : "";
            x->id = canon_id(c, x->raw_id);
            x->name = name ? name : "";
            x->input = cJSON_IsObject(input) ? input : NULL;
            if (!x->id) return oom(c);
            cache_of(x, b);
        } else if (strcmp(t, "tool_result") == 0 && role == XN_USER) {
            const char *id = jstr(b, "tool_use_id");
            struct xn_block *x = blist_push(c->a, l);
            if (!x) return oom(c);
            x->kind = XN_TOOL_RESULT;
            x->src = b;
            x->raw_id = id ? id : "";
            x->id = canon_id(c, x->raw_id);
            if (!x->id) return oom(c);
            x->is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "is_error"));
            cache_of(x, b);
            if (result_parts(c, cJSON_GetObjectItemCaseSensitive(b, "content"), x) < 0) return -1;
            if (c->textualize) {
                const char *name = call_name(c->msgs_json, id);
                size_t tl = 0, n;
                const char *txt = parts_text(c, x, &tl);
                if (!txt) return oom(c);
                bool cache = x->cache;
                const cJSON *cc = x->cache_control;
                const char *s = afmt(c, &n, "[Tool %s returned%s: %s]", name ? name : "result",
                                     x->is_error ? " an error" : "", tl ? txt : "(no output)");
                if (!s) return oom(c);
                memset(x, 0, sizeof *x);
                x->kind = XN_TEXT;
                x->text = s;
                x->len = n;
                x->cache = cache;
                x->cache_control = cc;
            }
        } else if ((strcmp(t, "thinking") == 0 || strcmp(t, "redacted_thinking") == 0) &&
                   role == XN_ASSISTANT) {
            bool red = t[0] == 'r';
            struct xn_block *x = blist_push(c->a, l);
            if (!x) return oom(c);
            x->kind = red ? XN_REDACTED : XN_THINKING;
            x->src = b;
            const char *sig = jstr(b, red ? "data" : "signature");
            x->signature = sig ? sig : "";
            if (!red) {
                const char *th = jstr(b, "thinking");
                x->text = th ? th : "";
                x->len = strlen(x->text);
            }
            if (!*x->signature) {
                x->origin = XN_ORIGIN_UNSIGNED;
            } else {
                struct xn_carrier_node *cn = arena_alloc(c->a, sizeof *cn);
                if (!cn) return oom(c);
                int rc = xl_carrier_read(x->signature, &cn->c);
                if (rc < 0) return oom(c);
                if (rc == 1) {
                    cn->next = c->a->carriers;
                    c->a->carriers = cn;
                    x->origin = XN_ORIGIN_CCRELAY;
                    x->carrier = &cn->c;
                } else {
                    x->origin = XN_ORIGIN_FOREIGN;
                }
            }
        } else {
            size_t n = 0;
            const char *s = foreign_text(c, b, t, &n);
            if (s && push_text(c, l, s, n, NULL) < 0) return -1;
        }
    }
    return 0;
}

/* Message list in the arena. */
struct mlist {
    struct xn_msg *v;
    size_t n, cap;
};

static struct xn_msg *mlist_push(struct xn_arena *a, struct mlist *l) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct xn_msg *nv = arena_alloc(a, nc * sizeof *nv);
        if (!nv) return NULL;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    struct xn_msg *m = &l->v[l->n++];
    memset(m, 0, sizeof *m);
    return m;
}

static int append_blocks(struct ctx *c, struct xn_msg *dst, const struct xn_msg *src) {
    struct xn_block *nv = arena_alloc(c->a, (dst->nblocks + src->nblocks) * sizeof *nv);
    if (!nv) return oom(c);
    memcpy(nv, dst->blocks, dst->nblocks * sizeof *nv);
    memcpy(nv + dst->nblocks, src->blocks, src->nblocks * sizeof *nv);
    dst->blocks = nv;
    dst->nblocks += src->nblocks;
    return 0;
}

static size_t count_kind(const struct xn_msg *m, enum xn_kind k) {
    size_t n = 0;
    for (size_t i = 0; i < m->nblocks; i++)
        n += m->blocks[i].kind == k;
    return n;
}

/* N4 + N5 for one assistant message `am` and the user message `um` (NULL: none follows).
 * Writes the paired user message into *out. */
static int pair(struct ctx *c, struct xn_msg *am, const struct xn_msg *um, struct xn_msg *out,
                const char **seen, size_t *nseen) {
    size_t ncalls = count_kind(am, XN_TOOL_USE);
    size_t nother = um ? um->nblocks : 0;
    struct xn_block *v = arena_alloc(c->a, (ncalls + nother + 1) * sizeof *v);
    bool *used = um && um->nblocks ? arena_alloc(c->a, um->nblocks * sizeof *used) : NULL;
    if (!v || (um && um->nblocks && !used)) return oom(c);
    size_t o = 0;
    for (size_t i = 0; i < am->nblocks; i++) {
        struct xn_block *call = &am->blocks[i];
        if (call->kind != XN_TOOL_USE) continue;
        const char *orig = call->id;
        /* N4: a duplicate id gets "<id>_2", "<id>_3"... */
        for (int k = 2;; k++) {
            bool dup = false;
            for (size_t s = 0; s < *nseen && !dup; s++)
                dup = strcmp(seen[s], call->id) == 0;
            if (!dup) break;
            char tmp[96];
            snprintf(tmp, sizeof tmp, "%s_%d", orig, k);
            call->id = canon_id(c, tmp);
            if (!call->id) return oom(c);
        }
        seen[(*nseen)++] = call->id;
        /* its result: the first unused result in um with the original id */
        bool found = false;
        for (size_t j = 0; um && j < um->nblocks; j++) {
            const struct xn_block *r = &um->blocks[j];
            if (used[j] || r->kind != XN_TOOL_RESULT || strcmp(r->id, orig) != 0) continue;
            used[j] = true;
            v[o] = *r;
            v[o].id = call->id;
            v[o].name = call->name;
            o++;
            found = true;
            break;
        }
        if (!found) {
            struct xn_block *r = &v[o++];
            memset(r, 0, sizeof *r);
            r->kind = XN_TOOL_RESULT;
            r->id = call->id;
            r->raw_id = call->raw_id;
            r->name = call->name;
            r->is_error = true;
            r->synthetic = true;
            r->parts = arena_alloc(c->a, sizeof *r->parts);
            if (!r->parts) return oom(c);
            r->parts[0].kind = XN_TEXT;
            r->parts[0].text = "No result was provided for this tool call.";
            r->parts[0].len = strlen(r->parts[0].text);
            r->nparts = 1;
        }
    }
    out->nresults = o;
    for (size_t j = 0; um && j < um->nblocks; j++) {
        if (used[j]) continue;
        const struct xn_block *r = &um->blocks[j];
        if (r->kind == XN_TOOL_RESULT) { /* orphan */
            size_t tl = 0, n;
            const char *txt = parts_text(c, r, &tl);
            const char *s =
                txt ? afmt(c, &n, "[Result of an earlier tool call %s]\n%s", r->raw_id, txt) : NULL;
            if (!s) return oom(c);
            struct xn_block *x = &v[o++];
            memset(x, 0, sizeof *x);
            x->kind = XN_TEXT;
            x->text = s;
            x->len = n;
            x->cache = r->cache;
            x->cache_control = r->cache_control;
        } else {
            v[o++] = *r;
        }
    }
    out->role = XN_USER;
    out->blocks = v;
    out->nblocks = o;
    return 0;
}

/* Orphans in a user message that answers no assistant tool call. */
static int orphans_to_text(struct ctx *c, struct xn_msg *um) {
    for (size_t j = 0; j < um->nblocks; j++) {
        struct xn_block *r = &um->blocks[j];
        if (r->kind != XN_TOOL_RESULT) continue;
        size_t tl = 0, n;
        const char *txt = parts_text(c, r, &tl);
        const char *s =
            txt ? afmt(c, &n, "[Result of an earlier tool call %s]\n%s", r->raw_id, txt) : NULL;
        if (!s) return oom(c);
        bool cache = r->cache;
        const cJSON *cc = r->cache_control;
        memset(r, 0, sizeof *r);
        r->kind = XN_TEXT;
        r->text = s;
        r->len = n;
        r->cache = cache;
        r->cache_control = cc;
    }
    um->nresults = 0;
    return 0;
}

static bool name_referenced(const char *name, const char *const *refs, size_t nrefs) {
    for (size_t i = 0; i < nrefs; i++)
        if (strcmp(refs[i], name) == 0) return true;
    return false;
}

int xn_normalize(const cJSON *body, const struct xn_opts *opts, struct xn_conv *out,
                 struct err *err) {
    memset(out, 0, sizeof *out);
    struct xn_opts dflt;
    if (!opts) {
        xn_opts_default(&dflt);
        opts = &dflt;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!cJSON_IsArray(msgs))
        return err_set(err, ERR_INVALID, "messages: an array of messages is required");
    struct xn_arena *a = calloc(1, sizeof *a);
    if (!a) return err_set(err, ERR_NOMEM, "normalize: out of memory");
    out->arena = a;
    struct ctx c = {.a = a, .o = opts, .msgs_json = msgs, .err = err};
    xn_thinking_of(body, &out->thinking);

    /* N1: system */
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(body, "system");
    if (cJSON_IsString(sys) && !blank(sys->valuestring)) {
        out->sys = arena_alloc(a, sizeof *out->sys);
        if (!out->sys) goto nomem;
        out->sys[0].text = sys->valuestring;
        out->sys[0].len = strlen(sys->valuestring);
        out->nsys = 1;
    } else if (cJSON_IsArray(sys)) {
        size_t n = (size_t)cJSON_GetArraySize(sys);
        out->sys = arena_alloc(a, (n + 1) * sizeof *out->sys);
        if (!out->sys) goto nomem;
        const cJSON *b;
        cJSON_ArrayForEach(b, sys) {
            const char *t = jstr(b, "text");
            if (!t || blank(t) || strncmp(t, "x-anthropic-billing-header:", 27) == 0) continue;
            struct xn_sys *s = &out->sys[out->nsys++];
            s->text = t;
            s->len = strlen(t);
            const cJSON *cc = cJSON_GetObjectItemCaseSensitive(b, "cache_control");
            if (cJSON_IsObject(cc)) {
                s->cache = true;
                s->cache_control = cc;
            }
        }
    }

    /* R3: names that tool_reference blocks load */
    size_t nrefs = 0, caprefs = 0;
    const char **refs = NULL;
    {
        const cJSON *m, *b, *p;
        cJSON_ArrayForEach(m, msgs) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (!cJSON_IsArray(content)) continue;
            cJSON_ArrayForEach(b, content) {
                const cJSON *rc = cJSON_GetObjectItemCaseSensitive(b, "content");
                if (!cJSON_IsArray(rc)) continue;
                cJSON_ArrayForEach(p, rc) {
                    const char *t = jstr(p, "type"), *nm = jstr(p, "tool_name");
                    if (!t || strcmp(t, "tool_reference") != 0 || !nm) continue;
                    if (nrefs == caprefs) {
                        size_t nc = caprefs ? caprefs * 2 : 8;
                        const char **nv = arena_alloc(a, nc * sizeof *nv);
                        if (!nv) goto nomem;
                        if (nrefs) memcpy(nv, refs, nrefs * sizeof *nv);
                        refs = nv;
                        caprefs = nc;
                    }
                    refs[nrefs++] = nm;
                }
            }
        }
    }

    /* tools */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    bool custom = false;
    if (cJSON_IsArray(tools)) {
        size_t n = (size_t)cJSON_GetArraySize(tools);
        out->tools = arena_alloc(a, (n + 1) * sizeof *out->tools);
        if (!out->tools) goto nomem;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const char *name = jstr(t, "name");
            if (!name || !*name) continue;
            if (strcmp(name, "DeferredToolPlaceholder") == 0) continue;
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "defer_loading")) &&
                !name_referenced(name, refs, nrefs))
                continue;
            bool dup = false;
            for (size_t i = 0; i < out->ntools && !dup; i++)
                dup = strcmp(out->tools[i].name, name) == 0;
            if (dup) continue;
            struct xn_tool *x = &out->tools[out->ntools++];
            x->src = t;
            x->name = name;
            x->description = jstr(t, "description");
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
            x->schema = cJSON_IsObject(sc) ? sc : NULL;
            const char *type = jstr(t, "type");
            x->server_type = (type && strcmp(type, "custom") != 0) ? type : NULL;
            x->cache = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(t, "cache_control"));
            if (!x->server_type) custom = true;
        }
    }
    c.textualize = !custom && opts->textualize_orphan_tool_history;
    out->tools_textualized = c.textualize;

    /* convert, drop empty (N3), merge same roles (N11) */
    struct mlist ml = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const char *role = jstr(m, "role");
        enum xn_role r;
        if (!role) continue;
        if (strcmp(role, "user") == 0)
            r = XN_USER;
        else if (strcmp(role, "assistant") == 0)
            r = XN_ASSISTANT;
        else if (strcmp(role, "system") == 0)
            r = XN_SYSTEM;
        else
            continue;
        struct blist bl = {0};
        if (convert_msg(&c, m, r, &bl) < 0) goto fail;
        if (bl.n == 0) continue;
        struct xn_msg tmp = {.role = r, .blocks = bl.v, .nblocks = bl.n};
        if (ml.n && r != XN_SYSTEM && ml.v[ml.n - 1].role == r) {
            if (append_blocks(&c, &ml.v[ml.n - 1], &tmp) < 0) goto fail;
            continue;
        }
        struct xn_msg *dst = mlist_push(a, &ml);
        if (!dst) goto nomem;
        *dst = tmp;
    }

    /* N4, N5: pair tool calls and results */
    struct mlist pl = {0};
    size_t ncalls_total = 0;
    for (size_t i = 0; i < ml.n; i++)
        ncalls_total += count_kind(&ml.v[i], XN_TOOL_USE);
    const char **seen = arena_alloc(a, (ncalls_total + 1) * sizeof *seen);
    if (!seen) goto nomem;
    size_t nseen = 0;
    for (size_t i = 0; i < ml.n; i++) {
        struct xn_msg *cur = &ml.v[i];
        if (cur->role == XN_ASSISTANT && count_kind(cur, XN_TOOL_USE) > 0) {
            struct xn_msg *dst = mlist_push(a, &pl);
            if (!dst) goto nomem;
            *dst = *cur;
            /* the next non-system message */
            size_t j = i + 1;
            while (j < ml.n && ml.v[j].role == XN_SYSTEM)
                j++;
            const struct xn_msg *um = (j < ml.n && ml.v[j].role == XN_USER) ? &ml.v[j] : NULL;
            struct xn_msg *ans = mlist_push(a, &pl);
            if (!ans) goto nomem;
            /* dst may have moved with the list: pair on the copy in pl */
            if (pair(&c, &pl.v[pl.n - 2], um, ans, seen, &nseen) < 0) goto fail;
            if (um) {
                /* system messages between the calls and their answer move after the answer:
                 * tool results must follow the calls directly (OpenAI, Gemini) */
                for (size_t k = i + 1; k < j; k++) {
                    struct xn_msg *sm = mlist_push(a, &pl);
                    if (!sm) goto nomem;
                    *sm = ml.v[k];
                }
                i = j;
            }
            continue;
        }
        struct xn_msg *dst = mlist_push(a, &pl);
        if (!dst) goto nomem;
        *dst = *cur;
        if (dst->role == XN_USER && count_kind(dst, XN_TOOL_RESULT) > 0 &&
            orphans_to_text(&c, dst) < 0)
            goto fail;
    }

    /* N12: a trailing assistant message (ignoring trailing system messages) */
    {
        size_t k = pl.n;
        while (k > 0 && pl.v[k - 1].role == XN_SYSTEM)
            k--;
        if (k > 0 && pl.v[k - 1].role == XN_ASSISTANT && !opts->supports_prefill) {
            memmove(&pl.v[k - 1], &pl.v[k], (pl.n - k) * sizeof *pl.v);
            pl.n--;
            out->prefill_dropped = true;
        }
    }
    /* a system message that became adjacent to another one stays separate; user/user or
     * assistant/assistant neighbours created above (N12) are merged again */
    {
        size_t w = 0;
        for (size_t i = 0; i < pl.n; i++) {
            if (w && pl.v[i].role != XN_SYSTEM && pl.v[w - 1].role == pl.v[i].role &&
                !(pl.v[i].role == XN_USER && pl.v[i].nresults)) {
                if (append_blocks(&c, &pl.v[w - 1], &pl.v[i]) < 0) goto fail;
                continue;
            }
            pl.v[w++] = pl.v[i];
        }
        pl.n = w;
    }

    size_t nonsys = 0;
    out->last_user = pl.n;
    for (size_t i = 0; i < pl.n; i++) {
        if (pl.v[i].role != XN_SYSTEM) nonsys++;
        if (pl.v[i].role == XN_USER) out->last_user = i;
    }
    if (nonsys == 0) {
        err_set(err, ERR_INVALID, "messages: at least one non-empty message is required");
        goto fail;
    }
    for (size_t i = 0; i < pl.n; i++)
        pl.v[i].trailing = pl.v[i].role == XN_SYSTEM && out->last_user < pl.n && i > out->last_user;
    out->msgs = pl.v;
    out->nmsgs = pl.n;
    return 0;

nomem:
    err_set(err, ERR_NOMEM, "normalize: out of memory");
fail:
    arena_free(a);
    memset(out, 0, sizeof *out);
    return -1;
}

void xn_free(struct xn_conv *c) {
    if (!c) return;
    arena_free(c->arena);
    memset(c, 0, sizeof *c);
}
