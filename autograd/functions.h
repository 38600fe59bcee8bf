// The differentiable ops: the public tg:: functions. Each runs the native op and, when an input
// requires grad, records its backward formula (all formulas live in autograd/derivatives.cpp).
#pragma once
#include <optional>
#include <tuple>
#include <vector>

#include "../core/tensor.h"
#include "node.h"

namespace tg {

// ---- pointwise
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor rdiv(const Tensor& a, double b);  // b / a
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor pow(const Tensor& a, double exponent);
Tensor pow(double base, const Tensor& exponent);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
// Rounding has a zero gradient; round() rounds half to even.
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);
Tensor trunc(const Tensor& x);
// remainder: Python's % (the divisor's sign); fmod: C's (the dividend's). Integer division by
// zero is an error.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// approximate: "none" (erf) or "tanh", as in PyTorch.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, double b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// Comparisons and logic give bool tensors and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

// ---- reductions (dims empty: all dims)
Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// The vector p-norm over dims (all when empty); p may be +-infinity or 0 (count of nonzeros).
Tensor norm(const Tensor& x, double p = 2.0, const Shape& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// correction = 1: the unbiased estimate (PyTorch's default).
Tensor var(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor amax(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor any(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor sum_to(const Tensor& x, const Shape& shape);  // sums broadcast dims away

// ---- linear algebra and rows
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b);  // bias + a @ b, 2-D a and b
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// softmax over the entries where the bool `mask` (broadcast to x) is true, 0 elsewhere: the
// softmax of x.masked_fill(!mask, -inf) in one op, so a row with no true entry is NaN.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, int64_t dim);

// ---- shapes (views where possible)
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
Tensor to(const Tensor& x, Device device);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// ---- indexing
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Rows of `weight` ([num, dim]) picked by int64 `indices` of any shape: shape indices + [dim].
Tensor embedding(const Tensor& weight, const Tensor& indices);

// ---- in place: these bump the version and, in grad mode, extend self's history
const Tensor& add_(const Tensor& self, const Tensor& other, double alpha = 1.0);
const Tensor& sub_(const Tensor& self, const Tensor& other, double alpha = 1.0);
const Tensor& mul_(const Tensor& self, const Tensor& other);
const Tensor& div_(const Tensor& self, const Tensor& other);
const Tensor& add_scalar_(const Tensor& self, double value);
const Tensor& mul_scalar_(const Tensor& self, double value);
const Tensor& fill_(const Tensor& self, double value);
const Tensor& copy_(const Tensor& self, const Tensor& src);

// ---- convolution and pooling (autograd/derivatives_conv.cpp), with PyTorch's semantics and
// layouts. Images are NCHW: input [N, C, H, W] or unbatched [C, H, W] (conv1d: [N, C, L] or
// [C, L]); float32 or float64. stride, padding, dilation, output_padding and kernel_size take one
// value (for both axes) or one per axis (conv1d: one). Every backward is written with these
// differentiable ops, so gradients of any order are available.

// Padding by name: Valid is no padding; Same pads so that the output has the input's size (stride
// must be 1), the extra row/column at the bottom/right when dilation * (kernel - 1) is odd, as
// PyTorch's padding="same".
enum class ConvPadding { Valid, Same };
// "valid" or "same" (anything else is an error naming `op`).
ConvPadding conv_padding_from_string(const std::string& padding, const char* op = "conv2d");

// weight [out_channels, in_channels / groups, kH, kW], bias [out_channels] or undefined.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Shape& stride = {1}, const Shape& padding = {0}, const Shape& dilation = {1},
              int64_t groups = 1);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              ConvPadding padding, const Shape& dilation = {1}, int64_t groups = 1);
// weight [out_channels, in_channels / groups, kW]; computed as conv2d over a unit height.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Shape& stride = {1}, const Shape& padding = {0}, const Shape& dilation = {1},
              int64_t groups = 1);
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              ConvPadding padding, const Shape& dilation = {1}, int64_t groups = 1);
// weight [in_channels, out_channels / groups, kH, kW], bias [out_channels]. The adjoint of
// conv2d: output size (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding
// + 1, output_padding smaller than stride or dilation. Arguments in PyTorch's order (groups
// before dilation).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                        const Shape& stride = {1}, const Shape& padding = {0},
                        const Shape& output_padding = {0}, int64_t groups = 1,
                        const Shape& dilation = {1});
// stride empty: kernel_size. Padding is -infinity, at most half the kernel.
Tensor max_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride = {},
                  const Shape& padding = {0}, const Shape& dilation = {1}, bool ceil_mode = false);
// Also returns the int64 position (y * W + x in its input plane) of each maximum.
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const Shape& kernel_size,
                                                   const Shape& stride = {},
                                                   const Shape& padding = {0},
                                                   const Shape& dilation = {1},
                                                   bool ceil_mode = false);
// stride empty: kernel_size. Padding is zeros, at most half the kernel; the divisor is
// divisor_override if given, else the window's size within the padded input
// (count_include_pad) or the number of input elements in it.
Tensor avg_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride = {},
                  const Shape& padding = {0}, bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
// output_size: one value (square) or [out_h, out_w].
Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size);

// ---- composites (autograd/composites.cpp: built from the ops above)
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor lerp(const Tensor& start, const Tensor& end, double weight);
Tensor addcmul(const Tensor& x, const Tensor& t1, const Tensor& t2, double value = 1.0);
Tensor addcdiv(const Tensor& x, const Tensor& t1, const Tensor& t2, double value = 1.0);
// The lower / upper triangle of the last two dims, from `diagonal` (0: the main one).
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
Tensor flip(const Tensor& x, const Shape& dims);
// Without dims: rolls the flattened tensor and restores its shape.
Tensor roll(const Tensor& x, const Shape& shifts, const Shape& dims = {});
Tensor dot(const Tensor& a, const Tensor& b);
Tensor outer(const Tensor& a, const Tensor& b);
// |a - b| <= atol + rtol * |b| elementwise (bool, not differentiable).
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false);
// The elements where the (broadcast) mask is true, as a 1-D tensor.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// Bool masks of NaN, of +-Inf, and of neither (integer and bool tensors: no NaN or Inf).
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
// NaN -> nan, +Inf -> posinf, -Inf -> neginf (by default the dtype's largest and lowest values);
// the gradient passes where x was finite.
Tensor nan_to_num(const Tensor& x, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);

}  // namespace tg
