/*
 * gk_admin_check.c - checks on admin replies shared by the admin-plane integration tests (see
 * gk_admin_check.h).
 */
#include "gk_admin_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

/* One admin request by test actor `actor`; the parsed reply. */
json_t *
gkt_admin_json(const gkt_daemon *d, int actor, const char *op, const char *args, const char *why,
      unsigned long long base)
{
    char *text = NULL;
    json_t *root;

    ck_assert_int_eq(gkt_admin(d, actor, op, args, why, base, &text), 0);
    root = json_loads(text, 0, NULL);
    ck_assert_msg(root != NULL, "admin reply is not JSON: %.800s", text);
    free(text);
    return root;
}

/* Asserts an ok reply and returns its version. */
unsigned long long
gkt_expect_ok(const json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);

    ck_assert_msg(json_is_true(json_object_get(reply, "ok")), "expected ok, got %.800s", text);
    ck_assert_msg(json_is_integer(json_object_get(reply, "version")), "no version: %.800s", text);
    free(text);
    return (unsigned long long) json_integer_value(json_object_get(reply, "version"));
}

/* Asserts a refusal named `error` whose message contains `needle` (NULL: any non-empty one). */
void
gkt_expect_error(const json_t *reply, const char *error, const char *needle)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    const char *name = json_string_value(json_object_get(reply, "error"));
    const char *message = json_string_value(json_object_get(reply, "message"));

    ck_assert_msg(json_is_false(json_object_get(reply, "ok")), "expected %s, got %.800s", error,
                  text);
    ck_assert_msg(name != NULL && strcmp(name, error) == 0, "expected %s, got %.800s", error, text);
    ck_assert_msg(message != NULL && strlen(message) > 10, "no clear message: %.800s", text);
    ck_assert_msg(needle == NULL || strstr(message, needle) != NULL,
                  "message lacks \"%s\": %.800s", needle, text);
    free(text);
}

/*
 * Checks that `reply` is DENIED with a verdict of `policy` whose reason contains `reason`, and
 * whose source is "<...>policy:<line>" pointing at a gk.deny line of the shipped file.
 */
void
gkt_expect_denied_by(const json_t *reply, const char *policy, const char *reason)
{
    const json_t *verdicts = json_object_get(json_object_get(reply, "details"), "verdicts");
    char *text = json_dumps(reply, JSON_COMPACT);
    const json_t *v;
    size_t i;
    int found = 0;

    gkt_expect_error(reply, "DENIED", NULL);
    ck_assert_msg(json_is_array(verdicts) && json_array_size(verdicts) > 0,
                  "no details.verdicts: %s", text);
    json_array_foreach(verdicts, i, v)
    {
        const char *p = json_string_value(json_object_get(v, "policy"));
        const char *r = json_string_value(json_object_get(v, "reason"));
        const char *src = json_string_value(json_object_get(v, "source"));
        const char *colon;
        char path[4096], *file, *line;
        long lineno;

        if (p == NULL || strcmp(p, policy) != 0) {
            continue;
        }
        found = 1;
        ck_assert_msg(strcmp(json_string_value(json_object_get(v, "verdict")), "deny") == 0,
                      "verdict is not deny: %s", text);
        ck_assert_msg(r != NULL && strstr(r, reason) != NULL, "reason lacks \"%s\": %s", reason,
                      text);
        ck_assert_msg(src != NULL && strstr(src, policy) != NULL, "no source: %.800s", text);
        colon = strrchr(src, ':');
        ck_assert_ptr_nonnull(colon);
        lineno = strtol(colon + 1, NULL, 10);
        ck_assert_msg(lineno > 0, "no line in %s", src);
        snprintf(path, sizeof(path), "%s/policies/%s", gkt_env("GK_SOURCE_DIR"), policy);
        file = gkt_read_file(path);
        ck_assert_ptr_nonnull(file);
        line = file;
        for (long n = 1; n < lineno && line != NULL; n++) {
            line = strchr(line, '\n');
            line = line != NULL ? line + 1 : NULL;
        }
        ck_assert_msg(line != NULL && strstr(line, "gk.deny") != NULL &&
                          strstr(line, "gk.deny") < (strchr(line, '\n') != NULL
                                                         ? strchr(line, '\n')
                                                         : line + strlen(line)),
                      "%s does not point at a gk.deny line", src);
        free(file);
    }
    ck_assert_msg(found, "no verdict of %s: %s", policy, text);
    free(text);
}
