/*
 * semver.h - Semantic Versioning 2.0.0: parsing and precedence (semver.org, sections 2, 9-11).
 *
 * A version is MAJOR.MINOR.PATCH, optionally followed by "-" and dot-separated pre-release
 * identifiers and by "+" and dot-separated build metadata. Numeric identifiers have no leading
 * zeros. Precedence (section 11): MAJOR, MINOR, PATCH compare numerically; a pre-release ranks
 * below the release; pre-release identifiers compare left to right, numeric ones numerically,
 * alphanumeric ones in ASCII order, numeric below alphanumeric, and a longer list wins when all
 * earlier identifiers are equal. Build metadata is ignored. No "v" prefix, no missing parts.
 *
 * Parsing does not allocate: a gkd_semver borrows its pre-release text from the parsed string.
 *
 * THREAD SAFETY: reentrant.
 */
#ifndef GKD_SEMVER_H
#define GKD_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * gkd_semver - a parsed version. `pre` points into the parsed string (borrowed: valid as long as
 * that string is) and holds `pre_len` bytes of pre-release identifiers without the leading "-";
 * pre_len is 0 for a release.
 */
typedef struct gkd_semver {
    uint64_t major;
    uint64_t minor;
    uint64_t patch;
    const char *pre;
    size_t pre_len;
} gkd_semver;

/*
 * gkd_semver_parse - parse `len` bytes of `s` (need not be NUL-terminated) as a SemVer 2.0.0
 * version.
 * out  filled on success; untouched otherwise. Borrows from `s`.
 * Returns true when `s` is a valid version (a MAJOR, MINOR or PATCH above 2^64-1 is invalid).
 */
bool gkd_semver_parse(gkd_semver *out, const char *s, size_t len);

/* gkd_semver_cmp - precedence: negative if a < b, 0 if equal (build ignored), positive if a > b. */
int gkd_semver_cmp(const gkd_semver *a, const gkd_semver *b);

#endif
