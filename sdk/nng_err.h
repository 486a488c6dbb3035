/*
 * nng_err.h - the SDK's one reading of an nng error number as a gk_err, for the sockets it opens.
 *
 * THREAD SAFETY: reentrant (a pure function).
 */
#ifndef GKS_NNG_ERR_H
#define GKS_NNG_ERR_H

#include "gatekeeper.h"

/*
 * gks_nng_err - the gk_err for nng's `rv`: 0 is GK_OK, NNG_ENOMEM GK_ENOMEM, NNG_ETIMEDOUT
 * GK_ETIMEDOUT, NNG_ECLOSED GK_ECLOSED, a bad address or option (NNG_EADDRINVAL, NNG_ENOTSUP,
 * NNG_EINVAL) GK_EINVAL, and any other error GK_EIO.
 */
gk_err gks_nng_err(int rv);

#endif
