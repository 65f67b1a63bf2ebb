/* openai: Anthropic Messages <-> OpenAI-compatible Chat Completions.
 *
 *   build     §1: normalise (normalize.h), then write the upstream body with the JSON writer,
 *             keys in a fixed order (deterministic bytes).
 *   response  §2: a whole chat.completion -> an Anthropic message.
 *   stream    §3: upstream SSE -> Anthropic SSE, one state machine (enum oa_state) driven by one
 *             step function per input event (chunk, [DONE], error event, end of body).
 *
 * Knobs come from options.h (model_options, then options), then the provider's Claude Code Router
 * `transformer` entries, then the profile defaults (§1.11, errata). All resolved once per call
 * into a `struct oa_cfg`. */
#include "providers/openai.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/gemini_schema.h"
#include "providers/normalize.h"
#include "providers/options.h"
#include "providers/util.h"
#include "sse.h"

/* ========================================================================================== */
/* Profiles and knobs */

enum oa_profile {
    P_GENERIC = 0,
    P_OPENROUTER,
    P_DEEPSEEK,
    P_GROQ,
    P_XAI,
    P_OLLAMA,
    P_VLLM,
    P_OPENAI
};
static const char *const PROFILE_NAMES[] = {"generic", "openrouter", "deepseek", "groq",
                                            "xai",     "ollama",     "vllm",     "openai"};

enum oa_rstyle { RS_NONE = 0, RS_OPENROUTER, RS_OPENAI, RS_DEEPSEEK, RS_GROQ };
enum oa_inline { IS_KEEP = 0, IS_HOIST, IS_AS_USER };
enum oa_rc_rt { RC_ALL = 0, RC_TOOL_TURNS, RC_NEVER };

struct oa_cfg {
    enum oa_profile profile;
    enum oa_rstyle rstyle;
    enum oa_inline inline_system;
    long max_tokens_cap; /* <= 0: no cap */
    bool max_completion_tokens;
    bool supports_top_k;
    bool stream_options;
    bool keep_cache_control;
    bool vision;
    bool supports_pdf, supports_pdf_url;
    bool image_url_placeholder;
    bool parallel_param;
    bool flatten_user_content;
    bool system_as_string_only;
    const char *assistant_empty_content; /* "null" | "omit" | "" */
    const char *empty_tool_result_text;
    bool reasoning_off_omit;
    const cJSON *efforts; /* array of allowed effort names, or NULL */
    enum oa_rc_rt reasoning_content_roundtrip;
    bool reasoning_details_roundtrip;
    bool reasoning_details_same_model_only;
    bool supports_json_schema;
    bool forward_user;
    bool updates_show_reasoning;
    bool invalid_args_error;
    bool supports_prefill;
    bool textualize;
    bool tool_live;     /* tool_stream=live (§3.6.1), else buffered */
    bool think_tags;    /* a leading <think>...</think> in content is reasoning (§2.2, §3.4) */
    bool schema_gemini; /* schema_profile=gemini: the Gemini cleaner (§1.4) for strict fronts */
    const cJSON *extra_headers, *extra_body, *or_provider, *or_models, *or_plugins;
    const char *http_referer, *x_title;
};

/* ---- Claude Code Router transformers */

static const char *const KNOWN_TRANSFORMERS[] = {
    "anthropic",     "openai",        "gemini",
    "vertex-gemini", "vertex-claude", "openrouter",
    "deepseek",      "groq",          "maxtoken",
    "cleancache",    "reasoning",     "enhancetool",
    "tooluse",       "sampling",      "maxcompletiontokens",
    "streamoptions", "customparams",  "forcereasoning",
    "cerebras",      "qwen-cli",      "rovo-cli",
    "chutes-glm",    "vercel",        NULL};

static bool transformer_known(const char *n) {
    for (size_t i = 0; KNOWN_TRANSFORMERS[i]; i++)
        if (strcasecmp(n, KNOWN_TRANSFORMERS[i]) == 0) return true;
    return false;
}

static const cJSON *child_ci(const cJSON *o, const char *k) {
    const cJSON *c;
    if (!cJSON_IsObject(o) || !k) return NULL;
    cJSON_ArrayForEach(c, o) if (c->string && strcasecmp(c->string, k) == 0) return c;
    return NULL;
}

static int check_use(const cJSON *use, const char *where, struct err *err) {
    if (!cJSON_IsArray(use))
        return err_set(err, ERR_CONFIG, "%s: \"use\" must be a list of transformer names", where);
    const cJSON *u;
    cJSON_ArrayForEach(u, use) {
        const cJSON *name = u;
        if (cJSON_IsArray(u)) {
            name = cJSON_GetArrayItem(u, 0);
            const cJSON *opt = cJSON_GetArrayItem(u, 1);
            if (opt && !cJSON_IsObject(opt))
                return err_set(err, ERR_CONFIG,
                               "%s: the options of a transformer must be an object, as in "
                               "[\"maxtoken\", {\"max_tokens\": 16384}]",
                               where);
        }
        if (!cJSON_IsString(name))
            return err_set(err, ERR_CONFIG,
                           "%s: a transformer entry must be a name or [name, {options}]", where);
        if (!transformer_known(name->valuestring))
            return err_set(err, ERR_CONFIG,
                           "%s: unknown transformer \"%s\"; known: openrouter, deepseek, groq, "
                           "maxtoken, cleancache, reasoning, enhancetool, tooluse, sampling, "
                           "maxcompletiontokens, streamoptions, customparams, Anthropic, gemini",
                           where, name->valuestring);
    }
    return 0;
}

int openai_check_transformers(const struct cfg_provider *p, struct err *err) {
    if (!p || !p->json) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p->json, "transformer");
    if (!t) return 0;
    char where[200];
    if (!cJSON_IsObject(t))
        return err_set(err, ERR_CONFIG,
                       "provider %s: \"transformer\" must be an object like "
                       "{\"use\": [\"openrouter\"]}",
                       p->name ? p->name : "?");
    const cJSON *c;
    cJSON_ArrayForEach(c, t) {
        if (!c->string) continue;
        if (strcmp(c->string, "use") == 0) {
            snprintf(where, sizeof where, "provider %s transformer", p->name ? p->name : "?");
            if (check_use(c, where, err) < 0) return -1;
        } else {
            snprintf(where, sizeof where, "provider %s transformer for model %s",
                     p->name ? p->name : "?", c->string);
            if (!cJSON_IsObject(c))
                return err_set(err, ERR_CONFIG, "%s: must be an object {\"use\": [...]}", where);
            const cJSON *use = cJSON_GetObjectItemCaseSensitive(c, "use");
            if (use && check_use(use, where, err) < 0) return -1;
        }
    }
    return 0;
}

/* Find transformer `name` for the model (model-level list first, then provider-level). Returns
 * true when present; *opts gets its options object (or NULL). */
static bool transformer(const struct cfg_provider *p, const char *model, const char *name,
                        const cJSON **opts) {
    if (opts) *opts = NULL;
    const cJSON *t = p && p->json ? cJSON_GetObjectItemCaseSensitive(p->json, "transformer") : NULL;
    if (!cJSON_IsObject(t)) return false;
    const cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(child_ci(t, model), "use"),
                             cJSON_GetObjectItemCaseSensitive(t, "use")};
    for (int i = 0; i < 2; i++) {
        const cJSON *u, *arr = lists[i];
        if (!cJSON_IsArray(arr)) continue;
        cJSON_ArrayForEach(u, arr) {
            const cJSON *n = cJSON_IsArray(u) ? cJSON_GetArrayItem(u, 0) : u;
            if (cJSON_IsString(n) && strcasecmp(n->valuestring, name) == 0) {
                if (opts && cJSON_IsArray(u)) {
                    const cJSON *o = cJSON_GetArrayItem(u, 1);
                    *opts = cJSON_IsObject(o) ? o : NULL;
                }
                return true;
            }
        }
    }
    return false;
}

static enum oa_profile profile_of(const struct cfg_provider *p, const char *model) {
    const char *k = xl_opt_str(p, model, "profile", NULL);
    if (k)
        for (int i = 0; i < (int)(sizeof PROFILE_NAMES / sizeof *PROFILE_NAMES); i++)
            if (strcasecmp(k, PROFILE_NAMES[i]) == 0) return (enum oa_profile)i;
    if (transformer(p, model, "openrouter", NULL)) return P_OPENROUTER;
    if (transformer(p, model, "deepseek", NULL)) return P_DEEPSEEK;
    if (transformer(p, model, "groq", NULL)) return P_GROQ;
    char host[256];
    xl_url_host(p ? p->url : NULL, host, sizeof host);
    const char *name = p && p->name ? p->name : "";
    const char *url = p && p->url ? p->url : "";
    if (strcasestr(host, "openrouter") || strcasestr(name, "openrouter")) return P_OPENROUTER;
    if (strcasestr(host, "deepseek") || strcasestr(name, "deepseek")) return P_DEEPSEEK;
    if (strcasestr(host, "groq") || strcasestr(name, "groq")) return P_GROQ;
    if (strcmp(host, "api.x.ai") == 0 || strcasecmp(name, "xai") == 0 ||
        strcasecmp(name, "x-ai") == 0 || strcasecmp(name, "grok") == 0)
        return P_XAI;
    if (strcasestr(name, "ollama") || strstr(url, ":11434")) return P_OLLAMA;
    if (strcasestr(name, "vllm") || strcasestr(name, "llama.cpp") || strcasestr(name, "llamacpp") ||
        strcasestr(name, "lmstudio") || strcasestr(name, "lm-studio") ||
        strcasestr(name, "sglang") || strstr(url, ":1234/") || strstr(url, ":8000/") ||
        strstr(url, ":8080/"))
        return P_VLLM;
    if (strcmp(host, "api.openai.com") == 0 || strcasecmp(name, "openai") == 0) return P_OPENAI;
    return P_GENERIC;
}

const char *openai_profile_name(const struct cfg_provider *p, const char *model) {
    return PROFILE_NAMES[profile_of(p, model)];
}

static bool opt_bool(const struct cfg_provider *p, const char *m, const char *k, bool d) {
    return xl_opt_bool(p, m, k, d);
}

static bool starts(const char *s, const char *pre) {
    return s && strncasecmp(s, pre, strlen(pre)) == 0;
}

static void cfg_resolve(const struct cfg_provider *p, const char *model, struct oa_cfg *c) {
    memset(c, 0, sizeof *c);
    enum oa_profile pr = profile_of(p, model);
    c->profile = pr;
    /* reasoning style */
    static const enum oa_rstyle RS_DEFAULT[] = {
        [P_GENERIC] = RS_NONE,      [P_OPENROUTER] = RS_OPENROUTER,
        [P_DEEPSEEK] = RS_DEEPSEEK, [P_GROQ] = RS_GROQ,
        [P_XAI] = RS_OPENAI,        [P_OLLAMA] = RS_NONE,
        [P_VLLM] = RS_OPENAI,       [P_OPENAI] = RS_OPENAI};
    c->rstyle = RS_DEFAULT[pr];
    const char *rs = xl_opt_str(p, model, "reasoning_style", NULL);
    if (rs) {
        if (strcasecmp(rs, "openrouter") == 0)
            c->rstyle = RS_OPENROUTER;
        else if (strcasecmp(rs, "openai") == 0)
            c->rstyle = RS_OPENAI;
        else if (strcasecmp(rs, "deepseek") == 0)
            c->rstyle = RS_DEEPSEEK;
        else if (strcasecmp(rs, "groq") == 0)
            c->rstyle = RS_GROQ;
        else if (strcasecmp(rs, "none") == 0)
            c->rstyle = RS_NONE;
    }
    /* inline_system (errata O4) */
    c->inline_system = (pr == P_VLLM || pr == P_OLLAMA) ? IS_AS_USER : IS_KEEP;
    const char *is = xl_opt_str(p, model, "inline_system", NULL);
    if (is) {
        if (strcasecmp(is, "keep") == 0)
            c->inline_system = IS_KEEP;
        else if (strcasecmp(is, "hoist") == 0)
            c->inline_system = IS_HOIST;
        else if (strcasecmp(is, "as_user") == 0)
            c->inline_system = IS_AS_USER;
    }
    /* max tokens cap: knob max_tokens (alias model_max_output), maxtoken transformer, profile */
    long cap = 32000;
    if (pr == P_DEEPSEEK) cap = (model && strcasestr(model, "chat")) ? 8192 : 65536;
    const cJSON *to;
    if (transformer(p, model, "maxtoken", &to)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(to, "max_tokens");
        if (cJSON_IsNumber(v)) cap = xl_long(v->valuedouble);
    }
    cap = xl_opt_long(p, model, "model_max_output", cap);
    c->max_tokens_cap = xl_opt_long(p, model, "max_tokens", cap);
    c->max_completion_tokens =
        pr == P_GROQ || pr == P_OPENAI || transformer(p, model, "maxcompletiontokens", NULL);
    const char *mtf = xl_opt_str(p, model, "max_tokens_field", NULL);
    if (mtf) c->max_completion_tokens = strcmp(mtf, "max_completion_tokens") == 0;
    c->max_completion_tokens =
        opt_bool(p, model, "max_completion_tokens", c->max_completion_tokens);
    c->supports_top_k = opt_bool(p, model, "supports_top_k",
                                 pr == P_OPENROUTER || pr == P_OLLAMA || pr == P_VLLM ||
                                     transformer(p, model, "sampling", NULL));
    c->stream_options = opt_bool(p, model, "stream_options", true);
    c->keep_cache_control = opt_bool(
        p, model, "keep_cache_control",
        pr == P_OPENROUTER && (starts(model, "anthropic/") || starts(model, "google/gemini")) &&
            !transformer(p, model, "cleancache", NULL));
    c->vision = opt_bool(p, model, "vision", pr != P_DEEPSEEK);
    c->supports_pdf = opt_bool(p, model, "supports_pdf", pr == P_OPENROUTER || pr == P_OPENAI);
    c->supports_pdf_url = opt_bool(p, model, "supports_pdf_url", pr == P_OPENROUTER);
    const char *ium =
        xl_opt_str(p, model, "image_url_mode", pr == P_OLLAMA ? "placeholder" : "pass");
    c->image_url_placeholder = strcmp(ium, "placeholder") == 0;
    c->parallel_param =
        opt_bool(p, model, "supports_parallel_tool_calls_param",
                 pr == P_OPENROUTER || pr == P_OPENAI || pr == P_GROQ || pr == P_XAI);
    c->flatten_user_content = opt_bool(p, model, "flatten_user_content", pr == P_DEEPSEEK);
    c->system_as_string_only = opt_bool(p, model, "system_as_string_only", false);
    c->assistant_empty_content = xl_opt_str(p, model, "assistant_empty_content", "null");
    c->empty_tool_result_text = xl_opt_str(p, model, "empty_tool_result_text", "(no output)");
    const char *ro = xl_opt_str(p, model, "reasoning_off", "explicit");
    c->reasoning_off_omit = strcmp(ro, "omit") == 0;
    const cJSON *ef = xl_opt(p, model, "efforts");
    c->efforts = cJSON_IsArray(ef) ? ef : NULL;
    const char *rcr = xl_opt_str(p, model, "reasoning_content_roundtrip", "all");
    c->reasoning_content_roundtrip = strcmp(rcr, "tool_turns") == 0 ? RC_TOOL_TURNS
                                     : strcmp(rcr, "never") == 0    ? RC_NEVER
                                                                    : RC_ALL;
    c->reasoning_details_roundtrip = opt_bool(p, model, "reasoning_details_roundtrip", true);
    c->reasoning_details_same_model_only =
        opt_bool(p, model, "reasoning_details_same_model_only", true);
    c->supports_json_schema = opt_bool(p, model, "supports_json_schema", pr != P_DEEPSEEK);
    c->forward_user = opt_bool(p, model, "forward_user", false);
    c->updates_show_reasoning = opt_bool(p, model, "updates_show_reasoning", false);
    const char *ita = xl_opt_str(p, model, "invalid_tool_args", "wrap");
    c->invalid_args_error = strcmp(ita, "error") == 0;
    c->supports_prefill = opt_bool(p, model, "supports_prefill", false);
    c->textualize = opt_bool(p, model, "textualize_orphan_tool_history", true);
    c->tool_live = strcmp(xl_opt_str(p, model, "tool_stream", "buffered"), "live") == 0;
    c->think_tags = opt_bool(p, model, "think_tags", false);
    const char *sp = xl_opt_str(p, model, "schema_profile", NULL);
    c->schema_gemini = sp && strcasecmp(sp, "gemini") == 0;
    const cJSON *v = xl_opt(p, model, "extra_headers");
    c->extra_headers = cJSON_IsObject(v) ? v : NULL;
    v = xl_opt(p, model, "extra_body");
    c->extra_body = cJSON_IsObject(v) ? v : NULL;
    if (!c->extra_body && transformer(p, model, "customparams", &to) && to) c->extra_body = to;
    if (pr == P_OPENROUTER) {
        v = xl_opt(p, model, "provider");
        if (!v && transformer(p, model, "openrouter", &to))
            v = cJSON_GetObjectItemCaseSensitive(to, "provider");
        c->or_provider = cJSON_IsObject(v) ? v : NULL;
        v = xl_opt(p, model, "models");
        c->or_models = cJSON_IsArray(v) ? v : NULL;
        v = xl_opt(p, model, "plugins");
        c->or_plugins = cJSON_IsArray(v) ? v : NULL;
        c->http_referer = xl_opt_str(p, model, "http_referer", NULL);
        c->x_title = xl_opt_str(p, model, "x_title", "ccrelay");
    }
}

/* ========================================================================================== */
/* Effort mapping (§1.6, errata O12) */

static const char *const EFFORT_ORDER[] = {"none", "minimal", "low", "medium",
                                           "high", "xhigh",   "max"};
#define N_EFFORTS 7

static int effort_rank(const char *e) {
    for (int i = 0; i < N_EFFORTS; i++)
        if (e && strcmp(e, EFFORT_ORDER[i]) == 0) return i;
    return -1;
}

static bool effort_listed(const cJSON *list, const char *e) {
    const cJSON *x;
    cJSON_ArrayForEach(x,
                       list) if (cJSON_IsString(x) && strcmp(x->valuestring, e) == 0) return true;
    return false;
}

/* The effort to send for `e`: the same name when the target lists it, else the nearest listed
 * below. Without a list: low/medium/high as is, above high -> `top` (e.g. "high"). */
static const char *effort_map(const cJSON *list, const char *e, const char *top) {
    int r = effort_rank(e);
    if (r < 0) r = 4; /* unknown -> high */
    if (list) {
        for (int i = r; i >= 0; i--)
            if (effort_listed(list, EFFORT_ORDER[i])) return EFFORT_ORDER[i];
        for (int i = r + 1; i < N_EFFORTS; i++)
            if (effort_listed(list, EFFORT_ORDER[i])) return EFFORT_ORDER[i];
        return NULL;
    }
    if (r >= 5) return top;
    if (r < 2) return "low";
    return EFFORT_ORDER[r];
}

static const char *budget_bucket(long b, const cJSON *list) {
    if (b <= 1024) return effort_map(list, "low", "high");
    if (b <= 8192) return effort_map(list, "medium", "high");
    if (b <= 32768) return effort_map(list, "high", "high");
    return effort_map(list, "xhigh", "high");
}

/* ========================================================================================== */
/* Request */

struct bctx {
    const struct xl_request *in;
    const struct oa_cfg *cfg;
    struct xn_conv *conv;
    struct xl_jw *w;
    struct xl_namemap names;
    const char *model;
    /* cache_control markers (§1.10): total candidates and how many written so far */
    size_t cache_total, cache_seen;
    const char *json_instruction; /* §1.8 fallback line, or NULL */
    struct xl_buf tmp;
    struct err *err;
};

static bool write_cache_marker(struct bctx *b, bool cache, const cJSON *cc) {
    if (!b->cfg->keep_cache_control || !cache) return false;
    size_t i = b->cache_seen++;
    if (b->cache_total > 4 && i < b->cache_total - 4) return false;
    xl_jw_key(b->w, "cache_control");
    xl_jw_obj(b->w);
    xl_jw_kstr(b->w, "type", "ephemeral");
    const char *ttl = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(cc, "ttl"))
                          ? cJSON_GetObjectItemCaseSensitive(cc, "ttl")->valuestring
                          : NULL;
    if (ttl && (strcmp(ttl, "5m") == 0 || strcmp(ttl, "1h") == 0)) xl_jw_kstr(b->w, "ttl", ttl);
    xl_jw_obj_end(b->w);
    return true;
}

static void count_cache(struct bctx *b) {
    if (!b->cfg->keep_cache_control) return;
    for (size_t i = 0; i < b->conv->nsys; i++)
        b->cache_total += b->conv->sys[i].cache;
    for (size_t i = 0; i < b->conv->nmsgs; i++) {
        const struct xn_msg *m = &b->conv->msgs[i];
        if (m->role != XN_USER) continue;
        for (size_t k = m->nresults; k < m->nblocks; k++)
            b->cache_total += m->blocks[k].kind == XN_TEXT && m->blocks[k].cache;
    }
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void text_part(struct xl_jw *w, const char *s, size_t n) {
    xl_jw_obj(w);
    xl_jw_kstr(w, "type", "text");
    xl_jw_key(w, "text");
    xl_jw_strn(w, s, n);
    xl_jw_obj_end(w);
}

static void placeholder(struct bctx *b, const char *fmt, const char *arg) {
    char t[300];
    snprintf(t, sizeof t, fmt, arg ? arg : "");
    text_part(b->w, t, strlen(t));
}

/* An image or document block as Chat Completions content parts. */
static void media_part(struct bctx *b, const struct xn_block *blk) {
    struct xl_jw *w = b->w;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk->src, "source");
    const char *st = jstr(src, "type");
    if (blk->kind == XN_IMAGE) {
        if (!b->cfg->vision) {
            placeholder(b, "[image omitted: model has no image input]", NULL);
            return;
        }
        if (st && strcmp(st, "base64") == 0) {
            const char *mt = jstr(src, "media_type"), *data = jstr(src, "data");
            xl_buf_reset(&b->tmp);
            xl_buf_printf(&b->tmp, "data:%s;base64,", mt ? mt : "image/png");
            xl_jw_obj(w);
            xl_jw_kstr(w, "type", "image_url");
            xl_jw_key(w, "image_url");
            xl_jw_obj(w);
            xl_jw_key(w, "url");
            /* prefix + data, escaped in one string */
            xl_jw_raw(w, "", 0);
            xl_buf_addc(w->b, '"');
            xl_json_escape(w->b, b->tmp.p, b->tmp.len);
            if (data) xl_json_escape(w->b, data, strlen(data));
            xl_buf_addc(w->b, '"');
            xl_jw_obj_end(w);
            xl_jw_obj_end(w);
        } else if (st && strcmp(st, "url") == 0 && !b->cfg->image_url_placeholder) {
            xl_jw_obj(w);
            xl_jw_kstr(w, "type", "image_url");
            xl_jw_key(w, "image_url");
            xl_jw_obj(w);
            xl_jw_kstr(w, "url", jstr(src, "url") ? jstr(src, "url") : "");
            xl_jw_obj_end(w);
            xl_jw_obj_end(w);
        } else if (st && strcmp(st, "url") == 0) {
            placeholder(b, "[image at %s omitted: this model cannot fetch image URLs]",
                        jstr(src, "url"));
        } else if (st && strcmp(st, "file") == 0) {
            placeholder(b, "[image file %s omitted]", jstr(src, "file_id"));
        } else {
            placeholder(b, "[image omitted]", NULL);
        }
        return;
    }
    /* document */
    const char *title = jstr(blk->src, "title");
    if (st && strcmp(st, "text") == 0) {
        const char *data = jstr(src, "data");
        xl_buf_reset(&b->tmp);
        if (title) xl_buf_printf(&b->tmp, "%s\n", title);
        if (data) xl_buf_adds(&b->tmp, data);
        text_part(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    } else if (st && strcmp(st, "content") == 0) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(src, "content");
        if (cJSON_IsString(c)) {
            text_part(w, c->valuestring, strlen(c->valuestring));
        } else {
            const cJSON *x;
            cJSON_ArrayForEach(x, c) {
                const char *t = jstr(x, "type");
                if (t && strcmp(t, "text") == 0 && jstr(x, "text"))
                    text_part(w, jstr(x, "text"), strlen(jstr(x, "text")));
                else if (t && strcmp(t, "image") == 0) {
                    struct xn_block ib = {.kind = XN_IMAGE, .src = x};
                    media_part(b, &ib);
                }
            }
        }
    } else if (st && strcmp(st, "base64") == 0 && b->cfg->supports_pdf) {
        const char *mt = jstr(src, "media_type"), *data = jstr(src, "data");
        xl_jw_obj(w);
        xl_jw_kstr(w, "type", "file");
        xl_jw_key(w, "file");
        xl_jw_obj(w);
        xl_jw_kstr(w, "filename", title ? title : "document.pdf");
        xl_jw_key(w, "file_data");
        xl_jw_raw(w, "", 0);
        xl_buf_addc(w->b, '"');
        xl_buf_printf(w->b, "data:%s;base64,", mt ? mt : "application/pdf");
        if (data) xl_json_escape(w->b, data, strlen(data));
        xl_buf_addc(w->b, '"');
        xl_jw_obj_end(w);
        xl_jw_obj_end(w);
    } else if (st && strcmp(st, "url") == 0 && b->cfg->supports_pdf_url) {
        xl_jw_obj(w);
        xl_jw_kstr(w, "type", "file");
        xl_jw_key(w, "file");
        xl_jw_obj(w);
        xl_jw_kstr(w, "filename", title ? title : "document.pdf");
        xl_jw_kstr(w, "file_data", jstr(src, "url") ? jstr(src, "url") : "");
        xl_jw_obj_end(w);
        xl_jw_obj_end(w);
    } else {
        placeholder(b, "[document %s omitted: this model cannot read it]", title ? title : "");
    }
}

/* ---- the pending user message: parts gathered from user blocks, reminders (as_user) and tool
 * media, written as one user message when a non-user message comes or at the end. */
enum pend_kind { PK_BLOCK, PK_REMINDER, PK_LABEL };
struct pend {
    enum pend_kind kind;
    const struct xn_block *blk; /* PK_BLOCK */
    const struct xn_msg *sys;   /* PK_REMINDER */
    const char *label_id;       /* PK_LABEL: tool call id */
};
struct pendlist {
    struct pend *v;
    size_t n, cap;
};

static int pend_add(struct pendlist *l, struct pend p) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct pend *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = p;
    return 0;
}

static void sys_text_joined(struct xl_buf *o, const struct xn_msg *m, const char *sep) {
    for (size_t i = 0; i < m->nblocks; i++) {
        if (m->blocks[i].kind != XN_TEXT) continue;
        if (i) xl_buf_adds(o, sep);
        xl_buf_add(o, m->blocks[i].text, m->blocks[i].len);
    }
}

static void flush_user(struct bctx *b, struct pendlist *l) {
    if (!l->n) return;
    struct xl_jw *w = b->w;
    bool all_text = true;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == PK_BLOCK && l->v[i].blk->kind != XN_TEXT) all_text = false;
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", "user");
    xl_jw_key(w, "content");
    if (all_text && b->cfg->flatten_user_content && !b->cfg->keep_cache_control) {
        xl_buf_reset(&b->tmp);
        for (size_t i = 0; i < l->n; i++) {
            if (i) xl_buf_addc(&b->tmp, '\n');
            if (l->v[i].kind == PK_BLOCK)
                xl_buf_add(&b->tmp, l->v[i].blk->text, l->v[i].blk->len);
            else if (l->v[i].kind == PK_REMINDER) {
                xl_buf_adds(&b->tmp, "<system-reminder>\n");
                sys_text_joined(&b->tmp, l->v[i].sys, "\n\n");
                xl_buf_adds(&b->tmp, "\n</system-reminder>");
            }
        }
        xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    } else {
        xl_jw_arr(w);
        for (size_t i = 0; i < l->n; i++) {
            const struct pend *p = &l->v[i];
            if (p->kind == PK_LABEL) {
                char t[120];
                snprintf(t, sizeof t, "Images returned by tool call %s:", p->label_id);
                text_part(w, t, strlen(t));
            } else if (p->kind == PK_REMINDER) {
                xl_buf_reset(&b->tmp);
                xl_buf_adds(&b->tmp, "<system-reminder>\n");
                sys_text_joined(&b->tmp, p->sys, "\n\n");
                xl_buf_adds(&b->tmp, "\n</system-reminder>");
                text_part(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
            } else if (p->blk->kind == XN_TEXT) {
                xl_jw_obj(w);
                xl_jw_kstr(w, "type", "text");
                xl_jw_key(w, "text");
                xl_jw_strn(w, p->blk->text, p->blk->len);
                write_cache_marker(b, p->blk->cache, p->blk->cache_control);
                xl_jw_obj_end(w);
            } else {
                media_part(b, p->blk);
            }
        }
        xl_jw_arr_end(w);
    }
    xl_jw_obj_end(w);
    l->n = 0;
}

static void write_system_msg(struct bctx *b, const struct xn_msg *m) {
    struct xl_jw *w = b->w;
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", "system");
    xl_jw_key(w, "content");
    xl_buf_reset(&b->tmp);
    sys_text_joined(&b->tmp, m, "\n\n");
    xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    xl_jw_obj_end(w);
}

/* The leading system message: N1 blocks, hoisted system messages (inline_system=hoist), the
 * structured-output instruction (§1.8 fallback). */
static void write_leading_system(struct bctx *b) {
    struct xl_jw *w = b->w;
    const struct xn_conv *cv = b->conv;
    bool hoist = b->cfg->inline_system == IS_HOIST;
    size_t nh = 0;
    for (size_t i = 0; hoist && i < cv->nmsgs; i++)
        nh += cv->msgs[i].role == XN_SYSTEM && !cv->msgs[i].trailing;
    if (!cv->nsys && !nh && !b->json_instruction) return;
    bool as_array = b->cfg->keep_cache_control && !b->cfg->system_as_string_only && b->cache_total;
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", "system");
    xl_jw_key(w, "content");
    if (as_array) {
        xl_jw_arr(w);
        for (size_t i = 0; i < cv->nsys; i++) {
            xl_jw_obj(w);
            xl_jw_kstr(w, "type", "text");
            xl_jw_key(w, "text");
            xl_jw_strn(w, cv->sys[i].text, cv->sys[i].len);
            write_cache_marker(b, cv->sys[i].cache, cv->sys[i].cache_control);
            xl_jw_obj_end(w);
        }
        for (size_t i = 0; hoist && i < cv->nmsgs; i++)
            if (cv->msgs[i].role == XN_SYSTEM && !cv->msgs[i].trailing) {
                xl_buf_reset(&b->tmp);
                sys_text_joined(&b->tmp, &cv->msgs[i], "\n\n");
                text_part(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
            }
        if (b->json_instruction) text_part(w, b->json_instruction, strlen(b->json_instruction));
        xl_jw_arr_end(w);
    } else {
        xl_buf_reset(&b->tmp);
        for (size_t i = 0; i < cv->nsys; i++) {
            if (i) xl_buf_adds(&b->tmp, "\n\n");
            xl_buf_add(&b->tmp, cv->sys[i].text, cv->sys[i].len);
            b->cache_seen += cv->sys[i].cache && b->cfg->keep_cache_control;
        }
        for (size_t i = 0; hoist && i < cv->nmsgs; i++)
            if (cv->msgs[i].role == XN_SYSTEM && !cv->msgs[i].trailing) {
                if (b->tmp.len) xl_buf_adds(&b->tmp, "\n\n");
                sys_text_joined(&b->tmp, &cv->msgs[i], "\n\n");
            }
        if (b->json_instruction) {
            if (b->tmp.len) xl_buf_adds(&b->tmp, "\n\n");
            xl_buf_adds(&b->tmp, b->json_instruction);
        }
        xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    }
    xl_jw_obj_end(w);
}

static void write_tool_message(struct bctx *b, const struct xn_block *r, struct pendlist *pend,
                               bool *oom) {
    struct xl_jw *w = b->w;
    xl_buf_reset(&b->tmp);
    if (r->is_error) xl_buf_adds(&b->tmp, "Error: ");
    size_t start = b->tmp.len;
    bool media = false;
    for (size_t i = 0; i < r->nparts; i++) {
        if (r->parts[i].kind != XN_TEXT) {
            media = true;
            continue;
        }
        if (b->tmp.len > start) xl_buf_addc(&b->tmp, '\n');
        xl_buf_add(&b->tmp, r->parts[i].text, r->parts[i].len);
    }
    if (b->tmp.len == start) xl_buf_adds(&b->tmp, b->cfg->empty_tool_result_text);
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", "tool");
    xl_jw_kstr(w, "tool_call_id", r->id);
    xl_jw_key(w, "content");
    xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    xl_jw_obj_end(w);
    if (media) {
        if (pend_add(pend, (struct pend){.kind = PK_LABEL, .label_id = r->id}) < 0) *oom = true;
        for (size_t i = 0; i < r->nparts; i++)
            if (r->parts[i].kind != XN_TEXT &&
                pend_add(pend, (struct pend){.kind = PK_BLOCK, .blk = &r->parts[i]}) < 0)
                *oom = true;
    }
}

/* Text of DeepSeek thinking blocks of an assistant message (carrier profile "deepseek"). */
static void deepseek_reasoning(const struct xn_msg *m, struct xl_buf *o) {
    for (size_t i = 0; i < m->nblocks; i++) {
        const struct xn_block *t = &m->blocks[i];
        if (t->kind != XN_THINKING || t->origin != XN_ORIGIN_CCRELAY || !t->carrier->p ||
            strcmp(t->carrier->p, "deepseek") != 0)
            continue;
        if (t->len) {
            xl_buf_add(o, t->text, t->len);
            continue;
        }
        /* shown without its text (display omitted): the text rode in the carrier */
        const cJSON *e;
        cJSON_ArrayForEach(e, t->carrier->rd) {
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(e, "text");
            if (cJSON_IsString(tx)) xl_buf_adds(o, tx->valuestring);
        }
    }
}

static void write_assistant(struct bctx *b, const struct xn_msg *m, bool *oom) {
    struct xl_jw *w = b->w;
    size_t ncalls = 0, ntext = 0;
    for (size_t i = 0; i < m->nblocks; i++) {
        ncalls += m->blocks[i].kind == XN_TOOL_USE;
        ntext += m->blocks[i].kind == XN_TEXT;
    }
    bool rc = b->cfg->rstyle == RS_DEEPSEEK &&
              (b->cfg->reasoning_content_roundtrip == RC_ALL ||
               (b->cfg->reasoning_content_roundtrip == RC_TOOL_TURNS && ncalls));
    const cJSON *rd = NULL;
    if (b->cfg->rstyle == RS_OPENROUTER && b->cfg->reasoning_details_roundtrip) {
        for (size_t i = 0; i < m->nblocks && !rd; i++) {
            const struct xn_block *t = &m->blocks[i];
            if ((t->kind == XN_THINKING || t->kind == XN_REDACTED) &&
                t->origin == XN_ORIGIN_CCRELAY && t->carrier->rd &&
                (!b->cfg->reasoning_details_same_model_only ||
                 (t->carrier->m && b->model && strcmp(t->carrier->m, b->model) == 0)))
                rd = t->carrier->rd;
        }
    }
    if (!ncalls && !ntext && !rc && !rd) return; /* only thinking: nothing to send */
    xl_jw_obj(w);
    xl_jw_kstr(w, "role", "assistant");
    if (ntext) {
        xl_buf_reset(&b->tmp);
        bool first = true;
        for (size_t i = 0; i < m->nblocks; i++) {
            if (m->blocks[i].kind != XN_TEXT) continue;
            if (!first) xl_buf_addc(&b->tmp, '\n');
            first = false;
            xl_buf_add(&b->tmp, m->blocks[i].text, m->blocks[i].len);
        }
        xl_jw_key(w, "content");
        xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    } else if (!ncalls || strcmp(b->cfg->assistant_empty_content, "") == 0) {
        xl_jw_kstr(w, "content", "");
    } else if (strcmp(b->cfg->assistant_empty_content, "omit") != 0) {
        xl_jw_key(w, "content");
        xl_jw_null(w);
    }
    if (rc) {
        xl_buf_reset(&b->tmp);
        deepseek_reasoning(m, &b->tmp);
        xl_jw_key(w, "reasoning_content");
        xl_jw_strn(w, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    }
    if (rd) {
        xl_jw_key(w, "reasoning_details");
        xl_jw_cjson(w, rd, NULL);
    }
    if (ncalls) {
        xl_jw_key(w, "tool_calls");
        xl_jw_arr(w);
        for (size_t i = 0; i < m->nblocks; i++) {
            const struct xn_block *t = &m->blocks[i];
            if (t->kind != XN_TOOL_USE) continue;
            char nm[65];
            if (xl_namemap_add(&b->names, t->name, XL_NAMES_OPENAI, nm) < 0) *oom = true;
            xl_jw_obj(w);
            xl_jw_kstr(w, "id", t->id);
            xl_jw_kstr(w, "type", "function");
            xl_jw_key(w, "function");
            xl_jw_obj(w);
            xl_jw_kstr(w, "name", nm);
            /* arguments: the input printed compactly, as a JSON string */
            xl_buf_reset(&b->tmp);
            struct xl_jw aw;
            xl_jw_init(&aw, &b->tmp);
            if (t->input && cJSON_GetArraySize(t->input) > 0)
                xl_jw_cjson(&aw, t->input, NULL);
            else
                xl_buf_adds(&b->tmp, "{}");
            xl_jw_key(w, "arguments");
            xl_jw_strn(w, b->tmp.p ? b->tmp.p : "{}", b->tmp.len);
            xl_jw_obj_end(w);
            xl_jw_obj_end(w);
        }
        xl_jw_arr_end(w);
    }
    xl_jw_obj_end(w);
}

static int write_messages(struct bctx *b) {
    struct xl_jw *w = b->w;
    struct pendlist pend = {0};
    bool oom = false;
    xl_jw_key(w, "messages");
    xl_jw_arr(w);
    write_leading_system(b);
    const struct xn_conv *cv = b->conv;
    for (size_t i = 0; i < cv->nmsgs; i++) {
        const struct xn_msg *m = &cv->msgs[i];
        switch (m->role) {
        case XN_SYSTEM: {
            enum oa_inline mode = b->cfg->inline_system;
            if (mode == IS_HOIST && !m->trailing) break; /* in the leading message */
            if (mode == IS_HOIST) mode = IS_AS_USER;     /* R1: never hoist the trailing one */
            if (mode == IS_KEEP) {
                flush_user(b, &pend);
                write_system_msg(b, m);
            } else if (pend_add(&pend, (struct pend){.kind = PK_REMINDER, .sys = m}) < 0) {
                oom = true;
            }
            break;
        }
        case XN_ASSISTANT:
            flush_user(b, &pend);
            write_assistant(b, m, &oom);
            break;
        case XN_USER:
            if (m->nresults) flush_user(b, &pend);
            for (size_t k = 0; k < m->nresults; k++)
                write_tool_message(b, &m->blocks[k], &pend, &oom);
            for (size_t k = m->nresults; k < m->nblocks; k++)
                if (pend_add(&pend, (struct pend){.kind = PK_BLOCK, .blk = &m->blocks[k]}) < 0)
                    oom = true;
            break;
        }
    }
    flush_user(b, &pend);
    xl_jw_arr_end(w);
    free(pend.v);
    if (oom) return err_set(b->err, ERR_NOMEM, "openai: out of memory building messages");
    return 0;
}

/* Tool schema for OpenAI targets (§1.4): root $schema/$id/$comment dropped, type object and
 * properties ensured. */
static void write_schema(struct xl_jw *w, const cJSON *s) {
    static const char *const skip[] = {"$schema", "$id", "$comment", NULL};
    if (!cJSON_IsObject(s)) {
        xl_jw_obj(w);
        xl_jw_kstr(w, "type", "object");
        xl_jw_key(w, "properties");
        xl_jw_obj(w);
        xl_jw_obj_end(w);
        xl_jw_obj_end(w);
        return;
    }
    xl_jw_obj(w);
    if (!cJSON_GetObjectItemCaseSensitive(s, "type")) xl_jw_kstr(w, "type", "object");
    const cJSON *c;
    cJSON_ArrayForEach(c, s) {
        if (!c->string) continue;
        bool sk = false;
        for (size_t i = 0; skip[i] && !sk; i++)
            sk = strcmp(c->string, skip[i]) == 0;
        if (sk) continue;
        xl_jw_key(w, c->string);
        xl_jw_cjson(w, c, NULL);
    }
    if (!cJSON_GetObjectItemCaseSensitive(s, "properties")) {
        xl_jw_key(w, "properties");
        xl_jw_obj(w);
        xl_jw_obj_end(w);
    }
    xl_jw_obj_end(w);
}

static bool extra_has(const struct oa_cfg *c, const char *k) {
    return c->extra_body && cJSON_GetObjectItemCaseSensitive(c->extra_body, k) != NULL;
}

/* Key unless extra_body overrides it (its value is merged last; null deletes). */
static bool K(struct bctx *b, const char *k) {
    if (extra_has(b->cfg, k)) return false;
    xl_jw_key(b->w, k);
    return true;
}

static void write_reasoning(struct bctx *b, long max_tokens) {
    const struct oa_cfg *c = b->cfg;
    const struct xn_thinking *t = &b->conv->thinking;
    struct xl_jw *w = b->w;
    const char *model = b->model ? b->model : "";
    switch (c->rstyle) {
    case RS_NONE:
        break;
    case RS_OPENROUTER:
        if (t->intent == XN_THINK_DEFAULT) break;
        if (t->intent == XN_THINK_OFF) {
            if (c->reasoning_off_omit) break;
            if (!K(b, "reasoning")) break;
            xl_jw_obj(w);
            if (c->efforts && effort_listed(c->efforts, "none"))
                xl_jw_kstr(w, "effort", "none");
            else
                xl_jw_kbool(w, "enabled", false);
            xl_jw_obj_end(w);
            break;
        }
        if (!K(b, "reasoning")) break;
        xl_jw_obj(w);
        if (t->intent == XN_THINK_BUDGET) {
            long bud = t->budget;
            if (max_tokens > 0 && max_tokens <= bud)
                bud = max_tokens / 2 > 1024 ? max_tokens / 2 : 1024;
            xl_jw_kint(w, "max_tokens", bud);
        } else if (t->intent == XN_THINK_EFFORT) {
            const char *e = effort_map(c->efforts, t->effort, "xhigh");
            if (e)
                xl_jw_kstr(w, "effort", e);
            else
                xl_jw_kbool(w, "enabled", true);
        } else {
            xl_jw_kbool(w, "enabled", true);
        }
        xl_jw_obj_end(w);
        break;
    case RS_OPENAI: {
        if (c->profile == P_XAI && !c->efforts) break; /* O7: only models with an efforts list */
        const char *e = NULL;
        if (t->intent == XN_THINK_OFF) {
            if (c->efforts && effort_listed(c->efforts, "none")) e = "none";
            if (c->profile == P_VLLM && K(b, "chat_template_kwargs")) { /* O14: vLLM Qwen3 */
                xl_jw_obj(w);
                xl_jw_kbool(w, "enable_thinking", false);
                xl_jw_obj_end(w);
            }
        } else if (t->intent == XN_THINK_BUDGET)
            e = budget_bucket(t->budget, c->efforts);
        else if (t->intent == XN_THINK_EFFORT)
            e = effort_map(c->efforts, t->effort, "high");
        if (e && K(b, "reasoning_effort")) xl_jw_str(w, e);
        break;
    }
    case RS_DEEPSEEK: /* O2 */
        if (t->intent == XN_THINK_DEFAULT) break;
        if (K(b, "thinking")) {
            xl_jw_obj(w);
            xl_jw_kstr(w, "type", t->intent == XN_THINK_OFF ? "disabled" : "enabled");
            xl_jw_obj_end(w);
        }
        if (t->intent == XN_THINK_EFFORT && K(b, "reasoning_effort"))
            xl_jw_str(w, c->efforts ? effort_map(c->efforts, t->effort, "high") : t->effort);
        else if (t->intent == XN_THINK_BUDGET && K(b, "reasoning_effort"))
            xl_jw_str(w, budget_bucket(t->budget, c->efforts));
        break;
    case RS_GROQ: /* O8 */
        if (strcasestr(model, "gpt-oss")) {
            const cJSON *lmh = NULL;
            const char *e = NULL;
            (void)lmh;
            if (t->intent == XN_THINK_BUDGET)
                e = budget_bucket(t->budget, c->efforts);
            else if (t->intent == XN_THINK_EFFORT)
                e = effort_map(c->efforts, t->effort, "high");
            if (e && effort_rank(e) > 4) e = "high";
            if (e && effort_rank(e) < 2) e = "low";
            if (e && K(b, "reasoning_effort")) xl_jw_str(w, e);
        } else if (strcasestr(model, "qwen3")) {
            if (t->intent == XN_THINK_DEFAULT) break;
            if (K(b, "reasoning_effort"))
                xl_jw_str(w, t->intent == XN_THINK_OFF ? "none" : "default");
            if (t->intent != XN_THINK_OFF && K(b, "reasoning_format")) xl_jw_str(w, "parsed");
        }
        break;
    }
}

static void write_tools(struct bctx *b, bool *oom) {
    struct xl_jw *w = b->w;
    const struct xn_conv *cv = b->conv;
    size_t nfn = 0;
    bool web = false;
    for (size_t i = 0; i < cv->ntools; i++) {
        if (!cv->tools[i].server_type)
            nfn++;
        else if (starts(cv->tools[i].server_type, "web_search"))
            web = true;
    }
    if (nfn && K(b, "tools")) {
        xl_jw_arr(w);
        for (size_t i = 0; i < cv->ntools; i++) {
            const struct xn_tool *t = &cv->tools[i];
            if (t->server_type) continue;
            char nm[65];
            if (xl_namemap_add(&b->names, t->name, XL_NAMES_OPENAI, nm) < 0) *oom = true;
            xl_jw_obj(w);
            xl_jw_kstr(w, "type", "function");
            xl_jw_key(w, "function");
            xl_jw_obj(w);
            xl_jw_kstr(w, "name", nm);
            xl_jw_kstr(w, "description", t->description ? t->description : "");
            int wrote = 0;
            if (b->cfg->schema_gemini && t->schema) {
                /* a cleaned root is an object with properties: write_schema would add nothing */
                struct err ce = {0};
                wrote = gemini_schema_write(w, "parameters", t->schema, GEMINI_SCHEMA_OPENAPI, &ce);
                if (wrote < 0) *oom = true;
            }
            if (wrote == 0) {
                xl_jw_key(w, "parameters");
                /* no parameters left after cleaning: an empty object schema */
                write_schema(w, b->cfg->schema_gemini ? NULL : t->schema);
            }
            xl_jw_obj_end(w);
            xl_jw_obj_end(w);
        }
        xl_jw_arr_end(w);
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(b->in->body, "tool_choice");
    const char *type = jstr(tc, "type");
    if (nfn && type) {
        if (strcmp(type, "auto") == 0) {
            if (K(b, "tool_choice")) xl_jw_str(w, "auto");
        } else if (strcmp(type, "any") == 0) {
            if (K(b, "tool_choice")) xl_jw_str(w, "required");
        } else if (strcmp(type, "none") == 0) {
            if (K(b, "tool_choice")) xl_jw_str(w, "none");
        } else if (strcmp(type, "tool") == 0 && jstr(tc, "name")) {
            char nm[65];
            xl_tool_name_upstream(jstr(tc, "name"), XL_NAMES_OPENAI, nm);
            if (K(b, "tool_choice")) {
                xl_jw_obj(w);
                xl_jw_kstr(w, "type", "function");
                xl_jw_key(w, "function");
                xl_jw_obj(w);
                xl_jw_kstr(w, "name", nm);
                xl_jw_obj_end(w);
                xl_jw_obj_end(w);
            }
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use")) &&
            b->cfg->parallel_param && K(b, "parallel_tool_calls"))
            xl_jw_bool(w, false);
    }
    /* web search: OpenRouter's web plugin (§1.4); other providers: dropped */
    if ((b->cfg->or_plugins || (web && b->cfg->profile == P_OPENROUTER)) && K(b, "plugins")) {
        if (b->cfg->or_plugins) {
            xl_jw_cjson(w, b->cfg->or_plugins, NULL);
        } else {
            xl_jw_arr(w);
            xl_jw_obj(w);
            xl_jw_kstr(w, "id", "web");
            xl_jw_obj_end(w);
            xl_jw_arr_end(w);
        }
    }
}

static void write_response_format(struct bctx *b) {
    const cJSON *body = b->in->body;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(body, "output_config"), "format");
    if (!f) f = cJSON_GetObjectItemCaseSensitive(body, "output_format");
    const char *type = jstr(f, "type");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(f, "schema");
    if (!type || strcmp(type, "json_schema") != 0 || !cJSON_IsObject(schema)) return;
    struct xl_jw *w = b->w;
    if (!K(b, "response_format")) return;
    xl_jw_obj(w);
    if (b->cfg->supports_json_schema) {
        static const char *const skip[] = {"$schema", NULL};
        xl_jw_kstr(w, "type", "json_schema");
        xl_jw_key(w, "json_schema");
        xl_jw_obj(w);
        xl_jw_kstr(w, "name", "output");
        xl_jw_key(w, "schema");
        xl_jw_cjson(w, schema, skip);
        xl_jw_kbool(w, "strict", false);
        xl_jw_obj_end(w);
    } else {
        xl_jw_kstr(w, "type", "json_object");
    }
    xl_jw_obj_end(w);
}

/* §1.8 fallback instruction (no json_schema support): a line in the leading system message. */
static char *json_instruction(const cJSON *body, const struct oa_cfg *c) {
    if (c->supports_json_schema) return NULL;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(body, "output_config"), "format");
    if (!f) f = cJSON_GetObjectItemCaseSensitive(body, "output_format");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(f, "schema");
    if (!cJSON_IsObject(schema)) return NULL;
    struct xl_buf t;
    xl_buf_init(&t);
    xl_buf_adds(&t, "Reply with a single JSON object that conforms to this JSON Schema: ");
    struct xl_jw w;
    xl_jw_init(&w, &t);
    xl_jw_cjson(&w, schema, NULL);
    if (!xl_buf_cstr(&t)) {
        xl_buf_free(&t);
        return NULL;
    }
    return t.p;
}

static int oa_build(const struct xl_request *in, struct xl_http_request *out, struct err *err) {
    if (!in || !in->body || !in->provider)
        return err_set(err, ERR_INTERNAL, "openai: build called without a request or provider");
    const char *model = in->model ? in->model : "";
    struct oa_cfg cfg;
    cfg_resolve(in->provider, model, &cfg);
    struct xn_opts no;
    xn_opts_default(&no);
    no.supports_prefill = cfg.supports_prefill;
    no.textualize_orphan_tool_history = cfg.textualize;
    struct xn_conv conv;
    if (xn_normalize(in->body, &no, &conv, err) < 0) return -1;

    struct xl_buf body;
    xl_buf_init(&body);
    /* a body is about the size of the request: reserve once */
    if (in->raw_len) xl_buf_reserve(&body, in->raw_len + in->raw_len / 8);
    struct xl_jw w;
    xl_jw_init(&w, &body);
    struct bctx b = {.in = in, .cfg = &cfg, .conv = &conv, .w = &w, .model = model, .err = err};
    xl_namemap_init(&b.names);
    xl_buf_init(&b.tmp);
    char *jinstr = json_instruction(in->body, &cfg);
    b.json_instruction = jinstr;
    count_cache(&b);
    bool oom = false;
    int rc = 0;

    const cJSON *A = in->body;
    xl_jw_obj(&w);
    if (K(&b, "model")) xl_jw_str(&w, model);
    if (write_messages(&b) < 0) {
        rc = -1;
        goto done;
    }
    /* max_tokens, clamped (§1.7, R8) */
    long mt = -1;
    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(A, "max_tokens");
    if (cJSON_IsNumber(amt) && amt->valuedouble > 0) mt = xl_long(amt->valuedouble);
    if (cfg.max_tokens_cap > 0 && (mt < 0 || mt > cfg.max_tokens_cap)) mt = cfg.max_tokens_cap;
    if (mt > 0 && K(&b, cfg.max_completion_tokens ? "max_completion_tokens" : "max_tokens"))
        xl_jw_int(&w, mt);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(A, "temperature");
    if (cJSON_IsNumber(v) && K(&b, "temperature")) xl_jw_num(&w, v->valuedouble);
    v = cJSON_GetObjectItemCaseSensitive(A, "top_p");
    if (cJSON_IsNumber(v) && K(&b, "top_p")) xl_jw_num(&w, v->valuedouble);
    v = cJSON_GetObjectItemCaseSensitive(A, "top_k");
    if (cJSON_IsNumber(v) && cfg.supports_top_k && K(&b, "top_k")) xl_jw_num(&w, v->valuedouble);
    v = cJSON_GetObjectItemCaseSensitive(A, "stop_sequences");
    if (cJSON_IsArray(v)) {
        int n = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, v) if (cJSON_IsString(s) && s->valuestring[0] &&
                                     strspn(s->valuestring, " \t\r\n") < strlen(s->valuestring))
            n++;
        if (n && K(&b, "stop")) {
            xl_jw_arr(&w);
            n = 0;
            cJSON_ArrayForEach(s, v) {
                if (!cJSON_IsString(s) ||
                    strspn(s->valuestring, " \t\r\n") == strlen(s->valuestring))
                    continue;
                if (n++ == 4) break;
                xl_jw_str(&w, s->valuestring);
            }
            xl_jw_arr_end(&w);
        }
    }
    bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(A, "stream")); /* R7 */
    if (K(&b, "stream")) xl_jw_bool(&w, stream);
    if (stream && cfg.stream_options && K(&b, "stream_options")) {
        xl_jw_obj(&w);
        xl_jw_kbool(&w, "include_usage", true);
        xl_jw_obj_end(&w);
    }
    write_tools(&b, &oom);
    write_reasoning(&b, mt);
    write_response_format(&b);
    if (cfg.forward_user) {
        const char *uid = jstr(cJSON_GetObjectItemCaseSensitive(A, "metadata"), "user_id");
        if (uid && K(&b, "user")) {
            char h[33];
            xl_sha256_hex(uid, strlen(uid), h, 32);
            xl_jw_str(&w, h);
        }
    }
    if (cfg.or_provider && K(&b, "provider")) xl_jw_cjson(&w, cfg.or_provider, NULL);
    if (cfg.or_models && K(&b, "models")) xl_jw_cjson(&w, cfg.or_models, NULL);
    if (cfg.extra_body) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cfg.extra_body) {
            if (!e->string || cJSON_IsNull(e) || strcmp(e->string, "messages") == 0) continue;
            xl_jw_key(&w, e->string);
            xl_jw_cjson(&w, e, NULL);
        }
    }
    xl_jw_obj_end(&w);
    if (oom || !xl_jw_ok(&w)) {
        rc = err_set(err, w.bad ? ERR_INVALID : ERR_NOMEM,
                     w.bad ? "openai: the request nests too deeply to translate"
                           : "openai: out of memory building the upstream request");
        goto done;
    }

    /* URL, headers, body */
    out->url = strdup(in->provider->url ? in->provider->url : "");
    if (!out->url) goto nomem;
    if (in->api_key && *in->api_key) {
        size_t n = strlen(in->api_key) + 8;
        char *h = malloc(n);
        if (!h) goto nomem;
        snprintf(h, n, "Bearer %s", in->api_key);
        int r = xl_hdrs_add(&out->headers, "authorization", h);
        free(h);
        if (r < 0) goto nomem;
    }
    if (xl_hdrs_add(&out->headers, "content-type", "application/json") < 0 ||
        xl_hdrs_add(&out->headers, "accept", stream ? "text/event-stream" : "application/json") < 0)
        goto nomem;
    if (cfg.http_referer && xl_hdrs_add(&out->headers, "http-referer", cfg.http_referer) < 0)
        goto nomem;
    if (cfg.x_title && xl_hdrs_add(&out->headers, "x-title", cfg.x_title) < 0) goto nomem;
    if (cfg.extra_headers) {
        const cJSON *h;
        cJSON_ArrayForEach(h, cfg.extra_headers) {
            if (!h->string || !cJSON_IsString(h)) continue;
            if (strcasecmp(h->string, "host") == 0 || strcasecmp(h->string, "content-length") == 0)
                continue;
            /* merged last: a configured header replaces a default of the same name */
            if (http_hdrs_set(&out->headers, h->string, h->valuestring) < 0) goto nomem;
        }
    }
    if (!out->body && !(out->body = evbuffer_new())) goto nomem;
    if (xl_buf_move_to(&body, out->body) < 0) goto nomem;
    goto done;
nomem:
    rc = err_set(err, ERR_NOMEM, "openai: out of memory building the upstream request");
done:
    free(jinstr);
    xl_buf_free(&b.tmp);
    xl_namemap_free(&b.names);
    xl_buf_free(&body);
    xn_free(&conv);
    return rc;
}

/* ========================================================================================== */
/* Shared answer helpers */

/* §2.3 */
static const char *map_finish(const char *fr, bool tools, bool refusal, const char *matched,
                              const char *const *stops, size_t nstops, const char **stop_seq) {
    *stop_seq = NULL;
    if (refusal) return "refusal";
    if (!fr) return tools ? "tool_use" : "end_turn";
    if (strcmp(fr, "stop") == 0) {
        if (tools) return "tool_use";
        for (size_t i = 0; matched && i < nstops; i++)
            if (strcmp(stops[i], matched) == 0) {
                *stop_seq = stops[i];
                return "stop_sequence";
            }
        return "end_turn";
    }
    if (strcmp(fr, "length") == 0 || strcmp(fr, "max_tokens") == 0 ||
        strcmp(fr, "model_length") == 0)
        return "max_tokens";
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
        return tools ? "tool_use" : "end_turn";
    if (strcmp(fr, "content_filter") == 0) return "refusal";
    if (strcmp(fr, "end_turn") == 0 || strcmp(fr, "stop_sequence") == 0 ||
        strcmp(fr, "tool_use") == 0 || strcmp(fr, "refusal") == 0)
        return strcmp(fr, "tool_use") == 0 && !tools ? "end_turn" : fr;
    return tools ? "tool_use" : "end_turn";
}

struct oa_usage {
    bool seen;
    long prompt, completion, cached, cache_write, reasoning;
};

static long jlong(const cJSON *o, const char *k, long d) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? xl_long(v->valuedouble) : d;
}

/* usage or x_groq.usage of a chunk / body; false when absent. */
static bool read_usage(const cJSON *j, struct oa_usage *u) {
    const cJSON *us = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (!cJSON_IsObject(us))
        us = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "x_groq"),
                                              "usage");
    if (!cJSON_IsObject(us)) return false;
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(us, "prompt_tokens_details");
    u->seen = true;
    u->prompt = jlong(us, "prompt_tokens", 0);
    u->completion = jlong(us, "completion_tokens", 0);
    u->cached = jlong(pd, "cached_tokens", jlong(us, "prompt_cache_hit_tokens", 0));
    u->cache_write = jlong(pd, "cache_write_tokens", jlong(us, "cache_creation_input_tokens", 0));
    u->reasoning = jlong(cJSON_GetObjectItemCaseSensitive(us, "completion_tokens_details"),
                         "reasoning_tokens", -1);
    return true;
}

/* §2.4 */
static void to_usage(const struct oa_usage *u, long est_in, long est_out, struct xl_usage *o) {
    memset(o, 0, sizeof *o);
    if (!u->seen) {
        o->input_tokens = est_in;
        o->output_tokens = est_out;
        return;
    }
    o->cache_read_input_tokens = u->cached;
    o->cache_creation_input_tokens = u->cache_write;
    long in = u->prompt - u->cached - u->cache_write;
    o->input_tokens = in > 0 ? in : 0;
    o->output_tokens = u->completion;
}

/* The upstream error of a 2xx body or chunk, if any: fills err (ERR_UPSTREAM) and returns true. */
static bool upstream_error(const cJSON *j, const char *data, size_t len,
                           const struct xl_request *in, struct err *err) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *obj = jstr(j, "object");
    bool text_error = cJSON_IsString(e) && e->valuestring[0]; /* "error": "" is no error */
    if (!(cJSON_IsObject(e) || text_error || (obj && strcmp(obj, "error") == 0))) return false;
    struct xl_error xe;
    xl_map_upstream_error(0, NULL, data, len, in && in->provider ? in->provider->name : NULL,
                          in ? in->model : NULL, &xe);
    err_set(err, ERR_UPSTREAM, "%s", xe.message);
    return true;
}

static const char *profile_label(const struct oa_cfg *c) {
    return PROFILE_NAMES[c->profile];
}

/* Visible reasoning text of a message / delta: exactly one source (§2.2). */
static const char *reasoning_text(const cJSON *d, size_t *n, bool *from_details) {
    *from_details = false;
    const char *s = jstr(d, "reasoning_content");
    if (!s || !*s) s = jstr(d, "reasoning");
    if (s && *s) {
        *n = strlen(s);
        return s;
    }
    *n = 0;
    *from_details = true;
    return NULL;
}

/* Stop strings of the request (for stop_sequence detection). */
struct stops {
    char *v[4];
    size_t n;
};
static void stops_init(struct stops *s, const cJSON *body) {
    memset(s, 0, sizeof *s);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(body, "stop_sequences")) {
        if (s->n < 4 && cJSON_IsString(x) && x->valuestring[0]) {
            s->v[s->n] = strdup(x->valuestring);
            if (s->v[s->n]) s->n++;
        }
    }
}
static void stops_free(struct stops *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

/* ========================================================================================== */
/* Stream state machine (§3) */

enum oa_state {
    OA_WAITING,   /* nothing written to the client yet (not committed: errors are HTTP errors) */
    OA_IDLE,      /* message_start written, no block open, no tool call seen */
    OA_THINKING,  /* a thinking block is open */
    OA_TEXT,      /* a text block is open */
    OA_TOOLS,     /* tool calls are being collected (buffered mode): no block open */
    OA_TOOL_OPEN, /* live tool mode: the tool_use block of slot `live_open` is open */
    OA_FINISHED,  /* finish_reason recorded, blocks flushed: waiting for usage, [DONE] or EOF */
    OA_DONE,      /* message_stop written; the rest of the upstream is ignored */
    OA_FAILED,    /* an error was returned; the rest is ignored */
};

struct oa_slot {
    long index;
    bool started, done; /* live mode: its block was opened / closed */
    char *up_id;        /* upstream id, or NULL */
    char *name;         /* upstream name, or NULL */
    struct xl_buf args;
};

struct rd_ent { /* one accumulated reasoning_details entry (by index) */
    long index;
    struct xl_buf type, text, summary, data, signature, format, id;
};

#define OA_MAX_ARGS (32u << 20)

struct xl_stream {
    enum oa_state state;
    struct oa_cfg cfg;
    char *provider_name; /* copied: a config reload may free the provider mid-stream; the
                          * pointers inside `cfg` are not used after stream_new */
    char *model;         /* upstream model */
    struct xl_aout aout;
    struct sse_parser sse;
    struct xl_namemap names;
    struct stops stops;
    enum xn_display display;
    bool show_reasoning;
    long est_input;
    /* accumulated answer */
    struct oa_slot *slots;
    size_t nslots, capslots;
    struct rd_ent *rd;
    size_t nrd, caprd;
    bool rd_attached; /* the reasoning details went out in a thinking block's carrier */
    bool refusal;
    bool tools_emitted;
    size_t live_open; /* OA_TOOL_OPEN: the slot whose block is open */
    /* think_tags: where the content is relative to a leading <think>...</think> */
    enum { TT_START, TT_IN, TT_AFTER, TT_OUT } tt;
    struct xl_buf tt_hold; /* bytes that may still be (part of) a tag */
    struct xl_buf hidden;  /* reasoning text not shown (R5) but needed back (DeepSeek) */
    struct xl_error xerr;  /* OA_FAILED: the error for the client */
    bool has_xerr;
    char *finish; /* finish_reason, or NULL */
    char *matched_stop;
    struct oa_usage usage;
    /* What the upstream body is, decided by its first non-blank byte (§3.1): an event stream,
     * or one JSON document (a server that ignored stream:true), collected in `body`. */
    enum { BODY_BOM, BODY_UNKNOWN, BODY_SSE, BODY_JSON } body_kind;
    int bom_pos; /* BODY_BOM: bytes of a leading UTF-8 BOM seen so far */
    struct xl_buf body;
    struct xl_buf tmp;
    struct err *err; /* the current call's err */
    struct evbuffer *out;
};

/* Every failure goes through here: the state becomes OA_FAILED, `err` says what happened, and
 * st->xerr holds the Anthropic error for the client's `event: error` (openai_stream_error). */
static int fail(struct xl_stream *st, enum err_kind k, const char *fmt, const char *arg) {
    st->state = OA_FAILED;
    if (!st->has_xerr) {
        memset(&st->xerr, 0, sizeof st->xerr);
        st->xerr.status = k == ERR_NOMEM || k == ERR_INTERNAL ? 500 : 502;
        st->xerr.type = "api_error";
        st->xerr.retry_after_ms = -1;
        st->xerr.should_retry = -1;
        snprintf(st->xerr.message, sizeof st->xerr.message, fmt, arg ? arg : "");
        st->has_xerr = true;
    }
    return err_set(st->err, k, fmt, arg ? arg : "");
}

/* An upstream error payload (error chunk, `event: error`): mapped per §5.2. */
static int fail_upstream(struct xl_stream *st, const char *data, size_t len) {
    xl_map_upstream_error(0, NULL, data, len, st->provider_name, st->model, &st->xerr);
    st->has_xerr = true;
    return fail(st, ERR_UPSTREAM, "%s", st->xerr.message);
}

bool openai_stream_awaiting_usage(const struct xl_stream *st) {
    return st && st->state == OA_FINISHED;
}

int openai_stream_error(const struct xl_stream *st, struct xl_error *out) {
    if (!st || !out || st->state != OA_FAILED || !st->has_xerr) return -1;
    *out = st->xerr;
    return 0;
}

static int oom_fail(struct xl_stream *st) {
    return fail(st, ERR_NOMEM, "openai stream: out of memory%s", NULL);
}

/* reasoning_details accumulator (§3.4 step 5) */
static void rd_cat(struct xl_buf *b, const cJSON *e, const char *k, bool replace) {
    const char *s = jstr(e, k);
    if (!s) return;
    if (replace) xl_buf_reset(b);
    xl_buf_adds(b, s);
}

static int rd_merge(struct xl_stream *st, const cJSON *arr) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsObject(e)) continue;
        long idx = jlong(e, "index", (long)st->nrd);
        struct rd_ent *r = NULL;
        for (size_t i = 0; i < st->nrd && !r; i++)
            if (st->rd[i].index == idx) r = &st->rd[i];
        if (!r) {
            if (st->nrd == st->caprd) {
                size_t nc = st->caprd ? st->caprd * 2 : 4;
                struct rd_ent *nv = realloc(st->rd, nc * sizeof *nv);
                if (!nv) return -1;
                st->rd = nv;
                st->caprd = nc;
            }
            r = &st->rd[st->nrd++];
            memset(r, 0, sizeof *r);
            r->index = idx;
        }
        rd_cat(&r->type, e, "type", true);
        rd_cat(&r->text, e, "text", false);
        rd_cat(&r->summary, e, "summary", false);
        rd_cat(&r->data, e, "data", false);
        rd_cat(&r->signature, e, "signature", true);
        rd_cat(&r->format, e, "format", true);
        rd_cat(&r->id, e, "id", true);
        if (r->type.oom || r->text.oom || r->data.oom) return -1;
    }
    return 0;
}

static void rd_free(struct xl_stream *st) {
    for (size_t i = 0; i < st->nrd; i++) {
        struct rd_ent *r = &st->rd[i];
        xl_buf_free(&r->type);
        xl_buf_free(&r->text);
        xl_buf_free(&r->summary);
        xl_buf_free(&r->data);
        xl_buf_free(&r->signature);
        xl_buf_free(&r->format);
        xl_buf_free(&r->id);
    }
    free(st->rd);
    st->rd = NULL;
    st->nrd = st->caprd = 0;
}

/* The accumulated details as a cJSON array (NULL when none). Caller deletes. */
static cJSON *rd_json(const struct xl_stream *st) {
    if (!st->nrd) return NULL;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < st->nrd; i++) {
        const struct rd_ent *r = &st->rd[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(a, o);
        const struct {
            const char *k;
            const struct xl_buf *b;
        } f[] = {{"type", &r->type}, {"text", &r->text},           {"summary", &r->summary},
                 {"data", &r->data}, {"signature", &r->signature}, {"format", &r->format},
                 {"id", &r->id}};
        for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
            if (!f[k].b->len) continue;
            char *s = strndup(f[k].b->p, f[k].b->len);
            if (s) cJSON_AddStringToObject(o, f[k].k, s);
            free(s);
        }
        cJSON_AddNumberToObject(o, "index", (double)r->index);
    }
    return a;
}

/* ---- output transitions (each keeps the §3.3 grammar) */

static int commit(struct xl_stream *st) {
    if (st->state != OA_WAITING) return 0;
    if (xl_aout_start(&st->aout, st->out, st->err) < 0) return -1;
    st->state = OA_IDLE;
    return 0;
}

/* Close the open block; a thinking block gets its carrier signature first. */
static int close_block(struct xl_stream *st) {
    if (st->state == OA_THINKING) {
        xl_buf_reset(&st->tmp);
        cJSON *rd = rd_json(st);
        if (st->hidden.len) { /* hidden DeepSeek reasoning: carried as a reasoning.text entry */
            char *t = strndup(st->hidden.p, st->hidden.len);
            cJSON *e = t ? cJSON_CreateObject() : NULL;
            if (!rd) rd = cJSON_CreateArray();
            if (!e || !rd || !cJSON_AddStringToObject(e, "type", "reasoning.text") ||
                !cJSON_AddStringToObject(e, "text", t)) {
                free(t);
                cJSON_Delete(e);
                cJSON_Delete(rd);
                return oom_fail(st);
            }
            free(t);
            cJSON_AddItemToArray(rd, e);
            xl_buf_reset(&st->hidden);
        }
        xl_carrier_write(&st->tmp, profile_label(&st->cfg), st->model, rd, NULL);
        cJSON_Delete(rd);
        if (st->nrd) st->rd_attached = true;
        if (!xl_buf_ok(&st->tmp)) return oom_fail(st);
        if (xl_aout_signature(&st->aout, st->tmp.p, st->tmp.len, st->out, st->err) < 0) return -1;
    }
    if (st->state == OA_TOOL_OPEN) { /* live mode: what went out must be an object */
        struct oa_slot *s = &st->slots[st->live_open];
        const char *what;
        xl_buf_reset(&st->tmp);
        if (s->args.len && xl_tool_args_fix(s->args.p, s->args.len, false, &st->tmp, &what) != 0)
            return fail(st, ERR_UPSTREAM,
                        "openai stream: tool call %s ended with invalid or incomplete JSON "
                        "arguments (malformed or interleaved calls); retry without streaming",
                        s->name);
        s->done = true;
    }
    if (xl_aout_stop(&st->aout, st->out, st->err) < 0) return -1;
    if (st->state == OA_THINKING || st->state == OA_TEXT || st->state == OA_TOOL_OPEN)
        st->state = st->nslots ? OA_TOOLS : OA_IDLE;
    return 0;
}

static int to_thinking(struct xl_stream *st) {
    if (st->state == OA_THINKING) return 0;
    if (commit(st) < 0 || close_block(st) < 0) return -1;
    if (xl_aout_thinking_start(&st->aout, st->out, st->err) < 0) return -1;
    st->state = OA_THINKING;
    return 0;
}

static int to_text(struct xl_stream *st) {
    if (st->state == OA_TEXT) return 0;
    if (commit(st) < 0 || close_block(st) < 0) return -1;
    if (xl_aout_text_start(&st->aout, st->out, st->err) < 0) return -1;
    st->state = OA_TEXT;
    return 0;
}

static struct oa_slot *slot_new(struct xl_stream *st, long index) {
    if (st->nslots == st->capslots) {
        size_t nc = st->capslots ? st->capslots * 2 : 4;
        struct oa_slot *nv = realloc(st->slots, nc * sizeof *nv);
        if (!nv) return NULL;
        st->slots = nv;
        st->capslots = nc;
    }
    struct oa_slot *s = &st->slots[st->nslots++];
    memset(s, 0, sizeof *s);
    s->index = index;
    xl_buf_init(&s->args);
    return s;
}

/* O3: slot by (index, id). */
static struct oa_slot *slot_for(struct xl_stream *st, const cJSON *entry) {
    const cJSON *ji = cJSON_GetObjectItemCaseSensitive(entry, "index");
    const char *id = jstr(entry, "id");
    if (id && !*id) id = NULL;
    long index = cJSON_IsNumber(ji) ? xl_long(ji->valuedouble) : -1;
    if (id)
        for (size_t i = 0; i < st->nslots; i++)
            if (st->slots[i].up_id && strcmp(st->slots[i].up_id, id) == 0) return &st->slots[i];
    struct oa_slot *last_at = NULL;
    for (size_t i = 0; i < st->nslots; i++)
        if (index < 0 || st->slots[i].index == index) last_at = &st->slots[i];
    if (last_at && (!id || !last_at->up_id)) {
        if (id && !last_at->up_id && !(last_at->up_id = strdup(id))) return NULL;
        return last_at;
    }
    if (index < 0) index = st->nslots ? st->slots[st->nslots - 1].index + 1 : 0;
    struct oa_slot *s = slot_new(st, index);
    if (s && id && !(s->up_id = strdup(id))) return NULL;
    return s;
}

/* Live mode: open the slot's block as soon as its name is known (closing the open one), flush
 * what arrived before, then pass each fragment on; a fragment for a closed block is a protocol
 * violation (§3.6.1 live). */
static int tool_live(struct xl_stream *st, struct oa_slot *s, size_t before) {
    size_t si = (size_t)(s - st->slots);
    if (s->done) {
        char what[120];
        snprintf(what, sizeof what, "slot %ld after slot %ld", s->index,
                 st->state == OA_TOOL_OPEN ? st->slots[st->live_open].index : -1L);
        return fail(st, ERR_UPSTREAM,
                    "upstream interleaved tool-call arguments (%s); retry without streaming", what);
    }
    if (!s->started) {
        if (!s->name) return 0; /* arguments before the name: kept until it comes */
        if (close_block(st) < 0) return -1;
        char id[40];
        if (xl_mint_id("toolu_", id, sizeof id) < 0)
            return fail(st, ERR_INTERNAL, "openai stream: the system random generator failed%s",
                        NULL);
        if (xl_aout_tool_start(&st->aout, id, xl_namemap_back(&st->names, s->name), st->out,
                               st->err) < 0)
            return -1;
        s->started = true;
        st->tools_emitted = true;
        st->live_open = si;
        st->state = OA_TOOL_OPEN;
        before = 0; /* everything so far goes out now */
    }
    if (s->args.len > before &&
        xl_aout_json(&st->aout, s->args.p + before, s->args.len - before, st->out, st->err) < 0)
        return -1;
    return 0;
}

static int tool_entry(struct xl_stream *st, const cJSON *e) {
    if (!cJSON_IsObject(e)) return 0;
    if (st->state == OA_WAITING && commit(st) < 0) return -1;
    if ((st->state == OA_THINKING || st->state == OA_TEXT) && close_block(st) < 0) return -1;
    struct oa_slot *s = slot_for(st, e);
    if (!s) return oom_fail(st);
    if (st->state != OA_TOOL_OPEN) st->state = OA_TOOLS;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "function");
    const char *name = jstr(fn, "name");
    if (name && *name && !s->name && !(s->name = strdup(name))) return oom_fail(st);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    size_t before = s->args.len;
    if (cJSON_IsString(args)) {
        xl_buf_adds(&s->args, args->valuestring);
    } else if (cJSON_IsObject(args)) { /* some servers send an object */
        struct xl_jw w;
        xl_jw_init(&w, &s->args);
        xl_jw_cjson(&w, args, NULL);
    }
    if (s->args.len > OA_MAX_ARGS)
        return fail(st, ERR_UPSTREAM, "openai stream: tool-call arguments exceed 32 MiB%s", NULL);
    if (!xl_buf_ok(&s->args)) return oom_fail(st);
    if (st->cfg.tool_live) {
        if (s->done && s->args.len == before) return 0; /* an empty fragment */
        return tool_live(st, s, before);
    }
    return 0;
}

/* Emit every named slot as a tool_use block (buffered mode, §3.6.1), after a pending
 * redacted_thinking (O13). */
static int flush_tools(struct xl_stream *st) {
    if (!st->nslots) return 0;
    if (st->cfg.tool_live) { /* every named slot went out live; nameless ones are dropped */
        return st->state == OA_TOOL_OPEN ? close_block(st) : 0;
    }
    bool truncated =
        st->finish && (strcmp(st->finish, "length") == 0 || strcmp(st->finish, "max_tokens") == 0);
    /* ascending upstream index, stable for equal indices */
    for (size_t i = 1; i < st->nslots; i++) {
        struct oa_slot t = st->slots[i];
        size_t j = i;
        while (j > 0 && st->slots[j - 1].index > t.index) {
            st->slots[j] = st->slots[j - 1];
            j--;
        }
        st->slots[j] = t;
    }
    for (size_t i = 0; i < st->nslots; i++) {
        struct oa_slot *s = &st->slots[i];
        if (!s->name) continue; /* nameless: dropped */
        xl_buf_reset(&st->tmp);
        const char *what = NULL;
        int rc = xl_tool_args_fix(s->args.p, s->args.len, truncated, &st->tmp, &what);
        if (rc < 0) {
            if (st->cfg.invalid_args_error)
                return fail(st, ERR_UPSTREAM,
                            "openai stream: the model produced invalid JSON arguments for tool %s",
                            s->name);
            xl_buf_reset(&st->tmp);
            struct xl_jw w;
            xl_jw_init(&w, &st->tmp);
            xl_jw_obj(&w);
            xl_jw_key(&w, "_invalid_arguments");
            xl_jw_strn(&w, s->args.p ? s->args.p : "", s->args.len > 65536 ? 65536 : s->args.len);
            xl_jw_obj_end(&w);
        }
        if (!xl_buf_ok(&st->tmp)) return oom_fail(st);
        char id[40];
        if (xl_mint_id("toolu_", id, sizeof id) < 0)
            return fail(st, ERR_INTERNAL, "openai stream: the system random generator failed%s",
                        NULL);
        if (xl_aout_tool_start(&st->aout, id, xl_namemap_back(&st->names, s->name), st->out,
                               st->err) < 0 ||
            xl_aout_json(&st->aout, st->tmp.p, st->tmp.len, st->out, st->err) < 0 ||
            xl_aout_stop(&st->aout, st->out, st->err) < 0)
            return -1;
        st->tools_emitted = true;
    }
    return 0;
}

/* Encrypted-only reasoning as a redacted_thinking block (§3.5, O13). */
static int flush_redacted(struct xl_stream *st) {
    if (!st->nrd || st->rd_attached) return 0;
    xl_buf_reset(&st->tmp);
    cJSON *rd = rd_json(st);
    xl_carrier_write(&st->tmp, profile_label(&st->cfg), st->model, rd, NULL);
    cJSON_Delete(rd);
    if (!xl_buf_ok(&st->tmp)) return oom_fail(st);
    st->rd_attached = true;
    return xl_aout_redacted(&st->aout, st->tmp.p, st->tmp.len, st->out, st->err);
}

/* ---- content text, through the <think> tag splitter when think_tags is on */

static int emit_text(struct xl_stream *st, const char *s, size_t n) {
    if (!n) return 0;
    if (to_text(st) < 0) return -1;
    return xl_aout_text(&st->aout, s, n, st->out, st->err);
}

/* Reasoning text. When the client asked not to see it (R5) and the text is what the next turn
 * must send back (DeepSeek reasoning_content), it travels in the block's carrier instead. */
static int emit_thinking(struct xl_stream *st, const char *s, size_t n) {
    if (!n) return 0;
    if (to_thinking(st) < 0) return -1;
    if (st->show_reasoning) return xl_aout_thinking(&st->aout, s, n, st->out, st->err);
    if (st->cfg.rstyle == RS_DEEPSEEK) {
        xl_buf_add(&st->hidden, s, n);
        if (!xl_buf_ok(&st->hidden)) return oom_fail(st);
    }
    return 0;
}

/* Leading <think>...</think> (§3.4 step 6): tags may be split across chunks, so up to 7 bytes
 * that could start a tag are held until the next chunk. */
static int content_text(struct xl_stream *st, const char *s, size_t n) {
    static const char OPEN[] = "<think>", CLOSE[] = "</think>";
    if (!st->cfg.think_tags || st->tt == TT_OUT) return emit_text(st, s, n);
    if (st->tt == TT_AFTER) { /* the blank lines after </think> */
        while (n && isspace((unsigned char)*s))
            s++, n--;
        if (!n) return 0;
        st->tt = TT_OUT;
        return emit_text(st, s, n);
    }
    struct xl_buf *h = &st->tt_hold;
    xl_buf_add(h, s, n);
    if (!xl_buf_ok(h)) return oom_fail(st);
    if (st->tt == TT_START) {
        size_t k = 0;
        while (k < h->len && isspace((unsigned char)h->p[k]))
            k++;
        size_t rest = h->len - k, cmp = rest < 7 ? rest : 7;
        if (memcmp(h->p + k, OPEN, cmp) != 0) { /* no tag: plain content */
            st->tt = TT_OUT;
            int rc = emit_text(st, h->p, h->len);
            xl_buf_reset(h);
            return rc;
        }
        if (rest < 7) return 0; /* could still be the tag */
        memmove(h->p, h->p + k + 7, rest - 7);
        h->len = rest - 7;
        st->tt = TT_IN;
    }
    /* TT_IN */
    char *end = h->len ? memmem(h->p, h->len, CLOSE, 8) : NULL;
    if (end) {
        size_t pos = (size_t)(end - h->p), after = pos + 8;
        if (emit_thinking(st, h->p, pos) < 0) return -1;
        st->tt = TT_AFTER;
        size_t rn = h->len - after;
        char *rest = h->p + after;
        xl_buf_reset(h);
        return rn ? content_text(st, rest, rn) : 0; /* rest still lives in h's memory */
    }
    size_t keep = 0;
    for (size_t k = h->len < 7 ? h->len : 7; k > 0 && !keep; k--)
        if (memcmp(h->p + h->len - k, CLOSE, k) == 0) keep = k;
    if (emit_thinking(st, h->p, h->len - keep) < 0) return -1;
    memmove(h->p, h->p + h->len - keep, keep);
    h->len = keep;
    return 0;
}

/* At finish: bytes held by the splitter go out as what they were. */
static int flush_tt(struct xl_stream *st) {
    if (!st->tt_hold.len) return 0;
    int rc = st->tt == TT_IN ? emit_thinking(st, st->tt_hold.p, st->tt_hold.len)
                             : emit_text(st, st->tt_hold.p, st->tt_hold.len);
    xl_buf_reset(&st->tt_hold);
    return rc;
}

/* finish_reason seen (or inferred): close, flush. */
static int record_finish(struct xl_stream *st, const char *fr, const char *matched) {
    if (!st->finish) {
        st->finish = strdup(fr ? fr : (st->nslots ? "tool_calls" : "stop"));
        if (!st->finish) return oom_fail(st);
        if (matched && !(st->matched_stop = strdup(matched))) return oom_fail(st);
    }
    if (commit(st) < 0 || flush_tt(st) < 0 || close_block(st) < 0 || flush_redacted(st) < 0 ||
        flush_tools(st) < 0)
        return -1;
    st->state = OA_FINISHED;
    return 0;
}

static int finalise(struct xl_stream *st) {
    if (st->state != OA_FINISHED && record_finish(st, NULL, NULL) < 0) return -1;
    const char *ss = NULL;
    const char *sr = map_finish(st->finish, st->tools_emitted, st->refusal, st->matched_stop,
                                (const char *const *)st->stops.v, st->stops.n, &ss);
    struct xl_usage u;
    to_usage(&st->usage, st->est_input, (long)(st->aout.out_bytes / 4), &u);
    if (xl_aout_finish(&st->aout, sr, ss, &u, st->usage.seen ? st->usage.reasoning : -1, st->out,
                       st->err) < 0)
        return -1;
    st->state = OA_DONE;
    return 0;
}

/* ---- step functions, one per input event */

/* A data chunk (parsed JSON). */
static int on_chunk(struct xl_stream *st, const cJSON *j, const char *data, size_t len) {
    if (upstream_error(j, data, len, NULL, NULL)) return fail_upstream(st, data, len);
    if (read_usage(j, &st->usage) && st->state == OA_FINISHED) return finalise(st);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c = cJSON_GetArrayItem(choices, 0);
    if (!cJSON_IsObject(c)) return 0;
    if (st->state == OA_FINISHED) return 0; /* content after finish: ignored */
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "delta");
    if (!d) d = cJSON_GetObjectItemCaseSensitive(c, "message"); /* whole-body fallback */

    /* 5. reasoning */
    const cJSON *rdd = cJSON_GetObjectItemCaseSensitive(d, "reasoning_details");
    if (cJSON_IsArray(rdd) && rd_merge(st, rdd) < 0) return oom_fail(st);
    bool from_details;
    size_t rn;
    const char *rt = reasoning_text(d, &rn, &from_details);
    if (from_details && cJSON_IsArray(rdd)) {
        /* text of the details entries of this chunk */
        const cJSON *e;
        cJSON_ArrayForEach(e, rdd) {
            const char *s = jstr(e, "text");
            if (!s || !*s) s = jstr(e, "summary");
            if (!s || !*s) continue;
            if (emit_thinking(st, s, strlen(s)) < 0) return -1;
        }
    } else if (rt) {
        if (emit_thinking(st, rt, rn) < 0) return -1;
    }

    /* 6. text */
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    if (cJSON_IsString(content) && content->valuestring[0]) {
        if (content_text(st, content->valuestring, strlen(content->valuestring)) < 0) return -1;
    } else if (cJSON_IsArray(content)) {
        const cJSON *p;
        cJSON_ArrayForEach(p, content) {
            const char *s = jstr(p, "text");
            if (s && *s && content_text(st, s, strlen(s)) < 0) return -1;
        }
    }
    const char *refusal = jstr(d, "refusal");
    if (refusal && *refusal) {
        st->refusal = true;
        if (to_text(st) < 0) return -1;
        if (xl_aout_text(&st->aout, refusal, strlen(refusal), st->out, st->err) < 0) return -1;
    }

    /* 7. tool calls */
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls")) {
        if (tool_entry(st, tc) < 0) return -1;
    }

    /* 8. finish */
    const char *fr = jstr(c, "finish_reason");
    if (fr) {
        if (strcmp(fr, "error") == 0)
            return fail(st, ERR_UPSTREAM,
                        "openai stream: the upstream failed mid-answer (finish_reason error)%s",
                        NULL);
        const char *matched = jstr(c, "stop_reason");
        if (record_finish(st, fr, matched) < 0) return -1;
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "usage")) ||
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(j, "x_groq"), "usage")))
            return finalise(st);
    }
    return 0;
}

static int on_done(struct xl_stream *st) {
    return finalise(st);
}

static int on_error_event(struct xl_stream *st, const char *data, size_t len) {
    return fail_upstream(st, data, len);
}

static int on_eof(struct xl_stream *st) {
    if (st->state == OA_FINISHED) return finalise(st);
    return fail(st, ERR_UPSTREAM,
                "openai stream: upstream stream ended before completion (no finish_reason)%s",
                NULL);
}

/* SSE callback: one upstream event. */
static int sse_event(void *arg, const char *event, const char *data, size_t len) {
    struct xl_stream *st = arg;
    if (st->state == OA_DONE || st->state == OA_FAILED) return 1;
    if (event && strcmp(event, "error") == 0) {
        on_error_event(st, data, len);
        return 1;
    }
    /* trim */
    const char *s = data;
    size_t n = len;
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0) return 0;
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0)
        return on_done(st) < 0 ? 1 : (st->state == OA_DONE ? 1 : 0);
    cJSON *j = cJSON_ParseWithLength(s, n);
    if (!j) { /* lone surrogate escapes (per-token escapes of some servers): U+FFFD, retry */
        xl_buf_reset(&st->tmp);
        if (xl_json_fix_surrogates(s, n, &st->tmp) > 0 && xl_buf_ok(&st->tmp))
            j = cJSON_ParseWithLength(st->tmp.p, st->tmp.len);
    }
    if (!j) {
        fail(st, ERR_UPSTREAM, "openai stream: the upstream sent an event that is not JSON: %.200s",
             s);
        return 1;
    }
    int rc = on_chunk(st, j, s, n);
    cJSON_Delete(j);
    if (rc < 0) {
        if (st->state != OA_FAILED) st->state = OA_FAILED;
        return 1;
    }
    return st->state == OA_DONE ? 1 : 0;
}

static struct xl_stream *oa_stream_new(const struct xl_request *in, struct err *err) {
    if (!in || !in->body || !in->provider) {
        err_set(err, ERR_INTERNAL, "openai: stream_new without a request or provider");
        return NULL;
    }
    struct xl_stream *st = calloc(1, sizeof *st);
    if (!st) {
        err_set(err, ERR_NOMEM, "openai: out of memory");
        return NULL;
    }
    const char *model = in->model ? in->model : "";
    cfg_resolve(in->provider, model, &st->cfg);
    st->provider_name = strdup(in->provider->name ? in->provider->name : "openai");
    st->state = OA_WAITING;
    xl_namemap_init(&st->names);
    xl_buf_init(&st->body);
    xl_buf_init(&st->tmp);
    xl_buf_init(&st->tt_hold);
    xl_buf_init(&st->hidden);
    st->model = strdup(model);
    struct err aerr = {0}; /* the caller's err may hold garbage: test our own */
    if (!st->model || !st->provider_name ||
        xl_aout_init(&st->aout, in->client_model ? in->client_model : model, &aerr) < 0 ||
        sse_parser_init(&st->sse, 16u << 20) < 0 ||
        xl_namemap_add_tools(&st->names, cJSON_GetObjectItemCaseSensitive(in->body, "tools"),
                             XL_NAMES_OPENAI) < 0) {
        if (aerr.kind != ERR_NONE)
            err_set(err, aerr.kind, "%s", aerr.msg);
        else
            err_set(err, ERR_NOMEM, "openai: out of memory starting a stream");
        free(st->model);
        free(st->provider_name);
        xl_namemap_free(&st->names);
        xl_aout_free(&st->aout);
        sse_parser_free(&st->sse);
        free(st);
        return NULL;
    }
    stops_init(&st->stops, in->body);
    struct xn_thinking th;
    xn_thinking_of(in->body, &th);
    st->display = th.display;
    st->show_reasoning = th.display == XN_DISPLAY_DEFAULT ||
                         (th.display == XN_DISPLAY_UPDATES && st->cfg.updates_show_reasoning);
    st->est_input = in->raw_len ? (long)(in->raw_len / 4) : 0;
    return st;
}

static int oa_stream_feed(struct xl_stream *st, const char *buf, size_t len, struct evbuffer *out,
                          struct err *err) {
    st->err = err;
    st->out = out;
    if (st->state == OA_DONE) return XL_DONE;
    if (st->state == OA_FAILED) return err_set(err, ERR_UPSTREAM, "openai stream: already failed");
    if (st->body_kind == BODY_BOM) { /* a UTF-8 BOM at stream start is dropped, even split */
        static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};
        while (len && st->bom_pos < 3 && (unsigned char)*buf == BOM[st->bom_pos])
            st->bom_pos++, buf++, len--;
        if (len || st->bom_pos == 3) st->body_kind = BODY_UNKNOWN;
    }
    if (st->body_kind == BODY_UNKNOWN) { /* '{' first: not SSE (§3.1) */
        size_t k = 0;
        while (k < len && isspace((unsigned char)buf[k]))
            k++;
        if (k < len) st->body_kind = buf[k] == '{' ? BODY_JSON : BODY_SSE;
    }
    if (st->body_kind == BODY_JSON) {
        if (st->body.len + len > (64u << 20))
            return fail(st, ERR_UPSTREAM, "openai stream: the upstream body exceeds 64 MiB%s",
                        NULL);
        xl_buf_add(&st->body, buf, len);
        return xl_buf_ok(&st->body) ? XL_MORE : oom_fail(st);
    }
    int rc = sse_feed(&st->sse, buf, len, sse_event, st);
    if (rc == SSE_TOO_LARGE)
        return fail(st, ERR_UPSTREAM, "openai stream: an upstream event exceeds 16 MiB%s", NULL);
    if (st->state == OA_FAILED) return -1;
    if (st->state == OA_DONE) return XL_DONE;
    return XL_MORE;
}

static int oa_stream_end(struct xl_stream *st, struct evbuffer *out, struct err *err) {
    st->err = err;
    st->out = out;
    if (st->state == OA_DONE) return XL_DONE;
    if (st->state == OA_FAILED) return err_set(err, ERR_UPSTREAM, "openai stream: already failed");
    if (st->body_kind == BODY_JSON) {
        cJSON *j = cJSON_ParseWithLength(st->body.p ? st->body.p : "", st->body.len);
        if (!j)
            return fail(st, ERR_UPSTREAM,
                        "openai stream: the upstream answered with a body that is "
                        "neither an event stream nor JSON%s",
                        NULL);
        int rc = on_chunk(st, j, st->body.p, st->body.len);
        cJSON_Delete(j);
        if (rc < 0) return -1;
        if (st->state == OA_DONE) return XL_DONE;
        return on_eof(st) < 0 ? -1 : XL_DONE;
    }
    int rc = sse_finish(&st->sse, sse_event, st);
    (void)rc;
    if (st->state == OA_FAILED) return -1;
    if (st->state == OA_DONE) return XL_DONE;
    return on_eof(st) < 0 ? -1 : XL_DONE;
}

static void oa_stream_usage(const struct xl_stream *st, struct xl_usage *out) {
    to_usage(&st->usage, st->est_input, (long)(st->aout.out_bytes / 4), out);
}

static void oa_stream_free(struct xl_stream *st) {
    if (!st) return;
    for (size_t i = 0; i < st->nslots; i++) {
        free(st->slots[i].up_id);
        free(st->slots[i].name);
        xl_buf_free(&st->slots[i].args);
    }
    free(st->slots);
    rd_free(st);
    free(st->finish);
    free(st->matched_stop);
    free(st->model);
    free(st->provider_name);
    stops_free(&st->stops);
    xl_namemap_free(&st->names);
    xl_aout_free(&st->aout);
    sse_parser_free(&st->sse);
    xl_buf_free(&st->body);
    xl_buf_free(&st->tmp);
    xl_buf_free(&st->tt_hold);
    xl_buf_free(&st->hidden);
    free(st);
}

/* ========================================================================================== */
/* Non-stream response (§2) */

static int oa_response(const struct xl_request *in, const char *buf, size_t len,
                       struct evbuffer *out, struct xl_usage *usage, struct err *err) {
    if (!in || !in->provider)
        return err_set(err, ERR_INTERNAL, "openai: response without a request");
    const char *model = in->model ? in->model : "";
    struct oa_cfg cfg;
    cfg_resolve(in->provider, model, &cfg);
    cJSON *j = cJSON_ParseWithLength(buf ? buf : "", len);
    if (!j) {
        struct xl_error xe;
        xl_map_upstream_error(502, NULL, buf, len, in->provider->name, model, &xe);
        return err_set(err, ERR_UPSTREAM, "upstream answered with a body that is not JSON: %s",
                       xe.message);
    }
    if (upstream_error(j, buf, len, in, err)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(j);
        return err_set(err, ERR_UPSTREAM, "%s/%s: upstream returned no choices",
                       in->provider->name ? in->provider->name : "openai", model);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "message");
    struct xn_thinking th;
    xn_thinking_of(in->body, &th);
    bool show = th.display == XN_DISPLAY_DEFAULT ||
                (th.display == XN_DISPLAY_UPDATES && cfg.updates_show_reasoning);
    struct xl_namemap names;
    xl_namemap_init(&names);
    struct stops stops;
    stops_init(&stops, in->body);
    struct xl_buf b, tmp;
    xl_buf_init(&b);
    xl_buf_init(&tmp);
    struct xl_jw w;
    xl_jw_init(&w, &b);
    int rc = 0;
    if (xl_namemap_add_tools(&names, cJSON_GetObjectItemCaseSensitive(in->body, "tools"),
                             XL_NAMES_OPENAI) < 0)
        goto nomem;
    char id[40];
    if (xl_mint_id("msg_", id, sizeof id) < 0) {
        rc = err_set(err, ERR_INTERNAL, "openai: the system random generator failed");
        goto done;
    }
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "id", id);
    xl_jw_kstr(&w, "type", "message");
    xl_jw_kstr(&w, "role", "assistant");
    xl_jw_kstr(&w, "model", in->client_model ? in->client_model : model);
    xl_jw_key(&w, "content");
    xl_jw_arr(&w);
    /* 1. thinking */
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(m, "reasoning_details");
    bool fd;
    size_t rn;
    const char *rt = reasoning_text(m, &rn, &fd);
    xl_buf_reset(&tmp);
    if (!rt && cJSON_IsArray(rd)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, rd) {
            const char *s = jstr(e, "text");
            if (!s || !*s) s = jstr(e, "summary");
            if (s) xl_buf_adds(&tmp, s);
        }
    } else if (rt) {
        xl_buf_add(&tmp, rt, rn);
    }
    /* think_tags: a leading <think>...</think> in the content is the reasoning */
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    const char *after_think = NULL;
    if (cfg.think_tags && !tmp.len && cJSON_IsString(content)) {
        const char *c0 = content->valuestring;
        while (isspace((unsigned char)*c0))
            c0++;
        if (strncmp(c0, "<think>", 7) == 0) {
            const char *end = strstr(c0 + 7, "</think>");
            xl_buf_add(&tmp, c0 + 7, end ? (size_t)(end - c0 - 7) : strlen(c0 + 7));
            after_think = end ? end + 8 : "";
            while (isspace((unsigned char)*after_think))
                after_think++;
        }
    }
    bool has_rd = cJSON_IsArray(rd) && cJSON_GetArraySize(rd) > 0;
    if (tmp.len || has_rd) {
        struct xl_buf sig;
        xl_buf_init(&sig);
        cJSON *hidden = NULL; /* R5 + DeepSeek: the unshown text rides in the carrier */
        if (!show && tmp.len && cfg.rstyle == RS_DEEPSEEK && !has_rd) {
            char *t = strndup(tmp.p, tmp.len);
            hidden = cJSON_CreateArray();
            cJSON *e = cJSON_CreateObject();
            if (!t || !hidden || !e || !cJSON_AddStringToObject(e, "type", "reasoning.text") ||
                !cJSON_AddStringToObject(e, "text", t)) {
                free(t);
                cJSON_Delete(e);
                cJSON_Delete(hidden);
                goto nomem;
            }
            free(t);
            cJSON_AddItemToArray(hidden, e);
        }
        xl_carrier_write(&sig, profile_label(&cfg), model,
                         hidden   ? hidden
                         : has_rd ? rd
                                  : NULL,
                         NULL);
        cJSON_Delete(hidden);
        xl_jw_obj(&w);
        if (tmp.len) {
            xl_jw_kstr(&w, "type", "thinking");
            xl_jw_key(&w, "thinking");
            xl_jw_strn(&w, show ? tmp.p : "", show ? tmp.len : 0);
            xl_jw_key(&w, "signature");
        } else {
            xl_jw_kstr(&w, "type", "redacted_thinking");
            xl_jw_key(&w, "data");
        }
        xl_jw_strn(&w, sig.p ? sig.p : "", sig.len);
        xl_jw_obj_end(&w);
        bool ok = xl_buf_ok(&sig);
        xl_buf_free(&sig);
        if (!ok) goto nomem;
    }
    /* 2. web search annotations (OpenRouter) */
    bool web = false;
    {
        const cJSON *an, *annots = cJSON_GetObjectItemCaseSensitive(m, "annotations");
        int nurl = 0;
        cJSON_ArrayForEach(an, annots) {
            const char *t = jstr(an, "type");
            if (t && strcmp(t, "url_citation") == 0) nurl++;
        }
        if (nurl) {
            web = true;
            char sid[40];
            if (xl_mint_id("srvtoolu_", sid, sizeof sid) < 0) {
                rc = err_set(err, ERR_INTERNAL, "openai: the system random generator failed");
                goto done;
            }
            xl_jw_obj(&w);
            xl_jw_kstr(&w, "type", "server_tool_use");
            xl_jw_kstr(&w, "id", sid);
            xl_jw_kstr(&w, "name", "web_search");
            xl_jw_key(&w, "input");
            xl_jw_obj(&w);
            xl_jw_kstr(&w, "query", "");
            xl_jw_obj_end(&w);
            xl_jw_obj_end(&w);
            xl_jw_obj(&w);
            xl_jw_kstr(&w, "type", "web_search_tool_result");
            xl_jw_kstr(&w, "tool_use_id", sid);
            xl_jw_key(&w, "content");
            xl_jw_arr(&w);
            const cJSON *seen[64];
            int ns = 0;
            cJSON_ArrayForEach(an, annots) {
                const cJSON *uc = cJSON_GetObjectItemCaseSensitive(an, "url_citation");
                const char *url = jstr(uc, "url");
                if (!url) continue;
                bool dup = false;
                for (int k = 0; k < ns && !dup; k++)
                    dup = strcmp(jstr(seen[k], "url"), url) == 0;
                if (dup || ns == 64) continue;
                seen[ns++] = uc;
                xl_jw_obj(&w);
                xl_jw_kstr(&w, "type", "web_search_result");
                xl_jw_kstr(&w, "url", url);
                xl_jw_kstr(&w, "title", jstr(uc, "title") ? jstr(uc, "title") : "");
                xl_jw_kstr(&w, "encrypted_content", "");
                xl_jw_key(&w, "page_age");
                xl_jw_null(&w);
                xl_jw_obj_end(&w);
            }
            xl_jw_arr_end(&w);
            xl_jw_obj_end(&w);
        }
    }
    /* 3. text */
    xl_buf_reset(&tmp);
    if (after_think)
        xl_buf_adds(&tmp, after_think);
    else if (cJSON_IsString(content))
        xl_buf_adds(&tmp, content->valuestring);
    else {
        const cJSON *p;
        cJSON_ArrayForEach(p, content) if (jstr(p, "text")) xl_buf_adds(&tmp, jstr(p, "text"));
    }
    const char *refusal = jstr(m, "refusal");
    bool is_refusal = refusal && *refusal;
    if (is_refusal) {
        if (tmp.len) xl_buf_addc(&tmp, '\n');
        xl_buf_adds(&tmp, refusal);
    }
    if (tmp.len) {
        xl_jw_obj(&w);
        xl_jw_kstr(&w, "type", "text");
        xl_jw_key(&w, "text");
        xl_jw_strn(&w, tmp.p, tmp.len);
        xl_jw_obj_end(&w);
    }
    /* 4. tool calls */
    const char *fr = jstr(c, "finish_reason");
    bool truncated = fr && strcmp(fr, "length") == 0;
    int ntools = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls")) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const char *name = jstr(fn, "name");
        if (!name || !*name) continue;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        xl_buf_reset(&tmp);
        if (cJSON_IsObject(args)) {
            struct xl_jw aw;
            xl_jw_init(&aw, &tmp);
            xl_jw_cjson(&aw, args, NULL);
        } else {
            const char *raw = cJSON_IsString(args) ? args->valuestring : "";
            const char *what;
            if (xl_tool_args_fix(raw, strlen(raw), truncated, &tmp, &what) < 0) {
                if (cfg.invalid_args_error) {
                    rc = err_set(err, ERR_UPSTREAM,
                                 "%s/%s: the model produced invalid JSON arguments for tool %s",
                                 in->provider->name ? in->provider->name : "openai", model, name);
                    goto done;
                }
                xl_buf_reset(&tmp);
                struct xl_jw aw;
                xl_jw_init(&aw, &tmp);
                xl_jw_obj(&aw);
                size_t rl = strlen(raw);
                xl_jw_key(&aw, "_invalid_arguments");
                xl_jw_strn(&aw, raw, rl > 65536 ? 65536 : rl);
                xl_jw_obj_end(&aw);
            }
        }
        if (!xl_buf_ok(&tmp)) goto nomem;
        char tid[40];
        if (xl_mint_id("toolu_", tid, sizeof tid) < 0) {
            rc = err_set(err, ERR_INTERNAL, "openai: the system random generator failed");
            goto done;
        }
        xl_jw_obj(&w);
        xl_jw_kstr(&w, "type", "tool_use");
        xl_jw_kstr(&w, "id", tid);
        xl_jw_kstr(&w, "name", xl_namemap_back(&names, name));
        xl_jw_key(&w, "input");
        xl_jw_raw(&w, tmp.p, tmp.len);
        xl_jw_obj_end(&w);
        ntools++;
    }
    xl_jw_arr_end(&w);
    const char *ss = NULL;
    const char *sr = map_finish(fr, ntools > 0, is_refusal, jstr(c, "stop_reason"),
                                (const char *const *)stops.v, stops.n, &ss);
    xl_jw_kstr(&w, "stop_reason", sr);
    xl_jw_key(&w, "stop_sequence");
    xl_jw_str(&w, ss);
    struct oa_usage ou = {0};
    read_usage(j, &ou);
    struct xl_usage u;
    to_usage(&ou, in->raw_len ? (long)(in->raw_len / 4) : 0, (long)(b.len / 4), &u);
    xl_jw_key(&w, "usage");
    xl_jw_obj(&w);
    xl_jw_kint(&w, "input_tokens", u.input_tokens);
    xl_jw_kint(&w, "output_tokens", u.output_tokens);
    xl_jw_kint(&w, "cache_creation_input_tokens", u.cache_creation_input_tokens);
    xl_jw_kint(&w, "cache_read_input_tokens", u.cache_read_input_tokens);
    if (ou.seen && ou.reasoning >= 0) {
        xl_jw_key(&w, "output_tokens_details");
        xl_jw_obj(&w);
        xl_jw_kint(&w, "thinking_tokens", ou.reasoning);
        xl_jw_obj_end(&w);
    }
    if (web) {
        xl_jw_key(&w, "server_tool_use");
        xl_jw_obj(&w);
        xl_jw_kint(&w, "web_search_requests", 1);
        xl_jw_obj_end(&w);
    }
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    if (!xl_jw_ok(&w)) goto nomem;
    if (evbuffer_add(out, b.p, b.len) < 0) goto nomem;
    if (usage) *usage = u;
    goto done;
nomem:
    rc = err_set(err, ERR_NOMEM, "openai: out of memory translating the response");
done:
    stops_free(&stops);
    xl_namemap_free(&names);
    xl_buf_free(&tmp);
    xl_buf_free(&b);
    cJSON_Delete(j);
    return rc;
}

const struct provider_ops provider_openai = {
    .format = FMT_OPENAI,
    .build = oa_build,
    .stream_new = oa_stream_new,
    .stream_feed = oa_stream_feed,
    .stream_end = oa_stream_end,
    .stream_usage = oa_stream_usage,
    .stream_free = oa_stream_free,
    .response = oa_response,
};
