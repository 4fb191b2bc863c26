/* model/tf_internal: the model and its work buffers, shared by the
 * transformer's files (tf_load.c, tf_forward.c, tf_sample.c). */
#ifndef RETRAIN_MODEL_TF_INTERNAL_H
#define RETRAIN_MODEL_TF_INTERNAL_H

#include "tf_layers.h"
#include "transformer.h"

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
} tf_layer;

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
};

/* A model of that configuration with every parameter 0 (the layout and
 * buffers tf_load fills; `what` names it in messages). */
tf_model *tf_create(const hf_config *cfg, const tf_load_opts *opts, const char *what, err_t *e);
/* After writing wte of a tied model held in bf16: refresh the bf16 head. */
void tf_sync_tied_head(tf_model *m);

/* Rows of logits made at once by the log-probability pass: about 8M
 * floats, and never more than the rows there are. */
int tf_lp_chunk(const tf_model *m);

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
