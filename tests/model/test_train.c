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
        if (fabs(a + b - want) > 1e-5 * fabs(want) + 1e-6)
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
        int ok = run_steps(&x, tr, "full_losses", 2e-2f, fam);
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
            ok = run_steps(&x, tr, "lora_losses", 5e-2f, fam);
            tf_trainer_free(tr);
            tf_free(m);
        }
        st_close(&x.f);
        if (!ok)
            return;
    }
}
