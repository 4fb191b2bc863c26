/* Test support: call an MCP tool in-process through the server core. */
#ifndef RETRAIN_TEST_TOOL_H
#define RETRAIN_TEST_TOOL_H

#include "../../src/mcp/mcp.h"

typedef struct tool_env {
    db_conn *conn;
    mcp_server *server;
    mcp_session session;
} tool_env;

/* Opens url with opts (NULL: defaults) and registers the database tools
 * with cfg (NULL: defaults). 0 on success. */
int tool_env_open(tool_env *t, const char *url, const db_options *opts, const mcp_db_config *cfg);
void tool_env_close(tool_env *t);
/* Runs tools/call NAME with ARGS (JSON text); returns the text (caller
 * frees) and sets *is_error; NULL if the reply was not a tool result. */
char *tool_call(tool_env *t, const char *name, const char *args_json, int *is_error);
/* Sends one JSON-RPC message; returns the reply as compact JSON or NULL. */
char *tool_rpc(tool_env *t, const char *msg_json);

#endif
