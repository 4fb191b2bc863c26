/* Test support: in-process tool calls. */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

int tool_env_open(tool_env *t, const char *url, const db_options *opts, const mcp_db_config *cfg)
{
    memset(t, 0, sizeof *t);
    db_options o = {0};
    err_t e;
    t->conn = db_new(url, opts ? opts : &o, &e);
    if (!t->conn) {
        fprintf(stderr, "tool_env_open: %s\n", e.msg);
        return -1;
    }
    mcp_db_config c = {.max_chars = 4000};
    t->server = mcp_server_new("test", "0");
    mcp_db_tools_register(t->server, t->conn, cfg ? cfg : &c);
    mcp_session_init(&t->session);
    return 0;
}

void tool_env_close(tool_env *t)
{
    mcp_server_free(t->server);
    db_free(t->conn);
    memset(t, 0, sizeof *t);
}

char *tool_rpc(tool_env *t, const char *msg_json)
{
    json_t *msg = json_loads(msg_json, 0, NULL);
    if (!msg)
        return NULL;
    json_t *r = mcp_server_handle(t->server, &t->session, msg, NULL);
    json_decref(msg);
    if (!r)
        return NULL;
    char *s = mcp_dump(r);
    json_decref(r);
    return s;
}

char *tool_call(tool_env *t, const char *name, const char *args_json, int *is_error)
{
    json_t *args = json_loads(args_json, 0, NULL);
    if (!args)
        return NULL;
    json_t *msg = json_pack("{s:s, s:i, s:s, s:{s:s, s:o}}", "jsonrpc", "2.0", "id", 1, "method",
                            "tools/call", "params", "name", name, "arguments", args);
    json_t *r = mcp_server_handle(t->server, &t->session, msg, NULL);
    json_decref(msg);
    json_t *content = json_object_get(json_object_get(r, "result"), "content");
    const char *text = json_string_value(json_object_get(json_array_get(content, 0), "text"));
    char *out = text ? xstrdup(text) : NULL;
    if (is_error)
        *is_error = json_is_true(json_object_get(json_object_get(r, "result"), "isError"));
    json_decref(r);
    return out;
}
