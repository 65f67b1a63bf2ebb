#include "keypath.h"

#include <stdio.h>

static void clamp(struct keypath *p, int n) {
    if (n > 0) p->len += (size_t)n;
    if (p->len >= sizeof p->buf) p->len = sizeof p->buf - 1;
}

size_t keypath_key(struct keypath *p, const char *key) {
    size_t old = p->len;
    clamp(p, snprintf(p->buf + p->len, sizeof p->buf - p->len, "%s%s", p->len ? "." : "", key));
    return old;
}

size_t keypath_index(struct keypath *p, size_t i) {
    size_t old = p->len;
    clamp(p, snprintf(p->buf + p->len, sizeof p->buf - p->len, "[%zu]", i));
    return old;
}

void keypath_pop(struct keypath *p, size_t old) {
    p->len = old;
    p->buf[old] = '\0';
}
