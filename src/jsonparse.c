/* jsonparse: see the header. The rules below are cJSON 1.7.15's, one by one:
 *   - white space is any byte <= 32; a UTF-8 BOM is skipped at the start of a text of more
 *     than 4 bytes; what follows the first value is not looked at;
 *   - at most 1000 arrays and objects deep;
 *   - a string ends at the first quote not preceded by a backslash that itself follows a
 *     backslash pair, as found by skipping the byte after every backslash; its escapes are then
 *     decoded up to that quote: \b \f \n \r \t \" \\ \/ and \uXXXX, where four digits that are
 *     not all hex read as U+0000, a lone low surrogate or a high one without its low half
 *     refuse the text; other bytes, control characters and invalid UTF-8 included, are kept;
 *   - a number is the run of bytes from "0123456789+-eE." given to strtod, as much of it as
 *     strtod reads; valueint saturates at INT_MAX / INT_MIN;
 *   - null, false, true need all their bytes;
 *   - arrays and objects link their items both ways, the first item's prev being the last. */
#include "jsonparse.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NESTING_LIMIT 1000 /* cJSON's CJSON_NESTING_LIMIT */

struct ps {
    const unsigned char *p, *end;
    int depth;
};

static void ws(struct ps *s) {
    while (s->p < s->end && *s->p <= 32)
        s->p++;
}

static cJSON *node(void) {
    cJSON *n = cJSON_malloc(sizeof *n);
    if (n) memset(n, 0, sizeof *n);
    return n;
}

/* The first '"' or '\\' in [p, end), or end. Eight bytes a step. */
static const unsigned char *quote_or_backslash(const unsigned char *p, const unsigned char *end) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const uint64_t q = ones * '"', b = ones * '\\';
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t xq = x ^ q, xb = x ^ b;
        if (((xq - ones) & ~xq & highs) | ((xb - ones) & ~xb & highs)) break;
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

int json_hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* As cJSON's parse_hex4: 0 when a digit is not hex. */
static unsigned hex4(const unsigned char *p) {
    unsigned v;
    return json_hex4(p, &v) == 0 ? v : 0;
}

unsigned char json_escape_char(unsigned char e) {
    switch (e) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case '"':
    case '\\':
    case '/':
        return e;
    default:
        return 0;
    }
}

size_t json_unicode(const unsigned char *p, const unsigned char *q, unsigned *cp) {
    if (q - p < 6) return 0;
    unsigned c = hex4(p + 2);
    if (c >= 0xDC00 && c <= 0xDFFF) return 0;
    if (c < 0xD800 || c > 0xDBFF) {
        *cp = c;
        return 6;
    }
    const unsigned char *r = p + 6;
    if (q - r < 6 || r[0] != '\\' || r[1] != 'u') return 0;
    unsigned lo = hex4(r + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return 0;
    *cp = 0x10000 + (((c & 0x3FF) << 10) | (lo & 0x3FF));
    return 12;
}

char *json_put_utf8(char *o, unsigned long cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* The string at s->p (its opening quote), decoded into a new C string. NULL when refused. */
static char *string(struct ps *s) {
    const unsigned char *start = s->p + 1, *end = s->end, *q = start;
    /* its end, as cJSON finds it: the byte after every backslash is skipped */
    for (;;) {
        q = quote_or_backslash(q, end);
        if (q >= end) return NULL;
        if (*q == '"') break;
        if (q + 1 >= end) return NULL;
        q += 2;
    }
    unsigned char *out = cJSON_malloc((size_t)(q - start) + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *r = start;
    while (r < q) {
        const unsigned char *bs = memchr(r, '\\', (size_t)(q - r));
        if (!bs) bs = q;
        memcpy(o, r, (size_t)(bs - r));
        o += bs - r;
        r = bs;
        if (r >= q) break;
        if (r[1] == 'u') {
            unsigned cp;
            size_t n = json_unicode(r, q, &cp);
            if (!n) {
                cJSON_free(out);
                return NULL;
            }
            o = (unsigned char *)json_put_utf8((char *)o, cp);
            r += n;
            continue;
        }
        unsigned char c = json_escape_char(r[1]);
        if (!c) {
            cJSON_free(out);
            return NULL;
        }
        *o++ = c;
        r += 2;
    }
    *o = '\0';
    s->p = q + 1;
    return (char *)out;
}

static bool number_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

long json_number(const unsigned char *p, const unsigned char *end, double *out) {
    char small[64], *buf = small;
    size_t n = 0;
    while (p + n < end && number_byte(p[n]))
        n++;
    if (n >= sizeof small && !(buf = malloc(n + 1))) return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *after = NULL;
    *out = strtod(buf, &after);
    long used = (long)(after - buf);
    if (buf != small) free(buf);
    return used;
}

static bool number(struct ps *s, cJSON *item) {
    double d;
    long used = json_number(s->p, s->end, &d);
    if (used <= 0) return false;
    s->p += used;
    item->type = cJSON_Number;
    item->valuedouble = d;
    item->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    return true;
}

static bool word(struct ps *s, const char *w, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return false;
    s->p += n;
    return true;
}

static bool value(struct ps *s, cJSON *item);

/* An array or an object at s->p (its opening bracket). */
static bool container(struct ps *s, cJSON *item, bool object) {
    if (s->depth >= NESTING_LIMIT) return false;
    s->depth++;
    item->type = object ? cJSON_Object : cJSON_Array;
    unsigned char close = object ? '}' : ']';
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    cJSON *last = NULL;
    for (;;) {
        cJSON *it = node();
        if (!it) return false;
        if (last) {
            last->next = it;
            it->prev = last;
        } else {
            item->child = it;
        }
        last = it;
        item->child->prev = last;
        ws(s);
        if (object) {
            if (s->p >= s->end || *s->p != '"') return false;
            if (!(it->string = string(s))) return false;
            ws(s);
            if (s->p >= s->end || *s->p != ':') return false;
            s->p++;
            ws(s);
        }
        if (!value(s, it)) return false;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        break;
    }
    if (s->p >= s->end || *s->p != close) return false;
    s->p++;
    s->depth--;
    return true;
}

static bool value(struct ps *s, cJSON *item) {
    if (s->p >= s->end) return false;
    switch (*s->p) {
    case 'n':
        if (!word(s, "null", 4)) return false;
        item->type = cJSON_NULL;
        return true;
    case 'f':
        if (!word(s, "false", 5)) return false;
        item->type = cJSON_False;
        return true;
    case 't':
        if (!word(s, "true", 4)) return false;
        item->type = cJSON_True;
        item->valueint = 1;
        return true;
    case '"':
        item->type = cJSON_String;
        return (item->valuestring = string(s)) != NULL;
    case '[':
        return container(s, item, false);
    case '{':
        return container(s, item, true);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) return number(s, item);
        return false;
    }
}

cJSON *json_parse(const char *p, size_t n) {
    if (!p || n == 0) return NULL;
    struct ps s = {(const unsigned char *)p, (const unsigned char *)p + n, 0};
    /* cJSON skips a BOM only when a byte follows it and one more (can_access_at_index(4)) */
    if (n > 4 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) s.p += 3;
    ws(&s);
    cJSON *root = node();
    if (!root) return NULL;
    if (!value(&s, root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
