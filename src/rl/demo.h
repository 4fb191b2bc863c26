/* rl/demo: `retrain demo` - the whole system on a laptop, with nothing to
 * download. Prefix rl_demo_.
 *
 * In OUT (the stages, in order; each writes what the next reads):
 *   data/          demo_write: the demo database, 300 training and 60
 *                  held-out tasks with gold results, 50 tool-using
 *                  demonstrations (sft.jsonl); rl.jsonl: the training tasks
 *                  without a demonstration (GRPO's); corpus.txt: the text
 *                  the tokenizer learns from (the demonstrations and the
 *                  training questions, never a held-out one)
 *   model-init/    tf_create_model: a byte-level BPE tokenizer trained on
 *                  corpus.txt and a small Llama with random weights
 *   sft.json, sft/ the supervised warm start on the demonstrations
 *                  (`retrain train sft.json` repeats it)
 *   grpo.json, grpo/  GRPO from the warm start's last checkpoint on the
 *                  training tasks that have no demonstration: rollouts
 *                  through the MCP server, execution-accuracy rewards. It
 *                  evaluates on the held-out tasks before its first step
 *                  (the warm start's accuracy) and every few steps.
 *   report.html    rl_report_write of grpo/
 *   summary.json   the held-out accuracy and tool-use rate after the warm
 *                  start and after GRPO, the stages' times
 * The model to try afterwards is grpo/checkpoint-N (the last). */
#ifndef RETRAIN_RL_DEMO_H
#define RETRAIN_RL_DEMO_H

#include <stdint.h>

#include "../base/base.h"

typedef struct rl_demo_opts {
    const char *out_dir;
    uint64_t seed;           /* data, model, sampling */
    int quick;               /* a shortened run (the tests'): fewer tasks, a smaller model,
                                fewer steps; it shows that every stage runs, not a gain */
    int sft_steps, grpo_steps; /* 0: the preset's */
    const char *mcp_command; /* the database server program; NULL: retrain */
    int quiet;               /* no progress lines */
} rl_demo_opts;

typedef struct rl_demo_result {
    double acc_warm, acc_grpo;   /* held-out execution accuracy */
    double tool_warm, tool_grpo; /* share of held-out episodes that called a tool */
    int n_eval;                  /* held-out tasks */
    long grpo_last_step;
    double data_s, model_s, sft_s, grpo_s, total_s;
    char final_model[4096];      /* grpo/checkpoint-N */
} rl_demo_result;

int rl_demo_run(const rl_demo_opts *o, rl_demo_result *res, err_t *e);

#endif
