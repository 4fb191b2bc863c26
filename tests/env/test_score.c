/* The official execution-accuracy rule and the strict mode: hand-made
 * tables, and every real gold CSV against itself and perturbed copies. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/env/env.h"
#include "../test.h"

static env_table tab(const char *csv)
{
    env_table t;
    env_table_init(&t);
    err_t e;
    if (env_csv_parse(csv, strlen(csv), "t.csv", &t, &e) != 0)
        fprintf(stderr, "bad test CSV: %s\n", e.msg);
    return t;
}

/* Scores pred against one gold with the given columns kept. */
static int score(const char *pred, const char *gold, const long *keep, size_t nkeep,
                 int ignore_order, env_score_mode mode, char *why)
{
    env_table p = tab(pred), g = tab(gold);
    int s = env_score_table(&p, &g, keep, nkeep, ignore_order, mode, why, 512);
    env_table_free(&p);
    env_table_free(&g);
    return s;
}

#define OFF ENV_SCORE_OFFICIAL
#define STRICT ENV_SCORE_STRICT

TEST(env_score_official_rule)
{
    char why[512];
    const char *gold = "a,b\n1,x\n2,y\n3,z\n";
    CHECK(score(gold, gold, NULL, 0, 1, OFF, why) == 1);
    /* extra columns, other names, rows in another order */
    CHECK(score("q,n,s,extra\n9,3,z,1\n9,1,x,1\n9,2,y,1\n", gold, NULL, 0, 1, OFF, why) == 1);
    /* order matters without ignore_order */
    CHECK(score("n,s\n3,z\n1,x\n2,y\n", gold, NULL, 0, 0, OFF, why) == 0);
    CHECK_STR(why, "gold column 0 ('a') matches no predicted column");
    /* a dropped row, a changed value, a missing column */
    CHECK(score("a,b\n1,x\n2,y\n", gold, NULL, 0, 1, OFF, why) == 0);
    CHECK(score("a,b\n1,x\n2,y\n3,zz\n", gold, NULL, 0, 1, OFF, why) == 0);
    CHECK_STR(why, "gold column 1 ('b') matches no predicted column");
    CHECK(score("a\n1\n2\n3\n", gold, NULL, 0, 1, OFF, why) == 0);
    /* text is case-sensitive; a number never equals a string */
    CHECK(score("a,b\n1,X\n2,y\n3,z\n", gold, NULL, 0, 1, OFF, why) == 0);
    CHECK(score("a\n1\n2\n", "a\n1\nx\n", NULL, 0, 1, OFF, why) == 0);
    /* tolerance: 0.01 absolute (and math.isclose's 1e-9 relative) */
    CHECK(score("v\n1.005\n2.0\n", "v\n1.0\n2.0\n", NULL, 0, 1, OFF, why) == 1);
    CHECK(score("v\n1.015\n2.0\n", "v\n1.0\n2.0\n", NULL, 0, 1, OFF, why) == 0);
    CHECK(score("v\n1000000000500\n", "v\n1000000000000\n", NULL, 0, 1, OFF, why) == 1);
    CHECK(score("v\n1000000002000\n", "v\n1000000000000\n", NULL, 0, 1, OFF, why) == 0);
    /* int against float, bool as a number, missing as 0 */
    CHECK(score("v\n1.0\n2.0\n", "v\n1\n2\n", NULL, 0, 1, OFF, why) == 1);
    CHECK(score("v\nTrue\nFalse\n", "v\n1\n0\n", NULL, 0, 1, OFF, why) == 1);
    CHECK(score("v,w\n,x\n5,y\n", "v\n0\n5\n", NULL, 0, 1, OFF, why) == 1);
    CHECK(score("v,w\n,x\n5,y\n", "v\n0.5\n5\n", NULL, 0, 1, OFF, why) == 0);
    /* empty results match empty gold tables */
    CHECK(score("a\n", "b\n", NULL, 0, 1, OFF, why) == 1);
    /* the official quirk: each column sorted on its own, so scrambled rows
     * still match; strict mode rejects them and accepts real reorderings */
    const char *scrambled = "a,b\n1,y\n2,z\n3,x\n";
    CHECK(score(scrambled, gold, NULL, 0, 1, OFF, why) == 1);
    CHECK(score(scrambled, gold, NULL, 0, 1, STRICT, why) == 0);
    CHECK_STR(why, "every gold column matches some predicted column, but not with the rows "
                   "aligned (strict mode)");
    CHECK(score("q,n,s\n0,3,z\n0,1,x\n0,2,y\n", gold, NULL, 0, 1, STRICT, why) == 1);
    CHECK(score("n,s\n3,z\n1,x\n2,y\n", gold, NULL, 0, 0, STRICT, why) == 0);
    /* strict: two predicted columns equal as sets; only one pairing aligns */
    CHECK(score("p,q,s\n2,1,x\n1,2,y\n", "a,b\n1,x\n2,y\n", NULL, 0, 1, STRICT, why) == 1);
    CHECK(score("a,b\n1.004,x\n2,y\n", "a,b\n1,x\n2,y\n", NULL, 0, 1, STRICT, why) == 1);
}

TEST(env_score_condition_cols_and_variants)
{
    char why[512];
    const char *gold = "id,name,total\n1,a,10.5\n2,b,20.25\n";
    long keep[] = {1, 2};
    CHECK(score("n,t\nb,20.25\na,10.5\n", gold, keep, 2, 1, OFF, why) == 1);
    CHECK(score("n,t\nb,20.25\na,10.5\n", gold, NULL, 0, 1, OFF, why) == 0);
    long out_of_range[] = {3};
    CHECK(score(gold, gold, out_of_range, 1, 1, OFF, why) == 0);
    CHECK_STR(why, "condition column 3 is out of range: the gold table has 3 columns");

    /* variants: the i-th list of a list of lists belongs to the i-th gold */
    env_table golds[2];
    golds[0] = tab("x,y\n1,2\n");
    golds[1] = tab("x,y\n7,8\n");
    env_table pred = tab("v\n8\n");
    env_cols lists[2] = {{(long[]){0}, 1}, {(long[]){1}, 1}};
    env_gold_meta m = {.instance_id = "t", .ignore_order = 1, .per_variant = 1, .lists = lists,
                       .nlists = 2};
    CHECK(env_score(&pred, golds, 2, &m, OFF, why, sizeof why) == 1);
    lists[1].idx[0] = 0; /* now variant b keeps x = 7 */
    CHECK(env_score(&pred, golds, 2, &m, OFF, why, sizeof why) == 0);
    CHECK_STR(why, "no gold variant matches; the first: gold column 0 ('x') matches no "
                   "predicted column");
    /* one list for every variant */
    env_cols one = {(long[]){1}, 1};
    env_gold_meta m1 = {.instance_id = "t", .ignore_order = 1, .lists = &one, .nlists = 1};
    CHECK(env_score(&pred, golds, 2, &m1, OFF, why, sizeof why) == 1);
    /* fewer lists than variants: the missing one cannot match */
    env_gold_meta m2 = {.instance_id = "t", .ignore_order = 1, .per_variant = 1, .lists = lists,
                        .nlists = 1};
    CHECK(env_score(&pred, golds, 2, &m2, OFF, why, sizeof why) == 0);
    CHECK_CONTAINS(why, "condition_cols has 1 lists, no list for gold variant 2");
    env_table_free(&pred);
    env_table_free(&golds[0]);
    env_table_free(&golds[1]);
}

/* A copy of t without row `drop_row` / column `drop_col` (-1: none), with
 * row 0 of column `bump` changed (-1: none). */
static env_table copy(const env_table *t, long drop_row, long drop_col, long bump)
{
    env_table c;
    env_table_init(&c);
    size_t nc = 0;
    c.dtypes = xcalloc(t->cols.len + 1, sizeof *c.dtypes);
    for (size_t j = 0; j < t->cols.len; j++)
        if ((long)j != drop_col) {
            env_table_add_col(&c, t->cols.items[j]);
            c.dtypes[nc++] = t->dtypes[j];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        if ((long)r == drop_row)
            continue;
        env_cell *out = env_table_add_row(&c);
        size_t k = 0;
        for (size_t j = 0; j < t->cols.len; j++) {
            if ((long)j == drop_col)
                continue;
            const env_cell *in = env_table_cell(t, r, j);
            out[k] = *in;
            if (in->kind == ENV_TEXT)
                env_cell_set_text(&c, &out[k], env_cell_text(t, in), in->len);
            if (r == 0 && (long)j == bump) {
                if (in->kind == ENV_TEXT)
                    env_cell_set_text(&c, &out[k], "\x01changed", 8);
                else if (in->kind == ENV_FLOAT) /* beyond 0.01 and the 1e-9 relative */
                    out[k].f += 1.0 + fabs(in->f) * 0.01;
                else if (in->kind == ENV_NULL)
                    out[k].kind = ENV_INT, out[k].i = 12345;
                else if (in->kind == ENV_INT)
                    out[k].i += 2 + llabs(in->i) / 100;
                else
                    out[k].i += 2; /* a bool becomes 2 or 3: no longer 0/1 */
            }
            k++;
        }
    }
    return c;
}

TEST(env_score_real_gold_self_and_perturbed)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/../shared/spider2/gold", test_root());
    if (!file_exists(dir)) {
        test_skip("%s is absent", dir);
        return;
    }
    env_gold g;
    err_t e;
    CHECK_MSG(env_gold_open(dir, &g, &e) == 0, "%s", e.msg);
    size_t files = 0, perturbed = 0;
    char why[512];
    for (size_t i = 0; i < g.n; i++) {
        const env_gold_meta *m = &g.metas[i];
        env_table *golds;
        size_t n;
        strlist_t names;
        strlist_init(&names);
        env_gold_variants(&g, m->instance_id, &names);
        if (!names.len) { /* BigQuery/Snowflake tasks have no gold CSV here */
            strlist_free(&names);
            continue;
        }
        strlist_free(&names);
        CHECK_MSG(env_gold_load(&g, m->instance_id, &golds, &n, &e) == 0, "%s", e.msg);
        for (size_t v = 0; v < n; v++) {
            const env_table *t = &golds[v];
            /* each gold table, as a prediction, scores 1 under its task's rule */
            CHECK_MSG(env_score(t, golds, n, m, OFF, why, sizeof why) == 1, "%s variant %zu: %s",
                      m->instance_id, v, why);
            CHECK_MSG(env_score(t, golds, n, m, STRICT, why, sizeof why) == 1,
                      "%s variant %zu (strict): %s", m->instance_id, v, why);
            files++;
            if (!t->nrows || !t->cols.len)
                continue;
            /* against this one variant, all columns kept */
            env_table p = copy(t, (long)t->nrows - 1, -1, -1);
            CHECK_MSG(env_score_table(&p, t, NULL, 0, 1, OFF, why, sizeof why) == 0,
                      "%s: a dropped row still scores 1", m->instance_id);
            env_table_free(&p);
            for (size_t c = 0; c < t->cols.len; c++) {
                /* only columns no other column equals: otherwise the
                 * official rule rightly finds the twin */
                long keep[1] = {(long)c};
                env_table without = copy(t, -1, (long)c, -1);
                int twin = env_score_table(&without, t, keep, 1, 1, OFF, why, sizeof why);
                if (!twin) {
                    CHECK_MSG(env_score_table(&without, t, NULL, 0, 1, OFF, why, sizeof why) == 0,
                              "%s: a missing column %zu still scores 1", m->instance_id, c);
                    env_table bumped = copy(t, -1, -1, (long)c);
                    CHECK_MSG(env_score_table(&bumped, t, NULL, 0, 1, OFF, why, sizeof why) == 0,
                              "%s: a changed value in column %zu still scores 1", m->instance_id,
                              c);
                    env_table_free(&bumped);
                    perturbed++;
                }
                env_table_free(&without);
            }
        }
        env_tables_free(golds, n);
    }
    env_gold_close(&g);
    CHECK_MSG(files > 300 && perturbed > 500, "%zu files, %zu perturbed columns", files, perturbed);
}
