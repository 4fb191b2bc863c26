/* rl/grpo: the arithmetic of GRPO as TRL's GRPOTrainer does it - group
 * advantages, the clipped per-token policy loss with a k3 KL penalty, its
 * reductions (loss_type) and the step's metrics - plus the weights of the
 * supervised (SFT) loss. Prefix grpo_.
 *
 * Source of the formulas: huggingface/trl, trl/trainer/grpo_trainer.py
 * (_generate_and_score_completions: advantages; _compute_loss: loss,
 * reductions, kl / entropy / clip_ratio metrics) and grpo_config.py (the
 * defaults: loss_type "dapo", scale_rewards "group", beta 0, epsilon 0.2),
 * as of late 2025. tests/ref/make_grpo_fixtures.py writes those formulas in
 * PyTorch; tests/rl/test_grpo.c checks values and autograd gradients.
 *
 * Layout: a micro-batch is B sequences of T positions, laid out as the
 * engine's loss callback sees them (model/train.h): position t of row b
 * holds the log-probability of the token at t + 1. mask[b, t] = 1 where
 * that token was sampled by the policy (the loss mask: prompts, tool
 * results and padding are 0). grpo_episode_row fills one row from an
 * episode record.
 *
 * The loss is a sum over tokens of per-token terms times constants,
 *     loss = sum_{b,t} mask[b,t] * coef[b] * l(b,t)
 * so the engine's per-token callback (tf_loss_fn) computes it chunk by
 * chunk; coef[b] carries the reduction of loss_type and the gradient
 * accumulation (TRL divides every micro-batch's loss by the number of
 * micro-batches, except dapo, whose normaliser already counts the whole
 * accumulated batch):
 *     grpo     1 / (tokens of row b * B * accum)
 *     bnpo     1 / (tokens of the micro-batch * accum)
 *     dr_grpo  1 / (B * max_completion_length * accum)
 *     dapo     1 / tokens of the whole accumulated batch (num_items_in_batch)
 * (token counts are clamped to >= 1, as TRL's clamp(min=1)).
 *
 * Temperature: TRL computes these log-probabilities from logits divided by
 * the sampling temperature. The engine's tf_train_fb uses the plain
 * log-softmax, so old log-probabilities, the current ones and the
 * reference must all come from the same place: with temperature 1 the
 * sampler's log-probabilities (ep_episode.logprobs) are that; otherwise
 * recompute the old ones with tf_token_logprobs before the first pass. */
#ifndef RETRAIN_RL_GRPO_H
#define RETRAIN_RL_GRPO_H

#include <stdint.h>

#include "../base/base.h"
#include "../env/episode.h"

typedef enum grpo_loss_type { GRPO_LOSS_GRPO, GRPO_LOSS_BNPO, GRPO_LOSS_DR_GRPO, GRPO_LOSS_DAPO } grpo_loss_type;
typedef enum grpo_scale { GRPO_SCALE_GROUP, GRPO_SCALE_BATCH, GRPO_SCALE_NONE } grpo_scale;

/* "grpo", "bnpo", "dr_grpo", "dapo"; -1 for another name. */
int grpo_loss_type_parse(const char *s, grpo_loss_type *out);
const char *grpo_loss_type_name(grpo_loss_type t);
/* "group", "batch", "none"; -1 for another name. */
int grpo_scale_parse(const char *s, grpo_scale *out);
const char *grpo_scale_name(grpo_scale s);

/* ---- advantages */

typedef struct grpo_adv_stats {
    double reward;             /* mean reward over the batch */
    double reward_std;         /* mean of the std TRL logs: the group std per
                                  sample (group, none) or the batch std (batch) */
    double frac_reward_zero_std; /* fraction of samples whose std is ~0 */
} grpo_adv_stats;

/* rewards [n] are n / G groups of G consecutive samples (one prompt's).
 *   A_i = r_i - mean(group of i), divided by (std + 1e-4) unless scale is
 *   none; std is torch.std (Bessel-corrected) of i's group (group) or of
 *   all n rewards (batch).
 * adv [n] gets A. G must be >= 2 and divide n. stats may be NULL. */
int grpo_advantages(const double *rewards, int n, int G, grpo_scale scale, double *adv,
                    grpo_adv_stats *stats, err_t *e);

/* ---- the per-token loss */

typedef struct grpo_loss_opts {
    grpo_loss_type type;
    double epsilon_low;   /* epsilon: ratio clipped below at 1 - epsilon_low */
    double epsilon_high;  /* above at 1 + epsilon_high */
    double beta;          /* KL coefficient; 0: no reference log-probabilities needed */
    int max_completion_length; /* dr_grpo's constant (tokens) */
    int accum;            /* micro-batches per optimizer step (>= 1) */
    long batch_tokens;    /* dapo: masked tokens of all micro-batches of the step */
} grpo_loss_opts;

/* One token's loss l and dl/dlogp, TRL's:
 *   rho = exp(logp - old), l = -min(rho A, clip(rho, 1-el, 1+eh) A) + beta k3,
 *   k3 = exp(ref - logp) - (ref - logp) - 1.
 * The gradient follows torch's: through rho A where it is the smaller
 * term, through the clipped term (zero outside the range) otherwise, half
 * and half on a tie (inside the range both halves are rho A). *flags gets
 * GRPO_CLIP_LOW / GRPO_CLIP_HIGH (TRL's is_low_clipped / is_high_clipped).
 * ref is read only when beta != 0. */
enum { GRPO_CLIP_LOW = 1, GRPO_CLIP_HIGH = 2 };
double grpo_token_loss(const grpo_loss_opts *o, double logp, double old, double ref, double A,
                       double *dlogp, double *kl, int *flags);

/* Metrics of one micro-batch as TRL logs them (masked means over its
 * tokens); the step's value is the mean over micro-batches, except the
 * loss, whose step value is the sum (the micro-batches' shares add up to
 * the loss the optimizer step minimises). */
typedef struct grpo_mb_metrics {
    double loss;        /* this micro-batch's share of the step's loss */
    double kl;          /* mean k3 over tokens (computed even when beta is 0) */
    double entropy;     /* mean entropy of the policy's distribution */
    double clip_low, clip_high, clip_region; /* clip_ratio/low_mean, high_mean, region_mean */
    long tokens;        /* masked tokens */
} grpo_mb_metrics;

/* The loss of one micro-batch, through the engine's callback: fill it,
 * pass grpo_loss_cb and &ctx to tf_train_fb, read ctx.m afterwards. */
typedef struct grpo_mb {
    const grpo_loss_opts *o;
    int B, T;
    const uint8_t *mask;    /* [B, T] */
    const float *old_logp;  /* [B, T]; NULL: the current ones, detached (rho = 1), as
                               TRL does when generation and update use the same policy */
    const float *ref_logp;  /* [B, T]; needed when beta != 0 */
    const double *adv;      /* [B] */
    /* filled by grpo_mb_begin */
    double *coef;           /* [B], owned */
    double kl_sum, ent_sum, low_sum, high_sum, region_sum;
    grpo_mb_metrics m;
} grpo_mb;

/* Checks the inputs and computes coef; the metrics start at 0. */
int grpo_mb_begin(grpo_mb *c, err_t *e);
/* Finishes the metrics (c->m) and frees coef. */
void grpo_mb_end(grpo_mb *c);
/* tf_loss_fn: user is a grpo_mb after grpo_mb_begin. Masked positions get
 * dlogp 0; dent is always 0 (the entropy is only measured). */
void grpo_loss_cb(void *user, int n, const int *b, const int *t, const float *logp,
                  const float *ent, float *dlogp, float *dent);
/* The same over whole [B, T] arrays without the engine (tests, analysis):
 * logp and ent (ent may be NULL) in, dlogp [B, T] out (may be NULL). */
int grpo_mb_eval(grpo_mb *c, const float *logp, const float *ent, float *dlogp, err_t *e);

/* Masked tokens of a mask [B, T] (dapo's batch_tokens is their sum over the
 * micro-batches of a step). */
long grpo_mask_tokens(const uint8_t *mask, int B, int T);

/* ---- episode records to rows */

/* Row of an episode for the engine: tokens[0..n) (n = ep->n_tokens),
 * mask[t] = from_model[t + 1] and old_logp[t] = the sampling
 * log-probability of token t + 1; the rest of the row is 0. Returns n
 * (the row's length for tf_train_fb's lens), or -1 with e when the
 * episode is empty or longer than T. old_logp may be NULL. */
int grpo_episode_row(const ep_episode *ep, int T, int32_t *tokens, uint8_t *mask, float *old_logp,
                     err_t *e);

/* ---- supervised warm start */

/* SFT weights for tf_train_weighted: every assistant token (mask[b,t] = 1)
 * gets 1 / (masked tokens of the micro-batch * accum), so the loss is the
 * mean negative log-likelihood over assistant tokens (transformers'
 * causal-LM loss with the other labels at -100). Returns the count of
 * masked tokens; w [B, T]. */
long grpo_sft_weights(const uint8_t *mask, int B, int T, int accum, float *w);

#endif
