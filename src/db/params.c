/* Named :parameters, as SQLAlchemy's text() finds them, rewritten into the
 * placeholders each driver takes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

static int is_word(unsigned char c)
{
    /* Python's \w with re.UNICODE: letters, digits, '_' and every
     * non-ASCII letter; bytes of multi-byte UTF-8 count as word bytes. */
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* Length of a quoted region or comment starting at p, or 0 if none starts
 * there. */
static size_t skip_quoted(const char *sql, size_t i, size_t n, int bracket_quotes)
{
    const char *p = sql + i;
    char c = *p;
    if (c == '\'' || c == '"' || c == '`' || (c == '[' && bracket_quotes)) {
        char close = c == '[' ? ']' : c;
        /* E'..' strings (PostgreSQL) allow backslash escapes. */
        int backslash = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                        (i < 2 || !is_word((unsigned char)sql[i - 2]));
        size_t j = i + 1;
        while (j < n) {
            if (backslash && sql[j] == '\\' && j + 1 < n) {
                j += 2;
                continue;
            }
            if (sql[j] == close) {
                if (close != ']' && j + 1 < n && sql[j + 1] == close) {
                    j += 2; /* doubled quote */
                    continue;
                }
                return j + 1 - i;
            }
            j++;
        }
        return n - i;
    }
    if (c == '-' && i + 1 < n && p[1] == '-') {
        const char *nl = memchr(p, '\n', n - i);
        return nl ? (size_t)(nl - p) + 1 : n - i;
    }
    if (c == '/' && i + 1 < n && p[1] == '*') {
        for (size_t j = i + 2; j + 1 < n; j++)
            if (sql[j] == '*' && sql[j + 1] == '/')
                return j + 2 - i;
        return n - i;
    }
    if (c == '$' && (i == 0 || !is_word((unsigned char)sql[i - 1]))) {
        /* PostgreSQL dollar quoting: $tag$ ... $tag$ */
        size_t j = i + 1;
        while (j < n && (isalnum((unsigned char)sql[j]) || sql[j] == '_'))
            j++;
        if (j < n && sql[j] == '$' && !(j > i + 1 && isdigit((unsigned char)sql[i + 1]))) {
            size_t taglen = j + 1 - i;
            for (size_t k = j + 1; k + taglen <= n; k++)
                if (memcmp(sql + k, p, taglen) == 0)
                    return k + taglen - i;
            return n - i;
        }
    }
    return 0;
}

void db_bound_free(db_bound *b)
{
    free(b->sql);
    free(b->display_sql);
    free(b->values);
    strlist_free(&b->names);
    memset(b, 0, sizeof *b);
}

/* lenient: a missing value binds as JSON null instead of failing, which
 * is enough to render the statement for display. */
static int bind_impl(const char *sql, json_t *params, db_placeholder style, int display_pyformat,
                     int bracket_quotes, int lenient, db_bound *out, db_error *e)
{
    memset(out, 0, sizeof *out);
    strlist_init(&out->names);
    buf_t exec, disp;
    buf_init(&exec);
    buf_init(&disp);
    size_t n = strlen(sql), cap = 0;
    strlist_t distinct; /* names in first-use order: $n numbering */
    strlist_init(&distinct);

    size_t i = 0;
    while (i < n) {
        size_t q = skip_quoted(sql, i, n, bracket_quotes);
        if (q) {
            buf_append(&exec, sql + i, q);
            buf_append(&disp, sql + i, q);
            i += q;
            continue;
        }
        char c = sql[i];
        if (c == '\\' && i + 1 < n && sql[i + 1] == ':') {
            buf_putc(&exec, ':');
            buf_putc(&disp, ':');
            i += 2;
            continue;
        }
        if (c == ':' && i + 1 < n && is_word((unsigned char)sql[i + 1]) &&
            (i == 0 || (sql[i - 1] != ':' && !is_word((unsigned char)sql[i - 1])))) {
            size_t j = i + 1;
            while (j < n && is_word((unsigned char)sql[j]))
                j++;
            if (!(j < n && sql[j] == ':')) {
                char *name = xstrndup(sql + i + 1, j - i - 1);
                json_t *v = params && json_is_object(params) ? json_object_get(params, name) : NULL;
                if (!v && lenient)
                    v = json_null(); /* a static singleton: no reference to drop */
                if (!v) {
                    db_error_set(e, DB_ERR_PARAM, "sqlalchemy.exc.InvalidRequestError", "", "cd3x",
                                 "A value is required for bind parameter '%s'", name);
                    free(name);
                    buf_free(&exec);
                    buf_free(&disp);
                    strlist_free(&distinct);
                    db_bound_free(out);
                    return -1;
                }
                if (out->nvalues == cap) {
                    cap = cap ? cap * 2 : 8;
                    out->values = xrealloc(out->values, cap * sizeof *out->values);
                }
                out->values[out->nvalues++] = v;
                strlist_push(&out->names, name);
                if (style == DB_PH_QMARK) {
                    buf_putc(&exec, '?');
                } else {
                    int k = strlist_index(&distinct, name);
                    if (k < 0) {
                        strlist_push(&distinct, name);
                        k = (int)distinct.len - 1;
                    }
                    buf_printf(&exec, "$%d", k + 1);
                }
                if (display_pyformat)
                    buf_printf(&disp, "%%(%s)s", name);
                else
                    buf_putc(&disp, '?');
                free(name);
                i = j;
                continue;
            }
            /* name followed by ':' is not a parameter; copy it whole */
            buf_append(&exec, sql + i, j - i);
            buf_append(&disp, sql + i, j - i);
            i = j;
            continue;
        }
        buf_putc(&exec, c);
        buf_putc(&disp, c);
        i++;
    }
    /* With $n numbering, repeated names bind once: keep one value per
     * distinct name, in number order. */
    if (style == DB_PH_DOLLAR && distinct.len != out->nvalues) {
        json_t **vals = xmalloc((distinct.len ? distinct.len : 1) * sizeof *vals);
        for (size_t k = 0; k < distinct.len; k++)
            vals[k] = params ? json_object_get(params, distinct.items[k]) : NULL;
        for (size_t k = 0; k < distinct.len; k++)
            if (!vals[k])
                vals[k] = json_null();
        free(out->values);
        out->values = vals;
        out->nvalues = distinct.len;
        strlist_free(&out->names);
        out->names = distinct;
        strlist_init(&distinct);
    }
    strlist_free(&distinct);
    out->sql = buf_take(&exec);
    out->display_sql = buf_take(&disp);
    return 0;
}

int db_bind_params(const char *sql, json_t *params, db_placeholder style, int display_pyformat,
                   int bracket_quotes, db_bound *out, db_error *e)
{
    return bind_impl(sql, params, style, display_pyformat, bracket_quotes, 0, out, e);
}

char *db_display_sql(const char *sql, int display_pyformat, int bracket_quotes)
{
    db_bound b;
    if (bind_impl(sql, NULL, DB_PH_QMARK, display_pyformat, bracket_quotes, 1, &b, NULL) != 0)
        return xstrdup(sql);
    char *out = b.display_sql;
    b.display_sql = NULL;
    db_bound_free(&b);
    return out;
}

void db_json_pyrepr(buf_t *b, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        py_str_repr(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        buf_printf(b, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        py_float_repr(b, json_real_value(v));
        break;
    case JSON_TRUE:
        buf_puts(b, "True");
        break;
    case JSON_FALSE:
        buf_puts(b, "False");
        break;
    case JSON_NULL:
        buf_puts(b, "None");
        break;
    case JSON_ARRAY: {
        buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_puts(b, ", ");
            db_json_pyrepr(b, json_array_get(v, i));
        }
        buf_putc(b, ']');
        break;
    }
    case JSON_OBJECT: {
        buf_putc(b, '{');
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x) {
            if (!first)
                buf_puts(b, ", ");
            first = 0;
            py_str_repr(b, k, strlen(k));
            buf_puts(b, ": ");
            db_json_pyrepr(b, x);
        }
        buf_putc(b, '}');
        break;
    }
    }
}
