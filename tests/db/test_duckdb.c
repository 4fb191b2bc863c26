/* The DuckDB backend (src/db/duckdb.c), through the public db API and the
 * execute_query text. Databases are created in the test's temporary
 * directory through the backend itself. Every test skips, saying why,
 * when libduckdb.so is not installed (scripts/install-deps installs it). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/db/db.h"
#include "../../src/mcp/mcp.h"
#include "../test.h"

/* ---- helpers ---- */

static db_error g_err; /* the last failure of run()/row_text(), for messages */

/* Opens url; NULL after skipping (library absent) or failing the test. */
static db_conn *duck_open(const char *url, const db_options *o)
{
    err_t e;
    db_conn *c = db_new(url, o, &e);
    if (!c) {
        if (strstr(e.msg, "libduckdb.so"))
            test_skip("%s", e.msg);
        else
            test_fail(__FILE__, __LINE__, "db_new(%s): %s", url, e.msg);
    }
    return c;
}

#define OPEN(c, url, opts)                                                      \
    db_conn *c = duck_open(url, opts);                                          \
    if (!c)                                                                     \
        return

/* Runs sql and reads every row; 0 on success, else g_err says why. */
static int run(db_conn *c, const char *sql)
{
    db_cursor *cur;
    if (db_execute(c, sql, NULL, &cur, &g_err) != 0)
        return -1;
    const db_value *row;
    int rc;
    while ((rc = db_next(cur, &row, &g_err)) == 1)
        ;
    db_close_cursor(cur);
    return rc;
}

#define RUN(c, sql) CHECK_MSG(run(c, sql) == 0, "%s: %s", sql, g_err.message)

/* The first row of sql, each value as db_value_format prints it, joined
 * by " | "; a malloc'ed string, or NULL with g_err set. */
static char *row_text(db_conn *c, const char *sql, json_t *params)
{
    db_cursor *cur;
    if (db_execute(c, sql, params, &cur, &g_err) != 0)
        return NULL;
    const db_value *row;
    buf_t b;
    buf_init(&b);
    int rc = db_next(cur, &row, &g_err);
    if (rc == 1)
        for (size_t i = 0; i < db_ncols(cur); i++) {
            if (i)
                buf_puts(&b, " | ");
            db_value_format(&b, &row[i]);
        }
    db_close_cursor(cur);
    if (rc != 1) {
        buf_free(&b);
        if (rc == 0)
            snprintf(g_err.message, sizeof g_err.message, "no rows");
        return NULL;
    }
    return buf_take(&b);
}

#define CHECK_ROW(c, sql, want)                                                 \
    do {                                                                        \
        char *got_ = row_text(c, sql, NULL);                                    \
        CHECK_MSG(got_, "%s: %s", sql, g_err.message);                          \
        int same_ = strcmp(got_, want) == 0;                                    \
        if (!same_)                                                             \
            test_fail(__FILE__, __LINE__, "%s\n--- got:\n%s\n--- want:\n%s", sql, got_, want); \
        free(got_);                                                             \
        if (!same_)                                                             \
            return;                                                             \
    } while (0)

/* execute_query's text for sql (malloc'ed). */
static char *query_text(db_conn *c, const char *sql, json_t *params, long max_chars)
{
    mcp_db_config cfg = {.max_chars = max_chars, .local_files_path = NULL};
    buf_t out;
    buf_init(&out);
    mcp_db_execute_query_text(c, &cfg, sql, params, &out);
    if (!out.data)
        buf_puts(&out, "");
    return buf_take(&out);
}

static char *first_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl ? xstrndup(s, (size_t)(nl - s)) : xstrdup(s);
}

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
}

static double ms_since(uint64_t t0)
{
    return (double)(time_now_ns() - t0) / 1e6;
}

static long vmrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- opening ---- */

TEST(duck_open_url_forms)
{
    OPEN(mem, "duckdb://", NULL);
    CHECK_ROW(mem, "SELECT 40 + 2", "42");
    CHECK_STR(db_dialect(mem), "duckdb");
    CHECK_STR(db_info_line(mem), "Connected to duckdb version 1.5.6 database None.");
    db_free(mem);

    OPEN(mem2, "duckdb:///:memory:", NULL);
    const char *ver = db_server_version(mem2);
    CHECK(ver && strspn(ver, "0123456789.") == strlen(ver) && ver[0] != 'v');
    char want[64];
    snprintf(want, sizeof want, "v%s", ver);
    CHECK_ROW(mem2, "SELECT library_version FROM pragma_version()", want);
    db_free(mem2);

    /* Absolute: duckdb:/// followed by /abs/path. */
    char path[4096], url[4200];
    tmp_path(path, sizeof path, "abs.duckdb");
    snprintf(url, sizeof url, "duckdb:///%s", path);
    OPEN(abs, url, NULL);
    RUN(abs, "CREATE TABLE t AS SELECT 1 AS x");
    db_free(abs);
    CHECK(file_exists(path));

    /* Relative to the working directory. */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd));
    CHECK(chdir(test_tmpdir()) == 0);
    db_conn *rel = duck_open("duckdb:///rel.duckdb", NULL);
    int ok = rel && run(rel, "CREATE TABLE t AS SELECT 1 AS x") == 0;
    db_free(rel);
    CHECK(chdir(cwd) == 0);
    CHECK(rel && ok);
    tmp_path(path, sizeof path, "rel.duckdb");
    CHECK(file_exists(path));

    /* Query parameters are DuckDB settings. */
    OPEN(cfg, "duckdb:///:memory:?threads=1&default_order=desc", NULL);
    CHECK_ROW(cfg, "SELECT current_setting('threads'), current_setting('default_order')",
              "1 | DESC");
    db_free(cfg);

    OPEN(bad, "duckdb:///:memory:?no_such_setting=1", NULL);
    db_error e;
    CHECK(db_connect(bad, &e) != 0);
    CHECK(e.kind == DB_ERR_CONNECT);
    CHECK_CONTAINS(e.message, "no_such_setting");
    db_free(bad);
}

TEST(duck_missing_file_read_only)
{
    char path[4096], url[4200];
    tmp_path(path, sizeof path, "missing.duckdb");
    snprintf(url, sizeof url, "duckdb:///%s", path);
    db_options o = {.read_only = 1};
    OPEN(c, url, &o);
    db_error e;
    CHECK(db_connect(c, &e) != 0);
    CHECK(e.kind == DB_ERR_CONNECT);
    CHECK_CONTAINS(e.message, "missing.duckdb");
    CHECK_STR(e.pyclass, "duckdb.IOException");
    db_free(c);
    CHECK(!file_exists(path)); /* a missing file is an error, not a new file */
}

/* ---- catalog ---- */

TEST(duck_table_names)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    RUN(c, "CREATE TABLE zeta (x INTEGER)");
    RUN(c, "CREATE TABLE alpha (x INTEGER)");
    RUN(c, "CREATE TABLE \"Mixed Case\" (x INTEGER)");
    RUN(c, "CREATE VIEW a_view AS SELECT 1 AS x");
    RUN(c, "CREATE TEMP TABLE scratch (x INTEGER)");
    RUN(c, "CREATE SCHEMA other");
    RUN(c, "CREATE TABLE other.elsewhere (x INTEGER)");
    strlist_t names;
    db_error e;
    CHECK(db_table_names(c, &names, &e) == 0);
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < names.len; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", names.items[i]);
    strlist_free(&names);
    int same = b.data && strcmp(b.data, "Mixed Case, alpha, zeta") == 0;
    if (!same)
        test_fail(__FILE__, __LINE__, "tables: %s", b.data ? b.data : "(none)");
    buf_free(&b);
    db_free(c);
}

static char *describe_text(db_conn *c, const char *table)
{
    db_table t;
    db_error e;
    int rc = db_describe(c, table, &t, &e);
    if (rc != 0)
        return xstrdup(rc == 1 ? "(no such table)" : e.message);
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < t.ncols; i++) {
        buf_printf(&b, "%s: %s", t.cols[i].name, t.cols[i].type);
        for (size_t k = 0; k < t.cols[i].extras.len; k++)
            buf_printf(&b, ", %s", t.cols[i].extras.items[k]);
        buf_putc(&b, '\n');
    }
    buf_puts(&b, "pk:");
    for (size_t i = 0; i < t.pk.len; i++)
        buf_printf(&b, " %s", t.pk.items[i]);
    for (size_t i = 0; i < t.nfks; i++) {
        buf_puts(&b, "\nfk:");
        for (size_t k = 0; k < t.fks[i].cols.len; k++)
            buf_printf(&b, " %s", t.fks[i].cols.items[k]);
        buf_printf(&b, " -> %s:", t.fks[i].ref_table);
        for (size_t k = 0; k < t.fks[i].ref_cols.len; k++)
            buf_printf(&b, " %s", t.fks[i].ref_cols.items[k]);
    }
    db_table_free(&t);
    return buf_take(&b);
}

TEST(duck_describe)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    RUN(c, "CREATE TABLE parent (a INTEGER, b VARCHAR, PRIMARY KEY (b, a))");
    RUN(c, "CREATE TABLE solo (k BIGINT PRIMARY KEY)");
    RUN(c, "CREATE SEQUENCE seq");
    RUN(c, "CREATE TABLE child (id INTEGER PRIMARY KEY DEFAULT nextval('seq'), "
           "name VARCHAR NOT NULL DEFAULT 'x', amount DECIMAL(18,3), d DATE, "
           "ts TIMESTAMP DEFAULT current_timestamp, flag BOOLEAN, f DOUBLE, big HUGEINT, "
           "tz TIMESTAMPTZ, l INTEGER[], s STRUCT(a INTEGER, b VARCHAR), pa INTEGER, pb VARCHAR, "
           "sk BIGINT REFERENCES solo (k), "
           "FOREIGN KEY (pb, pa) REFERENCES parent (b, a))");
    RUN(c, "COMMENT ON COLUMN child.f IS 'a float'");

    char *got = describe_text(c, "child");
    CHECK_STR(got, "id: INTEGER, default=nextval('seq'), autoincrement\n"
                   "name: VARCHAR, default='x'\n"
                   "amount: DECIMAL(18, 3), nullable\n"
                   "d: DATE, nullable\n"
                   "ts: TIMESTAMP, nullable, default=current_timestamp\n"
                   "flag: BOOLEAN, nullable\n"
                   "f: DOUBLE, nullable, comment=a float\n"
                   "big: HUGEINT, nullable\n"
                   "tz: TIMESTAMP WITH TIME ZONE, nullable\n"
                   "l: INTEGER[], nullable\n"
                   "s: STRUCT(a INTEGER, b VARCHAR), nullable\n"
                   "pa: INTEGER, nullable\n"
                   "pb: VARCHAR, nullable\n"
                   "sk: BIGINT, nullable\n"
                   "pk: id\n"
                   "fk: sk -> solo: k\n"
                   "fk: pb pa -> parent: b a");
    free(got);
    got = describe_text(c, "parent");
    CHECK_STR(got, "a: INTEGER\nb: VARCHAR\npk: b a");
    free(got);
    got = describe_text(c, "nope");
    CHECK_STR(got, "(no such table)");
    free(got);
    db_free(c);
}

/* ---- values ---- */

TEST(duck_values_numbers_text)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    CHECK_ROW(c, "SELECT 1::TINYINT, -2::SMALLINT, 3::INTEGER, 9223372036854775807::BIGINT, "
                 "-9223372036854775807::BIGINT - 1, 255::UTINYINT, 65535::USMALLINT, "
                 "4294967295::UINTEGER, 18446744073709551615::UBIGINT",
              "1 | -2 | 3 | 9223372036854775807 | -9223372036854775808 | 255 | 65535 | "
              "4294967295 | 18446744073709551615");
    CHECK_ROW(c, "SELECT 170141183460469231731687303715884105727::HUGEINT, "
                 "-170141183460469231731687303715884105727::HUGEINT - 1, -5::HUGEINT, "
                 "340282366920938463463374607431768211455::UHUGEINT, "
                 "123456789012345678901234567890::BIGNUM, -98765432109876543210::BIGNUM, "
                 "0::BIGNUM",
              "170141183460469231731687303715884105727 | -170141183460469231731687303715884105728 "
              "| -5 | 340282366920938463463374607431768211455 | 123456789012345678901234567890 | "
              "-98765432109876543210 | 0");
    CHECK_ROW(c, "SELECT 1.1::FLOAT, 0.1::DOUBLE, 1e-5::DOUBLE, 3::DOUBLE, 1e20::DOUBLE, "
                 "'nan'::DOUBLE, '-inf'::DOUBLE",
              "1.100000023841858 | 0.1 | 1e-05 | 3.0 | 1e+20 | nan | -inf");
    CHECK_ROW(c, "SELECT 1.5::DECIMAL(18,3), -0.001::DECIMAL(4,3), "
                 "12345678901234567890.12::DECIMAL(38,2), 0.0000001::DECIMAL(10,7), "
                 "0::DECIMAL(10,7), 42::DECIMAL(5,0), -123456.789::DECIMAL(9,3), "
                 "0.000001::DECIMAL(10,6)",
              "1.500 | -0.001 | 12345678901234567890.12 | 1E-7 | 0E-7 | 42 | -123456.789 | "
              "0.000001");
    CHECK_ROW(c, "SELECT true, false, NULL::INTEGER, NULL::VARCHAR, NULL::DATE, "
                 "NULL::INTEGER[], 'hello', 'a string longer than twelve bytes', 'héllo ✓'",
              "True | False | NULL | NULL | NULL | NULL | hello | "
              "a string longer than twelve bytes | héllo ✓");
    CHECK_ROW(c, "SELECT '\\x00ab'::BLOB, 'it''s'::BLOB, "
                 "'a blob longer than twelve bytes'::BLOB",
              "b'\\x00ab' | b\"it's\" | b'a blob longer than twelve bytes'");
    CHECK_ROW(c, "SELECT '550e8400-e29b-41d4-a716-446655440000'::UUID, "
                 "'00000000-0000-0000-0000-000000000001'::UUID, '0101'::BIT, '101010101'::BIT",
              "550e8400-e29b-41d4-a716-446655440000 | 00000000-0000-0000-0000-000000000001 | "
              "0101 | 101010101");
    RUN(c, "CREATE TYPE mood AS ENUM ('sad', 'happy')");
    CHECK_ROW(c, "SELECT 'happy'::mood, ['sad'::mood]", "happy | ['sad']");
    db_free(c);
}

TEST(duck_values_temporal)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    CHECK_ROW(c, "SELECT DATE '2024-01-15', DATE '0001-01-01', 'infinity'::DATE, "
                 "'-infinity'::DATE, DATE '1969-12-31'",
              "2024-01-15 | 0001-01-01 | 9999-12-31 | 0001-01-01 | 1969-12-31");
    CHECK_ROW(c, "SELECT TIMESTAMP '2024-01-15 10:30:00', TIMESTAMP '2024-01-15 10:30:00.123', "
                 "'2024-01-15 10:30:01'::TIMESTAMP_S, '2024-01-15 10:30:00.5'::TIMESTAMP_MS, "
                 "'2024-01-15 10:30:00.123456789'::TIMESTAMP_NS, TIMESTAMP '1969-12-31 23:59:59.5', "
                 "'infinity'::TIMESTAMP",
              "2024-01-15T10:30:00 | 2024-01-15T10:30:00.123000 | 2024-01-15T10:30:01 | "
              "2024-01-15T10:30:00.500000 | 2024-01-15T10:30:00.123456 | "
              "1969-12-31T23:59:59.500000 | 9999-12-31T23:59:59.999999");
    /* TIMESTAMPTZ is shown in UTC whatever the session's time zone. */
    CHECK_ROW(c, "SELECT TIMESTAMPTZ '2024-01-15 10:30:00+00', "
                 "TIMESTAMPTZ '2024-01-15 12:30:00.25+02'",
              "2024-01-15T10:30:00+00:00 | 2024-01-15T10:30:00.250000+00:00");
    CHECK_ROW(c, "SELECT TIME '10:30:00', TIME '00:00:00.5', TIMETZ '10:30:00+05:00', "
                 "TIMETZ '10:30:00-05:30'",
              "10:30:00 | 00:00:00.500000 | 10:30:00+05:00 | 10:30:00-05:30");
    CHECK_ROW(c, "SELECT INTERVAL '1 day 2 hours', INTERVAL '1 month', INTERVAL '-1 second', "
                 "INTERVAL '90 minutes 0.5 seconds', INTERVAL '0 seconds', INTERVAL '2 days', "
                 "INTERVAL '-3 days'",
              "1 day, 2:00:00 | 30 days, 0:00:00 | -1 day, 23:59:59 | 1:30:00.500000 | 0:00:00 | "
              "2 days, 0:00:00 | -3 days, 0:00:00");
    db_free(c);
}

TEST(duck_values_nested)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    CHECK_ROW(c, "SELECT [1, 2, NULL], ['a', NULL, 'it''s'], [1, 2, 3]::INTEGER[3], "
                 "[[1], [2, 3], []], []::INTEGER[]",
              "[1, 2, None] | ['a', None, \"it's\"] | [1, 2, 3] | [[1], [2, 3], []] | []");
    CHECK_ROW(c, "SELECT {'a': 1, 'b': 'x'}, {'x': NULL}, MAP {'k': 1, 'j': 2}, MAP {1: [1.5]}",
              "{'a': 1, 'b': 'x'} | {'x': None} | {'k': 1, 'j': 2} | {1: [Decimal('1.5')]}");
    /* Inside a list or dict Python prints repr(): datetime.date(...), ... */
    CHECK_ROW(c, "SELECT [{'d': DATE '2024-01-01', 'n': 1.5::DECIMAL(3,1)}], "
                 "[TIMESTAMP '2024-01-15 10:30:00', TIMESTAMP '2024-01-15 10:30:05.25'], "
                 "[TIMESTAMPTZ '2024-01-01 00:00:00+00']",
              "[{'d': datetime.date(2024, 1, 1), 'n': Decimal('1.5')}] | "
              "[datetime.datetime(2024, 1, 15, 10, 30), "
              "datetime.datetime(2024, 1, 15, 10, 30, 5, 250000)] | "
              "[datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)]");
    CHECK_ROW(c, "SELECT [INTERVAL 1 DAY, INTERVAL '-1 second', INTERVAL 0 SECONDS], "
                 "[TIME '10:30:00', TIME '10:30:05', TIME '10:30:05.5'], "
                 "[TIMETZ '10:30:00+05:00', TIMETZ '10:30:00+00']",
              "[datetime.timedelta(days=1), datetime.timedelta(days=-1, seconds=86399), "
              "datetime.timedelta(0)] | "
              "[datetime.time(10, 30), datetime.time(10, 30, 5), "
              "datetime.time(10, 30, 5, 500000)] | "
              "[datetime.time(10, 30, tzinfo=datetime.timezone(datetime.timedelta(seconds=18000))), "
              "datetime.time(10, 30, tzinfo=datetime.timezone.utc)]");
    CHECK_ROW(c, "SELECT ['\\xAA'::BLOB], ['550e8400-e29b-41d4-a716-446655440000'::UUID], "
                 "[1.5::DOUBLE, 1.1::FLOAT], [true, NULL], [12345678901234567890::HUGEINT], "
                 "['tab\there']",
              "[b'\\xaa'] | [UUID('550e8400-e29b-41d4-a716-446655440000')] | "
              "[1.5, 1.100000023841858] | [True, None] | [12345678901234567890] | "
              "['tab\\there']");
    CHECK_ROW(c, "SELECT union_value(num := 2)::UNION(num INTEGER, str VARCHAR), "
                 "union_value(str := 'x')::UNION(num INTEGER, str VARCHAR), "
                 "[union_value(str := 'y')::UNION(num INTEGER, str VARCHAR)], "
                 "union_value(num := NULL)::UNION(num INTEGER, str VARCHAR)",
              "2 | x | ['y'] | NULL");
    db_free(c);
}

/* Rows come chunk by chunk (2048 to a chunk): none lost at the seams. */
TEST(duck_rows_across_chunks)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    db_cursor *cur;
    db_error e;
    CHECK(db_execute(c, "SELECT i, i::VARCHAR || 'x' AS s FROM range(5000) t(i) ORDER BY i", NULL,
                     &cur, &e) == 0);
    CHECK(db_returns_rows(cur) && db_ncols(cur) == 2);
    CHECK_STR(db_colname(cur, 0), "i");
    CHECK_STR(db_colname(cur, 1), "s");
    const db_value *row;
    long n = 0, sum = 0;
    int rc, ok = 1;
    char want[32];
    while ((rc = db_next(cur, &row, &e)) == 1) {
        snprintf(want, sizeof want, "%ldx", n);
        ok &= row[0].kind == DBV_INT && row[0].i == n && row[1].kind == DBV_TEXT &&
              row[1].len == strlen(want) && memcmp(row[1].s, want, row[1].len) == 0;
        sum += (long)row[0].i;
        n++;
    }
    db_close_cursor(cur);
    CHECK(rc == 0);
    CHECK(ok);
    CHECK(n == 5000 && sum == 4999L * 5000 / 2);
    db_free(c);
}

/* ---- statements ---- */

TEST(duck_params)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    json_t *p = json_pack("{s:s, s:i, s:f, s:b, s:n}", "s", "it's", "i", 41, "r", 2.5, "b", 1, "n");
    char *got = row_text(c, "SELECT :s AS s, :i + 1 AS i, :r AS r, :b AS b, :n AS n, :i AS again",
                         p);
    CHECK_MSG(got, "%s", g_err.message);
    CHECK_STR(got, "it's | 42 | 2.5 | True | NULL | 41");
    free(got);
    RUN(c, "CREATE TABLE t (id INTEGER, name VARCHAR)");
    RUN(c, "INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    json_t *q = json_pack("{s:i}", "id", 2);
    got = row_text(c, "SELECT name FROM t WHERE id = :id", q);
    CHECK_MSG(got, "%s", g_err.message);
    CHECK_STR(got, "two");
    free(got);
    /* A text parameter where DuckDB wants an integer is cast, as in Python. */
    json_t *r = json_pack("{s:s}", "id", "1");
    got = row_text(c, "SELECT name FROM t WHERE id = :id", r);
    CHECK_MSG(got, "%s", g_err.message);
    CHECK_STR(got, "one");
    free(got);

    json_t *arr = json_pack("{s:[i,i]}", "ids", 1, 2);
    db_cursor *cur;
    db_error e;
    CHECK(db_execute(c, "SELECT :ids", arr, &cur, &e) != 0);
    CHECK(e.kind == DB_ERR_PARAM);
    CHECK_CONTAINS(e.message, "'list' is not supported");
    CHECK(db_execute(c, "SELECT :missing", p, &cur, &e) != 0);
    CHECK(e.kind == DB_ERR_PARAM);

    char *text = query_text(c, "SELECT name FROM t WHERE id = :id", q, 4000);
    CHECK_STR(text, "1. row\nname: two\n\nResult: 1 rows");
    free(text);
    json_decref(p);
    json_decref(q);
    json_decref(r);
    json_decref(arr);
    db_free(c);
}

TEST(duck_rowcount)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    char *t = query_text(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", NULL, 4000);
    CHECK_STR(t, "Success: -1 rows affected");
    free(t);
    t = query_text(c, "INSERT INTO t SELECT i, i % 3 FROM range(10) r(i)", NULL, 4000);
    CHECK_STR(t, "Success: 10 rows affected");
    free(t);
    t = query_text(c, "UPDATE t SET v = 7 WHERE v = 0", NULL, 4000);
    CHECK_STR(t, "Success: 4 rows affected");
    free(t);
    t = query_text(c, "DELETE FROM t WHERE id >= 8", NULL, 4000);
    CHECK_STR(t, "Success: 2 rows affected");
    free(t);
    t = query_text(c, "UPDATE t SET v = 1 WHERE id > 100", NULL, 4000);
    CHECK_STR(t, "Success: 0 rows affected");
    free(t);
    t = query_text(c, "INSERT INTO t VALUES (50, 5) RETURNING id * 2 AS d", NULL, 4000);
    CHECK_STR(t, "1. row\nd: 100\n\nResult: 1 rows");
    free(t);
    t = query_text(c, "SELECT * FROM t WHERE id < 0", NULL, 4000);
    CHECK_STR(t, "No rows returned");
    free(t);
    t = query_text(c, "-- only a comment", NULL, 4000);
    CHECK_STR(t, "Success: -1 rows affected");
    free(t);
    db_free(c);
}

TEST(duck_error_texts)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    char *t = query_text(c, "SELECT * FROM nope", NULL, 4000);
    char *l = first_line(t);
    CHECK_STR(l, "Error: (duckdb.CatalogException) Catalog Error: Table with name nope does not "
                 "exist!");
    CHECK_CONTAINS(t, "\n[SQL: SELECT * FROM nope]\n(Background on this error at: "
                      "https://sqlalche.me/e/20/f405)");
    free(l);
    free(t);

    t = query_text(c, "SELEC 1", NULL, 4000);
    l = first_line(t);
    CHECK_STR(l, "Error: (duckdb.ParserException) Parser Error: syntax error at or near \"SELEC\"");
    free(l);
    free(t);

    RUN(c, "CREATE TABLE t (id INTEGER PRIMARY KEY)");
    RUN(c, "INSERT INTO t VALUES (1)");
    json_t *p = json_pack("{s:i}", "id", 1);
    t = query_text(c, "INSERT INTO t VALUES (:id)", p, 4000);
    json_decref(p);
    CHECK(str_starts(t, "Error: (duckdb.ConstraintException) Constraint Error: "));
    CHECK_CONTAINS(t, "[SQL: INSERT INTO t VALUES (?)]\n[parameters: (1,)]\n(Background on this "
                      "error at: https://sqlalche.me/e/20/gkpj)");
    free(t);

    t = query_text(c, "SELECT 'abc'::INTEGER", NULL, 4000);
    CHECK(str_starts(t, "Error: (duckdb.ConversionException) Conversion Error: "));
    CHECK(str_ends(t, "https://sqlalche.me/e/20/9h9h)"));
    free(t);
    db_free(c);
}

TEST(duck_one_statement_at_a_time)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    db_cursor *cur;
    db_error e;
    CHECK(db_execute(c, "CREATE TABLE a1 (x INTEGER); CREATE TABLE a2 (x INTEGER)", NULL, &cur,
                     &e) != 0);
    CHECK(e.kind == DB_ERR_SQL);
    CHECK_CONTAINS(e.message, "holds 2 statements");
    strlist_t names;
    CHECK(db_table_names(c, &names, &e) == 0);
    CHECK(names.len == 0); /* neither ran */
    strlist_free(&names);
    /* A trailing semicolon or comment is still one statement. */
    CHECK_ROW(c, "SELECT 1; -- done", "1");
    db_free(c);
}

/* ---- read-only mode ---- */

TEST(duck_read_only)
{
    char path[4096], url[4200], other[4096], csv[4096], dir[4096], in_csv[4096];
    tmp_path(path, sizeof path, "ro.duckdb");
    tmp_path(in_csv, sizeof in_csv, "in.csv");
    tmp_path(other, sizeof other, "attached.duckdb");
    tmp_path(csv, sizeof csv, "out.csv");
    tmp_path(dir, sizeof dir, "exported");
    snprintf(url, sizeof url, "duckdb:///%s", path);
    {
        OPEN(rw, url, NULL);
        RUN(rw, "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR)");
        RUN(rw, "INSERT INTO t SELECT i, 'n' || i FROM range(100) r(i)");
        db_free(rw);
    }
    size_t before_len;
    err_t fe;
    char *before = file_read(path, &before_len, &fe);
    CHECK_MSG(before, "%s", fe.msg);

    db_options o = {.read_only = 1};
    OPEN(c, url, &o);
    CHECK_ROW(c, "SELECT count(*), max(name) FROM t", "100 | n99");
    char attach[4300], copy[4300], export_[4300], readcsv[4300];
    snprintf(attach, sizeof attach, "ATTACH '%s' AS other", other);
    snprintf(copy, sizeof copy, "COPY t TO '%s'", csv);
    snprintf(export_, sizeof export_, "EXPORT DATABASE '%s'", dir);
    /* Reading files outside the database is refused as well. */
    err_t we;
    CHECK_MSG(file_write_atomic(in_csv, "a,b\n1,2\n", 8, &we) == 0, "%s", we.msg);
    snprintf(readcsv, sizeof readcsv, "SELECT * FROM read_csv('%s')", in_csv);
    const char *writes[] = {
        "INSERT INTO t VALUES (1000, 'x')",
        "UPDATE t SET name = 'y'",
        "DELETE FROM t",
        "CREATE TABLE u (x INTEGER)",
        "CREATE TEMP TABLE u (x INTEGER)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN z INTEGER",
        attach,
        copy,
        export_,
        "INSTALL json",
        "LOAD json",
        "CHECKPOINT",
        "VACUUM",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET access_mode = 'READ_WRITE'",
        readcsv,
    };
    for (size_t i = 0; i < ARRAY_LEN(writes); i++) {
        db_cursor *cur;
        db_error e;
        int rc = db_execute(c, writes[i], NULL, &cur, &e);
        if (rc == 0)
            db_close_cursor(cur);
        CHECK_MSG(rc != 0, "read-only mode let this run: %s", writes[i]);
        CHECK_MSG(e.kind == DB_ERR_READ_ONLY || strstr(e.message, "locked"),
                  "%s: kind %d: %s", writes[i], e.kind, e.message);
    }
    /* Through the tool: a clear Error: text. */
    char *t = query_text(c, "INSERT INTO t VALUES (1000, 'x')", NULL, 4000);
    char *l = first_line(t);
    CHECK_STR(l, "Error: (duckdb.InvalidInputException) Invalid Input Error: Cannot execute "
                 "statement of type \"INSERT\": the database is served read-only");
    free(l);
    free(t);
    CHECK_ROW(c, "SELECT count(*) FROM t", "100");
    db_free(c);

    size_t after_len;
    char *after = file_read(path, &after_len, &fe);
    CHECK_MSG(after, "%s", fe.msg);
    int same = before_len == after_len && memcmp(before, after, before_len) == 0;
    free(before);
    free(after);
    CHECK_MSG(same, "the database file changed in read-only mode");
    char wal[4200];
    snprintf(wal, sizeof wal, "%s.wal", path);
    CHECK(!file_exists(wal));
    CHECK(!file_exists(other));
    CHECK(!file_exists(csv));
    CHECK(!file_exists(dir));

    /* An in-memory database has no file to open read-only; the statement
     * checks and the locked settings still hold. */
    OPEN(mem, "duckdb:///:memory:", &o);
    CHECK_ROW(mem, "SELECT 1", "1");
    db_cursor *cur;
    db_error e;
    CHECK(db_execute(mem, "CREATE TABLE u (x INTEGER)", NULL, &cur, &e) != 0);
    CHECK(e.kind == DB_ERR_READ_ONLY);
    CHECK(db_execute(mem, readcsv, NULL, &cur, &e) != 0);
    CHECK(e.kind == DB_ERR_READ_ONLY);
    db_free(mem);
}

/* ---- stopping statements ---- */

static void check_timeout(db_conn *c, const char *sql, long limit_ms)
{
    db_cursor *cur;
    db_error e;
    uint64_t t0 = time_now_ns();
    int rc = db_execute(c, sql, NULL, &cur, &e);
    if (rc == 0) {
        /* The limit may land while rows are read. */
        const db_value *row;
        while ((rc = db_next(cur, &row, &e)) == 1)
            ;
        db_close_cursor(cur);
        rc = rc < 0 ? -1 : 0;
    }
    double ms = ms_since(t0);
    CHECK_MSG(rc != 0, "%s finished within the limit", sql);
    CHECK_MSG(e.kind == DB_ERR_TIMEOUT, "%s: kind %d: %s", sql, e.kind, e.message);
    CHECK_CONTAINS(e.message, "QUERY_TIMEOUT_MS");
    CHECK_MSG(ms >= (double)limit_ms * 0.9 && ms < (double)limit_ms + 2000,
              "%s stopped after %.0f ms (limit %ld ms)", sql, ms, limit_ms);
    CHECK_ROW(c, "SELECT 42", "42"); /* the connection still works */
}

TEST(duck_timeout)
{
    db_options o = {.timeout_ms = 300};
    OPEN(c, "duckdb:///:memory:", &o);
    check_timeout(c, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
                     "SELECT count(*) FROM t",
                  300);
    check_timeout(c, "SELECT sum(i) FROM range(10000000000) t(i)", 300);
    check_timeout(c, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
                     "SELECT n FROM t",
                  300);
    db_free(c);
}

static void *cancel_later(void *arg)
{
    usleep(200 * 1000);
    db_interrupt(arg);
    return NULL;
}

TEST(duck_cancel)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    RUN(c, "SELECT 1");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_later, c) == 0);
    db_cursor *cur;
    db_error e;
    uint64_t t0 = time_now_ns();
    int rc = db_execute(c, "SELECT sum(i) FROM range(10000000000) t(i)", NULL, &cur, &e);
    double ms = ms_since(t0);
    pthread_join(th, NULL);
    if (rc == 0)
        db_close_cursor(cur);
    CHECK(rc != 0);
    CHECK_MSG(e.kind == DB_ERR_CANCELLED, "kind %d: %s", e.kind, e.message);
    CHECK_MSG(ms < 3000, "cancel took %.0f ms", ms);
    /* Cancelled until cleared; then the connection works again. */
    CHECK(db_execute(c, "SELECT 1", NULL, &cur, &e) != 0 && e.kind == DB_ERR_CANCELLED);
    db_clear_interrupt(c);
    CHECK_ROW(c, "SELECT 1", "1");
    /* An interrupt that lands while nothing runs is not left behind in
     * DuckDB either. */
    db_interrupt(c);
    db_clear_interrupt(c);
    CHECK_ROW(c, "SELECT 2", "2");
    db_free(c);
}

TEST(duck_stream_close_early)
{
    OPEN(c, "duckdb:///:memory:", NULL);
    CHECK_ROW(c, "SELECT count(*) FROM range(100000)", "100000"); /* warm up */
    long rss0 = vmrss_kb();
    uint64_t t0 = time_now_ns();
    db_cursor *cur;
    db_error e;
    CHECK(db_execute(c, "SELECT range AS i, 'row number ' || range AS s FROM range(10000000)",
                     NULL, &cur, &e) == 0);
    const db_value *row;
    for (int i = 0; i < 3; i++) {
        CHECK(db_next(cur, &row, &e) == 1);
        CHECK(row[0].kind == DBV_INT && row[0].i == i);
    }
    db_close_cursor(cur);
    double ms = ms_since(t0);
    long rss1 = vmrss_kb();
    CHECK_MSG(ms < 1000, "three rows of range(10000000) took %.0f ms", ms);
    CHECK_MSG(rss1 - rss0 < 40 * 1024, "VmRSS grew by %ld kB", rss1 - rss0);

    /* The tool stops reading once its text is full. */
    t0 = time_now_ns();
    char *t = query_text(c, "SELECT * FROM range(10000000)", NULL, 200);
    ms = ms_since(t0);
    CHECK(str_ends(t, "(output truncated)"));
    CHECK_MSG(ms < 1000, "truncated execute_query took %.0f ms", ms);
    long rss2 = vmrss_kb();
    CHECK_MSG(rss2 - rss0 < 40 * 1024, "VmRSS grew by %ld kB", rss2 - rss0);
    free(t);
    CHECK_ROW(c, "SELECT 7", "7");
    db_free(c);
}

/* ---- finding the library ---- */

/* Runs cmd through the shell; its stdout+stderr into out (malloc'ed). */
static int shell(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f) {
        *out = xstrdup("");
        return -1;
    }
    buf_t b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int st = pclose(f);
    *out = b.data ? buf_take(&b) : xstrdup("");
    buf_free(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *retrain_or_skip(void)
{
    const char *bin = test_retrain_bin();
    if (access(bin, X_OK) != 0) {
        test_skip("no retrain binary at %s (build it with make)", bin);
        return NULL;
    }
    return bin;
}

static const char *init_and_query =
    "printf '%s\\n' "
    "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}' "
    "'{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}' "
    "'{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"execute_query\",\"arguments\":{\"query\":\"SELECT 6 * 7 AS answer\"}}}'";

TEST(duck_lib_env_missing)
{
    const char *bin = retrain_or_skip();
    if (!bin)
        return;
    char cmd[8192], *out;
    snprintf(cmd, sizeof cmd,
             "RETRAIN_DUCKDB_LIB=%s/no/such/libduckdb.so DB_URL=duckdb:///:memory: '%s' mcp-db "
             "</dev/null 2>&1",
             test_tmpdir(), bin);
    int rc = shell(cmd, &out);
    CHECK_MSG(rc == 2, "exit %d: %s", rc, out);
    CHECK(str_starts(out, "retrain mcp-db: DuckDB support needs libduckdb.so, which could not be "
                          "loaded from RETRAIN_DUCKDB_LIB ("));
    CHECK_CONTAINS(out, "/no/such/libduckdb.so");
    CHECK_CONTAINS(out, "scripts/install-deps");
    CHECK_MSG(strchr(out, '\n') == out + strlen(out) - 1, "not one line:\n%s", out);
    free(out);
}

TEST(duck_lib_search)
{
    const char *bin = retrain_or_skip();
    if (!bin)
        return;
    char lib[4096];
    snprintf(lib, sizeof lib, "%s/.deps/npm/node_modules/@duckdb/node-bindings-linux-x64/"
                              "libduckdb.so", test_root());
    if (!file_exists(lib)) {
        test_skip("%s is absent (run scripts/install-deps)", lib);
        return;
    }
    /* A copy of the binary two levels below a directory whose .deps holds
     * (a link to) the library finds it by walking up. */
    char cmd[16384], *out;
    const char *tmp = test_tmpdir();
    snprintf(cmd, sizeof cmd,
             "set -e; d='%s/walk'; mkdir -p \"$d/build/x\" "
             "\"$d/.deps/npm/node_modules/@duckdb/node-bindings-linux-x64\"; "
             "ln -sf '%s' \"$d/.deps/npm/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so\"; "
             "cp '%s' \"$d/build/x/retrain\"; mkdir -p '%s/alone'; cp '%s' '%s/alone/retrain'",
             tmp, lib, bin, tmp, bin, tmp);
    CHECK(shell(cmd, &out) == 0);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s | env -u RETRAIN_DUCKDB_LIB DB_URL=duckdb:///:memory: '%s/walk/build/x/retrain' "
             "mcp-db 2>&1",
             init_and_query, tmp);
    int rc = shell(cmd, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    CHECK_CONTAINS(out, "1. row\\nanswer: 42\\n\\nResult: 1 rows");
    free(out);

    /* RETRAIN_DUCKDB_LIB wins over the search. */
    snprintf(cmd, sizeof cmd,
             "%s | RETRAIN_DUCKDB_LIB='%s' DB_URL=duckdb:///:memory: '%s/alone/retrain' mcp-db 2>&1",
             init_and_query, lib, tmp);
    rc = shell(cmd, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    CHECK_CONTAINS(out, "answer: 42");
    free(out);

    /* Nowhere to be found: one line naming the fix (unless the system's
     * own search path has a libduckdb.so). */
    char *ldconf;
    shell("ldconfig -p 2>/dev/null | grep -c 'libduckdb\\.so ' || true", &ldconf);
    int system_has = atoi(ldconf) > 0;
    free(ldconf);
    if (system_has)
        return;
    snprintf(cmd, sizeof cmd,
             "env -u RETRAIN_DUCKDB_LIB -u LD_LIBRARY_PATH DB_URL=duckdb:///:memory: "
             "'%s/alone/retrain' mcp-db </dev/null 2>&1",
             tmp);
    rc = shell(cmd, &out);
    CHECK_MSG(rc == 2, "exit %d: %s", rc, out);
    CHECK_STR(out, "retrain mcp-db: DuckDB support needs libduckdb.so, which was not found: run "
                   "scripts/install-deps (it installs the npm package "
                   "@duckdb/node-bindings-linux-x64 into .deps/npm) or set "
                   "RETRAIN_DUCKDB_LIB=/path/to/libduckdb.so\n");
    free(out);
}
