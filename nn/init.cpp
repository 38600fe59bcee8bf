#include "init.h"

#include <cmath>
#include <vector>

#include "../autograd/node.h"
#include "../core/native.h"

namespace tg::nn::init {

namespace {

void check_init_tensor(const char* op, const Tensor& t) {
  TG_CHECK(t.defined(), Value, "init.", op, ": the tensor is undefined");
  TG_CHECK(t.is_floating_point(), Type, "init.", op, ": expected a floating-point tensor, got ",
           t.dtype());
}

int64_t fan_for(const char* op, const Tensor& t, const std::string& mode) {
  TG_CHECK(mode == "fan_in" || mode == "fan_out", Value, "init.", op, ": mode ", mode,
           " not supported, please use one of fan_in, fan_out");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  static const char* const linear_fns[] = {
      "linear",           "conv1d",           "conv2d",           "conv3d",
      "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"};
  for (const char* name : linear_fns)
    if (nonlinearity == name) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param.value_or(0.01);
    TG_CHECK(std::isfinite(slope), Value, "init.calculate_gain: negative_slope ", slope,
             " is not a valid number");
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  TG_FAIL(Value, "init.calculate_gain: unsupported nonlinearity \"", nonlinearity,
          "\" (expected linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, "
          "leaky_relu or selu)");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  TG_CHECK(tensor.defined(), Value, "init: the tensor is undefined");
  TG_CHECK(tensor.dim() >= 2, Value,
           "init: fan in and fan out can not be computed for a tensor with fewer than 2 "
           "dimensions, got shape ",
           tensor.sizes());
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

const Tensor& uniform_(const Tensor& tensor, double a, double b) {
  check_init_tensor("uniform_", tensor);
  TG_CHECK(a <= b, Value, "init.uniform_: expected a <= b, got a=", a, " > b=", b);
  NoGradGuard no_grad;
  native::random_(tensor, native::RandomKind::Uniform, a, b);
  return tensor;
}

const Tensor& normal_(const Tensor& tensor, double mean, double std) {
  check_init_tensor("normal_", tensor);
  TG_CHECK(std >= 0.0, Value, "init.normal_: expected std >= 0, got ", std);
  NoGradGuard no_grad;
  native::random_(tensor, native::RandomKind::Normal, mean, std);
  return tensor;
}

const Tensor& constant_(const Tensor& tensor, double val) {
  TG_CHECK(tensor.defined(), Value, "init.constant_: the tensor is undefined");
  NoGradGuard no_grad;
  native::fill_(tensor, val);
  return tensor;
}

const Tensor& zeros_(const Tensor& tensor) { return constant_(tensor, 0.0); }
const Tensor& ones_(const Tensor& tensor) { return constant_(tensor, 1.0); }

const Tensor& eye_(const Tensor& tensor) {
  TG_CHECK(tensor.defined() && tensor.dim() == 2, Value,
           "init.eye_: only 2-D tensors are supported, got shape ",
           tensor.defined() ? tensor.sizes() : Shape{});
  NoGradGuard no_grad;
  native::copy_(tensor, tg::eye(tensor.size(0), tensor.size(1),
                                TensorOptions(tensor.dtype()).device(tensor.device())));
  return tensor;
}

const Tensor& xavier_uniform_(const Tensor& tensor, double gain) {
  check_init_tensor("xavier_uniform_", tensor);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double a = std::sqrt(3.0) * std;
  return uniform_(tensor, -a, a);
}

const Tensor& xavier_normal_(const Tensor& tensor, double gain) {
  check_init_tensor("xavier_normal_", tensor);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(tensor, 0.0, std);
}

const Tensor& kaiming_uniform_(const Tensor& tensor, double a, const std::string& mode,
                               const std::string& nonlinearity) {
  check_init_tensor("kaiming_uniform_", tensor);
  const int64_t fan = fan_for("kaiming_uniform_", tensor, mode);
  const double gain = calculate_gain(nonlinearity, a);
  if (tensor.numel() == 0) return tensor;  // PyTorch: a no-op (with a warning)
  const double std = gain / std::sqrt(static_cast<double>(fan));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound);
}

const Tensor& kaiming_normal_(const Tensor& tensor, double a, const std::string& mode,
                              const std::string& nonlinearity) {
  check_init_tensor("kaiming_normal_", tensor);
  const int64_t fan = fan_for("kaiming_normal_", tensor, mode);
  const double gain = calculate_gain(nonlinearity, a);
  if (tensor.numel() == 0) return tensor;
  const double std = gain / std::sqrt(static_cast<double>(fan));
  return normal_(tensor, 0.0, std);
}

namespace {

// Thin QR of a row-major m x n matrix (m >= n) by Householder reflections: Q (m x n, row-major)
// and the diagonal of R.
void householder_qr(std::vector<double> a, int64_t m, int64_t n, std::vector<double>& q,
                    std::vector<double>& r_diag) {
  std::vector<std::vector<double>> reflectors(static_cast<size_t>(n));
  r_diag.assign(static_cast<size_t>(n), 0.0);
  auto at = [&](int64_t i, int64_t j) -> double& { return a[static_cast<size_t>(i * n + j)]; };
  for (int64_t k = 0; k < n; ++k) {
    double norm2 = 0.0;
    for (int64_t i = k; i < m; ++i) norm2 += at(i, k) * at(i, k);
    const double norm = std::sqrt(norm2);
    if (norm == 0.0) continue;  // a zero column: H_k = I, R_kk = 0
    const double alpha = at(k, k) > 0 ? -norm : norm;
    std::vector<double> v(static_cast<size_t>(m - k));
    for (int64_t i = k; i < m; ++i) v[static_cast<size_t>(i - k)] = at(i, k);
    v[0] -= alpha;
    double vnorm2 = 0.0;
    for (double e : v) vnorm2 += e * e;
    if (vnorm2 > 0.0) {
      const double inv = 1.0 / std::sqrt(vnorm2);
      for (double& e : v) e *= inv;
      // A[k:, k:] -= 2 v (v^T A[k:, k:])
      for (int64_t j = k; j < n; ++j) {
        double dot = 0.0;
        for (int64_t i = k; i < m; ++i) dot += v[static_cast<size_t>(i - k)] * at(i, j);
        for (int64_t i = k; i < m; ++i) at(i, j) -= 2.0 * dot * v[static_cast<size_t>(i - k)];
      }
      reflectors[static_cast<size_t>(k)] = std::move(v);
    }
    r_diag[static_cast<size_t>(k)] = at(k, k);
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  q.assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(i * n + i)] = 1.0;
  for (int64_t k = n - 1; k >= 0; --k) {
    const auto& v = reflectors[static_cast<size_t>(k)];
    if (v.empty()) continue;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0.0;
      for (int64_t i = k; i < m; ++i)
        dot += v[static_cast<size_t>(i - k)] * q[static_cast<size_t>(i * n + j)];
      for (int64_t i = k; i < m; ++i)
        q[static_cast<size_t>(i * n + j)] -= 2.0 * dot * v[static_cast<size_t>(i - k)];
    }
  }
}

}  // namespace

const Tensor& orthogonal_(const Tensor& tensor, double gain) {
  check_init_tensor("orthogonal_", tensor);
  TG_CHECK(tensor.dim() >= 2, Value,
           "init.orthogonal_: only tensors with 2 or more dimensions are supported, got shape ",
           tensor.sizes());
  if (tensor.numel() == 0) return tensor;
  NoGradGuard no_grad;
  const int64_t rows = tensor.size(0);
  const int64_t cols = tensor.numel() / rows;
  // Draw [rows, cols] from N(0, 1) and decompose its tall orientation.
  std::vector<double> flat = tg::randn({rows, cols}, kFloat64).to_vector<double>();
  const bool wide = rows < cols;
  const int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  std::vector<double> tall(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const double v = flat[static_cast<size_t>(i * cols + j)];
      if (wide)
        tall[static_cast<size_t>(j * n + i)] = v;
      else
        tall[static_cast<size_t>(i * n + j)] = v;
    }
  std::vector<double> q, r_diag;
  householder_qr(std::move(tall), m, n, q, r_diag);
  // Q * sign(diag(R)): makes the decomposition unique (R with a positive diagonal), so that Q is
  // uniformly distributed. A zero R_kk (probability 0) keeps its column as is.
  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double s = r_diag[static_cast<size_t>(j)] < 0 ? -1.0 : 1.0;
      const double v = gain * s * q[static_cast<size_t>(i * n + j)];
      if (wide)
        out[static_cast<size_t>(j * cols + i)] = v;
      else
        out[static_cast<size_t>(i * cols + j)] = v;
    }
  Tensor host = tg::tensor(out, tensor.sizes(), kFloat64);
  native::copy_(tensor, native::to_device(native::to_dtype(host, tensor.dtype()), tensor.device()));
  return tensor;
}

}  // namespace tg::nn::init
