#include "providers/provider.h"

#include "providers/gemini.h"
#include "providers/openai.h"

#include <stdlib.h>

void xl_http_request_init(struct xl_http_request *r) {
    r->url = NULL;
    http_hdrs_init(&r->headers);
    r->body = NULL;
}

void xl_http_request_free(struct xl_http_request *r) {
    free(r->url);
    http_hdrs_free(&r->headers);
    if (r->body) evbuffer_free(r->body);
    xl_http_request_init(r);
}


const struct provider_ops *provider_ops_for(enum wire_format f) {
    switch (f) {
    case FMT_ANTHROPIC: return &provider_anthropic;
    case FMT_OPENAI: return &provider_openai;
    case FMT_GEMINI: return &provider_gemini;
    default: return NULL;
    }
}

int provider_stream_error(enum wire_format f, const struct xl_stream *st, struct xl_error *out) {
    switch (f) {
    case FMT_OPENAI: return openai_stream_error(st, out);
    case FMT_GEMINI: return gemini_stream_error(st, out);
    default: return -1; /* the err of the failed call says it all */
    }
}

int provider_check(const struct cfg_provider *p, struct err *err) {
    if (p->format == FMT_OPENAI) return openai_check_transformers(p, err);
    return 0;
}

bool provider_stream_lingering(enum wire_format f, const struct xl_stream *st) {
    return f == FMT_OPENAI && openai_stream_awaiting_usage(st);
}
