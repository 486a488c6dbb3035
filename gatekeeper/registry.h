/*
 * registry.h - the schema and consumer sections of the flags document (docs/flags.md), which the
 * policies read as `state.schemas` and `state.consumers`:
 *
 *   "schemas":   {"orders": {"mode": "BACKWARD", "owner": "team-orders",
 *                            "versions": [<Avro schema v1>, <Avro schema v2>],
 *                            "pii": ["customer_email"]}}
 *   "consumers": {"billing": {"owner": "team-billing", "schemas": {"orders": [1, 2]},
 *                             "clearances": ["pii"]}}
 *
 * Checked strictly, as config: unknown members are errors. The Avro schemas themselves are judged
 * by the compatibility policy, not here; here they only need to be JSON objects, arrays or strings.
 *
 * THREAD SAFETY: reentrant.
 */
#ifndef GKD_REGISTRY_H
#define GKD_REGISTRY_H

#include <jansson.h>

#include "gatekeeper.h"

/*
 * gkd_registry_check_schemas / _consumers - validate a "schemas" / "consumers" section (NULL is
 * accepted: the section is optional). `source` names the document in diag.
 * Returns GK_OK or GK_EPROTO; diag names the schema or consumer, the member and what to write.
 */
gk_err gkd_registry_check_schemas(const json_t *schemas, const char *source, gk_diag *diag);
gk_err gkd_registry_check_consumers(const json_t *consumers, const char *source, gk_diag *diag);

/* gkd_registry_valid_mode - 1 when `mode` is a compatibility mode name (BACKWARD ... NONE). */
int gkd_registry_valid_mode(const char *mode);

#endif
