// Declarations of the CPU kernel entry points collected into the KernelTable (cpu_kernels.cpp),
// one .cpp per group: elementwise (unary, binary), reduce, gemm, softmax, index, random, conv,
// pool, rnn, optim.
#pragma once
#include "kernels/kernel_api.h"

namespace tg::kernels::cpu {

#define TG_KERNEL(ret, name, params) ret name params;
#include "kernels/kernel_entries.h"
#undef TG_KERNEL

}  // namespace tg::kernels::cpu
