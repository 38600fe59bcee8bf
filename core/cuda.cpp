#include "cuda.h"

#include "error.h"

namespace tg::cuda {

namespace control = kernels::cuda_control;

bool is_available() { return control::device_count() > 0; }
int device_count() { return control::device_count(); }
std::string unavailable_reason() { return control::unavailable_reason(); }

void synchronize(int device) {
  TG_CHECK(is_available(), Runtime, "cuda::synchronize: no CUDA device is available (",
           unavailable_reason(), ")");
  TG_CHECK(device >= 0 && device < device_count(), Value, "cuda::synchronize: CUDA device ", device,
           " does not exist (", device_count(), " found)");
  control::synchronize(device);
}

void set_matmul_impl(Impl impl) { control::set_matmul_impl(impl); }
Impl matmul_impl() { return control::matmul_impl(); }
void set_softmax_impl(Impl impl) { control::set_softmax_impl(impl); }
Impl softmax_impl() { return control::softmax_impl(); }
void set_allow_tf32(bool allow) { control::set_allow_tf32(allow); }
bool allow_tf32() { return control::allow_tf32(); }

}  // namespace tg::cuda
