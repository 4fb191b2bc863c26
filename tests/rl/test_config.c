/* rl/config: the guide's JSON loads as written (placeholders skipped with
 * warnings, num_iterations 100 accepted with one), TRL's defaults fill the
 * rest, the resolved configuration parses back to itself, and every kind of
 * bad input is one line naming the key path. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rl/config.h"
#include "../test.h"

static const char k_guide[] =
    "{\n"
    "  \"model\": {\"name_or_path\": \"microsoft/DialoGPT-medium\", \"loader\": \"huggingface\", "
    "\"peft_config\": null,\n"
    "            \"torch_dtype\": \"auto\", \"trust_remote_code\": true},\n"
    "  \"environment\": {\"type\": \"spider2\", \"env_specific_config\": {\n"
    "      \"spider2_data_path\": \"Spider2/spider2-lite/spider2-lite.jsonl\", \"spider2_type\": "
    "\"lite\",\n"
    "      \"mcp_server_url\": \"http://localhost:8000\", \"max_steps\": 20, \"max_query_length\": "
    "1000,\n"
    "      \"enable_external_knowledge\": true, \"evaluation_mode\": false}},\n"
    "  \"algorithm\": {\"name\": \"grpo\", \"backend\": \"trl\", \"hyperparameters\": {\n"
    "      \"learning_rate\": 1e-5, \"batch_size\": 4, \"max_length\": 512, \"num_iterations\": "
    "100}},\n"
    "  \"reward_setup\": {\"step_reward_configs\": {\"NAME\": {\"weight\": 1.0, \"params\": {}, "
    "\"verifiers\": [\"...\"],\n"
    "      \"verifier_penalty\": 0.5, \"distribution_strategy\": \"last_step\"}}},\n"
    "  \"logging_level\": \"DEBUG\"\n"
    "}\n";

static int parse(cfg_config *c, const char *json, err_t *e)
{
    return cfg_parse(c, json, strlen(json), NULL, e);
}

TEST(config_guide_loads_as_written)
{
    cfg_config c;
    err_t e;
    CHECK_MSG(parse(&c, k_guide, &e) == 0, "%s", e.msg);
    CHECK_STR(c.model_path, "microsoft/DialoGPT-medium");
    CHECK(!c.lora && c.dtype == CFG_DTYPE_AUTO && c.trust_remote_code);
    CHECK_STR(c.data_path, "Spider2/spider2-lite/spider2-lite.jsonl");
    CHECK_STR(c.prompt_source, "Spider2/spider2-lite/spider2-lite.jsonl");
    CHECK_STR(c.mcp_server_url, "http://localhost:8000");
    CHECK(c.env_max_steps == 20 && c.max_query_length == 1000 && c.enable_external_knowledge &&
          !c.evaluation_mode);
    CHECK(c.algo == CFG_ALGO_GRPO);
    CHECK(c.hp.learning_rate == 1e-5 && c.hp.batch_size == 4 && c.hp.max_length == 512);
    CHECK(c.hp.num_iterations == 100);
    /* TRL's defaults */
    CHECK(c.hp.num_generations == 4);
    CHECK(c.hp.beta == 0 && c.hp.epsilon == 0.2 && c.hp.epsilon_high == 0.2);
    CHECK(c.hp.loss_type == GRPO_LOSS_DAPO && c.hp.scale_rewards == GRPO_SCALE_GROUP);
    CHECK(c.hp.temperature == 1.0 && c.hp.top_p == 1.0 && c.hp.gradient_accumulation_steps == 1);
    CHECK(c.hp.max_steps == -1 && c.hp.seed == 42 && c.hp.lr_scheduler == TF_SCHED_LINEAR);
    CHECK(c.hp.max_grad_norm == 1.0 && c.hp.logging_steps == 10 && c.hp.save_steps == 500);
    CHECK(c.log_level == LOG_DEBUG);
    CHECK_STR(c.output_dir, "trainer_output/spider2-lite");
    CHECK(cfg_prompts_per_step(&c) == 1);
    /* the placeholder reward is skipped; execution accuracy stands in */
    CHECK(c.n_rewards == 1);
    CHECK_STR(c.rewards[0].name, "execution_accuracy");
    CHECK(c.rewards[0].level == RL_REWARD_ROLLOUT && c.rewards[0].weight == 1.0);
    CHECK(c.warnings.len == 3);
    CHECK_STR(c.warnings.items[0],
              "algorithm.hyperparameters.num_iterations = 100: every batch of rollouts is reused "
              "for 100 optimisation passes (TRL's mu; its default is 1); the run's length is set "
              "by max_steps");
    CHECK_CONTAINS(c.warnings.items[1], "reward_setup.step_reward_configs.NAME: the guide's "
                                        "placeholder (reward \"NAME\") is skipped");
    CHECK_CONTAINS(c.warnings.items[2], "no reward function configured; using execution_accuracy");
    /* a hub name is not a directory here */
    CHECK(cfg_check_model(&c, &e) == -1);
    CHECK_CONTAINS(e.msg, "model.name_or_path: microsoft/DialoGPT-medium: no such directory; it "
                          "looks like a Hugging Face hub name");
    CHECK_CONTAINS(e.msg, "cannot be downloaded here");
    cfg_free(&c);
}

TEST(config_local_model_directory_passes)
{
    char json[8192];
    snprintf(json, sizeof json, "{\"model\": {\"name_or_path\": \"%s\"}}", test_tmpdir());
    cfg_config c;
    err_t e;
    CHECK_MSG(parse(&c, json, &e) == 0, "%s", e.msg);
    CHECK(cfg_check_model(&c, &e) == 0);
    /* no hyperparameters at all: TRL's */
    CHECK(c.hp.batch_size == 8 && c.hp.num_generations == 4 && c.hp.learning_rate == 1e-6);
    CHECK(c.hp.max_length == 256 && c.hp.num_iterations == 1 && c.warnings.len == 1);
    cfg_free(&c);
}

TEST(config_resolved_round_trip)
{
    const char *json =
        "{\"model\": {\"name_or_path\": \"/m\", \"torch_dtype\": \"bfloat16\", \"peft_config\": "
        "{\"r\": 16, \"lora_alpha\": 32, \"lora_dropout\": 0.05, \"target_modules\": [\"q_proj\", "
        "\"v_proj\"], \"task_type\": \"CAUSAL_LM\"}},"
        " \"environment\": {\"type\": \"spider2\", \"env_specific_config\": {\"spider2_type\": "
        "\"snow\", \"database_dir\": \"/db\", \"wire_format\": \"hermes\"}},"
        " \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": {\"learning_rate\": 3e-6, "
        "\"per_device_train_batch_size\": 6, \"gradient_accumulation_steps\": 2, \"num_generations\": "
        "3, \"beta\": 0.04, \"epsilon_high\": 0.28, \"loss_type\": \"dr_grpo\", \"scale_rewards\": "
        "false, \"lr_scheduler_type\": \"cosine\", \"warmup_ratio\": 0.1, \"save_total_limit\": 2, "
        "\"max_steps\": 50}},"
        " \"reward_setup\": {\"rollout_reward_configs\": {\"execution_accuracy\": {\"weight\": 1.0, "
        "\"params\": {\"strict\": true}, \"verifiers\": [\"has_answer\"], \"verifier_penalty\": 0.25},"
        " \"efficiency\": {\"weight\": 0.1, \"params\": {\"max_turns\": 10}, "
        "\"distribution_strategy\": \"all_steps_average\"}},"
        " \"step_reward_configs\": {\"tool_use\": {\"weight\": 0.2, \"distribution_strategy\": "
        "\"all_steps_equal\"}}},"
        " \"mcpServers\": {\"spider2_sqlite\": {\"command\": \"uvx\", \"args\": [\"--from\", "
        "\"mcp-alchemy==2025.7.9.172934\", \"mcp-alchemy\"], \"env\": {\"DB_URL\": "
        "\"sqlite:///spider2_lite.db\"}}, \"remote\": {\"type\": \"http\", \"url\": "
        "\"http://127.0.0.1:8000/mcp\"}},"
        " \"eval\": {\"max_tasks\": 20}, \"output_dir\": \"/runs/x\", \"seed\": 7, "
        "\"logging_level\": \"warning\", \"prompt_source\": \"/tasks.jsonl\"}";
    cfg_config c;
    err_t e;
    CHECK_MSG(parse(&c, json, &e) == 0, "%s", e.msg);
    CHECK(c.lora && c.lora_opts.r == 16 && c.lora_opts.alpha == 32.0f);
    CHECK_STR(c.lora_opts.targets, "q_proj,v_proj");
    CHECK(c.hp.batch_size == 6 && c.hp.num_generations == 3 && cfg_prompts_per_step(&c) == 4);
    CHECK(c.hp.scale_rewards == GRPO_SCALE_NONE && c.hp.loss_type == GRPO_LOSS_DR_GRPO);
    CHECK(c.hp.epsilon_high == 0.28 && c.hp.epsilon == 0.2 && c.hp.seed == 7);
    CHECK(c.n_rewards == 3 && c.rewards[0].level == RL_REWARD_STEP);
    CHECK(c.n_mcp == 2 && c.mcp[0].args.len == 3 && !strcmp(c.mcp[0].env_values.items[0],
                                                            "sqlite:///spider2_lite.db"));
    CHECK_STR(c.mcp[1].url, "http://127.0.0.1:8000/mcp");
    CHECK(c.eval && c.eval_max_tasks == 20);
    CHECK_STR(c.eval_data_path, "/tasks.jsonl");
    /* eval_loss's group: the training group size unless given */
    CHECK(c.eval_num_generations == c.hp.num_generations);
    char path[4300];
    snprintf(path, sizeof path, "%s/resolved.json", test_tmpdir());
    CHECK(cfg_write_resolved(&c, path, &e) == 0);
    size_t n;
    char *text = file_read(path, &n, &e);
    CHECK(text);
    CHECK_CONTAINS(text, "\"learning_rate\": 3e-6");
    CHECK_CONTAINS(text, "\"loss_type\": \"dr_grpo\"");
    cfg_config c2;
    CHECK_MSG(cfg_parse(&c2, text, n, path, &e) == 0, "%s", e.msg);
    json_t *a = cfg_to_json(&c), *b = cfg_to_json(&c2);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(text);
    cfg_free(&c2);
    cfg_free(&c);
    /* the guide's config resolves and reloads too */
    CHECK(parse(&c, k_guide, &e) == 0);
    a = cfg_to_json(&c);
    text = json_dumps(a, 0);
    CHECK_MSG(parse(&c2, text, &e) == 0, "%s", e.msg);
    b = cfg_to_json(&c2);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(text);
    cfg_free(&c2);
    cfg_free(&c);
}

TEST(config_mcp_servers_file)
{
    char path[4300], json[9000];
    snprintf(path, sizeof path, "%s/mcp.json", test_tmpdir());
    const char *f = "{\"mcpServers\": {\"db\": {\"command\": \"/bin/retrain\", \"args\": [\"mcp-db\"]}}}";
    err_t e;
    CHECK(file_write_atomic(path, f, strlen(f), &e) == 0);
    snprintf(json, sizeof json,
             "{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": \"%s\", \"environment\": "
             "{\"env_specific_config\": {\"mcp_server_url\": \"http://localhost:8000\"}}}",
             path);
    cfg_config c;
    CHECK_MSG(parse(&c, json, &e) == 0, "%s", e.msg);
    CHECK(c.n_mcp == 1);
    CHECK_STR(c.mcp[0].command, "/bin/retrain");
    CHECK_STR(c.mcp_file, path);
    CHECK_CONTAINS(c.warnings.items[c.warnings.len - 1], "mcp_server_url (http://localhost:8000) is "
                                                         "ignored: mcpServers names the servers");
    cfg_free(&c);
    f = "{\"mcpServers\": {\"db\": {\"command\": \"x\", \"args\": [1]}}}";
    CHECK(file_write_atomic(path, f, strlen(f), &e) == 0);
    snprintf(json, sizeof json, "{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": \"%s\"}", path);
    CHECK(parse(&c, json, &e) == -1);
    char want[4400];
    snprintf(want, sizeof want, "%s: mcpServers.db.args[0]: expected a string, got 1", path);
    CHECK_STR(e.msg, want);
    f = "{\"servers\": {}}";
    CHECK(file_write_atomic(path, f, strlen(f), &e) == 0);
    CHECK(parse(&c, json, &e) == -1);
    CHECK_CONTAINS(e.msg, "expected {\"mcpServers\": {NAME: {command, args, env}}}");
    snprintf(json, sizeof json, "{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": \"%s/none.json\"}",
             test_tmpdir());
    CHECK(parse(&c, json, &e) == -1);
    CHECK_CONTAINS(e.msg, "none.json");
}

TEST(config_bad_input_names_the_key)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"learning_rate\": \"1e-5\"}}}",
         "algorithm.hyperparameters.learning_rate: expected a number, got \"1e-5\""},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"batch_size\": 3}}}",
         "algorithm.hyperparameters: batch_size (3) x gradient_accumulation_steps (1) = 3 "
         "completions per step must be a multiple of num_generations (2)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"batch_size\": 4, \"num_generations\": 3}}}",
         "algorithm.hyperparameters: batch_size (4) x gradient_accumulation_steps (1) = 4 "
         "completions per step must be a multiple of num_generations (3)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"batch_size\": 4.5}}}",
         "algorithm.hyperparameters.batch_size: expected an integer, got 4.5"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"learnin_rate\": 1}}}",
         "algorithm.hyperparameters.learnin_rate: unknown key"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"loss_type\": \"ppo\"}}}",
         "algorithm.hyperparameters.loss_type: \"ppo\" is not one of grpo, bnpo, dr_grpo, dapo"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"scale_rewards\": \"std\"}}}",
         "algorithm.hyperparameters.scale_rewards: \"std\" is not one of group, batch, none"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"epsilon\": 1.5}}}",
         "algorithm.hyperparameters.epsilon: 1.5 must be in [0, 1)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"num_generations\": 1, \"batch_size\": 2}}}",
         "algorithm.hyperparameters.num_generations: 1 must be at least 2 (GRPO compares samples "
         "of one prompt)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"batch_size\": 4, \"per_device_train_batch_size\": 4}}}",
         "algorithm.hyperparameters: batch_size and per_device_train_batch_size are the same "
         "setting; give one"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
         "{\"lr_scheduler_type\": \"step\"}}}",
         "algorithm.hyperparameters.lr_scheduler_type: \"step\" is not one of linear, cosine, "
         "constant, constant_with_warmup"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"name\": \"ppo\"}}",
         "algorithm.name: \"ppo\" is not one of grpo, sft"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"backend\": \"verl\"}}",
         "algorithm.backend: \"verl\" is not supported (\"trl\": TRL's semantics)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": []}",
         "algorithm: expected an object, got an array"},
        {"{\"model\": {\"name_or_path\": 5}}", "model.name_or_path: expected a string, got 5"},
        {"{\"model\": {}}", "model.name_or_path: required (a local Hugging Face model directory)"},
        {"{}", "model: required (model.name_or_path names a local model directory)"},
        {"[]", "the configuration must be a JSON object"},
        {"{\"model\": {\"name_or_path\": \"/m\", \"torch_dtype\": \"fp8\"}}",
         "model.torch_dtype: \"fp8\" is not one of auto, float32, bfloat16, float16"},
        {"{\"model\": {\"name_or_path\": \"/m\", \"peft_config\": {\"r\": 0}}}",
         "model.peft_config.r: 0 must be at least 1"},
        {"{\"model\": {\"name_or_path\": \"/m\", \"peft_config\": {\"rank\": 8}}}",
         "model.peft_config.rank: unknown key"},
        {"{\"model\": {\"name_or_path\": \"/m\", \"peft_config\": {\"target_modules\": 3}}}",
         "model.peft_config.target_modules: expected a string or a non-empty list of strings, got 3"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"environment\": {\"type\": \"webshop\"}}",
         "environment.type: \"webshop\" is not one of spider2"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"environment\": {\"env_specific_config\": "
         "{\"max_steps\": \"20\"}}}",
         "environment.env_specific_config.max_steps: expected an integer, got \"20\""},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"environment\": {\"env_specific_config\": "
         "{\"spider2_type\": \"full\"}}}",
         "environment.env_specific_config.spider2_type: \"full\" is not one of lite, snow, dbt"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"environment\": {\"env_specific_config\": "
         "{\"evaluation_mode\": \"no\"}}}",
         "environment.env_specific_config.evaluation_mode: expected true or false, got \"no\""},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_reward_configs\": "
         "{\"execution_accuracy\": {\"distribution_strategy\": \"first_step\"}}}}",
         "reward_setup.rollout_reward_configs.execution_accuracy.distribution_strategy: "
         "\"first_step\" is not one of last_step, all_steps_average, all_steps_equal"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_reward_configs\": "
         "{\"sql_acc\": {}}}}",
         "reward_setup.rollout_reward_configs.sql_acc: unknown reward function (known: "
         "execution_accuracy, sql_executes, sql_syntax_valid, format, tool_use, efficiency)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_reward_configs\": "
         "{\"format\": {\"weight\": \"1\"}}}}",
         "reward_setup.rollout_reward_configs.format.weight: expected a number, got \"1\""},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_reward_configs\": "
         "{\"format\": {\"verifiers\": \"has_answer\"}}}}",
         "reward_setup.rollout_reward_configs.format.verifiers: expected a list of names, got "
         "\"has_answer\""},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_reward_configs\": "
         "{\"format\": {\"verifiers\": [\"has_answr\"]}}}}",
         "reward_setup.rollout_reward_configs.format.verifiers[0]: unknown verifier \"has_answr\" "
         "(known: has_answer, format, sql_syntax_valid, sql_executes, tool_use, no_tool_errors)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"step_reward_configs\": "
         "{\"format\": {}}, \"rollout_reward_configs\": {\"format\": {}}}}",
         "reward_setup.rollout_reward_configs.format: format is also a step reward; configure it "
         "once (its metrics would share one name)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"reward_setup\": {\"rollout_rewards\": {}}}",
         "reward_setup.rollout_rewards: unknown key"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"logging_level\": \"LOUD\"}",
         "logging_level: \"LOUD\" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"seed\": 1, \"algorithm\": {\"hyperparameters\": "
         "{\"seed\": 2}}}",
         "seed (1) and algorithm.hyperparameters.seed (2) disagree; give one"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": {\"a\": {\"args\": []}}}",
         "mcpServers.a: give either \"command\" (a program speaking MCP over stdio) or \"url\" "
         "(Streamable HTTP)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": {\"a\": {\"command\": \"x\", "
         "\"env\": {\"K\": 1}}}}",
         "mcpServers.a.env.K: expected a string, got 1"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": {}}", "mcpServers: no server is named"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": {\"a\": {\"command\": \"x\", \"cwd\": 3}}}",
         "mcpServers.a.cwd: expected a string, got 3"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"mcpServers\": 3}",
         "mcpServers: expected an object or a file path, got 3"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"eval\": {\"max_tasks\": -1}}",
         "eval.max_tasks: -1 must be >= 0 (0: all)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"eval\": {\"num_generations\": 1}}",
         "eval.num_generations: 1 must be at least 2 (eval_loss compares a group, as training does)"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"extra\": 1}", "extra: unknown key"},
        {"{\"model\": {\"name_or_path\": \"/m\"}, \"model\": {}}", "configuration:1:"},
        {"{\"model\": ", "configuration:1:"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cfg_config c;
        err_t e;
        memset(&e, 0, sizeof e);
        int rc = parse(&c, cases[i].json, &e);
        CHECK_MSG(rc == -1, "case %zu parsed: %s", i, cases[i].json);
        CHECK_MSG(strncmp(e.msg, cases[i].want, strlen(cases[i].want)) == 0 &&
                      (strstr(cases[i].want, "configuration:1:") || !strcmp(e.msg, cases[i].want)),
                  "case %zu\n--- got:\n%s\n--- want:\n%s", i, e.msg, cases[i].want);
        CHECK_MSG(!strchr(e.msg, '\n'), "case %zu: more than one line", i);
    }
}

TEST(config_file_errors_name_the_file)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/bad.json", test_tmpdir());
    const char *j = "{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
                    "{\"beta\": -1}}}";
    err_t e;
    CHECK(file_write_atomic(path, j, strlen(j), &e) == 0);
    cfg_config c;
    CHECK(cfg_load(&c, path, &e) == -1);
    char want[4400];
    snprintf(want, sizeof want, "%s: algorithm.hyperparameters.beta: -1 must be >= 0", path);
    CHECK_STR(e.msg, want);
    snprintf(path, sizeof path, "%s/absent.json", test_tmpdir());
    CHECK(cfg_load(&c, path, &e) == -1);
    CHECK_CONTAINS(e.msg, "absent.json");
}

TEST(config_sft_and_num_generations_defaults)
{
    cfg_config c;
    err_t e;
    CHECK(parse(&c, "{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"name\": \"sft\", "
                    "\"hyperparameters\": {\"batch_size\": 3}}}",
                &e) == 0);
    CHECK(c.algo == CFG_ALGO_SFT && cfg_prompts_per_step(&c) == 3);
    cfg_free(&c);
    CHECK(parse(&c, "{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
                    "{\"batch_size\": 2}}}",
                &e) == 0);
    CHECK(c.hp.num_generations == 2 && cfg_prompts_per_step(&c) == 1);
    cfg_free(&c);
    CHECK(parse(&c, "{\"model\": {\"name_or_path\": \"/m\"}, \"algorithm\": {\"hyperparameters\": "
                    "{\"batch_size\": 3, \"gradient_accumulation_steps\": 2, \"epsilon_high\": null, "
                    "\"scale_rewards\": \"batch\", \"num_iterations\": 1}}}",
                &e) == 0);
    CHECK(c.hp.num_generations == 2 && cfg_prompts_per_step(&c) == 3);
    CHECK(c.hp.epsilon_high == 0.2 && c.hp.scale_rewards == GRPO_SCALE_BATCH);
    CHECK(c.warnings.len == 1); /* only the default reward's */
    cfg_free(&c);
}
