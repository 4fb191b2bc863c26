/* model/pool: a small persistent pool of worker threads for the layer
 * functions (attention over (batch, head), row-parallel norms, the
 * log-softmax over the vocabulary, sampling across sequences).
 *
 * Its shape follows the parallel-for the kernels use: a job is
 * fn(ctx, part, nparts) for part = 0..nparts-1, part 0 on the calling
 * thread. Prefix pool_. */
#ifndef RETRAIN_MODEL_POOL_H
#define RETRAIN_MODEL_POOL_H

typedef void (*pool_fn)(void *ctx, int part, int nparts);
typedef void (*pool_range_fn)(void *ctx, long i0, long i1);

/* Threads a job may use, the caller's included: RETRAIN_THREADS, else
 * the CPUs this process may run on. */
int pool_threads(void);
/* Sets that number (n < 1: back to the default). */
void pool_set_threads(int n);
/* Runs fn for part = 0..nparts-1 (nparts capped at pool_threads()) and
 * returns when all are done. Called from inside a part, or while another
 * thread's job runs, it runs the parts one after another on the caller. */
void pool_run(int nparts, pool_fn fn, void *ctx);
/* Splits [0, n) into contiguous chunks of whole grains, one per thread,
 * and calls fn(ctx, i0, i1) for each non-empty chunk. With work below
 * about one grain per thread it simply runs on the caller. */
void pool_for(long n, long grain, pool_range_fn fn, void *ctx);

#endif
