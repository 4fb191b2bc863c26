/* db: one connection interface over SQLite, PostgreSQL and DuckDB.
 *
 * A connection is opened from a SQLAlchemy-style URL (the form mcp-alchemy
 * users already have), lists tables, describes a table the way SQLAlchemy's
 * inspector does, and runs one statement with named :parameters through a
 * cursor that streams rows, so a huge result is never held in memory.
 * Optional read-only mode and a per-query time limit hold on every backend.
 *
 * Threading: one thread uses a connection at a time; db_interrupt() may be
 * called from any other thread to stop the statement that is running. */
#ifndef RETRAIN_DB_H
#define RETRAIN_DB_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"

/* ---- URLs: dialect[+driver]://[user[:password]@]host[:port]/database[?k=v&...] */
typedef struct db_url {
    char *dialect;  /* "sqlite", "postgresql", "duckdb" (lowercased) */
    char *driver;   /* after '+', or NULL */
    char *user, *password, *host; /* percent-decoded, NULL when absent */
    int port;       /* 0 when absent */
    char *database; /* as SQLAlchemy's url.database: path for sqlite/duckdb */
    strlist_t qkeys, qvals; /* query parameters, in order */
} db_url;
int db_url_parse(const char *s, db_url *u, err_t *e);
void db_url_free(db_url *u);
const char *db_url_query(const db_url *u, const char *key); /* NULL if absent */

/* ---- values of one row; pointers stay valid until the next db_next(). */
typedef enum db_vkind {
    DBV_NULL,
    DBV_INT,   /* i */
    DBV_FLOAT, /* f */
    DBV_BOOL,  /* i: 0 or 1 */
    DBV_TEXT,  /* s, len: UTF-8 text as stored */
    DBV_BLOB,  /* s, len: raw bytes */
    DBV_OTHER, /* s, len: already in Python's str() form (dates in ISO-8601,
                  decimals, big integers, intervals, lists, ...) */
} db_vkind;

typedef struct db_value {
    db_vkind kind;
    int64_t i;
    double f;
    const char *s;
    size_t len;
} db_value;

/* Appends str(value) as Python prints the driver's value: NULL for None,
 * repr for floats, b'..' for bytes, True/False, text as is. */
void db_value_format(buf_t *b, const db_value *v);

/* ---- errors carry the driver's own message and its Python class, so the
 * MCP tools can print them the way SQLAlchemy does. */
typedef struct db_error {
    char message[4096];  /* the driver's message, e.g. "no such table: x" */
    char pyclass[96];    /* e.g. "sqlite3.OperationalError" */
    char sa_code[8];     /* SQLAlchemy's error code, e.g. "e3q8"; "" if none */
    char sa_class[48];   /* e.g. "OperationalError" (the DBAPI wrapper) */
    int kind;            /* DB_ERR_* */
} db_error;

enum {
    DB_ERR_SQL = 0,      /* the statement failed; connection fine */
    DB_ERR_CONNECT,      /* could not connect or connection lost */
    DB_ERR_TIMEOUT,      /* stopped by QUERY_TIMEOUT_MS */
    DB_ERR_CANCELLED,    /* stopped by db_interrupt() */
    DB_ERR_READ_ONLY,    /* refused by read-only mode */
    DB_ERR_PARAM,        /* a :parameter had no value or a bad type */
    DB_ERR_USAGE,        /* anything else the caller got wrong */
};
/* Sets every field in one call; fmt gives the message. */
void db_error_set(db_error *e, int kind, const char *pyclass, const char *sa_class,
                  const char *sa_code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- schema, in the shape mcp-alchemy prints: per column the reflected
 * type and the extra items SQLAlchemy's inspector reports, in its order
 * ("nullable", "default=...", "autoincrement", "primary_key=1", ...). */
typedef struct db_column {
    char *name;
    char *type;     /* str() of SQLAlchemy's reflected type: "NVARCHAR(40)" */
    strlist_t extras; /* already formatted: "nullable", "default='x'" */
} db_column;

typedef struct db_fkey {
    strlist_t cols;
    char *ref_table;
    strlist_t ref_cols;
} db_fkey;

typedef struct db_table {
    char *name;
    db_column *cols;
    size_t ncols;
    strlist_t pk;      /* primary-key columns in key order */
    db_fkey *fks;
    size_t nfks;
} db_table;
void db_table_free(db_table *t);
/* Helpers for backends building a db_table. */
db_column *db_table_add_column(db_table *t, const char *name, const char *type);
db_fkey *db_table_add_fkey(db_table *t, const char *ref_table);

/* ---- connections. */
typedef struct db_options {
    int read_only;            /* refuse every write */
    long timeout_ms;          /* per statement, 0 = no limit */
    const char *engine_options; /* DB_ENGINE_OPTIONS JSON text or NULL */
} db_options;

typedef struct db_conn db_conn;
typedef struct db_cursor db_cursor;

/* Parses the URL and prepares the backend. Fails only for a URL we cannot
 * use (unknown dialect, bad syntax, DuckDB library absent); the database
 * itself is connected lazily and reconnected after it goes away, so a
 * server keeps serving while its database is down. */
db_conn *db_new(const char *url, const db_options *opts, err_t *e);
void db_free(db_conn *c);

/* Connects now if not connected. 0 on success. */
int db_connect(db_conn *c, db_error *e);
int db_is_connected(const db_conn *c);

const db_url *db_get_url(const db_conn *c);
/* SQLAlchemy's dialect name: "sqlite", "postgresql", "duckdb". */
const char *db_dialect(const db_conn *c);
/* Server version as SQLAlchemy's server_version_info joined by '.', e.g.
 * "3.40.1"; needs a connection for PostgreSQL. NULL if unknown. */
const char *db_server_version(db_conn *c);
/* "Connected to sqlite version 3.40.1 database x.db." (mcp-alchemy's
 * DB_INFO line), built once connected. */
const char *db_info_line(db_conn *c);
int db_read_only(const db_conn *c);
/* DB_ENGINE_OPTIONS hide_parameters: error texts leave values out. */
int db_hide_parameters(const db_conn *c);

/* Tables of the default schema, sorted, internal SQLite tables left out. */
int db_table_names(db_conn *c, strlist_t *out, db_error *e);
/* 0 and *t filled; 1 if the table does not exist; -1 on error. */
int db_describe(db_conn *c, const char *table, db_table *t, db_error *e);

/* Runs one statement. params is a JSON object (or NULL) whose members bind
 * the :name parameters of sql. On success *out is a cursor that must be
 * closed with db_close_cursor() before the next statement. */
int db_execute(db_conn *c, const char *sql, json_t *params, db_cursor **out, db_error *e);
/* 1 if the statement produces rows (even zero of them). */
int db_returns_rows(const db_cursor *cur);
/* Rows affected for statements without rows; -1 where the driver says so
 * (Python's sqlite3 reports -1 for DDL). */
int64_t db_rowcount(const db_cursor *cur);
size_t db_ncols(const db_cursor *cur);
const char *db_colname(const db_cursor *cur, size_t i);
/* 1 and *row set (ncols values), 0 at the end, -1 on error. */
int db_next(db_cursor *cur, const db_value **row, db_error *e);
/* Closes the cursor; stops the statement if rows remain unread. */
void db_close_cursor(db_cursor *cur);

/* Stops the running statement from another thread; it then fails with
 * DB_ERR_CANCELLED. Safe to call when nothing runs: the next statement then
 * fails at once, until db_clear_interrupt() - so a cancellation that lands
 * just before a statement starts is not lost. */
void db_interrupt(db_conn *c);
void db_clear_interrupt(db_conn *c);

/* ---- named parameters, shared by the backends. The statement is split
 * into text and :name references (SQLAlchemy's text() rules: "::" and a
 * colon after a word character are not parameters, "\:" is a literal colon;
 * quoted strings, quoted identifiers and comments are left alone). */
typedef enum db_placeholder {
    DB_PH_QMARK,   /* ?          (sqlite) */
    DB_PH_DOLLAR,  /* $1, $2 ... (postgresql, duckdb); repeated names share a number */
} db_placeholder;
typedef struct db_bound {
    char *sql;          /* rewritten statement */
    char *display_sql;  /* as the Python driver would have been given it
                           (?, or %(name)s for psycopg2), for error texts */
    json_t **values;    /* borrowed references into params, one per placeholder */
    size_t nvalues;
    strlist_t names;    /* name per placeholder */
} db_bound;
int db_bind_params(const char *sql, json_t *params, db_placeholder style, int display_pyformat,
                   int bracket_quotes, db_bound *out, db_error *e);
void db_bound_free(db_bound *b);
/* The statement as the Python driver would have received it (? or
 * %(name)s placeholders), for error texts; never fails. */
char *db_display_sql(const char *sql, int display_pyformat, int bracket_quotes);
/* The Python repr of a JSON parameter value ('x', 5, True, None, [..]). */
void db_json_pyrepr(buf_t *b, json_t *v);

#endif
