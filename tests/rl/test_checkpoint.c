/* rl/checkpoint: checkpoint folders of the tiny fixture model (full and
 * LoRA) load back - weights, optimizer, scheduler, RNG streams and
 * trainer_state.json; saves replace atomically; pruning keeps the newest
 * and the best; --resume finds the latest complete checkpoint; damaged
 * files are clear errors. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/rl/checkpoint.h"
#include "../test.h"

static void model_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/tests/fixtures/models/%s", test_root(), name);
}

static int has(const char *dir, const char *file)
{
    char p[4600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return file_exists(p);
}

static void fill_state(rl_trainer_state *s, long step)
{
    rl_state_init(s);
    s->global_step = step;
    s->epoch = step / 10.0;
    s->max_steps = 100;
    s->num_train_epochs = 3;
    s->logging_steps = 10;
    s->save_steps = 1;
    s->train_batch_size = 4;
    json_t *h = json_pack("{si,sf}", "step", (int)step, "reward", 0.5);
    rl_state_log(s, h);
    json_decref(h);
    json_object_set_new(s->extra, "task_cursor", json_integer(step * 3));
}

TEST(ckpt_state_round_trip_and_best)
{
    rl_trainer_state s, t;
    fill_state(&s, 7);
    CHECK(rl_state_update_best(&s, 0.25, 1, "run/checkpoint-5") == 1);
    CHECK(rl_state_update_best(&s, 0.20, 1, "run/checkpoint-6") == 0);
    CHECK(rl_state_update_best(&s, NAN, 1, "run/checkpoint-6") == 0);
    CHECK(rl_state_update_best(&s, 0.30, 1, "run/checkpoint-7") == 1);
    json_t *j = rl_state_to_json(&s);
    CHECK(json_integer_value(json_object_get(j, "global_step")) == 7);
    CHECK(json_is_null(json_object_get(j, "trial_name")));
    err_t e;
    CHECK(rl_state_from_json(&t, j, "x", &e) == 0);
    CHECK(t.global_step == 7 && t.epoch == 0.7 && t.best_metric == 0.30);
    CHECK_STR(t.best_model_checkpoint, "run/checkpoint-7");
    CHECK(json_array_size(t.log_history) == 1);
    CHECK(json_integer_value(json_object_get(t.extra, "task_cursor")) == 21);
    /* lower is better (a loss) */
    CHECK(rl_state_update_best(&t, 0.1, 0, NULL) == 1 && t.best_model_checkpoint == NULL);
    rl_state_free(&t);
    json_object_set_new(j, "global_step", json_string("7"));
    CHECK(rl_state_from_json(&t, j, "ts.json", &e) == -1);
    CHECK_STR(e.msg, "ts.json: global_step: expected an integer");
    json_object_set_new(j, "global_step", json_integer(7));
    json_object_set_new(j, "log_history", json_object());
    CHECK(rl_state_from_json(&t, j, "ts.json", &e) == -1);
    CHECK_STR(e.msg, "ts.json: log_history: expected an array");
    json_decref(j);
    rl_state_free(&s);
}

TEST(ckpt_full_model_saves_and_loads)
{
    char md[4300], run[4300];
    model_dir(md, sizeof md, "chat");
    snprintf(run, sizeof run, "%s/full/trainer_output/spider2-lite", test_tmpdir());
    err_t e;
    tf_model *m = tf_load(md, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    CHECK_MSG(tr, "%s", e.msg);
    tf_sched sched = {TF_SCHED_COSINE, 1e-5f, 3, 50};
    rng_t rngs[2];
    rng_seed_stream(&rngs[0], 42, 0);
    rng_seed_stream(&rngs[1], 42, 1);
    rng_next(&rngs[1]);
    rl_trainer_state st;
    fill_state(&st, 3);
    rl_ckpt_save_opts o = {.run_dir = run, .step = 3, .model = m, .model_dir = md, .trainer = tr,
                           .sched = &sched, .state = &st, .rngs = rngs, .n_rngs = 2};
    char *dir = NULL;
    CHECK_MSG(rl_ckpt_save(&o, &dir, &e) == 0, "%s", e.msg);
    CHECK(str_ends(dir, "/spider2-lite/checkpoint-3"));
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "optimizer.safetensors",
                           "scheduler.json", "rng_state.json", "trainer_state.json"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++)
        CHECK_MSG(has(dir, files[i]), "%s missing", files[i]);
    /* everything comes back */
    rl_trainer_state back;
    tf_sched s2 = {0};
    rng_t r2[2];
    CHECK_MSG(rl_ckpt_load(dir, &back, &s2, r2, 2, &e) == 0, "%s", e.msg);
    CHECK(back.global_step == 3 && json_array_size(back.log_history) == 1);
    CHECK(s2.kind == TF_SCHED_COSINE && s2.lr == 1e-5f && s2.warmup_steps == 3 && s2.total_steps == 50);
    CHECK(memcmp(r2, rngs, sizeof rngs) == 0);
    rl_state_free(&back);
    CHECK_MSG(rl_ckpt_load_optimizer(tr, dir, &e) == 0, "%s", e.msg);
    tf_model *m2 = tf_load(dir, NULL, &e);
    CHECK_MSG(m2, "%s", e.msg);
    tf_free(m2);
    /* the wrong number of RNG streams, a damaged file */
    CHECK(rl_ckpt_load(dir, &back, NULL, r2, 3, &e) == -1);
    CHECK_CONTAINS(e.msg, "rng_state.json: expected 3 RNG streams");
    char p[4600];
    snprintf(p, sizeof p, "%s/rng_state.json", dir);
    const char *bad = "{\"streams\": [[\"xyz\", \"0\", \"0\", \"0\"], [\"0\", \"0\", \"0\", \"0\"]]}";
    CHECK(file_write_atomic(p, bad, strlen(bad), &e) == 0);
    CHECK(rl_ckpt_load(dir, &back, NULL, r2, 2, &e) == -1);
    CHECK_CONTAINS(e.msg, "stream 0 word 0: expected 16 hex digits");
    snprintf(p, sizeof p, "%s/trainer_state.json", dir);
    CHECK(file_write_atomic(p, "{", 1, &e) == 0);
    CHECK(rl_ckpt_load(dir, &back, NULL, NULL, 0, &e) == -1);
    CHECK_CONTAINS(e.msg, "trainer_state.json:1:");
    free(dir);
    rl_state_free(&st);
    tf_trainer_free(tr);
    tf_free(m);
}

TEST(ckpt_lora_adapter_saves_and_loads)
{
    char md[4300], run[4300];
    model_dir(md, sizeof md, "chat");
    snprintf(run, sizeof run, "%s/lora", test_tmpdir());
    err_t e;
    tf_model *m = tf_load(md, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);
    tf_lora_opts lo = {.r = 4, .alpha = 8, .targets = "q_proj,v_proj", .seed = 1};
    CHECK_MSG(tf_lora_attach(m, &lo, &e) == 0, "%s", e.msg);
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    CHECK_MSG(tr, "%s", e.msg);
    rl_trainer_state st;
    fill_state(&st, 10);
    rl_ckpt_save_opts o = {.run_dir = run, .step = 10, .model = m, .model_dir = md, .trainer = tr,
                           .state = &st};
    char *dir = NULL;
    CHECK_MSG(rl_ckpt_save(&o, &dir, &e) == 0, "%s", e.msg);
    CHECK(has(dir, "adapter_config.json") && has(dir, "adapter_model.safetensors"));
    CHECK(has(dir, "tokenizer.json") && has(dir, "tokenizer_config.json"));
    CHECK(!has(dir, "model.safetensors") && !has(dir, "rng_state.json") && !has(dir, "scheduler.json"));
    tf_model *base = tf_load(md, NULL, &e);
    CHECK(base);
    CHECK_MSG(tf_lora_load(base, dir, &e) == 0, "%s", e.msg);
    CHECK(tf_lora_num_params(base) == tf_lora_num_params(m));
    tf_free(base);
    free(dir);
    rl_state_free(&st);
    tf_trainer_free(tr);
    tf_free(m);
}

TEST(ckpt_prune_latest_resolve)
{
    char run[4300];
    snprintf(run, sizeof run, "%s/prune", test_tmpdir());
    err_t e;
    char *dir = NULL;
    /* no checkpoints yet */
    CHECK(rl_ckpt_latest(run, &dir, &e) == 1);
    rl_trainer_state st;
    char best[4400];
    snprintf(best, sizeof best, "%s/checkpoint-2", run);
    for (long s = 1; s <= 5; s++) {
        fill_state(&st, s);
        if (s >= 2)
            rl_state_update_best(&st, 1.0, 1, best);
        rl_ckpt_save_opts o = {.run_dir = run, .step = s, .state = &st, .save_total_limit = 2};
        CHECK_MSG(rl_ckpt_save(&o, NULL, &e) == 0, "%s", e.msg);
        rl_state_free(&st);
    }
    char p[4400];
    int left[6];
    for (int s = 1; s <= 5; s++) {
        snprintf(p, sizeof p, "%s/checkpoint-%d", run, s);
        left[s] = file_exists(p);
    }
    /* the newest and the best stay */
    CHECK(!left[1] && left[2] && !left[3] && !left[4] && left[5]);
    /* an incomplete folder and a temporary from a killed save */
    snprintf(p, sizeof p, "%s/checkpoint-9", run);
    CHECK(dir_make(p, &e) == 0);
    snprintf(p, sizeof p, "%s/.checkpoint-11.tmp.999/sub", run);
    CHECK(dir_make(p, &e) == 0);
    CHECK(rl_ckpt_latest(run, &dir, &e) == 0);
    CHECK(str_ends(dir, "/checkpoint-5"));
    free(dir);
    CHECK(rl_ckpt_resolve(run, &dir, &e) == 0 && str_ends(dir, "/checkpoint-5"));
    free(dir);
    snprintf(p, sizeof p, "%s/checkpoint-2", run);
    CHECK(rl_ckpt_resolve(p, &dir, &e) == 0 && !strcmp(dir, p));
    free(dir);
    /* saving step 5 again replaces it; the temporary is cleaned up */
    fill_state(&st, 5);
    st.epoch = 9;
    rl_ckpt_save_opts o = {.run_dir = run, .step = 5, .state = &st};
    CHECK(rl_ckpt_save(&o, &dir, &e) == 0);
    rl_state_free(&st);
    rl_trainer_state back;
    CHECK(rl_ckpt_load(dir, &back, NULL, NULL, 0, &e) == 0 && back.epoch == 9);
    rl_state_free(&back);
    free(dir);
    snprintf(p, sizeof p, "%s/.checkpoint-11.tmp.999", run);
    CHECK(!file_exists(p));
    /* --resume of what is not a run */
    snprintf(p, sizeof p, "%s/prune/checkpoint-9", test_tmpdir());
    CHECK(rl_ckpt_resolve(p, &dir, &e) == -1);
    CHECK_CONTAINS(e.msg, "neither a checkpoint (no trainer_state.json) nor a run folder");
    snprintf(p, sizeof p, "%s/nowhere", test_tmpdir());
    CHECK(rl_ckpt_resolve(p, &dir, &e) == -1);
    CHECK_CONTAINS(e.msg, "nowhere: no such folder");
    /* a run folder that cannot be made */
    snprintf(p, sizeof p, "%s/prune/checkpoint-5/trainer_state.json/x", test_tmpdir());
    fill_state(&st, 1);
    rl_ckpt_save_opts bad = {.run_dir = p, .step = 1, .state = &st};
    CHECK(rl_ckpt_save(&bad, NULL, &e) == -1);
    rl_state_free(&st);
}
