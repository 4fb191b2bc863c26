/* base/threads: the pool runs every part exactly once, on distinct
 * threads, returns only when all are done, and copes with nesting, size
 * changes and calls from several threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "../../src/base/base.h"
#include "../test.h"

typedef struct {
    atomic_int calls;
    atomic_int seen[64];
    int nparts_seen;
    pthread_t who[64];
} part_log;

static void log_part(void *ctx, int part, int nparts)
{
    part_log *l = ctx;
    atomic_fetch_add(&l->calls, 1);
    atomic_fetch_add(&l->seen[part], 1);
    l->who[part] = pthread_self();
    l->nparts_seen = nparts;
}

TEST(threads_run_calls_each_part_once)
{
    for (int want = 1; want <= 4; want++) {
        par_set_threads(want);
        CHECK(par_threads() == want);
        for (int rep = 0; rep < 200; rep++) {
            part_log l = {0};
            par_run(want, log_part, &l);
            CHECK_MSG(atomic_load(&l.calls) == want, "threads=%d: %d calls", want,
                      atomic_load(&l.calls));
            for (int t = 0; t < want; t++)
                CHECK_MSG(atomic_load(&l.seen[t]) == 1, "part %d ran %d times", t,
                          atomic_load(&l.seen[t]));
            CHECK(l.nparts_seen == want);
            /* part 0 runs on the caller, the others elsewhere */
            CHECK(pthread_equal(l.who[0], pthread_self()));
            for (int t = 1; t < want; t++)
                CHECK(!pthread_equal(l.who[t], pthread_self()));
        }
    }
    par_set_threads(0);
}

TEST(threads_run_caps_parts_at_pool_size)
{
    par_set_threads(2);
    part_log l = {0};
    par_run(7, log_part, &l);
    CHECK(atomic_load(&l.calls) == 2);
    CHECK(l.nparts_seen == 2);
    part_log none = {0};
    par_run(0, log_part, &none);
    CHECK(atomic_load(&none.calls) == 0);
    par_set_threads(0);
    CHECK(par_threads() >= 1);
}

typedef struct {
    atomic_int hits[1000];
    atomic_int chunks;
} range_log;

static void mark_range(void *ctx, long i0, long i1)
{
    range_log *r = ctx;
    atomic_fetch_add(&r->chunks, 1);
    for (long i = i0; i < i1; i++)
        atomic_fetch_add(&r->hits[i], 1);
}

TEST(threads_for_covers_range_once_in_whole_grains)
{
    static const long ns[] = {1, 2, 3, 47, 48, 49, 999, 1000};
    static const long grains[] = {1, 7, 48, 2000};
    par_set_threads(2);
    for (size_t a = 0; a < ARRAY_LEN(ns); a++)
        for (size_t b = 0; b < ARRAY_LEN(grains); b++) {
            range_log *r = xcalloc(1, sizeof *r);
            par_for(ns[a], grains[b], mark_range, r);
            for (long i = 0; i < ns[a]; i++)
                CHECK_MSG(atomic_load(&r->hits[i]) == 1, "n=%ld grain=%ld: index %ld hit %d times",
                          ns[a], grains[b], i, atomic_load(&r->hits[i]));
            long grains_total = (ns[a] + grains[b] - 1) / grains[b];
            CHECK(atomic_load(&r->chunks) == (grains_total < 2 ? grains_total : 2));
            free(r);
        }
    range_log *r = xcalloc(1, sizeof *r);
    par_for(0, 10, mark_range, r);
    CHECK(atomic_load(&r->chunks) == 0);
    free(r);
    par_set_threads(0);
}

/* A part that starts a job of its own gets it run on its own thread. */
static void nested_part(void *ctx, int part, int nparts)
{
    part_log *inner = (part_log *)ctx + 1 + part;
    par_run(2, log_part, inner);
}

TEST(threads_nested_run_is_serial_and_complete)
{
    par_set_threads(2);
    part_log logs[3] = {0};
    par_run(2, nested_part, logs);
    for (int p = 1; p <= 2; p++) {
        CHECK(atomic_load(&logs[p].calls) == 2);
        CHECK(pthread_equal(logs[p].who[0], logs[p].who[1]));
    }
    par_set_threads(0);
}

/* Several application threads at once: each job still completes, whether
 * it got the pool or ran serially. */
static void *hammer(void *arg)
{
    atomic_int *total = arg;
    for (int rep = 0; rep < 300; rep++) {
        part_log l = {0};
        par_run(2, log_part, &l);
        atomic_fetch_add(total, atomic_load(&l.calls));
    }
    return NULL;
}

TEST(threads_concurrent_callers)
{
    par_set_threads(2);
    atomic_int total = 0;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, hammer, &total) == 0);
    hammer(&total);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK_MSG(atomic_load(&total) == 4 * 300 * 2, "total %d", atomic_load(&total));
    par_set_threads(0);
}

/* Workers that went to sleep (after the spin window) wake for new work. */
TEST(threads_wake_after_idle)
{
    par_set_threads(2);
    for (int rep = 0; rep < 3; rep++) {
        struct timespec ts = {0, 2 * 1000 * 1000}; /* past the 200 us spin */
        nanosleep(&ts, NULL);
        part_log l = {0};
        par_run(2, log_part, &l);
        CHECK(atomic_load(&l.calls) == 2);
    }
    par_set_threads(0);
}
