// Layer normalization over the last dim of a dense 2-D tensor without autograd (kernels'
// layer_norm_rows): each checks its operands and calls the device's kernel.
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

}  // namespace tg::native
