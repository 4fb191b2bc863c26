/* model/tf_layers: forward functions of the transformer's layers. Matrix
 * products go through kernels.h; the loops here (norms, softmax, rotary,
 * activations) are written so the compiler vectorises them (`omp simd`
 * with -fopenmp-simd; no OpenMP runtime), built for AVX-512, AVX2 and
 * baseline x86-64 with the best chosen at load time (target_clones). Work
 * is split over rows, or over (sequence, kv head, query block) for
 * attention, with model/pool. */
#include "tf_layers.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../base/base.h"
#include "kernels.h"

#include "tf_vec.h"

/* ---- small vector functions ---- */

TF_VEC float tf_vec_max(const float *x, int n)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

TF_VEC float tf_vec_logsumexp(const float *x, int n, float m)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++)
        s += fexp(x[i] - m);
    return m + logf(s);
}

TF_VEC float tf_vec_exp(float *p, const float *x, int n, float m, float scale)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) {
        float v = fexp((x[i] - m) * scale);
        p[i] = v;
        s += v;
    }
    return s;
}

/* ---- embedding ---- */

void tf_embedding_forward(float *out, const int32_t *tok, const int *pos, const float *wte,
                          const float *wpe, int N, int C)
{
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * C;
        const float *e = wte + (size_t)tok[n] * C;
        if (!wpe) {
            memcpy(o, e, sizeof(float) * (size_t)C);
            continue;
        }
        const float *p = wpe + (size_t)pos[n] * C;
        for (int i = 0; i < C; i++)
            o[i] = e[i] + p[i];
    }
}

/* ---- layernorm ---- */

typedef struct {
    float *out, *mean, *rstd;
    const float *x, *w, *b;
    int C;
    size_t stride;
    float eps;
} norm_ctx;

TF_VEC static void layernorm_rows(void *p, long n0, long n1)
{
    const norm_ctx *c = p;
    int C = c->C;
    for (long n = n0; n < n1; n++) {
        const float *x = c->x + (size_t)n * C;
        float *o = c->out + (size_t)n * C;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++)
            s += x[i];
        float m = s / C, v = 0;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++)
            v += (x[i] - m) * (x[i] - m);
        float r = 1.0f / sqrtf(v / C + c->eps);
#pragma omp simd
        for (int i = 0; i < C; i++)
            o[i] = (x[i] - m) * r * c->w[i] + c->b[i];
        c->mean[n] = m;
        c->rstd[n] = r;
    }
}

void tf_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int C, float eps)
{
    norm_ctx c = {out, mean, rstd, x, w, b, C, (size_t)C, eps};
    par_for(N, 1 + 16384 / C, layernorm_rows, &c);
}

/* ---- rmsnorm ---- */

/* o[C] = w * (x * rstd); returns rstd */
static inline float rms_row(float *o, const float *x, const float *w, int C, float eps)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < C; i++)
        s += x[i] * x[i];
    float r = 1.0f / sqrtf(s / C + eps);
#pragma omp simd
    for (int i = 0; i < C; i++)
        o[i] = w[i] * (x[i] * r);
    return r;
}

TF_VEC static void rmsnorm_rows(void *p, long n0, long n1)
{
    const norm_ctx *c = p;
    for (long n = n0; n < n1; n++)
        c->rstd[n] = rms_row(c->out + n * c->stride, c->x + n * c->stride, c->w, c->C, c->eps);
}

void tf_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                        size_t stride, float eps)
{
    norm_ctx c = {out, NULL, rstd, x, w, NULL, C, stride, eps};
    par_for(N, 1 + 16384 / C, rmsnorm_rows, &c);
}

/* ---- linear ---- */

void tf_linear_forward(float *out, const float *inp, const tf_linear *lin, int N, int accumulate)
{
    if (lin->w16)
        k_matmul_nt_bf16(out, inp, lin->w16, lin->b, N, lin->n_out, lin->n_in, accumulate);
    else
        k_matmul_nt(out, inp, lin->w, lin->b, N, lin->n_out, lin->n_in, accumulate);
}

/* ---- q/k norm (Qwen3) ---- */

typedef struct {
    float *out, *rstd_q, *rstd_k;
    const float *in, *wq, *wk;
    int H, KV, D;
    float eps;
} qkn_ctx;

TF_VEC static void qk_norm_rows(void *p, long n0, long n1)
{
    const qkn_ctx *c = p;
    int H = c->H, KV = c->KV, D = c->D;
    size_t W = (size_t)(H + 2 * KV) * D;
    for (long n = n0; n < n1; n++) {
        const float *src = c->in + n * W;
        float *dst = c->out + n * W;
        for (int h = 0; h < H; h++)
            c->rstd_q[n * H + h] = rms_row(dst + h * D, src + h * D, c->wq, D, c->eps);
        for (int g = 0; g < KV; g++)
            c->rstd_k[n * KV + g] =
                rms_row(dst + (H + g) * D, src + (H + g) * D, c->wk, D, c->eps);
        memcpy(dst + (size_t)(H + KV) * D, src + (size_t)(H + KV) * D,
               sizeof(float) * (size_t)KV * D);
    }
}

void tf_qk_norm_forward(float *qkv_out, float *rstd_q, float *rstd_k, const float *qkv_in,
                        const float *wq, const float *wk, int N, int H, int KV, int D, float eps)
{
    qkn_ctx c = {qkv_out, rstd_q, rstd_k, qkv_in, wq, wk, H, KV, D, eps};
    par_for(N, 1 + 8192 / ((H + 2 * KV) * D), qk_norm_rows, &c);
}

/* ---- rotary embeddings ---- */

void tf_rope_tables(float *cos, float *sin, const int *pos, const float *inv_freq, int N, int half)
{
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            float a = inv_freq[i] * (float)pos[n];
            cos[(size_t)n * half + i] = cosf(a);
            sin[(size_t)n * half + i] = sinf(a);
        }
}

typedef struct {
    float *q;
    tf_kv kv;
    const float *qkv, *cos, *sin;
    const tf_rows *r;
    int H, KV, D;
} rope_ctx;

/* dst = rotate(src) with rotate_half: (x1, x2) -> (x1 c - x2 s, x2 c + x1 s) */
static inline void rotate(float *dst, const float *src, const float *c, const float *s, int half)
{
    for (int i = 0; i < half; i++) {
        float x1 = src[i], x2 = src[i + half];
        dst[i] = x1 * c[i] - x2 * s[i];
        dst[i + half] = x2 * c[i] + x1 * s[i];
    }
}

TF_VEC static void rope_rows(void *p, long n0, long n1)
{
    const rope_ctx *c = p;
    const tf_rows *r = c->r;
    int H = c->H, KV = c->KV, D = c->D, half = D / 2;
    size_t W = (size_t)(H + 2 * KV) * D;
    for (long n = n0; n < n1; n++) {
        int b = (int)(n / r->T), t = (int)(n % r->T);
        int pos = r->start[b] + t, slot = r->slot ? r->slot[b] : b;
        const float *src = c->qkv + n * W;
        const float *cs = c->cos ? c->cos + n * half : NULL, *sn = c->sin ? c->sin + n * half : NULL;
        float *q = c->q + (size_t)n * H * D;
        if (cs)
            for (int h = 0; h < H; h++)
                rotate(q + h * D, src + h * D, cs, sn, half);
        else
            memcpy(q, src, sizeof(float) * (size_t)H * D);
        if (pos >= c->kv.S)
            continue; /* padding beyond the store: never read */
        for (int g = 0; g < KV; g++) {
            size_t at = (((size_t)slot * KV + g) * c->kv.S + pos) * D;
            const float *k = src + (size_t)(H + g) * D, *v = src + (size_t)(H + KV + g) * D;
            if (cs)
                rotate(c->kv.k + at, k, cs, sn, half);
            else
                memcpy(c->kv.k + at, k, sizeof(float) * D);
            memcpy(c->kv.v + at, v, sizeof(float) * D);
        }
    }
}

void tf_rope_kv_forward(float *q, tf_kv kv, const float *qkv, const float *cos, const float *sin,
                        const tf_rows *r, int H, int KV, int D)
{
    rope_ctx c = {q, kv, qkv, cos, sin, r, H, KV, D};
    par_for((long)r->B * r->T, 1 + 8192 / ((H + 2 * KV) * D), rope_rows, &c);
}

/* ---- attention ---- */

size_t tf_attention_scratch(int H, int KV, int D, int S)
{
    size_t rows = (size_t)ATTN_BQ * (H / KV);
    return rows * (2 * (size_t)D + (size_t)S);
}

typedef struct {
    float *out, *lse;
    const float *q;
    tf_kv kv;
    const tf_rows *r;
    int H, KV, D, window, nblk;
    float scale;
    float *scratch;
    size_t per_thread;
    long ntasks;
    atomic_long next;
} attn_ctx;

/* Softmax of one score row over keys [a0, a1) (zeros elsewhere); returns
 * the log-sum-exp of the scaled scores. */
TF_VEC static float softmax_row(float *row, int nk, int a0, int a1, float scale)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int j = a0; j < a1; j++)
        m = row[j] > m ? row[j] : m;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = a0; j < a1; j++) {
        float v = fexp((row[j] - m) * scale);
        row[j] = v;
        s += v;
    }
    float inv = 1.0f / s;
#pragma omp simd
    for (int j = a0; j < a1; j++)
        row[j] *= inv;
    for (int j = 0; j < a0; j++)
        row[j] = 0;
    for (int j = a1; j < nk; j++)
        row[j] = 0;
    return m * scale + logf(s);
}

/* Queries t0..t1-1 of sequence b against kv head g: the rep query heads
 * of the group share the keys, so their rows stack into one product. */
static void attn_block(const attn_ctx *c, int b, int g, int t0, int t1, float *scr)
{
    const tf_rows *r = c->r;
    int D = c->D, H = c->H, KV = c->KV, rep = H / KV, T = r->T;
    int start = r->start[b], slot = r->slot ? r->slot[b] : b;
    int kl = c->window > 0 ? start + t0 - c->window + 1 : 0;
    if (kl < 0)
        kl = 0;
    int kh = start + t1; /* keys [kl, kh) */
    int nk = kh - kl, M = (t1 - t0) * rep;
    size_t gw = (size_t)rep * D; /* the group's columns in q and out rows */
    float *Qg = scr, *Og = Qg + (size_t)ATTN_BQ * gw, *Sc = Og + (size_t)ATTN_BQ * gw;
    for (int t = t0; t < t1; t++)
        memcpy(Qg + (t - t0) * gw, c->q + ((size_t)b * T + t) * H * D + g * gw, sizeof(float) * gw);
    size_t at = (((size_t)slot * KV + g) * c->kv.S + kl) * D;
    /* Sc [M, nk] = Qg [M, D] . K[kl:kh]^T */
    k_matmul_nt(Sc, Qg, c->kv.k + at, NULL, M, nk, D, 0);
    for (int i = 0; i < M; i++) {
        int t = t0 + i / rep, p = start + t;
        int lo = c->window > 0 && p - c->window + 1 > kl ? p - c->window + 1 : kl;
        float l = softmax_row(Sc + (size_t)i * nk, nk, lo - kl, p + 1 - kl, c->scale);
        if (c->lse)
            c->lse[((size_t)b * T + t) * H + g * rep + i % rep] = l;
    }
    /* Og [M, D] = P [M, nk] . V[kl:kh] [nk, D] */
    k_matmul_nn(Og, Sc, c->kv.v + at, M, D, nk, 0);
    for (int t = t0; t < t1; t++)
        memcpy(c->out + ((size_t)b * T + t) * H * D + g * gw, Og + (t - t0) * gw,
               sizeof(float) * gw);
}

static void attn_part(void *p, int part, int nparts)
{
    attn_ctx *c = p;
    float *scr = c->scratch + (size_t)part * c->per_thread;
    int B = c->r->B, KV = c->KV;
    for (;;) {
        long i = atomic_fetch_add(&c->next, 1);
        if (i >= c->ntasks)
            break;
        /* Last query blocks (the longest rows) first, to even out the
         * threads' shares of the causal triangle. */
        int blk = c->nblk - 1 - (int)(i / ((long)B * KV));
        int b = (int)(i / KV % B), g = (int)(i % KV);
        int t0 = blk * ATTN_BQ, t1 = t0 + ATTN_BQ, len = c->r->len[b];
        if (t0 >= len)
            continue;
        attn_block(c, b, g, t0, t1 < len ? t1 : len, scr);
    }
}

void tf_attention_forward(float *out, float *lse, const float *q, tf_kv kv, const tf_rows *r,
                          int H, int KV, int D, int window, float *scratch, int nscratch)
{
    int T = r->T, B = r->B;
    for (int b = 0; b < B; b++)
        for (int t = r->len[b]; t < T; t++) {
            memset(out + ((size_t)b * T + t) * H * D, 0, sizeof(float) * (size_t)H * D);
            if (lse)
                memset(lse + ((size_t)b * T + t) * H, 0, sizeof(float) * (size_t)H);
        }
    attn_ctx c = {.out = out, .lse = lse, .q = q, .kv = kv, .r = r, .H = H, .KV = KV, .D = D,
                  .window = window, .nblk = (T + ATTN_BQ - 1) / ATTN_BQ,
                  .scale = 1.0f / sqrtf((float)D), .scratch = scratch,
                  .per_thread = tf_attention_scratch(H, KV, D, kv.S)};
    c.ntasks = (long)c.nblk * B * KV;
    atomic_init(&c.next, 0);
    int parts = nscratch < c.ntasks ? nscratch : (int)c.ntasks;
    par_run(parts, attn_part, &c);
}

/* ---- activations ---- */

typedef struct {
    float *out;
    const float *inp;
    int F;
    int tanh_approx;
} act_ctx;

TF_VEC static void gelu_range(void *p, long i0, long i1)
{
    const act_ctx *c = p;
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    if (!c->tanh_approx) {
        for (long i = i0; i < i1; i++)
            c->out[i] = 0.5f * c->inp[i] * (1.0f + erff(c->inp[i] * 0.7071067811865476f));
        return;
    }
#pragma omp simd
    for (long i = i0; i < i1; i++) {
        float x = c->inp[i];
        float u = k * (x + 0.044715f * x * x * x);
        float th = 1.0f - 2.0f / (fexp(2.0f * u) + 1.0f); /* tanh(u) */
        c->out[i] = 0.5f * x * (1.0f + th);
    }
}

void tf_gelu_forward(float *out, const float *inp, size_t n, int tanh_approx)
{
    act_ctx c = {out, inp, 0, tanh_approx};
    par_for((long)n, 16384, gelu_range, &c);
}

TF_VEC static void swiglu_rows(void *p, long n0, long n1)
{
    const act_ctx *c = p;
    int F = c->F;
    for (long n = n0; n < n1; n++) {
        const float *gt = c->inp + (size_t)n * 2 * F, *up = gt + F;
        float *o = c->out + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++)
            o[i] = gt[i] / (1.0f + fexp(-gt[i])) * up[i];
    }
}

void tf_swiglu_forward(float *out, const float *inp, int N, int F)
{
    act_ctx c = {out, inp, F, 0};
    par_for(N, 1 + 16384 / F, swiglu_rows, &c);
}

/* ---- log-probabilities and entropy ---- */

typedef struct {
    float *logp, *ent, *lse;
    const float *logits;
    const int32_t *target;
    int V;
} lp_ctx;

TF_VEC static void logprob_rows(void *p, long n0, long n1)
{
    const lp_ctx *c = p;
    int V = c->V;
    for (long n = n0; n < n1; n++) {
        const float *x = c->logits + (size_t)n * V;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int i = 0; i < V; i++)
            m = x[i] > m ? x[i] : m;
        /* s = sum e^(x-m), w = sum e^(x-m) (x-m): entropy = log s - w/s */
        float s = 0, w = 0;
#pragma omp simd reduction(+ : s, w)
        for (int i = 0; i < V; i++) {
            float d = x[i] - m, e = fexp(d);
            s += e;
            w += e * d;
        }
        float logs = logf(s);
        int32_t tg = c->target[n];
        c->logp[n] = tg >= 0 ? x[tg] - m - logs : 0.0f;
        if (c->ent)
            c->ent[n] = logs - w / s;
        if (c->lse)
            c->lse[n] = m + logs;
    }
}

void tf_logprob_forward(float *logp, float *ent, const float *logits, const int32_t *target, int N,
                        int V)
{
    lp_ctx c = {logp, ent, NULL, logits, target, V};
    par_for(N, 1, logprob_rows, &c);
}

void tf_logprob_forward_lse(float *logp, float *ent, float *lse, const float *logits,
                            const int32_t *target, int N, int V)
{
    lp_ctx c = {logp, ent, lse, logits, target, V};
    par_for(N, 1, logprob_rows, &c);
}
