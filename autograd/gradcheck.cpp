#include "gradcheck.h"

#include <cmath>

#include "../core/native.h"
#include "functions.h"

namespace tg::autograd {

bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
               const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  std::vector<Tensor> checked;
  std::vector<size_t> checked_index;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    TG_CHECK(t.dtype() == kFloat64 && t.device().is_cpu() && t.is_contiguous() && t.is_leaf(),
             Value, "gradcheck: input ", i, " must be a contiguous float64 CPU leaf, got ",
             t.dtype(), " on ", t.device());
    checked.push_back(t);
    checked_index.push_back(i);
  }
  TG_CHECK(!checked.empty(), Value, "gradcheck: no input requires grad");

  Tensor out = fn(inputs);
  TG_CHECK(out.dtype() == kFloat64, Value, "gradcheck: the function must return float64, got ",
           out.dtype());
  const int64_t n_out = out.numel();

  // Numerical Jacobian columns: d out / d x[k] for every checked input element.
  std::vector<std::vector<std::vector<double>>> numeric(checked.size());
  {
    NoGradGuard no_grad;
    for (size_t c = 0; c < checked.size(); ++c) {
      double* x = static_cast<double*>(checked[c].data_ptr());
      const int64_t n = checked[c].numel();
      numeric[c].resize(n);
      for (int64_t k = 0; k < n; ++k) {
        const double saved = x[k];
        x[k] = saved + options.eps;
        std::vector<double> plus = fn(inputs).to_vector<double>();
        x[k] = saved - options.eps;
        std::vector<double> minus = fn(inputs).to_vector<double>();
        x[k] = saved;
        numeric[c][k].resize(n_out);
        for (int64_t j = 0; j < n_out; ++j) numeric[c][k][j] = (plus[j] - minus[j]) / (2 * options.eps);
      }
    }
  }

  // Analytic Jacobian rows: one backward per output element.
  for (int64_t j = 0; j < n_out; ++j) {
    Tensor seed = zeros(out.sizes(), kFloat64);
    static_cast<double*>(seed.data_ptr())[j] = 1.0;
    std::vector<Tensor> grads = grad({out}, checked, {seed}, /*retain_graph=*/true, false,
                                     /*allow_unused=*/true);
    for (size_t c = 0; c < checked.size(); ++c) {
      std::vector<double> analytic =
          grads[c].defined() ? grads[c].to_vector<double>() : std::vector<double>(checked[c].numel(), 0.0);
      for (int64_t k = 0; k < checked[c].numel(); ++k) {
        const double a = analytic[k], n = numeric[c][k][j];
        TG_CHECK(std::abs(a - n) <= options.atol + options.rtol * std::abs(n), Value,
                 "gradcheck: Jacobian mismatch for input ", checked_index[c], ", element ", k,
                 ", output element ", j, ": analytic ", a, " vs numerical ", n);
      }
    }
  }
  return true;
}

}  // namespace tg::autograd
