/* rl/checkpoint: the run folder's checkpoints, as transformers' Trainer
 * lays them out - RUN/checkpoint-{step}/ holding the weights Hugging Face
 * loads, the optimizer and scheduler state, the RNG state and
 * trainer_state.json - written atomically, pruned to save_total_limit,
 * and found again for --resume. Prefix rl_ckpt_ (rl_state_ for
 * trainer_state.json).
 *
 * A checkpoint folder:
 *   config.json, model.safetensors     full training (tf_save_hf), or
 *   adapter_config.json,
 *   adapter_model.safetensors          with LoRA (tf_lora_save; the base is
 *                                      model.name_or_path)
 *   tokenizer files                    copied from the model directory
 *   optimizer.safetensors              AdamW state (tf_trainer_save)
 *   scheduler.json                     {"kind", "lr", "warmup_steps",
 *                                      "total_steps", "last_step"}
 *   rng_state.json                     {"streams": [[4 hex words], ...]}
 *   trainer_state.json                 global_step, epoch, log_history,
 *                                      best_metric, best_model_checkpoint,
 *                                      ... (transformers' TrainerState keys)
 * It is written under RUN/.checkpoint-{step}.tmp.{pid}/ and renamed into
 * place, so a folder named checkpoint-{step} is always complete; a run
 * killed mid-save leaves only a hidden temporary that the next save
 * removes. */
#ifndef RETRAIN_RL_CHECKPOINT_H
#define RETRAIN_RL_CHECKPOINT_H

#include <jansson.h>

#include "../base/base.h"
#include "../model/train.h"

/* ---- trainer_state.json */

typedef struct rl_trainer_state {
    long global_step;
    double epoch;
    long max_steps;
    double num_train_epochs;
    int logging_steps, eval_steps, save_steps, train_batch_size;
    json_t *log_history;         /* an array of objects (owned) */
    double best_metric;          /* NaN: none yet */
    char *best_model_checkpoint; /* NULL: none yet */
    json_t *extra;               /* the training loop's own state (an object,
                                    owned; "retrain" in the file): e.g. where
                                    it is in the task order */
} rl_trainer_state;

void rl_state_init(rl_trainer_state *s);
void rl_state_free(rl_trainer_state *s);
json_t *rl_state_to_json(const rl_trainer_state *s);
/* what names the file in messages. */
int rl_state_from_json(rl_trainer_state *s, const json_t *j, const char *what, err_t *e);
/* Appends a copy of entry (an object) to log_history. */
void rl_state_log(rl_trainer_state *s, const json_t *entry);
/* Records an evaluation: when value beats best_metric (greater_is_better
 * says which way) it becomes the best, with ckpt_dir (may be NULL).
 * Returns 1 if it did. */
int rl_state_update_best(rl_trainer_state *s, double value, int greater_is_better,
                         const char *ckpt_dir);

/* ---- saving */

typedef struct rl_ckpt_save_opts {
    const char *run_dir;        /* e.g. trainer_output/spider2-lite */
    long step;                  /* the folder is checkpoint-{step} */
    const tf_model *model;      /* with adapters: the adapter; else the full model */
    const char *model_dir;      /* tokenizer files come from here (LoRA); may be NULL */
    const tf_trainer *trainer;  /* NULL: no optimizer state */
    const tf_sched *sched;      /* NULL: no scheduler state */
    const rl_trainer_state *state; /* required */
    const rng_t *rngs;          /* RNG streams to restore; n_rngs may be 0 */
    int n_rngs;
    int save_total_limit;       /* > 0: keep the newest this many (and the best) */
} rl_ckpt_save_opts;

/* Writes RUN/checkpoint-{step}/ (replacing one of that step), then prunes.
 * *out_dir (may be NULL) gets the folder's path (free it). */
int rl_ckpt_save(const rl_ckpt_save_opts *o, char **out_dir, err_t *e);

/* Deletes the oldest checkpoint-N folders of run_dir until at most limit
 * remain, never the newest nor keep (the best; may be NULL). */
int rl_ckpt_prune(const char *run_dir, int limit, const char *keep, err_t *e);

/* ---- resuming */

/* The complete checkpoint-N folder (with trainer_state.json) of the
 * highest N in run_dir: 0 and *out (free it), 1 if there is none, -1 on
 * error. */
int rl_ckpt_latest(const char *run_dir, char **out, err_t *e);
/* --resume PATH: a checkpoint folder, or a run folder (its latest). */
int rl_ckpt_resolve(const char *path, char **out, err_t *e);

/* Reads trainer_state.json, scheduler.json (sched may be NULL) and
 * rng_state.json (n_rngs streams expected; 0: not read) of dir. The
 * weights are the caller's: tf_load(dir) for full training, or the base
 * model then tf_lora_load(dir); the optimizer: rl_ckpt_load_optimizer. */
int rl_ckpt_load(const char *dir, rl_trainer_state *state, tf_sched *sched, rng_t *rngs,
                 int n_rngs, err_t *e);
int rl_ckpt_load_optimizer(tf_trainer *t, const char *dir, err_t *e);

/* rm -rf of a folder this module made (used for pruning). */
int rl_ckpt_remove_tree(const char *path, err_t *e);

#endif
