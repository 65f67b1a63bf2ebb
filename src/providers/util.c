#include "providers/util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "sse.h"

/* ========================================================================================== */
/* xl_buf */

void xl_buf_init(struct xl_buf *b) {
    memset(b, 0, sizeof *b);
}

void xl_buf_free(struct xl_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void xl_buf_reset(struct xl_buf *b) {
    b->len = 0;
    b->oom = false;
}

char *xl_buf_grow(struct xl_buf *b, size_t n) {
    if (b->oom) return NULL;
    if (n + 1 > b->cap - b->len || !b->p) {
        size_t need = b->len + n + 1;
        if (need < b->len) {
            b->oom = true;
            return NULL;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (cap > ((size_t)-1) / 2) {
                cap = need;
                break;
            }
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return NULL;
        }
        b->p = np;
        b->cap = cap;
    }
    return b->p + b->len;
}

void xl_buf_printf(struct xl_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        xl_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *d = xl_buf_reserve(b, (size_t)n + 1);
    if (!d) return;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *xl_buf_cstr(struct xl_buf *b) {
    if (!xl_buf_reserve(b, 1)) return NULL;
    b->p[b->len] = '\0';
    return b->p;
}

static void free_moved(const void *data, size_t len, void *arg) {
    (void)len;
    (void)arg;
    free((void *)data);
}

int xl_buf_move_to(struct xl_buf *b, struct evbuffer *out) {
    if (!b->len) return 0;
    if (evbuffer_add_reference(out, b->p, b->len, free_moved, NULL) < 0) return -1;
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

/* ========================================================================================== */
/* JSON */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return len;
}

/* The length of the leading run of bytes that JSON takes verbatim: printable ASCII other than
 * '"' and '\\'. Most of a request's text is such runs (prompts, schemas), so they are
 * skipped 16 bytes at a time where SSE2 is there (every x86-64). */
static size_t verbatim_run(const unsigned char *s, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed compare: bytes 0x00-0x1f and 0x80-0xff are both "less than" 0x20 */
        __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return i + (size_t)__builtin_ctz(mask);
    }
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    }
    return i;
}

void xl_json_escape(struct xl_buf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* run: start of bytes copied verbatim */
    while (i < n) {
        i += verbatim_run(s + i, n - i);
        if (i >= n) break;
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq(s + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        xl_buf_add(b, s + run, i - run);
        switch (c) {
        case '"':
            xl_buf_add(b, "\\\"", 2);
            break;
        case '\\':
            xl_buf_add(b, "\\\\", 2);
            break;
        case '\n':
            xl_buf_add(b, "\\n", 2);
            break;
        case '\r':
            xl_buf_add(b, "\\r", 2);
            break;
        case '\t':
            xl_buf_add(b, "\\t", 2);
            break;
        case '\b':
            xl_buf_add(b, "\\b", 2);
            break;
        case '\f':
            xl_buf_add(b, "\\f", 2);
            break;
        default:
            if (c < 0x20)
                xl_buf_printf(b, "\\u%04x", c);
            else
                xl_buf_add(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte -> U+FFFD */
        }
        i++;
        run = i;
    }
    xl_buf_add(b, s + run, n - run);
}

void xl_jw_init(struct xl_jw *w, struct xl_buf *b) {
    memset(w, 0, sizeof *w);
    w->b = b;
}

/* Before a value or key at the current level: comma when needed. */
static void jw_sep(struct xl_jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->n[w->depth - 1]) xl_buf_addc(w->b, ',');
        w->n[w->depth - 1] = 1;
    }
}

static void jw_open(struct xl_jw *w, char c) {
    jw_sep(w);
    if (w->depth >= XL_JW_MAX_DEPTH) {
        w->bad = true;
        return;
    }
    xl_buf_addc(w->b, c);
    w->n[w->depth++] = 0;
}

static void jw_close(struct xl_jw *w, char c) {
    if (w->depth <= 0 || w->bad) {
        w->bad = true;
        return;
    }
    w->depth--;
    xl_buf_addc(w->b, c);
}

void xl_jw_obj(struct xl_jw *w) {
    jw_open(w, '{');
}
void xl_jw_obj_end(struct xl_jw *w) {
    jw_close(w, '}');
}
void xl_jw_arr(struct xl_jw *w) {
    jw_open(w, '[');
}
void xl_jw_arr_end(struct xl_jw *w) {
    jw_close(w, ']');
}

void xl_jw_key(struct xl_jw *w, const char *k) {
    jw_sep(w);
    xl_buf_addc(w->b, '"');
    xl_json_escape(w->b, k, strlen(k));
    xl_buf_add(w->b, "\":", 2);
    w->after_key = true;
}

void xl_jw_strn(struct xl_jw *w, const char *s, size_t n) {
    jw_sep(w);
    xl_buf_addc(w->b, '"');
    xl_json_escape(w->b, s, n);
    xl_buf_addc(w->b, '"');
}

void xl_jw_str(struct xl_jw *w, const char *s) {
    if (!s) {
        xl_jw_null(w);
        return;
    }
    xl_jw_strn(w, s, strlen(s));
}

void xl_jw_int(struct xl_jw *w, long long v) {
    jw_sep(w);
    xl_buf_printf(w->b, "%lld", v);
}

/* Integers within +-9e15 in full and -0 as 0 (as JavaScript prints them), others with 15
 * significant digits, or 17 when 15 do not give the same double back. */
void xl_buf_num(struct xl_buf *b, double d) {
    if (isnan(d) || isinf(d)) {
        xl_buf_add(b, "null", 4);
        return;
    }
    if (d >= -9e15 && d <= 9e15 && d == (double)(long long)d) {
        /* integers by hand: printf costs more than the rest of a schema node */
        char tmp[24], *e = tmp + sizeof tmp, *p = e;
        long long v = (long long)d;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0) *--p = '-';
        xl_buf_add(b, p, (size_t)(e - p));
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%1.15g", d);
    if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%1.17g", d);
    xl_buf_adds(b, tmp);
}

void xl_jw_num(struct xl_jw *w, double v) {
    jw_sep(w);
    xl_buf_num(w->b, v);
}

void xl_jw_bool(struct xl_jw *w, bool v) {
    jw_sep(w);
    xl_buf_adds(w->b, v ? "true" : "false");
}

void xl_jw_null(struct xl_jw *w) {
    jw_sep(w);
    xl_buf_add(w->b, "null", 4);
}

void xl_jw_raw(struct xl_jw *w, const char *json, size_t n) {
    jw_sep(w);
    xl_buf_add(w->b, json, n);
}

static bool in_skip(const char *k, const char *const *skip) {
    if (!skip || !k) return false;
    for (; *skip; skip++)
        if (strcmp(*skip, k) == 0) return true;
    return false;
}

static void jw_node(struct xl_jw *w, const cJSON *n, const char *const *skip, int depth) {
    if (depth > 900) {
        w->bad = true;
        return;
    }
    switch (n ? (n->type & 0xFF) : cJSON_NULL) {
    case cJSON_False:
        xl_jw_bool(w, false);
        break;
    case cJSON_True:
        xl_jw_bool(w, true);
        break;
    case cJSON_Number:
        xl_jw_num(w, n->valuedouble);
        break;
    case cJSON_String:
        xl_jw_str(w, n->valuestring ? n->valuestring : "");
        break;
    case cJSON_Raw:
        xl_jw_raw(w, n->valuestring, strlen(n->valuestring));
        break;
    case cJSON_Array: {
        xl_jw_arr(w);
        const cJSON *c;
        cJSON_ArrayForEach(c, n) jw_node(w, c, NULL, depth + 1);
        xl_jw_arr_end(w);
        break;
    }
    case cJSON_Object: {
        xl_jw_obj(w);
        const cJSON *c;
        cJSON_ArrayForEach(c, n) {
            if (!c->string || in_skip(c->string, skip)) continue;
            xl_jw_key(w, c->string);
            jw_node(w, c, NULL, depth + 1);
        }
        xl_jw_obj_end(w);
        break;
    }
    default:
        xl_jw_null(w);
        break;
    }
}

void xl_jw_cjson(struct xl_jw *w, const cJSON *node, const char *const *skip) {
    jw_node(w, node, skip, 0);
}

void xl_jw_kstr(struct xl_jw *w, const char *k, const char *s) {
    xl_jw_key(w, k);
    xl_jw_str(w, s);
}
void xl_jw_kint(struct xl_jw *w, const char *k, long long v) {
    xl_jw_key(w, k);
    xl_jw_int(w, v);
}
void xl_jw_kbool(struct xl_jw *w, const char *k, bool v) {
    xl_jw_key(w, k);
    xl_jw_bool(w, v);
}

/* ========================================================================================== */
/* ids */

static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int xl_mint_id(const char *prefix, char *out, size_t outsz) {
    size_t pl = strlen(prefix);
    if (outsz < pl + XL_ID_RANDOM_LEN + 1) return -1;
    memcpy(out, prefix, pl);
    size_t got = 0;
    unsigned char rnd[48];
    while (got < XL_ID_RANDOM_LEN) {
        if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
        for (size_t i = 0; i < sizeof rnd && got < XL_ID_RANDOM_LEN; i++)
            if (rnd[i] < 248) out[pl + got++] = B62[rnd[i] % 62]; /* 248 = 4*62: no bias */
    }
    out[pl + XL_ID_RANDOM_LEN] = '\0';
    return 0;
}

void xl_sha256_base62(const void *data, size_t len, char *out, size_t n) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, len, d);
    if (n > SHA256_DIGEST_LENGTH) n = SHA256_DIGEST_LENGTH;
    for (size_t i = 0; i < n; i++)
        out[i] = B62[d[i] % 62];
    out[n] = '\0';
}

void xl_sha256_hex(const void *data, size_t len, char *out, size_t n) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, len, d);
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++)
        out[i] = "0123456789abcdef"[(d[i / 2] >> ((i % 2) ? 0 : 4)) & 15];
    out[n] = '\0';
}

static bool is_b62(char c) {
    return isascii((unsigned char)c) && isalnum((unsigned char)c);
}
static bool is_b64url(char c) {
    return is_b62(c) || c == '-' || c == '_';
}

/* One "__g?<LEN>_<DATA>" segment at s; returns its length, 0 when malformed. */
static size_t seg_len(const char *s, char kind, const char **data, size_t *dlen) {
    if (s[0] != '_' || s[1] != '_' || s[2] != 'g' || s[3] != kind) return 0;
    size_t i = 4, v = 0;
    if (!isdigit((unsigned char)s[i])) return 0;
    while (isdigit((unsigned char)s[i])) {
        v = v * 10 + (size_t)(s[i] - '0');
        if (v > 1u << 20) return 0;
        i++;
    }
    if (s[i] != '_' || v == 0) return 0;
    i++;
    for (size_t k = 0; k < v; k++)
        if (!is_b64url(s[i + k])) return 0;
    *data = s + i;
    *dlen = v;
    return i + v;
}

bool xl_tool_id_split(const char *id, struct xl_tool_id_parts *out) {
    memset(out, 0, sizeof *out);
    if (!id || strncmp(id, "toolu_", 6) != 0) return false;
    for (int i = 6; i < XL_TOOL_ID_BASE_LEN; i++)
        if (!is_b62(id[i])) return false;
    const char *s = id + XL_TOOL_ID_BASE_LEN;
    size_t l;
    if (*s && (l = seg_len(s, 'i', &out->gi, &out->gi_len)) > 0) s += l;
    if (*s && (l = seg_len(s, 's', &out->gs, &out->gs_len)) > 0) s += l;
    if (*s) {
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}

void xl_tool_id_canon(const char *id, char out[XL_TOOL_ID_MAX + 1]) {
    struct xl_tool_id_parts parts;
    if (!id) id = "";
    if (xl_tool_id_split(id, &parts)) {
        memcpy(out, id, XL_TOOL_ID_BASE_LEN);
        out[XL_TOOL_ID_BASE_LEN] = '\0';
        return;
    }
    size_t n = strlen(id);
    if (n == 0 || n > XL_TOOL_ID_MAX) {
        memcpy(out, "toolu_", 6);
        xl_sha256_base62(id, n, out + 6, 24);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (is_b62(id[i]) || id[i] == '_' || id[i] == '-') ? id[i] : '_';
    out[n] = '\0';
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long xl_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz) {
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (outsz < need + 1) return -1;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

long xl_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz) {
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz) return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xFF);
        }
    }
    return (long)o;
}

/* ========================================================================================== */
/* tool names */

static bool name_char_ok(char c, enum xl_name_rule rule) {
    if (is_b62(c) || c == '_' || c == '-') return true;
    return rule == XL_NAMES_GEMINI && (c == '.' || c == ':');
}

bool xl_tool_name_valid(const char *name, enum xl_name_rule rule) {
    if (!name || !*name) return false;
    size_t n = strlen(name), max = rule == XL_NAMES_GEMINI ? 63 : 64;
    if (n > max) return false;
    if (rule == XL_NAMES_GEMINI &&
        !(isascii((unsigned char)name[0]) && isalpha((unsigned char)name[0])) && name[0] != '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok(name[i], rule)) return false;
    return true;
}

void xl_tool_name_upstream(const char *name, enum xl_name_rule rule, char out[65]) {
    if (!name) name = "";
    if (xl_tool_name_valid(name, rule)) {
        snprintf(out, 65, "%s", name);
        return;
    }
    size_t max = rule == XL_NAMES_GEMINI ? 63 : 64;
    size_t keep = max - 9, n = strlen(name), o = 0;
    if (n == 0) {
        memcpy(out, "tool", 4);
        o = 4;
    }
    for (size_t i = 0; i < n && o < keep; i++)
        out[o++] = name_char_ok(name[i], rule) ? name[i] : '_';
    if (rule == XL_NAMES_GEMINI &&
        !(isascii((unsigned char)out[0]) && isalpha((unsigned char)out[0])))
        out[0] = '_';
    out[o++] = '_';
    xl_sha256_hex(name, n, out + o, 8);
}

void xl_namemap_init(struct xl_namemap *m) {
    memset(m, 0, sizeof *m);
}

void xl_namemap_free(struct xl_namemap *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].upstream);
        free(m->v[i].client);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

int xl_namemap_add(struct xl_namemap *m, const char *name, enum xl_name_rule rule, char out[65]) {
    xl_tool_name_upstream(name, rule, out);
    if (!name || strcmp(out, name) == 0) return 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].upstream, out) == 0) return 0;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        struct xl_namemap_ent *nv = realloc(m->v, nc * sizeof *nv);
        if (!nv) return -1;
        m->v = nv;
        m->cap = nc;
    }
    char *u = strdup(out), *c = strdup(name);
    if (!u || !c) {
        free(u);
        free(c);
        return -1;
    }
    m->v[m->n].upstream = u;
    m->v[m->n].client = c;
    m->n++;
    return 0;
}

int xl_namemap_add_tools(struct xl_namemap *m, const cJSON *tools, enum xl_name_rule rule) {
    const cJSON *t;
    char tmp[65];
    if (!cJSON_IsArray(tools)) return 0;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(nm) && xl_namemap_add(m, nm->valuestring, rule, tmp) < 0) return -1;
    }
    return 0;
}

const char *xl_namemap_back(const struct xl_namemap *m, const char *name) {
    if (!name) return name;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].upstream, name) == 0) return m->v[i].client;
    return name;
}

/* ========================================================================================== */
/* carrier */

void xl_carrier_write(struct xl_buf *b, const char *profile, const char *model, const cJSON *rd,
                      const char *gs) {
    struct xl_buf tmp;
    xl_buf_init(&tmp);
    struct xl_jw w;
    xl_jw_init(&w, &tmp);
    xl_jw_obj(&w);
    xl_jw_kint(&w, "v", 1);
    xl_jw_kstr(&w, "p", profile ? profile : "");
    xl_jw_kstr(&w, "m", model ? model : "");
    if (cJSON_IsArray(rd) && cJSON_GetArraySize(rd) > 0) {
        xl_jw_key(&w, "rd");
        xl_jw_cjson(&w, rd, NULL);
    }
    if (gs && *gs) xl_jw_kstr(&w, "gs", gs);
    xl_jw_obj_end(&w);
    if (!xl_buf_ok(&tmp)) {
        b->oom = true;
        xl_buf_free(&tmp);
        return;
    }
    size_t need = tmp.len / 3 * 4 + 8;
    xl_buf_adds(b, XL_CARRIER_PREFIX);
    char *d = xl_buf_reserve(b, need);
    if (d) {
        long n = xl_b64url_encode((const unsigned char *)tmp.p, tmp.len, d, need);
        if (n > 0) b->len += (size_t)n;
    }
    xl_buf_free(&tmp);
}

int xl_carrier_read(const char *sig, struct xl_carrier *out) {
    memset(out, 0, sizeof *out);
    size_t pl = strlen(XL_CARRIER_PREFIX);
    if (!sig || strncmp(sig, XL_CARRIER_PREFIX, pl) != 0) return 0;
    const char *p = sig + pl;
    size_t n = strlen(p);
    unsigned char *raw = malloc(n + 1);
    if (!raw) return -1;
    long dl = xl_b64url_decode(p, n, raw, n);
    if (dl <= 0) {
        free(raw);
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)raw, (size_t)dl);
    free(raw);
    if (!j) return 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        cJSON_Delete(j);
        return 0;
    }
    out->json = j;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "p");
    out->p = cJSON_IsString(x) ? x->valuestring : NULL;
    x = cJSON_GetObjectItemCaseSensitive(j, "m");
    out->m = cJSON_IsString(x) ? x->valuestring : NULL;
    x = cJSON_GetObjectItemCaseSensitive(j, "rd");
    out->rd = cJSON_IsArray(x) ? x : NULL;
    x = cJSON_GetObjectItemCaseSensitive(j, "gs");
    out->gs = cJSON_IsString(x) ? x->valuestring : NULL;
    return 1;
}

void xl_carrier_free(struct xl_carrier *c) {
    if (c) {
        cJSON_Delete(c->json);
        memset(c, 0, sizeof *c);
    }
}

/* ========================================================================================== */
/* tool-call arguments (§3.6.2) */

static bool all_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

/* Parse s[0..n) as exactly one JSON value (trailing whitespace allowed). *end_out gets the end
 * of the first value when non-NULL, even when junk follows. */
static cJSON *parse_exact(const char *s, size_t n, size_t *first_end) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, false);
    if (first_end) *first_end = (j && end) ? (size_t)(end - s) : 0;
    if (!j) return NULL;
    if (!all_space(end, n - (size_t)(end - s))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static void trim(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Output an accepted candidate: must be an object. Returns 0/1 or -1. */
static int accept_obj(cJSON *j, const char *text, size_t n, struct xl_buf *out) {
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return -1;
    }
    cJSON_Delete(j);
    xl_buf_add(out, text, n);
    return 0;
}

/* Remove trailing commas before } or ] and map bare True/False/None, outside strings. */
static void fix_tokens(const char *s, size_t n, struct xl_buf *o, bool commas, bool literals) {
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            xl_buf_addc(o, c);
            if (c == '\\' && i + 1 < n)
                xl_buf_addc(o, s[++i]);
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
            xl_buf_addc(o, c);
            continue;
        }
        if (commas && c == ',') {
            size_t k = i + 1;
            while (k < n && isspace((unsigned char)s[k]))
                k++;
            if (k < n && (s[k] == '}' || s[k] == ']')) continue;
        }
        if (literals && (i == 0 || !isalnum((unsigned char)s[i - 1]))) {
            static const struct {
                const char *from, *to;
            } L[] = {{"True", "true"}, {"False", "false"}, {"None", "null"}};
            bool done = false;
            for (size_t k = 0; k < 3 && !done; k++) {
                size_t l = strlen(L[k].from);
                if (i + l <= n && memcmp(s + i, L[k].from, l) == 0 &&
                    (i + l == n || !isalnum((unsigned char)s[i + l]))) {
                    xl_buf_adds(o, L[k].to);
                    i += l - 1;
                    done = true;
                }
            }
            if (done) continue;
        }
        xl_buf_addc(o, c);
    }
}

/* Close unterminated strings / arrays / objects (finish reason length). */
static void close_open(const char *s, size_t n, struct xl_buf *o) {
    char stack[256];
    size_t sp = 0;
    bool in_str = false, overflow = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (sp < sizeof stack)
                stack[sp++] = c == '{' ? '}' : ']';
            else
                overflow = true;
        } else if ((c == '}' || c == ']') && sp)
            sp--;
    }
    if (overflow) return;
    xl_buf_add(o, s, n);
    if (in_str) {
        /* a dangling backslash would escape our quote */
        size_t bs = 0;
        while (bs < n && s[n - 1 - bs] == '\\')
            bs++;
        if (bs % 2) xl_buf_addc(o, '\\');
        xl_buf_addc(o, '"');
    }
    /* a dangling ',' or ':' cannot be closed validly: drop a trailing comma */
    while (o->len && (isspace((unsigned char)o->p[o->len - 1]) || o->p[o->len - 1] == ','))
        o->len--;
    if (o->len && o->p[o->len - 1] == ':') xl_buf_add(o, "null", 4);
    while (sp)
        xl_buf_addc(o, stack[--sp]);
}

int xl_tool_args_fix(const char *raw, size_t n, bool truncated, struct xl_buf *out,
                     const char **what) {
    const char *s = raw ? raw : "";
    if (what) *what = NULL;
    trim(&s, &n);
    if (n == 0) {
        xl_buf_add(out, "{}", 2);
        return 0;
    }
    size_t first_end = 0;
    cJSON *j = parse_exact(s, n, &first_end);
    if (j && cJSON_IsString(j)) { /* (3) double-encoded arguments */
        cJSON *in = cJSON_Parse(j->valuestring);
        if (cJSON_IsObject(in)) {
            xl_buf_adds(out, j->valuestring);
            if (what) *what = "decoded double-encoded arguments";
            cJSON_Delete(in);
            cJSON_Delete(j);
            return 1;
        }
        cJSON_Delete(in);
    }
    if (j) return accept_obj(j, s, n, out);

    /* (1) Markdown code fence */
    if (n > 6 && memcmp(s, "```", 3) == 0) {
        const char *nl = memchr(s, '\n', n);
        const char *e = s + n;
        if (nl && n >= 6 && memcmp(e - 3, "```", 3) == 0 && nl < e - 3) {
            const char *t = nl + 1;
            size_t tn = (size_t)(e - 3 - t);
            trim(&t, &tn);
            struct xl_buf tmp;
            xl_buf_init(&tmp);
            int rc = xl_tool_args_fix(t, tn, truncated, &tmp, what);
            if (rc >= 0 && xl_buf_ok(&tmp)) {
                xl_buf_add(out, tmp.p, tmp.len);
                if (what) *what = "stripped a Markdown code fence";
                xl_buf_free(&tmp);
                return 1;
            }
            xl_buf_free(&tmp);
        }
    }
    /* (2) first complete value followed by junk */
    if (first_end > 0 && first_end < n) {
        j = parse_exact(s, first_end, NULL);
        if (j && cJSON_IsObject(j)) {
            cJSON_Delete(j);
            xl_buf_add(out, s, first_end);
            if (what) *what = "kept the first JSON value (text followed it)";
            return 1;
        }
        cJSON_Delete(j);
    }
    /* (3) double-encoded: handled when the whole text is a JSON string */
    /* (4), (5) trailing commas, Python literals */
    struct xl_buf tmp;
    xl_buf_init(&tmp);
    fix_tokens(s, n, &tmp, true, false);
    if (xl_buf_ok(&tmp) && (j = parse_exact(tmp.p, tmp.len, NULL)) != NULL) {
        if (cJSON_IsObject(j)) {
            cJSON_Delete(j);
            xl_buf_add(out, tmp.p, tmp.len);
            xl_buf_free(&tmp);
            if (what) *what = "removed trailing commas";
            return 1;
        }
        cJSON_Delete(j);
    }
    xl_buf_reset(&tmp);
    fix_tokens(s, n, &tmp, true, true);
    if (xl_buf_ok(&tmp) && (j = parse_exact(tmp.p, tmp.len, NULL)) != NULL) {
        if (cJSON_IsObject(j)) {
            cJSON_Delete(j);
            xl_buf_add(out, tmp.p, tmp.len);
            xl_buf_free(&tmp);
            if (what) *what = "replaced Python literals True/False/None";
            return 1;
        }
        cJSON_Delete(j);
    }
    /* (6) truncated output */
    if (truncated) {
        struct xl_buf fixed;
        xl_buf_init(&fixed);
        close_open(tmp.p ? tmp.p : s, tmp.p ? tmp.len : n, &fixed);
        if (xl_buf_ok(&fixed) && fixed.len && (j = parse_exact(fixed.p, fixed.len, NULL)) != NULL) {
            if (cJSON_IsObject(j)) {
                cJSON_Delete(j);
                xl_buf_add(out, fixed.p, fixed.len);
                xl_buf_free(&fixed);
                xl_buf_free(&tmp);
                if (what) *what = "closed a truncated value";
                return 1;
            }
            cJSON_Delete(j);
        }
        xl_buf_free(&fixed);
    }
    xl_buf_free(&tmp);
    return -1;
}

/* ========================================================================================== */
/* lone UTF-16 surrogate escapes (edge case 28) */

static int hex4(const char *s, size_t n) {
    if (n < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int xl_json_fix_surrogates(const char *s, size_t n, struct xl_buf *out) {
    int fixed = 0;
    size_t run = 0, i = 0;
    while (i < n) {
        if (s[i] != '\\' || i + 1 >= n) {
            i++;
            continue;
        }
        if (s[i + 1] != 'u') {
            i += 2;
            continue;
        }
        int v = hex4(s + i + 2, n - i - 2);
        if (v >= 0xD800 && v <= 0xDBFF) {
            int lo = (i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u')
                         ? hex4(s + i + 8, n - i - 8)
                         : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                i += 12; /* a proper pair */
                continue;
            }
        } else if (!(v >= 0xDC00 && v <= 0xDFFF)) {
            i += 2;
            continue;
        }
        /* a lone surrogate: U+FFFD */
        xl_buf_add(out, s + run, i - run);
        xl_buf_adds(out, "\\ufffd");
        i += 6;
        run = i;
        fixed++;
    }
    xl_buf_add(out, s + run, n - run);
    return fixed;
}

/* ========================================================================================== */
/* Anthropic SSE writer */

int xl_aout_init(struct xl_aout *a, const char *model, struct err *err) {
    memset(a, 0, sizeof *a);
    xl_buf_init(&a->scratch);
    a->model = strdup(model ? model : "");
    if (!a->model) return err_set(err, ERR_NOMEM, "stream: out of memory");
    if (xl_mint_id("msg_", a->msg_id, sizeof a->msg_id) < 0) {
        free(a->model);
        a->model = NULL;
        return err_set(err, ERR_INTERNAL, "stream: the system random generator failed");
    }
    return 0;
}

void xl_aout_free(struct xl_aout *a) {
    free(a->model);
    xl_buf_free(&a->scratch);
    memset(a, 0, sizeof *a);
}

static int aout_emit(struct xl_aout *a, const char *event, struct evbuffer *out, struct err *err) {
    if (!xl_buf_ok(&a->scratch) || sse_write(out, event, a->scratch.p, a->scratch.len) < 0)
        return err_set(err, ERR_NOMEM, "stream: out of memory writing the %s event", event);
    return 0;
}

void xl_jw_usage(struct xl_jw *w, const struct xl_usage *u, long thinking_tokens) {
    xl_jw_obj(w);
    xl_jw_kint(w, "input_tokens", u->input_tokens);
    xl_jw_kint(w, "output_tokens", u->output_tokens);
    xl_jw_kint(w, "cache_creation_input_tokens", u->cache_creation_input_tokens);
    xl_jw_kint(w, "cache_read_input_tokens", u->cache_read_input_tokens);
    if (thinking_tokens >= 0) {
        xl_jw_key(w, "output_tokens_details");
        xl_jw_obj(w);
        xl_jw_kint(w, "thinking_tokens", thinking_tokens);
        xl_jw_obj_end(w);
    }
    xl_jw_obj_end(w);
}

int xl_aout_start(struct xl_aout *a, struct evbuffer *out, struct err *err) {
    if (a->started) return 0;
    struct xl_jw w;
    xl_buf_reset(&a->scratch);
    xl_jw_init(&w, &a->scratch);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "message_start");
    xl_jw_key(&w, "message");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "id", a->msg_id);
    xl_jw_kstr(&w, "type", "message");
    xl_jw_kstr(&w, "role", "assistant");
    xl_jw_kstr(&w, "model", a->model);
    xl_jw_key(&w, "content");
    xl_jw_arr(&w);
    xl_jw_arr_end(&w);
    xl_jw_key(&w, "stop_reason");
    xl_jw_null(&w);
    xl_jw_key(&w, "stop_sequence");
    xl_jw_null(&w);
    xl_jw_key(&w, "usage");
    struct xl_usage u = {0, 1, 0, 0};
    xl_jw_usage(&w, &u, -1);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    if (aout_emit(a, "message_start", out, err) < 0) return -1;
    a->started = true;
    return xl_aout_ping(a, out, err);
}

int xl_aout_ping(struct xl_aout *a, struct evbuffer *out, struct err *err) {
    static const char ping[] = "{\"type\":\"ping\"}";
    if (sse_write(out, "ping", ping, sizeof ping - 1) < 0)
        return err_set(err, ERR_NOMEM, "stream: out of memory writing a ping");
    (void)a;
    return 0;
}

static int block_start(struct xl_aout *a, enum xl_block kind, const char *id, const char *name,
                       const char *data, size_t dlen, struct evbuffer *out, struct err *err) {
    if (a->open != XL_BLOCK_NONE)
        return err_set(err, ERR_INTERNAL,
                       "stream: a content block was opened while block %d is open",
                       a->next_index - 1);
    if (!a->started && xl_aout_start(a, out, err) < 0) return -1;
    struct xl_jw w;
    xl_buf_reset(&a->scratch);
    xl_jw_init(&w, &a->scratch);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "content_block_start");
    xl_jw_kint(&w, "index", a->next_index);
    xl_jw_key(&w, "content_block");
    xl_jw_obj(&w);
    switch (kind) {
    case XL_BLOCK_TEXT:
        xl_jw_kstr(&w, "type", "text");
        xl_jw_kstr(&w, "text", "");
        break;
    case XL_BLOCK_THINKING:
        xl_jw_kstr(&w, "type", "thinking");
        xl_jw_kstr(&w, "thinking", "");
        xl_jw_kstr(&w, "signature", "");
        break;
    case XL_BLOCK_TOOL:
        xl_jw_kstr(&w, "type", "tool_use");
        xl_jw_kstr(&w, "id", id);
        xl_jw_kstr(&w, "name", name);
        xl_jw_key(&w, "input");
        xl_jw_obj(&w);
        xl_jw_obj_end(&w);
        break;
    case XL_BLOCK_REDACTED:
        xl_jw_kstr(&w, "type", "redacted_thinking");
        xl_jw_key(&w, "data");
        xl_jw_strn(&w, data, dlen);
        break;
    default:
        break;
    }
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    if (aout_emit(a, "content_block_start", out, err) < 0) return -1;
    a->open = kind;
    a->next_index++;
    return 0;
}

int xl_aout_text_start(struct xl_aout *a, struct evbuffer *out, struct err *err) {
    return block_start(a, XL_BLOCK_TEXT, NULL, NULL, NULL, 0, out, err);
}
int xl_aout_thinking_start(struct xl_aout *a, struct evbuffer *out, struct err *err) {
    return block_start(a, XL_BLOCK_THINKING, NULL, NULL, NULL, 0, out, err);
}
int xl_aout_tool_start(struct xl_aout *a, const char *id, const char *name, struct evbuffer *out,
                       struct err *err) {
    return block_start(a, XL_BLOCK_TOOL, id, name, NULL, 0, out, err);
}
int xl_aout_redacted(struct xl_aout *a, const char *data, size_t len, struct evbuffer *out,
                     struct err *err) {
    if (block_start(a, XL_BLOCK_REDACTED, NULL, NULL, data, len, out, err) < 0) return -1;
    return xl_aout_stop(a, out, err);
}

static int delta(struct xl_aout *a, enum xl_block need, const char *dtype, const char *field,
                 const char *s, size_t n, struct evbuffer *out, struct err *err) {
    if (n == 0) return 0;
    if (a->open != need)
        return err_set(err, ERR_INTERNAL, "stream: %s outside its block kind", dtype);
    struct xl_jw w;
    xl_buf_reset(&a->scratch);
    xl_jw_init(&w, &a->scratch);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "content_block_delta");
    xl_jw_kint(&w, "index", a->next_index - 1);
    xl_jw_key(&w, "delta");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", dtype);
    xl_jw_key(&w, field);
    xl_jw_strn(&w, s, n);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
    if (need != XL_BLOCK_THINKING || strcmp(dtype, "signature_delta") != 0) a->out_bytes += n;
    return aout_emit(a, "content_block_delta", out, err);
}

int xl_aout_text(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                 struct err *err) {
    return delta(a, XL_BLOCK_TEXT, "text_delta", "text", s, n, out, err);
}
int xl_aout_thinking(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                     struct err *err) {
    return delta(a, XL_BLOCK_THINKING, "thinking_delta", "thinking", s, n, out, err);
}
int xl_aout_signature(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                      struct err *err) {
    return delta(a, XL_BLOCK_THINKING, "signature_delta", "signature", s, n, out, err);
}

int xl_aout_json(struct xl_aout *a, const char *s, size_t n, struct evbuffer *out,
                 struct err *err) {
    const size_t slice = 32 * 1024;
    while (n > 0) {
        size_t k = n < slice ? n : slice;
        /* do not cut a UTF-8 sequence: back up to a lead byte */
        while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        if (k == 0) k = n < slice ? n : slice;
        if (delta(a, XL_BLOCK_TOOL, "input_json_delta", "partial_json", s, k, out, err) < 0)
            return -1;
        s += k;
        n -= k;
    }
    return 0;
}

int xl_aout_stop(struct xl_aout *a, struct evbuffer *out, struct err *err) {
    if (a->open == XL_BLOCK_NONE) return 0;
    char tmp[80];
    int n = snprintf(tmp, sizeof tmp, "{\"type\":\"content_block_stop\",\"index\":%d}",
                     a->next_index - 1);
    if (sse_write(out, "content_block_stop", tmp, (size_t)n) < 0)
        return err_set(err, ERR_NOMEM, "stream: out of memory writing content_block_stop");
    a->open = XL_BLOCK_NONE;
    return 0;
}

int xl_aout_finish(struct xl_aout *a, const char *stop_reason, const char *stop_sequence,
                   const struct xl_usage *u, long thinking_tokens, struct evbuffer *out,
                   struct err *err) {
    if (!a->started && xl_aout_start(a, out, err) < 0) return -1;
    if (xl_aout_stop(a, out, err) < 0) return -1;
    struct xl_jw w;
    xl_buf_reset(&a->scratch);
    xl_jw_init(&w, &a->scratch);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "message_delta");
    xl_jw_key(&w, "delta");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "stop_reason", stop_reason ? stop_reason : "end_turn");
    xl_jw_key(&w, "stop_sequence");
    xl_jw_str(&w, stop_sequence);
    xl_jw_obj_end(&w);
    xl_jw_key(&w, "usage");
    xl_jw_usage(&w, u, thinking_tokens);
    xl_jw_obj_end(&w);
    if (aout_emit(a, "message_delta", out, err) < 0) return -1;
    static const char stop[] = "{\"type\":\"message_stop\"}";
    if (sse_write(out, "message_stop", stop, sizeof stop - 1) < 0)
        return err_set(err, ERR_NOMEM, "stream: out of memory writing message_stop");
    a->finished = true;
    return 0;
}

/* ========================================================================================== */
/* errors */

long xl_parse_duration_ms(const char *s) {
    if (!s) return -1;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s) return -1;
    double total = 0;
    bool any = false;
    while (*s && !isspace((unsigned char)*s) && *s != '"') {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0) return -1;
        s = end;
        double mult;
        if (strncmp(s, "ms", 2) == 0)
            mult = 1, s += 2;
        else if (*s == 'h')
            mult = 3600000, s++;
        else if (*s == 'm')
            mult = 60000, s++;
        else if (*s == 's')
            mult = 1000, s++;
        else if (*s == '\0' && !any)
            mult = 1000, any = true; /* bare number: seconds */
        else
            return -1;
        total += v * mult;
        any = true;
    }
    if (!any || total > 1e12) return -1;
    return (long)ceil(total);
}

static bool ci_contains(const char *hay, const char *needle) {
    return hay && needle && strcasestr(hay, needle) != NULL;
}

void xl_mask_secrets(char *s) {
    if (!s) return;
    static const char *const pre[] = {
        "sk-", "AIza", "Bearer ", "bearer ", "key=", "api_key=", "xai-", "gsk_", NULL};
    for (size_t k = 0; pre[k]; k++) {
        size_t pl = strlen(pre[k]);
        char *p = s;
        while ((p = strstr(p, pre[k])) != NULL) {
            if (p > s && isalnum((unsigned char)p[-1])) { /* "task-list" is not a key */
                p += pl;
                continue;
            }
            char *v = p + pl;
            size_t n = 0;
            while (v[n] &&
                   (isalnum((unsigned char)v[n]) || v[n] == '-' || v[n] == '_' || v[n] == '.'))
                n++;
            if (n >= 6) {
                /* keep the prefix, replace the secret by "***" and close the gap */
                memcpy(v, "***", 3);
                memmove(v + 3, v + n, strlen(v + n) + 1);
                p = v + 3;
            } else {
                p = v;
            }
        }
    }
}

/* Text of an HTML or plain body: tags removed, whitespace collapsed, at most max bytes. */
static void plain_text(const char *body, size_t len, char *out, size_t max) {
    size_t o = 0;
    bool in_tag = false, space = false;
    bool html = false;
    for (size_t i = 0; i < len && i < 64; i++)
        if (body[i] == '<') {
            html = true;
            break;
        }
    for (size_t i = 0; i < len && o + 1 < max; i++) {
        char c = body[i];
        if (html && c == '<') {
            in_tag = true;
            continue;
        }
        if (in_tag) {
            if (c == '>') {
                in_tag = false;
                space = o > 0;
            }
            continue;
        }
        if (isspace((unsigned char)c) || c == '\0') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < max) out[o++] = ' ';
        space = false;
        out[o++] = c;
    }
    out[o] = '\0';
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Numbers after a phrase: the first integer following `after` in s. */
static long num_after(const char *s, const char *after) {
    const char *p = s ? strcasestr(s, after) : NULL;
    if (!p) return -1;
    p += strlen(after);
    while (*p && !isdigit((unsigned char)*p)) {
        if (*p == '.' && p[1] == ' ') return -1; /* sentence ended */
        p++;
    }
    if (!*p) return -1;
    return strtol(p, NULL, 10);
}

static bool is_overflow(const char *code, const char *text) {
    if (code && (strcmp(code, "context_length_exceeded") == 0 ||
                 strcmp(code, "string_above_max_length") == 0))
        return true;
    return ci_contains(text, "maximum context length") ||
           ci_contains(text, "context_length_exceeded") || ci_contains(text, "context length") ||
           ci_contains(text, "context window") ||
           (ci_contains(text, "input token count") && ci_contains(text, "exceeds the maximum")) ||
           ci_contains(text, "prompt is too long") || ci_contains(text, "too many tokens") ||
           ci_contains(text, "reduce the length of the messages");
}

/* O5 rewrite. */
static void overflow_message(char *dst, size_t dsz, const char *text, const char *model) {
    long m = num_after(text, "maximum context length is");
    if (m < 0) m = num_after(text, "maximum number of tokens allowed");
    if (m < 0) m = num_after(text, "context length of");
    if (m < 0) m = num_after(text, "limit of");
    long i = num_after(text, "input token count");
    if (i < 0) {
        const char *p = text ? strcasestr(text, " in the messages") : NULL;
        if (p) { /* "(1000 in the messages, 32000 in the completion)" */
            const char *q = p;
            while (q > text && (isdigit((unsigned char)q[-1])))
                q--;
            if (q < p) i = strtol(q, NULL, 10);
        }
    }
    if (i < 0) i = num_after(text, "resulted in");
    if (i < 0 && m < 0 && text && strcasestr(text, "prompt is too long:")) { /* Anthropic's own */
        i = num_after(text, "prompt is too long:");
        m = num_after(text, "tokens >");
    }
    long c = -1;
    const char *pc = text ? strcasestr(text, " in the completion") : NULL;
    if (pc) {
        const char *q = pc;
        while (q > text && isdigit((unsigned char)q[-1]))
            q--;
        if (q < pc) c = strtol(q, NULL, 10);
    }
    if (i >= 0 && m > 0 && i < m && c >= 0)
        snprintf(dst, dsz,
                 "input length and `max_tokens` exceed context limit: %ld + %ld > %ld, decrease "
                 "input length or `max_tokens` and try again",
                 i, c, m);
    else if (i >= 0 && m > 0 && i >= m)
        snprintf(dst, dsz, "prompt is too long: %ld tokens > %ld maximum", i, m);
    else
        snprintf(dst, dsz, "prompt is too long for %s", model ? model : "the upstream model");
}

/* Header lookup (case-insensitive) on the struct itself: http.c belongs to the lead. */
static const char *hdr_get(const struct http_hdrs *h, const char *name) {
    for (size_t i = 0; h && i < h->n; i++)
        if (h->v[i].name && strcasecmp(h->v[i].name, name) == 0) return h->v[i].value;
    return NULL;
}

static long retry_after_from_headers(const struct http_hdrs *h) {
    if (!h) return -1;
    const char *v = hdr_get(h, "retry-after-ms");
    if (v) {
        char *end;
        double ms = strtod(v, &end);
        if (end != v && ms >= 0) return (long)ceil(ms);
    }
    v = hdr_get(h, "retry-after");
    if (v) {
        char *end;
        double sec = strtod(v, &end);
        if (end != v && sec >= 0) return (long)ceil(sec * 1000);
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        if (strptime(v, "%a, %d %b %Y %H:%M:%S", &tm)) {
            time_t t = timegm(&tm), now = time(NULL);
            return t > now ? (long)(t - now) * 1000 : 0;
        }
    }
    long a = xl_parse_duration_ms(hdr_get(h, "x-ratelimit-reset-requests"));
    long b = xl_parse_duration_ms(hdr_get(h, "x-ratelimit-reset-tokens"));
    return a > b ? a : b;
}

int xl_map_upstream_error(int status, const struct http_hdrs *hdrs, const char *body, size_t len,
                          const char *provider, const char *model, struct xl_error *out) {
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    out->retry_after_ms = -1;
    out->should_retry = -1;
    if (!body) len = 0;

    /* ---- read the body */
    cJSON *root = NULL;
    size_t k = 0;
    while (k < len && isspace((unsigned char)body[k]))
        k++;
    if (k < len && (body[k] == '{' || body[k] == '[')) root = cJSON_ParseWithLength(body, len);
    const cJSON *top = root;
    if (cJSON_IsArray(top)) top = cJSON_GetArrayItem(top, 0);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(top, "error");
    if (cJSON_IsString(e)) e = top; /* {"error":"text"} */
    const char *msg = NULL, *type = NULL, *gstatus = NULL, *code_s = NULL, *pname = NULL,
               *raw = NULL;
    char codebuf[32] = "";
    int code_n = 0;
    bool moderation = false, key_invalid = false, daily_quota = false;
    long gdelay = -1;
    if (cJSON_IsObject(e)) {
        msg = jstr(e, "message");
        type = jstr(e, "type");
        gstatus = jstr(e, "status");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
        if (cJSON_IsString(c))
            code_s = c->valuestring;
        else if (cJSON_IsNumber(c))
            code_n = xl_int(c->valuedouble);
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(e, "metadata");
        pname = jstr(md, "provider_name");
        raw = jstr(md, "raw");
        if (cJSON_GetObjectItemCaseSensitive(md, "reasons")) moderation = true;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(e, "details")) {
            const char *reason = jstr(d, "reason");
            if (reason && strcmp(reason, "API_KEY_INVALID") == 0) key_invalid = true;
            const char *delay = jstr(d, "retryDelay");
            if (delay) gdelay = xl_parse_duration_ms(delay);
            const cJSON *viol;
            cJSON_ArrayForEach(viol, cJSON_GetObjectItemCaseSensitive(d, "violations")) {
                const char *qid = jstr(viol, "quotaId");
                if (qid && (strstr(qid, "PerDay") || strstr(qid, "PerMonth"))) daily_quota = true;
            }
        }
        if (!msg && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(top, "error")))
            msg = jstr(top, "error");
    } else if (cJSON_IsObject(top)) {
        const char *obj = jstr(top, "object");
        msg = jstr(top, "message");
        if (!msg) msg = jstr(top, "detail");
        type = jstr(top, "type");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(top, "code");
        if (cJSON_IsString(c))
            code_s = c->valuestring;
        else if (cJSON_IsNumber(c))
            code_n = xl_int(c->valuedouble);
        (void)obj;
    }
    char text[XL_ERROR_MSG_MAX + 1];
    if (msg)
        snprintf(text, sizeof text, "%s", msg);
    else if (!root && len)
        plain_text(body, len, text, sizeof text);
    else if (root) {
        char *p = cJSON_PrintUnformatted(top);
        snprintf(text, sizeof text, "%s", p ? p : "");
        free(p);
    } else
        text[0] = '\0';
    if (code_s) snprintf(codebuf, sizeof codebuf, "%s", code_s);

    /* ---- status */
    int st = status;
    if (st == 0) {
        if (code_n >= 400 && code_n < 600)
            st = code_n;
        else if (gstatus && strcmp(gstatus, "RESOURCE_EXHAUSTED") == 0)
            st = 429;
        else if (gstatus && strcmp(gstatus, "UNAVAILABLE") == 0)
            st = 503;
        else if (ci_contains(type, "rate_limit") || ci_contains(codebuf, "rate_limit"))
            st = 429;
        else if (ci_contains(type, "overloaded") || ci_contains(text, "overloaded"))
            st = 529;
        else if (ci_contains(codebuf, "tool_use_failed") || ci_contains(type, "invalid_request"))
            st = 400;
        else
            st = 500;
    }
    const char *all = raw ? raw : text;
    if (ci_contains(codebuf, "insufficient_quota") || ci_contains(text, "per day") ||
        ci_contains(text, "daily") || ci_contains(text, "per-day") || ci_contains(text, "PerDay") ||
        ci_contains(text, "monthly"))
        daily_quota = true;

    long ra = retry_after_from_headers(hdrs);
    if (ra < 0) ra = gdelay;

    bool gs_is = false;
#define GS(x) (gstatus && strcmp(gstatus, (x)) == 0)
    if (is_overflow(codebuf, text) || (raw && is_overflow(NULL, raw))) {
        out->status = 400;
        out->type = "invalid_request_error";
        char rew[300];
        overflow_message(rew, sizeof rew, is_overflow(codebuf, text) ? text : all, model);
        snprintf(out->message, sizeof out->message, "%s (upstream: %s)", rew, text);
        xl_mask_secrets(out->message);
        cJSON_Delete(root);
        return 0;
    }
    if (ci_contains(codebuf, "tool_use_failed") ||
        ci_contains(text, "requested tool does not exist") ||
        ci_contains(text, "MALFORMED_FUNCTION_CALL")) {
        out->status = 502;
        out->type = "api_error";
        out->should_retry = 1;
    } else if (st == 401 || key_invalid || GS("UNAUTHENTICATED")) {
        out->status = 502; /* O6: the provider refused ccrelay's key; 401 is ccrelay's own */
        out->type = "api_error";
        out->should_retry = 0;
        gs_is = true;
    } else if (st == 402) {
        if (ra >= 0) {
            out->status = 429;
            out->type = "rate_limit_error";
        } else {
            out->status = 402;
            out->type = "billing_error";
        }
    } else if (st == 403 || moderation || GS("PERMISSION_DENIED") || GS("FAILED_PRECONDITION")) {
        out->status = 403;
        out->type = "permission_error";
    } else if (st == 404 || GS("NOT_FOUND")) {
        out->status = 404;
        out->type = "not_found_error";
    } else if (st == 408 || st == 504 || GS("DEADLINE_EXCEEDED")) {
        out->status = 504;
        out->type = "timeout_error";
    } else if (st == 413) {
        out->status = 413;
        out->type = "request_too_large";
    } else if (st == 429 || GS("RESOURCE_EXHAUSTED")) {
        out->status = 429;
        out->type = "rate_limit_error";
        if (daily_quota) out->should_retry = 0;
    } else if (st == 529 || st == 498 || GS("UNAVAILABLE") || ci_contains(text, "overloaded") ||
               (st == 503 && ci_contains(text, "capacity"))) {
        out->status = 529;
        out->type = "overloaded_error";
    } else if (st == 503) {
        out->status = 503;
        out->type = "api_error";
    } else if (st >= 500) {
        out->status = 502;
        out->type = "api_error";
    } else if (st >= 400) {
        out->status = 400;
        out->type = "invalid_request_error";
    } else {
        out->status = 502;
        out->type = "api_error";
    }
#undef GS

    if (ra >= 0 && (out->status == 429 || out->status >= 500)) {
        if (ra > 60000) {
            ra = 60000;
            out->should_retry = 0;
        }
        out->retry_after_ms = ra;
    }

    /* ---- message */
    char who[200];
    if (provider && model)
        snprintf(who, sizeof who, "%s/%s", provider, model);
    else
        snprintf(who, sizeof who, "%s", provider ? provider : (model ? model : "upstream"));
    char extra[160] = "";
    if (pname) snprintf(extra, sizeof extra, " [provider: %s]", pname);
    const char *hint = "";
    if (out->status == 404 && (ci_contains(provider, "ollama") || ci_contains(text, "try pulling")))
        hint = " (the model is not pulled: run `ollama pull` for it on the Ollama host)";
    if (gs_is)
        snprintf(
            out->message, sizeof out->message,
            "%s: the provider rejected ccrelay's API key: %s (upstream HTTP %d); check the key "
            "configured for %s",
            who, text[0] ? text : "unauthorized", status ? status : st,
            provider ? provider : "this provider");
    else
        snprintf(out->message, sizeof out->message, "%s: %s%s%s (upstream HTTP %d)", who,
                 text[0] ? text : "upstream error", extra, hint, status ? status : st);
    xl_mask_secrets(out->message);
    /* keep valid UTF-8 after truncation: drop a cut sequence at the end */
    size_t ml = strlen(out->message);
    size_t cut = ml;
    while (cut > 0 && ((unsigned char)out->message[cut - 1] & 0xC0) == 0x80)
        cut--;
    if (cut > 0 && (unsigned char)out->message[cut - 1] >= 0xC0 &&
        utf8_seq((const unsigned char *)out->message + cut - 1, ml - cut + 1) == 0)
        out->message[cut - 1] = '\0';
    cJSON_Delete(root);
    return 0;
}

void xl_error_body(struct xl_buf *b, const struct xl_error *e) {
    struct xl_jw w;
    xl_jw_init(&w, b);
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", "error");
    xl_jw_key(&w, "error");
    xl_jw_obj(&w);
    xl_jw_kstr(&w, "type", e->type ? e->type : "api_error");
    xl_jw_kstr(&w, "message", e->message);
    xl_jw_obj_end(&w);
    xl_jw_obj_end(&w);
}

/* ========================================================================================== */
/* misc */

int xl_hdrs_add(struct http_hdrs *h, const char *name, const char *value) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 8;
        struct http_header *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return -1;
        h->v = nv;
        h->cap = nc;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    for (char *p = n; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    h->v[h->n].name = n;
    h->v[h->n].value = v;
    h->n++;
    return 0;
}

bool xl_header_is_private(const char *name) {
    static const char *const exact[] = {"authorization",
                                        "x-api-key",
                                        "cookie",
                                        "proxy-authorization",
                                        "x-app",
                                        "host",
                                        "content-length",
                                        "connection",
                                        "transfer-encoding",
                                        "keep-alive",
                                        "upgrade",
                                        "te",
                                        "trailer",
                                        "proxy-connection",
                                        "x-goog-api-key",
                                        NULL};
    static const char *const prefix[] = {"anthropic-", "x-stainless-", "x-claude-code-", NULL};
    if (!name) return true;
    for (size_t i = 0; exact[i]; i++)
        if (strcasecmp(name, exact[i]) == 0) return true;
    for (size_t i = 0; prefix[i]; i++)
        if (strncasecmp(name, prefix[i], strlen(prefix[i])) == 0) return true;
    return false;
}

void xl_url_host(const char *url, char *out, size_t outsz) {
    if (!outsz) return;
    out[0] = '\0';
    if (!url) return;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = NULL;
    for (const char *q = p; *q && *q != '/'; q++)
        if (*q == '@') at = q;
    if (at) p = at + 1;
    size_t o = 0;
    while (*p && *p != '/' && *p != ':' && *p != '?' && o + 1 < outsz)
        out[o++] = (char)tolower((unsigned char)*p++);
    out[o] = '\0';
}

long xl_long(double d) {
    const double lim = 9007199254740992.0; /* 2^53 */
    if (d != d) return 0;
    if (d >= lim) return (long)lim;
    if (d <= -lim) return -(long)lim;
    return (long)d;
}

int xl_int(double d) {
    if (d != d) return 0;
    if (d >= (double)INT_MAX) return INT_MAX;
    if (d <= (double)INT_MIN) return INT_MIN;
    return (int)d;
}
