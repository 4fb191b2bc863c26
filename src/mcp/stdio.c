/* The stdio transport: one JSON message per line on stdin and stdout.
 *
 * A reader thread (the caller's) parses lines; ping and cancellation are
 * answered at once, everything else goes in order to a worker thread, so a
 * client can cancel or ping while a long query runs. Replies and
 * notifications are written whole, one line each, under one lock. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp.h"

typedef struct job {
    json_t *msg;
    struct job *next;
} job;

typedef struct stdio_state {
    mcp_server *server;
    mcp_session session;
    int out_fd;
    pthread_mutex_t out_lock;
    int out_broken;

    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    job *head, *tail;
    int closing;
} stdio_state;

static void write_line(stdio_state *st, const char *line)
{
    pthread_mutex_lock(&st->out_lock);
    if (!st->out_broken) {
        size_t n = strlen(line);
        struct iovec_like {
            const char *p;
            size_t n;
        } parts[2] = {{line, n}, {"\n", 1}};
        for (int k = 0; k < 2 && !st->out_broken; k++) {
            const char *p = parts[k].p;
            size_t left = parts[k].n;
            while (left) {
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
        }
    }
    pthread_mutex_unlock(&st->out_lock);
}

static void send_json(stdio_state *st, json_t *msg)
{
    if (!msg)
        return;
    char *line = mcp_dump(msg);
    write_line(st, line);
    free(line);
    json_decref(msg);
}

static void emit_line(void *ctx, const char *line)
{
    write_line(ctx, line);
}

static void *worker_main(void *arg)
{
    stdio_state *st = arg;
    mcp_emitter em = {emit_line, st};
    for (;;) {
        pthread_mutex_lock(&st->q_lock);
        while (!st->head && !st->closing)
            pthread_cond_wait(&st->q_cond, &st->q_lock);
        job *j = st->head;
        if (j) {
            st->head = j->next;
            if (!st->head)
                st->tail = NULL;
        }
        pthread_mutex_unlock(&st->q_lock);
        if (!j)
            break; /* closing and drained */
        send_json(st, mcp_server_handle(st->server, &st->session, j->msg, &em));
        json_decref(j->msg);
        free(j);
    }
    return NULL;
}

/* Messages the reader answers itself, so they are not stuck behind a
 * running query: ping requests and cancellation notifications. */
static int handled_inline(json_t *msg)
{
    if (!json_is_object(msg))
        return 0;
    const char *m = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!m)
        return 0;
    if (!strcmp(m, "notifications/cancelled") && !id)
        return 1;
    if (!strcmp(m, "ping") && id)
        return 1;
    return 0;
}

static void dispatch(stdio_state *st, const char *line, size_t len)
{
    /* Blank lines (and a lone \r) between messages are not messages. */
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (!len)
        return;
    json_t *reply;
    json_t *msg = mcp_parse(line, len, &reply);
    if (!msg) {
        send_json(st, reply);
        return;
    }
    if (handled_inline(msg)) {
        send_json(st, mcp_server_handle(st->server, &st->session, msg, NULL));
        json_decref(msg);
        return;
    }
    job *j = xcalloc(1, sizeof *j);
    j->msg = msg;
    pthread_mutex_lock(&st->q_lock);
    if (st->tail)
        st->tail->next = j;
    else
        st->head = j;
    st->tail = j;
    pthread_cond_signal(&st->q_cond);
    pthread_mutex_unlock(&st->q_lock);
}

int mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd)
{
    signal(SIGPIPE, SIG_IGN);
    stdio_state st;
    memset(&st, 0, sizeof st);
    st.server = s;
    st.out_fd = out_fd;
    mcp_session_init(&st.session);
    pthread_mutex_init(&st.out_lock, NULL);
    pthread_mutex_init(&st.q_lock, NULL);
    pthread_cond_init(&st.q_cond, NULL);
    pthread_t worker;
    if (pthread_create(&worker, NULL, worker_main, &st) != 0) {
        log_error("cannot start the worker thread: %s", strerror(errno));
        return 1;
    }

    /* Lines are read in chunks; an over-long line is skipped to its end
     * and answered with one parse error, so the stream stays in sync. */
    buf_t line;
    buf_init(&line);
    int skipping = 0;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(in_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t off = 0;
        while (off < (size_t)n) {
            char *nl = memchr(chunk + off, '\n', (size_t)n - off);
            size_t take = nl ? (size_t)(nl - chunk) - off : (size_t)n - off;
            if (!skipping) {
                if (line.len + take > MCP_MAX_MESSAGE) {
                    skipping = 1;
                    buf_free(&line);
                } else {
                    buf_append(&line, chunk + off, take);
                }
            }
            off += take;
            if (nl) {
                off++;
                if (skipping) {
                    char m[128];
                    snprintf(m, sizeof m,
                             "Parse error: message exceeds the limit of %u bytes", MCP_MAX_MESSAGE);
                    send_json(&st, mcp_error_reply(NULL, MCP_PARSE_ERROR, m, NULL));
                    skipping = 0;
                } else {
                    dispatch(&st, line.data ? line.data : "", line.len);
                }
                buf_reset(&line);
            }
        }
    }
    /* A last message without a newline still counts. */
    if (!skipping && line.len)
        dispatch(&st, line.data, line.len);
    buf_free(&line);

    /* stdin closed: finish what was asked, then exit. */
    pthread_mutex_lock(&st.q_lock);
    st.closing = 1;
    pthread_cond_signal(&st.q_cond);
    pthread_mutex_unlock(&st.q_lock);
    pthread_join(worker, NULL);
    pthread_mutex_destroy(&st.out_lock);
    pthread_mutex_destroy(&st.q_lock);
    pthread_cond_destroy(&st.q_cond);
    return 0;
}
