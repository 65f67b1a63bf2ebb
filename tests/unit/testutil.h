/* Helpers shared by the unit tests (header-only: each test is one program). */
#ifndef CCRELAY_TESTUTIL_H
#define CCRELAY_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Read a whole file; NUL-terminated; caller frees. NULL when unreadable. */
static inline char *tu_read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len_out) *len_out = n;
    return buf;
}

/* The shared/ directory (fixtures, spec): $CCRELAY_SHARED, else ../shared. */
static inline const char *tu_shared_dir(void) {
    const char *s = getenv("CCRELAY_SHARED");
    return (s && *s) ? s : "../shared";
}

/* Parse shared/fixtures/<rel> ({"method","path","headers","body"}); caller deletes. NULL when
 * missing. */
static inline cJSON *tu_fixture(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/%s", tu_shared_dir(), rel);
    char *text = tu_read_file(path, NULL);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

/* The fixture file names of both Claude Code versions, relative to shared/fixtures. */
static const char *const tu_fixture_names[] = {
    "claude-code/compact.json",
    "claude-code/count-tokens.json",
    "claude-code/explore-subagent-haiku.json",
    "claude-code/hello-opus.json",
    "claude-code/model-haiku.json",
    "claude-code/thinking-disabled.json",
    "claude-code/thinking-roundtrip.json",
    "claude-code/title-structured-output.json",
    "claude-code/tool-result-followup.json",
    "claude-code-2.1.331/compact-tui.json",
    "claude-code-2.1.331/count-tokens.json",
    "claude-code-2.1.331/explore-subagent.json",
    "claude-code-2.1.331/haiku55-trailing-system.json",
    "claude-code-2.1.331/hello-opus55.json",
    "claude-code-2.1.331/model-haiku55.json",
    "claude-code-2.1.331/nonstream-fallback.json",
    "claude-code-2.1.331/thinking-disabled-sonnet45.json",
    "claude-code-2.1.331/thinking-roundtrip.json",
    "claude-code-2.1.331/tool-result-followup.json",
    "claude-code-2.1.331/toolsearch-tool-reference.json",
    "claude-code-2.1.331/tui-auto-mode-safeguards.json",
};
#define TU_NFIXTURES (sizeof tu_fixture_names / sizeof tu_fixture_names[0])

#endif
