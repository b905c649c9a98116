/* GELU (tanh approximation) forward and backward, and residual + bias, one
 * thread per element (blocks(n) x THREADS), as kernels/cpu/elementwise.c.
 * Needs tanhf and size_t from the includer. */
#ifndef PLAIT_KERNELS_CUDA_ELEMENTWISE_CUH
#define PLAIT_KERNELS_CUDA_ELEMENTWISE_CUH

constexpr float GELU_SCALE = 0.7978845608028654f; /* sqrt(2 / pi) */

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = inp[i], th = tanhf(GELU_SCALE * (x + 0.044715f * x * x * x));
    float grad =
        0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_SCALE * (1.0f + 0.134145f * x * x);
    dinp[i] = grad * dout[i];
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
