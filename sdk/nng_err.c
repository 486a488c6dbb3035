/*
 * nng_err.c - nng error numbers as gk_err (nng_err.h).
 */
#include "nng_err.h"

#include <nng/nng.h>

gk_err
gks_nng_err(int rv)
{
    switch (rv) {
    case 0:
        return GK_OK;
    case NNG_ENOMEM:
        return GK_ENOMEM;
    case NNG_ETIMEDOUT:
        return GK_ETIMEDOUT;
    case NNG_ECLOSED:
        return GK_ECLOSED;
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EINVAL:
        return GK_EINVAL;
    default:
        return GK_EIO;
    }
}
