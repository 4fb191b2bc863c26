/* A small test harness: TEST() registers a function, CHECK() fails it with
 * file:line and the expression. tests/main.c runs them and prints
 * "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed". */
#ifndef RETRAIN_TEST_H
#define RETRAIN_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
/* Records a failure of the running test; returns 0. */
int test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Marks the running test as skipped, with the reason printed. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A fresh temporary directory for the running test (removed at exit). */
const char *test_tmpdir(void);
/* The project root (for ../shared paths) and the binary under test. */
const char *test_root(void);
const char *test_retrain_bin(void);

#define TEST(name)                                                              \
    static void name(void);                                                     \
    __attribute__((constructor)) static void name##_register(void)             \
    {                                                                           \
        test_register(#name, name);                                             \
    }                                                                           \
    static void name(void)

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            test_fail(__FILE__, __LINE__, "%s", #cond);                         \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                    \
    do {                                                                        \
        if (!(cond)) {                                                          \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                         \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_STR(got, want)                                                    \
    do {                                                                        \
        const char *g_ = (got), *w_ = (want);                                   \
        if (!g_ || strcmp(g_, w_) != 0) {                                       \
            test_fail(__FILE__, __LINE__, "%s\n--- got:\n%s\n--- want:\n%s",     \
                      #got, g_ ? g_ : "(null)", w_);                            \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                             \
    do {                                                                        \
        const char *h_ = (hay), *n_ = (needle);                                 \
        if (!h_ || !strstr(h_, n_)) {                                           \
            test_fail(__FILE__, __LINE__, "%s does not contain '%s'; it is:\n%s", \
                      #hay, n_, h_ ? h_ : "(null)");                            \
            return;                                                             \
        }                                                                       \
    } while (0)

#endif
