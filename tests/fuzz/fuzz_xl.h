/* fuzz_xl: what the translator targets share. FUZZ_FORMAT_<name> (anthropic, openai, gemini) is
 * defined on the command line: one source, one binary per wire format. */
#ifndef CCRELAY_FUZZ_XL_H
#define CCRELAY_FUZZ_XL_H

#include <assert.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "sse.h"

#if defined(FUZZ_FORMAT_anthropic)
#define FZ_FMT FMT_ANTHROPIC
#define FZ_OPS provider_anthropic
#elif defined(FUZZ_FORMAT_openai)
#define FZ_FMT FMT_OPENAI
#define FZ_OPS provider_openai
#elif defined(FUZZ_FORMAT_gemini)
#define FZ_FMT FMT_GEMINI
#define FZ_OPS provider_gemini
#else
#error "define FUZZ_FORMAT_anthropic, FUZZ_FORMAT_openai or FUZZ_FORMAT_gemini"
#endif

/* A copy of a buffer's bytes, NUL-terminated; caller frees. NULL on OOM. */
static inline char *fz_drain(struct evbuffer *b, size_t *len) {
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    evbuffer_copyout(b, s, n);
    s[n] = 0;
    if (len) *len = n;
    return s;
}

/* The events a client parses from a translator's output, for the pass-through's check. */
struct fz_events {
    char **name, **data;
    size_t *len;
    size_t n, cap;
    int stop_at_end; /* stop collecting after message_stop / error (as the pass-through does) */
    int stopped;
};

static inline int fz_events_add(void *arg, const char *event, const char *data, size_t len) {
    struct fz_events *ev = arg;
    if (ev->stopped) return 0;
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 16;
        char **nn = realloc(ev->name, cap * sizeof *nn);
        if (nn) ev->name = nn;
        char **nd = realloc(ev->data, cap * sizeof *nd);
        if (nd) ev->data = nd;
        size_t *nl = realloc(ev->len, cap * sizeof *nl);
        if (nl) ev->len = nl;
        if (!nn || !nd || !nl) return -1;
        ev->cap = cap;
    }
    ev->name[ev->n] = strdup(event);
    ev->data[ev->n] = malloc(len + 1);
    if (ev->data[ev->n]) memcpy(ev->data[ev->n], data, len + 1);
    ev->len[ev->n] = len;
    if (!ev->name[ev->n] || !ev->data[ev->n]) {
        free(ev->name[ev->n]);
        free(ev->data[ev->n]);
        return -1;
    }
    ev->n++;
    if (ev->stop_at_end && (strcmp(event, "message_stop") == 0 || strcmp(event, "error") == 0))
        ev->stopped = 1;
    return 0;
}

static inline void fz_events_free(struct fz_events *ev) {
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->name[i]);
        free(ev->data[i]);
    }
    free(ev->name);
    free(ev->data);
    free(ev->len);
}

/* Parse SSE bytes into events; 0, or -1 on OOM / an event over the parser's bound. */
static inline int fz_events_parse(struct fz_events *ev, const char *s, size_t n, size_t max) {
    struct sse_parser p;
    if (sse_parser_init(&p, max) != 0) return -1;
    int rc = sse_feed(&p, s, n, fz_events_add, ev);
    if (rc == 0) rc = sse_finish(&p, fz_events_add, ev);
    sse_parser_free(&p);
    return rc ? -1 : 0;
}

static inline int fz_event_is_json(void *arg, const char *event, const char *data, size_t len) {
    (void)arg;
    (void)event;
    cJSON *j = cJSON_ParseWithLength(data, len);
    assert(j && "an Anthropic SSE event whose data is not JSON");
    cJSON_Delete(j);
    return 0;
}

/* What a translator sends the client must always be well-formed Anthropic SSE: complete events
 * whose data are JSON documents, whatever the upstream sent. */
static inline void fz_check_anthropic_sse(struct evbuffer *out) {
    size_t n;
    char *s = fz_drain(out, &n);
    if (!s) return;
    struct sse_parser p;
    if (sse_parser_init(&p, (size_t)1 << 30) == 0) {
        assert(sse_feed(&p, s, n, fz_event_is_json, NULL) == 0);
        assert(p.has_data == 0 && "the translator left an event without its blank line");
        sse_parser_free(&p);
    }
    free(s);
}

#endif
