#include "providers/provider.h"

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
    default: return NULL; /* formats whose translator is not linked in yet */
    }
}
