/*
 * gk_test.c - processes, files and requests for the integration tests (see gk_test.h).
 */
#define _GNU_SOURCE
#include "gk_test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "admin.h"

long long
gkt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
gkt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

const char *
gkt_env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "test environment variable %s is not set (run the tests through ctest)\n",
                name);
        abort();
    }
    return v;
}

void
gkt_tempdir(char out[256])
{
    const char *base = getenv("TMPDIR");

    snprintf(out, 256, "%s/gk-test-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

void
gkt_rmtree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
gkt_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    if (buf != NULL && fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL) {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

int
gkt_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    size_t len = strlen(text);
    int ok;

    if (fd < 0) {
        return -1;
    }
    ok = write(fd, text, len) == (ssize_t) len;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : -1;
}

int
gkt_wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = gkt_now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 || gkt_now_ms() > deadline) {
            return -1;
        }
        gkt_sleep_ms(5);
    }
}

int
gkt_run(const char *const argv[], const char *stdin_text, char *out, size_t outsize,
        int timeout_ms)
{
    int outpipe[2], inpipe[2];
    long long deadline = gkt_now_ms() + timeout_ms;
    size_t used = 0;
    pid_t pid;
    int status;

    if (pipe(outpipe) != 0 || pipe(inpipe) != 0) {
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        dup2(inpipe[0], 0);
        dup2(outpipe[1], 1);
        dup2(outpipe[1], 2);
        close(inpipe[1]);
        close(outpipe[0]);
        execv(argv[0], (char *const *) (uintptr_t) argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(inpipe[0]);
    close(outpipe[1]);
    if (stdin_text != NULL && write(inpipe[1], stdin_text, strlen(stdin_text)) < 0) {
        perror("write stdin");
    }
    close(inpipe[1]);
    for (;;) {
        struct pollfd p = {outpipe[0], POLLIN, 0};
        long long left = deadline - gkt_now_ms();
        char sink[4096];
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(outpipe[0]);
            return -1;
        }
        if (poll(&p, 1, (int) left) <= 0) {
            continue;
        }
        int into_out = used + 1 < outsize;
        n = into_out ? read(outpipe[0], out + used, outsize - used - 1)
                     : read(outpipe[0], sink, sizeof(sink));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += into_out ? (size_t) n : 0;
    }
    close(outpipe[0]);
    if (outsize > 0) {
        out[used] = '\0';
    }
    status = gkt_wait_exit(pid, (int) (deadline - gkt_now_ms() > 0 ? deadline - gkt_now_ms() : 1));
    if (status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return status;
}

static int
make_key(gkt_daemon *d)
{
    char keydir[300], out[1024];
    const char *argv[] = {gkt_env("GK_DAEMON"), "keygen", "--out", keydir, NULL};
    char *line;

    snprintf(keydir, sizeof(keydir), "%s/keys", d->dir);
    if (gkt_run(argv, NULL, out, sizeof(out), 10000) != 0) {
        fprintf(stderr, "keygen failed: %s\n", out);
        return -1;
    }
    line = strstr(out, "private key: ");
    if (line == NULL || sscanf(line, "private key: %4095s", d->key_path) != 1) {
        fprintf(stderr, "keygen printed no key path: %s\n", out);
        return -1;
    }
    snprintf(d->jwks_path, sizeof(d->jwks_path), "%s/jwks.json", keydir);
    return 0;
}

static void
print_log(const gkt_daemon *d)
{
    char *log = gkt_read_file(d->log_path);

    fprintf(stderr, "--- gatekeeper log ---\n%s\n---\n", log != NULL ? log : "(none)");
    free(log);
}

const char *const gkt_actor_ids[GKT_ACTORS] = {"rita", "owen", "vic"};

/* Writes `text` to `path` or fails the test run loudly. */
static int
write_or_complain(const char *path, const char *text, mode_t mode)
{
    if (gkt_write_file(path, text, mode) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* The three test actors: key pairs, private JWK files and the actors file. */
static int
make_actors(gkt_daemon *d)
{
    static const char *const teams[GKT_ACTORS] = {"team-platform", "team-orders", "team-growth"};
    static const char *const roles[GKT_ACTORS][2] = {
        {"release-manager", "owner"}, {"owner", NULL}, {"viewer", NULL}};
    json_t *list = json_array();
    char dir[280], *text;
    int rv = 0;

    snprintf(dir, sizeof(dir), "%s/actors", d->dir);
    mkdir(dir, 0700);
    for (int i = 0; i < GKT_ACTORS && rv == 0; i++) {
        unsigned char pk[32];
        char x[64], dd[64];
        json_t *priv;

        crypto_sign_keypair(pk, d->actor_sk[i]);
        sodium_bin2base64(x, sizeof(x), pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_bin2base64(dd, sizeof(dd), d->actor_sk[i], 32,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        priv = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "kid",
                         gkt_actor_ids[i], "x", x, "d", dd);
        text = json_dumps(priv, JSON_COMPACT);
        snprintf(d->actor_key_path[i], sizeof(d->actor_key_path[i]), "%s/%s.jwk", dir,
                 gkt_actor_ids[i]);
        rv = write_or_complain(d->actor_key_path[i], text, 0600);
        free(text);
        json_decref(priv);
        json_array_append_new(list, json_pack("{s:s, s:s, s:[s,s*], s:{s:s, s:s, s:s, s:s}}",
                                              "id", gkt_actor_ids[i], "team", teams[i], "roles",
                                              roles[i][0], roles[i][1], "jwk", "kty", "OKP", "crv",
                                              "Ed25519", "x", x, "kid", gkt_actor_ids[i]));
    }
    {
        json_t *doc = json_pack("{s:o}", "actors", list);
        text = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
    }
    snprintf(d->actors_path, sizeof(d->actors_path), "%s/actors.json", d->dir);
    rv = rv == 0 ? write_or_complain(d->actors_path, text, 0644) : rv;
    free(text);
    return rv;
}

/* Reads "admin URL" / "events URL" / "telemetry URL" lines of the ready file; the first line is a decision URL. */
static void
read_ready(gkt_daemon *d, const char *text)
{
    const char *line;

    sscanf(text, "%255s", d->tcp_url);
    line = strstr(text, "\nadmin ");
    if (line != NULL) {
        sscanf(line + 7, "%255s", d->admin_url);
    }
    line = strstr(text, "\nevents ");
    if (line != NULL) {
        sscanf(line + 8, "%255s", d->events_url);
    }
    line = strstr(text, "\ntelemetry ");
    if (line != NULL) {
        sscanf(line + 11, "%255s", d->telemetry_url);
    }
}

/* Starts the daemon process on d's directory and waits (10 s at most) for its ready file. */
static int
spawn(gkt_daemon *d)
{
    const char *argv[48];
    char ready[300], policies[4096];
    size_t n = 0;
    char *text;
    long long deadline;
    int fd;

    snprintf(ready, sizeof(ready), "%s/ready", d->dir);
    unlink(ready);
    argv[n++] = gkt_env("GK_DAEMON");
    argv[n++] = "serve";
    argv[n++] = "--flags";
    argv[n++] = d->flags_path;
    argv[n++] = "--key";
    argv[n++] = d->key_path;
    argv[n++] = "--data-dir";
    argv[n++] = d->data_dir;
    argv[n++] = "--actors";
    argv[n++] = d->actors_path;
    argv[n++] = "--listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--listen";
    argv[n++] = d->ipc_url;
    argv[n++] = "--admin-listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--events-listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--telemetry-listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    snprintf(policies, sizeof(policies), "%s/integration/policies", gkt_env("GK_TEST_DATA"));
    argv[n++] = "--policies";
    argv[n++] = policies;
    for (size_t i = 0; d->extra != NULL && d->extra[i] != NULL && n < 47; i++) {
        argv[n++] = d->extra[i];
    }
    argv[n] = NULL;
    d->pid = fork();
    if (d->pid == 0) {
        fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *) (uintptr_t) argv);
        _exit(127);
    }
    deadline = gkt_now_ms() + 10000;
    while (gkt_now_ms() < deadline) {
        text = gkt_read_file(ready);
        if (text != NULL) {
            read_ready(d, text);
            free(text);
            return 0;
        }
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            d->pid = 0;
            break;
        }
        gkt_sleep_ms(10);
    }
    fprintf(stderr, "gatekeeper did not become ready within 10 s\n");
    print_log(d);
    return -1;
}

int
gkt_daemon_start(gkt_daemon *d, const char *flags_path, const char *const *extra)
{
    memset(d, 0, sizeof(*d));
    gkt_tempdir(d->dir);
    snprintf(d->flags_path, sizeof(d->flags_path), "%s", flags_path);
    d->extra = extra;
    snprintf(d->log_path, sizeof(d->log_path), "%s/gatekeeper.log", d->dir);
    snprintf(d->ipc_url, sizeof(d->ipc_url), "ipc://%s/decide.sock", d->dir);
    snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
    if (make_key(d) != 0 || make_actors(d) != 0 || spawn(d) != 0) {
        gkt_daemon_stop(d);
        return -1;
    }
    return 0;
}

/* Stops the process: SIGTERM (or `sig`), 10 s, then SIGKILL. Returns its exit status. */
static int
stop_process(gkt_daemon *d, int sig)
{
    int status = 0;

    if (d->pid > 0) {
        kill(d->pid, sig);
        status = gkt_wait_exit(d->pid, 10000);
        if (status < 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
            status = 128 + SIGKILL;
        }
        if (status != 0 && sig == SIGTERM) {
            print_log(d);
        }
        d->pid = 0;
    }
    return status;
}

int
gkt_daemon_restart(gkt_daemon *d, int kill9)
{
    int status = stop_process(d, kill9 ? SIGKILL : SIGTERM);

    if (!kill9 && status != 0) {
        return -1;
    }
    return spawn(d);
}

int
gkt_admin(const gkt_daemon *d, int actor, const char *op, const char *args_json,
          const char *why, unsigned long long base, char **replyp)
{
    json_t *args = args_json != NULL ? json_loads(args_json, 0, NULL) : json_object();
    char *req = NULL;
    size_t len = 0;
    int rv;

    *replyp = NULL;
    if (args == NULL || gkp_admin_request_sign(&req, &len, gkt_actor_ids[actor],
                                               d->actor_sk[actor], op, args, why, base,
                                               (int64_t) time(NULL)) != GK_OK) {
        json_decref(args);
        return NNG_EINVAL;
    }
    rv = gkt_request(d->admin_url, req, len, replyp, 10000);
    free(req);
    json_decref(args);
    return rv;
}

void
gkt_daemon_signal(const gkt_daemon *d, int sig)
{
    if (d->pid > 0) {
        kill(d->pid, sig);
    }
}

int
gkt_daemon_stop(gkt_daemon *d)
{
    int status = stop_process(d, SIGTERM);

    if (d->dir[0] != '\0') {
        gkt_rmtree(d->dir);
        d->dir[0] = '\0';
    }
    return status;
}

int
gkt_request(const char *url, const char *req, size_t len, char **replyp, int timeout_ms)
{
    nng_socket sock;
    nng_msg *msg = NULL;
    int rv;

    *replyp = NULL;
    rv = nng_req0_open(&sock);
    if (rv != 0) {
        return rv;
    }
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 4u << 20);
    rv = nng_dial(sock, url, NULL, 0);
    if (rv == 0) {
        rv = nng_msg_alloc(&msg, 0);
    }
    if (rv == 0) {
        rv = nng_msg_append(msg, req, len);
    }
    if (rv == 0) {
        rv = nng_sendmsg(sock, msg, 0);
        msg = rv == 0 ? NULL : msg;
    }
    if (rv == 0) {
        rv = nng_recvmsg(sock, &msg, 0);
    }
    if (rv == 0) {
        *replyp = malloc(nng_msg_len(msg) + 1);
        memcpy(*replyp, nng_msg_body(msg), nng_msg_len(msg));
        (*replyp)[nng_msg_len(msg)] = '\0';
    }
    nng_msg_free(msg);
    nng_close(sock);
    return rv;
}

int
gkt_log_contains(const gkt_daemon *d, const char *needle, int timeout_ms)
{
    long long deadline = gkt_now_ms() + timeout_ms;

    for (;;) {
        char *log = gkt_read_file(d->log_path);
        int found = log != NULL && strstr(log, needle) != NULL;
        free(log);
        if (found) {
            return 1;
        }
        if (gkt_now_ms() > deadline) {
            return 0;
        }
        gkt_sleep_ms(20);
    }
}
