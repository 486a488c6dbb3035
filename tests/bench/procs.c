/*
 * procs.c - child processes and the throughput client mode (see procs.h).
 *
 * Pipes are close-on-exec in the parent, so that a child holds only its own two ends: a child
 * then sees end of file on stdin exactly when the harness closes it, and the harness sees end of
 * file on a child's stdout exactly when that child exits.
 */
#include "procs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "echo.h"
#include "gatekeeper.h"

extern char **environ;

static int
cloexec_pipe(int fds[2])
{
    if (pipe(fds) != 0) {
        return -1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

int
gkb_spawn(gkb_child *c, const char *const argv[])
{
    posix_spawn_file_actions_t fa;
    int in[2], out[2], rv;

    c->pid = -1;
    if (cloexec_pipe(in) != 0) {
        return -1;
    }
    if (cloexec_pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    rv = posix_spawn(&c->pid, argv[0], &fa, NULL, (char *const *) (uintptr_t) argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rv != 0) {
        fprintf(stderr, "gk-bench: cannot start %s: %s\n", argv[0], strerror(rv));
        close(in[1]);
        close(out[0]);
        c->pid = -1;
        return -1;
    }
    c->in_fd = in[1];
    c->out_fd = out[0];
    return 0;
}

int
gkb_child_readline(gkb_child *c, char *buf, size_t size, int timeout_ms)
{
    uint64_t deadline = gkd_clock_mono_ns() + (uint64_t) timeout_ms * 1000000u;
    size_t used = 0;

    while (used + 1 < size) {
        struct pollfd p = {c->out_fd, POLLIN, 0};
        uint64_t now = gkd_clock_mono_ns();
        ssize_t n;

        if (now >= deadline) {
            return -1;
        }
        if (poll(&p, 1, (int) ((deadline - now) / 1000000u) + 1) <= 0) {
            continue;
        }
        n = read(c->out_fd, buf + used, 1); /* byte by byte: never read past the line */
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        if (buf[used] == '\n') {
            buf[used] = '\0';
            return 0;
        }
        used++;
    }
    buf[used] = '\0';
    return 0;
}

int
gkb_child_write(gkb_child *c, const char *line)
{
    size_t len = strlen(line);

    return write(c->in_fd, line, len) == (ssize_t) len && write(c->in_fd, "\n", 1) == 1 ? 0 : -1;
}

int
gkb_child_finish(gkb_child *c, int timeout_ms)
{
    int status;

    if (c->pid <= 0) {
        return -1;
    }
    close(c->in_fd);
    status = gkt_wait_exit(c->pid, timeout_ms);
    if (status < 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &status, 0);
        status = 128 + SIGKILL;
    }
    close(c->out_fd);
    c->pid = -1;
    return status;
}

/* One throughput client's connection: either an SDK client or an echo client. */
typedef struct client_conn {
    gk_client *client;
    gk_context *ctx;
    gkb_echo_client echo;
    int is_echo;
} client_conn;

static int
conn_call(client_conn *c)
{
    gk_detail detail;
    bool on;

    if (c->is_echo) {
        return gkb_echo_call(&c->echo);
    }
    if (gk_client_eval_bool(c->client, GKB_FLAG, c->ctx, false, &on, &detail) != GK_OK ||
        detail.reason == GK_REASON_ERROR || detail.reason == GK_REASON_STALE ||
        detail.reason == GK_REASON_CACHED) {
        return -1;
    }
    return 0;
}

static int
conn_open(client_conn *c, const char *kind, const char *url, const char *jwks, size_t reply_bytes)
{
    gk_options *opts = NULL;
    gk_diag diag = {0};
    int rv;

    memset(c, 0, sizeof(*c));
    if (strcmp(kind, "echo") == 0) {
        c->is_echo = 1;
        return gkb_echo_client_open(&c->echo, url, reply_bytes) == 0 ? 0 : -1;
    }
    if (jwks == NULL || gk_options_new(&opts) != GK_OK) {
        return -1;
    }
    rv = gk_options_add_endpoint(opts, url) == GK_OK && gk_options_set_jwks_file(opts, jwks) == GK_OK &&
                 gk_options_set_cache_disabled(opts, true) == GK_OK &&
                 gk_options_set_timeout_ms(opts, 1000) == GK_OK &&
                 gk_options_set_events_endpoint(opts, NULL) == GK_OK &&
                 gk_options_set_telemetry_endpoint(opts, NULL) == GK_OK &&
                 gk_client_open(&c->client, opts, &diag) == GK_OK
             ? 0
             : -1;
    gk_options_free(opts);
    if (rv == 0 && (gk_context_new(&c->ctx, "tenant-42") != GK_OK ||
                    gk_context_set_string(c->ctx, "tenantId", "tenant-42") != GK_OK ||
                    gk_context_set_string(c->ctx, "service", GKB_SERVICE) != GK_OK)) {
        rv = -1;
    }
    if (rv != 0) {
        fprintf(stderr, "gk-bench client: cannot open an SDK client on %s: %s\n", url, diag.text);
    }
    return rv;
}

static void
conn_close(client_conn *c)
{
    if (c->is_echo) {
        gkb_echo_client_close(&c->echo);
        return;
    }
    gk_context_free(c->ctx);
    gk_client_close(c->client);
}

static uint64_t
tv_ns(const struct timeval *tv)
{
    return (uint64_t) tv->tv_sec * 1000000000u + (uint64_t) tv->tv_usec * 1000u;
}

int
gkb_client_main(const char *kind, const char *url, const char *jwks, size_t reply_bytes,
                double seconds)
{
    client_conn conn;
    unsigned long long count = 0, errors = 0;
    uint64_t start, end, now;
    struct rusage ru0, ru1;
    char go[16];

    if (conn_open(&conn, kind, url, jwks, reply_bytes) != 0) {
        return 1;
    }
    for (int i = 0; i < 200; i++) {
        if (conn_call(&conn) != 0) {
            fprintf(stderr, "gk-bench client: a warm-up %s request to %s failed\n", kind, url);
            conn_close(&conn);
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    if (fgets(go, sizeof(go), stdin) == NULL) {
        conn_close(&conn);
        return 1;
    }
    getrusage(RUSAGE_SELF, &ru0);
    start = gkd_clock_mono_ns();
    end = start + (uint64_t) (seconds * 1e9);
    do {
        if (conn_call(&conn) == 0) {
            count++;
        } else {
            errors++;
        }
        now = gkd_clock_mono_ns();
    } while (now < end);
    getrusage(RUSAGE_SELF, &ru1);
    printf("%llu %llu %llu %llu %llu\n", count, errors, (unsigned long long) (now - start),
           (unsigned long long) (tv_ns(&ru1.ru_utime) + tv_ns(&ru1.ru_stime) -
                                 tv_ns(&ru0.ru_utime) - tv_ns(&ru0.ru_stime)),
           (unsigned long long) (ru1.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nvcsw - ru0.ru_nivcsw));
    fflush(stdout);
    conn_close(&conn);
    return 0;
}
