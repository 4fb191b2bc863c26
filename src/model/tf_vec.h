/* model/tf_vec: what the layer files (tf_layers.c, tf_layers_bwd.c) share
 * to vectorise their loops: the multi-versioning attribute, a branch-free
 * exp, and the attention block size. Internal to model/. */
#ifndef RETRAIN_MODEL_TF_VEC_H
#define RETRAIN_MODEL_TF_VEC_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define TF_VEC __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TF_VEC
#endif

/* Queries per attention block: a block's scores are [BQ*rep, keys]. */
#define ATTN_BQ 32

/* exp(x) within 2 ulp for x in [-87, 88] (inputs are clamped there: below
 * it the result underflows to ~1e-38, which is as good as 0 for softmax).
 * Range reduction x = n ln2 + r with ln2 split in two, a degree-6
 * polynomial for e^r, and 2^n from the exponent bits. Branch-free, so
 * loops over it vectorise; glibc's expf does not. */
static inline float fexp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* round(x / ln2): adding 1.5 * 2^23 rounds to an integer */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, 4);
    return p * s;
}

#endif
