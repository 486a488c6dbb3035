/*
 * sdk_mask_test.c - privacy masks: the gk_mask accessors and gk_mask_apply (remove, pseudonymize,
 * nested and array paths, absent paths, masks-all, pseudonym stability per key, bad input).
 * Masks through the client (fresh, CACHED, STALE, fallback) are in sdk_client_test.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "gatekeeper.h"
#include "mask.h"

static const uint8_t key1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "fedcba9876543210fedcba9876543210";

static void
setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
}

/* A mask of the NULL-terminated field list. */
static gk_mask *
mask_of(const char *const *fields)
{
    json_t *arr = json_array();
    gk_mask *mask = NULL;

    for (size_t i = 0; fields[i] != NULL; i++) {
        json_array_append_new(arr, json_string(fields[i]));
    }
    ck_assert_int_eq(gks_mask_from_json(&mask, arr), GK_OK);
    json_decref(arr);
    return mask;
}

/* gk_mask_apply that must succeed; the caller frees the result with gk_free. */
static char *
apply(const gk_mask *mask, const char *record, gk_mask_mode mode, const uint8_t *key)
{
    char *out = NULL;

    ck_assert_int_eq(gk_mask_apply(mask, record, mode, key, key != NULL ? 32 : 0, &out), GK_OK);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* What GK_MASK_PSEUDONYMIZE must produce for the JSON text `text` under `key`. */
static void
expected_pseudonym(char out[64], const char *text, const uint8_t *key)
{
    unsigned char hash[16];
    char b64[32];

    crypto_generichash(hash, sizeof(hash), (const unsigned char *) text, strlen(text), key, 32);
    sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    strcpy(out, "pseudo:");
    strcat(out, b64);
}

START_TEST(test_accessors)
{
    static const char *const fields[] = {"email", "address.street", NULL};
    gk_mask *mask = mask_of(fields);
    gk_mask *held = gks_mask_hold(mask);
    gk_mask *empty = NULL;

    ck_assert_ptr_eq(held, mask);
    ck_assert_uint_eq(gk_mask_count(mask), 2);
    ck_assert_str_eq(gk_mask_field(mask, 0), "email");
    ck_assert_str_eq(gk_mask_field(mask, 1), "address.street");
    ck_assert_ptr_null(gk_mask_field(mask, 2));
    ck_assert(!gk_mask_masks_all(mask));
    gk_mask_free(held); /* one reference left */
    ck_assert_str_eq(gk_mask_field(mask, 0), "email");
    gk_mask_free(mask);

    ck_assert_int_eq(gks_mask_from_json(&empty, NULL), GK_OK);
    ck_assert_uint_eq(gk_mask_count(empty), 0);
    ck_assert(!gk_mask_masks_all(empty));
    gk_mask_free(empty);
    gk_mask_free(empty); /* static: never freed */

    ck_assert(gk_mask_masks_all(gks_mask_all()));
    ck_assert_uint_eq(gk_mask_count(gks_mask_all()), 0);
    gk_mask_free(gks_mask_all());
    /* NULL reads the safe way. */
    ck_assert(gk_mask_masks_all(NULL));
    ck_assert_uint_eq(gk_mask_count(NULL), 0);
    ck_assert_ptr_null(gk_mask_field(NULL, 0));
    gk_mask_free(NULL);
    gk_free(NULL);
}
END_TEST

START_TEST(test_remove)
{
    static const char *const fields[] = {"email", "phone", NULL};
    gk_mask *mask = mask_of(fields);
    char *out = apply(mask,
                      "{\"id\": 7, \"email\": \"ada@example.com\", \"name\": \"Ada\", "
                      "\"phone\": null, \"tags\": [1, 2]}",
                      GK_MASK_REMOVE, NULL);

    ck_assert_str_eq(out, "{\"id\":7,\"name\":\"Ada\",\"tags\":[1,2]}");
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_pseudonymize)
{
    static const char *const fields[] = {"email", "limits", NULL};
    gk_mask *mask = mask_of(fields);
    char want_email[64];
    char want_limits[64];
    char want[256];
    char *out = apply(mask, "{\"id\":7,\"email\":\"ada@example.com\",\"limits\":{\"b\":2,\"a\":1}}",
                      GK_MASK_PSEUDONYMIZE, key1);

    expected_pseudonym(want_email, "\"ada@example.com\"", key1);
    /* An object's pseudonym is of its compact text with members sorted. */
    expected_pseudonym(want_limits, "{\"a\":1,\"b\":2}", key1);
    ck_assert_uint_eq(strlen(want_email), strlen("pseudo:") + 22);
    snprintf(want, sizeof(want), "{\"id\":7,\"email\":\"%s\",\"limits\":\"%s\"}", want_email,
             want_limits);
    ck_assert_str_eq(out, want);
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_nested_paths)
{
    static const char *const fields[] = {"address.street", "a.b.c", "name.first", "x.", NULL};
    gk_mask *mask = mask_of(fields);
    char *out = apply(mask,
                      "{\"address\":{\"street\":\"Main 1\",\"city\":\"Lyon\"},"
                      "\"a\":{\"b\":{\"c\":1,\"d\":2}},\"name\":\"Ada\",\"x\":{\"y\":1}}",
                      GK_MASK_REMOVE, NULL);

    /* "name" is a string, so "name.first" finds nothing; "x." names the member "" of x. */
    ck_assert_str_eq(out, "{\"address\":{\"city\":\"Lyon\"},\"a\":{\"b\":{\"d\":2}},"
                          "\"name\":\"Ada\",\"x\":{\"y\":1}}");
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_array_paths_and_whole_values)
{
    static const char *const fields[] = {"contacts.email", "address", NULL};
    gk_mask *mask = mask_of(fields);
    char want_a[64];
    char want_addr[64];
    char want[512];
    char *out = apply(mask,
                      "{\"contacts\":[{\"email\":\"a@x\",\"kind\":\"work\"},{\"kind\":\"home\"},"
                      "{\"email\":\"b@x\"},3],\"address\":{\"street\":\"Main 1\"}}",
                      GK_MASK_REMOVE, NULL);

    /* The rest of the path applies to each element; a path ending at an object masks it whole. */
    ck_assert_str_eq(out, "{\"contacts\":[{\"kind\":\"work\"},{\"kind\":\"home\"},{},3]}");
    gk_free(out);

    out = apply(mask, "{\"contacts\":[{\"email\":\"a@x\"}],\"address\":{\"street\":\"Main 1\"}}",
                GK_MASK_PSEUDONYMIZE, key1);
    expected_pseudonym(want_a, "\"a@x\"", key1);
    expected_pseudonym(want_addr, "{\"street\":\"Main 1\"}", key1);
    snprintf(want, sizeof(want), "{\"contacts\":[{\"email\":\"%s\"}],\"address\":\"%s\"}", want_a,
             want_addr);
    ck_assert_str_eq(out, want);
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_absent_paths_change_nothing)
{
    static const char *const fields[] = {"email", "address.street", "deep.er.still", NULL};
    gk_mask *mask = mask_of(fields);
    gk_mask *empty = NULL;
    char *out =
        apply(mask, "{ \"id\" : 7, \"address\": {\"city\": \"Lyon\"} }", GK_MASK_REMOVE, NULL);

    ck_assert_str_eq(out, "{\"id\":7,\"address\":{\"city\":\"Lyon\"}}");
    gk_free(out);
    out = apply(mask, "{}", GK_MASK_PSEUDONYMIZE, key1);
    ck_assert_str_eq(out, "{}");
    gk_free(out);

    ck_assert_int_eq(gks_mask_from_json(&empty, NULL), GK_OK);
    out = apply(empty, "{\"email\":\"ada@example.com\"}", GK_MASK_PSEUDONYMIZE, key1);
    ck_assert_str_eq(out, "{\"email\":\"ada@example.com\"}");
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_masks_all)
{
    char want_email[64];
    char want_address[64];
    char want[256];
    char *out = apply(gks_mask_all(), "{\"email\":\"a@x\",\"address\":{\"street\":\"Main 1\"}}",
                      GK_MASK_REMOVE, NULL);

    ck_assert_str_eq(out, "{}");
    gk_free(out);
    out = apply(gks_mask_all(), "{\"email\":\"a@x\",\"address\":{\"street\":\"Main 1\"}}",
                GK_MASK_PSEUDONYMIZE, key1);
    expected_pseudonym(want_email, "\"a@x\"", key1);
    expected_pseudonym(want_address, "{\"street\":\"Main 1\"}", key1);
    snprintf(want, sizeof(want), "{\"email\":\"%s\",\"address\":\"%s\"}", want_email, want_address);
    ck_assert_str_eq(out, want);
    gk_free(out);
}
END_TEST

START_TEST(test_pseudonyms_stable_per_key)
{
    static const char *const fields[] = {"email", "profile", NULL};
    gk_mask *mask = mask_of(fields);
    char *a = apply(mask, "{\"email\":\"ada@example.com\",\"profile\":{\"x\":1,\"y\":[2]}}",
                    GK_MASK_PSEUDONYMIZE, key1);
    char *b = apply(mask, "{\"profile\":{\"y\":[2],\"x\":1},\"email\":\"ada@example.com\"}",
                    GK_MASK_PSEUDONYMIZE, key1);
    char *c = apply(mask, "{\"email\":\"ada@example.com\",\"profile\":{\"x\":1,\"y\":[2]}}",
                    GK_MASK_PSEUDONYMIZE, key2);
    char *d = apply(mask, "{\"email\":\"bob@example.com\",\"profile\":{\"x\":1,\"y\":[2]}}",
                    GK_MASK_PSEUDONYMIZE, key1);
    json_t *ja = json_loads(a, 0, NULL);
    json_t *jb = json_loads(b, 0, NULL);
    json_t *jc = json_loads(c, 0, NULL);
    json_t *jd = json_loads(d, 0, NULL);

    /* Same key: equal values give equal pseudonyms (member order does not matter). */
    ck_assert(json_equal(ja, jb));
    ck_assert_str_eq(json_string_value(json_object_get(ja, "email")),
                     json_string_value(json_object_get(jb, "email")));
    /* Another key: other pseudonyms. Another value: another pseudonym. */
    ck_assert_str_ne(json_string_value(json_object_get(ja, "email")),
                     json_string_value(json_object_get(jc, "email")));
    ck_assert_str_ne(json_string_value(json_object_get(ja, "profile")),
                     json_string_value(json_object_get(jc, "profile")));
    ck_assert_str_ne(json_string_value(json_object_get(ja, "email")),
                     json_string_value(json_object_get(jd, "email")));
    ck_assert_str_eq(json_string_value(json_object_get(ja, "profile")),
                     json_string_value(json_object_get(jd, "profile")));
    /* And no trace of the value itself. */
    ck_assert_ptr_null(strstr(a, "ada"));
    json_decref(ja);
    json_decref(jb);
    json_decref(jc);
    json_decref(jd);
    gk_free(a);
    gk_free(b);
    gk_free(c);
    gk_free(d);
    gk_mask_free(mask);
}
END_TEST

START_TEST(test_bad_input)
{
    static const char *const fields[] = {"email", NULL};
    gk_mask *mask = mask_of(fields);
    static const char *const not_objects[] = {
        "", "not json", "[1,2]", "42", "\"email\"", "null", "{\"email\":", "{\"a\":1} {}",
    };
    uint8_t long_key[GK_MASK_KEY_MAX_BYTES + 1];
    char *out = (char *) (uintptr_t) 1;

    memset(long_key, 7, sizeof(long_key));
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        out = (char *) (uintptr_t) 1;
        ck_assert_msg(gk_mask_apply(mask, not_objects[i], GK_MASK_REMOVE, NULL, 0, &out) ==
                          GK_EINVAL,
                      "record %s accepted", not_objects[i]);
        ck_assert_ptr_null(out);
    }
    ck_assert_int_eq(gk_mask_apply(NULL, "{}", GK_MASK_REMOVE, NULL, 0, &out), GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gk_mask_apply(mask, NULL, GK_MASK_REMOVE, NULL, 0, &out), GK_EINVAL);
    ck_assert_int_eq(gk_mask_apply(mask, "{}", GK_MASK_REMOVE, NULL, 0, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_mask_apply(mask, "{}", (gk_mask_mode) 9, key1, 32, &out), GK_EINVAL);
    /* Pseudonyms need a key of 16..64 bytes. */
    ck_assert_int_eq(gk_mask_apply(mask, "{}", GK_MASK_PSEUDONYMIZE, NULL, 32, &out), GK_EINVAL);
    ck_assert_int_eq(gk_mask_apply(mask, "{}", GK_MASK_PSEUDONYMIZE, key1, 15, &out), GK_EINVAL);
    ck_assert_int_eq(
        gk_mask_apply(mask, "{}", GK_MASK_PSEUDONYMIZE, long_key, sizeof(long_key), &out),
        GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gk_mask_apply(mask, "{\"email\":1}", GK_MASK_PSEUDONYMIZE, long_key,
                                   GK_MASK_KEY_MAX_BYTES, &out),
                     GK_OK);
    gk_free(out);
    ck_assert_int_eq(gk_mask_apply(mask, "{\"email\":1}", GK_MASK_PSEUDONYMIZE, key1,
                                   GK_MASK_KEY_MIN_BYTES, &out),
                     GK_OK);
    gk_free(out);
    gk_mask_free(mask);
}
END_TEST

/* A mask list with something other than non-empty strings is not a mask. */
START_TEST(test_from_json_refuses)
{
    json_t *bad = json_pack("[s,i]", "email", 3);
    json_t *empty_string = json_pack("[s]", "");
    gk_mask *mask = NULL;

    ck_assert_int_eq(gks_mask_from_json(&mask, bad), GK_EPROTO);
    ck_assert_ptr_null(mask);
    ck_assert_int_eq(gks_mask_from_json(&mask, empty_string), GK_EPROTO);
    json_decref(bad);
    json_decref(empty_string);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sdk_mask");
    TCase *tc = tcase_create("mask");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_accessors);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_pseudonymize);
    tcase_add_test(tc, test_nested_paths);
    tcase_add_test(tc, test_array_paths_and_whole_values);
    tcase_add_test(tc, test_absent_paths_change_nothing);
    tcase_add_test(tc, test_masks_all);
    tcase_add_test(tc, test_pseudonyms_stable_per_key);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_from_json_refuses);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
