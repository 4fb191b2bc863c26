/* db: the SQLite backend, through the db API and the MCP tools. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tool.h"
#include "../test.h"

static char *tmp_path(const char *name)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", test_tmpdir(), name);
    return buf_take(&b);
}

static int make_db(const char *path, const char *sql)
{
    sqlite3 *db;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "make_db: %s\n", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static char *url_for(const char *path)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "sqlite:///%s", path);
    return buf_take(&b);
}

static char *file_sha(const char *path)
{
    size_t n;
    char *data = file_read(path, &n, NULL);
    if (!data)
        return xstrdup("missing");
    sha256_ctx *c = sha256_new();
    sha256_update(c, data, n);
    char hex[65];
    sha256_final_hex(c, hex);
    free(data);
    return xstrdup(hex);
}

/* The resident-memory bound the bounded-memory tests check. Under
 * AddressSanitizer freed blocks stay in its quarantine and every block
 * carries redzones, so resident memory measures the sanitizer, not the
 * code: there the bound is not checked (the release build checks it). */
#ifdef __SANITIZE_ADDRESS__
#define RSS_BOUND_KB (1L << 40)
#else
#define RSS_BOUND_KB 20000L
#endif

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static const char *SCHEMA =
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE);\n"
    "CREATE TABLE \"we\"\"ird\" (x INT);\n"
    "CREATE TABLE t (\n"
    "  a INTEGER PRIMARY KEY,\n"
    "  b VARCHAR(40) NOT NULL DEFAULT 'x',\n"
    "  c NUMERIC(10,2),\n"
    "  d DOUBLE PRECISION,\n"
    "  e \"UNSIGNED BIG INT\",\n"
    "  f BLOB,\n"
    "  g,\n"
    "  h DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
    "  i VARCHAR(10, 5),\n"
    "  j NVARCHAR(10, 5),\n"
    "  k FLOAT(53),\n"
    "  l CHARACTER(20),\n"
    "  m INT(11),\n"
    "  n TEXT,\n"
    "  o BOOLEAN,\n"
    "  p DECIMAL(5),\n"
    "  q \"VARCHAR (40)\",\n"
    "  r POINT,\n"
    "  s JSON,\n"
    "  w REAL DEFAULT 0.5,\n"
    "  y DATE DEFAULT '',\n"
    "  pid INTEGER REFERENCES parent,\n"
    "  pcode TEXT,\n"
    "  gen_virt INTEGER GENERATED ALWAYS AS (a+1) VIRTUAL,\n"
    "  gen_stored TEXT GENERATED ALWAYS AS (upper(n)) STORED,\n"
    "  CONSTRAINT fk_code FOREIGN KEY (pcode) REFERENCES parent (code) ON DELETE CASCADE\n"
    ");\n"
    "CREATE TABLE comp (x INTEGER, y TEXT, z INT, PRIMARY KEY (y, x), FOREIGN KEY (x, y) "
    "REFERENCES comp2 (a, b));\n"
    "CREATE VIEW v AS SELECT a, b FROM t;\n"
    "INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');\n";

/* What SQLAlchemy 2.0's SQLite inspector reports, as mcp-alchemy prints it
 * (type affinity rules, constructor arguments, FK order: constraints found
 * in the CREATE TABLE text first, then inline ones). */
static const char *SCHEMA_TEXT =
    "t:\n"
    "    a: primary key, INTEGER, nullable, primary_key=1\n"
    "    b: VARCHAR(40), default='x'\n"
    "    c: NUMERIC(10, 2), nullable\n"
    "    d: REAL, nullable\n"
    "    e: INTEGER, nullable\n"
    "    f: BLOB, nullable\n"
    "    g: NULL, nullable\n"
    "    h: DATETIME, nullable, default=CURRENT_TIMESTAMP\n"
    "    i: VARCHAR(10) COLLATE \"5\", nullable\n"
    "    j: NVARCHAR, nullable\n"
    "    k: FLOAT, nullable\n"
    "    l: TEXT(20), nullable\n"
    "    m: INTEGER, nullable\n"
    "    n: TEXT, nullable\n"
    "    o: BOOLEAN, nullable\n"
    "    p: DECIMAL(5), nullable\n"
    "    q: TEXT(40), nullable\n"
    "    r: INTEGER, nullable\n"
    "    s: JSON, nullable\n"
    "    w: REAL, nullable, default=0.5\n"
    "    y: DATE, nullable, default=''\n"
    "    pid: INTEGER, nullable\n"
    "    pcode: TEXT, nullable\n"
    "    gen_virt: INTEGER, nullable, computed={'sqltext': 'a+1', 'persisted': False}\n"
    "    gen_stored: TEXT, nullable, computed={'sqltext': 'upper(n)', 'persisted': True}\n"
    "\n"
    "    Relationships:\n"
    "      pcode -> parent.code\n"
    "      pid -> parent.id\n"
    "comp:\n"
    "    x: primary key, INTEGER, nullable, primary_key=2\n"
    "    y: primary key, TEXT, nullable, primary_key=1\n"
    "    z: INTEGER, nullable\n"
    "\n"
    "    Relationships:\n"
    "      x, y -> comp2.a, b\n"
    "we\"ird:\n"
    "    x: INTEGER, nullable\n"
    "v:\n"
    "    a: INTEGER, nullable\n"
    "    b: VARCHAR(40), nullable";

TEST(sqlite_schema_definitions_as_sqlalchemy)
{
    char *path = tmp_path("schema.db"), *url = url_for(path);
    CHECK(make_db(path, SCHEMA) == 0);
    tool_env t;
    CHECK(tool_env_open(&t, url, NULL, NULL) == 0);
    int err;
    char *s = tool_call(&t, "schema_definitions",
                        "{\"table_names\": [\"t\", \"comp\", \"we\\\"ird\", \"v\"]}", &err);
    CHECK_STR(s, SCHEMA_TEXT);
    CHECK(!err);
    free(s);
    s = tool_call(&t, "all_table_names", "{}", &err);
    CHECK_STR(s, "comp, parent, t, we\"ird");
    free(s);
    s = tool_call(&t, "filter_table_names", "{\"q\": \"ar\"}", &err);
    CHECK_STR(s, "parent");
    free(s);
    s = tool_call(&t, "filter_table_names", "{\"q\": \"nothing\"}", &err);
    CHECK_STR(s, "");
    free(s);
    /* an unknown table is a tool error, like FastMCP's NoSuchTableError */
    s = tool_call(&t, "schema_definitions", "{\"table_names\": [\"t\", \"nosuch\"]}", &err);
    CHECK_STR(s, "Error executing tool schema_definitions: nosuch");
    CHECK(err);
    free(s);
    tool_env_close(&t);
    free(path);
    free(url);
}

TEST(sqlite_values_as_python_prints_them)
{
    tool_env t;
    CHECK(tool_env_open(&t, "sqlite://", NULL, NULL) == 0);
    int err;
    char *s = tool_call(&t, "execute_query",
                        "{\"query\": \"SELECT 1 AS i, 1.5 AS f, 1e-5 AS small, 1e16 AS big, "
                        "x'00ff27' AS b, NULL AS n, 10/3.0 AS third, 'h\\u00e9llo' AS t, "
                        "-0.0 AS negz, 9223372036854775807 AS maxi\"}",
                        &err);
    CHECK_STR(s, "1. row\ni: 1\nf: 1.5\nsmall: 1e-05\nbig: 1e+16\nb: b\"\\x00\\xff'\"\nn: NULL\n"
                 "third: 3.3333333333333335\nt: h\xc3\xa9llo\nnegz: -0.0\nmaxi: "
                 "9223372036854775807\n\nResult: 1 rows");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1 WHERE 0\"}", &err);
    CHECK_STR(s, "No rows returned");
    free(s);
    /* rowcount: -1 for DDL (Python's sqlite3), the change count for DML */
    s = tool_call(&t, "execute_query", "{\"query\": \"CREATE TABLE x (a)\"}", &err);
    CHECK_STR(s, "Success: -1 rows affected");
    free(s);
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"INSERT INTO x VALUES (:a), (:b), (:a)\", \"params\": {\"a\": "
                  "\"x\", \"b\": null}}",
                  &err);
    CHECK_STR(s, "Success: 3 rows affected");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"  UPDATE x SET a = 'y' WHERE a = 'x'\"}", &err);
    CHECK_STR(s, "Success: 2 rows affected");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"DELETE FROM x RETURNING a\"}", &err);
    CHECK_STR(s, "1. row\na: y\n\n2. row\na: NULL\n\n3. row\na: y\n\nResult: 3 rows");
    free(s);
    /* bool, float and text parameters bind as Python's sqlite3 binds them */
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"SELECT :t AS t, :f AS f, :x AS x, typeof(:x) AS ty\", \"params\": "
                  "{\"t\": true, \"f\": 2.5, \"x\": \"5\"}}",
                  &err);
    CHECK_STR(s, "1. row\nt: 1\nf: 2.5\nx: 5\nty: text\n\nResult: 1 rows");
    free(s);
    tool_env_close(&t);
}

TEST(sqlite_errors_as_sqlalchemy)
{
    tool_env t;
    CHECK(tool_env_open(&t, "sqlite://", NULL, NULL) == 0);
    int err;
    char *s = tool_call(&t, "execute_query", "{\"query\": \"ZOOP BOOP LOOP\"}", &err);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) near \"ZOOP\": syntax error\n"
                 "[SQL: ZOOP BOOP LOOP]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    CHECK(!err); /* an SQL error is a normal result that says Error: */
    free(s);
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"SELECT * FROM nosuch WHERE a = :a\", \"params\": {\"a\": 5}}", &err);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) no such table: nosuch\n"
                 "[SQL: SELECT * FROM nosuch WHERE a = ?]\n"
                 "[parameters: (5,)]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1; SELECT 2\"}", &err);
    CHECK_STR(s, "Error: (sqlite3.ProgrammingError) You can only execute one statement at a time.\n"
                 "[SQL: SELECT 1; SELECT 2]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/f405)");
    free(s);
    /* a trailing semicolon and comments are fine */
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1 AS one; -- done\\n /* end */\"}", &err);
    CHECK_STR(s, "1. row\none: 1\n\nResult: 1 rows");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT :a + :b\", \"params\": {\"a\": 1}}", &err);
    CHECK_STR(s, "Error: (sqlalchemy.exc.InvalidRequestError) A value is required for bind "
                 "parameter 'b'\n[SQL: SELECT ? + ?]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/cd3x)");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT :a\", \"params\": {\"a\": [1, 2]}}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.ProgrammingError) Error binding parameter 1: type 'list' is "
                      "not supported");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"CREATE TABLE u (a UNIQUE)\"}", &err);
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"INSERT INTO u VALUES (1), (1)\"}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.IntegrityError) UNIQUE constraint failed: u.a");
    CHECK_CONTAINS(s, "sqlalche.me/e/20/gkpj");
    free(s);
    /* only whitespace: nothing to run */
    s = tool_call(&t, "execute_query", "{\"query\": \"  -- nothing\"}", &err);
    CHECK_STR(s, "Success: -1 rows affected");
    free(s);
    tool_env_close(&t);
}

TEST(sqlite_truncation_counts_code_points)
{
    tool_env t;
    mcp_db_config cfg = {.max_chars = 100};
    CHECK(tool_env_open(&t, "sqlite://", NULL, &cfg) == 0);
    int err;
    /* Block 1: "1. row" (6+1) + "v: " and 40 e-acute and 40 digits (3+80+1)
     * + the empty line (1) = 92 code points (132 bytes); block 2 adds 13,
     * passing 100: one row shows. Counting bytes would show none. */
    char *s = tool_call(&t, "execute_query",
                        "{\"query\": \"SELECT v FROM (SELECT 1 AS k, replace(hex(zeroblob(20)), "
                        "'00', '\\u00e9\\u00e9') || '1234567890123456789012345678901234567890' AS v "
                        "UNION ALL SELECT 2, 'x') ORDER BY k\"}",
                        &err);
    CHECK(s && str_starts(s, "1. row\nv: \xc3\xa9"));
    CHECK(str_ends(s, "\n\nResult: showing first 1 rows (output truncated)"));
    free(s);
    /* 13 + 13 code points: both fit */
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 'x' AS v UNION ALL SELECT 'y'\"}", &err);
    CHECK_STR(s, "1. row\nv: x\n\n2. row\nv: y\n\nResult: 2 rows");
    free(s);
    tool_env_close(&t);
}

TEST(sqlite_read_only_leaves_file_byte_identical)
{
    char *path = tmp_path("ro.db"), *url = url_for(path);
    CHECK(make_db(path, SCHEMA) == 0);
    char *before = file_sha(path);
    db_options ro = {.read_only = 1};
    tool_env t;
    CHECK(tool_env_open(&t, url, &ro, NULL) == 0);
    static const char *writes[] = {
        "INSERT INTO parent VALUES (3, 'p3')",
        "UPDATE parent SET code = 'zz'",
        "DELETE FROM parent",
        "REPLACE INTO parent VALUES (1, 'q')",
        "DROP TABLE parent",
        "CREATE TABLE z (a)",
        "CREATE TEMP TABLE z (a)",
        "ALTER TABLE parent ADD COLUMN q",
        "CREATE INDEX ix ON parent(code)",
        "PRAGMA user_version = 5",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "ATTACH DATABASE 'other.db' AS o",
        "INSERT INTO parent SELECT 9, 'x' RETURNING *",
    };
    for (size_t i = 0; i < ARRAY_LEN(writes); i++) {
        char args[512];
        snprintf(args, sizeof args, "{\"query\": \"%s\"}", writes[i]);
        int err;
        char *s = tool_call(&t, "execute_query", args, &err);
        CHECK_MSG(s && str_starts(s, "Error: "), "%s was not refused: %s", writes[i], s);
        free(s);
    }
    /* VACUUM INTO would write a new file: refused too */
    char *into = tmp_path("copy.db");
    char args[8300];
    snprintf(args, sizeof args, "{\"query\": \"VACUUM INTO '%s'\"}", into);
    int err;
    char *s = tool_call(&t, "execute_query", args, &err);
    CHECK_MSG(s && str_starts(s, "Error: "), "VACUUM INTO was not refused: %s", s);
    free(s);
    CHECK(!file_exists(into));
    free(into);
    /* reads work */
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT count(*) AS n FROM parent\"}", &err);
    CHECK_STR(s, "1. row\nn: 2\n\nResult: 1 rows");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"PRAGMA user_version\"}", &err);
    CHECK_STR(s, "1. row\nuser_version: 0\n\nResult: 1 rows");
    free(s);
    tool_env_close(&t);
    char *after = file_sha(path);
    CHECK_STR(after, before);
    free(before);
    free(after);
    free(path);
    free(url);
}

TEST(sqlite_timeout_stops_runaway_query)
{
    db_options o = {.timeout_ms = 300};
    tool_env t;
    CHECK(tool_env_open(&t, "sqlite://", &o, NULL) == 0);
    int err;
    uint64_t t0 = time_now_ns();
    char *s = tool_call(&t, "execute_query",
                        "{\"query\": \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM "
                        "c) SELECT count(*) FROM c\"}",
                        &err);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    CHECK_CONTAINS(s, "Error: (sqlite3.OperationalError) query stopped: it ran longer than "
                      "QUERY_TIMEOUT_MS (300 ms)");
    CHECK_MSG(secs < 3.0, "took %.2f s", secs);
    free(s);
    /* the connection is fine afterwards, and fast queries are not hit */
    for (int i = 0; i < 50; i++) {
        s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1 AS one\"}", &err);
        CHECK_STR(s, "1. row\none: 1\n\nResult: 1 rows");
        free(s);
    }
    /* a slow reader of many rows is stopped too */
    t0 = time_now_ns();
    mcp_db_config cfg = {.max_chars = 4000, .local_files_path = test_tmpdir()};
    buf_t out;
    buf_init(&out);
    mcp_db_execute_query_text(t.conn, &cfg,
                              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                              "SELECT x FROM c",
                              NULL, &out);
    CHECK_CONTAINS(out.data, "QUERY_TIMEOUT_MS");
    CHECK(time_now_ns() - t0 < 3000000000ull);
    buf_free(&out);
    tool_env_close(&t);
}

TEST(sqlite_huge_result_is_not_materialised)
{
    tool_env t;
    CHECK(tool_env_open(&t, "sqlite://", NULL, NULL) == 0);
    long before = rss_kb();
    uint64_t t0 = time_now_ns();
    int err;
    char *s = tool_call(&t, "execute_query",
                        "{\"query\": \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM "
                        "c LIMIT 10000000) SELECT x, printf('%0100d', x) AS pad FROM c\"}",
                        &err);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    CHECK(s && str_ends(s, "(output truncated)"));
    free(s);
    CHECK_MSG(secs < 1.0, "10M-row query took %.2f s: rows were read past the limit", secs);
    CHECK_MSG(rss_kb() - before < RSS_BOUND_KB, "RSS grew by %ld kB", rss_kb() - before);

    /* With CLAUDE_LOCAL_FILES_PATH every row is read and written to the
     * file, still in bounded memory. */
    mcp_db_config cfg = {.max_chars = 4000, .local_files_path = test_tmpdir()};
    buf_t out;
    buf_init(&out);
    before = rss_kb();
    mcp_db_execute_query_text(t.conn, &cfg,
                              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                              "LIMIT 1000000) SELECT x FROM c",
                              NULL, &out);
    CHECK_CONTAINS(out.data, "Result: 1000000 rows (output truncated)\nFull result set url: ");
    CHECK_MSG(rss_kb() - before < RSS_BOUND_KB, "RSS grew by %ld kB", rss_kb() - before);
    const char *name = strstr(out.data, "claude-local-files/") + strlen("claude-local-files/");
    char file[4300];
    snprintf(file, sizeof file, "%s/%.69s", test_tmpdir(), name);
    struct stat st;
    CHECK_MSG(stat(file, &st) == 0, "no file %s", file);
    /* [["1"], ["2"], ...]: the bytes of json.dumps */
    CHECK(st.st_size > 1000000 * 7);
    char *sha = file_sha(file);
    CHECK(strncmp(sha, name, 64) == 0); /* named by the hash of its content */
    free(sha);
    unlink(file);
    buf_free(&out);
    tool_env_close(&t);
}

TEST(sqlite_missing_or_vanishing_database)
{
    /* read-only: a missing file is an error on every call, not a new file */
    char *path = tmp_path("absent.db"), *url = url_for(path);
    db_options ro = {.read_only = 1};
    tool_env t;
    CHECK(tool_env_open(&t, url, &ro, NULL) == 0);
    int err;
    char *s = tool_call(&t, "all_table_names", "{}", &err);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) unable to open database file\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    CHECK(err);
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1\"}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.OperationalError) unable to open database file");
    free(s);
    CHECK(!file_exists(path));
    /* the tool descriptions still come, with what is known */
    char *r = tool_rpc(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    CHECK_CONTAINS(r, "Connected to sqlite version ");
    free(r);
    /* the file appears: the next call works */
    CHECK(make_db(path, "CREATE TABLE a (x); INSERT INTO a VALUES (1);") == 0);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT x FROM a\"}", &err);
    CHECK_STR(s, "1. row\nx: 1\n\nResult: 1 rows");
    free(s);
    /* the file goes away under a running server (noticed within 0.2 s) */
    unlink(path);
    usleep(300000);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT x FROM a\"}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.OperationalError) unable to open database file");
    free(s);
    tool_env_close(&t);

    /* a file that is not a database */
    char *junk = tmp_path("junk.db"), *jurl = url_for(junk);
    err_t e;
    CHECK(file_write_atomic(junk, "this is not sqlite, this is plain text......", 44, &e) == 0);
    CHECK(tool_env_open(&t, jurl, NULL, NULL) == 0);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT 1\"}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.DatabaseError) file is not a database");
    free(s);
    tool_env_close(&t);
    free(junk);
    free(jurl);
    free(path);
    free(url);
}

TEST(sqlite_uri_and_relative_urls)
{
    char *path = tmp_path("uri.db");
    CHECK(make_db(path, "CREATE TABLE a (x); INSERT INTO a VALUES (7);") == 0);
    char url[4400];
    snprintf(url, sizeof url, "sqlite:///file:%s?mode=ro&uri=true", path);
    tool_env t;
    CHECK(tool_env_open(&t, url, NULL, NULL) == 0);
    int err;
    char *s = tool_call(&t, "execute_query", "{\"query\": \"SELECT x FROM a\"}", &err);
    CHECK_STR(s, "1. row\nx: 7\n\nResult: 1 rows");
    free(s);
    /* mode=ro: writes fail with SQLite's own message */
    s = tool_call(&t, "execute_query", "{\"query\": \"INSERT INTO a VALUES (8)\"}", &err);
    CHECK_CONTAINS(s, "Error: (sqlite3.OperationalError) attempt to write a readonly database");
    free(s);
    char *r = tool_rpc(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    char want[4500];
    snprintf(want, sizeof want, "database file:%s.", path);
    CHECK_CONTAINS(r, want);
    free(r);
    tool_env_close(&t);

    /* relative to the working directory */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(test_tmpdir()) == 0);
    CHECK(tool_env_open(&t, "sqlite:///uri.db", NULL, NULL) == 0);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT x FROM a\"}", &err);
    CHECK(chdir(cwd) == 0);
    CHECK_STR(s, "1. row\nx: 7\n\nResult: 1 rows");
    free(s);
    r = tool_rpc(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    CHECK_CONTAINS(r, "database uri.db.");
    free(r);
    tool_env_close(&t);
    free(path);
}

TEST(sqlite_invalid_utf8_text_is_kept_visible)
{
    char *path = tmp_path("bad8.db"), *url = url_for(path);
    CHECK(make_db(path, "CREATE TABLE a (x); INSERT INTO a VALUES (CAST(x'61ff62' AS TEXT));") == 0);
    tool_env t;
    CHECK(tool_env_open(&t, url, NULL, NULL) == 0);
    int err;
    char *s = tool_call(&t, "execute_query", "{\"query\": \"SELECT x FROM a\"}", &err);
    CHECK_STR(s, "1. row\nx: a\xef\xbf\xbd" "b\n\nResult: 1 rows");
    free(s);
    tool_env_close(&t);
    free(path);
    free(url);
}
