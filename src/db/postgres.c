/* PostgreSQL backend, through libpq.
 *
 * It behaves like SQLAlchemy 2.0 over psycopg2 with AUTOCOMMIT, which is
 * what mcp-alchemy users see: the same connection parameters, values shown
 * as str() of psycopg2's Python values, errors named by psycopg2's class
 * for the SQLSTATE, and schema reflection that reports what SQLAlchemy's
 * PostgreSQL inspector reports.
 *
 * Unlike psycopg2 it sends one statement per call through the extended
 * protocol (the server refuses a second statement) and reads rows one at
 * a time (single-row mode), so a huge result never sits in memory and a
 * cursor closed early cancels the rest. Read-only mode runs each statement
 * inside BEGIN READ ONLY ... ROLLBACK. */
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "pg_internal.h"

#define PY_OPERATIONAL "psycopg2.OperationalError"
#define PY_PROGRAMMING "psycopg2.ProgrammingError"

/* Session settings that make the server's text predictable for the value
 * parsers (psycopg2 also insists on ISO dates). */
#define PG_SESSION_OPTIONS "-c DateStyle=ISO -c IntervalStyle=postgres -c bytea_output=hex"

typedef struct pg_conn {
    PGconn *conn;
    PGcancel *cancel; /* made at connect; PQcancel() is thread-safe */
    int lost;         /* the connection is known to be unusable */
} pg_conn;

typedef struct pg_cursor {
    PGresult *row_res; /* holds the current row's values */
    PGresult *pending; /* first row, read by execute */
    Oid *types;        /* ncols column type OIDs */
    int active;        /* results remain to be read */
} pg_cursor;

/* ---- errors ---- */

/* psycopg2's str(e): libpq's message without the leading severity. */
static const char *strip_severity(const char *msg)
{
    if (!msg)
        return "";
    if (strlen(msg) > 8 && (!strncmp(msg, "ERROR:  ", 8) || !strncmp(msg, "FATAL:  ", 8) ||
                            !strncmp(msg, "PANIC:  ", 8)))
        return msg + 8;
    return msg;
}

/* Fills e from a failed result (or, without one, from the connection),
 * the way psycopg2 raises and SQLAlchemy wraps. */
static int result_error(db_conn *c, PGresult *res, db_error *e)
{
    pg_conn *pc = c->impl;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(pc->conn);
    msg = strip_severity(msg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* a FATAL error means the server is closing the connection, even
     * before libpq has seen the socket close */
    const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
    int bad = PQstatus(pc->conn) == CONNECTION_BAD ||
              (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")));
    pg_errclass cls;
    pg_error_class(state, &cls);
    if (!state && !bad) {
        /* psycopg2 falls back to DatabaseError for a failure without a
         * SQLSTATE on a live connection */
        snprintf(cls.pyclass, sizeof cls.pyclass, "psycopg2.DatabaseError");
        cls.sa_class = "DatabaseError";
        cls.sa_code = "4xp6";
    }
    if (bad) {
        pc->lost = 1;
        db_error_set(e, DB_ERR_CONNECT, cls.pyclass, cls.sa_class, cls.sa_code, "%s",
                     *msg ? msg : "the connection to the server was lost\n");
        return -1;
    }
    if (state && !strcmp(state, "57014"))
        return db_interrupted_error(c, e, cls.pyclass, cls.sa_class, cls.sa_code, msg);
    db_error_set(e, state && !strcmp(state, "25006") ? DB_ERR_READ_ONLY : DB_ERR_SQL,
                 cls.pyclass, cls.sa_class, cls.sa_code, "%s", msg);
    return -1;
}

/* ---- connect ---- */

static void notice_receiver(void *arg, const PGresult *res)
{
    (void)arg;
    log_debug("postgresql: %s", PQresultErrorMessage(res));
}

static int known_keyword(const char *key)
{
    PQconninfoOption *opts = PQconndefaults();
    int found = 0;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, key))
            found = 1;
    PQconninfoFree(opts);
    return found;
}

static int pg_connect(db_conn *c, db_error *e)
{
    const db_url *u = &c->url;
    strlist_t keys, vals;
    strlist_init(&keys);
    strlist_init(&vals);
    char port[16];
    /* psycopg2 waits forever for an unreachable host; a bound keeps a
     * server responsive. The URL may set its own. */
    strlist_push(&keys, "connect_timeout");
    strlist_push(&vals, "10");
    if (u->host && *u->host) {
        strlist_push(&keys, "host");
        strlist_push(&vals, u->host);
    }
    if (u->port) {
        snprintf(port, sizeof port, "%d", u->port);
        strlist_push(&keys, "port");
        strlist_push(&vals, port);
    }
    if (u->user) {
        strlist_push(&keys, "user");
        strlist_push(&vals, u->user);
    }
    if (u->password) {
        strlist_push(&keys, "password");
        strlist_push(&vals, u->password);
    }
    if (u->database) {
        strlist_push(&keys, "dbname");
        strlist_push(&vals, u->database);
    }
    buf_t options;
    buf_init(&options);
    for (size_t i = 0; i < u->qkeys.len; i++) {
        const char *k = u->qkeys.items[i], *v = u->qvals.items[i];
        if (!known_keyword(k)) {
            /* psycopg2 checks the DSN before connecting */
            db_error_set(e, DB_ERR_CONNECT, PY_PROGRAMMING, "ProgrammingError", "f405",
                         "invalid dsn: invalid connection option \"%s\"\n", k);
            strlist_free(&keys);
            strlist_free(&vals);
            buf_free(&options);
            return -1;
        }
        if (!strcmp(k, "options")) {
            buf_printf(&options, "%s ", v);
            continue;
        }
        if (!strcmp(k, "client_encoding"))
            continue; /* we read UTF-8 whatever the URL asks */
        strlist_push(&keys, k);
        strlist_push(&vals, v);
    }
    buf_puts(&options, PG_SESSION_OPTIONS);
    if (c->isolation_level) { /* DB_ENGINE_OPTIONS isolation_level */
        buf_puts(&options, " -c default_transaction_isolation=");
        for (const char *p = c->isolation_level; *p; p++) {
            if (*p == ' ')
                buf_putc(&options, '\\'); /* libpq's escape for a space in options */
            buf_putc(&options, (char)tolower((unsigned char)*p));
        }
    }
    if (c->opts.read_only)
        buf_puts(&options, " -c default_transaction_read_only=on");
    strlist_push(&keys, "options");
    strlist_push(&vals, options.data);
    strlist_push(&keys, "client_encoding");
    strlist_push(&vals, "UTF8");
    buf_free(&options);

    const char **kw = xcalloc(keys.len + 1, sizeof *kw);
    const char **vv = xcalloc(keys.len + 1, sizeof *vv);
    for (size_t i = 0; i < keys.len; i++) {
        kw[i] = keys.items[i];
        vv[i] = vals.items[i];
    }
    PGconn *conn = PQconnectdbParams(kw, vv, 0);
    free(kw);
    free(vv);
    strlist_free(&keys);
    strlist_free(&vals);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        db_error_set(e, DB_ERR_CONNECT, PY_OPERATIONAL, "OperationalError", "e3q8", "%s",
                     conn ? PQerrorMessage(conn) : "out of memory\n");
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeReceiver(conn, notice_receiver, NULL);
    pg_conn *pc = xcalloc(1, sizeof *pc);
    pc->conn = conn;
    pc->cancel = PQgetCancel(conn);
    c->impl = pc;
    return 0;
}

static void pg_disconnect(db_conn *c)
{
    pg_conn *pc = c->impl;
    if (!pc)
        return;
    PQfreeCancel(pc->cancel);
    PQfinish(pc->conn);
    free(pc);
    c->impl = NULL;
}

static int pg_alive(db_conn *c)
{
    pg_conn *pc = c->impl;
    if (pc->lost || PQstatus(pc->conn) != CONNECTION_OK)
        return 0;
    /* A server that went away has closed the socket, often after a FATAL
     * message. Reading what is there notices it without a round trip: the
     * first read takes the message, the second meets the end of the
     * stream. */
    for (int i = 0; i < 2; i++)
        if (!PQconsumeInput(pc->conn))
            return 0;
    /* notifications after a LISTEN would pile up unread */
    PGnotify *n;
    while ((n = PQnotifies(pc->conn)) != NULL)
        PQfreemem(n);
    return PQstatus(pc->conn) == CONNECTION_OK;
}

/* ---- small internal queries ---- */

static PGresult *run_query(db_conn *c, const char *sql, int nparams, const char *const *params,
                           db_error *e)
{
    pg_conn *pc = c->impl;
    PGresult *r = PQexecParams(pc->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (!r || (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)) {
        result_error(c, r, e);
        PQclear(r);
        return NULL;
    }
    return r;
}

static const char *cell(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* server_version_info as SQLAlchemy finds it in version():
 * .*(?:PostgreSQL|EnterpriseDB) (\d+)\.?(\d+)?(?:\.(\d+))? - the greedy
 * .* picks the last mention. */
static int pg_version(db_conn *c, buf_t *out, db_error *e)
{
    PGresult *r = run_query(c, "select pg_catalog.version()", 0, NULL, e);
    if (!r)
        return -1;
    const char *v = cell(r, 0, 0);
    const char *at = NULL;
    static const char *names[] = {"PostgreSQL ", "EnterpriseDB "};
    for (const char *p = v; p && *p; p++)
        for (size_t k = 0; k < ARRAY_LEN(names); k++) {
            size_t nl = strlen(names[k]);
            if (!strncmp(p, names[k], nl) && isdigit((unsigned char)p[nl]))
                at = p + nl;
        }
    if (!at) {
        db_error_set(e, DB_ERR_SQL, "AssertionError", "", "",
                     "Could not determine version from string '%s'", v ? v : "");
        PQclear(r);
        return -1;
    }
    const char *p = at;
    while (isdigit((unsigned char)*p))
        buf_putc(out, *p++);
    if (*p == '.')
        p++;
    if (isdigit((unsigned char)*p)) {
        buf_putc(out, '.');
        while (isdigit((unsigned char)*p))
            buf_putc(out, *p++);
    }
    if (*p == '.' && isdigit((unsigned char)p[1])) {
        buf_putc(out, '.');
        p++;
        while (isdigit((unsigned char)*p))
            buf_putc(out, *p++);
    }
    PQclear(r);
    return 0;
}

/* get_table_names(): ordinary and partitioned tables visible on the
 * search path, temporary ones and pg_catalog left out. */
static int pg_table_names(db_conn *c, strlist_t *out, db_error *e)
{
    PGresult *r = run_query(c,
                            "SELECT c.relname FROM pg_catalog.pg_class c "
                            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relkind IN ('r', 'p') AND c.relpersistence != 't' "
                            "AND pg_catalog.pg_table_is_visible(c.oid) "
                            "AND n.nspname != 'pg_catalog'",
                            0, NULL, e);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        strlist_push(out, PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

/* ---- reflection, as sqlalchemy.dialects.postgresql.base does it ---- */

/* str() of a reflected type. SQLAlchemy compiles it with its generic
 * string dialect (StrCompileDialect), not PostgreSQL's: TIMESTAMP and TIME
 * print without their time zone, ARRAY without its item type, an ENUM as
 * the VARCHAR of its longest label, a DOMAIN as DOMAIN, and any type
 * _reflect_type() does not know as NULL (NullType). */
typedef struct col_type {
    const char *format_type; /* format_type(atttypid, atttypmod) */
    char kind;               /* 'e' enum, 'd' domain (the element's, for arrays) */
    long enum_len;           /* longest label in code points, -1 for none */
} col_type;

/* Appends the type text; returns 1 for an Integer type (autoincrement
 * applies), 2 for a DOMAIN (its default and NOT NULL apply), 0 else. */
static int reflect_type(buf_t *out, const col_type *ct)
{
    /* _reflect_type(): the arguments are the text in the outermost
     * parentheses, split at commas; trailing [] make an ARRAY */
    const char *ft = ct->format_type;
    const char *lp = strchr(ft, '('), *rp = strrchr(ft, ')');
    long args[4];
    size_t nargs = 0;
    int first_numeric = 0;
    buf_t attype;
    buf_init(&attype);
    if (lp && rp && rp > lp) {
        const char *p = lp + 1;
        while (p < rp && nargs < ARRAY_LEN(args)) {
            while (p < rp && isspace((unsigned char)*p))
                p++;
            char *endp;
            args[nargs] = strtol(p, &endp, 10);
            if (nargs == 0)
                first_numeric = endp != p;
            nargs++;
            const char *comma = memchr(p, ',', (size_t)(rp - p));
            p = comma ? comma + 1 : rp;
        }
        buf_append(&attype, ft, (size_t)(lp - ft));
        buf_puts(&attype, rp + 1);
    } else {
        buf_puts(&attype, ft);
    }
    int is_array = 0;
    while (attype.len >= 2 && !strcmp(attype.data + attype.len - 2, "[]")) {
        attype.len -= 2;
        attype.data[attype.len] = 0;
        is_array = 1;
    }
    const char *t = attype.data ? attype.data : "";
    /* ischema_names, by the class name or generic text each type prints */
    static const struct { const char *pg, *str; int affinity; } names[] = {
        {"integer", "INTEGER", 1}, {"bigint", "BIGINT", 1}, {"smallint", "SMALLINT", 1},
        {"character varying", "VARCHAR", 0}, {"character", "CHAR", 0}, {"\"char\"", "VARCHAR", 0},
        {"name", "VARCHAR", 0}, {"text", "TEXT", 0}, {"numeric", "NUMERIC", 0},
        {"float", "FLOAT", 0}, {"real", "REAL", 0}, {"double precision", "DOUBLE PRECISION", 0},
        {"inet", "INET", 0}, {"cidr", "CIDR", 0}, {"citext", "CITEXT", 0}, {"uuid", "UUID", 0},
        {"bit", "BIT", 0}, {"bit varying", "BIT", 0}, {"macaddr", "MACADDR", 0},
        {"macaddr8", "MACADDR8", 0}, {"money", "MONEY", 0}, {"oid", "OID", 0},
        {"regclass", "REGCLASS", 0}, {"timestamp", "TIMESTAMP", 0},
        {"timestamp with time zone", "TIMESTAMP", 0},
        {"timestamp without time zone", "TIMESTAMP", 0},
        {"time with time zone", "TIME", 0}, {"time without time zone", "TIME", 0},
        {"time", "TIME", 0}, {"date", "DATE", 0}, {"bytea", "BYTEA", 0},
        {"boolean", "BOOLEAN", 0}, {"tsvector", "TSVECTOR", 0}, {"tsquery", "TSQUERY", 0},
        {"json", "JSON", 0}, {"jsonb", "JSONB", 0}, {"hstore", "HSTORE", 0},
        {"int4range", "INT4RANGE", 0}, {"int8range", "INT8RANGE", 0}, {"numrange", "NUMRANGE", 0},
        {"daterange", "DATERANGE", 0}, {"tsrange", "TSRANGE", 0}, {"tstzrange", "TSTZRANGE", 0},
        {"int4multirange", "INT4MULTIRANGE", 0}, {"int8multirange", "INT8MULTIRANGE", 0},
        {"nummultirange", "NUMMULTIRANGE", 0}, {"datemultirange", "DATEMULTIRANGE", 0},
        {"tsmultirange", "TSMULTIRANGE", 0}, {"tstzmultirange", "TSTZMULTIRANGE", 0},
    };
    int affinity = 0;
    buf_t one;
    buf_init(&one);
    if (ct->kind == 'e') {
        buf_puts(&one, "VARCHAR");
        if (ct->enum_len > 0)
            buf_printf(&one, "(%ld)", ct->enum_len);
    } else if (ct->kind == 'd') {
        buf_puts(&one, "DOMAIN");
        affinity = 2;
    } else if (!strncmp(t, "interval", 8)) {
        buf_puts(&one, "INTERVAL");
    } else {
        for (size_t i = 0; i < ARRAY_LEN(names); i++) {
            if (strcasecmp(t, names[i].pg) != 0)
                continue;
            buf_puts(&one, names[i].str);
            affinity = names[i].affinity;
            if (!strcmp(t, "numeric") && nargs == 2)
                buf_printf(&one, "(%ld, %ld)", args[0], args[1]);
            else if ((!strcmp(names[i].str, "VARCHAR") || !strcmp(names[i].str, "CHAR") ||
                      !strcmp(names[i].str, "TEXT")) &&
                     nargs >= 1 && first_numeric && args[0])
                buf_printf(&one, "(%ld)", args[0]); /* the length */
            break;
        }
    }
    buf_free(&attype);
    if (!one.len) {
        /* "Did not recognize type": NullType, not wrapped in ARRAY */
        buf_puts(out, "NULL");
        buf_free(&one);
        return 0;
    }
    if (is_array) {
        buf_puts(out, "ARRAY");
        buf_free(&one);
        return 0;
    }
    buf_append(out, one.data, one.len);
    buf_free(&one);
    return affinity;
}

/* The column query of get_multi_columns(), for one relation visible on
 * the search path, with the facts about enum and domain types added. */
static const char columns_sql[] =
    "SELECT c.oid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
    " (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d "
    "   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef), "
    " a.attnotnull, a.attgenerated, "
    " (SELECT pg_catalog.json_build_object('always', a.attidentity = 'a', "
    "    'start', s.seqstart, 'increment', s.seqincrement, 'minvalue', s.seqmin, "
    "    'maxvalue', s.seqmax, 'cache', s.seqcache, 'cycle', s.seqcycle) "
    "   FROM pg_catalog.pg_sequence s WHERE a.attidentity != '' AND s.seqrelid = "
    "    CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(a.attrelid AS REGCLASS) AS TEXT),"
    "      a.attname) AS REGCLASS) AS OID)), "
    " t.typtype, (SELECT max(char_length(e.enumlabel)) FROM pg_catalog.pg_enum e "
    "   WHERE e.enumtypid = t.oid), t.typnotnull, t.typdefault "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a "
    "  ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_catalog.pg_type at ON at.oid = a.atttypid "
    "LEFT JOIN pg_catalog.pg_type t ON t.oid = CASE WHEN at.typelem != 0 AND at.typlen = -1 "
    "  AND at.typcategory = 'A' THEN at.typelem ELSE at.oid END "
    "WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'f', 'v', 'm') "
    "AND pg_catalog.pg_table_is_visible(c.oid) AND n.nspname != 'pg_catalog' "
    "ORDER BY a.attnum";

/* Primary key columns in key order. */
static const char pk_sql[] =
    "SELECT a.attname FROM pg_catalog.pg_constraint con "
    "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
    "WHERE con.conrelid = $1::oid AND con.contype = 'p' ORDER BY k.ord";

/* Foreign keys by constraint name (get_multi_foreign_keys() orders so),
 * one row per column pair. */
static const char fk_sql[] =
    "SELECT con.conname, ref.relname, a.attname, ra.attname "
    "FROM pg_catalog.pg_constraint con "
    "JOIN pg_catalog.pg_class ref ON ref.oid = con.confrelid "
    "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
    "JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum "
    "WHERE con.conrelid = $1::oid AND con.contype = 'f' ORDER BY con.conname, k.ord";

static void push_extra(db_column *col, const char *key, const char *value_repr)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s=%s", key, value_repr);
    strlist_push(&col->extras, b.data);
    buf_free(&b);
}

static int pg_describe(db_conn *c, const char *table, db_table *t, db_error *e)
{
    const char *params[1] = {table};
    PGresult *r = run_query(c, columns_sql, 1, params, e);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 1; /* NoSuchTableError */
    }
    char oid[32];
    snprintf(oid, sizeof oid, "%s", PQgetvalue(r, 0, 0));
    buf_t type, extra;
    buf_init(&type);
    buf_init(&extra);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = cell(r, i, 1);
        if (!name)
            continue; /* a table without columns */
        const char *fmt = cell(r, i, 2);
        const char *dflt = cell(r, i, 3);
        int nullable = strcmp(PQgetvalue(r, i, 4), "t") != 0;
        const char *generated = cell(r, i, 5);
        const char *identity = cell(r, i, 6);
        col_type ct = {fmt, 0, -1};
        const char *typtype = cell(r, i, 7);
        if (typtype && (*typtype == 'e' || *typtype == 'd'))
            ct.kind = *typtype;
        if (cell(r, i, 8))
            ct.enum_len = strtol(cell(r, i, 8), NULL, 10);
        buf_reset(&type);
        int affinity = 0;
        if (fmt)
            affinity = reflect_type(&type, &ct);
        else
            buf_puts(&type, "NULL");
        if (affinity == 2) {
            /* a DOMAIN lends its default and NOT NULL */
            if ((!dflt || !*dflt) && cell(r, i, 10))
                dflt = cell(r, i, 10);
            if (!strcmp(PQgetvalue(r, i, 9), "t"))
                nullable = 0;
        }
        int computed = generated && *generated;
        const char *computed_text = computed ? dflt : NULL;
        if (computed)
            dflt = NULL;
        int autoincrement = identity != NULL;
        if (dflt && affinity == 1) {
            /* re.search(r"(nextval\(')([^']+)('.*$)", default) */
            const char *nv = strstr(dflt, "nextval('");
            if (nv && nv[9] && nv[9] != '\'' && strchr(nv + 10, '\''))
                autoincrement = 1;
        }
        db_column *col = db_table_add_column(t, name, type.data);
        /* the dict items after name and type, in order, shown when truthy;
         * "comment" is dropped by mcp-alchemy */
        if (nullable)
            strlist_push(&col->extras, "nullable");
        if (dflt && *dflt)
            push_extra(col, "default", dflt);
        if (autoincrement)
            strlist_push(&col->extras, "autoincrement");
        if (computed) {
            buf_reset(&extra);
            buf_puts(&extra, "{'sqltext': ");
            if (computed_text)
                py_str_repr(&extra, computed_text, strlen(computed_text));
            else
                buf_puts(&extra, "None");
            buf_printf(&extra, ", 'persisted': %s}", !strcmp(generated, "s") ? "True" : "False");
            push_extra(col, "computed", extra.data);
        }
        if (identity) {
            buf_reset(&extra);
            if (pg_json_pyrepr(&extra, identity, strlen(identity), 0) != 0)
                buf_puts(&extra, identity);
            push_extra(col, "identity", extra.data);
        }
    }
    PQclear(r);
    buf_free(&type);
    buf_free(&extra);

    const char *oparams[1] = {oid};
    r = run_query(c, pk_sql, 1, oparams, e);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        strlist_push(&t->pk, PQgetvalue(r, i, 0));
    PQclear(r);

    r = run_query(c, fk_sql, 1, oparams, e);
    if (!r)
        return -1;
    db_fkey *fk = NULL;
    const char *conname = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (!conname || strcmp(conname, PQgetvalue(r, i, 0)) != 0) {
            conname = PQgetvalue(r, i, 0);
            fk = db_table_add_fkey(t, PQgetvalue(r, i, 1));
        }
        strlist_push(&fk->cols, PQgetvalue(r, i, 2));
        strlist_push(&fk->ref_cols, PQgetvalue(r, i, 3));
    }
    PQclear(r);
    return 0;
}

/* ---- parameters: JSON values as psycopg2 would adapt them ---- */

enum { OID_BOOL = 16, OID_INT8 = 20, OID_FLOAT8 = 701, OID_BOOL_ARRAY = 1000,
       OID_TEXT_ARRAY = 1009, OID_INT8_ARRAY = 1016, OID_FLOAT8_ARRAY = 1022 };

enum { LEAF_INT = 1, LEAF_REAL = 2, LEAF_STR = 4, LEAF_BOOL = 8, LEAF_NULL = 16, LEAF_DICT = 32 };

static int array_leaves(json_t *a)
{
    int kinds = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i);
        switch (json_typeof(x)) {
        case JSON_ARRAY: kinds |= array_leaves(x); break;
        case JSON_OBJECT: kinds |= LEAF_DICT; break;
        case JSON_INTEGER: kinds |= LEAF_INT; break;
        case JSON_REAL: kinds |= LEAF_REAL; break;
        case JSON_STRING: kinds |= LEAF_STR; break;
        case JSON_TRUE: case JSON_FALSE: kinds |= LEAF_BOOL; break;
        case JSON_NULL: kinds |= LEAF_NULL; break;
        }
    }
    return kinds;
}

/* A PostgreSQL array literal: {1,"two",NULL,{3}} */
static void array_literal(buf_t *out, json_t *a)
{
    buf_putc(out, '{');
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i);
        if (i)
            buf_putc(out, ',');
        switch (json_typeof(x)) {
        case JSON_ARRAY: array_literal(out, x); break;
        case JSON_INTEGER: buf_printf(out, "%lld", (long long)json_integer_value(x)); break;
        case JSON_REAL: py_float_repr(out, json_real_value(x)); break;
        case JSON_TRUE: buf_putc(out, 't'); break;
        case JSON_FALSE: buf_putc(out, 'f'); break;
        case JSON_STRING: {
            const char *s = json_string_value(x);
            buf_putc(out, '"');
            for (size_t k = 0; k < json_string_length(x); k++) {
                if (s[k] == '"' || s[k] == '\\')
                    buf_putc(out, '\\');
                buf_putc(out, s[k]);
            }
            buf_putc(out, '"');
            break;
        }
        default: buf_puts(out, "NULL"); break;
        }
    }
    buf_putc(out, '}');
}

static int has_nul(json_t *v)
{
    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v);
    if (json_is_array(v))
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_nul(json_array_get(v, i)))
                return 1;
    return 0;
}

/* Text and type of one parameter; *text NULL for SQL NULL. */
static int param_value(json_t *v, char **text, Oid *type, db_error *e)
{
    buf_t b;
    buf_init(&b);
    *text = NULL;
    *type = 0;
    if (json_is_object(v) || (json_is_array(v) && (array_leaves(v) & LEAF_DICT))) {
        db_error_set(e, DB_ERR_SQL, PY_PROGRAMMING, "ProgrammingError", "f405",
                     "can't adapt type 'dict'");
        return -1;
    }
    if (has_nul(v)) {
        db_error_set(e, DB_ERR_PARAM, "", "", "",
                     "A string literal cannot contain NUL (0x00) characters.");
        return -1;
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        /* untyped, as psycopg2's quoted literal: the server infers it */
        *text = xstrdup(json_string_value(v));
        return 0;
    case JSON_INTEGER:
        buf_printf(&b, "%lld", (long long)json_integer_value(v));
        *type = OID_INT8;
        break;
    case JSON_REAL:
        py_float_repr(&b, json_real_value(v));
        *type = OID_FLOAT8;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        buf_puts(&b, json_is_true(v) ? "true" : "false");
        *type = OID_BOOL;
        break;
    case JSON_ARRAY: {
        int k = array_leaves(v) & ~LEAF_NULL;
        if (k == LEAF_INT)
            *type = OID_INT8_ARRAY;
        else if (k == (LEAF_INT | LEAF_REAL) || k == LEAF_REAL)
            *type = OID_FLOAT8_ARRAY;
        else if (k == LEAF_STR)
            *type = OID_TEXT_ARRAY;
        else if (k == LEAF_BOOL)
            *type = OID_BOOL_ARRAY;
        array_literal(&b, v);
        break;
    }
    default:
        return 0; /* null */
    }
    *text = buf_take(&b);
    return 0;
}

/* ---- statements ---- */

/* Reads what remains of the statement's results, so the connection is
 * ready for the next one. COPY is ended rather than served. */
static void drain(pg_conn *pc)
{
    PGresult *r;
    while ((r = PQgetResult(pc->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_OUT) {
            char *buf;
            while (PQgetCopyData(pc->conn, &buf, 0) > 0)
                PQfreemem(buf);
        } else if (st == PGRES_COPY_IN) {
            PQputCopyEnd(pc->conn, "COPY FROM STDIN is not supported");
        } else if (st == PGRES_COPY_BOTH) {
            pc->lost = 1; /* replication streams are not ours to end */
            break;
        }
        if (PQstatus(pc->conn) == CONNECTION_BAD)
            break;
    }
}

/* drain() for a statement we have just cancelled, but within budget_ms:
 * the rows already on their way (a socket buffer's worth) are read and
 * dropped; if that takes longer, the connection is given up instead and
 * the next call opens a new one. 0 when drained. */
static int drain_within(pg_conn *pc, long budget_ms)
{
    uint64_t deadline = time_now_ns() + (uint64_t)budget_ms * 1000000u;
    for (;;) {
        int n = 0;
        while (!PQisBusy(pc->conn)) {
            PGresult *r = PQgetResult(pc->conn);
            if (!r)
                return 0;
            ExecStatusType st = PQresultStatus(r);
            PQclear(r);
            if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
                return -1;
            if (++n % 1024 == 0 && time_now_ns() >= deadline)
                return -1;
        }
        uint64_t now = time_now_ns();
        if (now >= deadline)
            return -1;
        struct pollfd pfd = {PQsocket(pc->conn), POLLIN, 0};
        int wait_ms = (int)((deadline - now) / 1000000u) + 1;
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
            return -1;
        if (!PQconsumeInput(pc->conn))
            return -1;
    }
}

/* Ends the statement's transaction: ours in read-only mode, or one the
 * statement itself opened (mcp-alchemy takes a fresh connection per call,
 * so a BEGIN never outlives its call there either). Always ROLLBACK: a
 * read-only transaction has nothing to keep, and some writes are allowed
 * in one (lo_create() on PostgreSQL 15) that must not be committed. */
static void end_transaction(db_conn *c)
{
    pg_conn *pc = c->impl;
    if (pc->lost || PQstatus(pc->conn) != CONNECTION_OK)
        return;
    PGTransactionStatusType ts = PQtransactionStatus(pc->conn);
    if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)
        return;
    PQclear(PQexec(pc->conn, "ROLLBACK"));
}

static void setup_columns(db_cursor *cur, PGresult *r)
{
    pg_cursor *pgc = cur->impl;
    int n = PQnfields(r);
    cur->ncols = (size_t)n;
    cur->colnames = xcalloc((size_t)(n ? n : 1), sizeof *cur->colnames);
    cur->row = xcalloc((size_t)(n ? n : 1), sizeof *cur->row);
    pgc->types = xcalloc((size_t)(n ? n : 1), sizeof *pgc->types);
    for (int i = 0; i < n; i++) {
        cur->colnames[i] = xstrdup(PQfname(r, i));
        pgc->types[i] = PQftype(r, i);
    }
}

static void free_cursor_impl(db_cursor *cur)
{
    pg_cursor *pgc = cur->impl;
    if (!pgc)
        return;
    PQclear(pgc->row_res);
    PQclear(pgc->pending);
    free(pgc->types);
    free(pgc);
    cur->impl = NULL;
}

static int pg_execute(db_conn *c, const db_bound *b, db_cursor *cur, db_error *e)
{
    pg_conn *pc = c->impl;
    int n = (int)b->nvalues;
    char **values = xcalloc((size_t)(n ? n : 1), sizeof *values);
    Oid *types = xcalloc((size_t)(n ? n : 1), sizeof *types);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = param_value(b->values[i], &values[i], &types[i], e);
    if (rc == 0 && c->opts.read_only) {
        PGresult *r = PQexec(pc->conn, "BEGIN TRANSACTION READ ONLY");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = result_error(c, r, e);
        PQclear(r);
    }
    if (rc == 0 && !PQsendQueryParams(pc->conn, b->sql, n, types, (const char *const *)values,
                                      NULL, NULL, 0)) {
        rc = result_error(c, NULL, e);
        end_transaction(c);
    }
    for (int i = 0; i < n; i++)
        free(values[i]);
    free(values);
    free(types);
    if (rc != 0)
        return -1;
    PQsetSingleRowMode(pc->conn);

    pg_cursor *pgc = xcalloc(1, sizeof *pgc);
    cur->impl = pgc;
    PGresult *r = PQgetResult(pc->conn);
    ExecStatusType st = PQresultStatus(r);
    const char *refusal = NULL;
    switch (st) {
    case PGRES_SINGLE_TUPLE:
        setup_columns(cur, r);
        cur->returns_rows = 1;
        pgc->pending = r;
        pgc->active = 1;
        return 0;
    case PGRES_TUPLES_OK: /* no rows */
        setup_columns(cur, r);
        cur->returns_rows = 1;
        cur->rowcount = 0;
        PQclear(r);
        drain(pc);
        end_transaction(c);
        return 0;
    case PGRES_COMMAND_OK: {
        const char *ct = PQcmdTuples(r);
        cur->returns_rows = 0;
        cur->rowcount = *ct ? strtoll(ct, NULL, 10) : -1;
        PQclear(r);
        drain(pc);
        end_transaction(c);
        return 0;
    }
    case PGRES_EMPTY_QUERY:
        refusal = "can't execute an empty query";
        break;
    case PGRES_COPY_OUT:
        refusal = "can't execute COPY TO: use the copy_to() method instead";
        break;
    case PGRES_COPY_IN:
        refusal = "can't execute COPY FROM: use the copy_from() method instead";
        break;
    default:
        result_error(c, r, e);
        break;
    }
    if (refusal)
        db_error_set(e, DB_ERR_SQL, PY_PROGRAMMING, "ProgrammingError", "f405", "%s", refusal);
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
        /* drain() ends the copy when it sees its status again */
        if (st == PGRES_COPY_IN)
            PQputCopyEnd(pc->conn, "COPY FROM STDIN is not supported");
        else if (st == PGRES_COPY_BOTH)
            pc->lost = 1;
    }
    PQclear(r);
    if (!pc->lost)
        drain(pc);
    end_transaction(c);
    free_cursor_impl(cur);
    return -1;
}

static int fill_row(db_cursor *cur, PGresult *r, db_error *e)
{
    pg_cursor *pgc = cur->impl;
    for (size_t i = 0; i < cur->ncols; i++) {
        db_value *v = &cur->row[i];
        int ci = (int)i;
        if (PQgetisnull(r, 0, ci)) {
            memset(v, 0, sizeof *v);
            v->kind = DBV_NULL;
            continue;
        }
        char err[256];
        if (pg_value_from_text(pgc->types[i], PQgetvalue(r, 0, ci), (size_t)PQgetlength(r, 0, ci),
                               v, &cur->scratch, err, sizeof err) != 0) {
            /* a Python ValueError, not wrapped by SQLAlchemy */
            db_error_set(e, DB_ERR_SQL, "", "", "", "%s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < cur->ncols; i++)
        if ((cur->row[i].kind == DBV_OTHER || cur->row[i].kind == DBV_BLOB) && !cur->row[i].s)
            cur->row[i].s = cur->scratch.data + cur->row[i].i;
    return 0;
}

static int pg_next(db_cursor *cur, db_error *e)
{
    pg_cursor *pgc = cur->impl;
    if (!pgc)
        return 0;
    db_conn *c = cur->conn;
    pg_conn *pc = c->impl;
    PQclear(pgc->row_res);
    pgc->row_res = NULL;
    if (!pgc->active)
        return 0;
    PGresult *r = pgc->pending;
    pgc->pending = NULL;
    if (!r)
        r = PQgetResult(pc->conn);
    ExecStatusType st = PQresultStatus(r);
    if (r && st == PGRES_SINGLE_TUPLE) {
        pgc->row_res = r;
        if (fill_row(cur, r, e) != 0)
            return -1; /* close() stops the statement */
        return 1;
    }
    pgc->active = 0;
    if (!r || st == PGRES_TUPLES_OK) {
        PQclear(r);
        drain(pc);
        end_transaction(c);
        return 0;
    }
    result_error(c, r, e);
    PQclear(r);
    if (!pc->lost)
        drain(pc);
    end_transaction(c);
    return -1;
}

static void pg_close(db_cursor *cur)
{
    pg_cursor *pgc = cur->impl;
    if (!pgc)
        return;
    db_conn *c = cur->conn;
    pg_conn *pc = c->impl;
    PQclear(pgc->row_res);
    pgc->row_res = NULL;
    PQclear(pgc->pending);
    pgc->pending = NULL;
    if (pgc->active && pc && !pc->lost) {
        /* rows remain: stop the statement rather than read them all */
        char err[256];
        if (pc->cancel && !PQcancel(pc->cancel, err, sizeof err))
            log_warn("could not cancel the PostgreSQL statement: %s", err);
        if (drain_within(pc, 500) != 0) {
            log_debug("postgresql: dropping the connection rather than reading the rest of a "
                      "cancelled statement");
            pc->lost = 1;
        }
        end_transaction(c);
    }
    pgc->active = 0;
    free_cursor_impl(cur);
}

static void pg_interrupt(db_conn *c)
{
    pg_conn *pc = c->impl;
    char err[256];
    if (pc && pc->cancel && !PQcancel(pc->cancel, err, sizeof err))
        log_warn("could not cancel the PostgreSQL statement: %s", err);
}

const db_backend db_postgres_backend = {
    .dialect = "postgresql",
    .placeholder = DB_PH_DOLLAR,
    .display_pyformat = 1,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .alive = pg_alive,
    .version = pg_version,
    .table_names = pg_table_names,
    .describe = pg_describe,
    .execute = pg_execute,
    .next = pg_next,
    .close = pg_close,
    .interrupt = pg_interrupt,
};
