/*
 * vocab.h - the OpenFeature vocabulary on the wire: reason and error-code names.
 *
 * Standard: OpenFeature specification, "Evaluation Details" (reasons) and "Error Codes".
 * THREAD SAFETY: every function is reentrant; returned strings are static.
 */
#ifndef GKP_VOCAB_H
#define GKP_VOCAB_H

#include <stddef.h>

#include "gatekeeper.h"

/* gkp_reason_name - "STATIC", "SPLIT", ...; "UNKNOWN" outside the enum. */
const char *gkp_reason_name(gk_reason reason);

/* gkp_reason_parse - the reason named by `name`, GK_REASON_UNKNOWN for any other string. */
gk_reason gkp_reason_parse(const char *name);

/* gkp_error_code_name - "FLAG_NOT_FOUND", ...; "NONE" for GK_ERROR_NONE and outside the enum. */
const char *gkp_error_code_name(gk_error_code code);

/* gkp_error_code_parse - the code named by `name`; GK_ERROR_GENERAL for an unknown name. */
gk_error_code gkp_error_code_parse(const char *name);

/* gkp_strerror - short description of a gk_err (backs gk_strerror); "unknown error" outside it. */
const char *gkp_strerror(gk_err err);

/*
 * gkp_diag_set - record the first error in `diag` (ignored when diag is NULL or already holds an
 * error). `source` may be NULL. printf-style text, truncated to fit (never in the middle of a UTF-8
 * sequence); `column` is set to 0 (callers that know it set it after). Returns `code`, so callers can
 * write `return gkp_diag_set(diag, GK_EPROTO, "flags.json", 0, "...")`.
 */
gk_err gkp_diag_set(gk_diag *diag, gk_err code, const char *source, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
