// Convolution layers with PyTorch's constructor arguments (names, order, defaults), parameter
// names and layouts (a state dict moves between the two unchanged), default initialization and
// printed form (extra_repr). `options` (dtype, device) is PyTorch's device=/dtype= pair.
#pragma once
#include <array>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "../autograd/functions.h"
#include "module.h"

namespace tg::nn {

// A size given as one number for every axis or one number per axis, like PyTorch's int-or-tuple
// arguments: Conv2d(3, 16, 5) or Conv2d(3, 16, {3, 5}). Remembers which, because pooling layers
// print it back as given ("kernel_size=2" vs "kernel_size=(2, 2)").
template <size_t D>
class ExpandingArray {
 public:
  // Not given (PyTorch's None), e.g. a pooling stride that defaults to the kernel size.
  ExpandingArray() : given_(false) {}
  template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  ExpandingArray(I value) : scalar_(true) {
    values_.fill(static_cast<int64_t>(value));
  }
  ExpandingArray(std::initializer_list<int64_t> values) : ExpandingArray(Shape(values)) {}
  ExpandingArray(const Shape& values) {
    TG_CHECK(values.size() == D || values.size() == 1, Value, "nn: expected 1 or ", D,
             " values for a size, got ", values);
    for (size_t i = 0; i < D; ++i) values_[i] = values.size() == 1 ? values[0] : values[i];
  }

  bool given() const { return given_; }
  int64_t operator[](size_t i) const { return values_[i]; }
  const std::array<int64_t, D>& values() const { return values_; }
  Shape shape() const { return Shape(values_.begin(), values_.end()); }
  bool given_as_scalar() const { return scalar_; }
  bool all_equal_to(int64_t v) const {
    for (int64_t x : values_)
      if (x != v) return false;
    return true;
  }
  // As Python prints the tuple: "(3, 5)", "(3,)".
  std::string tuple_repr() const {
    std::string s = "(";
    for (size_t i = 0; i < D; ++i) s += (i ? ", " : "") + std::to_string(values_[i]);
    return s + (D == 1 ? ",)" : ")");
  }
  // As the user gave it: "2" or "(2, 2)".
  std::string repr() const { return scalar_ ? std::to_string(values_[0]) : tuple_repr(); }

 private:
  std::array<int64_t, D> values_{};
  bool scalar_ = false;
  bool given_ = true;
};

// A convolution's padding: numbers (ExpandingArray) or "valid" / "same" (tg::ConvPadding).
template <size_t D>
class ConvPaddingArg {
 public:
  template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  ConvPaddingArg(I value) : size_(value) {}
  ConvPaddingArg(std::initializer_list<int64_t> values) : size_(values) {}
  ConvPaddingArg(const Shape& values) : size_(values) {}
  ConvPaddingArg(ExpandingArray<D> values) : size_(values) {}
  ConvPaddingArg(ConvPadding mode)
      : size_(0), name_(mode == ConvPadding::Same ? "same" : "valid"), named_(true) {}
  ConvPaddingArg(const char* name) : size_(0), name_(name), named_(true) {}
  ConvPaddingArg(const std::string& name) : size_(0), name_(name), named_(true) {}

  bool named() const { return named_; }                    // given as a string or ConvPadding
  const std::string& name() const { return name_; }        // when named(): checked by the layer
  const ExpandingArray<D>& size() const { return size_; }  // when !named()

 private:
  ExpandingArray<D> size_;
  std::string name_;
  bool named_ = false;
};

// Shared by the convolution layers: parameters, init, checks and printing.
template <size_t D>
class ConvNd : public Module {
 public:
  std::string extra_repr() const override;
  // kaiming_uniform_(a = sqrt(5)) on the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  // fan_in = weight.size(1) * prod(kernel_size); the bias ~ the same bound.
  void reset_parameters();

  int64_t in_channels, out_channels;
  ExpandingArray<D> kernel_size, stride;
  ConvPaddingArg<D> padding;
  ExpandingArray<D> dilation;
  bool transposed;
  ExpandingArray<D> output_padding;
  int64_t groups;
  std::string padding_mode;
  Tensor weight, bias;  // bias undefined when bias=false

 protected:
  ConvNd(std::string type, int64_t in_channels, int64_t out_channels,
         ExpandingArray<D> kernel_size, ExpandingArray<D> stride, ConvPaddingArg<D> padding,
         ExpandingArray<D> dilation, bool transposed, ExpandingArray<D> output_padding,
         int64_t groups, bool bias, std::string padding_mode, TensorOptions options);
};

// Input [N, C, L] or [C, L]; weight [out_channels, in_channels / groups, kernel_size].
class Conv1d : public ConvNd<1> {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, ExpandingArray<1> kernel_size,
         ExpandingArray<1> stride = 1, ConvPaddingArg<1> padding = 0,
         ExpandingArray<1> dilation = 1, int64_t groups = 1, bool bias = true,
         std::string padding_mode = "zeros", TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
};

// Input [N, C, H, W] or [C, H, W]; weight [out_channels, in_channels / groups, kH, kW].
class Conv2d : public ConvNd<2> {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size,
         ExpandingArray<2> stride = 1, ConvPaddingArg<2> padding = 0,
         ExpandingArray<2> dilation = 1, int64_t groups = 1, bool bias = true,
         std::string padding_mode = "zeros", TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
};

// Input [N, C, H, W] or [C, H, W]; weight [in_channels, out_channels / groups, kH, kW].
class ConvTranspose2d : public ConvNd<2> {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size,
                  ExpandingArray<2> stride = 1, ExpandingArray<2> padding = 0,
                  ExpandingArray<2> output_padding = 0, int64_t groups = 1, bool bias = true,
                  ExpandingArray<2> dilation = 1, std::string padding_mode = "zeros",
                  TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  // output_size ([H, W], or a full shape whose last two are used) picks the output_padding that
  // gives that size, as PyTorch's forward(input, output_size).
  Tensor forward(const Tensor& input, const Shape& output_size);
};

}  // namespace tg::nn
