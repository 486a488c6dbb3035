/*
 * jsonutil.c - type names for error messages, and compact serialisation that consumes its input.
 */
#include "jsonutil.h"

#include <string.h>

const char *
gkp_json_type_name(const json_t *j)
{
    if (j == NULL) {
        return "missing";
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

gk_err
gkp_json_dump_take(char **outp, size_t *outlen, json_t *root)
{
    char *s = NULL;

    if (root != NULL) {
        s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
    }
    if (s == NULL) {
        return GK_ENOMEM;
    }
    *outp = s;
    if (outlen != NULL) {
        *outlen = strlen(s);
    }
    return GK_OK;
}
