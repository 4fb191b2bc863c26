/* Pieces of the PostgreSQL backend (postgres.c) that stand on their own:
 * the text of values and the class of errors, as psycopg2 users see them.
 * Only the files of src/db/ include this.
 *
 * Values.
 * The server sends every value as text (DateStyle=ISO, IntervalStyle=
 * postgres, bytea_output=hex). psycopg2 turns that text into a Python
 * value by the column's type OID, and mcp-alchemy prints str() of it
 * (isoformat() for dates and datetimes). These functions produce the same
 * text from the server's text, so nothing is parsed twice and no Python
 * object model is needed. */
#ifndef RETRAIN_PG_INTERNAL_H
#define RETRAIN_PG_INTERNAL_H

#include <stdint.h>

#include "db.h"

/* Converts one non-NULL column value s[0..n) of type oid into *v.
 * Plain values point into s (valid as long as s is). Values that need new
 * text are appended to scratch: then v->s is NULL and v->i holds the
 * offset of the text in scratch, so the caller sets v->s once the row is
 * complete (scratch may move while it grows). Returns 0, or -1 with err
 * set to the Python error psycopg2 would raise (a date beyond year 9999:
 * "year 10000 is out of range"). */
int pg_value_from_text(uint32_t oid, const char *s, size_t n, db_value *v, buf_t *scratch,
                       char *err, size_t errlen);

/* Appends repr() of the Python value json.loads(s[0..n)) gives, or, with
 * top_level, str() of it (a string prints without quotes). A JSON null at
 * top level appends nothing and returns 1. Returns 0, 1, or -1 for text
 * that is not JSON. */
int pg_json_pyrepr(buf_t *out, const char *s, size_t n, int top_level);

/* ---- errors: psycopg2 raises a class per SQLSTATE (psycopg2.errors.
 * UndefinedTable, ...) derived from a DBAPI class (ProgrammingError, ...),
 * which SQLAlchemy wraps in its own class of the same name. */
typedef struct pg_errclass {
    char pyclass[96];     /* "psycopg2.errors.UndefinedTable" */
    const char *sa_class; /* "ProgrammingError" */
    const char *sa_code;  /* "f405" */
} pg_errclass;
/* Fills *out for a five-character SQLSTATE; NULL or an unknown code gets
 * the DBAPI class psycopg2 falls back to. */
void pg_error_class(const char *sqlstate, pg_errclass *out);

#endif
