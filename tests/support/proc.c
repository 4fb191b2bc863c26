/* Test support: child processes with pipes. */
#include "proc.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int child_start(child_t *c, char *const argv[], char *const env_extra[])
{
    memset(c, 0, sizeof *c);
    buf_init(&c->rbuf);
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (size_t i = 0; env_extra && env_extra[i]; i++)
            putenv(env_extra[i]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

int child_write(child_t *c, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t w = write(c->in_fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int child_send(child_t *c, const char *s)
{
    size_t n = strlen(s);
    if (child_write(c, s, n) != 0)
        return -1;
    if (n == 0 || s[n - 1] != '\n')
        return child_write(c, "\n", 1);
    return 0;
}

char *child_read_line(child_t *c, int timeout_ms)
{
    uint64_t deadline = time_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    size_t scanned = 0; /* bytes past roff already known to hold no newline */
    for (;;) {
        size_t avail = c->rbuf.len - c->roff;
        char *start = c->rbuf.data ? c->rbuf.data + c->roff : NULL;
        char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - start);
            char *line = xstrndup(start, n);
            c->roff += n + 1;
            if (c->roff == c->rbuf.len)
                c->roff = c->rbuf.len = 0;
            return line;
        }
        scanned = avail;
        uint64_t now = time_now_ns();
        if (now >= deadline)
            return NULL;
        struct pollfd pfd = {.fd = c->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        if (c->roff > 65536) { /* drop what was consumed before growing */
            memmove(c->rbuf.data, c->rbuf.data + c->roff, avail);
            c->rbuf.len = avail;
            c->roff = 0;
        }
        buf_reserve(&c->rbuf, 65536);
        ssize_t got = read(c->out_fd, c->rbuf.data + c->rbuf.len, 65536);
        if (got <= 0)
            return NULL;
        c->rbuf.len += (size_t)got;
    }
}

char *child_read_stderr(child_t *c)
{
    buf_t b;
    buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(c->err_fd, chunk, sizeof chunk)) > 0)
        buf_append(&b, chunk, (size_t)n);
    if (!b.data)
        buf_puts(&b, "");
    return buf_take(&b);
}

void child_close_stdin(child_t *c)
{
    if (c->in_fd >= 0) {
        close(c->in_fd);
        c->in_fd = -1;
    }
}

int child_wait(child_t *c, int timeout_ms)
{
    uint64_t deadline = time_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    int status;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid)
            break;
        if (time_now_ns() >= deadline) {
            child_kill(c);
            return -1;
        }
        usleep(2000);
    }
    close(c->out_fd);
    close(c->err_fd);
    child_close_stdin(c);
    buf_free(&c->rbuf);
    c->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void child_kill(child_t *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    close(c->out_fd);
    close(c->err_fd);
    child_close_stdin(c);
    buf_free(&c->rbuf);
    c->pid = 0;
}

int child_run(char *const argv[], char **out, char **err, int timeout_ms)
{
    child_t c;
    *out = *err = NULL;
    if (child_start(&c, argv, NULL) != 0)
        return -1;
    child_close_stdin(&c);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "");
    char *line;
    while ((line = child_read_line(&c, timeout_ms)) != NULL) {
        buf_puts(&b, line);
        buf_putc(&b, '\n');
        free(line);
    }
    *err = child_read_stderr(&c); /* before the wait, which closes the pipe */
    *out = buf_take(&b);
    return child_wait(&c, timeout_ms);
}

json_t *run_metrics(const char *run_dir)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/logs/metrics.jsonl", run_dir);
    size_t n;
    err_t e;
    char *text = file_read(p.data, &n, &e);
    buf_free(&p);
    if (!text)
        return NULL;
    json_t *a = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        json_array_append_new(a, json_loads(line, 0, NULL));
    free(text);
    return a;
}
