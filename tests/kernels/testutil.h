/* Helpers shared by the kernels tests (C, and C++ for the emulated CUDA
 * kernels): random inputs from a per-run seed, poisoned outputs and relative
 * errors. */
#ifndef PLAIT_TESTS_KERNELS_TESTUTIL_H
#define PLAIT_TESTS_KERNELS_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t test_rng_state;

/* A fresh seed each run (printed, so a failure can be replayed with
 * PLAIT_TEST_SEED). */
static inline uint64_t test_seed(void)
{
    const char *env = getenv("PLAIT_TEST_SEED");
    uint64_t seed =
        env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("seed %llu\n", (unsigned long long)seed);
    test_rng_state = seed * 2654435761ULL + 1;
    return seed;
}

static inline double test_uniform(void)
{
    test_rng_state ^= test_rng_state << 13;
    test_rng_state ^= test_rng_state >> 7;
    test_rng_state ^= test_rng_state << 17;
    return (double)(test_rng_state >> 11) * 0x1.0p-53;
}

static inline float *test_random(size_t n, float lo, float hi)
{
    float *p = (float *)malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(lo + (hi - lo) * test_uniform());
    return p;
}

/* NaN everywhere, so an element the kernel fails to write shows up. */
static inline float *test_poisoned(size_t n)
{
    float *p = (float *)malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static inline float *test_copy(const float *src, size_t n)
{
    float *p = (float *)malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = src[i];
    return p;
}

/* max |got - want| / max |want|; NaN when got holds a NaN. */
static inline double rel_err_d(const float *got, const double *want, size_t n)
{
    double diff = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (isnan(d))
            return NAN;
        diff = d > diff ? d : diff;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    return diff / scale;
}

static inline double rel_err_f(const float *got, const float *want, size_t n)
{
    double diff = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (isnan(d))
            return NAN;
        diff = d > diff ? d : diff;
        scale = fabs((double)want[i]) > scale ? fabs((double)want[i]) : scale;
    }
    return diff / scale;
}

/* GELU's tanh form, 0.5 x (1 + tanh u), and its derivative in float64: the
 * kernels' reference. 1 + tanh u is taken as 2 / (1 + e^-2u), which does not
 * cancel for large negative x. */
static inline void gelu_reference(double x, double *y, double *dydx)
{
    const double k = sqrt(2.0 / M_PI), u = k * (x + 0.044715 * x * x * x);
    const double s = 1.0 / (1.0 + exp(-2.0 * u));
    *y = x * s;
    *dydx = s + 2.0 * x * s * (1.0 - s) * k * (1.0 + 3.0 * 0.044715 * x * x);
}

/* GELU inputs across its range, where random inputs in [-4, 4] do not go:
 * zeros, tiny values, the far tails. */
static const float gelu_edge_inputs[] = {0.0f,  -0.0f,  1e-30f, -1e-30f, 1e-4f, -1e-4f, 0.5f,
                                         -0.5f, 2.0f,   -2.0f,  6.0f,    -6.0f, 9.0f,   -9.0f,
                                         12.0f, -12.0f, 20.0f,  -20.0f,  30.0f, -30.0f};
#define GELU_EDGE_INPUTS (sizeof gelu_edge_inputs / sizeof gelu_edge_inputs[0])

/* max over elements of |got - want| / max(|want|, floor): each element
 * against its own size, not the largest one's. NaN when got holds a NaN. */
static inline double elementwise_err(const float *got, const double *want, size_t n, double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), floor);
        if (isnan(d))
            return NAN;
        worst = d > worst ? d : worst;
    }
    return worst;
}

#endif
