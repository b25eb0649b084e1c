/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal unit-test helpers: CHECK(cond) records a failure and goes on;
 * TEST(fn) runs a test function; main returns test_summary(). */
#ifndef MOAT_TEST_H
#define MOAT_TEST_H

#include <stdio.h>
#include <string.h>

static int t_failed, t_checks, t_tests, t_tests_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failed++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define TEST(fn)                                                                                   \
    do {                                                                                           \
        int before_ = t_failed;                                                                    \
        t_tests++;                                                                                 \
        fn();                                                                                      \
        if (t_failed != before_) {                                                                 \
            t_tests_failed++;                                                                      \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        }                                                                                          \
    } while (0)

static inline int test_summary(const char *suite)
{
    printf("%s: %d tests, %d checks: %d passed, %d failed\n", suite, t_tests, t_checks,
           t_tests - t_tests_failed, t_tests_failed);
    return t_tests_failed ? 1 : 0;
}

#endif
