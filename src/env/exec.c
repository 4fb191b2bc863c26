/* The direct executor: predicted SQL runs on read-only src/db connections,
 * one per database, opened on first use. */
#include <string.h>

#include "env.h"

typedef struct dconn {
    char *db, *url;
    long timeout_ms;
    db_conn *conn; /* NULL until first used */
} dconn;

typedef struct dexec {
    dconn *c;
    size_t n;
} dexec;

static void dexec_close(void *ctx)
{
    dexec *x = ctx;
    for (size_t i = 0; i < x->n; i++) {
        free(x->c[i].db);
        free(x->c[i].url);
        if (x->c[i].conn)
            db_free(x->c[i].conn);
    }
    free(x->c);
    free(x);
}

static int dexec_run(void *ctx, const char *db, const char *sql, size_t max_rows,
                     long timeout_ms, env_table *out, err_t *e)
{
    dexec *x = ctx;
    dconn *c = NULL;
    for (size_t i = 0; i < x->n && !c; i++)
        if (!strcmp(x->c[i].db, db))
            c = &x->c[i];
    if (!c)
        return err_set(e, "database '%s' is not available here", db);
    /* The time limit is a connection option: reopen when it changes. */
    if (c->conn && c->timeout_ms != timeout_ms) {
        db_free(c->conn);
        c->conn = NULL;
    }
    if (!c->conn) {
        db_options o = {.read_only = 1, .timeout_ms = timeout_ms};
        c->conn = db_new(c->url, &o, e);
        if (!c->conn)
            return -1;
        c->timeout_ms = timeout_ms;
    }
    db_error de;
    db_cursor *cur;
    if (db_execute(c->conn, sql, NULL, &cur, &de) != 0)
        return err_set(e, "%s", de.message);
    int rc = 0;
    if (!db_returns_rows(cur))
        rc = err_set(e, "the statement returns no rows");
    else if (env_table_from_cursor(cur, max_rows, out, &de) != 0)
        rc = err_set(e, "%s", de.message);
    db_close_cursor(cur);
    return rc;
}

void env_db_executor(const env_tasks *ts, env_executor *out)
{
    dexec *x = xcalloc(1, sizeof *x);
    for (size_t i = 0; i < ts->n; i++) {
        const env_task *t = &ts->items[i];
        if (!t->url || !t->db)
            continue;
        int seen = 0;
        for (size_t j = 0; j < x->n && !seen; j++)
            seen = !strcmp(x->c[j].db, t->db);
        if (seen)
            continue;
        x->c = xrealloc(x->c, (x->n + 1) * sizeof *x->c);
        x->c[x->n++] = (dconn){xstrdup(t->db), xstrdup(t->url), 0, NULL};
    }
    out->ctx = x;
    out->run = dexec_run;
    out->close = dexec_close;
}
