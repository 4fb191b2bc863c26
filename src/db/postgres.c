/* Placeholder until the postgres backend lands; every call reports it. */
#include "db_internal.h"

static int pl_connect(db_conn *c, db_error *e)
{
    (void)c;
    db_error_set(e, DB_ERR_CONNECT, "", "", "", "the postgres backend is not built in");
    return -1;
}
static void pl_disconnect(db_conn *c) { (void)c; }
static int pl_alive(db_conn *c) { (void)c; return 0; }
static int pl_version(db_conn *c, buf_t *o, db_error *e) { (void)c; (void)o; (void)e; return -1; }
static int pl_tables(db_conn *c, strlist_t *o, db_error *e) { (void)c; (void)o; return pl_connect(c, e); }
static int pl_describe(db_conn *c, const char *t, db_table *o, db_error *e) { (void)t; (void)o; return pl_connect(c, e); }
static int pl_execute(db_conn *c, const db_bound *b, db_cursor *cur, db_error *e) { (void)b; (void)cur; return pl_connect(c, e); }
static int pl_next(db_cursor *cur, db_error *e) { (void)cur; (void)e; return 0; }
static void pl_close(db_cursor *cur) { (void)cur; }
static void pl_interrupt(db_conn *c) { (void)c; }

const db_backend db_postgres_backend = {
    .dialect = "postgresql", .placeholder = DB_PH_DOLLAR, .connect = pl_connect, .disconnect = pl_disconnect,
    .alive = pl_alive, .version = pl_version, .table_names = pl_tables, .describe = pl_describe,
    .execute = pl_execute, .next = pl_next, .close = pl_close, .interrupt = pl_interrupt,
};
