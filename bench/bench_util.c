/* bench/bench_util: see bench_util.h. */
#include "bench_util.h"

#include <immintrin.h>
#include <stdio.h>
#include <string.h>

#include "../src/base/base.h"
#include "../src/model/kernels.h"

double now_s(void)
{
    return (double)time_now_ns() * 1e-9;
}

long vm_hwm_kb(void)
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
double fma_ceiling(void)
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
double stream_triad(void)
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

hf_config gpt2_config(void)
{
    hf_config c = {.arch = HF_GPT2, .vocab_size = 50257, .hidden = 768, .n_layer = 12,
                   .n_head = 12, .n_kv_head = 12, .head_dim = 64, .intermediate = 3072,
                   .max_pos = 1024, .norm_eps = 1e-5f, .act = HF_ACT_GELU_TANH, .learned_pos = 1,
                   .qkv_bias = 1, .o_bias = 1, .mlp_bias = 1, .tie_word_embeddings = 1};
    snprintf(c.arch_name, sizeof c.arch_name, "GPT2LMHeadModel");
    return c;
}

hf_config qwen_config(void)
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
void randomise(tf_model *m, uint64_t seed)
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

