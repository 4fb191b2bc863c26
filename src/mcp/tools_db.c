/* The four database tools of mcp-alchemy, with its names, schemas,
 * descriptions and text output byte for byte (as of its 2025.8.15 fix
 * release, which shows the driver's message in errors). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp.h"

typedef struct db_tools {
    db_conn *conn;
    mcp_db_config cfg;
    char *local_files_path;
} db_tools;

/* ---- descriptions ---- */

static char *with_info(db_tools *t, const char *head)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s %s", head, db_info_line(t->conn));
    return buf_take(&b);
}

static char *desc_all_tables(void *ud)
{
    return with_info(ud, "Return all table names in the database separated by comma.");
}

static char *desc_filter_tables(void *ud)
{
    return with_info(ud, "Return all table names in the database containing the substring 'q' "
                         "separated by comma.");
}

static char *desc_schema(void *ud)
{
    return with_info(ud, "Returns schema and relation information for the given tables.");
}

static char *desc_execute(void *ud)
{
    db_tools *t = ud;
    buf_t b;
    buf_init(&b);
    buf_printf(&b,
               "Execute a SQL query and return results in a readable format. Results will be "
               "truncated after %ld characters.",
               t->cfg.max_chars);
    if (t->cfg.local_files_path)
        buf_puts(&b, " Claude Desktop may fetch the full result set via an url for analysis and "
                     "artifacts.");
    buf_puts(&b, " IMPORTANT: You MUST use the params parameter for query parameter substitution "
                 "(e.g. 'WHERE id = :id' with params={'id': 123}) to prevent SQL injection. "
                 "Direct string concatenation is a serious security risk.");
    buf_printf(&b, " %s", db_info_line(t->conn));
    return buf_take(&b);
}

/* ---- input schemas, as FastMCP derives them from the Python signatures ---- */

static json_t *schema_none(void *ud)
{
    (void)ud;
    return json_pack("{s:{}, s:s, s:s}", "properties", "title", "all_table_namesArguments", "type",
                     "object");
}

static json_t *schema_filter(void *ud)
{
    (void)ud;
    return json_pack("{s:{s:{s:s, s:s}}, s:[s], s:s, s:s}", "properties", "q", "title", "Q", "type",
                     "string", "required", "q", "title", "filter_table_namesArguments", "type",
                     "object");
}

static json_t *schema_schema(void *ud)
{
    (void)ud;
    return json_pack("{s:{s:{s:{s:s}, s:s, s:s}}, s:[s], s:s, s:s}", "properties", "table_names",
                     "items", "type", "string", "title", "Table Names", "type", "array",
                     "required", "table_names", "title", "schema_definitionsArguments", "type",
                     "object");
}

static json_t *schema_execute(void *ud)
{
    (void)ud;
    return json_pack("{s:{s:{s:s, s:s}, s:{s:b, s:{}, s:s, s:s}}, s:[s], s:s, s:s}", "properties",
                     "query", "title", "Query", "type", "string", "params", "additionalProperties",
                     1, "default", "title", "Params", "type", "object", "required", "query",
                     "title", "execute_queryArguments", "type", "object");
}

static json_t *annotations_read(void *ud)
{
    (void)ud;
    return json_pack("{s:b, s:b, s:b}", "readOnlyHint", 1, "destructiveHint", 0, "idempotentHint", 1);
}

static json_t *annotations_execute(void *ud)
{
    db_tools *t = ud;
    int ro = db_read_only(t->conn);
    return json_pack("{s:b, s:b, s:b}", "readOnlyHint", ro, "destructiveHint", !ro,
                     "idempotentHint", ro);
}

/* ---- error text: "Error: " then str() of SQLAlchemy's exception ---- */

static void append_sa_error(buf_t *out, const db_error *e, const char *statement, json_t *params,
                            db_conn *conn, const char *display_sql)
{
    buf_puts(out, "Error: ");
    if (e->pyclass[0])
        buf_printf(out, "(%s) ", e->pyclass);
    buf_puts(out, e->message);
    /* Errors raised outside the driver (a Python ValueError while
     * converting a value) are not SQLAlchemy statement errors: no [SQL]. */
    if (statement && e->kind != DB_ERR_CONNECT && e->pyclass[0]) {
        buf_printf(out, "\n[SQL: %s]", display_sql ? display_sql : statement);
        if (params && json_object_size(params) && e->kind != DB_ERR_PARAM &&
            db_hide_parameters(conn)) {
            buf_puts(out, "\n[SQL parameters hidden due to hide_parameters=True]");
        } else if (params && json_object_size(params) && e->kind != DB_ERR_PARAM) {
            buf_puts(out, "\n[parameters: ");
            /* psycopg2 takes the dict; the others a tuple in order. */
            if (!strcmp(db_dialect(conn), "postgresql")) {
                db_json_pyrepr(out, params);
            } else {
                db_bound b;
                db_error ignore;
                if (db_bind_params(statement, params, DB_PH_QMARK, 0,
                                   !strcmp(db_dialect(conn), "sqlite"), &b, &ignore) == 0) {
                    buf_putc(out, '(');
                    for (size_t i = 0; i < b.nvalues; i++) {
                        if (i)
                            buf_puts(out, ", ");
                        db_json_pyrepr(out, b.values[i]);
                    }
                    buf_puts(out, b.nvalues == 1 ? ",)" : ")");
                    db_bound_free(&b);
                } else {
                    buf_puts(out, "()");
                }
            }
            buf_putc(out, ']');
        }
    }
    if (e->sa_code[0])
        buf_printf(out, "\n(Background on this error at: https://sqlalche.me/e/20/%s)", e->sa_code);
}

static void db_error_text(buf_t *out, db_conn *conn, const db_error *e, const char *sql,
                          json_t *params)
{
    char *disp = sql ? db_display_sql(sql, !strcmp(db_dialect(conn), "postgresql"),
                                      !strcmp(db_dialect(conn), "sqlite"))
                     : NULL;
    append_sa_error(out, e, sql, params, conn, disp);
    free(disp);
}

/* ---- table tools ---- */

/* Table names joined by ", ", those containing q when q is not NULL. */
static int list_tables(db_tools *t, const char *q, buf_t *text)
{
    strlist_t names;
    db_error e;
    if (db_table_names(t->conn, &names, &e) != 0) {
        db_error_text(text, t->conn, &e, NULL, NULL);
        strlist_free(&names);
        return 1;
    }
    int first = 1;
    for (size_t i = 0; i < names.len; i++)
        if (!q || strstr(names.items[i], q)) {
            buf_printf(text, "%s%s", first ? "" : ", ", names.items[i]);
            first = 0;
        }
    strlist_free(&names);
    return 0;
}

static int call_all_tables(void *ud, const mcp_call *call, json_t *args, buf_t *text)
{
    (void)call, (void)args;
    return list_tables(ud, NULL, text);
}

static int call_filter_tables(void *ud, const mcp_call *call, json_t *args, buf_t *text)
{
    (void)call;
    return list_tables(ud, json_string_value(json_object_get(args, "q")), text);
}

static void format_table(buf_t *out, const db_table *tb)
{
    buf_printf(out, "%s:", tb->name);
    for (size_t i = 0; i < tb->ncols; i++) {
        const db_column *c = &tb->cols[i];
        buf_printf(out, "\n    %s: ", c->name);
        if (strlist_index(&tb->pk, c->name) >= 0)
            buf_puts(out, "primary key, ");
        buf_puts(out, c->type);
        for (size_t k = 0; k < c->extras.len; k++)
            buf_printf(out, ", %s", c->extras.items[k]);
    }
    if (tb->nfks) {
        buf_puts(out, "\n\n    Relationships:");
        for (size_t i = 0; i < tb->nfks; i++) {
            const db_fkey *f = &tb->fks[i];
            buf_puts(out, "\n      ");
            for (size_t k = 0; k < f->cols.len; k++)
                buf_printf(out, "%s%s", k ? ", " : "", f->cols.items[k]);
            buf_printf(out, " -> %s.", f->ref_table);
            for (size_t k = 0; k < f->ref_cols.len; k++)
                buf_printf(out, "%s%s", k ? ", " : "", f->ref_cols.items[k]);
        }
    }
}

static int call_schema(void *ud, const mcp_call *call, json_t *args, buf_t *text)
{
    (void)call;
    db_tools *t = ud;
    json_t *names = json_object_get(args, "table_names");
    buf_t out;
    buf_init(&out);
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *name = json_string_value(json_array_get(names, i));
        db_table tb;
        db_error e;
        int rc = db_describe(t->conn, name, &tb, &e);
        if (rc == 1) {
            /* FastMCP's text for the NoSuchTableError SQLAlchemy raises. */
            buf_printf(text, "Error executing tool schema_definitions: %s", name);
            buf_free(&out);
            return 1;
        }
        if (rc < 0) {
            db_error_text(text, t->conn, &e, NULL, NULL);
            buf_free(&out);
            return 1;
        }
        if (i)
            buf_putc(&out, '\n');
        format_table(&out, &tb);
        db_table_free(&tb);
    }
    buf_append(text, out.data ? out.data : "", out.len);
    buf_free(&out);
    return 0;
}

/* ---- execute_query ---- */

/* The full result as json.dumps([[str(v), ...], ...]) would write it,
 * streamed to a temporary file and hashed on the way, so even a huge
 * result never sits in memory. */
typedef struct full_sink {
    int fd;
    char tmp[4096];
    sha256_ctx *sha;
    buf_t pending;
    int rows;
    int failed;
} full_sink;

static void sink_flush(full_sink *s, int force)
{
    if (s->failed || (!force && s->pending.len < 65536))
        return;
    sha256_update(s->sha, s->pending.data, s->pending.len);
    size_t off = 0;
    while (off < s->pending.len) {
        ssize_t w = write(s->fd, s->pending.data + off, s->pending.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->failed = 1;
            break;
        }
        off += (size_t)w;
    }
    buf_reset(&s->pending);
}

static int sink_open(full_sink *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    snprintf(s->tmp, sizeof s->tmp, "%s/.retrain-result-XXXXXX", dir);
    s->fd = mkstemp(s->tmp);
    if (s->fd < 0)
        return -1;
    s->sha = sha256_new();
    buf_init(&s->pending);
    buf_putc(&s->pending, '[');
    return 0;
}

static void sink_row(full_sink *s, const db_value *row, size_t ncols, buf_t *scratch)
{
    buf_puts(&s->pending, s->rows ? ", [" : "[");
    for (size_t i = 0; i < ncols; i++) {
        buf_reset(scratch);
        db_value_format(scratch, &row[i]);
        if (i)
            buf_puts(&s->pending, ", ");
        py_json_str(&s->pending, scratch->data ? scratch->data : "", scratch->len);
    }
    buf_putc(&s->pending, ']');
    s->rows++;
    sink_flush(s, 0);
}

/* Finishes the file and renames it to <sha256>.json; fills name. */
static int sink_close(full_sink *s, const char *dir, char name[80])
{
    buf_putc(&s->pending, ']');
    sink_flush(s, 1);
    char hex[65];
    sha256_final_hex(s->sha, hex);
    buf_free(&s->pending);
    if (close(s->fd) != 0)
        s->failed = 1;
    snprintf(name, 80, "%s.json", hex);
    if (s->failed) {
        unlink(s->tmp);
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (rename(s->tmp, path) != 0) {
        unlink(s->tmp);
        return -1;
    }
    return 0;
}

static void sink_abort(full_sink *s)
{
    if (s->sha) {
        char hex[65];
        sha256_final_hex(s->sha, hex);
        buf_free(&s->pending);
        close(s->fd);
        unlink(s->tmp);
        s->sha = NULL;
    }
}

/* ---- typed rows (see mcp.h) ---- */

static void base64_append(buf_t *b, const unsigned char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_reserve(b, (n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], i + 1 < n ? abc[(v >> 6) & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        buf_append(b, q, 4);
    }
}

static json_t *typed_value(const db_value *v, buf_t *scratch)
{
    switch (v->kind) {
    case DBV_NULL:
        return json_null();
    case DBV_INT:
        return json_integer(v->i);
    case DBV_FLOAT:
        if (v->f != v->f)
            return json_string("nan");
        if (v->f > 1.7976931348623157e308 || v->f < -1.7976931348623157e308)
            return json_string(v->f > 0 ? "inf" : "-inf");
        return json_real(v->f);
    case DBV_BOOL:
        return json_boolean(v->i);
    case DBV_BLOB:
        buf_reset(scratch);
        base64_append(scratch, (const unsigned char *)v->s, v->len);
        return json_stringn(scratch->data ? scratch->data : "", scratch->len);
    case DBV_TEXT:
    case DBV_OTHER:
    default:
        buf_reset(scratch);
        db_value_format(scratch, v);
        if (!utf8_valid(scratch->data ? scratch->data : "", scratch->len)) {
            buf_t lossy;
            buf_init(&lossy);
            utf8_append_lossy(&lossy, scratch->data, scratch->len);
            json_t *j = json_stringn(lossy.data ? lossy.data : "", lossy.len);
            buf_free(&lossy);
            return j;
        }
        return json_stringn(scratch->data ? scratch->data : "", scratch->len);
    }
}

static void execute_query(db_conn *conn, const mcp_db_config *cfg, const char *sql, json_t *params,
                          buf_t *out, json_t **rows_out)
{
    db_cursor *cur;
    db_error e;
    if (rows_out)
        *rows_out = NULL;
    if (db_execute(conn, sql, params, &cur, &e) != 0) {
        db_error_text(out, conn, &e, sql, params);
        return;
    }
    if (!db_returns_rows(cur)) {
        buf_printf(out, "Success: %lld rows affected", (long long)db_rowcount(cur));
        db_close_cursor(cur);
        if (rows_out)
            *rows_out = json_pack("{s:[], s:[], s:b}", "columns", "rows", "truncated", 0);
        return;
    }
    const char *dir = cfg->local_files_path;
    full_sink sink;
    int have_sink = 0;
    if (dir) {
        if (sink_open(&sink, dir) != 0) {
            buf_printf(out, "Error: [Errno %d] %s: '%s'", errno, strerror(errno), dir);
            db_close_cursor(cur);
            return;
        }
        have_sink = 1;
    }
    /* Rows print vertically; a running count of code points (each line
     * plus its newline) decides where the text stops: the row block that
     * would pass max_chars is left out, and so is everything after it. */
    size_t ncols = db_ncols(cur);
    /* "name: " per column, and its length in code points, made once */
    char **prefix = xmalloc((ncols ? ncols : 1) * sizeof *prefix);
    size_t *prefix_len = xmalloc((ncols ? ncols : 1) * sizeof *prefix_len);
    size_t *prefix_cp = xmalloc((ncols ? ncols : 1) * sizeof *prefix_cp);
    for (size_t c = 0; c < ncols; c++) {
        const char *name = db_colname(cur, c);
        size_t n = strlen(name);
        prefix[c] = xmalloc(n + 3);
        memcpy(prefix[c], name, n);
        memcpy(prefix[c] + n, ": ", 3);
        prefix_len[c] = n + 2;
        prefix_cp[c] = utf8_count(name, n) + 2;
    }
    /* typed rows: collected past the text's limit, up to MCP_DB_ROWS_MAX
     * rows and about MCP_DB_ROWS_MAX_BYTES of JSON (counted as the value
     * bytes plus a few for quotes and commas) */
    json_t *rows = NULL;
    int rows_truncated = 0;
    size_t rows_bytes = 0;
    if (rows_out)
        rows = json_array();
    long long size = 0, i = 0, shown = 0;
    int truncated = 0;
    buf_t block, val;
    buf_init(&block);
    buf_init(&val);
    const db_value *row;
    int rc;
    while ((rc = db_next(cur, &row, &e)) == 1) {
        i++;
        if (have_sink)
            sink_row(&sink, row, ncols, &val);
        if (rows) {
            size_t row_bytes = 2;
            for (size_t c = 0; c < ncols; c++)
                row_bytes += 4 + (row[c].kind == DBV_TEXT || row[c].kind == DBV_OTHER
                                      ? row[c].len
                                      : row[c].kind == DBV_BLOB ? (row[c].len + 2) / 3 * 4 : 24);
            if (!rows_truncated && json_array_size(rows) < MCP_DB_ROWS_MAX &&
                rows_bytes + row_bytes <= MCP_DB_ROWS_MAX_BYTES) {
                rows_bytes += row_bytes;
                json_t *r = json_array();
                for (size_t c = 0; c < ncols; c++)
                    json_array_append_new(r, typed_value(&row[c], &val));
                json_array_append_new(rows, r);
            } else {
                rows_truncated = 1;
            }
        }
        if (truncated) {
            /* nothing more for the text; read on only for the full file
             * or the typed rows (which stop at their own bound) */
            if (!have_sink && (!rows || rows_truncated))
                break;
            continue;
        }
        buf_reset(&block);
        db_value num = {.kind = DBV_INT, .i = i};
        db_value_format(&block, &num);
        buf_append(&block, ". row\n", 6);
        long long block_cp = (long long)block.len; /* ASCII */
        for (size_t c = 0; c < ncols; c++) {
            buf_append(&block, prefix[c], prefix_len[c]);
            size_t vstart = block.len;
            db_value_format(&block, &row[c]);
            /* text may be multi-byte; everything else we print is ASCII */
            size_t vcp = row[c].kind == DBV_TEXT || row[c].kind == DBV_OTHER
                             ? utf8_count(block.data + vstart, block.len - vstart)
                             : block.len - vstart;
            block_cp += (long long)(prefix_cp[c] + vcp + 1);
            buf_putc(&block, '\n');
        }
        buf_putc(&block, '\n');
        block_cp += 1;
        size += block_cp;
        if (size > cfg->max_chars) {
            truncated = 1;
            if (!have_sink && !rows)
                break; /* nothing more to read: stop the query now */
        } else {
            buf_append(out, block.data, block.len);
            shown = i;
        }
    }
    for (size_t c = 0; c < ncols; c++)
        free(prefix[c]);
    free(prefix);
    free(prefix_len);
    free(prefix_cp);
    buf_free(&block);
    buf_free(&val);
    if (rc < 0) {
        /* A failure while reading rows (a timeout, a lost connection) is
         * the whole result, as Python's exception would be. */
        if (have_sink)
            sink_abort(&sink);
        buf_reset(out);
        db_close_cursor(cur);
        db_error_text(out, conn, &e, sql, params);
        json_decref(rows);
        return;
    }
    if (rows) {
        json_t *cols = json_array();
        for (size_t c = 0; c < ncols; c++)
            json_array_append_new(cols, json_string(db_colname(cur, c)));
        *rows_out = json_pack("{s:o, s:o, s:b}", "columns", cols, "rows", rows, "truncated",
                              rows_truncated);
    }
    db_close_cursor(cur);
    if (i == 0) {
        if (have_sink)
            sink_abort(&sink);
        buf_reset(out);
        buf_puts(out, "No rows returned");
        return;
    }
    if (truncated) {
        if (have_sink)
            buf_printf(out, "Result: %lld rows (output truncated)", i);
        else
            buf_printf(out, "Result: showing first %lld rows (output truncated)", shown);
    } else {
        buf_printf(out, "Result: %lld rows", i);
    }
    if (have_sink) {
        char name[80];
        if (sink_close(&sink, dir, name) != 0)
            buf_printf(out, "\nError: could not write the full result into %s", dir);
        else
            buf_printf(out,
                       "\nFull result set url: https://cdn.jsdelivr.net/pyodide/claude-local-files/%s"
                       " (format: [[row1_value1, row1_value2, ...], [row2_value1, row2_value2, "
                       "...], ...]]) (ALWAYS prefer fetching this url in artifacts instead of "
                       "hardcoding the values if at all possible)",
                       name);
    }
}

void mcp_db_execute_query_text(db_conn *conn, const mcp_db_config *cfg, const char *sql,
                               json_t *params, buf_t *out)
{
    execute_query(conn, cfg, sql, params, out, NULL);
}

void mcp_db_execute_query_rows(db_conn *conn, const mcp_db_config *cfg, const char *sql,
                               json_t *params, buf_t *out, json_t **rows)
{
    execute_query(conn, cfg, sql, params, out, rows);
}

static int call_execute(void *ud, const mcp_call *call, json_t *args, buf_t *text)
{
    db_tools *t = ud;
    const char *q = json_string_value(json_object_get(args, "query"));
    json_t *params = json_object_get(args, "params");
    if (params && json_is_null(params))
        params = NULL;
    int want_rows = json_is_true(json_object_get(call->meta, "retrain/rows"));
    json_t *rows = NULL;
    execute_query(t->conn, &t->cfg, q, params, text, want_rows ? &rows : NULL);
    if (rows && call->structured)
        *call->structured = rows;
    else
        json_decref(rows);
    if (str_starts(text->data ? text->data : "", "Error: "))
        mcp_log_to_client(call, 4, "retrain.mcp-db", "%s", text->data);
    /* Like mcp-alchemy, a failed query is a normal result whose text says
     * Error: - agents read it and try again. */
    return 0;
}

static void db_tools_free(void *p)
{
    db_tools *t = p;
    free(t->local_files_path);
    free(t);
}

static void hook_begin(void *ud)
{
    db_clear_interrupt(((db_tools *)ud)->conn);
}

static void hook_cancel(void *ud)
{
    db_interrupt(((db_tools *)ud)->conn);
}

void mcp_db_tools_register(mcp_server *s, db_conn *conn, const mcp_db_config *cfg)
{
    db_tools *t = xcalloc(1, sizeof *t);
    t->conn = conn;
    t->cfg = *cfg;
    if (t->cfg.max_chars <= 0)
        t->cfg.max_chars = 4000;
    if (cfg->local_files_path) {
        t->local_files_path = xstrdup(cfg->local_files_path);
        t->cfg.local_files_path = t->local_files_path;
    }
    mcp_tool_def defs[] = {
        {"all_table_names", desc_all_tables, schema_none, annotations_read, call_all_tables, t},
        {"filter_table_names", desc_filter_tables, schema_filter, annotations_read,
         call_filter_tables, t},
        {"schema_definitions", desc_schema, schema_schema, annotations_read, call_schema, t},
        {"execute_query", desc_execute, schema_execute, annotations_execute, call_execute, t},
    };
    for (size_t i = 0; i < ARRAY_LEN(defs); i++)
        mcp_server_add_tool(s, &defs[i]);
    mcp_server_own(s, t, db_tools_free);
    mcp_server_set_call_hooks(s, hook_begin, hook_cancel, t);
}
