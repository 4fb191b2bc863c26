/* Runs the registered C tests. Usage: test-runner [SUBSTRING...] */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/base.h"
#include "test.h"

typedef struct {
    const char *name;
    test_fn fn;
} entry;

static entry *g_tests;
static size_t g_ntests, g_cap;
static int g_failed_now, g_skipped_now;
static char g_tmp[4096];
static char g_root[4096];
static char g_bin[4096];

void test_register(const char *name, test_fn fn)
{
    if (g_ntests == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 64;
        g_tests = realloc(g_tests, g_cap * sizeof *g_tests);
    }
    g_tests[g_ntests].name = name;
    g_tests[g_ntests].fn = fn;
    g_ntests++;
}

static const char *g_current;

int test_fail(const char *file, int line, const char *fmt, ...)
{
    if (!g_failed_now)
        printf("FAIL %s: %s:%d: ", g_current, file, line);
    else
        printf("     also %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    g_failed_now = 1;
    return 0;
}

void test_skip(const char *fmt, ...)
{
    printf("skip %s: ", g_current);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    g_skipped_now = 1;
}

const char *test_tmpdir(void)
{
    if (!g_tmp[0]) {
        snprintf(g_tmp, sizeof g_tmp, "%s/retrain-test-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(g_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return g_tmp;
}

const char *test_root(void)
{
    return g_root;
}

const char *test_retrain_bin(void)
{
    return g_bin;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!getcwd(g_root, sizeof g_root))
        return 2;
    const char *bin = getenv("RETRAIN_BIN");
    snprintf(g_bin, sizeof g_bin, "%s", bin ? bin : "./retrain");
    qsort(g_tests, g_ntests, sizeof *g_tests, cmp_entry);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < g_ntests; i++) {
        int selected = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strstr(g_tests[i].name, argv[a]))
                selected = 1;
        if (!selected)
            continue;
        g_current = g_tests[i].name;
        g_failed_now = g_skipped_now = 0;
        g_tests[i].fn();
        if (g_failed_now)
            failed++;
        else if (!g_skipped_now) {
            passed++;
            printf("ok %s\n", g_tests[i].name);
        }
    }
    if (g_tmp[0]) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_tmp);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
