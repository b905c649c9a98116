/* Element-wise reductions for the host collectives. bf16 sums are formed in
 * float and rounded to nearest even, as NCCL does. */
#include <string.h>

#include "runtime/internal.h"

float plait_bf16_to_float(uint16_t v)
{
    uint32_t bits = (uint32_t)v << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t plait_float_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a quiet NaN */
        return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

/* Built for each of these targets, picked at load time for the CPU it runs on:
 * the default x86-64 build has only SSE2, and wider vectors cut the time of a
 * reduction out of cache. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
sum_float(float *restrict d, const float *restrict s, size_t count)
{
    for (size_t i = 0; i < count; i++)
        d[i] += s[i];
}

void plait_reduce_sum(void *restrict dst, const void *restrict src, size_t count,
                      plait_dtype_t dtype)
{
    if (dtype == PLAIT_FLOAT32) {
        sum_float(dst, src, count);
        return;
    }
    uint16_t *restrict d = dst;
    const uint16_t *restrict s = src;
    for (size_t i = 0; i < count; i++)
        d[i] = plait_float_to_bf16(plait_bf16_to_float(d[i]) + plait_bf16_to_float(s[i]));
}

/* Elements per block: a block of every source and the destination stay in
 * L1 while the sources are summed into it. */
#define MANY_BLOCK 1024

/* bf16: the sum is formed in float over all sources and rounded once. */
static void reduce_many_bf16(uint16_t *dst, const void *const *srcs, int nsrc, size_t count,
                             int divisor)
{
    float acc[MANY_BLOCK];
    for (size_t i = 0; i < count; i++)
        acc[i] = plait_bf16_to_float(((const uint16_t *)srcs[0])[i]);
    for (int k = 1; k < nsrc; k++) {
        const uint16_t *s = srcs[k];
        for (size_t i = 0; i < count; i++)
            acc[i] += plait_bf16_to_float(s[i]);
    }
    for (size_t i = 0; i < count; i++)
        dst[i] = plait_float_to_bf16(divisor == 1 ? acc[i] : acc[i] / (float)divisor);
}

/* d = a + b, and the same into d2 unless it is NULL, in one pass; d may be a
 * or b (the caller's own data reduced in place). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
sum2_float(float *d, float *restrict d2, const float *a, const float *b, size_t count)
{
    if (!d2) {
        for (size_t i = 0; i < count; i++)
            d[i] = a[i] + b[i];
        return;
    }
    for (size_t i = 0; i < count; i++) {
        float s = a[i] + b[i];
        d[i] = s;
        d2[i] = s;
    }
}

void plait_reduce_many(void *dst, void *dst2, const void *const *srcs, int nsrc, size_t count,
                       plait_dtype_t dtype, int divisor)
{
    /* Two sources summed as they are: one pass, no staging through acc. */
    if (dtype == PLAIT_FLOAT32 && nsrc == 2 && divisor == 1) {
        sum2_float(dst, dst2, srcs[0], srcs[1], count);
        return;
    }
    size_t es = plait_dtype_size(dtype);
    const void *src[nsrc];
    float acc[MANY_BLOCK];
    for (size_t o = 0; o < count; o += MANY_BLOCK) {
        size_t n = count - o < MANY_BLOCK ? count - o : MANY_BLOCK;
        char *d = (char *)dst + o * es;
        for (int k = 0; k < nsrc; k++)
            src[k] = (const char *)srcs[k] + o * es;
        if (dtype == PLAIT_BFLOAT16) {
            reduce_many_bf16((uint16_t *)d, src, nsrc, n, divisor);
        } else {
            /* Summed in acc, not in d: d may be any of the sources. */
            if (nsrc > 1)
                sum2_float(acc, NULL, src[0], src[1], n);
            else
                memcpy(acc, src[0], n * es);
            for (int k = 2; k < nsrc; k++)
                sum_float(acc, src[k], n);
            plait_scale(acc, n, dtype, divisor);
            memcpy(d, acc, n * es);
        }
        if (dst2)
            memcpy((char *)dst2 + o * es, d, n * es);
    }
}

void plait_scale(void *buf, size_t count, plait_dtype_t dtype, int divisor)
{
    if (divisor == 1)
        return;
    if (dtype == PLAIT_FLOAT32) {
        float *b = buf;
        for (size_t i = 0; i < count; i++)
            b[i] /= (float)divisor;
        return;
    }
    uint16_t *b = buf;
    for (size_t i = 0; i < count; i++)
        b[i] = plait_float_to_bf16(plait_bf16_to_float(b[i]) / (float)divisor);
}

size_t plait_dtype_size(plait_dtype_t dtype)
{
    return dtype == PLAIT_FLOAT32 ? 4 : dtype == PLAIT_BFLOAT16 ? 2 : 0;
}
