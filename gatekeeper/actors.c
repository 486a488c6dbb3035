/*
 * actors.c - the actors file: ids, teams, roles and Ed25519 public keys.
 */
#include "actors.h"

#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "flag.h"
#include "vocab.h"

struct gkd_actors {
    json_t *views;  /* id -> {"id","team","roles"} as the policies see the actor */
    gkp_jwks *keys; /* id -> public key */
};

gk_err
gkd_actors_empty(gkd_actors **actorsp)
{
    gkd_actors *a = calloc(1, sizeof(*a));

    if (a == NULL || (a->views = json_object()) == NULL || gkp_jwks_new(&a->keys) != GK_OK) {
        gkd_actors_free(a);
        return GK_ENOMEM;
    }
    *actorsp = a;
    return GK_OK;
}

void
gkd_actors_free(gkd_actors *actors)
{
    if (actors == NULL) {
        return;
    }
    json_decref(actors->views);
    gkp_jwks_free(actors->keys);
    free(actors);
}

size_t
gkd_actors_count(const gkd_actors *actors)
{
    return json_object_size(actors->views);
}

/* Adds one entry of the file; diag names it by index and id. */
static gk_err
add_actor(gkd_actors *a, const json_t *entry, size_t i, const char *path, gk_diag *diag)
{
    const char *id = NULL, *team = NULL;
    json_t *roles = NULL, *jwk = NULL;
    json_error_t jerr;
    gkp_jwks *one = NULL;
    const json_t *role;
    uint8_t pk[GKP_ED25519_PK_BYTES];
    const char *x;
    size_t j, n = 0;
    gk_err rv;

    if (json_unpack_ex((json_t *) (uintptr_t) entry, &jerr, JSON_STRICT, "{s:s, s:s, s:o, s:o}",
                       "id", &id, "team", &team, "roles", &roles, "jwk", &jwk) != 0) {
        return gkp_diag_set(diag, GK_EPROTO, path, 0,
                            "actors[%zu]: %s (each actor is {\"id\", \"team\", \"roles\": [...], "
                            "\"jwk\": {...}})",
                            i, jerr.text);
    }
    if (!gkd_flag_valid_key(id) || json_object_get(a->views, id) != NULL) {
        return gkp_diag_set(diag, GK_EPROTO, path, 0,
                            "actors[%zu]: id \"%.60s\" is invalid or used twice", i, id);
    }
    if (!json_is_array(roles)) {
        return gkp_diag_set(diag, GK_EPROTO, path, 0, "actor \"%.60s\": \"roles\" must be a list",
                            id);
    }
    json_array_foreach(roles, j, role)
    {
        if (!json_is_string(role)) {
            return gkp_diag_set(diag, GK_EPROTO, path, 0,
                                "actor \"%.60s\": roles[%zu] is not a string", id, j);
        }
    }
    /* Parsed as a one-key set to check kty, crv and x; the actor id is the kid that counts. */
    rv = gkp_jwks_parse(&one, jwk, path, diag);
    if (rv != GK_OK || gkp_jwks_count(one) != 1) {
        gkp_jwks_free(one);
        return gkp_diag_set(diag, GK_EPROTO, path, 0,
                            "actor \"%.60s\": \"jwk\" must be one Ed25519 public key (kty OKP, crv "
                            "Ed25519, x); make one with `gkctl actor keygen`",
                            id);
    }
    gkp_jwks_free(one);
    x = json_string_value(json_object_get(jwk, "x"));
    rv = gkp_b64url_decode(pk, sizeof(pk), &n, x, strlen(x));
    rv = rv == GK_OK && n == sizeof(pk) ? gkp_jwks_add(a->keys, id, pk) : GK_EPROTO;
    if (rv == GK_OK &&
        json_object_set_new(a->views, id,
                            json_pack("{s:s, s:s, s:O}", "id", id, "team", team, "roles", roles)) !=
            0) {
        rv = GK_ENOMEM;
    }
    return rv;
}

gk_err
gkd_actors_load(gkd_actors **actorsp, const char *path, gk_diag *diag)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *list = json_object_get(doc, "actors");
    const json_t *entry;
    gkd_actors *a = NULL;
    size_t i;
    gk_err rv;

    *actorsp = NULL;
    if (doc == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, path, jerr.line, "cannot read the actors file: %s",
                            jerr.text);
    }
    if (!json_is_array(list) || json_object_size(doc) != 1) {
        json_decref(doc);
        return gkp_diag_set(diag, GK_EPROTO, path, 0,
                            "the actors file is {\"actors\": [...]}; add actors with `gkctl actor "
                            "keygen --actors FILE`");
    }
    rv = gkd_actors_empty(&a);
    json_array_foreach(list, i, entry)
    {
        if (rv == GK_OK) {
            rv = add_actor(a, entry, i, path, diag);
        }
    }
    json_decref(doc);
    if (rv != GK_OK) {
        gkd_actors_free(a);
        return rv;
    }
    *actorsp = a;
    return GK_OK;
}

const json_t *
gkd_actors_find(const gkd_actors *actors, const char *id, const uint8_t **pkp)
{
    const json_t *view = json_object_get(actors->views, id);

    *pkp = view != NULL ? gkp_jwks_find(actors->keys, id, strlen(id)) : NULL;
    return *pkp != NULL ? view : NULL;
}
