/* model/kernels: the run-time choice of implementation (AVX-512 with BF16,
 * else AVX2 with FMA, else portable), and the portable one - plain loops
 * the compiler vectorises, kept as the last fallback and as the reference
 * the faster paths are tested against. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "kernels_internal.h"

enum { BACKEND_UNSET, BACKEND_PORTABLE, BACKEND_AVX2, BACKEND_AVX512 };
static const char *g_backend_names[] = {"unset", "portable", "avx2", "avx512"};
static atomic_int g_backend;

static int best_backend(void)
{
    if (kx_avx512_usable())
        return BACKEND_AVX512;
    return kx2_avx2_usable() ? BACKEND_AVX2 : BACKEND_PORTABLE;
}

/* 0 for a name this CPU cannot run or that does not exist. */
static int backend_named(const char *name)
{
    if (strcmp(name, "auto") == 0)
        return best_backend();
    if (strcmp(name, "portable") == 0)
        return BACKEND_PORTABLE;
    if (strcmp(name, "avx2") == 0)
        return kx2_avx2_usable() ? BACKEND_AVX2 : 0;
    if (strcmp(name, "avx512") == 0)
        return kx_avx512_usable() ? BACKEND_AVX512 : 0;
    return 0;
}

/* The best the CPU supports, unless RETRAIN_KERNELS names another. */
static int backend(void)
{
    int b = atomic_load_explicit(&g_backend, memory_order_relaxed);
    if (b != BACKEND_UNSET)
        return b;
    b = best_backend();
    const char *env = getenv("RETRAIN_KERNELS");
    if (env && *env) {
        int want = backend_named(env);
        if (want)
            b = want;
        else
            log_warn("RETRAIN_KERNELS=%s: unknown or not supported by this CPU (auto, avx512, "
                     "avx2, portable); using %s",
                     env, g_backend_names[b]);
    }
    atomic_store_explicit(&g_backend, b, memory_order_relaxed);
    return b;
}

int k_set_backend(const char *name)
{
    int b = backend_named(name);
    if (!b)
        return -1;
    atomic_store_explicit(&g_backend, b, memory_order_relaxed);
    return 0;
}

const char *k_backend_name(void)
{
    return g_backend_names[backend()];
}

void k_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                 int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_nt(C, A, B, bias, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_nt(C, A, B, bias, M, N, K, accumulate);
        break;
    default:
        kp_matmul_nt(C, A, B, bias, M, N, K, accumulate);
    }
}

void k_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                      int K, int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_nt_bf16(C, A, B, bias, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_nt_bf16(C, A, B, bias, M, N, K, accumulate);
        break;
    default:
        kp_matmul_nt_bf16(C, A, B, bias, M, N, K, accumulate);
    }
}

void k_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                          int N, int K, int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_nt_bf16_dot(C, A, B, bias, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_nt_bf16_dot(C, A, B, bias, M, N, K, accumulate);
        break;
    default:
        kp_matmul_nt_bf16_dot(C, A, B, bias, M, N, K, accumulate);
    }
}

void k_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_nn(C, A, B, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_nn(C, A, B, M, N, K, accumulate);
        break;
    default:
        kp_matmul_nn(C, A, B, M, N, K, accumulate);
    }
}

void k_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                      int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_nn_bf16(C, A, B, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_nn_bf16(C, A, B, M, N, K, accumulate);
        break;
    default:
        kp_matmul_nn_bf16(C, A, B, M, N, K, accumulate);
    }
}

void k_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate)
{
    switch (backend()) {
    case BACKEND_AVX512:
        kx_matmul_tn(C, A, B, M, N, K, accumulate);
        break;
    case BACKEND_AVX2:
        kx2_matmul_tn(C, A, B, M, N, K, accumulate);
        break;
    default:
        kp_matmul_tn(C, A, B, M, N, K, accumulate);
    }
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

void kp_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                       int accumulate)
{
    if (!accumulate)
        memset(C, 0, sizeof(float) * (size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)i * K + k];
            const uint16_t *b = B + (size_t)k * N;
            float *c = C + (size_t)i * N;
            for (int j = 0; j < N; j++)
                c[j] += a * k_bf16_to_f32(b[j]);
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
