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

void plait_reduce_sum(void *restrict dst, const void *restrict src, size_t count,
                      plait_dtype_t dtype)
{
    if (dtype == PLAIT_FLOAT32) {
        float *restrict d = dst;
        const float *restrict s = src;
        for (size_t i = 0; i < count; i++)
            d[i] += s[i];
        return;
    }
    uint16_t *restrict d = dst;
    const uint16_t *restrict s = src;
    for (size_t i = 0; i < count; i++)
        d[i] = plait_float_to_bf16(plait_bf16_to_float(d[i]) + plait_bf16_to_float(s[i]));
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
