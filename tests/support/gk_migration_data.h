/*
 * gk_migration_data.h - the migration the migration tests walk: the orders schema in three
 * versions (v1; a v2 the BACKWARD mode refuses; a compatible v2) and a migration flag on it, all
 * off, as JSON text.
 */
#ifndef GK_MIGRATION_DATA_H
#define GK_MIGRATION_DATA_H

#define FLAG "orders.v2_migration"

#define V1                                                                                         \
    "{\"type\":\"record\",\"name\":\"orders\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"    \
    "{\"name\":\"customer_name\",\"type\":\"string\"}]}"
/* v2 adds a field without a default: the new version cannot read v1 data (BACKWARD). */
#define V2_BAD                                                                                     \
    "{\"type\":\"record\",\"name\":\"orders\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"    \
    "{\"name\":\"customer_name\",\"type\":\"string\"},"                                           \
    "{\"name\":\"first_name\",\"type\":\"string\"}]}"
#define V2                                                                                         \
    "{\"type\":\"record\",\"name\":\"orders\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"    \
    "{\"name\":\"customer_name\",\"type\":\"string\"},"                                           \
    "{\"name\":\"first_name\",\"type\":[\"null\",\"string\"],\"default\":null}]}"

#define MIGRATION_FLAG                                                                             \
    "{\"flags\":{\"" FLAG "\":{\"owner\":\"team-platform\",\"kind\":\"migration\","               \
    "\"migration\":{\"schema\":\"orders\",\"from\":1,\"to\":2},\"bucketBy\":\"tenantId\","        \
    "\"rollout\":{\"off\":100000}}}}"

#endif
