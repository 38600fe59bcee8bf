// Controls of the CUDA backend that have no place in the per-op KernelTable: device discovery,
// synchronization, and the choice between our kernels and the vendor libraries. Defined by
// kernels/cuda/runtime.cu, or by kernels/no_cuda.cpp in a build without CUDA.
#pragma once
#include <cstdint>
#include <string>

namespace tg::kernels::cuda_control {

// 0 when the build has no CUDA backend or no usable device/driver is present.
int device_count();
// Why device_count() is 0 ("" when it is not).
std::string unavailable_reason();
// Waits for all work queued on `device` and reports deferred errors (bad indices found on the GPU).
void synchronize(int device);

// Which implementation runs a hot path. Auto: the one measured faster on the device at hand.
enum class Impl : uint8_t { Auto, Ours, Library };
// Environment: TG_CUDA_MATMUL=ours|cublas|auto, TG_CUDA_SOFTMAX=ours|cudnn|auto.
void set_matmul_impl(Impl impl);
Impl matmul_impl();
void set_softmax_impl(Impl impl);
Impl softmax_impl();
// TF32 tensor cores for float32 matmul (ours and cuBLAS), like torch.backends.cuda.matmul.allow_tf32.
// Off by default; environment TG_ALLOW_TF32=1.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace tg::kernels::cuda_control
