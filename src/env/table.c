/* Result tables: column names and typed cells, filled from a database
 * cursor or from execute_query's structuredContent JSON. */
#include <string.h>

#include "env.h"

void env_table_init(env_table *t)
{
    memset(t, 0, sizeof *t);
    strlist_init(&t->cols);
    buf_init(&t->text);
    buf_reserve(&t->text, 1); /* text.data is never NULL */
}

void env_table_free(env_table *t)
{
    strlist_free(&t->cols);
    free(t->cells);
    free(t->dtypes);
    buf_free(&t->text);
    memset(t, 0, sizeof *t);
}

void env_table_add_col(env_table *t, const char *name)
{
    strlist_push(&t->cols, name);
}

env_cell *env_table_add_row(env_table *t)
{
    size_t nc = t->cols.len;
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * (nc ? nc : 1) * sizeof *t->cells);
    }
    env_cell *row = &t->cells[t->nrows * nc];
    memset(row, 0, nc * sizeof *row);
    t->nrows++;
    return row;
}

void env_cell_set_text(env_table *t, env_cell *c, const char *s, size_t n)
{
    c->kind = ENV_TEXT;
    c->off = t->text.len;
    c->len = n;
    buf_append(&t->text, s, n);
    buf_putc(&t->text, 0); /* so env_cell_text is a C string too */
}

int env_table_from_cursor(db_cursor *cur, size_t max_rows, env_table *t, db_error *e)
{
    size_t nc = db_ncols(cur);
    for (size_t i = 0; i < nc; i++)
        env_table_add_col(t, db_colname(cur, i));
    buf_t tmp;
    buf_init(&tmp);
    const db_value *row;
    int rc;
    while ((rc = db_next(cur, &row, e)) == 1) {
        if (max_rows && t->nrows == max_rows) {
            t->truncated = 1;
            break;
        }
        env_cell *out = env_table_add_row(t);
        for (size_t i = 0; i < nc; i++) {
            const db_value *v = &row[i];
            env_cell *c = &out[i];
            switch (v->kind) {
            case DBV_NULL:
                c->kind = ENV_NULL;
                break;
            case DBV_INT:
                c->kind = ENV_INT, c->i = v->i;
                break;
            case DBV_FLOAT:
                c->kind = ENV_FLOAT, c->f = v->f;
                break;
            case DBV_BOOL:
                c->kind = ENV_BOOL, c->i = v->i != 0;
                break;
            case DBV_TEXT:
            case DBV_OTHER:
                env_cell_set_text(t, c, v->s, v->len);
                break;
            case DBV_BLOB:
                /* pandas writes str(bytes): b'\x00..' */
                buf_reset(&tmp);
                db_value_format(&tmp, v);
                env_cell_set_text(t, c, tmp.data, tmp.len);
                break;
            }
        }
    }
    buf_free(&tmp);
    return rc < 0 ? -1 : 0;
}

int env_table_from_json(json_t *obj, env_table *t, err_t *e)
{
    if (!json_is_object(obj))
        return err_set(e, "result: expected an object with columns and rows");
    json_t *cols = json_object_get(obj, "columns"), *rows = json_object_get(obj, "rows");
    json_t *trunc = json_object_get(obj, "truncated");
    if (!json_is_array(cols))
        return err_set(e, "result.columns: expected an array of names");
    if (!json_is_array(rows))
        return err_set(e, "result.rows: expected an array of rows");
    if (trunc && !json_is_boolean(trunc))
        return err_set(e, "result.truncated: expected true or false");
    size_t nc = json_array_size(cols);
    for (size_t i = 0; i < nc; i++) {
        json_t *n = json_array_get(cols, i);
        if (!json_is_string(n))
            return err_set(e, "result.columns[%zu]: expected a string", i);
        env_table_add_col(t, json_string_value(n));
    }
    for (size_t r = 0; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r);
        if (!json_is_array(row) || json_array_size(row) != nc)
            return err_set(e, "result.rows[%zu]: expected an array of %zu values", r, nc);
        env_cell *out = env_table_add_row(t);
        for (size_t i = 0; i < nc; i++) {
            json_t *v = json_array_get(row, i);
            env_cell *c = &out[i];
            if (json_is_null(v)) {
                c->kind = ENV_NULL;
            } else if (json_is_integer(v)) {
                c->kind = ENV_INT, c->i = json_integer_value(v);
            } else if (json_is_real(v)) {
                c->kind = ENV_FLOAT, c->f = json_real_value(v);
            } else if (json_is_boolean(v)) {
                c->kind = ENV_BOOL, c->i = json_is_true(v);
            } else if (json_is_string(v)) {
                env_cell_set_text(t, c, json_string_value(v), json_string_length(v));
            } else {
                char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                env_cell_set_text(t, c, s, strlen(s));
                free(s);
            }
        }
    }
    t->truncated = json_is_true(trunc);
    return 0;
}
