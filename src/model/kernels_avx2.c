/* model/kernels_avx2: the matrix products for x86-64 CPUs with AVX2 and FMA
 * but no AVX-512 (or no AVX512_BF16). The same two methods as
 * kernels_avx512.c, scaled to 16 ymm registers:
 *
 * - many rows: packed panels and a 6x16 register tile (12 accumulators, one
 *   broadcast of A and two loads of B per 12 FMAs). Packing is plain C here
 *   (it is a small share of the work once M is large);
 * - few rows (M <= 8): the weight rows are streamed once, unpacked.
 *
 * There is no bf16 dot-product instruction: k_matmul_nt_bf16_dot rounds A to
 * bf16 while packing (or into a scratch copy) and multiplies in fp32, which
 * gives the same products as vdpbf16ps (a product of two bf16 values is
 * exact in fp32); only the summation order differs.
 *
 * Every function here is compiled for AVX2+FMA and only called after
 * kx2_avx2_usable() said yes. */
#pragma GCC target("avx2,fma")

#include <immintrin.h>
#include <string.h>

#include "../base/base.h"
#include "kernels_internal.h"

#define MR 6
#define NR 16
#define KC_MAX 384
#define A_BLOCK (64 * 1024) /* floats of A packed at once (256 KB) */
#define NC 2048
#define GEMV_MAX_M 8
#define PAR_MIN_MACS 200000L

#define ALWAYS_INLINE inline __attribute__((always_inline))

int kx2_avx2_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static ALWAYS_INLINE long min_l(long a, long b)
{
    return a < b ? a : b;
}

/* How an operand's elements are read: fp32, bf16 (widened exactly), or
 * fp32 rounded to bf16 (the A operand of the _dot product). */
enum { E_F32, E_BF16, E_F32_ROUNDED };

typedef struct {
    const void *p;
    long ld;
    int kmajor; /* element (r, k) at p[r*ld + k], else at p[k*ld + r] */
    int kind;
} operand;

static ALWAYS_INLINE float elem(const operand *op, long r, long k)
{
    long at = op->kmajor ? r * op->ld + k : k * op->ld + r;
    if (op->kind == E_BF16)
        return k_bf16_to_f32(((const uint16_t *)op->p)[at]);
    float v = ((const float *)op->p)[at];
    return op->kind == E_F32_ROUNDED ? k_bf16_to_f32(k_f32_to_bf16(v)) : v;
}

/* Rows [r0, r0+nv) (zero up to R), depth [k0, k0+kc) -> dst[k*R + r]. */
static void pack_panel(float *dst, const operand *op, long r0, int nv, int R, long k0, int kc)
{
    if (op->kmajor) {
        for (int r = 0; r < R; r++)
            for (int k = 0; k < kc; k++)
                dst[(long)k * R + r] = r < nv ? elem(op, r0 + r, k0 + k) : 0.0f;
    } else {
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < R; r++)
                dst[(long)k * R + r] = r < nv ? elem(op, r0 + r, k0 + k) : 0.0f;
    }
}

/* Lane masks for maskload/maskstore: lanes [0, n) set. */
static ALWAYS_INLINE __m256i lanes(int n)
{
    static const int32_t ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_loadu_si256((const __m256i *)ramp));
}

/* c[0..m, 0..n) (+)= a-panel . b-panel (+ bias). */
static void tile_6x16(long kc, const float *a, const float *b, float *c, long ldc, int m, int n,
                      int add, const float *bias)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    __m256i m0 = lanes(n), m1 = lanes(n - 8);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) {
        bias0 = _mm256_maskload_ps(bias, m0);
        bias1 = _mm256_maskload_ps(bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i < m) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_add_ps(acc[i][0], bias0), r1 = _mm256_add_ps(acc[i][1], bias1);
            if (add) {
                r0 = _mm256_add_ps(_mm256_maskload_ps(ci, m0), r0);
                r1 = _mm256_add_ps(_mm256_maskload_ps(ci + 8, m1), r1);
            }
            _mm256_maskstore_ps(ci, m0, r0);
            _mm256_maskstore_ps(ci + 8, m1, r1);
        }
    }
}

typedef struct {
    float *C;
    long ldc;
    operand A, B;
    const float *bias;
    long M, N, K;
    int accumulate;
    int split_n;
} gemm_job;

static _Thread_local float *t_apack, *t_bpack;

static void gemm_region(const gemm_job *g, long i0, long i1, long j0, long j1)
{
    if (!t_apack) {
        t_apack = xmalloc_aligned(64, sizeof(float) * (A_BLOCK + MR * KC_MAX));
        t_bpack = xmalloc_aligned(64, sizeof(float) * NC * KC_MAX);
    }
    long slices = (g->K + KC_MAX - 1) / KC_MAX;
    long kc_step = (g->K + slices - 1) / slices;
    long mc_step = A_BLOCK / kc_step / MR * MR;
    for (long jc = j0; jc < j1; jc += NC) {
        long nc = min_l(NC, j1 - jc);
        for (long pc = 0; pc < g->K; pc += kc_step) {
            int kc = (int)min_l(kc_step, g->K - pc);
            int first = pc == 0, add = !first || g->accumulate;
            for (long q = 0; q < nc; q += NR)
                pack_panel(t_bpack + q * kc, &g->B, jc + q, (int)min_l(NR, nc - q), NR, pc, kc);
            for (long ic = i0; ic < i1; ic += mc_step) {
                long mc = min_l(mc_step, i1 - ic);
                for (long p = 0; p < mc; p += MR)
                    pack_panel(t_apack + p * kc, &g->A, ic + p, (int)min_l(MR, mc - p), MR, pc, kc);
                for (long q = 0; q < nc; q += NR) {
                    const float *bias = first && g->bias ? g->bias + jc + q : NULL;
                    for (long p = 0; p < mc; p += MR)
                        tile_6x16(kc, t_apack + p * kc, t_bpack + q * kc,
                                  g->C + (ic + p) * g->ldc + jc + q, g->ldc, (int)min_l(MR, mc - p),
                                  (int)min_l(NR, nc - q), add, bias);
                }
            }
        }
    }
}

static void split(long total, long unit, int t, int n, long *lo, long *hi)
{
    long units = (total + unit - 1) / unit;
    *lo = min_l(total, units * t / n * unit);
    *hi = min_l(total, units * (t + 1) / n * unit);
}

static void gemm_part(void *ctx, int t, int n)
{
    const gemm_job *g = ctx;
    long lo, hi;
    if (g->split_n) {
        split(g->N, NR, t, n, &lo, &hi);
        if (lo < hi)
            gemm_region(g, 0, g->M, lo, hi);
    } else {
        split(g->M, MR, t, n, &lo, &hi);
        if (lo < hi)
            gemm_region(g, lo, hi, 0, g->N);
    }
}

static int parts_for(double macs, long units)
{
    if (macs < PAR_MIN_MACS)
        return 1;
    int n = par_threads();
    return units < n ? (int)units : n;
}

static void gemm_run(gemm_job *g)
{
    g->split_n = g->M <= g->N; /* see kernels_avx512.c */
    long units = g->split_n ? (g->N + NR - 1) / NR : (g->M + MR - 1) / MR;
    par_run(parts_for((double)g->M * g->N * g->K, units), gemm_part, g);
}

/* ---- few rows ---------------------------------------------------------------- */

typedef struct {
    float *C;
    const float *A; /* already rounded for the _dot product */
    const void *B;  /* [N, K] */
    int bf16;
    const float *bias;
    long M, N, K;
    int accumulate;
} gemv_job;

static ALWAYS_INLINE __m256 load_w8(const void *B, const int bf16, long off)
{
    if (bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)B + off))),
            16));
    return _mm256_loadu_ps((const float *)B + off);
}

static ALWAYS_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static ALWAYS_INLINE void gemv_tile(const gemv_job *g, const int bf16, long i0, const int m, long j,
                                    const int jb)
{
    const long K = g->K;
    __m256 acc[GEMV_MAX_M][4];
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int b = 0; b < jb; b++)
            acc[i][b] = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 w[4];
#pragma GCC unroll 4
        for (int b = 0; b < jb; b++)
            w[b] = load_w8(g->B, bf16, (j + b) * K + k);
#pragma GCC unroll 8
        for (int i = 0; i < m; i++) {
            __m256 x = _mm256_loadu_ps(g->A + (i0 + i) * K + k);
#pragma GCC unroll 4
            for (int b = 0; b < jb; b++)
                acc[i][b] = _mm256_fmadd_ps(x, w[b], acc[i][b]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int b = 0; b < jb; b++) {
            float s = hsum8(acc[i][b]);
            const float *x = g->A + (i0 + i) * K;
            for (long t = k; t < K; t++) {
                long at = (j + b) * K + t;
                float w =
                    bf16 ? k_bf16_to_f32(((const uint16_t *)g->B)[at]) : ((const float *)g->B)[at];
                s += x[t] * w;
            }
            if (g->bias)
                s += g->bias[j + b];
            float *c = g->C + (i0 + i) * g->N + j + b;
            *c = g->accumulate ? *c + s : s;
        }
}

static ALWAYS_INLINE void gemv_cols(const gemv_job *g, const int bf16, long i0, const int m,
                                    long j0, long j1)
{
    const int jb = m == 1 ? 4 : m == 2 ? 3 : m <= 4 ? 2 : 1;
    long j = j0;
    for (; j + jb <= j1; j += jb)
        gemv_tile(g, bf16, i0, m, j, jb);
    for (; j < j1; j++)
        gemv_tile(g, bf16, i0, m, j, 1);
}

static ALWAYS_INLINE void gemv_rows(const gemv_job *g, const int bf16, long j0, long j1)
{
    for (long i0 = 0; i0 < g->M; i0 += GEMV_MAX_M) {
        switch (min_l(GEMV_MAX_M, g->M - i0)) {
        case 1:
            gemv_cols(g, bf16, i0, 1, j0, j1);
            break;
        case 2:
            gemv_cols(g, bf16, i0, 2, j0, j1);
            break;
        case 3:
            gemv_cols(g, bf16, i0, 3, j0, j1);
            break;
        case 4:
            gemv_cols(g, bf16, i0, 4, j0, j1);
            break;
        case 5:
            gemv_cols(g, bf16, i0, 5, j0, j1);
            break;
        case 6:
            gemv_cols(g, bf16, i0, 6, j0, j1);
            break;
        case 7:
            gemv_cols(g, bf16, i0, 7, j0, j1);
            break;
        default:
            gemv_cols(g, bf16, i0, 8, j0, j1);
            break;
        }
    }
}

static void gemv_range(void *ctx, long j0, long j1)
{
    const gemv_job *g = ctx;
    if (g->bf16)
        gemv_rows(g, 1, j0, j1);
    else
        gemv_rows(g, 0, j0, j1);
}

/* ---- entry points ------------------------------------------------------------ */

static void empty_product(float *C, const float *bias, long M, long N, int accumulate)
{
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            float s = bias ? bias[j] : 0.0f;
            C[i * N + j] = accumulate ? C[i * N + j] + s : s;
        }
}

/* A rounded to bf16 for the few-row _dot product, kept per thread. */
static _Thread_local float *t_around;
static _Thread_local size_t t_around_cap;

static void nt_any(float *C, const float *A, const void *B, int bf16, int round_a,
                   const float *bias, int M, int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, bias, M, N, accumulate);
        return;
    }
    if (M <= GEMV_MAX_M) {
        if (round_a) {
            size_t n = (size_t)M * K;
            if (n > t_around_cap) {
                free(t_around);
                t_around = xmalloc(sizeof(float) * n);
                t_around_cap = n;
            }
            for (size_t i = 0; i < n; i++)
                t_around[i] = k_bf16_to_f32(k_f32_to_bf16(A[i]));
            A = t_around;
        }
        gemv_job g = {C, A, B, bf16, bias, M, N, K, accumulate};
        long chunks = (N + 15) / 16;
        if (parts_for((double)M * N * K, chunks) > 1)
            par_for(N, 16, gemv_range, &g);
        else
            gemv_range(&g, 0, N);
        return;
    }
    gemm_job g = {
        .C = C,
        .ldc = N,
        .A = {A, K, 1, round_a ? E_F32_ROUNDED : E_F32},
        .B = {B, K, 1, bf16 ? E_BF16 : E_F32},
        .bias = bias,
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
    };
    gemm_run(&g);
}

void kx2_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                   int accumulate)
{
    nt_any(C, A, B, 0, 0, bias, M, N, K, accumulate);
}

void kx2_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                        int N, int K, int accumulate)
{
    nt_any(C, A, B, 1, 0, bias, M, N, K, accumulate);
}

void kx2_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                            int N, int K, int accumulate)
{
    nt_any(C, A, B, 1, 1, bias, M, N, K, accumulate);
}

static void plain(float *C, operand a, operand b, int M, int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, NULL, M, N, accumulate);
        return;
    }
    gemm_job g = {
        .C = C, .ldc = N, .A = a, .B = b, .M = M, .N = N, .K = K, .accumulate = accumulate};
    gemm_run(&g);
}

void kx2_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    plain(C, (operand){A, K, 1, E_F32}, (operand){B, N, 0, E_F32}, M, N, K, accumulate);
}

void kx2_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                        int accumulate)
{
    plain(C, (operand){A, K, 1, E_F32}, (operand){B, N, 0, E_BF16}, M, N, K, accumulate);
}

void kx2_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    plain(C, (operand){A, M, 0, E_F32}, (operand){B, N, 0, E_F32}, M, N, K, accumulate);
}
