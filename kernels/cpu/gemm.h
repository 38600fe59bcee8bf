// CPU GEMM entry points: gemm() uses CBLAS when built with TG_HAVE_CBLAS, else the portable
// blocked kernel; gemm_fallback() is always the portable kernel (for tests and benchmarks).
#pragma once
#include "kernels/kernel_api.h"

namespace tg::kernels::cpu {

void gemm_fallback(const GemmArgs& args);

}  // namespace tg::kernels::cpu
