// gradcheck: analytic gradients (the tape) against central finite differences, in float64.
#pragma once
#include <functional>
#include <vector>

#include "../core/tensor.h"

namespace tg::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

// `inputs` are float64 leaves; those that require grad are checked. Every element of every
// output is checked against every input element. Returns true, or throws tg::Error naming the
// first mismatch (input, element, output element, both values).
bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
               const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace tg::autograd

namespace tg {
using autograd::gradcheck;
}
