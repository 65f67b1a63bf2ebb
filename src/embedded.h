/* embedded: files compiled into the binary (lua/ scripts, config/default.json), generated at
 * build time by scripts/embed.sh. Read-only, static storage. */
#ifndef CCRELAY_EMBEDDED_H
#define CCRELAY_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* path relative to the repository, e.g. "lua/router.lua" */
    const char *data; /* NUL-terminated */
    size_t len;
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_files_count;

/* The file named `name`, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
