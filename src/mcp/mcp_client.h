/* mcp client: start the MCP servers a config names, discover their tools,
 * call them.
 *
 * A config is Claude Desktop's `mcpServers` object, as a file or as a
 * parsed value (a training config embeds it):
 *
 *   {"mcpServers": {
 *      "db":  {"command": "retrain", "args": ["mcp-db"],
 *              "env": {"DB_URL": "sqlite:////abs/chinook.sqlite"}},
 *      "web": {"url": "http://127.0.0.1:8000/mcp"}}}
 *
 * or a plain `{"mcp_server_url": "http://127.0.0.1:8000/mcp"}` (one server,
 * named "default"). Entries with `command` run as child processes over
 * stdio; entries with `url` speak Streamable HTTP (through libcurl).
 *
 * Servers start lazily, on the first mcp_client_get() of their name, and
 * are then reused for every call until mcp_servers_free(). A child that
 * died is started again (and initialized again) on the next call, which is
 * retried once; mcp_client_restarts() counts these. Everything here is
 * thread-safe; calls to one server run one at a time. The first
 * mcp_client_get() sets SIGPIPE to be ignored in this process (writing to
 * a server that died must fail with EPIPE, not end us).
 *
 * Child servers get only HOME, LOGNAME, PATH, SHELL, TERM and USER from
 * our environment, plus the entry's `env` (what the SDK clients do). Their
 * stderr goes to our log, one line at a time, prefixed with their name.
 * A `command` of "retrain" that is not on PATH runs this very binary.
 *
 * Errors: functions that can fail return 0 or -1 and fill an err_t with
 * one line. A tool call that fails in a way the model should see (unknown
 * tool, arguments that fail the tool's schema, the server's own isError,
 * a JSON-RPC error reply, the time limit) is NOT a -1: it is a result with
 * is_error set and a readable text, to hand back to the model. -1 means the
 * server itself is unusable (cannot start, died twice, broke the protocol). */
#ifndef RETRAIN_MCP_CLIENT_H
#define RETRAIN_MCP_CLIENT_H

#include <jansson.h>

#include "../base/base.h"

typedef struct mcp_servers mcp_servers;
typedef struct mcp_client mcp_client;

/* ---- the manager: N named servers from one config ---- */

/* Reads a config file (see above). NULL and e filled ("FILE: ...") on a
 * malformed config; no server is started yet. */
mcp_servers *mcp_servers_load(const char *path, err_t *e);
/* The same from a parsed config; `where` names it in errors (a file name,
 * "train.json: mcp"). The config is copied. */
mcp_servers *mcp_servers_from_json(const json_t *config, const char *where, err_t *e);
/* Shuts every started server down (stdio: close its stdin, wait 2 s,
 * SIGTERM, 2 s, SIGKILL, reap; HTTP: DELETE the session) and frees all. */
void mcp_servers_free(mcp_servers *m);

/* Servers in the config, in its order. */
size_t mcp_servers_count(const mcp_servers *m);
const char *mcp_servers_name(const mcp_servers *m, size_t i);
/* Time limit for starting a server and for each protocol request other
 * than tools/call (initialize, tools/list, ping), in ms; default 30000. */
void mcp_servers_set_request_timeout(mcp_servers *m, int timeout_ms);

/* The server called name (NULL: the config's first), started and
 * initialized on first use. NULL with e filled if it cannot start. */
mcp_client *mcp_client_get(mcp_servers *m, const char *name, err_t *e);

/* ---- one server ---- */

typedef struct mcp_tool {
    const char *server; /* the server's name in the config */
    const char *name;
    const char *description; /* "" when the server gives none */
    json_t *input_schema;    /* JSON Schema of the arguments (borrowed) */
    json_t *raw;             /* the whole tool object from tools/list (borrowed) */
} mcp_tool;

/* The server's tools (tools/list, every page, fetched once and kept; the
 * array lives as long as the manager). */
int mcp_client_tools(mcp_client *c, const mcp_tool **tools, size_t *ntools, err_t *e);

typedef struct mcp_result {
    char *text;   /* the text content items joined by "\n" ("" if none) */
    int is_error; /* the server's isError, or a local error (see above) */
    json_t *raw;  /* the whole result object (structuredContent, content,
                     _meta...); NULL for results made here */
} mcp_result;
void mcp_result_free(mcp_result *r);

/* tools/call TOOL with ARGS_JSON (a JSON object as text; NULL or "" for
 * {}), waiting at most timeout_ms (<= 0: the request timeout). The
 * arguments are checked against the tool's inputSchema first (required
 * members, member types, no unknown members where additionalProperties is
 * false). On expiry the client sends notifications/cancelled and returns
 * an error result. 0 with *r filled (free with mcp_result_free), or -1. */
int mcp_client_call(mcp_client *c, const char *tool, const char *args_json, int timeout_ms,
                    mcp_result *r, err_t *e);
/* The same with parsed arguments (borrowed) and an optional _meta object
 * for the request, e.g. {"retrain/rows": true}: `retrain mcp-db` then
 * adds every row of an execute_query to the result's structuredContent
 * (see mcp.h, "typed rows"). */
int mcp_client_call_json(mcp_client *c, const char *tool, json_t *args, json_t *meta,
                         int timeout_ms, mcp_result *r, err_t *e);

/* ping; 0 if the server answered within the request timeout. */
int mcp_client_ping(mcp_client *c, err_t *e);

const char *mcp_client_name(const mcp_client *c);
/* The protocol version initialize agreed on. */
const char *mcp_client_protocol_version(const mcp_client *c);
/* How many times the server was started again after it died (HTTP: how
 * many times a session that ended was initialized again). */
int mcp_client_restarts(const mcp_client *c);

/* ---- tools for prompts ---- */

/* The tools of every server (starting them all) as one JSON array text,
 * in the form chat templates take as `tools`:
 *   [{"type": "function", "function": {"name", "description",
 *     "parameters": inputSchema}}, ...]
 * Caller frees; NULL with e filled if a server cannot start. */
char *mcp_tools_prompt_json(mcp_servers *m, err_t *e);
/* The server that has a tool called name (starting servers as needed), or
 * NULL with e filled ("no server has a tool called 'x'"). */
mcp_client *mcp_tools_find(mcp_servers *m, const char *name, err_t *e);

#endif
