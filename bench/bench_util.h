/* What the engine benchmarks share: this machine's ceilings measured in
 * the same run (a 2-thread AVX-512 FMA loop, a STREAM triad), peak memory,
 * and the GPT-2 124M / Qwen2.5-0.5B shapes with random weights as the
 * PyTorch peer (../shared/peers/torch_bench.py) draws them. */
#ifndef RETRAIN_BENCH_UTIL_H
#define RETRAIN_BENCH_UTIL_H

#include "../src/model/tf_internal.h"

double now_s(void);
/* VmHWM of this process in kB (-1 if unknown) */
long vm_hwm_kb(void);
/* GFLOP/s of par_threads() threads of 16-lane FMAs; 0 without AVX-512 */
double fma_ceiling(void);
/* GB/s of a STREAM triad far beyond the caches, best of 5 */
double stream_triad(void);
hf_config gpt2_config(void);
hf_config qwen_config(void);
/* matrices uniform with deviation 0.02, norm weights 1, biases 0 */
void randomise(tf_model *m, uint64_t seed);

#endif
