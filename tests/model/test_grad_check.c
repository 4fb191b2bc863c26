/* Gradient checks by finite differences, in double precision, for every
 * layer type of model/tf_layers_bwd.c: each layer's forward is written
 * again here in double, f = sum(dout * layer(inputs)) is differentiated
 * numerically (central differences), and the fp32 backward of the engine
 * must agree to 1e-4 (relative, over each gradient tensor). A LoRA layer
 * with dropout is checked through the model itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../../src/model/kernels.h"
#include "../../src/model/tf_internal.h"
#include "../../src/model/tf_layers.h"
#include "../../src/model/train.h"
#include "../test.h"

#define FD_H 1e-5

static rng_t g_rng;

static void fill(double *d, float *f, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)((2 * rng_uniform(&g_rng) - 1) * scale);
        d[i] = f[i];
    }
}

/* A function of the double inputs: the layer's forward, dotted with dout. */
typedef double (*fd_fn)(void *ctx);

/* Numerical gradient of fn with respect to v[0..n), compared with the
 * analytic g (fp32). Returns the relative error. */
static double fd_check(fd_fn fn, void *ctx, double *v, size_t n, const float *g)
{
    double d2 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + FD_H;
        double a = fn(ctx);
        v[i] = keep - FD_H;
        double b = fn(ctx);
        v[i] = keep;
        double num = (a - b) / (2 * FD_H);
        d2 += (num - g[i]) * (num - g[i]);
        s2 += num * num;
    }
    return s2 > 0 ? sqrt(d2 / s2) : sqrt(d2);
}

#define CHECK_FD(what, err)                                                                   \
    CHECK_MSG((err) < 1e-4, "%s: gradient off by %.2e (relative)", what, (double)(err))

/* ---- norms ---- */

typedef struct {
    int N, C, rms;
    double *x, *w, *b, *dout;
} norm_t;

static double norm_f(void *p)
{
    norm_t *c = p;
    double f = 0;
    for (int n = 0; n < c->N; n++) {
        const double *x = c->x + n * c->C;
        double m = 0, v = 0;
        for (int i = 0; i < c->C; i++)
            m += x[i];
        m = c->rms ? 0 : m / c->C;
        for (int i = 0; i < c->C; i++)
            v += (x[i] - m) * (x[i] - m);
        double r = 1 / sqrt(v / c->C + 1e-5);
        for (int i = 0; i < c->C; i++)
            f += c->dout[n * c->C + i] * ((x[i] - m) * r * c->w[i] + (c->rms ? 0 : c->b[i]));
    }
    return f;
}

TEST(gradcheck_layernorm_and_rmsnorm)
{
    rng_seed(&g_rng, 1);
    enum { N = 3, C = 7 };
    for (int rms = 0; rms < 2; rms++) {
        double x[N * C], w[C], b[C], dout[N * C];
        float xf[N * C], wf[C], bf[C], df[N * C], out[N * C], mean[N], rstd[N];
        fill(x, xf, N * C, 2);
        fill(w, wf, C, 1.5);
        fill(b, bf, C, 1);
        fill(dout, df, N * C, 1);
        float dx[N * C] = {0}, dw[C] = {0}, db[C] = {0};
        if (rms) {
            tf_rmsnorm_forward(out, rstd, xf, wf, N, C, C, 1e-5f);
            tf_rmsnorm_backward(dx, dw, df, xf, wf, rstd, N, C, C, 0);
        } else {
            tf_layernorm_forward(out, mean, rstd, xf, wf, bf, N, C, 1e-5f);
            tf_layernorm_backward(dx, dw, db, df, xf, wf, mean, rstd, N, C);
        }
        norm_t c = {N, C, rms, x, w, b, dout};
        CHECK_FD(rms ? "rmsnorm dx" : "layernorm dx", fd_check(norm_f, &c, x, N * C, dx));
        CHECK_FD(rms ? "rmsnorm dw" : "layernorm dw", fd_check(norm_f, &c, w, C, dw));
        if (!rms)
            CHECK_FD("layernorm db", fd_check(norm_f, &c, b, C, db));
    }
}

/* Qwen3's q/k norm: RMSNorm over each head, weights shared by the heads. */
typedef struct {
    int N, H, KV, D;
    double *x, *wq, *wk, *dout;
} qkn_t;

static double qkn_f(void *p)
{
    qkn_t *c = p;
    int W = (c->H + 2 * c->KV) * c->D;
    double f = 0;
    for (int n = 0; n < c->N; n++)
        for (int h = 0; h < c->H + 2 * c->KV; h++) {
            const double *x = c->x + n * W + h * c->D;
            const double *d = c->dout + n * W + h * c->D;
            if (h >= c->H + c->KV) { /* v: copied */
                for (int i = 0; i < c->D; i++)
                    f += d[i] * x[i];
                continue;
            }
            const double *w = h < c->H ? c->wq : c->wk;
            double s = 0;
            for (int i = 0; i < c->D; i++)
                s += x[i] * x[i];
            double r = 1 / sqrt(s / c->D + 1e-6);
            for (int i = 0; i < c->D; i++)
                f += d[i] * x[i] * r * w[i];
        }
    return f;
}

TEST(gradcheck_qk_norm)
{
    rng_seed(&g_rng, 2);
    enum { N = 3, H = 2, KV = 1, D = 4, W = (H + 2 * KV) * D };
    double x[N * W], wq[D], wk[D], dout[N * W];
    float xf[N * W], wqf[D], wkf[D], df[N * W], out[N * W], rq[N * H], rk[N * KV];
    fill(x, xf, N * W, 2);
    fill(wq, wqf, D, 1.5);
    fill(wk, wkf, D, 1.5);
    fill(dout, df, N * W, 1);
    tf_qk_norm_forward(out, rq, rk, xf, wqf, wkf, N, H, KV, D, 1e-6f);
    float dx[N * W], dwq[D] = {0}, dwk[D] = {0};
    tf_qk_norm_backward(dx, dwq, dwk, df, xf, wqf, wkf, rq, rk, N, H, KV, D);
    qkn_t c = {N, H, KV, D, x, wq, wk, dout};
    CHECK_FD("qk_norm dx", fd_check(qkn_f, &c, x, N * W, dx));
    CHECK_FD("qk_norm dwq", fd_check(qkn_f, &c, wq, D, dwq));
    CHECK_FD("qk_norm dwk", fd_check(qkn_f, &c, wk, D, dwk));
}

/* ---- linear (fp32 and bf16 weights) and embedding ---- */

typedef struct {
    int N, I, O;
    double *x, *w, *b, *dout;
} lin_t;

static double lin_f(void *p)
{
    lin_t *c = p;
    double f = 0;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++) {
            double s = c->b[o];
            for (int i = 0; i < c->I; i++)
                s += c->x[n * c->I + i] * c->w[o * c->I + i];
            f += c->dout[n * c->O + o] * s;
        }
    return f;
}

TEST(gradcheck_linear_fp32_and_bf16)
{
    rng_seed(&g_rng, 3);
    enum { N = 37, I = 19, O = 23 }; /* sizes past the kernels' tile edges */
    static double x[N * I], w[O * I], b[O], dout[N * O];
    static float xf[N * I], wf[O * I], bf[O], df[N * O], dx[N * I], dw[O * I], db[O];
    static uint16_t w16[O * I];
    fill(x, xf, N * I, 1);
    fill(w, wf, O * I, 1);
    fill(b, bf, O, 1);
    fill(dout, df, N * O, 1);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        if (bf16)
            for (int i = 0; i < O * I; i++) {
                w16[i] = k_f32_to_bf16(wf[i]);
                w[i] = k_bf16_to_f32(w16[i]);
            }
        tf_linear lin = {bf16 ? NULL : wf, bf16 ? w16 : NULL, bf, O, I};
        memset(dw, 0, sizeof dw);
        memset(db, 0, sizeof db);
        for (int i = 0; i < N * I; i++)
            dx[i] = 1.0f; /* accumulate = 0 must overwrite this */
        tf_linear_backward(dx, dw, db, df, xf, &lin, N, 0);
        lin_t c = {N, I, O, x, w, b, dout};
        CHECK_FD(bf16 ? "linear (bf16) dx" : "linear dx", fd_check(lin_f, &c, x, N * I, dx));
        CHECK_FD(bf16 ? "linear (bf16) dW" : "linear dW", fd_check(lin_f, &c, w, O * I, dw));
        CHECK_FD("linear db", fd_check(lin_f, &c, b, O, db));
    }
}

TEST(gradcheck_embedding)
{
    enum { N = 5, C = 3, V = 4, P = 6 };
    int32_t tok[N] = {1, 3, 1, 0, 2};
    int pos[N] = {0, 1, 2, 0, 5};
    float dout[N * C], dwte[V * C] = {0}, dwpe[P * C] = {0};
    for (int i = 0; i < N * C; i++)
        dout[i] = (float)(i + 1);
    tf_embedding_backward(dwte, dwpe, dout, tok, pos, N, C);
    /* the embedding is linear: its gradient is the scatter-sum exactly */
    for (int v = 0; v < V; v++)
        for (int i = 0; i < C; i++) {
            float want = 0;
            for (int n = 0; n < N; n++)
                want += tok[n] == v ? dout[n * C + i] : 0;
            CHECK(dwte[v * C + i] == want);
        }
    CHECK(dwpe[0 * C] == dout[0] + dout[3 * C] && dwpe[5 * C + 2] == dout[4 * C + 2]);
}

/* ---- activations ---- */

typedef struct {
    int n, kind; /* 0 gelu tanh, 1 gelu erf, 2 swiglu (n rows of F = 5) */
    double *x, *dout;
} act_t;

static double act_f(void *p)
{
    act_t *c = p;
    double f = 0;
    if (c->kind == 2) {
        enum { F = 5 };
        for (int r = 0; r < c->n; r++)
            for (int i = 0; i < F; i++) {
                double g = c->x[r * 2 * F + i], u = c->x[r * 2 * F + F + i];
                f += c->dout[r * F + i] * g / (1 + exp(-g)) * u;
            }
        return f;
    }
    for (int i = 0; i < c->n; i++) {
        double x = c->x[i], y;
        if (c->kind == 0)
            y = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        else
            y = 0.5 * x * (1 + erf(x / sqrt(2)));
        f += c->dout[i] * y;
    }
    return f;
}

TEST(gradcheck_gelu_and_swiglu)
{
    rng_seed(&g_rng, 4);
    enum { N = 40, R = 4, F = 5 };
    double x[N], dout[N], xs[R * 2 * F], ds[R * F];
    float xf[N], df[N], dx[N], xsf[R * 2 * F], dsf[R * F], dxs[R * 2 * F];
    fill(x, xf, N, 4);
    fill(dout, df, N, 1);
    for (int kind = 0; kind < 2; kind++) {
        tf_gelu_backward(dx, xf, df, N, kind == 0);
        act_t c = {N, kind, x, dout};
        CHECK_FD(kind ? "gelu (erf)" : "gelu (tanh)", fd_check(act_f, &c, x, N, dx));
    }
    fill(xs, xsf, R * 2 * F, 4);
    fill(ds, dsf, R * F, 1);
    tf_swiglu_backward(dxs, xsf, dsf, R, F);
    act_t c = {R, 2, xs, ds};
    CHECK_FD("swiglu", fd_check(act_f, &c, xs, R * 2 * F, dxs));
}

/* ---- rotary embeddings and attention ---- */

enum { AB = 2, AT = 6, AH = 4, AKV = 2, AD = 4, AN = AB * AT, AHD = AH * AD };
static const int k_alens[AB] = {6, 4};

typedef struct {
    double *q, *k, *v; /* q [N, H D]; k, v [B, KV, T, D] */
    double *dout;      /* [N, H D] */
    int window;
} att_t;

static double att_f(void *p)
{
    att_t *c = p;
    double f = 0, scale = 1 / sqrt((double)AD);
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < k_alens[b]; t++)
            for (int h = 0; h < AH; h++) {
                int g = h / (AH / AKV);
                const double *q = c->q + (b * AT + t) * AHD + h * AD;
                double s[AT], m = -1e300, z = 0;
                int lo = c->window > 0 && t - c->window + 1 > 0 ? t - c->window + 1 : 0;
                for (int j = lo; j <= t; j++) {
                    const double *k = c->k + ((b * AKV + g) * AT + j) * AD;
                    s[j] = 0;
                    for (int i = 0; i < AD; i++)
                        s[j] += q[i] * k[i];
                    s[j] *= scale;
                    m = s[j] > m ? s[j] : m;
                }
                for (int j = lo; j <= t; j++)
                    z += exp(s[j] - m);
                for (int i = 0; i < AD; i++) {
                    double o = 0;
                    for (int j = lo; j <= t; j++)
                        o += exp(s[j] - m) / z * c->v[((b * AKV + g) * AT + j) * AD + i];
                    f += c->dout[(b * AT + t) * AHD + h * AD + i] * o;
                }
            }
    return f;
}

TEST(gradcheck_attention_causal_padding_gqa_window)
{
    rng_seed(&g_rng, 5);
    enum { NKV = AB * AKV * AT * AD };
    static double q[AN * AHD], k[NKV], v[NKV], dout[AN * AHD];
    static float qf[AN * AHD], kf[NKV], vf[NKV], df[AN * AHD], out[AN * AHD], lse[AN * AH];
    static float dq[AN * AHD], dk[NKV], dv[NKV];
    fill(q, qf, AN * AHD, 2);
    fill(k, kf, NKV, 2);
    fill(v, vf, NKV, 1);
    fill(dout, df, AN * AHD, 1);
    /* padding rows carry no gradient */
    for (int b = 0; b < AB; b++)
        for (int t = k_alens[b]; t < AT; t++)
            for (int i = 0; i < AHD; i++)
                df[(b * AT + t) * AHD + i] = 0, dout[(b * AT + t) * AHD + i] = 0;
    int start[AB] = {0, 0};
    tf_rows r = {AB, AT, start, k_alens, NULL};
    tf_kv kv = {kf, vf, AT}, dkv = {dk, dv, AT};
    static float scr[8 * 4096], bscr[8 * 4096];
    CHECK(tf_attention_scratch(AH, AKV, AD, AT) * 2 <= 4096 * 8);
    for (int window = 0; window <= 3; window += 3) {
        tf_attention_forward(out, lse, qf, kv, &r, AH, AKV, AD, window, scr, 2);
        tf_attention_backward(dq, dkv, df, qf, kv, out, lse, &r, AH, AKV, AD, window, bscr, 2);
        att_t c = {q, k, v, dout, window};
        CHECK_FD(window ? "attention dq (window)" : "attention dq", fd_check(att_f, &c, q, AN * AHD, dq));
        CHECK_FD(window ? "attention dk (window)" : "attention dk", fd_check(att_f, &c, k, NKV, dk));
        CHECK_FD(window ? "attention dv (window)" : "attention dv", fd_check(att_f, &c, v, NKV, dv));
    }
}

typedef struct {
    double *qkv, *dq, *dk, *dv; /* qkv [N, (H+2KV) D]; dq [N, HD]; dk/dv store */
    const float *cos, *sin;
} rope_t;

/* f = <dq, rot(q)> + <dk, rot(k)> + <dv, v> */
static double rope_f(void *p)
{
    rope_t *c = p;
    int W = (AH + 2 * AKV) * AD, half = AD / 2;
    double f = 0;
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < k_alens[b]; t++) {
            int n = b * AT + t;
            for (int h = 0; h < AH + AKV; h++) {
                const double *x = c->qkv + n * W + h * AD;
                const double *d = h < AH ? c->dq + n * AHD + h * AD
                                         : c->dk + ((b * AKV + h - AH) * AT + t) * AD;
                for (int i = 0; i < half; i++) {
                    double cs = c->cos[n * half + i], sn = c->sin[n * half + i];
                    f += d[i] * (x[i] * cs - x[i + half] * sn) +
                         d[i + half] * (x[i + half] * cs + x[i] * sn);
                }
            }
            for (int g = 0; g < AKV; g++)
                for (int i = 0; i < AD; i++)
                    f += c->dv[((b * AKV + g) * AT + t) * AD + i] *
                         c->qkv[n * W + (AH + AKV + g) * AD + i];
        }
    return f;
}

TEST(gradcheck_rope)
{
    rng_seed(&g_rng, 6);
    enum { W = (AH + 2 * AKV) * AD, NKV = AB * AKV * AT * AD };
    static double qkv[AN * W], dq[AN * AHD], dk[NKV], dv[NKV];
    static float qkvf[AN * W], dqf[AN * AHD], dkf[NKV], dvf[NKV], out[AN * W];
    float cs[AN * AD / 2], sn[AN * AD / 2], inv[AD / 2] = {1.0f, 0.01f};
    int pos[AN], start[AB] = {0, 0};
    for (int n = 0; n < AN; n++)
        pos[n] = n % AT;
    tf_rope_tables(cs, sn, pos, inv, AN, AD / 2);
    fill(qkv, qkvf, AN * W, 1);
    fill(dq, dqf, AN * AHD, 1);
    fill(dk, dkf, NKV, 1);
    fill(dv, dvf, NKV, 1);
    tf_rows r = {AB, AT, start, k_alens, NULL};
    tf_rope_kv_backward(out, dqf, (tf_kv){dkf, dvf, AT}, cs, sn, &r, AH, AKV, AD);
    /* rows past a sequence's length have no gradient */
    rope_t c = {qkv, dq, dk, dv, cs, sn};
    CHECK_FD("rope dqkv", fd_check(rope_f, &c, qkv, AN * W, out));
}

/* ---- log-probability and entropy ---- */

typedef struct {
    int N, V;
    double *z, *dlogp, *dent;
    const int32_t *tg;
} lp_t;

static double lp_f(void *p)
{
    lp_t *c = p;
    double f = 0;
    for (int n = 0; n < c->N; n++) {
        const double *z = c->z + n * c->V;
        double m = -1e300, s = 0, h = 0;
        for (int i = 0; i < c->V; i++)
            m = z[i] > m ? z[i] : m;
        for (int i = 0; i < c->V; i++)
            s += exp(z[i] - m);
        double lse = m + log(s);
        for (int i = 0; i < c->V; i++)
            h -= exp(z[i] - lse) * (z[i] - lse);
        if (c->tg[n] >= 0)
            f += c->dlogp[n] * (z[c->tg[n]] - lse);
        f += c->dent[n] * h;
    }
    return f;
}

TEST(gradcheck_logprob_and_entropy)
{
    rng_seed(&g_rng, 7);
    enum { N = 4, V = 11 };
    int32_t tg[N] = {3, -1, 10, 0};
    double z[N * V], dlogp[N], dent[N];
    float zf[N * V], dlf[N], def[N], logp[N], ent[N], lse[N];
    fill(z, zf, N * V, 3);
    fill(dlogp, dlf, N, 1);
    fill(dent, def, N, 1);
    tf_logprob_forward_lse(logp, ent, lse, zf, tg, N, V);
    float g[N * V];
    memcpy(g, zf, sizeof g);
    tf_logprob_backward(g, tg, lse, ent, dlf, def, N, V);
    lp_t c = {N, V, z, dlogp, dent, tg};
    CHECK_FD("log-probability and entropy", fd_check(lp_f, &c, z, N * V, g));
    /* without the entropy term */
    memcpy(g, zf, sizeof g);
    tf_logprob_backward(g, tg, lse, ent, dlf, NULL, N, V);
    double zero[N] = {0};
    lp_t c2 = {N, V, z, dlogp, zero, tg};
    CHECK_FD("log-probability", fd_check(lp_f, &c2, z, N * V, g));
}

/* ---- LoRA with dropout, through the model ---- */

TEST(gradcheck_lora_with_dropout_through_the_model)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/llama", test_root());
    err_t e;
    tf_model *m = tf_load(dir, NULL, &e);
    CHECK(m);
    tf_lora_opts lo = {.r = 2, .alpha = 4, .dropout = 0.4f, .targets = "q_proj,down_proj",
                       .seed = 11};
    CHECK(tf_lora_attach(m, &lo, &e) == 0);
    /* B = 0 would make every A gradient 0: give B values */
    rng_seed(&g_rng, 8);
    for (size_t i = 0; i < m->lora_nparams; i++)
        m->lora_params[i] = (float)((2 * rng_uniform(&g_rng) - 1) * 0.3);
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    int32_t tok[2 * 7] = {5, 9, 17, 3, 88, 41, 7, 12, 13, 14, 15, 16, 0, 0};
    int lens[2] = {7, 5};
    float w[2 * 7];
    for (int i = 0; i < 14; i++)
        w[i] = 0.1f * (float)(i % 5);
    /* the same dropout masks for every evaluation: fix the step counter */
    uint64_t step = m->lora_dropout_step;
    double loss;
    CHECK(tf_train_weighted(tr, tok, lens, 2, 7, NULL, w, &loss, &e) == 0);
    float *g = malloc(sizeof(float) * m->lora_nparams);
    /* the trainer's gradient buffer, by the PEFT names of one adapter */
    const tf_lora_part *p = &m->layers[1].lora[TF_LIN_QKV].part[0];
    char name[256];
    snprintf(name, sizeof name, "base_model.model.%s.lora_A.weight", p->name);
    size_t nA = (size_t)2 * m->C;
    CHECK(tf_trainer_grad(tr, name, g, nA, &e) == 0);
    /* central differences in fp32 with a large step: loose, but it is the
     * masks that are checked (a wrong mask is wrong by O(1)) */
    double d2 = 0, s2 = 0;
    for (size_t i = 0; i < nA; i += 3) {
        float keep = p->A[i];
        double f[2];
        for (int s = 0; s < 2; s++) {
            p->A[i] = keep + (s ? -1e-2f : 1e-2f);
            m->lora_dropout_step = step; /* tf_train_fb adds one, as before */
            tf_trainer_zero_grad(tr);
            CHECK(tf_train_weighted(tr, tok, lens, 2, 7, NULL, w, &f[s], &e) == 0);
        }
        p->A[i] = keep;
        double num = (f[0] - f[1]) / 2e-2;
        d2 += (num - g[i]) * (num - g[i]);
        s2 += num * num;
    }
    CHECK_MSG(sqrt(d2 / s2) < 2e-2, "LoRA A gradient with dropout off by %.2e", sqrt(d2 / s2));
    free(g);
    tf_trainer_free(tr);
    tf_free(m);
}
