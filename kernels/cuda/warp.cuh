/* Reductions across the 32 lanes of a warp; every lane gets the result. Needs
 * __shfl_xor_sync and fmaxf from the includer. */
#ifndef PLAIT_KERNELS_CUDA_WARP_CUH
#define PLAIT_KERNELS_CUDA_WARP_CUH

__device__ inline float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
