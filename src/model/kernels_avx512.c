/* model/kernels_avx512: the matrix products for CPUs with AVX-512
 * (F/BW/DQ/VL) and AVX512_BF16. Every function in this file is compiled for
 * those extensions (the pragma below) and is only called after
 * kx_avx512_usable() said yes, so the rest of the program keeps the plain
 * x86-64 flags.
 *
 * Two shapes of work, two methods:
 *
 * - Many rows (prefill, training): a Goto/BLIS-style packed GEMM. K is cut
 *   into equal slices of at most KC_MAX; for each slice, a block of B (kc x
 *   NC) is copied into NR-wide micro-panels laid out k-major, and for each
 *   block of A (A_BLOCK floats) A is copied into MR-row micro-panels; a
 *   14x32 register tile (28 zmm accumulators, one broadcast of A and two
 *   loads of B per 28 FMAs) then runs over them. The B micro-panel (kc x 32
 *   floats, 64 KB at most) is reused from L1/L2 by every A micro-panel of
 *   the block, which streams from L2. Packing handles every layout (nt, nn,
 *   tn; fp32, bf16 widened, or bf16 pairs for vdpbf16ps) and the ragged
 *   edges (zero padding; masked stores), so the tile never branches on k.
 *   Measured on this project's Zen 5 machine: 82-88% of the 2-thread FMA
 *   loop on the training shapes (bench/README.md).
 *
 * - Few rows (decode, M <= GEMV_MAX_M): the product is bound by reading the
 *   weights once, so no packing: each weight row is read once, straight
 *   from memory, and multiplied into every row of A (which sits in L1/L2),
 *   with several weight rows in flight and a software prefetch ahead.
 *
 * Two threads (the base/threads pool) each take a contiguous range of
 * output columns (or rows), with their own packing buffers; see gemm_run().
 *
 * The block sizes were chosen by measurement on that machine (KC_MAX 256,
 * 384, 512, 768 tried; 512 best overall, 768 loses a third at K = 3072). */
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")

#include <immintrin.h>
#include <string.h>

#include "../base/base.h"
#include "kernels_internal.h"

#define MR 14          /* rows of the register tile */
#define NR 32          /* columns of the register tile: two zmm */
#define KC_MAX 512     /* deepest packed slice of K */
#define A_BLOCK 114688 /* floats of A packed at once (448 KB, in L2) */
#define NC 3072        /* columns of B packed at once: up to 6 MB */
#define PACK_HINT _MM_HINT_T0
#define GEMV_MAX_M 8     /* at most this many rows take the streaming path */
#define GEMV_AHEAD 16384 /* bytes the weight prefetch runs ahead */
#define GEMV_HINT _MM_HINT_T0
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

/* Lanes [0, n) of 32 set. */
static ALWAYS_INLINE __mmask32 mask32_lo(long n)
{
    if (n <= 0)
        return 0;
    return n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1);
}

/* Like pack_panel, for tile_14x32_pairs: rows [r0, r0+nv) of a k-major
 * operand, depth [k0, k0+kc) with k0 even, become dst[p*R + r] where the
 * 32-bit element p holds bfloat16 k = k0+2p (low half) and k0+2p+1 (high
 * half; zero past kc). fp32 sources are rounded to nearest even. */
static void pack_panel_pairs(uint32_t *dst, const operand *op, long r0, int nv, int R, long k0,
                             int kc)
{
    int npairs = (kc + 1) / 2;
    for (int g = 0; g < R; g += 16) {
        int vg = (int)min_l(nv - g, min_l(16, R - g));
        int pf = (int)min_l(min_l(16, R - g), op->rows - (r0 + R + g));
        __mmask16 store = mask_lo(R - g);
        for (int pp = 0; pp < npairs; pp += 16) {
            long kk = k0 + 2l * pp;
            int kv = (int)min_l(32, kc - 2l * pp);
            __m512 v[16];
            for (int t = 0; t < 16; t++) {
                if (t >= vg) {
                    v[t] = _mm512_setzero_ps();
                } else if (op->bf16) {
                    const uint16_t *src = (const uint16_t *)op->p + (r0 + g + t) * op->ld + kk;
                    v[t] = _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(mask32_lo(kv), src));
                } else {
                    const float *src = (const float *)op->p + (r0 + g + t) * op->ld + kk;
                    __m512 lo = _mm512_maskz_loadu_ps(mask_lo(kv), src);
                    __m512 hi = _mm512_maskz_loadu_ps(mask_lo(kv - 16), src + 16);
                    v[t] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                }
            }
            for (int t = 0; t < pf; t++)
                prefetch_el(op, r0 + R + g + t, kk);
            transpose16(v);
            int pv = (int)min_l(16, npairs - pp);
            for (int t = 0; t < pv; t++)
                _mm512_mask_storeu_epi32(dst + (long)(pp + t) * R + g, store,
                                         _mm512_castps_si512(v[t]));
        }
    }
}

/* ---- the 14x32 register tile -------------------------------------------- */

/* Fetches the C tile while the products run: it is touched once per KC
 * slice, so it is rarely cached, and a miss at the end costs about a fifth
 * of the tile's time. */
static ALWAYS_INLINE void prefetch_c(const float *c, long ldc, int m, int n)
{
    for (int i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
}

/* c[0..m, 0..n) = acc (+ bias) (+ c when add). */
static ALWAYS_INLINE void store_tile(__m512 acc[MR][2], float *c, long ldc, int m, int n, int add,
                                     const float *bias)
{
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

/* c[0..m, 0..n) (+)= a-panel . b-panel (+ bias): `a` is kc x MR, `b` kc x NR,
 * both packed k-major. add: add to c instead of overwriting it. */
static void tile_14x32(long kc, const float *a, const float *b, float *c, long ldc, int m, int n,
                       int add, const float *bias)
{
    prefetch_c(c, ldc, m, n);
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
    store_tile(acc, c, ldc, m, n, add, bias);
}

/* The same tile on bfloat16 pairs: each 32-bit element of the panels holds
 * two consecutive k (packed by pack_panel_pairs), and vdpbf16ps multiplies
 * 16 pairs and adds both products to each fp32 lane: twice the work of an
 * FMA per instruction. */
static void tile_14x32_pairs(long npairs, const uint32_t *a, const uint32_t *b, float *c, long ldc,
                             int m, int n, int add, const float *bias)
{
    prefetch_c(c, ldc, m, n);
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (long p = 0; p < npairs; p++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
        a += MR;
        b += NR;
    }
    store_tile(acc, c, ldc, m, n, add, bias);
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
    int pairs;   /* bf16 pairs and vdpbf16ps (A rounded to bf16), else fp32 */
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
     * pass over C, and a deeper slice means fewer passes. Pairs need even
     * slice starts. */
    long slices = (g->K + KC_MAX - 1) / KC_MAX;
    long kc_step = (g->K + slices - 1) / slices;
    if (g->pairs)
        kc_step += kc_step & 1;
    long mc_step = A_BLOCK / kc_step / MR * MR;
    for (long jc = j0; jc < j1; jc += NC) {
        long nc = min_l(NC, j1 - jc);
        for (long pc = 0; pc < g->K; pc += kc_step) {
            int kc = (int)min_l(kc_step, g->K - pc);
            int first = pc == 0;
            int add = !first || g->accumulate;
            /* Panels sit kc floats apart per row either way (pairs use half). */
            for (long q = 0; q < nc; q += NR) {
                if (g->pairs)
                    pack_panel_pairs((uint32_t *)(bp + q * kc), &g->B, jc + q,
                                     (int)min_l(NR, nc - q), NR, pc, kc);
                else
                    pack_panel(bp + q * kc, &g->B, jc + q, (int)min_l(NR, nc - q), NR, pc, kc);
            }
            for (long ic = i0; ic < i1; ic += mc_step) {
                long mc = min_l(mc_step, i1 - ic);
                for (long p = 0; p < mc; p += MR) {
                    if (g->pairs)
                        pack_panel_pairs((uint32_t *)(ap + p * kc), &g->A, ic + p,
                                         (int)min_l(MR, mc - p), MR, pc, kc);
                    else
                        pack_panel(ap + p * kc, &g->A, ic + p, (int)min_l(MR, mc - p), MR, pc, kc);
                }
                for (long q = 0; q < nc; q += NR) {
                    const float *bias = first && g->bias ? g->bias + jc + q : NULL;
                    for (long p = 0; p < mc; p += MR) {
                        float *c = g->C + (ic + p) * g->ldc + jc + q;
                        int m = (int)min_l(MR, mc - p), n = (int)min_l(NR, nc - q);
                        if (g->pairs)
                            tile_14x32_pairs((kc + 1) / 2, (const uint32_t *)(ap + p * kc),
                                             (const uint32_t *)(bp + q * kc), c, g->ldc, m, n, add,
                                             bias);
                        else
                            tile_14x32(kc, ap + p * kc, bp + q * kc, c, g->ldc, m, n, add, bias);
                    }
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

/* How the weights are read: fp32; bf16 widened to fp32 (fp32 products);
 * bf16 pairs with A rounded to bf16 too (vdpbf16ps). */
enum { W_F32, W_BF16, W_PAIRS };

typedef struct {
    float *C;
    const float *A;
    const uint16_t *Abf; /* A rounded to bf16, for W_PAIRS */
    const void *B;       /* [N, K], fp32 or bf16 */
    int kind;
    const float *bias;
    long M, N, K;
    int accumulate;
} gemv_job;

/* One step of the weights: 16 k (fp32 lanes) or 32 k (bf16 pairs). */
static ALWAYS_INLINE __m512 load_w(const gemv_job *g, const int kind, long off, long left)
{
    if (kind == W_F32)
        return left >= 16 ? _mm512_loadu_ps((const float *)g->B + off)
                          : _mm512_maskz_loadu_ps(mask_lo(left), (const float *)g->B + off);
    const uint16_t *w = (const uint16_t *)g->B + off;
    if (kind == W_BF16)
        return bf16x16_to_ps(left >= 16 ? _mm256_loadu_si256((const __m256i *)w)
                                        : _mm256_maskz_loadu_epi16(mask_lo(left), w));
    return _mm512_castsi512_ps(left >= 32 ? _mm512_loadu_si512(w)
                                          : _mm512_maskz_loadu_epi16(mask32_lo(left), w));
}

static ALWAYS_INLINE __m512 load_x(const gemv_job *g, const int kind, long off, long left)
{
    if (kind == W_PAIRS)
        return _mm512_castsi512_ps(left >= 32
                                       ? _mm512_loadu_si512(g->Abf + off)
                                       : _mm512_maskz_loadu_epi16(mask32_lo(left), g->Abf + off));
    return left >= 16 ? _mm512_loadu_ps(g->A + off)
                      : _mm512_maskz_loadu_ps(mask_lo(left), g->A + off);
}

static ALWAYS_INLINE __m512 madd(const int kind, __m512 acc, __m512 x, __m512 w)
{
    if (kind == W_PAIRS)
        return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(x),
                                (__m512bh)_mm512_castps_si512(w));
    return _mm512_fmadd_ps(x, w, acc);
}

/* k positions [k, k+step) of rows [i0, i0+m) against weight rows [j, j+jb). */
static ALWAYS_INLINE void gemv_step(const gemv_job *g, const int kind, __m512 acc[GEMV_MAX_M][8],
                                    long i0, const int m, long j, const int jb, long k, long left,
                                    const char *ahead)
{
    const long K = g->K, step = kind == W_PAIRS ? 32 : 16;
    const long row_bytes = step * (kind == W_F32 ? 4 : 2); /* per row per step */
    __m512 w[8];
#pragma GCC unroll 8
    for (int b = 0; b < jb; b++) {
        w[b] = load_w(g, kind, (j + b) * K + k, left);
        if (ahead)
            _mm_prefetch(ahead + (k / step * jb + b) * row_bytes, GEMV_HINT);
    }
#pragma GCC unroll 8
    for (int i = 0; i < m; i++) {
        __m512 x = load_x(g, kind, (i0 + i) * K + k, left);
        /* One load of x for its jb products: left alone, GCC folds the load
         * into every FMA, and 512-bit loads are the scarce port. */
        __asm__("" : "+v"(x));
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++)
            acc[i][b] = madd(kind, acc[i][b], x, w[b]);
    }
}

/* Rows [i0, i0+m) of C, columns [j, j+jb): kind, m and jb are compile-time
 * constants at every call site, so the accumulators live in registers. */
static ALWAYS_INLINE void gemv_tile(const gemv_job *g, const int kind, long i0, const int m, long j,
                                    const int jb)
{
    const long K = g->K, step = kind == W_PAIRS ? 32 : 16;
    __m512 acc[GEMV_MAX_M][8];
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 8
        for (int b = 0; b < jb; b++)
            acc[i][b] = _mm512_setzero_ps();
    /* The jb weight rows are one contiguous block, and the tiles that
     * follow continue it: prefetch that stream GEMV_AHEAD bytes ahead, jb
     * steps of a row each step, which is the pace this tile reads it. The hardware prefetcher alone
     * keeps too few lines in flight once each line feeds several rows of work. */
    const char *ahead = (const char *)g->B + j * K * (kind == W_F32 ? 4 : 2) + GEMV_AHEAD;
    long k = 0;
    for (; k + step <= K; k += step)
        gemv_step(g, kind, acc, i0, m, j, jb, k, step, ahead);
    if (k < K)
        gemv_step(g, kind, acc, i0, m, j, jb, k, K - k, NULL);
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
static ALWAYS_INLINE void gemv_cols(const gemv_job *g, const int kind, long i0, const int m,
                                    long j0, long j1)
{
    const int jb = m == 1 ? 8 : m == 2 ? 6 : m <= 4 ? 4 : 3;
    long j = j0;
    for (; j + jb <= j1; j += jb)
        gemv_tile(g, kind, i0, m, j, jb);
    for (; j < j1; j++)
        gemv_tile(g, kind, i0, m, j, 1);
}

static ALWAYS_INLINE void gemv_rows(const gemv_job *g, const int kind, long j0, long j1)
{
    for (long i0 = 0; i0 < g->M; i0 += GEMV_MAX_M) {
        switch (min_l(GEMV_MAX_M, g->M - i0)) {
        case 1:
            gemv_cols(g, kind, i0, 1, j0, j1);
            break;
        case 2:
            gemv_cols(g, kind, i0, 2, j0, j1);
            break;
        case 3:
            gemv_cols(g, kind, i0, 3, j0, j1);
            break;
        case 4:
            gemv_cols(g, kind, i0, 4, j0, j1);
            break;
        case 5:
            gemv_cols(g, kind, i0, 5, j0, j1);
            break;
        case 6:
            gemv_cols(g, kind, i0, 6, j0, j1);
            break;
        case 7:
            gemv_cols(g, kind, i0, 7, j0, j1);
            break;
        default:
            gemv_cols(g, kind, i0, 8, j0, j1);
            break;
        }
    }
}

static void gemv_range(void *ctx, long j0, long j1)
{
    const gemv_job *g = ctx;
    switch (g->kind) {
    case W_F32:
        gemv_rows(g, W_F32, j0, j1);
        break;
    case W_BF16:
        gemv_rows(g, W_BF16, j0, j1);
        break;
    default:
        gemv_rows(g, W_PAIRS, j0, j1);
        break;
    }
}

/* A rounded to bf16 for W_PAIRS, kept per thread across calls. */
static _Thread_local uint16_t *t_abf;
static _Thread_local size_t t_abf_cap;

static void gemv_run(gemv_job *g)
{
    if (g->kind == W_PAIRS) {
        size_t n = (size_t)g->M * g->K;
        if (n > t_abf_cap) {
            free(t_abf);
            t_abf = xmalloc_aligned(64, sizeof(uint16_t) * n);
            t_abf_cap = n;
        }
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            _mm512_storeu_si512(t_abf + i,
                                (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(g->A + i + 16),
                                                             _mm512_loadu_ps(g->A + i)));
        for (; i < n; i++)
            t_abf[i] = k_f32_to_bf16(g->A[i]);
        g->Abf = t_abf;
    }
    /* Split the weight rows in chunks of 48 (a multiple of every jb). */
    double macs = (double)g->M * g->N * g->K;
    long chunks = (g->N + 47) / 48;
    if (parts_for(macs, chunks) > 1)
        par_for(g->N, 48, gemv_range, g);
    else
        gemv_range(g, 0, g->N);
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

static void nt_any(float *C, const float *A, const void *B, int kind, const float *bias, int M,
                   int N, int K, int accumulate)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        empty_product(C, bias, M, N, accumulate);
        return;
    }
    if (M <= GEMV_MAX_M) {
        gemv_job g = {C, A, NULL, B, kind, bias, M, N, K, accumulate};
        gemv_run(&g);
        return;
    }
    gemm_job g = {
        .C = C,
        .ldc = N,
        .A = {A, K, M, 1, 0},
        .B = {B, K, N, 1, kind != W_F32},
        .bias = bias,
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
        .pairs = kind == W_PAIRS,
    };
    gemm_run(&g);
}

void kx_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                  int accumulate)
{
    nt_any(C, A, B, W_F32, bias, M, N, K, accumulate);
}

void kx_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                       int K, int accumulate)
{
    nt_any(C, A, B, W_BF16, bias, M, N, K, accumulate);
}

void kx_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                           int N, int K, int accumulate)
{
    nt_any(C, A, B, W_PAIRS, bias, M, N, K, accumulate);
}

/* C[M,N] (+)= A[M,K] . B[K,N], B fp32 or bf16 */
static void nn_any(float *C, const float *A, const void *B, int bf16, int M, int N, int K,
                   int accumulate)
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
        .B = {B, N, N, 0, bf16},
        .M = M,
        .N = N,
        .K = K,
        .accumulate = accumulate,
    };
    gemm_run(&g);
}

void kx_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    nn_any(C, A, B, 0, M, N, K, accumulate);
}

void kx_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                       int accumulate)
{
    nn_any(C, A, B, 1, M, N, K, accumulate);
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
