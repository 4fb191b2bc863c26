/* model/tf_train: forward with saved activations, the per-token loss
 * through a chunked LM head, the backward pass layer by layer (with
 * optional recomputation: gradient checkpointing), AdamW with global-norm
 * clipping, learning-rate schedules, and the optimizer state on disk. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "tf_internal.h"
#include "tf_vec.h"
#include "train.h"

/* A range of trained floats with its weight-decay choice: matrices decay,
 * vectors (biases, norm weights) do not - what transformers' Trainer does. */
typedef struct {
    size_t off, n;
    int decay;
} tf_range;

struct tf_trainer {
    tf_model *m;
    tf_train_opts o;
    int lora;
    float *params; /* what is trained: m->params, or m->lora_params */
    size_t n;      /* its length */
    float *grads, *adam_m, *adam_v;
    tf_range *ranges;
    int nranges;
    long step;

    /* activations and every other per-batch buffer, carved for B x T
     * (cap_B, cap_T) out of one arena that only grows: batches of other
     * shapes re-carve it instead of allocating afresh */
    int cap_B, cap_T;
    float *arena;
    size_t arena_cap; /* floats */
    tf_acts *acts;   /* [L]; with checkpointing, acts[l] has only res1 */
    tf_acts work;    /* checkpointing: the layer being recomputed */
    float *x, *lnf, *lnf_mean, *lnf_rstd;
    /* gradients of activations (reused by every layer) */
    float *dres, *dh, *datt, *dq, *dk, *dv, *dqkv, *dqkv2, *dff, *dact, *dlnf;
    float *bwd_scratch;
    /* LM-head chunk: hc rows of logits at a time. Larger than inference's
     * (tf_lp_chunk), because each chunk also adds into the head's whole
     * weight gradient [V, C]: fewer, larger chunks read and write it less. */
    int hc;
    float *rows_c, *logits_c, *logp_c, *ent_c, *lse_c, *dlogp_c, *dent_c, *drows_c;
    int32_t *tgt_c;
    int *b_c, *t_c;
};

size_t tf_trainer_num_params(const tf_trainer *t)
{
    size_t s = 0;
    for (int i = 0; i < t->nranges; i++)
        s += t->ranges[i].n;
    return s;
}

long tf_trainer_steps(const tf_trainer *t)
{
    return t->step;
}

static float *zalloc(size_t n)
{
    float *p = xmalloc_aligned(64, sizeof(float) * (n ? n : 1));
    memset(p, 0, sizeof(float) * (n ? n : 1));
    return p;
}

tf_trainer *tf_trainer_new(tf_model *m, const tf_train_opts *o, err_t *e)
{
    if (!m->lora_n && m->params16) {
        err_set(e, "full fine-tuning needs fp32 weights: load the model without bf16 Linear "
                   "weights, or attach LoRA adapters");
        return NULL;
    }
    tf_trainer *t = xcalloc(1, sizeof *t);
    t->m = m;
    t->o = o ? *o : (tf_train_opts){0};
    if (t->o.beta1 == 0)
        t->o.beta1 = 0.9f;
    if (t->o.beta2 == 0)
        t->o.beta2 = 0.999f;
    if (t->o.eps == 0)
        t->o.eps = 1e-8f;
    t->lora = m->lora_n > 0;
    if (t->lora) {
        t->params = m->lora_params;
        t->n = m->lora_nparams;
        t->ranges = xmalloc(sizeof *t->ranges * (size_t)m->lora_n * 2);
        for (int l = 0; l < m->L; l++)
            for (int k = 0; k < 4; k++) {
                const tf_layer *y = &m->layers[l];
                const tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
                for (int j = 0; j < y->lora[k].n; j++) {
                    const tf_lora_part *p = &y->lora[k].part[j];
                    t->ranges[t->nranges++] = (tf_range){(size_t)(p->A - m->lora_params),
                                                         (size_t)m->lora_r * lins[k]->n_in, 1};
                    t->ranges[t->nranges++] = (tf_range){(size_t)(p->B - m->lora_params),
                                                         (size_t)p->rows * m->lora_r, 1};
                }
            }
    } else {
        t->params = m->params;
        t->n = m->n_params;
        t->ranges = xmalloc(sizeof *t->ranges * (size_t)m->n_plist);
        for (int i = 0; i < m->n_plist; i++) {
            const tf_param *p = &m->plist[i];
            t->ranges[t->nranges++] =
                (tf_range){(size_t)(p->p - m->params), p->numel, p->cols > 0};
        }
    }
    t->grads = zalloc(t->n);
    t->adam_m = zalloc(t->n);
    t->adam_v = zalloc(t->n);
    return t;
}

static void free_acts(tf_trainer *t)
{
    free(t->arena);
    t->arena = NULL;
    t->arena_cap = 0;
    free(t->acts);
    free(t->tgt_c);
    free(t->b_c);
    free(t->t_c);
    t->acts = NULL;
    t->tgt_c = NULL;
    t->b_c = t->t_c = NULL;
    t->cap_B = t->cap_T = 0;
}

void tf_trainer_free(tf_trainer *t)
{
    if (!t)
        return;
    free_acts(t);
    free(t->grads);
    free(t->adam_m);
    free(t->adam_v);
    free(t->ranges);
    free(t);
}

/* Carves one layer's buffers out of *mem (count only when *mem is NULL);
 * full = 0 gives res1 alone (a checkpoint). */
static size_t carve(const tf_model *m, tf_acts *a, float **mem, int B, int T, int full)
{
    size_t N = (size_t)B * T, C = (size_t)m->C, HD = (size_t)m->H * m->D, used = 0;
    const hf_config *c = &m->cfg;
#define TAKE(field, n)                                                                         \
    do {                                                                                       \
        size_t k_ = ((n) + 15) / 16 * 16;                                                      \
        if (*mem) {                                                                            \
            a->field = *mem;                                                                   \
            *mem += k_;                                                                        \
        }                                                                                      \
        used += k_;                                                                            \
    } while (0)
    TAKE(res1, N * C);
    if (full) {
        TAKE(h1, N * C);
        TAKE(mean1, N);
        TAKE(rstd1, N);
        TAKE(qkv, N * m->QKV);
        if (c->qk_norm) {
            TAKE(qkvn, N * m->QKV);
            TAKE(rstd_q, N * m->H);
            TAKE(rstd_k, N * m->KV);
        }
        TAKE(q, N * HD);
        TAKE(kv.k, N * m->KV * m->D);
        TAKE(kv.v, N * m->KV * m->D);
        TAKE(att, N * HD);
        TAKE(lse, N * m->H);
        TAKE(res2, N * C);
        TAKE(h2, N * C);
        TAKE(mean2, N);
        TAKE(rstd2, N);
        TAKE(ff, N * m->F * (c->gated_mlp ? 2 : 1));
        TAKE(act, N * m->F);
        a->kv.S = T;
    }
#undef TAKE
    return used;
}

/* Points *field at the next n floats of *mem (rounded up to 16), or only
 * counts them when *mem is NULL. */
static void take(float **field, float **mem, size_t n, size_t *used)
{
    size_t k = (n + 15) / 16 * 16;
    if (*mem) {
        *field = *mem;
        *mem += k;
    }
    *used += k;
}

/* The buffers of a B x T batch other than the layers' (see carve). */
static size_t carve_rest(tf_trainer *t, float **mem, int B, int T)
{
    tf_model *m = t->m;
    size_t N = (size_t)B * T, C = (size_t)m->C, HD = (size_t)m->H * m->D, used = 0;
    take(&t->x, mem, N * C, &used);
    take(&t->lnf, mem, N * C, &used);
    take(&t->lnf_mean, mem, N, &used);
    take(&t->lnf_rstd, mem, N, &used);
    take(&t->dres, mem, N * C, &used);
    take(&t->dh, mem, N * C, &used);
    take(&t->dlnf, mem, N * C, &used);
    take(&t->datt, mem, N * HD, &used);
    take(&t->dq, mem, N * HD, &used);
    take(&t->dk, mem, N * m->KV * m->D, &used);
    take(&t->dv, mem, N * m->KV * m->D, &used);
    take(&t->dqkv, mem, N * m->QKV, &used);
    if (m->cfg.qk_norm)
        take(&t->dqkv2, mem, N * m->QKV, &used);
    take(&t->dff, mem, N * m->F * (m->cfg.gated_mlp ? 2 : 1), &used);
    take(&t->dact, mem, N * m->F, &used);
    take(&t->bwd_scratch, mem,
         (size_t)m->ws.nthr * tf_attention_bwd_scratch(m->H, m->KV, m->D, T), &used);
    size_t lpc = (size_t)t->hc;
    take(&t->rows_c, mem, lpc * C, &used);
    take(&t->logits_c, mem, lpc * (size_t)m->V, &used);
    take(&t->logp_c, mem, lpc, &used);
    take(&t->ent_c, mem, lpc, &used);
    take(&t->lse_c, mem, lpc, &used);
    take(&t->dlogp_c, mem, lpc, &used);
    take(&t->dent_c, mem, lpc, &used);
    take(&t->drows_c, mem, lpc * C, &used);
    return used;
}

static void ensure(tf_trainer *t, int B, int T)
{
    tf_model *m = t->m;
    tf_ws_ensure(m, B, T, T);
    if (t->acts && B == t->cap_B && T == t->cap_T)
        return;
    /* Activations are laid out for exactly B x T (their strides depend on
     * T), so any other shape re-carves the arena, zeroed as a new one
     * would be; it is reallocated only when it must grow. */
    t->cap_B = B;
    t->cap_T = T;
    size_t N = (size_t)B * T;
    int ck = t->o.checkpointing;
    if (!t->acts)
        t->acts = xcalloc((size_t)m->L, sizeof *t->acts);
    /* about 32M floats of logits, at most 1024 rows and never more than N */
    size_t lpc = t->o.head_rows > 0 ? (size_t)t->o.head_rows : (size_t)((32 << 20) / m->V);
    lpc = lpc < 1 ? 1 : lpc > 1024 ? 1024 : lpc;
    lpc = lpc > N ? N : lpc;
    t->hc = (int)lpc;
    if (!t->tgt_c) {
        t->tgt_c = xmalloc(sizeof(int32_t) * 1024);
        t->b_c = xmalloc(sizeof(int) * 1024);
        t->t_c = xmalloc(sizeof(int) * 1024);
    }
    float *none = NULL;
    size_t total = 0;
    for (int l = 0; l < m->L; l++)
        total += carve(m, &t->acts[l], &none, B, T, !ck);
    if (ck)
        total += carve(m, &t->work, &none, B, T, 1);
    size_t nlora = ((size_t)m->lora_n * N * (size_t)m->lora_r + 15) / 16 * 16;
    total += nlora + carve_rest(t, &none, B, T);
    if (total > t->arena_cap) {
        free(t->arena);
        t->arena = zalloc(total);
        t->arena_cap = total;
    } else {
        memset(t->arena, 0, sizeof(float) * total);
    }
    float *p = t->arena;
    for (int l = 0; l < m->L; l++)
        carve(m, &t->acts[l], &p, B, T, !ck);
    if (ck)
        carve(m, &t->work, &p, B, T, 1);
    float *lora_u = m->lora_n ? p : NULL;
    p += nlora;
    for (int l = 0; l < m->L; l++)
        t->acts[l].lora_u = lora_u;
    t->work.lora_u = lora_u;
    carve_rest(t, &p, B, T);
}

/* The gradient slot of a parameter (NULL when it is not trained). */
static float *G(const tf_trainer *t, const float *p)
{
    if (t->lora || !p)
        return NULL;
    return t->grads + (p - t->m->params);
}

static void norm_bwd(const tf_trainer *t, float *dx, const float *w, const float *b,
                     const float *dout, const float *x, const float *mean, const float *rstd,
                     int N)
{
    tf_model *m = t->m;
    if (m->cfg.rms_norm)
        tf_rmsnorm_backward(dx, G(t, w), dout, x, w, rstd, N, m->C, (size_t)m->C, 1);
    else
        tf_layernorm_backward(dx, G(t, w), G(t, b), dout, x, w, mean, rstd, N, m->C);
}

static const float *u_of(const tf_trainer *t, const tf_acts *a, const tf_lora *lo, int N)
{
    if (!a->lora_u || lo->n == 0)
        return NULL;
    return a->lora_u + (size_t)lo->part[0].id * N * t->m->lora_r;
}

/* dres [N, C] holds d(loss)/d(layer output); on return, d/d(layer input). */
static void layer_backward(tf_trainer *t, int l, const tf_acts *a, const tf_rows *r)
{
    tf_model *m = t->m;
    const hf_config *c = &m->cfg;
    const tf_layer *y = &m->layers[l];
    int N = r->B * r->T, H = m->H, KV = m->KV, D = m->D;
    float *lg = t->lora ? t->grads : NULL;
    /* MLP block: out = res2 + down(act(up(norm2(res2)))) */
    tf_lin_backward(m, t->dact, G(t, y->down.w), G(t, y->down.b), t->dres, a->act, &y->down,
                    &y->lora[TF_LIN_DOWN], N, 0, u_of(t, a, &y->lora[TF_LIN_DOWN], N), lg);
    if (c->gated_mlp)
        tf_swiglu_backward(t->dff, a->ff, t->dact, N, m->F);
    else
        tf_gelu_backward(t->dff, a->ff, t->dact, (size_t)N * m->F, c->act == HF_ACT_GELU_TANH);
    tf_lin_backward(m, t->dh, G(t, y->up.w), G(t, y->up.b), t->dff, a->h2, &y->up,
                    &y->lora[TF_LIN_UP], N, 0, u_of(t, a, &y->lora[TF_LIN_UP], N), lg);
    norm_bwd(t, t->dres, y->ln2_w, y->ln2_b, t->dh, a->res2, a->mean2, a->rstd2, N);
    /* attention block: res2 = res1 + o(attention(rope(qkv(norm1(res1))))) */
    tf_lin_backward(m, t->datt, G(t, y->o.w), G(t, y->o.b), t->dres, a->att, &y->o,
                    &y->lora[TF_LIN_O], N, 0, u_of(t, a, &y->lora[TF_LIN_O], N), lg);
    tf_kv dkv = {t->dk, t->dv, r->T};
    tf_attention_backward(t->dq, dkv, t->datt, a->q, a->kv, a->att, a->lse, r, H, KV, D,
                          c->sliding_window, t->bwd_scratch, m->ws.nthr);
    tf_rope_kv_backward(t->dqkv, t->dq, dkv, c->learned_pos ? NULL : m->ws.cos, m->ws.sin, r, H,
                        KV, D);
    const float *dqkv = t->dqkv;
    if (c->qk_norm) {
        tf_qk_norm_backward(t->dqkv2, G(t, y->q_norm), G(t, y->k_norm), t->dqkv, a->qkv,
                            y->q_norm, y->k_norm, a->rstd_q, a->rstd_k, N, H, KV, D);
        dqkv = t->dqkv2;
    }
    tf_lin_backward(m, t->dh, G(t, y->qkv.w), G(t, y->qkv.b), dqkv, a->h1, &y->qkv,
                    &y->lora[TF_LIN_QKV], N, 0, u_of(t, a, &y->lora[TF_LIN_QKV], N), lg);
    norm_bwd(t, t->dres, y->ln1_w, y->ln1_b, t->dh, a->res1, a->mean1, a->rstd1, N);
}

/* The LM head and the loss, a chunk of real positions at a time:
 * logits -> logp / entropy -> the callback's gradients -> d(logits) ->
 * d(final hidden rows) and the head's weight gradient. */
static void head_pass(tf_trainer *t, const int32_t *tokens, const int *lens, int B, int T,
                      const int32_t *targets, tf_loss_fn fn, void *user, float *logp, float *ent)
{
    tf_model *m = t->m;
    size_t C = (size_t)m->C;
    int lpc = t->hc;
    memset(t->dlnf, 0, sizeof(float) * (size_t)B * T * C);
    if (logp)
        memset(logp, 0, sizeof(float) * (size_t)B * T);
    if (ent)
        memset(ent, 0, sizeof(float) * (size_t)B * T);
    int b = 0, tt = 0;
    while (b < B) {
        int n = 0;
        while (n < lpc && b < B) {
            size_t row = (size_t)b * T + tt;
            memcpy(t->rows_c + n * C, t->lnf + row * C, sizeof(float) * C);
            t->tgt_c[n] = targets ? targets[row] : tt + 1 < lens[b] ? tokens[row + 1] : -1;
            t->b_c[n] = b;
            t->t_c[n] = tt;
            n++;
            if (++tt == lens[b]) {
                tt = 0;
                b++;
            }
        }
        /* logits [n, V] = rows W_head^T */
        tf_lin_forward(m, t->logits_c, t->rows_c, &m->lm_head, NULL, n, 0, NULL);
        tf_logprob_forward_lse(t->logp_c, t->ent_c, t->lse_c, t->logits_c, t->tgt_c, n, m->V);
        memset(t->dlogp_c, 0, sizeof(float) * (size_t)n);
        memset(t->dent_c, 0, sizeof(float) * (size_t)n);
        fn(user, n, t->b_c, t->t_c, t->logp_c, t->ent_c, t->dlogp_c, t->dent_c);
        for (int i = 0; i < n; i++) {
            size_t row = (size_t)t->b_c[i] * T + t->t_c[i];
            if (logp)
                logp[row] = t->logp_c[i];
            if (ent)
                ent[row] = t->ent_c[i];
        }
        tf_logprob_backward(t->logits_c, t->tgt_c, t->lse_c, t->ent_c, t->dlogp_c, t->dent_c, n,
                            m->V);
        /* d rows [n, C] = dlogits W_head; dW_head += dlogits^T rows */
        tf_lin_backward(m, t->drows_c, G(t, m->lm_head.w), NULL, t->logits_c, t->rows_c,
                        &m->lm_head, NULL, n, 0, NULL, NULL);
        for (int i = 0; i < n; i++)
            memcpy(t->dlnf + ((size_t)t->b_c[i] * T + t->t_c[i]) * C, t->drows_c + i * C,
                   sizeof(float) * C);
    }
}

int tf_train_fb(tf_trainer *t, const int32_t *tokens, const int *lens, int B, int T,
                const int32_t *targets, tf_loss_fn fn, void *user, float *logp, float *ent,
                err_t *e)
{
    tf_model *m = t->m;
    int maxlen = 0;
    for (int b = 0; b < B && b >= 0 && lens; b++)
        maxlen = lens[b] > maxlen ? lens[b] : maxlen;
    if (tf_check_batch(m, tokens, lens, B, T, maxlen, e) != 0)
        return -1;
    if (targets)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < lens[b]; i++)
                if (targets[(size_t)b * T + i] >= m->V)
                    return err_set(e, "target id %d at [%d, %d] is outside the vocabulary (0..%d)",
                                   targets[(size_t)b * T + i], b, i, m->V - 1);
    if (m->lora_n && m->lora_off)
        return err_set(e, "the LoRA adapters are switched off: nothing to train");
    ensure(t, B, T);
    tf_ws *w = &m->ws;
    int N = B * T;
    memset(w->start, 0, sizeof(int) * (size_t)B);
    tf_rows r = {.B = B, .T = T, .start = w->start, .len = lens, .slot = NULL};
    m->lora_training = 1;
    m->lora_dropout_step++;

    /* forward: every layer keeps its activations (or, checkpointing, its input) */
    tf_embed(m, &r, tokens, t->x);
    for (int l = 0; l < m->L; l++) {
        if (t->o.checkpointing) {
            t->work.res1 = t->acts[l].res1;
            tf_layer_forward(m, l, &t->work, &r, t->x);
        } else {
            tf_layer_forward(m, l, &t->acts[l], &r, t->x);
        }
    }
    tf_final_norm(m, t->lnf, t->lnf_mean, t->lnf_rstd, t->x, N);

    /* loss and the gradient of the final hidden states */
    head_pass(t, tokens, lens, B, T, targets, fn, user, logp, ent);
    memset(t->dres, 0, sizeof(float) * (size_t)N * m->C);
    norm_bwd(t, t->dres, m->lnf_w, m->lnf_b, t->dlnf, t->x, t->lnf_mean, t->lnf_rstd, N);

    /* backward through the layers */
    for (int l = m->L - 1; l >= 0; l--) {
        const tf_acts *a = &t->acts[l];
        if (t->o.checkpointing) {
            /* recompute the layer from its saved input (x is free now) */
            memcpy(t->x, t->acts[l].res1, sizeof(float) * (size_t)N * m->C);
            t->work.res1 = NULL;
            tf_layer_forward(m, l, &t->work, &r, t->x);
            t->work.res1 = t->acts[l].res1;
            a = &t->work;
        }
        layer_backward(t, l, a, &r);
    }
    if (!t->lora)
        tf_embedding_backward(G(t, m->wte), G(t, m->wpe), t->dres, w->tok, w->pos, N, m->C);
    m->lora_training = 0;
    return 0;
}

int tf_trainer_grad(const tf_trainer *t, const char *name, float *out, size_t n, err_t *e)
{
    const tf_model *m = t->m;
    if (t->lora) {
        for (int l = 0; l < m->L; l++)
            for (int k = 0; k < 4; k++) {
                const tf_layer *y = &m->layers[l];
                const tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
                for (int j = 0; j < y->lora[k].n; j++) {
                    const tf_lora_part *p = &y->lora[k].part[j];
                    char a[200], b[200];
                    snprintf(a, sizeof a, "base_model.model.%s.lora_A.weight", p->name);
                    snprintf(b, sizeof b, "base_model.model.%s.lora_B.weight", p->name);
                    int isa = !strcmp(name, a);
                    if (!isa && strcmp(name, b))
                        continue;
                    size_t want = isa ? (size_t)m->lora_r * lins[k]->n_in
                                      : (size_t)p->rows * m->lora_r;
                    if (n != want)
                        return err_set(e, "%s has %zu values, not %zu", name, want, n);
                    memcpy(out, t->grads + ((isa ? p->A : p->B) - m->lora_params),
                           sizeof(float) * n);
                    return 0;
                }
            }
        return err_set(e, "no adapter tensor named '%s'", name);
    }
    int nt = tf_hf_tensors(m, NULL);
    tf_hf_tensor *ts = xmalloc(sizeof *ts * (size_t)nt);
    tf_hf_tensors(m, ts);
    int rc = err_set(e, "no tensor named '%s'", name);
    for (int i = 0; i < nt; i++) {
        if (strcmp(ts[i].name, name) != 0)
            continue;
        size_t rows = (size_t)ts[i].rows, cols = ts[i].cols ? (size_t)ts[i].cols : 1;
        if (n != rows * cols) {
            rc = err_set(e, "%s has %zu values, not %zu", name, rows * cols, n);
            break;
        }
        const float *g = t->grads + (ts[i].dst - m->params);
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                out[ts[i].transpose ? c * rows + r : r * cols + c] = g[r * cols + c];
        rc = 0;
        break;
    }
    free(ts);
    return rc;
}

/* ---- weighted cross-entropy ---- */

typedef struct {
    const float *w;
    int T;
    double loss;
} wce_t;

static void wce_fn(void *user, int n, const int *b, const int *t, const float *logp,
                   const float *ent, float *dlogp, float *dent)
{
    wce_t *c = user;
    for (int i = 0; i < n; i++) {
        float w = c->w[(size_t)b[i] * c->T + t[i]];
        c->loss -= (double)w * logp[i];
        dlogp[i] = -w;
    }
}

int tf_train_weighted(tf_trainer *t, const int32_t *tokens, const int *lens, int B, int T,
                      const int32_t *targets, const float *w, double *loss, err_t *e)
{
    wce_t c = {w, T, 0};
    int rc = tf_train_fb(t, tokens, lens, B, T, targets, wce_fn, &c, NULL, NULL, e);
    if (loss)
        *loss = c.loss;
    return rc;
}

int tf_train_seqs(tf_trainer *t, const tf_seq *seqs, int n, int micro_batch, double *loss,
                  err_t *e)
{
    if (micro_batch < 1)
        return err_set(e, "micro_batch = %d: must be at least 1", micro_batch);
    double total = 0;
    int rc = 0;
    for (int s0 = 0; s0 < n && rc == 0; s0 += micro_batch) {
        int B = n - s0 < micro_batch ? n - s0 : micro_batch, T = 1;
        for (int b = 0; b < B; b++) {
            if (seqs[s0 + b].len < 1)
                return err_set(e, "sequence %d is empty", s0 + b);
            T = seqs[s0 + b].len > T ? seqs[s0 + b].len : T;
        }
        int32_t *tok = xcalloc((size_t)B * T, sizeof *tok);
        float *w = xcalloc((size_t)B * T, sizeof *w);
        int *lens = xmalloc(sizeof(int) * (size_t)B);
        for (int b = 0; b < B; b++) {
            const tf_seq *q = &seqs[s0 + b];
            memcpy(tok + (size_t)b * T, q->tokens, sizeof *tok * (size_t)q->len);
            memcpy(w + (size_t)b * T, q->weights, sizeof *w * (size_t)(q->len - 1));
            lens[b] = q->len;
        }
        double l = 0;
        rc = tf_train_weighted(t, tok, lens, B, T, NULL, w, &l, e);
        total += l;
        free(tok);
        free(w);
        free(lens);
    }
    if (loss)
        *loss = total;
    return rc;
}

/* ---- AdamW ---- */

typedef struct {
    float *w, *g, *m1, *m2; /* one range's parameters, gradients, moments */
    float lr, b1, b2, eps, wd, bc1, bc2s, clip;
    int decay;
} adam_ctx;

/* torch.optim.AdamW's update, in its order of operations */
TF_VEC static void adam_range(void *p, long i0, long i1)
{
    const adam_ctx *c = p;
    float *restrict w = c->w, *restrict m1 = c->m1, *restrict m2 = c->m2;
    const float *restrict g = c->g;
    float step_size = c->lr / c->bc1, keep = c->decay ? 1.0f - c->lr * c->wd : 1.0f;
    float b1 = c->b1, b2 = c->b2, clip = c->clip, bc2s = c->bc2s, eps = c->eps;
#pragma omp simd
    for (long i = i0; i < i1; i++) {
        float gi = g[i] * clip;
        float wi = w[i] * keep;
        float a = m1[i] * b1 + gi * (1.0f - b1);
        float v = m2[i] * b2 + gi * gi * (1.0f - b2);
        m1[i] = a;
        m2[i] = v;
        w[i] = wi - step_size * a / (sqrtf(v) / bc2s + eps);
    }
}

typedef struct {
    const float *g;
    double part[64];
    long n;
} norm_ctx2;

/* Sums of squares in fp32 over blocks of 4096, added up in double. */
TF_VEC static void sq_part(void *p, int part, int nparts)
{
    norm_ctx2 *c = p;
    long lo = c->n * part / nparts, hi = c->n * (part + 1) / nparts;
    const float *g = c->g;
    double s = 0;
    for (long i0 = lo; i0 < hi; i0 += 4096) {
        long i1 = i0 + 4096 < hi ? i0 + 4096 : hi;
        float b = 0;
#pragma omp simd reduction(+ : b)
        for (long i = i0; i < i1; i++)
            b += g[i] * g[i];
        s += b;
    }
    c->part[part] = s;
}

static double grad_norm(const tf_trainer *t)
{
    double s = 0;
    for (int r = 0; r < t->nranges; r++) {
        norm_ctx2 c = {.g = t->grads + t->ranges[r].off, .n = (long)t->ranges[r].n};
        int parts = c.n > 65536 ? par_threads() : 1;
        parts = parts > 64 ? 64 : parts;
        par_run(parts, sq_part, &c);
        for (int i = 0; i < parts; i++)
            s += c.part[i];
    }
    return sqrt(s);
}

void tf_trainer_zero_grad(tf_trainer *t)
{
    memset(t->grads, 0, sizeof(float) * t->n);
}

int tf_trainer_step(tf_trainer *t, float lr, double *gnorm, err_t *e)
{
    double norm = grad_norm(t);
    if (gnorm)
        *gnorm = norm;
    if (!isfinite(norm))
        return err_set(e, "gradient norm is %g: the step is skipped (lower the learning rate?)",
                       norm);
    float clip = 1.0f;
    if (t->o.max_grad_norm > 0) {
        /* torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), at most 1 */
        float coef = (float)(t->o.max_grad_norm / (norm + 1e-6));
        clip = coef < 1.0f ? coef : 1.0f;
    }
    t->step++;
    adam_ctx c = {.lr = lr, .b1 = t->o.beta1, .b2 = t->o.beta2, .eps = t->o.eps,
                  .wd = t->o.weight_decay, .clip = clip};
    c.bc1 = (float)(1.0 - pow((double)t->o.beta1, (double)t->step));
    c.bc2s = (float)sqrt(1.0 - pow((double)t->o.beta2, (double)t->step));
    for (int r = 0; r < t->nranges; r++) {
        adam_ctx rc = c;
        size_t off = t->ranges[r].off;
        rc.decay = t->ranges[r].decay && c.wd > 0;
        rc.w = t->params + off;
        rc.g = t->grads + off;
        rc.m1 = t->adam_m + off;
        rc.m2 = t->adam_v + off;
        par_for((long)t->ranges[r].n, 32768, adam_range, &rc);
    }
    if (!t->lora)
        tf_sync_tied_head(t->m);
    tf_trainer_zero_grad(t);
    return 0;
}

/* ---- schedules ---- */

float tf_sched_lr(const tf_sched *s, long step)
{
    double lr = s->lr;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return (float)(lr * (double)step / (double)s->warmup_steps);
    if (s->kind == TF_SCHED_CONSTANT)
        return (float)lr;
    long span = s->total_steps - s->warmup_steps;
    if (span <= 0)
        return 0.0f;
    double progress = (double)(step - s->warmup_steps) / (double)span;
    if (s->kind == TF_SCHED_LINEAR)
        return (float)(lr * (progress < 1 ? 1 - progress : 0));
    if (progress > 1)
        progress = 1;
    return (float)(lr * 0.5 * (1.0 + cos(M_PI * progress)));
}

int tf_sched_parse(const char *name, tf_sched_kind *out)
{
    if (!strcmp(name, "constant") || !strcmp(name, "constant_with_warmup"))
        *out = TF_SCHED_CONSTANT;
    else if (!strcmp(name, "linear"))
        *out = TF_SCHED_LINEAR;
    else if (!strcmp(name, "cosine"))
        *out = TF_SCHED_COSINE;
    else
        return -1;
    return 0;
}

/* ---- optimizer state ---- */

int tf_trainer_save(const tf_trainer *t, const char *path, err_t *e)
{
    st_writer *w = st_writer_new();
    int64_t n = (int64_t)t->n, one = 1;
    st_writer_add(w, "adamw.step", ST_I64, &one, 1);
    st_writer_add(w, "adamw.exp_avg", ST_F32, &n, 1);
    st_writer_add(w, "adamw.exp_avg_sq", ST_F32, &n, 1);
    int64_t step = t->step;
    if (st_writer_begin(w, path, e) || st_writer_data(w, &step, 8, e) ||
        st_writer_data(w, t->adam_m, sizeof(float) * t->n, e) ||
        st_writer_data(w, t->adam_v, sizeof(float) * t->n, e)) {
        st_writer_free(w);
        return -1;
    }
    return st_writer_finish(w, e);
}

int tf_trainer_load(tf_trainer *t, const char *path, err_t *e)
{
    st_file f;
    if (st_open(&f, path, e) != 0)
        return -1;
    const st_tensor *s = st_find(&f, "adamw.step"), *m1 = st_find(&f, "adamw.exp_avg"),
                    *m2 = st_find(&f, "adamw.exp_avg_sq");
    int rc = 0;
    if (!s || !m1 || !m2 || s->dtype != ST_I64 || s->numel != 1)
        rc = err_set(e, "%s: not an optimizer state (adamw.step, adamw.exp_avg, "
                        "adamw.exp_avg_sq)", path);
    else if ((size_t)m1->numel != t->n || (size_t)m2->numel != t->n)
        rc = err_set(e, "%s: optimizer state for %lld values; this model trains %zu", path,
                     (long long)m1->numel, t->n);
    else if (st_to_f32(m1, t->adam_m, path, e) || st_to_f32(m2, t->adam_v, path, e))
        rc = -1;
    else {
        int64_t step;
        memcpy(&step, s->data, 8);
        t->step = (long)step;
    }
    st_close(&f);
    return rc;
}
