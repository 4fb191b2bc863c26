/* model/train against PyTorch: tests/ref/make_train_fixtures.py wrote, for
 * each family's tiny model, a weighted loss and every gradient, the losses
 * of 10 AdamW steps (full and LoRA, with clipping, accumulation and a
 * warmup schedule) and a PEFT adapter to start from. Here the engine must
 * reproduce them, and what it saves must load back - here and, where
 * Debian's python3-torch is installed, in the reference script. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/safetensors.h"
#include "../../src/model/tokenizer.h"
#include "../../src/model/train.h"
#include "../../src/model/transformer.h"
#include "../test.h"

static const char *const k_families[] = {"gpt2", "llama", "qwen2", "qwen3", "mistral"};

static void model_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/tests/fixtures/models/%s", test_root(), name);
}

/* train.safetensors of one fixture */
typedef struct {
    st_file f;
    int B, T, B2, T2;
    const int32_t *tokens, *lens, *tokens2, *lens2;
    const float *w, *w2;
} fx_t;

static int fx_open(fx_t *x, const char *name)
{
    char p[4400];
    model_path(p, sizeof p, name);
    strcat(p, "/train.safetensors");
    err_t e;
    if (st_open(&x->f, p, &e) != 0)
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    const st_tensor *t = st_find(&x->f, "tokens"), *t2 = st_find(&x->f, "tokens2");
    x->B = (int)t->shape[0];
    x->T = (int)t->shape[1];
    x->B2 = (int)t2->shape[0];
    x->T2 = (int)t2->shape[1];
    x->tokens = (const int32_t *)t->data;
    x->lens = (const int32_t *)st_find(&x->f, "lens")->data;
    x->tokens2 = (const int32_t *)t2->data;
    x->lens2 = (const int32_t *)st_find(&x->f, "lens2")->data;
    x->w = (const float *)st_find(&x->f, "weights")->data;
    x->w2 = (const float *)st_find(&x->f, "weights2")->data;
    return 1;
}

static double f64_at(const fx_t *x, const char *name, int i)
{
    double v;
    memcpy(&v, st_find(&x->f, name)->data + 8 * i, 8);
    return v;
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

static int loss_of(tf_trainer *tr, const fx_t *x, int second, double *loss, err_t *e)
{
    return tf_train_weighted(tr, second ? x->tokens2 : x->tokens,
                             (const int *)(second ? x->lens2 : x->lens), second ? x->B2 : x->B,
                             second ? x->T2 : x->T, NULL, second ? x->w2 : x->w, loss, e);
}

/* Every "grad.*" (or "lora.grad.*") tensor of the fixture against the
 * trainer's gradient; the file may name a tensor without the model prefix. */
static int check_grads(const fx_t *x, tf_trainer *tr, const char *which, const char *fam)
{
    size_t plen = strlen(which);
    int checked = 0;
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < x->f.n; i++) {
        const st_tensor *t = &x->f.tensors[i];
        if (strncmp(t->name, which, plen) != 0)
            continue;
        const char *name = t->name + plen;
        float *g = malloc(sizeof(float) * (size_t)t->numel);
        err_t e;
        int rc = tf_trainer_grad(tr, name, g, (size_t)t->numel, &e);
        if (rc != 0) {
            char full[256];
            snprintf(full, sizeof full, "model.%s", name);
            rc = tf_trainer_grad(tr, full, g, (size_t)t->numel, &e);
        }
        if (rc != 0) {
            free(g);
            return test_fail(__FILE__, __LINE__, "%s: %s", fam, e.msg);
        }
        double r = rel_err(g, (const float *)t->data, (size_t)t->numel);
        if (r > worst) {
            worst = r;
            worst_name = t->name;
        }
        free(g);
        checked++;
    }
    if (checked == 0)
        return test_fail(__FILE__, __LINE__, "%s: no %s tensors in the fixture", fam, which);
    if (worst > 1e-4)
        return test_fail(__FILE__, __LINE__, "%s: gradient %s off by %.2e (relative)", fam,
                         worst_name, worst);
    return 1;
}

TEST(train_loss_and_every_gradient_match_pytorch)
{
    for (size_t k = 0; k < ARRAY_LEN(k_families); k++) {
        const char *fam = k_families[k];
        fx_t x;
        if (!fx_open(&x, fam))
            return;
        char dir[4300];
        model_path(dir, sizeof dir, fam);
        err_t e;
        tf_model *m = tf_load(dir, NULL, &e);
        CHECK_MSG(m, "%s", e.msg);
        tf_trainer *tr = tf_trainer_new(m, NULL, &e);
        double loss;
        CHECK_MSG(loss_of(tr, &x, 0, &loss, &e) == 0, "%s", e.msg);
        double want = f64_at(&x, "loss", 0);
        CHECK_MSG(fabs(loss - want) <= 1e-5 * fabs(want), "%s: loss %.8f, want %.8f", fam, loss,
                  want);
        int ok = check_grads(&x, tr, "grad.", fam);
        tf_trainer_free(tr);
        tf_free(m);
        st_close(&x.f);
        if (!ok)
            return;
    }
}

/* 10 steps of two accumulated micro-batches; returns 1 if every loss
 * matched `key` of the fixture. */
static int run_steps(const fx_t *x, tf_trainer *tr, const char *key, float lr, const char *fam)
{
    tf_sched s = {TF_SCHED_LINEAR, lr, 2, 10};
    for (int step = 0; step < 10; step++) {
        double a, b;
        err_t e;
        if (loss_of(tr, x, 0, &a, &e) || loss_of(tr, x, 1, &b, &e) ||
            tf_trainer_step(tr, tf_sched_lr(&s, step), NULL, &e))
            return test_fail(__FILE__, __LINE__, "%s: %s", fam, e.msg);
        double want = f64_at(x, key, step);
        /* within 1e-5: absolute, or relative where the loss is above 1 */
        if (fabs(a + b - want) > 1e-5 * (fabs(want) > 1 ? fabs(want) : 1))
            return test_fail(__FILE__, __LINE__, "%s: %s step %d: loss %.8f, want %.8f", fam, key,
                             step, a + b, want);
    }
    return 1;
}

TEST(train_ten_adamw_steps_match_pytorch)
{
    tf_train_opts o = {.weight_decay = 0.1f, .max_grad_norm = 1.0f};
    for (size_t k = 0; k < ARRAY_LEN(k_families); k++) {
        const char *fam = k_families[k];
        fx_t x;
        if (!fx_open(&x, fam))
            return;
        char dir[4300];
        model_path(dir, sizeof dir, fam);
        err_t e;
        tf_model *m = tf_load(dir, NULL, &e);
        CHECK_MSG(m, "%s", e.msg);
        tf_trainer *tr = tf_trainer_new(m, &o, &e);
        int ok = run_steps(&x, tr, "full_losses", 5e-3f, fam);
        if (ok) {
            /* and the trained weights give PyTorch's logits */
            const st_tensor *lt = st_find(&x.f, "full_logits");
            float *lg = malloc(sizeof(float) * (size_t)lt->numel);
            CHECK(tf_logits(m, x.tokens, (const int *)x.lens, x.B, x.T, lg, &e) == 0);
            double r = rel_err(lg, (const float *)lt->data, (size_t)lt->numel);
            free(lg);
            if (r > 1e-4)
                ok = test_fail(__FILE__, __LINE__, "%s: logits after training off by %.2e", fam,
                               r);
        }
        tf_trainer_free(tr);
        tf_free(m);
        st_close(&x.f);
        if (!ok)
            return;
    }
}

TEST(train_lora_gradients_and_steps_match_pytorch)
{
    tf_train_opts o = {.weight_decay = 0.1f, .max_grad_norm = 1.0f};
    for (size_t k = 0; k < ARRAY_LEN(k_families); k++) {
        const char *fam = k_families[k];
        fx_t x;
        if (!fx_open(&x, fam))
            return;
        char dir[4300], ad[4400];
        model_path(dir, sizeof dir, fam);
        snprintf(ad, sizeof ad, "%s/lora_init", dir);
        err_t e;
        tf_model *m = tf_load(dir, NULL, &e);
        CHECK_MSG(m, "%s", e.msg);
        CHECK_MSG(tf_lora_load(m, ad, &e) == 0, "%s: %s", fam, e.msg);
        tf_trainer *tr = tf_trainer_new(m, &o, &e);
        CHECK(tf_trainer_num_params(tr) == tf_lora_num_params(m));
        double loss;
        CHECK_MSG(loss_of(tr, &x, 0, &loss, &e) == 0, "%s", e.msg);
        double want = f64_at(&x, "lora_loss", 0);
        CHECK_MSG(fabs(loss - want) <= 1e-5 * fabs(want), "%s: LoRA loss %.8f, want %.8f", fam,
                  loss, want);
        int ok = check_grads(&x, tr, "lora.grad.", fam);
        tf_trainer_free(tr);
        tf_free(m);
        if (ok) {
            m = tf_load(dir, NULL, &e);
            CHECK(m && tf_lora_load(m, ad, &e) == 0);
            tr = tf_trainer_new(m, &o, &e);
            ok = run_steps(&x, tr, "lora_losses", 2e-2f, fam);
            tf_trainer_free(tr);
            tf_free(m);
        }
        st_close(&x.f);
        if (!ok)
            return;
    }
}

/* ---- saving, resuming, switches ---- */

static float *logits_of(tf_model *m, const fx_t *x)
{
    float *lg = malloc(sizeof(float) * (size_t)x->B * x->T * tf_config(m)->vocab_size);
    err_t e;
    if (tf_logits(m, x->tokens, (const int *)x->lens, x->B, x->T, lg, &e) != 0) {
        free(lg);
        return NULL;
    }
    return lg;
}

static int train_steps(tf_trainer *tr, const fx_t *x, int n, double *losses)
{
    for (int i = 0; i < n; i++) {
        double a, b;
        err_t e;
        if (loss_of(tr, x, 0, &a, &e) || loss_of(tr, x, 1, &b, &e) ||
            tf_trainer_step(tr, 1e-2f, NULL, &e))
            return test_fail(__FILE__, __LINE__, "%s", e.msg);
        if (losses)
            losses[i] = a + b;
    }
    return 1;
}

/* tokens, lens and the engine's logits, for tests/ref/check_saved.py */
static int write_expected(const char *path, const fx_t *x, const float *lg, int V)
{
    st_writer *w = st_writer_new();
    int64_t st[2] = {x->B, x->T}, sl[1] = {x->B}, sg[3] = {x->B, x->T, V};
    st_writer_add(w, "tokens", ST_I32, st, 2);
    st_writer_add(w, "lens", ST_I32, sl, 1);
    st_writer_add(w, "logits", ST_F32, sg, 3);
    err_t e;
    if (st_writer_begin(w, path, &e) || st_writer_data(w, x->tokens, 4 * (size_t)x->B * x->T, &e) ||
        st_writer_data(w, x->lens, 4 * (size_t)x->B, &e) ||
        st_writer_data(w, lg, 4 * (size_t)x->B * x->T * V, &e)) {
        st_writer_free(w);
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    }
    return st_writer_finish(w, &e) == 0 ? 1 : test_fail(__FILE__, __LINE__, "%s", e.msg);
}

/* The reference script, where PyTorch is installed: 1 ok, 0 failed, -1 not available. */
static int pytorch_check(const char *model_dir, const char *adapter, const char *expected)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
        return -1;
    char cmd[32000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/check_saved.py %s %s %s >%s.log 2>&1",
             test_root(), model_dir, adapter ? adapter : "", expected, expected);
    return system(cmd) == 0;
}

static int same(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, sizeof(float) * n) == 0;
}

TEST(train_saved_model_and_adapter_load_back_here_and_in_pytorch)
{
    const char *fams[] = {"gpt2", "llama", "qwen3"};
    int py_ran = 0;
    for (size_t k = 0; k < ARRAY_LEN(fams); k++) {
        const char *fam = fams[k];
        fx_t x;
        if (!fx_open(&x, fam))
            return;
        char dir[4300], out[4400], ad[4400], exp[4400];
        model_path(dir, sizeof dir, fam);
        err_t e;
        tf_model *m = tf_load(dir, NULL, &e);
        CHECK(m);
        int V = tf_config(m)->vocab_size;
        size_t nl = (size_t)x.B * x.T * V;
        float *base = logits_of(m, &x);
        /* full fine-tuning: save, load, same logits (fp32 on disk: exactly) */
        tf_trainer *tr = tf_trainer_new(m, NULL, &e);
        CHECK(train_steps(tr, &x, 2, NULL));
        float *trained = logits_of(m, &x);
        CHECK(!same(trained, base, nl));
        snprintf(out, sizeof out, "%s/%s-full", test_tmpdir(), fam);
        CHECK_MSG(tf_save_hf(m, out, &e) == 0, "%s", e.msg);
        tf_model *m2 = tf_load(out, NULL, &e);
        CHECK_MSG(m2, "%s", e.msg);
        float *again = logits_of(m2, &x);
        CHECK_MSG(same(again, trained, nl), "%s: the saved model computes other logits", fam);
        snprintf(exp, sizeof exp, "%s/%s-full.expected.safetensors", test_tmpdir(), fam);
        CHECK(write_expected(exp, &x, trained, V));
        int py = pytorch_check(out, NULL, exp);
        CHECK_MSG(py != 0, "%s: PyTorch disagrees with the saved model (see %s.log)", fam, exp);
        py_ran += py > 0;
        tf_free(m2);
        tf_trainer_free(tr);
        tf_free(m);
        free(again);
        free(trained);

        /* LoRA: adapters trained, saved as PEFT, loaded back; off = base */
        m = tf_load(dir, NULL, &e);
        tf_lora_opts lo = {.r = 4, .alpha = 8, .targets = "all-linear", .seed = 7};
        CHECK_MSG(tf_lora_attach(m, &lo, &e) == 0, "%s", e.msg);
        float *fresh = logits_of(m, &x);
        CHECK_MSG(same(fresh, base, nl), "%s: fresh adapters (B = 0) changed the output", fam);
        tr = tf_trainer_new(m, NULL, &e);
        CHECK(train_steps(tr, &x, 2, NULL));
        float *tuned = logits_of(m, &x);
        CHECK(!same(tuned, base, nl));
        tf_lora_set_enabled(m, 0);
        float *off = logits_of(m, &x);
        CHECK_MSG(same(off, base, nl), "%s: adapters off is not the base model", fam);
        tf_lora_set_enabled(m, 1);
        snprintf(ad, sizeof ad, "%s/%s-adapter", test_tmpdir(), fam);
        CHECK_MSG(tf_lora_save(m, ad, &e) == 0, "%s", e.msg);
        m2 = tf_load(dir, NULL, &e);
        CHECK_MSG(tf_lora_load(m2, ad, &e) == 0, "%s", e.msg);
        again = logits_of(m2, &x);
        CHECK_MSG(same(again, tuned, nl), "%s: the saved adapter computes other logits", fam);
        snprintf(exp, sizeof exp, "%s/%s-lora.expected.safetensors", test_tmpdir(), fam);
        CHECK(write_expected(exp, &x, tuned, V));
        py = pytorch_check(dir, ad, exp);
        CHECK_MSG(py != 0, "%s: PyTorch disagrees with the saved adapter (see %s.log)", fam, exp);
        py_ran += py > 0;
        /* merged into the base weights: the same function */
        CHECK_MSG(tf_lora_merge(m2, &e) == 0, "%s", e.msg);
        CHECK(tf_lora_num_params(m2) == 0);
        float *merged = logits_of(m2, &x);
        CHECK_MSG(rel_err(merged, tuned, nl) < 1e-5, "%s: merged logits off by %.2e", fam,
                  rel_err(merged, tuned, nl));
        free(merged);
        free(again);
        free(off);
        free(tuned);
        free(fresh);
        free(base);
        tf_free(m2);
        tf_trainer_free(tr);
        tf_free(m);
        st_close(&x.f);
    }
    if (!py_ran)
        test_skip("saved files load back here; the PyTorch half needs python3-torch");
}

TEST(train_resumed_run_equals_the_uninterrupted_one)
{
    fx_t x;
    if (!fx_open(&x, "llama"))
        return;
    char dir[4300], out[4400], opt[4500];
    model_path(dir, sizeof dir, "llama");
    tf_train_opts o = {.weight_decay = 0.1f, .max_grad_norm = 1.0f};
    err_t e;
    double all[5], part[5];
    tf_model *m = tf_load(dir, NULL, &e);
    tf_trainer *tr = tf_trainer_new(m, &o, &e);
    CHECK(train_steps(tr, &x, 5, all));
    tf_trainer_free(tr);
    tf_free(m);

    m = tf_load(dir, NULL, &e);
    tr = tf_trainer_new(m, &o, &e);
    CHECK(train_steps(tr, &x, 3, part));
    snprintf(out, sizeof out, "%s/resume", test_tmpdir());
    snprintf(opt, sizeof opt, "%s/optimizer.safetensors", out);
    CHECK_MSG(tf_save_hf(m, out, &e) == 0 && tf_trainer_save(tr, opt, &e) == 0, "%s", e.msg);
    tf_trainer_free(tr);
    tf_free(m);

    m = tf_load(out, NULL, &e);
    tr = tf_trainer_new(m, &o, &e);
    CHECK_MSG(tf_trainer_load(tr, opt, &e) == 0, "%s", e.msg);
    CHECK(tf_trainer_steps(tr) == 3);
    CHECK(train_steps(tr, &x, 2, part + 3));
    for (int i = 0; i < 5; i++)
        CHECK_MSG(part[i] == all[i], "step %d: %.9g resumed, %.9g uninterrupted", i, part[i],
                  all[i]);
    /* a state for other parameters is refused */
    tf_lora_opts lo = {.r = 2, .alpha = 4, .targets = "q_proj"};
    tf_model *m3 = tf_load(dir, NULL, &e);
    CHECK(tf_lora_attach(m3, &lo, &e) == 0);
    tf_trainer *t3 = tf_trainer_new(m3, &o, &e);
    CHECK(tf_trainer_load(t3, opt, &e) != 0);
    CHECK_CONTAINS(e.msg, "this model trains");
    tf_trainer_free(t3);
    tf_free(m3);
    tf_trainer_free(tr);
    tf_free(m);
    st_close(&x.f);
}

/* Gradients of one trainer, every tensor, flattened (by the fixture's names). */
static float *all_grads(tf_trainer *tr, const fx_t *x, const char *which, size_t *n)
{
    size_t total = 0, plen = strlen(which);
    for (size_t i = 0; i < x->f.n; i++)
        if (!strncmp(x->f.tensors[i].name, which, plen))
            total += (size_t)x->f.tensors[i].numel;
    float *g = calloc(total, sizeof(float)), *p = g;
    for (size_t i = 0; i < x->f.n; i++) {
        const st_tensor *t = &x->f.tensors[i];
        if (strncmp(t->name, which, plen))
            continue;
        err_t e;
        char full[256];
        snprintf(full, sizeof full, "model.%s", t->name + plen);
        if (tf_trainer_grad(tr, t->name + plen, p, (size_t)t->numel, &e) != 0)
            tf_trainer_grad(tr, full, p, (size_t)t->numel, &e);
        p += t->numel;
    }
    *n = total;
    return g;
}

TEST(train_checkpointing_and_head_chunks_give_the_same_gradients)
{
    const char *fams[] = {"gpt2", "qwen3"};
    for (size_t k = 0; k < ARRAY_LEN(fams); k++)
        for (int lora = 0; lora < 2; lora++) {
            fx_t x;
            if (!fx_open(&x, fams[k]))
                return;
            char dir[4300], ad[4400];
            model_path(dir, sizeof dir, fams[k]);
            snprintf(ad, sizeof ad, "%s/lora_init", dir);
            float *g[2];
            size_t n = 0;
            double loss[2];
            for (int ck = 0; ck < 2; ck++) {
                err_t e;
                tf_model *m = tf_load(dir, NULL, &e);
                if (lora)
                    CHECK(tf_lora_load(m, ad, &e) == 0);
                /* the second run also makes the LM head 4 rows at a time */
                tf_train_opts o = {.checkpointing = ck, .head_rows = ck ? 4 : 0};
                tf_trainer *tr = tf_trainer_new(m, &o, &e);
                CHECK(loss_of(tr, &x, 0, &loss[ck], &e) == 0);
                g[ck] = all_grads(tr, &x, lora ? "lora.grad." : "grad.", &n);
                tf_trainer_free(tr);
                tf_free(m);
            }
            /* the head's chunks add its weight gradient in another order */
            CHECK(n > 0 && fabs(loss[0] - loss[1]) < 1e-6 * fabs(loss[0]));
            CHECK_MSG(rel_err(g[1], g[0], n) < 1e-6,
                      "%s%s: checkpointing / chunking changed the gradients by %.2e", fams[k],
                      lora ? " (LoRA)" : "", rel_err(g[1], g[0], n));
            free(g[0]);
            free(g[1]);
            st_close(&x.f);
        }
}

TEST(train_lora_on_bf16_base_weights)
{
    fx_t x;
    if (!fx_open(&x, "llama"))
        return;
    char dir[4300], ad[4400];
    model_path(dir, sizeof dir, "llama");
    snprintf(ad, sizeof ad, "%s/lora_init", dir);
    err_t e;
    tf_load_opts lo = {.linear_bf16 = 1};
    tf_model *m = tf_load(dir, &lo, &e);
    CHECK(m);
    CHECK(tf_trainer_new(m, NULL, &e) == NULL);
    CHECK_CONTAINS(e.msg, "full fine-tuning needs fp32 weights");
    CHECK(tf_lora_load(m, ad, &e) == 0);
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    CHECK(tr);
    double loss, want = f64_at(&x, "lora_loss", 0);
    CHECK(loss_of(tr, &x, 0, &loss, &e) == 0);
    /* bf16 weights move each product by ~0.4%: the loss stays close */
    CHECK_MSG(fabs(loss - want) < 2e-2 * fabs(want), "bf16 base: loss %.5f, fp32 %.5f", loss, want);
    size_t n;
    float *g = all_grads(tr, &x, "lora.grad.", &n);
    const st_tensor *ref = NULL;
    float *r = calloc(n, sizeof(float)), *p = r;
    for (size_t i = 0; i < x.f.n; i++)
        if (!strncmp(x.f.tensors[i].name, "lora.grad.", 10)) {
            ref = &x.f.tensors[i];
            memcpy(p, ref->data, ref->nbytes);
            p += ref->numel;
        }
    CHECK_MSG(rel_err(g, r, n) < 5e-2, "bf16 base: LoRA gradients off by %.2e", rel_err(g, r, n));
    CHECK(train_steps(tr, &x, 3, NULL));
    free(g);
    free(r);
    tf_trainer_free(tr);
    tf_free(m);
    st_close(&x.f);
}

TEST(train_lora_dropout_is_seeded_and_only_in_training)
{
    fx_t x;
    if (!fx_open(&x, "gpt2"))
        return;
    char dir[4300];
    model_path(dir, sizeof dir, "gpt2");
    double l[3];
    float *lg[2];
    for (int run = 0; run < 3; run++) {
        err_t e;
        tf_model *m = tf_load(dir, NULL, &e);
        tf_lora_opts lo = {.r = 4, .alpha = 16, .dropout = run < 2 ? 0.5f : 0.0f,
                           .targets = "c_attn,c_fc", .seed = 3};
        CHECK(tf_lora_attach(m, &lo, &e) == 0);
        tf_trainer *tr = tf_trainer_new(m, NULL, &e);
        CHECK(train_steps(tr, &x, 2, NULL));
        CHECK(loss_of(tr, &x, 0, &l[run], &e) == 0);
        if (run < 2)
            lg[run] = logits_of(m, &x);
        tf_trainer_free(tr);
        tf_free(m);
    }
    CHECK_MSG(l[0] == l[1], "same seed, different losses: %.9g %.9g", l[0], l[1]);
    CHECK_MSG(l[0] != l[2], "dropout 0.5 trained exactly as dropout 0");
    /* inference (tf_logits) applies no dropout: deterministic */
    CHECK(same(lg[0], lg[1], (size_t)x.B * x.T * 160));
    free(lg[0]);
    free(lg[1]);
    st_close(&x.f);
}

TEST(train_bad_input_is_refused_with_one_line)
{
    char dir[4300], p[4500];
    model_path(dir, sizeof dir, "llama");
    err_t e;
    tf_model *m = tf_load(dir, NULL, &e);
    tf_lora_opts lo = {.r = 4, .alpha = 8, .targets = "q_proj,qproj"};
    CHECK(tf_lora_attach(m, &lo, &e) != 0);
    CHECK_CONTAINS(e.msg, "'qproj' matches no module");
    CHECK_CONTAINS(e.msg, "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    lo.targets = "";
    CHECK(tf_lora_attach(m, &lo, &e) != 0);
    CHECK_CONTAINS(e.msg, "target_modules is empty");
    lo = (tf_lora_opts){.r = 0, .alpha = 8, .targets = "q_proj"};
    CHECK(tf_lora_attach(m, &lo, &e) != 0);
    CHECK_CONTAINS(e.msg, "lora r = 0");
    lo = (tf_lora_opts){.r = 2, .alpha = 8, .dropout = 1.0f, .targets = "q_proj"};
    CHECK(tf_lora_attach(m, &lo, &e) != 0);
    CHECK_CONTAINS(e.msg, "lora_dropout = 1");
    CHECK(tf_lora_merge(m, &e) != 0);
    CHECK_CONTAINS(e.msg, "no LoRA adapters to merge");
    CHECK(tf_lora_save(m, test_tmpdir(), &e) != 0);

    /* PEFT directories that are wrong in each way */
    struct {
        const char *cfg, *want;
    } bad[] = {
        {"{", "adapter_config.json:1"},
        {"{\"peft_type\": \"LORA\", \"r\": 0, \"target_modules\": [\"q_proj\"]}",
         "r must be a positive integer"},
        {"{\"peft_type\": \"IA3\", \"r\": 4, \"target_modules\": [\"q_proj\"]}",
         "peft_type must be \"LORA\""},
        {"{\"r\": 4, \"lora_alpha\": \"8\", \"target_modules\": [\"q_proj\"]}",
         "lora_alpha must be a number"},
        {"{\"r\": 4, \"target_modules\": [1]}", "target_modules[0] must be a string"},
        {"{\"r\": 4, \"target_modules\": []}", "target_modules must be a string or a non-empty"},
        {"{\"r\": 4, \"target_modules\": [\"q_proj\"], \"use_dora\": true}", "use_dora"},
        {"{\"r\": 4, \"target_modules\": [\"q_proj\", \"v_proj\"]}", "no lora_A weight for"},
        {"{\"r\": 8, \"target_modules\": [\"q_proj\"]}", "has the wrong shape"},
        {"{\"r\": 4, \"target_modules\": [\"q_proj\"]}", "tensors for modules that"},
    };
    /* the adapter file: q_proj of both layers and v_proj of layer 0 only */
    char src[4500];
    snprintf(src, sizeof src, "%s/lora_init/adapter_model.safetensors", dir);
    size_t n;
    char *blob = file_read(src, &n, &e);
    CHECK(blob);
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        snprintf(p, sizeof p, "%s/bad%zu", test_tmpdir(), i);
        CHECK(dir_make(p, &e) == 0);
        char f[4600];
        snprintf(f, sizeof f, "%s/adapter_config.json", p);
        CHECK(file_write_atomic(f, bad[i].cfg, strlen(bad[i].cfg), &e) == 0);
        snprintf(f, sizeof f, "%s/adapter_model.safetensors", p);
        if (i == 7) {
            /* a file with only the q_proj adapters */
            st_file sf;
            CHECK(st_open(&sf, src, &e) == 0);
            st_writer *w = st_writer_new();
            for (int pass = 0; pass < 2; pass++) {
                if (pass)
                    CHECK(st_writer_begin(w, f, &e) == 0);
                for (size_t t = 0; t < sf.n; t++)
                    if (strstr(sf.tensors[t].name, "q_proj")) {
                        if (!pass)
                            st_writer_add(w, sf.tensors[t].name, ST_F32, sf.tensors[t].shape, 2);
                        else
                            CHECK(st_writer_data(w, sf.tensors[t].data, sf.tensors[t].nbytes,
                                                 &e) == 0);
                    }
            }
            CHECK(st_writer_finish(w, &e) == 0);
            st_close(&sf);
            snprintf(f, sizeof f, "%s/adapter_config.json", p);
            const char *c = "{\"r\": 4, \"target_modules\": [\"q_proj\", \"v_proj\"]}";
            CHECK(file_write_atomic(f, c, strlen(c), &e) == 0);
        } else {
            CHECK(file_write_atomic(f, blob, n, &e) == 0);
        }
        tf_model *mm = tf_load(dir, NULL, &e);
        CHECK_MSG(tf_lora_load(mm, p, &e) != 0, "case %zu loaded", i);
        CHECK_MSG(strstr(e.msg, bad[i].want) && !strchr(e.msg, '\n'), "case %zu: %s", i, e.msg);
        CHECK(tf_lora_num_params(mm) == 0); /* nothing half-attached */
        tf_free(mm);
    }
    free(blob);
    snprintf(p, sizeof p, "%s/nowhere", test_tmpdir());
    CHECK(tf_lora_load(m, p, &e) != 0);
    CHECK_CONTAINS(e.msg, "adapter_config.json");

    /* batches and optimizer states */
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    int32_t tok[4] = {1, 2, 3, 999};
    int len = 4;
    float w[4] = {1, 1, 1, 1};
    CHECK(tf_train_weighted(tr, tok, &len, 1, 4, NULL, w, NULL, &e) != 0);
    CHECK_CONTAINS(e.msg, "token id 999 at [0, 3] is outside the vocabulary");
    len = 5;
    CHECK(tf_train_weighted(tr, tok, &len, 1, 4, NULL, w, NULL, &e) != 0);
    CHECK_CONTAINS(e.msg, "lens[0] = 5 is outside 1..4");
    snprintf(p, sizeof p, "%s/bad0/adapter_config.json", test_tmpdir());
    CHECK(tf_trainer_load(tr, p, &e) != 0);
    snprintf(p, sizeof p, "%s/lora_init/adapter_model.safetensors", dir);
    CHECK(tf_trainer_load(tr, p, &e) != 0);
    CHECK_CONTAINS(e.msg, "not an optimizer state");
    tf_sched_kind sk;
    CHECK(tf_sched_parse("cosine", &sk) == 0 && sk == TF_SCHED_COSINE);
    CHECK(tf_sched_parse("cosine_with_restarts", &sk) != 0);
    tf_trainer_free(tr);
    tf_free(m);
}

TEST(train_schedules_follow_transformers)
{
    tf_sched lin = {TF_SCHED_LINEAR, 1.0f, 10, 110}, cos_ = {TF_SCHED_COSINE, 1.0f, 10, 110},
             con = {TF_SCHED_CONSTANT, 0.5f, 4, 100};
    CHECK(tf_sched_lr(&lin, 0) == 0.0f);
    CHECK(fabsf(tf_sched_lr(&lin, 5) - 0.5f) < 1e-7f);
    CHECK(tf_sched_lr(&lin, 10) == 1.0f);
    CHECK(fabsf(tf_sched_lr(&lin, 60) - 0.5f) < 1e-7f);
    CHECK(tf_sched_lr(&lin, 110) == 0.0f && tf_sched_lr(&lin, 200) == 0.0f);
    CHECK(fabsf(tf_sched_lr(&cos_, 60) - 0.5f) < 1e-6f);
    CHECK(fabsf(tf_sched_lr(&cos_, 35) - 0.5f * (1 + cosf((float)M_PI * 0.25f))) < 1e-6f);
    CHECK(tf_sched_lr(&con, 2) == 0.25f && tf_sched_lr(&con, 50) == 0.5f);
}

TEST(train_sequences_of_different_lengths_equal_one_padded_batch)
{
    fx_t x;
    if (!fx_open(&x, "qwen2"))
        return;
    char dir[4300];
    model_path(dir, sizeof dir, "qwen2");
    err_t e;
    tf_seq q[3];
    for (int b = 0; b < x.B; b++)
        q[b] = (tf_seq){x.tokens + (size_t)b * x.T, x.lens[b], x.w + (size_t)b * x.T};
    double l[2];
    float *g[2];
    size_t n;
    for (int k = 0; k < 2; k++) {
        tf_model *m = tf_load(dir, NULL, &e);
        tf_trainer *tr = tf_trainer_new(m, NULL, &e);
        if (k == 0)
            CHECK(loss_of(tr, &x, 0, &l[0], &e) == 0);
        else
            CHECK_MSG(tf_train_seqs(tr, q, x.B, 2, &l[1], &e) == 0, "%s", e.msg);
        g[k] = all_grads(tr, &x, "grad.", &n);
        tf_trainer_free(tr);
        tf_free(m);
    }
    CHECK_MSG(fabs(l[0] - l[1]) < 1e-6 * fabs(l[0]), "%.8f vs %.8f", l[0], l[1]);
    CHECK_MSG(rel_err(g[1], g[0], n) < 1e-5, "gradients differ by %.2e", rel_err(g[1], g[0], n));
    free(g[0]);
    free(g[1]);
    tf_seq empty = {x.tokens, 0, x.w};
    tf_model *m = tf_load(dir, NULL, &e);
    tf_trainer *tr = tf_trainer_new(m, NULL, &e);
    CHECK(tf_train_seqs(tr, &empty, 1, 1, NULL, &e) != 0);
    CHECK_CONTAINS(e.msg, "sequence 0 is empty");
    CHECK(tf_train_seqs(tr, q, 1, 0, NULL, &e) != 0);
    CHECK_CONTAINS(e.msg, "micro_batch = 0");
    tf_trainer_free(tr);
    tf_free(m);
    st_close(&x.f);
}

TEST(train_saved_directory_carries_config_and_tokenizer)
{
    char dir[4300], out[4400], a[4600], b[4600];
    model_path(dir, sizeof dir, "chat");
    snprintf(out, sizeof out, "%s/chat-saved", test_tmpdir());
    err_t e;
    tf_model *m = tf_load(dir, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);
    CHECK_MSG(tf_save_hf(m, out, &e) == 0, "%s", e.msg);
    const char *files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        snprintf(a, sizeof a, "%s/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", out, files[i]);
        size_t na, nb;
        char *x = file_read(a, &na, &e), *y = file_read(b, &nb, &e);
        CHECK_MSG(x && y && na == nb && memcmp(x, y, na) == 0, "%s was not copied", files[i]);
        free(x);
        free(y);
    }
    snprintf(b, sizeof b, "%s/config.json", out);
    size_t n;
    char *cfg = file_read(b, &n, &e);
    CHECK(cfg);
    CHECK_CONTAINS(cfg, "\"torch_dtype\": \"float32\"");
    free(cfg);
    tok_t *t = tok_load(out, &e);
    CHECK_MSG(t, "%s", e.msg);
    tok_free(t);
    tf_model *m2 = tf_load(out, NULL, &e);
    CHECK_MSG(m2, "%s", e.msg);
    CHECK(tf_num_params(m2) == tf_num_params(m));
    tf_free(m2);
    /* an unwritable place is one clear line */
    snprintf(b, sizeof b, "%s/config.json/sub", out);
    CHECK(tf_save_hf(m, b, &e) != 0);
    CHECK_CONTAINS(e.msg, "config.json");
    tf_free(m);
}
