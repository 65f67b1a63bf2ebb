/* keypath: the path of a key inside a config document, built while walking it, for error
 * messages that name the exact key ("Providers[1].api_key", "model_list[3].litellm_params").
 * A fixed buffer owned by the caller: truncated, never overflowing, when a key is absurdly
 * long. Push returns the length to pop back to. */
#ifndef CCRELAY_KEYPATH_H
#define CCRELAY_KEYPATH_H

#include <stddef.h>

struct keypath {
    char buf[256];
    size_t len;
};

size_t keypath_key(struct keypath *p, const char *key); /* ".key" (or "key" first) */
size_t keypath_index(struct keypath *p, size_t i);      /* "[i]" */
void keypath_pop(struct keypath *p, size_t old);

#endif
