/*
 * log.h - the daemon's log: one line per event on stderr,
 *   2026-11-21T14:03:07.123Z INFO  listening on tcp://127.0.0.1:7400 (decisions)
 * with the level padded to five characters. Lines are written with a single write(2) so that
 * lines from several threads never interleave.
 *
 * THREAD SAFETY: every function is safe from any thread. gkd_log_set_level is meant for start-up.
 */
#ifndef GKD_LOG_H
#define GKD_LOG_H

typedef enum gkd_log_level {
    GKD_LOG_DEBUG = 0,
    GKD_LOG_INFO,
    GKD_LOG_WARN,
    GKD_LOG_ERROR,
} gkd_log_level;

/* gkd_log_set_level - lines below `level` are dropped (default GKD_LOG_INFO). */
void gkd_log_set_level(gkd_log_level level);

/*
 * gkd_log_parse_level - "debug", "info", "warn" or "error" into *level.
 * Returns 0, or -1 for any other string (level unchanged).
 */
int gkd_log_parse_level(const char *name, gkd_log_level *level);

/* gkd_log_enabled - non-zero when lines of `level` are written (to skip building them). */
int gkd_log_enabled(gkd_log_level level);

/* gkd_log - write one line (printf-style; a trailing newline is added; long lines are cut). */
void gkd_log(gkd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
