/* fuzz: helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput. Linked with -fsanitize=fuzzer it is a libFuzzer
 * binary; linked with driver.c it is a plain program that replays files and directories (gcc,
 * CI). Nothing here keeps state between inputs: every input starts from scratch, so a crash
 * replays from its file alone. */
#ifndef CCRELAY_FUZZ_H
#define CCRELAY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "providers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An input as a NUL-terminated copy (parsers that want C strings). Caller frees; NULL on OOM. */
static inline char *fz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* Chunk lengths for feeding a byte stream in pieces, from one seed byte of the input: so a
 * mutated split is part of the input (replays exactly) while the stream text stays whole for
 * the mutator. Seed 0 feeds everything at once; otherwise lengths are 1..max with
 * max = 1 + seed % 64, drawn from a xorshift generator seeded by the byte. */
struct fz_split {
    uint32_t x;
    size_t max; /* 0: one piece */
};

static inline void fz_split_init(struct fz_split *s, uint8_t seed) {
    s->x = 0x9e3779b9u ^ ((uint32_t)seed * 0x85ebca6bu);
    if (!s->x) s->x = 1;
    s->max = seed ? 1 + (size_t)(seed % 64) : 0;
}

static inline size_t fz_split_next(struct fz_split *s, size_t left) {
    if (!s->max) return left;
    s->x ^= s->x << 13;
    s->x ^= s->x >> 17;
    s->x ^= s->x << 5;
    size_t n = 1 + s->x % s->max;
    return n < left ? n : left;
}

/* The providers the translators are fuzzed with: names, URLs and option objects chosen so the
 * profiles and knobs that change parsing paths are all reached. Selected by one input byte. */
struct fz_prov_def {
    enum wire_format format;
    const char *name;
    const char *url;
    const char *json; /* the provider's config object */
};

static const struct fz_prov_def FZ_PROVS[] = {
    {FMT_ANTHROPIC, "anthropic", "https://api.anthropic.com/v1/messages", "{}"},
    {FMT_ANTHROPIC, "zai", "https://api.z.ai/api/anthropic/v1/messages",
     "{\"options\":{\"auth\":\"bearer\"}}"},
    {FMT_OPENAI, "generic", "https://h.example/v1/chat/completions", "{}"},
    {FMT_OPENAI, "openrouter", "https://openrouter.ai/api/v1/chat/completions", "{}"},
    {FMT_OPENAI, "deepseek", "https://api.deepseek.com/chat/completions", "{}"},
    {FMT_OPENAI, "groq", "https://api.groq.com/openai/v1/chat/completions", "{}"},
    {FMT_OPENAI, "xai", "https://api.x.ai/v1/chat/completions", "{}"},
    {FMT_OPENAI, "ollama", "http://127.0.0.1:11434/v1/chat/completions",
     "{\"options\":{\"invalid_tool_args\":\"error\",\"tool_stream\":false}}"},
    {FMT_OPENAI, "vllm", "http://127.0.0.1:8000/v1/chat/completions",
     "{\"options\":{\"reasoning_style\":\"openai\",\"schema_profile\":\"gemini\","
     "\"textualize_orphan_tool_history\":true}}"},
    {FMT_OPENAI, "openai", "https://api.openai.com/v1/chat/completions",
     "{\"options\":{\"max_tokens_field\":\"max_completion_tokens\",\"image_url_mode\":\"url\"}}"},
    {FMT_OPENAI, "or-ccr", "https://openrouter.ai/api/v1/chat/completions",
     "{\"transformer\":{\"use\":[\"openrouter\"]},\"options\":{\"show_thoughts\":false}}"},
    {FMT_GEMINI, "gemini", "https://generativelanguage.googleapis.com/v1beta/models/", "{}"},
    {FMT_GEMINI, "gemini-old", "https://generativelanguage.googleapis.com/v1beta/models/",
     "{\"options\":{\"gemini_schema_mode\":\"openapi\",\"gemini_anyof\":\"first\","
     "\"gemini_empty_object\":\"placeholder\",\"gemini_inline_system\":true,"
     "\"show_thoughts\":false}}"},
    {FMT_GEMINI, "gemini-sig", "https://generativelanguage.googleapis.com/v1beta/models/",
     "{\"options\":{\"gemini_requires_signatures\":true,\"gemini_json_with_tools\":true,"
     "\"gemini_multimodal_fn_response\":true}}"},
};

struct fz_prov {
    struct cfg_provider p;
    cJSON *json; /* owned */
};

/* The k-th provider of `format` (k taken modulo their number). -1 on OOM. */
static inline int fz_prov_init(struct fz_prov *pv, enum wire_format format, unsigned k) {
    size_t n = 0, all = sizeof FZ_PROVS / sizeof FZ_PROVS[0];
    for (size_t i = 0; i < all; i++) n += FZ_PROVS[i].format == format;
    k %= (unsigned)n;
    memset(pv, 0, sizeof *pv);
    for (size_t i = 0; i < all; i++) {
        if (FZ_PROVS[i].format != format || k-- != 0) continue;
        pv->json = cJSON_Parse(FZ_PROVS[i].json);
        if (!pv->json) return -1;
        pv->p.name = (char *)FZ_PROVS[i].name;
        pv->p.url = (char *)FZ_PROVS[i].url;
        pv->p.format = format;
        pv->p.json = pv->json;
        return 0;
    }
    return -1;
}

static inline void fz_prov_free(struct fz_prov *pv) { cJSON_Delete(pv->json); }

/* Anthropic requests a stream or a response answers: they decide what the translator expects
 * (thinking shown or omitted, tools declared, structured output). Selected by one input byte. */
static const char *const FZ_REQS[] = {
    "{\"model\":\"claude-opus-4-8\",\"max_tokens\":1024,\"stream\":true,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    "{\"model\":\"claude-opus-4-8\",\"max_tokens\":32000,\"stream\":true,"
    "\"thinking\":{\"type\":\"adaptive\"},\"tools\":[{\"name\":\"Bash\",\"description\":\"run\","
    "\"input_schema\":{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"}},"
    "\"required\":[\"command\"]}},{\"name\":\"Read\",\"input_schema\":{\"type\":\"object\","
    "\"properties\":{\"file_path\":{\"type\":\"string\"}}}}],"
    "\"messages\":[{\"role\":\"user\",\"content\":\"list files\"}]}",
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":8000,\"stream\":true,"
    "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4000,\"display\":\"omitted\"},"
    "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}],"
    "\"messages\":[{\"role\":\"user\",\"content\":\"search\"}]}",
    "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":512,\"stream\":false,"
    "\"output_config\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":\"object\","
    "\"properties\":{\"title\":{\"type\":\"string\"}},\"required\":[\"title\"]}}},"
    "\"messages\":[{\"role\":\"user\",\"content\":\"title this\"}]}",
};
#define FZ_NREQS (sizeof FZ_REQS / sizeof FZ_REQS[0])

#endif
