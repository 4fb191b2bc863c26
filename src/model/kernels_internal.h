/* model/kernels internals: the portable implementation (kernels.c, also the
 * tests' oracle), the AVX-512 one (kernels_avx512.c) and the AVX2 one
 * (kernels_avx2.c), which kernels.c chooses between at run time. Only
 * kernels*.c and the tests include this. */
#ifndef RETRAIN_MODEL_KERNELS_INTERNAL_H
#define RETRAIN_MODEL_KERNELS_INTERNAL_H

#include "kernels.h"

void kp_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                  int accumulate);
void kp_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                       int K, int accumulate);
void kp_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                           int N, int K, int accumulate);
void kp_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);
void kp_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                       int accumulate);
void kp_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

/* 1 when this CPU (and the OS) can run the AVX-512 + BF16 code. */
int kx_avx512_usable(void);
void kx_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                  int accumulate);
void kx_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M, int N,
                       int K, int accumulate);
void kx_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                           int N, int K, int accumulate);
void kx_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);
void kx_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                       int accumulate);
void kx_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

/* 1 when this CPU can run the AVX2 + FMA code. */
int kx2_avx2_usable(void);
void kx2_matmul_nt(float *C, const float *A, const float *B, const float *bias, int M, int N, int K,
                   int accumulate);
void kx2_matmul_nt_bf16(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                        int N, int K, int accumulate);
void kx2_matmul_nt_bf16_dot(float *C, const float *A, const uint16_t *B, const float *bias, int M,
                            int N, int K, int accumulate);
void kx2_matmul_nn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);
void kx2_matmul_nn_bf16(float *C, const float *A, const uint16_t *B, int M, int N, int K,
                        int accumulate);
void kx2_matmul_tn(float *C, const float *A, const float *B, int M, int N, int K, int accumulate);

#endif
