/* tokens: a cheap estimate of the input tokens a request costs the model.
 * Counts what the model will read: system, system messages, message text, tool_use input,
 * tool_result content, thinking text, and the tool definitions that will be sent (deferred
 * tools only once a tool_reference names them). Pure: no allocation beyond the call. */
#ifndef CCRELAY_TOKENS_H
#define CCRELAY_TOKENS_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Fixed costs (see tokens.c). */
#define TOKENS_TOOL_PROMPT 346 /* Anthropic: tool-use system prompt, tool_choice auto/none */
#define TOKENS_IMAGE 1600      /* Anthropic: ~1.15 megapixel image, the size cap before resize */
#define TOKENS_DOCUMENT 1600   /* unknown-size document: one image-sized guess */
#define TOKENS_FRAME 4         /* role / block framing */

/* The per-byte rule, shared with the raw-JSON scanner (reqscan.c) so that both count alike:
 * each byte has a class, and tokens_step[prev][cur] is the cost, in TOKENS_UNIT-ths of a token,
 * of a byte of class cur after one of class prev. A string's total is rounded up once. */
enum tokens_class {
    TOKC_END, TOKC_PUNCT, TOKC_ALPHA, TOKC_DIGIT, TOKC_SPACE, TOKC_SKIP, TOKC_CONT, TOKC_LEAD,
    TOKC_N,
    /* only in tokens_rawclass: the bytes that stop a scan of JSON string text */
    TOKC_RAW_NUL = TOKC_N, TOKC_RAW_QUOTE, TOKC_RAW_BSLASH, TOKC_RAW_LT
};
_Static_assert(TOKC_N == 8 && TOKC_RAW_LT < 16, "reqscan.c tests the stop classes by bit 3");
#define TOKENS_UNIT 24
extern const unsigned char tokens_class[256];
extern const unsigned char tokens_rawclass[256]; /* tokens_class; NUL, '"', '\\', '<' apart */
extern const signed char tokens_step[TOKC_N][TOKC_N];
/* The cost of four bytes of classes k0..k3 after one of class prev: the scanners' unrolled step
 * (the loads do not wait on each other). */
static inline long tokens_step4(unsigned prev, unsigned k0, unsigned k1, unsigned k2, unsigned k3) {
    return tokens_step[prev][k0] + tokens_step[k0][k1] + tokens_step[k1][k2] + tokens_step[k2][k3];
}
static inline long tokens_round(long t) { return t > 0 ? (t + TOKENS_UNIT - 1) / TOKENS_UNIT : 0; }

/* Estimated tokens of a plain text. */
long tokens_text(const char *s, size_t len);
/* Estimated input tokens of an Anthropic Messages request body. */
long tokens_estimate(const cJSON *body);

#endif
