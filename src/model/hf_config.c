/* model/hf_config: config.json of the supported architectures. Every
 * message names the file and the key. */
#include "hf_config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest accepted size of one dimension, so products of a few of them
 * (tensor sizes) stay far inside size_t. */
#define HF_MAX_DIM (1 << 24)

typedef struct {
    const char *what;
    err_t *e;
} ctx_t;

/* A positive integer key. required: missing is an error; else *out keeps
 * its default. null counts as missing. */
static int get_int(ctx_t *c, json_t *o, const char *key, int required, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return err_set(c->e, "%s: missing key \"%s\"", c->what, key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > HF_MAX_DIM)
        return err_set(c->e, "%s: \"%s\" must be an integer from 1 to %d", c->what, key,
                       HF_MAX_DIM);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_num(ctx_t *c, json_t *o, const char *key, const char *path, int required,
                   double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return err_set(c->e, "%s: missing key \"%s\"", c->what, path);
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return err_set(c->e, "%s: \"%s\" must be a number", c->what, path);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(ctx_t *c, json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return err_set(c->e, "%s: \"%s\" must be true or false", c->what, key);
    *out = json_is_true(v);
    return 0;
}

static int get_token_ids(ctx_t *c, hf_config *cfg, json_t *o)
{
    json_t *v = json_object_get(o, "bos_token_id");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return err_set(c->e, "%s: \"bos_token_id\" must be a non-negative integer", c->what);
        cfg->bos_token_id = (int)json_integer_value(v);
    }
    v = json_object_get(o, "eos_token_id");
    if (!v || json_is_null(v))
        return 0;
    cfg->n_eos = 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return err_set(c->e, "%s: \"eos_token_id\" must be a non-negative integer", c->what);
        cfg->eos_token_ids[cfg->n_eos++] = (int)json_integer_value(v);
        return 0;
    }
    if (!json_is_array(v))
        return err_set(c->e, "%s: \"eos_token_id\" must be an integer or a list of integers",
                       c->what);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return err_set(c->e, "%s: \"eos_token_id\"[%zu] must be a non-negative integer", c->what,
                           i);
        if (cfg->n_eos == HF_MAX_EOS)
            return err_set(c->e, "%s: \"eos_token_id\" lists more than %d ids", c->what, HF_MAX_EOS);
        cfg->eos_token_ids[cfg->n_eos++] = (int)json_integer_value(x);
    }
    return 0;
}

static int parse_gpt2(ctx_t *c, hf_config *cfg, json_t *o)
{
    cfg->rms_norm = 0;
    cfg->learned_pos = 1;
    cfg->qkv_bias = cfg->o_bias = cfg->mlp_bias = 1;
    cfg->norm_eps = 1e-5f;
    cfg->bos_token_id = 50256;
    cfg->eos_token_ids[0] = 50256;
    cfg->n_eos = 1;
    if (get_int(c, o, "vocab_size", 1, &cfg->vocab_size) || get_int(c, o, "n_embd", 1, &cfg->hidden) ||
        get_int(c, o, "n_layer", 1, &cfg->n_layer) || get_int(c, o, "n_head", 1, &cfg->n_head))
        return -1;
    /* Old configs name the context n_ctx; both mean the wpe table size. */
    if (json_object_get(o, "n_positions") || !json_object_get(o, "n_ctx")) {
        if (get_int(c, o, "n_positions", 1, &cfg->max_pos))
            return -1;
    } else if (get_int(c, o, "n_ctx", 1, &cfg->max_pos)) {
        return -1;
    }
    if (cfg->hidden % cfg->n_head)
        return err_set(c->e, "%s: n_embd %d is not a multiple of n_head %d", c->what, cfg->hidden,
                       cfg->n_head);
    cfg->n_kv_head = cfg->n_head;
    cfg->head_dim = cfg->hidden / cfg->n_head;
    cfg->intermediate = 4 * cfg->hidden;
    if (get_int(c, o, "n_inner", 0, &cfg->intermediate))
        return -1;
    double eps = cfg->norm_eps;
    if (get_num(c, o, "layer_norm_epsilon", "layer_norm_epsilon", 0, &eps))
        return -1;
    cfg->norm_eps = (float)eps;
    json_t *act = json_object_get(o, "activation_function");
    const char *a = act ? json_string_value(act) : "gelu_new";
    if (!a)
        return err_set(c->e, "%s: \"activation_function\" must be a string", c->what);
    if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast"))
        cfg->act = HF_ACT_GELU_TANH;
    else if (!strcmp(a, "gelu"))
        cfg->act = HF_ACT_GELU;
    else
        return err_set(c->e, "%s: activation_function \"%s\" is not supported (gelu_new, gelu)",
                       c->what, a);
    /* Variants of GPT-2 attention that change the arithmetic. */
    int scale = 1, by_layer = 0, cross = 0;
    if (get_bool(c, o, "scale_attn_weights", &scale) ||
        get_bool(c, o, "scale_attn_by_inverse_layer_idx", &by_layer) ||
        get_bool(c, o, "add_cross_attention", &cross))
        return -1;
    if (!scale)
        return err_set(c->e, "%s: \"scale_attn_weights\": false is not supported", c->what);
    if (by_layer)
        return err_set(c->e, "%s: \"scale_attn_by_inverse_layer_idx\": true is not supported",
                       c->what);
    if (cross)
        return err_set(c->e, "%s: \"add_cross_attention\": true is not supported", c->what);
    return 0;
}

static int parse_rope_scaling(ctx_t *c, hf_config *cfg, json_t *rs)
{
    if (!rs || json_is_null(rs))
        return 0;
    if (!json_is_object(rs))
        return err_set(c->e, "%s: \"rope_scaling\" must be an object or null", c->what);
    json_t *t = json_object_get(rs, "rope_type");
    if (!t)
        t = json_object_get(rs, "type");
    const char *type = t ? json_string_value(t) : NULL;
    if (!type)
        return err_set(c->e, "%s: missing key \"rope_scaling.rope_type\"", c->what);
    if (!strcmp(type, "default"))
        return 0;
    if (strcmp(type, "llama3") != 0)
        return err_set(c->e, "%s: rope_scaling type \"%s\" is not supported (llama3, default)",
                       c->what, type);
    double factor = 0, lo = 0, hi = 0;
    if (get_num(c, rs, "factor", "rope_scaling.factor", 1, &factor) ||
        get_num(c, rs, "low_freq_factor", "rope_scaling.low_freq_factor", 1, &lo) ||
        get_num(c, rs, "high_freq_factor", "rope_scaling.high_freq_factor", 1, &hi))
        return -1;
    json_t *om = json_object_get(rs, "original_max_position_embeddings");
    if (!om)
        return err_set(c->e, "%s: missing key \"rope_scaling.original_max_position_embeddings\"",
                       c->what);
    if (!json_is_integer(om) || json_integer_value(om) < 1 ||
        json_integer_value(om) > HF_MAX_DIM)
        return err_set(c->e,
                       "%s: \"rope_scaling.original_max_position_embeddings\" must be a positive "
                       "integer",
                       c->what);
    if (factor <= 0 || lo <= 0 || hi <= lo)
        return err_set(c->e,
                       "%s: rope_scaling needs factor > 0 and 0 < low_freq_factor < "
                       "high_freq_factor",
                       c->what);
    cfg->rope = HF_ROPE_LLAMA3;
    cfg->rope_factor = (float)factor;
    cfg->rope_low_freq_factor = (float)lo;
    cfg->rope_high_freq_factor = (float)hi;
    cfg->rope_original_max_pos = (int)json_integer_value(om);
    return 0;
}

static int parse_llama(ctx_t *c, hf_config *cfg, json_t *o)
{
    cfg->rms_norm = 1;
    cfg->learned_pos = 0;
    cfg->gated_mlp = 1;
    cfg->act = HF_ACT_SILU;
    cfg->rope = HF_ROPE_DEFAULT;
    cfg->rope_theta = 10000.0;
    cfg->norm_eps = 1e-6f;
    cfg->tie_word_embeddings = 0;
    switch (cfg->arch) {
    case HF_LLAMA:
        cfg->max_pos = 2048;
        cfg->bos_token_id = 1;
        cfg->eos_token_ids[0] = 2;
        cfg->n_eos = 1;
        break;
    case HF_MISTRAL:
        cfg->max_pos = 4096 * 32;
        cfg->sliding_window = 4096;
        cfg->bos_token_id = 1;
        cfg->eos_token_ids[0] = 2;
        cfg->n_eos = 1;
        break;
    default: /* Qwen2, Qwen3 */
        cfg->max_pos = 32768;
        break;
    }
    if (get_int(c, o, "vocab_size", 1, &cfg->vocab_size) ||
        get_int(c, o, "hidden_size", 1, &cfg->hidden) ||
        get_int(c, o, "intermediate_size", 1, &cfg->intermediate) ||
        get_int(c, o, "num_hidden_layers", 1, &cfg->n_layer) ||
        get_int(c, o, "num_attention_heads", 1, &cfg->n_head))
        return -1;
    cfg->n_kv_head = cfg->n_head;
    if (get_int(c, o, "num_key_value_heads", 0, &cfg->n_kv_head) ||
        get_int(c, o, "max_position_embeddings", 0, &cfg->max_pos))
        return -1;
    if (cfg->n_head % cfg->n_kv_head)
        return err_set(c->e, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                       c->what, cfg->n_head, cfg->n_kv_head);
    if (cfg->arch == HF_QWEN3 && !json_object_get(o, "head_dim")) {
        cfg->head_dim = 128; /* Qwen3Config's default */
    } else if (!json_object_get(o, "head_dim") || json_is_null(json_object_get(o, "head_dim"))) {
        if (cfg->hidden % cfg->n_head)
            return err_set(c->e, "%s: hidden_size %d is not a multiple of num_attention_heads %d "
                                 "and there is no head_dim",
                           c->what, cfg->hidden, cfg->n_head);
        cfg->head_dim = cfg->hidden / cfg->n_head;
    }
    if (get_int(c, o, "head_dim", 0, &cfg->head_dim))
        return -1;
    if (cfg->head_dim % 2)
        return err_set(c->e, "%s: head_dim %d must be even for rotary embeddings", c->what,
                       cfg->head_dim);
    double eps = cfg->norm_eps;
    if (get_num(c, o, "rms_norm_eps", "rms_norm_eps", 0, &eps) ||
        get_num(c, o, "rope_theta", "rope_theta", 0, &cfg->rope_theta))
        return -1;
    if (eps < 0 || cfg->rope_theta <= 0)
        return err_set(c->e, "%s: rms_norm_eps must be >= 0 and rope_theta > 0", c->what);
    cfg->norm_eps = (float)eps;
    json_t *act = json_object_get(o, "hidden_act");
    const char *a = act ? json_string_value(act) : "silu";
    if (!a)
        return err_set(c->e, "%s: \"hidden_act\" must be a string", c->what);
    if (strcmp(a, "silu") != 0 && strcmp(a, "swish") != 0)
        return err_set(c->e, "%s: hidden_act \"%s\" is not supported (silu)", c->what, a);
    int attn_bias = cfg->arch == HF_QWEN2;
    if (get_bool(c, o, "attention_bias", &attn_bias) || get_bool(c, o, "mlp_bias", &cfg->mlp_bias))
        return -1;
    /* As the transformers modules build their Linear layers: Qwen2's q/k/v
     * always have biases and its o_proj never; Mistral has none; Llama and
     * Qwen3 follow attention_bias; only Llama reads mlp_bias. */
    if (cfg->arch == HF_MISTRAL)
        attn_bias = 0;
    cfg->qkv_bias = cfg->arch == HF_QWEN2 ? 1 : attn_bias;
    cfg->o_bias = cfg->arch == HF_QWEN2 ? 0 : attn_bias;
    if (cfg->arch != HF_LLAMA)
        cfg->mlp_bias = 0;
    cfg->qk_norm = cfg->arch == HF_QWEN3;
    if (cfg->arch == HF_MISTRAL) {
        json_t *sw = json_object_get(o, "sliding_window");
        if (sw && json_is_null(sw))
            cfg->sliding_window = 0;
        else if (get_int(c, o, "sliding_window", 0, &cfg->sliding_window))
            return -1;
    }
    if (cfg->arch == HF_QWEN2 || cfg->arch == HF_QWEN3) {
        int usw = 0;
        if (get_bool(c, o, "use_sliding_window", &usw))
            return -1;
        if (usw)
            return err_set(c->e, "%s: \"use_sliding_window\": true is not supported", c->what);
    }
    return parse_rope_scaling(c, cfg, json_object_get(o, "rope_scaling"));
}

static const struct {
    const char *name;
    hf_arch arch;
} g_arch[] = {
    {"GPT2LMHeadModel", HF_GPT2},     {"GPT2Model", HF_GPT2},
    {"LlamaForCausalLM", HF_LLAMA},   {"MistralForCausalLM", HF_MISTRAL},
    {"Qwen2ForCausalLM", HF_QWEN2},   {"Qwen3ForCausalLM", HF_QWEN3},
    /* model_type, for configs without "architectures" */
    {"gpt2", HF_GPT2},                {"llama", HF_LLAMA},
    {"mistral", HF_MISTRAL},          {"qwen2", HF_QWEN2},
    {"qwen3", HF_QWEN3},
};

int hf_config_parse(hf_config *cfg, const char *json, size_t len, const char *what, err_t *e)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_token_id = -1;
    ctx_t c = {what, e};
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o)
        return err_set(e, "%s:%d: %s", what, je.line, je.text);
    int rc = -1;
    if (!json_is_object(o)) {
        err_set(e, "%s: not a JSON object", what);
        goto done;
    }
    const char *name = NULL;
    json_t *archs = json_object_get(o, "architectures");
    if (archs && !json_is_null(archs)) {
        if (!json_is_array(archs) || !json_string_value(json_array_get(archs, 0))) {
            err_set(e, "%s: \"architectures\" must be a list of names", what);
            goto done;
        }
        name = json_string_value(json_array_get(archs, 0));
    } else if (json_string_value(json_object_get(o, "model_type"))) {
        name = json_string_value(json_object_get(o, "model_type"));
    } else {
        err_set(e, "%s: missing key \"architectures\" (or \"model_type\")", what);
        goto done;
    }
    size_t i;
    for (i = 0; i < ARRAY_LEN(g_arch); i++)
        if (!strcmp(name, g_arch[i].name))
            break;
    if (i == ARRAY_LEN(g_arch)) {
        err_set(e,
                "%s: architecture \"%s\" is not supported (GPT2LMHeadModel, LlamaForCausalLM, "
                "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)",
                what, name);
        goto done;
    }
    cfg->arch = g_arch[i].arch;
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", name);
    cfg->tie_word_embeddings = 1;
    if ((cfg->arch == HF_GPT2 ? parse_gpt2(&c, cfg, o) : parse_llama(&c, cfg, o)) != 0)
        goto done;
    if (get_bool(&c, o, "tie_word_embeddings", &cfg->tie_word_embeddings) ||
        get_token_ids(&c, cfg, o))
        goto done;
    json_t *dt = json_object_get(o, "torch_dtype");
    if (!dt)
        dt = json_object_get(o, "dtype");
    if (dt && !json_is_null(dt)) {
        if (!json_is_string(dt)) {
            err_set(e, "%s: \"torch_dtype\" must be a string", what);
            goto done;
        }
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", json_string_value(dt));
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}

int hf_config_load(hf_config *c, const char *dir, err_t *e)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/config.json", dir);
    size_t len;
    char *text = file_read(path.data, &len, e);
    int rc = -1;
    if (text)
        rc = hf_config_parse(c, text, len, path.data, e);
    free(text);
    buf_free(&path);
    return rc;
}

int hf_model_dir_check(const char *dir, err_t *e)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    /* "owner/name" with no leading dot or slash looks like a hub id */
    const char *slash = strchr(dir, '/');
    int hub = slash && slash != dir && !strchr(slash + 1, '/') && slash[1] && dir[0] != '.' &&
              dir[0] != '~';
    if (hub)
        return err_set(e, "%s: no such directory; it looks like a Hugging Face hub name, and models "
                          "cannot be downloaded here: fetch it elsewhere and give its local "
                          "directory (config.json, model.safetensors, tokenizer.json)", dir);
    return err_set(e, "%s: no such directory (a model directory holds config.json, "
                      "model.safetensors and tokenizer.json)", dir);
}

int hf_config_llama(hf_config *c, int vocab, int hidden, int layers, int heads, int kv_heads,
                    int ffn, err_t *e)
{
    /* Through the parser, so a new model meets every check a loaded one does. */
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(o, "model_type", json_string("llama"));
    json_object_set_new(o, "vocab_size", json_integer(vocab));
    json_object_set_new(o, "hidden_size", json_integer(hidden));
    json_object_set_new(o, "num_hidden_layers", json_integer(layers));
    json_object_set_new(o, "num_attention_heads", json_integer(heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(kv_heads ? kv_heads : heads));
    json_object_set_new(o, "intermediate_size", json_integer(ffn));
    json_object_set_new(o, "tie_word_embeddings", json_false());
    json_object_set_new(o, "bos_token_id", json_null());
    json_object_set_new(o, "eos_token_id", json_null());
    char *text = json_dumps(o, 0);
    json_decref(o);
    int rc = hf_config_parse(c, text, strlen(text), "new model", e);
    free(text);
    if (rc == 0) { /* LlamaConfig's bos 1 / eos 2 belong to Llama's own vocabulary */
        c->bos_token_id = -1;
        c->n_eos = 0;
    }
    return rc;
}

/* A float written as its shortest decimal (1e-06, not 9.99999997e-07). */
static json_t *json_float(float v)
{
    char s[32];
    snprintf(s, sizeof s, "%.7g", (double)v);
    return json_real(strtod(s, NULL));
}

char *hf_config_to_json(const hf_config *c, err_t *e)
{
    if (c->arch != HF_LLAMA) {
        err_set(e, "writing config.json for %s is not supported (LlamaForCausalLM is)", c->arch_name);
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "attention_dropout", json_real(0.0));
    json_object_set_new(o, "bos_token_id", c->bos_token_id >= 0 ? json_integer(c->bos_token_id) : json_null());
    json_t *eos;
    if (c->n_eos == 0) {
        eos = json_null();
    } else if (c->n_eos == 1) {
        eos = json_integer(c->eos_token_ids[0]);
    } else {
        eos = json_array();
        for (int i = 0; i < c->n_eos; i++)
            json_array_append_new(eos, json_integer(c->eos_token_ids[i]));
    }
    json_object_set_new(o, "eos_token_id", eos);
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_pos));
    json_object_set_new(o, "mlp_bias", json_boolean(c->mlp_bias));
    json_object_set_new(o, "model_type", json_string("llama"));
    json_object_set_new(o, "num_attention_heads", json_integer(c->n_head));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layer));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_head));
    json_object_set_new(o, "pretraining_tp", json_integer(1));
    json_object_set_new(o, "rms_norm_eps", json_float(c->norm_eps));
    if (c->rope == HF_ROPE_LLAMA3) {
        json_t *rs = json_object();
        json_object_set_new(rs, "rope_type", json_string("llama3"));
        json_object_set_new(rs, "factor", json_float(c->rope_factor));
        json_object_set_new(rs, "low_freq_factor", json_float(c->rope_low_freq_factor));
        json_object_set_new(rs, "high_freq_factor", json_float(c->rope_high_freq_factor));
        json_object_set_new(rs, "original_max_position_embeddings", json_integer(c->rope_original_max_pos));
        json_object_set_new(o, "rope_scaling", rs);
    } else {
        json_object_set_new(o, "rope_scaling", json_null());
    }
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "torch_dtype", json_string("float32"));
    json_object_set_new(o, "use_cache", json_true());
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    /* 15 digits: 1e-06 and 0.02 as written, not their binary expansions */
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!text)
        err_set(e, "config.json: could not render the JSON");
    return text;
}
