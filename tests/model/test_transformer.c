/* model/transformer against PyTorch: tests/ref/make_models.py wrote tiny
 * models of each family and what a float64 PyTorch forward pass gives for
 * them (logits of a padded batch, log-probabilities, entropies, greedy
 * continuations with a KV cache). Here the engine must reproduce them,
 * and the sampler must keep its promises. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/safetensors.h"
#include "../../src/model/tf_layers.h"
#include "../../src/model/transformer.h"
#include "../test.h"

static const char *fixture(const char *name)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/tests/fixtures/models/%s", test_root(), name);
    return p;
}

/* expected.safetensors of one fixture */
typedef struct {
    int B, T, V, G, LB, LT;
    int32_t *tokens, *greedy, *long_tokens;
    int *lens, *long_lens;
    float *logits, *logprobs, *entropy, *greedy_lp, *long_logprobs, *long_entropy;
} expect_t;

static void *take(const st_file *f, const char *name)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return NULL;
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static int load_expect(const char *name, expect_t *x)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/expected.safetensors", fixture(name));
    st_file f;
    err_t e;
    if (st_open(&f, p, &e) != 0)
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    const st_tensor *lg = st_find(&f, "logits"), *g = st_find(&f, "greedy");
    x->B = (int)lg->shape[0];
    x->T = (int)lg->shape[1];
    x->V = (int)lg->shape[2];
    x->G = (int)g->shape[1];
    x->tokens = take(&f, "tokens");
    x->greedy = take(&f, "greedy");
    x->lens = take(&f, "lens");
    x->logits = take(&f, "logits");
    x->logprobs = take(&f, "logprobs");
    x->entropy = take(&f, "entropy");
    x->greedy_lp = take(&f, "greedy_logprobs");
    const st_tensor *lt = st_find(&f, "long_tokens");
    x->LB = lt ? (int)lt->shape[0] : 0;
    x->LT = lt ? (int)lt->shape[1] : 0;
    x->long_tokens = take(&f, "long_tokens");
    x->long_lens = take(&f, "long_lens");
    x->long_logprobs = take(&f, "long_logprobs");
    x->long_entropy = take(&f, "long_entropy");
    st_close(&f);
    return 1;
}

static void free_expect(expect_t *x)
{
    free(x->tokens);
    free(x->greedy);
    free(x->lens);
    free(x->logits);
    free(x->logprobs);
    free(x->entropy);
    free(x->greedy_lp);
    free(x->long_tokens);
    free(x->long_lens);
    free(x->long_logprobs);
    free(x->long_entropy);
}

/* max |a - b| over n, relative to max(1, max |b|) */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 1;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            return INFINITY;
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return d / s;
}

static tf_model *load(const char *name, int bf16)
{
    err_t e;
    tf_load_opts o = {.linear_bf16 = bf16};
    tf_model *m = tf_load(fixture(name), &o, &e);
    if (!m)
        test_fail(__FILE__, __LINE__, "%s", e.msg);
    return m;
}

/* The whole comparison for one fixture. */
static void check_model(const char *name, int bf16, double tol)
{
    expect_t x;
    if (!load_expect(name, &x))
        return;
    tf_model *m = load(name, bf16);
    if (!m)
        return;
    err_t e;
    int B = x.B, T = x.T, V = x.V, G = x.G;
    CHECK(tf_config(m)->vocab_size == V);
    float *logits = malloc(sizeof(float) * B * T * V);
    CHECK_MSG(tf_logits(m, x.tokens, x.lens, B, T, logits, &e) == 0, "%s", e.msg);
    for (int b = 0; b < B; b++) {
        double r = rel_err(logits + (size_t)b * T * V, x.logits + (size_t)b * T * V,
                           (size_t)T * V);
        CHECK_MSG(r < tol, "%s: logits of row %d: relative error %.3g", name, b, r);
    }
    /* the last-position logits are those rows */
    float *last = malloc(sizeof(float) * B * V);
    CHECK(tf_last_logits(m, x.tokens, x.lens, B, T, last, &e) == 0);
    for (int b = 0; b < B; b++)
        CHECK(rel_err(last + (size_t)b * V, x.logits + ((size_t)b * T + x.lens[b] - 1) * V,
                      (size_t)V) < tol);
    /* log-probabilities of the next tokens, and entropies */
    float *lp = malloc(sizeof(float) * B * T), *ent = malloc(sizeof(float) * B * T);
    CHECK(tf_token_logprobs(m, x.tokens, x.lens, B, T, NULL, lp, ent, &e) == 0);
    for (int i = 0; i < B * T; i++) {
        CHECK_MSG(fabs(lp[i] - x.logprobs[i]) < 20 * tol * (1 + fabs(x.logprobs[i])),
                  "%s: logprob %d: %g vs %g", name, i, lp[i], x.logprobs[i]);
        CHECK_MSG(fabs(ent[i] - x.entropy[i]) < 20 * tol * (1 + fabs(x.entropy[i])),
                  "%s: entropy %d: %g vs %g", name, i, ent[i], x.entropy[i]);
    }
    /* explicit targets give the same; a negative target is skipped */
    int32_t *tg = malloc(sizeof(int32_t) * B * T);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            tg[b * T + t] = t + 1 < x.lens[b] ? x.tokens[b * T + t + 1] : -1;
    float *lp2 = malloc(sizeof(float) * B * T);
    CHECK(tf_token_logprobs(m, x.tokens, x.lens, B, T, tg, lp2, NULL, &e) == 0);
    CHECK(memcmp(lp, lp2, sizeof(float) * B * T) == 0);
    /* greedy continuations, all prompts in one batch, with the KV cache */
    const int32_t **prompts = malloc(sizeof(*prompts) * B);
    for (int b = 0; b < B; b++)
        prompts[b] = x.tokens + (size_t)b * T;
    int32_t *out = malloc(sizeof(int32_t) * B * G);
    float *olp = malloc(sizeof(float) * B * G);
    int n[8];
    tf_finish fin[8];
    tf_gen_params gp = {.max_new_tokens = G};
    tf_gen_out go = {out, olp, n, fin};
    CHECK_MSG(tf_generate(m, prompts, x.lens, B, &gp, &go, &e) == 0, "%s", e.msg);
    for (int b = 0; b < B; b++) {
        CHECK(n[b] == G && fin[b] == TF_FINISH_LENGTH);
        for (int i = 0; i < G; i++) {
            CHECK_MSG(out[b * G + i] == x.greedy[b * G + i], "%s: row %d token %d: %d, want %d",
                      name, b, i, out[b * G + i], x.greedy[b * G + i]);
            CHECK_MSG(fabs(olp[b * G + i] - x.greedy_lp[b * G + i]) <
                          20 * tol * (1 + fabs(x.greedy_lp[b * G + i])),
                      "%s: greedy logprob %d/%d: %g vs %g", name, b, i, olp[b * G + i],
                      x.greedy_lp[b * G + i]);
        }
    }
    /* each prompt alone continues exactly as in the batch */
    for (int b = 0; b < B; b++) {
        int32_t one[64];
        float onelp[64];
        int n1;
        tf_gen_out g1 = {one, onelp, &n1, NULL};
        CHECK(tf_generate(m, &prompts[b], &x.lens[b], 1, &gp, &g1, &e) == 0);
        CHECK(n1 == G && memcmp(one, out + b * G, sizeof(int32_t) * G) == 0);
        for (int i = 0; i < G; i++)
            CHECK(fabs(onelp[i] - olp[b * G + i]) < 1e-5);
    }
    /* an 80-token batch: several blocks of queries in the attention, and
     * (Mistral) a sliding window that reaches across them */
    if (x.long_tokens) {
        int LB = x.LB, LT = x.LT;
        float *llp = malloc(sizeof(float) * LB * LT), *lent = malloc(sizeof(float) * LB * LT);
        CHECK(tf_token_logprobs(m, x.long_tokens, x.long_lens, LB, LT, NULL, llp, lent, &e) == 0);
        for (int i = 0; i < LB * LT; i++) {
            CHECK_MSG(fabs(llp[i] - x.long_logprobs[i]) < 20 * tol * (1 + fabs(x.long_logprobs[i])),
                      "%s: long logprob %d: %g vs %g", name, i, llp[i], x.long_logprobs[i]);
            CHECK_MSG(fabs(lent[i] - x.long_entropy[i]) < 20 * tol * (1 + fabs(x.long_entropy[i])),
                      "%s: long entropy %d: %g vs %g", name, i, lent[i], x.long_entropy[i]);
        }
        free(llp);
        free(lent);
    }
    free(prompts);
    free(out);
    free(olp);
    free(tg);
    free(lp2);
    free(lp);
    free(ent);
    free(last);
    free(logits);
    tf_free(m);
    free_expect(&x);
}

TEST(tf_ref_gpt2)
{
    check_model("gpt2", 0, 1e-4);
}

TEST(tf_ref_llama_llama3_rope_sharded)
{
    check_model("llama", 0, 1e-4);
}

TEST(tf_ref_qwen2_bf16_file)
{
    check_model("qwen2", 0, 1e-4);
}

TEST(tf_ref_qwen2_bf16_weights_held_bf16)
{
    /* the file is bf16, so holding Linear weights in bf16 loses nothing */
    check_model("qwen2", 1, 1e-4);
}

TEST(tf_ref_qwen3_f16_file_no_prefix)
{
    check_model("qwen3", 0, 1e-4);
}

TEST(tf_ref_mistral_gqa_sliding_window)
{
    check_model("mistral", 0, 1e-4);
}

TEST(tf_bf16_weights_of_fp32_model_stay_close)
{
    expect_t x;
    if (!load_expect("llama", &x))
        return;
    tf_model *m = load("llama", 1);
    CHECK(m);
    err_t e;
    float *lg = malloc(sizeof(float) * x.B * x.T * x.V);
    CHECK(tf_logits(m, x.tokens, x.lens, x.B, x.T, lg, &e) == 0);
    double r = rel_err(lg, x.logits, (size_t)x.B * x.T * x.V);
    CHECK_MSG(r < 3e-2 && r > 1e-6, "relative error %g", r); /* rounded, not exact */
    free(lg);
    tf_free(m);
    free_expect(&x);
}

TEST(tf_param_count)
{
    tf_model *m = load("gpt2", 0);
    CHECK(m);
    /* make_models.py printed 31616 for GPT-2 (wte tied) */
    CHECK_MSG(tf_num_params(m) == 31616, "%zu", tf_num_params(m));
    tf_free(m);
    m = load("llama", 0);
    CHECK(tf_num_params(m) == 30880);
    tf_free(m);
}

TEST(tf_threads_do_not_change_results)
{
    expect_t x;
    if (!load_expect("mistral", &x))
        return;
    tf_model *m = load("mistral", 0);
    err_t e;
    size_t n = (size_t)x.B * x.T * x.V;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    par_set_threads(1);
    CHECK(tf_logits(m, x.tokens, x.lens, x.B, x.T, a, &e) == 0);
    par_set_threads(3);
    CHECK(tf_logits(m, x.tokens, x.lens, x.B, x.T, b, &e) == 0);
    par_set_threads(0);
    CHECK(memcmp(a, b, sizeof(float) * n) == 0);
    free(a);
    free(b);
    tf_free(m);
    free_expect(&x);
}

TEST(tf_bad_batches)
{
    tf_model *m = load("gpt2", 0);
    CHECK(m);
    err_t e;
    float out[160 * 4];
    int32_t tok[4] = {1, 2, 160, 3};
    int len = 4;
    CHECK(tf_last_logits(m, tok, &len, 1, 4, out, &e) != 0);
    CHECK_CONTAINS(e.msg, "token id 160 at [0, 2] is outside the vocabulary (0..159)");
    tok[2] = -1;
    CHECK(tf_last_logits(m, tok, &len, 1, 4, out, &e) != 0);
    len = 0;
    CHECK(tf_last_logits(m, tok, &len, 1, 4, out, &e) != 0);
    CHECK_CONTAINS(e.msg, "lens[0] = 0 is outside 1..4");
    len = 2; /* junk past lens is fine */
    CHECK(tf_last_logits(m, tok, &len, 1, 4, out, &e) == 0);
    int32_t tg[4] = {0, 999, 0, 0};
    float lp[4];
    CHECK(tf_token_logprobs(m, tok, &len, 1, 4, tg, lp, NULL, &e) != 0);
    CHECK_CONTAINS(e.msg, "target id 999 at [0, 1]");
    tg[1] = 5;
    tg[3] = 999; /* in the padding: not looked at */
    CHECK(tf_token_logprobs(m, tok, &len, 1, 4, tg, lp, NULL, &e) == 0);
    CHECK(lp[2] == 0 && lp[3] == 0 && lp[1] < 0);
    /* GPT-2 has 32 positions here */
    int32_t longp[40] = {0};
    int ll = 33;
    CHECK(tf_last_logits(m, longp, &ll, 1, 40, out, &e) != 0);
    CHECK_CONTAINS(e.msg, "33 positions needed; the model has 32");
    const int32_t *pr = longp;
    int pl = 20;
    int32_t g[16];
    int gn;
    tf_gen_params gp = {.max_new_tokens = 16};
    tf_gen_out go = {g, NULL, &gn, NULL};
    CHECK(tf_generate(m, &pr, &pl, 1, &gp, &go, &e) != 0);
    CHECK_CONTAINS(e.msg, "36 positions needed");
    gp.max_new_tokens = 4;
    gp.top_p = 1.5f;
    CHECK(tf_generate(m, &pr, &pl, 1, &gp, &go, &e) != 0);
    tf_free(m);
}

/* ---- sampling ---- */

typedef struct {
    tf_model *m;
    expect_t x;
    const int32_t *prompts[8];
} samp_fix;

static int samp_open(samp_fix *f, const char *name)
{
    if (!load_expect(name, &f->x))
        return 0;
    f->m = load(name, 0);
    for (int b = 0; b < f->x.B; b++)
        f->prompts[b] = f->x.tokens + (size_t)b * f->x.T;
    return f->m != NULL;
}

static void samp_close(samp_fix *f)
{
    tf_free(f->m);
    free_expect(&f->x);
}

static int gen(samp_fix *f, const tf_gen_params *p, int32_t *tok, float *lp, int *n,
               tf_finish *fin)
{
    err_t e;
    tf_gen_out o = {tok, lp, n, fin};
    if (tf_generate(f->m, f->prompts, f->x.lens, f->x.B, p, &o, &e) != 0)
        return test_fail(__FILE__, __LINE__, "%s", e.msg), -1;
    return 0;
}

TEST(tf_sample_seeded_and_reproducible)
{
    samp_fix f;
    if (!samp_open(&f, "llama"))
        return;
    int B = f.x.B, G = 16, n[8], n2[8];
    int32_t a[3 * 16], b[3 * 16], c[3 * 16];
    tf_gen_params p = {.max_new_tokens = G, .temperature = 1.5f, .top_p = 0.95f, .top_k = 50,
                       .seed = 7};
    CHECK(gen(&f, &p, a, NULL, n, NULL) == 0);
    CHECK(gen(&f, &p, b, NULL, n2, NULL) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(n, n2, sizeof(int) * B) == 0);
    p.seed = 8;
    CHECK(gen(&f, &p, c, NULL, n2, NULL) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* sampled at temperature 1.5 it is not the greedy text */
    CHECK(memcmp(a, f.x.greedy, sizeof a) != 0);
    samp_close(&f);
}

TEST(tf_sample_limits_are_greedy)
{
    samp_fix f;
    if (!samp_open(&f, "qwen3"))
        return;
    int G = 16, n[8];
    int32_t t[3 * 16];
    float lp[3 * 16];
    /* top-k 1 at any temperature: greedy, and the only candidate: logprob 0 */
    tf_gen_params p = {.max_new_tokens = G, .temperature = 1.0f, .top_k = 1, .seed = 3};
    CHECK(gen(&f, &p, t, lp, n, NULL) == 0);
    CHECK(memcmp(t, f.x.greedy, sizeof t) == 0);
    for (int i = 0; i < 3 * G; i++)
        CHECK(fabsf(lp[i]) < 1e-6f);
    /* a tiny nucleus: greedy */
    p = (tf_gen_params){.max_new_tokens = G, .temperature = 0.8f, .top_p = 1e-6f, .seed = 4};
    CHECK(gen(&f, &p, t, lp, n, NULL) == 0);
    CHECK(memcmp(t, f.x.greedy, sizeof t) == 0);
    /* a very low temperature: greedy */
    p = (tf_gen_params){.max_new_tokens = G, .temperature = 1e-3f, .seed = 5};
    CHECK(gen(&f, &p, t, lp, n, NULL) == 0);
    CHECK(memcmp(t, f.x.greedy, sizeof t) == 0);
    samp_close(&f);
}

static int stop_after_3_of_seq1(void *user, int seq, const int32_t *toks, int n)
{
    int *calls = user;
    (*calls)++;
    (void)toks;
    return seq == 1 && n == 3;
}

TEST(tf_sample_stop_ids_and_callback)
{
    samp_fix f;
    if (!samp_open(&f, "gpt2"))
        return;
    int B = f.x.B, G = 16, n[8];
    int32_t t[3 * 16];
    tf_finish fin[8];
    /* stop at the 6th greedy token of row 0 */
    int32_t stop = f.x.greedy[5];
    tf_gen_params p = {.max_new_tokens = G, .stop_ids = &stop, .n_stop = 1};
    CHECK(gen(&f, &p, t, NULL, n, fin) == 0);
    for (int b = 0; b < B; b++) {
        int want = G;
        for (int i = 0; i < G; i++)
            if (f.x.greedy[b * G + i] == stop) {
                want = i + 1;
                break;
            }
        CHECK_MSG(n[b] == want, "row %d: %d tokens, want %d", b, n[b], want);
        CHECK(fin[b] == (want < G || f.x.greedy[b * G + G - 1] == stop ? TF_FINISH_STOP_ID
                                                                       : TF_FINISH_LENGTH));
        CHECK(memcmp(t + b * G, f.x.greedy + b * G, sizeof(int32_t) * n[b]) == 0);
    }
    CHECK(n[0] <= 6 && t[n[0] - 1] == stop);
    /* the callback ends row 1 after 3 tokens; the others run on */
    int calls = 0;
    p = (tf_gen_params){.max_new_tokens = G, .should_stop = stop_after_3_of_seq1, .user = &calls};
    CHECK(gen(&f, &p, t, NULL, n, fin) == 0);
    CHECK(n[0] == G && n[1] == 3 && n[2] == G);
    CHECK(fin[1] == TF_FINISH_CALLBACK && fin[0] == TF_FINISH_LENGTH);
    CHECK(calls == 3 + 2 * G); /* asked after every token */
    CHECK(memcmp(t + 2 * G, f.x.greedy + 2 * G, sizeof(int32_t) * G) == 0);
    /* nothing to generate */
    p = (tf_gen_params){.max_new_tokens = 0};
    CHECK(gen(&f, &p, t, NULL, n, fin) == 0);
    CHECK(n[0] == 0 && n[1] == 0 && n[2] == 0);
    samp_close(&f);
}

TEST(tf_sample_logprobs_match_the_model)
{
    /* At temperature 1 without truncation the returned log-probability
     * is the model's own: score prompt + sample with tf_token_logprobs. */
    samp_fix f;
    if (!samp_open(&f, "mistral"))
        return;
    int B = f.x.B, T = f.x.T, G = 16, n[8];
    int32_t t[3 * 16];
    float lp[3 * 16];
    tf_gen_params p = {.max_new_tokens = G, .temperature = 1.0f, .seed = 11};
    CHECK(gen(&f, &p, t, lp, n, NULL) == 0);
    int W = T + G;
    int32_t *seq = calloc((size_t)B * W, sizeof *seq);
    int lens[8];
    for (int b = 0; b < B; b++) {
        memcpy(seq + b * W, f.prompts[b], sizeof(int32_t) * f.x.lens[b]);
        memcpy(seq + b * W + f.x.lens[b], t + b * G, sizeof(int32_t) * n[b]);
        lens[b] = f.x.lens[b] + n[b];
    }
    float *slp = malloc(sizeof(float) * B * W);
    err_t e;
    CHECK(tf_token_logprobs(f.m, seq, lens, B, W, NULL, slp, NULL, &e) == 0);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n[b]; i++) {
            float want = slp[b * W + f.x.lens[b] - 1 + i];
            CHECK_MSG(fabsf(lp[b * G + i] - want) < 1e-4f * (1 + fabsf(want)),
                      "row %d token %d: %g vs %g", b, i, lp[b * G + i], want);
        }
    free(seq);
    free(slp);
    samp_close(&f);
}

TEST(tf_sample_truncated_logprob)
{
    /* top-k 5 at temperature 0.7: the first token's log-probability is
     * its share of the 5 largest softmax(logits / 0.7) weights */
    samp_fix f;
    if (!samp_open(&f, "gpt2"))
        return;
    int V = f.x.V, n;
    float last[160];
    err_t e;
    CHECK(tf_last_logits(f.m, f.x.tokens, f.x.lens, 1, f.x.T, last, &e) == 0);
    for (uint64_t seed = 0; seed < 20; seed++) {
        int32_t t;
        float lp;
        tf_gen_params p = {.max_new_tokens = 1, .temperature = 0.7f, .top_k = 5, .seed = seed};
        tf_gen_out o = {&t, &lp, &n, NULL};
        CHECK(tf_generate(f.m, f.prompts, f.x.lens, 1, &p, &o, &e) == 0);
        int rank = 0;
        for (int i = 0; i < V; i++)
            rank += last[i] > last[t];
        CHECK_MSG(rank < 5, "token %d ranks %d", t, rank);
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < V; i++)
            mx = fmax(mx, last[i]);
        for (int i = 0; i < V; i++) {
            int r = 0;
            for (int j = 0; j < V; j++)
                r += last[j] > last[i];
            if (r < 5)
                z += exp((last[i] - mx) / 0.7);
        }
        double want = (last[t] - mx) / 0.7 - log(z);
        CHECK_MSG(fabs(lp - want) < 1e-4, "seed %llu: %g vs %g", (unsigned long long)seed, lp, want);
    }
    samp_close(&f);
}

TEST(tf_sample_follows_the_distribution)
{
    /* The first token over many seeds: frequencies within 5 standard
     * errors of softmax(logits / 1.3) for the likely tokens, and top-p
     * 0.5 draws only from the nucleus. */
    samp_fix f;
    if (!samp_open(&f, "qwen2"))
        return;
    int V = f.x.V, n, runs = 3000;
    float last[150];
    err_t e;
    CHECK(tf_last_logits(f.m, f.x.tokens + f.x.T, f.x.lens + 1, 1, f.x.T, last, &e) == 0);
    double pr[150], mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++)
        mx = fmax(mx, last[i]);
    for (int i = 0; i < V; i++)
        z += pr[i] = exp((last[i] - mx) / 1.3);
    for (int i = 0; i < V; i++)
        pr[i] /= z;
    int count[150] = {0};
    for (int s = 0; s < runs; s++) {
        int32_t t;
        tf_gen_params p = {.max_new_tokens = 1, .temperature = 1.3f, .seed = (uint64_t)s};
        tf_gen_out o = {&t, NULL, &n, NULL};
        CHECK(tf_generate(f.m, &f.prompts[1], &f.x.lens[1], 1, &p, &o, &e) == 0);
        count[t]++;
    }
    for (int i = 0; i < V; i++) {
        double se = sqrt(pr[i] * (1 - pr[i]) / runs), got = (double)count[i] / runs;
        CHECK_MSG(fabs(got - pr[i]) < 5 * se + 1e-3, "token %d: %.4f, want %.4f", i, got, pr[i]);
    }
    /* nucleus 0.5: the smallest top set with mass >= 0.5 */
    int order[150];
    for (int i = 0; i < V; i++)
        order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (pr[order[j]] > pr[order[i]]) {
                int k = order[i];
                order[i] = order[j];
                order[j] = k;
            }
    int in[150] = {0};
    double mass = 0;
    for (int i = 0; i < V && mass < 0.5; i++) {
        in[order[i]] = 1;
        mass += pr[order[i]];
    }
    for (int s = 0; s < 300; s++) {
        int32_t t;
        float lp;
        tf_gen_params p = {.max_new_tokens = 1, .temperature = 1.3f, .top_p = 0.5f, .seed = (uint64_t)s};
        tf_gen_out o = {&t, &lp, &n, NULL};
        CHECK(tf_generate(f.m, &f.prompts[1], &f.x.lens[1], 1, &p, &o, &e) == 0);
        CHECK_MSG(in[t], "token %d is outside the nucleus", t);
        CHECK(fabs(lp - log(pr[t] / mass)) < 1e-4);
    }
    samp_close(&f);
}

/* ---- vector functions and the pool ---- */

TEST(tf_vec_functions_are_accurate)
{
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = (float)((i * 37) % 1000) * 0.05f - 25.0f;
    float m = tf_vec_max(x, 1000);
    CHECK(m == 24.95f);
    double s = 0;
    for (int i = 0; i < 1000; i++)
        s += exp((double)x[i] - m);
    CHECK(fabs(tf_vec_logsumexp(x, 1000, m) - (m + log(s))) < 1e-5);
    float p[1000];
    float z = tf_vec_exp(p, x, 1000, m, 0.5f);
    double zz = 0;
    for (int i = 0; i < 1000; i++) {
        double want = exp((double)((x[i] - m) * 0.5f));
        CHECK(fabs(p[i] - want) <= 3e-7 * want + 1e-38);
        zz += want;
    }
    CHECK(fabs(z - zz) < 1e-5 * zz);
    /* very negative arguments underflow to (almost) zero, never NaN */
    float big[3] = {-1e30f, 0, -200};
    CHECK(tf_vec_exp(p, big, 3, 0, 1) >= 1.0f && p[0] < 1e-37f && p[2] < 1e-37f);
}

static void mark(void *ctx, long i0, long i1)
{
    int *seen = ctx;
    for (long i = i0; i < i1; i++)
        __atomic_fetch_add(&seen[i], 1, __ATOMIC_RELAXED);
}

static void nested(void *ctx, int part, int nparts)
{
    int *seen = ctx;
    par_for(100, 7, mark, seen + 100 * part);
    (void)nparts;
}

TEST(pool_covers_every_index_once)
{
    static int seen[1000];
    for (int threads = 1; threads <= 4; threads++) {
        par_set_threads(threads);
        for (long n = 0; n <= 1000; n += 97)
            for (long grain = 1; grain <= 300; grain *= 7) {
                memset(seen, 0, sizeof seen);
                par_for(n, grain, mark, seen);
                for (long i = 0; i < 1000; i++)
                    CHECK_MSG(seen[i] == (i < n), "threads %d n %ld grain %ld index %ld: %d",
                              threads, n, grain, i, seen[i]);
            }
        /* a job inside a job runs on its caller */
        memset(seen, 0, sizeof seen);
        par_run(threads, nested, seen);
        int parts = threads < par_threads() ? threads : par_threads();
        for (int i = 0; i < 1000; i++)
            CHECK(seen[i] == (i < 100 * parts));
    }
    par_set_threads(0);
}
