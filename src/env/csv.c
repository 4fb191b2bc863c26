/* CSV as pandas writes it (DataFrame.to_csv after read_sql_query) and reads
 * it (read_csv with the C engine's defaults), so that a prediction goes
 * through the same round trip as in the official scorer. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

/* ---- writing ------------------------------------------------------------ */

/* Python's csv.writer (QUOTE_MINIMAL): quote a field holding the delimiter,
 * the quote or a line break; double the quotes inside. A row whose only
 * field is empty is written "" so that it is not a blank line. */
static void put_field(buf_t *b, const char *s, size_t n, int only_field)
{
    int quote = only_field && n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        buf_append(b, s, n);
        return;
    }
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            buf_putc(b, '"');
        buf_putc(b, s[i]);
    }
    buf_putc(b, '"');
}

/* What pandas makes of one column of one chunk of sqlite rows
 * (DataFrame.from_records with coerce_float): */
enum chunk_type {
    CT_OBJECT, /* str() of each value, NULL empty */
    CT_INT,    /* int64 */
    CT_FLOAT,  /* float64: integers written as floats, NULL empty */
    CT_BOOL,   /* bool */
};

static enum chunk_type chunk_type(const env_table *t, size_t col, size_t r0, size_t r1)
{
    int nul = 0, ints = 0, flts = 0, bools = 0, text = 0;
    for (size_t r = r0; r < r1; r++) {
        switch (env_table_cell(t, r, col)->kind) {
        case ENV_NULL: nul = 1; break;
        case ENV_INT: ints = 1; break;
        case ENV_FLOAT: flts = 1; break;
        case ENV_BOOL: bools = 1; break;
        case ENV_TEXT: text = 1; break;
        }
    }
    if (text || (bools && (ints || flts)) || (!ints && !flts && !bools))
        return CT_OBJECT; /* an all-NULL column stays object (None) */
    if (bools)
        return nul ? CT_OBJECT : CT_BOOL;
    if (flts || nul)
        return CT_FLOAT;
    return CT_INT;
}

static void put_value(buf_t *b, const env_table *t, const env_cell *c, enum chunk_type ct,
                      int only_field)
{
    buf_t *tmp = b; /* numbers never need quoting */
    switch (c->kind) {
    case ENV_NULL:
        put_field(b, "", 0, only_field);
        return;
    case ENV_INT:
        if (ct == CT_FLOAT)
            py_float_repr(tmp, (double)c->i);
        else
            buf_printf(tmp, "%lld", (long long)c->i);
        return;
    case ENV_FLOAT:
        py_float_repr(tmp, c->f);
        return;
    case ENV_BOOL:
        buf_puts(tmp, c->i ? "True" : "False");
        return;
    case ENV_TEXT:
        put_field(b, env_cell_text(t, c), c->len, only_field);
        return;
    }
}

void env_csv_write(const env_table *t, buf_t *out)
{
    enum { CHUNK = 500 }; /* the official scorer's read_sql_query chunksize */
    size_t nc = t->cols.len;
    int only = nc == 1;
    for (size_t i = 0; i < nc; i++) {
        if (i)
            buf_putc(out, ',');
        put_field(out, t->cols.items[i], strlen(t->cols.items[i]), only);
    }
    buf_putc(out, '\n');
    enum chunk_type *ct = xcalloc(nc ? nc : 1, sizeof *ct);
    for (size_t r0 = 0; r0 < t->nrows; r0 += CHUNK) {
        size_t r1 = r0 + CHUNK < t->nrows ? r0 + CHUNK : t->nrows;
        for (size_t i = 0; i < nc; i++)
            ct[i] = chunk_type(t, i, r0, r1);
        for (size_t r = r0; r < r1; r++) {
            for (size_t i = 0; i < nc; i++) {
                if (i)
                    buf_putc(out, ',');
                put_value(out, t, env_table_cell(t, r, i), ct[i], only);
            }
            buf_putc(out, '\n');
        }
    }
    free(ct);
}

/* ---- reading: tokens ---------------------------------------------------- */

typedef struct field {
    size_t off, len; /* in the field buffer */
} field;

typedef struct tokens {
    buf_t bytes;      /* unescaped field text, each NUL-terminated */
    field *f;         /* all fields, row after row */
    size_t nf, capf;
    size_t *row_start; /* index of a row's first field; one past the end */
    int *row_line;     /* line where each row starts */
    size_t nrows, caprows;
} tokens;

static void tok_field(tokens *tk, const char *s, size_t n)
{
    if (tk->nf == tk->capf) {
        tk->capf = tk->capf ? tk->capf * 2 : 64;
        tk->f = xrealloc(tk->f, tk->capf * sizeof *tk->f);
    }
    tk->f[tk->nf++] = (field){tk->bytes.len, n};
    buf_append(&tk->bytes, s, n);
    buf_putc(&tk->bytes, 0);
}

static void tok_row(tokens *tk, int line)
{
    if (tk->nrows + 1 >= tk->caprows) {
        tk->caprows = tk->caprows ? tk->caprows * 2 : 64;
        tk->row_start = xrealloc(tk->row_start, tk->caprows * sizeof *tk->row_start);
        tk->row_line = xrealloc(tk->row_line, tk->caprows * sizeof *tk->row_line);
    }
    tk->row_start[tk->nrows] = tk->nf;
    tk->row_line[tk->nrows] = line;
    tk->nrows++;
}

static void tok_free(tokens *tk)
{
    buf_free(&tk->bytes);
    free(tk->f);
    free(tk->row_start);
    free(tk->row_line);
}

/* Splits text into rows of fields like pandas' C tokenizer: '"' opens a
 * quoted field only at the start of a field ("" inside is one quote), a
 * quote elsewhere is literal, \n, \r\n and \r end a row, lines that are
 * empty or only spaces and tabs are skipped. */
static int tokenize(const char *s, size_t n, const char *name, tokens *tk, err_t *e)
{
    size_t i = 0;
    int line = 1;
    if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        i = 3;
    buf_t cur;
    buf_init(&cur);
    while (i < n) {
        /* a blank line? */
        size_t j = i;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j == n || s[j] == '\n' || s[j] == '\r') {
            if (j < n && s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')
                j++;
            i = j + 1;
            line++;
            continue;
        }
        int row_line = line;
        size_t first = tk->nf;
        tok_row(tk, row_line);
        tk->nrows--; /* committed below, once its fields are in */
        for (;;) {
            buf_reset(&cur);
            if (i < n && s[i] == '"') {
                int qline = line;
                i++;
                for (;;) {
                    if (i >= n) {
                        buf_free(&cur);
                        return err_set(e, "%s:%d: unterminated quoted field (end of file inside "
                                          "a quote)", name, qline);
                    }
                    if (s[i] == '"') {
                        if (i + 1 < n && s[i + 1] == '"') {
                            buf_putc(&cur, '"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (s[i] == '\n' || (s[i] == '\r' && !(i + 1 < n && s[i + 1] == '\n')))
                        line++;
                    buf_putc(&cur, s[i++]);
                }
            }
            /* unquoted text, or what follows a closing quote (kept) */
            while (i < n && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
                buf_putc(&cur, s[i++]);
            tok_field(tk, cur.data ? cur.data : "", cur.len);
            if (i < n && s[i] == ',') {
                i++;
                continue;
            }
            break;
        }
        if (i < n && s[i] == '\r')
            i++;
        if (i < n && s[i] == '\n')
            i++;
        line++;
        tk->row_start[tk->nrows] = first;
        tk->row_line[tk->nrows] = row_line;
        tk->nrows++;
    }
    buf_free(&cur);
    /* sentinel: one past the last row */
    tok_row(tk, line);
    tk->nrows--;
    tk->row_start[tk->nrows] = tk->nf;
    return 0;
}

/* ---- reading: values ---------------------------------------------------- */

/* pandas' default NA tokens (2.x, which added "None"). */
static int is_na(const char *s, size_t n)
{
    static const char *na[] = {"",     "#N/A", "#N/A N/A", "#NA",  "-1.#IND", "-1.#QNAN",
                               "-NaN", "-nan", "1.#IND",   "1.#QNAN", "<NA>", "N/A",
                               "NA",   "NULL", "NaN",      "None", "n/a",  "nan",
                               "null"};
    for (size_t i = 0; i < ARRAY_LEN(na); i++)
        if (strlen(na[i]) == n && !memcmp(na[i], s, n))
            return 1;
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* -1 not an integer, 0 an int64, 1 an integer outside int64's range that
 * fits uint64, 2 one beyond uint64 (pandas: not a number at all). */
static int parse_int(const char *s, size_t n, int64_t *out)
{
    trim(&s, &n);
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return -1;
    unsigned __int128 v = 0;
    int big = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (!big) {
            v = v * 10 + (unsigned)(s[i] - '0');
            if (v > (unsigned __int128)UINT64_MAX)
                big = 1;
        }
    }
    if (big)
        return 2;
    if (neg) {
        if (v > (unsigned __int128)INT64_MAX + 1)
            return 2;
        *out = (int64_t)(0 - (uint64_t)v);
        return 0;
    }
    if (v > INT64_MAX)
        return 1;
    *out = (int64_t)v;
    return 0;
}

/* Powers of ten 1e0..1e308 as correctly rounded doubles (what the
 * literals in pandas' table are). */
static double pow10_tab[309];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

static void pow10_init(void)
{
    for (int k = 0; k <= 308; k++) {
        char lit[16];
        snprintf(lit, sizeof lit, "1e%d", k);
        pow10_tab[k] = strtod(lit, NULL);
    }
}

/* pandas' default float converter (precise_xstrtod in its tokenizer):
 * [sign] digits [. digits] [e [sign] digits], at least one digit, spaces
 * around; the first 17 significant digits are accumulated in a double and
 * scaled by a power of ten, which is not always the correctly rounded
 * value ("213.08749295774646" reads as 213.0874929577465), and the scorer
 * compares str() of these doubles. Also inf / infinity in any case. */
static int parse_float(const char *s, size_t n, double *out)
{
    trim(&s, &n);
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t rest = n - i;
    if ((rest == 3 && !strncasecmp(s + i, "inf", 3)) ||
        (rest == 8 && !strncasecmp(s + i, "infinity", 8))) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    pthread_once(&pow10_once, pow10_init);
    enum { MAX_DIGITS = 17 };
    double number = 0;
    int exponent = 0, digits = 0, decimals = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (digits < MAX_DIGITS) {
            number = number * 10. + (s[i] - '0');
            digits++;
        } else {
            exponent++;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && digits < MAX_DIGITS && s[i] >= '0' && s[i] <= '9'; i++) {
            number = number * 10. + (s[i] - '0');
            digits++;
            decimals++;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        exponent -= decimals;
    }
    if (!digits)
        return -1;
    if (neg)
        number = -number;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t at_e = i++;
        int eneg = 0, ed = 0, en = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && ed < MAX_DIGITS && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            en = en * 10 + (s[i] - '0');
        if (!ed)
            i = at_e; /* "1e" is not a number: the 'e' is left over */
        exponent += eneg ? -en : en;
    }
    if (i != n)
        return -1;
    if (exponent > 308)
        return -1;
    if (exponent > 0) {
        number *= pow10_tab[exponent];
    } else if (exponent < -308) {
        if (exponent < -616) {
            number = 0.;
        } else {
            number /= pow10_tab[-308 - exponent];
            number /= pow10_tab[308];
        }
    } else {
        number /= pow10_tab[-exponent];
    }
    if (isinf(number))
        return -1; /* pandas leaves 1e400 as text */
    *out = number;
    return 0;
}

static int parse_bool(const char *s, size_t n, int *out)
{
    if ((n == 4) && (!memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4) || !memcmp(s, "true", 4))) {
        *out = 1;
        return 0;
    }
    if ((n == 5) && (!memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5) || !memcmp(s, "false", 5))) {
        *out = 0;
        return 0;
    }
    return -1;
}

int env_csv_parse(const char *text, size_t len, const char *name, env_table *t, err_t *e)
{
    tokens tk;
    memset(&tk, 0, sizeof tk);
    buf_init(&tk.bytes);
    if (tokenize(text, len, name, &tk, e) != 0) {
        tok_free(&tk);
        return -1;
    }
    if (tk.nrows == 0) {
        tok_free(&tk);
        return err_set(e, "%s: no header row (an empty CSV file)", name);
    }
    size_t nc = tk.row_start[1] - tk.row_start[0];
    for (size_t c = 0; c < nc; c++)
        env_table_add_col(t, tk.bytes.data + tk.f[tk.row_start[0] + c].off);
    size_t nr = tk.nrows - 1;
    for (size_t r = 1; r < tk.nrows; r++) {
        size_t have = tk.row_start[r + 1] - tk.row_start[r];
        if (have > nc) {
            int line = tk.row_line[r];
            tok_free(&tk);
            return err_set(e, "%s:%d: %zu fields where the header has %zu", name, line, have, nc);
        }
    }
    t->dtypes = xcalloc(nc ? nc : 1, sizeof *t->dtypes);
    for (size_t r = 0; r < nr; r++)
        env_table_add_row(t);
    for (size_t c = 0; c < nc; c++) {
        /* Try int64, then float64, then bool, as pandas does; a column
         * with a missing value cannot be int64 (or bool: then object). */
        int all_int = 1, all_float = 1, all_bool = 1, any_na = 0;
        size_t nvalues = 0;
        for (size_t r = 0; r < nr; r++) {
            size_t have = tk.row_start[r + 2] - tk.row_start[r + 1];
            if (c >= have) {
                any_na = 1;
                continue;
            }
            const field *f = &tk.f[tk.row_start[r + 1] + c];
            const char *s = tk.bytes.data + f->off;
            if (is_na(s, f->len)) {
                any_na = 1;
                continue;
            }
            nvalues++;
            int64_t iv;
            double dv;
            int bv;
            int ik = parse_int(s, f->len, &iv);
            if (ik != 0 && ik != 1)
                all_int = 0;
            if (ik == 2 || (ik < 0 && parse_float(s, f->len, &dv) != 0))
                all_float = 0; /* beyond uint64, pandas keeps the text too */
            if (parse_bool(s, f->len, &bv) != 0)
                all_bool = 0;
        }
        env_dtype dt;
        if (nr == 0)
            dt = ENV_DT_OBJECT; /* header only: pandas says object */
        else if (nvalues == 0)
            dt = ENV_DT_FLOAT; /* nothing but missing values: NaN */
        else if (all_int && !any_na)
            dt = ENV_DT_INT;
        else if (all_float)
            dt = ENV_DT_FLOAT;
        else if (all_bool && !any_na)
            dt = ENV_DT_BOOL;
        else
            dt = ENV_DT_OBJECT;
        t->dtypes[c] = dt;
        for (size_t r = 0; r < nr; r++) {
            env_cell *cell = env_table_cell(t, r, c);
            size_t have = tk.row_start[r + 2] - tk.row_start[r + 1];
            if (c >= have)
                continue;
            const field *f = &tk.f[tk.row_start[r + 1] + c];
            const char *s = tk.bytes.data + f->off;
            if (is_na(s, f->len))
                continue;
            int64_t iv = 0;
            double dv = 0;
            int bv = 0;
            switch (dt) {
            case ENV_DT_INT:
                if (parse_int(s, f->len, &iv) == 0) {
                    cell->kind = ENV_INT, cell->i = iv;
                } else { /* uint64 range: kept as a float (see env.h) */
                    parse_float(s, f->len, &dv);
                    cell->kind = ENV_FLOAT, cell->f = dv;
                }
                break;
            case ENV_DT_FLOAT:
                parse_float(s, f->len, &dv);
                cell->kind = ENV_FLOAT, cell->f = dv;
                break;
            case ENV_DT_BOOL:
                parse_bool(s, f->len, &bv);
                cell->kind = ENV_BOOL, cell->i = bv;
                break;
            case ENV_DT_OBJECT:
                if (all_bool && parse_bool(s, f->len, &bv) == 0)
                    cell->kind = ENV_BOOL, cell->i = bv; /* True/False with NaN */
                else
                    env_cell_set_text(t, cell, s, f->len);
                break;
            }
        }
    }
    tok_free(&tk);
    return 0;
}

int env_csv_read_file(const char *path, env_table *t, err_t *e)
{
    size_t n;
    char *s = file_read(path, &n, e);
    if (!s)
        return -1;
    int rc = env_csv_parse(s, n, path, t, e);
    free(s);
    return rc;
}
