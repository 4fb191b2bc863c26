/* DB_ENGINE_OPTIONS: create_engine() arguments, honoured or refused. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/pg_server.h"
#include "../support/tool.h"
#include "../test.h"

static db_conn *open_with(const char *url, const char *options, err_t *e)
{
    db_options o = {.engine_options = options};
    return db_new(url, &o, e);
}

/* First line of execute_query's text. */
static char *run(db_conn *c, const char *sql, json_t *params)
{
    mcp_db_config cfg = {.max_chars = 4000};
    buf_t out;
    buf_init(&out);
    mcp_db_execute_query_text(c, &cfg, sql, params, &out);
    return buf_take(&out);
}

TEST(engine_options_refused_with_a_clear_line)
{
    static const struct {
        const char *url, *options, *want;
    } cases[] = {
        {"sqlite://", "[1]", "DB_ENGINE_OPTIONS must be a JSON object"},
        {"sqlite://", "{\"pool_size\": 1,", "DB_ENGINE_OPTIONS must be a JSON object"},
        {"sqlite://", "{\"poolsize\": 1}", "invalid argument 'poolsize' for create_engine()"},
        {"sqlite://", "{\"isolation_level\": \"REPEATABLE READ\"}",
         "isolation_level must be one of AUTOCOMMIT, READ UNCOMMITTED, SERIALIZABLE for sqlite"},
        {"postgresql://u@localhost/db", "{\"isolation_level\": 5}",
         "isolation_level must be one of AUTOCOMMIT, READ COMMITTED"},
        {"sqlite://", "{\"connect_args\": []}", "connect_args must be a JSON object"},
        {"sqlite://", "{\"connect_args\": {\"timeout\": \"x\"}}", "connect_args.timeout"},
        {"sqlite://", "{\"connect_args\": {\"nope\": 1}}",
         "'nope' is an invalid keyword argument for sqlite3's Connection()"},
        {"postgresql://u@localhost/db", "{\"connect_args\": {\"sslmode\": [1]}}",
         "connect_args.sslmode must be a string, number or boolean"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        err_t e;
        db_conn *c = open_with(cases[i].url, cases[i].options, &e);
        CHECK_MSG(c == NULL, "%s was accepted", cases[i].options);
        CHECK_CONTAINS(e.msg, cases[i].want);
        CHECK(!strchr(e.msg, '\n'));
    }
    /* pool settings and the like are accepted */
    err_t e;
    db_conn *c = open_with("sqlite://", "{\"pool_size\": 1, \"max_overflow\": 2, \"pool_recycle\": "
                                        "3600, \"pool_pre_ping\": true, \"isolation_level\": "
                                        "\"AUTOCOMMIT\"}",
                           &e);
    CHECK_MSG(c != NULL, "%s", e.msg);
    db_free(c);
}

TEST(engine_options_sqlite_timeout_and_uri)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/locked.db", test_tmpdir());
    sqlite3 *other;
    CHECK(sqlite3_open(path, &other) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "CREATE TABLE t (a); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);", NULL,
                       NULL, NULL) == SQLITE_OK);
    char url[4300];
    snprintf(url, sizeof url, "sqlite:///%s", path);
    err_t e;
    db_conn *c = open_with(url, "{\"connect_args\": {\"timeout\": 0.2}}", &e);
    CHECK_MSG(c, "%s", e.msg);
    uint64_t t0 = time_now_ns();
    char *s = run(c, "SELECT * FROM t", NULL);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    CHECK_CONTAINS(s, "Error: (sqlite3.OperationalError) database is locked");
    CHECK_MSG(secs > 0.15 && secs < 2.0, "waited %.2f s, not about 0.2 s", secs);
    free(s);
    db_free(c);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(other);

    /* connect_args.uri: the database part is an SQLite URI */
    snprintf(url, sizeof url, "sqlite:///file:%s?mode=ro", path);
    c = open_with(url, "{\"connect_args\": {\"uri\": true}}", &e);
    CHECK_MSG(c, "%s", e.msg);
    s = run(c, "INSERT INTO t VALUES (2)", NULL);
    CHECK_CONTAINS(s, "attempt to write a readonly database");
    free(s);
    db_free(c);
}

TEST(engine_options_hide_parameters_and_echo)
{
    err_t e;
    db_conn *c = open_with("sqlite://", "{\"hide_parameters\": true, \"echo\": true}", &e);
    CHECK_MSG(c, "%s", e.msg);
    /* echo writes to stderr: catch it */
    char log[4200];
    snprintf(log, sizeof log, "%s/echo.log", test_tmpdir());
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    json_t *p = json_pack("{s:i}", "secret", 42);
    char *s = run(c, "SELECT * FROM nosuch WHERE a = :secret", p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) no such table: nosuch\n"
                 "[SQL: SELECT * FROM nosuch WHERE a = ?]\n"
                 "[SQL parameters hidden due to hide_parameters=True]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    free(s);
    json_decref(p);
    char *logged = file_read(log, NULL, NULL);
    CHECK_CONTAINS(logged, "SELECT * FROM nosuch WHERE a = ?");
    CHECK_CONTAINS(logged, "{'secret': 42}");
    free(logged);
    db_free(c);
}

TEST(engine_options_postgres_isolation_and_connect_args)
{
    char why[512];
    if (pg_server_start(why, sizeof why) != 0) {
        test_skip("PostgreSQL is not available: %s", why);
        return;
    }
    err_t e;
    db_conn *c = open_with(pg_server_url(),
                           "{\"isolation_level\": \"REPEATABLE READ\", \"connect_args\": "
                           "{\"application_name\": \"engine-test\", \"connect_timeout\": 5}}",
                           &e);
    CHECK_MSG(c, "%s", e.msg);
    char *s = run(c, "SELECT current_setting('transaction_isolation') AS iso, "
                     "current_setting('application_name') AS app", NULL);
    CHECK_STR(s, "1. row\niso: repeatable read\napp: engine-test\n\nResult: 1 rows");
    free(s);
    db_free(c);
    /* a name libpq does not know: psycopg2's error, on every call */
    c = open_with(pg_server_url(), "{\"connect_args\": {\"no_such_option\": 1}}", &e);
    CHECK_MSG(c, "%s", e.msg);
    s = run(c, "SELECT 1", NULL);
    CHECK_CONTAINS(s, "Error: (psycopg2.ProgrammingError) invalid dsn: invalid connection option "
                      "\"no_such_option\"");
    free(s);
    db_free(c);
}

TEST(engine_options_duckdb_config)
{
    err_t e;
    db_conn *c = open_with("duckdb:///:memory:", "{\"connect_args\": {\"config\": {\"threads\": 1}}}",
                           &e);
    if (!c && strstr(e.msg, "libduckdb.so")) {
        test_skip("%s", e.msg);
        return;
    }
    CHECK_MSG(c, "%s", e.msg);
    char *s = run(c, "SELECT current_setting('threads') AS t", NULL);
    CHECK_STR(s, "1. row\nt: 1\n\nResult: 1 rows");
    free(s);
    db_free(c);
    c = open_with("duckdb:///:memory:", "{\"connect_args\": {\"database\": \"x\"}}", &e);
    CHECK(c == NULL);
    CHECK_CONTAINS(e.msg, "'database' is not an argument of duckdb.connect()");
}
