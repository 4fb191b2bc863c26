/* model/tf_load: the parameter layout (one fp32 buffer, and one bf16
 * buffer for Linear weights when asked), the mapping from Hugging Face
 * tensor names to it, and the conversions on the way in. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "safetensors.h"
#include "tf_internal.h"

/* Every tensor starts on a 64-byte boundary (16 floats, 32 bf16). */
static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* ---- layout: run once to count (bases NULL), once to assign ---- */

typedef struct {
    tf_model *m;
    float *base;
    uint16_t *base16;
    size_t off, off16;
    int bf16;
    int nparam;
} lay_t;

static void note(lay_t *l, float *p, uint16_t *p16, size_t numel, int rows, int cols,
                 const char *fmt, int layer)
{
    if (l->base || l->base16) {
        tf_param *t = &l->m->plist[l->nparam];
        snprintf(t->name, sizeof t->name, fmt, layer);
        t->p = p;
        t->p16 = p16;
        t->numel = numel;
        t->rows = rows;
        t->cols = cols;
    }
    l->nparam++;
}

static float *take(lay_t *l, size_t n, int rows, int cols, const char *fmt, int layer)
{
    size_t o = l->off;
    l->off += round_up(n, 16);
    float *p = l->base ? l->base + o : NULL;
    note(l, p, NULL, n, rows, cols, fmt, layer);
    return p;
}

static void take_linear(lay_t *l, tf_linear *lin, int n_out, int n_in, int bias, const char *fmt,
                        const char *bfmt, int layer)
{
    size_t n = (size_t)n_out * n_in;
    lin->n_out = n_out;
    lin->n_in = n_in;
    lin->w = NULL;
    lin->w16 = NULL;
    if (l->bf16) {
        size_t o = l->off16;
        l->off16 += round_up(n, 32);
        lin->w16 = l->base16 ? l->base16 + o : NULL;
        note(l, NULL, lin->w16, n, n_out, n_in, fmt, layer);
    } else {
        lin->w = take(l, n, n_out, n_in, fmt, layer);
    }
    lin->b = bias ? take(l, (size_t)n_out, n_out, 0, bfmt, layer) : NULL;
}

static void layout(lay_t *l)
{
    tf_model *m = l->m;
    const hf_config *c = &m->cfg;
    int C = m->C, F = m->F;
    m->wte = take(l, (size_t)m->V * C, m->V, C, "wte.weight", 0);
    m->wpe = c->learned_pos ? take(l, (size_t)c->max_pos * C, c->max_pos, C, "wpe.weight", 0) : NULL;
    for (int i = 0; i < m->L; i++) {
        tf_layer *y = &m->layers[i];
        y->ln1_w = take(l, C, C, 0, "layers.%d.ln1.weight", i);
        y->ln1_b = c->rms_norm ? NULL : take(l, C, C, 0, "layers.%d.ln1.bias", i);
        take_linear(l, &y->qkv, m->QKV, C, c->qkv_bias, "layers.%d.qkv.weight",
                    "layers.%d.qkv.bias", i);
        y->q_norm = c->qk_norm ? take(l, m->D, m->D, 0, "layers.%d.q_norm.weight", i) : NULL;
        y->k_norm = c->qk_norm ? take(l, m->D, m->D, 0, "layers.%d.k_norm.weight", i) : NULL;
        take_linear(l, &y->o, C, m->H * m->D, c->o_bias, "layers.%d.o.weight", "layers.%d.o.bias",
                    i);
        y->ln2_w = take(l, C, C, 0, "layers.%d.ln2.weight", i);
        y->ln2_b = c->rms_norm ? NULL : take(l, C, C, 0, "layers.%d.ln2.bias", i);
        take_linear(l, &y->up, c->gated_mlp ? 2 * F : F, C, c->mlp_bias, "layers.%d.up.weight",
                    "layers.%d.up.bias", i);
        take_linear(l, &y->down, C, F, c->mlp_bias, "layers.%d.down.weight", "layers.%d.down.bias",
                    i);
    }
    m->lnf_w = take(l, C, C, 0, "lnf.weight", 0);
    m->lnf_b = c->rms_norm ? NULL : take(l, C, C, 0, "lnf.bias", 0);
    if (!c->tie_word_embeddings) {
        take_linear(l, &m->lm_head, m->V, C, 0, "lm_head.weight", "", 0);
    } else {
        /* Tied: the head is wte; in bf16 mode it needs a bf16 copy. */
        m->lm_head = (tf_linear){.w = m->wte, .n_out = m->V, .n_in = C};
        if (l->bf16) {
            size_t o = l->off16;
            l->off16 += round_up((size_t)m->V * C, 32);
            m->lm_head.w = NULL;
            m->lm_head.w16 = l->base16 ? l->base16 + o : NULL;
        }
    }
}

/* ---- reading tensors ---- */

typedef struct {
    const st_set *set;
    const char *dir;
    const char *prefix; /* "transformer." or "model." */
    float *tmp;         /* conversion buffer, the largest tensor's size */
    err_t *e;
} src_t;

static void shape_str(char *out, size_t n, const int64_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n)
        snprintf(out + k, n - k, "]");
}

/* Finds prefix+name, else name (checkpoints saved from the bare model
 * class have no prefix). */
static const st_tensor *find(src_t *s, const char *name, int prefixed, char *full, size_t fullsz,
                             const char **file)
{
    if (prefixed) {
        snprintf(full, fullsz, "%s%s", s->prefix, name);
        const st_tensor *t = st_set_find(s->set, full, file);
        if (t)
            return t;
    }
    const st_tensor *t = st_set_find(s->set, name, file);
    if (t)
        snprintf(full, fullsz, "%s", name);
    else
        snprintf(full, fullsz, "%s%s", prefixed ? s->prefix : "", name);
    return t;
}

/* Reads a tensor of logical shape [rows, cols] (cols = 0: a vector of
 * rows) into dst (fp32) or dst16 (bf16). transpose: the file holds
 * [cols, rows] (GPT-2's Conv1D keeps [in, out]). */
static int fetch(src_t *s, const char *name, int prefixed, int rows, int cols, int transpose,
                 float *dst, uint16_t *dst16)
{
    char full[160];
    const char *file = NULL;
    const st_tensor *t = find(s, name, prefixed, full, sizeof full, &file);
    if (!t)
        return err_set(s->e, "%s: tensor '%s' is missing", s->dir, full);
    int64_t want[2] = {transpose ? cols : rows, transpose ? rows : cols};
    int wnd = cols ? 2 : 1;
    int ok = t->ndim == wnd;
    for (int i = 0; ok && i < wnd; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[64];
        shape_str(got, sizeof got, t->shape, t->ndim);
        shape_str(exp, sizeof exp, want, wnd);
        return err_set(s->e, "%s: tensor '%s' has shape %s; the config needs %s", file, full, got,
                       exp);
    }
    size_t n = (size_t)t->numel;
    float *f = (!transpose && dst) ? dst : s->tmp;
    if (st_to_f32(t, f, file, s->e) != 0)
        return -1;
    if (transpose) {
        /* tmp [cols, rows] -> [rows, cols] */
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float v = f[(size_t)c * rows + r];
                if (dst)
                    dst[(size_t)r * cols + c] = v;
                else
                    dst16[(size_t)r * cols + c] = k_f32_to_bf16(v);
            }
    } else if (!dst) {
        for (size_t i = 0; i < n; i++)
            dst16[i] = k_f32_to_bf16(f[i]);
    }
    return 0;
}

/* ---- the Hugging Face names of the parameters (read by tf_load, written
 * by tf_save_hf) ---- */

typedef struct {
    const tf_model *m;
    tf_hf_tensor *out;
    int n;
} hfl_t;

static void hf_add(hfl_t *l, int prefixed, float *dst, uint16_t *dst16, int rows, int cols,
                   int transpose, const char *fmt, int layer)
{
    if (l->out) {
        tf_hf_tensor *t = &l->out[l->n];
        const char *pre = !prefixed ? "" : l->m->cfg.learned_pos ? "transformer." : "model.";
        int k = snprintf(t->name, sizeof t->name, "%s", pre);
        snprintf(t->name + k, sizeof t->name - (size_t)k, fmt, layer);
        t->prefixed = prefixed;
        t->dst = dst;
        t->dst16 = dst16;
        t->rows = rows;
        t->cols = cols;
        t->transpose = transpose;
    }
    l->n++;
}

static void hf_vec(hfl_t *l, float *dst, int n, const char *fmt, int layer)
{
    hf_add(l, 1, dst, NULL, n, 0, 0, fmt, layer);
}

/* Rows [row0, row0 + rows) of a Linear's weight. */
static void hf_w(hfl_t *l, const tf_linear *lin, int row0, int rows, int transpose, const char *fmt,
                 int layer)
{
    size_t off = (size_t)row0 * lin->n_in;
    hf_add(l, 1, lin->w ? lin->w + off : NULL, lin->w16 ? lin->w16 + off : NULL, rows, lin->n_in,
           transpose, fmt, layer);
}

static void hf_gpt2(hfl_t *l)
{
    const tf_model *m = l->m;
    int C = m->C, F = m->F;
    hf_add(l, 1, m->wte, NULL, m->V, C, 0, "wte.weight", 0);
    hf_add(l, 1, m->wpe, NULL, m->cfg.max_pos, C, 0, "wpe.weight", 0);
    for (int i = 0; i < m->L; i++) {
        const tf_layer *y = &m->layers[i];
        hf_vec(l, y->ln1_w, C, "h.%d.ln_1.weight", i);
        hf_vec(l, y->ln1_b, C, "h.%d.ln_1.bias", i);
        hf_w(l, &y->qkv, 0, 3 * C, 1, "h.%d.attn.c_attn.weight", i);
        hf_vec(l, y->qkv.b, 3 * C, "h.%d.attn.c_attn.bias", i);
        hf_w(l, &y->o, 0, C, 1, "h.%d.attn.c_proj.weight", i);
        hf_vec(l, y->o.b, C, "h.%d.attn.c_proj.bias", i);
        hf_vec(l, y->ln2_w, C, "h.%d.ln_2.weight", i);
        hf_vec(l, y->ln2_b, C, "h.%d.ln_2.bias", i);
        hf_w(l, &y->up, 0, F, 1, "h.%d.mlp.c_fc.weight", i);
        hf_vec(l, y->up.b, F, "h.%d.mlp.c_fc.bias", i);
        hf_w(l, &y->down, 0, C, 1, "h.%d.mlp.c_proj.weight", i);
        hf_vec(l, y->down.b, C, "h.%d.mlp.c_proj.bias", i);
    }
    hf_vec(l, m->lnf_w, C, "ln_f.weight", 0);
    hf_vec(l, m->lnf_b, C, "ln_f.bias", 0);
}

static void hf_llama(hfl_t *l)
{
    const tf_model *m = l->m;
    const hf_config *c = &m->cfg;
    int C = m->C, F = m->F, qn = m->H * m->D, kn = m->KV * m->D;
    hf_add(l, 1, m->wte, NULL, m->V, C, 0, "embed_tokens.weight", 0);
    for (int i = 0; i < m->L; i++) {
        const tf_layer *y = &m->layers[i];
        hf_vec(l, y->ln1_w, C, "layers.%d.input_layernorm.weight", i);
        hf_w(l, &y->qkv, 0, qn, 0, "layers.%d.self_attn.q_proj.weight", i);
        hf_w(l, &y->qkv, qn, kn, 0, "layers.%d.self_attn.k_proj.weight", i);
        hf_w(l, &y->qkv, qn + kn, kn, 0, "layers.%d.self_attn.v_proj.weight", i);
        if (c->qkv_bias) {
            hf_vec(l, y->qkv.b, qn, "layers.%d.self_attn.q_proj.bias", i);
            hf_vec(l, y->qkv.b + qn, kn, "layers.%d.self_attn.k_proj.bias", i);
            hf_vec(l, y->qkv.b + qn + kn, kn, "layers.%d.self_attn.v_proj.bias", i);
        }
        if (c->qk_norm) {
            hf_vec(l, y->q_norm, m->D, "layers.%d.self_attn.q_norm.weight", i);
            hf_vec(l, y->k_norm, m->D, "layers.%d.self_attn.k_norm.weight", i);
        }
        hf_w(l, &y->o, 0, C, 0, "layers.%d.self_attn.o_proj.weight", i);
        if (c->o_bias)
            hf_vec(l, y->o.b, C, "layers.%d.self_attn.o_proj.bias", i);
        hf_vec(l, y->ln2_w, C, "layers.%d.post_attention_layernorm.weight", i);
        hf_w(l, &y->up, 0, F, 0, "layers.%d.mlp.gate_proj.weight", i);
        hf_w(l, &y->up, F, F, 0, "layers.%d.mlp.up_proj.weight", i);
        hf_w(l, &y->down, 0, C, 0, "layers.%d.mlp.down_proj.weight", i);
        if (c->mlp_bias) {
            hf_vec(l, y->up.b, F, "layers.%d.mlp.gate_proj.bias", i);
            hf_vec(l, y->up.b + F, F, "layers.%d.mlp.up_proj.bias", i);
            hf_vec(l, y->down.b, C, "layers.%d.mlp.down_proj.bias", i);
        }
    }
    hf_vec(l, m->lnf_w, C, "norm.weight", 0);
}

int tf_hf_tensors(const tf_model *m, tf_hf_tensor *out)
{
    hfl_t l = {m, out, 0};
    if (m->cfg.arch == HF_GPT2)
        hf_gpt2(&l);
    else
        hf_llama(&l);
    if (!m->cfg.tie_word_embeddings)
        hf_add(&l, 0, m->lm_head.w, m->lm_head.w16, m->V, m->C, 0, "lm_head.weight", 0);
    return l.n;
}

static int load_all(tf_model *m, src_t *s)
{
    int n = tf_hf_tensors(m, NULL);
    tf_hf_tensor *t = xmalloc(sizeof *t * (size_t)n);
    tf_hf_tensors(m, t);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        /* The name without the prefix: find() tries it with and without. */
        const char *pre = t[i].prefixed ? s->prefix : "";
        rc = fetch(s, t[i].name + strlen(pre), t[i].prefixed, t[i].rows, t[i].cols,
                   t[i].transpose, t[i].dst, t[i].dst16);
    }
    free(t);
    return rc;
}

/* Rotary inverse frequencies in fp32, step by step as transformers'
 * _compute_default_rope_parameters and _compute_llama3_parameters do. */
static void rope_init(tf_model *m)
{
    const hf_config *c = &m->cfg;
    int half = m->D / 2;
    m->inv_freq = xmalloc(sizeof(float) * (size_t)half);
    for (int i = 0; i < half; i++) {
        float inv = 1.0f / powf((float)c->rope_theta, (float)(2 * i) / (float)m->D);
        if (c->rope == HF_ROPE_LLAMA3) {
            float factor = c->rope_factor, lo = c->rope_low_freq_factor,
                  hi = c->rope_high_freq_factor, old = (float)c->rope_original_max_pos;
            float wavelen = (float)(2 * M_PI) / inv;
            float lo_wavelen = old / lo, hi_wavelen = old / hi;
            float v = wavelen > lo_wavelen ? inv / factor : inv;
            if (!(wavelen < hi_wavelen) && !(wavelen > lo_wavelen)) {
                float smooth = (old / wavelen - lo) / (hi - lo);
                v = (1 - smooth) * v / factor + smooth * v;
            }
            inv = v;
        }
        m->inv_freq[i] = inv;
    }
}

static void *alloc_aligned(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fprintf(stderr, "retrain: out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return p;
}

tf_model *tf_create(const hf_config *cfg, const tf_load_opts *opts, const char *what, err_t *e)
{
    tf_model *m = xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    const hf_config *c = &m->cfg;
    m->C = c->hidden;
    m->L = c->n_layer;
    m->H = c->n_head;
    m->KV = c->n_kv_head;
    m->D = c->head_dim;
    m->F = c->intermediate;
    m->V = c->vocab_size;
    m->QKV = (m->H + 2 * m->KV) * m->D;
    m->layers = xcalloc((size_t)m->L, sizeof *m->layers);

    lay_t l = {.m = m, .bf16 = opts && opts->linear_bf16};
    layout(&l);
    /* A config that asks for more memory than the machine has is an error
     * to report, not an allocation to die in. */
    double need = 4.0 * (double)l.off + 2.0 * (double)l.off16;
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have) {
        err_set(e, "%s: the parameters need %.1f GB; this machine has %.1f GB", what, need / 1e9,
                have / 1e9);
        tf_free(m);
        return NULL;
    }
    m->n_params = l.off;
    m->n_params16 = l.off16;
    m->n_plist = l.nparam;
    m->plist = xcalloc((size_t)l.nparam, sizeof *m->plist);
    m->params = alloc_aligned(sizeof(float) * m->n_params);
    m->params16 = m->n_params16 ? alloc_aligned(sizeof(uint16_t) * m->n_params16) : NULL;
    /* Padding between tensors stays zero (a checkpoint writer may copy
     * whole regions). */
    memset(m->params, 0, sizeof(float) * m->n_params);
    if (m->params16)
        memset(m->params16, 0, sizeof(uint16_t) * m->n_params16);
    l = (lay_t){.m = m, .base = m->params, .base16 = m->params16, .bf16 = l.bf16};
    layout(&l);
    for (int i = 0; i < m->n_plist; i++)
        m->n_unique += m->plist[i].numel;
    if (!c->learned_pos)
        rope_init(m);
    return m;
}

void tf_sync_tied_head(tf_model *m)
{
    if (m->cfg.tie_word_embeddings && m->lm_head.w16)
        for (size_t i = 0; i < (size_t)m->V * m->C; i++)
            m->lm_head.w16[i] = k_f32_to_bf16(m->wte[i]);
}

tf_model *tf_load(const char *dir, const tf_load_opts *opts, err_t *e)
{
    hf_config cfg;
    if (hf_config_load(&cfg, dir, e) != 0)
        return NULL;
    tf_model *m = tf_create(&cfg, opts, dir, e);
    if (!m)
        return NULL;
    st_set set;
    if (st_set_open(&set, dir, e) != 0) {
        tf_free(m);
        return NULL;
    }
    size_t biggest = 0;
    for (size_t f = 0; f < set.nfiles; f++)
        for (size_t i = 0; i < set.files[f].n; i++)
            if ((size_t)set.files[f].tensors[i].numel > biggest)
                biggest = (size_t)set.files[f].tensors[i].numel;
    src_t s = {.set = &set, .dir = dir, .prefix = cfg.learned_pos ? "transformer." : "model.",
               .tmp = xmalloc(sizeof(float) * (biggest ? biggest : 1)), .e = e};
    int rc = load_all(m, &s);
    free(s.tmp);
    st_set_close(&set);
    if (rc != 0) {
        tf_free(m);
        return NULL;
    }
    tf_sync_tied_head(m);
    m->dir = xstrdup(dir);
    return m;
}

void tf_free(tf_model *m)
{
    if (!m)
        return;
    tf_ws_free(&m->ws);
    free(m->params);
    free(m->params16);
    free(m->plist);
    free(m->layers);
    free(m->inv_freq);
    free(m->lora_params);
    free(m->lora_tmp);
    free(m->dir);
    free(m->tok_dir);
    free(m);
}

const hf_config *tf_config(const tf_model *m)
{
    return &m->cfg;
}

size_t tf_num_params(const tf_model *m)
{
    return m->n_unique;
}
