/* rl/train: the GRPO training loop (see train.h). One step:
 *   tasks of the step -> ep_run (G episodes each, their databases' MCP
 *   tools) -> rewards -> group advantages -> rows (the sampled tokens, the
 *   model's positions masked in) -> old and reference log-probabilities ->
 *   num_iterations x (micro-batches through the engine's loss callback ->
 *   AdamW) -> metrics, checkpoints. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include "../env/env.h"
#include "../model/chat.h"
#include "../model/hf_config.h"
#include "../model/tokenizer.h"
#include "rl.h"

/* Conversations, tokenised, and which positions are trained. */
typedef struct sft_set {
    int32_t **tok;
    uint8_t **mask; /* [len]: 1 where the next token is the assistant's */
    int *len;
    size_t n;
} sft_set;

static void sft_set_free(sft_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->tok[i]);
        free(s->mask[i]);
    }
    free(s->tok);
    free(s->mask);
    free(s->len);
}

typedef struct run {
    cfg_config *cfg;
    const rl_train_opts *o;
    env_tasks ts;
    int have_ts;
    env_gold gold;
    int have_gold;
    env_mcp *mcp;
    env_executor x;
    const env_task **tasks; /* runnable, in id order */
    size_t ntasks;
    tf_model *m, *ref; /* ref: full fine-tuning with beta > 0 */
    tok_t *tok;
    tf_trainer *tr;
    ep_config ec;
    ep_engine *eng;
    ep_policy pol;
    char *run_dir;
    rl_metrics *met;
    rl_trainer_state st;
    tf_sched sched;
    long total;
    int per_step; /* tasks (prompts) per optimizer step */
    int G;
    double t0;
    long num_tokens; /* tokens of every episode so far (TRL's num_tokens) */
    sft_set sft, sft_eval; /* SFT: the training and the held-out conversations */
    FILE *examples;        /* logs/episodes.jsonl */
} run;

static double now_s(void)
{
    return (double)time_now_ns() * 1e-9;
}

/* ---- reward hooks: execution through the task's MCP server ---- */

/* What the hooks need: the run (its gold results) and the executor of the
 * tasks' servers (the training tasks', or the evaluation tasks'). */
typedef struct hook_ctx {
    run *r;
    env_executor *x;
} hook_ctx;

static int exec_hook(void *user, const rl_reward_task *task, const char *sql, int *ok, buf_t *msg,
                     err_t *e)
{
    hook_ctx *h = user;
    const env_task *t = task->user;
    env_table out;
    env_table_init(&out);
    err_t ex;
    *ok = h->x->run(h->x->ctx, t->db, sql, 1000, 30000, &out, &ex) == 0;
    if (!*ok && msg)
        buf_puts(msg, ex.msg);
    env_table_free(&out);
    return 0;
}

/* The official rule (params {"mode": "strict"} for row-aligned), through
 * the CSV round trip evaluate.py makes. */
static int score_hook(void *user, const rl_reward_task *task, const char *sql,
                      const json_t *params, double *score, err_t *e)
{
    hook_ctx *h = user;
    run *r = h->r;
    const env_task *t = task->user;
    *score = 0;
    if (!r->have_gold)
        return err_set(e, "execution_accuracy needs the gold results: set "
                          "environment.env_specific_config.gold_dir");
    const char *mode = params ? json_string_value(json_object_get(params, "mode")) : NULL;
    env_score_mode sm = mode && !strcmp(mode, "strict") ? ENV_SCORE_STRICT : ENV_SCORE_OFFICIAL;
    env_table pred, back;
    env_table_init(&pred);
    env_table_init(&back);
    err_t ex;
    int rc = 0;
    if (h->x->run(h->x->ctx, t->db, sql, 100000, 30000, &pred, &ex) == 0) {
        buf_t csv;
        buf_init(&csv);
        env_csv_write(&pred, &csv);
        env_table *golds = NULL;
        size_t ng = 0;
        if (env_csv_parse(csv.data ? csv.data : "", csv.len, t->instance_id, &back, &ex) == 0) {
            if (env_gold_load(&r->gold, t->instance_id, &golds, &ng, e) != 0) {
                rc = -1;
            } else {
                char why[256];
                *score = env_score(&back, golds, ng, env_gold_find(&r->gold, t->instance_id), sm,
                                   why, sizeof why) == 1;
                env_tables_free(golds, ng);
            }
        }
        buf_free(&csv);
    }
    env_table_free(&pred);
    env_table_free(&back);
    return rc;
}

/* ---- set-up ---- */

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? xstrndup(path, (size_t)(s - path)) : xstrdup(".");
}

/* Tasks of ts that can run here (a database, and a gold result when the
 * run has them), in id order, limit at most (0: all). */
static const env_task **runnable_tasks(const run *r, const env_tasks *ts, size_t limit, size_t *n)
{
    const env_task **out = xmalloc(sizeof *out * (ts->n ? ts->n : 1));
    *n = 0;
    for (size_t i = 0; i < ts->n && (limit == 0 || *n < limit); i++) {
        const env_task *t = &ts->items[i];
        if (t->skip || !t->db)
            continue;
        if (r->have_gold && !env_gold_find(&r->gold, t->instance_id))
            continue;
        out[(*n)++] = t;
    }
    return out;
}

static int load_data(run *r, err_t *e)
{
    cfg_config *c = r->cfg;
    /* GRPO trains on prompt_source (or the environment's tasks); SFT's
     * prompt_source is its conversations, and tasks serve evaluation only */
    const char *tasks = c->algo == CFG_ALGO_SFT
                            ? (c->eval_data_path ? c->eval_data_path : c->data_path)
                        : c->prompt_source ? c->prompt_source
                                           : c->data_path;
    if (!tasks)
        return err_set(e, "no tasks: set environment.env_specific_config.spider2_data_path (or "
                          "prompt_source)");
    if (!file_exists(tasks))
        return err_set(e, "%s: the task file does not exist "
                          "(environment.env_specific_config.spider2_data_path)",
                       tasks);
    char *base = dir_of(tasks);
    buf_t dbs, docs, gold;
    buf_init(&dbs);
    buf_init(&docs);
    buf_init(&gold);
    if (c->database_dir)
        buf_puts(&dbs, c->database_dir);
    else
        buf_printf(&dbs, "%s/databases", base);
    if (c->documents_dir)
        buf_puts(&docs, c->documents_dir);
    else
        buf_printf(&docs, "%s/resource/documents", base);
    if (c->gold_dir)
        buf_puts(&gold, c->gold_dir);
    else
        buf_printf(&gold, "%s/gold", base);
    env_task_opts to = {.sqlite_dir = dbs.data,
                        .documents_dir = c->enable_external_knowledge && file_exists(docs.data)
                                             ? docs.data
                                             : NULL};
    int rc = env_tasks_load(tasks, &to, &r->ts, e);
    if (rc == 0) {
        r->have_ts = 1;
        if (file_exists(gold.data)) {
            rc = env_gold_open(gold.data, &r->gold, e);
            r->have_gold = rc == 0;
        } else if (c->gold_dir) {
            rc = err_set(e, "%s: the gold folder does not exist "
                            "(environment.env_specific_config.gold_dir)",
                         c->gold_dir);
        }
    }
    if (rc == 0) {
        /* training needs a database and, for execution accuracy, a gold result */
        r->tasks = runnable_tasks(r, &r->ts, 0, &r->ntasks);
        if (r->ntasks == 0)
            rc = err_set(e, "%s: none of its %zu tasks can run here (their databases are not in "
                            "%s%s)",
                         tasks, r->ts.n, dbs.data, r->have_gold ? " or they have no gold result" : "");
    }
    free(base);
    buf_free(&dbs);
    buf_free(&docs);
    buf_free(&gold);
    return rc;
}

/* The user's servers as a client config, or NULL: the built-in ones. */
static json_t *user_servers(const cfg_config *c)
{
    if (c->n_mcp > 0)
        return json_pack("{s:o}", "mcpServers", cfg_mcp_json(c));
    if (c->mcp_server_url)
        return json_pack("{s:s}", "mcp_server_url", c->mcp_server_url);
    return NULL;
}

static int start_servers(run *r, err_t *e)
{
    json_t *conf = user_servers(r->cfg);
    env_mcp_opts mo = {.command = r->o->mcp_command, .query_timeout_ms = 30000, .config = conf,
                       .where = r->o->config_path ? r->o->config_path : "the configuration"};
    r->mcp = env_mcp_new(&r->ts, &mo, e);
    json_decref(conf);
    if (!r->mcp)
        return -1;
    env_mcp_executor(r->mcp, &r->x);
    return 0;
}

/* Starts the servers of every database the tasks use and lists their tools. */
static int check_servers(run *r, int *ndb, err_t *e)
{
    strlist_t seen;
    strlist_init(&seen);
    int rc = 0;
    for (size_t i = 0; i < r->ntasks && rc == 0; i++) {
        if (strlist_index(&seen, r->tasks[i]->db) >= 0)
            continue;
        strlist_push(&seen, r->tasks[i]->db);
        const env_tools *tools;
        rc = env_mcp_tools(r->mcp, r->tasks[i]->db, &tools, e);
        if (rc == 0 && tools->n == 0)
            rc = err_set(e, "the MCP server of database %s lists no tools", r->tasks[i]->db);
    }
    *ndb = (int)seen.len;
    strlist_free(&seen);
    return rc;
}

static tf_train_opts trainer_opts(const cfg_config *c)
{
    return (tf_train_opts){.beta1 = (float)c->hp.adam_beta1, .beta2 = (float)c->hp.adam_beta2,
                           .eps = (float)c->hp.adam_epsilon,
                           .weight_decay = (float)c->hp.weight_decay,
                           .max_grad_norm = (float)c->hp.max_grad_norm,
                           .checkpointing = c->hp.gradient_checkpointing};
}

/* The sampling policy of the rollouts: the engine over the current model. */
static void make_engine(run *r)
{
    const cfg_config *c = r->cfg;
    ep_engine_free(r->eng);
    ep_engine_opts eo = {.temperature = (float)c->hp.temperature, .top_k = c->hp.top_k,
                         .top_p = (float)c->hp.top_p, .seed = c->hp.seed};
    r->eng = ep_engine_new(r->m, r->tok, r->ec.chat, &eo);
    r->pol = ep_engine_policy(r->eng);
}

static int load_model(run *r, err_t *e)
{
    cfg_config *c = r->cfg;
    tf_load_opts lo = {.linear_bf16 = c->lora && c->dtype == CFG_DTYPE_BF16};
    r->m = tf_load(c->model_path, &lo, e);
    if (!r->m)
        return -1;
    if (!r->tok)
        r->tok = tok_load(c->model_path, e);
    if (!r->tok)
        return -1;
    if (c->lora) {
        tf_lora_opts l = c->lora_opts;
        l.targets = c->lora_targets ? c->lora_targets
                    : tf_config(r->m)->arch == HF_GPT2 ? "c_attn"
                                                      : "q_proj,v_proj";
        l.seed = c->hp.seed;
        if (tf_lora_attach(r->m, &l, e) != 0)
            return -1;
    } else if (c->hp.beta != 0) {
        /* full fine-tuning with a KL term: the reference is a frozen copy */
        r->ref = tf_load(c->model_path, NULL, e);
        if (!r->ref)
            return -1;
    }
    tf_train_opts to = trainer_opts(c);
    r->tr = tf_trainer_new(r->m, &to, e);
    if (!r->tr)
        return -1;
    ep_config_default(&r->ec);
    r->ec.chat = chat_detect(r->tok);
    if (strcmp(c->wire_format, "auto") == 0)
        r->ec.wire = ep_wire_default(r->ec.chat);
    else if (ep_wire_parse(c->wire_format, &r->ec.wire) != 0)
        return err_set(e, "wire_format %s is not known", c->wire_format);
    r->ec.max_steps = c->env_max_steps;
    r->ec.max_query_length = c->max_query_length;
    r->ec.max_turn_tokens = c->max_turn_tokens;
    r->ec.max_completion_tokens = c->hp.max_length;
    r->ec.max_prompt_tokens = c->hp.max_prompt_length;
    if (ep_config_check(&r->ec, e) != 0)
        return -1;
    if (r->o->policy)
        r->pol = *r->o->policy;
    else
        make_engine(r);
    return 0;
}

/* ---- one step ---- */

/* Item k of a run's order over n items: epoch k / n is a permutation
 * drawn from (seed, epoch), so a resumed run finds the same order. perm
 * [n] and *perm_epoch cache the current epoch's permutation. */
static size_t order_at(uint64_t seed, long k, size_t n, size_t *perm, long *perm_epoch)
{
    long epoch = k / (long)n;
    if (*perm_epoch != epoch) {
        rng_t g;
        rng_seed_stream(&g, seed, 1000003u + (uint64_t)epoch);
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(rng_next(&g) % i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        *perm_epoch = epoch;
    }
    return perm[k % (long)n];
}

static const env_task *task_at(run *r, long k, size_t *perm, long *perm_epoch)
{
    return r->tasks[order_at(r->cfg->hp.seed, k, r->ntasks, perm, perm_epoch)];
}

typedef struct step_out {
    double reward, loss;
    long tokens;
    json_t *metrics;
} step_out;

/* One batch of rollouts: P tasks x G episodes (task k's are k*G ..), their
 * rewards and group advantages, and the rows the engine trains on. */
typedef struct rollouts {
    int P, G, n;
    const env_task **et;  /* [P] */
    ep_episode *eps;      /* [n] */
    ep_run_stats rs;
    rl_reward_result rr;
    double *adv;          /* [n] */
    grpo_adv_stats ast;
    double generation_s, reward_s;
    /* rows: tokens [n, T], the loss mask, lengths */
    int T;
    int32_t *tokens;
    uint8_t *mask;
    int *lens;
} rollouts;

static void rollouts_free(rollouts *ro)
{
    for (int i = 0; ro->eps && i < ro->n; i++)
        ep_episode_free(&ro->eps[i]);
    free(ro->eps);
    rl_reward_result_free(&ro->rr);
    free(ro->adv);
    free(ro->tokens);
    free(ro->mask);
    free(ro->lens);
}

/* Samples G episodes of each of the P tasks et (the engine reseeded with
 * seed), with the tools of mcp; scores them with the configured rewards
 * (executing through x) and lays them out as rows. et is borrowed. */
static int rollout(run *r, env_mcp *mcp, env_executor *x, const env_task **et, int P, int G,
                   uint64_t seed, rollouts *ro, err_t *e)
{
    cfg_config *c = r->cfg;
    int n = P * G;
    *ro = (rollouts){.P = P, .G = G, .n = n, .et = et};
    double t0 = now_s();
    ep_task *tasks = xcalloc((size_t)P, sizeof *tasks);
    int rc = 0;
    for (int k = 0; k < P && rc == 0; k++) {
        const env_tools *tools;
        rc = env_mcp_tools(mcp, et[k]->db, &tools, e);
        tasks[k] = (ep_task){et[k]->instance_id, et[k]->question, et[k]->db,
                             c->enable_external_knowledge ? et[k]->knowledge : NULL, tools};
    }
    ro->eps = xcalloc((size_t)n, sizeof *ro->eps);
    if (rc == 0) {
        if (r->eng)
            ep_engine_reseed(r->eng, seed);
        rc = ep_run(&r->ec, r->tok, NULL, &r->pol, tasks, P, G, ro->eps, &ro->rs, e);
    }
    free(tasks);
    ro->generation_s = now_s() - t0 - ro->rs.tool_ms / 1e3;
    /* rewards and advantages */
    double t1 = now_s();
    ro->adv = xcalloc((size_t)n, sizeof *ro->adv);
    if (rc == 0) {
        rl_reward_task *rt = xcalloc((size_t)n, sizeof *rt);
        for (int i = 0; i < n; i++) {
            const env_task *t = et[i / G];
            rt[i] = (rl_reward_task){t->instance_id, NULL, t};
            if (t->url && str_starts(t->url, "sqlite:///"))
                rt[i].sqlite_path = t->url + strlen("sqlite://");
        }
        hook_ctx h = {r, x};
        rl_reward_env renv = {.exec = exec_hook, .exec_user = &h, .score = score_hook,
                              .score_user = &h};
        rc = rl_reward_batch(c->rewards, c->n_rewards, &renv, rt, ro->eps, n, &ro->rr, e);
        free(rt);
    }
    if (rc == 0)
        rc = grpo_advantages(ro->rr.total, n, G, c->hp.scale_rewards, ro->adv, &ro->ast, e);
    ro->reward_s = now_s() - t1;
    /* rows */
    int T = 2;
    for (int i = 0; i < n; i++)
        T = ro->eps[i].n_tokens > T ? ro->eps[i].n_tokens : T;
    ro->T = T;
    ro->tokens = xcalloc((size_t)n * T, sizeof *ro->tokens);
    ro->mask = xcalloc((size_t)n * T, 1);
    ro->lens = xcalloc((size_t)n, sizeof *ro->lens);
    for (int i = 0; i < n && rc == 0; i++) {
        ro->lens[i] = grpo_episode_row(&ro->eps[i], T, ro->tokens + (size_t)i * T,
                                       ro->mask + (size_t)i * T, NULL, e);
        rc = ro->lens[i] > 0 ? 0 : -1;
    }
    return rc;
}

/* Reference log-probabilities of rows [n, T]: the frozen copy, or (LoRA)
 * the model with its adapters off. */
static int ref_logprobs(run *r, const rollouts *ro, float *ref, err_t *e)
{
    if (r->ref)
        return tf_token_logprobs(r->ref, ro->tokens, ro->lens, ro->n, ro->T, NULL, ref, NULL, e);
    tf_lora_set_enabled(r->m, 0);
    int rc = tf_token_logprobs(r->m, ro->tokens, ro->lens, ro->n, ro->T, NULL, ref, NULL, e);
    tf_lora_set_enabled(r->m, 1);
    return rc;
}

static grpo_loss_opts loss_opts(const cfg_hparams *hp, int accum, long batch_tokens)
{
    return (grpo_loss_opts){.type = hp->loss_type, .epsilon_low = hp->epsilon,
                            .epsilon_high = hp->epsilon_high, .beta = hp->beta,
                            .max_completion_length = hp->max_length, .accum = accum,
                            .batch_tokens = batch_tokens};
}

/* The episodes of a DEBUG run's logs: logs/episodes.jsonl keeps, for each
 * logged step, the best and the worst episode of the batch (what the report
 * shows); at DEBUG level every episode is printed by ep_run. */
static void keep_examples(run *r, long step, const rollouts *ro)
{
    if (!r->examples)
        return;
    int best = 0, worst = 0;
    for (int i = 1; i < ro->n; i++) {
        best = ro->rr.total[i] > ro->rr.total[best] ? i : best;
        worst = ro->rr.total[i] < ro->rr.total[worst] ? i : worst;
    }
    int pick[2] = {best, worst};
    for (int k = 0; k < (best == worst ? 1 : 2); k++) {
        int i = pick[k];
        buf_t raw, text;
        buf_init(&raw);
        buf_init(&text);
        ep_format(&ro->eps[i], &raw);
        /* sampled bytes need not be UTF-8; JSON strings must be */
        utf8_append_lossy(&text, raw.data ? raw.data : "", raw.len);
        const env_task *t = ro->et[i / ro->G];
        json_t *j = json_pack("{sI,ss,ss,sf,ss}", "step", (json_int_t)step, "task", t->instance_id,
                              "question", t->question ? t->question : "", "reward",
                              ro->rr.total[i], "text", text.data ? text.data : "");
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (line) {
            fprintf(r->examples, "%s\n", line);
            fflush(r->examples);
        }
        free(line);
        json_decref(j);
        buf_free(&raw);
        buf_free(&text);
    }
}

/* The loss callback of one row of a micro-batch trained on its own. */
typedef struct row_shim {
    grpo_mb *mb;
    int row;
} row_shim;

static void row_loss_cb(void *user, int n, const int *b, const int *t, const float *logp,
                        const float *ent, float *dlogp, float *dent)
{
    row_shim *sh = user;
    int *rows = xmalloc(sizeof *rows * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        rows[i] = sh->row + b[i];
    grpo_loss_cb(sh->mb, n, rows, t, logp, ent, dlogp, dent);
    free(rows);
}

static int grpo_step(run *r, long step, size_t *perm, long *perm_epoch, int log_step, step_out *so,
                     err_t *e)
{
    cfg_config *c = r->cfg;
    const cfg_hparams *hp = &c->hp;
    int G = r->G, P = r->per_step, n = P * G;
    rl_time_split ts = {0};
    const env_task **et = xcalloc((size_t)P, sizeof *et);
    for (int k = 0; k < P; k++)
        et[k] = task_at(r, step * P + k, perm, perm_epoch);
    rollouts ro;
    int rc = rollout(r, r->mcp, &r->x, et, P, G, hp->seed * 1000003u + (uint64_t)step, &ro, e);
    ts.generation_s = ro.generation_s;
    ts.tool_calls_s = ro.rs.tool_ms / 1e3;
    ts.generation_tokens = ro.rs.model_tokens;
    ts.reward_s = ro.reward_s;
    if (rc == 0 && log_step)
        keep_examples(r, step + hp->num_iterations, &ro);
    /* old and reference log-probabilities */
    double t_upd = now_s();
    int T = ro.T;
    float *old = NULL, *ref = NULL;
    /* With one pass over the rollouts the update's policy is the one that
     * sampled them: TRL then takes the current log-probabilities, detached,
     * as the old ones (ratio 1) and computes nothing more; with several
     * passes it computes them with the model before the first (the
     * sampler's differ under temperature, top-k, top-p): so do we. */
    int recompute_old = hp->num_iterations > 1;
    if (rc == 0 && recompute_old) {
        old = xcalloc((size_t)n * T, sizeof(float));
        rc = tf_token_logprobs(r->m, ro.tokens, ro.lens, n, T, NULL, old, NULL, e);
    }
    if (rc == 0 && hp->beta != 0) {
        ref = xcalloc((size_t)n * T, sizeof(float));
        rc = ref_logprobs(r, &ro, ref, e);
    }
    /* the update: num_iterations passes, each gradient_accumulation_steps
     * micro-batches of batch_size episodes, then one AdamW step */
    int mbsz = hp->batch_size;
    grpo_loss_opts lo = loss_opts(hp, hp->gradient_accumulation_steps,
                                  grpo_mask_tokens(ro.mask, n, T));
    double loss = 0, kl = 0, ent = 0, clo = 0, chi = 0, creg = 0, gnorm = 0;
    int nmb = 0;
    float lr = 0;
    for (int it = 0; it < hp->num_iterations && rc == 0; it++) {
        for (int b0 = 0; b0 < n && rc == 0; b0 += mbsz) {
            int B = n - b0 < mbsz ? n - b0 : mbsz;
            /* rows of this micro-batch are padded to its own longest */
            int Tb = 2;
            for (int b = 0; b < B; b++)
                Tb = ro.lens[b0 + b] > Tb ? ro.lens[b0 + b] : Tb;
            int32_t *tok = xcalloc((size_t)B * Tb, sizeof *tok);
            uint8_t *mask = xcalloc((size_t)B * Tb, 1);
            float *old_b = old ? xcalloc((size_t)B * Tb, sizeof(float)) : NULL;
            float *ref_b = ref ? xcalloc((size_t)B * Tb, sizeof(float)) : NULL;
            for (int b = 0; b < B; b++) {
                size_t src = (size_t)(b0 + b) * T, dst = (size_t)b * Tb;
                memcpy(tok + dst, ro.tokens + src, sizeof *tok * (size_t)Tb);
                memcpy(mask + dst, ro.mask + src, (size_t)Tb);
                if (old_b)
                    memcpy(old_b + dst, old + src, sizeof(float) * (size_t)Tb);
                if (ref_b)
                    memcpy(ref_b + dst, ref + src, sizeof(float) * (size_t)Tb);
            }
            grpo_mb mb = {.o = &lo, .B = B, .T = Tb, .mask = mask, .old_logp = old_b,
                          .ref_logp = ref_b, .adv = ro.adv + b0};
            rc = grpo_mb_begin(&mb, e);
            /* one sequence at a time: the engine computes every position of
             * a [B, T] batch, so rows of different lengths together would
             * pay for their padding; the gradients add up the same */
            for (int b = 0; b < B && rc == 0; b++) {
                row_shim sh = {&mb, b};
                rc = tf_train_fb(r->tr, tok + (size_t)b * Tb, ro.lens + b0 + b, 1,
                                 ro.lens[b0 + b], NULL, row_loss_cb, &sh, NULL, NULL, e);
            }
            grpo_mb_end(&mb);
            free(tok);
            free(mask);
            free(old_b);
            free(ref_b);
            loss += mb.m.loss;
            kl += mb.m.kl;
            ent += mb.m.entropy;
            clo += mb.m.clip_low;
            chi += mb.m.clip_high;
            creg += mb.m.clip_region;
            nmb++;
            for (int b = 0; b < B; b++)
                ts.update_tokens += ro.lens[b0 + b];
        }
        if (rc == 0) {
            lr = tf_sched_lr(&r->sched, r->st.global_step);
            rc = tf_trainer_step(r->tr, lr, &gnorm, e);
        }
    }
    ts.update_s = now_s() - t_upd;
    if (rc == 0) {
        double k = nmb ? 1.0 / nmb : 0;
        json_t *mv = json_object();
        json_object_set_new(mv, "loss", json_real(loss / hp->num_iterations));
        json_object_set_new(mv, "reward", json_real(ro.ast.reward));
        json_object_set_new(mv, "reward_std", json_real(ro.ast.reward_std));
        json_object_set_new(mv, "frac_reward_zero_std", json_real(ro.ast.frac_reward_zero_std));
        rl_reward_metrics(c->rewards, c->n_rewards, &ro.rr, mv);
        rl_episode_metrics(ro.eps, n, mv);
        json_object_set_new(mv, "kl", json_real(kl * k));
        json_object_set_new(mv, "entropy", json_real(ent * k));
        json_object_set_new(mv, "clip_ratio/low_mean", json_real(clo * k));
        json_object_set_new(mv, "clip_ratio/high_mean", json_real(chi * k));
        json_object_set_new(mv, "clip_ratio/region_mean", json_real(creg * k));
        json_object_set_new(mv, "grad_norm", json_real(gnorm));
        json_object_set_new(mv, "learning_rate", json_real(lr));
        rl_time_metrics(&ts, mv);
        so->metrics = mv;
        so->reward = ro.ast.reward;
        so->loss = loss / hp->num_iterations;
        for (int i = 0; i < n; i++)
            so->tokens += ro.eps[i].n_tokens;
    }
    free(old);
    free(ref);
    rollouts_free(&ro);
    free(et);
    return rc;
}

/* TRL's evaluation loss: the GRPO loss of eval.num_generations episodes of
 * each evaluation task, sampled as in training, computed with the current
 * policy and no update (old = current, so the ratio is 1). *loss and
 * *reward (the mean reward) out. */
static int grpo_eval_loss(run *r, env_mcp *mcp, env_executor *x, const env_task **et, int P,
                          double *loss, double *reward, err_t *e)
{
    const cfg_hparams *hp = &r->cfg->hp;
    int G = r->cfg->eval_num_generations;
    rollouts ro;
    int rc = rollout(r, mcp, x, et, P, G, hp->seed * 1000003u + 0x5eedu + (uint64_t)r->st.global_step,
                     &ro, e);
    int n = ro.n, T = ro.T;
    float *logp = rc == 0 ? xcalloc((size_t)n * T, sizeof(float)) : NULL;
    float *ref = rc == 0 && hp->beta != 0 ? xcalloc((size_t)n * T, sizeof(float)) : NULL;
    if (rc == 0)
        rc = tf_token_logprobs(r->m, ro.tokens, ro.lens, n, T, NULL, logp, NULL, e);
    if (rc == 0 && ref)
        rc = ref_logprobs(r, &ro, ref, e);
    if (rc == 0) {
        grpo_loss_opts lo = loss_opts(hp, 1, grpo_mask_tokens(ro.mask, n, T));
        grpo_mb mb = {.o = &lo, .B = n, .T = T, .mask = ro.mask, .ref_logp = ref, .adv = ro.adv};
        rc = grpo_mb_eval(&mb, logp, NULL, NULL, e); /* begins and ends the micro-batch */
        *loss = mb.m.loss;
        *reward = ro.ast.reward;
    }
    free(logp);
    free(ref);
    rollouts_free(&ro);
    return rc;
}

/* ---- supervised fine-tuning ---- */

/* One conversation {"messages": [{role, content}...]} rendered in the
 * model's chat format and tokenised once; the assistant's tokens (its
 * replies and their end-of-turn markers, as chat_render writes them) are
 * found by rendering each prefix: a reply spans from the end of the text
 * before it (with the generation prompt) to the end of the text with it. */
static int sft_example(run *r, const json_t *msgs, const char *where, int32_t **tok,
                       uint8_t **mask, int *len, err_t *e)
{
    size_t n = json_array_size(msgs);
    if (!json_is_array(msgs) || n == 0)
        return err_set(e, "%s: \"messages\" must be a non-empty list", where);
    chat_msg *m = xcalloc(n, sizeof *m);
    int rc = 0, any = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *o = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(o, "role"));
        const char *content = json_string_value(json_object_get(o, "content"));
        if (!role || !content)
            rc = err_set(e, "%s: messages[%zu] needs string \"role\" and \"content\"", where, i);
        else if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
                 strcmp(role, "tool"))
            rc = err_set(e, "%s: messages[%zu]: role \"%s\" is not system, user, assistant or tool",
                         where, i, role);
        m[i] = (chat_msg){role, content};
        any |= rc == 0 && !strcmp(role, "assistant");
    }
    if (rc == 0 && !any)
        rc = err_set(e, "%s: no assistant message to learn", where);
    buf_t full, part;
    buf_init(&full);
    buf_init(&part);
    if (rc == 0)
        chat_render(r->ec.chat, r->tok, m, n, 0, &full);
    /* byte spans of the assistant's replies in the full text */
    size_t *lo = xcalloc(n, sizeof *lo), *hi = xcalloc(n, sizeof *hi);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(m[i].role, "assistant"))
            continue;
        buf_reset(&part);
        chat_render(r->ec.chat, r->tok, m, i, 1, &part);
        lo[i] = part.len;
        buf_reset(&part);
        chat_render(r->ec.chat, r->tok, m, i + 1, 0, &part);
        hi[i] = part.len;
        if (part.len > full.len || memcmp(part.data, full.data, part.len) != 0 || lo[i] > hi[i])
            rc = err_set(e, "%s: the chat format does not render this conversation turn by turn",
                         where);
    }
    int32_t *ids = NULL;
    size_t nid = 0;
    if (rc == 0)
        rc = tok_encode(r->tok, full.data, full.len, 1, &ids, &nid, e);
    if (rc == 0 && (nid < 2 || (r->cfg->hp.max_length > 0 &&
                                (int)nid > r->cfg->hp.max_prompt_length + r->cfg->hp.max_length)))
        rc = err_set(e, "%s: %zu tokens; the budget is max_prompt_length + max_length = %d", where,
                     nid, r->cfg->hp.max_prompt_length + r->cfg->hp.max_length);
    if (rc == 0) {
        /* token k covers bytes [at, at + its length) of the text */
        uint8_t *is_asst = xcalloc(nid, 1);
        buf_t bytes;
        buf_init(&bytes);
        size_t at = 0;
        for (size_t k = 0; k < nid; k++) {
            buf_reset(&bytes);
            tok_token_bytes(r->tok, ids[k], &bytes);
            for (size_t i = 0; i < n; i++)
                if (hi[i] > lo[i] && at >= lo[i] && at + bytes.len <= hi[i])
                    is_asst[k] = 1;
            at += bytes.len;
        }
        buf_free(&bytes);
        *mask = xcalloc(nid, 1);
        for (size_t k = 0; k + 1 < nid; k++)
            (*mask)[k] = is_asst[k + 1];
        free(is_asst);
        *tok = ids;
        *len = (int)nid;
        ids = NULL;
    }
    free(ids);
    free(lo);
    free(hi);
    buf_free(&full);
    buf_free(&part);
    free(m);
    return rc;
}

typedef struct sft_ctx {
    run *r;
    sft_set *set;
    size_t cap;
} sft_ctx;

static int sft_line(json_t *j, const char *where, int line, void *ctx, err_t *e)
{
    sft_ctx *c = ctx;
    sft_set *set = c->set;
    if (set->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        set->tok = xrealloc(set->tok, c->cap * sizeof *set->tok);
        set->mask = xrealloc(set->mask, c->cap * sizeof *set->mask);
        set->len = xrealloc(set->len, c->cap * sizeof *set->len);
    }
    int rc = sft_example(c->r, json_object_get(j, "messages"), where, &set->tok[set->n],
                         &set->mask[set->n], &set->len[set->n], e);
    if (rc == 0)
        set->n++;
    return rc;
}

static int sft_load(run *r, const char *path, sft_set *set, err_t *e)
{
    sft_ctx c = {r, set, 0};
    int rc = env_jsonl_each(path, sft_line, &c, e);
    if (rc == 0 && set->n == 0)
        rc = err_set(e, "%s: no conversations", path);
    return rc;
}

/* Rows of conversations idx [B] of a set, padded to the longest. */
typedef struct sft_rows {
    int B, T;
    int32_t *tok;
    uint8_t *mask;
    int *lens;
    long tokens;
} sft_rows;

static void sft_rows_make(const sft_set *set, const size_t *idx, int B, sft_rows *o)
{
    int T = 2;
    for (int b = 0; b < B; b++)
        T = set->len[idx[b]] > T ? set->len[idx[b]] : T;
    *o = (sft_rows){.B = B, .T = T, .tok = xcalloc((size_t)B * T, sizeof(int32_t)),
                    .mask = xcalloc((size_t)B * T, 1), .lens = xcalloc((size_t)B, sizeof(int))};
    for (int b = 0; b < B; b++) {
        size_t i = idx[b];
        memcpy(o->tok + (size_t)b * T, set->tok[i], sizeof(int32_t) * (size_t)set->len[i]);
        memcpy(o->mask + (size_t)b * T, set->mask[i], (size_t)set->len[i]);
        o->lens[b] = set->len[i];
        o->tokens += set->len[i];
    }
}

static void sft_rows_free(sft_rows *o)
{
    free(o->tok);
    free(o->mask);
    free(o->lens);
}

/* One optimizer step: gradient_accumulation_steps micro-batches of
 * batch_size conversations, the mean negative log-likelihood of the
 * assistant's tokens. */
static int sft_step(run *r, long step, size_t *perm, long *perm_epoch, step_out *so, err_t *e)
{
    const cfg_hparams *hp = &r->cfg->hp;
    int B = hp->batch_size, accum = hp->gradient_accumulation_steps;
    double t0 = now_s(), loss = 0, gnorm = 0;
    long tokens = 0;
    int rc = 0;
    size_t *idx = xcalloc((size_t)B, sizeof *idx);
    for (int a = 0; a < accum && rc == 0; a++) {
        for (int b = 0; b < B; b++)
            idx[b] = order_at(hp->seed, (step * accum + a) * B + b, r->sft.n, perm, perm_epoch);
        sft_rows rows;
        sft_rows_make(&r->sft, idx, B, &rows);
        float *w = xcalloc((size_t)B * rows.T, sizeof *w);
        grpo_sft_weights(rows.mask, B, rows.T, accum, w);
        double l = 0;
        rc = tf_train_weighted(r->tr, rows.tok, rows.lens, B, rows.T, NULL, w, &l, e);
        loss += l;
        tokens += rows.tokens;
        free(w);
        sft_rows_free(&rows);
    }
    free(idx);
    float lr = tf_sched_lr(&r->sched, r->st.global_step);
    if (rc == 0)
        rc = tf_trainer_step(r->tr, lr, &gnorm, e);
    if (rc == 0) {
        double dt = now_s() - t0;
        json_t *mv = json_object();
        json_object_set_new(mv, "loss", json_real(loss));
        json_object_set_new(mv, "grad_norm", json_real(gnorm));
        json_object_set_new(mv, "learning_rate", json_real(lr));
        json_object_set_new(mv, "time/update_s", json_real(dt));
        json_object_set_new(mv, "time/update_tokens_per_s", json_real(dt > 0 ? tokens / dt : 0));
        so->metrics = mv;
        so->loss = loss;
        so->tokens = tokens;
    }
    return rc;
}

/* SFT's evaluation loss: the mean negative log-likelihood of the assistant's
 * tokens over every held-out conversation (batch_size at a time). */
static int sft_eval_loss(run *r, double *loss, err_t *e)
{
    const sft_set *set = &r->sft_eval;
    int B = r->cfg->hp.batch_size, rc = 0;
    double nll = 0;
    long count = 0;
    size_t *idx = xcalloc((size_t)B, sizeof *idx);
    for (size_t i0 = 0; i0 < set->n && rc == 0; i0 += (size_t)B) {
        int nb = set->n - i0 < (size_t)B ? (int)(set->n - i0) : B;
        for (int b = 0; b < nb; b++)
            idx[b] = i0 + (size_t)b;
        sft_rows rows;
        sft_rows_make(set, idx, nb, &rows);
        float *logp = xcalloc((size_t)nb * rows.T, sizeof *logp);
        rc = tf_token_logprobs(r->m, rows.tok, rows.lens, nb, rows.T, NULL, logp, NULL, e);
        for (size_t k = 0; rc == 0 && k < (size_t)nb * rows.T; k++)
            if (rows.mask[k]) {
                nll -= logp[k];
                count++;
            }
        free(logp);
        sft_rows_free(&rows);
    }
    free(idx);
    *loss = count ? nll / (double)count : 0;
    return rc;
}

/* ---- periodic evaluation ---- */

typedef struct eval_out {
    int has_acc, has_loss, has_reward;
    double acc, loss, reward;
} eval_out;

/* The evaluation of the current policy (nothing is trained; adapters stay
 * on). With evaluation tasks (eval.data_path, or the training tasks): the
 * policy as an agent, one episode per task at eval.temperature (greedy by
 * default), scored by Spider's rule, submission and report in
 * RUN/eval/step-N (eval_accuracy); for GRPO also TRL's eval_loss and the
 * mean reward of eval.num_generations sampled episodes per task. For SFT
 * with eval.conversations: eval_loss on them. */
static int evaluate(run *r, eval_out *out, err_t *e)
{
    cfg_config *c = r->cfg;
    *out = (eval_out){0};
    int rc = 0;
    if (r->sft_eval.n > 0) {
        rc = sft_eval_loss(r, &out->loss, e);
        out->has_loss = rc == 0;
    }
    if (rc != 0 || !c->eval_data_path || !r->have_ts)
        return rc;
    env_tasks ets, *ts = &r->ts;
    env_mcp *mcp = r->mcp;
    int own = 0;
    if (strcmp(c->eval_data_path, r->ts.path) != 0) {
        char *base = dir_of(c->eval_data_path);
        buf_t dbs;
        buf_init(&dbs);
        if (c->database_dir)
            buf_puts(&dbs, c->database_dir);
        else
            buf_printf(&dbs, "%s/databases", base);
        env_task_opts to = {.sqlite_dir = dbs.data};
        rc = env_tasks_load(c->eval_data_path, &to, &ets, e);
        buf_free(&dbs);
        free(base);
        if (rc != 0)
            return -1;
        ts = &ets;
        /* the same servers as training: the user's, or the built-in ones */
        json_t *conf = user_servers(c);
        env_mcp_opts mo = {.command = r->o->mcp_command, .query_timeout_ms = 30000,
                           .config = conf,
                           .where = r->o->config_path ? r->o->config_path : "the configuration"};
        mcp = env_mcp_new(ts, &mo, e);
        json_decref(conf);
        own = 1;
        if (!mcp) {
            env_tasks_free(&ets);
            return -1;
        }
    }
    env_executor x;
    env_mcp_executor(mcp, &x);
    ep_engine_opts eo = {.temperature = (float)c->eval_temperature, .seed = c->hp.seed};
    ep_engine *eng = ep_engine_new(r->m, r->tok, r->ec.chat, &eo);
    ep_policy pol = ep_engine_policy(eng);
    buf_t dir;
    buf_init(&dir);
    buf_printf(&dir, "%s/eval/step-%ld", r->run_dir, r->st.global_step);
    env_agent ag = {.ep = &r->ec, .tok = r->tok, .policy = r->o->policy ? r->o->policy : &pol,
                    .mcp = mcp, .batch = 8, .model = c->model_path};
    size_t limit = c->eval_max_tasks > 0 ? (size_t)c->eval_max_tasks : 0;
    env_eval_opts eopt = {.out_dir = dir.data, .mode = ENV_SCORE_OFFICIAL, .max_rows = 100000,
                          .timeout_ms = 30000, .limit = limit};
    json_t *rep = r->have_gold ? env_eval_agent(ts, &r->gold, &x, &ag, &eopt, e) : NULL;
    if (!r->have_gold)
        rc = err_set(e, "evaluation needs the gold results: set "
                        "environment.env_specific_config.gold_dir");
    else if (!rep)
        rc = -1;
    else {
        out->acc = json_number_value(json_object_get(rep, "accuracy"));
        out->has_acc = 1;
    }
    json_decref(rep);
    buf_free(&dir);
    ep_engine_free(eng);
    if (rc == 0 && c->algo == CFG_ALGO_GRPO && c->eval_loss_tasks != 0) {
        size_t n;
        const env_task **et = runnable_tasks(
            r, ts, c->eval_loss_tasks > 0 ? (size_t)c->eval_loss_tasks : limit, &n);
        if (n > 0) {
            rc = grpo_eval_loss(r, mcp, &x, et, (int)n, &out->loss, &out->reward, e);
            out->has_loss = out->has_reward = rc == 0;
        }
        free(et);
    }
    if (x.close)
        x.close(x.ctx);
    if (own) {
        env_mcp_free(mcp);
        env_tasks_free(&ets);
    }
    return rc;
}

/* Evaluates and puts eval_accuracy, eval_loss, eval_reward and time/eval_s
 * into metrics; NULL metrics (the evaluation before the first step): they
 * are logged as step 0 on their own. */
static int evaluate_logged(run *r, json_t *metrics, err_t *e)
{
    double te = now_s();
    eval_out ev;
    if (evaluate(r, &ev, e) != 0)
        return -1;
    json_t *mv = metrics ? metrics : json_object();
    if (ev.has_acc)
        json_object_set_new(mv, "eval_accuracy", json_real(ev.acc));
    if (ev.has_loss)
        json_object_set_new(mv, "eval_loss", json_real(ev.loss));
    if (ev.has_reward)
        json_object_set_new(mv, "eval_reward", json_real(ev.reward));
    json_object_set_new(mv, "time/eval_s", json_real(now_s() - te));
    /* the best checkpoint: highest accuracy, or lowest loss without tasks */
    if (metrics && ev.has_acc)
        rl_state_update_best(&r->st, ev.acc, 1, NULL);
    else if (metrics && ev.has_loss)
        rl_state_update_best(&r->st, ev.loss, 0, NULL);
    int rc = 0;
    if (!metrics) {
        rc = rl_metrics_log(r->met, 0, 0, mv, e);
        if (rc == 0 && !r->o->quiet) {
            buf_t b;
            buf_init(&b);
            if (ev.has_acc)
                buf_printf(&b, " eval accuracy %.4g", ev.acc);
            if (ev.has_loss)
                buf_printf(&b, " eval loss %.4g", ev.loss);
            log_info("before training:%s", b.data ? b.data : " nothing to evaluate");
            buf_free(&b);
        }
        json_decref(mv);
    }
    return rc;
}

/* ---- the run ---- */

static void run_free(run *r)
{
    rl_metrics_close(r->met);
    rl_state_free(&r->st);
    ep_engine_free(r->eng);
    tf_trainer_free(r->tr);
    tf_free(r->m);
    tf_free(r->ref);
    tok_free(r->tok);
    env_mcp_free(r->mcp);
    if (r->have_gold)
        env_gold_close(&r->gold);
    if (r->have_ts)
        env_tasks_free(&r->ts);
    free(r->tasks);
    free(r->run_dir);
    sft_set_free(&r->sft);
    sft_set_free(&r->sft_eval);
    if (r->examples)
        fclose(r->examples);
}

/* logs/episodes.jsonl (keep_examples), appended to; a resumed run drops
 * what came after its checkpoint. */
static int open_examples(run *r, const char *logs, long resume_step, err_t *e)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/episodes.jsonl", logs);
    int rc = resume_step >= 0 ? rl_jsonl_keep_steps(p.data, resume_step, e) : 0;
    if (rc == 0) {
        r->examples = fopen(p.data, resume_step >= 0 ? "a" : "w");
        if (!r->examples)
            rc = err_set(e, "%s: %s", p.data, strerror(errno));
    }
    buf_free(&p);
    return rc;
}

static int save(run *r, char **dir, err_t *e)
{
    /* what the loop itself must carry over a resume */
    if (!r->st.extra)
        r->st.extra = json_object();
    json_object_set_new(r->st.extra, "num_tokens", json_integer(r->num_tokens));
    rl_ckpt_save_opts so = {.run_dir = r->run_dir, .step = r->st.global_step, .model = r->m,
                            .model_dir = r->cfg->model_path, .trainer = r->tr,
                            .sched = &r->sched, .state = &r->st,
                            .save_total_limit = r->cfg->hp.save_total_limit};
    return rl_ckpt_save(&so, dir, e);
}

int rl_train(cfg_config *c, const rl_train_opts *o, err_t *e)
{
    run r = {.cfg = c, .o = o};
    rl_state_init(&r.st);
    for (size_t i = 0; i < c->warnings.len; i++)
        log_warn("%s", c->warnings.items[i]);
    int rc = cfg_check_model(c, e);
    if (rc == 0) {
        /* a model directory: its config.json and tokenizer load (the
         * weights are read when the run starts) */
        hf_config hc;
        rc = hf_config_load(&hc, c->model_path, e);
        tok_t *t = rc == 0 ? tok_load(c->model_path, e) : NULL;
        rc = rc == 0 && !t ? -1 : rc;
        tok_free(t);
    }
    /* tasks and their servers: GRPO's rollouts, or an SFT run's evaluation */
    int sft = c->algo == CFG_ALGO_SFT;
    int need_tasks = !sft || (c->hp.eval_steps > 0 && (c->eval_data_path || c->data_path));
    if (rc == 0 && sft && c->hp.eval_steps > 0 && !need_tasks && !c->eval_conversations)
        rc = err_set(e, "algorithm.hyperparameters.eval_steps: an SFT run evaluates on tasks "
                        "(eval.data_path) or on conversations (eval.conversations); it has neither");
    if (rc == 0 && need_tasks)
        rc = load_data(&r, e);
    if (rc == 0 && need_tasks)
        rc = start_servers(&r, e);
    int ndb = 0;
    if (rc == 0 && need_tasks)
        rc = check_servers(&r, &ndb, e);
    if (rc == 0 && sft) {
        /* the conversations need the tokenizer and the chat format */
        r.tok = tok_load(c->model_path, e);
        rc = r.tok ? 0 : -1;
        if (rc == 0) {
            r.ec.chat = chat_detect(r.tok);
            if (!c->prompt_source)
                rc = err_set(e, "algorithm.name \"sft\" needs prompt_source: a JSON-lines file of "
                                "{\"messages\": [...]} conversations");
            else
                rc = sft_load(&r, c->prompt_source, &r.sft, e);
            if (rc == 0 && c->eval_conversations)
                rc = sft_load(&r, c->eval_conversations, &r.sft_eval, e);
        }
    }
    r.G = c->hp.num_generations;
    r.per_step = sft ? c->hp.batch_size * c->hp.gradient_accumulation_steps
                     : cfg_prompts_per_step(c);
    size_t units = sft ? r.sft.n : r.ntasks;
    r.total = c->hp.max_steps > 0
                  ? c->hp.max_steps
                  : (long)ceil(c->hp.num_train_epochs * (double)units / r.per_step);
    if (rc == 0 && o->dry_run) {
        json_t *j = cfg_to_json(c);
        char *text = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(j);
        if (sft)
            fprintf(stderr, "dry run: model %s; %zu conversations; %ld steps of %d\n",
                    c->model_path, r.sft.n, r.total, r.per_step);
        else
            fprintf(stderr,
                    "dry run: model %s; %zu tasks runnable (of %zu), %d databases, their MCP "
                    "servers answer with tools; %ld steps of %d prompts x %d generations\n",
                    c->model_path, r.ntasks, r.ts.n, ndb, r.total, r.per_step, r.G);
        run_free(&r);
        return 0;
    }
    if (rc == 0)
        rc = load_model(&r, e);
    /* the run folder, the resolved configuration, the logs */
    if (rc == 0) {
        buf_t p;
        buf_init(&p);
        if (c->output_dir)
            buf_puts(&p, c->output_dir);
        else
            buf_printf(&p, "trainer_output/spider2-%s", c->spider2_type);
        r.run_dir = buf_take(&p);
        buf_init(&p);
        buf_printf(&p, "%s/resolved_config.json", r.run_dir);
        rc = dir_make(r.run_dir, e);
        if (rc == 0)
            rc = cfg_write_resolved(c, p.data, e);
        buf_free(&p);
    }
    int warm = c->hp.warmup_steps > 0 ? c->hp.warmup_steps
                                      : (int)ceil(c->hp.warmup_ratio * (double)r.total);
    r.sched = (tf_sched){c->hp.lr_scheduler, (float)c->hp.learning_rate, warm, (int)r.total};
    long resume_step = -1;
    if (rc == 0 && o->resume) {
        char *ck = NULL;
        rc = rl_ckpt_resolve(o->resume, &ck, e);
        if (rc == 0) {
            rl_state_free(&r.st); /* rl_ckpt_load initialises it afresh */
            rc = rl_ckpt_load(ck, &r.st, &r.sched, NULL, 0, e);
        }
        if (rc == 0) {
            /* weights: the adapter, or the whole model */
            if (c->lora) {
                tf_trainer_free(r.tr);
                tf_free(r.m);
                tf_load_opts lo = {.linear_bf16 = c->dtype == CFG_DTYPE_BF16};
                r.m = tf_load(c->model_path, &lo, e);
                rc = r.m ? tf_lora_load(r.m, ck, e) : -1;
            } else {
                tf_trainer_free(r.tr);
                tf_free(r.m);
                r.m = tf_load(ck, NULL, e);
                rc = r.m ? 0 : -1;
            }
            if (rc == 0) {
                tf_train_opts to = trainer_opts(c);
                r.tr = tf_trainer_new(r.m, &to, e);
                rc = r.tr ? rl_ckpt_load_optimizer(r.tr, ck, e) : -1;
            }
            if (rc == 0 && r.eng)
                make_engine(&r); /* over the reloaded model */
            resume_step = r.st.global_step;
            r.num_tokens = (long)json_integer_value(json_object_get(r.st.extra, "num_tokens"));
            if (rc == 0)
                log_info("resuming from %s (step %ld)", ck, resume_step);
        }
        free(ck);
    }
    if (rc == 0) {
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/logs", r.run_dir);
        r.met = rl_metrics_open(p.data, resume_step, e);
        rc = r.met ? 0 : -1;
        if (rc == 0 && !sft)
            rc = open_examples(&r, p.data, resume_step, e);
        buf_free(&p);
    }
    r.st.max_steps = r.total;
    r.st.train_batch_size = c->hp.batch_size;
    r.st.save_steps = c->hp.save_steps;
    r.st.logging_steps = c->hp.logging_steps;
    r.st.eval_steps = c->hp.eval_steps;
    r.t0 = now_s();
    size_t *perm = xmalloc(sizeof *perm * (units ? units : 1));
    long perm_epoch = -1;
    long start = r.st.global_step;
    if (rc == 0 && c->hp.eval_on_start && c->hp.eval_steps > 0 && start == 0)
        rc = evaluate_logged(&r, NULL, e);
    while (rc == 0 && r.st.global_step < r.total &&
           (o->stop_after <= 0 || r.st.global_step - start < o->stop_after)) {
        long step = r.st.global_step; /* optimizer steps taken; rollout batch `step` */
        long next = step + (sft ? 1 : c->hp.num_iterations);
        int log_step = next % c->hp.logging_steps == 0 || next >= r.total ||
                       next == start + (sft ? 1 : c->hp.num_iterations);
        step_out so = {0};
        rc = sft ? sft_step(&r, step, perm, &perm_epoch, &so, e)
                 : grpo_step(&r, step, perm, &perm_epoch, log_step, &so, e);
        if (rc != 0)
            break;
        r.st.global_step = next;
        r.st.epoch = (double)r.st.global_step * r.per_step / (double)units;
        r.num_tokens += so.tokens;
        json_object_set_new(so.metrics, "num_tokens", json_integer(r.num_tokens));
        if (c->hp.eval_steps > 0 &&
            (r.st.global_step % c->hp.eval_steps == 0 || r.st.global_step >= r.total)) {
            rc = evaluate_logged(&r, so.metrics, e);
            if (rc != 0) {
                json_decref(so.metrics);
                break;
            }
        }
        if (log_step) {
            rc = rl_metrics_log(r.met, r.st.global_step, r.st.epoch, so.metrics, e);
            rl_state_log(&r.st, so.metrics);
        }
        if (!o->quiet) {
            buf_t line;
            buf_init(&line);
            rl_progress line_of = {r.st.global_step, r.total, r.st.global_step - start,
                                   now_s() - r.t0, so.metrics};
            rl_progress_line(&line, &line_of);
            /* one line rewritten in place on a terminal, one per step otherwise */
            fprintf(stderr, isatty(2) ? "\r\033[K%s" : "%s\n", line.data);
            buf_free(&line);
        }
        json_decref(so.metrics);
        if (rc == 0 && (r.st.global_step % c->hp.save_steps == 0 || r.st.global_step >= r.total)) {
            char *dir = NULL;
            rc = save(&r, &dir, e);
            free(dir);
        }
    }
    if (!o->quiet && r.st.global_step > start && isatty(2))
        fprintf(stderr, "\n");
    free(perm);
    if (rc == 0)
        log_info("trained %ld steps; run folder %s", r.st.global_step, r.run_dir);
    run_free(&r);
    return rc;
}
