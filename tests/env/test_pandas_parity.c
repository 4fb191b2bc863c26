/* Our CSV round trip against pandas on the real Spider 2.0 files:
 * tests/fixtures/spider_pandas.json (tests/ref/gen_spider_fixtures.py) holds
 * what pandas infers for every gold CSV and what evaluate.py writes for every
 * table of the shared SQLite databases. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/env/env.h"
#include "../test.h"

static const char *shared_dir(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/../shared/spider2", test_root());
    return p;
}

static json_t *fixture(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fixtures/spider_pandas.json", test_root());
    json_error_t je;
    return json_load_file(p, 0, &je);
}

static void sha_hex(const char *s, size_t n, char out[65])
{
    sha256_ctx *c = sha256_new();
    sha256_update(c, s, n);
    sha256_final_hex(c, out);
}

static const char *dtype_name(env_dtype d)
{
    switch (d) {
    case ENV_DT_INT: return "int";
    case ENV_DT_FLOAT: return "float";
    case ENV_DT_BOOL: return "bool";
    case ENV_DT_OBJECT: return "object";
    }
    return "?";
}

TEST(env_gold_csvs_read_as_pandas_reads_them)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/gold/exec_result", shared_dir());
    if (!file_exists(dir)) {
        test_skip("%s is absent", dir);
        return;
    }
    json_t *fx = fixture();
    CHECK(fx);
    json_t *read = json_object_get(fx, "read");
    CHECK(json_object_size(read) > 300);
    const char *name;
    json_t *want;
    size_t files = 0, cols = 0;
    json_object_foreach(read, name, want)
    {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        env_table t;
        env_table_init(&t);
        err_t e;
        int rc = env_csv_read_file(path, &t, &e);
        CHECK_MSG(rc == 0, "%s", e.msg);
        CHECK_MSG(t.nrows == (size_t)json_integer_value(json_object_get(want, "nrows")),
                  "%s: %zu rows", name, t.nrows);
        json_t *dts = json_object_get(want, "dtypes"), *keys = json_object_get(want, "keys");
        CHECK_MSG(json_array_size(dts) == t.cols.len, "%s: %zu columns", name, t.cols.len);
        for (size_t c = 0; c < t.cols.len; c++) {
            CHECK_MSG(!strcmp(dtype_name(t.dtypes[c]), json_string_value(json_array_get(dts, c))),
                      "%s column %zu: dtype %s, pandas %s", name, c, dtype_name(t.dtypes[c]),
                      json_string_value(json_array_get(dts, c)));
            buf_t b;
            buf_init(&b);
            env_column_keys(&t, c, 1, &b);
            char hex[65];
            sha_hex(b.data ? b.data : "", b.len, hex);
            CHECK_MSG(!strcmp(hex, json_string_value(json_array_get(keys, c))),
                      "%s column %zu: the sorted values differ from pandas'; ours begin:\n%.300s",
                      name, c, b.data ? b.data : "");
            buf_free(&b);
            cols++;
        }
        env_table_free(&t);
        files++;
    }
    CHECK(files > 300 && cols > 1000);
    json_decref(fx);
}

TEST(env_results_written_as_pandas_writes_them)
{
    json_t *fx = fixture();
    CHECK(fx);
    json_t *write = json_object_get(fx, "write");
    CHECK(json_array_size(write) > 50);
    size_t i;
    json_t *w;
    json_array_foreach(write, i, w)
    {
        const char *db = json_string_value(json_object_get(w, "db"));
        char path[1200], url[1300];
        snprintf(path, sizeof path, "%s/databases/%s.sqlite", shared_dir(), db);
        if (!file_exists(path)) {
            json_decref(fx);
            test_skip("%s is absent", path);
            return;
        }
        snprintf(url, sizeof url, "sqlite:///%s", path);
        err_t e;
        db_options o = {.read_only = 1};
        db_conn *c = db_new(url, &o, &e);
        CHECK_MSG(c, "%s", e.msg);
        db_cursor *cur;
        db_error de;
        const char *sql = json_string_value(json_object_get(w, "sql"));
        CHECK_MSG(db_execute(c, sql, NULL, &cur, &de) == 0, "%s: %s", sql, de.message);
        env_table t;
        env_table_init(&t);
        CHECK_MSG(env_table_from_cursor(cur, 0, &t, &de) == 0, "%s", de.message);
        db_close_cursor(cur);
        db_free(c);
        buf_t csv;
        buf_init(&csv);
        env_csv_write(&t, &csv);
        char hex[65];
        sha_hex(csv.data, csv.len, hex);
        CHECK_MSG(csv.len == (size_t)json_integer_value(json_object_get(w, "bytes")) &&
                      !strcmp(hex, json_string_value(json_object_get(w, "sha256"))),
                  "%s %s: %zu bytes, pandas wrote %lld; ours begin:\n%.400s", db, sql, csv.len,
                  (long long)json_integer_value(json_object_get(w, "bytes")), csv.data);
        buf_free(&csv);
        env_table_free(&t);
    }
    json_decref(fx);
}
