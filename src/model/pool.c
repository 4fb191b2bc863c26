/* model/pool: persistent workers, woken per job.
 *
 * Why persistent and spinning: a decode step runs a few dozen small jobs
 * (tens of microseconds each); creating threads or sleeping on a condition
 * variable after every job would cost as much as the job. A worker spins
 * for POOL_SPIN_NS after its last job, then sleeps, so an idle program
 * costs nothing.
 *
 * Protocol: the caller holds g_run (one job at a time), writes the job,
 * sets g_pending to the number of workers and bumps g_gen; every worker
 * runs its part (if it has one) and decrements g_pending; the caller runs
 * part 0 and waits for g_pending == 0 before the job may change. A worker
 * about to sleep counts itself in g_sleepers under g_sleep_lock and checks
 * g_gen again; the caller bumps g_gen before it reads g_sleepers (both
 * sequentially consistent), so a wake-up cannot be lost. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../base/base.h"

#define POOL_MAX 64
#define POOL_SPIN_NS 100000u

typedef struct {
    pool_fn fn;
    void *ctx;
    int nparts;
} job_t;

static pthread_mutex_t g_run = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static job_t g_job;
static atomic_uint g_gen;
static atomic_int g_pending;
static atomic_int g_sleepers;
static int g_nworkers;
static unsigned g_start_gen[POOL_MAX];
static atomic_int g_want;
static _Thread_local int t_in_job;

static inline void relax(void)
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
        return n > POOL_MAX ? POOL_MAX : (int)n;
    cpu_set_t set;
    n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                    : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > POOL_MAX ? POOL_MAX : (int)n;
}

int pool_threads(void)
{
    int n = atomic_load(&g_want);
    if (n == 0) {
        int zero = 0;
        n = default_threads();
        if (!atomic_compare_exchange_strong(&g_want, &zero, n))
            n = zero;
    }
    return n;
}

void pool_set_threads(int n)
{
    atomic_store(&g_want, n < 1 ? default_threads() : n > POOL_MAX ? POOL_MAX : n);
}

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    unsigned seen = g_start_gen[tid];
    for (;;) {
        unsigned gen;
        uint64_t t0 = time_now_ns();
        int spins = 0;
        while ((gen = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
            relax();
            if (++spins % 256 == 0 && time_now_ns() - t0 > POOL_SPIN_NS)
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
        seen = gen;
        job_t job = g_job;
        if (tid < job.nparts) {
            t_in_job = 1;
            job.fn(job.ctx, tid, job.nparts);
            t_in_job = 0;
        }
        atomic_fetch_sub_explicit(&g_pending, 1, memory_order_release);
    }
    return NULL;
}

/* Starts workers until n threads (the caller included) can run a job;
 * returns how many can. Called with g_run held. */
static int ensure_workers(int n)
{
    while (g_nworkers < n - 1) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t th;
        g_start_gen[g_nworkers + 1] = atomic_load(&g_gen);
        int rc = pthread_create(&th, &attr, worker, (void *)(intptr_t)(g_nworkers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            log_warn("pool: could not start a worker thread; running with %d", g_nworkers + 1);
            break;
        }
        g_nworkers++;
    }
    return g_nworkers + 1 < n ? g_nworkers + 1 : n;
}

void pool_run(int nparts, pool_fn fn, void *ctx)
{
    if (nparts <= 0)
        return;
    int limit = pool_threads();
    if (nparts > limit)
        nparts = limit;
    if (nparts == 1 || t_in_job || pthread_mutex_trylock(&g_run) != 0) {
        for (int t = 0; t < nparts; t++)
            fn(ctx, t, nparts);
        return;
    }
    nparts = ensure_workers(nparts);
    if (nparts == 1) {
        pthread_mutex_unlock(&g_run);
        fn(ctx, 0, 1);
        return;
    }
    g_job = (job_t){fn, ctx, nparts};
    atomic_store(&g_pending, g_nworkers);
    atomic_fetch_add(&g_gen, 1);
    if (atomic_load(&g_sleepers) > 0) {
        pthread_mutex_lock(&g_sleep_lock);
        pthread_cond_broadcast(&g_wake);
        pthread_mutex_unlock(&g_sleep_lock);
    }
    t_in_job = 1;
    fn(ctx, 0, nparts);
    t_in_job = 0;
    int spins = 0;
    uint64_t t0 = 0;
    while (atomic_load_explicit(&g_pending, memory_order_acquire) > 0) {
        relax();
        /* A preempted worker may need this core: stop burning it. */
        if (++spins % 256 == 0) {
            if (!t0)
                t0 = time_now_ns();
            else if (time_now_ns() - t0 > POOL_SPIN_NS)
                sched_yield();
        }
    }
    pthread_mutex_unlock(&g_run);
}

typedef struct {
    pool_range_fn fn;
    void *ctx;
    long n, grain;
} range_t;

static void range_part(void *p, int t, int nparts)
{
    const range_t *r = p;
    long grains = (r->n + r->grain - 1) / r->grain;
    long i0 = grains * t / nparts * r->grain, i1 = grains * (t + 1) / nparts * r->grain;
    if (i1 > r->n)
        i1 = r->n;
    if (i0 < i1)
        r->fn(r->ctx, i0, i1);
}

void pool_for(long n, long grain, pool_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    long grains = (n + grain - 1) / grain;
    int nparts = pool_threads();
    if (grains < nparts)
        nparts = (int)grains;
    if (nparts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    range_t r = {fn, ctx, n, grain};
    pool_run(nparts, range_part, &r);
}
