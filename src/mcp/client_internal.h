/* The MCP client's pieces: the protocol core (client.c) over two
 * transports, a child process on pipes (client_stdio.c) and Streamable
 * HTTP through libcurl (client_http.c). Not a public header. */
#ifndef RETRAIN_MCP_CLIENT_INTERNAL_H
#define RETRAIN_MCP_CLIENT_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>

#include "mcp.h"
#include "mcp_client.h"

/* Outcomes of one exchange with a server. */
enum {
    RPC_OK = 0,
    RPC_FAIL = -1,    /* an error reply, a protocol violation, a transport error */
    RPC_DEAD = -2,    /* the child died (EOF, EPIPE): start it again and retry */
    RPC_TIMEOUT = -3, /* no reply within the time limit */
    RPC_GONE = -4,    /* HTTP 404 on our session: initialize again and retry */
};

typedef struct client_stdio {
    char *command;  /* as configured */
    strlist_t args; /* argv[1..] */
    strlist_t env;  /* "K=V" the config adds */
    char *cwd;      /* the folder it runs in, or NULL: ours */
    pid_t pid;      /* 0 when not running */
    int in_fd, out_fd, err_fd;
    buf_t rbuf; /* stdout bytes read, unread ones from roff */
    size_t roff;
    pthread_t err_thread;
    int err_thread_on;
    volatile int err_stop;
    pthread_mutex_t err_lock;
    char last_err[512]; /* the child's last stderr line */
    char garbage[160];  /* the first stdout line that was not JSON-RPC */
    int exit_status;    /* from waitpid once reaped, -1 before */
} client_stdio;

typedef struct client_http {
    char *url;
    strlist_t headers; /* "K: V" the config adds */
    void *curl;        /* CURL *, made on first use */
    char session_id[256];
} client_http;

struct mcp_client {
    mcp_servers *mgr;
    char *name;
    int is_http;
    client_stdio io;
    client_http http;

    pthread_mutex_t lock; /* one exchange at a time */
    int running;          /* started and initialized */
    int ever_started;
    int restarts;
    char protocol_version[16];
    long long next_id;

    int tools_loaded;
    json_t *tools_json; /* array of the raw tool objects */
    mcp_tool *tools;
    size_t ntools;
};

/* ---- transports: each returns an RPC_* code and fills e ---- */

/* Starts the child (no protocol yet). */
int stdio_start(mcp_client *c, err_t *e);
/* Sends one message line. */
int stdio_send(mcp_client *c, const json_t *msg, err_t *e);
/* Reads until the response to id arrives (answering the server's own
 * requests on the way), or deadline_ns (time_now_ns clock) passes. */
int stdio_wait(mcp_client *c, json_t *id, uint64_t deadline_ns, json_t **resp, err_t *e);
/* Close stdin, 2 s, SIGTERM, 2 s, SIGKILL; reaps the child. */
void stdio_stop(mcp_client *c);
void stdio_deinit(client_stdio *io);

/* POSTs msg; for a request (id != NULL) waits for its response (a JSON
 * body or an SSE stream) until deadline_ns. */
int http_post(mcp_client *c, const json_t *msg, json_t *id, uint64_t deadline_ns, json_t **resp,
              err_t *e);
/* DELETEs the session (if any) and forgets it. */
void http_stop(mcp_client *c);
void http_deinit(client_http *h);

/* The JSON-RPC response matching id, from one parsed message (a batch
 * array is searched); NULL if msg is something else. */
json_t *client_match_response(json_t *msg, json_t *id);
/* What to answer a request the server sent us (ping: {}, others: method
 * not found); NULL for notifications and responses. */
json_t *client_answer_server_request(mcp_client *c, json_t *msg);

#endif
