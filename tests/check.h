/* A minimal test harness: CHECK records a failure with its location and goes
 * on, so one run reports every broken expectation. A test program returns
 * check_status(): 0 when all passed, 1 otherwise. */
#ifndef PLAIT_TESTS_CHECK_H
#define PLAIT_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Counted atomically: checks also run on threads at once (the ranks of
 * tests/io/thread_comm.h), where a plain ++ is a data race. */
static int check_failures;
static int check_count;
#define CHECK_TALLY(counter) __atomic_fetch_add(&(counter), 1, __ATOMIC_RELAXED)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        CHECK_TALLY(check_count);                                                                  \
        if (!(cond)) {                                                                             \
            CHECK_TALLY(check_failures);                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        CHECK_TALLY(check_count);                                                                  \
        if (!(cond)) {                                                                             \
            CHECK_TALLY(check_failures);                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                         \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))

#define CHECK_STR_EQ(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

#define CHECK_STR_CONTAINS(haystack, needle)                                                       \
    CHECK_MSG(strstr((haystack), (needle)) != NULL, "\"%s\" does not contain \"%s\"", (haystack),  \
              (needle))

/* Exit code that tells tests/run the test was skipped; print why first. */
#define CHECK_SKIP 77

static inline int check_status(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
