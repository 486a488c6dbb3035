/*
 * registry.c - shape checks for the schemas and consumers of the flags document.
 */
#include "registry.h"

#include <string.h>

#include "flag.h"
#include "vocab.h"

/* The compatibility modes of schema registries (Confluent Schema Registry's names). */
static const char *const modes[] = {
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL",     "FULL_TRANSITIVE",     "NONE",    NULL,
};

int
gkd_registry_valid_mode(const char *mode)
{
    for (size_t i = 0; modes[i] != NULL; i++) {
        if (strcmp(mode, modes[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An array of non-empty strings. */
static int
is_string_list(const json_t *v)
{
    const json_t *item;
    size_t i;

    if (!json_is_array(v)) {
        return 0;
    }
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            return 0;
        }
    }
    return 1;
}

/* Members of `obj` must all be in `allowed`; returns the first stranger or NULL. */
static const char *
unknown_member(const json_t *obj, const char *const *allowed)
{
    const char *name;
    json_t *v;

    json_object_foreach((json_t *) (uintptr_t) obj, name, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], name) != 0) {
            i++;
        }
        if (allowed[i] == NULL) {
            return name;
        }
    }
    return NULL;
}

static gk_err
check_section(const json_t *section, const char *what, const char *source, gk_diag *diag)
{
    const char *name;
    json_t *def;

    if (!json_is_object(section)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0, "\"%s\" must be an object of name -> %s",
                            what, what[0] == 's' ? "schema" : "consumer");
    }
    json_object_foreach((json_t *) (uintptr_t) section, name, def)
    {
        if (!gkd_flag_valid_key(name)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "%s \"%.60s\": invalid name (letters, digits, '.', '_', '-')", what,
                                name);
        }
        if (!json_is_object(def)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0, "%s \"%.60s\" must be an object",
                                what, name);
        }
    }
    return GK_OK;
}

gk_err
gkd_registry_check_schemas(const json_t *schemas, const char *source, gk_diag *diag)
{
    static const char *const members[] = {"mode", "owner", "versions", "pii", NULL};
    const char *name, *stranger, *mode;
    const json_t *owner, *versions, *pii, *version;
    json_t *def;
    size_t i;
    gk_err rv;

    if (schemas == NULL) {
        return GK_OK;
    }
    rv = check_section(schemas, "schemas", source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    json_object_foreach((json_t *) (uintptr_t) schemas, name, def)
    {
        stranger = unknown_member(def, members);
        if (stranger != NULL) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "schema \"%.60s\": unknown member \"%.40s\" (allowed: mode, "
                                "owner, versions, pii)",
                                name, stranger);
        }
        mode = json_string_value(json_object_get(def, "mode"));
        if (mode == NULL || !gkd_registry_valid_mode(mode)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "schema \"%.60s\": \"mode\" must be one of BACKWARD, "
                                "BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, "
                                "FULL_TRANSITIVE, NONE",
                                name);
        }
        versions = json_object_get(def, "versions");
        if (!json_is_array(versions) || json_array_size(versions) == 0) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "schema \"%.60s\": \"versions\" must be a non-empty array of "
                                "Avro schemas, oldest first",
                                name);
        }
        json_array_foreach(versions, i, version)
        {
            if (!json_is_object(version) && !json_is_array(version) && !json_is_string(version)) {
                return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                    "schema \"%.60s\": versions[%zu] is not an Avro schema "
                                    "(an object, array or type name)",
                                    name, i);
            }
        }
        owner = json_object_get(def, "owner");
        pii = json_object_get(def, "pii");
        if ((owner != NULL && !json_is_string(owner)) || (pii != NULL && !is_string_list(pii))) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "schema \"%.60s\": \"owner\" must be a string and \"pii\" a list "
                                "of field names",
                                name);
        }
    }
    return GK_OK;
}

/* "schemas" of a consumer: schema name -> list of supported versions (integers >= 1). */
static int
is_support_map(const json_t *v)
{
    const char *schema;
    json_t *list, *version;
    size_t i;

    if (!json_is_object(v)) {
        return 0;
    }
    json_object_foreach((json_t *) (uintptr_t) v, schema, list)
    {
        if (!json_is_array(list)) {
            return 0;
        }
        json_array_foreach(list, i, version)
        {
            if (!json_is_integer(version) || json_integer_value(version) < 1) {
                return 0;
            }
        }
    }
    return 1;
}

gk_err
gkd_registry_check_consumers(const json_t *consumers, const char *source, gk_diag *diag)
{
    static const char *const members[] = {"owner", "schemas", "clearances", NULL};
    const char *name, *stranger;
    const json_t *owner, *schemas, *clearances;
    json_t *def;
    gk_err rv;

    if (consumers == NULL) {
        return GK_OK;
    }
    rv = check_section(consumers, "consumers", source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    json_object_foreach((json_t *) (uintptr_t) consumers, name, def)
    {
        stranger = unknown_member(def, members);
        if (stranger != NULL) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "consumer \"%.60s\": unknown member \"%.40s\" (allowed: owner, "
                                "schemas, clearances)",
                                name, stranger);
        }
        owner = json_object_get(def, "owner");
        schemas = json_object_get(def, "schemas");
        clearances = json_object_get(def, "clearances");
        if (owner != NULL && !json_is_string(owner)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "consumer \"%.60s\": \"owner\" must be a team name", name);
        }
        if (schemas != NULL && !is_support_map(schemas)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "consumer \"%.60s\": \"schemas\" must map a schema name to the "
                                "versions it supports, e.g. {\"orders\": [1, 2]}",
                                name);
        }
        if (clearances != NULL && !is_string_list(clearances)) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "consumer \"%.60s\": \"clearances\" must be a list of names, "
                                "e.g. [\"pii\"]",
                                name);
        }
    }
    return GK_OK;
}
