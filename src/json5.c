/* json5: a recursive-descent JSON5 reader producing cJSON trees. See json5.h for what it
 * accepts. Nodes are allocated the way cJSON_Parse allocates them (cJSON_malloc for strings
 * and member names, attached directly), so cJSON_Delete frees them and no string is copied
 * twice. Line and column are computed only when an error is reported. */
#include "json5.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"

struct j5 {
    const char *start, *p, *end;
    const char *name; /* for messages; may be NULL */
    struct err *err;
    int depth;
    char found[48]; /* scratch for describe() */
};

static void where(const struct j5 *j, const char *at, int *line, int *col) {
    int l = 1, c = 1;
    for (const char *s = j->start; s < at && s < j->end; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n') {
            l++;
            c = 1;
        } else if (ch == '\r') {
            if (s + 1 < j->end && s[1] == '\n') continue; /* counted at the '\n' */
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

__attribute__((format(printf, 3, 4))) static void *fail(struct j5 *j, const char *at,
                                                         const char *fmt, ...) {
    char msg[ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(j, at, &line, &col);
    err_set(j->err, ERR_CONFIG, "%s%s%d:%d: %s", j->name ? j->name : "", j->name ? ":" : "", line,
            col, msg);
    return NULL;
}

static void *nomem(struct j5 *j) {
    err_set(j->err, ERR_NOMEM, "%s%sout of memory while parsing JSON", j->name ? j->name : "",
            j->name ? ": " : "");
    return NULL;
}

/* A short description of the input at `at`, for "found ..." in messages. */
static const char *describe(struct j5 *j, const char *at) {
    if (at >= j->end) return "the end of the input";
    unsigned char c = (unsigned char)*at;
    if (c == '\n' || c == '\r') return "a line break";
    if (c == '\'') return "\"'\"";
    if (c > 0x20 && c < 0x7f)
        snprintf(j->found, sizeof j->found, "'%c'", c);
    else
        snprintf(j->found, sizeof j->found, "byte 0x%02x", c);
    return j->found;
}

/* Skip whitespace and comments. Returns -1 on an unclosed block comment. */
static int skip_ws(struct j5 *j) {
    const char *p = j->p, *e = j->end;
    while (p < e) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            p++;
        } else if (c == '/' && p + 1 < e && p[1] == '/') {
            p += 2;
            while (p < e && *p != '\n' && *p != '\r') p++;
        } else if (c == '/' && p + 1 < e && p[1] == '*') {
            const char *open = p;
            p += 2;
            for (;;) {
                if (p + 1 >= e) {
                    fail(j, open, "comment not closed: this '/*' has no matching '*/'");
                    return -1;
                }
                if (p[0] == '*' && p[1] == '/') break;
                p++;
            }
            p += 2;
        } else if (c == 0xC2 && p + 1 < e && (unsigned char)p[1] == 0xA0) {
            p += 2; /* U+00A0 no-break space */
        } else if (c == 0xEF && p + 2 < e && (unsigned char)p[1] == 0xBB &&
                   (unsigned char)p[2] == 0xBF) {
            p += 3; /* U+FEFF byte order mark */
        } else if (c == 0xE2 && p + 2 < e && (unsigned char)p[1] == 0x80 &&
                   ((unsigned char)p[2] == 0xA8 || (unsigned char)p[2] == 0xA9)) {
            p += 3; /* U+2028, U+2029 */
        } else {
            break;
        }
    }
    j->p = p;
    return 0;
}

static bool is_ident_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}

static bool is_ident_char(unsigned char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 4 hex digits at p (p + 4 <= end checked by the caller), or -1. */
static long hex4(const char *p) {
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A quoted string at j->p (' or "): returns its decoded bytes (cJSON_malloc'd), j->p past the
 * closing quote. */
static char *parse_string(struct j5 *j) {
    const char *open = j->p, *e = j->end;
    char q = *open;
    const char *s = open + 1, *p = s;
    bool escapes = false;
    /* Pass 1: find the closing quote; every escape is inside [s, p). */
    while (p < e && *p != q) {
        if (*p == '\\') {
            escapes = true;
            if (p + 1 >= e) {
                p = e;
                break;
            }
            if (p[1] == '\r' && p + 2 < e && p[2] == '\n')
                p += 3; /* line continuation written with CRLF */
            else
                p += 2;
            continue;
        }
        if (*p == '\n' || *p == '\r')
            return fail(j, p, "line break inside a string: close the string with %c before the "
                              "end of the line, or write \\n",
                        q);
        if (*p == '\0') return fail(j, p, "NUL byte inside a string");
        p++;
    }
    if (p >= e) return fail(j, open, "string not closed: this %c has no closing %c", q, q);
    size_t span = (size_t)(p - s);
    char *out = cJSON_malloc(span + 1);
    if (!out) return nomem(j);
    j->p = p + 1;
    if (!escapes) {
        memcpy(out, s, span);
        out[span] = '\0';
        return out;
    }
    /* Pass 2: decode. Every escape's output is no longer than its source. */
    char *o = out;
    for (const char *r = s; r < p;) {
        if (*r != '\\') {
            *o++ = *r++;
            continue;
        }
        const char *at = r;
        r++;
        char c = *r++;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case '\r':
            if (r < p && *r == '\n') r++;
            break; /* line continuation: the escaped line break is dropped */
        case '\n': break;
        case '0':
            cJSON_free(out);
            return fail(j, at, "\\0 (NUL) is not allowed in a string");
        case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
            cJSON_free(out);
            return fail(j, at, "\\%c is not a valid escape (octal escapes are not allowed)", c);
        case 'x': {
            int h1 = r < p ? hexval(r[0]) : -1, h2 = r + 1 < p ? hexval(r[1]) : -1;
            if (h1 < 0 || h2 < 0) {
                cJSON_free(out);
                return fail(j, at, "\\x needs two hexadecimal digits");
            }
            r += 2;
            unsigned long cp = (unsigned long)(h1 * 16 + h2);
            if (cp == 0) {
                cJSON_free(out);
                return fail(j, at, "\\x00 (NUL) is not allowed in a string");
            }
            o = json_put_utf8(o, cp);
            break;
        }
        case 'u': {
            long cp = p - r >= 4 ? hex4(r) : -1;
            if (cp < 0) {
                cJSON_free(out);
                return fail(j, at, "\\u needs four hexadecimal digits");
            }
            r += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cJSON_free(out);
                return fail(j, at, "\\u%04lX is a lone low surrogate", (unsigned long)cp);
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (p - r >= 6 && r[0] == '\\' && r[1] == 'u') ? hex4(r + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    cJSON_free(out);
                    return fail(j, at,
                                "\\u%04lX is a high surrogate not followed by a low surrogate "
                                "(\\uDC00-\\uDFFF)",
                                (unsigned long)cp);
                }
                r += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) {
                cJSON_free(out);
                return fail(j, at, "\\u0000 (NUL) is not allowed in a string");
            }
            o = json_put_utf8(o, (unsigned long)cp);
            break;
        }
        default: *o++ = c; break; /* \" \' \\ \/ and JSON5's identity escapes */
        }
    }
    *o = '\0';
    return out;
}

/* An unquoted member name at j->p (is_ident_start checked): cJSON_malloc'd copy. */
static char *parse_ident(struct j5 *j) {
    const char *s = j->p, *p = s;
    while (p < j->end && is_ident_char((unsigned char)*p)) p++;
    size_t n = (size_t)(p - s);
    char *out = cJSON_malloc(n + 1);
    if (!out) return nomem(j);
    memcpy(out, s, n);
    out[n] = '\0';
    j->p = p;
    return out;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static cJSON *parse_number(struct j5 *j) {
    const char *s = j->p, *p = s, *e = j->end;
    bool neg = false;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    if (p < e && (*p == 'I' || *p == 'N'))
        return fail(j, s, "Infinity and NaN are not supported: write a finite number");
    double v = 0;
    if (p + 1 < e && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2;
        const char *d = p;
        int h;
        while (p < e && (h = hexval(*p)) >= 0) {
            v = v * 16 + h;
            p++;
        }
        if (p == d) return fail(j, s, "hexadecimal number without digits after 0x");
        if (neg) v = -v;
    } else {
        const char *d = p;
        size_t ndig = 0;
        while (p < e && is_digit(*p)) p++, ndig++;
        if (p < e && *p == '.') {
            p++;
            while (p < e && is_digit(*p)) p++, ndig++;
        }
        if (ndig == 0) return fail(j, s, "expected a number, found %s", describe(j, s));
        if (p < e && (*p == 'e' || *p == 'E')) {
            const char *x = p++;
            if (p < e && (*p == '+' || *p == '-')) p++;
            if (!(p < e && is_digit(*p))) return fail(j, x, "exponent without digits");
            while (p < e && is_digit(*p)) p++;
        }
        /* strtod needs a terminated copy: the text is not NUL-terminated and cJSON_Parse
         * converts the same characters the same way. */
        char small[64], *buf = small;
        size_t n = (size_t)(p - d);
        if (n + 2 > sizeof small && !(buf = malloc(n + 2))) return nomem(j);
        size_t k = 0;
        if (neg) buf[k++] = '-';
        memcpy(buf + k, d, n);
        buf[k + n] = '\0';
        v = strtod(buf, NULL);
        if (buf != small) free(buf);
    }
    cJSON *it = cJSON_CreateNumber(v);
    if (!it) return nomem(j);
    j->p = p;
    return it;
}

static cJSON *parse_value(struct j5 *j);

static cJSON *not_closed(struct j5 *j, const char *open, char close, cJSON *partial) {
    int line, col;
    where(j, open, &line, &col);
    cJSON_Delete(partial);
    return fail(j, j->end, "unexpected end of input: '%c' missing for the %s opened at %d:%d",
                close, close == '}' ? "object" : "array", line, col);
}

static bool enter(struct j5 *j, const char *at) {
    if (++j->depth > JSON5_MAX_DEPTH) {
        fail(j, at, "nested more than %d levels deep", JSON5_MAX_DEPTH);
        return false;
    }
    return true;
}

static cJSON *parse_object(struct j5 *j) {
    const char *open = j->p;
    if (!enter(j, open)) return NULL;
    j->p++;
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return nomem(j);
    if (skip_ws(j)) goto bad;
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        goto done;
    }
    for (;;) {
        if (j->p >= j->end) return not_closed(j, open, '}', obj);
        const char *kat = j->p;
        char *key;
        if (*kat == '"' || *kat == '\'') {
            key = parse_string(j);
        } else if (is_ident_start((unsigned char)*kat)) {
            key = parse_ident(j);
        } else {
            fail(j, kat, "expected a member name or '}', found %s", describe(j, kat));
            goto bad;
        }
        if (!key) goto bad;
        if (skip_ws(j)) {
            cJSON_free(key);
            goto bad;
        }
        if (j->p >= j->end || *j->p != ':') {
            fail(j, j->p, "expected ':' after the member name \"%.40s\", found %s", key,
                 describe(j, j->p));
            cJSON_free(key);
            goto bad;
        }
        j->p++;
        if (skip_ws(j)) {
            cJSON_free(key);
            goto bad;
        }
        cJSON *v = parse_value(j);
        if (!v) {
            cJSON_free(key);
            goto bad;
        }
        v->string = key; /* owned by v from here, as cJSON_Parse does */
        cJSON_AddItemToArray(obj, v);
        if (skip_ws(j)) goto bad;
        if (j->p >= j->end) return not_closed(j, open, '}', obj);
        if (*j->p == ',') {
            j->p++;
            if (skip_ws(j)) goto bad;
            if (j->p < j->end && *j->p == '}') { /* trailing comma */
                j->p++;
                break;
            }
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            break;
        }
        fail(j, j->p, "expected ',' or '}' after the value of \"%.40s\", found %s", v->string,
             describe(j, j->p));
        goto bad;
    }
done:
    j->depth--;
    return obj;
bad:
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *parse_array(struct j5 *j) {
    const char *open = j->p;
    if (!enter(j, open)) return NULL;
    j->p++;
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return nomem(j);
    if (skip_ws(j)) goto bad;
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        goto done;
    }
    for (size_t i = 0;; i++) {
        if (j->p >= j->end) return not_closed(j, open, ']', arr);
        cJSON *v = parse_value(j);
        if (!v) goto bad;
        cJSON_AddItemToArray(arr, v);
        if (skip_ws(j)) goto bad;
        if (j->p >= j->end) return not_closed(j, open, ']', arr);
        if (*j->p == ',') {
            j->p++;
            if (skip_ws(j)) goto bad;
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                break;
            }
            continue;
        }
        if (*j->p == ']') {
            j->p++;
            break;
        }
        fail(j, j->p, "expected ',' or ']' after array element %zu, found %s", i,
             describe(j, j->p));
        goto bad;
    }
done:
    j->depth--;
    return arr;
bad:
    cJSON_Delete(arr);
    return NULL;
}

static bool word_is(const char *s, size_t n, const char *w) {
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static cJSON *parse_value(struct j5 *j) {
    const char *s = j->p;
    if (s >= j->end) return fail(j, s, "unexpected end of input: expected a value");
    char c = *s;
    if (c == '{') return parse_object(j);
    if (c == '[') return parse_array(j);
    if (c == '"' || c == '\'') {
        char *str = parse_string(j);
        if (!str) return NULL;
        cJSON *it = cJSON_CreateNull();
        if (!it) {
            cJSON_free(str);
            return nomem(j);
        }
        it->type = cJSON_String;
        it->valuestring = str; /* freed by cJSON_Delete, as for a parsed string */
        return it;
    }
    if (c == '-' || c == '+' || c == '.' || is_digit(c)) return parse_number(j);
    if (is_ident_start((unsigned char)c)) {
        const char *p = s;
        while (p < j->end && is_ident_char((unsigned char)*p)) p++;
        size_t n = (size_t)(p - s);
        cJSON *it = NULL;
        if (word_is(s, n, "true")) {
            it = cJSON_CreateTrue();
            if (it) it->valueint = 1; /* as cJSON_Parse sets it */
        } else if (word_is(s, n, "false")) {
            it = cJSON_CreateFalse();
        } else if (word_is(s, n, "null")) {
            it = cJSON_CreateNull();
        } else if (word_is(s, n, "Infinity") || word_is(s, n, "NaN")) {
            return fail(j, s, "Infinity and NaN are not supported: write a finite number");
        } else {
            return fail(j, s, "unexpected word '%.*s': strings need quotes (\"...\" or '...')",
                        (int)(n > 40 ? 40 : n), s);
        }
        if (!it) return nomem(j);
        j->p = p;
        return it;
    }
    return fail(j, s, "expected a value, found %s", describe(j, s));
}

cJSON *json5_parse_named(const char *text, size_t len, const char *name, struct err *err) {
    struct j5 j = {.start = text ? text : "", .name = name, .err = err};
    if (!text) len = 0;
    j.p = j.start;
    j.end = j.start + len;
    if (skip_ws(&j)) return NULL;
    if (j.p >= j.end) return fail(&j, j.p, "empty input: expected a JSON value");
    cJSON *root = parse_value(&j);
    if (!root) return NULL;
    if (skip_ws(&j)) {
        cJSON_Delete(root);
        return NULL;
    }
    if (j.p < j.end) {
        cJSON_Delete(root);
        return fail(&j, j.p, "unexpected %s after the end of the value", describe(&j, j.p));
    }
    return root;
}

cJSON *json5_parse(const char *text, size_t len, struct err *err) {
    return json5_parse_named(text, len, NULL, err);
}
