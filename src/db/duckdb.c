/* DuckDB backend, through DuckDB's C API loaded at run time.
 *
 * DuckDB is optional: its library (libduckdb.so, ~70 MB) is not a Debian
 * package, so retrain does not link it. db_new() loads it through the
 * backend's check hook and fails there with one clear line when it is
 * missing. Values print as the duckdb Python client's values print with
 * str() (what mcp-alchemy users see over SQLAlchemy + duckdb_engine), and
 * errors carry the Python exception class DuckDB's error type maps to. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_internal.h"
#include "duckdb_api.h"

/* ---- loading the library ---- */

#define DK_TYPEDEF(ret, name, args) typedef ret(*name##_fn) args;
DUCKDB_API_FUNCS(DK_TYPEDEF)

typedef struct dk_api {
#define DK_MEMBER(ret, name, args) name##_fn name;
    DUCKDB_API_FUNCS(DK_MEMBER)
} dk_api;

static const struct {
    const char *name;
    size_t offset;
} dk_symbols[] = {
#define DK_SYMBOL(ret, name, args) {#name, offsetof(dk_api, name)},
    DUCKDB_API_FUNCS(DK_SYMBOL)
};

/* Resolved once per process; read-only afterwards, so any thread may call. */
static dk_api dk;
static pthread_once_t dk_once = PTHREAD_ONCE_INIT;
static int dk_loaded;
static char dk_load_error[1024];

static void dk_set_load_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dk_set_load_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dk_load_error, sizeof dk_load_error, fmt, ap);
    va_end(ap);
}

/* Where scripts/install-deps puts the library, relative to the project. */
#define DK_NPM_LIB ".deps/npm/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so"
#define DK_FIX                                                                                   \
    "run scripts/install-deps (it installs the npm package @duckdb/node-bindings-linux-x64 "     \
    "into .deps/npm) or set RETRAIN_DUCKDB_LIB=/path/to/libduckdb.so"

static void dk_resolve(void *h, const char *path)
{
    for (size_t i = 0; i < ARRAY_LEN(dk_symbols); i++) {
        void *p = dlsym(h, dk_symbols[i].name);
        if (!p) {
            dk_set_load_error("DuckDB support needs a newer libduckdb.so: %s lacks %s; " DK_FIX,
                              path, dk_symbols[i].name);
            dlclose(h);
            return;
        }
        /* dlsym hands back an object pointer; POSIX guarantees it holds a
         * function address, and memcpy keeps the conversion well defined. */
        memcpy((char *)&dk + dk_symbols[i].offset, &p, sizeof p);
    }
    dk_loaded = 1;
}

/* Search order: $RETRAIN_DUCKDB_LIB; <dir>/DK_NPM_LIB for the directory of
 * our executable and each directory above it; then the system's search
 * path. A copy that exists but does not load is reported, not skipped. */
static void dk_load(void)
{
    const char *env = getenv("RETRAIN_DUCKDB_LIB");
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            dk_set_load_error("DuckDB support needs libduckdb.so, which could not be loaded from "
                              "RETRAIN_DUCKDB_LIB (%s): point RETRAIN_DUCKDB_LIB at libduckdb.so, "
                              "or unset it and run scripts/install-deps",
                              dlerror());
            return;
        }
        dk_resolve(h, env);
        return;
    }
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n > 0) {
        dir[n] = 0;
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        for (;;) {
            char path[PATH_MAX + sizeof DK_NPM_LIB + 2];
            snprintf(path, sizeof path, "%s/%s", dir, DK_NPM_LIB);
            if (access(path, F_OK) == 0) {
                void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
                if (!h) {
                    dk_set_load_error("DuckDB support needs libduckdb.so; %s exists but does "
                                      "not load (%s): run scripts/install-deps again or set "
                                      "RETRAIN_DUCKDB_LIB=/path/to/libduckdb.so",
                                      path, dlerror());
                    return;
                }
                dk_resolve(h, path);
                return;
            }
            if (!dir[0])
                break; /* the filesystem root was the last one tried */
            slash = strrchr(dir, '/');
            if (!slash)
                break;
            *slash = 0;
        }
    }
    void *h = dlopen("libduckdb.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        dk_set_load_error("DuckDB support needs libduckdb.so, which was not found: " DK_FIX);
        return;
    }
    dk_resolve(h, "libduckdb.so");
}

static int dk_ready(void)
{
    pthread_once(&dk_once, dk_load);
    return dk_loaded;
}

static int dk_check(const db_url *u, err_t *e)
{
    (void)u;
    if (!dk_ready())
        return err_set(e, "%s", dk_load_error);
    return 0;
}

/* ---- errors ---- */

/* DuckDB's error types as the duckdb Python client raises them, and the
 * class SQLAlchemy wraps each in (the first DBAPI name in the Python
 * class's MRO) with that class's code. "prefix" starts DuckDB's message;
 * it identifies the type where the C API gives only the text. */
typedef struct dk_errclass {
    int type;
    const char *prefix;
    const char *pyclass;
    const char *sa_class;
    const char *sa_code;
} dk_errclass;

static const dk_errclass dk_errclasses[] = {
    {DUCKDB_ERROR_BINDER, "Binder Error", "duckdb.BinderException", "ProgrammingError", "f405"},
    {DUCKDB_ERROR_CATALOG, "Catalog Error", "duckdb.CatalogException", "ProgrammingError", "f405"},
    {DUCKDB_ERROR_CONNECTION, "Connection Error", "duckdb.ConnectionException", "OperationalError",
     "e3q8"},
    {DUCKDB_ERROR_CONSTRAINT, "Constraint Error", "duckdb.ConstraintException", "IntegrityError",
     "gkpj"},
    {DUCKDB_ERROR_CONVERSION, "Conversion Error", "duckdb.ConversionException", "DataError", "9h9h"},
    {DUCKDB_ERROR_DEPENDENCY, "Dependency Error", "duckdb.DependencyException", "DatabaseError",
     "4xp6"},
    {DUCKDB_ERROR_FATAL, "FATAL Error", "duckdb.FatalException", "DatabaseError", "4xp6"},
    {DUCKDB_ERROR_HTTP, "HTTP Error", "duckdb.HTTPException", "OperationalError", "e3q8"},
    {DUCKDB_ERROR_INTERNAL, "INTERNAL Error", "duckdb.InternalException", "InternalError", "2j85"},
    {DUCKDB_ERROR_INTERRUPT, "INTERRUPT Error", "duckdb.InterruptException", "DatabaseError",
     "4xp6"},
    {DUCKDB_ERROR_INVALID_INPUT, "Invalid Input Error", "duckdb.InvalidInputException",
     "ProgrammingError", "f405"},
    {DUCKDB_ERROR_INVALID_TYPE, "Invalid type Error", "duckdb.InvalidTypeException",
     "ProgrammingError", "f405"},
    {DUCKDB_ERROR_IO, "IO Error", "duckdb.IOException", "OperationalError", "e3q8"},
    {DUCKDB_ERROR_NOT_IMPLEMENTED, "Not implemented Error", "duckdb.NotImplementedException",
     "NotSupportedError", "tw8g"},
    {DUCKDB_ERROR_OUT_OF_MEMORY, "Out of Memory Error", "duckdb.OutOfMemoryException",
     "OperationalError", "e3q8"},
    {DUCKDB_ERROR_OUT_OF_RANGE, "Out of Range Error", "duckdb.OutOfRangeException", "DataError",
     "9h9h"},
    {DUCKDB_ERROR_PARSER, "Parser Error", "duckdb.ParserException", "ProgrammingError", "f405"},
    {DUCKDB_ERROR_PERMISSION, "Permission Error", "duckdb.PermissionException", "DatabaseError",
     "4xp6"},
    {DUCKDB_ERROR_SEQUENCE, "Sequence Error", "duckdb.SequenceException", "DatabaseError", "4xp6"},
    {DUCKDB_ERROR_SERIALIZATION, "Serialization Error", "duckdb.SerializationException",
     "OperationalError", "e3q8"},
    {DUCKDB_ERROR_SYNTAX, "Syntax Error", "duckdb.SyntaxException", "ProgrammingError", "f405"},
    {DUCKDB_ERROR_TRANSACTION, "TransactionContext Error", "duckdb.TransactionException",
     "OperationalError", "e3q8"},
    {DUCKDB_ERROR_MISMATCH_TYPE, "Mismatch Type Error", "duckdb.TypeMismatchException",
     "DataError", "9h9h"},
};
/* Every other type is raised as duckdb.Error, which SQLAlchemy wraps in
 * its generic DBAPIError. */
static const dk_errclass dk_errclass_other = {-1, "", "duckdb.Error", "DBAPIError", "dbapi"};

static const dk_errclass *dk_errclass_for(int type, const char *msg)
{
    for (size_t i = 0; i < ARRAY_LEN(dk_errclasses); i++)
        if (type > 0 && dk_errclasses[i].type == type)
            return &dk_errclasses[i];
    for (size_t i = 0; i < ARRAY_LEN(dk_errclasses); i++) {
        size_t n = strlen(dk_errclasses[i].prefix);
        if (strncmp(msg, dk_errclasses[i].prefix, n) == 0 && msg[n] == ':')
            return &dk_errclasses[i];
    }
    return &dk_errclass_other;
}

/* Fills e from DuckDB's message; type is the duckdb_error_type when the
 * API reports one, else -1. Returns -1. */
static int dk_error(db_conn *c, db_error *e, const char *msg, int type)
{
    if (!msg || !*msg)
        msg = "DuckDB reported an error without a message";
    const dk_errclass *k = dk_errclass_for(type, msg);
    if (k->type == DUCKDB_ERROR_INTERRUPT)
        return db_interrupted_error(c, e, k->pyclass, k->sa_class, k->sa_code, msg);
    int kind = DB_ERR_SQL;
    /* In read-only mode DuckDB's own refusals (a read-only file, external
     * access switched off) are read-only refusals too. */
    if (c->opts.read_only &&
        (k->type == DUCKDB_ERROR_PERMISSION || strstr(msg, "read-only mode") != NULL))
        kind = DB_ERR_READ_ONLY;
    db_error_set(e, kind, k->pyclass, k->sa_class, k->sa_code, "%s", msg);
    return -1;
}

/* ---- connections ---- */

typedef struct dk_conn {
    duckdb_database db;
    duckdb_connection con;
} dk_conn;

static int dk_is_memory(const db_url *u)
{
    return !u->database || !*u->database || strcmp(u->database, ":memory:") == 0;
}

static int dk_connect(db_conn *c, db_error *e)
{
    if (!dk_ready()) {
        db_error_set(e, DB_ERR_CONNECT, "", "", "", "%s", dk_load_error);
        return -1;
    }
    const db_url *u = &c->url;
    int memory = dk_is_memory(u);
    duckdb_config cfg = NULL;
    if (dk.duckdb_create_config(&cfg) != DuckDBSuccess) {
        dk.duckdb_destroy_config(&cfg);
        db_error_set(e, DB_ERR_CONNECT, "duckdb.Error", "DBAPIError", "dbapi",
                     "DuckDB could not create a configuration (out of memory?)");
        return -1;
    }
    /* URL query parameters are DuckDB settings, as duckdb_engine passes
     * them to duckdb.connect(config=...). */
    for (size_t i = 0; i < u->qkeys.len; i++) {
        if (dk.duckdb_set_config(cfg, u->qkeys.items[i], u->qvals.items[i]) != DuckDBSuccess) {
            db_error_set(e, DB_ERR_CONNECT, "duckdb.InvalidInputException", "ProgrammingError",
                         "f405",
                         "Invalid Input Error: DB_URL sets %s=%s, which DuckDB refuses (unknown "
                         "setting or bad value)",
                         u->qkeys.items[i], u->qvals.items[i]);
            dk.duckdb_destroy_config(&cfg);
            return -1;
        }
    }
    if (c->opts.read_only) {
        /* The file opens read-only (an in-memory database has no file and
         * DuckDB refuses READ_ONLY for it); nothing may reach outside the
         * database (files, extensions), and nothing may lift these
         * settings later. Set after the URL's, so they win. */
        static const char *ro[][2] = {
            {"enable_external_access", "false"},
            {"autoinstall_known_extensions", "false"},
            {"autoload_known_extensions", "false"},
            {"lock_configuration", "true"},
        };
        int ok = memory || dk.duckdb_set_config(cfg, "access_mode", "READ_ONLY") == DuckDBSuccess;
        for (size_t i = 0; i < ARRAY_LEN(ro) && ok; i++)
            ok = dk.duckdb_set_config(cfg, ro[i][0], ro[i][1]) == DuckDBSuccess;
        if (!ok) {
            db_error_set(e, DB_ERR_CONNECT, "duckdb.Error", "DBAPIError", "dbapi",
                         "this DuckDB refuses the settings read-only mode needs");
            dk.duckdb_destroy_config(&cfg);
            return -1;
        }
    } else if (!memory && !file_exists(u->database)) {
        log_warn("database file %s does not exist; DuckDB creates it", u->database);
    }
    duckdb_database db = NULL;
    char *err = NULL;
    duckdb_state st = dk.duckdb_open_ext(memory ? NULL : u->database, &db, cfg, &err);
    dk.duckdb_destroy_config(&cfg);
    if (st != DuckDBSuccess) {
        dk_error(c, e, err, -1);
        e->kind = DB_ERR_CONNECT;
        if (err)
            dk.duckdb_free(err);
        return -1;
    }
    duckdb_connection con = NULL;
    if (dk.duckdb_connect(db, &con) != DuckDBSuccess) {
        db_error_set(e, DB_ERR_CONNECT, "duckdb.ConnectionException", "OperationalError", "e3q8",
                     "Connection Error: DuckDB opened %s but could not connect to it",
                     memory ? ":memory:" : u->database);
        dk.duckdb_close(&db);
        return -1;
    }
    dk_conn *dc = xcalloc(1, sizeof *dc);
    dc->db = db;
    dc->con = con;
    c->impl = dc;
    return 0;
}

static void dk_disconnect(db_conn *c)
{
    dk_conn *dc = c->impl;
    if (!dc)
        return;
    dk.duckdb_disconnect(&dc->con);
    dk.duckdb_close(&dc->db);
    free(dc);
    c->impl = NULL;
}

static int dk_alive(db_conn *c)
{
    /* In-process: the connection lives as long as we keep it. */
    (void)c;
    return 1;
}

static int dk_version(db_conn *c, buf_t *out, db_error *e)
{
    (void)c, (void)e;
    const char *v = dk.duckdb_library_version();
    buf_puts(out, v && v[0] == 'v' ? v + 1 : (v ? v : ""));
    return 0;
}

/* ---- running a prepared statement ---- */

/* Starts st with a streaming result, so rows are produced as they are
 * fetched and a huge result never sits in memory. */
static int dk_run(db_conn *c, duckdb_prepared_statement st, duckdb_result *res, db_error *e)
{
    duckdb_pending_result pending = NULL;
    memset(res, 0, sizeof *res);
    if (dk.duckdb_pending_prepared_streaming(st, &pending) != DuckDBSuccess) {
        dk_error(c, e, dk.duckdb_pending_error(pending), -1);
        dk.duckdb_destroy_pending(&pending);
        return -1;
    }
    duckdb_state rc = dk.duckdb_execute_pending(pending, res);
    dk.duckdb_destroy_pending(&pending);
    if (rc != DuckDBSuccess) {
        dk_error(c, e, dk.duckdb_result_error(res), dk.duckdb_result_error_type(res));
        dk.duckdb_destroy_result(res);
        memset(res, 0, sizeof *res);
        return -1;
    }
    return 0;
}

static void dk_string(const duckdb_string_t *s, const char **p, size_t *n)
{
    *n = s->value.inlined.length;
    *p = *n <= sizeof s->value.inlined.inlined ? s->value.inlined.inlined : s->value.pointer.ptr;
}

static int dk_valid(duckdb_vector v, idx_t row)
{
    uint64_t *mask = dk.duckdb_vector_get_validity(v);
    return !mask || ((mask[row / 64] >> (row % 64)) & 1);
}

/* ---- small catalog queries (VARCHAR columns only) ---- */

typedef struct dk_rows {
    char **cells; /* nrows * ncols, row-major; NULL for SQL NULL */
    size_t nrows, ncols, cap;
} dk_rows;

static void dk_rows_free(dk_rows *r)
{
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

/* Runs sql with one optional text parameter ($1) and collects its rows. */
static int dk_query_rows(db_conn *c, const char *sql, const char *param, dk_rows *out,
                         db_error *e)
{
    dk_conn *dc = c->impl;
    memset(out, 0, sizeof *out);
    duckdb_prepared_statement st = NULL;
    if (dk.duckdb_prepare(dc->con, sql, &st) != DuckDBSuccess) {
        dk_error(c, e, dk.duckdb_prepare_error(st), -1);
        dk.duckdb_destroy_prepare(&st);
        return -1;
    }
    if (param && dk.duckdb_bind_varchar_length(st, 1, param, strlen(param)) != DuckDBSuccess) {
        dk.duckdb_destroy_prepare(&st);
        db_error_set(e, DB_ERR_SQL, "duckdb.Error", "DBAPIError", "dbapi",
                     "DuckDB could not bind a catalog query parameter");
        return -1;
    }
    duckdb_result res;
    int rc = dk_run(c, st, &res, e);
    dk.duckdb_destroy_prepare(&st);
    if (rc != 0)
        return -1;
    out->ncols = (size_t)dk.duckdb_column_count(&res);
    duckdb_data_chunk chunk;
    while ((chunk = dk.duckdb_fetch_chunk(res)) != NULL) {
        idx_t n = dk.duckdb_data_chunk_get_size(chunk);
        if (n == 0) {
            dk.duckdb_destroy_data_chunk(&chunk);
            break;
        }
        for (idx_t r = 0; r < n; r++) {
            if ((out->nrows + 1) * out->ncols > out->cap) {
                out->cap = out->cap ? out->cap * 2 : 64 * (out->ncols ? out->ncols : 1);
                out->cells = xrealloc(out->cells, out->cap * sizeof *out->cells);
            }
            for (size_t col = 0; col < out->ncols; col++) {
                duckdb_vector v = dk.duckdb_data_chunk_get_vector(chunk, col);
                char *cell = NULL;
                if (dk_valid(v, r)) {
                    const char *p;
                    size_t len;
                    dk_string((duckdb_string_t *)dk.duckdb_vector_get_data(v) + r, &p, &len);
                    cell = xstrndup(p, len);
                }
                out->cells[out->nrows * out->ncols + col] = cell;
            }
            out->nrows++;
        }
        dk.duckdb_destroy_data_chunk(&chunk);
    }
    const char *err = dk.duckdb_result_error(&res);
    if (err) {
        dk_error(c, e, err, dk.duckdb_result_error_type(&res));
        dk.duckdb_destroy_result(&res);
        dk_rows_free(out);
        return -1;
    }
    dk.duckdb_destroy_result(&res);
    return 0;
}

static const char *dk_cell(const dk_rows *r, size_t row, size_t col)
{
    return r->cells[row * r->ncols + col];
}

static int dk_table_names(db_conn *c, strlist_t *out, db_error *e)
{
    /* Base tables of the current schema, as SQLAlchemy's get_table_names()
     * with the default schema (views are in duckdb_views()). */
    dk_rows r;
    if (dk_query_rows(c,
                      "SELECT table_name FROM duckdb_tables() WHERE database_name = "
                      "current_database() AND schema_name = current_schema() ORDER BY table_name",
                      NULL, &r, e) != 0)
        return -1;
    for (size_t i = 0; i < r.nrows; i++)
        if (dk_cell(&r, i, 0))
            strlist_push(out, dk_cell(&r, i, 0));
    dk_rows_free(&r);
    return 0;
}

/* "DECIMAL(18,3)" -> "DECIMAL(18, 3)", as SQLAlchemy prints the type. */
static char *dk_type_text(const char *t)
{
    buf_t b;
    buf_init(&b);
    int decimal = str_starts(t, "DECIMAL(") || str_starts(t, "NUMERIC(");
    for (const char *p = t; *p; p++) {
        buf_putc(&b, *p);
        if (decimal && *p == ',' && p[1] != ' ')
            buf_putc(&b, ' ');
    }
    return buf_take(&b);
}

static int dk_is_integer_type(const char *t)
{
    static const char *ints[] = {"TINYINT",  "SMALLINT",  "INTEGER",  "BIGINT", "HUGEINT",
                                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"};
    for (size_t i = 0; i < ARRAY_LEN(ints); i++)
        if (strcmp(t, ints[i]) == 0)
            return 1;
    return 0;
}

static int dk_describe(db_conn *c, const char *table, db_table *t, db_error *e)
{
    dk_rows cols;
    if (dk_query_rows(c,
                      "SELECT column_name, data_type, CASE WHEN is_nullable THEN 'YES' ELSE 'NO' "
                      "END, column_default, comment FROM duckdb_columns() WHERE database_name = "
                      "current_database() AND schema_name = current_schema() AND table_name = $1 "
                      "ORDER BY column_index",
                      table, &cols, e) != 0)
        return -1;
    if (cols.nrows == 0) {
        dk_rows_free(&cols);
        return 1;
    }
    for (size_t i = 0; i < cols.nrows; i++) {
        const char *name = dk_cell(&cols, i, 0), *type = dk_cell(&cols, i, 1);
        const char *nullable = dk_cell(&cols, i, 2), *dflt = dk_cell(&cols, i, 3);
        const char *comment = dk_cell(&cols, i, 4);
        char *ttext = dk_type_text(type ? type : "NULL");
        db_column *col = db_table_add_column(t, name ? name : "", ttext);
        /* The keys SQLAlchemy's PostgreSQL-based inspector reports after
         * name and type, in its order, shown when truthy. */
        if (nullable && strcmp(nullable, "YES") == 0)
            strlist_push(&col->extras, "nullable");
        buf_t d;
        buf_init(&d);
        if (dflt) {
            buf_printf(&d, "default=%s", dflt);
            strlist_push(&col->extras, d.data);
            if (strstr(dflt, "nextval(") && dk_is_integer_type(ttext))
                strlist_push(&col->extras, "autoincrement");
        }
        if (comment && *comment) {
            buf_reset(&d);
            buf_printf(&d, "comment=%s", comment);
            strlist_push(&col->extras, d.data);
        }
        buf_free(&d);
        free(ttext);
    }
    dk_rows_free(&cols);

    /* Key columns one per row, numbered so their order survives. */
    dk_rows keys;
    if (dk_query_rows(c,
                      "SELECT constraint_type, CAST(constraint_index AS VARCHAR), referenced_table, "
                      "constraint_column_names[k], referenced_column_names[k] FROM "
                      "duckdb_constraints(), range(1, len(constraint_column_names) + 1) AS r(k) "
                      "WHERE database_name = current_database() AND schema_name = current_schema() "
                      "AND table_name = $1 AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') "
                      "ORDER BY constraint_index, k",
                      table, &keys, e) != 0)
        return -1;
    const char *last_fk = NULL;
    db_fkey *fk = NULL;
    for (size_t i = 0; i < keys.nrows; i++) {
        const char *ctype = dk_cell(&keys, i, 0), *idx = dk_cell(&keys, i, 1);
        const char *rtable = dk_cell(&keys, i, 2), *col = dk_cell(&keys, i, 3);
        const char *rcol = dk_cell(&keys, i, 4);
        if (!ctype || !idx || !col)
            continue;
        if (strcmp(ctype, "PRIMARY KEY") == 0) {
            if (strlist_index(&t->pk, col) < 0)
                strlist_push(&t->pk, col);
            continue;
        }
        if (!last_fk || strcmp(last_fk, idx) != 0) {
            fk = db_table_add_fkey(t, rtable ? rtable : "");
            last_fk = idx;
        }
        strlist_push(&fk->cols, col);
        if (rcol)
            strlist_push(&fk->ref_cols, rcol);
    }
    dk_rows_free(&keys);
    return 0;
}

/* ---- result types, resolved once per statement ---- */

typedef struct dk_type {
    duckdb_type id;
    duckdb_type storage; /* DECIMAL, ENUM: the integer type holding values */
    uint8_t scale;       /* DECIMAL */
    idx_t array_size;    /* ARRAY */
    size_t nchild;       /* LIST, ARRAY: 1; MAP: 2 (key, value); STRUCT, UNION: members */
    struct dk_type *child;
    char **names;        /* STRUCT, UNION member names */
    char **dict;         /* ENUM values */
    size_t ndict;
} dk_type;

static void dk_type_init(dk_type *t, duckdb_logical_type lt);

static void dk_type_child(dk_type *t, size_t i, duckdb_logical_type lt)
{
    dk_type_init(&t->child[i], lt);
    dk.duckdb_destroy_logical_type(&lt);
}

static char *dk_take_string(char *s)
{
    char *out = xstrdup(s ? s : "");
    if (s)
        dk.duckdb_free(s);
    return out;
}

static void dk_type_init(dk_type *t, duckdb_logical_type lt)
{
    memset(t, 0, sizeof *t);
    t->id = dk.duckdb_get_type_id(lt);
    switch (t->id) {
    case DUCKDB_TYPE_DECIMAL:
        t->storage = dk.duckdb_decimal_internal_type(lt);
        t->scale = dk.duckdb_decimal_scale(lt);
        break;
    case DUCKDB_TYPE_ENUM:
        t->storage = dk.duckdb_enum_internal_type(lt);
        t->ndict = dk.duckdb_enum_dictionary_size(lt);
        t->dict = xcalloc(t->ndict ? t->ndict : 1, sizeof *t->dict);
        for (size_t i = 0; i < t->ndict; i++)
            t->dict[i] = dk_take_string(dk.duckdb_enum_dictionary_value(lt, i));
        break;
    case DUCKDB_TYPE_LIST:
        t->nchild = 1;
        t->child = xcalloc(1, sizeof *t->child);
        dk_type_child(t, 0, dk.duckdb_list_type_child_type(lt));
        break;
    case DUCKDB_TYPE_ARRAY:
        t->nchild = 1;
        t->child = xcalloc(1, sizeof *t->child);
        t->array_size = dk.duckdb_array_type_array_size(lt);
        dk_type_child(t, 0, dk.duckdb_array_type_child_type(lt));
        break;
    case DUCKDB_TYPE_MAP:
        t->nchild = 2;
        t->child = xcalloc(2, sizeof *t->child);
        dk_type_child(t, 0, dk.duckdb_map_type_key_type(lt));
        dk_type_child(t, 1, dk.duckdb_map_type_value_type(lt));
        break;
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
        int is_union = t->id == DUCKDB_TYPE_UNION;
        t->nchild = is_union ? dk.duckdb_union_type_member_count(lt)
                             : dk.duckdb_struct_type_child_count(lt);
        t->child = xcalloc(t->nchild ? t->nchild : 1, sizeof *t->child);
        t->names = xcalloc(t->nchild ? t->nchild : 1, sizeof *t->names);
        for (size_t i = 0; i < t->nchild; i++) {
            t->names[i] = dk_take_string(is_union ? dk.duckdb_union_type_member_name(lt, i)
                                                  : dk.duckdb_struct_type_child_name(lt, i));
            dk_type_child(t, i, is_union ? dk.duckdb_union_type_member_type(lt, i)
                                         : dk.duckdb_struct_type_child_type(lt, i));
        }
        break;
    }
    default:
        break;
    }
}

static void dk_type_deinit(dk_type *t)
{
    for (size_t i = 0; i < t->nchild; i++) {
        dk_type_deinit(&t->child[i]);
        if (t->names)
            free(t->names[i]);
    }
    free(t->child);
    free(t->names);
    for (size_t i = 0; i < t->ndict; i++)
        free(t->dict[i]);
    free(t->dict);
    memset(t, 0, sizeof *t);
}

/* ---- values in Python's text forms ----
 * Two forms: str() is what mcp-alchemy prints for a top-level value
 * (isoformat() for dates and datetimes); repr() is what Python prints for
 * a value inside a list or dict. */

typedef __int128 i128;
typedef unsigned __int128 u128;

static void put_u128(buf_t *b, u128 v)
{
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n)
        buf_putc(b, tmp[--n]);
}

static void put_i128(buf_t *b, i128 v)
{
    if (v < 0) {
        buf_putc(b, '-');
        put_u128(b, -(u128)v);
    } else {
        put_u128(b, (u128)v);
    }
}

static i128 hugeint_value(duckdb_hugeint h)
{
    return (i128)(((u128)(uint64_t)h.upper << 64) | h.lower);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* str(Decimal) for value * 10^-scale: plain notation unless the exponent
 * would fall below -6 (Decimal's to-sci-string rule: '1E-7', '0E-7'). */
static void put_decimal(buf_t *b, i128 value, int scale, int repr)
{
    char digits[48];
    size_t nd = 0;
    u128 mag = value < 0 ? -(u128)value : (u128)value;
    do {
        digits[nd++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag);
    for (size_t i = 0; i < nd / 2; i++) {
        char x = digits[i];
        digits[i] = digits[nd - 1 - i];
        digits[nd - 1 - i] = x;
    }
    int exp = -scale, left = exp + (int)nd;
    int dot = (exp <= 0 && left > -6) ? left : 1;
    if (repr)
        buf_puts(b, "Decimal('");
    if (value < 0)
        buf_putc(b, '-');
    if (dot <= 0) {
        buf_puts(b, "0.");
        for (int i = 0; i < -dot; i++)
            buf_putc(b, '0');
        buf_append(b, digits, nd);
    } else if ((size_t)dot >= nd) {
        buf_append(b, digits, nd);
        for (size_t i = nd; i < (size_t)dot; i++)
            buf_putc(b, '0');
    } else {
        buf_append(b, digits, (size_t)dot);
        buf_putc(b, '.');
        buf_append(b, digits + dot, nd - (size_t)dot);
    }
    if (left != dot)
        buf_printf(b, "E%+d", left - dot);
    if (repr)
        buf_puts(b, "')");
}

/* Days since 1970-01-01 -> proleptic Gregorian date (Howard Hinnant's
 * civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#define DK_DAY_US 86400000000LL
/* What the Python client returns for DuckDB's infinities. */
#define DK_DATE_MAX_DAYS 2932896LL    /* date.max, 9999-12-31 */
#define DK_DATE_MIN_DAYS (-719162LL)  /* date.min, 0001-01-01 */

static void put_date(buf_t *b, int64_t days, int repr)
{
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (repr)
        buf_printf(b, "datetime.date(%lld, %d, %d)", (long long)y, m, d);
    else
        buf_printf(b, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* A datetime (micros since the epoch), naive or in UTC. */
static void put_datetime(buf_t *b, int64_t us, int utc, int repr)
{
    int64_t days = floor_div(us, DK_DAY_US), rem = us - days * DK_DAY_US;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600000000LL), mi = (int)(rem / 60000000LL % 60);
    int ss = (int)(rem / 1000000 % 60), frac = (int)(rem % 1000000);
    if (repr) {
        buf_printf(b, "datetime.datetime(%lld, %d, %d, %d, %d", (long long)y, m, d, hh, mi);
        if (frac)
            buf_printf(b, ", %d, %d", ss, frac);
        else if (ss)
            buf_printf(b, ", %d", ss);
        buf_puts(b, utc ? ", tzinfo=datetime.timezone.utc)" : ")");
        return;
    }
    buf_printf(b, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d, hh, mi, ss);
    if (frac)
        buf_printf(b, ".%06d", frac);
    if (utc)
        buf_puts(b, "+00:00");
}

/* timedelta from microseconds: str() '-1 day, 23:59:59.500000' or repr()
 * 'datetime.timedelta(days=-1, seconds=86399, microseconds=500000)'. */
static void put_timedelta(buf_t *b, i128 total, int repr)
{
    i128 day = DK_DAY_US;
    i128 days = total / day;
    if (total % day != 0 && total < 0)
        days--;
    int64_t rem = (int64_t)(total - days * day);
    int64_t secs = rem / 1000000, us = rem % 1000000;
    long long dd = (long long)days;
    if (repr) {
        if (!dd && !secs && !us) {
            buf_puts(b, "datetime.timedelta(0)");
            return;
        }
        buf_puts(b, "datetime.timedelta(");
        const char *sep = "";
        if (dd) {
            buf_printf(b, "days=%lld", dd);
            sep = ", ";
        }
        if (secs) {
            buf_printf(b, "%sseconds=%lld", sep, (long long)secs);
            sep = ", ";
        }
        if (us)
            buf_printf(b, "%smicroseconds=%lld", sep, (long long)us);
        buf_putc(b, ')');
        return;
    }
    if (dd)
        buf_printf(b, "%lld day%s, ", dd, (dd == 1 || dd == -1) ? "" : "s");
    buf_printf(b, "%lld:%02lld:%02lld", (long long)(secs / 3600), (long long)(secs / 60 % 60),
               (long long)(secs % 60));
    if (us)
        buf_printf(b, ".%06lld", (long long)us);
}

/* datetime.time, optionally with a fixed UTC offset (seconds). */
static void put_time(buf_t *b, int64_t us, int has_tz, int32_t offset, int repr)
{
    int hh = (int)(us / 3600000000LL), mi = (int)(us / 60000000LL % 60);
    int ss = (int)(us / 1000000 % 60), frac = (int)(us % 1000000);
    if (repr) {
        buf_printf(b, "datetime.time(%d, %d", hh, mi);
        if (frac)
            buf_printf(b, ", %d, %d", ss, frac);
        else if (ss)
            buf_printf(b, ", %d", ss);
        if (has_tz) {
            if (offset == 0) {
                buf_puts(b, ", tzinfo=datetime.timezone.utc");
            } else {
                buf_puts(b, ", tzinfo=datetime.timezone(");
                put_timedelta(b, (i128)offset * 1000000, 1);
                buf_putc(b, ')');
            }
        }
        buf_putc(b, ')');
        return;
    }
    buf_printf(b, "%02d:%02d:%02d", hh, mi, ss);
    if (frac)
        buf_printf(b, ".%06d", frac);
    if (has_tz) {
        int32_t a = offset < 0 ? -offset : offset;
        buf_printf(b, "%c%02d:%02d", offset < 0 ? '-' : '+', a / 3600, a / 60 % 60);
        if (a % 60)
            buf_printf(b, ":%02d", a % 60);
    }
}

static void put_uuid(buf_t *b, duckdb_hugeint h, int repr)
{
    /* DuckDB stores a UUID as a hugeint with the top bit flipped, so that
     * signed order is byte order. */
    uint64_t hi = (uint64_t)h.upper ^ (1ULL << 63), lo = h.lower;
    if (repr)
        buf_puts(b, "UUID('");
    buf_printf(b, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
               (unsigned long long)((hi >> 16) & 0xffff), (unsigned long long)(hi & 0xffff),
               (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
    if (repr)
        buf_puts(b, "')");
}

/* BIT: one byte of padding count, then the bits, most significant first;
 * the first `padding` bits of the first data byte are not part of it. */
static void put_bits(buf_t *b, const char *p, size_t n, int repr)
{
    if (repr)
        buf_putc(b, '\'');
    if (n >= 1) {
        size_t padding = (unsigned char)p[0], nbits = (n - 1) * 8;
        for (size_t i = padding; i < nbits; i++)
            buf_putc(b, ((unsigned char)p[1 + i / 8] >> (7 - i % 8)) & 1 ? '1' : '0');
    }
    if (repr)
        buf_putc(b, '\'');
}

/* BIGNUM: a 3-byte header (top bit set for a positive number, the rest the
 * byte count) and the magnitude big-endian; a negative number has every
 * byte inverted. Printed in decimal by repeated division. */
static void put_bignum(buf_t *b, const char *p, size_t n)
{
    if (n < 4) {
        buf_putc(b, '0');
        return;
    }
    int neg = !((unsigned char)p[0] & 0x80);
    size_t nb = n - 3;
    unsigned char *mag = xmalloc(nb);
    for (size_t i = 0; i < nb; i++)
        mag[i] = neg ? (unsigned char)~(unsigned char)p[3 + i] : (unsigned char)p[3 + i];
    char *digits = xmalloc(nb * 3 + 2);
    size_t nd = 0, start = 0;
    while (start < nb && !mag[start])
        start++;
    while (start < nb) {
        unsigned rem = 0;
        for (size_t i = start; i < nb; i++) {
            unsigned cur = rem * 256 + mag[i];
            mag[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (start < nb && !mag[start])
            start++;
    }
    if (!nd)
        digits[nd++] = '0';
    else if (neg)
        buf_putc(b, '-');
    while (nd)
        buf_putc(b, digits[--nd]);
    free(digits);
    free(mag);
}

static i128 dk_decimal_at(const dk_type *t, void *data, idx_t row)
{
    switch (t->storage) {
    case DUCKDB_TYPE_SMALLINT:
        return ((int16_t *)data)[row];
    case DUCKDB_TYPE_INTEGER:
        return ((int32_t *)data)[row];
    case DUCKDB_TYPE_BIGINT:
        return ((int64_t *)data)[row];
    default:
        return hugeint_value(((duckdb_hugeint *)data)[row]);
    }
}

static uint64_t dk_enum_at(const dk_type *t, void *data, idx_t row)
{
    switch (t->storage) {
    case DUCKDB_TYPE_UTINYINT:
        return ((uint8_t *)data)[row];
    case DUCKDB_TYPE_USMALLINT:
        return ((uint16_t *)data)[row];
    default:
        return ((uint32_t *)data)[row];
    }
}

/* Appends value `row` of vector v (type t) in Python's str() form, or
 * repr() form for values nested in lists and dicts. */
static void dk_put_value(buf_t *b, const dk_type *t, duckdb_vector v, idx_t row, int repr)
{
    if (!dk_valid(v, row)) {
        buf_puts(b, repr ? "None" : "NULL");
        return;
    }
    void *data = dk.duckdb_vector_get_data(v);
    switch (t->id) {
    case DUCKDB_TYPE_BOOLEAN:
        buf_puts(b, ((uint8_t *)data)[row] ? "True" : "False");
        break;
    case DUCKDB_TYPE_TINYINT:
        buf_printf(b, "%d", ((int8_t *)data)[row]);
        break;
    case DUCKDB_TYPE_SMALLINT:
        buf_printf(b, "%d", ((int16_t *)data)[row]);
        break;
    case DUCKDB_TYPE_INTEGER:
        buf_printf(b, "%d", ((int32_t *)data)[row]);
        break;
    case DUCKDB_TYPE_BIGINT:
        buf_printf(b, "%lld", (long long)((int64_t *)data)[row]);
        break;
    case DUCKDB_TYPE_UTINYINT:
        buf_printf(b, "%u", ((uint8_t *)data)[row]);
        break;
    case DUCKDB_TYPE_USMALLINT:
        buf_printf(b, "%u", ((uint16_t *)data)[row]);
        break;
    case DUCKDB_TYPE_UINTEGER:
        buf_printf(b, "%u", ((uint32_t *)data)[row]);
        break;
    case DUCKDB_TYPE_UBIGINT:
        buf_printf(b, "%llu", (unsigned long long)((uint64_t *)data)[row]);
        break;
    case DUCKDB_TYPE_HUGEINT:
        put_i128(b, hugeint_value(((duckdb_hugeint *)data)[row]));
        break;
    case DUCKDB_TYPE_UHUGEINT: {
        duckdb_uhugeint h = ((duckdb_uhugeint *)data)[row];
        put_u128(b, ((u128)h.upper << 64) | h.lower);
        break;
    }
    case DUCKDB_TYPE_FLOAT:
        py_float_repr(b, (double)((float *)data)[row]);
        break;
    case DUCKDB_TYPE_DOUBLE:
        py_float_repr(b, ((double *)data)[row]);
        break;
    case DUCKDB_TYPE_DECIMAL:
        put_decimal(b, dk_decimal_at(t, data, row), t->scale, repr);
        break;
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB:
    case DUCKDB_TYPE_BIT:
    case DUCKDB_TYPE_BIGNUM: {
        const char *p;
        size_t n;
        dk_string((duckdb_string_t *)data + row, &p, &n);
        if (t->id == DUCKDB_TYPE_BLOB)
            py_bytes_repr(b, (const unsigned char *)p, n);
        else if (t->id == DUCKDB_TYPE_BIT)
            put_bits(b, p, n, repr);
        else if (t->id == DUCKDB_TYPE_BIGNUM)
            put_bignum(b, p, n);
        else if (repr)
            py_str_repr(b, p, n);
        else
            buf_append(b, p, n);
        break;
    }
    case DUCKDB_TYPE_ENUM: {
        uint64_t k = dk_enum_at(t, data, row);
        const char *s = k < t->ndict ? t->dict[k] : "";
        if (repr)
            py_str_repr(b, s, strlen(s));
        else
            buf_puts(b, s);
        break;
    }
    case DUCKDB_TYPE_DATE: {
        int64_t days = ((int32_t *)data)[row];
        if (days == INT32_MAX)
            days = DK_DATE_MAX_DAYS;
        else if (days == -INT32_MAX)
            days = DK_DATE_MIN_DAYS;
        put_date(b, days, repr);
        break;
    }
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ: {
        int64_t raw = ((int64_t *)data)[row], us;
        if (raw == INT64_MAX)
            us = (DK_DATE_MAX_DAYS + 1) * DK_DAY_US - 1; /* datetime.max */
        else if (raw == -INT64_MAX)
            us = DK_DATE_MIN_DAYS * DK_DAY_US; /* datetime.min */
        else if (t->id == DUCKDB_TYPE_TIMESTAMP_S)
            us = raw * 1000000;
        else if (t->id == DUCKDB_TYPE_TIMESTAMP_MS)
            us = raw * 1000;
        else if (t->id == DUCKDB_TYPE_TIMESTAMP_NS)
            us = raw / 1000; /* DuckDB truncates toward zero */
        else
            us = raw;
        put_datetime(b, us, t->id == DUCKDB_TYPE_TIMESTAMP_TZ, repr);
        break;
    }
    case DUCKDB_TYPE_TIME:
        put_time(b, ((int64_t *)data)[row], 0, 0, repr);
        break;
    case DUCKDB_TYPE_TIME_NS:
        put_time(b, ((int64_t *)data)[row] / 1000, 0, 0, repr);
        break;
    case DUCKDB_TYPE_TIME_TZ: {
        duckdb_time_tz_struct s = dk.duckdb_from_time_tz(((duckdb_time_tz *)data)[row]);
        int64_t us = ((int64_t)s.time.hour * 3600 + s.time.min * 60 + s.time.sec) * 1000000 +
                     s.time.micros;
        put_time(b, us, 1, s.offset, repr);
        break;
    }
    case DUCKDB_TYPE_INTERVAL: {
        /* As the Python client converts: a month is 30 days. */
        duckdb_interval iv = ((duckdb_interval *)data)[row];
        i128 total = ((i128)iv.months * 30 + iv.days) * DK_DAY_US + iv.micros;
        put_timedelta(b, total, repr);
        break;
    }
    case DUCKDB_TYPE_UUID:
        put_uuid(b, ((duckdb_hugeint *)data)[row], repr);
        break;
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY: {
        duckdb_vector child;
        idx_t off, len;
        if (t->id == DUCKDB_TYPE_LIST) {
            duckdb_list_entry le = ((duckdb_list_entry *)data)[row];
            child = dk.duckdb_list_vector_get_child(v);
            off = le.offset;
            len = le.length;
        } else {
            child = dk.duckdb_array_vector_get_child(v);
            off = row * t->array_size;
            len = t->array_size;
        }
        buf_putc(b, '[');
        for (idx_t i = 0; i < len; i++) {
            if (i)
                buf_puts(b, ", ");
            dk_put_value(b, &t->child[0], child, off + i, 1);
        }
        buf_putc(b, ']');
        break;
    }
    case DUCKDB_TYPE_STRUCT:
        buf_putc(b, '{');
        for (size_t i = 0; i < t->nchild; i++) {
            if (i)
                buf_puts(b, ", ");
            py_str_repr(b, t->names[i], strlen(t->names[i]));
            buf_puts(b, ": ");
            dk_put_value(b, &t->child[i], dk.duckdb_struct_vector_get_child(v, i), row, 1);
        }
        buf_putc(b, '}');
        break;
    case DUCKDB_TYPE_MAP: {
        duckdb_list_entry le = ((duckdb_list_entry *)data)[row];
        duckdb_vector entries = dk.duckdb_list_vector_get_child(v);
        duckdb_vector keys = dk.duckdb_struct_vector_get_child(entries, 0);
        duckdb_vector vals = dk.duckdb_struct_vector_get_child(entries, 1);
        buf_putc(b, '{');
        for (idx_t i = 0; i < le.length; i++) {
            if (i)
                buf_puts(b, ", ");
            dk_put_value(b, &t->child[0], keys, le.offset + i, 1);
            buf_puts(b, ": ");
            dk_put_value(b, &t->child[1], vals, le.offset + i, 1);
        }
        buf_putc(b, '}');
        break;
    }
    case DUCKDB_TYPE_UNION: {
        /* The value of the member the tag (child 0) selects. */
        duckdb_vector tags = dk.duckdb_struct_vector_get_child(v, 0);
        uint8_t tag = ((uint8_t *)dk.duckdb_vector_get_data(tags))[row];
        if (tag >= t->nchild) {
            buf_puts(b, repr ? "None" : "NULL");
            break;
        }
        dk_put_value(b, &t->child[tag], dk.duckdb_struct_vector_get_child(v, tag + 1u), row,
                     repr);
        break;
    }
    default:
        buf_printf(b, "<DuckDB type %d is not supported>", (int)t->id);
        break;
    }
}

/* ---- statements ---- */

typedef struct dk_cursor {
    duckdb_prepared_statement stmt;
    duckdb_result res;
    dk_type *types;          /* ncols */
    duckdb_data_chunk chunk; /* the chunk rows come from; NULL before the first */
    duckdb_vector *vecs;     /* ncols vectors of chunk */
    idx_t chunk_rows, next_row;
    int done;
} dk_cursor;

/* What read-only mode lets run: reading and session state. Everything
 * else (writes, DDL, ATTACH/DETACH, COPY, EXPORT, INSTALL/LOAD, IMPORT,
 * PREPARE/EXECUTE of any of them, and types this list does not know) is
 * refused before it runs. */
static int dk_read_only_allows(duckdb_statement_type t)
{
    switch (t) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
    case DUCKDB_STATEMENT_TYPE_PRAGMA:
    case DUCKDB_STATEMENT_TYPE_TRANSACTION:
    case DUCKDB_STATEMENT_TYPE_SET:
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET:
        return 1;
    default:
        return 0;
    }
}

static const char *dk_statement_name(duckdb_statement_type t)
{
    static const char *names[] = {
        "INVALID", "SELECT",  "INSERT",      "UPDATE",   "EXPLAIN",     "DELETE",
        "PREPARE", "CREATE",  "EXECUTE",     "ALTER",    "TRANSACTION", "COPY",
        "ANALYZE", "SET VARIABLE", "CREATE FUNCTION", "DROP", "EXPORT", "PRAGMA",
        "VACUUM",  "CALL",    "SET",         "INSTALL/LOAD", "RELATION", "EXTENSION",
        "LOGICAL_PLAN", "ATTACH", "DETACH",  "MULTI",
    };
    return (size_t)t < ARRAY_LEN(names) ? names[t] : "INVALID";
}

static int dk_bind(duckdb_prepared_statement st, const db_bound *b, db_error *e)
{
    for (size_t i = 0; i < b->nvalues; i++) {
        json_t *v = b->values[i];
        idx_t idx = (idx_t)i + 1;
        duckdb_state rc;
        switch (json_typeof(v)) {
        case JSON_STRING:
            rc = dk.duckdb_bind_varchar_length(st, idx, json_string_value(v),
                                               json_string_length(v));
            break;
        case JSON_INTEGER:
            rc = dk.duckdb_bind_int64(st, idx, (int64_t)json_integer_value(v));
            break;
        case JSON_REAL:
            rc = dk.duckdb_bind_double(st, idx, json_real_value(v));
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            rc = dk.duckdb_bind_boolean(st, idx, json_is_true(v));
            break;
        case JSON_NULL:
            rc = dk.duckdb_bind_null(st, idx);
            break;
        default:
            db_error_set(e, DB_ERR_PARAM, "duckdb.InvalidInputException", "ProgrammingError",
                         "f405", "Error binding parameter %zu (:%s): type '%s' is not supported",
                         i + 1, i < b->names.len ? b->names.items[i] : "?",
                         json_is_array(v) ? "list" : "dict");
            return -1;
        }
        if (rc != DuckDBSuccess) {
            db_error_set(e, DB_ERR_PARAM, "duckdb.InvalidInputException", "ProgrammingError",
                         "f405", "Error binding parameter %zu (:%s): DuckDB refused the value",
                         i + 1, i < b->names.len ? b->names.items[i] : "?");
            return -1;
        }
    }
    return 0;
}

/* The rows INSERT/UPDATE/DELETE changed: their result is one BIGINT
 * "Count". */
static int64_t dk_changed_rows(duckdb_result *res)
{
    int64_t n = -1;
    duckdb_data_chunk chunk = dk.duckdb_fetch_chunk(*res);
    if (!chunk)
        return n;
    if (dk.duckdb_data_chunk_get_size(chunk) > 0) {
        duckdb_logical_type lt = dk.duckdb_column_logical_type(res, 0);
        duckdb_type id = dk.duckdb_get_type_id(lt);
        dk.duckdb_destroy_logical_type(&lt);
        duckdb_vector v = dk.duckdb_data_chunk_get_vector(chunk, 0);
        if (id == DUCKDB_TYPE_BIGINT && dk_valid(v, 0))
            n = ((int64_t *)dk.duckdb_vector_get_data(v))[0];
    }
    dk.duckdb_destroy_data_chunk(&chunk);
    return n;
}

static void dk_cursor_free(dk_cursor *kc, size_t ncols)
{
    if (kc->chunk)
        dk.duckdb_destroy_data_chunk(&kc->chunk);
    if (kc->res.internal_data)
        dk.duckdb_destroy_result(&kc->res);
    if (kc->stmt)
        dk.duckdb_destroy_prepare(&kc->stmt);
    if (kc->types)
        for (size_t i = 0; i < ncols; i++)
            dk_type_deinit(&kc->types[i]);
    free(kc->types);
    free(kc->vecs);
    free(kc);
}

static int dk_execute(db_conn *c, const db_bound *b, db_cursor *cur, db_error *e)
{
    dk_conn *dc = c->impl;
    /* One statement per call: DuckDB's prepare would run all but the last
     * of several statements, so split the text first. */
    duckdb_extracted_statements ex = NULL;
    idx_t nst = dk.duckdb_extract_statements(dc->con, b->sql, &ex);
    if (nst == 0) {
        const char *msg = dk.duckdb_extract_statements_error(ex);
        int rc = 0;
        if (msg)
            rc = dk_error(c, e, msg, -1);
        dk.duckdb_destroy_extracted(&ex);
        cur->returns_rows = 0; /* only blanks and comments */
        cur->rowcount = -1;
        return rc;
    }
    if (nst > 1) {
        dk.duckdb_destroy_extracted(&ex);
        db_error_set(e, DB_ERR_SQL, "duckdb.InvalidInputException", "ProgrammingError", "f405",
                     "Invalid Input Error: the query holds %llu statements; send one statement "
                     "at a time",
                     (unsigned long long)nst);
        return -1;
    }
    dk_cursor *kc = xcalloc(1, sizeof *kc);
    duckdb_state st = dk.duckdb_prepare_extracted_statement(dc->con, ex, 0, &kc->stmt);
    dk.duckdb_destroy_extracted(&ex);
    if (st != DuckDBSuccess) {
        dk_error(c, e, dk.duckdb_prepare_error(kc->stmt), -1);
        dk_cursor_free(kc, 0);
        return -1;
    }
    duckdb_statement_type type = dk.duckdb_prepared_statement_type(kc->stmt);
    if (c->opts.read_only && !dk_read_only_allows(type)) {
        db_error_set(e, DB_ERR_READ_ONLY, "duckdb.InvalidInputException", "ProgrammingError",
                     "f405",
                     "Invalid Input Error: Cannot execute statement of type \"%s\": the database "
                     "is served read-only",
                     dk_statement_name(type));
        dk_cursor_free(kc, 0);
        return -1;
    }
    idx_t np = dk.duckdb_nparams(kc->stmt);
    if (np < b->nvalues) {
        db_error_set(e, DB_ERR_PARAM, "duckdb.InvalidInputException", "ProgrammingError", "f405",
                     "Invalid Input Error: Prepared statement needs %llu parameters, %zu given",
                     (unsigned long long)np, b->nvalues);
        dk_cursor_free(kc, 0);
        return -1;
    }
    if (dk_bind(kc->stmt, b, e) != 0 || dk_run(c, kc->stmt, &kc->res, e) != 0) {
        dk_cursor_free(kc, 0);
        return -1;
    }
    duckdb_result_type rt = dk.duckdb_result_return_type(kc->res);
    if (rt != DUCKDB_RESULT_TYPE_QUERY_RESULT) {
        /* Python's DB-API rowcount: the changed rows for DML, else -1. */
        int dml = type == DUCKDB_STATEMENT_TYPE_INSERT || type == DUCKDB_STATEMENT_TYPE_UPDATE ||
                  type == DUCKDB_STATEMENT_TYPE_DELETE;
        cur->returns_rows = 0;
        cur->rowcount = dml && rt == DUCKDB_RESULT_TYPE_CHANGED_ROWS ? dk_changed_rows(&kc->res)
                                                                      : -1;
        dk_cursor_free(kc, 0);
        return 0;
    }
    size_t ncols = (size_t)dk.duckdb_column_count(&kc->res);
    cur->returns_rows = 1;
    cur->ncols = ncols;
    cur->colnames = xcalloc(ncols ? ncols : 1, sizeof *cur->colnames);
    cur->row = xcalloc(ncols ? ncols : 1, sizeof *cur->row);
    kc->types = xcalloc(ncols ? ncols : 1, sizeof *kc->types);
    kc->vecs = xcalloc(ncols ? ncols : 1, sizeof *kc->vecs);
    for (size_t i = 0; i < ncols; i++) {
        const char *name = dk.duckdb_column_name(&kc->res, i);
        cur->colnames[i] = xstrdup(name ? name : "");
        duckdb_logical_type lt = dk.duckdb_column_logical_type(&kc->res, i);
        dk_type_init(&kc->types[i], lt);
        dk.duckdb_destroy_logical_type(&lt);
    }
    cur->impl = kc;
    return 0;
}

/* Top-level value of column col: plain kinds point into the chunk, the
 * rest is formatted into cur->scratch (offsets now, pointers once the
 * buffer stops moving). */
static void dk_fill(db_cursor *cur, dk_cursor *kc, size_t col, idx_t row)
{
    db_value *v = &cur->row[col];
    const dk_type *t = &kc->types[col];
    duckdb_vector vec = kc->vecs[col];
    memset(v, 0, sizeof *v);
    if (!dk_valid(vec, row)) {
        v->kind = DBV_NULL;
        return;
    }
    void *data = dk.duckdb_vector_get_data(vec);
    switch (t->id) {
    case DUCKDB_TYPE_BOOLEAN:
        v->kind = DBV_BOOL;
        v->i = ((uint8_t *)data)[row] != 0;
        return;
    case DUCKDB_TYPE_TINYINT:
        v->kind = DBV_INT;
        v->i = ((int8_t *)data)[row];
        return;
    case DUCKDB_TYPE_SMALLINT:
        v->kind = DBV_INT;
        v->i = ((int16_t *)data)[row];
        return;
    case DUCKDB_TYPE_INTEGER:
        v->kind = DBV_INT;
        v->i = ((int32_t *)data)[row];
        return;
    case DUCKDB_TYPE_BIGINT:
        v->kind = DBV_INT;
        v->i = ((int64_t *)data)[row];
        return;
    case DUCKDB_TYPE_UTINYINT:
        v->kind = DBV_INT;
        v->i = ((uint8_t *)data)[row];
        return;
    case DUCKDB_TYPE_USMALLINT:
        v->kind = DBV_INT;
        v->i = ((uint16_t *)data)[row];
        return;
    case DUCKDB_TYPE_UINTEGER:
        v->kind = DBV_INT;
        v->i = ((uint32_t *)data)[row];
        return;
    case DUCKDB_TYPE_UBIGINT:
        if (((uint64_t *)data)[row] <= INT64_MAX) {
            v->kind = DBV_INT;
            v->i = (int64_t)((uint64_t *)data)[row];
            return;
        }
        break; /* too big for DBV_INT: text below */
    case DUCKDB_TYPE_FLOAT:
        v->kind = DBV_FLOAT;
        v->f = ((float *)data)[row];
        return;
    case DUCKDB_TYPE_DOUBLE:
        v->kind = DBV_FLOAT;
        v->f = ((double *)data)[row];
        return;
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB:
        v->kind = t->id == DUCKDB_TYPE_BLOB ? DBV_BLOB : DBV_TEXT;
        dk_string((duckdb_string_t *)data + row, &v->s, &v->len);
        return;
    case DUCKDB_TYPE_ENUM: {
        uint64_t k = dk_enum_at(t, data, row);
        v->kind = DBV_TEXT;
        v->s = k < t->ndict ? t->dict[k] : "";
        v->len = strlen(v->s);
        return;
    }
    case DUCKDB_TYPE_UNION: {
        /* A union whose selected member is NULL is None, not text. */
        duckdb_vector tags = dk.duckdb_struct_vector_get_child(vec, 0);
        uint8_t tag = ((uint8_t *)dk.duckdb_vector_get_data(tags))[row];
        if (tag >= t->nchild || !dk_valid(dk.duckdb_struct_vector_get_child(vec, tag + 1u), row)) {
            v->kind = DBV_NULL;
            return;
        }
        break;
    }
    default:
        break;
    }
    size_t start = cur->scratch.len;
    dk_put_value(&cur->scratch, t, vec, row, 0);
    v->kind = DBV_OTHER;
    v->s = NULL;
    v->i = (int64_t)start;
    v->len = cur->scratch.len - start;
}

static int dk_next(db_cursor *cur, db_error *e)
{
    dk_cursor *kc = cur->impl;
    if (!kc)
        return 0;
    while (!kc->chunk || kc->next_row >= kc->chunk_rows) {
        if (kc->chunk)
            dk.duckdb_destroy_data_chunk(&kc->chunk);
        if (kc->done)
            return 0;
        kc->chunk = dk.duckdb_fetch_chunk(kc->res);
        kc->chunk_rows = kc->chunk ? dk.duckdb_data_chunk_get_size(kc->chunk) : 0;
        kc->next_row = 0;
        if (!kc->chunk || kc->chunk_rows == 0) {
            kc->done = 1;
            if (kc->chunk)
                dk.duckdb_destroy_data_chunk(&kc->chunk);
            const char *msg = dk.duckdb_result_error(&kc->res);
            if (msg)
                return dk_error(cur->conn, e, msg, dk.duckdb_result_error_type(&kc->res));
            return 0;
        }
        for (size_t i = 0; i < cur->ncols; i++)
            kc->vecs[i] = dk.duckdb_data_chunk_get_vector(kc->chunk, i);
    }
    for (size_t i = 0; i < cur->ncols; i++)
        dk_fill(cur, kc, i, kc->next_row);
    for (size_t i = 0; i < cur->ncols; i++)
        if (cur->row[i].kind == DBV_OTHER && !cur->row[i].s)
            cur->row[i].s = cur->scratch.data + cur->row[i].i;
    kc->next_row++;
    return 1;
}

static void dk_close(db_cursor *cur)
{
    dk_cursor *kc = cur->impl;
    if (!kc)
        return;
    /* Destroying a streaming result ends its query; rows not fetched are
     * never produced. */
    dk_cursor_free(kc, cur->ncols);
    cur->impl = NULL;
}

static void dk_interrupt(db_conn *c)
{
    dk_conn *dc = c->impl;
    if (dc)
        dk.duckdb_interrupt(dc->con);
}

const db_backend db_duckdb_backend = {
    .dialect = "duckdb",
    .placeholder = DB_PH_DOLLAR,
    .display_pyformat = 0,
    .check = dk_check,
    .connect = dk_connect,
    .disconnect = dk_disconnect,
    .alive = dk_alive,
    .version = dk_version,
    .table_names = dk_table_names,
    .describe = dk_describe,
    .execute = dk_execute,
    .next = dk_next,
    .close = dk_close,
    .interrupt = dk_interrupt,
};
