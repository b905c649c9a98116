/* The optimizer's kernels: AdamW, the squared sum behind the global gradient
 * norm and the scaling that clips it, as kernels/cpu/adamw.c and
 * kernels/cpu/backend.c. One thread per element (blocks(n) x THREADS) except
 * the squared sum (sumsq_blocks(n) x THREADS). Needs kernels/cuda/launch.cuh,
 * sqrtf, atomicAdd on double and size_t from the includer. */
#ifndef PLAIT_KERNELS_CUDA_OPTIMIZER_CUH
#define PLAIT_KERNELS_CUDA_OPTIMIZER_CUH

/* bc1 and bc2: the bias corrections 1 - beta^step. */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float lr,
                             float beta1, float beta2, float eps, float wd, float bc1, float bc2)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
    float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
}

/* At most 1024 blocks, each striding over the whole tensor: one atomic per
 * block, however large the tensor. */
inline unsigned sumsq_blocks(size_t n)
{
    return blocks(n) < 1024 ? blocks(n) : 1024;
}

/* Adds the sum of squares of p to *out, in double: a block reduces its
 * threads' shares in shared memory, then adds one atomic. */
__global__ void sumsq_kernel(double *out, const float *p, size_t n)
{
    __shared__ double part[THREADS];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)p[i] * p[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int k = THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k)
            part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(out, part[0]);
}

__global__ void scale_kernel(float *p, size_t n, float factor)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= factor;
}

#endif
