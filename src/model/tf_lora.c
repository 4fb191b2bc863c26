/* model/tf_lora: LoRA adapters as PEFT defines them - on the modules
 * named by target_modules, y += (alpha / r) dropout(x) A^T B^T, A
 * initialised kaiming-uniform and B zero - applied inside every Linear
 * product of the model (so sampling, log-probabilities and training all
 * see them), switchable off, mergeable, and saved/loaded as PEFT's
 * adapter_config.json + adapter_model.safetensors. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "safetensors.h"
#include "tf_internal.h"
#include "train.h"

/* ---- the modules of a model, by PEFT name ---- */

typedef struct {
    char name[128]; /* module path */
    const char *leaf; /* last component */
    int layer, which, row0, rows;
} lora_site;

typedef struct {
    const char *path;
    int which, row0, rows;
} site_def;

/* Lists the adapter sites; returns how many (out may be NULL). */
static int sites(const tf_model *m, lora_site *out)
{
    int n = 0, qn = m->H * m->D, kn = m->KV * m->D, F = m->F, C = m->C;
    for (int l = 0; l < m->L; l++) {
        site_def g[7];
        int k = 0;
        const char *pre;
        if (m->cfg.arch == HF_GPT2) {
            pre = "transformer.h";
            g[k++] = (site_def){"attn.c_attn", TF_LIN_QKV, 0, 3 * C};
            g[k++] = (site_def){"attn.c_proj", TF_LIN_O, 0, C};
            g[k++] = (site_def){"mlp.c_fc", TF_LIN_UP, 0, F};
            g[k++] = (site_def){"mlp.c_proj", TF_LIN_DOWN, 0, C};
        } else {
            pre = "model.layers";
            g[k++] = (site_def){"self_attn.q_proj", TF_LIN_QKV, 0, qn};
            g[k++] = (site_def){"self_attn.k_proj", TF_LIN_QKV, qn, kn};
            g[k++] = (site_def){"self_attn.v_proj", TF_LIN_QKV, qn + kn, kn};
            g[k++] = (site_def){"self_attn.o_proj", TF_LIN_O, 0, C};
            g[k++] = (site_def){"mlp.gate_proj", TF_LIN_UP, 0, F};
            g[k++] = (site_def){"mlp.up_proj", TF_LIN_UP, F, F};
            g[k++] = (site_def){"mlp.down_proj", TF_LIN_DOWN, 0, C};
        }
        for (int i = 0; i < k; i++, n++) {
            if (!out)
                continue;
            lora_site *s = &out[n];
            snprintf(s->name, sizeof s->name, "%s.%d.%s", pre, l, g[i].path);
            s->leaf = strrchr(s->name, '.') + 1;
            s->layer = l;
            s->which = g[i].which;
            s->row0 = g[i].row0;
            s->rows = g[i].rows;
        }
    }
    return n;
}

/* PEFT's rule: a target matches the whole path or its tail after a dot. */
static int target_matches(const char *path, const char *t, size_t tn)
{
    size_t pn = strlen(path);
    if (pn == tn && memcmp(path, t, tn) == 0)
        return 1;
    return pn > tn && path[pn - tn - 1] == '.' && memcmp(path + pn - tn, t, tn) == 0;
}

static tf_linear *site_linear(tf_model *m, const lora_site *s)
{
    tf_layer *y = &m->layers[s->layer];
    tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
    return lins[s->which];
}

size_t tf_lora_num_params(const tf_model *m)
{
    return m->lora_n ? m->lora_nparams : 0;
}

static void lora_detach(tf_model *m)
{
    for (int l = 0; l < m->L; l++)
        memset(m->layers[l].lora, 0, sizeof m->layers[l].lora);
    free(m->lora_params);
    free(m->lora_tmp);
    m->lora_params = m->lora_tmp = NULL;
    m->lora_nparams = m->lora_tmp_cap = 0;
    m->lora_n = m->lora_r = 0;
    m->lora_off = 0;
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

int tf_lora_attach(tf_model *m, const tf_lora_opts *o, err_t *e)
{
    if (m->lora_n)
        return err_set(e, "the model already has LoRA adapters");
    if (o->r < 1)
        return err_set(e, "lora r = %d: must be at least 1", o->r);
    if (!(o->dropout >= 0 && o->dropout < 1))
        return err_set(e, "lora_dropout = %g: must be in [0, 1)", o->dropout);
    if (!o->targets || !*o->targets)
        return err_set(e, "target_modules is empty: name the modules to adapt (e.g. q_proj,v_proj)");
    int ns = sites(m, NULL);
    lora_site *s = xmalloc(sizeof *s * (size_t)ns);
    sites(m, s);
    char *chosen = xcalloc((size_t)ns, 1);
    int all = strcmp(o->targets, "all-linear") == 0;
    /* Every listed name must match something: a typo would otherwise
     * train nothing. */
    for (const char *t = o->targets; !all && *t;) {
        const char *end = strchr(t, ',');
        size_t tn = end ? (size_t)(end - t) : strlen(t);
        while (tn && (*t == ' ')) {
            t++;
            tn--;
        }
        while (tn && t[tn - 1] == ' ')
            tn--;
        int hit = 0;
        for (int i = 0; i < ns; i++)
            if (tn && target_matches(s[i].name, t, tn))
                chosen[i] = 1, hit = 1;
        if (!hit) {
            buf_t names;
            buf_init(&names);
            for (int i = 0; i < ns && s[i].layer == 0; i++)
                buf_printf(&names, "%s%s", i ? ", " : "", s[i].leaf);
            err_set(e, "target_modules: '%.*s' matches no module of this model (it has %s)",
                    (int)tn, t, names.data);
            buf_free(&names);
            free(s);
            free(chosen);
            return -1;
        }
        t += tn;
        while (*t == ' ' || *t == ',')
            t++;
    }
    size_t total = 0;
    int n = 0;
    for (int i = 0; i < ns; i++)
        if (all || chosen[i]) {
            const tf_linear *lin = site_linear(m, &s[i]);
            total += round16((size_t)o->r * lin->n_in) + round16((size_t)s[i].rows * o->r);
            n++;
        }
    m->lora_params = xmalloc_aligned(64, sizeof(float) * (total ? total : 1));
    memset(m->lora_params, 0, sizeof(float) * total);
    m->lora_nparams = total;
    m->lora_r = o->r;
    m->lora_rslora = o->rslora;
    m->lora_scale = o->rslora ? o->alpha / sqrtf((float)o->r) : o->alpha / (float)o->r;
    m->lora_dropout = o->dropout;
    m->lora_seed = o->seed;
    m->lora_off = 0;
    snprintf(m->lora_targets, sizeof m->lora_targets, "%s", o->targets);
    rng_t rng;
    rng_seed(&rng, o->seed);
    size_t off = 0;
    int id = 0;
    for (int i = 0; i < ns; i++) {
        if (!(all || chosen[i]))
            continue;
        tf_linear *lin = site_linear(m, &s[i]);
        tf_lora *lo = &m->layers[s[i].layer].lora[s[i].which];
        tf_lora_part *p = &lo->part[lo->n++];
        snprintf(p->name, sizeof p->name, "%s", s[i].name);
        p->row0 = s[i].row0;
        p->rows = s[i].rows;
        p->id = id++;
        p->A = m->lora_params + off;
        off += round16((size_t)o->r * lin->n_in);
        p->B = m->lora_params + off;
        off += round16((size_t)s[i].rows * o->r);
        /* kaiming_uniform_(a=sqrt(5)) on [r, n_in]: U(-1/sqrt(n_in), 1/sqrt(n_in)) */
        float bound = 1.0f / sqrtf((float)lin->n_in);
        for (size_t k = 0; k < (size_t)o->r * lin->n_in; k++)
            p->A[k] = (float)((2 * rng_uniform(&rng) - 1) * bound);
    }
    m->lora_n = n;
    free(s);
    free(chosen);
    return 0;
}

void tf_lora_set_enabled(tf_model *m, int on)
{
    m->lora_off = !on;
}

/* ---- forward and backward through a Linear with adapters ---- */

static float *lora_scratch(tf_model *m, size_t n)
{
    if (n > m->lora_tmp_cap) {
        free(m->lora_tmp);
        m->lora_tmp = xmalloc_aligned(64, sizeof(float) * n);
        m->lora_tmp_cap = n;
    }
    return m->lora_tmp;
}

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xd = dropout(x) with the mask of (seed, step, adapter): element i is
 * kept when its hash clears p, and scaled by 1 / (1 - p). The mask is a
 * function of those numbers, so the backward (and a recomputation under
 * gradient checkpointing) sees the same one without storing it. */
static void dropout_apply(const tf_model *m, int id, float *xd, const float *x, size_t n, int add)
{
    uint64_t key = mix64(m->lora_seed ^ mix64(m->lora_dropout_step * 0x9e3779b97f4a7c15ull +
                                              (uint64_t)id + 1));
    uint64_t cut = (uint64_t)(m->lora_dropout * 16777216.0f);
    float keep = 1.0f / (1.0f - m->lora_dropout);
    for (size_t i = 0; i < n; i++) {
        float v = (mix64(key + i) >> 40) >= cut ? x[i] * keep : 0.0f;
        xd[i] = add ? xd[i] + v : v;
    }
}

/* The most output rows one adapter of lo covers (its scratch size). */
static size_t max_rows(const tf_lora *lo)
{
    size_t mx = 0;
    for (int k = 0; k < lo->n; k++)
        mx = (size_t)lo->part[k].rows > mx ? (size_t)lo->part[k].rows : mx;
    return mx;
}

static int lora_active(const tf_model *m, const tf_lora *lo)
{
    return lo && lo->n && !m->lora_off;
}

void tf_lin_forward(tf_model *m, float *out, const float *inp, const tf_linear *lin,
                    const tf_lora *lo, int N, int accumulate, float *u)
{
    tf_linear_forward(out, inp, lin, N, accumulate);
    if (!lora_active(m, lo))
        return;
    int r = m->lora_r, drop = m->lora_training && m->lora_dropout > 0;
    size_t nin = (size_t)lin->n_in, maxrows = max_rows(lo);
    float *t = lora_scratch(m, (size_t)N * (maxrows + r + (drop ? nin : 0)));
    float *tu = t + (size_t)N * maxrows, *xd = tu + (size_t)N * r;
    for (int k = 0; k < lo->n; k++) {
        const tf_lora_part *p = &lo->part[k];
        const float *x = inp;
        if (drop) {
            dropout_apply(m, p->id, xd, inp, (size_t)N * nin, 0);
            x = xd;
        }
        float *uk = u ? u + (size_t)k * N * r : tu;
        /* u [N, r] = x A^T;  t [N, rows] = u B^T */
        k_matmul_nt(uk, x, p->A, NULL, N, r, lin->n_in, 0);
        k_matmul_nt(t, uk, p->B, NULL, N, p->rows, r, 0);
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * lin->n_out + p->row0;
            const float *tn = t + (size_t)n * p->rows;
            for (int j = 0; j < p->rows; j++)
                o[j] += m->lora_scale * tn[j];
        }
    }
}

void tf_lin_backward(tf_model *m, float *dx, float *dW, float *db, const float *dy,
                     const float *x, const tf_linear *lin, const tf_lora *lo, int N,
                     int accumulate, const float *u, float *lora_grads)
{
    tf_linear_backward(dx, dW, db, dy, x, lin, N, accumulate);
    if (!lora_active(m, lo))
        return;
    int r = m->lora_r, drop = m->lora_training && m->lora_dropout > 0;
    size_t nin = (size_t)lin->n_in, maxrows = max_rows(lo);
    float *g = lora_scratch(m, (size_t)N * (maxrows + r + (drop ? 2 * nin : 0)));
    float *du = g + (size_t)N * maxrows, *xd = du + (size_t)N * r, *dxd = xd + (size_t)N * nin;
    for (int k = 0; k < lo->n; k++) {
        const tf_lora_part *p = &lo->part[k];
        const float *uk = u + (size_t)k * N * r, *xin = x;
        float *gA = lora_grads + (p->A - m->lora_params), *gB = lora_grads + (p->B - m->lora_params);
        /* g [N, rows] = scale dy[:, row0:row0+rows] */
        for (int n = 0; n < N; n++) {
            const float *d = dy + (size_t)n * lin->n_out + p->row0;
            float *gn = g + (size_t)n * p->rows;
            for (int j = 0; j < p->rows; j++)
                gn[j] = m->lora_scale * d[j];
        }
        /* dB [rows, r] += g^T u;  du [N, r] = g B */
        k_matmul_tn(gB, g, uk, p->rows, r, N, 1);
        k_matmul_nn(du, g, p->B, N, r, p->rows, 0);
        if (drop) {
            dropout_apply(m, p->id, xd, x, (size_t)N * nin, 0);
            xin = xd;
        }
        /* dA [r, n_in] += du^T xd;  dx += dropout'(du A) */
        k_matmul_tn(gA, du, xin, r, lin->n_in, N, 1);
        if (drop) {
            k_matmul_nn(dxd, du, p->A, N, lin->n_in, r, 0);
            dropout_apply(m, p->id, dx, dxd, (size_t)N * nin, 1);
        } else {
            k_matmul_nn(dx, du, p->A, N, lin->n_in, r, 1);
        }
    }
}

/* ---- merge ---- */

int tf_lora_merge(tf_model *m, err_t *e)
{
    if (!m->lora_n)
        return err_set(e, "the model has no LoRA adapters to merge");
    for (int l = 0; l < m->L; l++)
        for (int w = 0; w < 4; w++) {
            tf_layer *y = &m->layers[l];
            tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
            tf_linear *lin = lins[w];
            const tf_lora *lo = &y->lora[w];
            for (int k = 0; k < lo->n; k++) {
                const tf_lora_part *p = &lo->part[k];
                size_t n = (size_t)p->rows * lin->n_in;
                float *d = xmalloc(sizeof(float) * n);
                /* d [rows, n_in] = B [rows, r] A [r, n_in] */
                k_matmul_nn(d, p->B, p->A, p->rows, lin->n_in, m->lora_r, 0);
                size_t off = (size_t)p->row0 * lin->n_in;
                for (size_t i = 0; i < n; i++) {
                    if (lin->w)
                        lin->w[off + i] += m->lora_scale * d[i];
                    else
                        lin->w16[off + i] = k_f32_to_bf16(k_bf16_to_f32(lin->w16[off + i]) +
                                                          m->lora_scale * d[i]);
                }
                free(d);
            }
        }
    lora_detach(m);
    return 0;
}

/* ---- PEFT files ---- */

static void peft_key(char *out, size_t n, const char *module, const char *ab)
{
    snprintf(out, n, "base_model.model.%s.lora_%s.weight", module, ab);
}

int tf_lora_save(const tf_model *m, const char *dir, err_t *e)
{
    if (!m->lora_n)
        return err_set(e, "the model has no LoRA adapters to save");
    if (dir_make(dir, e) != 0)
        return -1;
    /* adapter_config.json: the keys PEFT's LoraConfig reads */
    json_t *cfg = json_object();
    json_t *tm = json_array();
    for (const char *t = m->lora_targets; *t;) {
        const char *end = strchr(t, ',');
        size_t tn = end ? (size_t)(end - t) : strlen(t);
        char one[128];
        snprintf(one, sizeof one, "%.*s", (int)tn, t);
        char *a = one, *z = one + strlen(one);
        while (*a == ' ')
            a++;
        while (z > a && z[-1] == ' ')
            *--z = 0;
        if (*a)
            json_array_append_new(tm, json_string(a));
        t += tn;
        while (*t == ',')
            t++;
    }
    int all = json_array_size(tm) == 1 && strcmp(m->lora_targets, "all-linear") == 0;
    json_object_set_new(cfg, "peft_type", json_string("LORA"));
    json_object_set_new(cfg, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(cfg, "base_model_name_or_path", json_string(m->dir ? m->dir : ""));
    json_object_set_new(cfg, "r", json_integer(m->lora_r));
    float alpha = m->lora_rslora ? m->lora_scale * sqrtf((float)m->lora_r)
                                 : m->lora_scale * (float)m->lora_r;
    json_object_set_new(cfg, "lora_alpha", json_real(alpha));
    json_object_set_new(cfg, "lora_dropout", json_real(m->lora_dropout));
    json_object_set_new(cfg, "target_modules", all ? json_string("all-linear") : tm);
    if (all)
        json_decref(tm);
    json_object_set_new(cfg, "bias", json_string("none"));
    json_object_set_new(cfg, "fan_in_fan_out", json_boolean(m->cfg.arch == HF_GPT2));
    json_object_set_new(cfg, "use_rslora", json_boolean(m->lora_rslora));
    json_object_set_new(cfg, "inference_mode", json_true());
    json_object_set_new(cfg, "init_lora_weights", json_true());
    json_object_set_new(cfg, "modules_to_save", json_null());
    char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(cfg);
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/adapter_config.json", dir);
    int rc = file_write_atomic(path.data, text, strlen(text), e);
    free(text);
    if (rc == 0) {
        st_writer *w = st_writer_new();
        char key[200];
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
            if (pass == 1) {
                buf_reset(&path);
                buf_printf(&path, "%s/adapter_model.safetensors", dir);
                rc = st_writer_begin(w, path.data, e);
            }
            for (int l = 0; l < m->L && rc == 0; l++)
                for (int k = 0; k < 4 && rc == 0; k++) {
                    const tf_layer *y = &m->layers[l];
                    const tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
                    for (int j = 0; j < y->lora[k].n && rc == 0; j++) {
                        const tf_lora_part *p = &y->lora[k].part[j];
                        int64_t sa[2] = {m->lora_r, lins[k]->n_in}, sb[2] = {p->rows, m->lora_r};
                        if (pass == 0) {
                            peft_key(key, sizeof key, p->name, "A");
                            st_writer_add(w, key, ST_F32, sa, 2);
                            peft_key(key, sizeof key, p->name, "B");
                            st_writer_add(w, key, ST_F32, sb, 2);
                        } else {
                            rc = st_writer_data(w, p->A, sizeof(float) * (size_t)(sa[0] * sa[1]),
                                                e);
                            if (rc == 0)
                                rc = st_writer_data(w, p->B,
                                                    sizeof(float) * (size_t)(sb[0] * sb[1]), e);
                        }
                    }
                }
        }
        if (rc == 0)
            rc = st_writer_finish(w, e);
        else
            st_writer_free(w);
    }
    buf_free(&path);
    return rc;
}

/* The tensor of an adapter: with the PEFT prefix or without it, and with
 * or without the adapter name PEFT inserts for non-default adapters. */
static const st_tensor *adapter_tensor(const st_file *f, const char *module, const char *ab)
{
    char key[256];
    peft_key(key, sizeof key, module, ab);
    const st_tensor *t = st_find(f, key);
    if (!t) {
        snprintf(key, sizeof key, "%s.lora_%s.weight", module, ab);
        t = st_find(f, key);
    }
    if (!t) {
        snprintf(key, sizeof key, "base_model.model.%s.lora_%s.default.weight", module, ab);
        t = st_find(f, key);
    }
    return t;
}

int tf_lora_load(tf_model *m, const char *dir, err_t *e)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/adapter_config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(path.data, 0, &je);
    if (!cfg) {
        err_set(e, "%s:%d: %s", path.data, je.line, je.text);
        buf_free(&path);
        return -1;
    }
    int rc = -1;
    tf_lora_opts o = {0};
    buf_t targets;
    buf_init(&targets);
    json_t *r = json_object_get(cfg, "r"), *alpha = json_object_get(cfg, "lora_alpha");
    json_t *drop = json_object_get(cfg, "lora_dropout"), *tm = json_object_get(cfg, "target_modules");
    json_t *pt = json_object_get(cfg, "peft_type");
    if (pt && (!json_is_string(pt) || strcmp(json_string_value(pt), "LORA") != 0)) {
        err_set(e, "%s: peft_type must be \"LORA\"", path.data);
        goto out;
    }
    if (!json_is_integer(r) || json_integer_value(r) < 1) {
        err_set(e, "%s: r must be a positive integer", path.data);
        goto out;
    }
    if (alpha && !json_is_number(alpha)) {
        err_set(e, "%s: lora_alpha must be a number", path.data);
        goto out;
    }
    if (drop && !json_is_number(drop)) {
        err_set(e, "%s: lora_dropout must be a number", path.data);
        goto out;
    }
    if (json_is_string(tm)) {
        buf_puts(&targets, json_string_value(tm));
    } else if (json_is_array(tm) && json_array_size(tm) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(tm, i, v)
        {
            if (!json_is_string(v)) {
                err_set(e, "%s: target_modules[%zu] must be a string", path.data, i);
                goto out;
            }
            buf_printf(&targets, "%s%s", i ? "," : "", json_string_value(v));
        }
    } else {
        err_set(e, "%s: target_modules must be a string or a non-empty list of strings", path.data);
        goto out;
    }
    json_t *dora = json_object_get(cfg, "use_dora");
    if (json_is_true(dora)) {
        err_set(e, "%s: use_dora adapters are not supported (plain LoRA only)", path.data);
        goto out;
    }
    o.r = (int)json_integer_value(r);
    o.alpha = alpha ? (float)json_number_value(alpha) : 8.0f;
    o.dropout = drop ? (float)json_number_value(drop) : 0.0f;
    o.rslora = json_is_true(json_object_get(cfg, "use_rslora"));
    o.targets = targets.data;
    if (tf_lora_attach(m, &o, e) != 0)
        goto out;
    buf_reset(&path);
    buf_printf(&path, "%s/adapter_model.safetensors", dir);
    st_file f;
    if (st_open(&f, path.data, e) != 0) {
        lora_detach(m);
        goto out;
    }
    size_t used = 0;
    rc = 0;
    for (int l = 0; l < m->L && rc == 0; l++)
        for (int k = 0; k < 4 && rc == 0; k++) {
            tf_layer *y = &m->layers[l];
            tf_linear *lins[] = {&y->qkv, &y->o, &y->up, &y->down};
            for (int j = 0; j < y->lora[k].n && rc == 0; j++) {
                tf_lora_part *p = &y->lora[k].part[j];
                for (int ab = 0; ab < 2 && rc == 0; ab++) {
                    const st_tensor *t = adapter_tensor(&f, p->name, ab ? "B" : "A");
                    int64_t want0 = ab ? p->rows : o.r, want1 = ab ? o.r : lins[k]->n_in;
                    if (!t)
                        rc = err_set(e, "%s: no lora_%s weight for %s", path.data, ab ? "B" : "A",
                                     p->name);
                    else if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1)
                        rc = err_set(e, "%s: %s has the wrong shape (want [%lld, %lld])",
                                     path.data, t->name, (long long)want0, (long long)want1);
                    else
                        rc = st_to_f32(t, ab ? p->B : p->A, path.data, e);
                    used++;
                }
            }
        }
    if (rc == 0 && used != f.n) {
        for (size_t i = 0; i < f.n; i++)
            if (!strstr(f.tensors[i].name, ".lora_A.") && !strstr(f.tensors[i].name, ".lora_B.")) {
                rc = err_set(e, "%s: tensor '%s' is not a LoRA A/B weight (unsupported)",
                             path.data, f.tensors[i].name);
                break;
            }
        if (rc == 0)
            rc = err_set(e, "%s: %zu tensors for modules that target_modules does not name",
                         path.data, f.n - used);
    }
    st_close(&f);
    if (rc != 0)
        lora_detach(m);
out:
    json_decref(cfg);
    buf_free(&path);
    buf_free(&targets);
    return rc;
}
