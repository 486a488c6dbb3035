/*
 * procs.h - child processes of the harness: this executable run again in another mode (the echo
 * server, a throughput client), talking to the harness through its standard input and output.
 * Every child is started with posix_spawn (never a bare fork once nng runs in the parent).
 *
 * THREAD SAFETY: for the harness's main thread.
 */
#ifndef GKB_PROCS_H
#define GKB_PROCS_H

#include <stddef.h>
#include <sys/types.h>

/* A running child: its pid, the write end of its stdin and the read end of its stdout. */
typedef struct gkb_child {
    pid_t pid;
    int in_fd;
    int out_fd;
} gkb_child;

/*
 * gkb_spawn - start argv (argv[0] a path, NULL-terminated) with pipes on its stdin and stdout;
 * its stderr is ours. Returns 0, or -1 (reason on stderr).
 */
int gkb_spawn(gkb_child *c, const char *const argv[]);

/*
 * gkb_child_readline - read one line of the child's stdout into buf (NUL-terminated, without the
 * newline), waiting at most timeout_ms. Returns 0, or -1 on timeout, end of file or error.
 */
int gkb_child_readline(gkb_child *c, char *buf, size_t size, int timeout_ms);

/* gkb_child_write - write a text line (with its newline) to the child's stdin; 0 or -1. */
int gkb_child_write(gkb_child *c, const char *line);

/*
 * gkb_child_finish - close the child's stdin (its signal to stop), wait at most timeout_ms for it
 * to exit, kill it after that. Returns its exit status (128+signal when killed).
 */
int gkb_child_finish(gkb_child *c, int timeout_ms);

/*
 * gkb_client_main - the throughput client (`gk-bench --client sdk|echo --url URL [--jwks FILE]
 * [--reply-bytes N] --seconds S`): open one SDK client with the cache off (sdk) or one echo
 * client (echo), warm up, print "ready", wait for a line on stdin, then make sequential requests
 * for S seconds and print "COUNT ERRORS ELAPSED_NS CPU_NS SWITCHES": the requests answered and
 * failed, the wall-clock time they took, the CPU time this process used over that time (user and
 * system, all threads) and its context switches (voluntary and involuntary) over it. Returns the
 * exit status (0, 1 on failure).
 */
int gkb_client_main(const char *kind, const char *url, const char *jwks, size_t reply_bytes,
                    double seconds);

#endif
