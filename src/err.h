/* err: errors as values.
 *
 * A function that can fail takes a `struct err *` (may be NULL when the caller does not care),
 * fills it with a message that says what failed, where, and what to do, and returns -1.
 * The message never holds a secret (API key, Authorization header). */
#ifndef CCRELAY_ERR_H
#define CCRELAY_ERR_H

#include <stdarg.h>

#define ERR_MSG_MAX 1024

/* Error kinds; mapped to HTTP status + Anthropic error type where an error reaches a client. */
enum err_kind {
    ERR_NONE = 0,
    ERR_INVALID,   /* bad input: 400 invalid_request_error */
    ERR_NOT_FOUND, /* 404 not_found_error */
    ERR_AUTH,      /* 401 authentication_error */
    ERR_TOO_LARGE, /* 413 request_too_large */
    ERR_CONFIG,    /* configuration problem */
    ERR_IO,        /* file / socket problem */
    ERR_UPSTREAM,  /* upstream failed: 502 api_error */
    ERR_TIMEOUT,   /* 504 timeout_error */
    ERR_INTERNAL,  /* 500 api_error: a bug or exhausted resource */
    ERR_NOMEM,
};

struct err {
    enum err_kind kind;
    char msg[ERR_MSG_MAX];
};

/* Fill `e` (if not NULL) and return -1, so `return err_set(e, ERR_INVALID, "...")` reads well. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_vset(struct err *e, enum err_kind kind, const char *fmt, va_list ap);
/* Prefix an existing message: "<prefix>: <old message>". Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif
