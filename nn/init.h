// tg::nn::init: in-place parameter initializers with PyTorch's names, arguments and formulas
// (torch.nn.init). Each writes under no-grad, draws from the global tg generator
// (tg::manual_seed), and returns the tensor it was given.
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "../core/tensor.h"

namespace tg::nn::init {

// The recommended gain for a nonlinearity: linear, conv1d/2d/3d, conv_transpose1d/2d/3d and
// sigmoid 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)) with slope = param
// (0.01 when absent); selu 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

// PyTorch's _calculate_fan_in_and_fan_out: for a weight of shape [out, in, k1, k2, ...],
// fan_in = in * k1 * k2 * ..., fan_out = out * k1 * k2 * ... (needs at least 2 dims).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

const Tensor& uniform_(const Tensor& tensor, double a = 0.0, double b = 1.0);
const Tensor& normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0);
const Tensor& constant_(const Tensor& tensor, double val);
const Tensor& zeros_(const Tensor& tensor);
const Tensor& ones_(const Tensor& tensor);
// Identity matrix (2-D tensors only).
const Tensor& eye_(const Tensor& tensor);

// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
const Tensor& xavier_uniform_(const Tensor& tensor, double gain = 1.0);
// N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
const Tensor& xavier_normal_(const Tensor& tensor, double gain = 1.0);

// U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a),
// fan = fan_in or fan_out by mode ("fan_in" keeps the forward pass's variance, "fan_out" the
// backward's). `a` is the negative slope of the leaky_relu that follows.
const Tensor& kaiming_uniform_(const Tensor& tensor, double a = 0.0,
                               const std::string& mode = "fan_in",
                               const std::string& nonlinearity = "leaky_relu");
// N(0, std^2), std = gain / sqrt(fan).
const Tensor& kaiming_normal_(const Tensor& tensor, double a = 0.0,
                              const std::string& mode = "fan_in",
                              const std::string& nonlinearity = "leaky_relu");

// A (semi-)orthogonal matrix, as PyTorch: the tensor viewed as [size(0), numel / size(0)] is
// filled with Q from the QR decomposition of a N(0, 1) matrix (Householder, float64, on the
// host), its columns' signs fixed by diag(R), then scaled by gain. Needs at least 2 dims.
const Tensor& orthogonal_(const Tensor& tensor, double gain = 1.0);

}  // namespace tg::nn::init
