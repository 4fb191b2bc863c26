/* DB_ENGINE_OPTIONS: the keyword arguments mcp-alchemy users give
 * SQLAlchemy's create_engine(), honoured where they mean something for one
 * persistent connection:
 *   isolation_level   AUTOCOMMIT (the default, as mcp-alchemy sets it) or
 *                     a level the dialect knows: PostgreSQL runs every
 *                     statement's transaction at it, SQLite's READ
 *                     UNCOMMITTED turns on PRAGMA read_uncommitted
 *   connect_args      what the Python driver's connect() takes: libpq
 *                     keywords (PostgreSQL); timeout and uri (SQLite);
 *                     config and read_only (DuckDB)
 *   echo              log every statement (and its parameters) to stderr
 *   hide_parameters   leave parameter values out of error texts
 * Pool settings (pool_size, pool_recycle, ...) and the other arguments of
 * create_engine() are accepted and have nothing to act on. Anything else
 * is an error, as create_engine() raises one. */
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* create_engine() arguments that change nothing for one connection. */
static const char *const inert[] = {
    "pool_size",          "max_overflow",    "pool_recycle",       "pool_pre_ping",
    "pool_timeout",       "pool_use_lifo",   "pool_reset_on_return", "echo_pool",
    "execution_options",  "future",          "logging_name",       "pool_logging_name",
    "query_cache_size",   "label_length",    "max_identifier_length", "paramstyle",
    "insertmanyvalues_page_size", "use_insertmanyvalues", "enable_from_linting",
    "implicit_returning", "plugins",         "skip_autocommit_rollback",
};

static int in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i]))
            return 1;
    return 0;
}

/* Text of a scalar JSON value, as Python's str() gives it to a driver. */
static int scalar_text(json_t *v, buf_t *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        buf_append(out, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        buf_printf(out, "%lld", (long long)json_integer_value(v));
        return 0;
    case JSON_REAL:
        py_float_repr(out, json_real_value(v));
        return 0;
    case JSON_TRUE:
        buf_puts(out, "true");
        return 0;
    case JSON_FALSE:
        buf_puts(out, "false");
        return 0;
    default:
        return -1;
    }
}

static void add_query(db_url *u, const char *k, const char *v)
{
    int i = strlist_index(&u->qkeys, k);
    if (i >= 0) { /* connect_args win over the URL, as in SQLAlchemy */
        free(u->qvals.items[i]);
        u->qvals.items[i] = xstrdup(v);
        return;
    }
    strlist_push(&u->qkeys, k);
    strlist_push(&u->qvals, v);
}

static int sqlite_connect_args(db_conn *c, json_t *args, err_t *e)
{
    static const char *const inert_args[] = {"check_same_thread", "detect_types",
                                             "isolation_level", "cached_statements", "factory"};
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) {
        if (!strcmp(k, "timeout")) {
            if (!json_is_number(v) || json_number_value(v) < 0)
                return err_set(e, "DB_ENGINE_OPTIONS: connect_args.timeout must be a number of "
                                  "seconds");
            c->busy_timeout_ms = (long)(json_number_value(v) * 1000);
        } else if (!strcmp(k, "uri")) {
            if (!json_is_boolean(v))
                return err_set(e, "DB_ENGINE_OPTIONS: connect_args.uri must be true or false");
            if (json_is_true(v))
                add_query(&c->url, "uri", "true");
        } else if (!in_list(k, inert_args, ARRAY_LEN(inert_args))) {
            return err_set(e, "DB_ENGINE_OPTIONS: connect_args: '%s' is an invalid keyword "
                              "argument for sqlite3's Connection()", k);
        }
    }
    return 0;
}

static int postgres_connect_args(db_conn *c, json_t *args, err_t *e)
{
    /* psycopg2 hands every keyword to libpq; the backend checks the names
     * when it connects. */
    const char *k;
    json_t *v;
    buf_t t;
    buf_init(&t);
    json_object_foreach(args, k, v) {
        buf_reset(&t);
        if (scalar_text(v, &t) != 0) {
            buf_free(&t);
            return err_set(e, "DB_ENGINE_OPTIONS: connect_args.%s must be a string, number or "
                              "boolean", k);
        }
        add_query(&c->url, k, t.data);
    }
    buf_free(&t);
    return 0;
}

static int duckdb_connect_args(db_conn *c, json_t *args, err_t *e)
{
    const char *k;
    json_t *v;
    buf_t t;
    buf_init(&t);
    json_object_foreach(args, k, v) {
        if (!strcmp(k, "read_only")) {
            if (!json_is_boolean(v)) {
                buf_free(&t);
                return err_set(e, "DB_ENGINE_OPTIONS: connect_args.read_only must be true or "
                                  "false");
            }
            if (json_is_true(v))
                add_query(&c->url, "access_mode", "READ_ONLY");
        } else if (!strcmp(k, "config")) {
            if (!json_is_object(v)) {
                buf_free(&t);
                return err_set(e, "DB_ENGINE_OPTIONS: connect_args.config must be an object of "
                                  "DuckDB settings");
            }
            const char *ck;
            json_t *cv;
            json_object_foreach(v, ck, cv) {
                buf_reset(&t);
                if (scalar_text(cv, &t) != 0) {
                    buf_free(&t);
                    return err_set(e, "DB_ENGINE_OPTIONS: connect_args.config.%s must be a "
                                      "string, number or boolean", ck);
                }
                add_query(&c->url, ck, t.data);
            }
        } else {
            buf_free(&t);
            return err_set(e, "DB_ENGINE_OPTIONS: connect_args: '%s' is not an argument of "
                              "duckdb.connect() (use read_only or config)", k);
        }
    }
    buf_free(&t);
    return 0;
}

int db_apply_engine_options(db_conn *c, const char *text, err_t *e)
{
    c->busy_timeout_ms = 5000; /* Python's sqlite3 default */
    if (!text)
        return 0;
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o || !json_is_object(o)) {
        err_set(e, "DB_ENGINE_OPTIONS must be a JSON object: %s",
                o ? "got another JSON value" : je.text);
        json_decref(o);
        return -1;
    }
    const char *dialect = c->be->dialect;
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "isolation_level")) {
            const char *lvl = json_string_value(v);
            static const char *const pg[] = {"AUTOCOMMIT", "READ COMMITTED", "READ UNCOMMITTED",
                                             "REPEATABLE READ", "SERIALIZABLE"};
            static const char *const sq[] = {"AUTOCOMMIT", "READ UNCOMMITTED", "SERIALIZABLE"};
            static const char *const dk[] = {"AUTOCOMMIT", "SERIALIZABLE"};
            const char *const *ok = !strcmp(dialect, "postgresql") ? pg
                                    : !strcmp(dialect, "sqlite") ? sq : dk;
            size_t n = !strcmp(dialect, "postgresql") ? ARRAY_LEN(pg)
                       : !strcmp(dialect, "sqlite") ? ARRAY_LEN(sq) : ARRAY_LEN(dk);
            if (!lvl || !in_list(lvl, ok, n)) {
                buf_t m;
                buf_init(&m);
                for (size_t i = 0; i < n; i++)
                    buf_printf(&m, "%s%s", i ? ", " : "", ok[i]);
                rc = err_set(e, "DB_ENGINE_OPTIONS: isolation_level must be one of %s for %s",
                             m.data, dialect);
                buf_free(&m);
                break;
            }
            free(c->isolation_level);
            c->isolation_level = strcmp(lvl, "AUTOCOMMIT") ? xstrdup(lvl) : NULL;
        } else if (!strcmp(k, "echo")) {
            c->echo = json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "debug"));
        } else if (!strcmp(k, "hide_parameters")) {
            c->hide_parameters = json_is_true(v);
        } else if (!strcmp(k, "connect_args")) {
            if (!json_is_object(v)) {
                rc = err_set(e, "DB_ENGINE_OPTIONS: connect_args must be a JSON object");
                break;
            }
            rc = !strcmp(dialect, "sqlite")       ? sqlite_connect_args(c, v, e)
                 : !strcmp(dialect, "postgresql") ? postgres_connect_args(c, v, e)
                                                  : duckdb_connect_args(c, v, e);
            if (rc)
                break;
        } else if (in_list(k, inert, ARRAY_LEN(inert))) {
            log_debug("DB_ENGINE_OPTIONS: %s has no effect on one persistent connection", k);
        } else {
            rc = err_set(e, "DB_ENGINE_OPTIONS: invalid argument '%s' for create_engine()", k);
            break;
        }
    }
    json_decref(o);
    return rc;
}
