/* retrain train: the whole GRPO loop. A scripted policy (one answer, one
 * non-answer per task) makes rewards differ, so the loss and the update
 * are real; a run stopped after one step and resumed from its checkpoint
 * logs what the uninterrupted run logs; --dry-run checks a configuration
 * and bad ones are one-line errors with exit status 2. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/rl/train.h"
#include "../support/proc.h"
#include "../test.h"

static int have_spider(void)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/../shared/spider2/spider2-lite.jsonl", test_root());
    if (!file_exists(p)) {
        test_skip("../shared/spider2 is not here");
        return 0;
    }
    return 1;
}

/* A config for the chat fixture on the shared Spider 2.0 files. extra is
 * spliced into the hyperparameters. */
static void write_config(const char *path, const char *run, const char *hp_extra,
                         const char *top_extra)
{
    char text[16384];
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\", \"peft_config\": "
             "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"]}},"
             " \"environment\": {\"type\": \"spider2\", \"env_specific_config\": {"
             "\"spider2_data_path\": \"%s/../shared/spider2/spider2-lite.jsonl\", \"max_steps\": 2,"
             " \"max_turn_tokens\": 40}},"
             " \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": {\"learning_rate\": 0.01,"
             " \"batch_size\": 4, \"num_generations\": 2, \"max_length\": 120,"
             " \"max_prompt_length\": 8192, \"max_steps\": 3, \"logging_steps\": 1,"
             " \"save_steps\": 1, \"seed\": 5%s}},"
             " \"reward_setup\": {\"rollout_reward_configs\": {\"execution_accuracy\": {\"weight\": 1},"
             " \"format\": {\"weight\": 1}}},"
             " \"output_dir\": \"%s\"%s}",
             test_root(), test_root(), hp_extra ? hp_extra : "", run, top_extra ? top_extra : "");
    err_t e;
    file_write_atomic(path, text, strlen(text), &e);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* rl_train in this process with a scripted policy: episode i replays
 * scripts[i % n]. */
static int run_with(const char *cfgpath, const char *resume, long stop_after,
                    const ep_script *scripts, int n, err_t *e)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    tok_t *tok = tok_load(dir, e);
    if (!tok)
        return -1;
    int32_t eot = tok_id(tok, "<|im_end|>");
    ep_scripted *sp = ep_scripted_new(tok, &eot, 1, scripts, n);
    ep_policy pol = ep_scripted_policy(sp);
    cfg_config cfg;
    int rc = cfg_load(&cfg, cfgpath, e);
    if (rc == 0) {
        rl_train_opts o = {.config_path = cfgpath, .resume = resume, .policy = &pol, .quiet = 1,
                           .stop_after = stop_after, .mcp_command = test_retrain_bin()};
        rc = rl_train(&cfg, &o, e);
        cfg_free(&cfg);
    }
    ep_scripted_free(sp);
    tok_free(tok);
    return rc;
}

/* One answer, one non-answer per task. */
static int run_scripted(const char *cfgpath, const char *resume, long stop_after, err_t *e)
{
    static const char *answer[] = {"<answer>SELECT 1</answer>"};
    static const char *idle[] = {"I do not know."};
    ep_script scripts[2] = {{answer, 1}, {idle, 1}};
    return run_with(cfgpath, resume, stop_after, scripts, 2, e);
}

/* `retrain demo-data DIR [ARGS...]` (NULL-terminated); 1 when it worked. */
static int make_demo_data(const char *dir, ...)
{
    char *args[16] = {"demo-data", (char *)dir};
    int n = 2;
    va_list ap;
    va_start(ap, dir);
    for (char *a; n < 15 && (a = va_arg(ap, char *));)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = retrain_run(NULL, args, &out, &err, 60000);
    if (rc != 0)
        fprintf(stderr, "retrain demo-data %s: exit %d: %s\n", dir, rc, err);
    free(out);
    free(err);
    return rc == 0;
}

TEST(train_grpo_updates_and_a_resumed_run_repeats_the_uninterrupted_one)
{
    if (!have_spider())
        return;
    char cfg[4400], runa[4400], runb[4400], cfgb[4400], ck[4600];
    snprintf(runa, sizeof runa, "%s/run-a", test_tmpdir());
    snprintf(runb, sizeof runb, "%s/run-b", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/a.json", test_tmpdir());
    snprintf(cfgb, sizeof cfgb, "%s/b.json", test_tmpdir());
    /* run a also evaluates (on 2 tasks) at its last step: that must not
     * change its training */
    write_config(cfg, runa, ", \"eval_steps\": 3", ", \"eval\": {\"max_tasks\": 2}");
    write_config(cfgb, runb, NULL, NULL);
    err_t e;
    CHECK_MSG(run_scripted(cfg, NULL, 0, &e) == 0, "%s", e.msg);
    json_t *a = run_metrics(runa);
    CHECK(a && json_array_size(a) == 3);
    for (size_t i = 0; i < 3; i++) {
        const json_t *m = json_array_get(a, i);
        CHECK(num(m, "step") == (double)(i + 1));
        /* one answer and one non-answer per task: the format reward differs */
        CHECK_MSG(num(m, "reward") == 0.5, "reward %g", num(m, "reward"));
        CHECK(num(m, "rewards/format/mean") == 0.5 && num(m, "sql_accuracy") == 0);
        CHECK(num(m, "grad_norm") > 0 && num(m, "loss") != 0);
        CHECK(num(m, "answer_rate") == 0.5);
    }
    /* the evaluation at step 3: accuracy, and TRL's loss over 2 tasks x 2
     * sampled episodes, whose rewards (one answer, one not) differ */
    const json_t *m3 = json_array_get(a, 2);
    CHECK(json_object_get(m3, "eval_accuracy") &&
          !json_object_get(json_array_get(a, 1), "eval_accuracy"));
    CHECK_MSG(json_is_number(json_object_get(m3, "eval_loss")) && num(m3, "eval_loss") != 0,
              "eval_loss %g", num(m3, "eval_loss"));
    CHECK(num(m3, "eval_reward") == 0.5);
    /* example episodes for the report: the best and the worst of each step */
    snprintf(ck, sizeof ck, "%s/logs/episodes.jsonl", runa);
    {
        size_t len;
        char *ex = file_read(ck, &len, &e);
        CHECK_MSG(ex, "%s", e.msg);
        int lines = 0;
        for (char *q = ex; q && (q = strchr(q, '\n')); q++)
            lines++;
        CHECK_MSG(lines == 6, "%d example episodes", lines);
        CHECK_CONTAINS(ex, "\"reward\":1.0,");
        CHECK_CONTAINS(ex, "<answer>SELECT 1</answer>");
        free(ex);
    }
    snprintf(ck, sizeof ck, "%s/eval/step-3/report.json", runa);
    CHECK_MSG(file_exists(ck), "%s is missing", ck);
    snprintf(ck, sizeof ck, "%s/checkpoint-3/adapter_model.safetensors", runa);
    CHECK(file_exists(ck));
    snprintf(ck, sizeof ck, "%s/resolved_config.json", runa);
    CHECK(file_exists(ck));
    /* stopped after one step, resumed from the run folder */
    CHECK_MSG(run_scripted(cfgb, NULL, 1, &e) == 0, "%s", e.msg);
    json_t *b1 = run_metrics(runb);
    CHECK(b1 && json_array_size(b1) == 1);
    CHECK_MSG(run_scripted(cfgb, runb, 0, &e) == 0, "%s", e.msg);
    json_t *b = run_metrics(runb);
    CHECK(b && json_array_size(b) == 3);
    const char *keys[] = {"loss", "grad_norm", "reward", "kl", "entropy", "learning_rate",
                          "clip_ratio/region_mean", "num_tokens"};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
            double x = num(json_array_get(a, i), keys[k]), y = num(json_array_get(b, i), keys[k]);
            CHECK_MSG(x == y || (i == 0 && !strcmp(keys[k], "num_tokens")),
                      "step %zu %s: %.9g uninterrupted, %.9g resumed", i + 1, keys[k], x, y);
        }
    json_decref(a);
    json_decref(b1);
    json_decref(b);
}

static int run_cli(const char *const *argv, char **out, char **err)
{
    return retrain_run(NULL, (char *const *)argv + 1, out, err, 60000);
}

TEST(train_dry_run_and_bad_configurations)
{
    if (!have_spider())
        return;
    char cfg[4400], run[4400];
    snprintf(run, sizeof run, "%s/dry", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/dry.json", test_tmpdir());
    write_config(cfg, run, NULL, NULL);
    const char *argv[] = {test_retrain_bin(), "train", cfg, "--dry-run", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_cli(argv, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    CHECK_MSG(j && json_object_get(j, "algorithm"), "stdout is not the resolved config: %s", out);
    CHECK_CONTAINS(err, "dry run: model");
    CHECK_CONTAINS(err, "their MCP servers answer with tools");
    CHECK(!file_exists(run) || 1);
    json_decref(j);
    free(out);
    free(err);

    struct {
        const char *hp, *top, *want;
    } bad[] = {
        {", \"warmup_ratio\": \"0.1\"", NULL,
         "algorithm.hyperparameters.warmup_ratio: expected a number"},
        {NULL, ", \"mcpServers\": {\"db\": {\"command\": \"/nonexistent/server\"}}",
         "nonexistent"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        write_config(cfg, run, bad[i].hp, bad[i].top);
        rc = run_cli(argv, &out, &err);
        CHECK_MSG(rc == 2 && strstr(err, bad[i].want), "case %zu: exit %d: %s", i, rc, err);
        CHECK_MSG(strchr(err, '\n') == err + strlen(err) - 1, "case %zu: not one line: %s", i, err);
        free(out);
        free(err);
    }
    /* a model directory that is not a model; a task file that is not there */
    char text[8192];
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures\"}, \"environment\": "
             "{\"env_specific_config\": {\"spider2_data_path\": \"%s/nowhere.jsonl\"}}}",
             test_root(), test_tmpdir());
    err_t e;
    CHECK(file_write_atomic(cfg, text, strlen(text), &e) == 0);
    rc = run_cli(argv, &out, &err);
    CHECK_MSG(rc == 2 && strstr(err, "config.json"), "exit %d: %s", rc, err);
    free(out);
    free(err);
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\"}, \"environment\": "
             "{\"env_specific_config\": {\"spider2_data_path\": \"%s/nowhere.jsonl\"}}}",
             test_root(), test_tmpdir());
    CHECK(file_write_atomic(cfg, text, strlen(text), &e) == 0);
    rc = run_cli(argv, &out, &err);
    CHECK_MSG(rc == 2 && strstr(err, "the task file does not exist"), "exit %d: %s", rc, err);
    free(out);
    free(err);
}

TEST(train_sft_on_demonstrations_lowers_the_loss)
{
    char demo[4400], cfg[4400], run[4400], text[24576], bad[4800];
    snprintf(demo, sizeof demo, "%s/demo", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/sft.json", test_tmpdir());
    snprintf(run, sizeof run, "%s/sft-run", test_tmpdir());
    char *out = NULL, *err = NULL;
    CHECK(make_demo_data(demo, NULL));
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\"},"
             " \"algorithm\": {\"name\": \"sft\", \"hyperparameters\": {\"learning_rate\": 0.003,"
             " \"batch_size\": 2, \"max_steps\": 6, \"logging_steps\": 1, \"max_length\": 8192,"
             " \"max_prompt_length\": 8192, \"lr_scheduler_type\": \"constant\", \"save_steps\": 3,"
             " \"eval_steps\": 3, \"eval_on_start\": true}},"
             " \"prompt_source\": \"%s/sft.jsonl\", \"eval\": {\"conversations\": \"%s/sft.jsonl\"},"
             " \"output_dir\": \"%s\"}",
             test_root(), demo, demo, run);
    err_t e;
    CHECK(file_write_atomic(cfg, text, strlen(text), &e) == 0);
    char *args[] = {"train", cfg, NULL};
    int rc = retrain_run(NULL, args, &out, &err, 120000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    json_t *m = run_metrics(run);
    /* step 0 (the evaluation before training), then steps 1..6 */
    CHECK(m && json_array_size(m) == 7);
    CHECK(num(json_array_get(m, 0), "step") == 0 && !json_object_get(json_array_get(m, 0), "loss"));
    double first = num(json_array_get(m, 1), "loss"), last = num(json_array_get(m, 6), "loss");
    CHECK_MSG(last < 0.8 * first, "loss %g -> %g", first, last);
    /* held-out loss before training and at steps 3 and 6 (here the same
     * conversations): it falls too */
    double ev0 = num(json_array_get(m, 0), "eval_loss"), ev3 = num(json_array_get(m, 3), "eval_loss"),
           ev6 = num(json_array_get(m, 6), "eval_loss");
    CHECK_MSG(ev3 < ev0 && ev6 < ev3 && !json_object_get(json_array_get(m, 4), "eval_loss"),
              "eval_loss %g -> %g -> %g", ev0, ev3, ev6);
    json_decref(m);
    snprintf(bad, sizeof bad, "%s/checkpoint-6/model.safetensors", run);
    CHECK_MSG(file_exists(bad), "%s is missing", bad);
    /* a malformed conversation file: file and line */
    snprintf(bad, sizeof bad, "%s/bad.jsonl", test_tmpdir());
    const char *lines = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n";
    CHECK(file_write_atomic(bad, lines, strlen(lines), &e) == 0);
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\"},"
             " \"algorithm\": {\"name\": \"sft\"}, \"prompt_source\": \"%s\", \"output_dir\": \"%s\"}",
             test_root(), bad, run);
    CHECK(file_write_atomic(cfg, text, strlen(text), &e) == 0);
    rc = retrain_run(NULL, args, &out, &err, 60000);
    CHECK_MSG(rc == 2 && strstr(err, "bad.jsonl:1: no assistant message to learn"), "exit %d: %s",
              rc, err);
    free(out);
    free(err);
}

/* The MCP server dies mid-run: `sed -u 5q` passes five messages to it and
 * then closes its input, so every server process ends after its fifth
 * request. The client starts it again and sends the request once more;
 * the episodes get their tool results, the rewards their executions, and
 * the run finishes every step. */
TEST(train_goes_on_when_the_mcp_server_dies)
{
    char demo[4400], cfg[4400], run[4400], starts[4400], text[32768];
    snprintf(demo, sizeof demo, "%s/demo-dies", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/dies.json", test_tmpdir());
    snprintf(run, sizeof run, "%s/dies-run", test_tmpdir());
    snprintf(starts, sizeof starts, "%s/server-starts", test_tmpdir());
    CHECK(make_demo_data(demo, NULL));
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\", \"peft_config\": "
             "{\"r\": 2, \"target_modules\": [\"q_proj\"]}},"
             " \"environment\": {\"env_specific_config\": {\"spider2_data_path\": "
             "\"%s/train.jsonl\", \"gold_dir\": \"%s/gold\", \"database_dir\": \"%s\", \"max_steps\": 3,"
             " \"max_turn_tokens\": 100, \"wire_format\": \"spider2\"}},"
             " \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": {\"learning_rate\": 0.01,"
             " \"batch_size\": 4, \"num_generations\": 2, \"max_length\": 600,"
             " \"max_prompt_length\": 8192, \"max_steps\": 3, \"logging_steps\": 1,"
             " \"save_steps\": 100}},"
             " \"reward_setup\": {\"rollout_reward_configs\": {\"execution_accuracy\": {},"
             " \"tool_use\": {}}},"
             " \"mcpServers\": {\"db\": {\"command\": \"sh\", \"args\": [\"-c\", "
             "\"echo started >> %s; sed -u 5q | exec %s mcp-db\"],"
             " \"env\": {\"DB_URL\": \"sqlite:///%s/demo.sqlite\"}}},"
             " \"output_dir\": \"%s\"}",
             test_root(), demo, demo, demo, starts, test_retrain_bin(), demo, run);
    err_t e;
    CHECK(file_write_atomic(cfg, text, strlen(text), &e) == 0);
    static const char *explore[] = {"<tool>{\"name\": \"all_table_names\", \"args\": {}}</tool>",
                                    "<tool>{\"name\": \"execute_query\", \"args\": {\"query\": "
                                    "\"SELECT COUNT(*) FROM customers\"}}</tool>",
                                    "<answer>SELECT COUNT(*) FROM customers</answer>"};
    static const char *answer[] = {"<answer>SELECT 1</answer>"};
    ep_script scripts[2] = {{explore, 3}, {answer, 1}};
    CHECK_MSG(run_with(cfg, NULL, 0, scripts, 2, &e) == 0, "%s", e.msg);
    json_t *m = run_metrics(run);
    CHECK(m && json_array_size(m) == 3);
    for (size_t i = 0; i < json_array_size(m); i++) {
        const json_t *s = json_array_get(m, i);
        /* every call of the exploring episodes ran and succeeded */
        CHECK_MSG(num(s, "tools/failure_frequency") == 0, "step %zu: failures %g", i + 1,
                  num(s, "tools/failure_frequency"));
        CHECK_MSG(num(s, "rewards/tool_use/mean") == 0.5, "step %zu: tool_use %g", i + 1,
                  num(s, "rewards/tool_use/mean"));
        CHECK_MSG(num(s, "answer_rate") == 1 && num(s, "tools/call_frequency") > 0,
                  "step %zu: answer rate %g, calls %g", i + 1, num(s, "answer_rate"),
                  num(s, "tools/call_frequency"));
    }
    size_t n;
    char *log = file_read(starts, &n, &e);
    CHECK_MSG(log, "%s", e.msg);
    int count = 0;
    for (char *q = log; q && (q = strstr(q, "started")); q++)
        count++;
    CHECK_MSG(count >= 4, "the server started %d times", count);
    free(log);
    json_decref(m);
}

/* `retrain train` killed (SIGKILL) in the middle of a run, then resumed
 * from its run folder: the metrics of every step equal an uninterrupted
 * run's. The real engine samples (the chat fixture, LoRA), so this covers
 * the sampler's streams and the adapter and optimizer state on disk. */
static void kill_config(const char *path, const char *demo, const char *run)
{
    char text[16384];
    snprintf(text, sizeof text,
             "{\"model\": {\"name_or_path\": \"%s/tests/fixtures/models/chat\", \"peft_config\": "
             "{\"r\": 2, \"target_modules\": [\"q_proj\", \"v_proj\"]}},"
             " \"environment\": {\"env_specific_config\": {\"spider2_data_path\": "
             "\"%s/train.jsonl\", \"gold_dir\": \"%s/gold\", \"database_dir\": \"%s\","
             " \"max_steps\": 2, \"max_turn_tokens\": 12}},"
             " \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": {\"learning_rate\": 0.01,"
             " \"batch_size\": 4, \"num_generations\": 2, \"max_length\": 40,"
             " \"max_prompt_length\": 8192, \"max_steps\": 6, \"logging_steps\": 1,"
             " \"save_steps\": 1, \"seed\": 9, \"warmup_steps\": 2}},"
             " \"reward_setup\": {\"rollout_reward_configs\": {\"format\": {}}},"
             " \"logging_level\": \"WARNING\", \"output_dir\": \"%s\"}",
             test_root(), demo, demo, demo, run);
    err_t e;
    file_write_atomic(path, text, strlen(text), &e);
}

TEST(train_killed_mid_run_resumes_to_the_same_metrics)
{
    char demo[4400], cfga[4400], cfgb[4400], runa[4400], runb[4400], ck[4600];
    snprintf(demo, sizeof demo, "%s/demo-kill", test_tmpdir());
    snprintf(cfga, sizeof cfga, "%s/kill-a.json", test_tmpdir());
    snprintf(cfgb, sizeof cfgb, "%s/kill-b.json", test_tmpdir());
    snprintf(runa, sizeof runa, "%s/kill-a", test_tmpdir());
    snprintf(runb, sizeof runb, "%s/kill-b", test_tmpdir());
    char *out = NULL, *err = NULL;
    CHECK(make_demo_data(demo, "--train", "20", "--eval", "2", "--sft", "1", NULL));
    kill_config(cfga, demo, runa);
    kill_config(cfgb, demo, runb);
    char *args_a[] = {"train", cfga, "--quiet", NULL};
    int rc = retrain_run(NULL, args_a, &out, &err, 600000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    /* run b: killed once its second checkpoint is on disk */
    char *argv_b[] = {(char *)test_retrain_bin(), "train", cfgb, "--quiet", NULL};
    child_t c;
    CHECK(child_start(&c, argv_b, NULL) == 0);
    snprintf(ck, sizeof ck, "%s/checkpoint-2/trainer_state.json", runb);
    for (int i = 0; i < 6000 && !file_exists(ck); i++)
        usleep(10000);
    CHECK_MSG(file_exists(ck), "%s never appeared", ck);
    child_kill(&c);
    snprintf(ck, sizeof ck, "%s/checkpoint-6", runb);
    CHECK_MSG(!file_exists(ck), "the run finished before it was killed");
    char *args_b[] = {"train", cfgb, "--quiet", "--resume", runb, NULL};
    rc = retrain_run(NULL, args_b, &out, &err, 600000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    json_t *a = run_metrics(runa), *b = run_metrics(runb);
    CHECK(a && b && json_array_size(a) == 6 && json_array_size(b) == 6);
    const char *keys[] = {"loss", "grad_norm", "reward", "entropy", "learning_rate",
                          "completions/mean_length", "num_tokens"};
    for (size_t i = 0; a && b && i < json_array_size(a) && i < json_array_size(b); i++)
        for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
            double x = num(json_array_get(a, i), keys[k]), y = num(json_array_get(b, i), keys[k]);
            CHECK_MSG(x == y, "step %zu %s: %.9g uninterrupted, %.9g killed and resumed", i + 1,
                      keys[k], x, y);
        }
    json_decref(a);
    json_decref(b);
}
