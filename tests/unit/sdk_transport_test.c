/*
 * sdk_transport_test.c - the SDK's REQ socket and round trip (sdk/transport.c): a request whose
 * connection closes before the reply is sent again on another connection within its deadline; a
 * request that is received and never answered is not resent and times out at its deadline.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "transport.h"

struct call {
    nng_socket sock;
    uint32_t timeout_ms;
    int rv;
    nng_msg *reply;
};

static void *
transact(void *arg)
{
    struct call *c = arg;

    c->rv = gks_transact(c->sock, "hello", 6, c->timeout_ms, &c->reply);
    return NULL;
}

/* A REP socket listening on url, receiving with a timeout of ms. */
static nng_socket
rep_on(const char *url, int ms)
{
    nng_socket s;

    ck_assert_int_eq(nng_rep0_open(&s), 0);
    ck_assert_int_eq(nng_listen(s, url, NULL, 0), 0);
    ck_assert_int_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, ms), 0);
    return s;
}

START_TEST(test_resent_after_connection_closes)
{
    nng_socket silent = rep_on("inproc://transport-silent", 3000);
    nng_socket good = rep_on("inproc://transport-good", 3000);
    struct call c = {.timeout_ms = 5000};
    pthread_t t;
    char *buf = NULL;
    size_t sz = 0;

    ck_assert_int_eq(gks_transport_open(&c.sock), 0);
    ck_assert_int_eq(nng_dial(c.sock, "inproc://transport-silent", NULL, 0), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, transact, &c), 0);
    /* the only connection gets the request, and closes without answering */
    ck_assert_int_eq(nng_recv(silent, &buf, &sz, NNG_FLAG_ALLOC), 0);
    nng_free(buf, sz);
    ck_assert_int_eq(nng_dial(c.sock, "inproc://transport-good", NULL, 0), 0);
    nng_msleep(100);
    nng_close(silent);
    /* the request comes again on the other connection, within the same deadline */
    ck_assert_int_eq(nng_recv(good, &buf, &sz, NNG_FLAG_ALLOC), 0);
    ck_assert_uint_eq(sz, 6);
    ck_assert_str_eq(buf, "hello");
    nng_free(buf, sz);
    {
        char ok[] = "ok";
        ck_assert_int_eq(nng_send(good, ok, sizeof(ok), 0), 0);
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(c.rv, 0);
    ck_assert_ptr_nonnull(c.reply);
    ck_assert_str_eq((const char *) nng_msg_body(c.reply), "ok");
    nng_msg_free(c.reply);
    nng_close(good);
    nng_close(c.sock);
}
END_TEST

START_TEST(test_unanswered_request_times_out_once)
{
    nng_socket silent = rep_on("inproc://transport-mute", 3000);
    struct call c = {.timeout_ms = 300};
    pthread_t t;
    char *buf = NULL;
    size_t sz = 0;

    ck_assert_int_eq(gks_transport_open(&c.sock), 0);
    ck_assert_int_eq(nng_dial(c.sock, "inproc://transport-mute", NULL, 0), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, transact, &c), 0);
    ck_assert_int_eq(nng_recv(silent, &buf, &sz, NNG_FLAG_ALLOC), 0);
    nng_free(buf, sz);
    pthread_join(t, NULL);
    ck_assert_int_eq(c.rv, NNG_ETIMEDOUT);
    ck_assert_ptr_null(c.reply);
    /* received once: not resent while the connection stayed up */
    ck_assert_int_eq(nng_socket_set_ms(silent, NNG_OPT_RECVTIMEO, 200), 0);
    ck_assert_int_eq(nng_recv(silent, &buf, &sz, NNG_FLAG_ALLOC), NNG_ETIMEDOUT);
    nng_close(silent);
    nng_close(c.sock);
}
END_TEST

static Suite *
transport_suite(void)
{
    Suite *s = suite_create("sdk_transport");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resent_after_connection_closes);
    tcase_add_test(tc, test_unanswered_request_times_out_once);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(transport_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
