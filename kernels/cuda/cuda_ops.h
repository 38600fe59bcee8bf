// The CUDA kernel entry points collected into the KernelTable (runtime.cu), one .cu file per group.
#pragma once
#include "kernels/kernel_api.h"

namespace tg::kernels::cuda {

#define TG_KERNEL(ret, name, params) ret name params;
#include "kernels/kernel_entries.h"
#undef TG_KERNEL

}  // namespace tg::kernels::cuda
