/*
 * strings.c - the SDK's names for statuses, reasons and error codes.
 *
 * The tables live in the codec (proto/vocab.c) because the daemon speaks the same vocabulary on
 * the wire; these wrappers are the exported, documented face of them.
 */
#include "gatekeeper.h"
#include "vocab.h"

const char *
gk_strerror(gk_err err)
{
    return gkp_strerror(err);
}

const char *
gk_reason_str(gk_reason reason)
{
    return gkp_reason_name(reason);
}

const char *
gk_error_code_str(gk_error_code code)
{
    return gkp_error_code_name(code);
}
