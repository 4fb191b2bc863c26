/* Gold data in Spider 2.0's evaluation_suite/gold layout:
 * spider2lite_eval.jsonl (condition_cols, ignore_order per task) and
 * exec_result/<id>.csv or <id>_a.csv, <id>_b.csv, ... */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "env.h"

static int parse_cols(json_t *a, env_cols *out, const char *where, err_t *e)
{
    out->n = json_array_size(a);
    out->idx = xcalloc(out->n ? out->n : 1, sizeof *out->idx);
    for (size_t i = 0; i < out->n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return err_set(e, "%s[%zu]: expected a column index (an integer >= 0)", where, i);
        out->idx[i] = (long)json_integer_value(v);
    }
    return 0;
}

static void meta_free(env_gold_meta *m)
{
    free(m->instance_id);
    for (size_t i = 0; i < m->nlists; i++)
        free(m->lists[i].idx);
    free(m->lists);
}

/* condition_cols: null, [], [i, ...] or [[i, ...], ...]. Like evaluate.py,
 * [[]] and [null] mean "all columns". */
static int parse_meta(json_t *o, env_gold_meta *m, const char *where, err_t *e)
{
    json_t *id = json_object_get(o, "instance_id");
    if (!json_is_string(id))
        return err_set(e, "%s: instance_id: expected a string", where);
    m->instance_id = xstrdup(json_string_value(id));
    json_t *io = json_object_get(o, "ignore_order");
    if (io && !json_is_boolean(io))
        return err_set(e, "%s: ignore_order: expected true or false", where);
    m->ignore_order = json_is_true(io);
    json_t *cc = json_object_get(o, "condition_cols");
    if (!cc || json_is_null(cc))
        return 0;
    if (!json_is_array(cc))
        return err_set(e, "%s: condition_cols: expected a list of column indices or of such lists",
                       where);
    size_t n = json_array_size(cc);
    if (n == 0)
        return 0;
    json_t *first = json_array_get(cc, 0);
    if (n == 1 && (json_is_null(first) || (json_is_array(first) && !json_array_size(first))))
        return 0;
    char path[640];
    if (json_is_array(first)) {
        m->per_variant = 1;
        m->lists = xcalloc(n, sizeof *m->lists);
        m->nlists = n;
        for (size_t i = 0; i < n; i++) {
            json_t *l = json_array_get(cc, i);
            snprintf(path, sizeof path, "%s: condition_cols[%zu]", where, i);
            if (!json_is_array(l))
                return err_set(e, "%s: expected a list (condition_cols mixes lists and indices)",
                               path);
            if (parse_cols(l, &m->lists[i], path, e) != 0)
                return -1;
        }
        return 0;
    }
    m->lists = xcalloc(1, sizeof *m->lists);
    m->nlists = 1;
    snprintf(path, sizeof path, "%s: condition_cols", where);
    return parse_cols(cc, &m->lists[0], path, e);
}

static int read_listing(const char *dir, strlist_t *out, err_t *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            strlist_push(out, de->d_name);
    closedir(d);
    strlist_sort(out);
    return 0;
}

typedef struct gold_ctx {
    env_gold *g;
    size_t cap;
} gold_ctx;

static int gold_line(json_t *o, const char *where, int line, void *ctx, err_t *e)
{
    gold_ctx *c = ctx;
    env_gold *g = c->g;
    if (g->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        g->metas = xrealloc(g->metas, c->cap * sizeof *g->metas);
    }
    env_gold_meta *m = &g->metas[g->n++];
    memset(m, 0, sizeof *m);
    m->line = line;
    int rc = parse_meta(o, m, where, e);
    for (size_t i = 0; rc == 0 && i + 1 < g->n; i++)
        if (!strcmp(g->metas[i].instance_id, m->instance_id))
            rc = err_set(e, "%s: instance_id '%s' also on line %d", where, m->instance_id,
                         g->metas[i].line);
    return rc;
}

int env_gold_open(const char *dir, env_gold *g, err_t *e)
{
    memset(g, 0, sizeof *g);
    strlist_init(&g->files);
    g->dir = xstrdup(dir);
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/spider2lite_eval.jsonl", dir);
    g->eval_path = buf_take(&p);
    buf_printf(&p, "%s/exec_result", dir);
    g->result_dir = buf_take(&p);
    gold_ctx c = {g, 0};
    if (env_jsonl_each(g->eval_path, gold_line, &c, e) != 0)
        goto fail;
    if (read_listing(g->result_dir, &g->files, e) != 0)
        goto fail;
    return 0;
fail:
    env_gold_close(g);
    return -1;
}

void env_gold_close(env_gold *g)
{
    for (size_t i = 0; i < g->n; i++)
        meta_free(&g->metas[i]);
    free(g->metas);
    free(g->dir);
    free(g->eval_path);
    free(g->result_dir);
    strlist_free(&g->files);
    memset(g, 0, sizeof *g);
}

const env_gold_meta *env_gold_find(const env_gold *g, const char *instance_id)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->metas[i].instance_id, instance_id))
            return &g->metas[i];
    return NULL;
}

void env_gold_variants(const env_gold *g, const char *id, strlist_t *names)
{
    size_t n = strlen(id);
    for (size_t i = 0; i < g->files.len; i++) {
        const char *f = g->files.items[i];
        if (strncmp(f, id, n) != 0)
            continue;
        const char *rest = f + n;
        if (!strcmp(rest, ".csv") ||
            (rest[0] == '_' && rest[1] >= 'a' && rest[1] <= 'z' && !strcmp(rest + 2, ".csv")))
            strlist_push(names, f);
    }
}

void env_tables_free(env_table *tables, size_t n)
{
    for (size_t i = 0; i < n; i++)
        env_table_free(&tables[i]);
    free(tables);
}

int env_gold_load(const env_gold *g, const char *id, env_table **tables, size_t *n, err_t *e)
{
    strlist_t names;
    strlist_init(&names);
    env_gold_variants(g, id, &names);
    *tables = NULL;
    *n = 0;
    if (!names.len) {
        strlist_free(&names);
        return err_set(e, "%s: no gold result for %s (%s.csv or %s_a.csv, ...)", g->result_dir,
                       id, id, id);
    }
    env_table *t = xcalloc(names.len, sizeof *t);
    buf_t p;
    buf_init(&p);
    for (size_t i = 0; i < names.len; i++) {
        env_table_init(&t[i]);
        buf_reset(&p);
        buf_printf(&p, "%s/%s", g->result_dir, names.items[i]);
        if (env_csv_read_file(p.data, &t[i], e) != 0) {
            env_tables_free(t, i + 1);
            buf_free(&p);
            strlist_free(&names);
            return -1;
        }
    }
    buf_free(&p);
    *tables = t;
    *n = names.len;
    strlist_free(&names);
    return 0;
}
