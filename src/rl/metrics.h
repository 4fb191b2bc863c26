/* rl/metrics: what a run reports - one JSON line per logged step
 * (logs/metrics.jsonl), TensorBoard event files written without
 * TensorFlow, and the console progress line. Prefix rl_metrics_ (rl_tb_
 * for the event-file layer).
 *
 * Metric names (training.md), as TRL logs them: reward, reward_std,
 * rewards/<name>/mean, rewards/<name>/std, frac_reward_zero_std, kl,
 * entropy, clip_ratio/low_mean, clip_ratio/high_mean,
 * clip_ratio/region_mean, completions/mean_length,
 * completions/clipped_ratio, tools/call_frequency,
 * tools/failure_frequency, grad_norm, learning_rate, num_tokens, loss;
 * the guide's sql_accuracy, tool_usage_rate, episode_length, eval_loss;
 * and the time split, in seconds and tokens per second: time/generation_s,
 * time/tool_calls_s, time/reward_s, time/update_s,
 * time/generation_tokens_per_s, time/update_tokens_per_s.
 *
 * A JSON line is {"step": N, "epoch": E, "timestamp": UNIX_SECONDS, then
 * every value in the order given}; numbers are written as Python's repr
 * writes them (jansson holds no NaN: leave a metric out when it has no
 * value).
 *
 * TensorBoard: TFRecord framing (uint64 length, masked CRC-32C of the
 * length, data, masked CRC-32C of the data; little-endian) of Event
 * protocol buffers: the first holds file_version "brain.Event:2", each
 * later one wall_time, step and a Summary of {tag, simple_value} values. */
#ifndef RETRAIN_RL_METRICS_H
#define RETRAIN_RL_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"
#include "../env/episode.h"

/* ---- TensorBoard event files */

/* CRC-32C (Castagnoli), as TFRecord uses; and its masked form. */
uint32_t rl_crc32c(const void *p, size_t n);
uint32_t rl_crc32c_masked(const void *p, size_t n);
/* Appends one TFRecord (framing around data) to out. */
void rl_tb_record(buf_t *out, const void *data, size_t n);
/* Appends an Event protobuf: file_version event when version is not NULL
 * (then n is 0), else wall_time, step and n scalar values. */
void rl_tb_event(buf_t *out, double wall_time, int64_t step, const char *version,
                 const char *const *tags, const double *values, int n);

typedef struct rl_tb rl_tb;
/* Creates dir/events.out.tfevents.<unix time>.<host>.<pid>.<n> (n: the
 * first number whose file does not exist yet) and writes the file_version
 * event. */
rl_tb *rl_tb_open(const char *dir, err_t *e);
/* One event with n scalars (float32 in the file, as TensorBoard keeps). */
int rl_tb_scalars(rl_tb *w, int64_t step, double wall_time, const char *const *tags,
                  const double *values, int n, err_t *e);
/* A SessionLog START event at step: TensorBoard then drops the events of
 * steps >= step that earlier files hold (a run resumed from step - 1). */
void rl_tb_session_start(buf_t *out, double wall_time, int64_t step);
int rl_tb_restart(rl_tb *w, int64_t step, err_t *e);
const char *rl_tb_path(const rl_tb *w);
void rl_tb_close(rl_tb *w);

/* ---- the run's metrics */

typedef struct rl_metrics rl_metrics;
/* Opens dir/metrics.jsonl for appending and a new event file in dir
 * (made if missing). resume_step >= 0 (a resumed run): lines of later
 * steps, written after that checkpoint, are dropped first, so the file
 * reads as one uninterrupted run, and the event file starts with a
 * SessionLog START at resume_step + 1 so that TensorBoard does the same. */
rl_metrics *rl_metrics_open(const char *dir, long resume_step, err_t *e);
/* Keeps the lines of a JSON-lines file whose "step" is <= keep (what a
 * resumed run does to its logs); a missing file is fine. */
int rl_jsonl_keep_steps(const char *path, long keep, err_t *e);
/* values: a JSON object of name -> value; numbers (and booleans) go to
 * both files, other values to the JSON line only. Flushed before return. */
int rl_metrics_log(rl_metrics *m, long step, double epoch, const json_t *values, err_t *e);
/* The JSON line alone (no newline), for tests and the text log. */
void rl_metrics_line(buf_t *out, long step, double epoch, double timestamp, const json_t *values);
const char *rl_metrics_tb_path(const rl_metrics *m);
void rl_metrics_close(rl_metrics *m);

/* ---- what a batch of episodes says */

/* Adds to obj, over n episodes:
 *   completions/mean_length, min_length, max_length   tokens after the prompt
 *                                                     (model and environment)
 *   completions/mean_model_tokens                     tokens the policy sampled
 *   completions/clipped_ratio      episodes cut by a token budget (the
 *                                  completion budget or a turn's limit)
 *   tools/call_frequency           tool calls per episode
 *   tools/failure_frequency        failed calls / calls (0 without calls)
 *   tool_usage_rate                episodes with a call that ran and succeeded
 *   episode_length                 model turns per episode
 *   answer_rate                    episodes that ended with <answer> */
void rl_episode_metrics(const ep_episode *eps, int n, json_t *obj);

/* The time split of a step: seconds in each phase and the tokens of the
 * two that make tokens (sampled tokens; tokens through forward+backward). */
typedef struct rl_time_split {
    double generation_s, tool_calls_s, reward_s, update_s;
    long generation_tokens, update_tokens;
} rl_time_split;

/* Adds time/generation_s, time/tool_calls_s, time/reward_s, time/update_s,
 * time/generation_tokens_per_s and time/update_tokens_per_s (0 where no
 * time was spent) to obj. Generation time excludes the tool calls. */
void rl_time_metrics(const rl_time_split *t, json_t *obj);

/* ---- console */

/* The console's progress line:
 *   "[##..................] step 12/100 (12%) | reward 0.375 | acc 0.25 |
 *    loss 0.0123 | 1m05s elapsed, ETA 7m57s"
 * with the key metrics the step has (reward, sql_accuracy, eval_accuracy,
 * loss, eval_loss, kl when not 0); the ETA from the mean time of the steps
 * this process ran ("?" before the first). Appends to out. */
typedef struct rl_progress {
    long step, total;   /* steps taken (a resumed run's earlier ones included), of total */
    long done;          /* steps this process ran in elapsed_s */
    double elapsed_s;
    const json_t *metrics; /* the step's metrics, or NULL */
} rl_progress;
void rl_progress_line(buf_t *out, const rl_progress *p);

#endif
