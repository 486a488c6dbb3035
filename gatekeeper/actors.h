/*
 * actors.h - who may sign admin requests: the actors file.
 *
 *   {"actors": [{"id": "rita", "team": "team-platform", "roles": ["release-manager"],
 *                "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "...", "kid": "rita"}}]}
 *
 * An actor's public key is an Ed25519 JWK (RFC 8037); its id is the kid its requests carry
 * (`gkctl actor keygen` writes both). Checked strictly: unknown members, duplicate ids, a key that
 * is not Ed25519 are errors naming the actor.
 *
 * THREAD SAFETY: a gkd_actors is immutable after load; read it from any thread.
 */
#ifndef GKD_ACTORS_H
#define GKD_ACTORS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jwk.h"

typedef struct gkd_actors gkd_actors;

/* gkd_actors_load - read and check an actors file. Caller frees with gkd_actors_free(). */
gk_err gkd_actors_load(gkd_actors **actorsp, const char *path, gk_diag *diag);

/* gkd_actors_empty - a set with no actor (every admin request is then refused). */
gk_err gkd_actors_empty(gkd_actors **actorsp);

/* gkd_actors_free - release (NULL is ignored). */
void gkd_actors_free(gkd_actors *actors);

/* gkd_actors_count - number of actors. */
size_t gkd_actors_count(const gkd_actors *actors);

/*
 * gkd_actors_find - the actor with this id, as the policies see it ({"id","team","roles"},
 * borrowed), and its public key (borrowed); NULL when unknown.
 */
const json_t *gkd_actors_find(const gkd_actors *actors, const char *id,
                              const uint8_t **pkp);

#endif
