/* model/kernels: the portable implementation - plain loops the compiler
 * vectorises. The reference the faster paths are checked against. */
#include "kernels.h"

#include <string.h>

void k_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                 int accumulate)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * K;
        for (int j = 0; j < N; j++) {
            const float *b = B + (size_t)j * K;
            float s = 0;
            for (int k = 0; k < K; k++)
                s += a[k] * b[k];
            if (bias)
                s += bias[j];
            float *c = C + (size_t)i * N + j;
            *c = accumulate ? *c + s : s;
        }
    }
}

void k_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                      int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * K;
        for (int j = 0; j < N; j++) {
            const uint16_t *b = B + (size_t)j * K;
            float s = 0;
            for (int k = 0; k < K; k++)
                s += a[k] * k_bf16_to_f32(b[k]);
            if (bias)
                s += bias[j];
            float *c = C + (size_t)i * N + j;
            *c = accumulate ? *c + s : s;
        }
    }
}

void k_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (!accumulate)
        memset(C, 0, sizeof(float) * (size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)i * K + k];
            const float *b = B + (size_t)k * N;
            float *c = C + (size_t)i * N;
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
}

void k_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (!accumulate)
        memset(C, 0, sizeof(float) * (size_t)M * N);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < M; i++) {
            float a = A[(size_t)k * M + i];
            const float *b = B + (size_t)k * N;
            float *c = C + (size_t)i * N;
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
}

const char *k_backend_name(void)
{
    return "portable";
}
