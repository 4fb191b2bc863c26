/* rl/train: `retrain train` - GRPO on Spider 2.0 tasks through the whole
 * path: the configuration (config.h), the model with or without LoRA, one
 * read-only MCP server per database (env_mcp), G multi-turn episodes per
 * task from the current policy (the engine, batched, KV cache kept between
 * turns), rewards (rewards.h: execution accuracy by the official rule
 * against the gold results), group advantages and TRL's clipped loss on
 * exactly the sampled tokens (grpo.h), AdamW, metrics and checkpoints.
 * Prefix rl_train_.
 *
 * Reproducible for a seed: the task order of epoch k is a permutation drawn
 * from (seed, k); the episodes of step s sample from streams of (seed, s).
 * A run resumed from checkpoint-N therefore repeats what the uninterrupted
 * run did after step N. */
#ifndef RETRAIN_RL_TRAIN_H
#define RETRAIN_RL_TRAIN_H

#include "../env/episode.h"
#include "config.h"

typedef struct rl_train_opts {
    const char *config_path; /* names the config in messages; may be NULL */
    const char *resume;      /* a checkpoint-N folder or a run folder (its latest); NULL */
    int dry_run;             /* check everything a run needs, print the resolved config, stop */
    /* Tests: a policy used instead of the engine's sampler (its episodes'
     * log-probabilities are recomputed by the model). NULL: the engine. */
    const ep_policy *policy;
    int quiet;               /* no console progress line */
    const char *mcp_command; /* the database server program (`COMMAND mcp-db`); NULL: retrain */
    long stop_after;         /* > 0: stop after this many steps of this invocation (the
                                schedule still spans the whole run): tests of --resume */
} rl_train_opts;

/* Runs (or checks) the configured training. 0 when it finished; -1 with e.
 * On a configuration, data or server problem, e says which (one line). */
int rl_train(cfg_config *cfg, const rl_train_opts *o, err_t *e);

#endif
