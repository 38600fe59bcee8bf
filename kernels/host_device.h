// TG_HOST_DEVICE: a function compiled for the host and, under nvcc, for the GPU too, so the
// CPU and CUDA kernels share one definition (philox.h, optimizer_math.h, dtype_dispatch.h).
#pragma once

#if defined(__CUDACC__)
#define TG_HOST_DEVICE __host__ __device__
#else
#define TG_HOST_DEVICE
#endif
