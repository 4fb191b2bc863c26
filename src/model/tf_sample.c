/* model/tf_sample: batched generation with a KV cache, and the sampler
 * (temperature, top-k, top-p) with the log-probability of each draw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

typedef struct {
    float temperature, top_p;
    int top_k;
} sampler_t;

/* Per-sequence scratch: V candidate ids and V weights. */
typedef struct {
    int32_t *idx;
    float *w;
} samp_scratch;

static int argmax_first(const float *x, int n)
{
    int a = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[a])
            a = i;
    return a;
}

/* The k-th largest value of x (k <= n), by a min-heap of the k largest. */
static float kth_largest(const float *x, int n, int k, float *heap)
{
    int h = 0;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (h < k) {
            int j = h++;
            while (j > 0 && heap[(j - 1) / 2] > v) {
                heap[j] = heap[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            heap[j] = v;
        } else if (v > heap[0]) {
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, s = j;
                float sv = v;
                if (l < k && heap[l] < sv)
                    s = l, sv = heap[l];
                if (r < k && heap[r] < sv)
                    s = r;
                if (s == j)
                    break;
                heap[j] = heap[s];
                j = s;
            }
            heap[j] = v;
        }
    }
    return heap[0];
}

/* Sorts candidates by weight, largest first, lower id first on ties. */
/* qsort has no context argument; sampling runs on pool threads. */
static _Thread_local const float *t_sort_w;
static int cmp_desc(const void *a, const void *b)
{
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float wi = t_sort_w[i], wj = t_sort_w[j];
    if (wi != wj)
        return wi > wj ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Draws one token from logits [V]; *logprob gets its log-probability
 * under the distribution drawn from (see transformer.h). */
static int32_t sample_row(const float *logits, int V, const sampler_t *s, rng_t *rng,
                          samp_scratch *sc, float *logprob)
{
    float m = tf_vec_max(logits, V);
    if (s->temperature <= 0) {
        int32_t a = argmax_first(logits, V);
        *logprob = logits[a] - tf_vec_logsumexp(logits, V, m);
        return a;
    }
    float inv_t = 1.0f / s->temperature;
    /* weights w[i] = exp((l_i - max) / T) over the candidates */
    int n = 0;
    if (s->top_k > 0 && s->top_k < V) {
        /* keep logits >= the k-th largest (ties kept, as transformers'
         * TopKLogitsWarper does) */
        float thr = kth_largest(logits, V, s->top_k, sc->w);
        for (int i = 0; i < V; i++)
            if (logits[i] >= thr)
                sc->idx[n++] = i;
        for (int j = 0; j < n; j++)
            sc->w[sc->idx[j]] = expf((logits[sc->idx[j]] - m) * inv_t);
    } else {
        tf_vec_exp(sc->w, logits, V, m, inv_t);
        for (int i = 0; i < V; i++)
            sc->idx[i] = i;
        n = V;
    }
    double z = 0;
    for (int j = 0; j < n; j++)
        z += sc->w[sc->idx[j]];
    if (s->top_p > 0 && s->top_p < 1 && n > 1) {
        /* Only a weight >= (1 - p) z / (n - 1) can be in the nucleus: the
         * mass below a smaller one would be under 1 - p. Sort just those. */
        double cut = (1.0 - s->top_p) * z / (n - 1);
        int k = 0;
        for (int j = 0; j < n; j++)
            if (sc->w[sc->idx[j]] >= cut)
                sc->idx[k++] = sc->idx[j];
        t_sort_w = sc->w;
        qsort(sc->idx, (size_t)k, sizeof *sc->idx, cmp_desc);
        /* keep tokens while the mass before them is under top_p */
        double before = 0;
        int keep = 0;
        while (keep < k && before < s->top_p * z)
            before += sc->w[sc->idx[keep++]];
        n = keep;
        z = before;
    }
    double u = rng_uniform(rng) * z, acc = 0;
    int32_t tok = sc->idx[n - 1];
    for (int j = 0; j < n; j++) {
        acc += sc->w[sc->idx[j]];
        if (u < acc) {
            tok = sc->idx[j];
            break;
        }
    }
    *logprob = (float)log(sc->w[tok] / z);
    return tok;
}

typedef struct {
    const tf_model *m;
    const float *logits; /* [n_act, V] */
    const int *act;      /* active sequence of each row */
    const sampler_t *s;
    rng_t *rng;
    samp_scratch *sc;
    int32_t *tok;
    float *lp;
} samp_ctx;

static void sample_range(void *p, long i0, long i1)
{
    samp_ctx *c = p;
    for (long i = i0; i < i1; i++) {
        int b = c->act[i];
        c->tok[i] = sample_row(c->logits + (size_t)i * c->m->V, c->m->V, c->s, &c->rng[b],
                               &c->sc[b], &c->lp[i]);
    }
}

static int is_stop(const tf_gen_params *p, int32_t t)
{
    for (int i = 0; i < p->n_stop; i++)
        if (p->stop_ids[i] == t)
            return 1;
    return 0;
}

int tf_generate(tf_model *m, const int32_t *const *prompts, const int *prompt_lens, int B,
                const tf_gen_params *p, tf_gen_out *out, err_t *e)
{
    if (B < 1)
        return err_set(e, "generate: batch of %d sequences", B);
    if (p->max_new_tokens < 0 || p->temperature < 0 || !(p->top_p >= 0 && p->top_p <= 1) ||
        p->top_k < 0 || p->n_stop < 0 || (p->n_stop > 0 && !p->stop_ids))
        return err_set(e,
                       "generate: needs max_new_tokens >= 0, temperature >= 0, top_k >= 0, "
                       "top_p in [0, 1] and stop ids for n_stop > 0");
    int Tp = 0;
    for (int b = 0; b < B; b++)
        Tp = prompt_lens[b] > Tp ? prompt_lens[b] : Tp;
    int maxnew = p->max_new_tokens, V = m->V;
    /* prompts, right-padded [B, Tp] */
    int32_t *tok = xcalloc((size_t)B * (Tp > 0 ? Tp : 1), sizeof *tok);
    for (int b = 0; b < B; b++)
        if (prompt_lens[b] >= 1)
            memcpy(tok + (size_t)b * Tp, prompts[b], sizeof(int32_t) * (size_t)prompt_lens[b]);
    int S = Tp + maxnew; /* cache positions per sequence */
    if (tf_check_batch(m, tok, prompt_lens, B, Tp, S, e) != 0) {
        free(tok);
        return -1;
    }
    for (int b = 0; b < B; b++) {
        out->n[b] = 0;
        if (out->finish)
            out->finish[b] = TF_FINISH_LENGTH;
    }
    if (maxnew == 0) {
        free(tok);
        return 0;
    }
    tf_ws_ensure(m, B, Tp, S);
    tf_ws *w = &m->ws;
    size_t D = (size_t)m->D, KV = (size_t)m->KV, layer = (size_t)B * KV * S * D;
    /* KV cache [L][B][KV][S][D], keys and values */
    float *kc = xmalloc(sizeof(float) * layer * m->L), *vc = xmalloc(sizeof(float) * layer * m->L);
    tf_kv kv = {kc, vc, S};
    float *logits = xmalloc(sizeof(float) * (size_t)B * V);
    int *pos = xmalloc(sizeof(int) * (size_t)B), *act = xmalloc(sizeof(int) * (size_t)B);
    int *ones = xmalloc(sizeof(int) * (size_t)B);
    int32_t *step_tok = xmalloc(sizeof(int32_t) * (size_t)B);
    float *step_lp = xmalloc(sizeof(float) * (size_t)B);
    rng_t *rng = xmalloc(sizeof(rng_t) * (size_t)B);
    samp_scratch *sc = xmalloc(sizeof(samp_scratch) * (size_t)B);
    for (int b = 0; b < B; b++) {
        rng_seed_stream(&rng[b], p->seed, (uint64_t)b);
        sc[b].idx = xmalloc(sizeof(int32_t) * (size_t)V);
        sc[b].w = xmalloc(sizeof(float) * (size_t)V);
        pos[b] = prompt_lens[b];
        act[b] = b;
        ones[b] = 1;
    }
    sampler_t smp = {p->temperature, p->top_p, p->top_k};

    /* prefill: every prompt at once; logits at each last position */
    memset(w->start, 0, sizeof(int) * (size_t)B);
    tf_rows r = {.B = B, .T = Tp, .start = w->start, .len = prompt_lens, .slot = NULL};
    tf_forward_hidden(m, &r, tok, kv, layer);
    size_t C = (size_t)m->C;
    int n_act = B;
    for (int b0 = 0, lpc = tf_lp_chunk(m); b0 < B; b0 += lpc) {
        int n = B - b0 < lpc ? B - b0 : lpc;
        for (int i = 0; i < n; i++)
            memcpy(w->rows_c + i * C, w->lnf + ((size_t)(b0 + i) * Tp + prompt_lens[b0 + i] - 1) * C,
                   sizeof(float) * C);
        tf_linear_forward(logits + (size_t)b0 * V, w->rows_c, &m->lm_head, n, 0);
    }

    for (int step = 0; n_act > 0; step++) {
        samp_ctx sctx = {m, logits, act, &smp, rng, sc, step_tok, step_lp};
        par_for(n_act, 1, sample_range, &sctx);
        int k = 0;
        for (int i = 0; i < n_act; i++) {
            int b = act[i];
            size_t at = (size_t)b * maxnew + out->n[b];
            out->tokens[at] = step_tok[i];
            if (out->logprobs)
                out->logprobs[at] = step_lp[i];
            out->n[b]++;
            tf_finish why = TF_FINISH_LENGTH;
            int done = 0;
            if (is_stop(p, step_tok[i])) {
                done = 1;
                why = TF_FINISH_STOP_ID;
            } else if (p->should_stop &&
                       p->should_stop(p->user, b, out->tokens + (size_t)b * maxnew, out->n[b])) {
                done = 1;
                why = TF_FINISH_CALLBACK;
            } else if (out->n[b] == maxnew) {
                done = 1;
            }
            if (done) {
                if (out->finish)
                    out->finish[b] = why;
                continue;
            }
            act[k] = b;
            step_tok[k] = step_tok[i];
            k++;
        }
        n_act = k;
        if (n_act == 0)
            break;
        /* one decode step for the running sequences: row i is sequence
         * act[i], its new token at position pos[act[i]] */
        for (int i = 0; i < n_act; i++)
            w->start[i] = pos[act[i]];
        tf_rows d = {.B = n_act, .T = 1, .start = w->start, .len = ones, .slot = act};
        tf_forward_hidden(m, &d, step_tok, kv, layer);
        for (int i = 0; i < n_act; i++)
            pos[act[i]]++;
        /* logits [n_act, V]; lnf holds one row per running sequence */
        tf_linear_forward(logits, w->lnf, &m->lm_head, n_act, 0);
    }

    for (int b = 0; b < B; b++) {
        free(sc[b].idx);
        free(sc[b].w);
    }
    free(sc);
    free(rng);
    free(step_lp);
    free(step_tok);
    free(ones);
    free(act);
    free(pos);
    free(logits);
    free(kc);
    free(vc);
    free(tok);
    return 0;
}
