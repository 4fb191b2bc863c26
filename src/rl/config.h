/* rl/config: the training configuration file (training.md). The guide's
 * JSON loads as written; every key means what TRL (or the guide) means by
 * it, and a missing key takes TRL's default. Unknown keys, wrong types and
 * values out of range are one-line errors naming the key path, e.g.
 *   algorithm.hyperparameters.learning_rate: expected a number, got "1e-5"
 * (prefixed by the file when loaded from one). Prefix cfg_.
 *
 * Layout (every key optional unless said):
 *   model              name_or_path (required: a local Hugging Face directory,
 *                      checked by cfg_check_model), loader "huggingface",
 *                      torch_dtype auto|float32|bfloat16|float16,
 *                      trust_remote_code (accepted; no remote code ever runs),
 *                      peft_config null | {r 8, lora_alpha 8, lora_dropout 0,
 *                      target_modules (string or list; null: the family's
 *                      attention projections), use_rslora false, bias "none",
 *                      task_type "CAUSAL_LM", inference_mode}: LoRA when given
 *   environment        type "spider2", env_specific_config {spider2_data_path,
 *                      spider2_type lite|snow|dbt, mcp_server_url, max_steps 20
 *                      (model turns), max_query_length 1000,
 *                      enable_external_knowledge true, evaluation_mode false,
 *                      database_dir (where <db>.sqlite files are), gold_dir
 *                      (spider2lite_eval.jsonl + exec_result/: what execution
 *                      accuracy compares with), documents_dir, wire_format
 *                      auto|spider2|hermes, max_turn_tokens 512}
 *   algorithm          name grpo|sft, backend "trl" (TRL's semantics),
 *                      hyperparameters (cfg_hparams below)
 *   reward_setup       step_reward_configs, rollout_reward_configs: maps from a
 *                      reward name (rl/rewards.h) to {weight 1, params {},
 *                      verifiers [], verifier_penalty 0, distribution_strategy
 *                      last_step}. The guide's placeholder entry (name "NAME",
 *                      verifier "...") is skipped with a warning. No reward at
 *                      all: execution_accuracy (rollout, weight 1), with a
 *                      warning.
 *   logging_level      DEBUG|INFO|WARNING|ERROR|CRITICAL (any case)
 *   prompt_source      the JSONL file of tasks to train on (default: the
 *                      environment's spider2_data_path)
 *   output_dir         the run folder (default trainer_output/spider2-{type})
 *   seed               the run's seed (the same as hyperparameters.seed;
 *                      both given must agree)
 *   mcpServers         Claude-style {NAME: {command, args, env, cwd} | {type
 *                      "http", url}}, or the path of a file holding
 *                      {"mcpServers": {...}}. Wins over mcp_server_url (with a
 *                      warning). Neither: the caller decides (the built-in
 *                      database server).
 *   eval               {data_path (tasks JSONL; default: GRPO's prompt_source,
 *                      SFT's spider2_data_path), conversations (SFT),
 *                      max_tasks 0 (all), temperature 0 (greedy),
 *                      num_generations (default: hyperparameters'
 *                      num_generations, >= 2), loss_tasks (eval_loss's
 *                      tasks: default as max_tasks, 0 none)}: evaluation
 *                      every eval_steps.
 *                      GRPO: eval_accuracy from one episode per task at
 *                      eval.temperature (Spider's rule); eval_loss and
 *                      eval_reward from num_generations episodes per task
 *                      sampled as in training, the GRPO loss computed on them
 *                      without an update (TRL's evaluation). SFT: eval_loss
 *                      is the loss on eval.conversations (JSONL, like
 *                      prompt_source); eval_accuracy as GRPO's. */
#ifndef RETRAIN_RL_CONFIG_H
#define RETRAIN_RL_CONFIG_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"
#include "../model/train.h"
#include "grpo.h"
#include "rewards.h"

typedef enum cfg_algo { CFG_ALGO_GRPO, CFG_ALGO_SFT } cfg_algo;
typedef enum cfg_dtype { CFG_DTYPE_AUTO, CFG_DTYPE_F32, CFG_DTYPE_BF16, CFG_DTYPE_F16 } cfg_dtype;

/* algorithm.hyperparameters: TRL's GRPOConfig / TrainingArguments names
 * and defaults (huggingface/trl grpo_config.py, late 2025). */
typedef struct cfg_hparams {
    double learning_rate;       /* 1e-6 (GRPOConfig) */
    int batch_size;             /* completions per step per accumulation (TRL's
                                   per_device_train_batch_size, also accepted): 8 */
    int gradient_accumulation_steps; /* 1 */
    int num_generations;        /* G: 4 when batch_size >= 4, else 2 (the guide's
                                   framework); batch_size * accum % G == 0 */
    int max_length;             /* completion budget in tokens (TRL's
                                   max_completion_length, also accepted): 256 */
    int max_prompt_length;      /* prompt budget in tokens: 4096 */
    int num_iterations;         /* passes over one batch of rollouts (TRL's mu): 1 */
    double beta;                /* KL coefficient: 0 */
    double epsilon;             /* 0.2 */
    double epsilon_high;        /* = epsilon */
    grpo_loss_type loss_type;   /* dapo: GRPOConfig's default in huggingface/trl's
                                   trl/trainer/grpo_config.py as of late 2025 */
    grpo_scale scale_rewards;   /* group (true = group, false = none, as TRL) */
    double temperature;         /* 1.0 */
    double top_p;               /* 1.0 */
    int top_k;                  /* 0: off */
    long max_steps;             /* optimizer steps; -1: num_train_epochs over the tasks */
    double num_train_epochs;    /* 3 */
    double warmup_ratio;        /* 0 */
    int warmup_steps;           /* 0; wins over warmup_ratio when > 0 */
    tf_sched_kind lr_scheduler; /* lr_scheduler_type: linear */
    char lr_scheduler_name[32];
    double max_grad_norm;       /* 1.0; 0: no clipping */
    double weight_decay;        /* 0 */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    uint64_t seed;              /* 42 */
    int save_steps;             /* 500 */
    int save_total_limit;       /* 0: keep every checkpoint */
    int eval_steps;             /* 0: no periodic evaluation */
    int logging_steps;          /* 10 (GRPOConfig) */
    int gradient_checkpointing; /* true (GRPOConfig) */
    int mask_truncated_completions; /* false */
    int eval_on_start;          /* false: evaluate before the first step too (step 0;
                                   needs eval_steps > 0) */
} cfg_hparams;

typedef struct cfg_mcp_server {
    char *name;
    char *command;               /* stdio: the program; NULL for HTTP */
    strlist_t args;
    strlist_t env_names, env_values;
    char *cwd;                   /* stdio: the folder it runs in, or NULL */
    char *url;                   /* HTTP: the endpoint; NULL for stdio */
} cfg_mcp_server;

typedef struct cfg_config {
    /* model */
    char *model_path;
    cfg_dtype dtype;
    int trust_remote_code;
    int lora;                    /* peft_config given */
    tf_lora_opts lora_opts;      /* targets: lora_targets (NULL: family default) */
    char *lora_targets;          /* comma-separated, or NULL */
    double lora_alpha, lora_dropout; /* as written (lora_opts has them as float) */
    /* environment */
    char *data_path;             /* spider2_data_path (may be NULL) */
    char *spider2_type;          /* lite */
    char *mcp_server_url;        /* NULL if none */
    int env_max_steps;           /* model turns per episode: 20 */
    int max_query_length;        /* 1000 */
    int enable_external_knowledge; /* 1 */
    int evaluation_mode;         /* 0 */
    char *database_dir;          /* NULL if not given */
    char *gold_dir;              /* Spider's evaluation_suite/gold layout (execution accuracy) */
    char *documents_dir;         /* external-knowledge documents; NULL: beside the task file */
    char *wire_format;           /* auto */
    int max_turn_tokens;         /* 512 */
    /* algorithm */
    cfg_algo algo;
    cfg_hparams hp;
    /* rewards: step ones first, then rollout ones; strings owned here */
    rl_reward_spec *rewards;
    int n_rewards;
    /* logging */
    enum log_level log_level;    /* INFO */
    /* extras */
    char *prompt_source;
    char *output_dir;
    cfg_mcp_server *mcp;
    int n_mcp;
    char *mcp_file;              /* where mcpServers came from, if a file */
    int eval;                    /* an eval section was given */
    char *eval_data_path;
    char *eval_conversations;    /* SFT's held-out conversations (eval_loss) */
    int eval_max_tasks;
    double eval_temperature;
    int eval_num_generations;
    int eval_loss_tasks;         /* tasks of eval_loss; -1 (absent): as max_tasks; 0: none */
    /* what the caller should log (log_warn) once */
    strlist_t warnings;
} cfg_config;

/* Parses JSON text. what (a file name, or NULL) prefixes messages. On
 * failure c holds nothing to free. */
int cfg_parse(cfg_config *c, const char *text, size_t len, const char *what, err_t *e);
/* Reads and parses a file. */
int cfg_load(cfg_config *c, const char *path, err_t *e);
void cfg_free(cfg_config *c);
/* model.name_or_path must be a local model directory
 * (hf_model_dir_check: a hub name says it cannot be downloaded here). */
int cfg_check_model(const cfg_config *c, err_t *e);
/* The resolved configuration, defaults filled in, in the file's layout; it
 * parses back to the same configuration (the run folder keeps it, e.g. as
 * RUN/resolved_config.json, so a run can be repeated). A new reference. */
json_t *cfg_to_json(const cfg_config *c);
/* Writes cfg_to_json (indented; numbers with 15 significant digits, so
 * 1e-5 is written 1e-5, not 1.0000000000000001e-05) to path atomically. */
int cfg_write_resolved(const cfg_config *c, const char *path, err_t *e);
/* mcpServers as a client config's {NAME: {command, args, env, cwd} |
 * {type, url}} (a new reference; {} when there are none). */
json_t *cfg_mcp_json(const cfg_config *c);
/* Prompts (tasks) per optimizer step: batch_size * accum / G. */
int cfg_prompts_per_step(const cfg_config *c);

#endif
