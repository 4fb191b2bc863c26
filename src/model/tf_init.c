/* model/tf_init: a model made from scratch - transformers' initialisation
 * of a new Llama (_init_weights: Linear and Embedding weights from
 * normal(0, initializer_range), their biases 0, RMSNorm weights 1) - and
 * the tokenizer that goes with it when saved. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"
#include "tokenizer.h"
#include "train.h"

#define INIT_STD 0.02 /* initializer_range, as config.json records it */

typedef struct {
    tf_model *m;
    uint64_t seed;
} init_ctx;

/* Tensors i0..i1 of plist: tensor i draws from stream (seed, i). */
static void init_range(void *arg, long i0, long i1)
{
    init_ctx *c = arg;
    for (long i = i0; i < i1; i++) {
        tf_param *p = &c->m->plist[i];
        if (p->cols == 0) { /* a vector: a norm's weight, or a bias */
            float v = str_ends(p->name, "bias") ? 0.0f : 1.0f;
            for (size_t k = 0; k < p->numel; k++)
                p->p[k] = v;
            continue;
        }
        rng_t r;
        rng_seed_stream(&r, c->seed, (uint64_t)i);
        /* Box-Muller: two normals per two uniforms; 1 - u is in (0, 1] */
        for (size_t k = 0; k < p->numel; k += 2) {
            double u1 = 1.0 - rng_uniform(&r), u2 = rng_uniform(&r);
            double rad = sqrt(-2.0 * log(u1)) * INIT_STD;
            p->p[k] = (float)(rad * cos(2 * M_PI * u2));
            if (k + 1 < p->numel)
                p->p[k + 1] = (float)(rad * sin(2 * M_PI * u2));
        }
    }
}

tf_model *tf_new_random(const hf_config *cfg, uint64_t seed, err_t *e)
{
    tf_model *m = tf_create(cfg, NULL, "new model", e);
    if (!m)
        return NULL;
    init_ctx c = {m, seed};
    par_for(m->n_plist, 1, init_range, &c);
    return m;
}

int tf_set_tokenizer_dir(tf_model *m, const char *dir, err_t *e)
{
    tok_t *t = tok_load(dir, e);
    if (!t)
        return -1;
    size_t n = tok_vocab_size(t);
    tok_free(t);
    if (n > (size_t)m->V)
        return err_set(e, "%s: the tokenizer has %zu tokens; the model's vocabulary holds %d", dir, n,
                       m->V);
    free(m->tok_dir);
    m->tok_dir = xstrdup(dir);
    return 0;
}
