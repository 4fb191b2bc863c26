/* env/ep_policy: what samples the model's turns - the engine (batched
 * tf_generate) and a scripted policy that replays texts. */
#include <stdlib.h>
#include <string.h>

#include "../model/textgen.h"
#include "ep_internal.h"

/* The stop strings seen in the text a sequence has produced: only the
 * tail that a new token can complete is searched. */
typedef struct stop_scan {
    const char *const *stop;
    int n_stop;
    size_t longest;
} stop_scan;

static void stop_scan_init(stop_scan *s, const char *const *stop, int n_stop)
{
    s->stop = stop;
    s->n_stop = n_stop;
    s->longest = 0;
    for (int i = 0; i < n_stop; i++)
        if (strlen(stop[i]) > s->longest)
            s->longest = strlen(stop[i]);
}

/* 1 when text (of which the bytes from `before` on are new) holds a stop string
 * that ends in the new bytes. */
static int stop_scan_hit(const stop_scan *s, const buf_t *text, size_t before)
{
    size_t from = before > s->longest ? before - s->longest : 0;
    for (int i = 0; i < s->n_stop; i++) {
        size_t len = strlen(s->stop[i]);
        if (len && text->len - from >= len && memmem(text->data + from, text->len - from, s->stop[i], len))
            return 1;
    }
    return 0;
}

/* ---- the engine */

struct ep_engine {
    tf_model *m;
    const tok_t *t;
    chat_format f;
    ep_engine_opts o;
    uint64_t calls;
    int32_t eot[16];
    int n_eot;
};

ep_engine *ep_engine_new(tf_model *m, const tok_t *t, chat_format f, const ep_engine_opts *o)
{
    ep_engine *en = xcalloc(1, sizeof *en);
    en->m = m;
    en->t = t;
    en->f = f;
    en->o = *o;
    en->n_eot = tg_stop_ids(m, t, f, en->eot, (int)ARRAY_LEN(en->eot));
    return en;
}

void ep_engine_free(ep_engine *en)
{
    free(en);
}

void ep_engine_reseed(ep_engine *en, uint64_t seed)
{
    en->o.seed = seed;
    en->calls = 0;
}

typedef struct engine_stop {
    const tok_t *t;
    stop_scan scan;
    buf_t *text;      /* [B] bytes each sequence produced */
    const int *limit; /* [B] its max_new */
} engine_stop;

static int engine_should_stop(void *user, int seq, const int32_t *toks, int n)
{
    engine_stop *s = user;
    buf_t *text = &s->text[seq];
    size_t before = text->len;
    tok_token_bytes(s->t, toks[n - 1], text);
    return n >= s->limit[seq] || stop_scan_hit(&s->scan, text, before);
}

static int engine_generate(void *user, ep_gen_req *reqs, int B, const char *const *stop, int n_stop,
                           err_t *e)
{
    ep_engine *en = user;
    const hf_config *cfg = tf_config(en->m);
    int maxnew = 0, tp = 0;
    for (int b = 0; b < B; b++) {
        maxnew = reqs[b].max_new > maxnew ? reqs[b].max_new : maxnew;
        tp = reqs[b].n_tokens > tp ? reqs[b].n_tokens : tp;
    }
    if (cfg->learned_pos && tp + maxnew > cfg->max_pos) {
        /* a table of positions: the batch's cache ends at max_pos */
        if (tp >= cfg->max_pos)
            return err_set(e, "episode: a sequence of %d tokens leaves no room to generate: the model "
                              "has %d positions",
                           tp, cfg->max_pos);
        maxnew = cfg->max_pos - tp;
    }
    const int32_t **prompts = xmalloc(sizeof *prompts * (size_t)B);
    int *lens = xmalloc(sizeof *lens * (size_t)B), *limit = xmalloc(sizeof *limit * (size_t)B);
    int *n = xmalloc(sizeof *n * (size_t)B);
    buf_t *text = xcalloc((size_t)B, sizeof *text);
    int32_t *toks = xmalloc(sizeof *toks * (size_t)B * (size_t)maxnew);
    float *lps = xmalloc(sizeof *lps * (size_t)B * (size_t)maxnew);
    for (int b = 0; b < B; b++) {
        prompts[b] = reqs[b].tokens;
        lens[b] = reqs[b].n_tokens;
        limit[b] = reqs[b].max_new < maxnew ? reqs[b].max_new : maxnew;
        buf_init(&text[b]);
    }
    engine_stop st = {.t = en->t, .text = text, .limit = limit};
    stop_scan_init(&st.scan, stop, n_stop);
    rng_t r;
    rng_seed_stream(&r, en->o.seed, en->calls++);
    tf_gen_params p = {.max_new_tokens = maxnew,
                       .temperature = en->o.temperature,
                       .top_k = en->o.top_k,
                       .top_p = en->o.top_p,
                       .stop_ids = en->eot,
                       .n_stop = en->n_eot,
                       .seed = rng_next(&r),
                       .should_stop = engine_should_stop,
                       .user = &st};
    tf_gen_out go = {.tokens = toks, .logprobs = lps, .n = n, .finish = NULL};
    int rc = tf_generate(en->m, prompts, lens, B, &p, &go, e);
    if (rc == 0)
        for (int b = 0; b < B; b++) {
            reqs[b].n_out = n[b];
            memcpy(reqs[b].out_tokens, toks + (size_t)b * maxnew, sizeof *toks * (size_t)n[b]);
            memcpy(reqs[b].out_logprobs, lps + (size_t)b * maxnew, sizeof *lps * (size_t)n[b]);
        }
    for (int b = 0; b < B; b++)
        buf_free(&text[b]);
    free(text);
    free(toks);
    free(lps);
    free(n);
    free(limit);
    free(lens);
    free(prompts);
    return rc;
}

ep_policy ep_engine_policy(ep_engine *en)
{
    return (ep_policy){.generate = engine_generate, .user = en};
}

/* ---- the scripted policy */

struct ep_scripted {
    const tok_t *t;
    const int32_t *eot;
    int n_eot;
    const ep_script *scripts;
    int n_scripts;
};

ep_scripted *ep_scripted_new(const tok_t *t, const int32_t *eot_ids, int n_eot,
                             const ep_script *scripts, int n_scripts)
{
    ep_scripted *s = xcalloc(1, sizeof *s);
    s->t = t;
    s->eot = eot_ids;
    s->n_eot = n_eot;
    s->scripts = scripts;
    s->n_scripts = n_scripts;
    return s;
}

void ep_scripted_free(ep_scripted *s)
{
    free(s);
}

static int scripted_generate(void *user, ep_gen_req *reqs, int B, const char *const *stop, int n_stop,
                             err_t *e)
{
    ep_scripted *s = user;
    stop_scan scan;
    stop_scan_init(&scan, stop, n_stop);
    buf_t text;
    buf_init(&text);
    int rc = 0;
    for (int b = 0; b < B && rc == 0; b++) {
        ep_gen_req *q = &reqs[b];
        const ep_script *sc = s->n_scripts > 0 ? &s->scripts[q->episode % s->n_scripts] : NULL;
        if (!sc || q->turn > sc->n_turns) {
            rc = err_set(e, "scripted policy: episode %d asks for turn %d; its script has %d", q->episode,
                         q->turn, sc ? sc->n_turns : 0);
            break;
        }
        const char *src = sc->turns[q->turn - 1];
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode(s->t, src, strlen(src), 1, &ids, &n, e) != 0) {
            rc = -1;
            break;
        }
        if (n == 0) {
            free(ids);
            rc = err_set(e, "scripted policy: turn %d of episode %d is empty", q->turn, q->episode);
            break;
        }
        /* token by token, as a model would produce the text */
        buf_reset(&text);
        int k = 0, done = 0;
        while (!done && k < (int)n && k < q->max_new) {
            int32_t id = ids[k];
            size_t before = text.len;
            tok_token_bytes(s->t, id, &text);
            q->out_tokens[k] = id;
            q->out_logprobs[k] = 0.0f;
            k++;
            for (int i = 0; i < s->n_eot; i++)
                done |= id == s->eot[i];
            done |= stop_scan_hit(&scan, &text, before);
        }
        q->n_out = k;
        free(ids);
    }
    buf_free(&text);
    return rc;
}

ep_policy ep_scripted_policy(ep_scripted *s)
{
    return (ep_policy){.generate = scripted_generate, .user = s};
}
