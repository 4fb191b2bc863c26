/* model/hf_config: a Hugging Face config.json, reduced to what the
 * transformer needs. GPT2LMHeadModel (GPT-2, DialoGPT) and the Llama family:
 * LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (q/k/v biases),
 * Qwen3ForCausalLM (per-head q/k RMSNorm, explicit head_dim). Keys take
 * the defaults of the transformers config classes where those have one;
 * the sizes of the model (vocabulary, width, depth, heads) must be given.
 * Prefix hf_. */
#ifndef RETRAIN_MODEL_HF_CONFIG_H
#define RETRAIN_MODEL_HF_CONFIG_H

#include "../base/base.h"

typedef enum hf_arch { HF_GPT2, HF_LLAMA, HF_MISTRAL, HF_QWEN2, HF_QWEN3 } hf_arch;
typedef enum hf_act { HF_ACT_GELU_TANH, HF_ACT_GELU, HF_ACT_SILU } hf_act;
typedef enum hf_rope { HF_ROPE_NONE, HF_ROPE_DEFAULT, HF_ROPE_LLAMA3 } hf_rope;

#define HF_MAX_EOS 8

typedef struct hf_config {
    hf_arch arch;
    char arch_name[64];    /* architectures[0] or model_type, as written */
    int vocab_size;
    int hidden;            /* C */
    int n_layer;           /* L */
    int n_head;            /* H */
    int n_kv_head;         /* KV: H for GPT-2 and without GQA */
    int head_dim;          /* D: hidden / H unless given */
    int intermediate;      /* F: MLP width (GPT-2: n_inner or 4 C) */
    int max_pos;           /* n_positions / max_position_embeddings */
    float norm_eps;        /* layer_norm_epsilon / rms_norm_eps */
    hf_act act;
    int rms_norm;          /* 1: RMSNorm (Llama family), 0: LayerNorm with bias (GPT-2) */
    int learned_pos;       /* 1: GPT-2's wpe table; 0: rotary */
    int qkv_bias;          /* q/k/v projections have biases */
    int o_bias;            /* attention output projection has a bias */
    int mlp_bias;          /* MLP projections have biases */
    int gated_mlp;         /* SwiGLU: down(act(gate(x)) * up(x)); else fc -> act -> proj */
    int qk_norm;           /* Qwen3: RMSNorm over each head of q and k */
    int tie_word_embeddings;
    int sliding_window;    /* 0: none (Mistral's window otherwise) */
    double rope_theta;
    hf_rope rope;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    int bos_token_id;      /* -1 if none */
    int eos_token_ids[HF_MAX_EOS];
    int n_eos;
    char torch_dtype[16];  /* "" if absent */
} hf_config;

/* Parses config.json text; `what` names it in messages (a path). */
int hf_config_parse(hf_config *c, const char *json, size_t len, const char *what, err_t *e);
/* Reads DIR/config.json. */
int hf_config_load(hf_config *c, const char *dir, err_t *e);
/* A LlamaForCausalLM of the given sizes with transformers' LlamaConfig
 * defaults for the rest (rope_theta 10000, rms_norm_eps 1e-6,
 * max_position_embeddings 2048, SiLU, no biases, untied head, no bos/eos),
 * checked as its config.json would be. kv_heads 0 means heads; head_dim
 * is hidden / heads. Callers may change fields afterwards (eos ids, ...). */
int hf_config_llama(hf_config *c, int vocab, int hidden, int layers, int heads, int kv_heads,
                    int ffn, err_t *e);
/* The config.json text of c (malloc'ed), torch_dtype float32; NULL and an
 * error for an architecture other than LlamaForCausalLM. */
char *hf_config_to_json(const hf_config *c, err_t *e);
/* 0 if dir is a directory; otherwise -1 and a line that says what a model
 * directory holds - and, for a name like "Qwen/Qwen2.5-0.5B", that hub
 * names cannot be fetched here. */
int hf_model_dir_check(const char *dir, err_t *e);

#endif
