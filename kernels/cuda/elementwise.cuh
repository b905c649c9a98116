/* GELU (tanh approximation) forward and backward, and residual + bias, one
 * thread per element (blocks(n) x THREADS), as kernels/cpu/elementwise.c.
 * Needs expf and size_t from the includer. */
#ifndef PLAIT_KERNELS_CUDA_ELEMENTWISE_CUH
#define PLAIT_KERNELS_CUDA_ELEMENTWISE_CUH

constexpr float GELU_SCALE = 0.7978845608028654f; /* sqrt(2 / pi) */

/* (1 + tanh u) / 2 as a sigmoid of 2u, which keeps its precision where
 * 1 + tanhf(u) would cancel (large negative x). */
__device__ inline float gelu_sigmoid(float x)
{
    float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    return 1.0f / (1.0f + expf(-2.0f * u));
}

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = inp[i] * gelu_sigmoid(inp[i]);
}

/* d/dx x s(2u) = s + 2 x s (1 - s) du/dx. */
__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = inp[i], s = gelu_sigmoid(x);
    float du = GELU_SCALE * (1.0f + 0.134145f * x * x);
    dinp[i] = (s + 2.0f * x * s * (1.0f - s) * du) * dout[i];
}

/* bias may be null. */
__global__ void residual_kernel(float *out, const float *a, const float *b, const float *bias,
                                size_t rows, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * C)
        out[i] = a[i] + b[i] + (bias ? bias[i % C] : 0.0f);
}

#endif
