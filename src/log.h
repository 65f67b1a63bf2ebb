/* log: leveled log lines to stderr or a file.
 *
 * The logger is part of the one loop context: `struct logger` is owned by whoever creates it
 * (main) and handed to modules as a borrowed pointer. A NULL logger logs nothing.
 * Never pass a key, a token or an Authorization header to these functions. */
#ifndef CCRELAY_LOG_H
#define CCRELAY_LOG_H

#include <stdio.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

struct logger {
    enum log_level level;
    FILE *out;    /* stderr or an opened file; closed by log_close if owned */
    int owns_out; /* 1 when out was opened by log_open_file */
    int worker;   /* > 0: this process is worker N of several; lines say so */
};

/* Parse "error|warn|info|debug|trace" (also "fatal", "warning"). Returns -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);

void log_init(struct logger *lg, enum log_level level, FILE *out);
/* Open `path` for appending (creating parent dirs is the caller's job). Returns -1 on failure. */
int log_open_file(struct logger *lg, const char *path);
void log_close(struct logger *lg);

void log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(lg, ...) log_msg((lg), LOG_ERROR, __VA_ARGS__)
#define log_warn(lg, ...) log_msg((lg), LOG_WARN, __VA_ARGS__)
#define log_info(lg, ...) log_msg((lg), LOG_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_msg((lg), LOG_DEBUG, __VA_ARGS__)

#endif
