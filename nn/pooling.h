// Pooling layers with PyTorch's constructor arguments (names, order, defaults) and printed form
// (extra_repr prints sizes as they were given: "kernel_size=2" or "kernel_size=(2, 3)").
#pragma once
#include <optional>
#include <string>
#include <tuple>

#include "conv.h"
#include "module.h"

namespace tg::nn {

// Max over each window (padding is -infinity); stride not given: kernel_size. forward gives the
// values; forward_with_indices also the int64 argmax positions (y * W + x in each input plane),
// what PyTorch returns with return_indices=True.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(ExpandingArray<2> kernel_size, ExpandingArray<2> stride = {},
                     ExpandingArray<2> padding = 0, ExpandingArray<2> dilation = 1,
                     bool return_indices = false, bool ceil_mode = false);
  Tensor forward(const Tensor& input) override;
  std::tuple<Tensor, Tensor> forward_with_indices(const Tensor& input);
  std::string extra_repr() const override;

  ExpandingArray<2> kernel_size, stride, padding, dilation;
  bool return_indices, ceil_mode;
};

// Mean over each window; stride not given: kernel_size. The divisor is divisor_override if
// given, else the window's size within the padded input (count_include_pad) or the number of
// input elements in it.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(ExpandingArray<2> kernel_size, ExpandingArray<2> stride = {},
                     ExpandingArray<2> padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true,
                     std::optional<int64_t> divisor_override = std::nullopt);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  ExpandingArray<2> kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;
};

// Mean over output_size[0] x output_size[1] windows that tile the input (PyTorch's
// floor/ceil bounds).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(ExpandingArray<2> output_size);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  ExpandingArray<2> output_size;
};

}  // namespace tg::nn
