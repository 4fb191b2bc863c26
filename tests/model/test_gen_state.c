/* model/transformer: generation across turns (tf_gen_state). What a
 * multi-turn episode does - generate, append the environment's tokens,
 * generate again - must give what generating from the whole text afresh
 * gives, without recomputing the earlier tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/transformer.h"
#include "../test.h"

static tf_model *load(const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/tests/fixtures/models/%s", test_root(), name);
    err_t e;
    tf_model *m = tf_load(p, NULL, &e);
    if (!m)
        test_fail(__FILE__, __LINE__, "%s", e.msg);
    return m;
}

/* greedy continuation of one token sequence, afresh */
static int fresh(tf_model *m, const int32_t *toks, int n, int gen, int32_t *out, float *lp)
{
    int nn;
    const int32_t *pr[1] = {toks};
    tf_gen_params p = {.max_new_tokens = gen};
    tf_gen_out o = {out, lp, &nn, NULL};
    err_t e;
    if (tf_generate(m, pr, &n, 1, &p, &o, &e) != 0)
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    return nn == gen;
}

TEST(gen_state_continues_as_a_fresh_prefill)
{
    const char *fams[] = {"llama", "gpt2", "mistral"};
    for (size_t f = 0; f < ARRAY_LEN(fams); f++) {
        tf_model *m = load(fams[f]);
        if (!m)
            return;
        int32_t p0[5] = {3, 17, 9, 22, 5}, p1[2] = {7, 1}, env0[3] = {11, 12, 13}, env1[1] = {4};
        err_t e;
        tf_gen_state *st = tf_gen_state_new(m, 2, 30, 0, &e);
        CHECK(st);
        int seqs[2] = {0, 1}, n[2] = {5, 2};
        const int32_t *pr[2] = {p0, p1};
        CHECK_MSG(tf_gen_state_append(st, 2, seqs, pr, n, &e) == 0, "%s", e.msg);
        int32_t t1[2 * 4], t2[2 * 4];
        float l1[2 * 4], l2[2 * 4];
        int nn[2];
        tf_gen_params gp = {.max_new_tokens = 4};
        tf_gen_out o = {t1, l1, nn, NULL};
        CHECK_MSG(tf_gen_state_generate(st, 2, seqs, &gp, &o, &e) == 0, "%s", e.msg);
        CHECK(nn[0] == 4 && nn[1] == 4);
        CHECK(tf_gen_state_len(st, 0) == 9 && tf_gen_state_len(st, 1) == 6);
        /* the environment answers both; only sequence 1 goes on at first */
        const int32_t *ev[2] = {env0, env1};
        int en[2] = {3, 1};
        CHECK(tf_gen_state_append(st, 2, seqs, ev, en, &e) == 0);
        int one = 1;
        tf_gen_out o2 = {t2 + 4, l2 + 4, nn + 1, NULL};
        CHECK(tf_gen_state_generate(st, 1, &one, &gp, &o2, &e) == 0);
        int zero = 0;
        tf_gen_out o1 = {t2, l2, nn, NULL};
        CHECK(tf_gen_state_generate(st, 1, &zero, &gp, &o1, &e) == 0);
        /* afresh: prompt + first turn + environment, then 4 greedy tokens */
        for (int s = 0; s < 2; s++) {
            int32_t all[20], want[4];
            float wl[4];
            int k = 0;
            const int32_t *pp = s ? p1 : p0;
            for (int i = 0; i < n[s]; i++)
                all[k++] = pp[i];
            for (int i = 0; i < 4; i++)
                all[k++] = t1[s * 4 + i];
            for (int i = 0; i < en[s]; i++)
                all[k++] = ev[s][i];
            CHECK(fresh(m, all, k, 4, want, wl));
            for (int i = 0; i < 4; i++) {
                CHECK_MSG(t2[s * 4 + i] == want[i], "%s seq %d token %d: %d, afresh %d", fams[f],
                          s, i, t2[s * 4 + i], want[i]);
                CHECK_MSG(fabsf(l2[s * 4 + i] - wl[i]) < 1e-4f, "%s: logprob %g vs %g", fams[f],
                          l2[s * 4 + i], wl[i]);
            }
        }
        tf_gen_state_free(st);
        tf_free(m);
    }
}

TEST(gen_state_draws_do_not_depend_on_the_batch)
{
    tf_model *m = load("llama");
    if (!m)
        return;
    int32_t p0[3] = {3, 17, 9}, p1[4] = {5, 6, 7, 8};
    int32_t a[12], b[2 * 12];
    int na, nb[2];
    err_t e;
    tf_gen_params gp = {.max_new_tokens = 12, .temperature = 1.0f, .seed = 42};
    /* sequence 0 alone */
    tf_gen_state *st = tf_gen_state_new(m, 1, 20, 42, &e);
    int s0 = 0, n0 = 3;
    const int32_t *pr0[1] = {p0};
    CHECK(tf_gen_state_append(st, 1, &s0, pr0, &n0, &e) == 0);
    tf_gen_out oa = {a, NULL, &na, NULL};
    CHECK(tf_gen_state_generate(st, 1, &s0, &gp, &oa, &e) == 0);
    tf_gen_state_free(st);
    /* the same beside another sequence */
    st = tf_gen_state_new(m, 2, 20, 42, &e);
    int seqs[2] = {0, 1}, n[2] = {3, 4};
    const int32_t *pr[2] = {p0, p1};
    CHECK(tf_gen_state_append(st, 2, seqs, pr, n, &e) == 0);
    tf_gen_out ob = {b, NULL, nb, NULL};
    CHECK(tf_gen_state_generate(st, 2, seqs, &gp, &ob, &e) == 0);
    CHECK(na == 12 && nb[0] == 12);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "sequence 0 drew other tokens beside sequence 1");
    /* and a reseeded stream draws otherwise */
    tf_gen_state_seed(st, 0, 43, 0);
    gp.max_new_tokens = 4;
    CHECK(tf_gen_state_generate(st, 1, &s0, &gp, &oa, &e) == 0 && na == 4);
    tf_gen_state_free(st);
    tf_free(m);
}

TEST(gen_state_bad_use_is_one_clear_line)
{
    tf_model *m = load("llama");
    if (!m)
        return;
    err_t e;
    CHECK(tf_gen_state_new(m, 0, 10, 0, &e) == NULL);
    tf_gen_state *st = tf_gen_state_new(m, 2, 6, 0, &e);
    int32_t t[8] = {1, 2, 3, 4, 5, 6, 7, 900};
    const int32_t *pr[1] = {t};
    int s = 0, n = 7, bad = 2, twice[2] = {1, 1};
    CHECK(tf_gen_state_append(st, 1, &s, pr, &n, &e) != 0);
    CHECK_CONTAINS(e.msg, "would hold 7 tokens; the state has room for 6");
    CHECK(tf_gen_state_append(st, 1, &bad, pr, &n, &e) != 0);
    CHECK_CONTAINS(e.msg, "sequence 2 is outside 0..1");
    CHECK(tf_gen_state_append(st, 2, twice, pr, &n, &e) != 0);
    CHECK_CONTAINS(e.msg, "named twice");
    const int32_t *pv[1] = {t + 7};
    n = 1;
    CHECK(tf_gen_state_append(st, 1, &s, pv, &n, &e) != 0);
    CHECK_CONTAINS(e.msg, "token id 900 of sequence 0 is outside the vocabulary");
    int32_t out[8];
    int nn;
    tf_gen_params gp = {.max_new_tokens = 3};
    tf_gen_out o = {out, NULL, &nn, NULL};
    CHECK(tf_gen_state_generate(st, 1, &s, &gp, &o, &e) != 0);
    CHECK_CONTAINS(e.msg, "sequence 0 is empty");
    n = 5;
    CHECK(tf_gen_state_append(st, 1, &s, pr, &n, &e) == 0);
    CHECK(tf_gen_state_generate(st, 1, &s, &gp, &o, &e) != 0);
    CHECK_CONTAINS(e.msg, "the state has room for 6");
    gp.max_new_tokens = 2;
    CHECK(tf_gen_state_generate(st, 1, &s, &gp, &o, &e) == 0 && nn == 2);
    tf_gen_state_free(st);
    tf_free(m);
}
