/*
 * log.c - timestamped, leveled log lines on stderr, one write(2) each.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = GKD_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
gkd_log_set_level(gkd_log_level level)
{
    atomic_store(&min_level, (int) level);
}

int
gkd_log_enabled(gkd_log_level level)
{
    return (int) level >= atomic_load(&min_level);
}

int
gkd_log_parse_level(const char *name, gkd_log_level *level)
{
    static const char *const lower[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
        if (strcmp(name, lower[i]) == 0) {
            *level = (gkd_log_level) i;
            return 0;
        }
    }
    return -1;
}

void
gkd_log(gkd_log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;
    int rv;

    if (!gkd_log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    rv = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                  level_names[level]);
    n += (size_t) rv;
    va_start(ap, fmt);
    rv = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (rv < 0) {
        rv = 0;
    }
    n += (size_t) rv < sizeof(line) - n - 1 ? (size_t) rv : sizeof(line) - n - 2;
    line[n++] = '\n';
    /* A short write to stderr is not worth failing a request for. */
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}
