/*
 * sdk_nonce_test.c - the SDK's request nonces (sdk/nonce.c): no repeats within a process, across
 * threads, or between a parent and the child it forks after its first nonce (the wipe-on-fork
 * page makes the child draw a key of its own).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "nonce.h"

#define PER_THREAD 20000

static int
cmp_nonce(const void *a, const void *b)
{
    return memcmp(a, b, GKS_NONCE_BYTES);
}

/* The number of equal neighbours once n nonces are sorted. */
static size_t
repeats(uint8_t (*all)[GKS_NONCE_BYTES], size_t n)
{
    size_t same = 0;

    qsort(all, n, GKS_NONCE_BYTES, cmp_nonce);
    for (size_t i = 1; i < n; i++) {
        same += memcmp(all[i - 1], all[i], GKS_NONCE_BYTES) == 0;
    }
    return same;
}

START_TEST(test_no_repeats_and_not_constant)
{
    gks_nonce *g;
    uint8_t (*all)[GKS_NONCE_BYTES] = calloc(2 * PER_THREAD, GKS_NONCE_BYTES);
    gks_nonce *h;
    uint8_t a[GKS_NONCE_BYTES], b[GKS_NONCE_BYTES];

    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(gks_nonce_new(&g), GK_OK);
    for (size_t i = 0; i < 2 * PER_THREAD; i++) {
        gks_nonce_next(g, all[i]);
    }
    ck_assert_uint_eq(repeats(all, 2 * PER_THREAD), 0);
    /* two generators of one process have different keys */
    ck_assert_int_eq(gks_nonce_new(&h), GK_OK);
    gks_nonce_next(g, a);
    gks_nonce_next(h, b);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
    gks_nonce_free(h);
    gks_nonce_free(g);
    free(all);
}
END_TEST

struct worker {
    gks_nonce *g;
    uint8_t (*out)[GKS_NONCE_BYTES];
};

static void *
take(void *arg)
{
    struct worker *w = arg;

    for (size_t i = 0; i < PER_THREAD; i++) {
        gks_nonce_next(w->g, w->out[i]);
    }
    return NULL;
}

START_TEST(test_threads_share_no_nonce)
{
    gks_nonce *g;
    uint8_t (*all)[GKS_NONCE_BYTES] = calloc(4 * PER_THREAD, GKS_NONCE_BYTES);
    pthread_t t[4];
    struct worker w[4];

    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(gks_nonce_new(&g), GK_OK);
    for (int i = 0; i < 4; i++) {
        w[i].g = g;
        w[i].out = all + (size_t) i * PER_THREAD;
        ck_assert_int_eq(pthread_create(&t[i], NULL, take, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    ck_assert_uint_eq(repeats(all, 4 * PER_THREAD), 0);
    gks_nonce_free(g);
    free(all);
}
END_TEST

/* After a fork, the child's next nonces are not the parent's next nonces. */
START_TEST(test_forked_child_draws_its_own_key)
{
    enum { N = 64 };
    gks_nonce *g;
    uint8_t first[GKS_NONCE_BYTES], parent[N][GKS_NONCE_BYTES], child[N][GKS_NONCE_BYTES];
    int fds[2], status = 0;
    pid_t pid;
    size_t got = 0;

    ck_assert_int_eq(gks_nonce_new(&g), GK_OK);
    gks_nonce_next(g, first); /* the parent's key is drawn */
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < N; i++) {
            gks_nonce_next(g, child[i]);
        }
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t) sizeof(child) ? 0 : 1);
    }
    close(fds[1]);
    for (int i = 0; i < N; i++) {
        gks_nonce_next(g, parent[i]);
    }
    while (got < sizeof(child)) {
        ssize_t r = read(fds[0], (uint8_t *) child + got, sizeof(child) - got);
        ck_assert_int_gt(r, 0);
        got += (size_t) r;
    }
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            ck_assert_int_ne(memcmp(parent[i], child[j], GKS_NONCE_BYTES), 0);
        }
        ck_assert_int_ne(memcmp(first, child[i], GKS_NONCE_BYTES), 0);
    }
    gks_nonce_free(g);
}
END_TEST

static Suite *
nonce_suite(void)
{
    Suite *s = suite_create("sdk_nonce");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_no_repeats_and_not_constant);
    tcase_add_test(tc, test_threads_share_no_nonce);
    tcase_add_test(tc, test_forked_child_draws_its_own_key);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(nonce_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
