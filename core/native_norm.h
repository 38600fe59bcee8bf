// Layer normalization over the last dim of a dense 2-D tensor, and batch normalization over the
// channels (dim 1) of [N, C, *], without autograd (kernels' layer_norm_rows, batch_norm): each
// checks its operands and calls the device's kernel.
#pragma once
#include <tuple>

#include "tensor.h"

namespace tg::native {

// Whether `device`'s kernels include the fused layer normalization.
bool has_fused_layer_norm(Device device);

// (y, mean, rstd) for x [rows, cols]: y = (x - mean) * rstd per row, rstd = 1/sqrt(var + eps)
// with the biased variance; mean and rstd are [rows].
std::tuple<Tensor, Tensor, Tensor> layer_norm_rows(const Tensor& x, double eps);
// grad_x = rstd * (g - mean(g) - y * mean(g * y)) per row, y recomputed from x, mean, rstd.
Tensor layer_norm_rows_backward(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                const Tensor& grad_y);

// Whether `device`'s kernels include the fused batch normalization.
bool has_fused_batch_norm(Device device);

struct BatchNormStats {
  Tensor mean, var;  // [C], x's dtype; var is biased
};

// (y, stats) for x [N, C, *]: the contract of kernels::BatchNormArgs. training: the batch's
// statistics are computed and returned; otherwise `given` (the running statistics) is used and
// returned in x's dtype. weight, bias: [C] or undefined.
std::tuple<Tensor, BatchNormStats> batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              const BatchNormStats& given, bool training, double eps);
struct BatchNormGrads {
  Tensor x, weight, bias;  // each undefined unless asked for
};
BatchNormGrads batch_norm_backward(const Tensor& x, const Tensor& weight, const BatchNormStats& stats,
                                   const Tensor& grad_y, bool training, double eps, bool need_x,
                                   bool need_weight, bool need_bias);

}  // namespace tg::native
