#include "keypool.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct entry {
    char *provider;
    size_t nkeys;
    size_t next;       /* round-robin cursor */
    double *rest_until; /* per key, monotonic ms; 0 = available */
    struct entry *link;
};

struct keypool {
    struct entry *head;
};

struct keypool *keypool_new(void) {
    return calloc(1, sizeof(struct keypool));
}

void keypool_free(struct keypool *kp) {
    if (!kp) return;
    while (kp->head) {
        struct entry *e = kp->head;
        kp->head = e->link;
        free(e->provider);
        free(e->rest_until);
        free(e);
    }
    free(kp);
}

static struct entry *entry_for(struct keypool *kp, const struct cfg_provider *p) {
    for (struct entry *e = kp->head; e; e = e->link) {
        if (strcasecmp(e->provider, p->name) != 0) continue;
        if (e->nkeys != p->nkeys) { /* the pool changed in a reload: start afresh */
            double *r = calloc(p->nkeys, sizeof *r);
            if (!r) return NULL;
            free(e->rest_until);
            e->rest_until = r;
            e->nkeys = p->nkeys;
            e->next = 0;
        }
        return e;
    }
    struct entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->provider = strdup(p->name);
    e->rest_until = calloc(p->nkeys, sizeof *e->rest_until);
    if (!e->provider || !e->rest_until) {
        free(e->provider);
        free(e->rest_until);
        free(e);
        return NULL;
    }
    e->nkeys = p->nkeys;
    e->link = kp->head;
    kp->head = e;
    return e;
}

int keypool_pick(struct keypool *kp, const struct cfg_provider *p, double now_ms, long *wait_ms) {
    if (p->nkeys == 0) return -2;
    if (p->nkeys == 1 || !kp) return 0; /* a single key is never withheld: its 429 speaks */
    struct entry *e = entry_for(kp, p);
    if (!e) return 0; /* out of memory: degrade to the first key rather than fail */
    double soonest = -1;
    for (size_t i = 0; i < e->nkeys; i++) {
        size_t k = (e->next + i) % e->nkeys;
        if (e->rest_until[k] <= now_ms) {
            e->next = (k + 1) % e->nkeys;
            return (int)k;
        }
        if (soonest < 0 || e->rest_until[k] < soonest) soonest = e->rest_until[k];
    }
    if (wait_ms) *wait_ms = (long)(soonest - now_ms + 0.999);
    return -1;
}

void keypool_rest(struct keypool *kp, const struct cfg_provider *p, int idx, double until_ms) {
    if (!kp || idx < 0 || (size_t)idx >= p->nkeys) return;
    struct entry *e = entry_for(kp, p);
    if (e && until_ms > e->rest_until[idx]) e->rest_until[idx] = until_ms;
}
