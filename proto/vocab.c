/*
 * vocab.c - OpenFeature reason and error-code names, status texts, and the gk_diag writer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vocab.h"

/* Indexed by gk_reason; the wire names are the enum names without "GK_REASON_". */
static const char *const reason_names[] = {
    [GK_REASON_UNKNOWN] = "UNKNOWN",
    [GK_REASON_STATIC] = "STATIC",
    [GK_REASON_DEFAULT] = "DEFAULT",
    [GK_REASON_TARGETING_MATCH] = "TARGETING_MATCH",
    [GK_REASON_SPLIT] = "SPLIT",
    [GK_REASON_CACHED] = "CACHED",
    [GK_REASON_DISABLED] = "DISABLED",
    [GK_REASON_STALE] = "STALE",
    [GK_REASON_ERROR] = "ERROR",
};

/* Indexed by gk_error_code; GK_ERROR_NONE has no wire name (the member is absent). */
static const char *const error_code_names[] = {
    [GK_ERROR_NONE] = "NONE",
    [GK_ERROR_PROVIDER_NOT_READY] = "PROVIDER_NOT_READY",
    [GK_ERROR_FLAG_NOT_FOUND] = "FLAG_NOT_FOUND",
    [GK_ERROR_PARSE_ERROR] = "PARSE_ERROR",
    [GK_ERROR_TYPE_MISMATCH] = "TYPE_MISMATCH",
    [GK_ERROR_TARGETING_KEY_MISSING] = "TARGETING_KEY_MISSING",
    [GK_ERROR_INVALID_CONTEXT] = "INVALID_CONTEXT",
    [GK_ERROR_PROVIDER_FATAL] = "PROVIDER_FATAL",
    [GK_ERROR_GENERAL] = "GENERAL",
};

static const char *const err_texts[] = {
    [GK_OK] = "success",
    [GK_EINVAL] = "invalid argument",
    [GK_ENOMEM] = "out of memory",
    [GK_ETIMEDOUT] = "timed out",
    [GK_ECLOSED] = "object closed",
    [GK_EPROTO] = "malformed message or document",
    [GK_EBADSIG] = "signature does not verify",
    [GK_EEXPIRED] = "token expired",
    [GK_ENOKEY] = "unknown key id",
    [GK_ENOENT] = "no such file or item",
    [GK_EIO] = "input/output error",
    [GK_ENOSPC] = "buffer too small",
    [GK_EADDRINUSE] = "address in use",
    [GK_ECONFLICT] = "the change was based on an outdated version",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *
gkp_reason_name(gk_reason reason)
{
    if ((size_t) reason >= COUNT(reason_names)) {
        return "UNKNOWN";
    }
    return reason_names[reason];
}

gk_reason
gkp_reason_parse(const char *name)
{
    size_t i;

    if (name == NULL) {
        return GK_REASON_UNKNOWN;
    }
    for (i = 1; i < COUNT(reason_names); i++) {
        if (strcmp(name, reason_names[i]) == 0) {
            return (gk_reason) i;
        }
    }
    return GK_REASON_UNKNOWN;
}

const char *
gkp_error_code_name(gk_error_code code)
{
    if ((size_t) code >= COUNT(error_code_names)) {
        return "NONE";
    }
    return error_code_names[code];
}

gk_error_code
gkp_error_code_parse(const char *name)
{
    size_t i;

    if (name == NULL) {
        return GK_ERROR_GENERAL;
    }
    for (i = 1; i < COUNT(error_code_names); i++) {
        if (strcmp(name, error_code_names[i]) == 0) {
            return (gk_error_code) i;
        }
    }
    return GK_ERROR_GENERAL;
}

const char *
gkp_strerror(gk_err err)
{
    if ((size_t) err >= COUNT(err_texts) || err_texts[err] == NULL) {
        return "unknown error";
    }
    return err_texts[err];
}

/*
 * Cut an incomplete UTF-8 sequence off the end of "s" (vsnprintf truncates by bytes), so the
 * text stays valid for a JSON string in an error reply.
 */
static void
trim_utf8_tail(char *s)
{
    size_t len = strlen(s);
    size_t i = len;
    size_t cont = 0;
    unsigned char lead;
    size_t want;

    while (i > 0 && cont < 4 && ((unsigned char) s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0) {
        s[len - cont] = '\0';
        return;
    }
    lead = (unsigned char) s[i - 1];
    if (lead < 0x80) {
        if (cont > 0) {
            s[i] = '\0'; /* stray continuation bytes */
        }
        return;
    }
    want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (want != cont) {
        s[i - 1] = '\0';
    }
}

gk_err
gkp_diag_set(gk_diag *diag, gk_err code, const char *source, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (diag == NULL || diag->code != GK_OK) {
        return code;
    }
    diag->code = code;
    diag->line = line;
    diag->column = 0;
    snprintf(diag->source, sizeof(diag->source), "%s", source != NULL ? source : "");
    diag->text[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        n = vsnprintf(diag->text, sizeof(diag->text), fmt, ap);
        va_end(ap);
        if (n >= (int) sizeof(diag->text)) {
            trim_utf8_tail(diag->text);
        }
    }
    return code;
}
