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

/* The engine keeps the KV cache of every episode between turns (a
 * tf_gen_state, slot = episode index): a turn appends only what the
 * environment added since the episode's last turn. hist[e] is what slot e
 * holds (tokens in the cache and the last sampled one); a request whose
 * tokens do not start with it (another run reusing the index) starts the
 * slot afresh. */
struct ep_engine {
    tf_model *m;
    const tok_t *t;
    chat_format f;
    ep_engine_opts o;
    uint64_t rebuilds; /* states made since the seed was set */
    int32_t eot[16];
    int n_eot;
    tf_gen_state *st;
    int32_t **hist;
    int *nhist, *cap_hist;
    int slots;
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

static void engine_drop_state(ep_engine *en)
{
    tf_gen_state_free(en->st);
    en->st = NULL;
    for (int i = 0; i < en->slots; i++)
        free(en->hist[i]);
    free(en->hist);
    free(en->nhist);
    free(en->cap_hist);
    en->hist = NULL;
    en->nhist = en->cap_hist = NULL;
    en->slots = 0;
}

void ep_engine_free(ep_engine *en)
{
    if (!en)
        return;
    engine_drop_state(en);
    free(en);
}

void ep_engine_reseed(ep_engine *en, uint64_t seed)
{
    en->o.seed = seed;
    en->rebuilds = 0;
    engine_drop_state(en);
}

/* Makes the state hold episode slots 0..need_slots-1 with need_len
 * positions each (a bigger state starts every slot afresh). */
static int engine_ensure(ep_engine *en, int need_slots, int need_len, err_t *e)
{
    int have_len = 0;
    if (en->st && tf_gen_state_capacity(en->st, &have_len) >= need_slots && have_len >= need_len)
        return 0;
    int slots = en->slots > need_slots ? en->slots : need_slots;
    int len = have_len > need_len ? have_len : need_len;
    len = len < 256 ? 256 : len;
    if (en->st) /* grow by half again, so episodes that lengthen do not rebuild each turn */
        len = len + len / 2 > need_len ? len + len / 2 : need_len;
    const hf_config *cfg = tf_config(en->m);
    if (cfg->learned_pos && len > cfg->max_pos)
        len = cfg->max_pos;
    engine_drop_state(en);
    en->st = tf_gen_state_new(en->m, slots, len, en->o.seed, e);
    if (!en->st)
        return -1;
    en->slots = slots;
    en->hist = xcalloc((size_t)slots, sizeof *en->hist);
    en->nhist = xcalloc((size_t)slots, sizeof *en->nhist);
    en->cap_hist = xcalloc((size_t)slots, sizeof *en->cap_hist);
    /* Episode i samples from its own stream, whoever runs beside it; a
     * rebuilt (larger) state continues with fresh streams rather than
     * replaying the first draws. */
    for (int i = 0; i < slots; i++)
        tf_gen_state_seed(en->st, i, en->o.seed, ((uint64_t)en->rebuilds << 32) | (uint64_t)i);
    en->rebuilds++;
    return 0;
}

static void hist_set(ep_engine *en, int slot, const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na + nb;
    if (n > en->cap_hist[slot]) {
        en->cap_hist[slot] = n * 2;
        en->hist[slot] = xrealloc(en->hist[slot], sizeof(int32_t) * (size_t)en->cap_hist[slot]);
    }
    memmove(en->hist[slot], a, sizeof(int32_t) * (size_t)na);
    memcpy(en->hist[slot] + na, b, sizeof(int32_t) * (size_t)nb);
    en->nhist[slot] = n;
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
    int maxslot = 0, need = 0;
    for (int b = 0; b < B; b++) {
        maxslot = reqs[b].episode + 1 > maxslot ? reqs[b].episode + 1 : maxslot;
        need = reqs[b].n_tokens + maxnew > need ? reqs[b].n_tokens + maxnew : need;
    }
    if (engine_ensure(en, maxslot, need, e) != 0)
        return -1;
    const int32_t **add = xmalloc(sizeof *add * (size_t)B);
    int *nadd = xmalloc(sizeof *nadd * (size_t)B), *seqs = xmalloc(sizeof *seqs * (size_t)B);
    int *limit = xmalloc(sizeof *limit * (size_t)B), *n = xmalloc(sizeof *n * (size_t)B);
    buf_t *text = xcalloc((size_t)B, sizeof *text);
    int32_t *toks = xmalloc(sizeof *toks * (size_t)B * (size_t)maxnew);
    float *lps = xmalloc(sizeof *lps * (size_t)B * (size_t)maxnew);
    for (int b = 0; b < B; b++) {
        int slot = reqs[b].episode, h = en->nhist[slot];
        /* only what is new since this episode's last turn */
        if (h == 0 || h > reqs[b].n_tokens ||
            memcmp(en->hist[slot], reqs[b].tokens, sizeof(int32_t) * (size_t)h) != 0) {
            tf_gen_state_reset(en->st, slot);
            h = 0;
        }
        seqs[b] = slot;
        add[b] = reqs[b].tokens + h;
        nadd[b] = reqs[b].n_tokens - h;
        limit[b] = reqs[b].max_new < maxnew ? reqs[b].max_new : maxnew;
        buf_init(&text[b]);
    }
    engine_stop st = {.t = en->t, .text = text, .limit = limit};
    stop_scan_init(&st.scan, stop, n_stop);
    tf_gen_params p = {.max_new_tokens = maxnew,
                       .temperature = en->o.temperature,
                       .top_k = en->o.top_k,
                       .top_p = en->o.top_p,
                       .stop_ids = en->eot,
                       .n_stop = en->n_eot,
                       .should_stop = engine_should_stop,
                       .user = &st};
    tf_gen_out go = {.tokens = toks, .logprobs = lps, .n = n, .finish = NULL};
    int rc = tf_gen_state_append(en->st, B, seqs, add, nadd, e);
    if (rc == 0)
        rc = tf_gen_state_generate(en->st, B, seqs, &p, &go, e);
    for (int b = 0; b < B; b++) {
        int slot = seqs[b];
        if (rc != 0) {
            en->nhist[slot] = 0; /* the cache may be half-written: start afresh */
            continue;
        }
        reqs[b].n_out = n[b];
        memcpy(reqs[b].out_tokens, toks + (size_t)b * maxnew, sizeof *toks * (size_t)n[b]);
        memcpy(reqs[b].out_logprobs, lps + (size_t)b * maxnew, sizeof *lps * (size_t)n[b]);
        hist_set(en, slot, reqs[b].tokens, reqs[b].n_tokens, reqs[b].out_tokens, n[b]);
    }
    for (int b = 0; b < B; b++)
        buf_free(&text[b]);
    free(text);
    free(toks);
    free(lps);
    free(n);
    free(limit);
    free(seqs);
    free(nadd);
    free(add);
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
