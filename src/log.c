#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *const names[] = {"error", "warn", "info", "debug", "trace"};

int log_level_parse(const char *s, enum log_level *out) {
    if (!s) return -1;
    for (int i = 0; i <= LOG_TRACE; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "fatal") == 0) {
        *out = LOG_ERROR;
        return 0;
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level l) {
    return (l >= LOG_ERROR && l <= LOG_TRACE) ? names[l] : "?";
}

void log_init(struct logger *lg, enum log_level level, FILE *out) {
    lg->level = level;
    lg->out = out;
    lg->owns_out = 0;
    lg->worker = 0;
}

int log_open_file(struct logger *lg, const char *path) {
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (lg->owns_out && lg->out) fclose(lg->out);
    lg->out = f;
    lg->owns_out = 1;
    return 0;
}

void log_close(struct logger *lg) {
    if (lg->owns_out && lg->out) fclose(lg->out);
    lg->out = NULL;
    lg->owns_out = 0;
}

void log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...) {
    if (!lg || !lg->out || level > lg->level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one write per line, so that the lines of several workers sharing stderr never mix */
    char whole[4300];
    char wtag[16] = "";
    if (lg->worker > 0) snprintf(wtag, sizeof wtag, "w%d ", lg->worker);
    int n = snprintf(whole, sizeof whole, "%s.%03ldZ %-5s %s%s\n", ts, (long)(tv.tv_usec / 1000),
                     names[level], wtag, line);
    if (n > 0) fwrite(whole, 1, (size_t)n < sizeof whole ? (size_t)n : sizeof whole - 1, lg->out);
    fflush(lg->out);
}
