#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_hdrs_init(struct http_hdrs *h) {
    h->v = NULL;
    h->n = h->cap = 0;
}

void http_hdrs_free(struct http_hdrs *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    http_hdrs_init(h);
}

static int hdrs_add_n(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                      size_t vlen) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct http_header *v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    char *n = strndup(name, nlen), *val = strndup(value, vlen);
    if (!n || !val) {
        free(n);
        free(val);
        return -1;
    }
    for (char *p = n; *p; p++) *p = (char)tolower((unsigned char)*p);
    h->v[h->n].name = n;
    h->v[h->n].value = val;
    h->n++;
    return 0;
}

int http_hdrs_add(struct http_hdrs *h, const char *name, const char *value) {
    return hdrs_add_n(h, name, strlen(name), value, strlen(value));
}

int http_hdrs_set(struct http_hdrs *h, const char *name, const char *value) {
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            free(h->v[i].name);
            free(h->v[i].value);
            continue;
        }
        h->v[k++] = h->v[i];
    }
    h->n = k;
    return http_hdrs_add(h, name, value);
}

const char *http_hdrs_get(const struct http_hdrs *h, const char *name) {
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0) return h->v[i].value;
    return NULL;
}

void http_head_free(struct http_head *h) {
    free(h->method);
    free(h->target);
    free(h->reason);
    http_hdrs_free(&h->hdrs);
    memset(h, 0, sizeof *h);
    h->content_length = -1;
}

static bool is_tchar(unsigned char c) {
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Does the comma-separated header value contain `token` (case-insensitive)? */
static bool has_token(const char *v, const char *token) {
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == tl && strncasecmp(v, token, tl) == 0) return true;
        v = e;
    }
    return false;
}

static enum http_parse_rc parse_lines(char *s, size_t len, bool is_request,
                                      struct http_head *out) {
    /* s holds the head without the final empty line; lines end in \n (\r stripped) */
    char *line = s, *end = s + len;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *le = nl ? nl : end;
    if (le > line && le[-1] == '\r') le--;
    *le = '\0';
    if (is_request) {
        char *sp1 = strchr(line, ' ');
        if (!sp1) return HTTP_PARSE_BAD;
        char *sp2 = strchr(sp1 + 1, ' ');
        if (!sp2) return HTTP_PARSE_BAD;
        for (char *p = line; p < sp1; p++)
            if (!is_tchar((unsigned char)*p)) return HTTP_PARSE_BAD;
        if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[8]) || sp2[9])
            return HTTP_PARSE_BAD;
        out->minor = sp2[8] - '0';
        out->method = strndup(line, (size_t)(sp1 - line));
        out->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
        if (!out->method || !out->target) return HTTP_PARSE_BAD;
        if (!out->target[0]) return HTTP_PARSE_BAD;
    } else {
        if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
            line[8] != ' ')
            return HTTP_PARSE_BAD;
        out->minor = line[7] - '0';
        char *p = line + 9;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
            !isdigit((unsigned char)p[2]) || (p[3] && p[3] != ' '))
            return HTTP_PARSE_BAD;
        out->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        /* "000".."099" are no status (RFC 9110 15): status 0 would read as "no HTTP error" */
        if (out->status < 100) return HTTP_PARSE_BAD;
        out->reason = strdup(p[3] ? p + 4 : "");
        if (!out->reason) return HTTP_PARSE_BAD;
    }
    line = nl ? nl + 1 : end;
    while (line < end) {
        nl = memchr(line, '\n', (size_t)(end - line));
        le = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        if (le > line && le[-1] == '\r') le--;
        if (line[0] == ' ' || line[0] == '\t') return HTTP_PARSE_BAD; /* obs-fold refused */
        char *colon = memchr(line, ':', (size_t)(le - line));
        if (!colon || colon == line) return HTTP_PARSE_BAD;
        for (char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p)) return HTTP_PARSE_BAD;
        char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t')) v++;
        char *ve = le;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        for (char *p = v; p < ve; p++)
            if (*p == '\0' || *p == '\r' || *p == '\n') return HTTP_PARSE_BAD;
        if (hdrs_add_n(&out->hdrs, line, (size_t)(colon - line), v, (size_t)(ve - v)) != 0)
            return HTTP_PARSE_BAD;
        line = next;
    }
    /* derived fields */
    out->content_length = -1;
    const char *te = http_hdrs_get(&out->hdrs, "transfer-encoding");
    out->chunked = te && has_token(te, "chunked");
    int ncl = 0;
    for (size_t i = 0; i < out->hdrs.n; i++) {
        if (strcmp(out->hdrs.v[i].name, "content-length") != 0) continue;
        const char *v = out->hdrs.v[i].value;
        if (!*v) return HTTP_PARSE_BAD;
        for (const char *p = v; *p; p++)
            if (!isdigit((unsigned char)*p)) return HTTP_PARSE_BAD;
        errno = 0;
        long long cl = strtoll(v, NULL, 10);
        if (errno) return HTTP_PARSE_BAD;
        if (ncl++ && cl != out->content_length) return HTTP_PARSE_BAD;
        out->content_length = cl;
    }
    if (te && !out->chunked) return HTTP_PARSE_BAD; /* unknown transfer coding */
    if (out->chunked && out->content_length >= 0) return HTTP_PARSE_BAD; /* smuggling guard */
    const char *conn = http_hdrs_get(&out->hdrs, "connection");
    if (out->minor >= 1)
        out->keep_alive = !(conn && has_token(conn, "close"));
    else
        out->keep_alive = conn && has_token(conn, "keep-alive");
    return HTTP_PARSE_OK;
}

enum http_parse_rc http_parse_head(struct evbuffer *buf, bool is_request, size_t max_bytes,
                                   struct http_head *out) {
    memset(out, 0, sizeof *out);
    out->content_length = -1;
    /* skip empty lines before a request line (RFC 9112 2.2) */
    for (;;) {
        unsigned char c[2];
        size_t have = evbuffer_get_length(buf);
        if (have == 0) return HTTP_PARSE_NEED_MORE;
        evbuffer_copyout(buf, c, have >= 2 ? 2 : 1);
        if (c[0] == '\n') {
            evbuffer_drain(buf, 1);
        } else if (c[0] == '\r' && have >= 2 && c[1] == '\n') {
            evbuffer_drain(buf, 2);
        } else if (c[0] == '\r' && have < 2) {
            return HTTP_PARSE_NEED_MORE;
        } else {
            break;
        }
    }
    struct evbuffer_ptr p = evbuffer_search(buf, "\n\r\n", 3, NULL);
    size_t head_len, term_len = 3;
    struct evbuffer_ptr p2 = evbuffer_search(buf, "\n\n", 2, NULL);
    if (p.pos < 0 || (p2.pos >= 0 && p2.pos < p.pos)) {
        p = p2;
        term_len = 2;
    }
    if (p.pos < 0) {
        if (evbuffer_get_length(buf) > max_bytes) return HTTP_PARSE_TOO_LARGE;
        return HTTP_PARSE_NEED_MORE;
    }
    head_len = (size_t)p.pos + 1; /* through the last header line's \n */
    if (head_len + term_len - 1 > max_bytes) return HTTP_PARSE_TOO_LARGE;
    char *s = malloc(head_len + 1);
    if (!s) return HTTP_PARSE_BAD;
    evbuffer_remove(buf, s, head_len);
    evbuffer_drain(buf, term_len - 1);
    s[head_len] = '\0';
    if (memchr(s, '\0', head_len)) {
        free(s);
        return HTTP_PARSE_BAD;
    }
    /* drop the final \n of the last header line: parse_lines splits on \n */
    size_t len = head_len - 1;
    if (len > 0 && s[len - 1] == '\r') len--;
    s[len] = '\0';
    enum http_parse_rc rc = parse_lines(s, len, is_request, out);
    free(s);
    if (rc != HTTP_PARSE_OK) http_head_free(out);
    return rc;
}

enum { CH_SIZE = 0, CH_EXT, CH_DATA, CH_DATA_CRLF, CH_TRAILER, CH_DONE };

enum http_chunk_rc http_chunked_decode(struct http_chunked *c, struct evbuffer *in,
                                       struct evbuffer *out) {
    for (;;) {
        switch (c->state) {
        case CH_SIZE: {
            /* the size line is read into a stack buffer: this runs once per streamed event */
            size_t eol_len = 0;
            struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
            if (eol.pos < 0)
                return evbuffer_get_length(in) > 1024 ? HTTP_CHUNK_BAD : HTTP_CHUNK_MORE;
            char line[1025];
            if ((size_t)eol.pos >= sizeof line) return HTTP_CHUNK_BAD;
            evbuffer_remove(in, line, (size_t)eol.pos);
            evbuffer_drain(in, eol_len);
            line[eol.pos] = '\0';
            char *end;
            errno = 0;
            if (!isxdigit((unsigned char)line[0])) return HTTP_CHUNK_BAD;
            unsigned long long sz = strtoull(line, &end, 16);
            bool ok = errno == 0 && (*end == '\0' || *end == ';' || *end == ' ');
            if (!ok || sz > (1ULL << 40)) return HTTP_CHUNK_BAD;
            c->remaining = sz;
            c->state = sz ? CH_DATA : CH_TRAILER;
            break;
        }
        case CH_DATA: {
            size_t have = evbuffer_get_length(in);
            if (have == 0) return HTTP_CHUNK_MORE;
            size_t take = have < c->remaining ? have : (size_t)c->remaining;
            if (evbuffer_remove_buffer(in, out, take) != (int)take) return HTTP_CHUNK_BAD;
            c->remaining -= take;
            if (c->remaining == 0) c->state = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF: {
            unsigned char b[2];
            size_t have = evbuffer_get_length(in);
            if (have == 0) return HTTP_CHUNK_MORE;
            evbuffer_copyout(in, b, have >= 2 ? 2 : 1);
            if (b[0] == '\n') {
                evbuffer_drain(in, 1);
            } else if (b[0] != '\r') {
                return HTTP_CHUNK_BAD;
            } else if (have < 2) {
                return HTTP_CHUNK_MORE;
            } else if (b[1] != '\n') {
                return HTTP_CHUNK_BAD;
            } else {
                evbuffer_drain(in, 2);
            }
            c->state = CH_SIZE;
            break;
        }
        case CH_TRAILER: {
            size_t n;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) return evbuffer_get_length(in) > 8192 ? HTTP_CHUNK_BAD : HTTP_CHUNK_MORE;
            free(line);
            if (n == 0) {
                c->state = CH_DONE;
                return HTTP_CHUNK_DONE;
            }
            break;
        }
        case CH_DONE:
            return HTTP_CHUNK_DONE;
        default:
            return HTTP_CHUNK_BAD;
        }
    }
}

int http_url_parse(const char *url, struct http_url *out) {
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->tls = true;
        out->port = 443;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->port = 80;
        p = url + 7;
    } else {
        return -1;
    }
    const char *hs = p, *he;
    if (*p == '[') { /* IPv6 literal */
        he = strchr(p, ']');
        if (!he) return -1;
        hs = p + 1;
        p = he + 1;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#') p++;
        he = p;
    }
    if (he == hs) return -1;
    if (memchr(hs, '@', (size_t)(he - hs))) return -1; /* userinfo not supported */
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) return -1;
        out->port = (int)port;
        p = end;
    }
    if (*p && *p != '/' && *p != '?') return -1;
    out->host = strndup(hs, (size_t)(he - hs));
    const char *path = *p ? p : "/";
    if (*path == '?') {
        size_t n = strlen(path);
        out->path = malloc(n + 2);
        if (out->path) {
            out->path[0] = '/';
            memcpy(out->path + 1, path, n + 1);
        }
    } else {
        out->path = strdup(path);
    }
    char *hash = out->path ? strchr(out->path, '#') : NULL;
    if (hash) *hash = '\0';
    if (!out->host || !out->path) {
        http_url_free(out);
        return -1;
    }
    return 0;
}

void http_url_free(struct http_url *u) {
    free(u->host);
    free(u->path);
    u->host = u->path = NULL;
}
