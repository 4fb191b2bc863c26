/* The stdio transport: one JSON message per line on stdin and stdout.
 *
 * Two threads share two roles, leader/follower style: reading stdin and
 * running requests. The thread that reads a request runs it itself, so a
 * request goes from read() to its reply with no thread switch and no
 * system call besides the read and the write. The other thread watches:
 * while requests are being served it wakes every WATCH_NS and, if nobody
 * is reading, takes over stdin - so during a long query ping and
 * cancellation are still answered, within a few milliseconds. When the
 * server is quiet it sleeps until woken. Replies are written whole, one
 * line each, under one lock. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcp.h"

#define WATCH_NS 2000000ull /* 2 ms */

typedef struct job {
    json_t *msg;
    struct job *next;
} job;

typedef struct stdio_state {
    mcp_server *server;
    mcp_session session;
    int in_fd, out_fd;
    pthread_mutex_t out_lock;
    int out_broken;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    job *head, *tail;
    int reading;   /* a thread holds the reading role */
    int executing; /* a thread is running a request */
    int eof;
    int deep_waiting;       /* the other thread sleeps until signalled */
    uint64_t exec_start_ns; /* when the running request started */
    uint64_t last_exec_ns;  /* when the last request finished */

    /* input buffer: only the thread holding the reading role touches it */
    buf_t in;
    size_t in_off;
    int skipping; /* inside an over-long line */
} stdio_state;

static void write_line(stdio_state *st, const char *line, size_t n)
{
    pthread_mutex_lock(&st->out_lock);
    /* One write for the line and its newline keeps lines whole even if
     * another writer (a log notification) comes next. */
    char *copy = NULL;
    const char *p = line;
    size_t left = n + 1;
    if (n && line[n] != '\n') {
        copy = xmalloc(n + 1);
        memcpy(copy, line, n);
        copy[n] = '\n';
        p = copy;
    }
    while (left && !st->out_broken) {
        ssize_t w = write(st->out_fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st->out_broken = 1;
            log_warn("stdout closed; replies can no longer be sent");
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    free(copy);
    pthread_mutex_unlock(&st->out_lock);
}

static void send_json(stdio_state *st, json_t *msg)
{
    if (!msg)
        return;
    /* With its newline, so the line goes out in one write. */
    buf_t b;
    buf_init(&b);
    mcp_dump_buf(msg, &b);
    buf_putc(&b, '\n');
    write_line(st, b.data, b.len - 1);
    buf_free(&b);
    json_decref(msg);
}

static void emit_line(void *ctx, const char *line)
{
    write_line(ctx, line, strlen(line));
}

/* Messages the reader answers itself: ping requests and cancellations. */
static int handled_inline(json_t *msg)
{
    if (!json_is_object(msg))
        return 0;
    const char *m = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!m)
        return 0;
    return (!strcmp(m, "notifications/cancelled") && !id) || (!strcmp(m, "ping") && id);
}

enum { LINE_OK, LINE_TOO_LONG, LINE_EOF };

/* Next line from stdin (without its newline) into line and len, pointing
 * into st->in. An over-long line is skipped to its end. */
static int read_line(stdio_state *st, const char **line, size_t *len)
{
    for (;;) {
        char *start = st->in.data ? st->in.data + st->in_off : NULL;
        size_t avail = st->in.len - st->in_off;
        char *nl = avail ? memchr(start, '\n', avail) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - start);
            st->in_off += n + 1;
            if (st->skipping) {
                st->skipping = 0;
                return LINE_TOO_LONG;
            }
            *line = start;
            *len = n;
            return LINE_OK;
        }
        /* compact, then read more */
        if (st->in_off) {
            memmove(st->in.data, st->in.data + st->in_off, avail);
            st->in.len = avail;
            st->in_off = 0;
        }
        if (st->in.len > MCP_MAX_MESSAGE) {
            st->skipping = 1;
            st->in.len = 0;
        }
        buf_reserve(&st->in, 65536);
        ssize_t r = read(st->in_fd, st->in.data + st->in.len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* A last message without a newline still counts. */
            if (st->in.len && !st->skipping) {
                *line = st->in.data;
                *len = st->in.len;
                st->in.len = 0;
                return LINE_OK;
            }
            return LINE_EOF;
        }
        st->in.len += (size_t)r;
    }
}

/* Turns one line into a job, an inline reply or an error reply. Returns
 * a job to run, or NULL. */
static job *take_line(stdio_state *st, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (!len)
        return NULL;
    json_t *reply;
    json_t *msg = mcp_parse(line, len, &reply);
    if (!msg) {
        send_json(st, reply);
        return NULL;
    }
    if (handled_inline(msg)) {
        send_json(st, mcp_server_handle(st->server, &st->session, msg, NULL));
        json_decref(msg);
        return NULL;
    }
    job *j = xcalloc(1, sizeof *j);
    j->msg = msg;
    return j;
}

static void *thread_main(void *arg)
{
    stdio_state *st = arg;
    mcp_emitter em = {emit_line, st};
    pthread_mutex_lock(&st->lock);
    for (;;) {
        if (st->head && !st->executing) {
            job *j = st->head;
            st->head = j->next;
            if (!st->head)
                st->tail = NULL;
            st->executing = 1;
            st->exec_start_ns = time_now_ns();
            /* The other thread must watch stdin while this call runs. */
            if (st->deep_waiting)
                pthread_cond_signal(&st->cond);
            pthread_mutex_unlock(&st->lock);
            send_json(st, mcp_server_handle(st->server, &st->session, j->msg, &em));
            json_decref(j->msg);
            free(j);
            pthread_mutex_lock(&st->lock);
            st->executing = 0;
            st->last_exec_ns = time_now_ns();
            if (st->eof)
                pthread_cond_broadcast(&st->cond);
            continue;
        }
        /* Read when nobody does - but while the other thread runs a request,
         * only once that request has run for WATCH_NS: short calls do not
         * need a second reader, and two busy threads would contend. */
        if (!st->reading && !st->eof &&
            (!st->executing || time_now_ns() - st->exec_start_ns >= WATCH_NS)) {
            st->reading = 1;
            pthread_mutex_unlock(&st->lock);
            const char *line;
            size_t len;
            job *j = NULL;
            int rc;
            while ((rc = read_line(st, &line, &len)) != LINE_EOF) {
                if (rc == LINE_TOO_LONG) {
                    char m[128];
                    snprintf(m, sizeof m, "Parse error: message exceeds the limit of %u bytes",
                             MCP_MAX_MESSAGE);
                    send_json(st, mcp_error_reply(NULL, MCP_PARSE_ERROR, m, NULL));
                    continue;
                }
                if ((j = take_line(st, line, len)) != NULL)
                    break;
            }
            pthread_mutex_lock(&st->lock);
            st->reading = 0;
            if (j) {
                if (st->tail)
                    st->tail->next = j;
                else
                    st->head = j;
                st->tail = j;
            }
            if (rc == LINE_EOF) {
                st->eof = 1;
                pthread_cond_broadcast(&st->cond);
            }
            continue;
        }
        if (st->eof && !st->head && !st->executing)
            break;
        if (st->executing || time_now_ns() - st->last_exec_ns < WATCH_NS) {
            /* Requests are being served: check back soon, without anyone
             * having to wake us for each one. */
            struct timespec ts;
            uint64_t now = time_now_ns(), until = now + WATCH_NS;
            if (st->executing && st->exec_start_ns + WATCH_NS > now)
                until = st->exec_start_ns + WATCH_NS;
            ts.tv_sec = (time_t)(until / 1000000000ull);
            ts.tv_nsec = (long)(until % 1000000000ull);
            pthread_cond_timedwait(&st->cond, &st->lock, &ts);
            continue;
        }
        st->deep_waiting = 1;
        pthread_cond_wait(&st->cond, &st->lock);
        st->deep_waiting = 0;
    }
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd)
{
    signal(SIGPIPE, SIG_IGN);
    stdio_state st;
    memset(&st, 0, sizeof st);
    st.server = s;
    st.in_fd = in_fd;
    st.out_fd = out_fd;
    buf_init(&st.in);
    mcp_session_init(&st.session);
    pthread_mutex_init(&st.out_lock, NULL);
    pthread_mutex_init(&st.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* time_now_ns() is monotonic */
    pthread_cond_init(&st.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t other;
    int have_other = pthread_create(&other, NULL, thread_main, &st) == 0;
    if (!have_other)
        log_warn("cannot start a second thread (%s): ping and cancellation wait for running "
                 "calls", strerror(errno));
    thread_main(&st);
    if (have_other)
        pthread_join(other, NULL);
    /* Requests still queued when stdin closed have been answered above. */
    buf_free(&st.in);
    pthread_mutex_destroy(&st.out_lock);
    pthread_mutex_destroy(&st.lock);
    pthread_cond_destroy(&st.cond);
    return 0;
}
