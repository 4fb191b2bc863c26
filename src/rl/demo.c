/* rl/demo: `retrain demo` (demo.h). The stages call what the commands do
 * (demo-data, new-model, train, report) and write the two training
 * configurations as files, so each stage can be repeated by hand. */
#include "demo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../env/demo.h"
#include "../env/env.h"
#include "../model/train.h"
#include "config.h"
#include "report.h"
#include "train.h"

/* GRPO's learning rate is a tenth of what the tests' tiny runs use: at
 * 5e-4, with no execution-accuracy reward firing, 40 steps of noisy
 * advantages turned the warm-started model into repeated fragments (right
 * on 0 of its 50 demonstrations, from 29); at 5e-5 it keeps them.
 * max_turns is the environment's 20 (the demonstrations' prompts say so:
 * the prompt the model is trained on is the one it is run with); the
 * completion budget is what bounds an episode. */
typedef struct preset {
    int n_train, n_eval, n_sft;
    int vocab, layers, hidden, heads;
    int sft_steps, sft_batch;
    double sft_lr;
    int grpo_steps, grpo_batch, grpo_accum, grpo_gens, eval_every;
    double grpo_lr;
    int max_turns, turn_tokens, completion_tokens;
} preset;

static const preset k_full = {.n_train = 300, .n_eval = 60, .n_sft = 50,
                              .vocab = 2048, .layers = 4, .hidden = 256, .heads = 8,
                              .sft_steps = 300, .sft_batch = 4, .sft_lr = 3e-3,
                              .grpo_steps = 40, .grpo_batch = 8, .grpo_accum = 2, .grpo_gens = 4,
                              .eval_every = 10, .grpo_lr = 5e-5,
                              .max_turns = 20, .turn_tokens = 128, .completion_tokens = 1024};
static const preset k_quick = {.n_train = 30, .n_eval = 6, .n_sft = 6,
                               .vocab = 600, .layers = 2, .hidden = 96, .heads = 4,
                               .sft_steps = 60, .sft_batch = 2, .sft_lr = 1e-2,
                               .grpo_steps = 2, .grpo_batch = 4, .grpo_accum = 1, .grpo_gens = 2,
                               .eval_every = 2, .grpo_lr = 1e-3,
                               .max_turns = 20, .turn_tokens = 96, .completion_tokens = 1024};

static double now_s(void)
{
    return (double)time_now_ns() * 1e-9;
}

static char *path_of(const char *dir, const char *rel)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", dir, rel);
    return buf_take(&b);
}

typedef struct data_ctx {
    buf_t corpus, rl;
    strlist_t sft_ids;
} data_ctx;

/* a demonstration: its messages in ChatML into the corpus */
static int corpus_sft(json_t *j, const char *where, int line, void *ctx, err_t *e)
{
    data_ctx *d = ctx;
    strlist_push(&d->sft_ids, json_string_value(json_object_get(j, "instance_id")));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "messages"), i, m)
    {
        buf_printf(&d->corpus, "<|im_start|>%s\n%s<|im_end|>\n",
                   json_string_value(json_object_get(m, "role")),
                   json_string_value(json_object_get(m, "content")));
    }
    return 0;
}

/* a training task: its question into the corpus; into rl.jsonl unless demonstrated */
static int corpus_task(json_t *j, const char *where, int line, void *ctx, err_t *e)
{
    data_ctx *d = ctx;
    buf_printf(&d->corpus, "%s\n", json_string_value(json_object_get(j, "question")));
    if (strlist_index(&d->sft_ids, json_string_value(json_object_get(j, "instance_id"))) < 0) {
        char *text = json_dumps(j, JSON_COMPACT);
        buf_printf(&d->rl, "%s\n", text);
        free(text);
    }
    return 0;
}

static int stage_data(const rl_demo_opts *o, const preset *p, const char *data, err_t *e)
{
    demo_opts dopt;
    demo_opts_default(&dopt);
    dopt.seed = o->seed;
    dopt.n_train = p->n_train;
    dopt.n_eval = p->n_eval;
    dopt.n_sft = p->n_sft;
    demo_summary sum;
    if (demo_write(data, &dopt, &sum, e) != 0)
        return -1;
    data_ctx d;
    buf_init(&d.corpus);
    buf_init(&d.rl);
    strlist_init(&d.sft_ids);
    char *sft = path_of(data, "sft.jsonl"), *train = path_of(data, "train.jsonl");
    char *corpus = path_of(data, "corpus.txt"), *rl = path_of(data, "rl.jsonl");
    int rc = env_jsonl_each(sft, corpus_sft, &d, e);
    if (rc == 0)
        rc = env_jsonl_each(train, corpus_task, &d, e);
    if (rc == 0)
        rc = file_write_atomic(corpus, d.corpus.data, d.corpus.len, e);
    if (rc == 0)
        rc = file_write_atomic(rl, d.rl.data ? d.rl.data : "", d.rl.len, e);
    if (rc == 0 && !o->quiet)
        printf("  %s: %ld rows in 6 tables; %zu training tasks (%zu demonstrated), %zu held out\n",
               data, sum.total_rows, sum.n_train, sum.n_sft, sum.n_eval);
    free(sft), free(train), free(corpus), free(rl);
    buf_free(&d.corpus);
    buf_free(&d.rl);
    strlist_free(&d.sft_ids);
    return rc;
}

static int stage_model(const rl_demo_opts *o, const preset *p, const char *data, const char *dir,
                       err_t *e)
{
    char *corpus = path_of(data, "corpus.txt");
    const char *files[] = {corpus};
    tf_create_opts co = {.corpus = files, .n_corpus = 1, .vocab = p->vocab, .layers = p->layers,
                         .hidden = p->hidden, .heads = p->heads, .max_pos = 4096,
                         .seed = o->seed};
    tf_create_info info;
    int rc = tf_create_model(dir, &co, &info, e);
    if (rc == 0 && !o->quiet)
        printf("  %s: Llama, %d layers, hidden %d, %d heads, vocabulary %d, %.2fM parameters\n",
               dir, info.cfg.n_layer, info.cfg.hidden, info.cfg.n_head, info.cfg.vocab_size,
               (double)info.params / 1e6);
    free(corpus);
    return rc;
}

/* The environment section both runs share. */
static json_t *env_section(const char *data, const char *tasks, const preset *p)
{
    char *db = xstrdup(data), *gold = path_of(data, "gold");
    json_t *j = json_pack("{s:s, s:{s:s, s:s, s:s, s:i, s:i}}", "type", "spider2",
                          "env_specific_config", "spider2_data_path", tasks, "database_dir", db,
                          "gold_dir", gold, "max_steps", p->max_turns, "max_turn_tokens",
                          p->turn_tokens);
    free(db), free(gold);
    return j;
}

static int write_json(const char *path, json_t *j, err_t *e)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    int rc = file_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

/* Loads a configuration file and trains it. */
static int train_file(const rl_demo_opts *o, const char *cfg_path, err_t *e)
{
    cfg_config c;
    if (cfg_load(&c, cfg_path, e) != 0)
        return -1;
    rl_train_opts to = {.config_path = cfg_path, .mcp_command = o->mcp_command, .quiet = o->quiet};
    int rc = rl_train(&c, &to, e);
    cfg_free(&c);
    return rc;
}

static int stage_sft(const rl_demo_opts *o, const preset *p, const char *out, const char *data,
                     const char *model, int steps, err_t *e)
{
    char *cfg_path = path_of(out, "sft.json"), *run = path_of(out, "sft");
    char *demos = path_of(data, "sft.jsonl"), *eval = path_of(data, "eval.jsonl");
    json_t *hp = json_pack("{s:f, s:i, s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:b, s:I}",
                           "learning_rate", p->sft_lr, "batch_size", p->sft_batch, "max_steps",
                           steps, "logging_steps", steps < 25 ? 1 : 5, "max_length", 4096,
                           "max_prompt_length", 4096, "lr_scheduler_type", "cosine",
                           "warmup_steps", steps / 20, "save_steps", steps,
                           "gradient_checkpointing", 0, "seed", (json_int_t)o->seed);
    json_t *cfg = json_pack("{s:{s:s}, s:o, s:{s:s, s:o}, s:s, s:s, s:s}", "model", "name_or_path",
                            model, "environment", env_section(data, eval, p), "algorithm", "name",
                            "sft", "hyperparameters", hp, "prompt_source", demos, "output_dir",
                            run, "logging_level", "WARNING");
    int rc = write_json(cfg_path, cfg, e);
    json_decref(cfg);
    if (rc == 0)
        rc = train_file(o, cfg_path, e);
    free(cfg_path), free(run), free(demos), free(eval);
    return rc;
}

static int stage_grpo(const rl_demo_opts *o, const preset *p, const char *out, const char *data,
                      const char *model, int steps, err_t *e)
{
    char *cfg_path = path_of(out, "grpo.json"), *run = path_of(out, "grpo");
    char *tasks = path_of(data, "rl.jsonl"), *eval = path_of(data, "eval.jsonl");
    int every = p->eval_every < steps ? p->eval_every : steps;
    json_t *hp = json_pack(
        "{s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:f, s:f, s:s, s:s, s:b, s:I}",
        "learning_rate", p->grpo_lr, "batch_size", p->grpo_batch, "gradient_accumulation_steps",
        p->grpo_accum, "num_generations", p->grpo_gens, "max_length", p->completion_tokens,
        "max_prompt_length", 4096, "max_steps", steps, "logging_steps", 1, "save_steps", steps,
        "eval_steps", every, "eval_on_start", 1, "temperature", 1.0, "beta", 0.0, "loss_type",
        "dapo", "lr_scheduler_type", "constant", "gradient_checkpointing", 0, "seed",
        (json_int_t)o->seed);
    /* The partial rewards count only for episodes that used the tools:
     * without the verifier, GRPO learns to skip them and answer at once
     * with any query that runs. */
    json_t *rewards = json_pack(
        "{s:{s:f}, s:{s:f, s:[s], s:f}, s:{s:f, s:[s], s:f}}", "execution_accuracy", "weight", 1.0,
        "sql_executes", "weight", 0.2, "verifiers", "tool_use", "verifier_penalty", 1.0, "format",
        "weight", 0.1, "verifiers", "tool_use", "verifier_penalty", 1.0);
    json_t *cfg = json_pack(
        "{s:{s:s}, s:o, s:{s:s, s:o}, s:{s:o}, s:s, s:{s:s, s:i}, s:s, s:s}", "model",
        "name_or_path", model, "environment", env_section(data, tasks, p), "algorithm", "name",
        "grpo", "hyperparameters", hp, "reward_setup", "rollout_reward_configs", rewards,
        "prompt_source", tasks, "eval", "data_path", eval, "loss_tasks", 4, "output_dir", run,
        "logging_level", "WARNING");
    /* the database's server runs in the data folder, so its tools name the
     * database as the demonstrations do ("demo.sqlite"): the prompts do not
     * depend on where the demo's folder is */
    json_t *servers = json_pack(
        "{s:{s:s, s:[s], s:s, s:{s:s, s:s, s:s}}}", "demo", "command",
        o->mcp_command ? o->mcp_command : "retrain", "args", "mcp-db", "cwd", data, "env",
        "DB_URL", "sqlite:///demo.sqlite", "MCP_DB_READ_ONLY", "1", "QUERY_TIMEOUT_MS", "30000");
    json_object_set_new(cfg, "mcpServers", servers);
    int rc = write_json(cfg_path, cfg, e);
    json_decref(cfg);
    if (rc == 0)
        rc = train_file(o, cfg_path, e);
    free(cfg_path), free(run), free(tasks), free(eval);
    return rc;
}

/* accuracy and tool-use rate of RUN/eval/step-N/report.json */
static int eval_of(const char *run, long step, double *acc, double *tool, int *n, err_t *e)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/eval/step-%ld/report.json", run, step);
    json_error_t je;
    json_t *j = json_load_file(p.data, 0, &je);
    int rc = 0;
    if (!j) {
        rc = err_set(e, "%s: %s", p.data, je.text);
    } else {
        *acc = json_number_value(json_object_get(j, "accuracy"));
        *tool = json_number_value(json_object_get(json_object_get(j, "agent"), "tool_use_rate"));
        *n = (int)json_integer_value(json_object_get(j, "evaluated"));
    }
    json_decref(j);
    buf_free(&p);
    return rc;
}

static void stage_title(const rl_demo_opts *o, int k, const char *what)
{
    if (!o->quiet) {
        printf("[%d/5] %s\n", k, what);
        fflush(stdout);
    }
}

int rl_demo_run(const rl_demo_opts *o, rl_demo_result *res, err_t *e)
{
    const preset *p = o->quick ? &k_quick : &k_full;
    memset(res, 0, sizeof *res);
    int sft_steps = o->sft_steps > 0 ? o->sft_steps : p->sft_steps;
    int grpo_steps = o->grpo_steps > 0 ? o->grpo_steps : p->grpo_steps;
    if (dir_make(o->out_dir, e) != 0)
        return -1;
    char *out = realpath(o->out_dir, NULL);
    if (!out)
        return err_set(e, "%s: cannot resolve the folder", o->out_dir);
    char *data = path_of(out, "data"), *model = path_of(out, "model-init");
    buf_t warm;
    buf_init(&warm);
    buf_printf(&warm, "%s/sft/checkpoint-%d", out, sft_steps);
    double t0 = now_s(), t = t0;
    int rc = 0;
    stage_title(o, 1, "the demo database, its tasks and demonstrations");
    rc = stage_data(o, p, data, e);
    res->data_s = now_s() - t, t = now_s();
    if (rc == 0) {
        stage_title(o, 2, "a small Llama from scratch: a tokenizer trained on the demo text, "
                          "random weights");
        rc = stage_model(o, p, data, model, e);
        res->model_s = now_s() - t, t = now_s();
    }
    if (rc == 0) {
        stage_title(o, 3, "supervised warm start on the demonstrations");
        rc = stage_sft(o, p, out, data, model, sft_steps, e);
        res->sft_s = now_s() - t, t = now_s();
    }
    if (rc == 0) {
        stage_title(o, 4, "GRPO on the training tasks without demonstrations (held-out "
                          "evaluation before, during and after)");
        rc = stage_grpo(o, p, out, data, warm.data, grpo_steps, e);
        res->grpo_s = now_s() - t, t = now_s();
    }
    char *grpo = path_of(out, "grpo");
    if (rc == 0)
        rc = eval_of(grpo, 0, &res->acc_warm, &res->tool_warm, &res->n_eval, e);
    if (rc == 0)
        rc = eval_of(grpo, grpo_steps, &res->acc_grpo, &res->tool_grpo, &res->n_eval, e);
    res->grpo_last_step = grpo_steps;
    snprintf(res->final_model, sizeof res->final_model, "%s/checkpoint-%d", grpo, grpo_steps);
    if (rc == 0) {
        stage_title(o, 5, "the report");
        char *html = path_of(out, "report.html");
        rc = rl_report_write(grpo, html, e);
        free(html);
    }
    res->total_s = now_s() - t0;
    if (rc == 0) {
        json_t *s = json_pack(
            "{s:I, s:b, s:i, s:{s:f, s:f}, s:{s:f, s:f}, s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f}}",
            "seed", (json_int_t)o->seed, "quick", o->quick, "held_out_tasks", res->n_eval,
            "warm_start", "accuracy", res->acc_warm, "tool_use_rate", res->tool_warm, "grpo",
            "accuracy", res->acc_grpo, "tool_use_rate", res->tool_grpo, "final_model",
            res->final_model, "report", "report.html", "seconds", "data", res->data_s, "model",
            res->model_s, "sft", res->sft_s, "grpo", res->grpo_s, "total", res->total_s);
        char *sp = path_of(out, "summary.json");
        rc = write_json(sp, s, e);
        free(sp);
        json_decref(s);
    }
    free(grpo);
    free(out), free(data), free(model);
    buf_free(&warm);
    return rc;
}
