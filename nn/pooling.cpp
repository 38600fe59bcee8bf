#include "pooling.h"

#include "../autograd/functions.h"

namespace tg::nn {

namespace {
const char* py_bool_str(bool b) { return b ? "True" : "False"; }
}  // namespace

MaxPool2d::MaxPool2d(ExpandingArray<2> kernel_size, ExpandingArray<2> stride,
                     ExpandingArray<2> padding, ExpandingArray<2> dilation, bool return_indices,
                     bool ceil_mode)
    : Module("MaxPool2d"),
      kernel_size(kernel_size),
      stride(stride.given() ? stride : kernel_size),
      padding(padding),
      dilation(dilation),
      return_indices(return_indices),
      ceil_mode(ceil_mode) {
  TG_CHECK(kernel_size.given() && padding.given() && dilation.given(), Value,
           "MaxPool2d: kernel_size, padding and dilation must be given");
}

Tensor MaxPool2d::forward(const Tensor& input) {
  return max_pool2d(input, kernel_size.shape(), stride.shape(), padding.shape(), dilation.shape(),
                    ceil_mode);
}

std::tuple<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& input) {
  return max_pool2d_with_indices(input, kernel_size.shape(), stride.shape(), padding.shape(),
                                 dilation.shape(), ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + kernel_size.repr() + ", stride=" + stride.repr() + ", padding=" +
         padding.repr() + ", dilation=" + dilation.repr() + ", ceil_mode=" + py_bool_str(ceil_mode);
}

AvgPool2d::AvgPool2d(ExpandingArray<2> kernel_size, ExpandingArray<2> stride,
                     ExpandingArray<2> padding, bool ceil_mode, bool count_include_pad,
                     std::optional<int64_t> divisor_override)
    : Module("AvgPool2d"),
      kernel_size(kernel_size),
      stride(stride.given() ? stride : kernel_size),
      padding(padding),
      ceil_mode(ceil_mode),
      count_include_pad(count_include_pad),
      divisor_override(divisor_override) {
  TG_CHECK(kernel_size.given() && padding.given(), Value,
           "AvgPool2d: kernel_size and padding must be given");
  TG_CHECK(!divisor_override || *divisor_override != 0, Value,
           "AvgPool2d: divisor_override must not be zero");
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return avg_pool2d(input, kernel_size.shape(), stride.shape(), padding.shape(), ceil_mode,
                    count_include_pad, divisor_override);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + kernel_size.repr() + ", stride=" + stride.repr() + ", padding=" +
         padding.repr();
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(ExpandingArray<2> output_size)
    : Module("AdaptiveAvgPool2d"), output_size(output_size) {
  TG_CHECK(output_size.given(), Value, "AdaptiveAvgPool2d: output_size must be given");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  return adaptive_avg_pool2d(input, output_size.shape());
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + output_size.repr(); }

}  // namespace tg::nn
