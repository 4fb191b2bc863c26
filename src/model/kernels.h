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

/* The same with B stored as bfloat16 (the upper 16 bits of an fp32). */
void k_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                      int K, int accumulate);

/* C[M,N] (+)= A[M,K] . B[K,N]  (both plain row-major; backward passes) */
void k_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

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

/* Which implementation runs ("avx512" or "portable"), for reports. The
 * choice is made on first use from cpuid: AVX-512 F/BW/DQ/VL with BF16, else
 * portable; the environment variable RETRAIN_KERNELS=portable forces the
 * portable code. */
const char *k_backend_name(void);

/* Chooses the implementation: "auto" (what cpuid allows), "avx512" or
 * "portable". Returns 0, or -1 (nothing changed) for an unknown name or
 * one this CPU cannot run. For tests and benchmarks; not thread-safe
 * against products running at the same time.
 *
 * The fast paths use the base/threads pool (par_set_threads() sets how many
 * threads; RETRAIN_THREADS at start-up). */
int k_set_backend(const char *name);

#endif
