/* model/train: training the transformer of transformer.h - LoRA adapters
 * (PEFT's), forward + backward with a per-token loss, AdamW with
 * clipping and schedules, and checkpoints that Hugging Face transformers
 * and PEFT load. Prefix tf_.
 *
 * The loss is any function of each target token's log-probability (and
 * the entropy of its distribution) summed over tokens:
 *   loss = sum over real (b, t) of l(logp[b,t], entropy[b,t])
 * The caller gives dl/dlogp (and dl/dentropy) per token through a
 * callback, which sees the log-probabilities as they are computed; the
 * LM head runs a few rows at a time, so [T, V] logits are never held.
 * Cross-entropy with per-token weights is tf_train_weighted. Gradients
 * add up over calls (gradient accumulation) until tf_trainer_step. */
#ifndef RETRAIN_MODEL_TRAIN_H
#define RETRAIN_MODEL_TRAIN_H

#include "transformer.h"

/* ---- LoRA ---- */

typedef struct tf_lora_opts {
    int r;              /* rank, >= 1 */
    float alpha;        /* lora_alpha: adapters are scaled by alpha / r */
    float dropout;      /* lora_dropout on the adapter's input, in [0, 1) */
    const char *targets; /* target_modules, comma-separated PEFT names
                          * ("q_proj,v_proj", "c_attn", "all-linear") */
    int rslora;         /* use_rslora: scale alpha / sqrt(r) */
    uint64_t seed;      /* initialisation (A: PEFT's kaiming-uniform; B: 0) and dropout */
} tf_lora_opts;

/* Adds adapters to the matching Linears. A model has one set at a time. */
int tf_lora_attach(tf_model *m, const tf_lora_opts *o, err_t *e);
/* Attaches the PEFT adapter in dir (adapter_config.json,
 * adapter_model.safetensors). */
int tf_lora_load(tf_model *m, const char *dir, err_t *e);
/* Writes dir/adapter_config.json and dir/adapter_model.safetensors. */
int tf_lora_save(const tf_model *m, const char *dir, err_t *e);
/* Off: the model computes as its base (GRPO's reference policy) without a
 * second copy of the weights. */
void tf_lora_set_enabled(tf_model *m, int on);
/* Folds the adapters into the base weights (W += scale B A) and removes
 * them. */
int tf_lora_merge(tf_model *m, err_t *e);
/* Adapter parameters (0 without adapters). */
size_t tf_lora_num_params(const tf_model *m);

/* ---- saving a model ---- */

/* A Hugging Face model directory: config.json, model.safetensors (fp32)
 * and the tokenizer files - of the directory set by tf_set_tokenizer_dir,
 * else of the one the model came from. config.json is the loaded one
 * (torch_dtype float32), or for a model made here one generated from its
 * hf_config. With adapters attached, the base weights are written (merge
 * first to save the fine-tuned weights, or save the adapter with
 * tf_lora_save). */
int tf_save_hf(const tf_model *m, const char *dir, err_t *e);

/* Copies the tokenizer files of a model directory (tokenizer.json,
 * tokenizer_config.json, vocab.json + merges.txt, chat_template.jinja, ...
 * those present) into another: an adapter checkpoint that loads alone. */
int tf_copy_tokenizer_files(const char *from, const char *to, err_t *e);

/* ---- a model from scratch ---- */

/* A model of that configuration initialised as transformers initialises
 * a new Llama: every Linear weight and the embeddings drawn from
 * normal(0, 0.02) (initializer_range), RMSNorm weights 1, biases 0. The
 * same seed gives the same weights on every machine (each tensor draws
 * from its own stream, so threads do not change them). */
tf_model *tf_new_random(const hf_config *cfg, uint64_t seed, err_t *e);

/* A small Llama from scratch into the directory out (made if missing): a
 * byte-level BPE tokenizer of `vocab` tokens trained on the corpus files
 * (tok_trainer), config.json and randomly initialised weights
 * (tf_new_random), in Hugging Face layout. */
typedef struct tf_create_opts {
    const char *const *corpus;
    size_t n_corpus;
    int vocab, layers, hidden, heads, kv_heads; /* kv_heads 0: = heads */
    int ffn;     /* 0: 8 hidden / 3 rounded up to a multiple of 64 */
    int max_pos; /* 0: 2048 */
    int untied;  /* an LM head of its own */
    uint64_t seed;
} tf_create_opts;
typedef struct tf_create_info {
    hf_config cfg;       /* what was written (vocab_size: the tokenizer's) */
    size_t params;
    size_t corpus_bytes;
    double tokenizer_s;  /* time to train the tokenizer */
} tf_create_info;
int tf_create_model(const char *out, const tf_create_opts *o, tf_create_info *info, err_t *e);
/* The tokenizer that tf_save_hf writes beside the model: dir's
 * tokenizer.json (or vocab.json + merges.txt) and its config files. It is
 * loaded to check that its ids fit the model's vocabulary. */
int tf_set_tokenizer_dir(tf_model *m, const char *dir, err_t *e);

/* ---- training ---- */

typedef struct tf_train_opts {
    /* AdamW (torch.optim.AdamW) */
    float beta1, beta2, eps, weight_decay; /* 0 = the defaults 0.9, 0.999, 1e-8; decay 0 */
    float max_grad_norm;                  /* > 0: clip the global norm (clip_grad_norm_) */
    int checkpointing;                    /* keep one tensor per layer; recompute the rest */
    int head_rows;                        /* LM-head rows per chunk; 0: about 32M logits */
} tf_train_opts;

typedef struct tf_trainer tf_trainer;

/* Trains the adapters if the model has them (base frozen), else every
 * parameter (which must be fp32: load without linear_bf16). */
tf_trainer *tf_trainer_new(tf_model *m, const tf_train_opts *o, err_t *e);
void tf_trainer_free(tf_trainer *t);
/* Parameters being trained. */
size_t tf_trainer_num_params(const tf_trainer *t);

/* Called for each chunk of n real positions, in order: b[i], t[i] say
 * where, logp[i] / ent[i] are the target's log-probability and the
 * entropy; the callback writes dlogp[i] and dent[i] (both preset to 0). */
typedef void (*tf_loss_fn)(void *user, int n, const int *b, const int *t, const float *logp,
                           const float *ent, float *dlogp, float *dent);

/* Forward and backward over a batch (tokens/lens/targets as in
 * tf_token_logprobs); adds the gradients. logp and ent [B, T] may be
 * NULL. */
int tf_train_fb(tf_trainer *t, const int32_t *tokens, const int *lens, int B, int T,
                const int32_t *targets, tf_loss_fn fn, void *user, float *logp, float *ent,
                err_t *e);

/* The same for loss = -sum w[b,t] logp[b,t] (weights [B, T]: a mask and
 * a normalisation, or GRPO-style advantages); *loss gets its value. */
int tf_train_weighted(tf_trainer *t, const int32_t *tokens, const int *lens, int B, int T,
                      const int32_t *targets, const float *w, double *loss, err_t *e);

/* Sequences of different lengths, the unit of supervised fine-tuning:
 * weights[t] weighs the loss of predicting tokens[t + 1] at position t
 * (0 masks it: prompts, tool results); weights[len - 1] is not used. */
typedef struct tf_seq {
    const int32_t *tokens;
    int len;
    const float *weights;
} tf_seq;

/* Forward and backward over n sequences, micro_batch of them at a time
 * (each micro-batch padded to its longest), adding the gradients of
 * loss = -sum weights * logp; *loss (may be NULL) gets its value. */
int tf_train_seqs(tf_trainer *t, const tf_seq *seqs, int n, int micro_batch, double *loss,
                  err_t *e);

/* Copies the accumulated gradient of one tensor, named as in the
 * checkpoint: a Hugging Face name ("model.layers.0.mlp.up_proj.weight",
 * in the file's layout) when training every parameter, a PEFT name
 * ("base_model.model.<module>.lora_A.weight") when training adapters.
 * n must be the tensor's size. */
int tf_trainer_grad(const tf_trainer *t, const char *name, float *out, size_t n, err_t *e);

/* Clips, takes one AdamW step at learning rate lr, zeroes the gradients.
 * *grad_norm (may be NULL) gets the norm before clipping. */
int tf_trainer_step(tf_trainer *t, float lr, double *grad_norm, err_t *e);
void tf_trainer_zero_grad(tf_trainer *t);
/* Optimizer steps taken. */
long tf_trainer_steps(const tf_trainer *t);
/* Optimizer state (step, AdamW moments) as a safetensors file. Loading
 * checks that it belongs to the same parameters. */
int tf_trainer_save(const tf_trainer *t, const char *path, err_t *e);
int tf_trainer_load(tf_trainer *t, const char *path, err_t *e);

/* ---- learning-rate schedules (transformers' get_*_schedule_with_warmup) ---- */

typedef enum { TF_SCHED_CONSTANT, TF_SCHED_LINEAR, TF_SCHED_COSINE } tf_sched_kind;
typedef struct tf_sched {
    tf_sched_kind kind;
    float lr;
    int warmup_steps, total_steps;
} tf_sched;
/* The rate of optimizer step `step` (0-based). */
float tf_sched_lr(const tf_sched *s, long step);
/* "constant", "linear", "cosine" (also "constant_with_warmup"). */
int tf_sched_parse(const char *name, tf_sched_kind *out);

#endif
