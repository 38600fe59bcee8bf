#include "conv.h"

#include <cmath>
#include <sstream>

#include "../core/native.h"

namespace tg::nn {

namespace {

TensorOptions conv_param_options(const std::string& type, TensorOptions options) {
  TG_CHECK(is_floating(options.dtype_), Type, type, ": parameters must be floating-point, got ",
           options.dtype_);
  return options.requires_grad(false);
}

template <size_t D>
bool all_positive(const ExpandingArray<D>& a) {
  for (int64_t v : a.values())
    if (v <= 0) return false;
  return true;
}

template <size_t D>
bool all_non_negative(const ExpandingArray<D>& a) {
  for (int64_t v : a.values())
    if (v < 0) return false;
  return true;
}

}  // namespace

template <size_t D>
ConvNd<D>::ConvNd(std::string type, int64_t in_channels, int64_t out_channels,
                  ExpandingArray<D> kernel_size, ExpandingArray<D> stride,
                  ConvPaddingArg<D> padding, ExpandingArray<D> dilation, bool transposed,
                  ExpandingArray<D> output_padding, int64_t groups, bool bias,
                  std::string padding_mode, TensorOptions options)
    : Module(std::move(type)),
      in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      stride(stride),
      padding(padding),
      dilation(dilation),
      transposed(transposed),
      output_padding(output_padding),
      groups(groups),
      padding_mode(std::move(padding_mode)) {
  const std::string& name = type_name();
  TG_CHECK(in_channels >= 0 && out_channels >= 0, Value, name,
           ": in_channels and out_channels must be >= 0, got ", in_channels, " and ", out_channels);
  TG_CHECK(groups > 0, Value, name, ": groups must be a positive integer, got ", groups);
  TG_CHECK(in_channels % groups == 0, Value, name, ": in_channels (", in_channels,
           ") must be divisible by groups (", groups, ")");
  TG_CHECK(out_channels % groups == 0, Value, name, ": out_channels (", out_channels,
           ") must be divisible by groups (", groups, ")");
  TG_CHECK(all_positive(kernel_size), Value, name, ": kernel_size must be positive, got ",
           kernel_size.tuple_repr());
  TG_CHECK(all_positive(stride), Value, name, ": stride must be positive, got ", stride.tuple_repr());
  TG_CHECK(all_positive(dilation), Value, name, ": dilation must be positive, got ",
           dilation.tuple_repr());
  TG_CHECK(all_non_negative(output_padding), Value, name,
           ": output_padding must be non-negative, got ", output_padding.tuple_repr());
  if (padding.named()) {
    const ConvPadding mode = conv_padding_from_string(padding.name(), name.c_str());
    TG_CHECK(mode != ConvPadding::Same || stride.all_equal_to(1), Value, name,
             ": padding=\"same\" is not supported for strided convolutions (stride ",
             stride.tuple_repr(), ")");
  } else {
    TG_CHECK(all_non_negative(padding.size()), Value, name, ": padding must be non-negative, got ",
             padding.size().tuple_repr());
  }
  TG_CHECK(this->padding_mode == "zeros", Value, name, ": padding_mode \"", this->padding_mode,
           "\" is not supported (tapegrad has only \"zeros\"; PyTorch also has \"reflect\", "
           "\"replicate\" and \"circular\")");
  options = conv_param_options(name, options);
  Shape wshape = transposed ? Shape{in_channels, out_channels / groups}
                            : Shape{out_channels, in_channels / groups};
  for (int64_t k : kernel_size.values()) wshape.push_back(k);
  weight = register_parameter("weight", tg::empty(wshape, options));
  this->bias = register_parameter("bias", bias ? tg::empty({out_channels}, options) : Tensor());
  reset_parameters();
}

template <size_t D>
void ConvNd<D>::reset_parameters() {
  // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in), which is
  // 1 / sqrt(fan_in); PyTorch's _ConvNd draws the bias from the same bound.
  int64_t fan_in = weight.size(1);
  for (int64_t k : kernel_size.values()) fan_in *= k;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  if (weight.numel() > 0 && fan_in > 0)
    native::random_(weight, native::RandomKind::Uniform, -bound, bound);
  if (bias.defined() && bias.numel() > 0)
    native::random_(bias, native::RandomKind::Uniform, -bound, bound);
}

template <size_t D>
std::string ConvNd<D>::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=" << kernel_size.tuple_repr()
     << ", stride=" << stride.tuple_repr();
  if (padding.named()) os << ", padding=" << padding.name();
  else if (!padding.size().all_equal_to(0)) os << ", padding=" << padding.size().tuple_repr();
  if (!dilation.all_equal_to(1)) os << ", dilation=" << dilation.tuple_repr();
  if (!output_padding.all_equal_to(0)) os << ", output_padding=" << output_padding.tuple_repr();
  if (groups != 1) os << ", groups=" << groups;
  if (!bias.defined()) os << ", bias=False";
  if (padding_mode != "zeros") os << ", padding_mode=" << padding_mode;
  return os.str();
}

template class ConvNd<1>;
template class ConvNd<2>;

// ---------------------------------------------------------------- Conv1d, Conv2d

Conv1d::Conv1d(int64_t in_channels, int64_t out_channels, ExpandingArray<1> kernel_size,
               ExpandingArray<1> stride, ConvPaddingArg<1> padding, ExpandingArray<1> dilation,
               int64_t groups, bool bias, std::string padding_mode, TensorOptions options)
    : ConvNd<1>("Conv1d", in_channels, out_channels, kernel_size, stride, padding, dilation, false,
                0, groups, bias, std::move(padding_mode), options) {}

Tensor Conv1d::forward(const Tensor& input) {
  if (padding.named())
    return conv1d(input, weight, bias, stride.shape(),
                  conv_padding_from_string(padding.name(), "Conv1d"), dilation.shape(), groups);
  return conv1d(input, weight, bias, stride.shape(), padding.size().shape(), dilation.shape(), groups);
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size,
               ExpandingArray<2> stride, ConvPaddingArg<2> padding, ExpandingArray<2> dilation,
               int64_t groups, bool bias, std::string padding_mode, TensorOptions options)
    : ConvNd<2>("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation, false,
                0, groups, bias, std::move(padding_mode), options) {}

Tensor Conv2d::forward(const Tensor& input) {
  if (padding.named())
    return conv2d(input, weight, bias, stride.shape(),
                  conv_padding_from_string(padding.name(), "Conv2d"), dilation.shape(), groups);
  return conv2d(input, weight, bias, stride.shape(), padding.size().shape(), dilation.shape(), groups);
}

// ---------------------------------------------------------------- ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels,
                                 ExpandingArray<2> kernel_size, ExpandingArray<2> stride,
                                 ExpandingArray<2> padding, ExpandingArray<2> output_padding,
                                 int64_t groups, bool bias, ExpandingArray<2> dilation,
                                 std::string padding_mode, TensorOptions options)
    : ConvNd<2>("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding,
                dilation, true, output_padding, groups, bias, std::move(padding_mode), options) {
  for (int i = 0; i < 2; ++i)
    TG_CHECK(output_padding[i] < stride[i] || output_padding[i] < dilation[i], Value,
             "ConvTranspose2d: output_padding ", output_padding.tuple_repr(),
             " must be smaller than either stride ", stride.tuple_repr(), " or dilation ",
             dilation.tuple_repr());
}

Tensor ConvTranspose2d::forward(const Tensor& input) {
  return conv_transpose2d(input, weight, bias, stride.shape(), padding.size().shape(),
                          output_padding.shape(), groups, dilation.shape());
}

Tensor ConvTranspose2d::forward(const Tensor& input, const Shape& output_size) {
  TG_CHECK(input.defined() && (input.dim() == 3 || input.dim() == 4), Value,
           "ConvTranspose2d: expected a 3-D or 4-D input, got ",
           input.defined() ? shape_str(input.sizes()) : std::string("an undefined tensor"));
  TG_CHECK(output_size.size() == 2 || output_size.size() == static_cast<size_t>(input.dim()), Value,
           "ConvTranspose2d: output_size must have 2 or ", input.dim(), " values, got ", output_size);
  const Shape size(output_size.end() - 2, output_size.end());
  Shape lo(2), hi(2), pad(2);
  for (int i = 0; i < 2; ++i) {
    const int64_t in = input.size(input.dim() - 2 + i);
    lo[i] = (in - 1) * stride[i] - 2 * padding.size()[i] + dilation[i] * (kernel_size[i] - 1) + 1;
    hi[i] = lo[i] + stride[i] - 1;
  }
  for (int i = 0; i < 2; ++i) {
    TG_CHECK(size[i] >= lo[i] && size[i] <= hi[i], Value, "ConvTranspose2d: requested an output size of ",
             size, ", but valid sizes range from ", lo, " to ", hi, " (for an input of shape ",
             input.sizes(), ")");
    pad[i] = size[i] - lo[i];
  }
  return conv_transpose2d(input, weight, bias, stride.shape(), padding.size().shape(), pad, groups,
                          dilation.shape());
}

}  // namespace tg::nn
