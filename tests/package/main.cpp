// Built against an installed tapegrad through find_package: the umbrella header and one step of
// autograd must work.
#include <tapegrad/tapegrad.h>

#include <cstdio>

int main() {
  tg::Tensor x = tg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  tg::Tensor y = (x * x).sum();
  y.backward();
  const std::vector<float> g = x.grad().to_vector<float>();
  const bool ok = g == std::vector<float>{2.0f, 4.0f, 6.0f};
  std::printf("%s\n", ok ? "ok" : "wrong gradient");
  return ok ? 0 : 1;
}
