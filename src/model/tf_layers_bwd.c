/* model/tf_layers_bwd: the backward pass of each layer in tf_layers.c,
 * with the same shapes (see tf_layers.h). Checked against finite
 * differences in double precision and against PyTorch (tests/model). */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../base/base.h"
#include "kernels.h"
#include "tf_layers.h"
#include "tf_vec.h"

/* ---- embedding ---- */

void tf_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                           const int *pos, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * C;
        float *a = dwte + (size_t)tok[n] * C;
        for (int i = 0; i < C; i++)
            a[i] += d[i];
        if (dwpe) {
            float *b = dwpe + (size_t)pos[n] * C;
            for (int i = 0; i < C; i++)
                b[i] += d[i];
        }
    }
}

/* ---- norms ---- */

typedef struct {
    float *dx, *dw, *db;
    const float *dout, *x, *w, *mean, *rstd;
    int N, C;
    size_t stride;
    int accumulate;
    int rs; /* rstd[n * rs] is row n's (q/k norm: heads interleave) */
} nb_ctx;

/* dx = rstd (dn - mean(dn) - xhat mean(dn xhat)), dn = dout w */
TF_VEC static void ln_dx_rows(void *p, long n0, long n1)
{
    const nb_ctx *c = p;
    int C = c->C;
    for (long n = n0; n < n1; n++) {
        const float *x = c->x + n * C, *d = c->dout + n * C;
        float *dx = c->dx + n * C;
        float m = c->mean[n], r = c->rstd[n], s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int i = 0; i < C; i++) {
            float dn = d[i] * c->w[i];
            s1 += dn;
            s2 += dn * (x[i] - m) * r;
        }
        s1 /= C;
        s2 /= C;
#pragma omp simd
        for (int i = 0; i < C; i++) {
            float v = r * (d[i] * c->w[i] - s1 - (x[i] - m) * r * s2);
            dx[i] = c->accumulate ? dx[i] + v : v;
        }
    }
}

/* dw[i] += sum_n dout xhat, db[i] += sum_n dout, over a block of columns */
TF_VEC static void ln_dw_cols(void *p, long i0, long i1)
{
    const nb_ctx *c = p;
    for (int n = 0; n < c->N; n++) {
        const float *x = c->x + (size_t)n * c->stride, *d = c->dout + (size_t)n * c->stride;
        float m = c->mean ? c->mean[n] : 0, r = c->rstd[(size_t)n * c->rs];
#pragma omp simd
        for (long i = i0; i < i1; i++)
            c->dw[i] += d[i] * (x[i] - m) * r;
        if (c->db)
#pragma omp simd
            for (long i = i0; i < i1; i++)
                c->db[i] += d[i];
    }
}

void tf_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C)
{
    nb_ctx c = {dx, dw, db, dout, x, w, mean, rstd, N, C, (size_t)C, 1, 1};
    par_for(N, 1 + 16384 / C, ln_dx_rows, &c);
    if (dw)
        par_for(C, 64, ln_dw_cols, &c);
}

/* y = w x r, r = (mean(x^2) + eps)^-1/2:
 * dx = r dn - x r^3 mean(dn x), dn = dout w */
TF_VEC static void rms_dx_rows(void *p, long n0, long n1)
{
    const nb_ctx *c = p;
    int C = c->C;
    for (long n = n0; n < n1; n++) {
        const float *x = c->x + n * c->stride, *d = c->dout + n * c->stride;
        float *dx = c->dx + n * c->stride;
        float r = c->rstd[n * c->rs], s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++)
            s += d[i] * c->w[i] * x[i];
        float k = r * r * r * s / C;
#pragma omp simd
        for (int i = 0; i < C; i++) {
            float v = r * d[i] * c->w[i] - x[i] * k;
            dx[i] = c->accumulate ? dx[i] + v : v;
        }
    }
}

void tf_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const float *rstd, int N, int C, size_t stride, int accumulate)
{
    nb_ctx c = {dx, dw, NULL, dout, x, w, NULL, rstd, N, C, stride, accumulate, 1};
    par_for(N, 1 + 16384 / C, rms_dx_rows, &c);
    if (dw)
        par_for(C, 64, ln_dw_cols, &c);
}

/* ---- linear ---- */

typedef struct {
    float *db;
    const float *dy;
    int N, n_out;
} bias_ctx;

TF_VEC static void bias_cols(void *p, long j0, long j1)
{
    const bias_ctx *c = p;
    for (int n = 0; n < c->N; n++) {
        const float *d = c->dy + (size_t)n * c->n_out;
#pragma omp simd
        for (long j = j0; j < j1; j++)
            c->db[j] += d[j];
    }
}

void tf_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const tf_linear *lin, int N, int accumulate)
{
    /* dx [N, n_in] = dy [N, n_out] . W [n_out, n_in] */
    if (dx) {
        if (lin->w16)
            k_matmul_nn_bf16(dx, dy, lin->w16, N, lin->n_in, lin->n_out, accumulate);
        else
            k_matmul_nn(dx, dy, lin->w, N, lin->n_in, lin->n_out, accumulate);
    }
    /* dW [n_out, n_in] += dy^T [n_out, N] . x [N, n_in] */
    if (dW)
        k_matmul_tn(dW, dy, x, lin->n_out, lin->n_in, N, 1);
    if (db) {
        bias_ctx c = {db, dy, N, lin->n_out};
        par_for(lin->n_out, 256, bias_cols, &c);
    }
}

/* ---- q/k norm (Qwen3) ---- */

void tf_qk_norm_backward(float *dqkv_in, float *dwq, float *dwk, const float *dqkv_out,
                         const float *qkv_in, const float *wq, const float *wk,
                         const float *rstd_q, const float *rstd_k, int N, int H, int KV, int D)
{
    size_t W = (size_t)(H + 2 * KV) * D;
    /* Each head of each row is one normalised vector: for head index h,
     * N rows of D, W apart, with rstd at h + n * (H or KV). */
    for (int h = 0; h < H + KV; h++) {
        size_t off = (size_t)h * D;
        nb_ctx c = {dqkv_in + off, h < H ? dwq : dwk, NULL, dqkv_out + off, qkv_in + off,
                    h < H ? wq : wk, NULL, h < H ? rstd_q + h : rstd_k + (h - H), N, D, W, 0,
                    h < H ? H : KV};
        par_for(N, 1 + 16384 / D, rms_dx_rows, &c);
        if (c.dw)
            ln_dw_cols(&c, 0, D);
    }
    for (int n = 0; n < N; n++)
        memcpy(dqkv_in + n * W + (size_t)(H + KV) * D, dqkv_out + n * W + (size_t)(H + KV) * D,
               sizeof(float) * (size_t)KV * D);
}

/* ---- rotary embeddings ---- */

/* The transpose of rotate(): a rotation by the opposite angle. */
static inline void unrotate(float *dst, const float *src, const float *c, const float *s, int half)
{
    for (int i = 0; i < half; i++) {
        float y1 = src[i], y2 = src[i + half];
        dst[i] = y1 * c[i] + y2 * s[i];
        dst[i + half] = y2 * c[i] - y1 * s[i];
    }
}

typedef struct {
    float *dqkv;
    const float *dq, *cos, *sin;
    tf_kv dkv;
    const tf_rows *r;
    int H, KV, D;
} rb_ctx;

TF_VEC static void rope_bwd_rows(void *p, long n0, long n1)
{
    const rb_ctx *c = p;
    const tf_rows *r = c->r;
    int H = c->H, KV = c->KV, D = c->D, half = D / 2;
    size_t W = (size_t)(H + 2 * KV) * D;
    for (long n = n0; n < n1; n++) {
        int b = (int)(n / r->T), t = (int)(n % r->T);
        float *dst = c->dqkv + n * W;
        if (t >= r->len[b]) {
            memset(dst, 0, sizeof(float) * W);
            continue;
        }
        const float *cs = c->cos ? c->cos + n * half : NULL, *sn = c->sin ? c->sin + n * half : NULL;
        const float *dq = c->dq + (size_t)n * H * D;
        if (cs)
            for (int h = 0; h < H; h++)
                unrotate(dst + h * D, dq + h * D, cs, sn, half);
        else
            memcpy(dst, dq, sizeof(float) * (size_t)H * D);
        for (int g = 0; g < KV; g++) {
            size_t at = (((size_t)b * KV + g) * c->dkv.S + t) * D;
            float *dk = dst + (size_t)(H + g) * D, *dv = dst + (size_t)(H + KV + g) * D;
            if (cs)
                unrotate(dk, c->dkv.k + at, cs, sn, half);
            else
                memcpy(dk, c->dkv.k + at, sizeof(float) * D);
            memcpy(dv, c->dkv.v + at, sizeof(float) * D);
        }
    }
}

void tf_rope_kv_backward(float *dqkv, const float *dq, tf_kv dkv, const float *cos,
                         const float *sin, const tf_rows *r, int H, int KV, int D)
{
    rb_ctx c = {dqkv, dq, cos, sin, dkv, r, H, KV, D};
    par_for((long)r->B * r->T, 1 + 8192 / ((H + 2 * KV) * D), rope_bwd_rows, &c);
}

/* ---- attention ---- */

size_t tf_attention_bwd_scratch(int H, int KV, int D, int S)
{
    size_t rows = (size_t)ATTN_BQ * (H / KV);
    return rows * (4 * (size_t)D + 2 * (size_t)S + 1);
}

typedef struct {
    float *dq;
    tf_kv dkv;
    const float *datt, *q, *att, *lse;
    tf_kv kv;
    const tf_rows *r;
    int H, KV, D, window;
    float scale;
    float *scratch;
    size_t per_thread;
    long ntasks;
    atomic_long next;
} ab_ctx;

/* Gathers the group's columns of rows t0..t1-1 of sequence b from
 * src [N, H D] into dst [(t1-t0) rep, D], or scatters them back. */
static void group_rows(float *dst, const float *src, int b, int T, int HD, int g, size_t gw,
                       int t0, int t1, int scatter)
{
    for (int t = t0; t < t1; t++) {
        float *x = (float *)src + ((size_t)b * T + t) * HD + g * gw;
        float *y = dst + (t - t0) * gw;
        if (scatter)
            memcpy(x, y, sizeof(float) * gw);
        else
            memcpy(y, x, sizeof(float) * gw);
    }
}

/* P = softmax rows recomputed: exp(s scale - lse) on the allowed keys. */
TF_VEC static void probs_row(float *row, int nk, int a0, int a1, float scale, float lse)
{
#pragma omp simd
    for (int j = a0; j < a1; j++)
        row[j] = fexp(row[j] * scale - lse);
    for (int j = 0; j < a0; j++)
        row[j] = 0;
    for (int j = a1; j < nk; j++)
        row[j] = 0;
}

/* dS = P (dP - Di) scale, in place in dP */
TF_VEC static void dscore_row(float *dp, const float *p, int nk, float di, float scale)
{
#pragma omp simd
    for (int j = 0; j < nk; j++)
        dp[j] = p[j] * (dp[j] - di) * scale;
}

/* All query blocks of sequence b against kv head g: this task alone
 * writes the keys' and values' gradients of (b, g). */
static void attn_bwd_seq(const ab_ctx *c, int b, int g, float *scr)
{
    const tf_rows *r = c->r;
    int D = c->D, H = c->H, KV = c->KV, rep = H / KV, T = r->T, HD = H * D, len = r->len[b];
    size_t gw = (size_t)rep * D, bq = (size_t)ATTN_BQ * gw, S = (size_t)c->kv.S;
    float *Qg = scr, *Og = Qg + bq, *dOg = Og + bq, *dQg = dOg + bq;
    float *P = dQg + bq, *dP = P + (size_t)ATTN_BQ * rep * S, *Di = dP + (size_t)ATTN_BQ * rep * S;
    size_t base = ((size_t)b * KV + g) * S * D;
    memset(c->dkv.k + base, 0, sizeof(float) * S * D);
    memset(c->dkv.v + base, 0, sizeof(float) * S * D);
    for (int t0 = 0; t0 < len; t0 += ATTN_BQ) {
        int t1 = t0 + ATTN_BQ < len ? t0 + ATTN_BQ : len;
        int kl = c->window > 0 ? t0 - c->window + 1 : 0;
        if (kl < 0)
            kl = 0;
        int nk = t1 - kl, M = (t1 - t0) * rep;
        size_t at = base + (size_t)kl * D;
        group_rows(Qg, c->q, b, T, HD, g, gw, t0, t1, 0);
        group_rows(Og, c->att, b, T, HD, g, gw, t0, t1, 0);
        group_rows(dOg, c->datt, b, T, HD, g, gw, t0, t1, 0);
        /* P [M, nk] = softmax(Qg K^T scale) */
        k_matmul_nt(P, Qg, c->kv.k + at, NULL, M, nk, D, 0);
        for (int i = 0; i < M; i++) {
            int t = t0 + i / rep;
            int lo = c->window > 0 && t - c->window + 1 > kl ? t - c->window + 1 : kl;
            probs_row(P + (size_t)i * nk, nk, lo - kl, t + 1 - kl, c->scale,
                      c->lse[((size_t)b * T + t) * H + g * rep + i % rep]);
            float s = 0;
            const float *o = Og + (size_t)i * D, *d = dOg + (size_t)i * D;
            for (int k = 0; k < D; k++)
                s += o[k] * d[k];
            Di[i] = s;
        }
        /* dV [nk, D] += P^T dOg */
        k_matmul_tn(c->dkv.v + at, P, dOg, nk, D, M, 1);
        /* dP [M, nk] = dOg V^T, then dS in place */
        k_matmul_nt(dP, dOg, c->kv.v + at, NULL, M, nk, D, 0);
        for (int i = 0; i < M; i++)
            dscore_row(dP + (size_t)i * nk, P + (size_t)i * nk, nk, Di[i], c->scale);
        /* dQg [M, D] = dS K;  dK [nk, D] += dS^T Qg */
        k_matmul_nn(dQg, dP, c->kv.k + at, M, D, nk, 0);
        k_matmul_tn(c->dkv.k + at, dP, Qg, nk, D, M, 1);
        group_rows(dQg, c->dq, b, T, HD, g, gw, t0, t1, 1);
    }
}

static void attn_bwd_part(void *p, int part, int nparts)
{
    ab_ctx *c = p;
    float *scr = c->scratch + (size_t)part * c->per_thread;
    for (;;) {
        long i = atomic_fetch_add(&c->next, 1);
        if (i >= c->ntasks)
            break;
        attn_bwd_seq(c, (int)(i / c->KV), (int)(i % c->KV), scr);
    }
}

void tf_attention_backward(float *dq, tf_kv dkv, const float *datt, const float *q, tf_kv kv,
                           const float *att, const float *lse, const tf_rows *r, int H, int KV,
                           int D, int window, float *scratch, int nscratch)
{
    memset(dq, 0, sizeof(float) * (size_t)r->B * r->T * H * D);
    ab_ctx c = {.dq = dq, .dkv = dkv, .datt = datt, .q = q, .att = att, .lse = lse, .kv = kv,
                .r = r, .H = H, .KV = KV, .D = D, .window = window,
                .scale = 1.0f / sqrtf((float)D), .scratch = scratch,
                .per_thread = tf_attention_bwd_scratch(H, KV, D, kv.S)};
    c.ntasks = (long)r->B * KV;
    atomic_init(&c.next, 0);
    int parts = nscratch < c.ntasks ? nscratch : (int)c.ntasks;
    par_run(parts, attn_bwd_part, &c);
}

/* ---- activations ---- */

typedef struct {
    float *dinp;
    const float *inp, *dout;
    int F, tanh_approx;
} actb_ctx;

TF_VEC static void gelu_bwd_range(void *p, long i0, long i1)
{
    const actb_ctx *c = p;
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    if (!c->tanh_approx) {
        for (long i = i0; i < i1; i++) {
            float x = c->inp[i];
            float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
            float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
            c->dinp[i] = c->dout[i] * (cdf + x * pdf);
        }
        return;
    }
#pragma omp simd
    for (long i = i0; i < i1; i++) {
        float x = c->inp[i];
        float u = k * (x + 0.044715f * x * x * x);
        float th = 1.0f - 2.0f / (fexp(2.0f * u) + 1.0f);
        float du = k * (1.0f + 3.0f * 0.044715f * x * x);
        c->dinp[i] = c->dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

void tf_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int tanh_approx)
{
    actb_ctx c = {dinp, inp, dout, 0, tanh_approx};
    par_for((long)n, 16384, gelu_bwd_range, &c);
}

/* o = silu(g) u: dg = do u sig (1 + g (1 - sig)), du = do silu(g) */
TF_VEC static void swiglu_bwd_rows(void *p, long n0, long n1)
{
    const actb_ctx *c = p;
    int F = c->F;
    for (long n = n0; n < n1; n++) {
        const float *gt = c->inp + (size_t)n * 2 * F, *up = gt + F, *d = c->dout + (size_t)n * F;
        float *dg = c->dinp + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sg = 1.0f / (1.0f + fexp(-gt[i]));
            dg[i] = d[i] * up[i] * sg * (1.0f + gt[i] * (1.0f - sg));
            du[i] = d[i] * gt[i] * sg;
        }
    }
}

void tf_swiglu_backward(float *dinp, const float *inp, const float *dout, int N, int F)
{
    actb_ctx c = {dinp, inp, dout, F, 0};
    par_for(N, 1 + 16384 / F, swiglu_bwd_rows, &c);
}

/* ---- log-probability ---- */

typedef struct {
    float *logits;
    const int32_t *target;
    const float *lse, *ent, *dlogp, *dent;
    int V;
} lpb_ctx;

TF_VEC static void logprob_bwd_rows(void *p, long n0, long n1)
{
    const lpb_ctx *c = p;
    int V = c->V;
    for (long n = n0; n < n1; n++) {
        float *z = c->logits + (size_t)n * V;
        float a = c->target[n] >= 0 ? c->dlogp[n] : 0.0f, e = c->dent ? c->dent[n] : 0.0f;
        float lse = c->lse[n], h = c->ent ? c->ent[n] : 0.0f;
        if (e == 0.0f) {
#pragma omp simd
            for (int i = 0; i < V; i++)
                z[i] = -a * fexp(z[i] - lse);
        } else {
#pragma omp simd
            for (int i = 0; i < V; i++) {
                float lp = z[i] - lse, pr = fexp(lp);
                z[i] = -a * pr - e * pr * (lp + h);
            }
        }
        if (c->target[n] >= 0)
            z[c->target[n]] += a;
    }
}

void tf_logprob_backward(float *logits, const int32_t *target, const float *lse, const float *ent,
                         const float *dlogp, const float *dent, int N, int V)
{
    lpb_ctx c = {logits, target, lse, ent, dlogp, dent, V};
    par_for(N, 1, logprob_bwd_rows, &c);
}
