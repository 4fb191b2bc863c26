/* Scores a folder of predicted SQL (<instance_id>.sql) and writes the
 * submission folder and the reports. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

static const char SKIP_NO_PREDICTION[] = "no prediction (<id>.sql) in the SQL folder";

typedef struct job {
    const env_task *task;
    const env_gold_meta *meta;
    env_table *golds;
    size_t ngold;
} job;

static int cmp_task_id(const void *a, const void *b)
{
    const env_task *x = *(const env_task *const *)a, *y = *(const env_task *const *)b;
    return strcmp(x->instance_id, y->instance_id);
}

static void count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static int list_sql(const char *dir, const env_tasks *ts, strlist_t *ids, err_t *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        if (n[0] == '.' || len < 5 || strcmp(n + len - 4, ".sql") != 0)
            continue;
        char *id = xstrndup(n, len - 4);
        if (!env_tasks_find(ts, id)) {
            rc = err_set(e, "%s/%s: no task '%s' in %s", dir, n, id, ts->path);
            free(id);
            break;
        }
        strlist_push(ids, id);
        free(id);
    }
    closedir(d);
    return rc;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n, err_t *e)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", dir, name);
    int rc = file_write_atomic(path.data, p, n, e);
    buf_free(&path);
    return rc;
}

/* Runs one prediction; fills result (score, error). */
static int run_one(const job *j, const char *sql, env_executor *x, const env_eval_opts *o,
                   json_t *result, err_t *fatal)
{
    const env_task *t = j->task;
    err_t e;
    env_table raw, pred;
    env_table_init(&raw);
    env_table_init(&pred);
    int score = 0;
    char why[1024] = "";
    if (x->run(x->ctx, t->db, sql, o->max_rows, o->timeout_ms, &raw, &e) != 0) {
        snprintf(why, sizeof why, "%s", e.msg);
        json_object_set_new(result, "sql_failed", json_true());
    } else {
        /* The official round trip: to_csv, then read_csv. */
        buf_t csv;
        buf_init(&csv);
        env_csv_write(&raw, &csv);
        char name[600];
        snprintf(name, sizeof name, "%s.csv", t->instance_id);
        if (write_file(o->out_dir, name, csv.data, csv.len, fatal) != 0) {
            buf_free(&csv);
            env_table_free(&raw);
            env_table_free(&pred);
            return -1;
        }
        if (env_csv_parse(csv.data, csv.len, name, &pred, &e) != 0) {
            snprintf(why, sizeof why, "%s", e.msg);
        } else {
            score = env_score(&pred, j->golds, j->ngold, j->meta, o->mode, why, sizeof why);
        }
        if (raw.truncated)
            json_object_set_new(result, "truncated", json_true());
        buf_free(&csv);
    }
    json_object_set_new(result, "score", json_integer(score));
    if (!score)
        json_object_set_new(result, "error", json_string(why[0] ? why : "result differs"));
    env_table_free(&raw);
    env_table_free(&pred);
    return 0;
}

static const char SKIP_LIMIT[] = "beyond the task limit";

json_t *eval_run(const env_tasks *ts, const env_gold *g, env_executor *x, const env_eval_opts *o,
                 const eval_source *src, err_t *e)
{
    json_t *report = json_object(), *results = json_array(), *by_db = json_object();
    job *jobs = NULL;
    size_t njobs = 0;
    const env_task **order = xcalloc(ts->n ? ts->n : 1, sizeof *order);
    const env_task **batch = NULL;
    eval_pred *preds = NULL;
    size_t bsize = src->batch ? src->batch : 1;
    json_t *skipped = json_object(), *skipped_tasks = json_array();
    if (dir_make(o->out_dir, e) != 0)
        goto fail;
    /* In id order, as evaluate.py goes ("for reproduce result"). */
    for (size_t i = 0; i < ts->n; i++)
        order[i] = &ts->items[i];
    qsort(order, ts->n, sizeof *order, cmp_task_id);
    jobs = xcalloc(ts->n ? ts->n : 1, sizeof *jobs);
    /* First every gold table, so a broken gold folder stops the run before
     * any SQL runs. */
    for (size_t i = 0; i < ts->n; i++) {
        const env_task *t = order[i];
        const char *reason = t->skip;
        if (!reason && src->skip)
            reason = src->skip(src->ctx, t);
        if (!reason && o->limit && njobs >= o->limit)
            reason = SKIP_LIMIT;
        if (reason) {
            count(skipped, reason);
            json_array_append_new(skipped_tasks,
                                  json_pack("{s:s, s:s?, s:s}", "instance_id", t->instance_id,
                                            "db", t->db, "reason", reason));
            continue;
        }
        job *j = &jobs[njobs];
        j->task = t;
        j->meta = env_gold_find(g, t->instance_id);
        if (!j->meta) {
            err_set(e, "%s: no entry for %s", g->eval_path, t->instance_id);
            goto fail;
        }
        if (env_gold_load(g, t->instance_id, &j->golds, &j->ngold, e) != 0)
            goto fail;
        njobs++;
    }
    long correct = 0;
    progress_t bar;
    if (o->progress)
        progress_start(&bar, src->label ? src->label : "eval", njobs);
    batch = xcalloc(bsize, sizeof *batch);
    preds = xcalloc(bsize, sizeof *preds);
    for (size_t i = 0; i < njobs; i += bsize) {
        size_t n = njobs - i < bsize ? njobs - i : bsize;
        for (size_t k = 0; k < n; k++)
            batch[k] = jobs[i + k].task;
        memset(preds, 0, bsize * sizeof *preds);
        int rc = src->predict(src->ctx, batch, n, preds, e);
        for (size_t k = 0; k < n && rc == 0; k++) {
            const env_task *t = batch[k];
            eval_pred *pr = &preds[k];
            json_t *r = json_pack("{s:s, s:s}", "instance_id", t->instance_id, "db", t->db);
            json_array_append_new(results, r);
            if (pr->sql) {
                char name[600];
                snprintf(name, sizeof name, "%s.sql", t->instance_id);
                rc = write_file(o->out_dir, name, pr->sql, strlen(pr->sql), e);
                if (rc == 0)
                    rc = run_one(&jobs[i + k], pr->sql, x, o, r, e);
            } else {
                json_object_set_new(r, "score", json_integer(0));
                json_object_set_new(r, "error", json_string(pr->error ? pr->error : "no prediction"));
            }
            if (pr->info)
                json_object_update(r, pr->info);
            long s = (long)json_integer_value(json_object_get(r, "score"));
            correct += s;
            json_t *d = json_object_get(by_db, t->db);
            if (!d) {
                d = json_pack("{s:i, s:i}", "correct", 0, "evaluated", 0);
                json_object_set_new(by_db, t->db, d);
            }
            json_object_set_new(d, "correct",
                                json_integer(json_integer_value(json_object_get(d, "correct")) + s));
            count(d, "evaluated");
        }
        for (size_t k = 0; k < n; k++) {
            free(preds[k].sql);
            free(preds[k].error);
            json_decref(preds[k].info);
        }
        if (rc != 0)
            goto fail;
        if (o->progress)
            progress_update(&bar, i + n, batch[n - 1]->instance_id);
    }
    if (o->progress)
        progress_finish(&bar);
    const char *k;
    json_t *d;
    json_object_foreach(by_db, k, d)
    {
        double ev = (double)json_integer_value(json_object_get(d, "evaluated"));
        json_object_set_new(d, "accuracy",
                            json_real(ev ? (double)json_integer_value(json_object_get(d, "correct")) / ev : 0));
    }
    json_object_set_new(report, "accuracy", json_real(njobs ? (double)correct / (double)njobs : 0));
    json_object_set_new(report, "accuracy_all", json_real(ts->n ? (double)correct / (double)ts->n : 0));
    json_object_set_new(report, "correct", json_integer(correct));
    json_object_set_new(report, "evaluated", json_integer((json_int_t)njobs));
    json_object_set_new(report, "total", json_integer((json_int_t)ts->n));
    json_object_set_new(report, "mode",
                        json_string(o->mode == ENV_SCORE_STRICT ? "strict" : "official"));
    json_object_set_new(report, "tasks", json_string(ts->path));
    json_object_set_new(report, "gold", json_string(g->dir));
    if (src->finish)
        src->finish(src->ctx, report);
    json_object_set(report, "skipped", skipped);
    json_object_set(report, "by_db", by_db);
    json_object_set(report, "results", results);
    json_object_set(report, "skipped_tasks", skipped_tasks);
    char *js = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int wrc = write_file(o->out_dir, "report.json", js, strlen(js), e);
    free(js);
    if (wrc == 0) {
        buf_t md;
        buf_init(&md);
        env_report_md(report, &md);
        wrc = write_file(o->out_dir, "report.md", md.data, md.len, e);
        buf_free(&md);
    }
    if (wrc != 0)
        goto fail;
    goto out;
fail:
    json_decref(report);
    report = NULL;
out:
    for (size_t i = 0; i < njobs; i++)
        env_tables_free(jobs[i].golds, jobs[i].ngold);
    free(jobs);
    free(order);
    free(batch);
    free(preds);
    json_decref(skipped);
    json_decref(skipped_tasks);
    json_decref(results);
    json_decref(by_db);
    return report;
}

/* ---- predictions from a folder of <id>.sql files */

typedef struct sql_dir_src {
    const char *dir;
    strlist_t ids;
} sql_dir_src;

static const char *sql_dir_skip(void *ctx, const env_task *t)
{
    sql_dir_src *s = ctx;
    return strlist_index(&s->ids, t->instance_id) < 0 ? SKIP_NO_PREDICTION : NULL;
}

static int sql_dir_predict(void *ctx, const env_task *const *tasks, size_t n, eval_pred *out,
                           err_t *e)
{
    sql_dir_src *s = ctx;
    for (size_t i = 0; i < n; i++) {
        char name[600];
        snprintf(name, sizeof name, "%s/%s.sql", s->dir, tasks[i]->instance_id);
        out[i].sql = file_read(name, NULL, e);
        if (!out[i].sql)
            return -1;
    }
    return 0;
}

static void sql_dir_finish(void *ctx, json_t *report)
{
    json_object_set_new(report, "sql_dir", json_string(((sql_dir_src *)ctx)->dir));
}

json_t *env_eval_sql_dir(const env_tasks *ts, const env_gold *g, env_executor *x,
                         const env_eval_opts *o, err_t *e)
{
    sql_dir_src s = {.dir = o->sql_dir};
    strlist_init(&s.ids);
    json_t *report = NULL;
    if (list_sql(o->sql_dir, ts, &s.ids, e) == 0) {
        eval_source src = {.ctx = &s, .skip = sql_dir_skip, .predict = sql_dir_predict,
                           .batch = 1, .finish = sql_dir_finish, .label = "eval"};
        report = eval_run(ts, g, x, o, &src, e);
    }
    strlist_free(&s.ids);
    return report;
}

void env_report_md(json_t *r, buf_t *out)
{
    long correct = (long)json_integer_value(json_object_get(r, "correct"));
    long ev = (long)json_integer_value(json_object_get(r, "evaluated"));
    long total = (long)json_integer_value(json_object_get(r, "total"));
    buf_printf(out, "# Spider 2.0 evaluation\n\n");
    json_t *agent = json_object_get(r, "agent");
    buf_printf(out, "Tasks: `%s`; gold: `%s`; %s: `%s`; scoring: %s.\n\n",
               json_string_value(json_object_get(r, "tasks")),
               json_string_value(json_object_get(r, "gold")), agent ? "model" : "predictions",
               agent ? json_string_value(json_object_get(r, "model"))
                     : json_string_value(json_object_get(r, "sql_dir")),
               json_string_value(json_object_get(r, "mode")));
    buf_printf(out, "**Accuracy: %.2f%%** (%ld / %ld evaluated); %.2f%% of all %ld tasks.\n\n",
               100 * json_real_value(json_object_get(r, "accuracy")), correct, ev,
               100 * json_real_value(json_object_get(r, "accuracy_all")), total);
    if (agent) {
        buf_printf(out,
                   "Agent: %lld answered, %lld without an answer, %lld whose SQL failed; "
                   "%.2f turns per task on average; %.2f%% of tasks used a tool (%lld calls, "
                   "%lld errors).\n\n",
                   (long long)json_integer_value(json_object_get(agent, "answered")),
                   (long long)json_integer_value(json_object_get(agent, "no_answer")),
                   (long long)json_integer_value(json_object_get(agent, "sql_errors")),
                   json_real_value(json_object_get(agent, "mean_turns")),
                   100 * json_real_value(json_object_get(agent, "tool_use_rate")),
                   (long long)json_integer_value(json_object_get(agent, "tool_calls")),
                   (long long)json_integer_value(json_object_get(agent, "tool_errors")));
        json_t *ends = json_object_get(agent, "ends");
        if (json_object_size(ends)) {
            buf_puts(out, "| episode ended by | tasks |\n| --- | ---: |\n");
            const char *k;
            json_t *v;
            json_object_foreach(ends, k, v)
            {
                buf_printf(out, "| %s | %lld |\n", k, (long long)json_integer_value(v));
            }
            buf_putc(out, '\n');
        }
    }
    json_t *sk = json_object_get(r, "skipped");
    if (json_object_size(sk)) {
        buf_puts(out, "| skipped because | tasks |\n| --- | ---: |\n");
        const char *k;
        json_t *v;
        json_object_foreach(sk, k, v)
        {
            buf_printf(out, "| %s | %lld |\n", k, (long long)json_integer_value(v));
        }
        buf_putc(out, '\n');
    }
    json_t *by = json_object_get(r, "by_db");
    if (json_object_size(by)) {
        buf_puts(out, "| database | correct | evaluated | accuracy |\n| --- | ---: | ---: | ---: |\n");
        const char *k;
        json_t *v;
        json_object_foreach(by, k, v)
        {
            buf_printf(out, "| %s | %lld | %lld | %.2f%% |\n", k,
                       (long long)json_integer_value(json_object_get(v, "correct")),
                       (long long)json_integer_value(json_object_get(v, "evaluated")),
                       100 * json_real_value(json_object_get(v, "accuracy")));
        }
        buf_putc(out, '\n');
    }
    json_t *res = json_object_get(r, "results");
    if (json_array_size(res)) {
        if (agent)
            buf_puts(out, "| task | database | score | turns | tool calls | tool errors | end | error "
                          "|\n| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n");
        else
            buf_puts(out, "| task | database | score | error |\n| --- | --- | ---: | --- |\n");
        size_t i;
        json_t *v;
        json_array_foreach(res, i, v)
        {
            buf_printf(out, "| %s | %s | %lld | ", json_string_value(json_object_get(v, "instance_id")),
                       json_string_value(json_object_get(v, "db")),
                       (long long)json_integer_value(json_object_get(v, "score")));
            if (agent)
                buf_printf(out, "%lld | %lld | %lld | %s | ",
                           (long long)json_integer_value(json_object_get(v, "turns")),
                           (long long)json_integer_value(json_object_get(v, "tool_calls")),
                           (long long)json_integer_value(json_object_get(v, "tool_errors")),
                           json_string_value(json_object_get(v, "end")));
            /* One table cell: no line breaks, pipes escaped. */
            const char *err = json_string_value(json_object_get(v, "error"));
            for (const char *p = err ? err : ""; *p; p++) {
                if (*p == '|')
                    buf_puts(out, "\\|");
                else if (*p == '\n' || *p == '\r')
                    buf_putc(out, ' ');
                else
                    buf_putc(out, *p);
            }
            buf_puts(out, " |\n");
        }
    }
}
