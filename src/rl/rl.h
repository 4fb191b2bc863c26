/* rl: the pieces GRPO training is assembled from, one header each:
 *   config.h      the training configuration (cfg_): the guide's JSON, TRL's
 *                 defaults, errors naming the key path, the resolved file
 *   grpo.h        advantages, TRL's clipped per-token loss and its gradient
 *                 for the engine's loss callback, loss_type reductions, step
 *                 metrics, SFT weights (grpo_)
 *   rewards.h     reward registry, verifiers, distribution over turns,
 *                 weighted totals, per-function metrics (rl_reward_)
 *   metrics.h     metrics.jsonl, TensorBoard event files, episode metrics,
 *                 the console progress line (rl_metrics_, rl_tb_)
 *   checkpoint.h  checkpoint-{step} folders, trainer_state.json, pruning,
 *                 resume (rl_ckpt_, rl_state_)
 *
 * One GRPO step, assembled from them (the training loop):
 *   tasks -> ep_run (G episodes each) -> rl_reward_batch -> grpo_advantages
 *   -> per micro-batch: grpo_episode_row for each episode, reference
 *      log-probabilities with tf_lora_set_enabled(m, 0) when beta != 0,
 *      grpo_mb_begin, tf_train_fb(..., grpo_loss_cb, &mb, ...), grpo_mb_end
 *      (num_iterations passes, old log-probabilities from the sampler)
 *   -> tf_trainer_step at tf_sched_lr -> rl_metrics_log (rewards, advantage
 *      stats, mean of the micro-batch metrics, rl_episode_metrics, grad_norm,
 *      learning_rate, time split) -> rl_ckpt_save every save_steps. */
#ifndef RETRAIN_RL_H
#define RETRAIN_RL_H

#include "checkpoint.h"
#include "config.h"
#include "grpo.h"
#include "metrics.h"
#include "rewards.h"

#endif
