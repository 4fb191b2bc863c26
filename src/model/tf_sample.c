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

/* ---- generation state: the KV cache of B sequences across calls ---- */

struct tf_gen_state {
    tf_model *m;
    int B, S;            /* sequences; cache positions of each */
    size_t layer;        /* floats of one layer's keys (or values): B KV S D */
    float *kc, *vc;      /* [L][B][KV][S][D] */
    int *pos;            /* tokens in the cache, per sequence */
    int32_t *pending;    /* the last sampled token, not yet in the cache; -1: none */
    float *last;         /* [B, C] final hidden state after each sequence's last cached token */
    rng_t *rng;          /* one stream per sequence, kept across calls */
    samp_scratch *sc;
    /* per-call scratch, [B] */
    float *logits;       /* [B, V] */
    int *act, *ones, *start, *lens, *slots;
    int32_t *step_tok, *tok;
    float *step_lp;
    size_t tok_cap;
};

tf_gen_state *tf_gen_state_new(tf_model *m, int B, int max_len, uint64_t seed, err_t *e)
{
    if (B < 1 || max_len < 1) {
        err_set(e, "generate: %d sequences of %d positions", B, max_len);
        return NULL;
    }
    if (m->cfg.learned_pos && max_len > m->cfg.max_pos) {
        err_set(e, "%d positions needed; the model has %d (n_positions)", max_len,
                m->cfg.max_pos);
        return NULL;
    }
    tf_gen_state *st = xcalloc(1, sizeof *st);
    st->m = m;
    st->B = B;
    st->S = max_len;
    st->layer = (size_t)B * m->KV * max_len * m->D;
    st->kc = xmalloc(sizeof(float) * st->layer * m->L);
    st->vc = xmalloc(sizeof(float) * st->layer * m->L);
    st->pos = xcalloc((size_t)B, sizeof(int));
    st->pending = xmalloc(sizeof(int32_t) * (size_t)B);
    st->last = xcalloc((size_t)B * m->C, sizeof(float));
    st->rng = xmalloc(sizeof(rng_t) * (size_t)B);
    st->sc = xmalloc(sizeof(samp_scratch) * (size_t)B);
    st->logits = xmalloc(sizeof(float) * (size_t)B * m->V);
    st->act = xmalloc(sizeof(int) * (size_t)B);
    st->ones = xmalloc(sizeof(int) * (size_t)B);
    st->start = xmalloc(sizeof(int) * (size_t)B);
    st->lens = xmalloc(sizeof(int) * (size_t)B);
    st->slots = xmalloc(sizeof(int) * (size_t)B);
    st->step_tok = xmalloc(sizeof(int32_t) * (size_t)B);
    st->step_lp = xmalloc(sizeof(float) * (size_t)B);
    for (int b = 0; b < B; b++) {
        st->pending[b] = -1;
        st->ones[b] = 1;
        rng_seed_stream(&st->rng[b], seed, (uint64_t)b);
        st->sc[b].idx = xmalloc(sizeof(int32_t) * (size_t)m->V);
        st->sc[b].w = xmalloc(sizeof(float) * (size_t)m->V);
    }
    return st;
}

void tf_gen_state_free(tf_gen_state *st)
{
    if (!st)
        return;
    for (int b = 0; b < st->B; b++) {
        free(st->sc[b].idx);
        free(st->sc[b].w);
    }
    void *ps[] = {st->kc,    st->vc,   st->pos,    st->pending, st->last,  st->rng,
                  st->sc,    st->logits, st->act,  st->ones,    st->start, st->lens,
                  st->slots, st->step_tok, st->tok, st->step_lp};
    for (size_t i = 0; i < ARRAY_LEN(ps); i++)
        free(ps[i]);
    free(st);
}

void tf_gen_state_seed(tf_gen_state *st, int seq, uint64_t seed, uint64_t stream)
{
    if (seq >= 0 && seq < st->B)
        rng_seed_stream(&st->rng[seq], seed, stream);
}

void tf_gen_state_reset(tf_gen_state *st, int seq)
{
    if (seq >= 0 && seq < st->B) {
        st->pos[seq] = 0;
        st->pending[seq] = -1;
    }
}

int tf_gen_state_capacity(const tf_gen_state *st, int *max_len)
{
    if (max_len)
        *max_len = st->S;
    return st->B;
}

int tf_gen_state_len(const tf_gen_state *st, int seq)
{
    if (seq < 0 || seq >= st->B)
        return -1;
    return st->pos[seq] + (st->pending[seq] >= 0);
}

static int check_seqs(const tf_gen_state *st, int k, const int *seqs, err_t *e)
{
    if (k < 1 || k > st->B)
        return err_set(e, "generate: %d sequences named; the state has %d", k, st->B);
    for (int i = 0; i < k; i++) {
        if (seqs[i] < 0 || seqs[i] >= st->B)
            return err_set(e, "generate: sequence %d is outside 0..%d", seqs[i], st->B - 1);
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i])
                return err_set(e, "generate: sequence %d named twice", seqs[i]);
    }
    return 0;
}

int tf_gen_state_append(tf_gen_state *st, int k, const int *seqs, const int32_t *const *toks,
                        const int *n, err_t *e)
{
    tf_model *m = st->m;
    if (check_seqs(st, k, seqs, e) != 0)
        return -1;
    /* Each row: the pending sampled token (if any), then the new tokens. */
    int T = 0;
    for (int i = 0; i < k; i++) {
        int b = seqs[i], len = (st->pending[b] >= 0) + (n ? n[i] : 0);
        if (n && n[i] < 0)
            return err_set(e, "generate: %d tokens to append", n[i]);
        if (st->pos[b] + len > st->S)
            return err_set(e, "generate: sequence %d would hold %d tokens; the state has room "
                              "for %d", b, st->pos[b] + len, st->S);
        st->lens[i] = len;
        T = len > T ? len : T;
    }
    if (T == 0)
        return 0;
    if ((size_t)k * T > st->tok_cap) {
        free(st->tok);
        st->tok_cap = (size_t)k * T;
        st->tok = xmalloc(sizeof(int32_t) * st->tok_cap);
    }
    memset(st->tok, 0, sizeof(int32_t) * (size_t)k * T);
    /* Rows with nothing to add still take part (length 1, recomputing
     * their last token): simpler than compacting, and rare. */
    int kk = 0;
    for (int i = 0; i < k; i++) {
        int b = seqs[i];
        if (st->lens[i] == 0)
            continue;
        int32_t *row = st->tok + (size_t)kk * T;
        int at = 0;
        if (st->pending[b] >= 0)
            row[at++] = st->pending[b];
        if (n && n[i] > 0)
            memcpy(row + at, toks[i], sizeof(int32_t) * (size_t)n[i]);
        for (int t = 0; t < st->lens[i]; t++)
            if (row[t] < 0 || row[t] >= m->V)
                return err_set(e, "token id %d of sequence %d is outside the vocabulary (0..%d)",
                               row[t], b, m->V - 1);
        st->slots[kk] = b;
        st->start[kk] = st->pos[b];
        st->lens[kk] = st->lens[i];
        kk++;
    }
    tf_ws_ensure(m, kk, T, st->S);
    tf_ws *w = &m->ws;
    memcpy(w->start, st->start, sizeof(int) * (size_t)kk);
    tf_rows r = {.B = kk, .T = T, .start = w->start, .len = st->lens, .slot = st->slots};
    tf_kv kv = {st->kc, st->vc, st->S};
    tf_forward_hidden(m, &r, st->tok, kv, st->layer);
    size_t C = (size_t)m->C;
    for (int i = 0; i < kk; i++) {
        int b = st->slots[i];
        memcpy(st->last + (size_t)b * C, w->lnf + ((size_t)i * T + st->lens[i] - 1) * C,
               sizeof(float) * C);
        st->pos[b] += st->lens[i];
        st->pending[b] = -1;
    }
    return 0;
}

int tf_gen_state_generate(tf_gen_state *st, int k, const int *seqs, const tf_gen_params *p,
                          tf_gen_out *out, err_t *e)
{
    tf_model *m = st->m;
    if (check_seqs(st, k, seqs, e) != 0)
        return -1;
    if (p->max_new_tokens < 0 || p->temperature < 0 || !(p->top_p >= 0 && p->top_p <= 1) ||
        p->top_k < 0 || p->n_stop < 0 || (p->n_stop > 0 && !p->stop_ids))
        return err_set(e,
                       "generate: needs max_new_tokens >= 0, temperature >= 0, top_k >= 0, "
                       "top_p in [0, 1] and stop ids for n_stop > 0");
    int maxnew = p->max_new_tokens, V = m->V;
    for (int i = 0; i < k; i++) {
        int b = seqs[i];
        if (st->pos[b] == 0 && st->pending[b] < 0)
            return err_set(e, "generate: sequence %d is empty (append a prompt first)", b);
        /* the last sampled token feeds the cache first; then up to
         * maxnew - 1 more go in (the last one stays pending) */
        if (st->pos[b] + (st->pending[b] >= 0) + maxnew > st->S + 1 && maxnew > 0)
            return err_set(e, "generate: sequence %d would hold %d tokens; the state has room "
                              "for %d",
                           b, st->pos[b] + (st->pending[b] >= 0) + maxnew - 1, st->S);
        out->n[i] = 0;
        if (out->finish)
            out->finish[i] = TF_FINISH_LENGTH;
    }
    if (maxnew == 0)
        return 0;
    /* sequences with a pending token: put it in the cache first */
    int np = 0;
    for (int i = 0; i < k; i++)
        if (st->pending[seqs[i]] >= 0)
            st->act[np++] = seqs[i];
    if (np && tf_gen_state_append(st, np, st->act, NULL, NULL, e) != 0)
        return -1;
    tf_ws_ensure(m, k, 1, st->S);
    tf_ws *w = &m->ws;
    size_t C = (size_t)m->C;
    /* row i of the running set is out index act[i] (sequence seqs[act[i]]) */
    for (int i = 0; i < k; i++) {
        st->act[i] = i;
        memcpy(w->rows_c + (size_t)(i % tf_lp_chunk(m)) * C, st->last + (size_t)seqs[i] * C,
               sizeof(float) * C);
        if (i % tf_lp_chunk(m) == tf_lp_chunk(m) - 1 || i == k - 1) {
            int n0 = i - i % tf_lp_chunk(m);
            tf_lin_forward(m, st->logits + (size_t)n0 * V, w->rows_c, &m->lm_head, NULL,
                           i - n0 + 1, 0, NULL);
        }
    }
    int n_act = k;
    sampler_t smp = {p->temperature, p->top_p, p->top_k};
    int *rowseq = st->slots; /* sequence of each running row */
    for (;;) {
        for (int i = 0; i < n_act; i++)
            rowseq[i] = seqs[st->act[i]];
        samp_ctx sctx = {m, st->logits, rowseq, &smp, st->rng, st->sc, st->step_tok, st->step_lp};
        par_for(n_act, 1, sample_range, &sctx);
        int kk = 0;
        for (int i = 0; i < n_act; i++) {
            int o = st->act[i], b = seqs[o];
            size_t at = (size_t)o * maxnew + out->n[o];
            out->tokens[at] = st->step_tok[i];
            if (out->logprobs)
                out->logprobs[at] = st->step_lp[i];
            out->n[o]++;
            tf_finish why = TF_FINISH_LENGTH;
            int done = 0;
            if (is_stop(p, st->step_tok[i])) {
                done = 1;
                why = TF_FINISH_STOP_ID;
            } else if (p->should_stop &&
                       p->should_stop(p->user, o, out->tokens + (size_t)o * maxnew, out->n[o])) {
                done = 1;
                why = TF_FINISH_CALLBACK;
            } else if (out->n[o] == maxnew) {
                done = 1;
            }
            if (done) {
                if (out->finish)
                    out->finish[o] = why;
                st->pending[b] = st->step_tok[i];
                continue;
            }
            st->act[kk] = o;
            st->step_tok[kk] = st->step_tok[i];
            kk++;
        }
        n_act = kk;
        if (n_act == 0)
            break;
        /* one decode step for the running sequences */
        for (int i = 0; i < n_act; i++) {
            int b = seqs[st->act[i]];
            rowseq[i] = b;
            w->start[i] = st->pos[b];
        }
        tf_rows d = {.B = n_act, .T = 1, .start = w->start, .len = st->ones, .slot = rowseq};
        tf_kv kv = {st->kc, st->vc, st->S};
        tf_forward_hidden(m, &d, st->step_tok, kv, st->layer);
        for (int i = 0; i < n_act; i++) {
            int b = rowseq[i];
            st->pos[b]++;
            memcpy(st->last + (size_t)b * C, w->lnf + (size_t)i * C, sizeof(float) * C);
        }
        tf_lin_forward(m, st->logits, w->lnf, &m->lm_head, NULL, n_act, 0, NULL);
    }
    return 0;
}

int tf_generate(tf_model *m, const int32_t *const *prompts, const int *prompt_lens, int B,
                const tf_gen_params *p, tf_gen_out *out, err_t *e)
{
    if (B < 1)
        return err_set(e, "generate: batch of %d sequences", B);
    if (p->max_new_tokens < 0)
        return err_set(e,
                       "generate: needs max_new_tokens >= 0, temperature >= 0, top_k >= 0, "
                       "top_p in [0, 1] and stop ids for n_stop > 0");
    int Tp = 0;
    for (int b = 0; b < B; b++)
        Tp = prompt_lens[b] > Tp ? prompt_lens[b] : Tp;
    /* the checks (and messages) of a plain forward pass over the prompts */
    int32_t *tok = xcalloc((size_t)B * (Tp > 0 ? Tp : 1), sizeof *tok);
    for (int b = 0; b < B; b++)
        if (prompt_lens[b] >= 1)
            memcpy(tok + (size_t)b * Tp, prompts[b], sizeof(int32_t) * (size_t)prompt_lens[b]);
    int S = Tp + p->max_new_tokens;
    int rc = tf_check_batch(m, tok, prompt_lens, B, Tp, S, e);
    free(tok);
    if (rc != 0)
        return -1;
    if (p->max_new_tokens == 0) {
        for (int b = 0; b < B; b++) {
            out->n[b] = 0;
            if (out->finish)
                out->finish[b] = TF_FINISH_LENGTH;
        }
        return 0;
    }
    tf_gen_state *st = tf_gen_state_new(m, B, S, p->seed, e);
    if (!st)
        return -1;
    int *seqs = xmalloc(sizeof(int) * (size_t)B);
    for (int b = 0; b < B; b++)
        seqs[b] = b;
    rc = tf_gen_state_append(st, B, seqs, prompts, prompt_lens, e);
    if (rc == 0)
        rc = tf_gen_state_generate(st, B, seqs, p, out, e);
    free(seqs);
    tf_gen_state_free(st);
    return rc;
}
