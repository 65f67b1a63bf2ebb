/* The `anthropic` wire format: pass-through to an Anthropic-compatible endpoint.
 *
 * The request body is forwarded as the client sent it, byte for byte, except the top-level
 * `model`, which is rewritten in place to the routed model (no re-serialisation). The stream is
 * relayed event by event as it arrives; each event's payload is the upstream's bytes, except
 * `message.model` in message_start, which is set back to the model the client asked for. */
#include <stdlib.h>
#include "providers/util.h"
#include <string.h>

#include "jsonscan.h"
#include "providers/options.h"
#include "providers/provider.h"
#include "providers/util.h"
#include "sse.h"

static const char *const MODEL_PATH[] = {"model"};
static const char *const MSG_MODEL_PATH[] = {"message", "model"};

static int build(const struct xl_request *in, struct xl_http_request *out, struct err *err) {
    out->url = strdup(in->provider->url);
    out->body = evbuffer_new();
    if (!out->url || !out->body) return err_set(err, ERR_NOMEM, "out of memory");
    int rc = 0;
    if (in->raw && in->raw_buf) {
        rc = jsonscan_move_replace_string(in->raw_buf, MODEL_PATH, 1, in->model, out->body);
    } else if (in->raw) {
        rc = jsonscan_replace_string(in->raw, in->raw_len, MODEL_PATH, 1, in->model, out->body);
    } else {
        cJSON *copy = cJSON_Duplicate(in->body, 1);
        cJSON *model = cJSON_CreateString(in->model);
        char *s = NULL;
        if (copy && model && cJSON_ReplaceItemInObjectCaseSensitive(copy, "model", model)) {
            model = NULL; /* now owned by copy */
            s = cJSON_PrintUnformatted(copy);
        }
        cJSON_Delete(model); /* not placed: a body without "model" */
        cJSON_Delete(copy);
        rc = s ? evbuffer_add(out->body, s, strlen(s)) : -1;
        cJSON_free(s);
    }
    if (rc != 0)
        return err_set(err, ERR_INVALID, "the request body has no string \"model\" to route");
    rc |= http_hdrs_add(&out->headers, "content-type", "application/json");
    const char *auth = xl_opt_str(in->provider, in->model, "auth", "x-api-key");
    if (in->api_key && in->api_key[0]) {
        if (strcmp(auth, "bearer") == 0) {
            size_t n = strlen(in->api_key) + 8;
            char *v = malloc(n);
            if (!v) return err_set(err, ERR_NOMEM, "out of memory");
            snprintf(v, n, "Bearer %s", in->api_key);
            rc |= http_hdrs_add(&out->headers, "authorization", v);
            free(v);
        } else {
            rc |= http_hdrs_add(&out->headers, "x-api-key", in->api_key);
        }
    }
    /* Anthropic's gateway protocol: forward the version and the betas unchanged. */
    const char *ver = in->client_headers ? http_hdrs_get(in->client_headers, "anthropic-version")
                                         : NULL;
    rc |= http_hdrs_add(&out->headers, "anthropic-version", ver ? ver : "2023-06-01");
    for (size_t i = 0; in->client_headers && i < in->client_headers->n; i++)
        if (strcmp(in->client_headers->v[i].name, "anthropic-beta") == 0)
            rc |= http_hdrs_add(&out->headers, "anthropic-beta", in->client_headers->v[i].value);
    if (in->stream) rc |= http_hdrs_add(&out->headers, "accept", "text/event-stream");
    return rc ? err_set(err, ERR_NOMEM, "out of memory") : 0;
}

/* ---- stream ---- */

enum st_state { ST_OPEN, ST_STOPPED };

struct xl_stream {
    enum st_state state;
    struct sse_parser sse;
    char *client_model;
    const char *api_key; /* borrowed from the request (the relay's generation outlives us) */
    struct xl_usage usage;
    struct evbuffer *out; /* valid during feed */
    struct err *err;
};

static long num_at(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? xl_long(v->valuedouble) : -1;
}

static void take_usage(struct xl_usage *u, const cJSON *usage) {
    long v;
    if ((v = num_at(usage, "input_tokens")) > 0) u->input_tokens = v;
    if ((v = num_at(usage, "output_tokens")) >= 0) u->output_tokens = v;
    if ((v = num_at(usage, "cache_read_input_tokens")) > 0) u->cache_read_input_tokens = v;
    if ((v = num_at(usage, "cache_creation_input_tokens")) > 0)
        u->cache_creation_input_tokens = v;
}

/* One event as received: an event whose data came on several `data:` lines (the parser joined
 * them with '\n') goes out on as many lines, so the client reads the same data. */
static int write_event(struct evbuffer *out, const char *event, const char *data, size_t len) {
    if (!memchr(data, '\n', len)) return sse_write(out, event, data, len);
    int rc = event ? evbuffer_add_printf(out, "event: %s\n", event) < 0 : 0;
    for (;;) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        rc |= evbuffer_add(out, "data: ", 6);
        rc |= evbuffer_add(out, data, n);
        rc |= evbuffer_add(out, "\n", 1);
        if (!nl) break;
        data += n + 1;
        len -= n + 1;
    }
    rc |= evbuffer_add(out, "\n", 1);
    return rc ? -1 : 0;
}

static int on_event(void *arg, const char *event, const char *data, size_t len) {
    struct xl_stream *st = arg;
    const char *name = event[0] ? event : NULL;
    if (name && strcmp(name, "message_start") == 0) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        take_usage(&st->usage,
                   cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "message"),
                                                    "usage"));
        cJSON_Delete(j);
        struct evbuffer *tmp = evbuffer_new();
        if (!tmp) return -1;
        int rc = jsonscan_replace_string(data, len, MSG_MODEL_PATH, 2, st->client_model, tmp);
        if (rc == 0) {
            size_t n = evbuffer_get_length(tmp);
            const char *t = (const char *)evbuffer_pullup(tmp, -1);
            rc = t ? write_event(st->out, name, t, n) : -1;
        } else {
            rc = write_event(st->out, name, data, len); /* no model field: forward as is */
        }
        evbuffer_free(tmp);
        return rc ? -1 : 0;
    }
    if (name && strcmp(name, "message_delta") == 0) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        take_usage(&st->usage, cJSON_GetObjectItemCaseSensitive(j, "usage"));
        cJSON_Delete(j);
    }
    if (name && strcmp(name, "error") == 0) {
        /* the provider's message may quote the key it was sent: mask it like any upstream
         * error text before it reaches the client (rare: one copy per failed stream) */
        char *masked = malloc(len + 1);
        if (!masked) return -1;
        memcpy(masked, data, len);
        masked[len] = '\0';
        xl_mask_secrets(masked);
        size_t k = st->api_key ? strlen(st->api_key) : 0;
        char *p = k >= 6 ? strstr(masked, st->api_key) : NULL;
        for (; p; p = strstr(p + 3, st->api_key)) {
            memcpy(p, "***", 3); /* the exact key, whatever its shape */
            memmove(p + 3, p + k, strlen(p + k) + 1);
        }
        int rc = write_event(st->out, name, masked, strlen(masked));
        free(masked);
        if (rc != 0) return -1;
        st->state = ST_STOPPED;
        return 1;
    }
    if (write_event(st->out, name, data, len) != 0) return -1;
    if (name && strcmp(name, "message_stop") == 0) {
        st->state = ST_STOPPED;
        return 1; /* the Anthropic stream is complete */
    }
    return 0;
}

static struct xl_stream *stream_new(const struct xl_request *in, struct err *err) {
    struct xl_stream *st = calloc(1, sizeof *st);
    if (!st || sse_parser_init(&st->sse, 0) != 0 || !(st->client_model = strdup(in->client_model))) {
        if (st) sse_parser_free(&st->sse);
        free(st);
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    st->api_key = in->api_key;
    return st;
}

static int stream_feed(struct xl_stream *st, const char *buf, size_t len, struct evbuffer *out,
                       struct err *err) {
    if (st->state == ST_STOPPED) return XL_DONE; /* trailing bytes after message_stop */
    st->out = out;
    int rc = sse_feed(&st->sse, buf, len, on_event, st);
    st->out = NULL;
    if (rc == 1) return XL_DONE;
    if (rc == SSE_TOO_LARGE)
        return err_set(err, ERR_UPSTREAM, "the upstream sent an event larger than 16 MiB");
    if (rc != 0) return err_set(err, ERR_NOMEM, "out of memory while relaying the stream");
    return XL_MORE;
}

static int stream_end(struct xl_stream *st, struct evbuffer *out, struct err *err) {
    if (st->state == ST_STOPPED) return XL_DONE;
    st->out = out;
    int rc = sse_finish(&st->sse, on_event, st);
    st->out = NULL;
    if (rc == 1) return XL_DONE;
    return err_set(err, ERR_UPSTREAM, "the upstream stream ended before message_stop");
}

static void stream_usage(const struct xl_stream *st, struct xl_usage *out) {
    *out = st->usage;
}

static void stream_free(struct xl_stream *st) {
    if (!st) return;
    sse_parser_free(&st->sse);
    free(st->client_model);
    free(st);
}

static int response(const struct xl_request *in, const char *buf, size_t len,
                    struct evbuffer *out, struct xl_usage *usage, struct err *err) {
    cJSON *j = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set(err, ERR_UPSTREAM, "the upstream answered with a body that is not JSON");
    }
    /* an object that is not a message (an error object, another API's shape) is not relayed
     * as a 200: the relay turns it into an Anthropic error */
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    bool message = type ? cJSON_IsString(type) && strcmp(type->valuestring, "message") == 0
                        : cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "content"));
    if (!message) {
        cJSON_Delete(j);
        return err_set(err, ERR_UPSTREAM,
                       "the upstream answered with a JSON object that is not a message");
    }
    if (usage) take_usage(usage, cJSON_GetObjectItemCaseSensitive(j, "usage"));
    cJSON_Delete(j);
    if (jsonscan_replace_string(buf, len, MODEL_PATH, 1, in->client_model, out) != 0 &&
        evbuffer_add(out, buf, len) != 0)
        return err_set(err, ERR_NOMEM, "out of memory");
    return 0;
}

const struct provider_ops provider_anthropic = {
    .format = FMT_ANTHROPIC,
    .build = build,
    .stream_new = stream_new,
    .stream_feed = stream_feed,
    .stream_end = stream_end,
    .stream_usage = stream_usage,
    .stream_free = stream_free,
    .response = response,
};
