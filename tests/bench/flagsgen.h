/*
 * flagsgen.h - the bootstrap flags documents the harness serves (format: docs/flags.md).
 *
 * THREAD SAFETY: none needed (main thread, before any daemon starts).
 */
#ifndef GKB_FLAGSGEN_H
#define GKB_FLAGSGEN_H

#include <stddef.h>

/*
 * gkb_write_flags - write to `path` the flags, schemas and consumers of config/flags.json (read
 * from source_dir) plus generated flags "bench.flag_N" (boolean, one rule on "plan", a 25 %
 * rollout, owner team-platform) until the document holds `total` flags.
 * Returns 0, or -1 (reason on stderr).
 */
int gkb_write_flags(const char *source_dir, const char *path, size_t total);

#endif
