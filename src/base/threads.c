/* base/threads: one small pool of persistent worker threads, and a
 * parallel-for on top of it, for the compute kernels.
 *
 * Why persistent: a decode-step matrix product takes 20-400 us, so creating
 * threads per call (tens of us) would eat the gain. Workers spin for a short
 * while after each job (a new job usually follows within microseconds while
 * a model runs) and then sleep on a condition variable, so an idle program
 * costs nothing.
 *
 * Protocol: the caller publishes a job, bumps the generation counter and
 * runs part 0 itself; worker t runs part t when t < nparts; every worker,
 * whether it had a part or not, decrements `pending` once it has read the
 * job and run its part, and the caller waits for pending == 0, so the job
 * is never rewritten while a worker may still read it. A worker
 * that goes to sleep first counts itself in `sleepers` and then re-checks
 * the generation, while the caller bumps the generation before it reads
 * `sleepers` (both sequentially consistent), so a wake-up cannot be lost. */
#include "base.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define PAR_MAX_THREADS 64
/* How long a worker (and a waiting caller) spins before it sleeps. */
#define PAR_SPIN_NS 200000u

typedef struct {
    par_fn fn;
    void *ctx;
    int nparts;
} par_job;

/* One job at a time; also guards g_nworkers and worker creation. */
static pthread_mutex_t g_run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;

static par_job g_job;
static atomic_uint g_gen;
static atomic_int g_pending;
static atomic_int g_sleepers;
static int g_nworkers; /* started workers (threads beyond the caller) */
/* The generation each worker starts from: set under g_run_lock before it is
 * created, so a worker that starts late cannot miss the job it was made for. */
static unsigned g_start_gen[PAR_MAX_THREADS];
static atomic_int g_want;          /* threads a job may use, the caller included; 0 = not decided */
static _Thread_local int t_in_job; /* set while this thread runs a part */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int default_threads(void)
{
    const char *env = getenv("RETRAIN_THREADS");
    long n;
    if (env && parse_long(env, &n) == 0 && n >= 1)
        return n > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        n = CPU_COUNT(&set);
    } else {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    if (n < 1)
        n = 1;
    return n > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)n;
}

static void *worker_main(void *arg)
{
    int tid = (int)(intptr_t)arg;
    unsigned seen = g_start_gen[tid];
    for (;;) {
        unsigned gen = atomic_load_explicit(&g_gen, memory_order_acquire);
        if (gen == seen) {
            uint64_t t0 = time_now_ns();
            int spins = 0;
            while ((gen = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
                cpu_relax();
                if (++spins % 256 == 0 && time_now_ns() - t0 > PAR_SPIN_NS)
                    break;
            }
            if (gen == seen) {
                pthread_mutex_lock(&g_sleep_lock);
                atomic_fetch_add(&g_sleepers, 1);
                while ((gen = atomic_load(&g_gen)) == seen)
                    pthread_cond_wait(&g_wake, &g_sleep_lock);
                atomic_fetch_sub(&g_sleepers, 1);
                pthread_mutex_unlock(&g_sleep_lock);
            }
        }
        seen = gen;
        par_job job = g_job; /* published before the generation bump */
        if (tid < job.nparts) {
            t_in_job = 1;
            job.fn(job.ctx, tid, job.nparts);
            t_in_job = 0;
        }
        atomic_fetch_sub_explicit(&g_pending, 1, memory_order_release);
    }
    return NULL;
}

/* Starts workers up to n-1 (the caller is thread 0); returns how many
 * threads a job can use. Thread creation failure just means fewer. Called
 * with g_run_lock held, so g_gen does not move meanwhile. */
static int ensure_workers(int n)
{
    while (g_nworkers < n - 1) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t th;
        g_start_gen[g_nworkers + 1] = atomic_load(&g_gen);
        int rc = pthread_create(&th, &attr, worker_main, (void *)(intptr_t)(g_nworkers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            log_warn("threads: could not start worker %d; running with %d", g_nworkers + 1,
                     g_nworkers + 1);
            break;
        }
        g_nworkers++;
    }
    int have = g_nworkers + 1;
    return have < n ? have : n;
}

int par_threads(void)
{
    int n = atomic_load(&g_want);
    if (n == 0) {
        n = default_threads();
        int zero = 0;
        if (!atomic_compare_exchange_strong(&g_want, &zero, n))
            n = zero;
    }
    return n;
}

void par_set_threads(int n)
{
    if (n < 1)
        n = default_threads();
    if (n > PAR_MAX_THREADS)
        n = PAR_MAX_THREADS;
    atomic_store(&g_want, n);
}

static void run_serial(int nparts, par_fn fn, void *ctx)
{
    for (int t = 0; t < nparts; t++)
        fn(ctx, t, nparts);
}

void par_run(int nparts, par_fn fn, void *ctx)
{
    if (nparts <= 0)
        return;
    int limit = par_threads();
    if (nparts > limit)
        nparts = limit;
    /* A part that itself calls par_run, or a second application thread
     * while a job runs, gets the parts one after another on its own thread:
     * correct, and the pool's threads are busy anyway. */
    if (nparts == 1 || t_in_job || pthread_mutex_trylock(&g_run_lock) != 0) {
        run_serial(nparts, fn, ctx);
        return;
    }
    nparts = ensure_workers(nparts);
    if (nparts == 1) {
        pthread_mutex_unlock(&g_run_lock);
        run_serial(1, fn, ctx);
        return;
    }
    g_job = (par_job){fn, ctx, nparts};
    atomic_store(&g_pending, g_nworkers);
    atomic_fetch_add(&g_gen, 1); /* seq_cst: see the protocol note at the top */
    if (atomic_load(&g_sleepers) > 0) {
        pthread_mutex_lock(&g_sleep_lock);
        pthread_cond_broadcast(&g_wake);
        pthread_mutex_unlock(&g_sleep_lock);
    }
    t_in_job = 1;
    fn(ctx, 0, nparts);
    t_in_job = 0;
    uint64_t t0 = 0;
    int spins = 0;
    while (atomic_load_explicit(&g_pending, memory_order_acquire) > 0) {
        cpu_relax();
        /* A worker that was preempted can take a while: stop burning the
         * core it may need. */
        if (++spins % 256 == 0) {
            if (!t0)
                t0 = time_now_ns();
            else if (time_now_ns() - t0 > PAR_SPIN_NS)
                sched_yield();
        }
    }
    pthread_mutex_unlock(&g_run_lock);
}

typedef struct {
    par_range_fn fn;
    void *ctx;
    long n, grain;
} range_job;

static void range_part(void *p, int t, int nparts)
{
    const range_job *j = p;
    /* Whole grains, spread as evenly as possible. */
    long grains = (j->n + j->grain - 1) / j->grain;
    long g0 = grains * t / nparts, g1 = grains * (t + 1) / nparts;
    long i0 = g0 * j->grain, i1 = g1 * j->grain;
    if (i1 > j->n)
        i1 = j->n;
    if (i0 < i1)
        j->fn(j->ctx, i0, i1);
}

void par_for(long n, long grain, par_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    long grains = (n + grain - 1) / grain;
    int nparts = par_threads();
    if (grains < nparts)
        nparts = (int)grains;
    range_job j = {fn, ctx, n, grain};
    par_run(nparts, range_part, &j);
}
