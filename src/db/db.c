/* db: the generic layer over the backends - connection life cycle and
 * reconnection, parameter binding, the per-statement time limit, value
 * text and the connection line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_internal.h"

void db_error_set(db_error *e, int kind, const char *pyclass, const char *sa_class,
                  const char *sa_code, const char *fmt, ...)
{
    if (!e)
        return;
    e->kind = kind;
    snprintf(e->pyclass, sizeof e->pyclass, "%s", pyclass ? pyclass : "");
    snprintf(e->sa_class, sizeof e->sa_class, "%s", sa_class ? sa_class : "");
    snprintf(e->sa_code, sizeof e->sa_code, "%s", sa_code ? sa_code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- schema helpers ---- */

void db_table_free(db_table *t)
{
    free(t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].type);
        strlist_free(&t->cols[i].extras);
    }
    free(t->cols);
    strlist_free(&t->pk);
    for (size_t i = 0; i < t->nfks; i++) {
        strlist_free(&t->fks[i].cols);
        free(t->fks[i].ref_table);
        strlist_free(&t->fks[i].ref_cols);
    }
    free(t->fks);
    memset(t, 0, sizeof *t);
}

db_column *db_table_add_column(db_table *t, const char *name, const char *type)
{
    t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof *t->cols);
    db_column *c = &t->cols[t->ncols++];
    c->name = xstrdup(name);
    c->type = xstrdup(type);
    strlist_init(&c->extras);
    return c;
}

db_fkey *db_table_add_fkey(db_table *t, const char *ref_table)
{
    t->fks = xrealloc(t->fks, (t->nfks + 1) * sizeof *t->fks);
    db_fkey *f = &t->fks[t->nfks++];
    strlist_init(&f->cols);
    strlist_init(&f->ref_cols);
    f->ref_table = xstrdup(ref_table);
    return f;
}

/* ---- values ---- */

void db_value_format(buf_t *b, const db_value *v)
{
    switch (v->kind) {
    case DBV_NULL:
        buf_puts(b, "NULL");
        break;
    case DBV_INT: {
        /* by hand: this runs for every integer of every row */
        char tmp[24];
        int n = 0;
        uint64_t u = v->i < 0 ? (uint64_t)0 - (uint64_t)v->i : (uint64_t)v->i;
        do {
            tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v->i < 0)
            tmp[sizeof tmp - 1 - n++] = '-';
        buf_append(b, tmp + sizeof tmp - n, (size_t)n);
        break;
    }
    case DBV_FLOAT:
        py_float_repr(b, v->f);
        break;
    case DBV_BOOL:
        buf_puts(b, v->i ? "True" : "False");
        break;
    case DBV_TEXT:
    case DBV_OTHER:
        buf_append(b, v->s, v->len);
        break;
    case DBV_BLOB:
        py_bytes_repr(b, (const unsigned char *)v->s, v->len);
        break;
    }
}

/* ---- the watchdog that enforces QUERY_TIMEOUT_MS ---- */

static void deadline_to_timespec(uint64_t mono_ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
    ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

static void *watchdog_main(void *arg)
{
    db_conn *c = arg;
    pthread_mutex_lock(&c->wd_lock);
    while (!c->wd_stop) {
        if (!c->wd_deadline_ns) {
            pthread_cond_wait(&c->wd_cond, &c->wd_lock);
            continue;
        }
        uint64_t now = time_now_ns();
        if (now >= c->wd_deadline_ns) {
            /* Interrupt while holding the lock: a statement can only be
             * disarmed under it, so the interrupt cannot hit a later one. */
            atomic_store(&c->timed_out, 1);
            c->wd_deadline_ns = 0;
            if (c->impl)
                c->be->interrupt(c);
            continue;
        }
        struct timespec ts;
        deadline_to_timespec(c->wd_deadline_ns, &ts);
        pthread_cond_timedwait(&c->wd_cond, &c->wd_lock, &ts);
    }
    pthread_mutex_unlock(&c->wd_lock);
    return NULL;
}

static void watchdog_arm(db_conn *c)
{
    atomic_store(&c->timed_out, 0);
    if (c->opts.timeout_ms <= 0)
        return;
    pthread_mutex_lock(&c->wd_lock);
    if (!c->wd_started) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_destroy(&c->wd_cond);
        pthread_cond_init(&c->wd_cond, &attr);
        pthread_condattr_destroy(&attr);
        if (pthread_create(&c->wd_thread, NULL, watchdog_main, c) == 0)
            c->wd_started = 1;
        else
            log_warn("cannot start the query time-limit thread: %s", strerror(errno));
    }
    int was_idle = c->wd_deadline_ns == 0;
    c->wd_deadline_ns = time_now_ns() + (uint64_t)c->opts.timeout_ms * 1000000ull;
    c->wd_gen++;
    /* A watchdog already sleeping toward an earlier deadline wakes by
     * itself and sees the later one; only an idle one needs a signal. */
    if (was_idle)
        pthread_cond_signal(&c->wd_cond);
    pthread_mutex_unlock(&c->wd_lock);
}

static void watchdog_disarm(db_conn *c)
{
    if (c->opts.timeout_ms <= 0 || !c->wd_started)
        return;
    pthread_mutex_lock(&c->wd_lock);
    c->wd_deadline_ns = 0;
    pthread_mutex_unlock(&c->wd_lock);
}

int db_interrupted_error(db_conn *c, db_error *e, const char *pyclass, const char *sa_class,
                         const char *sa_code, const char *driver_msg)
{
    if (atomic_load(&c->timed_out))
        db_error_set(e, DB_ERR_TIMEOUT, pyclass, sa_class, sa_code,
                     "query stopped: it ran longer than QUERY_TIMEOUT_MS (%ld ms)",
                     c->opts.timeout_ms);
    else if (atomic_load(&c->cancelled))
        db_error_set(e, DB_ERR_CANCELLED, pyclass, sa_class, sa_code,
                     "query cancelled by the client");
    else
        db_error_set(e, DB_ERR_SQL, pyclass, sa_class, sa_code, "%s", driver_msg);
    return -1;
}

void db_clear_interrupt(db_conn *c)
{
    atomic_store(&c->cancelled, 0);
}

void db_interrupt(db_conn *c)
{
    atomic_store(&c->cancelled, 1);
    pthread_mutex_lock(&c->wd_lock);
    if (c->impl)
        c->be->interrupt(c);
    pthread_mutex_unlock(&c->wd_lock);
}

/* ---- connections ---- */

static const db_backend *backend_for(const char *dialect)
{
    if (strcmp(dialect, "sqlite") == 0)
        return &db_sqlite_backend;
    if (strcmp(dialect, "postgresql") == 0 || strcmp(dialect, "postgres") == 0)
        return &db_postgres_backend;
    if (strcmp(dialect, "duckdb") == 0)
        return &db_duckdb_backend;
    return NULL;
}

db_conn *db_new(const char *url, const db_options *opts, err_t *e)
{
    db_conn *c = xcalloc(1, sizeof *c);
    if (db_url_parse(url, &c->url, e) != 0) {
        free(c);
        return NULL;
    }
    c->be = backend_for(c->url.dialect);
    if (!c->be) {
        err_set(e, "DB_URL '%s': unsupported database '%s' (retrain speaks sqlite, postgresql "
                   "and duckdb)", url, c->url.dialect);
        db_url_free(&c->url);
        free(c);
        return NULL;
    }
    if (c->be->check && c->be->check(&c->url, e) != 0) {
        db_url_free(&c->url);
        free(c);
        return NULL;
    }
    if (opts)
        c->opts = *opts;
    if (db_apply_engine_options(c, c->opts.engine_options, e) != 0) {
        free(c->isolation_level);
        db_url_free(&c->url);
        free(c);
        return NULL;
    }
    if (c->opts.engine_options) {
        c->engine_options = xstrdup(c->opts.engine_options);
        c->opts.engine_options = c->engine_options;
    }
    pthread_mutex_init(&c->wd_lock, NULL);
    pthread_cond_init(&c->wd_cond, NULL);
    return c;
}

void db_free(db_conn *c)
{
    if (!c)
        return;
    if (c->wd_started) {
        pthread_mutex_lock(&c->wd_lock);
        c->wd_stop = 1;
        pthread_cond_signal(&c->wd_cond);
        pthread_mutex_unlock(&c->wd_lock);
        pthread_join(c->wd_thread, NULL);
    }
    if (c->impl) {
        pthread_mutex_lock(&c->wd_lock);
        c->be->disconnect(c);
        pthread_mutex_unlock(&c->wd_lock);
    }
    pthread_mutex_destroy(&c->wd_lock);
    pthread_cond_destroy(&c->wd_cond);
    db_url_free(&c->url);
    free(c->engine_options);
    free(c->isolation_level);
    free(c->version);
    free(c->info_line);
    free(c);
}

static void disconnect(db_conn *c)
{
    /* Under the watchdog lock, so an interrupt never sees a half-freed
     * connection. */
    pthread_mutex_lock(&c->wd_lock);
    if (c->impl)
        c->be->disconnect(c);
    c->impl = NULL;
    pthread_mutex_unlock(&c->wd_lock);
}

int db_connect(db_conn *c, db_error *e)
{
    if (c->impl) {
        if (c->be->alive(c))
            return 0;
        log_warn("database connection lost; reconnecting");
        disconnect(c);
    }
    db_error tmp;
    db_error *err = e ? e : &tmp;
    void *impl = NULL;
    pthread_mutex_lock(&c->wd_lock);
    int rc = c->be->connect(c, err);
    impl = c->impl;
    pthread_mutex_unlock(&c->wd_lock);
    if (rc != 0 || !impl) {
        c->impl = NULL;
        return -1;
    }
    if (!c->version) {
        buf_t v;
        buf_init(&v);
        if (c->be->version(c, &v, err) == 0)
            c->version = buf_take(&v);
        buf_free(&v);
    }
    return 0;
}

int db_is_connected(const db_conn *c)
{
    return c->impl != NULL;
}

const db_url *db_get_url(const db_conn *c)
{
    return &c->url;
}

const char *db_dialect(const db_conn *c)
{
    return c->be->dialect;
}

int db_read_only(const db_conn *c)
{
    return c->opts.read_only;
}

int db_hide_parameters(const db_conn *c)
{
    return c->hide_parameters;
}

const char *db_server_version(db_conn *c)
{
    if (!c->version && !c->impl)
        db_connect(c, NULL);
    return c->version;
}

const char *db_info_line(db_conn *c)
{
    /* Built once the version is known; until the database is reachable
     * the line says "version unknown" and is rebuilt on the next call. */
    if (c->info_line && c->version)
        return c->info_line;
    const char *ver = db_server_version(c);
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "Connected to %s version %s database %s", c->be->dialect, ver ? ver : "unknown",
               c->url.database ? c->url.database : "None");
    if (c->url.host && *c->url.host)
        buf_printf(&b, " on %s", c->url.host);
    if (c->url.user && *c->url.user)
        buf_printf(&b, " as user %s", c->url.user);
    buf_putc(&b, '.');
    free(c->info_line);
    c->info_line = buf_take(&b);
    return c->info_line;
}

int db_table_names(db_conn *c, strlist_t *out, db_error *e)
{
    strlist_init(out);
    if (db_connect(c, e) != 0)
        return -1;
    int rc = c->be->table_names(c, out, e);
    if (rc == 0)
        strlist_sort(out);
    return rc;
}

int db_describe(db_conn *c, const char *table, db_table *t, db_error *e)
{
    memset(t, 0, sizeof *t);
    strlist_init(&t->pk);
    if (db_connect(c, e) != 0)
        return -1;
    t->name = xstrdup(table);
    int rc = c->be->describe(c, table, t, e);
    if (rc != 0) {
        db_table_free(t);
        strlist_init(&t->pk);
    }
    return rc;
}

/* ---- statements ---- */

int db_execute(db_conn *c, const char *sql, json_t *params, db_cursor **out, db_error *e)
{
    *out = NULL;
    if (atomic_load(&c->cancelled))
        return db_interrupted_error(c, e, "", "", "", "interrupted");
    if (db_connect(c, e) != 0)
        return -1;
    db_bound b;
    if (db_bind_params(sql, params, c->be->placeholder, c->be->display_pyformat,
                       c->be == &db_sqlite_backend, &b, e) != 0)
        return -1;
    if (c->echo) { /* SQLAlchemy's echo=True: the statement, then its parameters */
        buf_t m;
        buf_init(&m);
        if (params && json_object_size(params))
            db_json_pyrepr(&m, params);
        else
            buf_puts(&m, "[no parameters]");
        log_info("%s\n%s", b.display_sql, m.data);
        buf_free(&m);
    }
    db_cursor *cur = xcalloc(1, sizeof *cur);
    cur->conn = c;
    cur->rowcount = -1;
    buf_init(&cur->scratch);
    watchdog_arm(c);
    int rc = c->be->execute(c, &b, cur, e);
    db_bound_free(&b);
    if (rc != 0) {
        watchdog_disarm(c);
        buf_free(&cur->scratch);
        for (size_t i = 0; i < cur->ncols; i++)
            free(cur->colnames[i]);
        free(cur->colnames);
        free(cur->row);
        free(cur);
        return -1;
    }
    if (!cur->row)
        cur->row = xcalloc(cur->ncols ? cur->ncols : 1, sizeof *cur->row);
    if (!cur->returns_rows)
        cur->finished = 1;
    *out = cur;
    return 0;
}

int db_returns_rows(const db_cursor *cur)
{
    return cur->returns_rows;
}

int64_t db_rowcount(const db_cursor *cur)
{
    return cur->rowcount;
}

size_t db_ncols(const db_cursor *cur)
{
    return cur->ncols;
}

const char *db_colname(const db_cursor *cur, size_t i)
{
    return i < cur->ncols ? cur->colnames[i] : NULL;
}

int db_next(db_cursor *cur, const db_value **row, db_error *e)
{
    if (cur->finished)
        return 0;
    db_conn *c = cur->conn;
    if (atomic_load(&c->timed_out) || atomic_load(&c->cancelled)) {
        cur->finished = 1;
        return db_interrupted_error(c, e, "", "", "", "interrupted");
    }
    buf_reset(&cur->scratch);
    int rc = c->be->next(cur, e);
    if (rc <= 0)
        cur->finished = 1;
    if (rc == 1)
        *row = cur->row;
    return rc;
}

void db_close_cursor(db_cursor *cur)
{
    if (!cur)
        return;
    db_conn *c = cur->conn;
    if (c->impl)
        c->be->close(cur);
    watchdog_disarm(c);
    for (size_t i = 0; i < cur->ncols; i++)
        free(cur->colnames[i]);
    free(cur->colnames);
    free(cur->row);
    buf_free(&cur->scratch);
    free(cur);
}
