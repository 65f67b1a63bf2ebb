#include "apierr.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

const char *apierr_type_for_status(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 405: return "invalid_request_error";
    case 408: return "timeout_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 431: return "request_too_large";
    case 504: return "timeout_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

int apierr_status_for_kind(enum err_kind kind) {
    switch (kind) {
    case ERR_INVALID: return 400;
    case ERR_NOT_FOUND: return 404;
    case ERR_AUTH: return 401;
    case ERR_TOO_LARGE: return 413;
    case ERR_TIMEOUT: return 504;
    case ERR_UPSTREAM: return 502;
    case ERR_CONFIG: return 500;
    default: return 500;
    }
}

static int append_error(struct evbuffer *out, const char *type, const char *message,
                        const char *request_id) {
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();
    if (!root || !e) {
        cJSON_Delete(root);
        cJSON_Delete(e);
        return -1;
    }
    cJSON_AddStringToObject(root, "type", "error");
    cJSON_AddItemToObject(root, "error", e);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message ? message : "");
    if (request_id) cJSON_AddStringToObject(root, "request_id", request_id);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) return -1;
    int rc = evbuffer_add(out, s, strlen(s));
    cJSON_free(s);
    return rc;
}

int apierr_json(struct evbuffer *out, const char *type, const char *message,
                const char *request_id) {
    return append_error(out, type, message, request_id);
}

int apierr_event(struct evbuffer *out, const char *type, const char *message) {
    if (evbuffer_add(out, "event: error\ndata: ", 19) != 0) return -1;
    if (append_error(out, type, message, NULL) != 0) return -1;
    return evbuffer_add(out, "\n\n", 2);
}

void apierr_request_id(char *buf, size_t n) {
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof rnd) != 1) memset(rnd, 0, sizeof rnd);
    if (n < 29) {
        if (n) buf[0] = '\0';
        return;
    }
    memcpy(buf, "req_", 4);
    for (size_t i = 0; i < 24; i++) buf[4 + i] = b62[rnd[i] % 62];
    buf[28] = '\0';
}
