// Softmax cross-entropy over the rows of a dense 2-D tensor of logits without autograd (kernels'
// cross_entropy_rows): each checks its operands and calls the device's kernel.
#pragma once
#include <tuple>

#include "tensor.h"

namespace tg::native {

// Whether `device`'s kernels include the fused softmax cross-entropy.
bool has_fused_cross_entropy(Device device);

struct CrossEntropyRowsOptions {
  Tensor weight{};  // [C] or undefined
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};

// What the backward needs of each row's log-sum-exp: max + log_sum, each [N].
struct CrossEntropyRowStats {
  Tensor max, log_sum;
};

// (loss, stats, row_weight), for logits [N, C] and int64 class indices target [N]: the contract
// of kernels::CrossEntropyArgs. A target outside [0, C) that is not ignore_index
// throws tg::Error (Index) naming "cross_entropy" (on CUDA: at the next synchronization).
std::tuple<Tensor, CrossEntropyRowStats, Tensor> cross_entropy_rows(const Tensor& logits, const Tensor& target,
                                                      const CrossEntropyRowsOptions& options);
// The gradient w.r.t. the logits of sum(loss * grad_loss), from the forward's stats.
Tensor cross_entropy_rows_backward(const Tensor& logits, const Tensor& target, const CrossEntropyRowStats& stats,
                                   const Tensor& grad_loss, const CrossEntropyRowsOptions& options);

}  // namespace tg::native
