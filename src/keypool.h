/* keypool: which of a provider's keys serves the next request. Keys rotate round-robin; a key
 * that got a 429 rests until its retry-after (or a backoff) while the others serve.
 *
 * This is state that outlives requests and config reloads, so it sits behind this one small
 * interface (an in-process table today; a shared store could take its place when ccrelay runs as
 * several replicas). Entries are keyed by provider name; a provider whose number of keys changed
 * in a reload starts afresh. The pool owns its entries; providers are only read. Keys themselves
 * are never stored here, only their indices. */
#ifndef CCRELAY_KEYPOOL_H
#define CCRELAY_KEYPOOL_H

#include "config.h"

struct keypool;

struct keypool *keypool_new(void);
void keypool_free(struct keypool *kp);

/* The index of the key to use for provider p at time now_ms (monotonic ms), or -1 when every key
 * rests (then *wait_ms is the shortest time until one is back), or -2 when p has no key. */
int keypool_pick(struct keypool *kp, const struct cfg_provider *p, double now_ms, long *wait_ms);
/* Key idx of p rests until until_ms. */
void keypool_rest(struct keypool *kp, const struct cfg_provider *p, int idx, double until_ms);

#endif
