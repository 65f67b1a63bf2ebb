/* http: HTTP/1.1 message heads, parsed incrementally, for both the server and the upstream
 * client. No sockets here: the caller feeds bytes from an evbuffer.
 *
 * Ownership: a `struct http_head` owns its strings; http_head_free releases them. */
#ifndef CCRELAY_HTTP_H
#define CCRELAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>

struct http_header {
    char *name; /* lower-cased */
    char *value;
};

struct http_hdrs {
    struct http_header *v;
    size_t n, cap;
};

void http_hdrs_init(struct http_hdrs *h);
void http_hdrs_free(struct http_hdrs *h);
int http_hdrs_add(struct http_hdrs *h, const char *name, const char *value); /* copies; -1 OOM */
/* Set a header: replaces every existing value of that name (case-insensitive), or adds it. */
int http_hdrs_set(struct http_hdrs *h, const char *name, const char *value);
/* First value of a header (name compared case-insensitively), or NULL. */
const char *http_hdrs_get(const struct http_hdrs *h, const char *name);

struct http_head {
    /* request */
    char *method;
    char *target; /* path + query as sent */
    /* response */
    int status;
    char *reason;
    int minor; /* HTTP/1.<minor> */
    struct http_hdrs hdrs;
    /* derived */
    long long content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;
};

void http_head_free(struct http_head *h);

enum http_parse_rc {
    HTTP_PARSE_OK = 0,       /* a complete head was parsed and drained from the buffer */
    HTTP_PARSE_NEED_MORE,    /* not enough bytes yet */
    HTTP_PARSE_TOO_LARGE,    /* head exceeds max_bytes */
    HTTP_PARSE_BAD,          /* malformed */
};

/* Parse a request head (`is_request`) or a response head from `buf`. On OK the head's bytes
 * are removed from `buf`. */
enum http_parse_rc http_parse_head(struct evbuffer *buf, bool is_request, size_t max_bytes,
                                   struct http_head *out);

/* Incremental chunked transfer decoding. */
struct http_chunked {
    int state;
    unsigned long long remaining;
};
enum http_chunk_rc { HTTP_CHUNK_MORE = 0, HTTP_CHUNK_DONE, HTTP_CHUNK_BAD };
/* Move decoded body bytes from `in` to `out`. DONE after the last chunk and trailers. */
enum http_chunk_rc http_chunked_decode(struct http_chunked *c, struct evbuffer *in,
                                       struct evbuffer *out);

/* Split an absolute URL. Returns -1 on error. Outputs are malloc'd. */
struct http_url {
    bool tls;
    char *host;
    int port;
    char *path; /* path + query, at least "/" */
};
int http_url_parse(const char *url, struct http_url *out);
void http_url_free(struct http_url *u);

#endif
