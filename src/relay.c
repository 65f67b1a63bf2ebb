#include "relay.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apierr.h"
#include "policy.h"
#include "providers/provider.h"
#include "providers/util.h"
#include "jsonscan.h"
#include "jsonparse.h"
#include "keypool.h"
#include "summary.h"

#define MAX_ERROR_BODY (64 * 1024)
#define MAX_RESPONSE_BODY (64 * 1024 * 1024)
#define CLIENT_HIGH_WATER (1024 * 1024)
#define PING_INTERVAL_S 10
#define KEY_REST_DEFAULT_MS 30000.0
#define USAGE_GRACE_MS 1500

enum relay_state {
    RS_ATTEMPT,   /* an upstream call is under way; nothing sent to the client yet */
    RS_COMMITTED, /* the response has started: no fallback any more */
    RS_FINISHED,
};

struct relay {
    struct server *srv;
    struct client *cl;
    struct generation *gen;
    struct logger *lg;
    enum relay_state state;
    char request_id[32];
    char method[8];
    char *path;

    char *client_model;   /* owned copy: the body may be shed before the request ends */
    bool stream;          /* the client asked for a stream */
    struct evbuffer *raw; /* the client's body bytes */
    cJSON *body;
    struct summary sum;
    bool have_sum;
    struct route_decision dec;
    bool have_dec;
    size_t attempt; /* index into dec.t */
    int key_idx;    /* index of the provider key in use, -1 none */
    unsigned tries; /* upstream calls made, all targets and keys */

    const struct provider_ops *ops;
    struct xl_request xr;
    struct xl_stream *xs;
    struct upstream_call *call;
    int up_status;
    struct http_hdrs up_hdrs; /* the upstream's response headers, kept for error mapping */
    struct evbuffer *up_body; /* error body, or a non-streamed answer */
    struct evbuffer *out;     /* translated bytes on their way to the client */
    bool translator_done;
    bool paused;
    struct event *ping;
    struct event *linger; /* usage grace timer after the answer ended (Chat Completions) */

    struct xl_usage usage;
    double t_start, t_upstream, t_first_byte;
    char fail_note[256];
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static const struct route_target *cur_target(const struct relay *r) {
    return r->have_dec && r->attempt < r->dec.n ? &r->dec.t[r->attempt] : NULL;
}

/* One line per request, read from the relay's record. No key, no header values. */
static void log_record(struct relay *r, int status) {
    const struct route_target *t = cur_target(r);
    double end = now_ms();
    log_info(r->lg,
             "%s %s model=%s rule=%s target=%s,%s key=%d tries=%u status=%d stream=%s "
             "upstream_ms=%.0f ttfb_ms=%.0f total_ms=%.0f in=%ld out=%ld cache_read=%ld%s%s",
             r->method, r->path ? r->path : "?", r->client_model ? r->client_model : "-",
             r->have_dec ? r->dec.rule : "-", t ? t->provider->name : "-", t ? t->model : "-",
             r->key_idx, r->tries, status,
             r->stream ? "yes" : "no",
             r->t_upstream > 0 ? end - r->t_upstream : 0,
             r->t_first_byte > 0 ? r->t_first_byte - r->t_start : 0, end - r->t_start,
             r->usage.input_tokens, r->usage.output_tokens, r->usage.cache_read_input_tokens,
             r->fail_note[0] ? " error=" : "", r->fail_note);
}

static void set_note(struct relay *r, const char *msg) {
    size_t k = strnlen(msg, sizeof r->fail_note - 1);
    memcpy(r->fail_note, msg, k);
    r->fail_note[k] = '\0';
}

static void relay_free(struct relay *r) {
    if (r->call) upstream_cancel(r->call);
    if (r->xs && r->ops) r->ops->stream_free(r->xs);
    if (r->ping) event_free(r->ping);
    if (r->linger) event_free(r->linger);
    if (r->have_dec) route_decision_free(&r->dec);
    if (r->have_sum) summary_free(&r->sum);
    cJSON_Delete(r->body);
    if (r->raw) evbuffer_free(r->raw);
    if (r->up_body) evbuffer_free(r->up_body);
    if (r->out) evbuffer_free(r->out);
    http_hdrs_free(&r->up_hdrs);
    generation_unref(r->gen);
    free(r->path);
    free(r->client_model);
    free(r);
}

/* The response is complete: hand the connection back and free everything. */
static void finish(struct relay *r, int status) {
    r->state = RS_FINISHED;
    log_record(r, status);
    struct client *c = r->cl;
    client_set_relay(c, NULL);
    relay_free(r);
    client_request_done(c);
}

static void add_common_headers(struct relay *r, struct http_hdrs *h) {
    http_hdrs_add(h, "request-id", r->request_id);
    const struct route_target *t = cur_target(r);
    if (t) {
        http_hdrs_add(h, "x-ccrelay-provider", t->provider->name);
        http_hdrs_add(h, "x-ccrelay-upstream-model", t->model);
    }
}

/* An error before anything reached the client: a complete Anthropic-shaped response. */
/* Replace every occurrence of `secret` in the NUL-terminated `s` by "***" (keys of 6 bytes or
 * more: shorter ones would mask ordinary words). */
static void mask_exact(char *s, const char *secret) {
    size_t k = secret ? strlen(secret) : 0;
    if (k < 6) return;
    for (char *p = strstr(s, secret); p; p = strstr(p + 3, secret)) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + k, strlen(p + k) + 1);
    }
}

/* A client-facing message with the keys of the current provider and the client key masked:
 * providers quote the key they were sent in any shape, and the generic masking only knows the
 * common prefixes (sk-, AIza...). Copies into buf (truncating); returns buf. */
static const char *mask_keys(const struct relay *r, const char *message, char *buf, size_t n) {
    snprintf(buf, n, "%s", message ? message : "");
    const struct route_target *t = cur_target(r);
    for (size_t i = 0; t && i < t->provider->nkeys; i++) mask_exact(buf, t->provider->keys[i]);
    mask_exact(buf, r->gen->cfg->apikey);
    return buf;
}

static void respond_error(struct relay *r, int status, const char *type, const char *message,
                          const struct http_hdrs *extra) {
    char masked[2048];
    message = mask_keys(r, message, masked, sizeof masked);
    struct evbuffer *b = evbuffer_new();
    struct http_hdrs h;
    http_hdrs_init(&h);
    add_common_headers(r, &h);
    for (size_t i = 0; extra && i < extra->n; i++)
        http_hdrs_add(&h, extra->v[i].name, extra->v[i].value);
    if (b && apierr_json(b, type, message, r->request_id) == 0) {
        size_t n = evbuffer_get_length(b);
        client_respond(r->cl, status, &h, "application/json",
                       (const char *)evbuffer_pullup(b, -1), n);
    }
    http_hdrs_free(&h);
    if (b) evbuffer_free(b);
    set_note(r, message);
    finish(r, status);
}

/* An error after the stream started: `event: error`, then the end of the stream. */
static void stream_error(struct relay *r, const char *type, const char *message) {
    char masked[2048];
    message = mask_keys(r, message, masked, sizeof masked);
    struct evbuffer *b = evbuffer_new();
    if (b) {
        apierr_event(b, type, message);
        client_write(r->cl, b);
        evbuffer_free(b);
    }
    client_stream_end(r->cl);
    set_note(r, message);
    finish(r, 200);
}

static void fail_err(struct relay *r, const struct err *e) {
    int status = apierr_status_for_kind(e->kind);
    if (r->state == RS_COMMITTED)
        stream_error(r, apierr_type_for_status(status), e->msg);
    else
        respond_error(r, status, apierr_type_for_status(status), e->msg, NULL);
}

static void respond_mapped(struct relay *r, const struct xl_error *xe);

/* A translator's stream failed: use the provider's mapping of the upstream's error payload
 * when it has one (a rate limit inside a 200 stream stays a rate_limit_error). */
static void fail_stream(struct relay *r, const struct err *e) {
    struct xl_error xe;
    if (provider_stream_error(r->ops->format, r->xs, &xe) != 0) {
        fail_err(r, e);
        return;
    }
    if (r->state == RS_COMMITTED)
        stream_error(r, xe.type, xe.message);
    else
        respond_mapped(r, &xe);
}

static void ping_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct relay *r = arg;
    if (r->state != RS_COMMITTED || !r->ops || r->ops->format == FMT_ANTHROPIC) return;
    /* translated streams: keep the client's idle timer satisfied while the upstream is silent */
    static const char ping[] = "event: ping\ndata: {\"type\":\"ping\"}\n\n";
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add(b, ping, sizeof ping - 1);
        client_write(r->cl, b);
        evbuffer_free(b);
    }
    struct timeval tv = {PING_INTERVAL_S, 0};
    evtimer_add(r->ping, &tv);
}

/* Once the stream is committed no other target can be tried, so the parsed body, the summary
 * and the raw bytes are no longer needed: free them now rather than at the end of a stream that
 * may last minutes (with many open streams this is most of the proxy's memory). */
static void shed_request(struct relay *r) {
    if (r->have_sum) summary_free(&r->sum);
    r->have_sum = false;
    cJSON_Delete(r->body);
    r->body = NULL;
    if (r->raw) evbuffer_free(r->raw);
    r->raw = NULL;
    r->xr.body = NULL;
    r->xr.raw = NULL;
    r->xr.raw_len = 0;
}

/* Translators read the tree again when the answer arrives (stream_new, response); the
 * pass-through reads neither tree nor raw bytes after its build. */
static bool needs_tree(const struct relay *r) {
    return r->ops && r->ops->format != FMT_ANTHROPIC;
}

/* Can this request still be sent again (a fallback target, another key of the pool)? */
static bool may_retry(const struct relay *r) {
    const struct route_target *t = cur_target(r);
    return r->attempt + 1 < r->dec.n || (t && t->provider->nkeys > 1);
}

/* While the upstream works on a pass-through request, keep at most one form of the body: the raw
 * bytes when another attempt may need them (it re-parses them), else nothing; the tree only
 * when the summary changed it and another attempt may come. */
static void compact_request(struct relay *r) {
    if (r->have_sum) summary_free(&r->sum); /* routed: the policy's view is not needed again */
    r->have_sum = false;
    bool retry = may_retry(r);
    if (r->raw && r->xr.raw) {
        cJSON_Delete(r->body);
        r->body = NULL;
        r->xr.body = NULL;
        if (!retry) {
            evbuffer_free(r->raw);
            r->raw = NULL;
            r->xr.raw = NULL;
            r->xr.raw_len = 0;
        }
    } else if (r->raw) {
        evbuffer_free(r->raw);
        r->raw = NULL;
        if (!retry) {
            cJSON_Delete(r->body);
            r->body = NULL;
            r->xr.body = NULL;
        }
    }
}

/* The parsed body for another attempt; re-parsed from the raw bytes if it was compacted. */
static int ensure_body(struct relay *r, struct err *e) {
    if (r->body || (!needs_tree(r) && r->xr.raw)) return 0;
    if (!r->xr.raw) return err_set(e, ERR_INTERNAL, "the request body is no longer available");
    r->body = json_parse(r->xr.raw, r->xr.raw_len);
    r->xr.body = r->body;
    return r->body ? 0 : err_set(e, ERR_NOMEM, "out of memory while re-reading the request");
}

/* Move translated bytes to the client, starting the response if needed. */
static void flush_out(struct relay *r) {
    if (evbuffer_get_length(r->out) == 0) return;
    if (r->state == RS_ATTEMPT) {
        struct http_hdrs h;
        http_hdrs_init(&h);
        add_common_headers(r, &h);
        http_hdrs_add(&h, "cache-control", "no-cache");
        client_stream_start(r->cl, 200, &h, "text/event-stream; charset=utf-8");
        http_hdrs_free(&h);
        r->state = RS_COMMITTED;
        r->t_first_byte = now_ms();
        shed_request(r);
    }
    client_write(r->cl, r->out);
    if (r->ping) {
        struct timeval tv = {PING_INTERVAL_S, 0};
        evtimer_add(r->ping, &tv);
    }
    if (!r->paused && r->call && client_pending(r->cl) > CLIENT_HIGH_WATER) {
        r->paused = true;
        upstream_pause(r->call);
    }
}

void relay_client_drained(struct relay *r) {
    if (r->paused && r->call && client_pending(r->cl) < CLIENT_HIGH_WATER / 2) {
        r->paused = false;
        upstream_resume(r->call);
    }
}

/* ---- upstream errors ---- */

static bool retryable_status(int s) {
    return s == 408 || s == 429 || s >= 500;
}

static void start_attempt(struct relay *r);

/* An error answer built from the provider's mapping (conversion.md 5.2-5.5, errata O5, O6). */
static void respond_mapped(struct relay *r, const struct xl_error *xe) {
    struct http_hdrs h;
    http_hdrs_init(&h);
    if (xe->retry_after_ms >= 0 && (xe->status == 429 || xe->status >= 500)) {
        char v[32];
        snprintf(v, sizeof v, "%ld", (xe->retry_after_ms + 999) / 1000);
        http_hdrs_add(&h, "retry-after", v);
        snprintf(v, sizeof v, "%ld", xe->retry_after_ms);
        http_hdrs_add(&h, "retry-after-ms", v);
    }
    if (xe->should_retry >= 0) http_hdrs_add(&h, "x-should-retry", xe->should_retry ? "true" : "false");
    respond_error(r, xe->status, xe->type, xe->message, &h);
    http_hdrs_free(&h);
}

static void upstream_failed_status(struct relay *r) {
    const struct route_target *t = cur_target(r);
    size_t n = evbuffer_get_length(r->up_body);
    const char *b = (const char *)evbuffer_pullup(r->up_body, -1);
    struct xl_error xe;
    xl_map_upstream_error(r->up_status, &r->up_hdrs, b, n, t->provider->name, t->model, &xe);
    if (r->up_status == 429 && t->provider->nkeys > 1 && r->key_idx >= 0) {
        /* this key rests; another key of the pool may serve the same request now */
        long ra = xe.retry_after_ms;
        keypool_rest(server_keypool(r->srv), t->provider, r->key_idx,
                     now_ms() + (ra > 0 ? (double)ra : KEY_REST_DEFAULT_MS));
        long wait = 0;
        if (keypool_pick(server_keypool(r->srv), t->provider, now_ms(), &wait) >= 0) {
            log_warn(r->lg, "%s key %d rate-limited (429); retrying with another key",
                     t->provider->name, r->key_idx);
            start_attempt(r);
            return;
        }
        if (xe.retry_after_ms < 0 || wait < xe.retry_after_ms) xe.retry_after_ms = wait;
    }
    if (retryable_status(r->up_status) && r->attempt + 1 < r->dec.n) {
        log_warn(r->lg, "%s,%s answered %d; trying fallback %zu", t->provider->name, t->model,
                 r->up_status, r->attempt + 2);
        r->attempt++;
        start_attempt(r);
        return;
    }
    respond_mapped(r, &xe);
}

/* ---- upstream callbacks ---- */

static int on_head(void *arg, const struct http_head *head) {
    struct relay *r = arg;
    r->up_status = head->status;
    http_hdrs_free(&r->up_hdrs);
    if (head->status < 200 || head->status >= 300)
        for (size_t i = 0; i < head->hdrs.n; i++)
            http_hdrs_add(&r->up_hdrs, head->hdrs.v[i].name, head->hdrs.v[i].value);
    if (head->status >= 200 && head->status < 300 && r->stream) {
        struct err e;
        r->xs = (!needs_tree(r) || ensure_body(r, &e) == 0) ? r->ops->stream_new(&r->xr, &e)
                                                             : NULL;
        if (!r->xs) {
            r->call = NULL; /* returning 1 cancels it */
            fail_err(r, &e);
            return 1;
        }
    }
    return 0;
}

static int on_data(void *arg, struct evbuffer *data) {
    struct relay *r = arg;
    bool ok2xx = r->up_status >= 200 && r->up_status < 300;
    if (!ok2xx || !r->stream) {
        size_t cap = ok2xx ? MAX_RESPONSE_BODY : MAX_ERROR_BODY;
        size_t n = evbuffer_get_length(data);
        size_t room = cap - evbuffer_get_length(r->up_body);
        evbuffer_remove_buffer(data, r->up_body, n < room ? n : room);
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    if (r->translator_done) { /* bytes after the end of the Anthropic stream */
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    struct err e = {0};
    int rc = XL_MORE;
    /* feed every contiguous segment without copying */
    while (evbuffer_get_length(data) > 0 && rc == XL_MORE) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(data, -1, NULL, &v, 1) < 1) break;
        rc = r->ops->stream_feed(r->xs, v.iov_base, v.iov_len, r->out, &e);
        evbuffer_drain(data, v.iov_len);
    }
    evbuffer_drain(data, evbuffer_get_length(data));
    flush_out(r);
    if (rc < 0) {
        r->call = NULL; /* returning 1 cancels it */
        fail_stream(r, &e);
        return 1;
    }
    if (rc == XL_DONE) {
        r->translator_done = true;
    } else if (r->linger && provider_stream_lingering(r->ops->format, r->xs)) {
        struct timeval tv = {USAGE_GRACE_MS / 1000, (USAGE_GRACE_MS % 1000) * 1000};
        evtimer_add(r->linger, &tv);
    } else if (r->linger) {
        evtimer_del(r->linger);
    }
    return 0;
}

static void finish_stream(struct relay *r);

/* The upstream finished its answer but sent neither usage nor the end of the body within the
 * grace time: complete the client's stream with what is known and let the upstream go. */
static void linger_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    struct relay *r = arg;
    if (r->call) {
        upstream_cancel(r->call);
        r->call = NULL;
    }
    finish_stream(r);
}

/* The upstream's body ended (or the usage grace time ran out): close the Anthropic stream. */
static void finish_stream(struct relay *r) {
    struct err e = {0};
    if (r->linger) evtimer_del(r->linger);
    int rc = r->translator_done ? XL_DONE : r->ops->stream_end(r->xs, r->out, &e);
    r->ops->stream_usage(r->xs, &r->usage);
    flush_out(r);
    if (rc < 0) {
        fail_stream(r, &e);
        return;
    }
    if (r->state == RS_ATTEMPT) { /* an empty stream: nothing was ever sent */
        err_set(&e, ERR_UPSTREAM, "the upstream answered with an empty stream");
        fail_err(r, &e);
        return;
    }
    client_stream_end(r->cl);
    finish(r, 200);
}

static void on_done(void *arg) {
    struct relay *r = arg;
    r->call = NULL;
    if (r->up_status < 200 || r->up_status >= 300) {
        upstream_failed_status(r);
        return;
    }
    struct err e = {0};
    if (r->stream) {
        finish_stream(r);
        return;
    }
    size_t n = evbuffer_get_length(r->up_body);
    const char *b = (const char *)evbuffer_pullup(r->up_body, -1);
    if ((needs_tree(r) && ensure_body(r, &e) != 0) ||
        r->ops->response(&r->xr, b ? b : "", n, r->out, &r->usage, &e) != 0) {
        if (e.kind == ERR_UPSTREAM && n > 0) { /* a 2xx body that carries an error object */
            const struct route_target *t = cur_target(r);
            struct xl_error xe;
            xl_map_upstream_error(0, NULL, b, n, t->provider->name, t->model, &xe);
            respond_mapped(r, &xe);
            return;
        }
        fail_err(r, &e);
        return;
    }
    struct http_hdrs h;
    http_hdrs_init(&h);
    add_common_headers(r, &h);
    size_t on = evbuffer_get_length(r->out);
    client_respond(r->cl, 200, &h, "application/json", (const char *)evbuffer_pullup(r->out, -1),
                   on);
    http_hdrs_free(&h);
    r->t_first_byte = now_ms();
    finish(r, 200);
}

static void on_error(void *arg, const struct err *e) {
    struct relay *r = arg;
    r->call = NULL;
    const struct route_target *t = cur_target(r);
    if (r->state == RS_ATTEMPT && r->attempt + 1 < r->dec.n) {
        log_warn(r->lg, "%s,%s failed (%s); trying fallback %zu", t->provider->name, t->model,
                 e->msg, r->attempt + 2);
        r->attempt++;
        start_attempt(r);
        return;
    }
    struct err full = *e;
    err_prefix(&full, "%s/%s", t->provider->name, t->model);
    if (r->stream && r->xs && r->state == RS_COMMITTED) {
        r->ops->stream_usage(r->xs, &r->usage);
    }
    fail_err(r, &full);
}

static void start_attempt(struct relay *r) {
    const struct route_target *t = cur_target(r);
    const struct config *cfg = r->gen->cfg;
    if (r->xs) {
        r->ops->stream_free(r->xs);
        r->xs = NULL;
    }
    evbuffer_drain(r->up_body, evbuffer_get_length(r->up_body));
    evbuffer_drain(r->out, evbuffer_get_length(r->out));
    r->up_status = 0;
    r->translator_done = false;
    r->ops = provider_ops_for(t->provider->format);
    if (!r->ops) {
        struct err e;
        err_set(&e, ERR_CONFIG, "provider %s uses the %s wire format, which this build of ccrelay "
                                "does not support yet",
                t->provider->name, wire_format_name(t->provider->format));
        fail_err(r, &e);
        return;
    }
    long wait = 0;
    r->key_idx = keypool_pick(server_keypool(r->srv), t->provider, now_ms(), &wait);
    if (r->key_idx == -1) { /* every key of this provider rests after 429s */
        if (r->attempt + 1 < r->dec.n) {
            r->attempt++;
            start_attempt(r);
            return;
        }
        struct http_hdrs h;
        http_hdrs_init(&h);
        char v[32], msg[300];
        snprintf(v, sizeof v, "%ld", (wait + 999) / 1000);
        http_hdrs_add(&h, "retry-after", v);
        snprintf(v, sizeof v, "%ld", wait);
        http_hdrs_add(&h, "retry-after-ms", v);
        snprintf(msg, sizeof msg, "%s/%s: every key of %s is rate-limited; retry in %ld ms",
                 t->provider->name, t->model, t->provider->name, wait);
        respond_error(r, 429, "rate_limit_error", msg, &h);
        http_hdrs_free(&h);
        return;
    }
    r->xr.provider = t->provider;
    r->xr.model = t->model;
    r->xr.api_key = r->key_idx >= 0 ? t->provider->keys[r->key_idx] : NULL;
    r->tries++;
    struct xl_http_request hr;
    xl_http_request_init(&hr);
    struct err e = {0};
    if (ensure_body(r, &e) != 0) {
        fail_err(r, &e);
        return;
    }
    /* A pass-through request that will not be sent again gives its bytes to the upstream
     * request instead of having them copied (compact_request would free them next). */
    bool give = r->ops->format == FMT_ANTHROPIC && r->xr.raw && r->raw && !may_retry(r);
    r->xr.raw_buf = give ? r->raw : NULL;
    int built = r->ops->build(&r->xr, &hr, &e);
    if (give && evbuffer_get_length(r->raw) != r->xr.raw_len) { /* taken: raw is stale */
        r->xr.raw = NULL;
        r->xr.raw_len = 0;
    }
    r->xr.raw_buf = NULL;
    if (built != 0) {
        xl_http_request_free(&hr);
        err_prefix(&e, "cannot translate the request for %s/%s", t->provider->name, t->model);
        fail_err(r, &e);
        return;
    }
    struct upstream_timeouts to = {cfg->connect_timeout_ms, cfg->first_byte_timeout_ms,
                                   cfg->idle_timeout_ms};
    static const struct upstream_cbs cbs = {on_head, on_data, on_done, on_error};
    r->t_upstream = now_ms();
    r->call = upstream_send(server_upstream(r->srv), "POST", hr.url, &hr.headers, hr.body, &to,
                            cfg->proxy_url, &cbs, r, &e);
    xl_http_request_free(&hr);
    if (!r->call) {
        err_prefix(&e, "%s/%s", t->provider->name, t->model);
        fail_err(r, &e);
        return;
    }
    /* Translators read the tree again when the answer arrives (stream_new, response); the
     * pass-through does not. */
    if (r->ops->format == FMT_ANTHROPIC) compact_request(r);
}

/* The slot of generation.translated_by_model for this body: a hash of the top-level "model"
 * value's raw bytes (0 when it cannot be found: the request fails its checks anyway). */
static unsigned model_slot(const char *raw, size_t n) {
    static const char *const path[] = {"model"};
    size_t a, b;
    if (jsonscan_find(raw, n, path, 1, &a, &b) != 0) return 0;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = a; i < b; i++) h = (h ^ (unsigned char)raw[i]) * 16777619u;
    return h % (sizeof ((struct generation *)0)->translated_by_model);
}

/* The tree path, for a body that will be translated or may hold a <CCR-SUBAGENT-MODEL> tag:
 * parse, check the request's shape, and build the summary from the tree (removing the tag edits
 * it). Returns 0, or -1 after answering the client. */
static int tree_summary(struct relay *r, const char *raw, size_t n, const struct http_hdrs *hdrs) {
    r->body = json_parse(raw, n);
    /* refused, or out of memory: cJSON again, for where it stops (the message) or the tree */
    const char *end = NULL;
    if (!r->body) r->body = cJSON_ParseWithLengthOpts(raw, n, &end, 0);
    if (!r->body) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 n ? "the request body is not valid JSON (error near byte %zu)"
                   : "the request body is empty: send an Anthropic Messages request",
                 end ? (size_t)(end - raw) : 0);
        respond_error(r, 400, "invalid_request_error", msg, NULL);
        return -1;
    }
    struct err e = {0};
    if (summary_check_request(
            cJSON_IsObject(r->body),
            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->body, "model")),
            cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->body, "messages")), &e) != 0) {
        respond_error(r, 400, "invalid_request_error", e.msg, NULL);
        return -1;
    }
    if (summary_build(r->body, hdrs, r->path, &r->sum, &e) != 0) {
        respond_error(r, e.kind == ERR_NOMEM ? 500 : 400,
                      e.kind == ERR_NOMEM ? "api_error" : "invalid_request_error", e.msg, NULL);
        return -1;
    }
    return 0;
}

void relay_start(struct server *s, struct client *c, struct generation *g,
                 const struct http_head *head, struct evbuffer *body, const char *request_id) {
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        client_respond(c, 500, NULL, "application/json",
                       "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"out "
                       "of memory\"}}",
                       78);
        client_request_done(c);
        return;
    }
    r->srv = s;
    r->cl = c;
    r->key_idx = -1;
    r->gen = generation_ref(g);
    r->lg = server_logger(s);
    r->t_start = now_ms();
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    snprintf(r->method, sizeof r->method, "%s", head->method);
    r->path = strndup(head->target, strcspn(head->target, "?"));
    r->raw = evbuffer_new();
    r->up_body = evbuffer_new();
    r->out = evbuffer_new();
    r->ping = evtimer_new(server_base(s), ping_cb, r);
    r->linger = evtimer_new(server_base(s), linger_cb, r);
    client_set_relay(c, r);
    struct err e = {0};
    if (!r->path || !r->raw || !r->up_body || !r->out || !r->ping || !r->linger) {
        err_set(&e, ERR_NOMEM, "out of memory");
        fail_err(r, &e);
        return;
    }
    evbuffer_add_buffer(r->raw, body);
    size_t n = evbuffer_get_length(r->raw);
    const char *raw = n ? (const char *)evbuffer_pullup(r->raw, -1) : "";
    if (!raw) {
        respond_error(r, 500, "api_error", "out of memory", NULL);
        return;
    }
    /* When a request may be forwarded as it came, the summary comes from the raw text in one
     * pass, and a tree is built only when something needs one: a translator, a script reading
     * req.body, a subagent tag to remove. When every provider translates, the tree is needed
     * anyway: parse first and summarise the tree. */
    /* only a config with both kinds of provider has a choice to remember per model */
    bool mixed = g->pass_through && g->translates;
    unsigned slot = mixed ? model_slot(raw, n) : 0;
    bool scan = g->pass_through && !(mixed && g->translated_by_model[slot]);
    int sc = scan ? summary_scan(raw, n, &head->hdrs, r->path, &r->sum, &e) : 1;
    if (sc < 0) {
        if (e.kind == ERR_NOMEM) respond_error(r, 500, "api_error", e.msg, NULL);
        else respond_error(r, 400, "invalid_request_error", e.msg, NULL);
        return;
    }
    if (sc == 1 && tree_summary(r, raw, n, &head->hdrs) != 0) return;
    r->have_sum = true;
    r->client_model = strdup(r->sum.model);
    if (!r->client_model) {
        respond_error(r, 500, "api_error", "out of memory", NULL);
        return;
    }
    struct policy_body pb = {.tree = r->body, .raw = raw, .raw_len = n};
    int routed = policy_route(g->pol, &r->sum, &pb, &r->dec, &e);
    r->body = pb.tree; /* parsed for a script that read req.body, or as it was */
    if (routed != 0) {
        respond_error(r, 404, "not_found_error", e.msg, NULL);
        return;
    }
    r->have_dec = true;
    if (mixed && r->dec.n > 0)
        g->translated_by_model[slot] = r->dec.t[0].provider->format != FMT_ANTHROPIC;
    if (r->dec.n == 0) {
        respond_error(r, 404, "not_found_error", "no route for this request: set Router.default",
                      NULL);
        return;
    }
    r->xr.body = r->body;
    r->xr.raw = r->sum.body_modified ? NULL : raw;
    r->xr.raw_len = n;
    r->xr.client_headers = &head->hdrs;
    r->stream = r->sum.stream;
    r->xr.client_model = r->client_model;
    r->xr.stream = r->stream;
    start_attempt(r);
}

void relay_abort(struct relay *r) {
    if (!r) return;
    if (r->state != RS_FINISHED) {
        set_note(r, "client disconnected");
        log_record(r, 499);
    }
    relay_free(r);
}
