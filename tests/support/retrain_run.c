/* Test support: running the retrain binary under test (see proc.h). Apart
 * from proc.c, which the benchmarks link without the test harness. */
#include "../test.h"
#include "proc.h"

int retrain_run(const char *sub, char *const args[], char **out, char **err, int timeout_ms)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)test_retrain_bin();
    if (sub)
        argv[n++] = (char *)sub;
    for (int i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return child_run(argv, out, err, timeout_ms);
}
