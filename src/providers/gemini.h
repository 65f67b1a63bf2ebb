/* gemini: Anthropic Messages <-> Google Gemini native API (v1beta generateContent and
 * streamGenerateContent?alt=sse). conversion.md §4 with errata G1-G9 and addendum R1-R7.
 *
 * The provider_ops table is `provider_gemini` (provider.h). This header exposes the pieces the
 * tests and the relay may want on their own. Everything here is pure: no socket, timer or loop,
 * and no state outlives a call except what a struct xl_stream owns. What must survive between
 * turns (thought signatures, Gemini call ids) rides in what Claude Code sends back verbatim:
 * tool ids (`toolu_<24>__gi<N>_<..>__gs<N>_<..>`) and thinking signatures (`ccrelay1.` carrier,
 * profile "gemini"). No process-wide cache exists.
 *
 * Knobs (provider `options`, overridable in `model_options["<model>"]`; defaults in brackets):
 *   model_max_output / max_tokens   output cap [65536; 8192 for gemini-1*, gemini-2.0*; the
 *                                   `maxtoken` transformer's max_tokens when set]
 *   gemini_schema_mode              "jsonschema" (parametersJsonSchema) | "openapi" (parameters)
 *                                   [jsonschema for the level family, openapi otherwise]
 *   gemini_thinking_levels          allowed thinkingLevel values [["low","high"]]
 *   gemini_requires_signatures      placeholder signature on unsigned calls [level family]
 *   gemini_drop_sampling            omit temperature/topP/topK [level family]
 *   gemini_multimodal_fn_response   tool-result media inside functionResponse.parts [level]
 *   gemini_json_with_tools          JSON output together with tools [level family]
 *   gemini_response_schema          "openapi": responseSchema cleaned, not responseJsonSchema
 *   gemini_search_with_functions    keep googleSearch beside function declarations [false]
 *   gemini_anyof                    "keep" | "first" (older models) [keep]
 *   gemini_empty_object             "omit" | "placeholder" (a `json` string property) [omit]
 *   gemini_fr_siblings              "before" | "separate" [before]
 *   gemini_inline_system            "hoist" | "as_user" [hoist]
 *   gemini_image_url                "placeholder" | "file_data" [placeholder]
 *   gemini_safety_settings          safetySettings array sent as is [none]
 *   show_thoughts                   includeThoughts [true]
 *   updates_show_reasoning          thinking text for display "updates" [false]
 *   textualize_orphan_tool_history  N6 [true]
 *   extra_headers                   added to the upstream request (never a second key) */
#ifndef CCRELAY_PROVIDER_GEMINI_H
#define CCRELAY_PROVIDER_GEMINI_H

#include <stdbool.h>

#include "providers/provider.h"
#include "providers/util.h"

/* Model families (errata G5): which thinking knob a model takes. */
enum gemini_family {
    GEMINI_FAMILY_NONE = 0, /* gemini-1*, gemini-2.0*: no thinking config */
    GEMINI_FAMILY_BUDGET,   /* gemini-2.5*: thinkingBudget */
    GEMINI_FAMILY_LEVEL,    /* everything else (gemini-3*, *-latest): thinkingLevel, signatures */
};
enum gemini_family gemini_family_of(const char *model);

/* The placeholder Google documents for function calls whose signature is unknown (G4). */
#define GEMINI_SKIP_SIGNATURE "skip_thought_signature_validator"

/* After stream_feed / stream_end (or response) of provider_gemini returned -1: the Anthropic
 * error to send, as `event: error` once committed or as the HTTP answer before: status, type,
 * message and retry hints. An error object inside the stream is mapped by its own code (§5.2:
 * RESOURCE_EXHAUSTED -> 429 rate_limit_error, UNAVAILABLE -> overloaded_error, ...);
 * MALFORMED_FUNCTION_CALL with nothing produced -> 502 api_error with should_retry = 1; a cut or
 * malformed stream -> 502 api_error. Returns 0, or -1 when the stream has not failed. As with
 * the OpenAI side, `out` of the failing call may already hold earlier events: write them first. */
int gemini_stream_error(const struct xl_stream *st, struct xl_error *out);
/* For a non-stream answer that response() refused with ERR_UPSTREAM because the 2xx body holds
 * an error object, xl_map_upstream_error(0, hdrs, body, len, ...) on the same body gives the
 * mapped error (its own code decides). */

/* Fold an Anthropic SSE byte stream (as written by a stream translator) into the Anthropic
 * message JSON a non-streaming client expects. Appends the message to `out`. Used by the
 * non-streaming path so that both paths share one state machine. -1 on malformed input / OOM. */
int gemini_fold_sse(const char *sse, size_t len, struct evbuffer *out, struct xl_usage *usage,
                    struct err *err);

#endif
