/* The whole path on the real data: gold SQL runs on the shared SQLite
 * databases, goes through the CSV round trip and scores 1; the executor's
 * bounds; retrain eval's files, report and errors. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/env/env.h"
#include "../support/proc.h"
#include "../test.h"

/* Spider 2.0's own gold SQL for local131 does not reproduce its gold CSV
 * (it leaves out StyleID and the styles nobody chose: a defect of the
 * data, see ../shared/spider2/README.md), so it scores 0 here as in
 * evaluate.py. */
static const char *KNOWN_BAD_GOLD_SQL[] = {"local131"};

static const char *shared(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/../shared/spider2", test_root());
    return p;
}

static int known_bad(const char *id)
{
    for (size_t i = 0; i < ARRAY_LEN(KNOWN_BAD_GOLD_SQL); i++)
        if (!strcmp(id, KNOWN_BAD_GOLD_SQL[i]))
            return 1;
    return 0;
}

static int load_lite(env_tasks *ts, err_t *e)
{
    char f[1200], db[1200], docs[1200];
    snprintf(f, sizeof f, "%s/spider2-lite.jsonl", shared());
    snprintf(db, sizeof db, "%s/databases", shared());
    snprintf(docs, sizeof docs, "%s/documents", shared());
    env_task_opts o = {.sqlite_dir = db, .documents_dir = docs};
    return env_tasks_load(f, &o, ts, e);
}

static char *tmp_sub(const char *name)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", test_tmpdir(), name);
    err_t e;
    dir_make(b.data, &e);
    return buf_take(&b);
}

TEST(env_gold_sql_scores_1_through_the_whole_path)
{
    char gold[1200];
    snprintf(gold, sizeof gold, "%s/gold", shared());
    if (!file_exists(gold)) {
        test_skip("%s is absent", gold);
        return;
    }
    env_tasks ts;
    env_gold g;
    err_t e;
    CHECK_MSG(load_lite(&ts, &e) == 0, "%s", e.msg);
    CHECK_MSG(env_gold_open(gold, &g, &e) == 0, "%s", e.msg);
    env_executor x;
    env_db_executor(&ts, &x);
    char sqldir[1300];
    snprintf(sqldir, sizeof sqldir, "%s/sql", gold);
    char *out = tmp_sub("gold-sql-out");
    env_eval_opts o = {.sql_dir = sqldir, .out_dir = out, .timeout_ms = 60000};
    json_t *r = env_eval_sql_dir(&ts, &g, &x, &o, &e);
    CHECK_MSG(r, "%s", e.msg);
    /* every gold SQL whose database is here was evaluated */
    size_t i, ones = 0;
    json_t *res;
    json_array_foreach(json_object_get(r, "results"), i, res)
    {
        const char *id = json_string_value(json_object_get(res, "instance_id"));
        long s = (long)json_integer_value(json_object_get(res, "score"));
        if (known_bad(id)) {
            CHECK_MSG(s == 0, "%s now scores 1: the data was fixed, drop it from the list", id);
            CHECK_CONTAINS(json_string_value(json_object_get(res, "error")),
                           "matches no predicted column");
            continue;
        }
        CHECK_MSG(s == 1, "%s: %s", id, json_string_value(json_object_get(res, "error")));
        ones++;
        char p[1500];
        snprintf(p, sizeof p, "%s/%s.csv", out, id);
        CHECK(file_exists(p));
        snprintf(p, sizeof p, "%s/%s.sql", out, id);
        CHECK(file_exists(p));
    }
    CHECK(ones >= 4); /* local038, local039, local197, local199 */
    CHECK(json_integer_value(json_object_get(r, "evaluated")) ==
          (json_int_t)(ones + ARRAY_LEN(KNOWN_BAD_GOLD_SQL)));
    CHECK(json_integer_value(json_object_get(r, "total")) == 547);
    json_t *sk = json_object_get(r, "skipped");
    CHECK(json_integer_value(json_object_get(sk, "bigquery: engine not available here")) == 205);
    /* the strict mode agrees on the gold SQL */
    o.mode = ENV_SCORE_STRICT;
    json_t *r2 = env_eval_sql_dir(&ts, &g, &x, &o, &e);
    CHECK(r2 && json_integer_value(json_object_get(r2, "correct")) == (json_int_t)ones);
    json_decref(r2);
    json_decref(r);
    x.close(x.ctx);
    env_gold_close(&g);
    env_tasks_free(&ts);
    free(out);
}

TEST(env_db_executor_bounds)
{
    char db[1200];
    snprintf(db, sizeof db, "%s/databases", shared());
    if (!file_exists(db)) {
        test_skip("%s is absent", db);
        return;
    }
    env_tasks ts;
    err_t e;
    CHECK_MSG(load_lite(&ts, &e) == 0, "%s", e.msg);
    env_executor x;
    env_db_executor(&ts, &x);
    env_table t;
    env_table_init(&t);
    CHECK(x.run(x.ctx, "chinook", "SELECT TrackId, Name FROM tracks", 5, 0, &t, &e) == 0);
    CHECK(t.nrows == 5 && t.truncated && t.cols.len == 2);
    env_table_free(&t);
    env_table_init(&t);
    CHECK(x.run(x.ctx, "chinook", "DELETE FROM tracks", 0, 0, &t, &e) == -1);
    CHECK_MSG(strlen(e.msg) > 0, "no message");
    env_table_free(&t);
    env_table_init(&t);
    CHECK(x.run(x.ctx, "chinook", "SELECT * FROM nosuch", 0, 0, &t, &e) == -1);
    CHECK_STR(e.msg, "no such table: nosuch");
    env_table_free(&t);
    env_table_init(&t);
    const char *slow = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
                       "SELECT count(*) FROM c";
    CHECK(x.run(x.ctx, "chinook", slow, 0, 200, &t, &e) == -1);
    CHECK_CONTAINS(e.msg, "ran longer");
    env_table_free(&t);
    env_table_init(&t);
    CHECK(x.run(x.ctx, "nosuchdb", "SELECT 1", 0, 0, &t, &e) == -1);
    CHECK_STR(e.msg, "database 'nosuchdb' is not available here");
    env_table_free(&t);
    x.close(x.ctx);
    env_tasks_free(&ts);
}

/* ---- the command ---- */

static int run_eval(char *const args[], char **out, char **err)
{
    return retrain_run("eval", args, out, err, 60000);
}

static void write_text(const char *path, const char *s)
{
    err_t e;
    file_write_atomic(path, s, strlen(s), &e);
}

static void copy_file(const char *from, const char *to)
{
    err_t e;
    size_t n;
    char *s = file_read(from, &n, &e);
    if (s)
        file_write_atomic(to, s, n, &e);
    free(s);
}

/* A copy of the gold SQL folder without the known-bad tasks. */
static char *good_gold_sql(void)
{
    char *dir = tmp_sub("good-sql");
    char src[1200];
    snprintf(src, sizeof src, "%s/gold/sql", shared());
    DIR *d = opendir(src);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!str_ends(de->d_name, ".sql"))
            continue;
        char id[256];
        snprintf(id, sizeof id, "%.*s", (int)(strlen(de->d_name) - 4), de->d_name);
        if (known_bad(id))
            continue;
        char a[1500], b[1500];
        snprintf(a, sizeof a, "%s/%s", src, de->d_name);
        snprintf(b, sizeof b, "%s/%s", dir, de->d_name);
        copy_file(a, b);
    }
    if (d)
        closedir(d);
    return dir;
}

TEST(env_cli_eval_gold_sql_accuracy_1)
{
    char tasks[1200], gold[1200], db[1200];
    snprintf(tasks, sizeof tasks, "%s/spider2-lite.jsonl", shared());
    snprintf(gold, sizeof gold, "%s/gold", shared());
    snprintf(db, sizeof db, "%s/databases", shared());
    if (!file_exists(gold)) {
        test_skip("%s is absent", gold);
        return;
    }
    char *sql = good_gold_sql(), *out = tmp_sub("cli-out");
    char *args[] = {"--tasks", tasks, "--sqlite-dir", db, "--gold-dir", gold,
                    "--sql-dir", sql, "--out", out, NULL};
    char *so, *se;
    int rc = run_eval(args, &so, &se);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, se);
    CHECK_CONTAINS(so, "accuracy 1.0000: 4 correct of 4 evaluated (547 tasks, 543 skipped)");
    CHECK_CONTAINS(se, "eval: 4/4 in"); /* the progress line */
    char p[1500];
    snprintf(p, sizeof p, "%s/report.json", out);
    json_error_t je;
    json_t *r = json_load_file(p, 0, &je);
    CHECK_MSG(r, "%s", je.text);
    CHECK(json_real_value(json_object_get(r, "accuracy")) == 1.0);
    CHECK(json_integer_value(json_object_get(r, "evaluated")) == 4);
    CHECK(json_integer_value(json_object_get(r, "correct")) == 4);
    CHECK(json_array_size(json_object_get(r, "results")) == 4);
    CHECK(json_array_size(json_object_get(r, "skipped_tasks")) == 543);
    json_t *pagila = json_object_get(json_object_get(r, "by_db"), "Pagila");
    CHECK(pagila && json_real_value(json_object_get(pagila, "accuracy")) == 1.0);
    json_decref(r);
    snprintf(p, sizeof p, "%s/report.md", out);
    err_t e;
    char *md = file_read(p, NULL, &e);
    CHECK(md);
    CHECK_CONTAINS(md, "**Accuracy: 100.00%** (4 / 4 evaluated)");
    CHECK_CONTAINS(md, "| local038 | Pagila | 1 |");
    free(md);
    snprintf(p, sizeof p, "%s/local197.csv", out);
    CHECK(file_exists(p));
    free(so);
    free(se);

    /* the same through a config file, with --strict from the command line */
    char cfg[1500];
    snprintf(cfg, sizeof cfg, "%s/eval.json", test_tmpdir());
    buf_t c;
    buf_init(&c);
    buf_printf(&c, "{\"model\": {}, \"eval\": {\"tasks\": \"%s\", \"sqlite_dir\": \"%s\", "
                   "\"gold_dir\": \"%s\", \"sql_dir\": \"%s\", \"out\": \"%s/cfg\"}}",
               tasks, db, gold, sql, out);
    file_write_atomic(cfg, c.data, c.len, &e);
    buf_free(&c);
    char *args2[] = {cfg, "--strict", "--no-progress", NULL};
    rc = run_eval(args2, &so, &se);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, se);
    CHECK_CONTAINS(so, "accuracy 1.0000: 4 correct of 4 evaluated");
    CHECK(!strstr(se, "eval: 4/4"));
    snprintf(p, sizeof p, "%s/cfg/report.json", out);
    r = json_load_file(p, 0, &je);
    CHECK(r && !strcmp(json_string_value(json_object_get(r, "mode")), "strict"));
    json_decref(r);
    free(so);
    free(se);
    free(sql);
    free(out);
}

/* One line on stderr, the exit status, nothing on stdout. */
static void expect_fail(char *const args[], int want_rc, const char *want_err)
{
    char *so, *se;
    int rc = run_eval(args, &so, &se);
    if (rc != want_rc || !strstr(se, want_err) || strchr(se, '\n') != se + strlen(se) - 1)
        test_fail(__FILE__, __LINE__, "exit %d (want %d), stderr:\n%s(want '%s')", rc, want_rc,
                  se, want_err);
    free(so);
    free(se);
}

TEST(env_cli_eval_bad_input)
{
    char tasks[1200], gold[1200], db[1200];
    snprintf(tasks, sizeof tasks, "%s/spider2-lite.jsonl", shared());
    snprintf(gold, sizeof gold, "%s/gold", shared());
    snprintf(db, sizeof db, "%s/databases", shared());
    if (!file_exists(gold)) {
        test_skip("%s is absent", gold);
        return;
    }
    char *sql = good_gold_sql(), *out = tmp_sub("bad-out");
    expect_fail((char *[]){"--tasks", tasks, "--gold-dir", gold, "--out", out, NULL}, 2,
                "retrain eval: no --model and no --sql-dir: give --model DIR");
    expect_fail((char *[]){"--frobnicate", NULL}, 2, "retrain eval: unknown option '--frobnicate'");
    expect_fail((char *[]){"--tasks", NULL}, 2, "retrain eval: --tasks needs a value");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, NULL}, 2,
                "retrain eval: needs --tasks FILE, --gold-dir DIR and --out DIR");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", "/nonexistent/gold",
                           "--out", out, NULL},
                2, "retrain eval: --gold-dir /nonexistent/gold: no such directory");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", "/nonexistent.jsonl", "--gold-dir", gold,
                           "--out", out, NULL},
                2, "retrain eval: --tasks /nonexistent.jsonl: no such file");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", gold, "--out", out,
                           "--max-rows", "-3", NULL},
                2, "retrain eval: --max-rows needs an integer >= 0, got '-3'");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", gold, "--out", out,
                           "--db", "noequals", NULL},
                2, "retrain eval: --db needs NAME=URL, got 'noequals'");
    char cfg[1500];
    snprintf(cfg, sizeof cfg, "%s/bad.json", test_tmpdir());
    write_text(cfg, "{\"eval\": {\"sqldir\": \"x\"}}");
    expect_fail((char *[]){cfg, NULL}, 2, "bad.json: eval.sqldir: unknown key");
    write_text(cfg, "{\"eval\": {\"strict\": 1}}");
    expect_fail((char *[]){cfg, NULL}, 2, "bad.json: eval.strict: expected true or false");

    /* a prediction naming no task */
    char *odd = tmp_sub("odd-sql");
    char p[1500];
    snprintf(p, sizeof p, "%s/nosuch.sql", odd);
    write_text(p, "SELECT 1");
    expect_fail((char *[]){"--sql-dir", odd, "--tasks", tasks, "--gold-dir", gold, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "odd-sql/nosuch.sql: no task 'nosuch' in ");

    /* a gold folder missing a task's CSV, then one with a broken CSV */
    char *g2 = tmp_sub("gold2"), *g2r = tmp_sub("gold2/exec_result");
    char a[1500];
    snprintf(a, sizeof a, "%s/spider2lite_eval.jsonl", gold);
    snprintf(p, sizeof p, "%s/spider2lite_eval.jsonl", g2);
    copy_file(a, p);
    const char *ids[] = {"local038", "local039", "local197"}; /* local199 left out */
    for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
        strlist_t names;
        strlist_init(&names);
        for (char v = 0; v <= 'z'; v = v ? v + 1 : 'a') {
            char n[64];
            if (v)
                snprintf(n, sizeof n, "%s_%c.csv", ids[i], v);
            else
                snprintf(n, sizeof n, "%s.csv", ids[i]);
            snprintf(a, sizeof a, "%s/exec_result/%s", gold, n);
            snprintf(p, sizeof p, "%s/%s", g2r, n);
            if (file_exists(a))
                copy_file(a, p);
        }
        strlist_free(&names);
    }
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", g2, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "gold2/exec_result: no gold result for local199 (local199.csv or local199_a.csv");
    snprintf(p, sizeof p, "%s/local199.csv", g2r);
    write_text(p, "a,b\n1,\"open\n2,3\n");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", g2, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "gold2/exec_result/local199.csv:2: unterminated quoted field");
    /* a task without an entry in the eval file */
    write_text(p, "a\n1\n");
    snprintf(p, sizeof p, "%s/spider2lite_eval.jsonl", g2);
    write_text(p, "{\"instance_id\": \"local038\", \"condition_cols\": [], \"ignore_order\": true}\n");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", g2, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "gold2/spider2lite_eval.jsonl: no entry for local039");
    write_text(p, "{\"instance_id\": \"local038\", \"condition_cols\": \"x\"}\n");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", g2, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "spider2lite_eval.jsonl:1: condition_cols: expected a list");
    write_text(p, "{\"instance_id\": \"local038\"\n");
    expect_fail((char *[]){"--sql-dir", sql, "--tasks", tasks, "--gold-dir", g2, "--out", out,
                           "--sqlite-dir", db, NULL},
                1, "spider2lite_eval.jsonl:1: not a JSON object");
    free(g2);
    free(g2r);
    free(odd);
    free(sql);
    free(out);
}

TEST(env_eval_prediction_errors_score_0)
{
    char gold[1200];
    snprintf(gold, sizeof gold, "%s/gold", shared());
    if (!file_exists(gold)) {
        test_skip("%s is absent", gold);
        return;
    }
    env_tasks ts;
    env_gold g;
    err_t e;
    CHECK_MSG(load_lite(&ts, &e) == 0, "%s", e.msg);
    CHECK_MSG(env_gold_open(gold, &g, &e) == 0, "%s", e.msg);
    env_executor x;
    env_db_executor(&ts, &x);
    char *sql = tmp_sub("pred-errors"), *out = tmp_sub("pred-errors-out");
    char p[1500];
    snprintf(p, sizeof p, "%s/local038.sql", sql);
    write_text(p, "SELECT nonsense FROM");
    snprintf(p, sizeof p, "%s/local197.sql", sql);
    write_text(p, "SELECT 1 AS one");
    env_eval_opts o = {.sql_dir = sql, .out_dir = out};
    json_t *r = env_eval_sql_dir(&ts, &g, &x, &o, &e);
    CHECK_MSG(r, "%s", e.msg);
    CHECK(json_integer_value(json_object_get(r, "evaluated")) == 2);
    CHECK(json_integer_value(json_object_get(r, "correct")) == 0);
    json_t *res = json_object_get(r, "results");
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 0), "error")),
              "incomplete input");
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(res, 1), "error")),
                   "matches no predicted column");
    CHECK(json_integer_value(json_object_get(json_object_get(r, "skipped"),
                                             "no prediction (<id>.sql) in the SQL folder")) == 18);
    json_decref(r);
    x.close(x.ctx);
    env_gold_close(&g);
    env_tasks_free(&ts);
    free(sql);
    free(out);
}
