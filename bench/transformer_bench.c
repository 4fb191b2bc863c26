/* Transformer engine benchmark: forward (prefill) tokens/s, KV-cache
 * greedy decode tokens/s and peak memory for a GPT-2 124M and a
 * Qwen2.5-0.5B configuration with random weights, next to this machine's
 * ceilings (a 2-thread FMA loop, a STREAM triad) measured in the same run.
 * Not a test: it prints figures. See bench/README.md.
 *
 *   transformer-bench gpt2|qwen [--bf16] [--reps N] [--gen N] [--skip-prefill] [--skip-decode]
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/base.h"
#include "../src/model/kernels.h"
#include "../src/model/tf_internal.h"

static double now_s(void)
{
    return (double)time_now_ns() * 1e-9;
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* ---- ceilings ---- */

#define FMA_ITERS 20000000L

/* 12 independent chains: enough to fill two FMA pipes of 4-cycle latency. */
__attribute__((target("avx512f"))) static float fma_loop512(void)
{
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(1e-7f);
#define ACC(i) __m512 a##i = _mm512_set1_ps((float)i);
    ACC(0) ACC(1) ACC(2) ACC(3) ACC(4) ACC(5) ACC(6) ACC(7) ACC(8) ACC(9) ACC(10) ACC(11)
#undef ACC
    for (long n = 0; n < FMA_ITERS; n++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9)
        STEP(10) STEP(11)
#undef STEP
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

static volatile float g_sink;

static void fma_part(void *ctx, int part, int nparts)
{
    (void)ctx;
    (void)part;
    (void)nparts;
    g_sink = fma_loop512();
}

/* GFLOP/s of 2 threads of 16-lane FMAs (2 FLOP each) */
static double fma_ceiling(void)
{
    if (!__builtin_cpu_supports("avx512f"))
        return 0;
    int t = par_threads();
    double t0 = now_s();
    par_run(t, fma_part, NULL);
    double dt = now_s() - t0;
    return (double)t * FMA_ITERS * 12 * 16 * 2 / dt / 1e9;
}

typedef struct {
    float *a, *b, *c;
} triad_t;

static void triad_range(void *p, long i0, long i1)
{
    triad_t *t = p;
    for (long i = i0; i < i1; i++)
        t->a[i] = t->b[i] + 3.0f * t->c[i];
}

/* GB/s of a STREAM triad over arrays far beyond the caches (12 bytes per
 * float element: two reads, one write), best of 5 */
static double stream_triad(void)
{
    long n = 32L << 20;
    triad_t t = {xmalloc(sizeof(float) * n), xmalloc(sizeof(float) * n), xmalloc(sizeof(float) * n)};
    for (long i = 0; i < n; i++)
        t.a[i] = t.b[i] = t.c[i] = 1.0f;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        par_for(n, 1 << 16, triad_range, &t);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    free(t.a);
    free(t.b);
    free(t.c);
    return 12.0 * n / best / 1e9;
}

/* ---- models ---- */

static hf_config gpt2_config(void)
{
    hf_config c = {.arch = HF_GPT2, .vocab_size = 50257, .hidden = 768, .n_layer = 12,
                   .n_head = 12, .n_kv_head = 12, .head_dim = 64, .intermediate = 3072,
                   .max_pos = 1024, .norm_eps = 1e-5f, .act = HF_ACT_GELU_TANH, .learned_pos = 1,
                   .qkv_bias = 1, .o_bias = 1, .mlp_bias = 1, .tie_word_embeddings = 1};
    snprintf(c.arch_name, sizeof c.arch_name, "GPT2LMHeadModel");
    return c;
}

static hf_config qwen_config(void)
{
    hf_config c = {.arch = HF_QWEN2, .vocab_size = 151936, .hidden = 896, .n_layer = 24,
                   .n_head = 14, .n_kv_head = 2, .head_dim = 64, .intermediate = 4864,
                   .max_pos = 32768, .norm_eps = 1e-6f, .act = HF_ACT_SILU, .rms_norm = 1,
                   .qkv_bias = 1, .gated_mlp = 1, .tie_word_embeddings = 1, .rope_theta = 1e6,
                   .rope = HF_ROPE_DEFAULT};
    snprintf(c.arch_name, sizeof c.arch_name, "Qwen2ForCausalLM");
    return c;
}

/* Random weights as the PyTorch peer draws them: matrices N(0, 0.02)
 * (here uniform with that deviation), norm weights 1, biases 0. */
static void randomise(tf_model *m, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    const float a = 0.02f * 1.7320508f;
    for (int i = 0; i < m->n_plist; i++) {
        tf_param *p = &m->plist[i];
        int norm = strstr(p->name, "ln") || strstr(p->name, "norm");
        for (size_t k = 0; k < p->numel; k++) {
            float v = p->cols ? (float)(rng_uniform(&r) * 2 - 1) * a : norm ? 1.0f : 0.0f;
            if (p->p)
                p->p[k] = v;
            else
                p->p16[k] = k_f32_to_bf16(v);
        }
    }
    tf_sync_tied_head(m);
}

/* FLOP per token of the forward pass: 2 per multiply-add of every matrix
 * (the LM head included, a position table not) plus attention, 4 C L per
 * token of context (q.k and p.v), context taken as the full T as the
 * PyTorch peer counts it. */
static double fwd_flop_per_token(const tf_model *m, int ctx)
{
    double n = (double)tf_num_params(m);
    if (m->wpe)
        n -= (double)m->cfg.max_pos * m->C;
    return 2 * n + 4.0 * m->L * m->H * m->D * ctx;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double t[4096];
    int n;
} stamps_t;

static int stamp(void *user, int seq, const int32_t *toks, int n)
{
    stamps_t *s = user;
    (void)toks;
    if (seq == 0 && s->n < 4096)
        s->t[s->n++] = now_s();
    (void)n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "gpt2") && strcmp(argv[1], "qwen"))) {
        fprintf(stderr, "usage: %s gpt2|qwen [--bf16] [--reps N] [--gen N] [--skip-prefill] "
                        "[--skip-decode]\n",
                argv[0]);
        return 2;
    }
    int gpt2 = !strcmp(argv[1], "gpt2"), bf16 = 0, reps = 2, skip_prefill = 0, skip_decode = 0;
    int gen = gpt2 ? 128 : 64;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bf16"))
            bf16 = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
            gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--skip-prefill"))
            skip_prefill = 1;
        else if (!strcmp(argv[i], "--skip-decode"))
            skip_decode = 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows when piped to a file */
    double fma = fma_ceiling(), triad = stream_triad();
    printf("ceiling: FMA loop %.0f GFLOP/s (%d threads), STREAM triad %.1f GB/s\n", fma,
           par_threads(), triad);

    hf_config cfg = gpt2 ? gpt2_config() : qwen_config();
    tf_load_opts opts = {.linear_bf16 = bf16};
    err_t e;
    tf_model *m = tf_create(&cfg, &opts, argv[1], &e);
    if (!m) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    randomise(m, 1);
    size_t wbytes = m->n_params * 4 + m->n_params16 * 2;
    printf("model: %s, %.1fM parameters, weights %.0f MB (%s Linear), kernels: %s, threads %d\n",
           argv[1], tf_num_params(m) / 1e6, wbytes / 1e6, bf16 ? "bf16" : "fp32", k_backend_name(),
           par_threads());

    int V = m->V;
    rng_t r;
    rng_seed(&r, 2);
    if (!skip_prefill) {
        int B = gpt2 ? 4 : 1, T = 256;
        int32_t *tok = xmalloc(sizeof(int32_t) * B * T);
        int lens[8];
        for (int i = 0; i < B * T; i++)
            tok[i] = (int32_t)(rng_next(&r) % (uint64_t)V);
        for (int b = 0; b < B; b++)
            lens[b] = T;
        float *logits = xmalloc(sizeof(float) * (size_t)B * T * V);
        float *lp = xmalloc(sizeof(float) * B * T), *ent = xmalloc(sizeof(float) * B * T);
        double fpt = fwd_flop_per_token(m, T), tf[16], tl[16];
        if (reps > 16)
            reps = 16;
        for (int i = 0; i < reps; i++) {
            double t0 = now_s();
            if (tf_logits(m, tok, lens, B, T, logits, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            tf[i] = now_s() - t0;
            t0 = now_s();
            tf_token_logprobs(m, tok, lens, B, T, NULL, lp, ent, &e);
            tl[i] = now_s() - t0;
        }
        qsort(tf, (size_t)reps, sizeof *tf, cmp_d);
        qsort(tl, (size_t)reps, sizeof *tl, cmp_d);
        double ntok = (double)B * T;
        printf("prefill %dx%d, logits at every position: %.3f s = %.1f tokens/s, %.1f GFLOP/s "
               "(%.1f%% of the FMA ceiling)\n",
               B, T, tf[0], ntok / tf[0], fpt * ntok / tf[0] / 1e9,
               100 * fpt * ntok / tf[0] / 1e9 / fma);
        printf("prefill %dx%d, log-probs + entropy (LM head in chunks): %.3f s = %.1f tokens/s, "
               "%.1f GFLOP/s\n",
               B, T, tl[0], ntok / tl[0], fpt * ntok / tl[0] / 1e9);
        free(tok);
        free(logits);
        free(lp);
        free(ent);
    }
    if (!skip_decode) {
        int prompt = 64, Bs[2] = {1, 8};
        for (int k = 0; k < 2; k++) {
            int B = Bs[k];
            int32_t *tok = xmalloc(sizeof(int32_t) * B * prompt);
            const int32_t *pr[8];
            int lens[8], n[8];
            for (int i = 0; i < B * prompt; i++)
                tok[i] = (int32_t)(rng_next(&r) % (uint64_t)V);
            for (int b = 0; b < B; b++) {
                pr[b] = tok + b * prompt;
                lens[b] = prompt;
            }
            int32_t *out = xmalloc(sizeof(int32_t) * B * gen);
            stamps_t st = {.n = 0};
            tf_gen_params p = {.max_new_tokens = gen, .should_stop = stamp, .user = &st};
            tf_gen_out go = {out, NULL, n, NULL};
            double t0 = now_s();
            if (tf_generate(m, pr, lens, B, &p, &go, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            double prefill = st.t[0] - t0, dec = st.t[st.n - 1] - st.t[0];
            int steps = st.n - 1;
            double ctx = prompt + gen / 2.0;
            double fpt = fwd_flop_per_token(m, (int)ctx);
            printf("decode B=%d prompt=%d gen=%d: prefill %.0f tokens/s | decode %.2f ms/step = "
                   "%.1f tokens/s, %.1f GFLOP/s, weights streamed at %.1f GB/s (%.0f%% of triad)\n",
                   B, prompt, gen, B * prompt / prefill, 1e3 * dec / steps, B * steps / dec,
                   fpt * B * steps / dec / 1e9, wbytes * steps / dec / 1e9,
                   100 * wbytes * steps / dec / 1e9 / triad);
            free(tok);
            free(out);
        }
    }
    printf("peak memory (VmHWM): %.2f GB\n", vm_hwm_kb() / 1048576.0);
    tf_free(m);
    return 0;
}
