/* The MCP client against real servers (`retrain mcp-db` over stdio and
 * HTTP, @modelcontextprotocol/server-everything, @bytebase/dbhub) and a
 * fake server that misbehaves on request (tests/fixtures/fake_mcp_server.js):
 * malformed configs, missing commands, servers that exit, write garbage,
 * hang, crash, paginate, or ignore SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/mcp/mcp.h"
#include "../../src/mcp/mcp_client.h"
#include "../support/proc.h"
#include "../test.h"

/* ---- helpers ---- */

static const char *node22(void)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/.deps/npm/node_modules/.bin/node", test_root());
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Node 22 from .deps, else the system's node (the fake server needs no
 * more than Node 18). */
static const char *node_bin(void)
{
    if (node22())
        return node22();
    static char path[4200];
    const char *p = getenv("PATH");
    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s/node", (int)n, p);
        if (access(path, X_OK) == 0)
            return path;
        if (!colon)
            break;
        p = colon + 1;
    }
    return NULL;
}

static char *write_file(const char *name, const char *text)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static const char *test_db(void)
{
    static char path[4200];
    if (path[0])
        return path;
    snprintf(path, sizeof path, "%s/client.db", test_tmpdir());
    char cmd[8600];
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s' \"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
             "price REAL, data BLOB); INSERT INTO items VALUES (1, 'apple', 0.1, x'00ff10'), "
             "(2, 'pear', NULL, NULL), (3, 'fig', 1e-05, x''), (4, 'plum', 1.0/3, NULL), "
             "(5, 'kiwi', 3.0, x'616263');\"",
             path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not create %s\n", path);
    return path;
}

/* A config for `retrain mcp-db` on the test database over stdio. */
static mcp_servers *mcp_db_servers(err_t *e)
{
    char url[4300];
    snprintf(url, sizeof url, "sqlite:///%s", test_db());
    json_t *cfg = json_pack("{s:{s:{s:s, s:[s], s:{s:s}}}}", "mcpServers", "db", "command",
                            test_retrain_bin(), "args", "mcp-db", "env", "DB_URL", url);
    mcp_servers *m = mcp_servers_from_json(cfg, "test", e);
    json_decref(cfg);
    return m;
}

/* The fake server in MODE, with its state in a fresh directory (dir). */
static mcp_servers *fake_servers(const char *mode, char dir[4200], err_t *e)
{
    static int n;
    snprintf(dir, 4200, "%s/fake-%s-%d", test_tmpdir(), mode, n++);
    mkdir(dir, 0700);
    char script[4200];
    snprintf(script, sizeof script, "%s/tests/fixtures/fake_mcp_server.js", test_root());
    json_t *cfg = json_pack("{s:{s:{s:s, s:[s, s, s], s:{s:s}}}}", "mcpServers", "fake", "command",
                            node_bin(), "args", script, mode, dir, "env", "FAKE_CONFIGURED", "yes");
    mcp_servers *m = mcp_servers_from_json(cfg, "test", e);
    json_decref(cfg);
    if (m)
        mcp_servers_set_request_timeout(m, 5000);
    return m;
}

#define NEED_NODE()                                                                                \
    do {                                                                                           \
        if (!node_bin()) {                                                                         \
            test_skip("no node on PATH nor in .deps (run scripts/install-deps)");                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static char *read_small(const char *dir, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    err_t e;
    return file_read(path, NULL, &e);
}

static int process_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* ---- config errors ---- */

static const char *load_error(const char *text)
{
    static err_t e;
    char *path = write_file("bad.json", text);
    mcp_servers *m = mcp_servers_load(path, &e);
    if (m) {
        mcp_servers_free(m);
        return "(loaded)";
    }
    /* the message starts with the file name; drop it for the checks */
    const char *p = strstr(e.msg, "bad.json");
    return p ? p : e.msg;
}

TEST(client_config_errors)
{
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": "),
              "bad.json:1:22: not valid JSON: unexpected token near end of file");
    CHECK_STR(load_error("{\"servers\": {}}"),
              "bad.json: no mcpServers object (nor an mcp_server_url)");
    CHECK_STR(load_error("[1, 2]"),
              "bad.json: the MCP config must be a JSON object with mcpServers");
    CHECK_STR(load_error("{\"mcpServers\": []}"),
              "bad.json: mcpServers must be an object of named servers");
    CHECK_STR(load_error("{\"mcpServers\": {}}"), "bad.json: mcpServers names no server");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": \"retrain\"}}"),
              "bad.json: mcpServers.db must be an object");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"command\": 7}}}"),
              "bad.json: mcpServers.db.command must be a non-empty string");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"command\": \"x\", \"args\": \"mcp-db\"}}}"),
              "bad.json: mcpServers.db.args must be an array of strings");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"command\": \"x\", \"args\": [\"a\", 2]}}}"),
              "bad.json: mcpServers.db.args[1] must be a string");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"command\": \"x\", \"env\": {\"A\": 1}}}}"),
              "bad.json: mcpServers.db.env.A must be a string");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"command\": \"x\", \"env\": [\"A=1\"]}}}"),
              "bad.json: mcpServers.db.env must be an object of strings");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"args\": []}}}"),
              "bad.json: mcpServers.db needs a command (a program to start) or a url");
    CHECK_STR(
        load_error("{\"mcpServers\": {\"db\": {\"command\": \"x\", \"url\": \"http://h/\"}}}"),
        "bad.json: mcpServers.db has both command and url; give one");
    CHECK_STR(load_error("{\"mcpServers\": {\"db\": {\"url\": \"ftp://h/\"}}}"),
              "bad.json: mcpServers.db.url must be an http:// or https:// URL, got 'ftp://h/'");
    CHECK_STR(
        load_error("{\"mcpServers\": {\"db\": {\"url\": \"http://h/\", \"type\": \"sse\"}}}"),
        "bad.json: mcpServers.db.type 'sse' is not supported (stdio, http or streamable-http)");
    CHECK_STR(load_error("{\"mcp_server_url\": 8000}"),
              "bad.json: mcp_server_url must be a string");
    CHECK_STR(
        load_error("{\"mcpServers\": {\"a\": {\"command\": \"x\"}, \"a\": {\"command\": \"y\"}}}"),
        "bad.json:1:42: not valid JSON: duplicate object key near '\"a\"'");

    err_t e;
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/no-such.json", test_tmpdir());
    CHECK(mcp_servers_load(missing, &e) == NULL);
    CHECK_CONTAINS(e.msg, "no-such.json");
    CHECK_CONTAINS(e.msg, "No such file");
}

TEST(client_config_forms)
{
    err_t e;
    json_t *cfg = json_pack("{s:s}", "mcp_server_url", "http://127.0.0.1:1/mcp");
    mcp_servers *m = mcp_servers_from_json(cfg, "train.json: mcp", &e);
    json_decref(cfg);
    CHECK(m);
    CHECK(mcp_servers_count(m) == 1);
    CHECK_STR(mcp_servers_name(m, 0), "default");
    /* nothing listens there: a clear line naming the URL */
    CHECK(mcp_client_get(m, NULL, &e) == NULL);
    CHECK_CONTAINS(e.msg, "MCP server 'default': http://127.0.0.1:1/mcp:");
    CHECK(mcp_client_get(m, "nope", &e) == NULL);
    CHECK_STR(e.msg, "no MCP server called 'nope' in the config (it has: default)");
    mcp_servers_free(m);

    /* loading starts nothing: a config whose command is missing loads */
    char *path =
        write_file("lazy.json", "{\"mcpServers\": {\"a\": {\"command\": \"no-such-cmd-x\"},"
                                " \"b\": {\"url\": \"https://example.invalid/mcp\"}}}");
    m = mcp_servers_load(path, &e);
    CHECK(m);
    CHECK(mcp_servers_count(m) == 2);
    CHECK_STR(mcp_servers_name(m, 1), "b");
    mcp_servers_free(m);
}

TEST(client_command_not_found)
{
    err_t e;
    char path[4300];
    snprintf(path, sizeof path, "PATH=%s", test_tmpdir());
    json_t *cfg =
        json_pack("{s:{s:{s:s, s:[s], s:{s:s}}, s:{s:s, s:{s:s}}}}", "mcpServers", "alchemy",
                  "command", "uvx", "args", "mcp-alchemy==2025.8.15", "env", "PATH", test_tmpdir(),
                  "other", "command", "no-such-server", "env", "PATH", test_tmpdir());
    mcp_servers *m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    CHECK(mcp_client_get(m, "alchemy", &e) == NULL);
    CHECK_STR(e.msg, "MCP server 'alchemy': command 'uvx' not found in PATH; for mcp-alchemy use "
                     "`retrain mcp-db` instead (\"command\": \"retrain\", \"args\": [\"mcp-db\"], "
                     "\"env\": {\"DB_URL\": ...})");
    CHECK(mcp_client_get(m, "other", &e) == NULL);
    char want[4400];
    snprintf(want, sizeof want,
             "MCP server 'other': command 'no-such-server' not found in PATH (%s)", test_tmpdir());
    CHECK_STR(e.msg, want);
    mcp_servers_free(m);
}

/* ---- retrain mcp-db over stdio ---- */

TEST(client_mcp_db_stdio)
{
    err_t e;
    mcp_servers *m = mcp_db_servers(&e);
    CHECK_MSG(m, "%s", e.msg);
    mcp_client *c = mcp_client_get(m, "db", &e);
    CHECK_MSG(c, "%s", e.msg);
    CHECK_STR(mcp_client_protocol_version(c), MCP_LATEST_VERSION);
    const mcp_tool *tools;
    size_t n;
    CHECK(mcp_client_tools(c, &tools, &n, &e) == 0);
    CHECK(n == 4);
    CHECK_STR(tools[0].name, "all_table_names");
    CHECK_STR(tools[3].name, "execute_query");
    CHECK_STR(tools[3].server, "db");
    CHECK(str_starts(tools[3].description, "Execute a SQL query"));
    CHECK(json_is_object(json_object_get(tools[3].input_schema, "properties")));

    mcp_result r;
    CHECK(mcp_client_call(c, "all_table_names", NULL, 5000, &r, &e) == 0);
    CHECK_STR(r.text, "items");
    CHECK(!r.is_error);
    mcp_result_free(&r);

    CHECK(mcp_client_call(c, "execute_query",
                          "{\"query\": \"SELECT id, name FROM items WHERE id = :id\", "
                          "\"params\": {\"id\": 2}}",
                          5000, &r, &e) == 0);
    CHECK_STR(r.text, "1. row\nid: 2\nname: pear\n\nResult: 1 rows");
    CHECK(json_is_object(r.raw));
    mcp_result_free(&r);

    /* an unknown table is the server's own isError result */
    CHECK(mcp_client_call(c, "schema_definitions", "{\"table_names\": [\"nope\"]}", 5000, &r, &e) ==
          0);
    CHECK(r.is_error);
    CHECK_STR(r.text, "Error executing tool schema_definitions: nope");
    mcp_result_free(&r);

    CHECK(mcp_client_ping(c, &e) == 0);
    CHECK(mcp_client_restarts(c) == 0);
    /* the same client again: started once */
    CHECK(mcp_client_get(m, "db", &e) == c);
    mcp_servers_free(m);
}

/* The typed rows of execute_query (retrain/rows) next to its unchanged text. */
TEST(client_mcp_db_typed_rows)
{
    err_t e;
    mcp_servers *m = mcp_db_servers(&e);
    CHECK_MSG(m, "%s", e.msg);
    mcp_client *c = mcp_client_get(m, "db", &e);
    CHECK_MSG(c, "%s", e.msg);
    json_t *args = json_pack("{s:s}", "query", "SELECT * FROM items ORDER BY id");
    json_t *meta = json_pack("{s:b}", "retrain/rows", 1);
    mcp_result plain, typed;
    CHECK(mcp_client_call_json(c, "execute_query", args, NULL, 5000, &plain, &e) == 0);
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 5000, &typed, &e) == 0);
    CHECK_STR(typed.text, plain.text);
    /* an empty blob (SQLite hands back a NULL pointer for it) */
    CHECK_CONTAINS(plain.text, "name: fig\nprice: 1e-05\ndata: b''\n");
    CHECK(!json_object_get(json_object_get(plain.raw, "structuredContent"), "rows"));
    json_t *sc = json_object_get(typed.raw, "structuredContent");
    CHECK_STR(json_string_value(json_object_get(sc, "result")), plain.text);
    json_t *cols = json_object_get(sc, "columns"), *rows = json_object_get(sc, "rows");
    CHECK(json_array_size(cols) == 4);
    CHECK_STR(json_string_value(json_array_get(cols, 3)), "data");
    CHECK(json_is_false(json_object_get(sc, "truncated")));
    CHECK(json_array_size(rows) == 5);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    json_t *r2 = json_array_get(rows, 2), *r3 = json_array_get(rows, 3),
           *r4 = json_array_get(rows, 4);
    CHECK(json_is_integer(json_array_get(r0, 0)) && json_integer_value(json_array_get(r0, 0)) == 1);
    CHECK_STR(json_string_value(json_array_get(r0, 1)), "apple");
    /* floats come back as the very same doubles */
    CHECK(json_is_real(json_array_get(r0, 2)) && json_real_value(json_array_get(r0, 2)) == 0.1);
    CHECK(json_real_value(json_array_get(r2, 2)) == 1e-05);
    CHECK(json_real_value(json_array_get(r3, 2)) == 1.0 / 3);
    CHECK(json_is_real(json_array_get(r4, 2)) && json_real_value(json_array_get(r4, 2)) == 3.0);
    CHECK(json_is_null(json_array_get(r1, 2)) && json_is_null(json_array_get(r1, 3)));
    /* blobs in base64 */
    CHECK_STR(json_string_value(json_array_get(r0, 3)), "AP8Q");
    CHECK_STR(json_string_value(json_array_get(r2, 3)), "");
    CHECK_STR(json_string_value(json_array_get(r4, 3)), "YWJj");
    mcp_result_free(&plain);
    mcp_result_free(&typed);
    json_decref(args);

    /* every row, past the text's 4000 characters; the text is unchanged */
    args =
        json_pack("{s:s}", "query",
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                  "SELECT i, i * 0.5 AS half FROM n");
    CHECK(mcp_client_call_json(c, "execute_query", args, NULL, 5000, &plain, &e) == 0);
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 5000, &typed, &e) == 0);
    CHECK_STR(typed.text, plain.text);
    CHECK_CONTAINS(typed.text, "(output truncated)");
    sc = json_object_get(typed.raw, "structuredContent");
    rows = json_object_get(sc, "rows");
    CHECK(json_array_size(rows) == 3000);
    CHECK(json_real_value(json_array_get(json_array_get(rows, 2999), 1)) == 1500.0);
    CHECK(json_is_false(json_object_get(sc, "truncated")));
    mcp_result_free(&plain);
    mcp_result_free(&typed);
    json_decref(args);

    /* past MCP_DB_ROWS_MAX: truncated */
    args = json_pack(
        "{s:s}", "query",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100005) "
        "SELECT i FROM n");
    CHECK(mcp_client_call_json(c, "execute_query", args, NULL, 20000, &plain, &e) == 0);
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 20000, &typed, &e) == 0);
    sc = json_object_get(typed.raw, "structuredContent");
    CHECK(json_array_size(json_object_get(sc, "rows")) == MCP_DB_ROWS_MAX);
    CHECK(json_is_true(json_object_get(sc, "truncated")));
    CHECK_STR(typed.text, plain.text);
    CHECK_STR(strrchr(typed.text, '\n') + 1, "Result: showing first 248 rows (output truncated)");
    mcp_result_free(&plain);
    mcp_result_free(&typed);
    json_decref(args);

    /* wide rows stop at about MCP_DB_ROWS_MAX_BYTES of JSON */
    args =
        json_pack("{s:s}", "query",
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
                  "SELECT i, hex(zeroblob(10000)) AS wide FROM n");
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 30000, &typed, &e) == 0);
    sc = json_object_get(typed.raw, "structuredContent");
    size_t nrows = json_array_size(json_object_get(sc, "rows"));
    CHECK_MSG(nrows > 1000 && nrows < 2000, "%zu rows", nrows);
    CHECK(nrows == (MCP_DB_ROWS_MAX_BYTES - 0) / (2 + 4 + 24 + 4 + 20000));
    CHECK(json_is_true(json_object_get(sc, "truncated")));
    mcp_result_free(&typed);
    json_decref(args);

    /* an error: the text, and no rows */
    args = json_pack("{s:s}", "query", "SELECT nope FROM items");
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 5000, &typed, &e) == 0);
    CHECK(str_starts(typed.text, "Error: (sqlite3.OperationalError) no such column: nope"));
    CHECK(!json_object_get(json_object_get(typed.raw, "structuredContent"), "rows"));
    mcp_result_free(&typed);
    json_decref(args);

    /* no rows: the columns, an empty list */
    args = json_pack("{s:s}", "query", "SELECT id FROM items WHERE id > 100");
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 5000, &typed, &e) == 0);
    CHECK_STR(typed.text, "No rows returned");
    sc = json_object_get(typed.raw, "structuredContent");
    CHECK(json_array_size(json_object_get(sc, "columns")) == 1);
    CHECK(json_is_array(json_object_get(sc, "rows")) &&
          json_array_size(json_object_get(sc, "rows")) == 0);
    mcp_result_free(&typed);
    json_decref(args);
    json_decref(meta);
    mcp_servers_free(m);
}

/* Arguments are checked against the schema before anything is sent. */
TEST(client_schema_check)
{
    err_t e;
    mcp_servers *m = mcp_db_servers(&e);
    CHECK_MSG(m, "%s", e.msg);
    mcp_client *c = mcp_client_get(m, "db", &e);
    CHECK_MSG(c, "%s", e.msg);
    mcp_result r;
    static const struct {
        const char *tool, *args, *want;
    } cases[] = {
        {"execute_query", "{}", "Invalid arguments for tool execute_query: 'query' is required"},
        {"execute_query", "{\"query\": 5}",
         "Invalid arguments for tool execute_query: 'query' must be a string, got integer"},
        {"execute_query", "{\"query\": \"SELECT 1\", \"params\": [1]}",
         "Invalid arguments for tool execute_query: 'params' must be an object, got array"},
        {"schema_definitions", "{\"table_names\": [\"a\", 3]}",
         "Invalid arguments for tool schema_definitions: 'table_names[1]' must be a string, got "
         "integer"},
        {"execute_query", "[1]",
         "Invalid arguments for tool execute_query: arguments must be an object, got array"},
        {"execute_query", "{\"query\": ",
         "Invalid arguments for tool execute_query: not valid JSON "
         "(unexpected token near end of file at column 10)"},
        {"drop_database", "{}",
         "Unknown tool: drop_database (this server has: all_table_names, "
         "filter_table_names, schema_definitions, execute_query)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK(mcp_client_call(c, cases[i].tool, cases[i].args, 5000, &r, &e) == 0);
        CHECK(r.is_error);
        CHECK(r.raw == NULL);
        CHECK_STR(r.text, cases[i].want);
        mcp_result_free(&r);
    }
    mcp_servers_free(m);
}

TEST(client_prompt_json)
{
    err_t e;
    mcp_servers *m = mcp_db_servers(&e);
    CHECK_MSG(m, "%s", e.msg);
    char *s = mcp_tools_prompt_json(m, &e);
    CHECK_MSG(s, "%s", e.msg);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    CHECK(json_array_size(j) == 4);
    json_t *f = json_object_get(json_array_get(j, 3), "function");
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 3), "type")), "function");
    CHECK_STR(json_string_value(json_object_get(f, "name")), "execute_query");
    CHECK(json_is_object(json_object_get(f, "parameters")));
    CHECK(str_starts(json_string_value(json_object_get(f, "description")), "Execute a SQL query"));
    json_decref(j);
    mcp_client *c = mcp_tools_find(m, "schema_definitions", &e);
    CHECK(c && !strcmp(mcp_client_name(c), "db"));
    CHECK(mcp_tools_find(m, "nope", &e) == NULL);
    CHECK_STR(e.msg, "no MCP server has a tool called 'nope'");
    mcp_servers_free(m);
}

/* ---- retrain mcp-db over Streamable HTTP ---- */

/* Starts `retrain mcp-db --http 127.0.0.1:PORT` (0: any); fills url. */
static int start_http_env(child_t *ch, int port, const char *extra, const char *env2, char url[128])
{
    static char dburl[4300];
    snprintf(dburl, sizeof dburl, "DB_URL=sqlite:///%s", test_db());
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    char *argv[] = {(char *)test_retrain_bin(), "mcp-db", "--http", addr, (char *)extra, NULL};
    char *env[] = {dburl, (char *)env2, NULL};
    if (child_start(ch, argv, env) != 0)
        return -1;
    buf_t log;
    buf_init(&log);
    for (int i = 0; i < 200; i++) {
        char *s = child_read_stderr(ch);
        if (s)
            buf_puts(&log, s);
        free(s);
        const char *p = log.data ? strstr(log.data, "serving MCP at ") : NULL;
        if (p) {
            sscanf(p + 15, "%127s", url);
            buf_free(&log);
            return 0;
        }
        usleep(20000);
    }
    buf_free(&log);
    child_kill(ch);
    return -1;
}

static int start_http(child_t *ch, int port, const char *extra, char url[128])
{
    return start_http_env(ch, port, extra, NULL, url);
}

static void stop_http(child_t *ch)
{
    kill(ch->pid, SIGTERM);
    child_wait(ch, 5000);
}

TEST(client_mcp_db_http)
{
    child_t ch;
    char url[128];
    CHECK(start_http(&ch, 0, NULL, url) == 0);
    err_t e;
    json_t *cfg = json_pack("{s:{s:{s:s}}}", "mcpServers", "web", "url", url);
    mcp_servers *m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK_MSG(m, "%s", e.msg);
    mcp_client *c = mcp_client_get(m, "web", &e);
    CHECK_MSG(c, "%s", e.msg);
    CHECK_STR(mcp_client_protocol_version(c), MCP_LATEST_VERSION);
    const mcp_tool *tools;
    size_t n;
    CHECK(mcp_client_tools(c, &tools, &n, &e) == 0 && n == 4);
    mcp_result r;
    json_t *args = json_pack("{s:s}", "query", "SELECT price FROM items WHERE id = 4");
    json_t *meta = json_pack("{s:b}", "retrain/rows", 1);
    CHECK(mcp_client_call_json(c, "execute_query", args, meta, 5000, &r, &e) == 0);
    CHECK_STR(r.text, "1. row\nprice: 0.3333333333333333\n\nResult: 1 rows");
    json_t *rows = json_object_get(json_object_get(r.raw, "structuredContent"), "rows");
    CHECK(json_real_value(json_array_get(json_array_get(rows, 0), 0)) == 1.0 / 3);
    mcp_result_free(&r);

    /* The server restarts on the same port: our session is unknown there
     * (404), so the client initializes again and the call goes through. */
    int port = atoi(strrchr(url, ':') + 1);
    stop_http(&ch);
    char url2[128];
    CHECK(start_http(&ch, port, NULL, url2) == 0);
    CHECK(mcp_client_call_json(c, "execute_query", args, NULL, 5000, &r, &e) == 0);
    CHECK_MSG(!r.is_error, "%s", r.text);
    CHECK_STR(r.text, "1. row\nprice: 0.3333333333333333\n\nResult: 1 rows");
    CHECK(mcp_client_restarts(c) == 1);
    mcp_result_free(&r);
    json_decref(args);
    json_decref(meta);
    mcp_servers_free(m);
    stop_http(&ch);

    /* every reply an SSE stream */
    CHECK(start_http(&ch, 0, "--sse", url) == 0);
    cfg = json_pack("{s:s}", "mcp_server_url", url);
    m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    CHECK(mcp_client_call(c, "filter_table_names", "{\"q\": \"it\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "items");
    mcp_result_free(&r);
    CHECK(mcp_client_ping(c, &e) == 0);
    mcp_servers_free(m);
    stop_http(&ch);

    /* a server that wants a bearer token: the config's headers carry it */
    CHECK(start_http_env(&ch, 0, NULL, "MCP_TOKEN=s3cret", url) == 0);
    cfg = json_pack("{s:{s:{s:s, s:{s:s}}, s:{s:s}}}", "mcpServers", "good", "url", url, "headers",
                    "Authorization", "Bearer s3cret", "bad", "url", url);
    m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    c = mcp_client_get(m, "good", &e);
    CHECK_MSG(c, "%s", e.msg);
    CHECK(mcp_client_call(c, "all_table_names", NULL, 5000, &r, &e) == 0);
    CHECK_STR(r.text, "items");
    mcp_result_free(&r);
    CHECK(mcp_client_get(m, "bad", &e) == NULL);
    char want[300];
    snprintf(want, sizeof want, "MCP server 'bad': %s answered HTTP 401", url);
    CHECK_CONTAINS(e.msg, want);
    mcp_servers_free(m);
    stop_http(&ch);
}

/* ---- the fake server ---- */

TEST(client_fake_basics)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("normal", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    /* the server answered an older version we speak: accepted */
    CHECK_STR(mcp_client_protocol_version(c), "2025-06-18");
    mcp_result r;
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"hi there\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "hi there");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"x\", \"extra\": 1}", 5000, &r, &e) == 0);
    CHECK(r.is_error);
    CHECK_STR(r.text, "Invalid arguments for tool echo: 'extra' is not an allowed argument "
                      "(allowed: message)");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "add", "{\"a\": 1.5, \"b\": 2.0}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "3.5");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "add", "{\"a\": 1, \"b\": 2.5}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "Invalid arguments for tool add: 'b' must be an integer, got number");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "add", "{\"a\": 1, \"b\": 2, \"op\": \"mul\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "Invalid arguments for tool add: 'op' must be one of [\"add\",\"sub\"]");
    mcp_result_free(&r);
    /* a JSON-RPC error to tools/call is a result the model can read */
    CHECK(mcp_client_call(c, "fail", NULL, 5000, &r, &e) == 0);
    CHECK(r.is_error);
    CHECK_STR(r.text, "Error calling tool fail: bad things");
    mcp_result_free(&r);
    /* the server pings us in the middle of a call */
    CHECK(mcp_client_call(c, "ping_me", NULL, 5000, &r, &e) == 0);
    CHECK_STR(r.text, "pong {}");
    mcp_result_free(&r);
    /* only the inherited names and the configured env */
    setenv("RETRAIN_SECRET_TOKEN", "do-not-pass", 1);
    CHECK(mcp_client_call(c, "env", NULL, 5000, &r, &e) == 0);
    unsetenv("RETRAIN_SECRET_TOKEN");
    CHECK(!strstr(r.text, "RETRAIN_SECRET_TOKEN"));
    CHECK_CONTAINS(r.text, "FAKE_CONFIGURED");
    CHECK_CONTAINS(r.text, "PATH");
    char *names = xstrdup(r.text);
    mcp_result_free(&r);
    static const char *allowed[] = {"FAKE_CONFIGURED", "HOME", "LOGNAME", "PATH",
                                    "SHELL",           "TERM", "USER"};
    for (char *tok = strtok(names, ","); tok; tok = strtok(NULL, ",")) {
        int ok = 0;
        for (size_t i = 0; i < ARRAY_LEN(allowed); i++)
            ok |= !strcmp(tok, allowed[i]);
        CHECK_MSG(ok, "the server saw %s", tok);
    }
    free(names);
    mcp_servers_free(m);
}

TEST(client_fake_pagination)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("paginate", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    const mcp_tool *tools;
    size_t n;
    CHECK(mcp_client_tools(c, &tools, &n, &e) == 0);
    CHECK(n == 6);
    CHECK_STR(tools[0].name, "echo");
    CHECK_STR(tools[2].name, "hang");
    CHECK_STR(tools[5].name, "env");
    CHECK_STR(tools[0].description, "Echoes the message\nSecond line.");
    mcp_servers_free(m);

    m = fake_servers("loop-cursor", dir, &e);
    CHECK(m);
    c = mcp_client_get(m, NULL, &e);
    CHECK(c);
    CHECK(mcp_client_tools(c, &tools, &n, &e) == -1);
    CHECK_STR(e.msg, "MCP server 'fake': tools/list gave the same nextCursor twice");
    mcp_servers_free(m);
}

TEST(client_fake_exits_at_once)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("exit", dir, &e);
    CHECK(m);
    CHECK(mcp_client_get(m, NULL, &e) == NULL);
    CHECK_STR(e.msg, "MCP server 'fake' exited with status 1 (its last message: fake: cannot "
                     "start: no configuration)");
    mcp_servers_free(m);
}

TEST(client_fake_garbage)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    /* non-JSON lines between the messages are skipped */
    mcp_servers *m = fake_servers("garbage", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    mcp_result r;
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"ok\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "ok");
    mcp_result_free(&r);
    mcp_servers_free(m);

    /* a server that only ever writes garbage: the time limit, and why */
    m = fake_servers("garbage-only", dir, &e);
    CHECK(m);
    mcp_servers_set_request_timeout(m, 500);
    CHECK(mcp_client_get(m, NULL, &e) == NULL);
    CHECK_STR(e.msg, "MCP server 'fake' did not answer initialize within 500 ms (it wrote on "
                     "stdout: 'Welcome to the fake server!')");
    mcp_servers_free(m);
}

TEST(client_fake_bad_version)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("bad-version", dir, &e);
    CHECK(m);
    CHECK(mcp_client_get(m, NULL, &e) == NULL);
    CHECK_STR(e.msg, "MCP server 'fake' answered protocol version '1999-01-01', which retrain does "
                     "not speak (2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25)");
    mcp_servers_free(m);
}

TEST(client_fake_time_limit)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("normal", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    mcp_result r;
    uint64_t t0 = time_now_ns();
    CHECK(mcp_client_call(c, "hang", NULL, 300, &r, &e) == 0);
    uint64_t ms = (time_now_ns() - t0) / 1000000;
    CHECK_MSG(ms >= 290 && ms < 2000, "took %llu ms", (unsigned long long)ms);
    CHECK(r.is_error);
    CHECK_STR(r.text, "Error: tool hang did not answer within 300 ms (the call was cancelled)");
    mcp_result_free(&r);
    /* the server is still usable, and it was told to cancel */
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"after\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "after");
    mcp_result_free(&r);
    char *cancelled = read_small(dir, "cancelled");
    CHECK(cancelled);
    CHECK(strlen(cancelled) > 1 && cancelled[strlen(cancelled) - 1] == '\n');
    free(cancelled);
    mcp_servers_free(m);
}

TEST(client_fake_crash_restart)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("normal", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    char *pid1 = read_small(dir, "pid");
    mcp_result r;
    /* dies during the call; started again, the call is retried once */
    CHECK(mcp_client_call(c, "crash_once", NULL, 5000, &r, &e) == 0);
    CHECK_STR(r.text, "survived");
    CHECK(mcp_client_restarts(c) == 1);
    mcp_result_free(&r);
    char *pid2 = read_small(dir, "pid");
    CHECK(pid1 && pid2 && strcmp(pid1, pid2) != 0);
    CHECK(!process_alive((pid_t)atoi(pid1)));
    free(pid1);
    free(pid2);
    /* dies twice: the server is unusable, -1 and why */
    CHECK(mcp_client_call(c, "crash", NULL, 5000, &r, &e) == -1);
    CHECK_STR(e.msg, "MCP server 'fake' exited with status 3");
    CHECK(mcp_client_restarts(c) == 2);
    /* the next call starts it once more */
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"back\"}", 5000, &r, &e) == 0);
    CHECK_STR(r.text, "back");
    CHECK(mcp_client_restarts(c) == 3);
    mcp_result_free(&r);
    mcp_servers_free(m);
}

/* Several threads share one client: calls run one at a time, and each
 * gets its own answer. */
typedef struct thread_job {
    mcp_client *c;
    int id, ok;
} thread_job;

static void *echo_thread(void *arg)
{
    thread_job *j = arg;
    for (int i = 0; i < 25; i++) {
        char args[64], want[32];
        snprintf(want, sizeof want, "t%d-%d", j->id, i);
        snprintf(args, sizeof args, "{\"message\": \"%s\"}", want);
        mcp_result r;
        err_t e;
        if (mcp_client_call(j->c, "echo", args, 5000, &r, &e) != 0)
            return NULL;
        int same = !strcmp(r.text, want);
        mcp_result_free(&r);
        if (!same)
            return NULL;
    }
    j->ok = 1;
    return NULL;
}

TEST(client_fake_threads)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("normal", dir, &e);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){.c = c, .id = i};
        pthread_create(&th[i], NULL, echo_thread, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    mcp_servers_free(m);
    for (int i = 0; i < 4; i++)
        CHECK_MSG(jobs[i].ok, "thread %d got a wrong answer", i);
}

/* A server that ignores the end of stdin and SIGTERM gets SIGKILL. */
TEST(client_fake_shutdown_escalates)
{
    NEED_NODE();
    err_t e;
    char dir[4200];
    mcp_servers *m = fake_servers("stubborn", dir, &e);
    CHECK(m);
    CHECK(mcp_client_get(m, NULL, &e));
    char *pid = read_small(dir, "pid");
    CHECK(pid);
    pid_t p = (pid_t)atoi(pid);
    free(pid);
    uint64_t t0 = time_now_ns();
    mcp_servers_free(m);
    uint64_t ms = (time_now_ns() - t0) / 1000000;
    CHECK(!process_alive(p));
    CHECK_MSG(ms >= 3900 && ms < 8000, "shutdown took %llu ms", (unsigned long long)ms);
}

/* ---- npm peers ---- */

TEST(client_server_everything)
{
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/.deps/npm/node_modules/.bin/mcp-server-everything", test_root());
    if (access(bin, X_OK) != 0 || !node22()) {
        test_skip("@modelcontextprotocol/server-everything or Node 22 missing from .deps "
                  "(run scripts/install-deps)");
        return;
    }
    /* its #! line runs `node`: Node 22 first on PATH */
    char path[8600];
    snprintf(path, sizeof path, "%s/.deps/npm/node_modules/.bin:%s", test_root(), getenv("PATH"));
    json_t *cfg = json_pack("{s:{s:{s:s, s:{s:s, s:s}}}}", "mcpServers", "everything", "command",
                            bin, "env", "PATH", path, "EVERYTHING_MARK", "1");
    err_t e;
    mcp_servers *m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    const mcp_tool *tools;
    size_t n;
    CHECK(mcp_client_tools(c, &tools, &n, &e) == 0);
    CHECK(n >= 5);
    mcp_result r;
    CHECK(mcp_client_call(c, "echo", "{\"message\": \"hello\"}", 10000, &r, &e) == 0);
    CHECK_STR(r.text, "Echo: hello");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "get-sum", "{\"a\": 2, \"b\": 40}", 10000, &r, &e) == 0);
    CHECK_CONTAINS(r.text, "42");
    mcp_result_free(&r);
    CHECK(mcp_client_call(c, "get-sum", "{\"a\": \"2\", \"b\": 40}", 10000, &r, &e) == 0);
    CHECK(r.is_error);
    CHECK_STR(r.text, "Invalid arguments for tool get-sum: 'a' must be a number, got string");
    mcp_result_free(&r);
    setenv("RETRAIN_SECRET_TOKEN", "do-not-pass", 1);
    CHECK(mcp_client_call(c, "get-env", NULL, 10000, &r, &e) == 0);
    unsetenv("RETRAIN_SECRET_TOKEN");
    CHECK_CONTAINS(r.text, "EVERYTHING_MARK");
    CHECK(!strstr(r.text, "RETRAIN_SECRET_TOKEN"));
    mcp_result_free(&r);
    CHECK(mcp_client_ping(c, &e) == 0);
    mcp_servers_free(m);
}

/* A port nothing listens on right now (the kernel's pick for port 0). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int dbhub_paths(char js[4200])
{
    /* the test tools' copy (scripts/npm), else the benchmarks' */
    snprintf(js, 4200, "%s/.deps/npm/node_modules/@bytebase/dbhub/dist/index.js", test_root());
    if (access(js, R_OK) != 0)
        snprintf(js, 4200, "%s/.deps/npm-bench/node_modules/@bytebase/dbhub/dist/index.js",
                 test_root());
    if (access(js, R_OK) != 0 || !node22()) {
        test_skip("@bytebase/dbhub or Node 22 missing from .deps (scripts/install-deps)");
        return -1;
    }
    return 0;
}

static void dbhub_checks(mcp_client *c)
{
    err_t e;
    const mcp_tool *tools;
    size_t n;
    CHECK_MSG(mcp_client_tools(c, &tools, &n, &e) == 0, "%s", e.msg);
    const mcp_tool *exec = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tools[i].name, "execute_sql"))
            exec = &tools[i];
    CHECK_MSG(exec, "dbhub has no execute_sql tool");
    mcp_result r;
    CHECK(mcp_client_call(c, "execute_sql", "{\"sql\": \"SELECT name FROM items WHERE id = 2\"}",
                          20000, &r, &e) == 0);
    CHECK_MSG(!r.is_error, "%s", r.text);
    CHECK_CONTAINS(r.text, "pear");
    mcp_result_free(&r);
}

TEST(client_dbhub_stdio)
{
    char js[4200];
    if (dbhub_paths(js))
        return;
    char dsn[4300];
    snprintf(dsn, sizeof dsn, "sqlite://%s", test_db());
    json_t *cfg = json_pack("{s:{s:{s:s, s:[s, s, s, s, s]}}}", "mcpServers", "dbhub", "command",
                            node22(), "args", js, "--transport", "stdio", "--dsn", dsn);
    err_t e;
    mcp_servers *m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    mcp_servers_set_request_timeout(m, 20000);
    mcp_client *c = mcp_client_get(m, NULL, &e);
    CHECK_MSG(c, "%s", e.msg);
    dbhub_checks(c);
    mcp_servers_free(m);
}

TEST(client_dbhub_http)
{
    char js[4200];
    if (dbhub_paths(js))
        return;
    char dsn[4300];
    snprintf(dsn, sizeof dsn, "sqlite://%s", test_db());
    /* dbhub cannot pick a free port and name it: find one for it */
    int port = free_port();
    CHECK(port > 0);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[] = {(char *)node22(), js,      "--transport", "http", "--port",
                    port_s,           "--dsn", dsn,           NULL};
    child_t ch;
    CHECK(child_start(&ch, argv, NULL) == 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", port);
    json_t *cfg = json_pack("{s:s}", "mcp_server_url", url);
    err_t e;
    mcp_servers *m = mcp_servers_from_json(cfg, "test", &e);
    json_decref(cfg);
    CHECK(m);
    mcp_client *c = NULL;
    for (int i = 0; i < 150 && !c; i++) {
        c = mcp_client_get(m, NULL, &e);
        if (!c)
            usleep(100000);
    }
    if (!c) {
        mcp_servers_free(m);
        child_kill(&ch);
        CHECK_MSG(0, "dbhub over HTTP: %s", e.msg);
    }
    dbhub_checks(c);
    mcp_servers_free(m);
    kill(ch.pid, SIGTERM);
    if (child_wait(&ch, 5000) < 0)
        child_kill(&ch);
}

/* ---- retrain tools ---- */

/* Runs `retrain tools ARGS` (a shell fragment); returns the exit status
 * and the combined output in out. */
static int run_tools(const char *args, buf_t *out)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s' tools %s 2>&1", test_retrain_bin(), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char chunk[4096];
    size_t n;
    buf_reset(out);
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(out, chunk, n);
    if (!out->data)
        buf_puts(out, "");
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(client_tools_command)
{
    char cfgtext[9000];
    snprintf(cfgtext, sizeof cfgtext,
             "{\"mcpServers\": {\"db\": {\"command\": \"%s\", \"args\": [\"mcp-db\"], "
             "\"env\": {\"DB_URL\": \"sqlite:///%s\"}}}}",
             test_retrain_bin(), test_db());
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s", write_file("tools.json", cfgtext));
    buf_t out;
    buf_init(&out);
    char args[9000];
    snprintf(args, sizeof args, "'%s'", cfg);
    CHECK(run_tools(args, &out) == 0);
    CHECK_CONTAINS(out.data, "db: 4 tools (protocol 2025-11-25)\n  all_table_names()\n");
    CHECK_CONTAINS(out.data, "  execute_query(query: string, params?: object)\n"
                             "      Execute a SQL query");
    snprintf(args, sizeof args, "'%s' --call execute_query --args '{\"query\": \"SELECT 1 AS x\"}'",
             cfg);
    CHECK(run_tools(args, &out) == 0);
    CHECK_STR(out.data, "1. row\nx: 1\n\nResult: 1 rows\n");
    snprintf(args, sizeof args,
             "'%s' --call execute_query --args '{\"query\": \"SELECT 0.1 AS x\"}' "
             "--meta '{\"retrain/rows\": true}' --raw",
             cfg);
    CHECK(run_tools(args, &out) == 0);
    CHECK_CONTAINS(out.data, "\"structuredContent\":{\"columns\":[\"x\"],\"rows\":[[0.1]],"
                             "\"truncated\":false,");
    /* an error result: its text, exit 1 */
    snprintf(args, sizeof args,
             "'%s' --server db --call schema_definitions --args "
             "'{\"table_names\": [\"nope\"]}'",
             cfg);
    CHECK(run_tools(args, &out) == 1);
    CHECK_STR(out.data, "Error executing tool schema_definitions: nope\n");
    snprintf(args, sizeof args, "'%s' --call execute_query --args '{}'", cfg);
    CHECK(run_tools(args, &out) == 1);
    CHECK_STR(out.data, "Invalid arguments for tool execute_query: 'query' is required\n");
    /* usage errors: exit 2, one line */
    snprintf(args, sizeof args, "'%s' --call nope", cfg);
    CHECK(run_tools(args, &out) == 2);
    CHECK_STR(out.data, "retrain tools: no MCP server has a tool called 'nope'\n");
    snprintf(args, sizeof args, "'%s' --server x", cfg);
    CHECK(run_tools(args, &out) == 2);
    CHECK_STR(out.data, "retrain tools: no MCP server called 'x' in the config (it has: db)\n");
    snprintf(args, sizeof args, "'%s' --call execute_query --args '{'", cfg);
    CHECK(run_tools(args, &out) == 2);
    CHECK(str_starts(out.data, "retrain tools: --args is not valid JSON: "));
    CHECK(run_tools("", &out) == 2);
    CHECK_STR(out.data,
              "retrain tools: no config file given (retrain tools CONFIG.json; see --help)\n");
    snprintf(args, sizeof args, "'%s' --timeout-ms -5", cfg);
    CHECK(run_tools(args, &out) == 2);
    CHECK_STR(out.data,
              "retrain tools: --timeout-ms takes a number of milliseconds (1 to 86400000)\n");
    snprintf(args, sizeof args, "'%s'",
             write_file("broken.json", "{\"mcpServers\": {\"db\": {\"command\": 1}}}"));
    CHECK(run_tools(args, &out) == 2);
    CHECK_CONTAINS(out.data, "broken.json: mcpServers.db.command must be a non-empty string\n");
    CHECK(strchr(out.data, '\n') == out.data + out.len - 1);
    buf_free(&out);
}
