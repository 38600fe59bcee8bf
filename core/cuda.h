// tg::cuda: is a GPU there, wait for it, and choose between our kernels and cuBLAS/cuDNN.
// Memory statistics are tg::memory_stats(Device(kCUDA, i)) (core/allocator.h).
#pragma once
#include <string>

#include "../kernels/cuda_control.h"

namespace tg::cuda {

// False when the build has no CUDA backend or no device/driver can be used (never throws).
bool is_available();
int device_count();
// Why is_available() is false ("" when it is true).
std::string unavailable_reason();
// Waits for the device's queued work; throws any error the GPU found meanwhile (bad indices).
void synchronize(int device = 0);

// Our kernels or the vendor library for a hot path; Auto: the faster one on this device.
// Environment: TG_CUDA_MATMUL=ours|cublas|auto, TG_CUDA_SOFTMAX=ours|cudnn|auto.
using Impl = kernels::cuda_control::Impl;  // Auto, Ours, Library
void set_matmul_impl(Impl impl);
Impl matmul_impl();
void set_softmax_impl(Impl impl);
Impl softmax_impl();
// TF32 tensor cores in float32 matmul, as torch.backends.cuda.matmul.allow_tf32 (default off;
// environment TG_ALLOW_TF32=1).
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace tg::cuda
