/* retrain eval: score predictions on Spider 2.0 tasks with the official
 * execution-accuracy rule; write a submission folder and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../env/env.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain eval [CONFIG.json] --tasks FILE.jsonl --gold-dir DIR --sql-dir DIR\n"
            "                    --out DIR [--sqlite-dir DIR] [--db NAME=URL]... [--documents DIR]\n"
            "                    [--strict] [--max-rows N] [--timeout-ms MS] [--no-progress]\n"
            "\n"
            "Runs every <instance_id>.sql of --sql-dir on its task's database (read-only) and\n"
            "scores the result as Spider 2.0's evaluate.py does. Writes --out/<id>.sql,\n"
            "--out/<id>.csv (the result as pandas would write it), report.json and report.md.\n"
            "Tasks whose engine or database is not available here are skipped and counted.\n"
            "\n"
            "  --tasks FILE       Spider 2.0-Lite, -Snow or -DBT task file (jsonl)\n"
            "  --gold-dir DIR     evaluation_suite/gold layout: spider2lite_eval.jsonl, exec_result/\n"
            "  --sql-dir DIR      the predictions, one <instance_id>.sql per task\n"
            "  --out DIR          the submission folder and reports (created)\n"
            "  --sqlite-dir DIR   SQLite databases as <db>.sqlite\n"
            "  --db NAME=URL      database NAME at URL (postgresql://, duckdb:///, sqlite:///);\n"
            "                     wins over --sqlite-dir (repeatable)\n"
            "  --documents DIR    external-knowledge documents (checked and loaded)\n"
            "  --strict           rows must line up across columns (the official rule matches\n"
            "                     each column on its own)\n"
            "  --max-rows N       keep at most N result rows (default: all)\n"
            "  --timeout-ms MS    stop a statement after MS milliseconds (default 60000; 0: none)\n"
            "\n"
            "CONFIG.json may give the same settings in an \"eval\" object (tasks, gold_dir,\n"
            "sql_dir, out, sqlite_dir, databases {NAME: URL}, documents, strict, max_rows,\n"
            "timeout_ms); environment.env_specific_config.spider2_data_path gives the tasks.\n"
            "Flags override the config.\n");
}

typedef struct settings {
    char *tasks, *gold_dir, *sql_dir, *out, *sqlite_dir, *documents;
    strlist_t db_names, db_urls;
    int strict;
    long max_rows, timeout_ms;
} settings;

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

static int set_db(settings *s, const char *name, const char *url)
{
    int k = strlist_index(&s->db_names, name);
    if (k >= 0) {
        free(s->db_urls.items[k]);
        s->db_urls.items[k] = xstrdup(url);
    } else {
        strlist_push(&s->db_names, name);
        strlist_push(&s->db_urls, url);
    }
    return 0;
}

/* Reads the config's "eval" object (and the guide's spider2_data_path);
 * one line naming the key path on a wrong key or type. */
static int load_config(const char *path, settings *s)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        fprintf(stderr, "retrain eval: %s:%d: %s\n", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        fprintf(stderr, "retrain eval: %s: expected a JSON object\n", path);
        goto out;
    }
    json_t *dp = json_object_get(json_object_get(json_object_get(root, "environment"),
                                                 "env_specific_config"),
                                 "spider2_data_path");
    if (dp && !json_is_null(dp)) {
        if (!json_is_string(dp)) {
            fprintf(stderr, "retrain eval: %s: environment.env_specific_config.spider2_data_path: "
                            "expected a string\n", path);
            goto out;
        }
        set_str(&s->tasks, json_string_value(dp));
    }
    json_t *ev = json_object_get(root, "eval");
    if (ev && !json_is_object(ev)) {
        fprintf(stderr, "retrain eval: %s: eval: expected an object\n", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ev, k, v)
    {
        static const struct {
            const char *key;
            size_t off;
        } strs[] = {
            {"tasks", offsetof(settings, tasks)},       {"gold_dir", offsetof(settings, gold_dir)},
            {"sql_dir", offsetof(settings, sql_dir)},   {"out", offsetof(settings, out)},
            {"sqlite_dir", offsetof(settings, sqlite_dir)},
            {"documents", offsetof(settings, documents)},
        };
        int done = 0;
        for (size_t i = 0; i < ARRAY_LEN(strs) && !done; i++) {
            if (strcmp(k, strs[i].key) != 0)
                continue;
            if (!json_is_string(v)) {
                fprintf(stderr, "retrain eval: %s: eval.%s: expected a string\n", path, k);
                goto out;
            }
            set_str((char **)((char *)s + strs[i].off), json_string_value(v));
            done = 1;
        }
        if (done)
            continue;
        if (!strcmp(k, "strict")) {
            if (!json_is_boolean(v)) {
                fprintf(stderr, "retrain eval: %s: eval.strict: expected true or false\n", path);
                goto out;
            }
            s->strict = json_is_true(v);
        } else if (!strcmp(k, "max_rows") || !strcmp(k, "timeout_ms")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                fprintf(stderr, "retrain eval: %s: eval.%s: expected an integer >= 0\n", path, k);
                goto out;
            }
            *(!strcmp(k, "max_rows") ? &s->max_rows : &s->timeout_ms) = (long)json_integer_value(v);
        } else if (!strcmp(k, "databases")) {
            if (!json_is_object(v)) {
                fprintf(stderr, "retrain eval: %s: eval.databases: expected an object of "
                                "NAME: URL\n", path);
                goto out;
            }
            const char *name;
            json_t *url;
            json_object_foreach(v, name, url)
            {
                if (!json_is_string(url)) {
                    fprintf(stderr, "retrain eval: %s: eval.databases.%s: expected a URL string\n",
                            path, name);
                    goto out;
                }
                set_db(s, name, json_string_value(url));
            }
        } else {
            fprintf(stderr, "retrain eval: %s: eval.%s: unknown key\n", path, k);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int need_dir(const char *flag, const char *p)
{
    if (p && !is_dir(p)) {
        fprintf(stderr, "retrain eval: %s %s: no such directory\n", flag, p);
        return -1;
    }
    return 0;
}

static void settings_free(settings *s)
{
    free(s->tasks), free(s->gold_dir), free(s->sql_dir), free(s->out), free(s->sqlite_dir);
    free(s->documents);
    strlist_free(&s->db_names);
    strlist_free(&s->db_urls);
}

/* Scoring a model's own answers (episodes over MCP) belongs here once the
 * model-driven episode exists; until then the command says so. */
static int eval_model(const settings *s)
{
    (void)s;
    fprintf(stderr, "retrain eval: no --sql-dir: running a model on the tasks needs a model, "
                    "which retrain eval cannot drive yet; give --sql-dir DIR (one "
                    "<instance_id>.sql per task) to score predictions\n");
    return 2;
}

int cmd_eval(int argc, char **argv)
{
    settings s;
    memset(&s, 0, sizeof s);
    strlist_init(&s.db_names);
    strlist_init(&s.db_urls);
    s.timeout_ms = 60000;
    int rc = 2, progress = 1;
    const char *config = NULL;
    /* The config first, so that flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            settings_free(&s);
            return 0;
        }
        if (a[0] == '-') {
            if (strcmp(a, "--strict") && strcmp(a, "--no-progress"))
                i++; /* skip the flag's value */
            continue;
        }
        if (config) {
            fprintf(stderr, "retrain eval: unexpected argument '%s' (see --help)\n", a);
            goto out;
        }
        config = a;
    }
    if (config && load_config(config, &s) != 0)
        goto out;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char **slot = NULL;
        if (a == config)
            continue;
        if (!strcmp(a, "--strict")) {
            s.strict = 1;
            continue;
        }
        if (!strcmp(a, "--no-progress")) {
            progress = 0;
            continue;
        }
        if (!strcmp(a, "--tasks"))
            slot = &s.tasks;
        else if (!strcmp(a, "--gold-dir"))
            slot = &s.gold_dir;
        else if (!strcmp(a, "--sql-dir"))
            slot = &s.sql_dir;
        else if (!strcmp(a, "--out"))
            slot = &s.out;
        else if (!strcmp(a, "--sqlite-dir"))
            slot = &s.sqlite_dir;
        else if (!strcmp(a, "--documents"))
            slot = &s.documents;
        else if (strcmp(a, "--db") && strcmp(a, "--max-rows") && strcmp(a, "--timeout-ms")) {
            fprintf(stderr, "retrain eval: unknown option '%s' (see --help)\n", a);
            goto out;
        }
        if (!v || !v[0]) {
            fprintf(stderr, "retrain eval: %s needs a value\n", a);
            goto out;
        }
        i++;
        if (slot) {
            set_str(slot, v);
        } else if (!strcmp(a, "--db")) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "retrain eval: --db needs NAME=URL, got '%s'\n", v);
                goto out;
            }
            char *name = xstrndup(v, (size_t)(eq - v));
            set_db(&s, name, eq + 1);
            free(name);
        } else {
            long x;
            if (parse_long(v, &x) != 0 || x < 0) {
                fprintf(stderr, "retrain eval: %s needs an integer >= 0, got '%s'\n", a, v);
                goto out;
            }
            *(!strcmp(a, "--max-rows") ? &s.max_rows : &s.timeout_ms) = x;
        }
    }
    if (!s.sql_dir) {
        rc = eval_model(&s);
        goto out;
    }
    if (!s.tasks || !s.gold_dir || !s.out) {
        fprintf(stderr, "retrain eval: needs --tasks FILE, --gold-dir DIR and --out DIR (see "
                        "--help)\n");
        goto out;
    }
    if (!file_exists(s.tasks) || is_dir(s.tasks)) {
        fprintf(stderr, "retrain eval: --tasks %s: no such file\n", s.tasks);
        goto out;
    }
    if (need_dir("--gold-dir", s.gold_dir) || need_dir("--sql-dir", s.sql_dir) ||
        need_dir("--sqlite-dir", s.sqlite_dir) || need_dir("--documents", s.documents))
        goto out;
    rc = 1;
    err_t e;
    env_task_opts to = {.sqlite_dir = s.sqlite_dir, .documents_dir = s.documents};
    if (s.db_names.len)
        to.db_names = &s.db_names, to.db_urls = &s.db_urls;
    env_tasks ts;
    if (env_tasks_load(s.tasks, &to, &ts, &e) != 0) {
        fprintf(stderr, "retrain eval: %s\n", e.msg);
        goto out;
    }
    env_gold g;
    if (env_gold_open(s.gold_dir, &g, &e) != 0) {
        fprintf(stderr, "retrain eval: %s\n", e.msg);
        env_tasks_free(&ts);
        goto out;
    }
    env_executor x;
    env_db_executor(&ts, &x);
    env_eval_opts eo = {.sql_dir = s.sql_dir, .out_dir = s.out,
                        .mode = s.strict ? ENV_SCORE_STRICT : ENV_SCORE_OFFICIAL,
                        .max_rows = (size_t)s.max_rows, .timeout_ms = s.timeout_ms,
                        .progress = progress};
    json_t *report = env_eval_sql_dir(&ts, &g, &x, &eo, &e);
    if (!report) {
        fprintf(stderr, "retrain eval: %s\n", e.msg);
    } else {
        printf("accuracy %.4f: %lld correct of %lld evaluated (%lld tasks, %lld skipped); "
               "report in %s/report.json\n",
               json_real_value(json_object_get(report, "accuracy")),
               (long long)json_integer_value(json_object_get(report, "correct")),
               (long long)json_integer_value(json_object_get(report, "evaluated")),
               (long long)json_integer_value(json_object_get(report, "total")),
               (long long)(json_integer_value(json_object_get(report, "total")) -
                           json_integer_value(json_object_get(report, "evaluated"))),
               s.out);
        json_decref(report);
        rc = 0;
    }
    x.close(x.ctx);
    env_gold_close(&g);
    env_tasks_free(&ts);
out:
    settings_free(&s);
    return rc;
}
