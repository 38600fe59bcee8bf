#include "layers.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "../core/native.h"
#include "init.h"

namespace tg::nn {

// ---------------------------------------------------------------- printing like Python

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest digits that round-trip, as Python's repr, in scientific form "d.ddde+XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e_pos = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  if (exponent < -4 || exponent >= 16) return sci;  // Python switches to "1e-05", "1e+16"
  std::string mantissa = sci.substr(0, e_pos);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char ch : mantissa)
    if (ch != '.') digits += ch;
  std::string out;
  if (exponent < 0) {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const size_t int_len = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_len)
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    else
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  return negative ? "-" + out : out;
}

std::string python_tuple_repr(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

namespace {
const char* py_bool(bool b) { return b ? "True" : "False"; }

TensorOptions factory_options(TensorOptions options) {
  TG_CHECK(is_floating(options.dtype_), Type, "nn: module parameters must be floating-point, got ",
           options.dtype_);
  return options.requires_grad(false);
}
}  // namespace

// ---------------------------------------------------------------- Linear

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, TensorOptions options)
    : Linear("Linear", in_features, out_features, bias, options) {}

Linear::Linear(std::string type_name, int64_t in_features, int64_t out_features, bool bias,
               TensorOptions options)
    : Module(std::move(type_name)), in_features(in_features), out_features(out_features) {
  TG_CHECK(in_features >= 0 && out_features >= 0, Value,
           "Linear: in_features and out_features must be >= 0, got ", in_features, " and ",
           out_features);
  options = factory_options(options);
  weight = register_parameter("weight", tg::empty({out_features, in_features}, options));
  this->bias = register_parameter("bias", bias ? tg::empty({out_features}, options) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  // kaiming_uniform_(a = sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch's Linear.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& input) {
  TG_CHECK(input.defined(), Value, "Linear: the input is undefined");
  TG_CHECK(input.dim() >= 1 && input.size(-1) == in_features, Value, "Linear: expected input with ",
           in_features, " features in the last dim, got shape ", input.sizes());
  TG_CHECK(input.dtype() == weight.dtype(), Type, "Linear: input dtype ", input.dtype(),
           " does not match the weight's ", weight.dtype(), " (convert one with .to())");
  TG_CHECK(input.device() == weight.device(), Value, "Linear: input is on ", input.device(),
           " but the weight is on ", weight.device());
  return F::linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  std::ostringstream os;
  os << "in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << py_bool(bias.defined());
  return os.str();
}

// ---------------------------------------------------------------- shape and activations

Tensor Flatten::forward(const Tensor& input) {
  TG_CHECK(input.defined(), Value, "Flatten: the input is undefined");
  return input.flatten(start_dim, end_dim);
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + python_float_repr(negative_slope);
}

GELU::GELU(std::string approximate) : Module("GELU"), approximate(std::move(approximate)) {
  TG_CHECK(this->approximate == "none" || this->approximate == "tanh", Value,
           "GELU: approximate must be \"none\" or \"tanh\", got \"", this->approximate, "\"");
}

std::string GELU::extra_repr() const { return "approximate='" + approximate + "'"; }

namespace {
int64_t softmax_dim(std::optional<int64_t> dim, const Tensor& input) {
  if (dim) return *dim;
  const int64_t nd = input.dim();
  return (nd == 0 || nd == 1 || nd == 3) ? 0 : 1;
}
std::string dim_repr(std::optional<int64_t> dim) {
  return "dim=" + (dim ? std::to_string(*dim) : std::string("None"));
}
}  // namespace

Tensor Softmax::forward(const Tensor& input) { return F::softmax(input, softmax_dim(dim, input)); }
std::string Softmax::extra_repr() const { return dim_repr(dim); }
Tensor LogSoftmax::forward(const Tensor& input) {
  return F::log_softmax(input, softmax_dim(dim, input));
}
std::string LogSoftmax::extra_repr() const { return dim_repr(dim); }

Dropout::Dropout(double p) : Module("Dropout"), p(p) {
  TG_CHECK(p >= 0.0 && p <= 1.0, Value, "Dropout: probability has to be between 0 and 1, but got ",
           p);
}

std::string Dropout::extra_repr() const { return "p=" + python_float_repr(p) + ", inplace=False"; }

// ---------------------------------------------------------------- Embedding

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim,
                     std::optional<int64_t> padding_idx, TensorOptions options)
    : Module("Embedding"), num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  TG_CHECK(num_embeddings >= 0 && embedding_dim >= 0, Value,
           "Embedding: num_embeddings and embedding_dim must be >= 0, got ", num_embeddings,
           " and ", embedding_dim);
  if (padding_idx) {
    TG_CHECK(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings, Value,
             "Embedding: padding_idx ", *padding_idx, " must be within num_embeddings (",
             num_embeddings, ")");
    if (*padding_idx < 0) *padding_idx += num_embeddings;
  }
  this->padding_idx = padding_idx;
  weight = register_parameter("weight",
                              tg::empty({num_embeddings, embedding_dim}, factory_options(options)));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    native::fill_(native::select(weight, 0, *padding_idx), 0.0);
  }
}

Tensor Embedding::forward(const Tensor& input) {
  TG_CHECK(input.defined(), Value, "Embedding: the input is undefined");
  TG_CHECK(input.dtype() == kInt64, Type, "Embedding: expected int64 indices, got ", input.dtype(),
           " (shape ", input.sizes(), ")");
  return F::embedding(input, weight, padding_idx);
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  return s;
}

// ---------------------------------------------------------------- LayerNorm

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine,
                     TensorOptions options)
    : Module("LayerNorm"),
      normalized_shape(std::move(normalized_shape)),
      eps(eps),
      elementwise_affine(elementwise_affine) {
  TG_CHECK(!this->normalized_shape.empty(), Value,
           "LayerNorm: normalized_shape must have at least 1 dim");
  options = factory_options(options);
  weight = register_parameter(
      "weight", elementwise_affine ? tg::empty(this->normalized_shape, options) : Tensor());
  bias = register_parameter(
      "bias", elementwise_affine ? tg::empty(this->normalized_shape, options) : Tensor());
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& input) {
  TG_CHECK(input.defined(), Value, "LayerNorm: the input is undefined");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  bool ok = input.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = input.size(input.dim() - k + i) == normalized_shape[i];
  TG_CHECK(ok, Value, "LayerNorm: expected input whose last dims are ", normalized_shape,
           " (normalized_shape), got shape ", input.sizes());
  return F::layer_norm(input, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return python_tuple_repr(normalized_shape) + ", eps=" + python_float_repr(eps) +
         ", elementwise_affine=" + py_bool(elementwise_affine);
}

// ---------------------------------------------------------------- BatchNorm

BatchNormBase::BatchNormBase(std::string type_name, int64_t num_features, double eps,
                             std::optional<double> momentum, bool affine, bool track_running_stats,
                             TensorOptions options)
    : Module(std::move(type_name)),
      num_features(num_features),
      eps(eps),
      momentum(momentum),
      affine(affine),
      track_running_stats(track_running_stats) {
  TG_CHECK(num_features > 0, Value, this->type_name(), ": num_features must be > 0, got ",
           num_features);
  options = factory_options(options);
  weight = register_parameter("weight", affine ? tg::empty({num_features}, options) : Tensor());
  bias = register_parameter("bias", affine ? tg::empty({num_features}, options) : Tensor());
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", tg::zeros({num_features}, options));
    running_var = register_buffer("running_var", tg::ones({num_features}, options));
    num_batches_tracked = register_buffer(
        "num_batches_tracked", tg::zeros({}, TensorOptions(kInt64).device(options.device_)));
  } else {
    register_buffer("running_mean", Tensor());
    register_buffer("running_var", Tensor());
    register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (!affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor BatchNormBase::forward(const Tensor& input) {
  TG_CHECK(input.defined(), Value, type_name(), ": the input is undefined");
  check_input_dim(input);
  TG_CHECK(input.size(1) == num_features, Value, type_name(), ": expected ", num_features,
           " channels in dim 1 (num_features), got input of shape ", input.sizes());
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    NoGradGuard no_grad;
    native::unary_("add_", native::UnaryOp::AddScalar, num_batches_tracked, 1.0);
    if (!momentum) factor = 1.0 / num_batches_tracked.item();  // cumulative moving average
  }
  const bool use_batch_stats = is_training() || !track_running_stats;
  const bool update = !is_training() || track_running_stats;
  return F::batch_norm(input, update ? running_mean : Tensor(), update ? running_var : Tensor(),
                       weight, bias, use_batch_stats, factor, eps);
}

std::string BatchNormBase::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << python_float_repr(eps)
     << ", momentum=" << (momentum ? python_float_repr(*momentum) : std::string("None"))
     << ", affine=" << py_bool(affine) << ", track_running_stats=" << py_bool(track_running_stats);
  return os.str();
}

void BatchNorm1d::check_input_dim(const Tensor& input) const {
  TG_CHECK(input.dim() == 2 || input.dim() == 3, Value,
           "BatchNorm1d: expected 2D or 3D input ([N, C] or [N, C, L]), got shape ", input.sizes());
}

void BatchNorm2d::check_input_dim(const Tensor& input) const {
  TG_CHECK(input.dim() == 4, Value, "BatchNorm2d: expected 4D input [N, C, H, W], got shape ",
           input.sizes());
}

}  // namespace tg::nn
