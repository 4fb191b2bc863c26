/* Spider 2.0's execution-accuracy rule (evaluate.py's compare_pandas_table
 * and compare_multi_pandas_table), on tables as pandas.read_csv typed them.
 *
 * The official code turns a DataFrame into Python values with
 * .transpose().values.tolist(): when every column of the frame is int64 the
 * values are ints, when all are int64/float64 they are all floats (5 becomes
 * 5.0, whose str() is "5.0"), when all are bool they are bools; otherwise
 * each column keeps its own type. That matters because ignore_order sorts
 * by str(value). Missing values count as 0 (the int), bools are numbers
 * (Python's bool is an int). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

typedef enum pv_kind { PV_INT, PV_FLOAT, PV_BOOL, PV_STR } pv_kind;

typedef struct pyval {
    pv_kind kind;
    int64_t i;
    double f;
    const char *s; /* PV_STR: the cell's bytes */
    size_t len;
    size_t key_off, key_len; /* str(value) in the vector's key buffer */
} pyval;

typedef struct vec {
    size_t n;
    pyval *v;
    buf_t keys;
    size_t *order; /* sorted positions when sorted, else NULL */
} vec;

typedef enum frame_kind { FR_INT, FR_FLOAT, FR_BOOL, FR_OBJECT } frame_kind;

static frame_kind frame_of(const env_table *t, const long *cols, size_t n)
{
    int all_int = 1, all_num = 1, all_bool = 1;
    for (size_t k = 0; k < n; k++) {
        env_dtype d = t->dtypes[cols ? (size_t)cols[k] : k];
        all_int &= d == ENV_DT_INT;
        all_num &= d == ENV_DT_INT || d == ENV_DT_FLOAT;
        all_bool &= d == ENV_DT_BOOL;
    }
    if (n && all_int)
        return FR_INT;
    if (n && all_num)
        return FR_FLOAT;
    if (n && all_bool)
        return FR_BOOL;
    return FR_OBJECT;
}

static int is_num(const pyval *p)
{
    return p->kind != PV_STR;
}

static double num(const pyval *p)
{
    return p->kind == PV_FLOAT ? p->f : (double)p->i;
}

static const char *key(const vec *v, const pyval *p)
{
    return v->keys.data + p->key_off;
}

static void vec_build(vec *out, const env_table *t, size_t col, frame_kind fk)
{
    out->n = t->nrows;
    out->v = xcalloc(t->nrows ? t->nrows : 1, sizeof *out->v);
    buf_init(&out->keys);
    buf_reserve(&out->keys, 1);
    out->order = NULL;
    for (size_t r = 0; r < t->nrows; r++) {
        const env_cell *c = env_table_cell(t, r, col);
        pyval *p = &out->v[r];
        switch (c->kind) {
        case ENV_NULL: /* evaluate.py: pd.isna(value) -> 0 */
            p->kind = PV_INT, p->i = 0;
            break;
        case ENV_INT:
            if (fk == FR_FLOAT)
                p->kind = PV_FLOAT, p->f = (double)c->i;
            else
                p->kind = PV_INT, p->i = c->i;
            break;
        case ENV_FLOAT:
            p->kind = PV_FLOAT, p->f = c->f;
            break;
        case ENV_BOOL:
            p->kind = PV_BOOL, p->i = c->i;
            break;
        case ENV_TEXT:
            p->kind = PV_STR, p->s = env_cell_text(t, c), p->len = c->len;
            break;
        }
        p->key_off = out->keys.len;
        switch (p->kind) {
        case PV_INT: buf_printf(&out->keys, "%lld", (long long)p->i); break;
        case PV_FLOAT: py_float_repr(&out->keys, p->f); break;
        case PV_BOOL: buf_puts(&out->keys, p->i ? "True" : "False"); break;
        case PV_STR: buf_append(&out->keys, p->s, p->len); break;
        }
        p->key_len = out->keys.len - p->key_off;
        buf_putc(&out->keys, 0);
    }
}

static void vec_free(vec *v)
{
    free(v->v);
    free(v->order);
    buf_free(&v->keys);
}

/* Python's sort key (x is None, str(x), isinstance(x, (int, float))):
 * None never occurs after the missing-value rule; str() compared by code
 * point, which is byte order in UTF-8; non-numbers first on a tie. */
static int pv_cmp(const vec *va, const pyval *a, const vec *vb, const pyval *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(key(va, a), key(vb, b), n);
    if (c)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return is_num(a) - is_num(b);
}

/* qsort context (qsort_r is not C11; sorting is single-threaded per call). */
static _Thread_local const vec *sort_vec;

static int order_cmp(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int c = pv_cmp(sort_vec, &sort_vec->v[i], sort_vec, &sort_vec->v[j]);
    if (c)
        return c;
    return i < j ? -1 : i > j; /* stable, as Python's sort */
}

static void vec_sort(vec *v)
{
    v->order = xmalloc((v->n ? v->n : 1) * sizeof *v->order);
    for (size_t i = 0; i < v->n; i++)
        v->order[i] = i;
    sort_vec = v;
    qsort(v->order, v->n, sizeof *v->order, order_cmp);
    sort_vec = NULL;
}

static const pyval *at(const vec *v, size_t k)
{
    return &v->v[v->order ? v->order[k] : k];
}

/* math.isclose(a, b, abs_tol=0.01) with its default rel_tol=1e-9. */
static int close_enough(double a, double b)
{
    if (a == b)
        return 1;
    if (isinf(a) || isinf(b) || isnan(a) || isnan(b))
        return 0;
    double d = fabs(a - b), m = fmax(fabs(a), fabs(b)) * 1e-9;
    return d <= (m > 0.01 ? m : 0.01);
}

static int pv_equal(const pyval *a, const pyval *b)
{
    if (is_num(a) && is_num(b))
        return close_enough(num(a), num(b));
    if (a->kind == PV_STR && b->kind == PV_STR)
        return a->len == b->len && !memcmp(a->s, b->s, a->len);
    return 0; /* a number never equals a string */
}

static int vec_match(const vec *a, const vec *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t k = 0; k < a->n; k++)
        if (!pv_equal(at(a, k), at(b, k)))
            return 0;
    return 1;
}

/* ---- strict mode: rows must line up across the matched columns ---------- */

typedef struct rowsort {
    const vec *cols; /* the vectors of a row's cells, in order */
    const size_t *which; /* column indices into cols */
    size_t ncols;
} rowsort;

static _Thread_local const rowsort *row_ctx;

static int row_cmp(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    for (size_t k = 0; k < row_ctx->ncols; k++) {
        const vec *v = &row_ctx->cols[row_ctx->which[k]];
        int c = pv_cmp(v, &v->v[i], v, &v->v[j]);
        if (c)
            return c;
    }
    return i < j ? -1 : i > j;
}

static size_t *row_order(const vec *cols, const size_t *which, size_t ncols, size_t nrows)
{
    size_t *o = xmalloc((nrows ? nrows : 1) * sizeof *o);
    for (size_t i = 0; i < nrows; i++)
        o[i] = i;
    rowsort ctx = {cols, which, ncols};
    row_ctx = &ctx;
    qsort(o, nrows, sizeof *o, row_cmp);
    row_ctx = NULL;
    return o;
}

static int rows_align(const vec *g, size_t ng, const vec *p, const size_t *assign,
                      int ignore_order)
{
    size_t nrows = ng ? g[0].n : 0;
    size_t *gi = xmalloc((ng ? ng : 1) * sizeof *gi);
    for (size_t k = 0; k < ng; k++)
        gi[k] = k;
    size_t *go = NULL, *po = NULL;
    if (ignore_order) {
        go = row_order(g, gi, ng, nrows);
        po = row_order(p, assign, ng, nrows);
    }
    int ok = 1;
    for (size_t r = 0; r < nrows && ok; r++) {
        size_t rg = go ? go[r] : r, rp = po ? po[r] : r;
        for (size_t k = 0; k < ng && ok; k++)
            ok = pv_equal(&g[k].v[rg], &p[assign[k]].v[rp]);
    }
    free(gi);
    free(go);
    free(po);
    return ok;
}

/* Tries assignments of gold columns to candidate pred columns, depth
 * first, at most *budget of them. */
static int assign_search(const vec *g, size_t ng, const vec *p, unsigned char *cand, size_t np,
                         size_t *assign, size_t k, int ignore_order, long *budget)
{
    if (k == ng) {
        --*budget;
        return rows_align(g, ng, p, assign, ignore_order);
    }
    for (size_t j = 0; j < np && *budget > 0; j++) {
        if (!cand[k * np + j])
            continue;
        assign[k] = j;
        if (assign_search(g, ng, p, cand, np, assign, k + 1, ignore_order, budget))
            return 1;
    }
    return 0;
}

void env_column_keys(const env_table *t, size_t col, int sorted, buf_t *out)
{
    vec v;
    vec_build(&v, t, col, frame_of(t, NULL, t->cols.len));
    if (sorted)
        vec_sort(&v);
    for (size_t k = 0; k < v.n; k++) {
        const pyval *p = at(&v, k);
        if (k)
            buf_putc(out, '\n');
        buf_append(out, key(&v, p), p->key_len);
    }
    vec_free(&v);
}

int env_score_table(const env_table *pred, const env_table *gold, const long *keep, size_t nkeep,
                    int ignore_order, env_score_mode mode, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = 0;
    size_t gc = gold->cols.len, pc = pred->cols.len;
    for (size_t k = 0; k < nkeep; k++)
        if (keep[k] < 0 || (size_t)keep[k] >= gc) {
            if (why)
                snprintf(why, whylen, "condition column %ld is out of range: the gold table has "
                                      "%zu columns", keep[k], gc);
            return 0;
        }
    if (!keep || !nkeep) {
        keep = NULL;
        nkeep = gc;
    }
    frame_kind gf = frame_of(gold, keep, nkeep), pf = frame_of(pred, NULL, pc);
    vec *g = xcalloc(nkeep ? nkeep : 1, sizeof *g), *p = xcalloc(pc ? pc : 1, sizeof *p);
    for (size_t k = 0; k < nkeep; k++) {
        vec_build(&g[k], gold, keep ? (size_t)keep[k] : k, gf);
        if (ignore_order)
            vec_sort(&g[k]);
    }
    for (size_t j = 0; j < pc; j++) {
        vec_build(&p[j], pred, j, pf);
        if (ignore_order)
            vec_sort(&p[j]);
    }
    unsigned char *cand = xcalloc(nkeep * (pc ? pc : 1) + 1, 1);
    int score = 1;
    for (size_t k = 0; k < nkeep && score; k++) {
        int any = 0;
        for (size_t j = 0; j < pc; j++)
            if (vec_match(&g[k], &p[j]))
                cand[k * pc + j] = 1, any = 1;
        if (!any) {
            score = 0;
            size_t col = keep ? (size_t)keep[k] : k;
            if (why)
                snprintf(why, whylen, "gold column %zu ('%s') matches no predicted column", col,
                         gold->cols.items[col]);
        }
    }
    if (score && mode == ENV_SCORE_STRICT && nkeep) {
        size_t *assign = xcalloc(nkeep, sizeof *assign);
        long budget = 4096;
        score = assign_search(g, nkeep, p, cand, pc, assign, 0, ignore_order, &budget);
        if (!score && why)
            snprintf(why, whylen, "every gold column matches some predicted column, but not with "
                                  "the rows aligned (strict mode)");
        free(assign);
    }
    free(cand);
    for (size_t k = 0; k < nkeep; k++)
        vec_free(&g[k]);
    for (size_t j = 0; j < pc; j++)
        vec_free(&p[j]);
    free(g);
    free(p);
    return score;
}

int env_score(const env_table *pred, const env_table *golds, size_t n, const env_gold_meta *meta,
              env_score_mode mode, char *why, size_t whylen)
{
    char first[512] = "", config[256] = "";
    for (size_t i = 0; i < n; i++) {
        const long *keep = NULL;
        size_t nkeep = 0;
        if (meta && meta->nlists) {
            if (!meta->per_variant) {
                keep = meta->lists[0].idx, nkeep = meta->lists[0].n;
            } else if (i < meta->nlists) {
                keep = meta->lists[i].idx, nkeep = meta->lists[i].n;
            } else {
                /* evaluate.py fails here (IndexError): no list for this variant */
                if (!config[0])
                    snprintf(config, sizeof config, "condition_cols has %zu lists, no list for "
                                                    "gold variant %zu", meta->nlists, i + 1);
                continue;
            }
        }
        char w[512];
        if (env_score_table(pred, &golds[i], keep, nkeep, meta ? meta->ignore_order : 0, mode, w,
                            sizeof w))
            return 1;
        if (!first[0])
            snprintf(first, sizeof first, "%s", w);
    }
    if (why && config[0])
        snprintf(why, whylen, "%s", config);
    else if (why)
        snprintf(why, whylen, "%s%s", n > 1 ? "no gold variant matches; the first: " : "",
                 n ? first : "no gold table");
    return 0;
}
