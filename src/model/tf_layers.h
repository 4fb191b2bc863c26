/* model/tf_layers: the transformer's layers as explicit forward functions,
 * each with the shapes it reads and writes, in the style of llm.c: the
 * backward pass pairs each with an x_backward of the same arguments plus
 * gradients, and what a backward needs (means, reciprocal standard
 * deviations, log-sum-exps) is saved here. No function allocates.
 *
 * Notation: N rows (B*T tokens), C width, H query heads, KV key/value
 * heads (GQA: query head h uses kv head h / (H/KV)), D head width, F MLP
 * width, V vocabulary, S key/value slots of one sequence. Internal to
 * model/. */
#ifndef RETRAIN_MODEL_TF_LAYERS_H
#define RETRAIN_MODEL_TF_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* A Linear layer: W [n_out, n_in] in fp32 (w) or bf16 (w16), bias [n_out]
 * or NULL. y = x W^T + b, as torch.nn.Linear. */
typedef struct tf_linear {
    float *w;
    uint16_t *w16;
    float *b;
    int n_out, n_in;
} tf_linear;

/* Keys and values of one layer: k, v [slots][KV][S][D], so the keys of
 * one (sequence, kv head) are a contiguous [S, D] matrix. */
typedef struct tf_kv {
    float *k, *v;
    int S;
} tf_kv;

/* Where each row of a batch is: row (b, t) of [B, T] holds the token at
 * position start[b] + t of sequence slot[b]; rows with t >= len[b] are
 * padding. start is the number of tokens already in the KV store (0 for
 * a plain forward pass). */
typedef struct tf_rows {
    int B, T;
    const int *start, *len, *slot;
} tf_rows;

/* out[N,C] = wte[tok[n]] + wpe[pos[n]] (wpe may be NULL) */
void tf_embedding_forward(float *out, const int32_t *tok, const int *pos, const float *wte,
                          const float *wpe, int N, int C);

/* out[N,C] = (x - mean) * rstd * w + b, per row; saves mean[N], rstd[N] */
void tf_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int C, float eps);

/* out[N,C] = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps); saves rstd[N].
 * Rows may be strided: row n is x + n*stride (out likewise). */
void tf_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                        size_t stride, float eps);

/* out[N,n_out] = inp[N,n_in] W^T + b, or += with accumulate */
void tf_linear_forward(float *out, const float *inp, const tf_linear *lin, int N, int accumulate);

/* Qwen3: RMSNorm over each head of q and k, out of place.
 * qkv_in, qkv_out [N, (H+2KV)*D]; saves rstd_q [N,H], rstd_k [N,KV];
 * the v part is copied. */
void tf_qk_norm_forward(float *qkv_out, float *rstd_q, float *rstd_k, const float *qkv_in,
                        const float *wq, const float *wk, int N, int H, int KV, int D, float eps);

/* Rotary tables: cos, sin [N, D/2] for positions pos[N]:
 * angle = inv_freq[i] * pos in fp32, as transformers computes it. */
void tf_rope_tables(float *cos, float *sin, const int *pos, const float *inv_freq, int N,
                    int half);

/* Splits qkv [N, (H+2KV)*D] into q [N, H*D] and the KV store (rows go to
 * their slot and position), rotating q and k by (cos, sin) [N, D/2]
 * (rotate_half convention) unless cos is NULL (GPT-2). */
void tf_rope_kv_forward(float *q, tf_kv kv, const float *qkv, const float *cos, const float *sin,
                        const tf_rows *r, int H, int KV, int D);

/* Causal attention with padding, GQA and an optional sliding window
 * (window > 0: a query at p sees keys p-window+1 .. p):
 * q [N, H*D], kv -> out [N, H*D], lse [N, H] (log-sum-exp of the scaled
 * scores; NULL to skip). Padding rows get zeros. Threads over
 * (sequence, kv head, block of queries) on up to nscratch threads, each
 * with tf_attention_scratch() floats of scratch (one area after another;
 * S = kv.S). */
void tf_attention_forward(float *out, float *lse, const float *q, tf_kv kv, const tf_rows *r,
                          int H, int KV, int D, int window, float *scratch, int nscratch);
size_t tf_attention_scratch(int H, int KV, int D, int S);

/* GELU: out[n] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with
 * tanh_approx ("gelu_new"), else 0.5 x (1 + erf(x / sqrt 2)). */
void tf_gelu_forward(float *out, const float *inp, size_t n, int tanh_approx);

/* SwiGLU: out[N,F] = silu(inp[:, :F]) * inp[:, F:], inp [N, 2F] (gate
 * and up projections side by side). */
void tf_swiglu_forward(float *out, const float *inp, int N, int F);

/* Per row of logits [N, V]: logp[n] = log_softmax(row)[target[n]] (0 if
 * target[n] < 0) and ent[n] = entropy (ent may be NULL). */
void tf_logprob_forward(float *logp, float *ent, const float *logits, const int32_t *target, int N,
                        int V);

/* ---- backward passes (tf_layers_bwd.c) ----
 * Each takes the forward's inputs and saved values plus the gradient of
 * its output (d<name>), and writes the gradients of its inputs. Parameter
 * gradients (dw, db, ...) are always added to (accumulation across micro-
 * batches); input gradients are written, or added where the argument is
 * called accumulate. Padding rows must carry zero output gradients. */

/* dwte[tok[n]] += dout[n], dwpe[pos[n]] += dout[n] (dwpe may be NULL).
 * dout [N, C]. */
void tf_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                           const int *pos, int N, int C);

/* dx [N,C] += LayerNorm'(x)^T dout; dw, db [C] += */
void tf_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C);

/* dx (+)= RMSNorm'(x)^T dout; dw [C] += (dw may be NULL: frozen). Rows
 * strided as in the forward. */
void tf_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const float *rstd, int N, int C, size_t stride, int accumulate);

/* Linear: dx [N,n_in] (+)= dy W; dW [n_out,n_in] += dy^T x; db += sum dy.
 * dx, dW, db may each be NULL (not needed / frozen). W may be bf16. */
void tf_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const tf_linear *lin, int N, int accumulate);

/* Qwen3 q/k norm: dqkv_in [N, (H+2KV)D] = from dqkv_out (v part copied). */
void tf_qk_norm_backward(float *dqkv_in, float *dwq, float *dwk, const float *dqkv_out,
                         const float *qkv_in, const float *wq, const float *wk,
                         const float *rstd_q, const float *rstd_k, int N, int H, int KV, int D);

/* The inverse of tf_rope_kv_forward for a plain pass (start 0, slot = b):
 * dqkv [N, (H+2KV)D] = unrotated dq [N, HD] and the store's dk, dv. */
void tf_rope_kv_backward(float *dqkv, const float *dq, tf_kv dkv, const float *cos,
                         const float *sin, const tf_rows *r, int H, int KV, int D);

/* Attention backward for a plain pass (start 0): recomputes the
 * probabilities from q, k and the saved lse. dq [N, HD] and the store
 * gradients dkv.k, dkv.v [B, KV, S, D] are written. att is the forward's
 * output. Threads over (sequence, kv head). */
void tf_attention_backward(float *dq, tf_kv dkv, const float *datt, const float *q, tf_kv kv,
                           const float *att, const float *lse, const tf_rows *r, int H, int KV,
                           int D, int window, float *scratch, int nscratch);
size_t tf_attention_bwd_scratch(int H, int KV, int D, int S);

/* dinp[n] = gelu'(inp[n]) dout[n] */
void tf_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int tanh_approx);

/* dinp [N, 2F] from dout [N, F], inp [N, 2F] */
void tf_swiglu_backward(float *dinp, const float *inp, const float *dout, int N, int F);

/* In place: logits [N, V] become d(loss)/d(logits) for a loss whose
 * gradient with respect to logp[n] (the target's log-probability) is
 * dlogp[n] and with respect to the entropy is dent[n] (dent may be NULL):
 * d = dlogp (onehot - p) - dent p (log p + H). lse [N] and ent [N] are
 * what the forward gave (log-sum-exp and entropy of each row). */
void tf_logprob_backward(float *logits, const int32_t *target, const float *lse, const float *ent,
                         const float *dlogp, const float *dent, int N, int V);

/* tf_logprob_forward that also saves each row's log-sum-exp lse [N]. */
void tf_logprob_forward_lse(float *logp, float *ent, float *lse, const float *logits,
                            const int32_t *target, int N, int V);

/* Functions the sampler shares: max of x[n], and log(sum(exp(x - m))). */
float tf_vec_max(const float *x, int n);
float tf_vec_logsumexp(const float *x, int n, float m);
/* p[i] = exp((x[i] - m) * scale); returns the sum. */
float tf_vec_exp(float *p, const float *x, int n, float m, float scale);

#endif
