/* model/kernels: the compute kernels the transformer's layer functions
 * call - matrix products, with the weight matrix in PyTorch's Linear
 * layout [out, in] - behind one small API, so faster paths (AVX-512,
 * bf16, threads) sit behind it without the layers changing.
 *
 * Shapes are row-major. "nt" means the second operand is used transposed:
 *   C[M,N] = A[M,K] . B[N,K]^T (+ bias[N]) (+ C if accumulate)
 * which is x @ W.T + b for a Linear layer with W [out=N, in=K]. */
#ifndef RETRAIN_MODEL_KERNELS_H
#define RETRAIN_MODEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C[M,N] = A[M,K] . B[N,K]^T + bias (bias may be NULL); with accumulate,
 * the product is added to C instead of replacing it. */
void k_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                 int accumulate);

/* The same with B stored as bfloat16 (the upper 16 bits of an fp32). A
 * stays fp32: each product is a bf16 weight times an fp32 activation in
 * fp32, so the result differs from k_matmul_nt on the widened weights only
 * by summation order (about 1e-6 relative). */
void k_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                      int K, int accumulate);

/* The same product with A rounded to bfloat16 as well, so both operands
 * feed the CPU's bf16 dot-product instruction (vdpbf16ps: twice the
 * multiply-adds per instruction of fp32 FMA). The rounding of A costs
 * accuracy: each activation moves by up to 2^-9 (0.2%) relative; measured
 * on random data (K = 64..3072) the error is about 2^-9 / sqrt(K) of the sum
 * of |terms|, which, where terms cancel as in random data, is 0.5-1.5% of
 * the result itself - against about 1e-7 for k_matmul_nt_bf16. Sums are
 * still fp32. For inference where that is acceptable; training and
 * anything checked against fp32 should use k_matmul_nt_bf16. */
void k_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                          int N, int K, int accumulate);

/* C[M,N] (+)= A[M,K] . B[K,N]  (both plain row-major; backward passes) */
void k_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

/* The same with B in bfloat16 (backward through frozen bf16 weights). */
void k_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                      int accumulate);

/* C[M,N] (+)= A[K,M]^T . B[K,N]  (weight gradients: dW = dY^T . X) */
void k_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

/* bfloat16 <-> float32 (round to nearest even). */
static inline float k_bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

static inline uint16_t k_f32_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* Which implementation runs ("avx512", "avx2" or "portable"), for reports.
 * The choice is made on first use from cpuid: AVX-512 F/BW/DQ/VL with BF16,
 * else AVX2 with FMA, else portable; the environment variable
 * RETRAIN_KERNELS (avx512, avx2, portable) asks for another one. */
const char *k_backend_name(void);

/* Chooses the implementation: "auto" (the best cpuid allows), "avx512",
 * "avx2" or "portable". Returns 0, or -1 (nothing changed) for an unknown
 * name or one this CPU cannot run. For tests and benchmarks; not
 * thread-safe against products running at the same time.
 *
 * The fast paths use the base/threads pool (par_set_threads() sets how many
 * threads; RETRAIN_THREADS at start-up). */
int k_set_backend(const char *name);

#endif
