/* Math the compiler can vectorize: libm's expf and tanhf are calls it
 * cannot (without -ffast-math), and in element-wise loops they cost more
 * than everything else (tanhf alone took a fifth of a pipeline stage's
 * time, GELU's backward 8x as long as with vec_expf). */
#ifndef PLAIT_KERNELS_CPU_VECMATH_H
#define PLAIT_KERNELS_CPU_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x: Cephes' expf (relative error under 1e-7): x = n ln2 + r,
 * a degree-6 polynomial for e^r, 2^n put into the exponent bits. Adding
 * 1.5 * 2^23 rounds x / ln2 to the integer n, which then sits in the sum's
 * low mantissa bits. Outside [-87, 88] (2^n would leave the normal floats)
 * the result is 0 or infinity. */
static inline float vec_expf(float in)
{
    const float round_shift = 12582912.0f;
    float x = in < -87.0f ? -87.0f : in;
    x = x > 88.0f ? 88.0f : x;
    float shifted = x * 1.44269504088896341f + round_shift, n = shifted - round_shift;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* Unsigned: a NaN's bits must wrap, not overflow (its result is NaN anyway). */
    uint32_t n_bits, scale_bits;
    memcpy(&n_bits, &shifted, sizeof n_bits);
    scale_bits = (n_bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    float e = in > 88.0f ? INFINITY : p * scale;
    return in < -87.0f ? 0.0f : e;
}

#endif
