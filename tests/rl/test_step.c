/* One GRPO step assembled from the rl pieces on the small `chat` fixture
 * model with LoRA: scripted episodes (one good answer after a tool call,
 * one wrong answer, one good answer after a failed call, one with no
 * action) -> rewards -> group advantages -> rows -> reference
 * log-probabilities with the adapter switched off -> the loss through the
 * engine's callback -> AdamW. The step must lower the GRPO loss on the
 * same batch, move the policy away from the reference (kl > 0), and the
 * metrics and the checkpoint must come out and load back. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rl/rl.h"
#include "../test.h"

static int tool_call(void *user, const char *name, json_t *args, buf_t *text, int *is_error, err_t *e)
{
    const char *q = json_string_value(json_object_get(args, "query"));
    *is_error = !q || strstr(q, "nosuch") != NULL;
    buf_puts(text, *is_error ? "Error: no such table: nosuch" : "name\napple");
    return 0;
}

static int score(void *user, const rl_reward_task *task, const char *sql, const json_t *params,
                 double *s, err_t *e)
{
    *s = strcmp(sql, "SELECT name FROM t") == 0;
    return 0;
}

TEST(grpo_step_assembled_from_the_pieces)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    err_t e;
    tok_t *tok = tok_load(dir, &e);
    CHECK_MSG(tok, "%s", e.msg);
    tf_model *m = tf_load(dir, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);

    /* the configuration the loop would read */
    char cfgtext[16384], run[4400];
    snprintf(run, sizeof run, "%s/step/trainer_output/spider2-lite", test_tmpdir());
    snprintf(cfgtext, sizeof cfgtext,
             "{\"model\": {\"name_or_path\": \"%s\", \"peft_config\": {\"r\": 4, \"lora_alpha\": 8, "
             "\"target_modules\": [\"q_proj\", \"v_proj\"]}},"
             " \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": {\"learning_rate\": 0.01, "
             "\"batch_size\": 4, \"beta\": 0.04, \"max_length\": 200, \"save_total_limit\": 1}},"
             " \"reward_setup\": {\"rollout_reward_configs\": {\"execution_accuracy\": {\"weight\": 1.0},"
             " \"format\": {\"weight\": 0.2}}}, \"output_dir\": \"%s\"}",
             dir, run);
    cfg_config cfg;
    CHECK_MSG(cfg_parse(&cfg, cfgtext, strlen(cfgtext), NULL, &e) == 0, "%s", e.msg);
    CHECK(cfg_check_model(&cfg, &e) == 0);
    const int G = cfg.hp.num_generations;
    CHECK(G == 4 && cfg_prompts_per_step(&cfg) == 1);
    cfg.lora_opts.seed = 3;
    CHECK_MSG(tf_lora_attach(m, &cfg.lora_opts, &e) == 0, "%s", e.msg);
    tf_train_opts to = {.max_grad_norm = (float)cfg.hp.max_grad_norm};
    tf_trainer *tr = tf_trainer_new(m, &to, &e);
    CHECK_MSG(tr, "%s", e.msg);

    /* rollouts */
    json_t *schema = json_pack("{s:s, s:{s:{s:s}}}", "type", "object", "properties", "query", "type",
                               "string");
    env_tool defs[1] = {{"execute_query", "Run a SQL query.", schema}};
    env_tools tools = {.n = 1, .tools = defs, .call = tool_call};
    const char *good[] = {"<tool>{\"name\": \"execute_query\", \"args\": {\"query\": \"SELECT name FROM t\"}}</tool>",
                          "<answer>SELECT name FROM t</answer>"};
    const char *wrong[] = {"<answer>SELECT 2</answer>"};
    const char *retry[] = {"<tool>{\"name\": \"execute_query\", \"args\": {\"query\": \"SELECT * FROM nosuch\"}}</tool>",
                           "<answer>SELECT name FROM t</answer>"};
    const char *idle[] = {"I am not sure."};
    ep_script scripts[4] = {{good, 2}, {wrong, 1}, {retry, 2}, {idle, 1}};
    int32_t eot = tok_id(tok, "<|im_end|>");
    CHECK(eot >= 0);
    ep_scripted *sp = ep_scripted_new(tok, &eot, 1, scripts, 4);
    ep_policy pol = ep_scripted_policy(sp);
    ep_config ec;
    ep_config_default(&ec);
    ec.wire = EP_WIRE_SPIDER2;
    ec.max_steps = cfg.env_max_steps;
    ec.max_completion_tokens = cfg.hp.max_length;
    ep_task task = {"local001", "Which fruit is there?", "shop", NULL, NULL};
    ep_episode eps[4];
    CHECK_MSG(ep_run(&ec, tok, &tools, &pol, &task, 1, G, eps, NULL, &e) == 0, "%s", e.msg);
    CHECK(eps[0].end == EP_END_ANSWER && eps[3].end == EP_END_NO_ACTION);

    /* rewards and advantages */
    rl_reward_env renv = {.score = score};
    rl_reward_task rt[4];
    for (int i = 0; i < 4; i++)
        rt[i] = (rl_reward_task){"local001", NULL, NULL};
    rl_reward_result rr;
    CHECK_MSG(rl_reward_batch(cfg.rewards, cfg.n_rewards, &renv, rt, eps, G, &rr, &e) == 0, "%s", e.msg);
    /* good: 1 + 0.2; wrong: 0 + 0.2; retry: 1 + 0.2 (its call was well formed: it ran and
     * failed); idle: 0 */
    CHECK_MSG(fabs(rr.total[0] - 1.2) < 1e-12 && fabs(rr.total[1] - 0.2) < 1e-12 &&
                  fabs(rr.total[2] - 1.2) < 1e-12 && rr.total[3] == 0,
              "%g %g %g %g", rr.total[0], rr.total[1], rr.total[2], rr.total[3]);
    double adv[4];
    grpo_adv_stats ast;
    CHECK(grpo_advantages(rr.total, G, G, cfg.hp.scale_rewards, adv, &ast, &e) == 0);
    CHECK(adv[0] > 0 && adv[3] < 0);

    /* rows, old and reference log-probabilities */
    int T = 0;
    for (int i = 0; i < G; i++)
        T = eps[i].n_tokens > T ? eps[i].n_tokens : T;
    int32_t *tokens = xcalloc((size_t)G * T, sizeof *tokens);
    uint8_t *mask = xcalloc((size_t)G * T, 1);
    float *old = xcalloc((size_t)G * T, sizeof(float)), *ref = xcalloc((size_t)G * T, sizeof(float));
    float *lp = xcalloc((size_t)G * T, sizeof(float)), *ent = xcalloc((size_t)G * T, sizeof(float));
    int lens[4];
    for (int i = 0; i < G; i++) {
        lens[i] = grpo_episode_row(&eps[i], T, tokens + (size_t)i * T, mask + (size_t)i * T, NULL, &e);
        CHECK_MSG(lens[i] > 0, "%s", e.msg);
    }
    CHECK(tf_token_logprobs(m, tokens, lens, G, T, NULL, old, NULL, &e) == 0);
    tf_lora_set_enabled(m, 0);
    CHECK(tf_token_logprobs(m, tokens, lens, G, T, NULL, ref, NULL, &e) == 0);
    tf_lora_set_enabled(m, 1);

    grpo_loss_opts lo = {.type = cfg.hp.loss_type, .epsilon_low = cfg.hp.epsilon,
                         .epsilon_high = cfg.hp.epsilon_high, .beta = cfg.hp.beta,
                         .max_completion_length = cfg.hp.max_length, .accum = 1,
                         .batch_tokens = grpo_mask_tokens(mask, G, T)};
    grpo_mb mb = {.o = &lo, .B = G, .T = T, .mask = mask, .old_logp = old, .ref_logp = ref, .adv = adv};
    CHECK(grpo_mb_begin(&mb, &e) == 0);
    CHECK_MSG(tf_train_fb(tr, tokens, lens, G, T, NULL, grpo_loss_cb, &mb, lp, ent, &e) == 0, "%s", e.msg);
    grpo_mb_end(&mb);
    double loss_before = mb.m.loss;
    CHECK(mb.m.clip_region == 0 && mb.m.kl < 1e-9 && mb.m.entropy > 0);
    double grad_norm;
    CHECK(tf_trainer_step(tr, (float)cfg.hp.learning_rate, &grad_norm, &e) == 0);
    CHECK(grad_norm > 0);

    /* the same batch after the step: lower loss, a policy off the reference */
    CHECK(tf_token_logprobs(m, tokens, lens, G, T, NULL, lp, ent, &e) == 0);
    grpo_mb after = {.o = &lo, .B = G, .T = T, .mask = mask, .old_logp = old, .ref_logp = ref, .adv = adv};
    CHECK(grpo_mb_eval(&after, lp, ent, NULL, &e) == 0);
    CHECK_MSG(after.m.loss < loss_before, "loss %g -> %g", loss_before, after.m.loss);
    CHECK(after.m.kl > 0);

    /* metrics */
    json_t *mv = json_object();
    json_object_set_new(mv, "loss", json_real(mb.m.loss));
    json_object_set_new(mv, "reward", json_real(ast.reward));
    json_object_set_new(mv, "reward_std", json_real(ast.reward_std));
    json_object_set_new(mv, "frac_reward_zero_std", json_real(ast.frac_reward_zero_std));
    rl_reward_metrics(cfg.rewards, cfg.n_rewards, &rr, mv);
    rl_episode_metrics(eps, G, mv);
    json_object_set_new(mv, "kl", json_real(mb.m.kl));
    json_object_set_new(mv, "grad_norm", json_real(grad_norm));
    char logs[4500];
    snprintf(logs, sizeof logs, "%s/logs", run);
    rl_metrics *met = rl_metrics_open(logs, -1, &e);
    CHECK_MSG(met, "%s", e.msg);
    CHECK(rl_metrics_log(met, 1, 0.25, mv, &e) == 0);
    rl_metrics_close(met);
    CHECK(json_real_value(json_object_get(mv, "sql_accuracy")) == 0.5);
    CHECK(json_real_value(json_object_get(mv, "tool_usage_rate")) == 0.25);

    /* checkpoint and resume */
    rl_trainer_state st;
    rl_state_init(&st);
    st.global_step = 1;
    st.train_batch_size = cfg.hp.batch_size;
    st.save_steps = cfg.hp.save_steps;
    st.logging_steps = cfg.hp.logging_steps;
    rl_state_log(&st, mv);
    tf_sched sched = {cfg.hp.lr_scheduler, (float)cfg.hp.learning_rate, 0, 10};
    rl_ckpt_save_opts so = {.run_dir = run, .step = 1, .model = m, .model_dir = dir, .trainer = tr,
                            .sched = &sched, .state = &st, .save_total_limit = cfg.hp.save_total_limit};
    char *ck = NULL;
    CHECK_MSG(rl_ckpt_save(&so, &ck, &e) == 0, "%s", e.msg);
    char path[4600];
    snprintf(path, sizeof path, "%s/resolved_config.json", run);
    CHECK(cfg_write_resolved(&cfg, path, &e) == 0);
    char *latest = NULL;
    CHECK(rl_ckpt_resolve(run, &latest, &e) == 0 && !strcmp(latest, ck));
    rl_trainer_state back;
    tf_sched s2;
    CHECK(rl_ckpt_load(latest, &back, &s2, NULL, 0, &e) == 0);
    CHECK(back.global_step == 1 && json_array_size(back.log_history) == 1);
    rl_state_free(&back);
    tf_model *m2 = tf_load(dir, NULL, &e);
    CHECK(m2 && tf_lora_load(m2, latest, &e) == 0);
    /* the reloaded adapter computes what the trained one does */
    float *lp2 = xcalloc((size_t)G * T, sizeof(float));
    CHECK(tf_token_logprobs(m2, tokens, lens, G, T, NULL, lp2, NULL, &e) == 0);
    double maxd = 0;
    for (int i = 0; i < G * T; i++)
        maxd = fmax(maxd, fabs(lp2[i] - lp[i]));
    CHECK_MSG(maxd < 1e-4, "reloaded adapter differs by %g", maxd);
    tf_trainer *tr2 = tf_trainer_new(m2, &to, &e);
    CHECK(tr2 && rl_ckpt_load_optimizer(tr2, latest, &e) == 0);
    CHECK(tf_trainer_steps(tr2) == 1);

    tf_trainer_free(tr2);
    tf_free(m2);
    free(lp2);
    free(latest);
    free(ck);
    rl_state_free(&st);
    json_decref(mv);
    free(tokens);
    free(mask);
    free(old);
    free(ref);
    free(lp);
    free(ent);
    rl_reward_result_free(&rr);
    for (int i = 0; i < G; i++)
        ep_episode_free(&eps[i]);
    ep_scripted_free(sp);
    json_decref(schema);
    tf_trainer_free(tr);
    tf_free(m);
    tok_free(tok);
    cfg_free(&cfg);
}
