#include "jsonscan.h"

#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* i at an opening quote; returns the index after the closing quote, or 0 on error. */
static size_t skip_string(const char *s, size_t n, size_t i) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return 0;
}

/* i at the start of a value; returns the index after it, or 0 on error. Iterative. */
static size_t skip_value(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    if (s[i] == '"') return skip_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') {
        size_t from = i;
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
               s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            i++;
        return i > from ? i : 0; /* `"k":]` has no value */
    }
    size_t depth = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t e = skip_string(s, n, i);
            if (!e) return 0;
            i = e - 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return i + 1;
        }
    }
    return 0;
}

static bool key_equals(const char *s, size_t ks, size_t ke, const char *key) {
    /* keys we look for have no escapes; compare the raw bytes between the quotes */
    size_t len = ke - ks - 2;
    return len == strlen(key) && memcmp(s + ks + 1, key, len) == 0;
}

int jsonscan_find(const char *s, size_t n, const char *const *path, size_t depth, size_t *start,
                  size_t *end) {
    size_t i = skip_ws(s, n, 0);
    for (size_t d = 0; d < depth; d++) {
        if (i >= n || s[i] != '{') return -1;
        i = skip_ws(s, n, i + 1);
        bool found = false;
        while (i < n && s[i] != '}') {
            if (s[i] != '"') return -1;
            size_t ke = skip_string(s, n, i);
            if (!ke) return -1;
            bool match = key_equals(s, i, ke, path[d]);
            i = skip_ws(s, n, ke);
            if (i >= n || s[i] != ':') return -1;
            i = skip_ws(s, n, i + 1);
            if (match) {
                found = true;
                break;
            }
            i = skip_value(s, n, i);
            if (!i) return -1;
            i = skip_ws(s, n, i);
            if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
        }
        if (!found) return -1;
    }
    size_t e = skip_value(s, n, i);
    if (!e) return -1;
    *start = i;
    *end = e;
    return 0;
}

/* `value` as a JSON string literal; cJSON_free it. */
static char *quoted(const char *value) {
    cJSON *str = cJSON_CreateString(value);
    char *q = str ? cJSON_PrintUnformatted(str) : NULL;
    cJSON_Delete(str);
    return q;
}

int jsonscan_move_replace_string(struct evbuffer *src, const char *const *path, size_t depth,
                                 const char *value, struct evbuffer *out) {
    size_t n = evbuffer_get_length(src), a, b;
    const char *s = n ? (const char *)evbuffer_pullup(src, -1) : NULL;
    if (!s || jsonscan_find(s, n, path, depth, &a, &b) != 0 || s[a] != '"') return -1;
    char *q = quoted(value);
    if (!q) return -1;
    int rc = evbuffer_remove_buffer(src, out, a) == (int)a ? 0 : -1;
    rc |= evbuffer_add(out, q, strlen(q));
    rc |= evbuffer_drain(src, b - a);
    rc |= evbuffer_add_buffer(out, src);
    cJSON_free(q);
    return rc ? -1 : 0;
}

int jsonscan_replace_string(const char *s, size_t n, const char *const *path, size_t depth,
                            const char *value, struct evbuffer *out) {
    size_t a, b;
    if (jsonscan_find(s, n, path, depth, &a, &b) != 0 || s[a] != '"') return -1;
    char *q = quoted(value);
    if (!q) return -1;
    int rc = evbuffer_add(out, s, a);
    rc |= evbuffer_add(out, q, strlen(q));
    rc |= evbuffer_add(out, s + b, n - b);
    cJSON_free(q);
    return rc ? -1 : 0;
}
