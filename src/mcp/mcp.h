/* mcp: the Model Context Protocol - JSON-RPC messages, the server core
 * (protocol, tool registry, cancellation), the database tools, and the
 * stdio and Streamable HTTP transports.
 *
 * The core is transport-neutral: a transport parses a message, hands it to
 * mcp_server_handle() with the session it belongs to, and sends back the
 * reply (if any). Notifications the server emits while handling a request
 * (log messages, progress) go through the mcp_emitter the transport gives. */
#ifndef RETRAIN_MCP_H
#define RETRAIN_MCP_H

#include <jansson.h>
#include <pthread.h>

#include "../base/base.h"
#include "../db/db.h"

/* Protocol versions we speak, oldest first; the last is the latest. */
extern const char *const mcp_protocol_versions[];
extern const size_t mcp_protocol_nversions;
#define MCP_LATEST_VERSION "2025-11-25"
/* 1 if v is one of mcp_protocol_versions. */
int mcp_version_supported(const char *v);

/* JSON-RPC error codes. */
enum {
    MCP_PARSE_ERROR = -32700,
    MCP_INVALID_REQUEST = -32600,
    MCP_METHOD_NOT_FOUND = -32601,
    MCP_INVALID_PARAMS = -32602,
    MCP_INTERNAL_ERROR = -32603,
};

/* Largest message we accept (bytes); larger ones get a clear error. */
#define MCP_MAX_MESSAGE (64u << 20)

/* ---- building messages ---- */
json_t *mcp_error_reply(json_t *id, int code, const char *message, json_t *data);
json_t *mcp_result_reply(json_t *id, json_t *result); /* steals result */
json_t *mcp_notification(const char *method, json_t *params); /* steals params */
/* One line of compact JSON (no newline inside; UTF-8 kept as is). */
char *mcp_dump(const json_t *msg);
/* The same, appended to b. */
void mcp_dump_buf(const json_t *msg, buf_t *b);
/* Parses one message; on failure returns NULL and *reply is the -32700
 * error to send (caller frees it). */
json_t *mcp_parse(const char *text, size_t len, json_t **reply);

/* ---- sessions ---- */
typedef struct mcp_session {
    char id[64];                 /* HTTP Mcp-Session-Id; "" for stdio */
    char protocol_version[16];   /* negotiated by initialize */
    int initialize_seen;
    int initialized;             /* notifications/initialized received */
    int log_level;               /* lowest level sent as notifications/message;
                                    0..7 = debug..emergency, 8 = off */
    char client_name[128];
} mcp_session;
void mcp_session_init(mcp_session *s);

/* Where notifications raised while handling a request go. */
typedef struct mcp_emitter {
    void (*send)(void *ctx, const char *json_line);
    void *ctx;
} mcp_emitter;

/* ---- tools ---- */
typedef struct mcp_call {
    struct mcp_server *server;
    mcp_session *session;
    const mcp_emitter *emitter; /* may be NULL */
    json_t *progress_token;     /* from _meta, may be NULL */
    json_t *meta;               /* the request's _meta object, may be NULL */
    /* A tool may set *structured to a new object: it becomes the result's
     * structuredContent (with "result": text added for clients of
     * 2025-06-18 and later, whose outputSchema names it). */
    json_t **structured;
} mcp_call;

typedef struct mcp_tool_def {
    const char *name;
    /* Description text; called for every tools/list (it may name the
     * database version, known only once connected). Caller frees. */
    char *(*description)(void *ud);
    /* JSON Schema of the arguments (a new reference). */
    json_t *(*input_schema)(void *ud);
    /* Annotations such as readOnlyHint, or NULL. */
    json_t *(*annotations)(void *ud);
    /* Runs the tool with validated arguments; appends the text result and
     * returns 0, or 1 for a tool error (isError: true). */
    int (*call)(void *ud, const mcp_call *call, json_t *args, buf_t *text);
    void *ud;
} mcp_tool_def;

typedef struct mcp_server mcp_server;

mcp_server *mcp_server_new(const char *name, const char *version);
void mcp_server_free(mcp_server *s);
void mcp_server_add_tool(mcp_server *s, const mcp_tool_def *def);
/* Hands p to the server, which calls free_fn(p) when it is freed (tool
 * state that lives as long as the server). */
void mcp_server_own(mcp_server *s, void *p, void (*free_fn)(void *));
/* Hooks around tool calls: begin() runs before each call (clears any stale
 * interrupt), cancel() stops the running one from another thread. */
void mcp_server_set_call_hooks(mcp_server *s, void (*begin)(void *), void (*cancel)(void *),
                               void *ud);

/* Handles one parsed message (object or batch array). Returns the reply
 * to send (caller frees), or NULL when there is none (notifications,
 * responses, cancelled requests). Thread-safe: tools/call and tools/list
 * (whose descriptions may touch the connection) run one at a time, while
 * ping and cancellation are answered at once. */
json_t *mcp_server_handle(mcp_server *s, mcp_session *sess, json_t *msg, const mcp_emitter *em);

/* Sends notifications/message to the client when the session's level
 * allows it (level: 0 debug .. 7 emergency). */
void mcp_log_to_client(const mcp_call *call, int level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks args against a tool's input schema (types, required members);
 * a JSON text given where an object or array is expected is parsed, as
 * FastMCP does. Returns 0, or -1 with a readable reason in why. */
int mcp_validate_args(json_t *schema, json_t *args, buf_t *why);
/* The client's check before it sends a call: the same subset plus enum,
 * a list of types, and additionalProperties (false: no unknown members;
 * a schema: unknown members must match it). Never changes args. Returns 0,
 * or -1 with the reason in why ("'a' must be a number, got string"). */
int mcp_check_args(json_t *schema, json_t *args, buf_t *why);

/* ---- the database tools (mcp-alchemy's four) ---- */
typedef struct mcp_db_config {
    long max_chars;              /* EXECUTE_QUERY_MAX_CHARS, default 4000 */
    const char *local_files_path; /* CLAUDE_LOCAL_FILES_PATH or NULL */
} mcp_db_config;
/* Registers all_table_names, filter_table_names, schema_definitions and
 * execute_query over conn (not owned). cfg is copied. */
void mcp_db_tools_register(mcp_server *s, db_conn *conn, const mcp_db_config *cfg);

/* The text execute_query returns for sql/params (used by the tool and by
 * tests and benchmarks that call it in-process). */
void mcp_db_execute_query_text(db_conn *conn, const mcp_db_config *cfg, const char *sql,
                               json_t *params, buf_t *out);

/* Typed rows (retrain's extension, for scoring): a tools/call of
 * execute_query whose params carry "_meta": {"retrain/rows": true} gets,
 * besides the unchanged text, a structuredContent of
 *   {"columns": ["name", ...],
 *    "rows": [[value, ...], ...],   every row, up to MCP_DB_ROWS_MAX rows
 *                                   and about MCP_DB_ROWS_MAX_BYTES of JSON
 *    "truncated": false}            true when more rows were left out
 * (plus "result": the text, for clients of protocol 2025-06-18 and later).
 * Values: integers and floats as JSON numbers (floats in their shortest
 * round-trip form, so they parse back to the same double; inf and nan,
 * which JSON lacks, as the strings "inf", "-inf", "nan"), NULL as null,
 * booleans as true/false, text as strings, blobs as base64 strings (RFC
 * 4648, with padding), and everything else (dates, decimals, big integers,
 * intervals) as the string the text shows. A statement without rows gives
 * empty columns and rows; a failed query (text "Error: ...") gives none.
 * The rows come from the same single run of the query as the text. */
#define MCP_DB_ROWS_MAX 100000
#define MCP_DB_ROWS_MAX_BYTES (32u << 20) /* well under clients' 64 MiB message limit */
/* The same text, and *rows the structuredContent above (a new object;
 * NULL when the query failed). */
void mcp_db_execute_query_rows(db_conn *conn, const mcp_db_config *cfg, const char *sql,
                               json_t *params, buf_t *out, json_t **rows);

/* ---- transports ---- */
/* Serves one session over stdin/stdout until stdin closes. Returns the
 * process exit status. */
int mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd);

typedef struct mcp_http_options {
    const char *host;        /* bind address, default 127.0.0.1 */
    int port;                /* 0 picks a free port */
    const char *token;       /* bearer token required if non-NULL */
    const char *const *allowed_origins; /* NULL-terminated extra origins */
    int sse_replies;         /* 1: answer requests as SSE streams; 0: JSON
                                unless the request asks for progress */
    void (*on_listening)(int port, void *ud); /* called once bound */
    void *ud;
} mcp_http_options;
/* Serves Streamable HTTP at /mcp until SIGINT/SIGTERM (or
 * mcp_http_stop()). Returns 0 on a clean stop, -1 with e filled if it
 * could not start. */
int mcp_http_serve(mcp_server *s, const mcp_http_options *o, err_t *e);
/* HTTP sessions kept at once; when full, the one idle longest makes room
 * (its client gets 404 and initializes again). */
#define MCP_HTTP_MAX_SESSIONS 1024
void mcp_http_stop(void);

#endif
