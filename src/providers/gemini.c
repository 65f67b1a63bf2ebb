/* gemini: Anthropic Messages <-> Gemini native API. See gemini.h; conversion.md §4 (+ errata G1-G9,
 * addendum R1-R7) is the reference, and section names below point into it.
 *
 * Request: the normalisation pass (normalize.h) gives a canonical conversation; this file plans
 * Gemini's contents on it (pointers into the client's parsed body: no copy of prompt text) and
 * writes the body once with util.h's JSON writer, unformatted, in a fixed key order
 * (deterministic bytes, so Gemini's implicit prefix cache can hit).
 *
 * Stream: one enum of named states and one step function per input event (an upstream SSE event,
 * or the end of the body). Output goes through util.h's Anthropic SSE writer, which keeps the
 * event grammar (consecutive indices, one open block at a time). */
#include "providers/gemini.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "providers/gemini_schema.h"
#include "providers/normalize.h"
#include "providers/options.h"
#include "providers/util.h"
#include "sse.h"

#define PROFILE "gemini"
#define MAX_EVENT_BYTES (16u << 20)

static bool prefix(const char *s, const char *p) {
    return s && strncmp(s, p, strlen(p)) == 0;
}
static bool streq(const char *a, const char *b) {
    return a && b && strcmp(a, b) == 0;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The configured model id without a "models/" prefix. */
static const char *bare_model(const char *m) {
    if (!m) return "";
    return prefix(m, "models/") ? m + 7 : m;
}

enum gemini_family gemini_family_of(const char *model) {
    const char *m = bare_model(model);
    if (prefix(m, "gemini-1") || prefix(m, "gemini-2.0")) return GEMINI_FAMILY_NONE;
    if (prefix(m, "gemini-2.5")) return GEMINI_FAMILY_BUDGET;
    return GEMINI_FAMILY_LEVEL;
}

/* ============================================================================================
 * Knobs (conversion.md names them; provider options, overridable per model) */

struct gopts {
    enum gemini_family fam;
    enum gemini_schema_mode schema_mode; /* gemini_schema_mode (G8) */
    bool requires_sigs;                  /* gemini_requires_signatures (G4) */
    bool drop_sampling;                  /* gemini_drop_sampling (G9) */
    bool multimodal_fr;                  /* gemini_multimodal_fn_response (§4.2) */
    bool search_with_functions;          /* gemini_search_with_functions (G3) */
    bool json_with_tools;                /* gemini_json_with_tools (§4.6) */
    bool fr_separate;                    /* gemini_fr_siblings: "separate" (G1) */
    bool show_thoughts;                  /* show_thoughts (§4.7) */
    bool updates_show_reasoning;         /* updates_show_reasoning (R5, O11) */
    bool inline_as_user;                 /* gemini_inline_system: "as_user" (§4.2) */
    bool url_as_file;                    /* gemini_image_url: "file_data" (§4.2) */
    unsigned schema_flags;               /* gemini_anyof: first, gemini_empty_object (§4.4) */
    long max_output;                     /* model_max_output (§4.6, R8) */
    const cJSON *levels;                 /* gemini_thinking_levels: allowed levels (G5) */
};

/* Claude Code Router's transformer entry `name` for the model (model list first, then the
 * provider's): its options object, or NULL. */
static const cJSON *transformer_opts(const struct cfg_provider *p, const char *model,
                                     const char *name) {
    const cJSON *t = p && p->json ? cJSON_GetObjectItemCaseSensitive(p->json, "transformer") : NULL;
    if (!cJSON_IsObject(t)) return NULL;
    const cJSON *per_model = NULL, *c;
    cJSON_ArrayForEach(c, t) {
        if (c->string && model && strcasecmp(c->string, model) == 0) per_model = c;
    }
    const cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(per_model, "use"),
                             cJSON_GetObjectItemCaseSensitive(t, "use")};
    for (int i = 0; i < 2; i++) {
        const cJSON *u;
        cJSON_ArrayForEach(u, lists[i]) {
            const cJSON *n = cJSON_IsArray(u) ? cJSON_GetArrayItem(u, 0) : u;
            if (cJSON_IsString(n) && strcasecmp(n->valuestring, name) == 0)
                return cJSON_IsArray(u) ? cJSON_GetArrayItem(u, 1) : NULL;
        }
    }
    return NULL;
}

static void gopts_load(const struct cfg_provider *p, const char *model, struct gopts *o) {
    const char *m = bare_model(model);
    o->fam = gemini_family_of(m);
    bool level = o->fam == GEMINI_FAMILY_LEVEL;
    const char *sm = xl_opt_str(p, model, "gemini_schema_mode", level ? "jsonschema" : "openapi");
    o->schema_mode = streq(sm, "jsonschema") ? GEMINI_SCHEMA_JSONSCHEMA : GEMINI_SCHEMA_OPENAPI;
    o->requires_sigs = xl_opt_bool(p, model, "gemini_requires_signatures", level);
    o->drop_sampling = xl_opt_bool(p, model, "gemini_drop_sampling", level);
    o->multimodal_fr = xl_opt_bool(p, model, "gemini_multimodal_fn_response",
                                   prefix(m, "gemini-3") || (level && !prefix(m, "gemini-2")));
    o->search_with_functions = xl_opt_bool(p, model, "gemini_search_with_functions", false);
    o->json_with_tools = xl_opt_bool(p, model, "gemini_json_with_tools", level);
    o->fr_separate = streq(xl_opt_str(p, model, "gemini_fr_siblings", "before"), "separate");
    o->show_thoughts = xl_opt_bool(p, model, "show_thoughts", true);
    o->updates_show_reasoning = xl_opt_bool(p, model, "updates_show_reasoning", false);
    o->inline_as_user = streq(xl_opt_str(p, model, "gemini_inline_system", "hoist"), "as_user");
    o->url_as_file = streq(xl_opt_str(p, model, "gemini_image_url", "placeholder"), "file_data");
    o->schema_flags = 0;
    if (streq(xl_opt_str(p, model, "gemini_anyof", "keep"), "first"))
        o->schema_flags |= GEMINI_SCHEMA_ANYOF_FIRST;
    if (streq(xl_opt_str(p, model, "gemini_empty_object", "omit"), "placeholder"))
        o->schema_flags |= GEMINI_SCHEMA_EMPTY_OBJECT_PLACEHOLDER;
    /* the output cap: family default, Claude Code Router's `maxtoken` transformer, then the
     * knobs model_max_output and its alias max_tokens (as the OpenAI side reads them) */
    long dflt = o->fam == GEMINI_FAMILY_NONE ? 8192 : 65536;
    const cJSON *to = transformer_opts(p, model, "maxtoken");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(to, "max_tokens");
    if (cJSON_IsNumber(tv) && tv->valuedouble >= 1) dflt = xl_long(tv->valuedouble);
    o->max_output =
        xl_opt_long(p, model, "max_tokens", xl_opt_long(p, model, "model_max_output", dflt));
    if (o->max_output <= 0) o->max_output = dflt;
    const cJSON *lv = xl_opt(p, model, "gemini_thinking_levels");
    o->levels = cJSON_IsArray(lv) && cJSON_GetArraySize(lv) > 0 ? lv : NULL;
}

/* ============================================================================================
 * Request: the plan (§4.2, G1, G4, R1)
 *
 * Contents and their parts are planned first: pointers into the client's body and the
 * conversation, and the little text the translation makes (reminders, placeholders, joined tool
 * results, decoded signatures) in one scratch buffer. The decisions that look back (signatures,
 * reminders, function responses last) are taken on the plan; then the body is written in one
 * pass, in its final key order. */

/* A list of parts, threaded through gpart.next: indices, -1 when empty. */
struct glist {
    int head, tail;
};
#define GLIST_EMPTY ((struct glist){-1, -1})

enum gp_kind { GP_TEXT, GP_INLINE, GP_FILE, GP_CALL, GP_FR };

/* Text borrowed from the body or the conversation (p), or made by the plan (p NULL: at `off` in
 * req.scratch, which may move while the plan grows). Written up to its first NUL, as the
 * C strings of the former cJSON tree were. */
struct gspan {
    const char *p;
    size_t off, len;
};

struct gpart {
    enum gp_kind kind;
    int next;                   /* the next part of its list, -1 at the end */
    struct gspan text;          /* TEXT: the text; FR: the response text */
    struct gspan sig;           /* TEXT, CALL: thoughtSignature when sig.len > 0 */
    const char *mime, *data;    /* INLINE: mimeType, data; FILE: mimeType, fileUri */
    const struct xn_block *blk; /* CALL: the tool_use; FR: the tool_result */
    struct glist media;         /* FR: media inside the response (multimodal) */
};

/* A content: `parts` then `frs` (function responses always come last, G1). */
struct gcont {
    bool model;
    struct glist parts, frs;
};

struct req {
    const struct xl_request *in;
    const char *model; /* bare upstream model */
    struct gopts o;
    struct xn_conv conv;
    struct err *err;
    bool failed;              /* err set, or out of memory (err still unset) */
    bool declared;            /* at least one function declaration is sent */
    bool send_search;         /* the googleSearch tool is sent */
    const cJSON *json_schema; /* structured output in generationConfig, or NULL */
    struct gpart *parts;      /* in the conversation's arena, sized for the worst case */
    size_t nparts, maxparts;
    struct gcont *cs; /* likewise */
    size_t ncs, maxcs;
    size_t nwrite;         /* contents written: the trailing model contents are not */
    struct glist sys;      /* systemInstruction parts */
    struct xl_buf scratch; /* text made by the plan */
};

static int part_new(struct req *r, enum gp_kind kind) {
    if (r->nparts >= r->maxparts) {
        err_set(r->err, ERR_INTERNAL, "gemini: request plan overflow");
        r->failed = true;
        return -1;
    }
    struct gpart *p = &r->parts[r->nparts];
    p->kind = kind;
    p->next = -1;
    p->media = GLIST_EMPTY;
    return (int)r->nparts++;
}

static void list_add(struct req *r, struct glist *l, int i) {
    if (l->tail < 0)
        l->head = i;
    else
        r->parts[l->tail].next = i;
    l->tail = i;
}

/* Append list m to list l. */
static void list_join(struct req *r, struct glist *l, const struct glist *m) {
    if (m->head < 0) return;
    if (l->tail < 0)
        l->head = m->head;
    else
        r->parts[l->tail].next = m->head;
    l->tail = m->tail;
}

static struct gcont *content_for(struct req *r, bool model) {
    if (r->ncs && r->cs[r->ncs - 1].model == model) return &r->cs[r->ncs - 1];
    if (r->ncs >= r->maxcs) {
        err_set(r->err, ERR_INTERNAL, "gemini: request plan overflow");
        r->failed = true;
        return NULL;
    }
    struct gcont *c = &r->cs[r->ncs++];
    c->model = model;
    c->parts = GLIST_EMPTY;
    c->frs = GLIST_EMPTY;
    return c;
}

/* The scratch text from `off` to its end. */
static struct gspan made_since(const struct req *r, size_t off) {
    return (struct gspan){NULL, off, r->scratch.len - off};
}

static int text_part(struct req *r, struct glist *l, struct gspan s) {
    int i = part_new(r, GP_TEXT);
    if (i < 0) return -1;
    r->parts[i].text = s;
    list_add(r, l, i);
    return i;
}

/* The MIME type of a file URL from its extension, or NULL when unknown. */
static const char *mime_of_url(const char *url) {
    static const char *const map[][2] = {{".png", "image/png"},      {".jpg", "image/jpeg"},
                                         {".jpeg", "image/jpeg"},    {".webp", "image/webp"},
                                         {".heic", "image/heic"},    {".heif", "image/heif"},
                                         {".pdf", "application/pdf"}};
    size_t n = strcspn(url, "?#");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t el = strlen(map[i][0]);
        if (n >= el && strncasecmp(url + n - el, map[i][0], el) == 0) return map[i][1];
    }
    return NULL;
}

/* An Anthropic image/document block as Gemini takes it: inline data or a file URI (GP_INLINE,
 * GP_FILE: *mime and *data set), or text (GP_TEXT: appended to the scratch buffer, after a '\n'
 * when `sep`). */
static enum gp_kind media_plan(struct req *r, const cJSON *blk, bool image, bool sep,
                               const char **mime, const char **data) {
    struct xl_buf *t = &r->scratch;
    const cJSON *src = jget(blk, "source");
    const char *st = jstr(src, "type"), *mt = jstr(src, "media_type"), *d = jstr(src, "data");
    char buf[600];
    if (streq(st, "base64") && mt && d) {
        bool ok =
            image ? (streq(mt, "image/png") || streq(mt, "image/jpeg") || streq(mt, "image/webp") ||
                     streq(mt, "image/heic") || streq(mt, "image/heif"))
                  : streq(mt, "application/pdf");
        if (ok) {
            *mime = mt;
            *data = d;
            return GP_INLINE;
        }
        snprintf(buf, sizeof buf, "[%simage omitted: Gemini does not accept %s]",
                 streq(mt, "image/gif") ? "GIF " : "", mt);
        if (!image) snprintf(buf, sizeof buf, "[document omitted: %s is not supported]", mt);
    } else {
        const char *url = jstr(src, "url");
        const char *umime = url ? mime_of_url(url) : NULL;
        if (streq(st, "url") && r->o.url_as_file && umime) {
            /* gemini_image_url: file_data (works only for URIs Gemini can fetch) */
            *mime = umime;
            *data = url;
            return GP_FILE;
        }
        if (streq(st, "url")) {
            snprintf(buf, sizeof buf, "[%s: %.500s]", image ? "image" : "document", url ? url : "");
        } else if (!image && streq(st, "text") && d && *d) {
            const char *title = jstr(blk, "title");
            if (sep) xl_buf_addc(t, '\n');
            if (title) {
                xl_buf_adds(t, title);
                xl_buf_addc(t, '\n');
            }
            xl_buf_adds(t, d);
            return GP_TEXT;
        } else if (!image && streq(st, "content")) {
            /* its text blocks, joined */
            if (sep) xl_buf_addc(t, '\n');
            size_t start = t->len;
            const cJSON *x;
            cJSON_ArrayForEach(x, jget(src, "content")) {
                const char *s = jstr(x, "text");
                if (!s) continue;
                if (t->len > start) xl_buf_addc(t, '\n');
                xl_buf_adds(t, s);
            }
            if (t->len == start) xl_buf_adds(t, "[document omitted]");
            return GP_TEXT;
        } else {
            const char *fid = jstr(src, "file_id");
            if (streq(st, "file") && fid) /* Anthropic Files API ids mean nothing to Gemini */
                snprintf(buf, sizeof buf, "[%s file %.200s omitted]", image ? "image" : "document",
                         fid);
            else
                snprintf(buf, sizeof buf, "[%s omitted]", image ? "image" : "document");
        }
    }
    if (sep) xl_buf_addc(t, '\n');
    xl_buf_adds(t, buf);
    return GP_TEXT;
}

/* A media block of a user content as a part. */
static void media_part(struct req *r, struct glist *l, const cJSON *blk, bool image) {
    const char *mime = NULL, *data = NULL;
    size_t start = r->scratch.len;
    enum gp_kind k = media_plan(r, blk, image, false, &mime, &data);
    if (k == GP_TEXT) {
        text_part(r, l, made_since(r, start));
        return;
    }
    int i = part_new(r, k);
    if (i < 0) return;
    r->parts[i].mime = mime;
    r->parts[i].data = data;
    list_add(r, l, i);
}

/* The thought signature of a `__gs` segment: its base64url DATA decoded and encoded again as the
 * standard base64 Gemini issued, into the scratch buffer. false when it does not decode. */
static bool sig_plan(struct req *r, const char *data, size_t n, struct gspan *out) {
    size_t enc = (n + 3) / 3 * 4 + 1;
    char *p = xl_buf_reserve(&r->scratch, n + 1 + enc);
    if (!p) {
        r->failed = true;
        return false;
    }
    unsigned char *raw = (unsigned char *)p + enc;
    long rl = xl_b64url_decode(data, n, raw, n + 1);
    if (rl <= 0) return false;
    int el = EVP_EncodeBlock((unsigned char *)p, raw, (int)rl);
    *out = (struct gspan){NULL, r->scratch.len, (size_t)el};
    r->scratch.len += (size_t)el;
    return true;
}

/* One function response for a tool result block (in call order, xn pairing). */
static void fr_plan(struct req *r, struct gcont *c, const struct xn_block *res) {
    int fi = part_new(r, GP_FR);
    if (fi < 0) return;
    struct glist media = GLIST_EMPTY; /* inline data parts only; placeholders join the text */
    struct gspan text;
    if (res->nparts == 1 && res->parts[0].kind == XN_TEXT) {
        text = (struct gspan){res->parts[0].text, 0, res->parts[0].len};
    } else {
        size_t start = r->scratch.len;
        for (size_t i = 0; i < res->nparts && !r->failed; i++) {
            const struct xn_block *p = &res->parts[i];
            bool sep = r->scratch.len > start;
            if (p->kind == XN_TEXT) {
                if (sep) xl_buf_addc(&r->scratch, '\n');
                xl_buf_add(&r->scratch, p->text, p->len);
            } else if (p->src) {
                const char *mime = NULL, *data = NULL;
                enum gp_kind k = media_plan(r, p->src, p->kind == XN_IMAGE, sep, &mime, &data);
                if (k == GP_TEXT) continue;
                int mi = part_new(r, k);
                if (mi < 0) return;
                r->parts[mi].mime = mime;
                r->parts[mi].data = data;
                list_add(r, &media, mi);
            }
        }
        text = made_since(r, start);
    }
    r->parts[fi].blk = res;
    r->parts[fi].text = text;
    if (media.head >= 0) {
        /* multimodal function responses take the media inside; older models get them as parts
         * of the same content, before the function responses (G1), with a label */
        if (r->o.multimodal_fr) {
            r->parts[fi].media = media;
        } else {
            char upname[65], label[120];
            xl_tool_name_upstream(res->name, XL_NAMES_GEMINI, upname);
            snprintf(label, sizeof label, "Images returned by tool %s:", upname);
            size_t start = r->scratch.len;
            xl_buf_adds(&r->scratch, label);
            text_part(r, &c->parts, made_since(r, start));
            list_join(r, &c->parts, &media);
        }
    }
    list_add(r, &c->frs, fi);
}

/* A model content from an assistant message (§4.2, §4.12, G4). */
static void assistant_plan(struct req *r, const struct xn_msg *m) {
    /* thinking provenance first: the carrier's text signature, and whether the signatures of
     * this message were issued for another model (then they cannot be replayed) */
    const char *gs = NULL;
    bool foreign = false;
    for (size_t i = 0; i < m->nblocks; i++) {
        const struct xn_block *x = &m->blocks[i];
        if (x->kind != XN_THINKING && x->kind != XN_REDACTED) continue;
        if (x->origin == XN_ORIGIN_CCRELAY && x->carrier) {
            if (streq(x->carrier->p, PROFILE) && streq(bare_model(x->carrier->m), r->model)) {
                if (x->carrier->gs && *x->carrier->gs) gs = x->carrier->gs;
            } else {
                foreign = true;
            }
        } else if (x->origin == XN_ORIGIN_FOREIGN) {
            foreign = true;
        }
    }
    struct gcont *c = NULL;
    int last_text = -1, first_call = -1;
    bool first_call_signed = false;
    for (size_t i = 0; i < m->nblocks && !r->failed; i++) {
        const struct xn_block *x = &m->blocks[i];
        if (x->kind == XN_TEXT) {
            if (!c && !(c = content_for(r, true))) return;
            last_text = text_part(r, &c->parts, (struct gspan){x->text, 0, x->len});
        } else if (x->kind == XN_TOOL_USE) {
            if (!c && !(c = content_for(r, true))) return;
            int pi = part_new(r, GP_CALL);
            if (pi < 0) return;
            r->parts[pi].blk = x;
            bool signed_here = false;
            struct xl_tool_id_parts ids;
            if (xl_tool_id_split(x->raw_id, &ids) && ids.gs_len && !foreign)
                signed_here = sig_plan(r, ids.gs, ids.gs_len, &r->parts[pi].sig);
            list_add(r, &c->parts, pi);
            if (first_call < 0) {
                first_call = pi;
                first_call_signed = signed_here;
            }
        }
        /* thinking blocks are never sent as text (N7); images in assistant turns: dropped */
    }
    if (!c) return;
    if (gs && last_text >= 0) r->parts[last_text].sig = (struct gspan){gs, 0, strlen(gs)};
    if (first_call >= 0 && !first_call_signed && r->o.requires_sigs)
        r->parts[first_call].sig =
            (struct gspan){GEMINI_SKIP_SIGNATURE, 0, sizeof GEMINI_SKIP_SIGNATURE - 1};
}

static void user_plan(struct req *r, const struct xn_msg *m) {
    struct gcont *c = content_for(r, false);
    if (!c) return;
    for (size_t i = 0; i < m->nblocks && !r->failed; i++) {
        const struct xn_block *x = &m->blocks[i];
        switch (x->kind) {
        case XN_TEXT:
            text_part(r, &c->parts, (struct gspan){x->text, 0, x->len});
            break;
        case XN_IMAGE:
        case XN_DOCUMENT:
            if (x->src) media_part(r, &c->parts, x->src, x->kind == XN_IMAGE);
            break;
        case XN_TOOL_RESULT:
            fr_plan(r, c, x);
            break;
        default:
            break;
        }
    }
}

/* Text of a system message, its blocks joined by blank lines, between pre and post. */
static struct gspan system_text(struct req *r, const struct xn_msg *m, const char *pre,
                                const char *post) {
    size_t start = r->scratch.len;
    xl_buf_adds(&r->scratch, pre);
    for (size_t i = 0; i < m->nblocks; i++) {
        if (m->blocks[i].kind != XN_TEXT) continue;
        if (i) xl_buf_adds(&r->scratch, "\n\n");
        xl_buf_add(&r->scratch, m->blocks[i].text, m->blocks[i].len);
    }
    xl_buf_adds(&r->scratch, post);
    return made_since(r, start);
}

static int contents_plan(struct req *r) {
    const struct xn_conv *cv = &r->conv;
    /* R1: the reminder after the last user message changes every request, so it goes into the
     * last user content (before its function responses), never into systemInstruction. The
     * first system message, when no assistant message precedes it, is the stable environment
     * block (index 1): it is hoisted even when it happens to be last (first turn). */
    size_t first_sys = cv->nmsgs;
    bool assistant_before = false;
    for (size_t i = 0; i < cv->nmsgs && first_sys == cv->nmsgs; i++) {
        if (cv->msgs[i].role == XN_ASSISTANT) assistant_before = true;
        if (cv->msgs[i].role == XN_SYSTEM) first_sys = i;
    }
    size_t reminder_content = (size_t)-1;
    struct glist reminders = GLIST_EMPTY;
    for (size_t i = 0; i < cv->nmsgs && !r->failed; i++) {
        const struct xn_msg *m = &cv->msgs[i];
        if (m->role == XN_SYSTEM) {
            bool stable = i == first_sys && !assistant_before;
            if (m->trailing && !stable) {
                text_part(r, &reminders,
                          system_text(r, m, "<system-reminder>\n", "\n</system-reminder>"));
            } else if (r->o.inline_as_user) {
                struct gcont *c = content_for(r, false);
                if (c)
                    text_part(r, &c->parts,
                              system_text(r, m, "<system-reminder>\n", "\n</system-reminder>"));
            } else {
                /* hoisted into systemInstruction (§4.2 default) */
                for (size_t k = 0; k < m->nblocks; k++)
                    if (m->blocks[k].kind == XN_TEXT)
                        text_part(r, &r->sys,
                                  (struct gspan){m->blocks[k].text, 0, m->blocks[k].len});
            }
            continue;
        }
        if (m->role == XN_USER) {
            user_plan(r, m);
            if (i == cv->last_user) reminder_content = r->ncs - 1;
        } else {
            assistant_plan(r, m);
        }
    }
    if (reminders.head >= 0 && !r->failed) {
        struct gcont *c;
        if (reminder_content < r->ncs && !r->cs[reminder_content].model)
            c = &r->cs[reminder_content];
        else
            c = content_for(r, false);
        if (c) list_join(r, &c->parts, &reminders);
    }
    if (r->failed) return -1;

    /* shape rules: the first content is user, the last is user (N12 dropped a trailing model
     * turn; a model turn can only end the list when the history ends with system messages) */
    bool any = r->ncs && r->cs[0].model; /* "Continue." goes first */
    size_t n = r->ncs;
    while (n > 0 && r->cs[n - 1].model)
        n--; /* never end on a model turn */
    r->nwrite = n;
    for (size_t i = 0; i < n && !any; i++)
        any = r->cs[i].parts.head >= 0 || r->cs[i].frs.head >= 0;
    if (!any)
        return err_set(r->err, ERR_INVALID,
                       "messages: at least one non-empty user message is required");
    return 0;
}

/* Structured output (§4.6): in generationConfig, or (tools declared, the model cannot combine
 * both) as an instruction line at the end of systemInstruction. */
static void output_plan(struct req *r) {
    const cJSON *body = r->in->body;
    const cJSON *fmt = jget(jget(body, "output_config"), "format");
    if (!fmt) fmt = jget(body, "output_format");
    const cJSON *schema = jget(fmt, "schema");
    if (!streq(jstr(fmt, "type"), "json_schema") || !cJSON_IsObject(schema)) return;
    if (!r->declared || r->o.json_with_tools) {
        r->json_schema = schema;
        return;
    }
    char *st = cJSON_PrintUnformatted(schema);
    if (!st) {
        r->failed = true;
        return;
    }
    size_t start = r->scratch.len;
    xl_buf_adds(&r->scratch, "Reply with a single JSON object that conforms to this JSON Schema: ");
    xl_buf_adds(&r->scratch, st);
    cJSON_free(st);
    text_part(r, &r->sys, made_since(r, start));
}

/* The worst-case number of parts and contents, for one allocation of each. */
static int plan_alloc(struct req *r) {
    const struct xn_conv *cv = &r->conv;
    size_t np = cv->nsys + 1, nc = cv->nmsgs + 1; /* + the structured output line, reminders */
    for (size_t i = 0; i < cv->nmsgs; i++) {
        const struct xn_msg *m = &cv->msgs[i];
        np += m->nblocks + 1; /* a system message gives one part even without blocks */
        for (size_t k = 0; k < m->nblocks; k++)
            if (m->blocks[k].kind == XN_TOOL_RESULT)
                np += m->blocks[k].nparts + 2; /* its media, a label, the response */
    }
    r->parts = xn_alloc(&r->conv, np * sizeof *r->parts);
    r->cs = xn_alloc(&r->conv, nc * sizeof *r->cs);
    if (!r->parts || !r->cs) {
        r->failed = true;
        return -1;
    }
    r->maxparts = np;
    r->maxcs = nc;
    return 0;
}

static int plan(struct req *r) {
    if (plan_alloc(r) < 0) return -1;
    r->sys = GLIST_EMPTY;
    /* systemInstruction: the N1 blocks (billing removed), then the hoisted system messages */
    for (size_t i = 0; i < r->conv.nsys; i++)
        text_part(r, &r->sys, (struct gspan){r->conv.sys[i].text, 0, r->conv.sys[i].len});
    bool search = false;
    for (size_t i = 0; i < r->conv.ntools; i++) {
        const char *st = r->conv.tools[i].server_type;
        if (!st)
            r->declared = true;
        else if (prefix(st, "web_search"))
            search = true; /* other server tools have no Gemini equivalent */
    }
    /* G3: Google Search next to function declarations needs an extra flag, off by default */
    r->send_search = search && (!r->declared || r->o.search_with_functions);
    if (contents_plan(r) < 0) return -1;
    output_plan(r);
    if (!xl_buf_ok(&r->scratch)) r->failed = true;
    return r->failed ? -1 : 0;
}

/* ============================================================================================
 * Request: writing the body */

static void span_write(const struct req *r, struct xl_jw *w, const struct gspan *s) {
    if (!s->len) {
        xl_jw_strn(w, "", 0);
        return;
    }
    const char *p = s->p ? s->p : r->scratch.p + s->off;
    xl_jw_strn(w, p, strnlen(p, s->len));
}

/* The Gemini functionCall id carried in a ccrelay tool id (`__gi` segment), into gid; false
 * when there is none. */
static bool gemini_call_id(const char *raw_id, unsigned char gid[256]) {
    struct xl_tool_id_parts ids;
    if (!xl_tool_id_split(raw_id, &ids) || !ids.gi_len) return false;
    long gl = xl_b64url_decode(ids.gi, ids.gi_len, gid, 255);
    if (gl <= 0) return false;
    gid[gl] = '\0';
    return true;
}

static int part_write(struct req *r, struct xl_jw *w, const struct gpart *p) {
    char up[65];
    unsigned char gid[256];
    xl_jw_obj(w);
    switch (p->kind) {
    case GP_TEXT:
        xl_jw_key(w, "text");
        span_write(r, w, &p->text);
        break;
    case GP_INLINE:
    case GP_FILE:
        xl_jw_key(w, p->kind == GP_INLINE ? "inlineData" : "fileData");
        xl_jw_obj(w);
        xl_jw_kstr(w, "mimeType", p->mime);
        xl_jw_kstr(w, p->kind == GP_INLINE ? "data" : "fileUri", p->data);
        xl_jw_obj_end(w);
        break;
    case GP_CALL: {
        const struct xn_block *x = p->blk;
        xl_tool_name_upstream(x->name, XL_NAMES_GEMINI, up);
        xl_jw_key(w, "functionCall");
        xl_jw_obj(w);
        xl_jw_kstr(w, "name", up);
        xl_jw_key(w, "args");
        if (x->input) {
            xl_jw_cjson(w, x->input, NULL);
            if (w->bad)
                return err_set(r->err, ERR_INVALID,
                               "messages: the input of tool_use %s (%s) is nested too deeply "
                               "(at most %d levels here)",
                               x->raw_id ? x->raw_id : "?", x->name ? x->name : "?",
                               XL_JW_MAX_DEPTH - 6);
        } else {
            xl_jw_obj(w);
            xl_jw_obj_end(w);
        }
        if (gemini_call_id(x->raw_id, gid)) xl_jw_kstr(w, "id", (const char *)gid);
        xl_jw_obj_end(w);
        break;
    }
    case GP_FR: {
        const struct xn_block *res = p->blk;
        xl_tool_name_upstream(res->name, XL_NAMES_GEMINI, up);
        xl_jw_key(w, "functionResponse");
        xl_jw_obj(w);
        xl_jw_kstr(w, "name", up);
        if (gemini_call_id(res->raw_id, gid)) xl_jw_kstr(w, "id", (const char *)gid);
        xl_jw_key(w, "response");
        xl_jw_obj(w);
        xl_jw_key(w, res->is_error ? "error" : "output");
        span_write(r, w, &p->text);
        xl_jw_obj_end(w);
        if (p->media.head >= 0) {
            xl_jw_key(w, "parts");
            xl_jw_arr(w);
            for (int i = p->media.head; i >= 0; i = r->parts[i].next)
                part_write(r, w, &r->parts[i]);
            xl_jw_arr_end(w);
        }
        xl_jw_obj_end(w);
        break;
    }
    }
    if (p->sig.len) {
        xl_jw_key(w, "thoughtSignature");
        span_write(r, w, &p->sig);
    }
    xl_jw_obj_end(w);
    return 0;
}

/* {"role":..,"parts":[a..., b...]} */
static int content_write(struct req *r, struct xl_jw *w, bool model, const struct glist *a,
                         const struct glist *b) {
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", model ? "model" : "user");
    xl_jw_key(w, "parts");
    xl_jw_arr(w);
    for (int k = 0; k < 2; k++) {
        const struct glist *l = k ? b : a;
        for (int i = l ? l->head : -1; i >= 0; i = r->parts[i].next)
            if (part_write(r, w, &r->parts[i]) < 0) return -1;
    }
    xl_jw_arr_end(w);
    xl_jw_obj_end(w);
    return 0;
}

static int contents_write(struct req *r, struct xl_jw *w) {
    xl_jw_key(w, "contents");
    xl_jw_arr(w);
    if (r->ncs && r->cs[0].model) {
        xl_jw_obj(w);
        xl_jw_kstr(w, "role", "user");
        xl_jw_key(w, "parts");
        xl_jw_arr(w);
        xl_jw_obj(w);
        xl_jw_kstr(w, "text", "Continue.");
        xl_jw_obj_end(w);
        xl_jw_arr_end(w);
        xl_jw_obj_end(w);
    }
    for (size_t i = 0; i < r->nwrite; i++) {
        const struct gcont *c = &r->cs[i];
        bool has_parts = c->parts.head >= 0, has_frs = c->frs.head >= 0;
        if (!has_parts && !has_frs) continue;
        int rc;
        if (r->o.fr_separate && has_parts && has_frs) {
            /* G1 "separate": function responses alone, the other parts in the next content */
            rc = content_write(r, w, c->model, &c->frs, NULL);
            if (rc == 0) rc = content_write(r, w, c->model, &c->parts, NULL);
        } else {
            rc = content_write(r, w, c->model, &c->parts, &c->frs);
        }
        if (rc < 0) return -1;
    }
    xl_jw_arr_end(w);
    return 0;
}

/* ============================================================================================
 * Request: tools, toolConfig, generationConfig, thinkingConfig */

static int tools_write(struct req *r, struct xl_jw *w) {
    if (!r->declared && !r->send_search) return 0;
    xl_jw_key(w, "tools");
    xl_jw_arr(w);
    if (r->declared) {
        const char *pkey =
            r->o.schema_mode == GEMINI_SCHEMA_JSONSCHEMA ? "parametersJsonSchema" : "parameters";
        xl_jw_obj(w);
        xl_jw_key(w, "functionDeclarations");
        xl_jw_arr(w);
        for (size_t i = 0; i < r->conv.ntools; i++) {
            const struct xn_tool *t = &r->conv.tools[i];
            if (t->server_type) continue;
            char up[65];
            xl_tool_name_upstream(t->name, XL_NAMES_GEMINI, up);
            xl_jw_obj(w);
            xl_jw_kstr(w, "name", up);
            xl_jw_kstr(w, "description",
                       t->description && *t->description ? t->description : t->name);
            if (gemini_schema_write(w, pkey, t->schema, r->o.schema_mode | r->o.schema_flags,
                                    r->err) < 0)
                return -1;
            if (w->bad)
                return err_set(r->err, ERR_INVALID,
                               "tools: the input_schema of %s is nested too deeply", t->name);
            xl_jw_obj_end(w);
        }
        xl_jw_arr_end(w);
        xl_jw_obj_end(w);
    }
    if (r->send_search) {
        xl_jw_obj(w);
        xl_jw_key(w, "googleSearch");
        xl_jw_obj(w);
        xl_jw_obj_end(w);
        xl_jw_obj_end(w);
    }
    xl_jw_arr_end(w);

    /* toolConfig only with declarations (G6) */
    if (!r->declared) return 0;
    const cJSON *tc = jget(r->in->body, "tool_choice");
    const char *type = jstr(tc, "type");
    const char *mode = NULL;
    const char *only = NULL;
    char up[65];
    if (streq(type, "any")) {
        mode = "ANY";
    } else if (streq(type, "none")) {
        mode = "NONE";
    } else if (streq(type, "tool") && jstr(tc, "name")) {
        bool known = false;
        for (size_t i = 0; i < r->conv.ntools; i++)
            known = known || (!r->conv.tools[i].server_type &&
                              streq(r->conv.tools[i].name, jstr(tc, "name")));
        if (known) {
            mode = "ANY";
            xl_tool_name_upstream(jstr(tc, "name"), XL_NAMES_GEMINI, up);
            only = up;
        }
    }
    bool server_flag = r->send_search;
    if (mode || server_flag) {
        xl_jw_key(w, "toolConfig");
        xl_jw_obj(w);
        if (mode) {
            xl_jw_key(w, "functionCallingConfig");
            xl_jw_obj(w);
            xl_jw_kstr(w, "mode", mode);
            if (only) {
                xl_jw_key(w, "allowedFunctionNames");
                xl_jw_arr(w);
                xl_jw_str(w, only);
                xl_jw_arr_end(w);
            }
            xl_jw_obj_end(w);
        }
        if (server_flag) xl_jw_kbool(w, "includeServerSideToolInvocations", true);
        xl_jw_obj_end(w);
    }
    return 0;
}

static int level_rank(const char *l) {
    if (streq(l, "minimal")) return 0;
    if (streq(l, "low")) return 1;
    if (streq(l, "medium")) return 2;
    if (streq(l, "high")) return 3;
    return -1;
}

static bool level_allowed(const struct gopts *o, const char *l) {
    if (!o->levels) return streq(l, "low") || streq(l, "high"); /* G5: unlisted model */
    const cJSON *x;
    cJSON_ArrayForEach(x, o->levels) if (cJSON_IsString(x) && streq(x->valuestring, l)) return true;
    return false;
}

/* Snap a wanted level to the allowed set: the smallest allowed level at or above it, else the
 * largest allowed. */
static const char *snap_level(const struct gopts *o, const char *want) {
    static const char *const all[] = {"minimal", "low", "medium", "high"};
    int w = level_rank(want);
    if (w < 0) w = 3;
    for (int i = w; i < 4; i++)
        if (level_allowed(o, all[i])) return all[i];
    for (int i = w - 1; i >= 0; i--)
        if (level_allowed(o, all[i])) return all[i];
    return "high";
}

struct budget_range {
    long min, max;
    bool zero_ok;
};

static struct budget_range budget_range_of(const char *m) {
    if (strstr(m, "flash-lite")) return (struct budget_range){512, 24576, true};
    if (strstr(m, "flash")) return (struct budget_range){0, 24576, true};
    return (struct budget_range){128, 32768, false}; /* 2.5 Pro */
}

/* A key of generationConfig, opening it first: it is sent only when it has one. */
static void gen_key(struct xl_jw *w, bool *open, const char *k) {
    if (!*open) {
        xl_jw_key(w, "generationConfig");
        xl_jw_obj(w);
        *open = true;
    }
    xl_jw_key(w, k);
}

static void thinking_write(struct req *r, struct xl_jw *w, bool *open, long max_out) {
    const struct xn_thinking *th = &r->conv.thinking;
    if (r->o.fam == GEMINI_FAMILY_NONE || th->intent == XN_THINK_DEFAULT) return;
    bool off = th->intent == XN_THINK_OFF;
    bool include = !off && r->o.show_thoughts;
    gen_key(w, open, "thinkingConfig");
    xl_jw_obj(w);
    if (r->o.fam == GEMINI_FAMILY_BUDGET) {
        struct budget_range br = budget_range_of(r->model);
        long budget;
        switch (th->intent) {
        case XN_THINK_OFF:
            budget = br.zero_ok ? 0 : br.min;
            break;
        case XN_THINK_BUDGET:
            budget = th->budget;
            break;
        case XN_THINK_EFFORT:
            budget = streq(th->effort, "low")      ? 1024
                     : streq(th->effort, "medium") ? 8192
                     : streq(th->effort, "high")   ? 24576
                                                   : br.max;
            break;
        default:
            budget = -1;
            break;
        }
        if (budget > 0 || (budget == 0 && !br.zero_ok)) {
            if (budget < br.min) budget = br.min;
            if (budget > br.max) budget = br.max;
            /* thinking counts against the output limit: keep room for the answer */
            if (max_out > 0 && budget >= max_out)
                budget = max_out / 2 > br.min ? max_out / 2 : br.min;
        }
        xl_jw_key(w, "thinkingBudget");
        xl_jw_num(w, (double)budget);
    } else {
        const char *want = NULL;
        switch (th->intent) {
        case XN_THINK_OFF:
            want = level_allowed(&r->o, "minimal") ? "minimal" : "low";
            break;
        case XN_THINK_BUDGET:
            want = th->budget <= 1024 ? "low" : th->budget <= 8192 ? "medium" : "high";
            break;
        case XN_THINK_EFFORT:
            want = streq(th->effort, "low") ? "low"
                   : streq(th->effort, "medium")
                       ? (level_allowed(&r->o, "medium") ? "medium" : "high")
                       : "high";
            break;
        default:
            break; /* ON: the model's default depth */
        }
        if (want) xl_jw_kstr(w, "thinkingLevel", snap_level(&r->o, want));
    }
    xl_jw_kbool(w, "includeThoughts", include);
    xl_jw_obj_end(w);
}

/* safetySettings, then generationConfig (when it has a key). */
static int generation_write(struct req *r, struct xl_jw *w) {
    const cJSON *body = r->in->body;
    /* safety settings only from config (§4.6: nothing is forced) */
    const cJSON *ss = xl_opt(r->in->provider, r->in->model, "gemini_safety_settings");
    if (cJSON_IsArray(ss) && ss->child) {
        xl_jw_key(w, "safetySettings");
        xl_jw_cjson(w, ss, NULL);
        if (w->bad)
            return err_set(r->err, ERR_CONFIG,
                           "gemini: gemini_safety_settings is nested too deeply");
    }
    bool open = false;
    long max_out = 0;
    const cJSON *mt = jget(body, "max_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 1) {
        max_out =
            mt->valuedouble > (double)r->o.max_output ? r->o.max_output : xl_long(mt->valuedouble);
        gen_key(w, &open, "maxOutputTokens");
        xl_jw_num(w, (double)max_out);
    }
    if (!r->o.drop_sampling) {
        static const char *const from[] = {"temperature", "top_p", "top_k"};
        static const char *const to[] = {"temperature", "topP", "topK"};
        for (int i = 0; i < 3; i++) {
            const cJSON *v = jget(body, from[i]);
            if (!cJSON_IsNumber(v)) continue;
            gen_key(w, &open, to[i]);
            xl_jw_num(w, v->valuedouble);
        }
    }
    const cJSON *stops = jget(body, "stop_sequences");
    if (cJSON_IsArray(stops)) {
        const cJSON *s;
        int k = 0;
        cJSON_ArrayForEach(s, stops) {
            if (!cJSON_IsString(s) || k >= 5) continue;
            bool blank = true;
            for (const char *p = s->valuestring; *p && blank; p++)
                blank = isspace((unsigned char)*p);
            if (blank) continue;
            if (!k) {
                gen_key(w, &open, "stopSequences");
                xl_jw_arr(w);
            }
            xl_jw_str(w, s->valuestring);
            k++;
        }
        if (k) xl_jw_arr_end(w);
    }
    /* structured output (§4.6) */
    if (r->json_schema) {
        gen_key(w, &open, "responseMimeType");
        xl_jw_str(w, "application/json");
        if (streq(xl_opt_str(r->in->provider, r->in->model, "gemini_response_schema", ""),
                  "openapi")) {
            xl_jw_key(w, "responseSchema");
            if (gemini_schema_write_node(w, r->json_schema, GEMINI_SCHEMA_OPENAPI, r->err) < 0)
                return -1;
        } else {
            static const char *const skip[] = {"$schema", NULL};
            xl_jw_key(w, "responseJsonSchema");
            xl_jw_cjson(w, r->json_schema, skip);
        }
        if (w->bad)
            return err_set(r->err, ERR_INVALID,
                           "output_config.format.schema is nested too deeply (at most %d levels)",
                           XL_JW_MAX_DEPTH - 2);
    }
    thinking_write(r, w, &open, max_out);
    if (open) xl_jw_obj_end(w);
    return 0;
}

/* ============================================================================================
 * Request: the whole body, URL and headers */

/* A fast compact printer for cJSON trees (the stream's call arguments, the folded answer).
 * cJSON's own printer costs more than parsing the same body (two passes per string, byte-wise
 * copies); this one copies runs of plain bytes at once. Output: valid JSON, valid UTF-8 (an
 * invalid byte becomes U+FFFD), cJSON's number form. */
static void print_str(struct xl_buf *b, const char *str) {
    xl_buf_addc(b, '"');
    xl_json_escape(b, str, strlen(str)); /* the shared escaper: valid UTF-8 out, fast runs */
    xl_buf_addc(b, '"');
}

static void print_node(struct xl_buf *b, const cJSON *n, int depth) {
    if (depth > 200) {
        xl_buf_adds(b, "null");
        return;
    }
    switch (n->type & 0xFF) {
    case cJSON_NULL:
        xl_buf_adds(b, "null");
        break;
    case cJSON_False:
        xl_buf_adds(b, "false");
        break;
    case cJSON_True:
        xl_buf_adds(b, "true");
        break;
    case cJSON_Number:
        xl_buf_num(b, n->valuedouble);
        break;
    case cJSON_String:
        print_str(b, n->valuestring ? n->valuestring : "");
        break;
    case cJSON_Raw:
        xl_buf_adds(b, n->valuestring ? n->valuestring : "null");
        break;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (n->type & 0xFF) == cJSON_Object;
        xl_buf_addc(b, obj ? '{' : '[');
        for (const cJSON *c = n->child; c; c = c->next) {
            if (c != n->child) xl_buf_addc(b, ',');
            if (obj) {
                print_str(b, c->string ? c->string : "");
                xl_buf_addc(b, ':');
            }
            print_node(b, c, depth + 1);
        }
        xl_buf_addc(b, obj ? '}' : ']');
        break;
    }
    default:
        xl_buf_adds(b, "null");
        break;
    }
}

/* key order: systemInstruction, contents, tools, toolConfig, safetySettings, generationConfig */
static int body_write(struct req *r, struct xl_jw *w) {
    xl_jw_obj(w);
    if (r->sys.head >= 0) {
        xl_jw_key(w, "systemInstruction");
        xl_jw_obj(w);
        xl_jw_key(w, "parts");
        xl_jw_arr(w);
        for (int i = r->sys.head; i >= 0; i = r->parts[i].next)
            part_write(r, w, &r->parts[i]);
        xl_jw_arr_end(w);
        xl_jw_obj_end(w);
    }
    if (contents_write(r, w) < 0) return -1;
    if (tools_write(r, w) < 0) return -1;
    if (generation_write(r, w) < 0) return -1;
    xl_jw_obj_end(w);
    return 0;
}

static int build_into(const struct xl_request *in, struct xl_http_request *out, struct err *err);

/* The caller's err may be uninitialised: work on a local record and copy it out once. */
static int gemini_build(const struct xl_request *in, struct xl_http_request *out, struct err *err) {
    struct err local;
    err_clear(&local);
    int rc = build_into(in, out, &local);
    if (rc < 0) {
        if (local.kind == ERR_NONE)
            err_set(&local, ERR_NOMEM, "gemini: out of memory building the upstream request");
        if (err) *err = local;
    }
    return rc;
}

static int build_into(const struct xl_request *in, struct xl_http_request *out, struct err *err) {
    if (!in || !in->body || !in->provider || !out)
        return err_set(err, ERR_INTERNAL, "gemini: build called without a request");
    struct req r;
    memset(&r, 0, sizeof r);
    r.in = in;
    r.model = bare_model(in->model);
    r.err = err;
    if (!*r.model)
        return err_set(err, ERR_CONFIG, "gemini: no upstream model id for provider %s",
                       in->provider->name ? in->provider->name : "?");
    gopts_load(in->provider, in->model, &r.o);
    struct xn_opts xo;
    xn_opts_default(&xo);
    xo.textualize_orphan_tool_history =
        xl_opt_bool(in->provider, in->model, "textualize_orphan_tool_history", true);
    if (xn_normalize(in->body, &xo, &r.conv, err) < 0) return -1;
    xl_buf_init(&r.scratch);

    int rc = -1;
    struct xl_buf text;
    xl_buf_init(&text);
    if (plan(&r) < 0) goto done;
    xl_buf_reserve(&text, in->raw_len ? in->raw_len + 4096 : 1 << 16);
    struct xl_jw w;
    xl_jw_init(&w, &text);
    if (body_write(&r, &w) < 0) goto done;
    if (!xl_buf_ok(&text)) {
        r.failed = true;
        goto done;
    }
    if (!xl_jw_ok(&w)) {
        err_set(err, ERR_INTERNAL, "gemini: the request writer failed");
        goto done;
    }
    out->body = evbuffer_new();
    if (!out->body || xl_buf_move_to(&text, out->body) < 0) {
        r.failed = true;
        goto done;
    }
    const char *base = in->provider->url ? in->provider->url : "";
    size_t bl = strlen(base);
    size_t ul = bl + strlen(r.model) + 48;
    out->url = malloc(ul);
    if (!out->url) {
        r.failed = true;
        goto done;
    }
    snprintf(out->url, ul, "%s%s%s:%s", base, (bl && base[bl - 1] == '/') ? "" : "/", r.model,
             in->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    if (xl_hdrs_add(&out->headers, "content-type", "application/json") < 0 ||
        (in->stream && xl_hdrs_add(&out->headers, "accept", "text/event-stream") < 0) ||
        (in->api_key && xl_hdrs_add(&out->headers, "x-goog-api-key", in->api_key) < 0)) {
        r.failed = true;
        goto done;
    }
    /* extra_headers from the config (a gateway in front of Google, say); never a second key */
    const cJSON *xh = xl_opt(in->provider, in->model, "extra_headers"), *h;
    if (!cJSON_IsObject(xh)) xh = NULL;
    cJSON_ArrayForEach(h, xh) {
        if (!cJSON_IsString(h) || !h->string || strcasecmp(h->string, "x-goog-api-key") == 0 ||
            strcasecmp(h->string, "content-type") == 0)
            continue;
        if (xl_hdrs_add(&out->headers, h->string, h->valuestring) < 0) {
            r.failed = true;
            goto done;
        }
    }
    rc = 0;
done:
    if (rc < 0 && err->kind == ERR_NONE)
        err_set(err, ERR_NOMEM, "gemini: out of memory building the upstream request");
    if (rc < 0) {
        /* a failed build hands nothing back */
        if (out->body) evbuffer_free(out->body);
        out->body = NULL;
        free(out->url);
        out->url = NULL;
        for (size_t i = 0; i < out->headers.n; i++) {
            free(out->headers.v[i].name);
            free(out->headers.v[i].value);
        }
        free(out->headers.v);
        memset(&out->headers, 0, sizeof out->headers);
    }
    xl_buf_free(&text);
    xl_buf_free(&r.scratch);
    xn_free(&r.conv);
    return rc;
}

/* ============================================================================================
 * Stream: Gemini SSE -> Anthropic SSE (§4.11, §3.3 grammar, G4, G7, R5)
 *
 * States (one at a time; each input event moves the machine with one step function):
 *   ST_WAIT      nothing written yet (an error now is still a clean HTTP error)
 *   ST_IDLE      message_start written, no block open
 *   ST_THINKING  a thinking block is open (closed by its carrier signature)
 *   ST_TEXT      a text block is open
 *   ST_FINISHED  a finishReason arrived without final usage: blocks closed, waiting for the end
 *   ST_DONE      message_stop written; the rest of the upstream is ignored
 *   ST_FAILED    an error was returned; nothing more is written */
enum gstate { ST_WAIT = 0, ST_IDLE, ST_THINKING, ST_TEXT, ST_FINISHED, ST_DONE, ST_FAILED };

struct xl_stream {
    enum gstate state;
    struct sse_parser sse;
    struct xl_aout aout;
    struct xl_namemap names; /* upstream tool name -> client name (rewritten names only) */
    struct xl_buf declared;  /* upstream names of declared tools, each NUL-terminated */
    char *model;             /* upstream model, carried in thinking signatures */
    char *provider;          /* provider name, for error messages */
    bool show_thinking;      /* R5: stream reasoning text (display absent or summarized) */
    bool tools_declared;

    struct xl_buf sig;      /* a signature waiting for its place (thought/empty part, G4) */
    struct xl_buf late_sig; /* text-part signature after the thinking block closed (G7) */
    struct xl_buf scratch;  /* carrier / ids / args */
    int ncalls;
    bool text_seen;
    char finish[48]; /* the upstream finishReason, "" until seen */
    char *finish_message;
    struct xl_usage usage;
    long thinking_tokens; /* -1 when unknown */
    bool have_usage;      /* usageMetadata seen at least once */
    cJSON *grounding;     /* last groundingMetadata (owned) */

    /* a body that is not SSE (the upstream ignored alt=sse: one JSON object or array) */
    enum { BODY_UNKNOWN = 0, BODY_SSE, BODY_JSON } body_kind;
    struct xl_buf raw;

    /* the failure, mapped for the client (gemini_stream_error) */
    struct xl_error xerr;
    bool failed;

    /* the current feed call */
    struct evbuffer *out;
    struct err *err;
    bool blocked; /* promptFeedback block */
};

static int st_fail(struct xl_stream *st, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int st_fail(struct xl_stream *st, enum err_kind kind, const char *fmt, ...) {
    struct err e;
    va_list ap;
    va_start(ap, fmt);
    err_vset(&e, kind, fmt, ap);
    va_end(ap);
    if (st->err) *st->err = e;
    st->state = ST_FAILED;
    if (!st->failed) {
        /* the client's view of it, unless a mapped upstream error was recorded already */
        st->failed = true;
        memset(&st->xerr, 0, sizeof st->xerr);
        st->xerr.status = kind == ERR_TIMEOUT ? 504 : kind == ERR_UPSTREAM ? 502 : 500;
        st->xerr.type = kind == ERR_TIMEOUT ? "timeout_error" : "api_error";
        st->xerr.retry_after_ms = -1;
        st->xerr.should_retry = -1;
        snprintf(st->xerr.message, sizeof st->xerr.message, "%s", e.msg);
    }
    return -1;
}

static int ensure_started(struct xl_stream *st) {
    if (st->state != ST_WAIT) return 0;
    if (xl_aout_start(&st->aout, st->out, st->err) < 0) return -1;
    st->state = ST_IDLE;
    return 0;
}

/* Close the open block. A thinking block ends with its carrier; `for_call` says a function call
 * follows, which takes a pending signature for itself when it has none (G4). */
static int close_block(struct xl_stream *st, bool call_follows_unsigned) {
    if (st->state == ST_THINKING) {
        const char *gs = NULL;
        if (st->sig.len && !call_follows_unsigned) gs = xl_buf_cstr(&st->sig);
        xl_buf_reset(&st->scratch);
        xl_carrier_write(&st->scratch, PROFILE, st->model, NULL, gs);
        if (!xl_buf_ok(&st->scratch))
            return st_fail(st, ERR_NOMEM, "gemini stream: out of memory writing a signature");
        if (xl_aout_signature(&st->aout, st->scratch.p, st->scratch.len, st->out, st->err) < 0)
            return -1;
        if (gs) xl_buf_reset(&st->sig);
    }
    if (st->state == ST_THINKING || st->state == ST_TEXT) {
        if (xl_aout_stop(&st->aout, st->out, st->err) < 0) return -1;
        st->state = ST_IDLE;
    }
    return 0;
}

static int on_text(struct xl_stream *st, const char *text, size_t n, const char *sig);

static int on_thought(struct xl_stream *st, const char *text, size_t n, const char *sig) {
    if (n == 0) return on_text(st, text, 0, sig); /* only a signature: keep it for what follows */
    if (ensure_started(st) < 0) return -1;
    if (st->state != ST_THINKING) {
        if (close_block(st, false) < 0) return -1;
        if (xl_aout_thinking_start(&st->aout, st->out, st->err) < 0) return -1;
        st->state = ST_THINKING;
    }
    if (sig) {
        xl_buf_reset(&st->sig);
        xl_buf_adds(&st->sig, sig);
    }
    if (st->show_thinking && n) return xl_aout_thinking(&st->aout, text, n, st->out, st->err);
    return 0;
}

static int on_text(struct xl_stream *st, const char *text, size_t n, const char *sig) {
    if (n == 0) {
        /* an empty part that only carries a signature: keep it for what follows */
        if (sig) {
            xl_buf_reset(&st->sig);
            xl_buf_adds(&st->sig, sig);
        }
        return 0;
    }
    if (ensure_started(st) < 0) return -1;
    if (st->state != ST_TEXT) {
        if (close_block(st, false) < 0) return -1;
        if (xl_aout_text_start(&st->aout, st->out, st->err) < 0) return -1;
        st->state = ST_TEXT;
    }
    if (sig) {
        /* G7: the answer's signature on a text part, after any thinking block closed */
        xl_buf_reset(&st->late_sig);
        xl_buf_adds(&st->late_sig, sig);
    }
    st->text_seen = true;
    return xl_aout_text(&st->aout, text, n, st->out, st->err);
}

/* The client name of an upstream function name: reverse map, then a declared name hidden behind
 * a "<namespace>." or "<namespace>:" prefix (§4.10, defensive). */
static const char *client_name(const struct xl_stream *st, const char *name) {
    const char *n = xl_namemap_back(&st->names, name);
    if (n != name) return n;
    for (size_t i = 0; i < st->declared.len;) {
        const char *d = st->declared.p + i;
        if (strcmp(d, name) == 0) return xl_namemap_back(&st->names, name);
        i += strlen(d) + 1;
    }
    const char *cut = NULL;
    for (const char *p = name; *p; p++)
        if (*p == '.' || *p == ':') cut = p + 1;
    if (cut && *cut) {
        for (size_t i = 0; i < st->declared.len;) {
            const char *d = st->declared.p + i;
            if (strcmp(d, cut) == 0) return xl_namemap_back(&st->names, d);
            i += strlen(d) + 1;
        }
    }
    return name;
}

/* Append "__g<kind><LEN>_<base64url DATA>" for raw bytes. */
static void add_segment(struct xl_buf *b, char kind, const unsigned char *raw, size_t n) {
    size_t need = n / 3 * 4 + 4;
    char *tmp = malloc(need + 1);
    if (!tmp) {
        b->oom = true;
        return;
    }
    long el = xl_b64url_encode(raw, n, tmp, need + 1);
    if (el > 0) xl_buf_printf(b, "__g%c%ld_%s", kind, el, tmp);
    free(tmp);
}

/* Mint the client's tool id: toolu_<24> [+ __gi (Gemini call id)] [+ __gs (signature)] (§4.12). */
static int mint_tool_id(struct xl_stream *st, const char *gid, const char *sig) {
    char base[XL_TOOL_ID_BASE_LEN + 1];
    if (xl_mint_id("toolu_", base, sizeof base) < 0)
        return st_fail(st, ERR_INTERNAL, "gemini stream: the system random generator failed");
    xl_buf_reset(&st->scratch);
    xl_buf_adds(&st->scratch, base);
    if (gid && *gid) add_segment(&st->scratch, 'i', (const unsigned char *)gid, strlen(gid));
    if (sig && *sig) {
        size_t sl = strlen(sig);
        unsigned char *raw = malloc(sl + 1);
        if (!raw) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
        long rl = xl_b64url_decode(sig, sl, raw, sl + 1);
        if (rl > 0) add_segment(&st->scratch, 's', raw, (size_t)rl);
        /* a signature that is not base64 cannot be carried losslessly: the next turn then uses
         * the documented placeholder (G4) */
        free(raw);
    }
    if (!xl_buf_ok(&st->scratch)) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
    xl_buf_cstr(&st->scratch);
    return 0;
}

static int on_call(struct xl_stream *st, const cJSON *fc, const char *sig) {
    if (ensure_started(st) < 0) return -1;
    const char *name = jstr(fc, "name");
    if (!name || !*name) return 0; /* a call without a name cannot be run: skipped */
    /* G4: a signature on the thought/empty part just before the call belongs to the call */
    bool take_pending = !sig && st->sig.len > 0 && st->ncalls == 0;
    if (close_block(st, take_pending) < 0) return -1;
    char *pending = NULL;
    if (take_pending) {
        pending = strndup(st->sig.p, st->sig.len);
        if (!pending) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
        xl_buf_reset(&st->sig);
        sig = pending;
    }
    int rc = mint_tool_id(st, jstr(fc, "id"), sig);
    free(pending);
    if (rc < 0) return -1;
    char *id = strndup(st->scratch.p, st->scratch.len);
    if (!id) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
    rc = xl_aout_tool_start(&st->aout, id, client_name(st, name), st->out, st->err);
    free(id);
    /* the arguments, printed exactly (integers above 2^53 included); absent or null -> {} */
    const cJSON *args = jget(fc, "args");
    xl_buf_reset(&st->scratch);
    if (cJSON_IsObject(args))
        print_node(&st->scratch, args, 0);
    else
        xl_buf_adds(&st->scratch, "{}");
    if (rc == 0 && !xl_buf_ok(&st->scratch))
        return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
    if (rc == 0) rc = xl_aout_json(&st->aout, st->scratch.p, st->scratch.len, st->out, st->err);
    if (rc == 0) rc = xl_aout_stop(&st->aout, st->out, st->err);
    if (rc < 0) return -1;
    st->ncalls++;
    st->state = ST_IDLE;
    return 0;
}

static void read_usage(struct xl_stream *st, const cJSON *um) {
    if (!cJSON_IsObject(um)) return;
    st->have_usage = true;
    long prompt = 0, tool = 0, cached = 0, cand = 0, thoughts = 0, total = 0;
    const cJSON *v;
    if (cJSON_IsNumber(v = jget(um, "promptTokenCount"))) prompt = xl_long(v->valuedouble);
    if (cJSON_IsNumber(v = jget(um, "toolUsePromptTokenCount"))) tool = xl_long(v->valuedouble);
    if (cJSON_IsNumber(v = jget(um, "cachedContentTokenCount"))) cached = xl_long(v->valuedouble);
    if (cJSON_IsNumber(v = jget(um, "candidatesTokenCount"))) cand = xl_long(v->valuedouble);
    bool have_thoughts = cJSON_IsNumber(v = jget(um, "thoughtsTokenCount"));
    if (have_thoughts) thoughts = xl_long(v->valuedouble);
    if (cJSON_IsNumber(v = jget(um, "totalTokenCount"))) total = xl_long(v->valuedouble);
    st->usage.input_tokens = prompt + tool - cached > 0 ? prompt + tool - cached : 0;
    st->usage.cache_read_input_tokens = cached;
    st->usage.cache_creation_input_tokens = 0;
    /* guard: surfaces that already fold thoughts into candidates */
    bool folded = thoughts > 0 && total > 0 && prompt + tool + cand == total;
    st->usage.output_tokens = folded ? cand : cand + thoughts;
    st->thinking_tokens = have_thoughts ? thoughts : -1;
}

static bool is_safety(const char *f) {
    static const char *const v[] = {"SAFETY",     "PROHIBITED_CONTENT", "BLOCKLIST",
                                    "SPII",       "IMAGE_SAFETY",       "IMAGE_PROHIBITED_CONTENT",
                                    "RECITATION", "LANGUAGE",           "IMAGE_RECITATION"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (streq(f, v[i])) return true;
    return false;
}

static bool is_bad_call(const char *f) {
    return streq(f, "MALFORMED_FUNCTION_CALL") || streq(f, "UNEXPECTED_TOOL_CALL") ||
           streq(f, "TOO_MANY_TOOL_CALLS");
}

/* Grounding (§4.8): a server_tool_use + web_search_tool_result pair, written at finalisation. */
static int write_grounding(struct xl_stream *st) {
    const cJSON *chunks = jget(st->grounding, "groundingChunks");
    if (!cJSON_IsArray(chunks) || cJSON_GetArraySize(chunks) == 0) return 0;
    char sid[40];
    if (xl_mint_id("srvtoolu_", sid, sizeof sid) < 0)
        return st_fail(st, ERR_INTERNAL, "gemini stream: the system random generator failed");
    const cJSON *q0 = cJSON_GetArrayItem(jget(st->grounding, "webSearchQueries"), 0);
    const char *query = cJSON_IsString(q0) ? q0->valuestring : "";
    struct xl_buf b;
    xl_buf_init(&b);
    struct xl_jw w;
    /* server_tool_use */
    xl_jw_init(&w, &b);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "content_block_start");
    xl_jw_kint(&w, "index", st->aout.next_index);
    xl_jw_key(&w, "content_block");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "server_tool_use");
    xl_jw_kstr(&w, "id", sid);
    xl_jw_kstr(&w, "name", "web_search");
    xl_jw_key(&w, "input");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "query", query);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    int rc = xl_jw_ok(&w) ? sse_write(st->out, "content_block_start", b.p, b.len) : -1;
    char stop[80];
    int sn = snprintf(stop, sizeof stop, "{\"type\":\"content_block_stop\",\"index\":%d}",
                      st->aout.next_index);
    if (rc == 0) rc = sse_write(st->out, "content_block_stop", stop, (size_t)sn);
    st->aout.next_index++;
    /* web_search_tool_result */
    xl_buf_reset(&b);
    xl_jw_init(&w, &b);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "content_block_start");
    xl_jw_kint(&w, "index", st->aout.next_index);
    xl_jw_key(&w, "content_block");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "web_search_tool_result");
    xl_jw_kstr(&w, "tool_use_id", sid);
    xl_jw_key(&w, "content");
    xl_jw_arr(&w);
    const cJSON *c;
    cJSON_ArrayForEach(c, chunks) {
        const cJSON *web = jget(c, "web");
        const char *uri = jstr(web, "uri");
        if (!uri) continue;
        xl_jw_obj(&w);
        xl_jw_kstr(&w, "type", "web_search_result");
        xl_jw_kstr(&w, "url", uri);
        xl_jw_kstr(&w, "title", jstr(web, "title") ? jstr(web, "title") : uri);
        xl_jw_kstr(&w, "encrypted_content", "");
        xl_jw_key(&w, "page_age");
        xl_jw_null(&w);
        xl_jw_obj_end(&w);
    }
    xl_jw_arr_end(&w);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    if (rc == 0) rc = xl_jw_ok(&w) ? sse_write(st->out, "content_block_start", b.p, b.len) : -1;
    sn = snprintf(stop, sizeof stop, "{\"type\":\"content_block_stop\",\"index\":%d}",
                  st->aout.next_index);
    if (rc == 0) rc = sse_write(st->out, "content_block_stop", stop, (size_t)sn);
    st->aout.next_index++;
    xl_buf_free(&b);
    if (rc < 0) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory writing grounding");
    return 0;
}

/* message_delta + message_stop with usage.server_tool_use.web_search_requests (§4.8), which the
 * shared writer's usage object has no room for. */
static int finish_with_searches(struct xl_stream *st, const char *reason, int nq) {
    struct xl_buf b;
    xl_buf_init(&b);
    struct xl_jw w;
    xl_jw_init(&w, &b);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "message_delta");
    xl_jw_key(&w, "delta");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "stop_reason", reason);
    xl_jw_key(&w, "stop_sequence");
    xl_jw_null(&w);
    xl_jw_obj_end(&w);
    xl_jw_key(&w, "usage");
    xl_jw_usage(&w, &st->usage, st->thinking_tokens);
    /* reopen the usage object to add the search count */
    if (xl_jw_ok(&w) && b.len && b.p[b.len - 1] == '}') {
        b.len--;
        xl_buf_printf(&b, ",\"server_tool_use\":{\"web_search_requests\":%d}}", nq);
    }
    xl_buf_addc(&b, '}');
    static const char stop[] = "{\"type\":\"message_stop\"}";
    int rc = xl_buf_ok(&b) && xl_jw_ok(&w) ? sse_write(st->out, "message_delta", b.p, b.len) : -1;
    if (rc == 0) rc = sse_write(st->out, "message_stop", stop, sizeof stop - 1);
    xl_buf_free(&b);
    if (rc < 0) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory finishing");
    st->aout.finished = true;
    return 0;
}

/* Finalise: close blocks, place a late signature, map the stop reason, message_delta + stop. */
static int finalize(struct xl_stream *st) {
    const char *f = st->finish;
    if (is_bad_call(f) && st->ncalls == 0 && !st->text_seen &&
        !(streq(f, "UNEXPECTED_TOOL_CALL") && !st->tools_declared)) {
        st_fail(st, ERR_UPSTREAM,
                "Gemini (%s) ended with %s%s%s before producing any output; a retry samples "
                "again and usually succeeds",
                st->model, f, st->finish_message ? ": " : "",
                st->finish_message ? st->finish_message : "");
        st->xerr.should_retry = 1; /* §5.4: x-should-retry: true */
        return -1;
    }
    if (ensure_started(st) < 0) return -1;
    if (close_block(st, false) < 0) return -1;
    if (st->sig.len) {
        /* a signature that never found a call or a thinking block: carry it like G7 */
        xl_buf_reset(&st->late_sig);
        xl_buf_add(&st->late_sig, st->sig.p, st->sig.len);
        xl_buf_reset(&st->sig);
    }
    const char *reason;
    if (streq(f, "MAX_TOKENS"))
        reason = "max_tokens";
    else if (is_safety(f))
        reason = "refusal";
    else
        reason = st->ncalls ? "tool_use" : "end_turn";
    if (is_safety(f) && !st->text_seen) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "Gemini stopped: %s.", f);
        if (xl_aout_text_start(&st->aout, st->out, st->err) < 0 ||
            xl_aout_text(&st->aout, msg, (size_t)n, st->out, st->err) < 0 ||
            xl_aout_stop(&st->aout, st->out, st->err) < 0)
            return -1;
    }
    if (st->late_sig.len) {
        /* G7: the text signature rides in a trailing thinking block's carrier; the next turn
         * puts it back on the last text part of this message */
        xl_buf_reset(&st->scratch);
        xl_carrier_write(&st->scratch, PROFILE, st->model, NULL, xl_buf_cstr(&st->late_sig));
        if (!xl_buf_ok(&st->scratch)) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
        if (xl_aout_thinking_start(&st->aout, st->out, st->err) < 0 ||
            xl_aout_signature(&st->aout, st->scratch.p, st->scratch.len, st->out, st->err) < 0 ||
            xl_aout_stop(&st->aout, st->out, st->err) < 0)
            return -1;
    }
    if (st->grounding && write_grounding(st) < 0) return -1;
    if (!st->have_usage) {
        /* no usage at all (a gateway that strips it): estimate the output, ~4 bytes a token */
        st->usage.output_tokens = st->aout.out_bytes / 4 > 0 ? (long)(st->aout.out_bytes / 4) : 1;
    }
    int nq = cJSON_GetArraySize(jget(st->grounding, "webSearchQueries"));
    if (nq > 0 && cJSON_GetArraySize(jget(st->grounding, "groundingChunks")) > 0) {
        if (finish_with_searches(st, reason, nq) < 0) return -1;
    } else if (xl_aout_finish(&st->aout, reason, NULL, &st->usage, st->thinking_tokens, st->out,
                              st->err) < 0) {
        return -1;
    }
    st->state = ST_DONE;
    return 0;
}

static int on_prompt_blocked(struct xl_stream *st, const char *reason) {
    if (ensure_started(st) < 0) return -1;
    if (close_block(st, false) < 0) return -1;
    char msg[200];
    int n = snprintf(msg, sizeof msg,
                     "Gemini did not answer: the prompt was blocked (blockReason=%.60s).", reason);
    if (xl_aout_text_start(&st->aout, st->out, st->err) < 0 ||
        xl_aout_text(&st->aout, msg, (size_t)n, st->out, st->err) < 0 ||
        xl_aout_stop(&st->aout, st->out, st->err) < 0)
        return -1;
    st->blocked = true;
    if (xl_aout_finish(&st->aout, "refusal", NULL, &st->usage, st->thinking_tokens, st->out,
                       st->err) < 0)
        return -1;
    st->state = ST_DONE;
    return 0;
}

static int on_upstream_error(struct xl_stream *st, const char *data, size_t len) {
    /* an error object inside a 200 stream: its own code decides (RESOURCE_EXHAUSTED -> 429,
     * UNAVAILABLE -> 529, ...) */
    xl_map_upstream_error(0, NULL, data, len, st->provider, st->model, &st->xerr);
    st->failed = true;
    enum err_kind k = st->xerr.status == 504 ? ERR_TIMEOUT : ERR_UPSTREAM;
    return st_fail(st, k, "%s", st->xerr.message);
}

static int step_obj(struct xl_stream *st, const cJSON *ev);

/* One upstream event: a GenerateContentResponse, or (a body that ignored alt=sse) an array of
 * them. */
static int step_event(struct xl_stream *st, const char *data, size_t len) {
    if (st->state == ST_DONE || st->state == ST_FAILED) return 0;
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j) {
        /* lone UTF-16 surrogate escapes (cJSON rejects them) become U+FFFD; anything else
         * that does not parse is a protocol error */
        struct xl_buf fixed;
        xl_buf_init(&fixed);
        if (xl_json_fix_surrogates(data, len, &fixed) > 0 && xl_buf_ok(&fixed))
            j = cJSON_ParseWithLength(fixed.p, fixed.len);
        xl_buf_free(&fixed);
    }
    if (!j) {
        return st_fail(st, ERR_UPSTREAM,
                       "Gemini (%s) sent a stream event that is not JSON (%zu bytes)", st->model,
                       len);
    }
    int rc = 0;
    if (cJSON_IsArray(j)) {
        const cJSON *ev;
        cJSON_ArrayForEach(ev, j) {
            if (st->state == ST_DONE || st->state == ST_FAILED) break;
            if ((rc = step_obj(st, ev)) < 0) break;
        }
    } else {
        rc = step_obj(st, j);
    }
    cJSON_Delete(j);
    return rc;
}

static int step_obj(struct xl_stream *st, const cJSON *ev) {
    int rc = 0;
    if (jget(ev, "error")) {
        char *text = cJSON_PrintUnformatted(ev);
        rc = on_upstream_error(st, text ? text : "", text ? strlen(text) : 0);
        cJSON_free(text);
        return rc;
    }
    read_usage(st, jget(ev, "usageMetadata"));
    const cJSON *cands = jget(ev, "candidates");
    const cJSON *cand = cJSON_GetArrayItem(cands, 0);
    if (!cand) {
        const char *br = jstr(jget(ev, "promptFeedback"), "blockReason");
        if (br) rc = on_prompt_blocked(st, br);
        goto out;
    }
    if (st->state == ST_FINISHED) goto out; /* only usage may follow a finish */
    const cJSON *part;
    cJSON_ArrayForEach(part, jget(jget(cand, "content"), "parts")) {
        const char *sig = jstr(part, "thoughtSignature");
        const cJSON *fc = jget(part, "functionCall");
        const cJSON *txt = jget(part, "text");
        if (cJSON_IsObject(fc)) {
            rc = on_call(st, fc, sig);
        } else if (cJSON_IsString(txt) || (sig && !jget(part, "inlineData"))) {
            const char *t = cJSON_IsString(txt) ? txt->valuestring : "";
            if (cJSON_IsTrue(jget(part, "thought")))
                rc = on_thought(st, t, strlen(t), sig);
            else
                rc = on_text(st, t, strlen(t), sig);
        } else if (jget(part, "executableCode") || jget(part, "codeExecutionResult")) {
            const cJSON *ec = jget(part, "executableCode");
            const char *code =
                ec ? jstr(ec, "code") : jstr(jget(part, "codeExecutionResult"), "output");
            if (code) {
                size_t cl = strlen(code);
                char *fence = malloc(cl + 16);
                if (!fence) {
                    rc = st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
                } else {
                    int n = snprintf(fence, cl + 16, "\n```\n%s\n```\n", code);
                    rc = on_text(st, fence, (size_t)n, NULL);
                    free(fence);
                }
            }
        }
        /* inlineData output and unknown part types are skipped (G3) */
        if (rc < 0) goto out;
    }
    const cJSON *gm = jget(cand, "groundingMetadata");
    if (cJSON_IsObject(gm)) {
        cJSON_Delete(st->grounding);
        st->grounding = cJSON_Duplicate(gm, 1);
    }
    const char *fr = jstr(cand, "finishReason");
    if (fr && *fr) {
        snprintf(st->finish, sizeof st->finish, "%s", fr);
        const char *fm = jstr(cand, "finishMessage");
        if (fm && !st->finish_message) st->finish_message = strdup(fm);
        if (jget(ev, "usageMetadata")) {
            rc = finalize(st);
        } else {
            if (is_bad_call(fr) && st->ncalls == 0 && !st->text_seen) {
                rc = finalize(st); /* fails at once, nothing to wait for */
                goto out;
            }
            if (ensure_started(st) < 0 || close_block(st, false) < 0) {
                rc = -1;
                goto out;
            }
            st->state = ST_FINISHED;
        }
    }
out:
    return rc;
}

/* A step failed in the shared writer (it filled st->err but not the client's view). */
static void mark_failed(struct xl_stream *st) {
    if (st->failed) return;
    enum err_kind k = st->err ? st->err->kind : ERR_INTERNAL;
    st_fail(st, k == ERR_NONE ? ERR_INTERNAL : k, "%s",
            st->err && st->err->msg[0] ? st->err->msg : "gemini stream: translation failed");
}

static int sse_cb(void *arg, const char *event, const char *data, size_t len) {
    struct xl_stream *st = arg;
    (void)event;
    if (len == 0 || (len == 6 && memcmp(data, "[DONE]", 6) == 0)) return 0; /* gateways add it */
    if (step_event(st, data, len) < 0) {
        mark_failed(st);
        return 1;
    }
    return 0;
}

static void gemini_stream_free(struct xl_stream *st) {
    if (!st) return;
    sse_parser_free(&st->sse);
    xl_aout_free(&st->aout);
    xl_namemap_free(&st->names);
    xl_buf_free(&st->declared);
    xl_buf_free(&st->sig);
    xl_buf_free(&st->late_sig);
    xl_buf_free(&st->scratch);
    xl_buf_free(&st->raw);
    free(st->model);
    free(st->provider);
    free(st->finish_message);
    cJSON_Delete(st->grounding);
    free(st);
}

static struct xl_stream *gemini_stream_new(const struct xl_request *in, struct err *err) {
    struct xl_stream *st = calloc(1, sizeof *st);
    if (!st) {
        err_set(err, ERR_NOMEM, "gemini stream: out of memory");
        return NULL;
    }
    xl_buf_init(&st->declared);
    xl_buf_init(&st->sig);
    xl_buf_init(&st->late_sig);
    xl_buf_init(&st->scratch);
    xl_buf_init(&st->raw);
    xl_namemap_init(&st->names);
    st->thinking_tokens = -1;
    if (sse_parser_init(&st->sse, MAX_EVENT_BYTES) < 0) {
        free(st);
        err_set(err, ERR_NOMEM, "gemini stream: out of memory");
        return NULL;
    }
    if (xl_aout_init(&st->aout, in && in->client_model ? in->client_model : "", err) < 0) {
        sse_parser_free(&st->sse);
        free(st);
        return NULL;
    }
    st->model = strdup(in ? bare_model(in->model) : "");
    st->provider = strdup(in && in->provider && in->provider->name ? in->provider->name : "gemini");
    if (!st->model || !st->provider) goto nomem;
    const cJSON *body = in ? in->body : NULL;
    struct xn_thinking th;
    xn_thinking_of(body, &th);
    bool updates_text =
        in && in->provider && xl_opt_bool(in->provider, in->model, "updates_show_reasoning", false);
    st->show_thinking =
        th.display == XN_DISPLAY_DEFAULT || (th.display == XN_DISPLAY_UPDATES && updates_text);
    const cJSON *t;
    cJSON_ArrayForEach(t, jget(body, "tools")) {
        const char *name = jstr(t, "name");
        const char *type = jstr(t, "type");
        if (!name || (type && !streq(type, "custom"))) continue;
        char up[65];
        if (xl_namemap_add(&st->names, name, XL_NAMES_GEMINI, up) < 0) goto nomem;
        xl_buf_add(&st->declared, up, strlen(up) + 1);
        st->tools_declared = true;
    }
    if (!xl_buf_ok(&st->declared)) goto nomem;
    return st;
nomem:
    gemini_stream_free(st);
    err_set(err, ERR_NOMEM, "gemini stream: out of memory");
    return NULL;
}

static int gemini_stream_feed(struct xl_stream *st, const char *buf, size_t len,
                              struct evbuffer *out, struct err *err) {
    if (st->state == ST_DONE) return XL_DONE;
    if (st->state == ST_FAILED)
        return err_set(err, ERR_UPSTREAM, "gemini stream: already failed: %s", st->xerr.message);
    st->out = out;
    st->err = err;
    if (st->body_kind == BODY_UNKNOWN) {
        /* the first non-blank byte tells SSE ("data:", ":", "event:") from a JSON body */
        for (size_t i = 0; i < len && st->body_kind == BODY_UNKNOWN; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
            st->body_kind = (c == '{' || c == '[') ? BODY_JSON : BODY_SSE;
        }
    }
    if (st->body_kind == BODY_JSON) {
        if (st->raw.len + len > MAX_EVENT_BYTES)
            return st_fail(st, ERR_UPSTREAM, "Gemini (%s) sent a body over %u bytes", st->model,
                           MAX_EVENT_BYTES);
        xl_buf_add(&st->raw, buf, len);
        if (!xl_buf_ok(&st->raw)) return st_fail(st, ERR_NOMEM, "gemini stream: out of memory");
        return XL_MORE;
    }
    int rc = sse_feed(&st->sse, buf, len, sse_cb, st);
    if (rc == SSE_TOO_LARGE)
        return st_fail(st, ERR_UPSTREAM, "Gemini (%s) sent a stream event over %u bytes", st->model,
                       MAX_EVENT_BYTES);
    if (rc != 0 || st->state == ST_FAILED) return -1;
    return st->state == ST_DONE ? XL_DONE : XL_MORE;
}

static int finish_at_end(struct xl_stream *st) {
    if (finalize(st) < 0) {
        mark_failed(st);
        return -1;
    }
    return XL_DONE;
}

static int gemini_stream_end(struct xl_stream *st, struct evbuffer *out, struct err *err) {
    if (st->state == ST_DONE) return XL_DONE;
    if (st->state == ST_FAILED)
        return err_set(err, ERR_UPSTREAM, "gemini stream: already failed: %s", st->xerr.message);
    st->out = out;
    st->err = err;
    if (st->body_kind == BODY_JSON) {
        if (step_event(st, st->raw.p, st->raw.len) < 0) {
            mark_failed(st);
            return -1;
        }
        if (st->state == ST_DONE) return XL_DONE;
        if (st->state == ST_FINISHED) return finish_at_end(st);
        return st_fail(st, ERR_UPSTREAM, "Gemini (%s): the answer ended before completion",
                       st->model);
    }
    int rc = sse_finish(&st->sse, sse_cb, st);
    if (rc == SSE_TOO_LARGE)
        return st_fail(st, ERR_UPSTREAM, "Gemini (%s) sent a stream event over %u bytes", st->model,
                       MAX_EVENT_BYTES);
    if (rc != 0 || st->state == ST_FAILED) return -1;
    if (st->state == ST_DONE) return XL_DONE;
    if (st->state == ST_FINISHED) return finish_at_end(st);
    return st_fail(st, ERR_UPSTREAM, "Gemini (%s): upstream stream ended before completion",
                   st->model);
}

int gemini_stream_error(const struct xl_stream *st, struct xl_error *out) {
    if (!st || !st->failed || !out) return -1;
    *out = st->xerr;
    return 0;
}

static void gemini_stream_usage(const struct xl_stream *st, struct xl_usage *out) {
    if (out) *out = st->usage;
}

/* ============================================================================================
 * Non-streaming: the same state machine over the one body, folded into a message. */

struct fold {
    cJSON *msg;
    cJSON *content;
    cJSON *cur;          /* the open block */
    struct xl_buf acc;   /* text / thinking / partial_json of the open block */
    const char *acc_key; /* where acc goes at block stop */
    bool json;
    struct xl_usage *usage;
    bool bad;
};

static int fold_event(void *arg, const char *event, const char *data, size_t len) {
    struct fold *f = arg;
    (void)event;
    cJSON *e = cJSON_ParseWithLength(data, len);
    if (!e) {
        f->bad = true;
        return 1;
    }
    const char *type = jstr(e, "type");
    if (streq(type, "message_start")) {
        cJSON_Delete(f->msg);
        f->msg = cJSON_DetachItemFromObjectCaseSensitive(e, "message");
        f->content = cJSON_GetObjectItemCaseSensitive(f->msg, "content");
    } else if (streq(type, "content_block_start") && f->content) {
        f->cur = cJSON_DetachItemFromObjectCaseSensitive(e, "content_block");
        xl_buf_reset(&f->acc);
        const char *bt = jstr(f->cur, "type");
        f->acc_key = streq(bt, "text") ? "text" : streq(bt, "thinking") ? "thinking" : NULL;
        f->json = streq(bt, "tool_use") || streq(bt, "server_tool_use");
    } else if (streq(type, "content_block_delta") && f->cur) {
        const cJSON *d = jget(e, "delta");
        const char *dt = jstr(d, "type");
        if (streq(dt, "signature_delta")) {
            cJSON_ReplaceItemInObjectCaseSensitive(f->cur, "signature",
                                                   cJSON_CreateString(jstr(d, "signature")));
        } else {
            const char *s = jstr(d, streq(dt, "text_delta")       ? "text"
                                    : streq(dt, "thinking_delta") ? "thinking"
                                                                  : "partial_json");
            if (s) xl_buf_adds(&f->acc, s);
        }
    } else if (streq(type, "content_block_stop") && f->cur) {
        if (f->acc_key) {
            cJSON_ReplaceItemInObjectCaseSensitive(f->cur, f->acc_key,
                                                   cJSON_CreateString(xl_buf_cstr(&f->acc)));
        } else if (f->json && f->acc.len) {
            cJSON *in = cJSON_ParseWithLength(f->acc.p, f->acc.len);
            if (in) cJSON_ReplaceItemInObjectCaseSensitive(f->cur, "input", in);
        }
        cJSON_AddItemToArray(f->content, f->cur);
        f->cur = NULL;
    } else if (streq(type, "message_delta") && f->msg) {
        const cJSON *d = jget(e, "delta");
        cJSON_ReplaceItemInObjectCaseSensitive(f->msg, "stop_reason",
                                               cJSON_Duplicate(jget(d, "stop_reason"), 1));
        cJSON_ReplaceItemInObjectCaseSensitive(f->msg, "stop_sequence",
                                               cJSON_Duplicate(jget(d, "stop_sequence"), 1));
        const cJSON *u = jget(e, "usage");
        if (u) cJSON_ReplaceItemInObjectCaseSensitive(f->msg, "usage", cJSON_Duplicate(u, 1));
    }
    cJSON_Delete(e);
    return 0;
}

/* The folded message (caller deletes), or NULL with err set. */
static cJSON *fold_to_json(const char *sse, size_t len, struct xl_usage *usage, struct err *err) {
    struct fold f;
    memset(&f, 0, sizeof f);
    xl_buf_init(&f.acc);
    struct sse_parser p;
    if (sse_parser_init(&p, MAX_EVENT_BYTES) < 0) {
        err_set(err, ERR_NOMEM, "gemini: out of memory");
        return NULL;
    }
    int rc = sse_feed(&p, sse, len, fold_event, &f);
    if (rc == 0) rc = sse_finish(&p, fold_event, &f);
    sse_parser_free(&p);
    cJSON_Delete(f.cur);
    if (rc != 0 || f.bad || !f.msg || !xl_buf_ok(&f.acc)) {
        cJSON_Delete(f.msg);
        xl_buf_free(&f.acc);
        err_set(err, ERR_INTERNAL, "gemini: could not assemble the answer");
        return NULL;
    }
    xl_buf_free(&f.acc);
    if (usage) {
        const cJSON *u = jget(f.msg, "usage");
        const cJSON *v;
        memset(usage, 0, sizeof *usage);
        if (cJSON_IsNumber(v = jget(u, "input_tokens")))
            usage->input_tokens = xl_long(v->valuedouble);
        if (cJSON_IsNumber(v = jget(u, "output_tokens")))
            usage->output_tokens = xl_long(v->valuedouble);
        if (cJSON_IsNumber(v = jget(u, "cache_read_input_tokens")))
            usage->cache_read_input_tokens = xl_long(v->valuedouble);
        if (cJSON_IsNumber(v = jget(u, "cache_creation_input_tokens")))
            usage->cache_creation_input_tokens = xl_long(v->valuedouble);
    }
    return f.msg;
}

static int print_to(struct evbuffer *out, const cJSON *msg, struct err *err) {
    struct xl_buf b;
    xl_buf_init(&b);
    print_node(&b, msg, 0);
    int rc = xl_buf_ok(&b) ? evbuffer_add(out, b.p, b.len) : -1;
    xl_buf_free(&b);
    return rc < 0 ? err_set(err, ERR_NOMEM, "gemini: out of memory") : 0;
}

int gemini_fold_sse(const char *sse, size_t len, struct evbuffer *out, struct xl_usage *usage,
                    struct err *err) {
    cJSON *msg = fold_to_json(sse, len, usage, err);
    if (!msg) return -1;
    int rc = print_to(out, msg, err);
    cJSON_Delete(msg);
    return rc;
}

/* A whole answer lists search blocks before the text (§2.2 order: thinking, server tool blocks,
 * text, tool_use); a stream can only emit them at the end, when grounding arrives. */
static void search_blocks_first(cJSON *msg) {
    /* rebuilt by detaching and appending (this cJSON's InsertItemInArray refuses to insert) */
    cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!cJSON_IsArray(content)) return;
    cJSON *lead = NULL, *search = NULL, *rest = NULL; /* three chains, in order */
    cJSON **tails[3] = {&lead, &search, &rest};
    bool leading = true;
    cJSON *b;
    while ((b = cJSON_DetachItemFromArray(content, 0)) != NULL) {
        const char *t = jstr(b, "type");
        bool think = streq(t, "thinking") || streq(t, "redacted_thinking");
        int k = leading && think                                                      ? 0
                : (streq(t, "server_tool_use") || streq(t, "web_search_tool_result")) ? 1
                                                                                      : 2;
        if (!think) leading = false;
        cJSON **tail = tails[k];
        while (*tail)
            tail = &(*tail)->next;
        *tail = b;
    }
    for (int k = 0; k < 3; k++) {
        cJSON *x = k == 0 ? lead : k == 1 ? search : rest;
        while (x) {
            cJSON *next = x->next;
            x->next = NULL;
            cJSON_AddItemToArray(content, x);
            x = next;
        }
    }
}

static int gemini_response(const struct xl_request *in, const char *buf, size_t len,
                           struct evbuffer *out, struct xl_usage *usage, struct err *err) {
    struct xl_stream *st = gemini_stream_new(in, err);
    if (!st) return -1;
    struct evbuffer *sse = evbuffer_new();
    int rc = -1;
    if (!sse) {
        err_set(err, ERR_NOMEM, "gemini: out of memory");
        goto done;
    }
    st->out = sse;
    st->err = err;
    /* the body is one GenerateContentResponse (or a one-element array of them) */
    if (step_event(st, buf, len) < 0) goto done;
    if (st->state != ST_DONE) {
        if (st->state == ST_WAIT && !st->finish[0] && st->ncalls == 0) {
            /* no candidate, no finish: nothing to answer with */
            err_set(err, ERR_UPSTREAM, "Gemini (%s) returned no candidates", st->model);
            goto done;
        }
        if (finalize(st) < 0) goto done;
    }
    size_t n = evbuffer_get_length(sse);
    const char *p = (const char *)evbuffer_pullup(sse, -1);
    cJSON *msg = fold_to_json(p ? p : "", n, usage, err);
    if (!msg) goto done;
    search_blocks_first(msg);
    rc = print_to(out, msg, err);
    cJSON_Delete(msg);
done:
    if (sse) evbuffer_free(sse);
    gemini_stream_free(st);
    return rc;
}

const struct provider_ops provider_gemini = {
    .format = FMT_GEMINI,
    .build = gemini_build,
    .stream_new = gemini_stream_new,
    .stream_feed = gemini_stream_feed,
    .stream_end = gemini_stream_end,
    .stream_usage = gemini_stream_usage,
    .stream_free = gemini_stream_free,
    .response = gemini_response,
};
