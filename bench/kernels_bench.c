/* Matrix-product kernels (src/model/kernels) against this machine's
 * ceilings and two peers, all in one run:
 *
 *   - ceilings: an AVX-512 FMA loop on every thread (fp32 peak) and a
 *     STREAM triad (DRAM bandwidth), plus a read-only sweep for scale;
 *   - OpenBLAS (Debian libopenblas) cblas_sgemm / cblas_sgemv, in a child
 *     process, once with the environment as it is (OPENBLAS_CORETYPE=Haswell
 *     here) and once with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its
 *     AVX-512 kernel); each child has the CPUs to itself, so no library's
 *     idle threads spin against another's;
 *   - PyTorch (Debian python3-torch), its "config D" from
 *     ../shared/docs/performance.md: OpenMP OpenBLAS, the two variables
 *     unset, 2 threads (bench/kernels_torch.py);
 *   - ours: k_matmul_nt / _nt_bf16 / _nn / _tn.
 *
 *   bench-kernels [--quick] [--no-peers]
 *   bench-kernels --peer openblas      (child mode: prints "R index seconds")
 *
 * Times are medians over repeated calls. Decode shapes (M = 1, 8) cycle
 * through copies of the weights that together exceed 256 MB (8x the L3), so every call
 * reads them from DRAM as a decode step does; their figure is GB/s of
 * weights read. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/base.h"
#include "../src/model/kernels.h"

/* ---- the shapes ------------------------------------------------------------- */

enum op { NT, NT_BF16, NT_DOT, NN, TN };
static const char *op_names[] = {"nt", "nt_bf16", "nt_dot", "nn", "tn"};

typedef struct {
    enum op op;
    int M, N, K;
    const char *what;
    int decode; /* memory-bound: report GB/s of weights, rotate copies */
} shape;

static const shape g_shapes[] = {
    {NT, 1024, 2304, 768, "GPT-2 qkv, B*T=1024", 0},
    {NT, 1024, 3072, 768, "GPT-2 fc", 0},
    {NT, 1024, 768, 768, "GPT-2 attn proj", 0},
    {NT, 1024, 768, 3072, "GPT-2 fc proj", 0},
    {NN, 1024, 768, 3072, "GPT-2 fc proj dX = dY.W", 0},
    {TN, 3072, 768, 1024, "GPT-2 fc proj dW = dY^T.X", 0},
    {NT, 256, 4864, 896, "Qwen mlp up, T=256", 0},
    {NT, 256, 151936, 896, "Qwen lm head, T=256", 0},
    {NN, 256, 4864, 896, "Qwen down dX = dY.W", 0},
    {TN, 896, 4864, 256, "Qwen down dW = dY^T.X", 0},
    {NN, 256, 896, 9728, "Qwen gate+up dX", 0},
    {TN, 9728, 896, 256, "Qwen gate+up dW", 0},
    {NN, 220, 896, 151936, "Qwen lm head dX, 220 rows", 0},
    {TN, 151936, 896, 220, "Qwen lm head dW, 220 rows", 0},
    {NT_BF16, 256, 4864, 896, "Qwen mlp up, bf16 W", 0},
    {NT_DOT, 256, 4864, 896, "Qwen mlp up, bf16 W and x", 0},
    {NT, 1, 4864, 896, "Qwen mlp up, decode", 1},
    {NT, 8, 4864, 896, "Qwen mlp up, decode x8", 1},
    {NT, 1, 50257, 768, "GPT-2 lm head, decode", 1},
    {NT, 8, 50257, 768, "GPT-2 lm head, decode x8", 1},
    {NT_BF16, 1, 4864, 896, "Qwen mlp up, decode", 1},
    {NT_BF16, 8, 4864, 896, "Qwen mlp up, decode x8", 1},
    {NT_BF16, 1, 50257, 768, "GPT-2 lm head, decode", 1},
    {NT_BF16, 8, 50257, 768, "GPT-2 lm head, decode x8", 1},
    {NT_DOT, 1, 4864, 896, "Qwen mlp up, decode", 1},
    {NT_DOT, 8, 4864, 896, "Qwen mlp up, decode x8", 1},
    {NT_DOT, 1, 50257, 768, "GPT-2 lm head, decode", 1},
    {NT_DOT, 8, 50257, 768, "GPT-2 lm head, decode x8", 1},
};
#define NSHAPES ((int)ARRAY_LEN(g_shapes))

#define ROTATE_BYTES (256ul << 20)

static double g_min_seconds = 0.5; /* per measurement */

static size_t weight_bytes(const shape *s)
{
    size_t e = s->op == NT_BF16 || s->op == NT_DOT ? 2 : 4;
    return (s->op == TN ? (size_t)s->K * s->N : (size_t)s->N * s->K) * e;
}

static int copies_for(const shape *s)
{
    if (!s->decode)
        return 1;
    return (int)(ROTATE_BYTES / weight_bytes(s)) + 1;
}

static double flops(const shape *s)
{
    return 2.0 * s->M * s->N * s->K;
}

/* ---- timing ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*call_fn)(void *ctx, int copy);

/* Median seconds per call: one warm-up call per copy, then calls until
 * g_min_seconds have passed (at least 3). */
static double time_calls(call_fn fn, void *ctx, int copies)
{
    for (int c = 0; c < copies; c++)
        fn(ctx, c);
    int cap = 4096, n = 0;
    double *t = xmalloc(sizeof(double) * cap);
    uint64_t start = time_now_ns();
    while (n < 3 || (n < cap && (time_now_ns() - start) * 1e-9 < g_min_seconds)) {
        uint64_t t0 = time_now_ns();
        fn(ctx, n % copies);
        t[n++] = (time_now_ns() - t0) * 1e-9;
    }
    qsort(t, n, sizeof *t, cmp_double);
    double med = t[n / 2];
    free(t);
    return med;
}

/* ---- operands ------------------------------------------------------------------ */

typedef struct {
    const shape *s;
    int copies;
    float *A, *C;
    void **W; /* copies of the weight operand (fp32 or bf16) */
} operands;

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 8) * (1.0 / 16777216.0) - 0.5);
    }
}

static void operands_init(operands *o, const shape *s)
{
    o->s = s;
    o->copies = copies_for(s);
    size_t a_elems = (size_t)s->M * s->K, c_elems = (size_t)s->M * s->N;
    o->A = xmalloc_aligned(64, sizeof(float) * a_elems);
    o->C = xmalloc_aligned(64, sizeof(float) * c_elems);
    fill(o->A, a_elems, 1);
    memset(o->C, 0, sizeof(float) * c_elems);
    o->W = xmalloc(sizeof(void *) * o->copies);
    int bf16 = s->op == NT_BF16 || s->op == NT_DOT;
    size_t w_elems = weight_bytes(s) / (bf16 ? 2 : 4);
    for (int c = 0; c < o->copies; c++) {
        o->W[c] = xmalloc_aligned(64, weight_bytes(s));
        if (bf16) {
            float *tmp = xmalloc(sizeof(float) * w_elems);
            fill(tmp, w_elems, 2 + c);
            uint16_t *w = o->W[c];
            for (size_t i = 0; i < w_elems; i++)
                w[i] = k_f32_to_bf16(tmp[i]);
            free(tmp);
        } else {
            fill(o->W[c], w_elems, 2 + c);
        }
    }
}

static void operands_free(operands *o)
{
    for (int c = 0; c < o->copies; c++)
        free(o->W[c]);
    free(o->W);
    free(o->A);
    free(o->C);
}

/* ---- ours ---------------------------------------------------------------------- */

static void call_ours(void *ctx, int copy)
{
    operands *o = ctx;
    const shape *s = o->s;
    switch (s->op) {
    case NT:
        k_matmul_nt(o->C, o->A, o->W[copy], NULL, s->M, s->N, s->K, 0);
        break;
    case NT_BF16:
        k_matmul_nt_bf16(o->C, o->A, o->W[copy], NULL, s->M, s->N, s->K, 0);
        break;
    case NT_DOT:
        k_matmul_nt_bf16_dot(o->C, o->A, o->W[copy], NULL, s->M, s->N, s->K, 0);
        break;
    case NN:
        k_matmul_nn(o->C, o->A, o->W[copy], s->M, s->N, s->K, 0);
        break;
    case TN:
        k_matmul_tn(o->C, o->A, o->W[copy], s->M, s->N, s->K, 0);
        break;
    }
}

/* ---- OpenBLAS (child mode) ---------------------------------------------------- */

static void call_sgemm(void *ctx, int copy)
{
    operands *o = ctx;
    const shape *s = o->s;
    const float *W = o->W[copy];
    switch (s->op) {
    case NT: /* C = A . W^T, W [N, K] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->M, s->N, s->K, 1.0f, o->A, s->K, W,
                    s->K, 0.0f, o->C, s->N);
        break;
    case NN: /* C = A . W, W [K, N] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, o->A, s->K,
                    W, s->N, 0.0f, o->C, s->N);
        break;
    case TN: /* C = A^T . W, A [K, M] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, o->A, s->M, W,
                    s->N, 0.0f, o->C, s->N);
        break;
    case NT_BF16:
    case NT_DOT:
        break;
    }
}

static void call_sgemv(void *ctx, int copy)
{
    operands *o = ctx;
    const shape *s = o->s;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, s->N, s->K, 1.0f, o->W[copy], s->K, o->A, 1, 0.0f,
                o->C, 1);
}

/* Prints "R index seconds" for sgemm, and "V index seconds" for sgemv at
 * M = 1. bf16 shapes have no OpenBLAS counterpart. */
static int peer_openblas(void)
{
    openblas_set_num_threads(par_threads());
    printf("# %s\n", openblas_get_config());
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &g_shapes[i];
        if (s->op == NT_BF16 || s->op == NT_DOT)
            continue;
        operands o;
        operands_init(&o, s);
        printf("R %d %.9f\n", i, time_calls(call_sgemm, &o, o.copies));
        if (s->M == 1 && s->op == NT)
            printf("V %d %.9f\n", i, time_calls(call_sgemv, &o, o.copies));
        fflush(stdout);
        operands_free(&o);
    }
    return 0;
}

/* ---- ceilings ---------------------------------------------------------------- */

#define PEAK_ACCS 24
static volatile float g_sink;

__attribute__((target("avx512f,fma"))) static void peak_part_avx512(void *ctx, int part, int n)
{
    long iters = *(const long *)ctx;
    __m512 acc[PEAK_ACCS];
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACCS; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < PEAK_ACCS; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    __m512 s = acc[0];
    for (int i = 1; i < PEAK_ACCS; i++)
        s = _mm512_add_ps(s, acc[i]);
    g_sink = _mm512_reduce_add_ps(s);
}

/* fp32 GFLOP/s of independent FMA chains on every thread: the ceiling. */
static double fma_peak(void)
{
    if (!__builtin_cpu_supports("avx512f"))
        return 0;
    long iters = 2000000; /* 24 * 16 * 2 FLOP per iteration per thread */
    int n = par_threads();
    double best = 0;
    /* The best of ten short runs spread over a second: a neighbour on the
     * shared host that takes half a core for a moment should not set the
     * ceiling. */
    for (int rep = 0; rep < 10; rep++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        uint64_t t0 = time_now_ns();
        par_run(n, peak_part_avx512, &iters);
        double sec = (time_now_ns() - t0) * 1e-9;
        double gf = (double)iters * PEAK_ACCS * 32 * n / sec * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}

typedef struct {
    float *a, *b, *c;
    double sum[64];
} stream_arrays;

static void triad_range(void *ctx, long i0, long i1)
{
    stream_arrays *s = ctx;
    for (long i = i0; i < i1; i++)
        s->a[i] = s->b[i] + 3.0f * s->c[i];
}

static void init_range(void *ctx, long i0, long i1)
{
    stream_arrays *s = ctx;
    for (long i = i0; i < i1; i++) {
        s->a[i] = 0;
        s->b[i] = 1;
        s->c[i] = 2;
    }
}

/* A read-only sweep with four independent AVX-512 sums per thread (plain C
 * would not vectorise a float sum at -O2). */
__attribute__((target("avx512f"))) static void read_part(void *ctx, int part, int n)
{
    stream_arrays *s = ctx;
    long len = 32l << 20, i0 = len * part / n / 64 * 64, i1 = len * (part + 1) / n / 64 * 64;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (long i = i0; i < i1; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(s->b + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(s->b + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(s->b + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(s->b + i + 48));
    }
    s->sum[part] =
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* STREAM triad a = b + s*c over 3 x 128 MB with every thread (bytes counted
 * as STREAM does: 3 x 4 per element), and a read-only sum of 128 MB. */
static void stream_ceilings(double *triad_gbs, double *read_gbs)
{
    long n = 32l << 20;
    stream_arrays s = {xmalloc_aligned(64, sizeof(float) * n),
                       xmalloc_aligned(64, sizeof(float) * n),
                       xmalloc_aligned(64, sizeof(float) * n),
                       {0}};
    par_for(n, 4096, init_range, &s); /* first touch from the threads that use them */
    double best_t = 1e9, best_r = 1e9;
    for (int rep = 0; rep < 10; rep++) {
        uint64_t t0 = time_now_ns();
        par_for(n, 4096, triad_range, &s);
        double t = (time_now_ns() - t0) * 1e-9;
        best_t = t < best_t ? t : best_t;
        if (__builtin_cpu_supports("avx512f")) {
            t0 = time_now_ns();
            par_run(par_threads(), read_part, &s);
            t = (time_now_ns() - t0) * 1e-9;
            best_r = t < best_r ? t : best_r;
        }
    }
    *triad_gbs = 3.0 * 4 * n / best_t * 1e-9;
    *read_gbs = best_r < 1e9 ? 4.0 * n / best_r * 1e-9 : 0;
    free(s.a);
    free(s.b);
    free(s.c);
}

/* ---- peers as children ----------------------------------------------------------- */

typedef struct {
    double sgemm[NSHAPES], sgemv[NSHAPES];
} peer_times;

/* Runs `cmd` through the shell and reads its "R|V|T index seconds" lines. */
static int read_peer(const char *cmd, peer_times *pt, char *config, size_t config_len)
{
    for (int i = 0; i < NSHAPES; i++)
        pt->sgemm[i] = pt->sgemv[i] = 0;
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    char line[1024];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        char kind;
        int idx;
        double sec;
        if (line[0] == '#' && config && !config[0]) {
            size_t n = strcspn(line + 2, "\n");
            if (n >= config_len)
                n = config_len - 1;
            memcpy(config, line + 2, n);
            config[n] = 0;
        } else if (sscanf(line, "%c %d %lf", &kind, &idx, &sec) == 3 && idx >= 0 && idx < NSHAPES) {
            if (kind == 'V')
                pt->sgemv[idx] = sec;
            else
                pt->sgemm[idx] = sec;
            got++;
        }
    }
    int rc = pclose(f);
    return got > 0 && rc == 0 ? 0 : -1;
}

/* The shape list for the PyTorch script: op:M:N:K:copies per shape. */
static void torch_args(buf_t *b)
{
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &g_shapes[i];
        /* torch has no bf16-weight, fp32-activation product: its bf16
         * F.linear rounds the activations too, so it is the peer of nt_dot
         * only ("skip" leaves the nt_bf16 rows without a torch figure) */
        const char *op = s->op == NT_BF16 ? "skip" : s->op == NT_DOT ? "nt_bf16" : op_names[s->op];
        buf_printf(b, " %s:%d:%d:%d:%d", op, s->M, s->N, s->K, copies_for(s));
    }
}

/* ---- report --------------------------------------------------------------------- */

static void cell_ratio(double ours, double peer)
{
    if (ours > 0 && peer > 0)
        printf(" %6.2fx", ours / peer);
    else
        printf("     - ");
}

static void cell_rate(double v)
{
    if (v > 0)
        printf(" %7.1f", v);
    else
        printf("       -");
}

int main(int argc, char **argv)
{
    int peers = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc && strcmp(argv[i + 1], "openblas") == 0)
            return peer_openblas();
        if (strcmp(argv[i], "--quick") == 0)
            g_min_seconds = 0.15;
        else if (strcmp(argv[i], "--no-peers") == 0)
            peers = 0;
        else {
            fprintf(stderr, "usage: bench-kernels [--quick] [--no-peers]\n");
            return 2;
        }
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "bench-kernels: cannot find its own path\n");
        return 1;
    }
    self[len] = 0;

    printf("# kernels: %s, %d threads; OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s\n",
           k_backend_name(), par_threads(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
           getenv("OPENBLAS_L2_SIZE") ? getenv("OPENBLAS_L2_SIZE") : "(unset)");
    double peak = fma_peak(), triad, readbw;
    stream_ceilings(&triad, &readbw);
    printf("# ceilings: fp32 FMA peak %.1f GFLOP/s; STREAM triad %.1f GB/s; read-only %.1f GB/s\n",
           peak, triad, readbw);
    fflush(stdout);

    peer_times ob_env = {0}, ob_avx = {0}, torch = {0};
    char cfg_env[256] = "", cfg_avx[256] = "", cfg_torch[256] = "";
    if (peers) {
        buf_t cmd;
        buf_init(&cmd);
        buf_printf(&cmd, "'%s' --peer openblas", self);
        if (read_peer(cmd.data, &ob_env, cfg_env, sizeof cfg_env) != 0)
            printf("# OpenBLAS (environment as set) failed\n");
        buf_reset(&cmd);
        buf_printf(&cmd, "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE '%s' --peer openblas", self);
        if (read_peer(cmd.data, &ob_avx, cfg_avx, sizeof cfg_avx) != 0)
            printf("# OpenBLAS (variables unset) failed\n");
        buf_reset(&cmd);
        /* The script sits in the source tree; this binary in build/MODE/. */
        const char *omp = "/usr/lib/x86_64-linux-gnu/openblas-openmp";
        char root[4096];
        snprintf(root, sizeof root, "%s", self);
        char *cut = strstr(root, "/build/");
        if (cut)
            *cut = 0;
        buf_reset(&cmd);
        buf_printf(&cmd,
                   "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE %s%s /usr/bin/python3 "
                   "'%s/bench/kernels_torch.py' --min-seconds %g",
                   file_exists(omp) ? "LD_LIBRARY_PATH=" : "", file_exists(omp) ? omp : "", root,
                   g_min_seconds);
        torch_args(&cmd);
        if (read_peer(cmd.data, &torch, cfg_torch, sizeof cfg_torch) != 0)
            printf("# PyTorch failed (is python3-torch installed?)\n");
        buf_free(&cmd);
        printf("# OpenBLAS, environment as set: %s\n", cfg_env);
        printf("# OpenBLAS, variables unset:    %s\n", cfg_avx);
        printf("# PyTorch config D:             %s\n", cfg_torch);
    }

    printf("\n%-8s %5s %6s %5s  %-27s %8s %6s %8s %8s %8s %8s %8s %8s\n", "op", "M", "N", "K",
           "what", "ours", "%peak", "OB-env", "OB-512", "torch", "/OB-env", "/OB-512", "/torch");
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &g_shapes[i];
        if (s->decode)
            continue;
        operands o;
        operands_init(&o, s);
        double t = time_calls(call_ours, &o, o.copies);
        operands_free(&o);
        double f = flops(s) * 1e-9, ours = f / t;
        double e = ob_env.sgemm[i] > 0 ? f / ob_env.sgemm[i] : 0;
        double a = ob_avx.sgemm[i] > 0 ? f / ob_avx.sgemm[i] : 0;
        double p = torch.sgemm[i] > 0 ? f / torch.sgemm[i] : 0;
        printf("%-8s %5d %6d %5d  %-27s %8.1f %5.0f%%", op_names[s->op], s->M, s->N, s->K, s->what,
               ours, 100 * ours / peak);
        cell_rate(e);
        cell_rate(a);
        cell_rate(p);
        cell_ratio(ours, e);
        cell_ratio(ours, a);
        cell_ratio(ours, p);
        printf("\n");
        fflush(stdout);
    }
    printf("(GFLOP/s; %%peak of the fp32 FMA loop above; OB = OpenBLAS sgemm; torch = F.linear "
           "or mm; nt_bf16: bf16 weights, fp32 activations; nt_dot: both bf16 (vdpbf16ps), "
           "against torch's bf16 F.linear; OpenBLAS has no bf16)\n");

    printf("\n%-8s %5s %6s %5s  %-27s %8s %6s %8s %8s %8s %8s %8s %8s\n", "op", "M", "N", "K",
           "what", "ours", "%triad", "OB-env", "OB-512", "torch", "/OB-env", "/OB-512", "/torch");
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &g_shapes[i];
        if (!s->decode)
            continue;
        operands o;
        operands_init(&o, s);
        double t = time_calls(call_ours, &o, o.copies);
        operands_free(&o);
        double gb = weight_bytes(s) * 1e-9, ours = gb / t;
        double e = ob_env.sgemm[i] > 0 ? gb / ob_env.sgemm[i] : 0;
        double a = ob_avx.sgemm[i] > 0 ? gb / ob_avx.sgemm[i] : 0;
        double p = torch.sgemm[i] > 0 ? gb / torch.sgemm[i] : 0;
        /* ratios compare time per call (the same product) */
        double rt_e = ob_env.sgemm[i] > 0 ? ob_env.sgemm[i] / t : 0;
        double rt_a = ob_avx.sgemm[i] > 0 ? ob_avx.sgemm[i] / t : 0;
        double rt_p = torch.sgemm[i] > 0 ? torch.sgemm[i] / t : 0;
        printf("%-8s %5d %6d %5d  %-27s %8.1f %5.0f%%", op_names[s->op], s->M, s->N, s->K, s->what,
               ours, 100 * ours / triad);
        cell_rate(e);
        cell_rate(a);
        cell_rate(p);
        cell_ratio(rt_e, 1);
        cell_ratio(rt_a, 1);
        cell_ratio(rt_p, 1);
        printf("\n");
        if (ob_env.sgemv[i] > 0 || ob_avx.sgemv[i] > 0)
            printf("%-8s %5s %6s %5s  %-27s %8s %6s %8.1f %8.1f %8s %7.2fx %7.2fx\n", "", "", "",
                   "", "  OpenBLAS sgemv instead", "", "", gb / ob_env.sgemv[i],
                   gb / ob_avx.sgemv[i], "", ob_env.sgemv[i] / t, ob_avx.sgemv[i] / t);
        fflush(stdout);
    }
    printf("(GB/s of weights read per call, from DRAM; %%triad of the STREAM triad above; "
           "ratios are time per call, peer / ours; nt_dot against torch's bf16 F.linear)\n");
    /* The host is shared: if the ceilings moved during the run, the
     * figures in between are suspect, and this line shows it. */
    double peak2 = fma_peak(), triad2, read2;
    stream_ceilings(&triad2, &read2);
    printf("# ceilings again at the end: fp32 FMA peak %.1f GFLOP/s; STREAM triad %.1f GB/s\n",
           peak2, triad2);
    return 0;
}
