// Built when the CUDA backend is off: there are no CUDA kernels to dispatch to.
#include "kernel_api.h"

namespace tg::kernels {
const KernelTable* cuda_kernels() { return nullptr; }
}  // namespace tg::kernels
