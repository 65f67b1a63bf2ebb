/* gemini: Anthropic Messages <-> Google Gemini native API (v1beta generateContent and
 * streamGenerateContent?alt=sse). conversion.md §4 with errata G1-G9 and addendum R1-R7.
 *
 * The provider_ops table is `provider_gemini` (provider.h). This header exposes the pieces the
 * tests and the relay may want on their own. Everything here is pure: no socket, timer or loop,
 * and no state outlives a call except what a struct xl_stream owns. What must survive between
 * turns (thought signatures, Gemini call ids) rides in what Claude Code sends back verbatim:
 * tool ids (`toolu_<24>__gi<N>_<..>__gs<N>_<..>`) and thinking signatures (`ccrelay1.` carrier,
 * profile "gemini"). No process-wide cache exists. */
#ifndef CCRELAY_PROVIDER_GEMINI_H
#define CCRELAY_PROVIDER_GEMINI_H

#include <stdbool.h>

#include "providers/provider.h"

/* Model families (errata G5): which thinking knob a model takes. */
enum gemini_family {
    GEMINI_FAMILY_NONE = 0, /* gemini-1*, gemini-2.0*: no thinking config */
    GEMINI_FAMILY_BUDGET,   /* gemini-2.5*: thinkingBudget */
    GEMINI_FAMILY_LEVEL,    /* everything else (gemini-3*, *-latest): thinkingLevel, signatures */
};
enum gemini_family gemini_family_of(const char *model);

/* The placeholder Google documents for function calls whose signature is unknown (G4). */
#define GEMINI_SKIP_SIGNATURE "skip_thought_signature_validator"

/* Fold an Anthropic SSE byte stream (as written by a stream translator) into the Anthropic
 * message JSON a non-streaming client expects. Appends the message to `out`. Used by the
 * non-streaming path so that both paths share one state machine. -1 on malformed input / OOM. */
int gemini_fold_sse(const char *sse, size_t len, struct evbuffer *out, struct xl_usage *usage,
                    struct err *err);

#endif
