/* Transformer engine benchmark: forward (prefill) tokens/s, KV-cache
 * greedy decode tokens/s and peak memory for a GPT-2 124M and a
 * Qwen2.5-0.5B configuration with random weights, next to this machine's
 * ceilings (a 2-thread FMA loop, a STREAM triad) measured in the same run.
 * Not a test: it prints figures. See bench/README.md.
 *
 *   transformer-bench gpt2|qwen [--bf16] [--reps N] [--gen N] [--skip-prefill] [--skip-decode]
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/base.h"
#include "../src/model/kernels.h"
#include "../src/model/tf_internal.h"

#include "bench_util.h"

/* FLOP per token of the forward pass: 2 per multiply-add of every matrix
 * (the LM head included, a position table not) plus attention, 4 C L per
 * token of context (q.k and p.v), context taken as the full T as the
 * PyTorch peer counts it. */
static double fwd_flop_per_token(const tf_model *m, int ctx)
{
    double n = (double)tf_num_params(m);
    if (m->wpe)
        n -= (double)m->cfg.max_pos * m->C;
    return 2 * n + 4.0 * m->L * m->H * m->D * ctx;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double t[4096];
    int n;
} stamps_t;

static int stamp(void *user, int seq, const int32_t *toks, int n)
{
    stamps_t *s = user;
    (void)toks;
    if (seq == 0 && s->n < 4096)
        s->t[s->n++] = now_s();
    (void)n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "gpt2") && strcmp(argv[1], "qwen"))) {
        fprintf(stderr, "usage: %s gpt2|qwen [--bf16] [--reps N] [--gen N] [--skip-prefill] "
                        "[--skip-decode]\n",
                argv[0]);
        return 2;
    }
    int gpt2 = !strcmp(argv[1], "gpt2"), bf16 = 0, reps = 2, skip_prefill = 0, skip_decode = 0;
    int gen = gpt2 ? 128 : 64;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bf16"))
            bf16 = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
            gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--skip-prefill"))
            skip_prefill = 1;
        else if (!strcmp(argv[i], "--skip-decode"))
            skip_decode = 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows when piped to a file */
    double fma = fma_ceiling(), triad = stream_triad();
    printf("ceiling: FMA loop %.0f GFLOP/s (%d threads), STREAM triad %.1f GB/s\n", fma,
           par_threads(), triad);

    hf_config cfg = gpt2 ? gpt2_config() : qwen_config();
    tf_load_opts opts = {.linear_bf16 = bf16};
    err_t e;
    tf_model *m = tf_create(&cfg, &opts, argv[1], &e);
    if (!m) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    randomise(m, 1);
    size_t wbytes = m->n_params * 4 + m->n_params16 * 2;
    printf("model: %s, %.1fM parameters, weights %.0f MB (%s Linear), kernels: %s, threads %d\n",
           argv[1], tf_num_params(m) / 1e6, wbytes / 1e6, bf16 ? "bf16" : "fp32", k_backend_name(),
           par_threads());

    int V = m->V;
    rng_t r;
    rng_seed(&r, 2);
    if (!skip_prefill) {
        int B = gpt2 ? 4 : 1, T = 256;
        int32_t *tok = xmalloc(sizeof(int32_t) * B * T);
        int lens[8];
        for (int i = 0; i < B * T; i++)
            tok[i] = (int32_t)(rng_next(&r) % (uint64_t)V);
        for (int b = 0; b < B; b++)
            lens[b] = T;
        float *logits = xmalloc(sizeof(float) * (size_t)B * T * V);
        float *lp = xmalloc(sizeof(float) * B * T), *ent = xmalloc(sizeof(float) * B * T);
        double fpt = fwd_flop_per_token(m, T), tf[16], tl[16];
        if (reps > 16)
            reps = 16;
        for (int i = 0; i < reps; i++) {
            double t0 = now_s();
            if (tf_logits(m, tok, lens, B, T, logits, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            tf[i] = now_s() - t0;
            t0 = now_s();
            tf_token_logprobs(m, tok, lens, B, T, NULL, lp, ent, &e);
            tl[i] = now_s() - t0;
        }
        qsort(tf, (size_t)reps, sizeof *tf, cmp_d);
        qsort(tl, (size_t)reps, sizeof *tl, cmp_d);
        double ntok = (double)B * T;
        printf("prefill %dx%d, logits at every position: %.3f s = %.1f tokens/s, %.1f GFLOP/s "
               "(%.1f%% of the FMA ceiling)\n",
               B, T, tf[0], ntok / tf[0], fpt * ntok / tf[0] / 1e9,
               100 * fpt * ntok / tf[0] / 1e9 / fma);
        printf("prefill %dx%d, log-probs + entropy (LM head in chunks): %.3f s = %.1f tokens/s, "
               "%.1f GFLOP/s\n",
               B, T, tl[0], ntok / tl[0], fpt * ntok / tl[0] / 1e9);
        free(tok);
        free(logits);
        free(lp);
        free(ent);
    }
    if (!skip_decode) {
        int prompt = 64, Bs[2] = {1, 8};
        for (int k = 0; k < 2; k++) {
            int B = Bs[k];
            int32_t *tok = xmalloc(sizeof(int32_t) * B * prompt);
            const int32_t *pr[8];
            int lens[8], n[8];
            for (int i = 0; i < B * prompt; i++)
                tok[i] = (int32_t)(rng_next(&r) % (uint64_t)V);
            for (int b = 0; b < B; b++) {
                pr[b] = tok + b * prompt;
                lens[b] = prompt;
            }
            int32_t *out = xmalloc(sizeof(int32_t) * B * gen);
            stamps_t st = {.n = 0};
            tf_gen_params p = {.max_new_tokens = gen, .should_stop = stamp, .user = &st};
            tf_gen_out go = {out, NULL, n, NULL};
            double t0 = now_s();
            if (tf_generate(m, pr, lens, B, &p, &go, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            double prefill = st.t[0] - t0, dec = st.t[st.n - 1] - st.t[0];
            int steps = st.n - 1;
            double ctx = prompt + gen / 2.0;
            double fpt = fwd_flop_per_token(m, (int)ctx);
            printf("decode B=%d prompt=%d gen=%d: prefill %.0f tokens/s | decode %.2f ms/step = "
                   "%.1f tokens/s, %.1f GFLOP/s, weights streamed at %.1f GB/s (%.0f%% of triad)\n",
                   B, prompt, gen, B * prompt / prefill, 1e3 * dec / steps, B * steps / dec,
                   fpt * B * steps / dec / 1e9, wbytes * steps / dec / 1e9,
                   100 * wbytes * steps / dec / 1e9 / triad);
            free(tok);
            free(out);
        }
    }
    printf("peak memory (VmHWM): %.2f GB\n", vm_hwm_kb() / 1048576.0);
    tf_free(m);
    return 0;
}
