/*
 * bootstrap.h - the first change of an empty store: the flags file (docs/flags.md) applied by the
 * system actor, so a new data directory starts from the file and records it in the audit log.
 * Once the store holds a change, the file is no longer read: changes go through the admin socket.
 *
 * THREAD SAFETY: start-up only.
 */
#ifndef GKD_BOOTSTRAP_H
#define GKD_BOOTSTRAP_H

#include "gatekeeper.h"
#include "store.h"

/*
 * gkd_bootstrap_apply - commit the flags file at `path` as record 1 of the empty `store`:
 * actor "system", op "bootstrap", why "bootstrap from <path>", one change per flag, schema and
 * consumer (before null). The document is validated (snapshot build) first.
 * Returns GK_OK, the store's errors, GK_ENOENT/GK_EIO/GK_EPROTO for the file (diag names the flag
 * and the problem).
 */
gk_err gkd_bootstrap_apply(gkd_store *store, const char *path, gk_diag *diag);

#endif
