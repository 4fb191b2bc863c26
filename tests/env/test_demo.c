/* The demo database and tasks: determinism, integrity, gold results that
 * `retrain eval` scores 1.0, the held-out split, the demonstrations, and
 * the command's errors. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/env/demo.h"
#include "../../src/env/env.h"
#include "../support/proc.h"
#include "../support/tool.h"
#include "../test.h"

static char *sub(const char *name)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", test_tmpdir(), name);
    return buf_take(&b);
}

static char *read_rel(const char *dir, const char *rel, size_t *n)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", dir, rel);
    err_t e;
    size_t len = 0;
    char *s = file_read(p.data, &len, &e);
    buf_free(&p);
    if (n)
        *n = len;
    return s;
}

/* 1 when dir_a/rel and dir_b/rel both exist with the same bytes. */
/* The same bytes, once each folder's own path in the file is read as
 * "DIR" (the demonstrations name the database by its absolute path). */
static char *read_rel_dir(const char *dir, const char *rel)
{
    char *s = read_rel(dir, rel, NULL);
    buf_t b;
    buf_init(&b);
    size_t n = strlen(dir);
    for (const char *p = s, *q; p && *p; p = q + n) {
        q = strstr(p, dir);
        if (!q) {
            buf_puts(&b, p);
            break;
        }
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, "DIR");
    }
    free(s);
    return buf_take(&b);
}

static int same_text(const char *a, const char *b, const char *rel)
{
    char *x = read_rel_dir(a, rel), *y = read_rel_dir(b, rel);
    int same = x && y && !strcmp(x, y);
    free(x), free(y);
    return same;
}

static int same_file(const char *a, const char *b, const char *rel)
{
    if (!strcmp(rel, "sft.jsonl"))
        return same_text(a, b, rel);
    size_t na, nb;
    char *x = read_rel(a, rel, &na), *y = read_rel(b, rel, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* Runs `retrain ARGS...`; returns the exit status, stdout and stderr. */
static int run_retrain(char *const args[], char **out, char **err)
{
    return retrain_run(NULL, args, out, err, 60000);
}

static const char *const g_fixed_files[] = {"demo.sqlite", "train.jsonl", "eval.jsonl", "sft.jsonl",
                                            "gold/spider2lite_eval.jsonl"};

TEST(env_demo_same_seed_same_bytes)
{
    char *a = sub("demo-a"), *b = sub("demo-b"), *c = sub("demo-c");
    demo_opts o;
    demo_opts_default(&o);
    o.seed = 7;
    demo_summary s;
    err_t e;
    CHECK_MSG(demo_write(a, &o, &s, &e) == 0, "%s", e.msg);
    CHECK(s.n_train == 300 && s.n_eval == 60 && s.n_sft == 50);
    CHECK_MSG(demo_write(b, &o, NULL, &e) == 0, "%s", e.msg);
    for (size_t i = 0; i < ARRAY_LEN(g_fixed_files); i++)
        CHECK_MSG(same_file(a, b, g_fixed_files[i]), "%s differs for one seed", g_fixed_files[i]);
    /* every gold file too */
    demo_taskset ts;
    char *db = sub("demo-a/demo.sqlite");
    CHECK_MSG(demo_tasks_make(db, &o, &ts, &e) == 0, "%s", e.msg);
    for (size_t i = 0; i < ts.n; i++) {
        char rel[160];
        snprintf(rel, sizeof rel, "gold/exec_result/%s.csv", ts.items[i].id);
        CHECK_MSG(same_file(a, b, rel), "%s differs", rel);
        snprintf(rel, sizeof rel, "gold/sql/%s/%s.sql",
                 ts.items[i].split == DEMO_EVAL ? "eval" : "train", ts.items[i].id);
        CHECK_MSG(same_file(a, b, rel), "%s differs", rel);
    }
    demo_taskset_free(&ts);
    /* another seed: another database and other questions */
    o.seed = 8;
    CHECK_MSG(demo_write(c, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(!same_file(a, c, "demo.sqlite"));
    CHECK(!same_file(a, c, "train.jsonl"));
    CHECK(!same_file(a, c, "eval.jsonl"));
    free(a), free(b), free(c), free(db);
}

static long count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

TEST(env_demo_db_rows_and_foreign_keys)
{
    char *path = sub("rows.sqlite");
    long rows[6];
    err_t e;
    CHECK_MSG(demo_db_create(path, 3, rows, &e) == 0, "%s", e.msg);
    sqlite3 *db;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    long total = 0;
    for (int i = 0; i < 6; i++) {
        char q[128];
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM %s", demo_table_names[i]);
        CHECK_MSG(count(db, q) == rows[i], "%s: %ld rows, reported %ld", demo_table_names[i],
                  count(db, q), rows[i]);
        total += rows[i];
    }
    CHECK(rows[0] == 8 && rows[1] == 60 && rows[2] == 300 && rows[3] == 60 && rows[4] == 1200);
    CHECK(rows[5] >= 1200 && rows[5] <= 4800);
    CHECK_MSG(total >= 2000 && total <= 8000, "%ld rows in all", total);
    /* declared foreign keys, all satisfied */
    CHECK(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_list('employees')") == 2);
    CHECK(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_list('orders')") == 2);
    CHECK(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_list('order_items')") == 2);
    CHECK(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_check") == 0);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    /* NULLs where the questions need them; one employee without a manager */
    CHECK(count(db, "SELECT COUNT(*) FROM employees WHERE email IS NULL") > 0);
    CHECK(count(db, "SELECT COUNT(*) FROM customers WHERE email IS NULL") > 0);
    CHECK(count(db, "SELECT COUNT(*) FROM customers WHERE phone IS NULL") > 0);
    CHECK(count(db, "SELECT COUNT(*) FROM employees WHERE manager_id IS NULL") == 1);
    CHECK(count(db, "SELECT COUNT(*) FROM orders WHERE order_date NOT GLOB "
                    "'202[123]-[01][0-9]-[0-3][0-9]'") == 0);
    CHECK(count(db, "SELECT COUNT(DISTINCT strftime('%Y-%m', order_date)) FROM orders") == 36);
    sqlite3_close(db);
    /* replacing an existing file gives the same bytes */
    size_t n1, n2;
    char *x = file_read(path, &n1, &e);
    CHECK_MSG(demo_db_create(path, 3, NULL, &e) == 0, "%s", e.msg);
    char *y = file_read(path, &n2, &e);
    CHECK(x && y && n1 == n2 && !memcmp(x, y, n1));
    free(x), free(y), free(path);
}

/* The gold SQL of every task runs, its CSV (as env_csv_write writes the
 * result) is the gold file, and it has rows. */
TEST(env_demo_gold_sql_runs)
{
    char *dir = sub("gold-run");
    demo_opts o;
    demo_opts_default(&o);
    err_t e;
    CHECK_MSG(demo_write(dir, &o, NULL, &e) == 0, "%s", e.msg);
    char *dbp = sub("gold-run/demo.sqlite");
    demo_taskset ts;
    CHECK_MSG(demo_tasks_make(dbp, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n_train == 300 && ts.n_eval == 60 && ts.n == 360);
    sqlite3 *db;
    CHECK(sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    for (size_t i = 0; i < ts.n; i++) {
        const demo_task *k = &ts.items[i];
        char rel[160];
        snprintf(rel, sizeof rel, "gold/exec_result/%s.csv", k->id);
        char *csv = read_rel(dir, rel, NULL);
        CHECK_MSG(csv && !strcmp(csv, k->csv), "%s: not the task's result", rel);
        const char *nl = strchr(csv, '\n');
        CHECK_MSG(nl && nl[1], "%s: no rows", rel);
        free(csv);
        snprintf(rel, sizeof rel, "gold/sql/%s/%s.sql", k->split == DEMO_EVAL ? "eval" : "train",
                 k->id);
        char *sql = read_rel(dir, rel, NULL);
        CHECK_MSG(sql && !strcmp(sql, k->sql), "%s: not the task's SQL", rel);
        sqlite3_stmt *st;
        CHECK_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", rel,
                  sqlite3_errmsg(db));
        CHECK_MSG(sqlite3_step(st) == SQLITE_ROW, "%s: no rows", rel);
        sqlite3_finalize(st);
        free(sql);
    }
    sqlite3_close(db);
    /* the metadata file: one line per task, in Spider's layout */
    env_gold g;
    char *gdir = sub("gold-run/gold");
    CHECK_MSG(env_gold_open(gdir, &g, &e) == 0, "%s", e.msg);
    free(gdir);
    CHECK(g.n == ts.n);
    for (size_t i = 0; i < ts.n; i++) {
        const env_gold_meta *m = env_gold_find(&g, ts.items[i].id);
        CHECK_MSG(m, "%s: no metadata", ts.items[i].id);
        CHECK(m->ignore_order == ts.items[i].ignore_order && !m->per_variant);
        CHECK(m->nlists == 0 || m->lists[0].n == 0);
    }
    env_gold_close(&g);
    demo_taskset_free(&ts);
    free(dir), free(dbp);
}

static void check_task_file(const char *path, size_t want)
{
    env_tasks ts;
    err_t e;
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = 0;
    env_task_opts to = {.sqlite_dir = dir};
    CHECK_MSG(env_tasks_load(path, &to, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n == want && ts.skip_reasons.len == 0);
    for (size_t i = 0; i < ts.n; i++) {
        CHECK(!strcmp(ts.items[i].db, "demo") && !strcmp(ts.items[i].engine, "sqlite"));
        CHECK(ts.items[i].knowledge_file == NULL && ts.items[i].skip == NULL);
    }
    env_tasks_free(&ts);
    /* exactly Spider 2.0-Lite's four members */
    char *text = file_read(path, NULL, &e);
    CHECK(text);
    size_t lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *o = json_loads(line, 0, NULL);
        CHECK_MSG(o && json_object_size(o) == 4, "%s: line %zu", path, lines + 1);
        CHECK(json_is_string(json_object_get(o, "instance_id")));
        CHECK(json_is_string(json_object_get(o, "question")));
        CHECK(json_is_null(json_object_get(o, "external_knowledge")));
        CHECK_STR(json_string_value(json_object_get(o, "db")), "demo");
        json_decref(o);
    }
    CHECK(lines == want);
    free(text);
    free(dir);
}

static int run_eval_split(const char *dir, const char *split, char **out, char **err)
{
    char tasks[1200], gold[1200], sql[1200], res[1200];
    snprintf(tasks, sizeof tasks, "%s/%s.jsonl", dir, split);
    snprintf(gold, sizeof gold, "%s/gold", dir);
    snprintf(sql, sizeof sql, "%s/gold/sql/%s", dir, split);
    snprintf(res, sizeof res, "%s/out-%s", dir, split);
    char *args[] = {"eval", "--tasks",   tasks, "--sqlite-dir", (char *)dir, "--gold-dir",
                    gold,   "--sql-dir", sql,   "--out",        res,         "--no-progress",
                    NULL};
    return run_retrain(args, out, err);
}

TEST(env_demo_cli_eval_scores_gold_1)
{
    char *dir = sub("cli");
    char *out, *err;
    char *args[] = {"demo-data", dir, "--seed", "11", NULL};
    CHECK_MSG(run_retrain(args, &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "6 tables");
    CHECK_CONTAINS(out, "300 training and 60 evaluation tasks, 50 demonstrations, seed 11");
    CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    free(out), free(err);
    char path[1200];
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    check_task_file(path, 300);
    snprintf(path, sizeof path, "%s/eval.jsonl", dir);
    check_task_file(path, 60);
    CHECK_MSG(run_eval_split(dir, "train", &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "accuracy 1.0000: 300 correct of 300 evaluated (300 tasks, 0 skipped)");
    free(out), free(err);
    CHECK_MSG(run_eval_split(dir, "eval", &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "accuracy 1.0000: 60 correct of 60 evaluated (60 tasks, 0 skipped)");
    free(out), free(err);
    /* again into the same folder with fewer tasks: no stale gold file is
     * left to name a task that no longer exists */
    char *args2[] = {"demo-data", dir,  "--seed", "11", "--train", "40",
                     "--eval",    "10", "--sft",  "5",  NULL};
    CHECK_MSG(run_retrain(args2, &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "40 training and 10 evaluation tasks, 5 demonstrations");
    free(out), free(err);
    CHECK_MSG(run_eval_split(dir, "train", &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "accuracy 1.0000: 40 correct of 40 evaluated (40 tasks, 0 skipped)");
    free(out), free(err);
    CHECK_MSG(run_eval_split(dir, "eval", &out, &err) == 0, "%s", err);
    CHECK_CONTAINS(out, "accuracy 1.0000: 10 correct of 10 evaluated (10 tasks, 0 skipped)");
    free(out), free(err);
    free(dir);
}

/* Held-out rule: evaluation questions use each template's last phrasing
 * and value combinations that no training question uses. */
TEST(env_demo_heldout_split)
{
    char *dbp = sub("split.sqlite");
    err_t e;
    demo_opts o;
    demo_opts_default(&o);
    CHECK_MSG(demo_db_create(dbp, o.seed, NULL, &e) == 0, "%s", e.msg);
    demo_taskset ts;
    CHECK_MSG(demo_tasks_make(dbp, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n_train >= 300 && ts.n_eval >= 60);
    int nt = demo_template_count();
    int *in_train = xcalloc((size_t)nt, sizeof(int)), *in_eval = xcalloc((size_t)nt, sizeof(int));
    for (size_t i = 0; i < ts.n; i++) {
        const demo_task *k = &ts.items[i];
        int np = demo_template_phrasings(k->tmpl);
        CHECK(np >= 3);
        CHECK(k->split == (i < ts.n_train ? DEMO_TRAIN : DEMO_EVAL));
        if (k->split == DEMO_TRAIN) {
            CHECK(k->phrasing >= 0 && k->phrasing < np - 1);
            in_train[k->tmpl]++;
        } else {
            CHECK(k->phrasing == np - 1);
            in_eval[k->tmpl]++;
        }
        for (size_t j = 0; j < i; j++) {
            const demo_task *p = &ts.items[j];
            CHECK_MSG(strcmp(p->question, k->question) != 0, "%s repeats %s", k->id, p->id);
            if (p->tmpl == k->tmpl && p->split != k->split) {
                CHECK_MSG(strcmp(p->values, k->values) != 0, "%s and %s share values %s", p->id,
                          k->id, k->values);
                CHECK(p->phrasing != k->phrasing);
            }
        }
    }
    /* every template is trained on, and nearly all are tested */
    int tested = 0;
    for (int t = 0; t < nt; t++) {
        CHECK_MSG(in_train[t] > 0, "template %s has no training question", demo_template_name(t));
        tested += in_eval[t] > 0;
    }
    CHECK_MSG(tested >= nt - 2, "%d of %d templates tested", tested, nt);
    free(in_train), free(in_eval);
    demo_taskset_free(&ts);
    /* asking for more questions than the database holds is an error */
    o.n_train = 100000;
    CHECK(demo_tasks_make(dbp, &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "distinct training questions can be made from the demo database "
                          "(asked for 100000)");
    CHECK(ts.n == 0 && ts.items == NULL);
    o.n_train = 10;
    CHECK(demo_tasks_make("/nonexistent/demo.sqlite", &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "/nonexistent/demo.sqlite");
    free(dbp);
}

/* The demonstrations parse, follow the wire format, and carry exactly the
 * tool texts the server's tools return for their calls. */
TEST(env_demo_sft_tool_results)
{
    char *dir = sub("sft");
    demo_opts o;
    demo_opts_default(&o);
    err_t e;
    CHECK_MSG(demo_write(dir, &o, NULL, &e) == 0, "%s", e.msg);
    char *text = read_rel(dir, "sft.jsonl", NULL);
    CHECK(text);
    CHECK_MSG(!strstr(text, test_tmpdir()), "sft.jsonl names the output folder");
    char url[1200];
    snprintf(url, sizeof url, "sqlite:///%s/demo.sqlite", dir);
    tool_env te;
    db_options ro = {.read_only = 1};
    CHECK(tool_env_open(&te, url, &ro, NULL) == 0);
    size_t lines = 0, calls = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        json_t *o2 = json_loads(line, 0, NULL);
        CHECK_MSG(o2, "sft.jsonl:%zu: not JSON", lines);
        json_t *msgs = json_object_get(o2, "messages");
        CHECK(json_array_size(msgs) == 9);
        static const char *const roles[] = {"system",    "user",      "assistant",
                                            "tool",      "assistant", "tool",
                                            "assistant", "tool",      "assistant"};
        for (size_t i = 0; i < 9; i++)
            CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, i), "role")),
                      roles[i]);
        const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
        CHECK_CONTAINS(sys, "<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                            "<args-json-object>}\n</tool_call>");
        /* the database as a server run in the folder names it, not by a path */
        CHECK_CONTAINS(sys, "database demo.sqlite.");
        const char *user = json_string_value(json_object_get(json_array_get(msgs, 1), "content"));
        CHECK(str_starts(user, "Database: demo\n\nQuestion: "));
        for (size_t i = 2; i < 8; i += 2) {
            const char *a = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
            CHECK(str_starts(a, "<tool_call>\n") && str_ends(a, "\n</tool_call>"));
            json_t *call = json_loadb(a + 12, strlen(a) - 25, 0, NULL);
            CHECK_MSG(call, "sft.jsonl:%zu: tool call is not JSON: %s", lines, a);
            const char *name = json_string_value(json_object_get(call, "name"));
            json_t *tm = json_array_get(msgs, i + 1);
            CHECK_STR(json_string_value(json_object_get(tm, "name")), name);
            char *args = json_dumps(json_object_get(call, "arguments"), JSON_COMPACT);
            int is_error = 1;
            char *want = tool_call(&te, name, args, &is_error);
            CHECK_MSG(want && !is_error, "%s failed", name);
            CHECK_STR(json_string_value(json_object_get(tm, "content")), want);
            free(want), free(args);
            json_decref(call);
            calls++;
        }
        /* the answer is the gold SQL */
        const char *ans = json_string_value(json_object_get(json_array_get(msgs, 8), "content"));
        const char *id = json_string_value(json_object_get(o2, "instance_id"));
        char rel[160];
        snprintf(rel, sizeof rel, "gold/sql/train/%s.sql", id ? id : "");
        char *gold = read_rel(dir, rel, NULL);
        CHECK_MSG(gold, "%s: no gold SQL", rel);
        buf_t want;
        buf_init(&want);
        buf_printf(&want, "<answer>%s</answer>", gold);
        CHECK_STR(ans, want.data);
        buf_free(&want);
        free(gold);
        json_decref(o2);
    }
    CHECK(lines == 50 && calls == 150);
    tool_env_close(&te);
    free(text), free(dir);
}

static void check_fails(char *const args[], int want_rc, const char *want_err)
{
    char *out, *err;
    int rc = run_retrain(args, &out, &err);
    CHECK_MSG(rc == want_rc, "exit %d, want %d; stderr: %s", rc, want_rc, err);
    CHECK_CONTAINS(err, want_err);
    CHECK_MSG(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
    CHECK_STR(out, "");
    free(out), free(err);
}

TEST(env_demo_cli_bad_input)
{
    char *file = sub("plain-file");
    err_t e;
    CHECK(file_write_atomic(file, "x", 1, &e) == 0);
    char under[1200];
    snprintf(under, sizeof under, "%s/out", file);
    char want[1400];
    snprintf(want, sizeof want, "retrain demo-data: %s: Not a directory", under);
    check_fails((char *[]){"demo-data", under, NULL}, 1, want);
    char *d = sub("bad");
    check_fails((char *[]){"demo-data", d, "--seed", "abc", NULL}, 2,
                "retrain demo-data: --seed needs an integer >= 0, got 'abc'");
    check_fails((char *[]){"demo-data", d, "--seed", "-1", NULL}, 2,
                "retrain demo-data: --seed needs an integer >= 0, got '-1'");
    check_fails((char *[]){"demo-data", d, "--seed", NULL}, 2,
                "retrain demo-data: --seed needs a value");
    check_fails((char *[]){"demo-data", d, "--train", "1e3", NULL}, 2,
                "retrain demo-data: --train needs an integer from 0 to 100000, got '1e3'");
    check_fails((char *[]){"demo-data", d, "--train", "99999", NULL}, 1,
                "retrain demo-data: only ");
    check_fails((char *[]){"demo-data", d, "--bogus", NULL}, 2,
                "retrain demo-data: unknown option '--bogus'");
    check_fails((char *[]){"demo-data", d, "other", NULL}, 2,
                "retrain demo-data: unexpected argument 'other'");
    check_fails((char *[]){"demo-data", NULL}, 2, "retrain demo-data: needs OUTDIR");
    free(file), free(d);
}
