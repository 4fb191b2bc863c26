/* MCP over a real pipe: `retrain mcp-db` as a child process, driven line by
 * line, with good and bad input. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/mcp/mcp.h"
#include "../support/proc.h"
#include "../test.h"

static char g_db[4200];

/* A small SQLite database for these tests. */
static const char *test_db(void)
{
    if (!g_db[0]) {
        snprintf(g_db, sizeof g_db, "%s/stdio.db", test_tmpdir());
        char cmd[8600];
        snprintf(cmd, sizeof cmd,
                 "sqlite3 '%s' \"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); "
                 "INSERT INTO items VALUES (1, 'apple'), (2, 'pear');\"",
                 g_db);
        if (system(cmd) != 0)
            fprintf(stderr, "could not create %s\n", g_db);
    }
    return g_db;
}

static int start(child_t *c, const char *extra_env)
{
    static char url[4300];
    snprintf(url, sizeof url, "DB_URL=sqlite:///%s", test_db());
    char *argv[] = {(char *)test_retrain_bin(), "mcp-db", NULL};
    char *env[4] = {url, NULL, NULL, NULL};
    if (extra_env)
        env[1] = (char *)extra_env;
    return child_start(c, argv, env);
}

/* Sends msg and returns the next reply line parsed. */
static json_t *rpc(child_t *c, const char *msg)
{
    if (child_send(c, msg) != 0)
        return NULL;
    char *line = child_read_line(c, 10000);
    if (!line)
        return NULL;
    json_t *j = json_loads(line, 0, NULL);
    free(line);
    return j;
}

static int err_code(json_t *r)
{
    return (int)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

static const char *result_text(json_t *r)
{
    json_t *c = json_object_get(json_object_get(r, "result"), "content");
    return json_string_value(json_object_get(json_array_get(c, 0), "text"));
}

#define INIT(v)                                                                                   \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" v \
    "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"

TEST(stdio_initialize_and_versions)
{
    static const char *versions[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
    for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
        child_t c;
        CHECK(start(&c, NULL) == 0);
        char msg[512];
        snprintf(msg, sizeof msg, INIT("%s"), versions[i]);
        json_t *r = rpc(&c, msg);
        const char *pv =
            json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion"));
        CHECK_STR(pv, versions[i]);
        CHECK(json_object_get(json_object_get(json_object_get(r, "result"), "capabilities"),
                              "tools"));
        CHECK_STR(json_string_value(json_object_get(
                      json_object_get(json_object_get(r, "result"), "serverInfo"), "name")),
                  "retrain-mcp-db");
        json_decref(r);
        child_close_stdin(&c);
        CHECK(child_wait(&c, 5000) == 0);
    }
    child_t c;
    CHECK(start(&c, NULL) == 0);
    /* an unknown dated version gets our latest */
    json_t *r = rpc(&c, INIT("2030-01-01"));
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
              MCP_LATEST_VERSION);
    json_decref(r);
    /* something that is not a version at all */
    r = rpc(&c, INIT("1.0.0"));
    CHECK(err_code(r) == MCP_INVALID_PARAMS);
    json_t *data = json_object_get(json_object_get(r, "error"), "data");
    CHECK_STR(json_string_value(json_object_get(data, "requested")), "1.0.0");
    CHECK(json_array_size(json_object_get(data, "supported")) == 4);
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{}}");
    CHECK(err_code(r) == MCP_INVALID_PARAMS);
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_ping_logging_and_tools_list)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    json_decref(rpc(&c, INIT("2025-06-18")));
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}") == 0);
    json_t *r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
    CHECK_STR(json_string_value(json_object_get(r, "id")), "p");
    CHECK(json_is_object(json_object_get(r, "result")) &&
          json_object_size(json_object_get(r, "result")) == 0);
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"warning\"}}");
    CHECK(json_is_object(json_object_get(r, "result")));
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"loud\"}}");
    CHECK(err_code(r) == MCP_INVALID_PARAMS);
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    CHECK(json_array_size(tools) == 4);
    static const char *names[] = {"all_table_names", "filter_table_names", "schema_definitions",
                                  "execute_query"};
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_array_get(tools, i);
        CHECK_STR(json_string_value(json_object_get(t, "name")), names[i]);
        const char *d = json_string_value(json_object_get(t, "description"));
        char want[4400];
        snprintf(want, sizeof want, " database %s.", test_db());
        CHECK(d && str_ends(d, want));
        CHECK_CONTAINS(d, " Connected to sqlite version 3.");
        CHECK(json_is_object(json_object_get(t, "outputSchema"))); /* 2025-06-18 */
    }
    const char *d = json_string_value(json_object_get(json_array_get(tools, 3), "description"));
    CHECK(str_starts(d, "Execute a SQL query and return results in a readable format. Results will "
                        "be truncated after 4000 characters. IMPORTANT: You MUST use the params "
                        "parameter for query parameter substitution (e.g. 'WHERE id = :id' with "
                        "params={'id': 123}) to prevent SQL injection. Direct string concatenation "
                        "is a serious security risk. Connected to sqlite version "));
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\",\"params\":{\"cursor\":\"zz\"}}");
    CHECK(err_code(r) == MCP_INVALID_PARAMS);
    json_decref(r);
    /* structured output from 2025-06-18 on */
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"all_table_names\",\"arguments\":{}}}");
    CHECK_STR(result_text(r), "items");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(r, "result"), "structuredContent"), "result")),
              "items");
    json_decref(r);
    /* an error logged to the client at level >= warning arrives first */
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{"
                         "\"name\":\"execute_query\",\"arguments\":{\"query\":\"SELEC\"}}}") == 0);
    char *l1 = child_read_line(&c, 5000), *l2 = child_read_line(&c, 5000);
    CHECK_CONTAINS(l1, "\"method\":\"notifications/message\"");
    CHECK_CONTAINS(l1, "\"level\":\"error\"");
    CHECK_CONTAINS(l2, "\"id\":7");
    CHECK_CONTAINS(l2, "Error: (sqlite3.OperationalError) near \\\"SELEC\\\": syntax error");
    free(l1);
    free(l2);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_2024_session_has_no_structured_output)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    json_decref(rpc(&c, INIT("2024-11-05")));
    json_t *r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}");
    json_t *t = json_array_get(json_object_get(json_object_get(r, "result"), "tools"), 0);
    CHECK(t && !json_object_get(t, "outputSchema"));
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"all_table_names\",\"arguments\":{}}}");
    CHECK(!json_object_get(json_object_get(r, "result"), "structuredContent"));
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_bad_messages_get_clear_errors_and_server_goes_on)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    json_decref(rpc(&c, INIT("2025-03-26")));
    static const struct {
        const char *msg;
        int code;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", MCP_PARSE_ERROR},
        {"not json at all", MCP_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"id\":2}", MCP_PARSE_ERROR},
        {"42", MCP_INVALID_REQUEST},
        {"[]", MCP_INVALID_REQUEST},
        {"{\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":[1]}", MCP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}", MCP_METHOD_NOT_FOUND},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}", MCP_METHOD_NOT_FOUND},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", MCP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":5}}", MCP_INVALID_PARAMS},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *r = rpc(&c, cases[i].msg);
        CHECK_MSG(r && err_code(r) == cases[i].code, "%s: got %s", cases[i].msg,
                  r ? json_dumps(r, JSON_COMPACT) : "no reply");
        const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
        CHECK(m && strlen(m) > 10);
        json_decref(r);
    }
    /* not UTF-8 */
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\xfeng\"}") == 0);
    char *line = child_read_line(&c, 5000);
    CHECK_CONTAINS(line, "not valid UTF-8");
    free(line);
    /* notifications never get a reply, even unknown or malformed ones */
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}") == 0);
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}") == 0);
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":5}") == 0);
    /* a client response is not answered */
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}") == 0);
    /* blank lines are skipped */
    CHECK(child_send(&c, "\r\n") == 0);
    json_t *r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"ping\"}");
    CHECK_STR(json_string_value(json_object_get(r, "id")), "after");
    json_decref(r);
    /* a batch gets one array, without replies for its notifications */
    r = rpc(&c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":"
                "\"notifications/initialized\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]");
    CHECK(json_is_array(r) && json_array_size(r) == 2);
    CHECK(err_code(json_array_get(r, 1)) == MCP_METHOD_NOT_FOUND);
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_bad_tool_arguments)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    json_decref(rpc(&c, INIT("2025-06-18")));
    static const struct {
        const char *params, *want;
    } cases[] = {
        {"{\"name\":\"nope\",\"arguments\":{}}", "Unknown tool: nope"},
        {"{\"name\":\"execute_query\",\"arguments\":{}}",
         "Invalid arguments for tool execute_query: 'query' is required"},
        {"{\"name\":\"execute_query\",\"arguments\":{\"query\":5}}",
         "Invalid arguments for tool execute_query: 'query' must be a string, got integer"},
        {"{\"name\":\"execute_query\",\"arguments\":{\"query\":\"SELECT 1\",\"params\":[1]}}",
         "Invalid arguments for tool execute_query: 'params' must be an object, got array"},
        {"{\"name\":\"execute_query\",\"arguments\":\"SELECT 1\"}",
         "Invalid arguments for tool execute_query: arguments must be an object, got string"},
        {"{\"name\":\"filter_table_names\",\"arguments\":{\"q\":null}}",
         "Invalid arguments for tool filter_table_names: 'q' must be a string, got null"},
        {"{\"name\":\"schema_definitions\",\"arguments\":{\"table_names\":\"items\"}}",
         "Invalid arguments for tool schema_definitions: 'table_names' must be an array, got string"},
        {"{\"name\":\"schema_definitions\",\"arguments\":{\"table_names\":[\"items\",3]}}",
         "Invalid arguments for tool schema_definitions: 'table_names[1]' must be a string, got integer"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char msg[1024];
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\",\"params\":%s}",
                 i + 10, cases[i].params);
        json_t *r = rpc(&c, msg);
        CHECK_MSG(r && json_is_true(json_object_get(json_object_get(r, "result"), "isError")),
                  "%s: not an isError result", cases[i].params);
        CHECK_STR(result_text(r), cases[i].want);
        json_decref(r);
    }
    /* JSON text where an object or array is expected is accepted, as FastMCP does */
    json_t *r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"tools/call\",\"params\":{\"name\":"
                        "\"execute_query\",\"arguments\":{\"query\":\"SELECT name FROM items WHERE id = "
                        ":id\",\"params\":\"{\\\"id\\\": 2}\"}}}");
    CHECK_STR(result_text(r), "1. row\nname: pear\n\nResult: 1 rows");
    json_decref(r);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":31,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"schema_definitions\",\"arguments\":{\"table_names\":\"[\\\"items\\\"]\"}}}");
    CHECK_STR(result_text(r), "items:\n    id: primary key, INTEGER, nullable, primary_key=1\n"
                              "    name: TEXT");
    json_decref(r);
    /* extra arguments are ignored; null params means none */
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":32,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"execute_query\",\"arguments\":{\"query\":\"SELECT 1 AS x\",\"params\":null,\"zz\":1}}}");
    CHECK_STR(result_text(r), "1. row\nx: 1\n\nResult: 1 rows");
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_huge_messages)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    /* a 20 MB query string: a clean SQL error, then business as usual */
    size_t n = 20u << 20;
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"execute_query\",\"arguments\":{\"query\":\"SELECT '");
    buf_reserve(&b, n);
    memset(b.data + b.len, 'x', n);
    b.len += n;
    buf_puts(&b, "' AS v\"}}}");
    json_t *r = rpc(&c, b.data);
    CHECK(r != NULL);
    const char *t = result_text(r);
    /* 4000 characters is the limit: nothing fits, the row count says it */
    CHECK(t && str_ends(t, "Result: showing first 0 rows (output truncated)"));
    json_decref(r);
    /* a line above the 64 MiB limit: one parse error, stream stays in sync */
    buf_reset(&b);
    buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"pad\":\"");
    size_t big = MCP_MAX_MESSAGE + 1000;
    buf_reserve(&b, big);
    memset(b.data + b.len, 'y', big);
    b.len += big;
    buf_puts(&b, "\"}");
    r = rpc(&c, b.data);
    CHECK(err_code(r) == MCP_PARSE_ERROR);
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                   "exceeds the limit");
    json_decref(r);
    buf_free(&b);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    CHECK(json_integer_value(json_object_get(r, "id")) == 3);
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

#define LONG_QUERY                                                                                \
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"               \
    "\"execute_query\",\"arguments\":{\"query\":\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "   \
    "SELECT x + 1 FROM c) SELECT count(*) FROM c\"}}}"

TEST(stdio_cancel_and_ping_during_a_long_query)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    json_decref(rpc(&c, INIT("2025-06-18")));
    CHECK(child_send(&c, LONG_QUERY) == 0);
    usleep(200000);
    /* ping is answered while the query runs */
    uint64_t t0 = time_now_ns();
    json_t *r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}");
    CHECK(json_integer_value(json_object_get(r, "id")) == 8);
    CHECK(time_now_ns() - t0 < 1000000000ull);
    json_decref(r);
    /* cancelled: no reply for 7, and the next call runs at once */
    CHECK(child_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                         "{\"requestId\":7,\"reason\":\"user\"}}") == 0);
    r = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"execute_query\",\"arguments\":{\"query\":\"SELECT 2 AS two\"}}}");
    CHECK_MSG(json_integer_value(json_object_get(r, "id")) == 9, "got %s",
              r ? json_dumps(r, JSON_COMPACT) : "nothing");
    CHECK_STR(result_text(r), "1. row\ntwo: 2\n\nResult: 1 rows");
    CHECK(time_now_ns() - t0 < 3000000000ull);
    json_decref(r);
    child_close_stdin(&c);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_exits_after_answering_when_stdin_closes)
{
    child_t c;
    CHECK(start(&c, NULL) == 0);
    CHECK(child_send(&c, INIT("2025-06-18")) == 0);
    for (int i = 0; i < 20; i++) {
        char m[256];
        snprintf(m, sizeof m, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                              "{\"name\":\"all_table_names\",\"arguments\":{}}}", i + 100);
        CHECK(child_send(&c, m) == 0);
    }
    /* the last message has no newline */
    CHECK(child_write(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"last\",\"method\":\"ping\"}", 45) == 0);
    child_close_stdin(&c);
    int n = 0;
    char *line;
    int saw_last = 0;
    while ((line = child_read_line(&c, 5000)) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        CHECK_MSG(j != NULL, "stdout carried a non-JSON line: %s", line);
        saw_last |= json_is_string(json_object_get(j, "id"));
        json_decref(j);
        free(line);
        n++;
    }
    CHECK(n == 22);
    CHECK(saw_last);
    CHECK(child_wait(&c, 5000) == 0);
}

TEST(stdio_startup_errors_are_one_clear_line)
{
    static const struct {
        const char *env1, *env2, *want;
    } cases[] = {
        {"DB_URL=", NULL, "DB_URL is not set"},
        {"DB_URL=mysql://u@h/db", NULL, "unsupported database 'mysql'"},
        {"DB_URL=nonsense", NULL, "is not a database URL"},
        {"DB_URL=sqlite://", "EXECUTE_QUERY_MAX_CHARS=lots", "EXECUTE_QUERY_MAX_CHARS must be an integer"},
        {"DB_URL=sqlite://", "QUERY_TIMEOUT_MS=-5", "QUERY_TIMEOUT_MS must be an integer >= 0"},
        {"DB_URL=sqlite://", "DB_ENGINE_OPTIONS={bad", "DB_ENGINE_OPTIONS must be a JSON object"},
        {"DB_URL=sqlite://", "CLAUDE_LOCAL_FILES_PATH=/nonexistent/dir", "is not a writable directory"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        child_t c;
        char *argv[] = {(char *)test_retrain_bin(), "mcp-db", NULL};
        char *env[] = {(char *)cases[i].env1, (char *)cases[i].env2, NULL};
        CHECK(child_start(&c, argv, env) == 0);
        child_close_stdin(&c);
        usleep(100000);
        int rc = child_wait(&c, 5000);
        (void)rc;
        /* child_wait closed the pipes; run again to read stderr */
        CHECK(child_start(&c, argv, env) == 0);
        child_close_stdin(&c);
        char *line = child_read_line(&c, 2000);
        CHECK_MSG(line == NULL, "stdout got: %s", line);
        usleep(200000);
        char *err = child_read_stderr(&c);
        CHECK_CONTAINS(err, cases[i].want);
        CHECK_MSG(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
        free(err);
        CHECK(child_wait(&c, 5000) == 2);
    }
    child_t c;
    char *argv[] = {(char *)test_retrain_bin(), "mcp-db", "--bogus", NULL};
    char *env[] = {"DB_URL=sqlite://", NULL};
    CHECK(child_start(&c, argv, env) == 0);
    CHECK(child_wait(&c, 5000) == 2);
}
