/* libFuzzer target: arbitrary bytes as one MCP message, through the
 * parser and the whole server core (dispatch, validation, the database
 * tools over an in-memory SQLite database with a short time limit).
 * Run with `make fuzz` (FUZZ_SECONDS bounds it). */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/mcp/mcp.h"

static mcp_server *g_server;
static db_conn *g_conn;

static void setup(void)
{
    log_set_level(LOG_QUIET);
    db_options o = {.timeout_ms = 200};
    err_t e;
    g_conn = db_new("sqlite://", &o, &e);
    if (!g_conn)
        abort();
    db_cursor *cur;
    db_error de;
    if (db_execute(g_conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)", NULL, &cur, &de) == 0)
        db_close_cursor(cur);
    mcp_db_config cfg = {.max_chars = 4000};
    g_server = mcp_server_new("fuzz", "0");
    mcp_db_tools_register(g_server, g_conn, &cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_server)
        setup();
    mcp_session sess;
    mcp_session_init(&sess);
    json_t *reply = NULL;
    json_t *msg = mcp_parse((const char *)data, size, &reply);
    if (msg) {
        reply = mcp_server_handle(g_server, &sess, msg, NULL);
        json_decref(msg);
    }
    if (reply) {
        char *s = mcp_dump(reply);
        free(s);
        json_decref(reply);
    }
    return 0;
}
