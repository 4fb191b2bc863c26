/* Test support: run a child process with pipes to its stdin/stdout (the
 * stdio MCP transport), read its lines with a time limit. */
#ifndef RETRAIN_TEST_PROC_H
#define RETRAIN_TEST_PROC_H

#include <sys/types.h>

#include "../../src/base/base.h"

typedef struct child {
    pid_t pid;
    int in_fd;   /* we write here: the child's stdin */
    int out_fd;  /* we read here: the child's stdout */
    int err_fd;  /* the child's stderr */
    buf_t rbuf;  /* stdout bytes read so far; unread ones start at roff */
    size_t roff;
} child_t;

/* Starts argv[0] with argv; env_extra is a NULL-terminated list of
 * "K=V" strings added to (or replacing in) the environment. */
int child_start(child_t *c, char *const argv[], char *const env_extra[]);
/* Writes all of s, then a newline unless s ends with one. */
int child_send(child_t *c, const char *s);
int child_write(child_t *c, const void *p, size_t n);
/* Reads one line (without the newline) within timeout_ms; NULL on timeout
 * or end of output. Caller frees. */
char *child_read_line(child_t *c, int timeout_ms);
/* Everything the child wrote on stderr so far (non-blocking). */
char *child_read_stderr(child_t *c);
void child_close_stdin(child_t *c);
/* Waits up to timeout_ms; returns the exit status, or -1 (then kills it). */
int child_wait(child_t *c, int timeout_ms);
void child_kill(child_t *c);
/* Runs argv to its end with stdin closed: *out gets stdout (each line
 * with its newline; "" when there was none), *err stderr; returns the exit
 * status, -1 if it could not start or ran past timeout_ms between lines. */
int child_run(char *const argv[], char **out, char **err, int timeout_ms);
/* child_run of the retrain binary under test: `retrain [sub] args...`
 * (args NULL-terminated, at most 60). */
int retrain_run(const char *sub, char *const args[], char **out, char **err, int timeout_ms);

/* A run folder's logs/metrics.jsonl as an array of its objects; NULL when
 * the file cannot be read. */
struct json_t;
struct json_t *run_metrics(const char *run_dir);

#endif
