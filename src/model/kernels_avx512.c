/* model/kernels_avx512: the matrix products for CPUs with AVX-512
 * (F/BW/DQ/VL) and AVX512_BF16. Every function in this file is compiled for
 * those extensions (the pragma below) and is only called after
 * kx_avx512_usable() said yes, so the rest of the program keeps the plain
 * x86-64 flags.
 *
 * Two shapes of work, two methods:
 *
 * - Many rows (prefill, training): a Goto/BLIS-style packed GEMM. For a
 *   KC-deep slice of the product, a block of B (KC x NC) is copied into
 *   NR-wide micro-panels laid out k-major; for each MC-row block of A, A is
 *   copied into MR-row micro-panels; a 14x32 register tile (28 zmm
 *   accumulators, one broadcast of A and two loads of B per 28 FMAs) then
 *   runs over them. The B micro-panel (KC x 32 floats = 32 KB) stays in L1
 *   while A micro-panels stream from L2 (MC x KC floats = 448 KB). Packing
 *   handles every layout (nt, nn, tn; fp32 or bf16 B) and the ragged edges
 *   (zero padding; masked stores), so the tile itself never branches on k.
 *
 * - Few rows (decode, M <= GEMV_MAX_M): the product is bound by reading the
 *   weights once, so no packing: each weight row is read once, straight
 *   from memory, and multiplied into every row of A (which sits in L1/L2),
 *   with several weight rows in flight for the memory system.
 *
 * Two threads (the base/threads pool) each take a contiguous range of
 * output columns (or rows), with their own packing buffers; see split(). */
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")

#include <immintrin.h>
#include <string.h>

#include "../base/base.h"
#include "kernels_internal.h"

#define MR 14 /* rows of the register tile */
#define NR 32 /* columns of the register tile: two zmm */
#ifndef KC_MAX
#define KC_MAX 512 /* deepest packed slice; K is cut into equal slices up to this */
#endif
#ifndef A_BLOCK
#define A_BLOCK (112 * 1024) /* floats of A packed at once (448 KB, in L2) */
#endif
#ifndef NC
#define NC 3072 /* columns of B packed at once: up to 6 MB */
#endif
#ifndef PACK_HINT
#define PACK_HINT _MM_HINT_T0
#endif
#define GEMV_MAX_M 8
#ifndef GEMV_AHEAD
#define GEMV_AHEAD 16384
#endif
#ifndef GEMV_HINT
#define GEMV_HINT _MM_HINT_T0
#endif
/* Below this many multiply-adds a second thread costs more than it saves. */
#define PAR_MIN_MACS 200000L

#define ALWAYS_INLINE inline __attribute__((always_inline))

int kx_avx512_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
}

/* Lanes [0, n) set; n <= 0 gives none, n >= 16 all. */
static ALWAYS_INLINE __mmask16 mask_lo(long n)
{
    if (n <= 0)
        return 0;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

static ALWAYS_INLINE long min_l(long a, long b)
{
    return a < b ? a : b;
}

/* 16 bfloat16 values (the upper halves of fp32) widened to fp32. */
static ALWAYS_INLINE __m512 bf16x16_to_ps(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- packing ------------------------------------------------------------ */

/* An operand of the product, seen as rows r (M for A, N for B) by depth k:
 * element (r, k) is at p[r*ld + k] when kmajor, else at p[k*ld + r]. */
typedef struct {
    const void *p;
    long ld;
    long rows; /* rows in all (for prefetching within bounds) */
    int kmajor;
    int bf16; /* elements are bfloat16 (uint16_t) */
} operand;

/* Up to 16 elements along the contiguous index: p[outer*ld + inner ...],
 * lanes outside `m` read as zero (and are not touched in memory). */
static ALWAYS_INLINE __m512 load_run(const operand *op, long outer, long inner, __mmask16 m)
{
    if (op->bf16)
        return bf16x16_to_ps(
            _mm256_maskz_loadu_epi16(m, (const uint16_t *)op->p + outer * op->ld + inner));
    return _mm512_maskz_loadu_ps(m, (const float *)op->p + outer * op->ld + inner);
}

/* In-register transpose of a 16x16 fp32 block: r[i] lane j -> r[j] lane i. */
static ALWAYS_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i+c], 128-bit lane L: rows 4i..4i+3 of column 4L+c */
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* t[c]: rows 0-3 and 4-7 of columns c and 8+c; t[4+c]: of 4+c and 12+c;
     * t[8+c], t[12+c]: the same for rows 8-15 */
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
    }
}

static ALWAYS_INLINE void prefetch_el(const operand *op, long outer, long inner)
{
    _mm_prefetch((const char *)op->p + (outer * op->ld + inner) * (op->bf16 ? 2 : 4), PACK_HINT);
}

/* Packs rows [r0, r0+nv) of op, depth [k0, k0+kc), into one micro-panel of
 * R rows: dst[k*R + r], rows nv..R-1 zero.
 *
 * The source often comes from DRAM (a vocabulary-sized weight is read once
 * per call), and 16 rows read in step are too many streams for the hardware
 * prefetcher: each step also fetches the same spot of the next panel's
 * rows, one panel (R rows x kc) ahead. */
static void pack_panel(float *dst, const operand *op, long r0, int nv, int R, long k0, int kc)
{
    if (op->kmajor) {
        /* Rows are contiguous in k: transpose 16x16 blocks. */
        for (int g = 0; g < R; g += 16) {
            int vg = (int)min_l(nv - g, min_l(16, R - g));
            int pf = (int)min_l(min_l(16, R - g), op->rows - (r0 + R + g));
            __mmask16 store = mask_lo(R - g);
            for (int kk = 0; kk < kc; kk += 16) {
                int kv = (int)min_l(16, kc - kk);
                __mmask16 km = mask_lo(kv);
                __m512 v[16];
                for (int t = 0; t < 16; t++)
                    v[t] = t < vg ? load_run(op, r0 + g + t, k0 + kk, km) : _mm512_setzero_ps();
                for (int t = 0; t < pf; t++)
                    prefetch_el(op, r0 + R + g + t, k0 + kk);
                transpose16(v);
                for (int t = 0; t < kv; t++)
                    _mm512_mask_storeu_ps(dst + (long)(kk + t) * R + g, store, v[t]);
            }
        }
    } else {
        /* Rows are contiguous along r already: copy, zero-filling the edge. */
        int pf = (int)min_l(R, op->rows - (r0 + R));
        for (int k = 0; k < kc; k++) {
            for (int g = 0; g < R; g += 16)
                _mm512_mask_storeu_ps(dst + (long)k * R + g, mask_lo(R - g),
                                      load_run(op, k0 + k, r0 + g, mask_lo(nv - g)));
            for (int g = 0; g < pf; g += 16)
                prefetch_el(op, k0 + k, r0 + R + g);
        }
    }
}

/* ---- the 14x32 register tile -------------------------------------------- */

/* c[0..m, 0..n) (+)= a-panel . b-panel (+ bias): `a` is kc x MR, `b` kc x NR,
 * both packed k-major. add: add to c instead of overwriting it. */
static void tile_14x32(long kc, const float *a, const float *b, float *c, long ldc, int m, int n,
                       int add, const float *bias)
{
    /* The tile of C is touched once per KC slice, so it is rarely cached:
     * fetch it now, while the products run (a miss at the end costs about
     * a fifth of the tile's time). */
    for (int i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    __mmask16 m0 = mask_lo(n), m1 = mask_lo(n - 16);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        if (i < m) {
            float *ci = c + i * ldc;
            __m512 r0 = _mm512_add_ps(acc[i][0], bias0), r1 = _mm512_add_ps(acc[i][1], bias1);
            if (add) {
                r0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), r0);
                r1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), r1);
            }
            _mm512_mask_storeu_ps(ci, m0, r0);
            _mm512_mask_storeu_ps(ci + 16, m1, r1);
        }
    }
}

/* ---- the packed GEMM ----------------------------------------------------- */

/* C[M,N] (+)= sum_k A(i,k) B(j,k) (+ bias[j]). */
typedef struct {
    float *C;
    long ldc;
    operand A, B;
    const float *bias;
    long M, N, K;
    int accumulate;
    int split_n; /* threads take column ranges (else row ranges) */
} gemm_job;

/* Packing buffers, one pair per thread, kept for the thread's life. */
static _Thread_local float *t_apack, *t_bpack;

static void gemm_region(const gemm_job *g, long i0, long i1, long j0, long j1)
{
    if (!t_apack) {
        t_apack = xmalloc_aligned(64, sizeof(float) * (A_BLOCK + MR * KC_MAX));
        t_bpack = xmalloc_aligned(64, sizeof(float) * NC * KC_MAX);
    }
    float *ap = t_apack, *bp = t_bpack;
    /* Equal slices of K, each as deep as allowed: each slice is one more
     * pass over C, and a deeper slice means fewer passes. */
    long slices = (g->K + KC_MAX - 1) / KC_MAX;
    long kc_step = (g->K + slices - 1) / slices;
    long mc_step = A_BLOCK / kc_step / MR * MR;
    for (long jc = j0; jc < j1; jc += NC) {
        long nc = min_l(NC, j1 - jc);
        for (long pc = 0; pc < g->K; pc += kc_step) {
            int kc = (int)min_l(kc_step, g->K - pc);
            int first = pc == 0;
            int add = !first || g->accumulate;
            for (long q = 0; q < nc; q += NR)
                pack_panel(bp + q * kc, &g->B, jc + q, (int)min_l(NR, nc - q), NR, pc, kc);
            for (long ic = i0; ic < i1; ic += mc_step) {
                long mc = min_l(mc_step, i1 - ic);
                for (long p = 0; p < mc; p += MR)
                    pack_panel(ap + p * kc, &g->A, ic + p, (int)min_l(MR, mc - p), MR, pc, kc);
                for (long q = 0; q < nc; q += NR) {
                    const float *bias = first && g->bias ? g->bias + jc + q : NULL;
                    for (long p = 0; p < mc; p += MR)
                        tile_14x32(kc, ap + p * kc, bp + q * kc, g->C + (ic + p) * g->ldc + jc + q,
                                   g->ldc, (int)min_l(MR, mc - p), (int)min_l(NR, nc - q), add,
                                   bias);
                }
            }
        }
    }
}

/* Range [b0, b1) of `total` items counted in units of `unit`, for part t of n. */
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

/* How many threads for `macs` multiply-adds split into `units` pieces. */
static int parts_for(double macs, long units)
{
    if (macs < PAR_MIN_MACS)
        return 1;
    int n = par_threads();
    return units < n ? (int)units : n;
}

static void gemm_run(gemm_job *g)
{
    /* Each thread packs its own copy of the operand it does not split, so
     * split the dimension whose partner is smaller to pack: columns when
     * M <= N (A is repacked), rows otherwise. */
    g->split_n = g->M <= g->N;
    long units = g->split_n ? (g->N + NR - 1) / NR : (g->M + MR - 1) / MR;
    par_run(parts_for((double)g->M * g->N * g->K, units), gemm_part, g);
}

/* ---- few rows: stream the weights once ----------------------------------- */

typedef struct {
    float *C;
    const float *A;
    const void *B; /* [N, K], fp32 or bf16 */
    int bf16;
    const float *bias;
    long M, N, K;
    int accumulate;
} gemv_job;

static ALWAYS_INLINE __m512 load_w(const gemv_job *g, const int bf16, long off, __mmask16 m)
{
    if (bf16)
        return bf16x16_to_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)g->B + off));
    return _mm512_maskz_loadu_ps(m, (const float *)g->B + off);
}

static ALWAYS_INLINE __m512 load_w_full(const gemv_job *g, const int bf16, long off)
{
    if (bf16)
        return bf16x16_to_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)g->B + off)));
    return _mm512_loadu_ps((const float *)g->B + off);
}

/* Rows [i0, i0+m) of C, columns [j, j+jb): m, jb and bf16 are compile-time
 * constants at every call site, so the accumulators live in registers. */
static ALWAYS_INLINE void gemv_tile(const gemv_job *g, const int bf16, long i0, const int m, long j,
                                    const int jb)
{
    const long K = g->K;
    const float *a = g->A + i0 * K;
    __m512 acc[GEMV_MAX_M][8];
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++)
            acc[i][b] = _mm512_setzero_ps();
    /* The jb weight rows are one contiguous block, and the tiles that
     * follow continue it: prefetch that stream GEMV_AHEAD bytes ahead, jb
     * lines per step, which is the pace this tile reads it. The hardware
     * prefetcher alone keeps too few lines in flight once each line feeds
     * several rows of work. */
    const long esize = bf16 ? 2 : 4;
    const char *ahead = (const char *)g->B + j * K * esize + GEMV_AHEAD;
    long k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 w[8];
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++) {
            w[b] = load_w_full(g, bf16, (j + b) * K + k);
            _mm_prefetch(ahead + (k / 16 * jb + b) * 16 * esize, GEMV_HINT);
        }
#pragma GCC unroll 8
        for (int i = 0; i < m; i++) {
            __m512 x = _mm512_loadu_ps(a + i * K + k);
            /* One load of x for its jb products: left alone, GCC folds the
             * load into every FMA, and 512-bit loads are the scarce port. */
            __asm__("" : "+v"(x));
#pragma GCC unroll 8
            for (int b = 0; b < jb; b++)
                acc[i][b] = _mm512_fmadd_ps(x, w[b], acc[i][b]);
        }
    }
    if (k < K) {
        __mmask16 km = mask_lo(K - k);
        __m512 w[8];
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++)
            w[b] = load_w(g, bf16, (j + b) * K + k, km);
#pragma GCC unroll 8
        for (int i = 0; i < m; i++) {
            __m512 x = _mm512_maskz_loadu_ps(km, a + i * K + k);
#pragma GCC unroll 8
            for (int b = 0; b < jb; b++)
                acc[i][b] = _mm512_fmadd_ps(x, w[b], acc[i][b]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++) {
            float s = _mm512_reduce_add_ps(acc[i][b]);
            if (g->bias)
                s += g->bias[j + b];
            float *c = g->C + (i0 + i) * g->N + j + b;
            *c = g->accumulate ? *c + s : s;
        }
}

/* Columns [j0, j1) for rows [i0, i0+m): jb weight rows at a time, chosen so
 * m*jb accumulators fit the 32 registers with room for the loads. */
static ALWAYS_INLINE void gemv_cols(const gemv_job *g, const int bf16, long i0, const int m,
                                    long j0, long j1)
{
    const int jb = m == 1 ? 8 : m == 2 ? 6 : m <= 4 ? 4 : 3;
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

static void gemv_run(const gemv_job *g)
{
    /* Split the weight rows in chunks of 48 (a multiple of every jb). */
    double macs = (double)g->M * g->N * g->K;
    long chunks = (g->N + 47) / 48;
    if (parts_for(macs, chunks) > 1)
        par_for(g->N, 48, gemv_range, (void *)g);
    else
        gemv_range((void *)g, 0, g->N);
}

/* ---- entry points --------------------------------------------------------- */

/* K == 0: the product is zero; what is left is the bias and the old C. */
static void empty_product(float *C, const float *bias, long M, long N, int accumulate)
{
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            float s = bias ? bias[j] : 0.0f;
            C[i * N + j] = accumulate ? C[i * N + j] + s : s;
        }
}

static void nt_any(float *C, const float *A, const void *B, int bf16, const float *bias, int M,
                   int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, bias, M, N, accumulate);
        return;
    }
    if (M <= GEMV_MAX_M) {
        gemv_job g = {C, A, B, bf16, bias, M, N, K, accumulate};
        gemv_run(&g);
        return;
    }
    gemm_job g = {
        .C = C,
        .ldc = N,
        .A = {A, K, M, 1, 0},
        .B = {B, K, N, 1, bf16},
        .bias = bias,
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
    };
    gemm_run(&g);
}

void kx_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                  int accumulate)
{
    nt_any(C, A, B, 0, bias, M, N, K, accumulate);
}

void kx_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                       int K, int accumulate)
{
    nt_any(C, A, B, 1, bias, M, N, K, accumulate);
}

void kx_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, NULL, M, N, accumulate);
        return;
    }
    gemm_job g = {
        .C = C,
        .ldc = N,
        .A = {A, K, M, 1, 0},
        .B = {B, N, N, 0, 0},
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
    };
    gemm_run(&g);
}

void kx_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, NULL, M, N, accumulate);
        return;
    }
    gemm_job g = {
        .C = C,
        .ldc = N,
        .A = {A, M, M, 0, 0},
        .B = {B, N, N, 0, 0},
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
    };
    gemm_run(&g);
}
