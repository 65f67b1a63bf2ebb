#include "err.h"

#include <stdio.h>
#include <string.h>

int err_vset(struct err *e, enum err_kind kind, const char *fmt, va_list ap) {
    if (!e) return -1;
    e->kind = kind;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, kind, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(struct err *e, const char *fmt, ...) {
    if (!e) return -1;
    char old[ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof e->msg ? (size_t)n : sizeof e->msg - 1;
    size_t room = sizeof e->msg - 1 - used;
    if (room >= 2) {
        memcpy(e->msg + used, ": ", 2);
        used += 2;
        room -= 2;
        size_t k = strnlen(old, room);
        memcpy(e->msg + used, old, k);
        used += k;
    }
    e->msg[used] = '\0';
    return -1;
}

void err_clear(struct err *e) {
    if (!e) return;
    e->kind = ERR_NONE;
    e->msg[0] = '\0';
}
