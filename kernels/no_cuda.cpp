// Built when the CUDA backend is off: there are no CUDA kernels to dispatch to.
#include "kernel_api.h"
#include "cuda_control.h"

namespace tg::kernels {
const KernelTable* cuda_kernels() { return nullptr; }
}  // namespace tg::kernels

namespace tg::kernels::cuda_control {
namespace {
Impl g_matmul = Impl::Auto, g_softmax = Impl::Auto;
bool g_tf32 = false;
}  // namespace
int device_count() { return 0; }
std::string unavailable_reason() { return "tapegrad was built without CUDA (rebuild with -DTG_CUDA=ON and a CUDA toolkit)"; }
void synchronize(int) {}
void set_matmul_impl(Impl impl) { g_matmul = impl; }
Impl matmul_impl() { return g_matmul; }
void set_softmax_impl(Impl impl) { g_softmax = impl; }
Impl softmax_impl() { return g_softmax; }
void set_allow_tf32(bool allow) { g_tf32 = allow; }
bool allow_tf32() { return g_tf32; }
}  // namespace tg::kernels::cuda_control
