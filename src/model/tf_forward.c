/* model/tf_forward: the decoder stack over a batch, and what callers get
 * from it: logits, last-position logits, per-token log-probabilities and
 * entropies (the LM head made a few rows at a time). */
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

int tf_lp_chunk(const tf_model *m)
{
    int n = (8 << 20) / m->V;
    return n < 1 ? 1 : n > 1024 ? 1024 : n;
}

void tf_ws_free(tf_ws *w)
{
    float **fl[] = {&w->x,   &w->h,    &w->mean, &w->rstd,   &w->qkv,   &w->qkvn,
                    &w->rstd_q, &w->rstd_k, &w->q, &w->att,   &w->lse,   &w->ff,
                    &w->act, &w->lnf,  &w->cos,  &w->sin,    &w->kv_k,  &w->kv_v,
                    &w->attn_scratch, &w->rows_c, &w->logits_c, &w->logp_c, &w->ent_c};
    for (size_t i = 0; i < ARRAY_LEN(fl); i++) {
        free(*fl[i]);
        *fl[i] = NULL;
    }
    free(w->pos);
    free(w->start);
    free(w->len);
    free(w->slot);
    free(w->tok);
    free(w->tgt_c);
    memset(w, 0, sizeof *w);
}

static float *fbuf(size_t n)
{
    return xmalloc(sizeof(float) * (n ? n : 1));
}

void tf_ws_ensure(tf_model *m, int B, int T, int S)
{
    tf_ws *w = &m->ws;
    if (S < T)
        S = T;
    int nthr = par_threads();
    if (w->x && B <= w->cap_B && T <= w->cap_T && S <= w->cap_S && nthr <= w->nthr)
        return;
    /* Grow to cover both the old and the new shape, so alternating calls
     * do not reallocate each time. */
    if (w->x) {
        B = B > w->cap_B ? B : w->cap_B;
        T = T > w->cap_T ? T : w->cap_T;
        S = S > w->cap_S ? S : w->cap_S;
        nthr = nthr > w->nthr ? nthr : w->nthr;
    }
    tf_ws_free(w);
    const hf_config *c = &m->cfg;
    size_t N = (size_t)B * T, C = (size_t)m->C, HD = (size_t)m->H * m->D;
    size_t F = (size_t)m->F, lpc = (size_t)tf_lp_chunk(m);
    w->cap_B = B;
    w->cap_T = T;
    w->cap_S = S;
    w->nthr = nthr;
    w->x = fbuf(N * C);      /* residual stream [N, C] */
    w->h = fbuf(N * C);      /* norm output [N, C] */
    w->lnf = fbuf(N * C);    /* final norm output [N, C] */
    w->mean = fbuf(N);       /* layernorm mean [N] */
    w->rstd = fbuf(N);       /* norm 1/std [N] */
    w->qkv = fbuf(N * m->QKV); /* [N, (H + 2KV) D] */
    if (c->qk_norm) {
        w->qkvn = fbuf(N * m->QKV);
        w->rstd_q = fbuf(N * m->H);
        w->rstd_k = fbuf(N * m->KV);
    }
    w->q = fbuf(N * HD);     /* rotated queries [N, H D] */
    w->att = fbuf(N * HD);   /* attention output [N, H D] */
    w->lse = fbuf(N * m->H); /* [N, H] */
    w->ff = fbuf(N * F * (c->gated_mlp ? 2 : 1)); /* [N, 2F] or [N, F] */
    w->act = fbuf(N * F);    /* [N, F] */
    if (!c->learned_pos) {
        w->cos = fbuf(N * (size_t)(m->D / 2));
        w->sin = fbuf(N * (size_t)(m->D / 2));
    }
    w->kv_k = fbuf(N * m->KV * m->D); /* [B, KV, T, D] */
    w->kv_v = fbuf(N * m->KV * m->D);
    w->attn_scratch = fbuf((size_t)nthr * tf_attention_scratch(m->H, m->KV, m->D, S));
    w->pos = xmalloc(sizeof(int) * N);
    w->tok = xmalloc(sizeof(int32_t) * N);
    w->start = xcalloc((size_t)B, sizeof(int));
    w->len = xmalloc(sizeof(int) * (size_t)B);
    w->slot = xmalloc(sizeof(int) * (size_t)B);
    w->rows_c = fbuf(lpc * C);
    w->logits_c = fbuf(lpc * (size_t)m->V);
    w->tgt_c = xmalloc(sizeof(int32_t) * lpc);
    w->logp_c = fbuf(lpc);
    w->ent_c = fbuf(lpc);
}

static void norm_fwd(tf_model *m, float *out, float *mean, float *rstd, const float *x,
                     const float *w, const float *b, int N)
{
    if (m->cfg.rms_norm)
        tf_rmsnorm_forward(out, rstd, x, w, N, m->C, (size_t)m->C, m->cfg.norm_eps);
    else
        tf_layernorm_forward(out, mean, rstd, x, w, b, N, m->C, m->cfg.norm_eps);
}

void tf_final_norm(tf_model *m, float *out, float *mean, float *rstd, const float *x, int N)
{
    norm_fwd(m, out, mean, rstd, x, m->lnf_w, m->lnf_b, N);
}

/* adapter-activation slot of linear `which` of a layer, or NULL */
static float *lora_u(const tf_model *m, const tf_acts *a, const tf_lora *lo, int N)
{
    if (!a->lora_u || lo->n == 0)
        return NULL;
    return a->lora_u + (size_t)lo->part[0].id * N * m->lora_r;
}

void tf_layer_forward(tf_model *m, int l, tf_acts *a, const tf_rows *r, float *x)
{
    const hf_config *c = &m->cfg;
    const tf_layer *y = &m->layers[l];
    int N = r->B * r->T, C = m->C, H = m->H, KV = m->KV, D = m->D;
    tf_ws *w = &m->ws;
    if (a->res1)
        memcpy(a->res1, x, sizeof(float) * (size_t)N * C);
    /* attention block: x += o(attention(rope(qkv(norm(x))))) */
    norm_fwd(m, a->h1, a->mean1, a->rstd1, x, y->ln1_w, y->ln1_b, N);
    tf_lin_forward(m, a->qkv, a->h1, &y->qkv, &y->lora[TF_LIN_QKV], N, 0,
                   lora_u(m, a, &y->lora[TF_LIN_QKV], N));
    const float *qkv = a->qkv;
    if (c->qk_norm) {
        tf_qk_norm_forward(a->qkvn, a->rstd_q, a->rstd_k, a->qkv, y->q_norm, y->k_norm, N, H, KV,
                           D, c->norm_eps);
        qkv = a->qkvn;
    }
    tf_rope_kv_forward(a->q, a->kv, qkv, c->learned_pos ? NULL : w->cos, w->sin, r, H, KV, D);
    tf_attention_forward(a->att, a->lse, a->q, a->kv, r, H, KV, D, c->sliding_window,
                         w->attn_scratch, w->nthr);
    tf_lin_forward(m, x, a->att, &y->o, &y->lora[TF_LIN_O], N, 1,
                   lora_u(m, a, &y->lora[TF_LIN_O], N));
    if (a->res2)
        memcpy(a->res2, x, sizeof(float) * (size_t)N * C);
    /* MLP block: x += down(act(up(norm(x)))) */
    norm_fwd(m, a->h2, a->mean2, a->rstd2, x, y->ln2_w, y->ln2_b, N);
    tf_lin_forward(m, a->ff, a->h2, &y->up, &y->lora[TF_LIN_UP], N, 0,
                   lora_u(m, a, &y->lora[TF_LIN_UP], N));
    if (c->gated_mlp)
        tf_swiglu_forward(a->act, a->ff, N, m->F);
    else
        tf_gelu_forward(a->act, a->ff, (size_t)N * m->F, c->act == HF_ACT_GELU_TANH);
    tf_lin_forward(m, x, a->act, &y->down, &y->lora[TF_LIN_DOWN], N, 1,
                   lora_u(m, a, &y->lora[TF_LIN_DOWN], N));
}

void tf_embed(tf_model *m, const tf_rows *r, const int32_t *tok, float *x)
{
    tf_ws *w = &m->ws;
    int N = r->B * r->T;
    /* Padding rows read token 0 at their row's first position: any valid
     * input will do, nothing real attends to them. */
    for (int b = 0; b < r->B; b++)
        for (int t = 0; t < r->T; t++) {
            int n = b * r->T + t, pad = t >= r->len[b];
            w->tok[n] = pad ? 0 : tok[n];
            w->pos[n] = r->start[b] + (pad ? 0 : t);
        }
    /* x [N, C] = token (+ position) embeddings */
    tf_embedding_forward(x, w->tok, w->pos, m->wte, m->wpe, N, m->C);
    if (!m->cfg.learned_pos)
        tf_rope_tables(w->cos, w->sin, w->pos, m->inv_freq, N, m->D / 2);
}

void tf_forward_hidden(tf_model *m, const tf_rows *r, const int32_t *tok, tf_kv kv,
                       size_t kv_layer_stride)
{
    tf_ws *w = &m->ws;
    int N = r->B * r->T;
    tf_embed(m, r, tok, w->x);
    /* Inference keeps nothing per layer: every layer uses the same buffers. */
    tf_acts a = {.h1 = w->h, .mean1 = w->mean, .rstd1 = w->rstd, .qkv = w->qkv, .qkvn = w->qkvn,
                 .rstd_q = w->rstd_q, .rstd_k = w->rstd_k, .q = w->q, .att = w->att,
                 .lse = w->lse, .h2 = w->h, .mean2 = w->mean, .rstd2 = w->rstd, .ff = w->ff,
                 .act = w->act};
    for (int l = 0; l < m->L; l++) {
        a.kv = (tf_kv){kv.k + l * kv_layer_stride, kv.v + l * kv_layer_stride, kv.S};
        tf_layer_forward(m, l, &a, r, w->x);
    }
    tf_final_norm(m, w->lnf, w->mean, w->rstd, w->x, N);
}

int tf_check_batch(const tf_model *m, const int32_t *tokens, const int *lens, int B, int T,
                   int max_pos_needed, err_t *e)
{
    if (B < 1 || T < 1)
        return err_set(e, "batch of %d x %d tokens: both must be at least 1", B, T);
    for (int b = 0; b < B; b++) {
        if (lens[b] < 1 || lens[b] > T)
            return err_set(e, "lens[%d] = %d is outside 1..%d", b, lens[b], T);
        for (int t = 0; t < lens[b]; t++) {
            int32_t id = tokens[(size_t)b * T + t];
            if (id < 0 || id >= m->V)
                return err_set(e, "token id %d at [%d, %d] is outside the vocabulary (0..%d)", id,
                               b, t, m->V - 1);
        }
    }
    if (m->cfg.learned_pos && max_pos_needed > m->cfg.max_pos)
        return err_set(e, "%d positions needed; the model has %d (n_positions)", max_pos_needed,
                       m->cfg.max_pos);
    return 0;
}

static int max_len(const int *lens, int B)
{
    int mx = 0;
    for (int b = 0; b < B; b++)
        mx = lens[b] > mx ? lens[b] : mx;
    return mx;
}

/* Plain forward pass: no cache, start 0, one store reused by all layers. */
static int forward_plain(tf_model *m, const int32_t *tokens, const int *lens, int B, int T,
                         tf_rows *r, err_t *e)
{
    if (tf_check_batch(m, tokens, lens, B, T, B > 0 && T > 0 ? max_len(lens, B) : 0, e) != 0)
        return -1;
    tf_ws_ensure(m, B, T, T);
    tf_ws *w = &m->ws;
    memset(w->start, 0, sizeof(int) * (size_t)B);
    *r = (tf_rows){.B = B, .T = T, .start = w->start, .len = lens, .slot = NULL};
    tf_kv kv = {w->kv_k, w->kv_v, T};
    tf_forward_hidden(m, r, tokens, kv, 0);
    return 0;
}

int tf_logits(tf_model *m, const int32_t *tokens, const int *lens, int B, int T, float *out,
              err_t *e)
{
    tf_rows r;
    if (forward_plain(m, tokens, lens, B, T, &r, e) != 0)
        return -1;
    size_t V = (size_t)m->V;
    tf_lin_forward(m, out, m->ws.lnf, &m->lm_head, NULL, B * T, 0, NULL);
    for (int b = 0; b < B; b++)
        memset(out + ((size_t)b * T + lens[b]) * V, 0, sizeof(float) * V * (size_t)(T - lens[b]));
    return 0;
}

int tf_last_logits(tf_model *m, const int32_t *tokens, const int *lens, int B, int T, float *out,
                   err_t *e)
{
    tf_rows r;
    if (forward_plain(m, tokens, lens, B, T, &r, e) != 0)
        return -1;
    tf_ws *w = &m->ws;
    int lpc = tf_lp_chunk(m);
    size_t C = (size_t)m->C;
    for (int b0 = 0; b0 < B; b0 += lpc) {
        int n = B - b0 < lpc ? B - b0 : lpc;
        for (int i = 0; i < n; i++)
            memcpy(w->rows_c + i * C, w->lnf + ((size_t)(b0 + i) * T + lens[b0 + i] - 1) * C,
                   sizeof(float) * C);
        tf_lin_forward(m, out + (size_t)b0 * m->V, w->rows_c, &m->lm_head, NULL, n, 0, NULL);
    }
    return 0;
}

int tf_token_logprobs(tf_model *m, const int32_t *tokens, const int *lens, int B, int T,
                      const int32_t *targets, float *logp, float *entropy, err_t *e)
{
    /* Targets matter only at real positions, so only those are checked
     * (after the lengths themselves). */
    if (targets && tf_check_batch(m, tokens, lens, B, T, 0, e) != 0)
        return -1;
    if (targets)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < lens[b]; t++)
                if (targets[(size_t)b * T + t] >= m->V)
                    return err_set(e, "target id %d at [%d, %d] is outside the vocabulary (0..%d)",
                                   targets[(size_t)b * T + t], b, t, m->V - 1);
    tf_rows r;
    if (forward_plain(m, tokens, lens, B, T, &r, e) != 0)
        return -1;
    tf_ws *w = &m->ws;
    size_t C = (size_t)m->C;
    int lpc = tf_lp_chunk(m);
    memset(logp, 0, sizeof(float) * (size_t)B * T);
    if (entropy)
        memset(entropy, 0, sizeof(float) * (size_t)B * T);
    /* Walk the real positions in order, lpc rows per LM-head product. */
    int b = 0, t = 0;
    while (b < B) {
        int n = 0;
        int bs[1024], ts[1024];
        while (n < lpc && b < B) {
            size_t row = (size_t)b * T + t;
            memcpy(w->rows_c + n * C, w->lnf + row * C, sizeof(float) * C);
            w->tgt_c[n] = targets ? targets[row] : t + 1 < lens[b] ? tokens[row + 1] : -1;
            bs[n] = b;
            ts[n] = t;
            n++;
            if (++t == lens[b]) {
                t = 0;
                b++;
            }
        }
        tf_lin_forward(m, w->logits_c, w->rows_c, &m->lm_head, NULL, n, 0, NULL);
        tf_logprob_forward(w->logp_c, w->ent_c, w->logits_c, w->tgt_c, n, m->V);
        for (int i = 0; i < n; i++) {
            size_t row = (size_t)bs[i] * T + ts[i];
            logp[row] = w->logp_c[i];
            if (entropy)
                entropy[row] = w->ent_c[i];
        }
    }
    return 0;
}
