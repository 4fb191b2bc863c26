/* model/tf_internal: the model and its work buffers, shared by the
 * transformer's files (tf_load.c, tf_forward.c, tf_sample.c). */
#ifndef RETRAIN_MODEL_TF_INTERNAL_H
#define RETRAIN_MODEL_TF_INTERNAL_H

#include "tf_layers.h"
#include "transformer.h"

/* A LoRA adapter (PEFT's lora_A / lora_B of one module) on rows
 * [row0, row0 + rows) of a (possibly fused) Linear's output:
 *   y[:, row0:row0+rows] += scale * dropout(x) A^T B^T
 * A [r, n_in], B [rows, r], in the model's LoRA buffer. */
typedef struct tf_lora_part {
    char name[128]; /* PEFT module path, e.g. model.layers.0.self_attn.q_proj */
    int row0, rows;
    float *A, *B;
    int id; /* index among all adapters (dropout streams, saved activations) */
} tf_lora_part;

typedef struct tf_lora {
    int n;
    tf_lora_part part[3];
} tf_lora;

/* One block's weights; pointers into the model's parameter buffers.
 * Fused layouts (what HF keeps as separate tensors is one matrix here, so
 * one product reads the input once):
 *   qkv  [(H + 2 KV) D, C]: rows of q_proj, then k_proj, then v_proj
 *        (GPT-2's c_attn, transposed from Conv1D's [C, 3C])
 *   up   gated MLP: [2F, C], gate_proj rows then up_proj rows;
 *        GPT-2: c_fc [F, C] */
typedef struct tf_layer {
    float *ln1_w, *ln1_b; /* [C]; ln1_b NULL for RMSNorm */
    tf_linear qkv;
    float *q_norm, *k_norm; /* [D], Qwen3 */
    tf_linear o;            /* [C, H D] */
    float *ln2_w, *ln2_b;   /* [C] */
    tf_linear up;
    tf_linear down; /* [C, F] */
    tf_lora lora[4]; /* adapters on qkv, o, up, down (n = 0: none) */
} tf_layer;

enum { TF_LIN_QKV, TF_LIN_O, TF_LIN_UP, TF_LIN_DOWN };

/* One layer's activations for N rows: what the forward writes and the
 * backward reads. Inference points every layer at the same buffers;
 * training gives each layer its own (or, with gradient checkpointing,
 * keeps only res1 per layer and recomputes the rest). */
typedef struct tf_acts {
    float *res1;               /* [N, C] the layer's input (training only, else NULL) */
    float *h1, *mean1, *rstd1; /* norm 1: [N, C], [N], [N] */
    float *qkv;                /* [N, QKV] */
    float *qkvn, *rstd_q, *rstd_k; /* Qwen3 q/k norm: [N, QKV], [N, H], [N, KV] */
    float *q;                  /* [N, H D] rotated queries */
    tf_kv kv;                  /* this layer's keys/values */
    float *att, *lse;          /* [N, H D], [N, H] */
    float *res2;               /* [N, C] after the attention block (training only) */
    float *h2, *mean2, *rstd2; /* norm 2 */
    float *ff;                 /* [N, 2F] or [N, F] */
    float *act;                /* [N, F] */
    float *lora_u;             /* [n_adapters, N, r] x A^T of each adapter (training only) */
} tf_acts;

/* One parameter tensor, as the optimiser and checkpoints will see it. */
typedef struct tf_param {
    char name[96]; /* HF name without the model prefix, or our fused name */
    float *p;      /* fp32 storage, or */
    uint16_t *p16; /* bf16 storage */
    size_t numel;
    int rows, cols; /* cols = 0 for vectors */
} tf_param;

/* Work buffers for N = B*T rows (see tf_forward.c for each one's shape). */
typedef struct tf_ws {
    int cap_B, cap_T, cap_S, nthr;
    float *x, *h, *mean, *rstd, *qkv, *qkvn, *rstd_q, *rstd_k, *q, *att, *lse, *ff, *act, *lnf;
    float *cos, *sin;
    float *kv_k, *kv_v; /* [B, KV, T, D]: one layer's keys/values, plain forward */
    float *attn_scratch;
    int *pos, *start, *len, *slot;
    int32_t *tok;
    float *rows_c;   /* [LP_CHUNK, C]: gathered hidden rows for the LM head */
    float *logits_c; /* [LP_CHUNK, V] */
    int32_t *tgt_c;
    float *logp_c, *ent_c;
} tf_ws;

struct tf_model {
    hf_config cfg;
    int C, L, H, KV, D, F, V, QKV; /* QKV = (H + 2 KV) D */
    float *params;                 /* one buffer, every fp32 parameter */
    size_t n_params;
    uint16_t *params16; /* Linear weights when held in bf16 */
    size_t n_params16;
    size_t n_unique;    /* parameters, tied counted once */
    tf_param *plist;
    int n_plist;
    float *wte;        /* [V, C] */
    float *wpe;        /* [P, C] GPT-2 */
    tf_layer *layers;  /* [L] */
    float *lnf_w, *lnf_b;
    tf_linear lm_head; /* [V, C]: wte itself when tied */
    float *inv_freq;   /* [D/2] rotary frequencies */
    tf_ws ws;
    char *dir;         /* where it was loaded from (tokenizer files, config.json); NULL if made here */
    char *tok_dir;     /* tokenizer files to save beside it (tf_set_tokenizer_dir), or NULL */

    /* LoRA (tf_lora.c): adapters on the layers' Linears */
    int lora_r, lora_n;     /* rank, adapters in all */
    float lora_scale, lora_dropout;
    int lora_off;           /* run as the base model (adapters skipped) */
    int lora_rslora;
    char lora_targets[512]; /* as given: comma-separated module names */
    float *lora_params;     /* every A and B */
    size_t lora_nparams;
    float *lora_tmp;        /* scratch: [N, max rows] and [N, r] */
    size_t lora_tmp_cap;
    uint64_t lora_seed, lora_dropout_step; /* dropout masks: hash(seed, step, adapter, i) */
    int lora_training;      /* apply dropout (training forward) */
};

/* One tensor of the Hugging Face checkpoint and where it lives here. */
typedef struct tf_hf_tensor {
    char name[128]; /* with the model prefix ("transformer." / "model.") when prefixed */
    int prefixed;
    float *dst;     /* fp32 storage of its first element, or */
    uint16_t *dst16; /* bf16 storage */
    int rows, cols; /* shape here; cols = 0 for a vector */
    int transpose;  /* the file holds [cols, rows] (GPT-2's Conv1D) */
} tf_hf_tensor;

/* The tensors of m's checkpoint in file order (tied heads left out);
 * returns how many, writing them to out unless it is NULL. */
int tf_hf_tensors(const tf_model *m, tf_hf_tensor *out);

/* A model of that configuration with every parameter 0 (the layout and
 * buffers tf_load fills; `what` names it in messages). */
tf_model *tf_create(const hf_config *cfg, const tf_load_opts *opts, const char *what, err_t *e);
/* After writing wte of a tied model held in bf16: refresh the bf16 head. */
void tf_sync_tied_head(tf_model *m);

/* Rows of logits made at once by the log-probability pass: about 8M
 * floats, and never more than the rows there are. */
int tf_lp_chunk(const tf_model *m);

/* One Linear with its adapters: out [N, n_out] (+)= inp W^T + b, plus
 * each adapter's contribution unless they are off. u (may be NULL) keeps
 * each adapter's x A^T [N, r] for the backward (training). */
void tf_lin_forward(tf_model *m, float *out, const float *inp, const tf_linear *lin,
                    const tf_lora *lora, int N, int accumulate, float *u);
/* Its backward: dx (+)= ..., base dW/db += (NULL: frozen), adapter
 * gradients added into gA/gB at the same offsets as in lora_params. */
void tf_lin_backward(tf_model *m, float *dx, float *dW, float *db, const float *dy,
                     const float *x, const tf_linear *lin, const tf_lora *lora, int N,
                     int accumulate, const float *u, float *lora_grads);

/* Token ids (padding rows read token 0) and positions into ws.tok and
 * ws.pos, embeddings into x [N, C], rotary tables into ws.cos / ws.sin. */
void tf_embed(tf_model *m, const tf_rows *r, const int32_t *tok, float *x);

/* One decoder layer: x [N, C] in, out in place; a's buffers are written
 * (a->res1 / res2 saved when non-NULL). */
void tf_layer_forward(tf_model *m, int l, tf_acts *a, const tf_rows *r, float *x);
/* The final norm: out [N, C] from x, saving mean/rstd [N]. */
void tf_final_norm(tf_model *m, float *out, float *mean, float *rstd, const float *x, int N);

/* Makes ws hold B rows of T tokens with keys/values for S positions
 * (attention scratch). */
void tf_ws_ensure(tf_model *m, int B, int T, int S);
void tf_ws_free(tf_ws *ws);

/* The decoder stack for one batch: rows r (positions, slots), token ids
 * tok [B*T], keys/values of layer l at kv[l] (kv_layer_stride floats
 * apart; 0 = one store reused by every layer). Leaves the final-norm
 * hidden states in ws.lnf [B*T, C]. */
void tf_forward_hidden(tf_model *m, const tf_rows *r, const int32_t *tok, tf_kv kv,
                       size_t kv_layer_stride);

/* Checks token ids against the vocabulary and positions against a GPT-2
 * position table. */
int tf_check_batch(const tf_model *m, const int32_t *tokens, const int *lens, int B, int T,
                   int max_pos_needed, err_t *e);

#endif
