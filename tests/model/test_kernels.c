/* model/kernels: every product against a double-precision reference, on
 * awkward shapes (1, 3, 17, 31, 33, 65, 127, 257: ragged tiles, K not a
 * multiple of the vector width), with and without accumulate and bias, on
 * the AVX-512 and AVX2 paths (1 and 2 threads; each where the CPU has it)
 * and the portable one; bfloat16 conversion; degenerate shapes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../../src/model/kernels.h"
#include "../test.h"

/* ---- helpers --------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static float rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}

static float *rnd_floats(size_t n)
{
    float *p = xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = rnd();
    return p;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

enum op { OP_NT, OP_NT_BF16, OP_NT_BF16_DOT, OP_NN, OP_TN, OP_NN_BF16 };
static const char *op_name[] = {"nt", "nt_bf16", "nt_bf16_dot", "nn", "tn", "nn_bf16"};

/* One product's inputs; C0 is C before the call (for accumulate). */
typedef struct {
    enum op op;
    int M, N, K, acc, has_bias;
    float *A, *B, *bias, *C0;
    uint16_t *B16;
} problem;

static void problem_init(problem *p, enum op op, int M, int N, int K, int acc, int has_bias)
{
    *p = (problem){op, M, N, K, acc, has_bias, NULL, NULL, NULL, NULL, NULL};
    p->A = rnd_floats((size_t)M * K);
    p->B = rnd_floats((size_t)N * K);
    p->bias = has_bias ? rnd_floats((size_t)N) : NULL;
    p->C0 = rnd_floats((size_t)M * N);
    if (op == OP_NT_BF16 || op == OP_NT_BF16_DOT || op == OP_NN_BF16) {
        p->B16 = xmalloc(sizeof(uint16_t) * ((size_t)N * K + 1));
        for (size_t i = 0; i < (size_t)N * K; i++)
            p->B16[i] = k_f32_to_bf16(p->B[i]);
    }
}

static void problem_free(problem *p)
{
    free(p->A);
    free(p->B);
    free(p->bias);
    free(p->C0);
    free(p->B16);
}

/* The operands element-wise, as each op reads them. */
static double a_at(const problem *p, int i, int k)
{
    if (p->op == OP_TN)
        return p->A[(size_t)k * p->M + i];
    float a = p->A[(size_t)i * p->K + k];
    /* the dot path rounds A to bf16 by contract */
    return p->op == OP_NT_BF16_DOT ? k_bf16_to_f32(k_f32_to_bf16(a)) : a;
}

static double b_at(const problem *p, int k, int j)
{
    switch (p->op) {
    case OP_NT:
        return p->B[(size_t)j * p->K + k];
    case OP_NT_BF16:
    case OP_NT_BF16_DOT:
        return k_bf16_to_f32(p->B16[(size_t)j * p->K + k]);
    case OP_NN_BF16:
        return k_bf16_to_f32(p->B16[(size_t)k * p->N + j]);
    default:
        return p->B[(size_t)k * p->N + j];
    }
}

static void run(const problem *p, float *C)
{
    memcpy(C, p->C0, sizeof(float) * (size_t)p->M * p->N);
    switch (p->op) {
    case OP_NT:
        k_matmul_nt(C, p->A, p->B, p->bias, p->M, p->N, p->K, p->acc);
        break;
    case OP_NT_BF16:
        k_matmul_nt_bf16(C, p->A, p->B16, p->bias, p->M, p->N, p->K, p->acc);
        break;
    case OP_NT_BF16_DOT:
        k_matmul_nt_bf16_dot(C, p->A, p->B16, p->bias, p->M, p->N, p->K, p->acc);
        break;
    case OP_NN:
        k_matmul_nn(C, p->A, p->B, p->M, p->N, p->K, p->acc);
        break;
    case OP_TN:
        k_matmul_tn(C, p->A, p->B, p->M, p->N, p->K, p->acc);
        break;
    case OP_NN_BF16:
        k_matmul_nn_bf16(C, p->A, p->B16, p->M, p->N, p->K, p->acc);
        break;
    }
}

/* The fp64 reference and, per entry, the sum of |terms| (what fp32
 * rounding errors scale with). */
static void reference(const problem *p, double *ref, double *mag)
{
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->N; j++) {
            double s = 0, m = 0;
            for (int k = 0; k < p->K; k++) {
                double t = a_at(p, i, k) * b_at(p, k, j);
                s += t;
                m += fabs(t);
            }
            if (p->bias) {
                s += p->bias[j];
                m += fabs(p->bias[j]);
            }
            double c0 = p->C0[(size_t)i * p->N + j];
            if (p->acc) {
                s += c0;
                m += fabs(c0);
            }
            ref[(size_t)i * p->N + j] = s;
            mag[(size_t)i * p->N + j] = m;
        }
}

/* Checks C against the reference: 1e-5 of the scale is far above the few
 * ulps a different summation order gives, and far below any real mistake;
 * scaling by the sum of |terms| keeps cancellation from failing it
 * spuriously. */
static int check_result(const problem *p, const float *C, const double *ref, const double *mag,
                        const char *path)
{
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->N; j++) {
            size_t at = (size_t)i * p->N + j;
            if (!(fabs(C[at] - ref[at]) <= 1e-5 * mag[at] + 1e-30))
                return test_fail(__FILE__, __LINE__,
                                 "%s %s M=%d N=%d K=%d acc=%d bias=%d: C[%d,%d] = %.9g, "
                                 "reference %.9g (scale %.3g)",
                                 path, op_name[p->op], p->M, p->N, p->K, p->acc, p->has_bias, i, j,
                                 C[at], ref[at], mag[at]);
        }
    return 1;
}

/* Runs one problem on every path this CPU has and checks each. */
static int check_all_paths(enum op op, int M, int N, int K, int acc, int has_bias)
{
    problem p;
    problem_init(&p, op, M, N, K, acc, has_bias);
    size_t n = (size_t)M * N + 1;
    float *C = xmalloc(sizeof(float) * n);
    double *ref = xmalloc(sizeof(double) * n), *mag = xmalloc(sizeof(double) * n);
    reference(&p, ref, mag);
    int ok = k_set_backend("portable") == 0;
    if (!ok)
        test_fail(__FILE__, __LINE__, "the portable backend was refused");
    if (ok) {
        run(&p, C);
        ok = check_result(&p, C, ref, mag, "portable");
    }
    static const char *fast[] = {"avx512", "avx2"};
    for (size_t f = 0; ok && f < ARRAY_LEN(fast); f++) {
        if (k_set_backend(fast[f]) != 0)
            continue;
        for (int threads = 1; ok && threads <= 2; threads++) {
            char path[64];
            snprintf(path, sizeof path, "%s/%d thread%s", fast[f], threads, threads > 1 ? "s" : "");
            par_set_threads(threads);
            run(&p, C);
            ok = check_result(&p, C, ref, mag, path);
        }
        par_set_threads(0);
    }
    k_set_backend("auto");
    free(C);
    free(ref);
    free(mag);
    problem_free(&p);
    return ok;
}

static const int g_dims[] = {1, 3, 17, 31, 33, 65, 127, 257};

/* ---- products ---------------------------------------------------------------- */

/* Every combination of the small awkward sizes, every op, accumulate and
 * bias on and off: covers both the few-row path (M <= 8) and the tiled one
 * with ragged edges in all three dimensions. */
static void sweep_small(enum op op)
{
    static const int dims[] = {1, 3, 17, 33, 65};
    for (size_t a = 0; a < ARRAY_LEN(dims); a++)
        for (size_t b = 0; b < ARRAY_LEN(dims); b++)
            for (size_t c = 0; c < ARRAY_LEN(dims); c++)
                for (int flags = 0; flags < 4; flags++) {
                    int acc = flags & 1, bias = (flags >> 1) & 1;
                    if (bias && (op == OP_NN || op == OP_TN || op == OP_NN_BF16))
                        continue;
                    if (!check_all_paths(op, dims[a], dims[b], dims[c], acc, bias))
                        return;
                }
}

TEST(kernels_nt_small_shapes)
{
    sweep_small(OP_NT);
}

TEST(kernels_nt_bf16_small_shapes)
{
    sweep_small(OP_NT_BF16);
}

TEST(kernels_nt_bf16_dot_small_shapes)
{
    sweep_small(OP_NT_BF16_DOT);
}

TEST(kernels_nn_small_shapes)
{
    sweep_small(OP_NN);
}

TEST(kernels_tn_small_shapes)
{
    sweep_small(OP_TN);
    sweep_small(OP_NN_BF16);
}

/* Larger awkward shapes: each of 31, 127, 257 in each position, M around
 * the few-row threshold, K past one packed slice (512), N past one packed
 * block of B (3072) and M past one of A (300 x 1000), so every loop of the
 * blocking runs more than once. */
TEST(kernels_larger_shapes)
{
    static const int shapes[][3] = {
        {257, 127, 31}, {127, 257, 65}, {31, 33, 257},  {8, 1000, 257},  {9, 65, 1030},
        {7, 515, 300},  {1, 5000, 17},  {9, 3100, 300}, {300, 33, 1000}, {2, 33, 1537},
        {15, 16, 16},   {14, 32, 512},  {28, 64, 513},  {6, 48, 16},     {5, 7, 2049},
    };
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++)
        for (int op = OP_NT; op <= OP_NN_BF16; op++) {
            int bias = op <= OP_NT_BF16_DOT && (s % 2 == 0);
            if (!check_all_paths(op, shapes[s][0], shapes[s][1], shapes[s][2], (int)(s % 3 == 1),
                                 bias))
                return;
        }
}

/* The listed awkward sizes once more, paired up as (M, N, K) rotations. */
TEST(kernels_awkward_rotations)
{
    for (size_t a = 0; a < ARRAY_LEN(g_dims); a++) {
        int d0 = g_dims[a], d1 = g_dims[(a + 3) % ARRAY_LEN(g_dims)],
            d2 = g_dims[(a + 5) % ARRAY_LEN(g_dims)];
        for (int op = OP_NT; op <= OP_NN_BF16; op++)
            if (!check_all_paths(op, d0, d1, d2, (int)(a & 1), op <= OP_NT_BF16_DOT))
                return;
    }
}

/* The dispatched path and the portable one agree with each other (not only
 * each with the reference) on a training-sized product. */
TEST(kernels_dispatch_agrees_with_portable)
{
    if (k_set_backend("avx512") != 0) {
        test_skip("this CPU has no AVX-512 with BF16");
        return;
    }
    k_set_backend("auto");
    CHECK_STR(k_backend_name(), "avx512");
    int M = 96, N = 200, K = 333;
    float *A = rnd_floats((size_t)M * K), *B = rnd_floats((size_t)N * K), *bias = rnd_floats(N);
    float *C1 = xmalloc(sizeof(float) * M * N), *C2 = xmalloc(sizeof(float) * M * N);
    k_matmul_nt(C1, A, B, bias, M, N, K, 0);
    k_set_backend("portable");
    CHECK_STR(k_backend_name(), "portable");
    k_matmul_nt(C2, A, B, bias, M, N, K, 0);
    k_set_backend("auto");
    for (int i = 0; i < M * N; i++)
        CHECK_MSG(fabsf(C1[i] - C2[i]) <= 1e-4f * (1 + fabsf(C2[i])), "C[%d]: %g vs %g", i, C1[i],
                  C2[i]);
    free(A);
    free(B);
    free(bias);
    free(C1);
    free(C2);
}

/* What rounding the activations to bf16 costs, against the fp64 product of
 * the unrounded activations and the bf16 weights: k_matmul_nt_bf16 stays
 * at fp32 accuracy (~1e-7 of the scale), k_matmul_nt_bf16_dot lands around
 * 1e-3 (the figures kernels.h states), on every path. */
TEST(kernels_bf16_dot_accuracy_is_as_documented)
{
    const char *paths[] = {"portable", "avx512", "avx2"};
    int M = 24, N = 96, K = 768;
    float *A = rnd_floats((size_t)M * K), *B = rnd_floats((size_t)N * K);
    uint16_t *B16 = xmalloc(sizeof(uint16_t) * N * K);
    for (int i = 0; i < N * K; i++)
        B16[i] = k_f32_to_bf16(B[i]);
    float *C = xmalloc(sizeof(float) * M * N), *Cd = xmalloc(sizeof(float) * M * N);
    for (size_t p = 0; p < ARRAY_LEN(paths); p++) {
        if (k_set_backend(paths[p]) != 0)
            continue;
        for (int m = 1; m <= M; m += M - 1) { /* few-row path and tiled path */
            k_matmul_nt_bf16(C, A, B16, NULL, m, N, K, 0);
            k_matmul_nt_bf16_dot(Cd, A, B16, NULL, m, N, K, 0);
            double worst = 0, worst_dot = 0, mean_dot = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        double t = (double)A[i * K + k] * k_bf16_to_f32(B16[j * K + k]);
                        s += t;
                        mag += fabs(t);
                    }
                    double e = fabs(C[i * N + j] - s) / mag, ed = fabs(Cd[i * N + j] - s) / mag;
                    worst = e > worst ? e : worst;
                    worst_dot = ed > worst_dot ? ed : worst_dot;
                    mean_dot += ed / (m * N);
                }
            CHECK_MSG(worst < 1e-6, "%s M=%d: fp32-activation path error %.3g", paths[p], m, worst);
            CHECK_MSG(worst_dot < 4e-3 && mean_dot > 1e-5 && mean_dot < 1e-3,
                      "%s M=%d: bf16-activation path error worst %.3g mean %.3g", paths[p], m,
                      worst_dot, mean_dot);
        }
    }
    k_set_backend("auto");
    free(A);
    free(B);
    free(B16);
    free(C);
    free(Cd);
}

TEST(kernels_set_backend_rejects_unknown)
{
    CHECK(k_set_backend("auto") == 0);
    const char *before = k_backend_name();
    CHECK(k_set_backend("sse9") == -1);
    CHECK(k_set_backend("") == -1);
    CHECK_STR(k_backend_name(), before);
}

/* M or N zero touches nothing; K zero leaves bias (or zero), plus C when
 * accumulating - on every path. */
TEST(kernels_degenerate_shapes)
{
    const char *paths[] = {"portable", "avx512", "avx2"};
    for (size_t p = 0; p < ARRAY_LEN(paths); p++) {
        if (k_set_backend(paths[p]) != 0)
            continue;
        float C[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {10, 20, 30};
        float A[8] = {7, 7, 7, 7, 7, 7, 7, 7}, B[8] = {9, 9, 9, 9, 9, 9, 9, 9};
        uint16_t B16[8] = {0x3f80};
        k_matmul_nt(C, A, B, bias, 0, 3, 1, 0);
        k_matmul_nt(C, A, B, bias, 2, 0, 1, 0);
        k_matmul_nn(C, A, B, 0, 3, 1, 0);
        k_matmul_tn(C, A, B, 2, 0, 1, 0);
        k_matmul_nt_bf16(C, A, B16, bias, 0, 3, 1, 0);
        for (int i = 0; i < 6; i++)
            CHECK_MSG(C[i] == i + 1, "%s: C[%d] changed to %g", paths[p], i, C[i]);
        k_matmul_nt(C, A, B, bias, 2, 3, 0, 1); /* C += bias */
        CHECK_MSG(C[0] == 11 && C[4] == 25, "%s: K=0 accumulate: %g %g", paths[p], C[0], C[4]);
        k_matmul_nt(C, A, B, bias, 2, 3, 0, 0); /* C = bias */
        CHECK_MSG(C[0] == 10 && C[5] == 30, "%s: K=0 with bias: %g %g", paths[p], C[0], C[5]);
        k_matmul_nt_bf16(C, A, B16, NULL, 2, 3, 0, 0);
        k_matmul_nn(C, A, B, 2, 3, 0, 1);
        CHECK_MSG(C[0] == 0 && C[5] == 0, "%s: K=0: %g %g", paths[p], C[0], C[5]);
        k_matmul_tn(C, A, B, 2, 3, 0, 0);
        CHECK_MSG(C[3] == 0, "%s: tn K=0: %g", paths[p], C[3]);
    }
    k_set_backend("auto");
}

/* A NaN or infinity in an input reaches the output (no path skips zero
 * terms or drops lanes). */
TEST(kernels_nan_and_inf_propagate)
{
    const char *paths[] = {"portable", "avx512", "avx2"};
    for (size_t p = 0; p < ARRAY_LEN(paths); p++) {
        if (k_set_backend(paths[p]) != 0)
            continue;
        for (int M = 1; M <= 20; M += 19) {
            int N = 35, K = 37;
            float *A = rnd_floats((size_t)M * K), *B = rnd_floats((size_t)N * K);
            float *C = xmalloc(sizeof(float) * M * N);
            A[(size_t)(M - 1) * K + K - 1] = NAN;  /* last row, last k */
            B[(size_t)(N - 1) * K + 3] = INFINITY; /* last column */
            A[3] = 0;                              /* row 0 meets the infinity with a zero: NaN */
            k_matmul_nt(C, A, B, NULL, M, N, K, 0);
            CHECK_MSG(isnan(C[(size_t)(M - 1) * N + 5]), "%s M=%d: NaN lost: %g", paths[p], M,
                      C[(size_t)(M - 1) * N + 5]);
            CHECK_MSG(isnan(C[N - 1]), "%s M=%d: 0*inf should be NaN: %g", paths[p], M, C[N - 1]);
            if (M > 1)
                CHECK_MSG(isinf(C[(size_t)1 * N + N - 1]) || isnan(C[(size_t)1 * N + N - 1]),
                          "%s: inf lost: %g", paths[p], C[(size_t)1 * N + N - 1]);
            if (M > 1)
                CHECK_MSG(isfinite(C[5]), "%s: finite entry became %g", paths[p], C[5]);
            free(A);
            free(B);
            free(C);
        }
    }
    k_set_backend("auto");
}

/* ---- bfloat16 ------------------------------------------------------------------ */

TEST(kernels_bf16_rounds_to_nearest_even)
{
    static const struct {
        uint32_t in;
        uint16_t want;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 exact */
        {0x3f808000u, 0x3f80}, /* halfway, even below: down */
        {0x3f818000u, 0x3f82}, /* halfway, odd below: up */
        {0x3f808001u, 0x3f81}, /* above halfway: up */
        {0x3f807fffu, 0x3f80}, /* below halfway: down */
        {0xbf818000u, 0xbf82}, /* negative, halfway: to even */
        {0x7f7fffffu, 0x7f80}, /* largest float rounds up to infinity */
        {0x7f800000u, 0x7f80}, /* +inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x00000000u, 0x0000}, /* +0 */
        {0x80000000u, 0x8000}, /* -0 */
        {0x00000001u, 0x0000}, /* smallest subnormal: to zero */
        {0x00018000u, 0x0002}, /* subnormal halfway, odd below: up */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint16_t got = k_f32_to_bf16(bits_f32(cases[i].in));
        CHECK_MSG(got == cases[i].want, "0x%08x -> 0x%04x, want 0x%04x", cases[i].in, got,
                  cases[i].want);
    }
}

TEST(kernels_bf16_nan_stays_nan)
{
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u,
                                    0x7fffffffu, 0xff800001u, 0x7f80ffffu};
    for (size_t i = 0; i < ARRAY_LEN(nans); i++) {
        uint16_t h = k_f32_to_bf16(bits_f32(nans[i]));
        /* A NaN whose payload sits only in the low bits must not truncate
         * to infinity. */
        CHECK_MSG(isnan(k_bf16_to_f32(h)), "0x%08x -> 0x%04x, not a NaN", nans[i], h);
        CHECK_MSG((h & 0x8000) == ((nans[i] >> 16) & 0x8000), "0x%08x: sign lost", nans[i]);
    }
}

/* Every bfloat16 value survives bf16 -> f32 -> bf16 unchanged (NaNs stay
 * NaNs); widening is exact. */
TEST(kernels_bf16_round_trip_all_values)
{
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = k_bf16_to_f32((uint16_t)h);
        CHECK_MSG(f32_bits(f) == h << 16, "0x%04x widened to 0x%08x", h, f32_bits(f));
        uint16_t back = k_f32_to_bf16(f);
        if (isnan(f))
            CHECK_MSG(isnan(k_bf16_to_f32(back)), "NaN 0x%04x came back as 0x%04x", h, back);
        else
            CHECK_MSG(back == h, "0x%04x came back as 0x%04x", h, back);
    }
}
