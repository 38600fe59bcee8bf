// tg::nn::functional (alias tg::nn::F): the stateless forms of the layers and losses, with
// PyTorch's names, argument names, defaults and semantics (torch.nn.functional). Every function
// is composed of differentiable tg ops, so gradients come from the tape; binary_cross_entropy
// records its own backward node so that its gradient matches PyTorch's at inputs of exactly 0
// and 1.
//
// Losses take `reduction`: "none" (one loss per element), "mean" or "sum". Options that PyTorch
// passes by keyword are option structs here, so that C++20 designated initializers read the
// same: F::cross_entropy(logits, target, {.ignore_index = 0, .label_smoothing = 0.1}).
#pragma once
#include <optional>
#include <string>

#include "../autograd/functions.h"
#include "../core/tensor.h"

namespace tg::nn::functional {

// x @ weight^T + bias: x [*, in_features], weight [out_features, in_features], bias
// [out_features] or undefined.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

Tensor relu(const Tensor& input);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
// approximate: "none" (the erf form) or "tanh".
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
Tensor softmax(const Tensor& input, int64_t dim);
Tensor log_softmax(const Tensor& input, int64_t dim);

// Inverted dropout: in training, each element is zeroed with probability p (a Bernoulli mask
// from the global generator) and the rest are scaled by 1 / (1 - p); p = 1 gives zeros. Not in
// training (or p = 0): the input itself. p outside [0, 1] is an error.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true);

// Normalizes over the trailing dims given by normalized_shape (biased variance), then applies
// the elementwise affine weight and bias (each of shape normalized_shape, or undefined).
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

// input [N, C, *]. training: normalizes with the batch's statistics over every dim but 1
// (biased variance) and, when running_mean/running_var are given, updates them in place:
// running = (1 - momentum) * running + momentum * batch_stat, with the unbiased batch variance.
// Not training: normalizes with running_mean/running_var (required).
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);

// Rows of weight [num_embeddings, embedding_dim] picked by the int64 indices in input (any
// shape): shape input + [embedding_dim]. The row padding_idx (negative counts from the end)
// receives no gradient.
Tensor embedding(const Tensor& input, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);

// ---------------------------------------------------------------- losses

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      const std::string& reduction = "mean", double beta = 1.0);

struct NLLLossOptions {
  Tensor weight{};  // [C], a rescaling weight per class
  int64_t ignore_index = -100;
  std::string reduction = "mean";
};
// input: log-probabilities [N, C], [N, C, d1, ...] or [C]; target: int64 class indices [N],
// [N, d1, ...] or []. loss_i = -weight[t_i] * input[i, t_i]; entries whose target is
// ignore_index contribute 0. "mean" divides by the sum of weight[t_i] over the entries not
// ignored (NaN when every entry is ignored, as PyTorch).
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = {});

struct CrossEntropyOptions {
  Tensor weight{};  // [C]
  int64_t ignore_index = -100;
  std::string reduction = "mean";
  double label_smoothing = 0.0;
};
// input: unnormalized logits [N, C], [N, C, d1, ...] or [C]. target: either int64 class
// indices (as nll_loss) or class probabilities of the input's shape (floating point).
// Class indices: (1 - eps) * nll_loss(log_softmax(input)) + eps / C * smooth, where
// smooth_i = -sum_c weight[c] * log_softmax(input)[i, c] (0 for ignored entries), reduced with
// nll_loss's denominator. Probabilities: -sum_c weight[c] * target'[i, c] * log_softmax[i, c]
// with target' = target * (1 - eps) + eps / C; "mean" divides by the number of entries (N * d1
// ...), not by the weights; ignore_index must be negative.
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options = {});

struct BCEOptions {
  Tensor weight{};  // broadcast to the input's shape
  std::string reduction = "mean";
};
// input: probabilities in [0, 1] (checked); target: the same shape. Each log is clamped to
// >= -100 so that the loss stays finite; the input gradient is
// weight * (x - t) / max(x (1 - x), 1e-12f), as PyTorch (which also gives the target a gradient).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BCEOptions& options = {});

struct BCEWithLogitsOptions {
  Tensor weight{};  // broadcast to the input's shape
  std::string reduction = "mean";
  Tensor pos_weight{};  // weight of the positive term, broadcast over the last dim (classes)
};
// The sigmoid and binary cross-entropy in one, in PyTorch's stable (log-sum-exp) form.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});

}  // namespace tg::nn::functional

namespace tg::nn {
namespace F = functional;
}
