/* db: what a backend implements and the state the generic layer keeps.
 * Only the files of src/db/ include this. */
#ifndef RETRAIN_DB_INTERNAL_H
#define RETRAIN_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "db.h"

typedef struct db_backend {
    const char *dialect;        /* SQLAlchemy's dialect name */
    db_placeholder placeholder; /* how the driver takes parameters */
    int display_pyformat;       /* show %(name)s in error texts (psycopg2) */

    /* Optional: checks at db_new() time what the backend needs beyond the
     * database itself (a library to load...), so a missing piece is a
     * clear startup error rather than a failure on every call. */
    int (*check)(const db_url *u, err_t *e);
    /* Opens the connection; sets c->impl. Honours c->opts.read_only. */
    int (*connect)(db_conn *c, db_error *e);
    /* Closes it; c->impl becomes NULL. */
    void (*disconnect)(db_conn *c);
    /* 0 if the open connection is known to be unusable (lost). */
    int (*alive)(db_conn *c);
    /* Appends server_version_info joined by '.'. */
    int (*version)(db_conn *c, buf_t *out, db_error *e);
    int (*table_names)(db_conn *c, strlist_t *out, db_error *e);
    /* 0 filled, 1 no such table, -1 error. */
    int (*describe)(db_conn *c, const char *table, db_table *t, db_error *e);
    /* Starts b->sql with b->values bound; fills cur->returns_rows,
     * cur->rowcount, cur->ncols and cur->colnames (strdup'ed). */
    int (*execute)(db_conn *c, const db_bound *b, db_cursor *cur, db_error *e);
    /* Fetches the next row into cur->row (cur->ncols values); 1 row,
     * 0 end, -1 error. */
    int (*next)(db_cursor *cur, db_error *e);
    /* Releases the statement, stopping it if rows remain. */
    void (*close)(db_cursor *cur);
    /* Thread-safe: asks the running statement to stop. */
    void (*interrupt)(db_conn *c);
} db_backend;

extern const db_backend db_sqlite_backend;
extern const db_backend db_postgres_backend;
extern const db_backend db_duckdb_backend;

struct db_conn {
    const db_backend *be;
    db_url url;
    db_options opts;
    char *engine_options; /* owned copy of opts.engine_options */
    /* DB_ENGINE_OPTIONS, applied (engine_options.c) */
    char *isolation_level; /* NULL for AUTOCOMMIT */
    int echo;              /* log each statement */
    int hide_parameters;   /* keep parameter values out of error texts */
    long busy_timeout_ms;  /* SQLite: wait this long on a locked database */
    void *impl;           /* backend state; NULL while disconnected */
    char *version;        /* cached db_server_version() */
    char *info_line;      /* cached db_info_line() */

    /* Time limit: one watchdog thread per connection sleeps until the
     * armed deadline and interrupts the statement if it is still running.
     * Arming costs a lock, not a thread, so short queries stay cheap. */
    pthread_t wd_thread;
    int wd_started;
    pthread_mutex_t wd_lock;
    pthread_cond_t wd_cond;
    uint64_t wd_deadline_ns; /* 0 = nothing armed */
    uint64_t wd_gen;         /* bumps on every arm, so a late wakeup is ignored */
    int wd_stop;
    atomic_int timed_out;
    atomic_int cancelled;
};

struct db_cursor {
    db_conn *conn;
    void *impl;
    int returns_rows;
    int64_t rowcount;
    size_t ncols;
    char **colnames;
    db_value *row;  /* ncols entries, filled by backend next() */
    buf_t scratch;  /* backends may format values here (reset per row) */
    int finished;
};

/* Parses DB_ENGINE_OPTIONS into c (connect_args become URL query
 * parameters or backend settings). 0, or -1 with e filled. */
int db_apply_engine_options(db_conn *c, const char *text, err_t *e);

/* Backends report "statement interrupted" with this; the generic layer
 * turns it into a timeout or cancellation error as appropriate. */
int db_interrupted_error(db_conn *c, db_error *e, const char *pyclass, const char *sa_class,
                         const char *sa_code, const char *driver_msg);


#endif
