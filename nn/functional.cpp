#include "functional.h"

#include <cmath>
#include <limits>
#include <vector>

#include "../autograd/functions_fused.h"
#include "../autograd/node.h"
#include "../core/native.h"
#include "../core/native_loss.h"
#include "../core/native_norm.h"

namespace tg::nn::functional {

namespace {

void check_defined(const char* op, const char* what, const Tensor& t) {
  TG_CHECK(t.defined(), Value, op, ": ", what, " is undefined");
}

void check_floating_arg(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  TG_CHECK(t.is_floating_point(), Type, op, ": expected a floating-point ", what, ", got ",
           t.dtype(), " (shape ", t.sizes(), ")");
}

void check_reduction(const char* op, const std::string& reduction) {
  TG_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum", Value, op, ": \"",
           reduction,
           "\" is not a valid value for reduction (expected \"none\", \"mean\" or \"sum\")");
}

Tensor apply_reduction(const Tensor& loss, const std::string& reduction) {
  if (reduction == "mean") return tg::mean(loss);
  if (reduction == "sum") return tg::sum(loss);
  return loss;
}

// Elementwise losses: a floating-point input and a target of the same shape.
void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_floating_arg(op, "input", input);
  check_floating_arg(op, "target", target);
  TG_CHECK(input.sizes() == target.sizes(), Value, op, ": target of shape ", target.sizes(),
           " does not match input of shape ", input.sizes(), " (they must be the same)");
  native::check_same_device(op, input, target);
}

// An optional weight that must broadcast to `shape` without growing it.
void check_broadcast_weight(const char* op, const char* what, const Tensor& w,
                            const Tensor& input) {
  if (!w.defined()) return;
  check_floating_arg(op, what, w);
  native::check_same_device(op, input, w);
  bool ok = w.dim() <= input.dim();
  for (int64_t i = 1; ok && i <= w.dim(); ++i) {
    const int64_t ws = w.size(w.dim() - i), is = input.size(input.dim() - i);
    ok = ws == 1 || ws == is;
  }
  TG_CHECK(ok, Value, op, ": ", what, " of shape ", w.sizes(),
           " cannot be broadcast to the input's shape ", input.sizes());
}

// An int64 0-dim tensor on t's device.
Tensor int_scalar(const Tensor& t, int64_t v) {
  return native::scalar_like(t, static_cast<double>(v));
}

}  // namespace

// ---------------------------------------------------------------- layers

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  check_defined("linear", "input", input);
  check_defined("linear", "weight", weight);
  TG_CHECK(weight.dim() == 2, Value,
           "linear: weight must be 2-D [out_features, in_features], got shape ", weight.sizes());
  TG_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), Value, "linear: input of shape ",
           input.sizes(), " does not have ", weight.size(1),
           " features in the last dim (weight of shape ", weight.sizes(), ")");
  if (bias.defined())
    TG_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), Value,
             "linear: bias must have shape [", weight.size(0), "] for weight of shape ",
             weight.sizes(), ", got ", bias.sizes());
  const Tensor weight_t = tg::transpose(weight, 0, 1);
  if (!bias.defined()) return tg::matmul(input, weight_t);
  if (input.dim() == 1) return tg::add(tg::matmul(input, weight_t), bias);
  if (input.dim() == 2) return tg::addmm(bias, input, weight_t);
  // Fold the leading dims into rows: one GEMM that starts from the bias.
  Shape out_shape = input.sizes();
  out_shape.back() = weight.size(0);
  const int64_t rows = input.numel() == 0 ? 0 : input.numel() / weight.size(1);
  return tg::reshape(tg::addmm(bias, tg::reshape(input, {rows, weight.size(1)}), weight_t), out_shape);
}

Tensor relu(const Tensor& input) { return tg::relu(input); }
Tensor leaky_relu(const Tensor& input, double negative_slope) {
  return tg::leaky_relu(input, negative_slope);
}
Tensor gelu(const Tensor& input, const std::string& approximate) {
  return tg::gelu(input, approximate);
}
Tensor sigmoid(const Tensor& input) { return tg::sigmoid(input); }
Tensor tanh(const Tensor& input) { return tg::tanh(input); }
Tensor softmax(const Tensor& input, int64_t dim) { return tg::softmax(input, dim); }
Tensor log_softmax(const Tensor& input, int64_t dim) { return tg::log_softmax(input, dim); }

Tensor dropout(const Tensor& input, double p, bool training) {
  TG_CHECK(p >= 0.0 && p <= 1.0, Value, "dropout: probability has to be between 0 and 1, but got ",
           p);
  check_defined("dropout", "input", input);
  if (!training || p == 0.0) return input;
  check_floating_arg("dropout", "input", input);
  if (p == 1.0) return tg::mul(input, native::scalar_like(input, 0.0));
  Tensor mask = native::empty(input.sizes(), input.dtype(), input.device());
  native::random_(mask, native::RandomKind::Bernoulli, 1.0 - p, 0.0);
  native::unary_("dropout", native::UnaryOp::MulScalar, mask, 1.0 / (1.0 - p));
  return tg::mul(input, mask);
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  check_floating_arg("layer_norm", "input", input);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  TG_CHECK(k >= 1, Value, "layer_norm: normalized_shape must have at least 1 dim");
  bool ok = input.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = input.size(input.dim() - k + i) == normalized_shape[i];
  TG_CHECK(ok, Value, "layer_norm: input of shape ", input.sizes(),
           " does not end with normalized_shape ", normalized_shape);
  for (const auto& [what, t] : {std::pair<const char*, const Tensor*>{"weight", &weight},
                                std::pair<const char*, const Tensor*>{"bias", &bias}})
    if (t->defined())
      TG_CHECK(t->sizes() == normalized_shape, Value, "layer_norm: ", what, " must have shape ",
               normalized_shape, " (normalized_shape), got ", t->sizes());
  // The normalized dims flattened into one (a view when input is contiguous), normalized as rows.
  Shape rows_shape(input.sizes().begin(), input.sizes().end() - k);
  int64_t normalized_numel = 1;
  for (int64_t d : normalized_shape) normalized_numel *= d;
  rows_shape.push_back(normalized_numel);
  Tensor out = tg::reshape(layer_norm_normalize(tg::reshape(input, rows_shape), eps), input.sizes());
  if (weight.defined()) out = tg::mul(out, weight);
  if (bias.defined()) out = tg::add(out, bias);
  return out;
}

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  check_floating_arg("batch_norm", "input", input);
  TG_CHECK(input.dim() >= 2, Value, "batch_norm: expected input of shape [N, C, *], got shape ",
           input.sizes());
  const int64_t c = input.size(1);
  for (const auto& [what, t] :
       {std::pair<const char*, const Tensor*>{"running_mean", &running_mean},
        std::pair<const char*, const Tensor*>{"running_var", &running_var},
        std::pair<const char*, const Tensor*>{"weight", &weight},
        std::pair<const char*, const Tensor*>{"bias", &bias}})
    if (t->defined())
      TG_CHECK(t->numel() == c, Value, "batch_norm: ", what, " should contain ", c,
               " elements (the input's channels, dim 1 of ", input.sizes(), "), got shape ",
               t->sizes());
  Shape stat_shape(static_cast<size_t>(input.dim()), 1);
  stat_shape[1] = c;
  auto as_stat = [&](const Tensor& t) { return tg::reshape(t, stat_shape); };
  const int64_t n = c == 0 ? 0 : input.numel() / c;
  TG_CHECK(!training || n > 1, Value,
           "batch_norm: expected more than 1 value per channel when training, got input of shape ",
           input.sizes());
  TG_CHECK(training || (running_mean.defined() && running_var.defined()), Value,
           "batch_norm: running_mean and running_var are required when not training");
  Tensor mean, var;
  Tensor out;
  const bool fused = tg::fused_batch_norm_enabled() && (input.dtype() == kFloat32 || input.dtype() == kFloat64) &&
                     native::has_fused_batch_norm(input.device());
  if (fused) {
    auto per_channel = [](const Tensor& t) { return t.defined() && t.dim() != 1 ? tg::reshape(t, {t.numel()}) : t; };
    std::tie(out, mean, var) = tg::batch_norm_fused(input, per_channel(weight), per_channel(bias),
                                                    per_channel(running_mean), per_channel(running_var), training, eps);
  } else if (training) {
    Shape dims;
    for (int64_t d = 0; d < input.dim(); ++d)
      if (d != 1) dims.push_back(d);
    mean = tg::mean(input, dims, true);
    var = tg::var(input, dims, 0, true);
  }
  if (training) {
    NoGradGuard no_grad;
    if (running_mean.defined()) {
      Tensor batch_mean = tg::reshape(mean.detach(), running_mean.sizes());
      native::copy_(running_mean,
                    tg::add(tg::mul(batch_mean, momentum), tg::mul(running_mean, 1.0 - momentum)));
    }
    if (running_var.defined()) {
      Tensor unbiased = tg::mul(tg::reshape(var.detach(), running_var.sizes()),
                                static_cast<double>(n) / static_cast<double>(n - 1));
      native::copy_(running_var,
                    tg::add(tg::mul(unbiased, momentum), tg::mul(running_var, 1.0 - momentum)));
    }
  }
  if (fused) return out;
  if (!training) {
    mean = as_stat(native::to_dtype(running_mean, input.dtype()));
    var = as_stat(native::to_dtype(running_var, input.dtype()));
  }
  out = tg::mul(tg::sub(input, mean), tg::rsqrt(tg::add(var, eps)));
  if (weight.defined()) out = tg::mul(out, as_stat(weight));
  if (bias.defined()) out = tg::add(out, as_stat(bias));
  return out;
}

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
  check_defined("embedding", "input", input);
  check_defined("embedding", "weight", weight);
  TG_CHECK(weight.dim() == 2, Value,
           "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape ",
           weight.sizes());
  TG_CHECK(input.dtype() == kInt64, Type, "embedding: expected int64 indices, got ", input.dtype(),
           " (shape ", input.sizes(), ")");
  const int64_t num = weight.size(0);
  if (padding_idx) {
    TG_CHECK(*padding_idx >= -num && *padding_idx < num, Value, "embedding: padding_idx ",
             *padding_idx, " must be within num_embeddings (", num, ")");
    if (*padding_idx < 0) *padding_idx += num;
  }
  Tensor out = tg::embedding(weight, input);
  if (padding_idx && out.requires_grad()) {
    // The padding row's lookups come from a detached copy: no gradient reaches that row.
    Tensor is_pad = tg::unsqueeze(tg::eq(input, int_scalar(input, *padding_idx)), -1);
    out = tg::where(is_pad, out.detach(), out);
  }
  return out;
}

// ---------------------------------------------------------------- elementwise losses

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  check_reduction("mse_loss", reduction);
  check_pair("mse_loss", input, target);
  return apply_reduction(tg::square(tg::sub(input, target)), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  check_reduction("l1_loss", reduction);
  check_pair("l1_loss", input, target);
  return apply_reduction(tg::abs(tg::sub(input, target)), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction,
                      double beta) {
  check_reduction("smooth_l1_loss", reduction);
  check_pair("smooth_l1_loss", input, target);
  TG_CHECK(beta >= 0.0, Value, "smooth_l1_loss: beta must be >= 0, got ", beta);
  Tensor d = tg::abs(tg::sub(input, target));
  if (beta == 0.0) return apply_reduction(d, reduction);
  Tensor loss = tg::where(tg::lt(d, native::scalar_like(d, beta)),
                          tg::div(tg::mul(tg::square(d), 0.5), native::scalar_like(d, beta)),
                          tg::add(d, -0.5 * beta));
  return apply_reduction(loss, reduction);
}

// ---------------------------------------------------------------- class-index losses

namespace {

// Checks class-index targets against input [N, C, *] (already batched): shape and dtype, and
// the weight's.
void check_class_target_shape(const char* op, const Tensor& input, const Tensor& target,
                              const Tensor& weight) {
  const int64_t c = input.size(1);
  TG_CHECK(target.dtype() == kInt64, Type, op,
           ": expected a target of dtype int64 (class indices), got ", target.dtype());
  native::check_same_device(op, input, target);
  Shape expected = input.sizes();
  expected.erase(expected.begin() + 1);
  TG_CHECK(target.sizes() == expected, Value, op, ": expected a target of shape ", expected,
           " for input of shape ", input.sizes(), " (classes in dim 1), got ", target.sizes());
  if (weight.defined()) {
    check_floating_arg(op, "weight", weight);
    native::check_same_device(op, input, weight);
    TG_CHECK(weight.dim() == 1 && weight.size(0) == c, Value, op, ": weight must have shape [", c,
             "] (one per class), got ", weight.sizes());
  }
}

// check_class_target_shape, then every target in [0, C) or ignore_index.
void check_class_target(const char* op, const Tensor& input, const Tensor& target,
                        const Tensor& weight, int64_t ignore_index) {
  check_class_target_shape(op, input, target, weight);
  const int64_t c = input.size(1);
  if (target.numel() == 0) return;
  auto out_of_range = [&](int64_t t) { return t != ignore_index && (t < 0 || t >= c); };
  if (target.device().is_cpu()) {
    Tensor t = native::contiguous(target);
    const int64_t* p = t.data_ptr<int64_t>();
    for (int64_t i = 0; i < t.numel(); ++i)
      TG_CHECK(!out_of_range(p[i]), Index, op, ": target ", p[i], " is out of bounds for ", c,
               " classes (valid: 0 to ", c - 1, ", or ignore_index ", ignore_index, ")");
    return;
  }
  Tensor below = tg::lt(target, int_scalar(target, 0));
  Tensor above = tg::ge(target, int_scalar(target, c));
  Tensor bad = tg::logical_and(tg::ne(target, int_scalar(target, ignore_index)),
                               tg::logical_or(below, above));
  if (tg::any(bad).item() != 0.0)
    for (int64_t t : target.to_vector<int64_t>())
      TG_CHECK(!out_of_range(t), Index, op, ": target ", t, " is out of bounds for ", c,
               " classes (valid: 0 to ", c - 1, ", or ignore_index ", ignore_index, ")");
}

struct NllParts {
  Tensor loss;     // per entry: -weight[t] * logp[t], 0 where ignored
  Tensor weights;  // per entry: weight[t], 0 where ignored
  Tensor ignored;  // per entry: bool
};

// logp [N, C, *], target [N, *] (checked).
NllParts nll_parts(const Tensor& logp, const Tensor& target, const Tensor& weight,
                   int64_t ignore_index) {
  NllParts parts;
  parts.ignored = tg::eq(target, int_scalar(target, ignore_index));
  Tensor kept = tg::logical_not(parts.ignored);
  Tensor safe_target = tg::where(kept, target, int_scalar(target, 0));
  Tensor picked = tg::squeeze(tg::gather(logp, 1, tg::unsqueeze(safe_target, 1)), 1);
  picked = tg::masked_fill(picked, parts.ignored, 0.0);
  if (weight.defined()) {
    Tensor w = tg::reshape(tg::index_select(native::to_dtype(weight.detach(), logp.dtype()), 0,
                                            tg::reshape(safe_target, {-1})),
                           target.sizes());
    parts.weights = tg::masked_fill(w, parts.ignored, 0.0);
  } else {
    parts.weights = tg::to(kept, logp.dtype());
  }
  parts.loss = tg::neg(tg::mul(picked, parts.weights));
  return parts;
}

// Brings a [C] input and [] target to the batched form [1, C] and [1].
bool unbatch(const char* op, Tensor& input, Tensor& target) {
  TG_CHECK(input.dim() >= 1, Value, op, ": expected input of shape [N, C, *] or [C], got shape ",
           input.sizes());
  if (input.dim() != 1) return false;
  TG_CHECK(target.dim() == 0 || (target.is_floating_point() && target.dim() == 1), Value, op,
           ": for input of shape ", input.sizes(),
           " (one sample) the target must be a 0-dim class index, got shape ", target.sizes());
  input = tg::unsqueeze(input, 0);
  target = tg::unsqueeze(target, 0);
  return true;
}

Tensor finish(const Tensor& loss, const std::string& reduction, bool unbatched) {
  return reduction == "none" && unbatched ? tg::squeeze(loss, 0) : loss;
}

bool fused_cross_entropy_applies(const Tensor& input) {
  return tg::fused_cross_entropy_enabled() && (input.dtype() == kFloat32 || input.dtype() == kFloat64) &&
         input.size(1) > 0 && native::has_fused_cross_entropy(input.device());
}

// Class-index cross-entropy through the fused node: the classes moved to the last dim of a
// [rows, C] matrix (a copy when input has more than 2 dims), then the reduction.
Tensor fused_cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options,
                           bool unbatched) {
  const int64_t c = input.size(1);
  Tensor rows = input;
  if (input.dim() > 2) {
    Shape order{0};
    for (int64_t d = 2; d < input.dim(); ++d) order.push_back(d);
    order.push_back(1);
    rows = tg::reshape(tg::permute(input, order), {-1, c});
  }
  auto [loss, row_weight] = tg::cross_entropy_rows(rows, native::reshape(target, {-1}), options.weight,
                                                   options.ignore_index, options.label_smoothing);
  if (options.reduction == "none")
    return finish(loss.sizes() == target.sizes() ? loss : tg::reshape(loss, target.sizes()), "none", unbatched);
  Tensor total = tg::sum(loss);
  return options.reduction == "sum" ? total : tg::div(total, tg::sum(row_weight));
}

}  // namespace

Tensor nll_loss(const Tensor& input_, const Tensor& target_, const NLLLossOptions& options) {
  const char* op = "nll_loss";
  check_reduction(op, options.reduction);
  check_floating_arg(op, "input", input_);
  check_defined(op, "target", target_);
  Tensor input = input_, target = target_;
  const bool unbatched = unbatch(op, input, target);
  check_class_target(op, input, target, options.weight, options.ignore_index);
  NllParts parts = nll_parts(input, target, options.weight, options.ignore_index);
  if (options.reduction == "none") return finish(parts.loss, "none", unbatched);
  Tensor total = tg::sum(parts.loss);
  if (options.reduction == "sum") return total;
  return tg::div(total, tg::sum(parts.weights));  // NaN when every entry is ignored
}

Tensor cross_entropy(const Tensor& input_, const Tensor& target_,
                     const CrossEntropyOptions& options) {
  const char* op = "cross_entropy";
  check_reduction(op, options.reduction);
  check_floating_arg(op, "input", input_);
  check_defined(op, "target", target_);
  const double eps = options.label_smoothing;
  TG_CHECK(eps >= 0.0 && eps <= 1.0, Value,
           "cross_entropy: label_smoothing must be between 0.0 and 1.0, got ", eps);
  Tensor input = input_, target = target_;
  const bool unbatched = unbatch(op, input, target);
  const int64_t c = input.size(1);
  Shape weight_shape(static_cast<size_t>(input.dim()), 1);
  weight_shape[1] = c;

  if (target.is_floating_point()) {
    // Class probabilities.
    TG_CHECK(target.sizes() == input.sizes(), Value, op,
             ": a floating-point target holds class probabilities and must have the input's shape ",
             input.sizes(), ", got ", target.sizes(), " (class indices must be int64)");
    native::check_same_device(op, input, target);
    TG_CHECK(options.ignore_index < 0, Value, op,
             ": ignore_index is not supported for class-probability (floating-point) targets, got ",
             options.ignore_index);
    if (options.weight.defined()) {
      check_floating_arg(op, "weight", options.weight);
      TG_CHECK(options.weight.dim() == 1 && options.weight.size(0) == c, Value, op,
               ": weight must have shape [", c, "] (one per class), got ", options.weight.sizes());
    }
    Tensor logp = tg::log_softmax(input, 1);
    Tensor t = eps > 0 ? tg::add(tg::mul(target, 1.0 - eps), eps / static_cast<double>(c)) : target;
    Tensor prod = tg::mul(logp, t);
    if (options.weight.defined()) prod = tg::mul(prod, tg::reshape(options.weight, weight_shape));
    Tensor loss = tg::neg(tg::sum(prod, {1}));
    if (options.reduction == "none") return finish(loss, "none", unbatched);
    if (options.reduction == "sum") return tg::sum(loss);
    Tensor total = tg::sum(loss);
    // Divided by the number of entries, not the weights (NaN when there are none), as PyTorch.
    return tg::div(total, native::scalar_like(total, static_cast<double>(loss.numel())));
  }

  if (fused_cross_entropy_applies(input)) {
    check_class_target_shape(op, input, target, options.weight);
    return fused_cross_entropy(input, target, options, unbatched);
  }
  check_class_target(op, input, target, options.weight, options.ignore_index);
  Tensor logp = tg::log_softmax(input, 1);
  NllParts parts = nll_parts(logp, target, options.weight, options.ignore_index);
  if (eps == 0.0) {
    if (options.reduction == "none") return finish(parts.loss, "none", unbatched);
    Tensor total = tg::sum(parts.loss);
    return options.reduction == "sum" ? total : tg::div(total, tg::sum(parts.weights));
  }
  // Label smoothing: the uniform part, -sum_c weight[c] logp[c], as PyTorch.
  Tensor weighted =
      options.weight.defined()
          ? tg::mul(logp, tg::reshape(native::to_dtype(options.weight, logp.dtype()), weight_shape))
          : logp;
  Tensor smooth = tg::masked_fill(tg::neg(tg::sum(weighted, {1})), parts.ignored, 0.0);
  const double share = eps / static_cast<double>(c);
  if (options.reduction == "none")
    return finish(tg::add(tg::mul(parts.loss, 1.0 - eps), tg::mul(smooth, share)), "none",
                  unbatched);
  Tensor nll = tg::sum(parts.loss), uniform = tg::sum(smooth);
  if (options.reduction == "mean") {
    Tensor denom = tg::sum(parts.weights);
    nll = tg::div(nll, denom);
    uniform = tg::div(uniform, denom);
  }
  return tg::add(tg::mul(nll, 1.0 - eps), tg::mul(uniform, share));
}

// ---------------------------------------------------------------- binary losses

namespace {

// -(t log x + (1 - t) log(1 - x)) with each log clamped to >= -100, and PyTorch's gradients:
// x: (x - t) / max(x (1 - x), 1e-12); t: log(1 - x) - log(x). Unweighted, unreduced.
Tensor bce_elementwise(const Tensor& x, const Tensor& t) {
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor log_x = tg::clamp(tg::log(x), -100.0, std::nullopt);
    Tensor log_1mx = tg::clamp(tg::log1p(tg::neg(x)), -100.0, std::nullopt);
    out = tg::sub(tg::mul(tg::add(t, -1.0), log_1mx), tg::mul(t, log_x));
  }
  if (autograd::needs_grad({&x, &t}))
    autograd::record(
        "binary_cross_entropy", {x, t}, {out},
        [sx = autograd::SavedTensor(x), st = autograd::SavedTensor(t)](autograd::Grads& g) {
          const Tensor& xv = sx.get();
          if (g.needs(0)) {
            // PyTorch's EPSILON is the float 1e-12f.
            Tensor denom = tg::clamp(tg::mul(tg::rsub(xv, 1.0), xv), static_cast<double>(1e-12f),
                                     std::nullopt);
            g.in[0] = tg::mul(g.g(), tg::div(tg::sub(xv, st.get()), denom));
          }
          if (g.needs(1)) g.in[1] = tg::mul(g.g(), tg::sub(tg::log1p(tg::neg(xv)), tg::log(xv)));
        });
  return out;
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCEOptions& options) {
  const char* op = "binary_cross_entropy";
  check_reduction(op, options.reduction);
  check_pair(op, input, target);
  check_broadcast_weight(op, "weight", options.weight, input);
  if (input.numel() > 0) {
    Tensor inside = tg::logical_and(tg::ge(input, native::scalar_like(input, 0.0)),
                                    tg::le(input, native::scalar_like(input, 1.0)));
    TG_CHECK(tg::all(inside).item() != 0.0, Value, op,
             ": all elements of input should be between 0 and 1 (probabilities; use "
             "binary_cross_entropy_with_logits for logits)");
  }
  Tensor loss = bce_elementwise(input, target);
  if (options.weight.defined()) loss = tg::mul(loss, options.weight);
  return apply_reduction(loss, options.reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options) {
  const char* op = "binary_cross_entropy_with_logits";
  check_reduction(op, options.reduction);
  check_pair(op, input, target);
  check_broadcast_weight(op, "weight", options.weight, input);
  check_broadcast_weight(op, "pos_weight", options.pos_weight, input);
  // PyTorch's form: m = max(-x, 0); log(1 + e^-x) = log(e^-m + e^(-x-m)) + m, no overflow.
  Tensor max_val = tg::clamp(tg::neg(input), 0.0, std::nullopt);
  Tensor log_sum =
      tg::log(tg::add(tg::exp(tg::neg(max_val)), tg::exp(tg::sub(tg::neg(input), max_val))));
  Tensor negative_part = tg::mul(tg::rsub(target, 1.0), input);
  Tensor loss;
  if (options.pos_weight.defined()) {
    Tensor log_weight = tg::add(tg::mul(tg::add(options.pos_weight, -1.0), target), 1.0);
    loss = tg::add(negative_part, tg::mul(log_weight, tg::add(log_sum, max_val)));
  } else {
    loss = tg::add(tg::add(negative_part, max_val), log_sum);
  }
  if (options.weight.defined()) loss = tg::mul(loss, options.weight);
  return apply_reduction(loss, options.reduction);
}

}  // namespace tg::nn::functional
