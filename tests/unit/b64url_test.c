/*
 * b64url_test.c - base64url codec: RFC 4648 section 10 vectors (URL-safe, unpadded), the
 * alphabet, every 12-bit value the encoder looks up, and every refusal (padding, stray
 * characters, impossible lengths, short buffers); the fast codec and the constant-time one for
 * secrets give the same text and refuse the same input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "b64url.h"

/* RFC 4648 section 10 test vectors, with the padding removed as RFC 7515 section 2 requires. */
static const struct {
    const char *bin;
    const char *text;
} rfc4648[] = {
    {"", ""},          {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

START_TEST(test_encode_rfc4648_vectors)
{
    char out[16];
    const char *bin = rfc4648[_i].bin;
    size_t n = gkp_b64url_encode(out, sizeof(out), (const uint8_t *) bin, strlen(bin));

    ck_assert_str_eq(out, rfc4648[_i].text);
    ck_assert_uint_eq(n, strlen(rfc4648[_i].text));
    ck_assert_uint_eq(gkp_b64url_encoded_len(strlen(bin)), strlen(rfc4648[_i].text) + 1);
}
END_TEST

START_TEST(test_decode_rfc4648_vectors)
{
    uint8_t out[16];
    size_t n = 99;
    const char *text = rfc4648[_i].text;

    ck_assert_int_eq(gkp_b64url_decode(out, sizeof(out), &n, text, strlen(text)), GK_OK);
    ck_assert_uint_eq(n, strlen(rfc4648[_i].bin));
    ck_assert_mem_eq(out, rfc4648[_i].bin, n);
}
END_TEST

START_TEST(test_url_safe_alphabet)
{
    const uint8_t bin[] = {0xfb, 0xff, 0xbf};
    char out[8];
    uint8_t back[3];
    size_t n = 0;

    gkp_b64url_encode(out, sizeof(out), bin, sizeof(bin));
    ck_assert_str_eq(out, "-_-_");
    ck_assert_int_eq(gkp_b64url_decode(back, sizeof(back), &n, out, 4), GK_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(back, bin, 3);
}
END_TEST

START_TEST(test_encode_short_buffer)
{
    char out[4] = "xyz";

    ck_assert_uint_eq(gkp_b64url_encode(out, sizeof(out), (const uint8_t *) "foo", 3), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* Inputs every decoder must refuse with GK_EPROTO. */
static const char *const bad_inputs[] = {
    "Zg==",     /* padding */
    "Zm8=",     /* padding */
    "Zm9v+A",   /* standard alphabet '+' */
    "Zm9v/w",   /* standard alphabet '/' */
    "Zm 9v",    /* whitespace */
    "Z",        /* 4n+1 characters encode nothing */
    "Zm9vY",    /* 4n+1 characters */
    "Zh",       /* non-zero trailing bits */
    "Zm9vYmF$", /* character outside the alphabet */
};

START_TEST(test_decode_refuses)
{
    uint8_t out[16];
    size_t n = 99;
    const char *in = bad_inputs[_i];

    ck_assert_int_eq(gkp_b64url_decode(out, sizeof(out), &n, in, strlen(in)), GK_EPROTO);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(gkp_b64url_decode_secret(out, sizeof(out), &n, in, strlen(in)), GK_EPROTO);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/*
 * Both codecs on every byte value at every position of every length up to 70, and on every
 * 2- and 3-character text (all trailing-bit cases): same text, same bytes, same refusals.
 */
START_TEST(test_secret_codec_agrees)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
    uint8_t bin[70], a[70], b[70];
    char fast[100], slow[100];
    size_t na, nb;

    for (size_t len = 0; len <= sizeof(bin); len++) {
        for (int v = 0; v < 256; v++) {
            for (size_t i = 0; i < len; i++) {
                bin[i] = (uint8_t) (v + i * 89);
            }
            na = gkp_b64url_encode(fast, sizeof(fast), bin, len);
            nb = gkp_b64url_encode_secret(slow, sizeof(slow), bin, len);
            ck_assert_uint_eq(na, nb);
            ck_assert_str_eq(fast, slow);
            ck_assert_int_eq(gkp_b64url_decode(a, sizeof(a), &na, fast, na), GK_OK);
            ck_assert_uint_eq(na, len);
            ck_assert_mem_eq(a, bin, len);
        }
    }
    for (size_t i = 0; i < sizeof(alphabet) - 1; i++) {
        for (size_t j = 0; j < sizeof(alphabet) - 1; j++) {
            for (size_t k = 0; k < sizeof(alphabet); k++) { /* k at the NUL: a 2-character text */
                const char text[3] = {alphabet[i], alphabet[j], alphabet[k]};
                size_t len = alphabet[k] != '\0' ? 3 : 2;
                gk_err ra = gkp_b64url_decode(a, sizeof(a), &na, text, len);
                gk_err rb = gkp_b64url_decode_secret(b, sizeof(b), &nb, text, len);

                ck_assert_msg(ra == rb, "%.*s: %d vs %d", (int) len, text, ra, rb);
                ck_assert_uint_eq(na, nb);
                ck_assert_mem_eq(a, b, na);
            }
        }
    }
}
END_TEST

/*
 * Every 12-bit value in each half of a group, in the eight-byte steps of the encoder (a group at
 * each of the two offsets of a step) and in its three-byte steps (the last groups): the same text
 * as libsodium's constant-time encoder.
 */
START_TEST(test_encode_every_12_bits)
{
    uint8_t bin[9];
    char fast[16], slow[16];

    for (uint32_t v = 0; v < 4096; v++) {
        uint32_t group = v << 12 | (4095 - v);

        for (size_t k = 0; k < 9; k++) {
            bin[k] = (uint8_t) (group >> (16 - 8 * (k % 3)));
        }
        for (size_t len = 3; len <= 9; len += 3) {
            ck_assert_uint_eq(gkp_b64url_encode(fast, sizeof(fast), bin, len), len / 3 * 4);
            gkp_b64url_encode_secret(slow, sizeof(slow), bin, len);
            ck_assert_str_eq(fast, slow);
        }
    }
}
END_TEST

/*
 * Every byte value at every position of a full group, and of the group before a tail: the
 * one-pass decoder refuses exactly the bytes outside the alphabet, and otherwise agrees with the
 * constant-time decoder (which is not asked about bytes above 127: libsodium 1.0.18 takes some).
 */
START_TEST(test_decode_every_byte_in_a_group)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t a[8], b[8];
    size_t na, nb;

    for (size_t pos = 0; pos < 6; pos++) {
        for (int c = 0; c < 256; c++) {
            char text[6] = {'Q', 'k', '9', '_', 'A', 'w'};
            size_t len = pos < 4 ? 4 : 6;
            gk_err ra;

            text[pos] = (char) c;
            ra = gkp_b64url_decode(a, sizeof(a), &na, text, len);
            if (c == 0 || strchr(alphabet, c) == NULL) {
                ck_assert_msg(ra == GK_EPROTO, "byte %d at %zu: %d", c, pos, ra);
                ck_assert_uint_eq(na, 0);
                continue;
            }
            ck_assert_int_eq(gkp_b64url_decode_secret(b, sizeof(b), &nb, text, len), ra);
            ck_assert_uint_eq(na, nb);
            ck_assert_mem_eq(a, b, na);
        }
    }
}
END_TEST

/*
 * Texts of every length from 0 to 13 (every length mod 4, one to three full groups before the
 * tail) with every byte value at every position: refused exactly when the byte is outside the
 * alphabet, when the length is 4n+1 or when the tail's unused bits are not zero, otherwise what
 * the constant-time decoder gives; and the span stops exactly at the first byte outside.
 */
START_TEST(test_decode_every_byte_every_length)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = (size_t) _i;
    uint8_t a[16], b[16];

    for (size_t pos = 0; pos < len; pos++) {
        for (int c = 0; c < 256; c++) {
            char *text = malloc(len); /* exactly as long: the sanitizers see any over-read */
            int in_alphabet = c != 0 && strchr(alphabet, c) != NULL;
            size_t na = 99, nb = 0;
            gk_err ra, rb;

            ck_assert_ptr_nonnull(text);
            for (size_t k = 0; k < len; k++) {
                text[k] = alphabet[(k * 7 + 3) % 64];
            }
            text[pos] = (char) c;
            ck_assert_uint_eq(gkp_b64url_span(text, len), (in_alphabet ? len : pos));
            ra = gkp_b64url_decode(a, sizeof(a), &na, text, len);
            if (len % 4 == 1 || !in_alphabet) {
                ck_assert_msg(ra == GK_EPROTO, "byte %d at %zu of %zu: %d", c, pos, len, ra);
                ck_assert_uint_eq(na, 0);
            } else {
                rb = gkp_b64url_decode_secret(b, sizeof(b), &nb, text, len);
                ck_assert_msg(ra == rb, "byte %d at %zu of %zu: %d, not %d", c, pos, len, ra, rb);
                ck_assert_uint_eq(na, nb);
                ck_assert_mem_eq(a, b, na);
            }
            free(text);
        }
    }
}
END_TEST

START_TEST(test_decode_short_buffer)
{
    uint8_t out[5];
    size_t n = 99;

    ck_assert_int_eq(gkp_b64url_decode(out, sizeof(out), &n, "Zm9vYmFy", 8), GK_ENOSPC);
    ck_assert_int_eq(gkp_b64url_decode(out, 4, &n, "Zm9vYmE", 7), GK_ENOSPC);
    ck_assert_int_eq(gkp_b64url_decode(out, sizeof(out), &n, "Zm9vYmE", 7), GK_OK);
    ck_assert_uint_eq(n, 5);
}
END_TEST

START_TEST(test_decode_not_nul_terminated)
{
    const char in[] = {'Z', 'm', '9', 'v', 'A', 'A'};
    uint8_t out[8];
    size_t n = 0;

    ck_assert_int_eq(gkp_b64url_decode(out, sizeof(out), &n, in, 4), GK_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(out, "foo", 3);
}
END_TEST

START_TEST(test_round_trip_all_lengths)
{
    uint8_t bin[70];
    uint8_t back[70];
    char text[100];
    size_t len;
    size_t n;
    size_t i;

    for (i = 0; i < sizeof(bin); i++) {
        bin[i] = (uint8_t) (i * 37 + 11);
    }
    for (len = 0; len <= sizeof(bin); len++) {
        n = gkp_b64url_encode(text, sizeof(text), bin, len);
        ck_assert_uint_eq(n, strlen(text));
        ck_assert_int_eq(gkp_b64url_decode(back, sizeof(back), &n, text, n), GK_OK);
        ck_assert_uint_eq(n, len);
        ck_assert_mem_eq(back, bin, len);
    }
}
END_TEST

/* The alphabet check: the offset of the first character outside it, or the length. */
START_TEST(test_span)
{
    ck_assert_uint_eq(gkp_b64url_span("AZaz09-_", 8), 8);
    ck_assert_uint_eq(gkp_b64url_span("abc=", 4), 3);
    ck_assert_uint_eq(gkp_b64url_span("ab.c", 4), 2);
    ck_assert_uint_eq(gkp_b64url_span("+/", 2), 0);
    ck_assert_uint_eq(gkp_b64url_span("ab\0c", 4), 2);
    ck_assert_uint_eq(gkp_b64url_span("\xc3\xa9", 2), 0);
    ck_assert_uint_eq(gkp_b64url_span("", 0), 0);
}
END_TEST

static Suite *
b64url_suite(void)
{
    Suite *s = suite_create("b64url");
    TCase *tc;
    const int nvec = (int) (sizeof(rfc4648) / sizeof(rfc4648[0]));
    const int nbad = (int) (sizeof(bad_inputs) / sizeof(bad_inputs[0]));

    tc = tcase_create("encode");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_encode_rfc4648_vectors, 0, nvec);
    tcase_add_test(tc, test_url_safe_alphabet);
    tcase_add_test(tc, test_encode_short_buffer);
    tcase_add_test(tc, test_encode_every_12_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_decode_rfc4648_vectors, 0, nvec);
    tcase_add_loop_test(tc, test_decode_refuses, 0, nbad);
    tcase_add_test(tc, test_decode_short_buffer);
    tcase_add_test(tc, test_decode_not_nul_terminated);
    tcase_add_test(tc, test_round_trip_all_lengths);
    tcase_add_test(tc, test_secret_codec_agrees);
    tcase_add_test(tc, test_decode_every_byte_in_a_group);
    tcase_add_loop_test(tc, test_decode_every_byte_every_length, 0, 14);
    tcase_add_test(tc, test_span);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(b64url_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
