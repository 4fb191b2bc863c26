/* Spider 2.0 task files: -Lite (instance_id, db, question,
 * external_knowledge), -Snow (instance_id, db_id, instruction,
 * external_knowledge), -DBT (instance_id, instruction, type). */
#include <string.h>

#include "env.h"

/* Skip reasons (the keys of a report's "skipped" object). */
static const char SKIP_BIGQUERY[] = "bigquery: engine not available here";
static const char SKIP_SNOWFLAKE[] = "snowflake: engine not available here";
static const char SKIP_DBT[] = "dbt: projects not available here";
static const char SKIP_NO_SQLITE_DIR[] = "sqlite: no database folder given";
static const char SKIP_NO_SQLITE_DB[] = "sqlite: database file not present";

static void task_free(env_task *t)
{
    free(t->instance_id);
    free(t->db);
    free(t->question);
    free(t->knowledge_file);
    free(t->knowledge);
    free(t->engine);
    free(t->url);
}

void env_tasks_free(env_tasks *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        task_free(&ts->items[i]);
    free(ts->items);
    free(ts->path);
    strlist_free(&ts->skip_reasons);
    free(ts->skip_counts);
    memset(ts, 0, sizeof *ts);
}

const env_task *env_tasks_find(const env_tasks *ts, const char *instance_id)
{
    for (size_t i = 0; i < ts->n; i++)
        if (!strcmp(ts->items[i].instance_id, instance_id))
            return &ts->items[i];
    return NULL;
}

static void count_skip(env_tasks *ts, const char *reason)
{
    int k = strlist_index(&ts->skip_reasons, reason);
    if (k < 0) {
        strlist_push(&ts->skip_reasons, reason);
        ts->skip_counts = xrealloc(ts->skip_counts, ts->skip_reasons.len * sizeof *ts->skip_counts);
        k = (int)ts->skip_reasons.len - 1;
        ts->skip_counts[k] = 0;
    }
    ts->skip_counts[k]++;
}

/* An optional string member: 0 (absent or null leaves *out NULL), -1 on a
 * wrong type. */
static int opt_string(json_t *o, const char *key, char **out, const char *where, err_t *e)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(e, "%s: %s: expected a string", where, key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* A database name becomes a file name: no separators, no "..". */
static int plain_name(const char *s)
{
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static int parse_task(json_t *o, env_task *t, const char *where, err_t *e)
{
    char *db_id = NULL, *instruction = NULL, *type = NULL;
    int rc = -1;
    json_t *id = json_object_get(o, "instance_id");
    if (!id) {
        err_set(e, "%s: no instance_id", where);
        goto out;
    }
    if (!json_is_string(id) || !json_string_length(id)) {
        err_set(e, "%s: instance_id: expected a non-empty string", where);
        goto out;
    }
    t->instance_id = xstrdup(json_string_value(id));
    if (!plain_name(t->instance_id)) {
        err_set(e, "%s: instance_id '%s' cannot name a file", where, t->instance_id);
        goto out;
    }
    if (opt_string(o, "question", &t->question, where, e) != 0 ||
        opt_string(o, "instruction", &instruction, where, e) != 0 ||
        opt_string(o, "db", &t->db, where, e) != 0 ||
        opt_string(o, "db_id", &db_id, where, e) != 0 ||
        opt_string(o, "external_knowledge", &t->knowledge_file, where, e) != 0 ||
        opt_string(o, "type", &type, where, e) != 0)
        goto out;
    if (t->question && instruction) {
        err_set(e, "%s: both question and instruction", where);
        goto out;
    }
    if (!t->question)
        t->question = instruction, instruction = NULL;
    if (!t->question) {
        err_set(e, "%s: no question (or instruction)", where);
        goto out;
    }
    if (t->db && db_id) {
        err_set(e, "%s: both db and db_id", where);
        goto out;
    }
    if (!t->db)
        t->db = db_id, db_id = NULL;
    int dbt = type && !strcmp(type, "DBT");
    if (!t->db && !dbt) {
        err_set(e, "%s: no db (or db_id)", where);
        goto out;
    }
    if (t->db && !plain_name(t->db)) {
        err_set(e, "%s: db '%s' is not a plain database name", where, t->db);
        goto out;
    }
    if (t->knowledge_file && !plain_name(t->knowledge_file)) {
        err_set(e, "%s: external_knowledge '%s' is not a plain file name", where,
                t->knowledge_file);
        goto out;
    }
    /* "temporal" (the gold result depends on the day it runs) is "Yes" in
     * the Lite file and true in the eval file: either form. */
    json_t *temporal = json_object_get(o, "temporal");
    if (temporal && !json_is_boolean(temporal) && !json_is_string(temporal)) {
        err_set(e, "%s: temporal: expected true/false or a string", where);
        goto out;
    }
    /* The engine: Lite ids say it (bq/ga: BigQuery, sf: Snowflake, local:
     * SQLite); Snow tasks (db_id) are all Snowflake; DBT tasks are dbt
     * projects on DuckDB. */
    const char *eng;
    if (dbt)
        eng = "dbt";
    else if (db_id || json_object_get(o, "db_id"))
        eng = "snowflake";
    else if (str_starts(t->instance_id, "local"))
        eng = "sqlite";
    else if (str_starts(t->instance_id, "sf"))
        eng = "snowflake";
    else
        eng = "bigquery";
    t->engine = xstrdup(eng);
    rc = 0;
out:
    free(db_id);
    free(instruction);
    free(type);
    return rc;
}

/* Picks the connection, or the skip reason. */
static int resolve(env_tasks *ts, env_task *t, const env_task_opts *o, const char *where,
                   err_t *e)
{
    int k = (o->db_names && t->db) ? strlist_index(o->db_names, t->db) : -1;
    if (k >= 0) {
        const char *url = o->db_urls->items[k];
        db_url u;
        err_t ue;
        if (db_url_parse(url, &u, &ue) != 0)
            return err_set(e, "%s: database '%s': %s", where, t->db, ue.msg);
        if (strcmp(u.dialect, "sqlite") && strcmp(u.dialect, "postgresql") &&
            strcmp(u.dialect, "duckdb")) {
            err_set(e, "%s: database '%s': URL '%s' is not sqlite, postgresql or duckdb", where,
                    t->db, url);
            db_url_free(&u);
            return -1;
        }
        free(t->engine);
        t->engine = xstrdup(u.dialect);
        db_url_free(&u);
        t->url = xstrdup(url);
        return 0;
    }
    if (!strcmp(t->engine, "sqlite")) {
        if (!o->sqlite_dir) {
            t->skip = SKIP_NO_SQLITE_DIR;
        } else {
            buf_t p;
            buf_init(&p);
            buf_printf(&p, "%s/%s.sqlite", o->sqlite_dir, t->db);
            if (file_exists(p.data)) {
                buf_t u;
                buf_init(&u);
                /* sqlite:/// + a relative path, sqlite://// + an absolute one */
                buf_printf(&u, "sqlite:///%s", p.data);
                t->url = buf_take(&u);
            } else {
                t->skip = SKIP_NO_SQLITE_DB;
            }
            buf_free(&p);
        }
    } else if (!strcmp(t->engine, "bigquery")) {
        t->skip = SKIP_BIGQUERY;
    } else if (!strcmp(t->engine, "snowflake")) {
        t->skip = SKIP_SNOWFLAKE;
    } else {
        t->skip = SKIP_DBT;
    }
    /* a server of the user's, named after the database, serves it */
    if (t->skip && t->skip != SKIP_DBT && o->served && t->db &&
        strlist_index(o->served, t->db) >= 0)
        t->skip = NULL;
    if (t->skip)
        count_skip(ts, t->skip);
    return 0;
}

static int load_knowledge(env_task *t, const char *dir, const char *where, err_t *e)
{
    if (!dir || !t->knowledge_file)
        return 0;
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", dir, t->knowledge_file);
    if (!file_exists(p.data)) {
        err_set(e, "%s: external_knowledge '%s' not found in %s", where, t->knowledge_file, dir);
        buf_free(&p);
        return -1;
    }
    err_t fe;
    size_t n;
    t->knowledge = file_read(p.data, &n, &fe);
    buf_free(&p);
    if (!t->knowledge)
        return err_set(e, "%s: external_knowledge: %s", where, fe.msg);
    if (!utf8_valid(t->knowledge, n))
        return err_set(e, "%s: external_knowledge '%s' is not UTF-8 text", where,
                       t->knowledge_file);
    return 0;
}

typedef struct load_ctx {
    env_tasks *ts;
    const env_task_opts *o;
    size_t cap;
} load_ctx;

static int load_line(json_t *obj, const char *where, int line, void *ctx, err_t *e)
{
    load_ctx *c = ctx;
    env_tasks *ts = c->ts;
    if (ts->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        ts->items = xrealloc(ts->items, c->cap * sizeof *ts->items);
    }
    env_task *t = &ts->items[ts->n++];
    memset(t, 0, sizeof *t);
    t->line = line;
    int rc = parse_task(obj, t, where, e);
    for (size_t i = 0; rc == 0 && i + 1 < ts->n; i++)
        if (!strcmp(ts->items[i].instance_id, t->instance_id))
            rc = err_set(e, "%s: instance_id '%s' also on line %d", where, t->instance_id,
                         ts->items[i].line);
    if (rc == 0)
        rc = resolve(ts, t, c->o, where, e);
    if (rc == 0 && !t->skip)
        rc = load_knowledge(t, c->o->documents_dir, where, e);
    return rc;
}

int env_tasks_load(const char *path, const env_task_opts *o, env_tasks *ts, err_t *e)
{
    memset(ts, 0, sizeof *ts);
    strlist_init(&ts->skip_reasons);
    ts->path = xstrdup(path);
    env_task_opts none = {0};
    if (!o)
        o = &none;
    if ((o->db_names == NULL) != (o->db_urls == NULL) ||
        (o->db_names && o->db_names->len != o->db_urls->len)) {
        err_set(e, "database map: names and URLs differ in number");
        goto fail;
    }
    load_ctx c = {ts, o, 0};
    if (env_jsonl_each(path, load_line, &c, e) != 0)
        goto fail;
    for (size_t k = 0; o->db_names && k < o->db_names->len; k++) {
        int used = 0;
        for (size_t i = 0; i < ts->n && !used; i++)
            used = ts->items[i].db && !strcmp(ts->items[i].db, o->db_names->items[k]);
        if (!used) {
            err_set(e, "database map: '%s' is no task's database in %s", o->db_names->items[k],
                    path);
            goto fail;
        }
    }
    return 0;
fail:
    env_tasks_free(ts);
    return -1;
}
