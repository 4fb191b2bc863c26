/* model/transformer: Hugging Face causal language models on the CPU -
 * GPT-2 (GPT2LMHeadModel, DialoGPT) and the Llama family (Llama, Mistral,
 * Qwen2, Qwen3) - loaded from a model directory (config.json and
 * safetensors weights), with the forward pass, per-token log-probabilities
 * and entropies, and batched sampling with a KV cache. Prefix tf_.
 *
 * Batches: token ids are [B, T] row-major and right-padded; lens[b]
 * (1..T) says how many of row b are real. Row b attends causally to its
 * own first lens[b] tokens and sits at positions 0..lens[b]-1, which is
 * what Hugging Face computes for that sequence alone; what the padding
 * holds does not matter.
 *
 * A tf_model keeps its work buffers (sized by the largest batch seen), so
 * calls on one model must not overlap; separate models are independent.
 * Every function that can fail returns 0, or -1 with a one-line message. */
#ifndef RETRAIN_MODEL_TRANSFORMER_H
#define RETRAIN_MODEL_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "hf_config.h"

typedef struct tf_model tf_model;

typedef struct tf_load_opts {
    /* Hold the Linear weights (projections, MLP, LM head) as bfloat16:
     * half the memory, products through k_matmul_nt_bf16. fp32 otherwise. */
    int linear_bf16;
} tf_load_opts;

/* Loads DIR/config.json and DIR/model.safetensors (or the shards of
 * DIR/model.safetensors.index.json). Weights of any floating dtype become
 * fp32 (or bf16, see opts; NULL opts = defaults). */
tf_model *tf_load(const char *dir, const tf_load_opts *opts, err_t *e);
void tf_free(tf_model *m);
const hf_config *tf_config(const tf_model *m);
/* Parameters, tied embeddings counted once. */
size_t tf_num_params(const tf_model *m);

/* Logits for every position: out [B, T, V]. Rows past lens[b] are 0. */
int tf_logits(tf_model *m, const int32_t *tokens, const int *lens, int B, int T, float *out,
              err_t *e);

/* Logits at each row's last real position (lens[b]-1): out [B, V]. */
int tf_last_logits(tf_model *m, const int32_t *tokens, const int *lens, int B, int T, float *out,
                   err_t *e);

/* logp[b,t] = log_softmax(logits[b,t])[target[b,t]] and entropy[b,t] =
 * -sum p log p of that distribution, for t < lens[b]; 0 elsewhere and
 * where the target is negative. targets [B, T]; NULL means the next token
 * of the same row (tokens[b,t+1]; the last real position has none). The
 * logits are made a few rows at a time: [T, V] is never held at once.
 * entropy may be NULL. */
int tf_token_logprobs(tf_model *m, const int32_t *tokens, const int *lens, int B, int T,
                      const int32_t *targets, float *logp, float *entropy, err_t *e);

/* ---- generation ---- */

/* Asked after each new token of sequence seq (its new tokens so far,
 * n_new of them, the latest last): nonzero ends that sequence. For stop
 * strings, which need the tokenizer. Called on the thread that called
 * tf_generate, sequences in order. */
typedef int (*tf_stop_fn)(void *user, int seq, const int32_t *new_tokens, int n_new);

typedef struct tf_gen_params {
    int max_new_tokens;
    float temperature;      /* 0: greedy (argmax, lowest id on ties) */
    int top_k;              /* 0: off; else keep the k largest logits (and ties) */
    float top_p;            /* 0 or 1: off; else the smallest set with mass >= top_p */
    const int32_t *stop_ids; /* a sequence ends after producing one of these (kept in the output) */
    int n_stop;
    uint64_t seed;          /* sequence b draws from rng stream (seed, b) */
    tf_stop_fn should_stop; /* may be NULL */
    void *user;
} tf_gen_params;

typedef enum tf_finish {
    TF_FINISH_LENGTH,   /* max_new_tokens reached */
    TF_FINISH_STOP_ID,  /* produced a stop id */
    TF_FINISH_CALLBACK, /* should_stop said so */
} tf_finish;

/* Caller-owned outputs: tokens and logprobs [B, max_new_tokens], n [B]
 * (new tokens of each sequence), finish [B] (may be NULL). logprobs[b,i] is
 * the log-probability of tokens[b,i] under the distribution it was drawn
 * from (temperature, top-k and top-p applied, renormalised); for greedy
 * decoding, under the model's own distribution (log_softmax of the
 * logits). logprobs may be NULL. */
typedef struct tf_gen_out {
    int32_t *tokens;
    float *logprobs;
    int *n;
    tf_finish *finish;
} tf_gen_out;

/* Continues B prompts (prompts[b], prompt_lens[b] >= 1 tokens each):
 * prefill all prompts at once, then one step per new token for the
 * sequences still running, with a KV cache. Reproducible for a seed. */
int tf_generate(tf_model *m, const int32_t *const *prompts, const int *prompt_lens, int B,
                const tf_gen_params *p, tf_gen_out *out, err_t *e);

/* ---- generation across turns ----
 * A multi-turn episode alternates: the model generates, the environment
 * appends text (a tool's result), the model generates again. A
 * tf_gen_state keeps the KV cache of B sequences between those calls, so
 * each token is computed once. tf_generate is new + append + generate.
 * Sequence b samples from its own stream (seed, b) (tf_gen_state_seed
 * sets another), so its draws do not depend on which others run beside
 * it. One state per model at a time (the model's work buffers are shared). */
typedef struct tf_gen_state tf_gen_state;

/* Room for B sequences of up to max_len tokens each. */
tf_gen_state *tf_gen_state_new(tf_model *m, int B, int max_len, uint64_t seed, err_t *e);
void tf_gen_state_free(tf_gen_state *st);
void tf_gen_state_seed(tf_gen_state *st, int seq, uint64_t seed, uint64_t stream);
/* Empties sequence seq (its next append starts at position 0). */
void tf_gen_state_reset(tf_gen_state *st, int seq);
/* Sequences and positions the state has room for. */
int tf_gen_state_capacity(const tf_gen_state *st, int *max_len);
/* Tokens of sequence seq so far (cached, plus its last sampled token). */
int tf_gen_state_len(const tf_gen_state *st, int seq);

/* Appends n[i] tokens toks[i] to sequence seqs[i], for k sequences, in one
 * batched forward pass (after the sequence's last sampled token). */
int tf_gen_state_append(tf_gen_state *st, int k, const int *seqs, const int32_t *const *toks,
                        const int *n, err_t *e);

/* Continues k sequences (each with at least one token) as tf_generate
 * does; out's arrays are indexed by i in 0..k-1 (not by sequence), and
 * should_stop's `seq` argument is i as well. The sampled tokens become
 * part of each sequence. */
int tf_gen_state_generate(tf_gen_state *st, int k, const int *seqs, const tf_gen_params *p,
                          tf_gen_out *out, err_t *e);

#endif
