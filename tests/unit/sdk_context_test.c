/*
 * sdk_context_test.c - gk_context: canonical text (the cache key), its hash, and the targetingKey
 * rules.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "context.h"
#include "gatekeeper.h"

START_TEST(test_canonical_text_ignores_insertion_order)
{
    gk_context *a = NULL;
    gk_context *b = NULL;

    ck_assert_int_eq(gk_context_new(&a, "t-42"), GK_OK);
    ck_assert_int_eq(gk_context_set_string(a, "region", "eu"), GK_OK);
    ck_assert_int_eq(gk_context_set_number(a, "plan", 3), GK_OK);
    ck_assert_int_eq(gk_context_set_bool(a, "beta", true), GK_OK);

    ck_assert_int_eq(gk_context_new(&b, "t-42"), GK_OK);
    ck_assert_int_eq(gk_context_set_bool(b, "beta", true), GK_OK);
    ck_assert_int_eq(gk_context_set_number(b, "plan", 3.0), GK_OK);
    ck_assert_int_eq(gk_context_set_string(b, "region", "us"), GK_OK);
    ck_assert_int_eq(gk_context_set_string(b, "region", "eu"), GK_OK); /* replaced */

    ck_assert_str_eq(gks_context_text(a, NULL), gks_context_text(b, NULL));
    ck_assert_str_eq(gks_context_text(a, NULL),
                     "{\"beta\":true,\"plan\":3,\"region\":\"eu\",\"targetingKey\":\"t-42\"}");
    gk_context_free(a);
    gk_context_free(b);
}
END_TEST

START_TEST(test_text_follows_every_setter)
{
    gk_context *ctx = NULL;
    size_t len = 0;

    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    ck_assert_str_eq(gks_context_text(ctx, &len), "{\"targetingKey\":\"t-1\"}");
    ck_assert_uint_eq(len, strlen("{\"targetingKey\":\"t-1\"}"));
    ck_assert_int_eq(gk_context_set_number(ctx, "ratio", 0.5), GK_OK);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{\"ratio\":0.5,\"targetingKey\":\"t-1\"}");
    ck_assert_ptr_nonnull(json_object_get(gks_context_json(ctx), "ratio"));
    gk_context_free(ctx);
}
END_TEST

/* The hash is computed with the text: equal texts, equal hashes; a failed setter keeps both. */
START_TEST(test_hash_follows_the_text)
{
    gk_context *a = NULL;
    gk_context *b = NULL;
    size_t len = 0;
    const char *text;
    uint64_t before;

    ck_assert_int_eq(gk_context_new(&a, "t-7"), GK_OK);
    ck_assert_int_eq(gk_context_new(&b, "t-7"), GK_OK);
    text = gks_context_text(a, &len);
    ck_assert_uint_eq(gks_context_hash(a), gks_context_hash_text(text, len));
    ck_assert_uint_eq(gks_context_hash(a), gks_context_hash(b));

    ck_assert_int_eq(gk_context_set_string(a, "region", "eu"), GK_OK);
    ck_assert_uint_ne(gks_context_hash(a), gks_context_hash(b));
    text = gks_context_text(a, &len);
    ck_assert_uint_eq(gks_context_hash(a), gks_context_hash_text(text, len));
    ck_assert_int_eq(gk_context_set_string(b, "region", "eu"), GK_OK);
    ck_assert_uint_eq(gks_context_hash(a), gks_context_hash(b));

    before = gks_context_hash(a);
    ck_assert_int_eq(gk_context_set_string(a, "region", "\xff"), GK_EINVAL); /* not UTF-8 */
    ck_assert_uint_eq(gks_context_hash(a), before);
    text = gks_context_text(a, &len);
    ck_assert_uint_eq(gks_context_hash(a), gks_context_hash_text(text, len));
    gk_context_free(a);
    gk_context_free(b);
}
END_TEST

START_TEST(test_targeting_key_rules)
{
    gk_context *ctx = NULL;

    /* Without a targeting key the member is absent. */
    ck_assert_int_eq(gk_context_new(&ctx, NULL), GK_OK);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{}");
    /* It cannot be set as an ordinary attribute, of any type. */
    ck_assert_int_eq(gk_context_set_string(ctx, "targetingKey", "x"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_number(ctx, "targetingKey", 1), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_bool(ctx, "targetingKey", true), GK_EINVAL);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{}");
    gk_context_free(ctx);

    ck_assert_int_eq(gk_context_new(&ctx, "tenant-\"7\""), GK_OK);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{\"targetingKey\":\"tenant-\\\"7\\\"\"}");
    gk_context_free(ctx);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    gk_context *ctx = NULL;

    ck_assert_int_eq(gk_context_new(NULL, "t"), GK_EINVAL);
    ck_assert_int_eq(gk_context_new(&ctx, "\xff\xfe"), GK_EINVAL); /* not UTF-8 */
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(gk_context_new(&ctx, "t"), GK_OK);
    ck_assert_int_eq(gk_context_set_string(NULL, "a", "b"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_string(ctx, NULL, "b"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_string(ctx, "", "b"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_string(ctx, "a", NULL), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_string(ctx, "a", "\xc3"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_string(ctx, "\xc3", "b"), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_number(ctx, "n", NAN), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_number(ctx, "n", INFINITY), GK_EINVAL);
    ck_assert_int_eq(gk_context_set_bool(NULL, "b", true), GK_EINVAL);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{\"targetingKey\":\"t\"}");
    gk_context_free(ctx);
    gk_context_free(NULL);
}
END_TEST

START_TEST(test_numbers)
{
    gk_context *ctx = NULL;

    ck_assert_int_eq(gk_context_new(&ctx, NULL), GK_OK);
    ck_assert_int_eq(gk_context_set_number(ctx, "big", 9007199254740992.0), GK_OK);
    ck_assert_int_eq(gk_context_set_number(ctx, "neg", -0.0), GK_OK);
    ck_assert_str_eq(gks_context_text(ctx, NULL), "{\"big\":9007199254740992,\"neg\":0}");
    gk_context_free(ctx);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sdk_context");
    TCase *tc = tcase_create("context");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_canonical_text_ignores_insertion_order);
    tcase_add_test(tc, test_text_follows_every_setter);
    tcase_add_test(tc, test_hash_follows_the_text);
    tcase_add_test(tc, test_targeting_key_rules);
    tcase_add_test(tc, test_invalid_arguments);
    tcase_add_test(tc, test_numbers);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
