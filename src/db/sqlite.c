/* SQLite backend, through the SQLite library.
 *
 * It behaves like SQLAlchemy over Python's sqlite3 module, which is what
 * mcp-alchemy users see: the same file-name rules, autocommit, one
 * statement per call, rowcount -1 for non-DML, and schema reflection that
 * reports what SQLAlchemy's SQLite inspector reports. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_internal.h"

#define PY_OPERATIONAL "sqlite3.OperationalError"
#define PY_PROGRAMMING "sqlite3.ProgrammingError"
#define PY_INTEGRITY "sqlite3.IntegrityError"

typedef struct sq_conn {
    sqlite3 *db;
    char *path; /* file we opened, NULL for memory */
    uint64_t checked_ns; /* when we last saw the file still there */
} sq_conn;

/* How often a call checks that the database file still exists (a stat
 * on every call would cost more than the query itself). */
#define SQ_FILE_CHECK_NS 200000000ull

typedef struct sq_cursor {
    sqlite3_stmt *stmt;
    int pending_row; /* execute already stepped onto the first row */
} sq_cursor;

/* The exception class Python's sqlite3 raises for a result code (its
 * _pysqlite_seterror), and the SQLAlchemy class and code that wrap it. */
static void set_sqlite_error(db_error *e, int rc, const char *msg)
{
    const char *py = "sqlite3.DatabaseError", *sa = "DatabaseError", *code = "4xp6";
    switch (rc & 0xff) {
    case SQLITE_INTERNAL:
    case SQLITE_NOTFOUND:
        py = "sqlite3.InternalError", sa = "InternalError", code = "2j85";
        break;
    case SQLITE_ERROR: case SQLITE_PERM: case SQLITE_ABORT: case SQLITE_BUSY:
    case SQLITE_LOCKED: case SQLITE_READONLY: case SQLITE_INTERRUPT: case SQLITE_IOERR:
    case SQLITE_FULL: case SQLITE_CANTOPEN: case SQLITE_PROTOCOL: case SQLITE_EMPTY:
    case SQLITE_SCHEMA:
        py = PY_OPERATIONAL, sa = "OperationalError", code = "e3q8";
        break;
    case SQLITE_TOOBIG:
        py = "sqlite3.DataError", sa = "DataError", code = "9h9h";
        break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        py = PY_INTEGRITY, sa = "IntegrityError", code = "gkpj";
        break;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        py = "sqlite3.InterfaceError", sa = "InterfaceError", code = "rvf5";
        break;
    }
    int kind = (rc & 0xff) == SQLITE_CANTOPEN ? DB_ERR_CONNECT : DB_ERR_SQL;
    db_error_set(e, kind, py, sa, code, "%s", msg);
}

/* ---- read-only mode ---- */

/* Besides opening the file read-only, refuse what could still write
 * somewhere: ATTACH (a new file), and pragmas that would lift the guard. */
static int ro_authorizer(void *arg, int action, const char *a, const char *b, const char *c,
                         const char *d)
{
    (void)arg, (void)b, (void)c, (void)d;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (a && (strcasecmp(a, "query_only") == 0 || strcasecmp(a, "writable_schema") == 0) && b)
            return SQLITE_DENY;
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* ---- connect ---- */

static int sq_connect(db_conn *c, db_error *e)
{
    const db_url *u = &c->url;
    const char *uri = db_url_query(u, "uri");
    int use_uri = uri && (strcasecmp(uri, "true") == 0 || strcmp(uri, "1") == 0);
    buf_t name;
    buf_init(&name);
    char *path = NULL;
    /* One thread uses the connection at a time (the MCP server serialises
     * calls); sqlite3_interrupt() is safe from any thread regardless. */
    int flags = SQLITE_OPEN_NOMUTEX;
    if (use_uri) {
        /* As SQLAlchemy's pysqlite dialect: the database part is the URI and
         * the query keys that are not pysqlite's own go back onto it. */
        static const char *py_keys[] = {"timeout", "isolation_level", "detect_types",
                                        "check_same_thread", "cached_statements", "uri"};
        buf_puts(&name, u->database ? u->database : "");
        strlist_t keys;
        strlist_init(&keys);
        for (size_t i = 0; i < u->qkeys.len; i++) {
            int ours = 0;
            for (size_t k = 0; k < ARRAY_LEN(py_keys); k++)
                ours |= strcmp(u->qkeys.items[i], py_keys[k]) == 0;
            if (!ours)
                strlist_push(&keys, u->qkeys.items[i]);
        }
        strlist_sort(&keys);
        for (size_t i = 0; i < keys.len; i++)
            buf_printf(&name, "%c%s=%s", i ? '&' : '?', keys.items[i], db_url_query(u, keys.items[i]));
        strlist_free(&keys);
        flags |= SQLITE_OPEN_URI;
    } else if (!u->database || strcmp(u->database, ":memory:") == 0) {
        buf_puts(&name, ":memory:");
    } else {
        /* relative to the working directory, as os.path.abspath does */
        char *abs = realpath(u->database, NULL);
        if (!abs && u->database[0] != '/') {
            char cwd[4096];
            if (getcwd(cwd, sizeof cwd))
                buf_printf(&name, "%s/%s", cwd, u->database);
            else
                buf_puts(&name, u->database);
        } else {
            buf_puts(&name, abs ? abs : u->database);
        }
        free(abs);
        path = xstrdup(name.data);
        if (!file_exists(path) && !c->opts.read_only)
            log_warn("database file %s does not exist; SQLite creates it empty", path);
    }
    flags |= c->opts.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(name.data, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        db_error_set(e, DB_ERR_CONNECT, PY_OPERATIONAL, "OperationalError", "e3q8", "%s",
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        buf_free(&name);
        free(path);
        return -1;
    }
    buf_free(&name);
    /* Python's sqlite3 waits 5 s on a locked database by default
     * (connect_args.timeout changes it). */
    sqlite3_busy_timeout(db, (int)c->busy_timeout_ms);
    if (c->isolation_level && !strcmp(c->isolation_level, "READ UNCOMMITTED"))
        sqlite3_exec(db, "PRAGMA read_uncommitted = 1", NULL, NULL, NULL);
    sqlite3_extended_result_codes(db, 0);
    if (c->opts.read_only)
        sqlite3_set_authorizer(db, ro_authorizer, NULL);
    /* Opening is lazy in SQLite: touch the schema now so a file that is not
     * a database, or cannot be read, fails here with a clear message. */
    char *msg = NULL;
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        set_sqlite_error(e, rc, msg ? msg : sqlite3_errmsg(db));
        e->kind = DB_ERR_CONNECT;
        sqlite3_free(msg);
        sqlite3_close(db);
        free(path);
        return -1;
    }
    sq_conn *sc = xcalloc(1, sizeof *sc);
    sc->db = db;
    sc->path = path;
    sc->checked_ns = time_now_ns();
    c->impl = sc;
    return 0;
}

static void sq_disconnect(db_conn *c)
{
    sq_conn *sc = c->impl;
    if (!sc)
        return;
    sqlite3_close_v2(sc->db);
    free(sc->path);
    free(sc);
    c->impl = NULL;
}

static int sq_alive(db_conn *c)
{
    sq_conn *sc = c->impl;
    /* A file that disappeared under us is gone for good: reopen so the
     * caller sees "unable to open" instead of reading a deleted inode. */
    if (sc->path) {
        uint64_t now = time_now_ns();
        if (now - sc->checked_ns > SQ_FILE_CHECK_NS) {
            if (!file_exists(sc->path))
                return 0;
            sc->checked_ns = now;
        }
    }
    return 1;
}

static int sq_version(db_conn *c, buf_t *out, db_error *e)
{
    (void)c, (void)e;
    buf_puts(out, sqlite3_libversion());
    return 0;
}

/* ---- helpers to run small internal queries ---- */

static void quote_ident(buf_t *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static int prepare(sq_conn *sc, const char *sql, sqlite3_stmt **st, db_error *e)
{
    int rc = sqlite3_prepare_v2(sc->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error(e, rc, sqlite3_errmsg(sc->db));
        return -1;
    }
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : NULL;
}

static int sq_table_names(db_conn *c, strlist_t *out, db_error *e)
{
    sq_conn *sc = c->impl;
    sqlite3_stmt *st;
    if (prepare(sc,
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite~_%' "
                "ESCAPE '~' ORDER BY name",
                &st, e) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        strlist_push(out, col_text(st, 0) ? col_text(st, 0) : "");
    if (rc != SQLITE_DONE) {
        set_sqlite_error(e, rc, sqlite3_errmsg(sc->db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- reflection, as sqlalchemy.dialects.sqlite.base does it ---- */

typedef struct pragma_col {
    char *name, *type, *dflt;
    int notnull, pk, hidden;
} pragma_col;

/* PRAGMA main.<pragma>("table"), then temp.<pragma>; rows as strings. */
static int table_pragma(sq_conn *sc, const char *pragma, const char *table, size_t want_cols,
                        strlist_t *cells, size_t *nrows, db_error *e)
{
    static const char *schemas[] = {"main", "temp"};
    *nrows = 0;
    for (size_t s = 0; s < 2; s++) {
        buf_t q;
        buf_init(&q);
        buf_printf(&q, "PRAGMA %s.%s(", schemas[s], pragma);
        quote_ident(&q, table);
        buf_putc(&q, ')');
        sqlite3_stmt *st;
        int rc = prepare(sc, q.data, &st, e);
        buf_free(&q);
        if (rc != 0)
            return -1;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            for (size_t i = 0; i < want_cols; i++) {
                const char *t = (int)i < sqlite3_column_count(st) ? col_text(st, (int)i) : NULL;
                /* NULL is kept as a NULL pointer entry */
                if (t)
                    strlist_push(cells, t);
                else {
                    strlist_push(cells, "");
                    free(cells->items[cells->len - 1]);
                    cells->items[cells->len - 1] = NULL;
                }
            }
            (*nrows)++;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            set_sqlite_error(e, rc, sqlite3_errmsg(sc->db));
            return -1;
        }
        if (*nrows)
            return 0;
    }
    return 0;
}

static char *table_sql(sq_conn *sc, const char *table)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(sc->db,
                           "SELECT sql FROM  (SELECT * FROM sqlite_master UNION ALL   SELECT * FROM "
                           "sqlite_temp_master) WHERE name = ? AND type in ('table', 'view')",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && col_text(st, 0))
        out = xstrdup(col_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* One PCRE2 pattern, compiled once (case-insensitive, Unicode \w like
 * Python's re). */
static pcre2_code *compile_re(const char *pattern, uint32_t extra)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | extra,
                                   &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        log_error("internal regex failed to compile at %zu: %s", (size_t)erroff, (char *)msg);
        abort();
    }
    return re;
}

/* Group g of the last match, or NULL if it did not take part. */
static char *group(const char *subject, PCRE2_SIZE *ov, int g)
{
    if (ov[2 * g] == PCRE2_UNSET)
        return NULL;
    return xstrndup(subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

/* sqltypes instance -> str(), for the type names _resolve_type_affinity
 * can produce, with the positional arguments each constructor accepts. */
static char *resolve_type_affinity(const char *type_)
{
    /* re.match(r"([\w ]+)(\(.*?\))?", type_) */
    static pcre2_code *re;
    if (!re)
        re = compile_re("^([\\w ]+)(\\(.*?\\))?", 0);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char *coltype = NULL, *args = NULL;
    int have_args;
    if (pcre2_match(re, (PCRE2_SPTR)type_, strlen(type_), 0, 0, md, NULL) > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        coltype = group(type_, ov, 1);
        args = group(type_, ov, 2);
        have_args = args != NULL;
    } else {
        coltype = xstrdup("");
        args = xstrdup("");
        have_args = 1; /* "" is not None: findall gives no numbers */
    }
    pcre2_match_data_free(md);

    static const char *known[] = {"BIGINT",   "BLOB",     "BOOL",      "BOOLEAN", "CHAR",
                                  "DATE",     "DATE_CHAR", "DATETIME", "DATETIME_CHAR",
                                  "DOUBLE",   "DECIMAL",  "FLOAT",     "INT",     "INTEGER",
                                  "JSON",     "NUMERIC",  "REAL",      "SMALLINT", "TEXT",
                                  "TIME",     "TIME_CHAR", "TIMESTAMP", "VARCHAR", "NVARCHAR",
                                  "NCHAR"};
    static const char *maps_to[] = {"BIGINT",   "BLOB",     "BOOLEAN",  "BOOLEAN", "CHAR",
                                    "DATE",     "DATE",     "DATETIME", "DATETIME",
                                    "DOUBLE",   "DECIMAL",  "FLOAT",    "INTEGER", "INTEGER",
                                    "JSON",     "NUMERIC",  "REAL",     "SMALLINT", "TEXT",
                                    "TIME",     "TIME",     "TIMESTAMP", "VARCHAR", "NVARCHAR",
                                    "NCHAR"};
    const char *t = NULL;
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (strcmp(coltype, known[i]) == 0)
            t = maps_to[i];
    if (!t) {
        if (strstr(coltype, "INT"))
            t = "INTEGER";
        else if (strstr(coltype, "CHAR") || strstr(coltype, "CLOB") || strstr(coltype, "TEXT"))
            t = "TEXT";
        else if (strstr(coltype, "BLOB") || !*coltype)
            t = "NULL";
        else if (strstr(coltype, "REAL") || strstr(coltype, "FLOA") || strstr(coltype, "DOUB"))
            t = "REAL";
        else
            t = "NUMERIC";
    }

    /* args = re.findall(r"(\d+)", args) */
    long nums[8];
    size_t nargs = 0, overflow = 0;
    if (have_args && args) {
        for (const char *p = args; *p;) {
            if (isdigit((unsigned char)*p)) {
                long v = 0;
                while (isdigit((unsigned char)*p))
                    v = v * 10 + (*p++ - '0');
                if (nargs < ARRAY_LEN(nums))
                    nums[nargs++] = v;
                else
                    overflow++;
            } else
                p++;
        }
    }
    nargs += overflow;
    free(coltype);
    free(args);

    /* How many positional arguments each type's constructor takes; more
     * raise TypeError and SQLAlchemy falls back to no arguments. */
    buf_t out;
    buf_init(&out);
    if (!strcmp(t, "CHAR") || !strcmp(t, "VARCHAR") || !strcmp(t, "TEXT")) {
        if (nargs > 2)
            nargs = 0;
        buf_puts(&out, t);
        if (nargs >= 1 && nums[0])
            buf_printf(&out, "(%ld)", nums[0]);
        if (nargs >= 2 && nums[1])
            buf_printf(&out, " COLLATE \"%ld\"", nums[1]);
    } else if (!strcmp(t, "NVARCHAR") || !strcmp(t, "NCHAR")) {
        if (nargs > 1)
            nargs = 0;
        buf_puts(&out, t);
        if (nargs >= 1 && nums[0])
            buf_printf(&out, "(%ld)", nums[0]);
    } else if (!strcmp(t, "NUMERIC") || !strcmp(t, "DECIMAL")) {
        if (nargs > 4)
            nargs = 0;
        buf_puts(&out, t);
        if (nargs == 1)
            buf_printf(&out, "(%ld)", nums[0]);
        else if (nargs >= 2)
            buf_printf(&out, "(%ld, %ld)", nums[0], nums[1]);
    } else if (!strcmp(t, "BLOB")) {
        if (nargs > 1)
            nargs = 0;
        buf_puts(&out, t);
        if (nargs >= 1 && nums[0])
            buf_printf(&out, "(%ld)", nums[0]);
    } else {
        /* INTEGER, BIGINT, SMALLINT, DATE, DATETIME, TIME, TIMESTAMP,
         * BOOLEAN, FLOAT, REAL, DOUBLE, JSON, NULL: the generic type
         * compiler prints no arguments for them. */
        buf_puts(&out, t);
    }
    return buf_take(&out);
}

/* Python's re.sub(word, "", s, flags=re.I) for ASCII words. */
static void remove_word_ci(char *s, const char *word)
{
    size_t wl = strlen(word);
    char *p = s;
    while ((p = strcasestr(p, word)) != NULL)
        memmove(p, p + wl, strlen(p + wl) + 1);
}

static char *strip_dup(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

/* Columns of a table as get_columns() sees them; 0 rows means no table. */
static int get_columns(sq_conn *sc, const char *table, pragma_col **out, size_t *n, db_error *e)
{
    strlist_t cells;
    strlist_init(&cells);
    size_t nrows;
    *out = NULL;
    *n = 0;
    /* table_xinfo (SQLite >= 3.31) also lists generated columns. */
    if (table_pragma(sc, "table_xinfo", table, 7, &cells, &nrows, e) != 0) {
        strlist_free(&cells);
        return -1;
    }
    pragma_col *cols = xcalloc(nrows ? nrows : 1, sizeof *cols);
    size_t k = 0;
    for (size_t r = 0; r < nrows; r++) {
        char **row = cells.items + r * 7;
        int hidden = row[6] ? atoi(row[6]) : 0;
        if (hidden == 1)
            continue;
        pragma_col *c = &cols[k++];
        c->name = xstrdup(row[1] ? row[1] : "");
        c->type = xstrdup(row[2] ? row[2] : "");
        for (char *p = c->type; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        c->notnull = row[3] ? atoi(row[3]) : 0;
        c->dflt = row[4] ? xstrdup(row[4]) : NULL;
        c->pk = row[5] ? atoi(row[5]) : 0;
        c->hidden = hidden;
    }
    for (size_t i = 0; i < cells.len; i++)
        free(cells.items[i]);
    free(cells.items);
    *out = cols;
    *n = k;
    return (int)nrows; /* rows seen, hidden ones included */
}

static void free_columns(pragma_col *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cols[i].name);
        free(cols[i].type);
        free(cols[i].dflt);
    }
    free(cols);
}

/* get_pk_constraint: primary-key columns in key order. */
static int cmp_pk(const void *a, const void *b)
{
    const pragma_col *x = *(pragma_col *const *)a, *y = *(pragma_col *const *)b;
    return x->pk - y->pk;
}

static void pk_columns(pragma_col *cols, size_t n, strlist_t *out)
{
    pragma_col **pks = xmalloc((n ? n : 1) * sizeof *pks);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (cols[i].pk > 0)
            pks[k++] = &cols[i];
    /* Python's sort is stable; so is this for distinct keys, and equal
     * keys cannot occur in one table's primary key. */
    qsort(pks, k, sizeof *pks, cmp_pk);
    for (size_t i = 0; i < k; i++)
        strlist_push(out, pks[i]->name);
    free(pks);
}

/* The generated-column expression, as _get_column_info finds it. */
static char *computed_sqltext(const char *tablesql, const char *name)
{
    if (!tablesql)
        return xstrdup("");
    buf_t pat;
    buf_init(&pat);
    buf_puts(&pat, "\\Q");
    buf_puts(&pat, name);
    buf_puts(&pat, "\\E[^,]*\\s+GENERATED\\s+ALWAYS\\s+AS\\s+\\((.*)\\)\\s*(?:virtual|stored)?");
    pcre2_code *re = compile_re(pat.data, PCRE2_CASELESS);
    buf_free(&pat);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char *out = NULL;
    if (pcre2_match(re, (PCRE2_SPTR)tablesql, strlen(tablesql), 0, 0, md, NULL) > 0)
        out = group(tablesql, pcre2_get_ovector_pointer(md), 1);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return out ? out : xstrdup("");
}

/* "create table x (BODY)" -> BODY, as get_columns strips it. */
static char *table_body(const char *sql)
{
    static pcre2_code *re;
    if (!re)
        re = compile_re("^create table .*?\\((.*)\\)(?:\\s*,?\\s*(?:WITHOUT\\s+ROWID|STRICT))*$",
                        PCRE2_CASELESS | PCRE2_DOTALL);
    char *s = strip_dup(sql);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char *out = NULL;
    if (pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) > 0) {
        char *g = group(s, pcre2_get_ovector_pointer(md), 1);
        out = strip_dup(g);
        free(g);
    }
    pcre2_match_data_free(md);
    free(s);
    return out;
}

typedef struct fk_acc {
    long id;
    strlist_t cols, ref_cols;
    char *ref_table;
    int used;
} fk_acc;

static void fk_sig(buf_t *b, const strlist_t *cols, const char *table, const strlist_t *refs)
{
    buf_reset(b);
    for (size_t i = 0; i < cols->len; i++)
        buf_append(b, cols->items[i], strlen(cols->items[i]) + 1);
    buf_putc(b, 1);
    buf_append(b, table, strlen(table) + 1);
    for (size_t i = 0; i < refs->len; i++)
        buf_append(b, refs->items[i], strlen(refs->items[i]) + 1);
}

/* _find_cols_in_sig */
static void find_cols(const char *sig, strlist_t *out)
{
    static pcre2_code *re;
    if (!re)
        re = compile_re("(?:\"(.+?)\")|([a-z0-9_]+)", PCRE2_CASELESS);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(sig), off = 0;
    while (off <= len && pcre2_match(re, (PCRE2_SPTR)sig, len, off, 0, md, NULL) > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        char *g = group(sig, ov, 1);
        if (!g)
            g = group(sig, ov, 2);
        strlist_push(out, g ? g : "");
        free(g);
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
}

static int get_foreign_keys(sq_conn *sc, const char *table, db_table *t, db_error *e)
{
    strlist_t cells;
    strlist_init(&cells);
    size_t nrows;
    if (table_pragma(sc, "foreign_key_list", table, 5, &cells, &nrows, e) != 0) {
        strlist_free(&cells);
        return -1;
    }
    fk_acc *fks = xcalloc(nrows ? nrows : 1, sizeof *fks);
    size_t nfk = 0;
    for (size_t r = 0; r < nrows; r++) {
        char **row = cells.items + r * 5;
        long id = row[0] ? atol(row[0]) : 0;
        const char *rtbl = row[2] ? row[2] : "", *lcol = row[3] ? row[3] : "", *rcol = row[4];
        fk_acc *fk = NULL;
        for (size_t i = 0; i < nfk; i++)
            if (fks[i].id == id)
                fk = &fks[i];
        if (!fk) {
            fk = &fks[nfk++];
            fk->id = id;
            strlist_init(&fk->cols);
            strlist_init(&fk->ref_cols);
            fk->ref_table = xstrdup(rtbl);
            if (!rcol || !*rcol) {
                /* No referred column named: the referred table's primary
                 * key (or nothing, if that table does not exist). */
                pragma_col *pc;
                size_t npc;
                db_error ignore;
                if (get_columns(sc, rtbl, &pc, &npc, &ignore) > 0)
                    pk_columns(pc, npc, &fk->ref_cols);
                if (npc || pc)
                    free_columns(pc, npc);
            }
        }
        strlist_push(&fk->cols, lcol);
        if (rcol && *rcol)
            strlist_push(&fk->ref_cols, rcol);
    }
    for (size_t i = 0; i < cells.len; i++)
        free(cells.items[i]);
    free(cells.items);

    /* keys_by_signature: a dict, so a repeated signature keeps its first
     * position and the later constraint. */
    buf_t sa, sb;
    buf_init(&sa);
    buf_init(&sb);
    for (size_t i = 0; i < nfk; i++)
        for (size_t j = 0; j < i; j++) {
            if (fks[j].used < 0)
                continue;
            fk_sig(&sa, &fks[i].cols, fks[i].ref_table, &fks[i].ref_cols);
            fk_sig(&sb, &fks[j].cols, fks[j].ref_table, &fks[j].ref_cols);
            if (sa.len == sb.len && memcmp(sa.data, sb.data, sa.len) == 0) {
                fk_acc tmp = fks[j];
                fks[j] = fks[i];
                fks[i] = tmp;
                fks[i].used = -1; /* dropped: overwritten in the dict */
            }
        }

    /* Constraints found in the CREATE TABLE text come first, in text
     * order; the rest (inline ones) follow in PRAGMA order. */
    size_t *order = xmalloc((nfk ? nfk : 1) * sizeof *order);
    size_t norder = 0;
    char *sql = table_sql(sc, table);
    if (sql) {
        static pcre2_code *re;
        if (!re)
            re = compile_re(
                "(?:CONSTRAINT\\s+(?:\"(.+?)\"|(\\w+))\\s+)?"
                "FOREIGN\\s+KEY\\s*\\(\\s*(.+?)\\s*\\)\\s+"
                "REFERENCES\\s+(?:(?:\"(.+?)\")|([a-z0-9_]+))\\s*\\(\\s*((?:(?:\"[^\"]+\"|[a-z0-9_]+)"
                "\\s*(?:,\\s*)?)+)\\)\\s*"
                "((?:ON\\s+(?:DELETE|UPDATE)\\s+(?:SET\\s+NULL|SET\\s+DEFAULT|CASCADE|RESTRICT|"
                "NO\\s+ACTION)\\s*)*)"
                "((?:NOT\\s+)?DEFERRABLE)?"
                "(?:\\s+INITIALLY\\s+(DEFERRED|IMMEDIATE))?",
                PCRE2_CASELESS);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        size_t len = strlen(sql), off = 0;
        while (off <= len && pcre2_match(re, (PCRE2_SPTR)sql, len, off, 0, md, NULL) > 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            char *cc = group(sql, ov, 3), *rq = group(sql, ov, 4), *rn = group(sql, ov, 5),
                 *rc = group(sql, ov, 6);
            strlist_t cols, refs;
            strlist_init(&cols);
            strlist_init(&refs);
            find_cols(cc ? cc : "", &cols);
            if (!rc || !*rc) {
                for (size_t i = 0; i < cols.len; i++)
                    strlist_push(&refs, cols.items[i]);
            } else
                find_cols(rc, &refs);
            const char *rname = rq ? rq : (rn ? rn : "");
            fk_sig(&sa, &cols, rname, &refs);
            for (size_t i = 0; i < nfk; i++) {
                if (fks[i].used)
                    continue;
                fk_sig(&sb, &fks[i].cols, fks[i].ref_table, &fks[i].ref_cols);
                if (sa.len == sb.len && memcmp(sa.data, sb.data, sa.len) == 0) {
                    fks[i].used = 1;
                    order[norder++] = i;
                    break;
                }
            }
            strlist_free(&cols);
            strlist_free(&refs);
            free(cc);
            free(rq);
            free(rn);
            free(rc);
            off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        }
        pcre2_match_data_free(md);
        free(sql);
    }
    for (size_t i = 0; i < nfk; i++)
        if (!fks[i].used)
            order[norder++] = i;
    for (size_t k = 0; k < norder; k++) {
        fk_acc *f = &fks[order[k]];
        db_fkey *dst = db_table_add_fkey(t, f->ref_table);
        for (size_t i = 0; i < f->cols.len; i++)
            strlist_push(&dst->cols, f->cols.items[i]);
        for (size_t i = 0; i < f->ref_cols.len; i++)
            strlist_push(&dst->ref_cols, f->ref_cols.items[i]);
    }
    for (size_t i = 0; i < nfk; i++) {
        strlist_free(&fks[i].cols);
        strlist_free(&fks[i].ref_cols);
        free(fks[i].ref_table);
    }
    free(fks);
    free(order);
    buf_free(&sa);
    buf_free(&sb);
    return 0;
}

static int sq_describe(db_conn *c, const char *table, db_table *t, db_error *e)
{
    sq_conn *sc = c->impl;
    pragma_col *cols;
    size_t n;
    int rows = get_columns(sc, table, &cols, &n, e);
    if (rows < 0)
        return -1;
    if (rows == 0) {
        free_columns(cols, n);
        return 1;
    }
    char *body = NULL;
    int body_loaded = 0;
    for (size_t i = 0; i < n; i++) {
        pragma_col *pc = &cols[i];
        int generated = pc->hidden != 0;
        char *type = xstrdup(pc->type);
        if (generated) {
            remove_word_ci(type, "generated");
            remove_word_ci(type, "always");
            char *s = strip_dup(type);
            free(type);
            type = s;
            if (!body_loaded) {
                char *sql = table_sql(sc, table);
                body = sql ? table_body(sql) : NULL;
                free(sql);
                body_loaded = 1;
            }
        }
        char *rtype = resolve_type_affinity(type);
        free(type);
        db_column *col = db_table_add_column(t, pc->name, rtype);
        free(rtype);
        /* The dict keys after name and type, in order, shown when truthy. */
        if (!pc->notnull)
            strlist_push(&col->extras, "nullable");
        if (pc->dflt && *pc->dflt) {
            buf_t d;
            buf_init(&d);
            buf_printf(&d, "default=%s", pc->dflt);
            strlist_push(&col->extras, d.data);
            buf_free(&d);
        }
        if (pc->pk) {
            buf_t d;
            buf_init(&d);
            buf_printf(&d, "primary_key=%d", pc->pk);
            strlist_push(&col->extras, d.data);
            buf_free(&d);
        }
        if (generated) {
            char *sqltext = computed_sqltext(body, pc->name);
            buf_t d;
            buf_init(&d);
            buf_puts(&d, "computed={'sqltext': ");
            py_str_repr(&d, sqltext, strlen(sqltext));
            buf_printf(&d, ", 'persisted': %s}", pc->hidden == 3 ? "True" : "False");
            strlist_push(&col->extras, d.data);
            buf_free(&d);
            free(sqltext);
        }
    }
    free(body);
    pk_columns(cols, n, &t->pk);
    free_columns(cols, n);
    return get_foreign_keys(sc, table, t, e);
}

/* ---- statements ---- */

/* Python's sqlite3 skips whitespace and comments after a statement and
 * refuses anything else ("one statement at a time"). */
static const char *lstrip_sql(const char *p)
{
    for (; *p; p++) {
        switch (*p) {
        case ' ': case '\t': case '\f': case '\n': case '\r':
            break;
        case '-':
            if (p[1] != '-')
                return p;
            p += 2;
            while (*p && *p != '\n')
                p++;
            if (!*p)
                return NULL;
            break;
        case '/':
            if (p[1] != '*')
                return p;
            p += 2;
            while (*p && !(p[0] == '*' && p[1] == '/'))
                p++;
            if (!*p)
                return NULL;
            p++;
            break;
        default:
            return p;
        }
    }
    return NULL;
}

/* Python's sqlite3 counts changes only for statements that start (after
 * blanks, not comments) with one of these words; others report -1. */
static int is_dml(const char *sql)
{
    const char *p = sql;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    static const char *kw[] = {"INSERT", "UPDATE", "DELETE", "REPLACE"};
    for (size_t i = 0; i < ARRAY_LEN(kw); i++)
        if (strncasecmp(p, kw[i], strlen(kw[i])) == 0)
            return 1;
    return 0;
}

static int bind_value(sqlite3_stmt *st, int idx, json_t *v, db_error *e)
{
    int rc;
    switch (json_typeof(v)) {
    case JSON_STRING:
        rc = sqlite3_bind_text(st, idx, json_string_value(v), (int)json_string_length(v),
                               SQLITE_TRANSIENT);
        break;
    case JSON_INTEGER:
        rc = sqlite3_bind_int64(st, idx, json_integer_value(v));
        break;
    case JSON_REAL:
        rc = sqlite3_bind_double(st, idx, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        rc = sqlite3_bind_int(st, idx, json_is_true(v));
        break;
    case JSON_NULL:
        rc = sqlite3_bind_null(st, idx);
        break;
    default:
        db_error_set(e, DB_ERR_PARAM, PY_PROGRAMMING, "ProgrammingError", "f405",
                     "Error binding parameter %d: type '%s' is not supported", idx,
                     json_is_array(v) ? "list" : "dict");
        return -1;
    }
    if (rc != SQLITE_OK) {
        db_error_set(e, DB_ERR_PARAM, PY_PROGRAMMING, "ProgrammingError", "f405",
                     "Error binding parameter %d: %s", idx, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

static void fill_row(db_cursor *cur, sqlite3_stmt *st)
{
    for (size_t i = 0; i < cur->ncols; i++) {
        db_value *v = &cur->row[i];
        int ci = (int)i;
        switch (sqlite3_column_type(st, ci)) {
        case SQLITE_INTEGER:
            v->kind = DBV_INT;
            v->i = sqlite3_column_int64(st, ci);
            break;
        case SQLITE_FLOAT:
            v->kind = DBV_FLOAT;
            v->f = sqlite3_column_double(st, ci);
            break;
        case SQLITE_TEXT: {
            const char *t = (const char *)sqlite3_column_text(st, ci);
            size_t n = (size_t)sqlite3_column_bytes(st, ci);
            if (utf8_valid(t, n)) {
                v->kind = DBV_TEXT;
                v->s = t;
                v->len = n;
            } else {
                /* Text that is not UTF-8 is shown with U+FFFD, not lost. */
                size_t start = cur->scratch.len;
                utf8_append_lossy(&cur->scratch, t, n);
                v->kind = DBV_OTHER;
                v->s = NULL; /* fixed below once scratch stops moving */
                v->i = (int64_t)start;
                v->len = cur->scratch.len - start;
            }
            break;
        }
        case SQLITE_BLOB:
            v->kind = DBV_BLOB;
            v->s = sqlite3_column_blob(st, ci);
            v->len = (size_t)sqlite3_column_bytes(st, ci);
            if (!v->s) /* an empty blob: SQLite gives NULL, readers want bytes */
                v->s = "";
            break;
        default:
            v->kind = DBV_NULL;
        }
    }
    for (size_t i = 0; i < cur->ncols; i++)
        if (cur->row[i].kind == DBV_OTHER && !cur->row[i].s)
            cur->row[i].s = cur->scratch.data + cur->row[i].i;
}

static int step_error(db_conn *c, sq_conn *sc, int rc, db_error *e)
{
    if (rc == SQLITE_INTERRUPT)
        return db_interrupted_error(c, e, PY_OPERATIONAL, "OperationalError", "e3q8",
                                    sqlite3_errmsg(sc->db));
    if (c->opts.read_only && (rc == SQLITE_READONLY || rc == SQLITE_AUTH)) {
        db_error_set(e, DB_ERR_READ_ONLY, PY_OPERATIONAL, "OperationalError", "e3q8",
                     "attempt to write a readonly database");
        return -1;
    }
    set_sqlite_error(e, rc, sqlite3_errmsg(sc->db));
    return -1;
}

static int sq_execute(db_conn *c, const db_bound *b, db_cursor *cur, db_error *e)
{
    sq_conn *sc = c->impl;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(sc->db, b->sql, -1, &st, &tail);
    if (rc != SQLITE_OK)
        return step_error(c, sc, rc, e);
    if (tail && lstrip_sql(tail)) {
        sqlite3_finalize(st);
        db_error_set(e, DB_ERR_SQL, PY_PROGRAMMING, "ProgrammingError", "f405",
                     "You can only execute one statement at a time.");
        return -1;
    }
    if (!st) { /* only whitespace and comments */
        cur->returns_rows = 0;
        cur->rowcount = -1;
        return 0;
    }
    if (c->opts.read_only && !sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        db_error_set(e, DB_ERR_READ_ONLY, PY_OPERATIONAL, "OperationalError", "e3q8",
                     "attempt to write a readonly database");
        return -1;
    }
    if ((size_t)sqlite3_bind_parameter_count(st) != b->nvalues) {
        /* A literal ? or ?NNN in the text: Python's sqlite3 refuses the
         * count mismatch the same way. */
        db_error_set(e, DB_ERR_PARAM, PY_PROGRAMMING, "ProgrammingError", "f405",
                     "Incorrect number of bindings supplied. The current statement uses %d, and "
                     "there are %zu supplied.",
                     sqlite3_bind_parameter_count(st), b->nvalues);
        sqlite3_finalize(st);
        return -1;
    }
    for (size_t i = 0; i < b->nvalues; i++)
        if (bind_value(st, (int)i + 1, b->values[i], e) != 0) {
            sqlite3_finalize(st);
            return -1;
        }
    int ncols = sqlite3_column_count(st);
    sq_cursor *sqc = xcalloc(1, sizeof *sqc);
    sqc->stmt = st;
    cur->impl = sqc;
    cur->ncols = (size_t)ncols;
    cur->colnames = xcalloc((size_t)(ncols ? ncols : 1), sizeof *cur->colnames);
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlite3_column_name(st, i);
        cur->colnames[i] = xstrdup(name ? name : "");
    }
    cur->row = xcalloc((size_t)(ncols ? ncols : 1), sizeof *cur->row);
    /* Step once now: errors of the statement belong to execute, and
     * statements without rows run to completion here. */
    int dml = is_dml(b->sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sqc->pending_row = 1;
    } else if (rc != SQLITE_DONE) {
        step_error(c, sc, rc, e);
        sqlite3_finalize(st);
        free(sqc);
        cur->impl = NULL;
        return -1;
    }
    cur->returns_rows = ncols > 0;
    cur->rowcount = dml ? (int64_t)sqlite3_changes(sc->db) : -1;
    if (!cur->returns_rows) {
        sqlite3_finalize(st);
        free(sqc);
        cur->impl = NULL;
    }
    return 0;
}

static int sq_next(db_cursor *cur, db_error *e)
{
    sq_cursor *sqc = cur->impl;
    if (!sqc)
        return 0;
    if (sqc->pending_row) {
        sqc->pending_row = 0;
        fill_row(cur, sqc->stmt);
        return 1;
    }
    int rc = sqlite3_step(sqc->stmt);
    if (rc == SQLITE_ROW) {
        fill_row(cur, sqc->stmt);
        return 1;
    }
    if (rc == SQLITE_DONE)
        return 0;
    return step_error(cur->conn, cur->conn->impl, rc, e);
}

static void sq_close(db_cursor *cur)
{
    sq_cursor *sqc = cur->impl;
    if (!sqc)
        return;
    sqlite3_finalize(sqc->stmt);
    free(sqc);
    cur->impl = NULL;
}

static void sq_interrupt(db_conn *c)
{
    sq_conn *sc = c->impl;
    if (sc)
        sqlite3_interrupt(sc->db);
}

const db_backend db_sqlite_backend = {
    .dialect = "sqlite",
    .placeholder = DB_PH_QMARK,
    .display_pyformat = 0,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .alive = sq_alive,
    .version = sq_version,
    .table_names = sq_table_names,
    .describe = sq_describe,
    .execute = sq_execute,
    .next = sq_next,
    .close = sq_close,
    .interrupt = sq_interrupt,
};
