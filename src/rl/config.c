/* rl/config: loading, checking and writing back the training
 * configuration. Every reader takes the key path of the object it reads
 * so that a message names exactly the key that was wrong. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../model/hf_config.h"

/* ---- readers */

/* A short description of a JSON value for "got ..." */
static void describe(const json_t *v, char *out, size_t n)
{
    if (json_is_object(v)) {
        snprintf(out, n, "an object");
    } else if (json_is_array(v)) {
        snprintf(out, n, "an array");
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s && strlen(s) > 60)
            strcpy(s + 57, "...");
        snprintf(out, n, "%s", s ? s : "?");
        free(s);
    }
}

static int type_err(err_t *e, const char *path, const char *key, const char *want, const json_t *v)
{
    char got[80];
    describe(v, got, sizeof got);
    return err_set(e, "%s%s%s: expected %s, got %s", path, *path ? "." : "", key, want, got);
}

/* Every key of obj must be in allowed (NULL-terminated). */
static int check_keys(json_t *obj, const char *path, const char *const *allowed, err_t *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, k) != 0)
            a++;
        if (!*a)
            return err_set(e, "%s%s%s: unknown key", path, *path ? "." : "", k);
    }
    return 0;
}

/* Each getter: key absent or null leaves *out as it is (the default);
 * present with another type is an error. 1 if a value was read. */
static int get_num(json_t *o, const char *key, const char *path, double *out, int *got, err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return type_err(e, path, key, "a number", v);
    *out = json_number_value(v);
    if (got)
        *got = 1;
    return 0;
}

static int get_long(json_t *o, const char *key, const char *path, long *out, err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    double d = json_number_value(v);
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && d == floor(d) && fabs(d) < 1e15) {
        *out = (long)d;
        return 0;
    }
    return type_err(e, path, key, "an integer", v);
}

static int get_int(json_t *o, const char *key, const char *path, int *out, err_t *e)
{
    long l = *out;
    if (get_long(o, key, path, &l, e) != 0)
        return -1;
    if (l < -2147483647L || l > 2147483647L)
        return err_set(e, "%s.%s: %ld is out of range", path, key, l);
    *out = (int)l;
    return 0;
}

static int get_bool(json_t *o, const char *key, const char *path, int *out, err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return type_err(e, path, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

/* Replaces *out (freeing it) when the key holds a string. */
static int get_str(json_t *o, const char *key, const char *path, char **out, err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return type_err(e, path, key, "a string", v);
    free(*out);
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* An object member, or NULL; an error if present and not an object (null
 * counts as absent). */
static int get_obj(json_t *o, const char *key, const char *path, json_t **out, err_t *e)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return type_err(e, path, key, "an object", v);
    *out = v;
    return 0;
}

static int one_of(const char *v, const char *path, const char *key, const char *const *names,
                  int *idx, err_t *e)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            *idx = i;
            return 0;
        }
    buf_t b;
    buf_init(&b);
    for (int i = 0; names[i]; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    err_set(e, "%s.%s: \"%s\" is not one of %s", path, key, v, b.data);
    buf_free(&b);
    return -1;
}

static int range_err(err_t *e, const char *path, const char *key, double v, const char *want)
{
    return err_set(e, "%s.%s: %g %s", path, key, v, want);
}

/* ---- sections */

static const char *const k_top_keys[] = {
    "model", "environment", "algorithm", "reward_setup", "logging_level", "prompt_source",
    "output_dir", "seed", "mcpServers", "eval", NULL};

static int parse_model(cfg_config *c, json_t *m, err_t *e)
{
    static const char *const keys[] = {"name_or_path", "loader", "peft_config", "torch_dtype",
                                       "trust_remote_code", NULL};
    static const char *const dtypes[] = {"auto", "float32", "bfloat16", "float16", NULL};
    if (check_keys(m, "model", keys, e) != 0 || get_str(m, "name_or_path", "model", &c->model_path, e) != 0)
        return -1;
    if (!c->model_path || !*c->model_path)
        return err_set(e, "model.name_or_path: required (a local Hugging Face model directory)");
    char *s = NULL;
    int idx = 0;
    if (get_str(m, "loader", "model", &s, e) != 0)
        return -1;
    if (s && strcmp(s, "huggingface") != 0) {
        err_set(e, "model.loader: \"%s\" is not supported (only \"huggingface\")", s);
        free(s);
        return -1;
    }
    free(s);
    s = NULL;
    if (get_str(m, "torch_dtype", "model", &s, e) != 0)
        return -1;
    if (s && one_of(s, "model", "torch_dtype", dtypes, &idx, e) != 0) {
        free(s);
        return -1;
    }
    free(s);
    c->dtype = (cfg_dtype)idx;
    if (get_bool(m, "trust_remote_code", "model", &c->trust_remote_code, e) != 0)
        return -1;
    json_t *p;
    if (get_obj(m, "peft_config", "model", &p, e) != 0)
        return -1;
    if (!p)
        return 0;
    static const char *const pkeys[] = {"r", "lora_alpha", "lora_dropout", "target_modules",
                                        "use_rslora", "bias", "task_type", "inference_mode", NULL};
    const char *pp = "model.peft_config";
    if (check_keys(p, pp, pkeys, e) != 0)
        return -1;
    c->lora = 1;
    int r = 8, rs = 0, inf = 0;
    double alpha = 8, drop = 0;
    if (get_int(p, "r", pp, &r, e) != 0 || get_num(p, "lora_alpha", pp, &alpha, NULL, e) != 0 ||
        get_num(p, "lora_dropout", pp, &drop, NULL, e) != 0 ||
        get_bool(p, "use_rslora", pp, &rs, e) != 0 || get_bool(p, "inference_mode", pp, &inf, e) != 0)
        return -1;
    if (r < 1)
        return range_err(e, pp, "r", r, "must be at least 1");
    if (!(alpha > 0))
        return range_err(e, pp, "lora_alpha", alpha, "must be > 0");
    if (!(drop >= 0 && drop < 1))
        return range_err(e, pp, "lora_dropout", drop, "must be in [0, 1)");
    s = NULL;
    if (get_str(p, "bias", pp, &s, e) != 0)
        return -1;
    if (s && strcmp(s, "none") != 0) {
        err_set(e, "%s.bias: \"%s\" is not supported (only \"none\")", pp, s);
        free(s);
        return -1;
    }
    free(s);
    s = NULL;
    if (get_str(p, "task_type", pp, &s, e) != 0)
        return -1;
    if (s && strcmp(s, "CAUSAL_LM") != 0) {
        err_set(e, "%s.task_type: \"%s\" is not supported (only \"CAUSAL_LM\")", pp, s);
        free(s);
        return -1;
    }
    free(s);
    json_t *tm = json_object_get(p, "target_modules");
    if (tm && !json_is_null(tm)) {
        buf_t b;
        buf_init(&b);
        if (json_is_string(tm)) {
            buf_puts(&b, json_string_value(tm));
        } else if (json_is_array(tm) && json_array_size(tm) > 0) {
            size_t i;
            json_t *v;
            json_array_foreach(tm, i, v) {
                if (!json_is_string(v)) {
                    buf_free(&b);
                    char key[64];
                    snprintf(key, sizeof key, "target_modules[%zu]", i);
                    return type_err(e, pp, key, "a string", v);
                }
                buf_printf(&b, "%s%s", i ? "," : "", json_string_value(v));
            }
        } else {
            buf_free(&b);
            return type_err(e, pp, "target_modules", "a string or a non-empty list of strings", tm);
        }
        c->lora_targets = buf_take(&b);
    }
    c->lora_opts.r = r;
    c->lora_alpha = alpha;
    c->lora_dropout = drop;
    c->lora_opts.alpha = (float)alpha;
    c->lora_opts.dropout = (float)drop;
    c->lora_opts.rslora = rs;
    c->lora_opts.targets = c->lora_targets;
    return 0;
}

static int parse_env(cfg_config *c, json_t *env, err_t *e)
{
    static const char *const keys[] = {"type", "env_specific_config", NULL};
    static const char *const types[] = {"spider2", NULL};
    static const char *const variants[] = {"lite", "snow", "dbt", NULL};
    static const char *const wires[] = {"auto", "spider2", "hermes", NULL};
    if (check_keys(env, "environment", keys, e) != 0)
        return -1;
    char *t = NULL;
    int idx;
    if (get_str(env, "type", "environment", &t, e) != 0)
        return -1;
    if (t && one_of(t, "environment", "type", types, &idx, e) != 0) {
        free(t);
        return -1;
    }
    free(t);
    json_t *s;
    if (get_obj(env, "env_specific_config", "environment", &s, e) != 0)
        return -1;
    if (!s)
        return 0;
    const char *p = "environment.env_specific_config";
    static const char *const skeys[] = {
        "spider2_data_path", "spider2_type", "mcp_server_url", "max_steps", "max_query_length",
        "enable_external_knowledge", "evaluation_mode", "database_dir", "wire_format",
        "max_turn_tokens", "gold_dir", "documents_dir", NULL};
    if (check_keys(s, p, skeys, e) != 0 || get_str(s, "spider2_data_path", p, &c->data_path, e) != 0 ||
        get_str(s, "spider2_type", p, &c->spider2_type, e) != 0 ||
        get_str(s, "mcp_server_url", p, &c->mcp_server_url, e) != 0 ||
        get_int(s, "max_steps", p, &c->env_max_steps, e) != 0 ||
        get_int(s, "max_query_length", p, &c->max_query_length, e) != 0 ||
        get_bool(s, "enable_external_knowledge", p, &c->enable_external_knowledge, e) != 0 ||
        get_bool(s, "evaluation_mode", p, &c->evaluation_mode, e) != 0 ||
        get_str(s, "database_dir", p, &c->database_dir, e) != 0 ||
        get_str(s, "gold_dir", p, &c->gold_dir, e) != 0 ||
        get_str(s, "documents_dir", p, &c->documents_dir, e) != 0 ||
        get_str(s, "wire_format", p, &c->wire_format, e) != 0 ||
        get_int(s, "max_turn_tokens", p, &c->max_turn_tokens, e) != 0)
        return -1;
    if (one_of(c->spider2_type, p, "spider2_type", variants, &idx, e) != 0 ||
        one_of(c->wire_format, p, "wire_format", wires, &idx, e) != 0)
        return -1;
    if (c->env_max_steps < 1)
        return range_err(e, p, "max_steps", c->env_max_steps, "must be at least 1");
    if (c->max_query_length < 0)
        return range_err(e, p, "max_query_length", c->max_query_length, "must be >= 0 (0: no limit)");
    if (c->max_turn_tokens < 1)
        return range_err(e, p, "max_turn_tokens", c->max_turn_tokens, "must be at least 1");
    return 0;
}

static int parse_hparams(cfg_config *c, json_t *h, err_t *e)
{
    static const char *const keys[] = {
        "learning_rate", "batch_size", "per_device_train_batch_size", "gradient_accumulation_steps",
        "num_generations", "max_length", "max_completion_length", "max_prompt_length",
        "num_iterations", "beta", "epsilon", "epsilon_high", "loss_type", "scale_rewards",
        "temperature", "top_p", "top_k", "max_steps", "num_train_epochs", "warmup_ratio",
        "warmup_steps", "lr_scheduler_type", "max_grad_norm", "weight_decay", "adam_beta1",
        "adam_beta2", "adam_epsilon", "seed", "save_steps", "save_total_limit", "eval_steps",
        "logging_steps", "gradient_checkpointing", "mask_truncated_completions", "eval_on_start",
        NULL};
    const char *p = "algorithm.hyperparameters";
    cfg_hparams *hp = &c->hp;
    if (check_keys(h, p, keys, e) != 0)
        return -1;
    /* TRL's names beside the guide's: one or the other */
    if (json_object_get(h, "batch_size") && json_object_get(h, "per_device_train_batch_size"))
        return err_set(e, "%s: batch_size and per_device_train_batch_size are the same setting; give one", p);
    if (json_object_get(h, "max_length") && json_object_get(h, "max_completion_length"))
        return err_set(e, "%s: max_length and max_completion_length are the same setting; give one", p);
    int has_g = 0, has_eh = 0;
    double g = 0;
    long seed = (long)hp->seed;
    if (get_num(h, "learning_rate", p, &hp->learning_rate, NULL, e) != 0 ||
        get_int(h, "batch_size", p, &hp->batch_size, e) != 0 ||
        get_int(h, "per_device_train_batch_size", p, &hp->batch_size, e) != 0 ||
        get_int(h, "gradient_accumulation_steps", p, &hp->gradient_accumulation_steps, e) != 0 ||
        get_num(h, "num_generations", p, &g, &has_g, e) != 0 ||
        get_int(h, "max_length", p, &hp->max_length, e) != 0 ||
        get_int(h, "max_completion_length", p, &hp->max_length, e) != 0 ||
        get_int(h, "max_prompt_length", p, &hp->max_prompt_length, e) != 0 ||
        get_int(h, "num_iterations", p, &hp->num_iterations, e) != 0 ||
        get_num(h, "beta", p, &hp->beta, NULL, e) != 0 ||
        get_num(h, "epsilon", p, &hp->epsilon, NULL, e) != 0 ||
        get_num(h, "epsilon_high", p, &hp->epsilon_high, &has_eh, e) != 0 ||
        get_num(h, "temperature", p, &hp->temperature, NULL, e) != 0 ||
        get_num(h, "top_p", p, &hp->top_p, NULL, e) != 0 ||
        get_int(h, "top_k", p, &hp->top_k, e) != 0 ||
        get_long(h, "max_steps", p, &hp->max_steps, e) != 0 ||
        get_num(h, "num_train_epochs", p, &hp->num_train_epochs, NULL, e) != 0 ||
        get_num(h, "warmup_ratio", p, &hp->warmup_ratio, NULL, e) != 0 ||
        get_int(h, "warmup_steps", p, &hp->warmup_steps, e) != 0 ||
        get_num(h, "max_grad_norm", p, &hp->max_grad_norm, NULL, e) != 0 ||
        get_num(h, "weight_decay", p, &hp->weight_decay, NULL, e) != 0 ||
        get_num(h, "adam_beta1", p, &hp->adam_beta1, NULL, e) != 0 ||
        get_num(h, "adam_beta2", p, &hp->adam_beta2, NULL, e) != 0 ||
        get_num(h, "adam_epsilon", p, &hp->adam_epsilon, NULL, e) != 0 ||
        get_long(h, "seed", p, &seed, e) != 0 || get_int(h, "save_steps", p, &hp->save_steps, e) != 0 ||
        get_int(h, "save_total_limit", p, &hp->save_total_limit, e) != 0 ||
        get_int(h, "eval_steps", p, &hp->eval_steps, e) != 0 ||
        get_int(h, "logging_steps", p, &hp->logging_steps, e) != 0 ||
        get_bool(h, "gradient_checkpointing", p, &hp->gradient_checkpointing, e) != 0 ||
        get_bool(h, "mask_truncated_completions", p, &hp->mask_truncated_completions, e) != 0 ||
        get_bool(h, "eval_on_start", p, &hp->eval_on_start, e) != 0)
        return -1;
    if (has_g) {
        json_t *v = json_object_get(h, "num_generations");
        if (g != floor(g))
            return type_err(e, p, "num_generations", "an integer", v);
        hp->num_generations = (int)g;
    }
    if (!has_eh)
        hp->epsilon_high = hp->epsilon;
    if (seed < 0)
        return range_err(e, p, "seed", (double)seed, "must be >= 0");
    hp->seed = (uint64_t)seed;
    json_t *lt = json_object_get(h, "loss_type");
    if (lt && !json_is_null(lt)) {
        if (!json_is_string(lt))
            return type_err(e, p, "loss_type", "a string", lt);
        if (grpo_loss_type_parse(json_string_value(lt), &hp->loss_type) != 0)
            return err_set(e, "%s.loss_type: \"%s\" is not one of grpo, bnpo, dr_grpo, dapo", p,
                           json_string_value(lt));
    }
    json_t *sr = json_object_get(h, "scale_rewards");
    if (sr && !json_is_null(sr)) {
        if (json_is_boolean(sr))
            hp->scale_rewards = json_is_true(sr) ? GRPO_SCALE_GROUP : GRPO_SCALE_NONE;
        else if (!json_is_string(sr))
            return type_err(e, p, "scale_rewards", "a string or true/false", sr);
        else if (grpo_scale_parse(json_string_value(sr), &hp->scale_rewards) != 0)
            return err_set(e, "%s.scale_rewards: \"%s\" is not one of group, batch, none", p,
                           json_string_value(sr));
    }
    json_t *ls = json_object_get(h, "lr_scheduler_type");
    if (ls && !json_is_null(ls)) {
        if (!json_is_string(ls))
            return type_err(e, p, "lr_scheduler_type", "a string", ls);
        if (tf_sched_parse(json_string_value(ls), &hp->lr_scheduler) != 0)
            return err_set(e, "%s.lr_scheduler_type: \"%s\" is not one of linear, cosine, constant, "
                              "constant_with_warmup", p, json_string_value(ls));
        snprintf(hp->lr_scheduler_name, sizeof hp->lr_scheduler_name, "%s", json_string_value(ls));
    }
    return 0;
}

/* Defaults that depend on other keys, ranges and the divisibility rule. */
static int check_hparams(cfg_config *c, err_t *e)
{
    const char *p = "algorithm.hyperparameters";
    cfg_hparams *hp = &c->hp;
    if (!(hp->learning_rate > 0) || !isfinite(hp->learning_rate))
        return range_err(e, p, "learning_rate", hp->learning_rate, "must be > 0");
    if (hp->batch_size < 1)
        return range_err(e, p, "batch_size", hp->batch_size, "must be at least 1");
    if (hp->gradient_accumulation_steps < 1)
        return range_err(e, p, "gradient_accumulation_steps", hp->gradient_accumulation_steps,
                         "must be at least 1");
    if (hp->max_length < 1)
        return range_err(e, p, "max_length", hp->max_length, "must be at least 1 (tokens)");
    if (hp->max_prompt_length < 1)
        return range_err(e, p, "max_prompt_length", hp->max_prompt_length, "must be at least 1 (tokens)");
    if (hp->num_iterations < 1)
        return range_err(e, p, "num_iterations", hp->num_iterations, "must be at least 1");
    if (!(hp->beta >= 0))
        return range_err(e, p, "beta", hp->beta, "must be >= 0");
    if (!(hp->epsilon >= 0 && hp->epsilon < 1))
        return range_err(e, p, "epsilon", hp->epsilon, "must be in [0, 1)");
    if (!(hp->epsilon_high >= 0))
        return range_err(e, p, "epsilon_high", hp->epsilon_high, "must be >= 0");
    if (!(hp->temperature > 0))
        return range_err(e, p, "temperature", hp->temperature, "must be > 0");
    if (!(hp->top_p > 0 && hp->top_p <= 1))
        return range_err(e, p, "top_p", hp->top_p, "must be in (0, 1]");
    if (hp->top_k < 0)
        return range_err(e, p, "top_k", hp->top_k, "must be >= 0 (0: off)");
    if (hp->max_steps == 0 || hp->max_steps < -1)
        return range_err(e, p, "max_steps", (double)hp->max_steps,
                         "must be at least 1 (or -1: num_train_epochs decides)");
    if (!(hp->num_train_epochs > 0))
        return range_err(e, p, "num_train_epochs", hp->num_train_epochs, "must be > 0");
    if (!(hp->warmup_ratio >= 0 && hp->warmup_ratio <= 1))
        return range_err(e, p, "warmup_ratio", hp->warmup_ratio, "must be in [0, 1]");
    if (hp->warmup_steps < 0)
        return range_err(e, p, "warmup_steps", hp->warmup_steps, "must be >= 0");
    if (!(hp->max_grad_norm >= 0))
        return range_err(e, p, "max_grad_norm", hp->max_grad_norm, "must be >= 0 (0: no clipping)");
    if (!(hp->weight_decay >= 0))
        return range_err(e, p, "weight_decay", hp->weight_decay, "must be >= 0");
    if (!(hp->adam_beta1 >= 0 && hp->adam_beta1 < 1))
        return range_err(e, p, "adam_beta1", hp->adam_beta1, "must be in [0, 1)");
    if (!(hp->adam_beta2 >= 0 && hp->adam_beta2 < 1))
        return range_err(e, p, "adam_beta2", hp->adam_beta2, "must be in [0, 1)");
    if (!(hp->adam_epsilon > 0))
        return range_err(e, p, "adam_epsilon", hp->adam_epsilon, "must be > 0");
    if (hp->save_steps < 1)
        return range_err(e, p, "save_steps", hp->save_steps, "must be at least 1");
    if (hp->save_total_limit < 0)
        return range_err(e, p, "save_total_limit", hp->save_total_limit, "must be >= 0 (0: keep all)");
    if (hp->eval_steps < 0)
        return range_err(e, p, "eval_steps", hp->eval_steps, "must be >= 0 (0: no evaluation)");
    if (hp->logging_steps < 1)
        return range_err(e, p, "logging_steps", hp->logging_steps, "must be at least 1");
    if (c->algo != CFG_ALGO_GRPO)
        return 0;
    if (hp->num_generations == 0)
        hp->num_generations = hp->batch_size >= 4 ? 4 : 2;
    if (hp->num_generations < 2)
        return range_err(e, p, "num_generations", hp->num_generations,
                         "must be at least 2 (GRPO compares samples of one prompt)");
    long per_step = (long)hp->batch_size * hp->gradient_accumulation_steps;
    if (per_step % hp->num_generations != 0)
        return err_set(e, "%s: batch_size (%d) x gradient_accumulation_steps (%d) = %ld completions "
                          "per step must be a multiple of num_generations (%d)",
                       p, hp->batch_size, hp->gradient_accumulation_steps, per_step,
                       hp->num_generations);
    if (hp->num_iterations > 1) {
        buf_t w;
        buf_init(&w);
        buf_printf(&w, "%s.num_iterations = %d: every batch of rollouts is reused for %d "
                       "optimisation passes (TRL's mu; its default is 1); the run's length is set "
                       "by max_steps",
                   p, hp->num_iterations, hp->num_iterations);
        strlist_push(&c->warnings, w.data);
        buf_free(&w);
    }
    return 0;
}

static int parse_rewards(cfg_config *c, json_t *rs, err_t *e)
{
    static const char *const keys[] = {"step_reward_configs", "rollout_reward_configs", NULL};
    static const char *const rkeys[] = {"weight", "params", "verifiers", "verifier_penalty",
                                        "distribution_strategy", NULL};
    if (rs && check_keys(rs, "reward_setup", keys, e) != 0)
        return -1;
    for (int level = 0; rs && level < 2; level++) {
        const char *sect = level == 0 ? "step_reward_configs" : "rollout_reward_configs";
        json_t *m;
        if (get_obj(rs, sect, "reward_setup", &m, e) != 0)
            return -1;
        if (!m)
            continue;
        const char *name;
        json_t *r;
        json_object_foreach(m, name, r) {
            char path[256];
            snprintf(path, sizeof path, "reward_setup.%s.%s", sect, name);
            if (!json_is_object(r))
                return type_err(e, "", path, "an object", r);
            if (check_keys(r, path, rkeys, e) != 0)
                return -1;
            json_t *vs = json_object_get(r, "verifiers");
            if (vs && !json_is_null(vs) && !json_is_array(vs))
                return type_err(e, path, "verifiers", "a list of names", vs);
            /* the guide's template: a reward "NAME" with verifier "..." */
            int placeholder = !strcmp(name, "NAME");
            for (size_t i = 0; vs && i < json_array_size(vs); i++) {
                json_t *v = json_array_get(vs, i);
                if (!json_is_string(v)) {
                    char key[64];
                    snprintf(key, sizeof key, "verifiers[%zu]", i);
                    return type_err(e, path, key, "a string", v);
                }
                placeholder |= !strcmp(json_string_value(v), "...");
            }
            if (placeholder) {
                buf_t w;
                buf_init(&w);
                buf_printf(&w, "%s: the guide's placeholder (reward \"%s\"%s) is skipped; name a "
                               "reward (%s)",
                           path, name, strcmp(name, "NAME") ? ", verifier \"...\"" : "",
                           rl_reward_names());
                strlist_push(&c->warnings, w.data);
                buf_free(&w);
                continue;
            }
            for (int k = 0; k < c->n_rewards; k++)
                if (!strcmp(c->rewards[k].name, name))
                    return err_set(e, "%s: %s is also a step reward; configure it once (its "
                                      "metrics would share one name)", path, name);
            rl_reward_spec s = {0};
            s.name = xstrdup(name);
            s.level = level == 0 ? RL_REWARD_STEP : RL_REWARD_ROLLOUT;
            s.weight = 1.0;
            s.dist = RL_DIST_LAST_STEP;
            c->rewards = xrealloc(c->rewards, sizeof *c->rewards * (size_t)(c->n_rewards + 1));
            c->rewards[c->n_rewards++] = s;
            rl_reward_spec *sp = &c->rewards[c->n_rewards - 1];
            if (get_num(r, "weight", path, &sp->weight, NULL, e) != 0 ||
                get_num(r, "verifier_penalty", path, &sp->verifier_penalty, NULL, e) != 0)
                return -1;
            json_t *params;
            if (get_obj(r, "params", path, &params, e) != 0)
                return -1;
            sp->params = params ? json_deep_copy(params) : NULL;
            size_t nv = vs ? json_array_size(vs) : 0;
            const char **vl = xcalloc(nv + 1, sizeof *vl);
            for (size_t i = 0; i < nv; i++)
                vl[i] = xstrdup(json_string_value(json_array_get(vs, i)));
            sp->verifiers = vl;
            sp->n_verifiers = (int)nv;
            char *d = NULL;
            if (get_str(r, "distribution_strategy", path, &d, e) != 0)
                return -1;
            if (d && rl_reward_dist_parse(d, &sp->dist) != 0) {
                err_set(e, "%s.distribution_strategy: \"%s\" is not one of last_step, "
                           "all_steps_average, all_steps_equal", path, d);
                free(d);
                return -1;
            }
            free(d);
            if (rl_reward_check(sp, path, e) != 0)
                return -1;
        }
    }
    if (c->n_rewards == 0) {
        rl_reward_spec s = {.name = xstrdup("execution_accuracy"), .level = RL_REWARD_ROLLOUT,
                            .weight = 1.0, .dist = RL_DIST_LAST_STEP};
        s.verifiers = xcalloc(1, sizeof(char *));
        c->rewards = xmalloc(sizeof *c->rewards);
        c->rewards[0] = s;
        c->n_rewards = 1;
        /* SFT has no rewards to speak of */
        if (c->algo == CFG_ALGO_GRPO)
            strlist_push(&c->warnings, "reward_setup: no reward function configured; using "
                                       "execution_accuracy (rollout, weight 1.0)");
    }
    return 0;
}

static int parse_mcp_servers(cfg_config *c, json_t *v, const char *where, err_t *e)
{
    json_t *file = NULL;
    if (json_is_string(v)) {
        json_error_t je;
        c->mcp_file = xstrdup(json_string_value(v));
        file = json_load_file(c->mcp_file, JSON_REJECT_DUPLICATES, &je);
        if (!file)
            return err_set(e, "mcpServers: %s:%d: %s", c->mcp_file, je.line, je.text);
        json_t *inner = json_object_get(file, "mcpServers");
        if (!json_is_object(file) || !json_is_object(inner)) {
            json_decref(file);
            return err_set(e, "mcpServers: %s: expected {\"mcpServers\": {NAME: {command, args, env}}}",
                           c->mcp_file);
        }
        v = inner;
        where = c->mcp_file;
    } else if (!json_is_object(v)) {
        return type_err(e, "", "mcpServers", "an object or a file path", v);
    }
    int rc = 0;
    const char *name;
    json_t *s;
    static const char *const keys[] = {"command", "args", "env", "cwd", "type", "url", NULL};
    c->mcp = xcalloc(json_object_size(v) + 1, sizeof *c->mcp);
    json_object_foreach(v, name, s) {
        char path[256];
        snprintf(path, sizeof path, "%s%smcpServers.%s", where ? where : "", where ? ": " : "", name);
        cfg_mcp_server *m = &c->mcp[c->n_mcp++];
        m->name = xstrdup(name);
        strlist_init(&m->args);
        strlist_init(&m->env_names);
        strlist_init(&m->env_values);
        if (!json_is_object(s)) {
            rc = type_err(e, "", path, "an object", s);
            break;
        }
        char *type = NULL;
        if (check_keys(s, path, keys, e) != 0 || get_str(s, "command", path, &m->command, e) != 0 ||
            get_str(s, "url", path, &m->url, e) != 0 || get_str(s, "type", path, &type, e) != 0 ||
            get_str(s, "cwd", path, &m->cwd, e) != 0) {
            rc = -1;
            free(type);
            break;
        }
        int http = type && strcmp(type, "stdio") != 0;
        if (type && strcmp(type, "stdio") && strcmp(type, "http") && strcmp(type, "streamable-http")) {
            rc = err_set(e, "%s.type: \"%s\" is not one of stdio, http, streamable-http", path, type);
            free(type);
            break;
        }
        free(type);
        if ((m->command != NULL) == (m->url != NULL) || (http && !m->url)) {
            rc = err_set(e, "%s: give either \"command\" (a program speaking MCP over stdio) or "
                            "\"url\" (Streamable HTTP)", path);
            break;
        }
        json_t *args = json_object_get(s, "args"), *env = json_object_get(s, "env");
        if (args && !json_is_null(args)) {
            if (!json_is_array(args)) {
                rc = type_err(e, path, "args", "a list of strings", args);
                break;
            }
            for (size_t i = 0; i < json_array_size(args) && rc == 0; i++) {
                json_t *a = json_array_get(args, i);
                char key[64];
                snprintf(key, sizeof key, "args[%zu]", i);
                if (!json_is_string(a))
                    rc = type_err(e, path, key, "a string", a);
                else
                    strlist_push(&m->args, json_string_value(a));
            }
            if (rc)
                break;
        }
        if (env && !json_is_null(env)) {
            if (!json_is_object(env)) {
                rc = type_err(e, path, "env", "an object of strings", env);
                break;
            }
            const char *k;
            json_t *ev;
            json_object_foreach(env, k, ev) {
                char key[300];
                snprintf(key, sizeof key, "env.%s", k);
                if (!json_is_string(ev)) {
                    rc = type_err(e, path, key, "a string", ev);
                    break;
                }
                strlist_push(&m->env_names, k);
                strlist_push(&m->env_values, json_string_value(ev));
            }
            if (rc)
                break;
        }
    }
    if (rc == 0 && c->n_mcp == 0)
        rc = err_set(e, "mcpServers: no server is named");
    json_decref(file);
    return rc;
}

static int parse_eval(cfg_config *c, json_t *ev, err_t *e)
{
    static const char *const keys[] = {"data_path", "conversations", "max_tasks", "temperature",
                                       "num_generations", "loss_tasks", NULL};
    c->eval = 1;
    if (check_keys(ev, "eval", keys, e) != 0 || get_str(ev, "data_path", "eval", &c->eval_data_path, e) != 0 ||
        get_str(ev, "conversations", "eval", &c->eval_conversations, e) != 0 ||
        get_int(ev, "max_tasks", "eval", &c->eval_max_tasks, e) != 0 ||
        get_num(ev, "temperature", "eval", &c->eval_temperature, NULL, e) != 0 ||
        get_int(ev, "num_generations", "eval", &c->eval_num_generations, e) != 0)
        return -1;
    c->eval_loss_tasks = -1;
    if (get_int(ev, "loss_tasks", "eval", &c->eval_loss_tasks, e) != 0)
        return -1;
    if (json_object_get(ev, "loss_tasks") && c->eval_loss_tasks < 0)
        return range_err(e, "eval", "loss_tasks", c->eval_loss_tasks,
                         "must be >= 0 (0: no eval_loss)");
    if (c->eval_max_tasks < 0)
        return range_err(e, "eval", "max_tasks", c->eval_max_tasks, "must be >= 0 (0: all)");
    if (!(c->eval_temperature >= 0))
        return range_err(e, "eval", "temperature", c->eval_temperature, "must be >= 0 (0: greedy)");
    if (json_object_get(ev, "num_generations") && c->eval_num_generations < 2)
        return range_err(e, "eval", "num_generations", c->eval_num_generations,
                         "must be at least 2 (eval_loss compares a group, as training does)");
    return 0;
}

static void set_defaults(cfg_config *c)
{
    memset(c, 0, sizeof *c);
    strlist_init(&c->warnings);
    c->dtype = CFG_DTYPE_AUTO;
    c->spider2_type = xstrdup("lite");
    c->env_max_steps = 20;
    c->max_query_length = 1000;
    c->enable_external_knowledge = 1;
    c->wire_format = xstrdup("auto");
    c->max_turn_tokens = 512;
    c->algo = CFG_ALGO_GRPO;
    c->log_level = LOG_INFO;
    c->eval_loss_tasks = -1;
    cfg_hparams *hp = &c->hp;
    hp->learning_rate = 1e-6;
    hp->batch_size = 8;
    hp->gradient_accumulation_steps = 1;
    hp->max_length = 256;
    hp->max_prompt_length = 4096;
    hp->num_iterations = 1;
    hp->beta = 0;
    hp->epsilon = 0.2;
    hp->loss_type = GRPO_LOSS_DAPO;
    hp->scale_rewards = GRPO_SCALE_GROUP;
    hp->temperature = 1.0;
    hp->top_p = 1.0;
    hp->max_steps = -1;
    hp->num_train_epochs = 3.0;
    hp->lr_scheduler = TF_SCHED_LINEAR;
    snprintf(hp->lr_scheduler_name, sizeof hp->lr_scheduler_name, "linear");
    hp->max_grad_norm = 1.0;
    hp->adam_beta1 = 0.9;
    hp->adam_beta2 = 0.999;
    hp->adam_epsilon = 1e-8;
    hp->seed = 42;
    hp->save_steps = 500;
    hp->logging_steps = 10;
    hp->gradient_checkpointing = 1;
}

static int parse_root(cfg_config *c, json_t *root, err_t *e)
{
    if (!json_is_object(root))
        return err_set(e, "the configuration must be a JSON object");
    if (check_keys(root, "", k_top_keys, e) != 0)
        return -1;
    json_t *m, *env, *alg, *rs, *ev;
    if (get_obj(root, "model", "", &m, e) != 0 || get_obj(root, "environment", "", &env, e) != 0 ||
        get_obj(root, "algorithm", "", &alg, e) != 0 || get_obj(root, "reward_setup", "", &rs, e) != 0 ||
        get_obj(root, "eval", "", &ev, e) != 0)
        return -1;
    if (!m)
        return err_set(e, "model: required (model.name_or_path names a local model directory)");
    if (parse_model(c, m, e) != 0 || (env && parse_env(c, env, e) != 0))
        return -1;
    if (alg) {
        static const char *const keys[] = {"name", "backend", "hyperparameters", NULL};
        static const char *const algos[] = {"grpo", "sft", NULL};
        if (check_keys(alg, "algorithm", keys, e) != 0)
            return -1;
        char *s = NULL;
        int idx = 0;
        if (get_str(alg, "name", "algorithm", &s, e) != 0)
            return -1;
        if (s && one_of(s, "algorithm", "name", algos, &idx, e) != 0) {
            free(s);
            return -1;
        }
        free(s);
        c->algo = (cfg_algo)idx;
        s = NULL;
        if (get_str(alg, "backend", "algorithm", &s, e) != 0)
            return -1;
        if (s && strcmp(s, "trl") != 0) {
            err_set(e, "algorithm.backend: \"%s\" is not supported (\"trl\": TRL's semantics)", s);
            free(s);
            return -1;
        }
        free(s);
        json_t *h;
        if (get_obj(alg, "hyperparameters", "algorithm", &h, e) != 0 || (h && parse_hparams(c, h, e) != 0))
            return -1;
    }
    /* top-level seed: the same setting as hyperparameters.seed */
    json_t *sv = json_object_get(root, "seed");
    if (sv && !json_is_null(sv)) {
        long seed = 0;
        if (get_long(root, "seed", "", &seed, e) != 0)
            return -1;
        if (seed < 0)
            return err_set(e, "seed: %ld must be >= 0", seed);
        json_t *hs = alg ? json_object_get(json_object_get(alg, "hyperparameters"), "seed") : NULL;
        if (hs && json_is_integer(hs) && (uint64_t)seed != c->hp.seed)
            return err_set(e, "seed (%ld) and algorithm.hyperparameters.seed (%llu) disagree; give one",
                           seed, (unsigned long long)c->hp.seed);
        c->hp.seed = (uint64_t)seed;
    }
    if (check_hparams(c, e) != 0 || parse_rewards(c, rs, e) != 0)
        return -1;
    char *lvl = NULL;
    if (get_str(root, "logging_level", "", &lvl, e) != 0)
        return -1;
    if (lvl && log_level_parse(lvl, &c->log_level) != 0) {
        err_set(e, "logging_level: \"%s\" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL", lvl);
        free(lvl);
        return -1;
    }
    free(lvl);
    if (get_str(root, "prompt_source", "", &c->prompt_source, e) != 0 ||
        get_str(root, "output_dir", "", &c->output_dir, e) != 0)
        return -1;
    json_t *mv = json_object_get(root, "mcpServers");
    if (mv && !json_is_null(mv)) {
        if (parse_mcp_servers(c, mv, NULL, e) != 0)
            return -1;
        if (c->mcp_server_url) {
            buf_t w;
            buf_init(&w);
            buf_printf(&w, "environment.env_specific_config.mcp_server_url (%s) is ignored: "
                           "mcpServers names the servers", c->mcp_server_url);
            strlist_push(&c->warnings, w.data);
            buf_free(&w);
        }
    }
    /* no hyperparameters section: the group size still takes its default */
    if (c->hp.num_generations == 0)
        c->hp.num_generations = c->hp.batch_size >= 4 ? 4 : 2;
    if (ev && parse_eval(c, ev, e) != 0)
        return -1;
    if (c->eval_num_generations == 0)
        c->eval_num_generations = c->hp.num_generations;
    if (!c->prompt_source && c->data_path)
        c->prompt_source = xstrdup(c->data_path);
    /* evaluation tasks: GRPO's training tasks by default; SFT trains on
     * conversations, so its default is the environment's tasks */
    const char *eval_tasks = c->algo == CFG_ALGO_SFT ? c->data_path : c->prompt_source;
    if (c->eval && !c->eval_data_path && eval_tasks)
        c->eval_data_path = xstrdup(eval_tasks);
    if (!c->output_dir) {
        buf_t b;
        buf_init(&b);
        buf_printf(&b, "trainer_output/spider2-%s", c->spider2_type);
        c->output_dir = buf_take(&b);
    }
    return 0;
}

int cfg_parse(cfg_config *c, const char *text, size_t len, const char *what, err_t *e)
{
    set_defaults(c);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc;
    if (!root) {
        rc = err_set(e, "%s:%d:%d: %s", what ? what : "configuration", je.line, je.column, je.text);
        cfg_free(c);
        return rc;
    }
    rc = parse_root(c, root, e);
    json_decref(root);
    if (rc != 0) {
        if (what && e) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            err_set(e, "%s: %s", what, msg);
        }
        cfg_free(c);
        return -1;
    }
    return 0;
}

int cfg_load(cfg_config *c, const char *path, err_t *e)
{
    size_t n;
    char *text = file_read(path, &n, e);
    if (!text) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    int rc = cfg_parse(c, text, n, path, e);
    free(text);
    return rc;
}

void cfg_free(cfg_config *c)
{
    free(c->model_path);
    free(c->lora_targets);
    free(c->data_path);
    free(c->spider2_type);
    free(c->mcp_server_url);
    free(c->database_dir);
    free(c->gold_dir);
    free(c->documents_dir);
    free(c->wire_format);
    for (int i = 0; i < c->n_rewards; i++) {
        rl_reward_spec *s = &c->rewards[i];
        free((char *)s->name);
        json_decref((json_t *)s->params);
        for (int v = 0; v < s->n_verifiers; v++)
            free((char *)s->verifiers[v]);
        free((void *)s->verifiers);
    }
    free(c->rewards);
    free(c->prompt_source);
    free(c->output_dir);
    for (int i = 0; i < c->n_mcp; i++) {
        cfg_mcp_server *m = &c->mcp[i];
        free(m->name);
        free(m->command);
        free(m->cwd);
        free(m->url);
        strlist_free(&m->args);
        strlist_free(&m->env_names);
        strlist_free(&m->env_values);
    }
    free(c->mcp);
    free(c->mcp_file);
    free(c->eval_data_path);
    free(c->eval_conversations);
    strlist_free(&c->warnings);
    memset(c, 0, sizeof *c);
}

int cfg_check_model(const cfg_config *c, err_t *e)
{
    err_t inner;
    if (hf_model_dir_check(c->model_path, &inner) != 0)
        return err_set(e, "model.name_or_path: %s", inner.msg);
    return 0;
}

int cfg_prompts_per_step(const cfg_config *c)
{
    int G = c->algo == CFG_ALGO_GRPO ? c->hp.num_generations : 1;
    return c->hp.batch_size * c->hp.gradient_accumulation_steps / (G > 0 ? G : 1);
}

/* ---- writing back */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

json_t *cfg_mcp_json(const cfg_config *c)
{
    json_t *ms = json_object();
    for (int i = 0; i < c->n_mcp; i++) {
        const cfg_mcp_server *m = &c->mcp[i];
        json_t *o = json_object();
        if (m->command) {
            json_t *a = json_array(), *env = json_object();
            for (size_t k = 0; k < m->args.len; k++)
                json_array_append_new(a, json_string(m->args.items[k]));
            for (size_t k = 0; k < m->env_names.len; k++)
                json_object_set_new(env, m->env_names.items[k], json_string(m->env_values.items[k]));
            json_object_set_new(o, "command", json_string(m->command));
            json_object_set_new(o, "args", a);
            json_object_set_new(o, "env", env);
            if (m->cwd)
                json_object_set_new(o, "cwd", json_string(m->cwd));
        } else {
            json_object_set_new(o, "type", json_string("http"));
            json_object_set_new(o, "url", json_string(m->url));
        }
        json_object_set_new(ms, m->name, o);
    }
    return ms;
}

json_t *cfg_to_json(const cfg_config *c)
{
    static const char *const dtypes[] = {"auto", "float32", "bfloat16", "float16"};
    static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    json_t *peft = json_null();
    if (c->lora) {
        peft = json_pack("{si,sf,sf,so,sb,ss,ss}", "r", c->lora_opts.r, "lora_alpha",
                         c->lora_alpha, "lora_dropout", c->lora_dropout,
                         "target_modules", str_or_null(c->lora_targets), "use_rslora",
                         c->lora_opts.rslora, "bias", "none", "task_type", "CAUSAL_LM");
    }
    json_t *model = json_pack("{ss,ss,so,ss,sb}", "name_or_path", c->model_path, "loader",
                              "huggingface", "peft_config", peft, "torch_dtype", dtypes[c->dtype],
                              "trust_remote_code", c->trust_remote_code);
    json_t *esc = json_pack("{so,ss,so,si,si,sb,sb,so,so,so,ss,si}", "spider2_data_path",
                            str_or_null(c->data_path), "spider2_type", c->spider2_type,
                            "mcp_server_url", str_or_null(c->mcp_server_url), "max_steps",
                            c->env_max_steps, "max_query_length", c->max_query_length,
                            "enable_external_knowledge", c->enable_external_knowledge,
                            "evaluation_mode", c->evaluation_mode, "database_dir",
                            str_or_null(c->database_dir), "gold_dir", str_or_null(c->gold_dir),
                            "documents_dir", str_or_null(c->documents_dir), "wire_format",
                            c->wire_format,
                            "max_turn_tokens", c->max_turn_tokens);
    const cfg_hparams *hp = &c->hp;
    json_t *h = json_object();
    json_object_set_new(h, "learning_rate", json_real(hp->learning_rate));
    json_object_set_new(h, "batch_size", json_integer(hp->batch_size));
    json_object_set_new(h, "gradient_accumulation_steps", json_integer(hp->gradient_accumulation_steps));
    if (c->algo == CFG_ALGO_GRPO)
        json_object_set_new(h, "num_generations", json_integer(hp->num_generations));
    json_object_set_new(h, "max_length", json_integer(hp->max_length));
    json_object_set_new(h, "max_prompt_length", json_integer(hp->max_prompt_length));
    json_object_set_new(h, "num_iterations", json_integer(hp->num_iterations));
    json_object_set_new(h, "beta", json_real(hp->beta));
    json_object_set_new(h, "epsilon", json_real(hp->epsilon));
    json_object_set_new(h, "epsilon_high", json_real(hp->epsilon_high));
    json_object_set_new(h, "loss_type", json_string(grpo_loss_type_name(hp->loss_type)));
    json_object_set_new(h, "scale_rewards", json_string(grpo_scale_name(hp->scale_rewards)));
    json_object_set_new(h, "temperature", json_real(hp->temperature));
    json_object_set_new(h, "top_p", json_real(hp->top_p));
    json_object_set_new(h, "top_k", json_integer(hp->top_k));
    json_object_set_new(h, "max_steps", json_integer(hp->max_steps));
    json_object_set_new(h, "num_train_epochs", json_real(hp->num_train_epochs));
    json_object_set_new(h, "warmup_ratio", json_real(hp->warmup_ratio));
    json_object_set_new(h, "warmup_steps", json_integer(hp->warmup_steps));
    json_object_set_new(h, "lr_scheduler_type", json_string(hp->lr_scheduler_name));
    json_object_set_new(h, "max_grad_norm", json_real(hp->max_grad_norm));
    json_object_set_new(h, "weight_decay", json_real(hp->weight_decay));
    json_object_set_new(h, "adam_beta1", json_real(hp->adam_beta1));
    json_object_set_new(h, "adam_beta2", json_real(hp->adam_beta2));
    json_object_set_new(h, "adam_epsilon", json_real(hp->adam_epsilon));
    json_object_set_new(h, "seed", json_integer((json_int_t)hp->seed));
    json_object_set_new(h, "save_steps", json_integer(hp->save_steps));
    json_object_set_new(h, "save_total_limit", json_integer(hp->save_total_limit));
    json_object_set_new(h, "eval_steps", json_integer(hp->eval_steps));
    json_object_set_new(h, "logging_steps", json_integer(hp->logging_steps));
    json_object_set_new(h, "gradient_checkpointing", json_boolean(hp->gradient_checkpointing));
    json_object_set_new(h, "mask_truncated_completions", json_boolean(hp->mask_truncated_completions));
    json_object_set_new(h, "eval_on_start", json_boolean(hp->eval_on_start));
    json_t *alg = json_pack("{ss,ss,so}", "name", c->algo == CFG_ALGO_GRPO ? "grpo" : "sft",
                            "backend", "trl", "hyperparameters", h);
    json_t *step = json_object(), *roll = json_object();
    for (int i = 0; i < c->n_rewards; i++) {
        const rl_reward_spec *s = &c->rewards[i];
        json_t *v = json_array();
        for (int k = 0; k < s->n_verifiers; k++)
            json_array_append_new(v, json_string(s->verifiers[k]));
        json_t *params = s->params ? json_deep_copy(s->params) : json_object();
        json_t *r = json_pack("{sf,so,so,sf,ss}", "weight", s->weight, "params", params,
                              "verifiers", v, "verifier_penalty", s->verifier_penalty,
                              "distribution_strategy", rl_reward_dist_name(s->dist));
        json_object_set_new(s->level == RL_REWARD_STEP ? step : roll, s->name, r);
    }
    json_t *root = json_pack("{so,s{ss,so},so,s{so,so}}", "model", model, "environment", "type",
                             "spider2", "env_specific_config", esc, "algorithm", alg,
                             "reward_setup", "step_reward_configs", step,
                             "rollout_reward_configs", roll);
    int li = c->log_level == LOG_DEBUG ? 0 : c->log_level == LOG_INFO ? 1
             : c->log_level == LOG_WARN ? 2 : c->log_level == LOG_ERROR ? 3 : 4;
    json_object_set_new(root, "logging_level", json_string(levels[li]));
    json_object_set_new(root, "prompt_source", str_or_null(c->prompt_source));
    json_object_set_new(root, "output_dir", json_string(c->output_dir));
    json_object_set_new(root, "seed", json_integer((json_int_t)hp->seed));
    if (c->n_mcp)
        json_object_set_new(root, "mcpServers", cfg_mcp_json(c));
    if (c->eval) {
        json_t *ev = json_pack("{so,so,si,sf,si}", "data_path", str_or_null(c->eval_data_path),
                               "conversations", str_or_null(c->eval_conversations), "max_tasks",
                               c->eval_max_tasks, "temperature", c->eval_temperature,
                               "num_generations", c->eval_num_generations);
        if (c->eval_loss_tasks >= 0)
            json_object_set_new(ev, "loss_tasks", json_integer(c->eval_loss_tasks));
        json_object_set_new(root, "eval", ev);
    }
    return root;
}

int cfg_write_resolved(const cfg_config *c, const char *path, err_t *e)
{
    json_t *j = cfg_to_json(c);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(j);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, text);
    buf_putc(&b, '\n');
    free(text);
    int rc = file_write_atomic(path, b.data, b.len, e);
    buf_free(&b);
    return rc;
}
