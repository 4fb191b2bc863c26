/* Training benchmark: forward+backward and AdamW for a GPT-2 124M and a
 * Qwen2.5-0.5B configuration with random weights (full fine-tuning, or
 * LoRA on every Linear), tokens/s, model GFLOP/s against this machine's
 * FMA ceiling measured in the same run, and peak memory. The PyTorch peer
 * is bench/torch_train.py; bench/train_run runs both. Not a test.
 *
 *   train-bench gpt2|qwen|DIR [--lora R] [--bf16] [--ckpt] [--batch B] [--tokens T] [--steps N]
 * (DIR: a Hugging Face model directory, e.g. one `retrain new-model` made)
 *
 * Cross-entropy over every position against random targets, averaged (as
 * the peer's F.cross_entropy). FLOPs are counted as the peer counts them:
 * 6 per parameter of every matrix per token (forward, input gradient,
 * weight gradient) plus 12 L C T for attention; with LoRA the frozen
 * weights take 4 (no weight gradient). */
#include <stdlib.h>
#include <string.h>

#include "../src/base/base.h"
#include "../src/model/kernels.h"
#include "../src/model/train.h"
#include "bench_util.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s gpt2|qwen|MODEL_DIR [--lora R] [--bf16] [--ckpt] [--batch B] "
                        "[--tokens T] [--steps N]\n",
                argv[0]);
        return 2;
    }
    int gpt2 = !strcmp(argv[1], "gpt2"), lora = 0, bf16 = 0, ckpt = 0, steps = 3;
    int B = gpt2 ? 4 : 1, T = 256;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--lora") && i + 1 < argc)
            lora = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bf16"))
            bf16 = 1;
        else if (!strcmp(argv[i], "--ckpt"))
            ckpt = 1;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (steps < 1 || steps > 64 || B < 1 || T < 2) {
        fprintf(stderr, "steps 1..64, batch >= 1, tokens >= 2\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double fma = fma_ceiling();
    printf("ceiling: FMA loop %.0f GFLOP/s (%d threads)\n", fma, par_threads());

    int named = !strcmp(argv[1], "gpt2") || !strcmp(argv[1], "qwen");
    tf_load_opts opts = {.linear_bf16 = bf16};
    err_t e;
    tf_model *m;
    if (named) {
        hf_config cfg = gpt2 ? gpt2_config() : qwen_config();
        m = tf_create(&cfg, &opts, argv[1], &e);
        if (m)
            randomise(m, 1);
    } else {
        m = tf_load(argv[1], &opts, &e);
    }
    if (!m) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (lora) {
        tf_lora_opts lo = {.r = lora, .alpha = 2.0f * lora, .targets = "all-linear", .seed = 1};
        if (tf_lora_attach(m, &lo, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
    }
    tf_train_opts to = {.checkpointing = ckpt, .max_grad_norm = 1.0f};
    tf_trainer *tr = tf_trainer_new(m, &to, &e);
    if (!tr) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double n_mm = (double)tf_num_params(m) - (m->wpe ? (double)m->cfg.max_pos * m->C : 0);
    double fpt = (lora ? 4 : 6) * n_mm + 12.0 * m->L * m->C * T;
    printf("model: %s, %.1fM parameters (%s), training %.2fM (%s%s), batch %dx%d, kernels %s\n",
           argv[1], tf_num_params(m) / 1e6, bf16 ? "bf16 Linear weights" : "fp32",
           tf_trainer_num_params(tr) / 1e6, lora ? "LoRA all-linear" : "full",
           ckpt ? ", gradient checkpointing" : "", B, T, k_backend_name());

    rng_t r;
    rng_seed(&r, 2);
    size_t N = (size_t)B * T;
    int32_t *tok = xmalloc(sizeof(int32_t) * N), *tgt = xmalloc(sizeof(int32_t) * N);
    float *w = xmalloc(sizeof(float) * N);
    int *lens = xmalloc(sizeof(int) * (size_t)B);
    for (size_t i = 0; i < N; i++) {
        tok[i] = (int32_t)(rng_next(&r) % (uint64_t)m->V);
        tgt[i] = (int32_t)(rng_next(&r) % (uint64_t)m->V);
        w[i] = 1.0f / (float)N;
    }
    for (int b = 0; b < B; b++)
        lens[b] = T;
    double fb[64], op[64];
    for (int i = 0; i <= steps; i++) {
        double loss, gn, t0 = now_s();
        if (tf_train_weighted(tr, tok, lens, B, T, tgt, w, &loss, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double t1 = now_s();
        if (tf_trainer_step(tr, 1e-4f, &gn, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double t2 = now_s();
        printf("  step %d: fwd+bwd %.0f ms  adamw %.0f ms  loss %.3f  grad norm %.3f\n", i,
               1e3 * (t1 - t0), 1e3 * (t2 - t1), loss, gn);
        if (i) { /* the first is a warm-up */
            fb[i - 1] = t1 - t0;
            op[i - 1] = t2 - t1;
        }
    }
    double f = median(fb, steps), o = median(op, steps);
    printf("RESULT retrain %s%s%s%s B=%d T=%d threads=%d | fwd+bwd %.0f ms = %.1f tok/s, %.1f GFLOP/s "
           "(%.0f%% of the FMA ceiling) | adamw %.0f ms | fwd+bwd+adamw %.1f tok/s | peak RSS "
           "%.2f GB\n",
           argv[1], lora ? " lora" : "", bf16 ? " bf16-base" : "", ckpt ? " ckpt" : "", B, T,
           par_threads(), f * 1e3,
           N / f, fpt * N / f / 1e9, fma > 0 ? 100 * fpt * N / f / 1e9 / fma : 0, o * 1e3,
           N / (f + o), vm_hwm_kb() / 1048576.0);
    free(tok);
    free(tgt);
    free(w);
    free(lens);
    tf_trainer_free(tr);
    tf_free(m);
    return 0;
}
