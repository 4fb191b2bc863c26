/* model/kernels: the run-time choice of implementation, and the portable
 * one - plain loops the compiler vectorises, kept as the fallback for CPUs
 * without AVX-512 and as the reference the faster paths are tested
 * against. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "kernels_internal.h"

enum { BACKEND_UNSET, BACKEND_PORTABLE, BACKEND_AVX512 };
static atomic_int g_backend;

/* The best the CPU supports, unless RETRAIN_KERNELS names another. */
static int backend(void)
{
    int b = atomic_load_explicit(&g_backend, memory_order_relaxed);
    if (b != BACKEND_UNSET)
        return b;
    b = kx_avx512_usable() ? BACKEND_AVX512 : BACKEND_PORTABLE;
    const char *env = getenv("RETRAIN_KERNELS");
    if (env && *env) {
        if (strcmp(env, "portable") == 0)
            b = BACKEND_PORTABLE;
        else if (strcmp(env, "avx512") != 0 && strcmp(env, "auto") != 0)
            log_warn("RETRAIN_KERNELS=%s: unknown (auto, avx512, portable); using %s", env,
                     b == BACKEND_AVX512 ? "avx512" : "portable");
        else if (strcmp(env, "avx512") == 0 && b != BACKEND_AVX512)
            log_warn("RETRAIN_KERNELS=avx512: this CPU lacks AVX-512 with BF16; using portable");
    }
    atomic_store_explicit(&g_backend, b, memory_order_relaxed);
    return b;
}

int k_set_backend(const char *name)
{
    int b;
    if (strcmp(name, "auto") == 0)
        b = kx_avx512_usable() ? BACKEND_AVX512 : BACKEND_PORTABLE;
    else if (strcmp(name, "portable") == 0)
        b = BACKEND_PORTABLE;
    else if (strcmp(name, "avx512") == 0 && kx_avx512_usable())
        b = BACKEND_AVX512;
    else
        return -1;
    atomic_store_explicit(&g_backend, b, memory_order_relaxed);
    return 0;
}

const char *k_backend_name(void)
{
    return backend() == BACKEND_AVX512 ? "avx512" : "portable";
}

void k_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                 int accumulate)
{
    if (backend() == BACKEND_AVX512)
        kx_matmul_nt(C, A, B, bias, M, N, K, accumulate);
    else
        kp_matmul_nt(C, A, B, bias, M, N, K, accumulate);
}

void k_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                      int K, int accumulate)
{
    if (backend() == BACKEND_AVX512)
        kx_matmul_nt_bf16(C, A, B, bias, M, N, K, accumulate);
    else
        kp_matmul_nt_bf16(C, A, B, bias, M, N, K, accumulate);
}

void k_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                          int N, int K, int accumulate)
{
    if (backend() == BACKEND_AVX512)
        kx_matmul_nt_bf16_dot(C, A, B, bias, M, N, K, accumulate);
    else
        kp_matmul_nt_bf16_dot(C, A, B, bias, M, N, K, accumulate);
}

void k_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (backend() == BACKEND_AVX512)
        kx_matmul_nn(C, A, B, M, N, K, accumulate);
    else
        kp_matmul_nn(C, A, B, M, N, K, accumulate);
}

void k_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    if (backend() == BACKEND_AVX512)
        kx_matmul_tn(C, A, B, M, N, K, accumulate);
    else
        kp_matmul_tn(C, A, B, M, N, K, accumulate);
}

/* ---- portable ------------------------------------------------------------ */

void kp_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
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

void kp_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
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

/* A rounded to bf16 first, as the hardware path does; the products of two
 * bf16 values are exact in fp32, so only the summation order differs. */
void kp_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                           int N, int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * K;
        for (int j = 0; j < N; j++) {
            const uint16_t *b = B + (size_t)j * K;
            float s = 0;
            for (int k = 0; k < K; k++)
                s += k_bf16_to_f32(k_f32_to_bf16(a[k])) * k_bf16_to_f32(b[k]);
            if (bias)
                s += bias[j];
            float *c = C + (size_t)i * N + j;
            *c = accumulate ? *c + s : s;
        }
    }
}

void kp_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
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

void kp_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
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
