// The ops without autograd: each checks its inputs, allocates its output on the input's device
// and calls that device's kernel through the dispatch table. autograd/ wraps them.
#pragma once
#include <array>
#include <optional>
#include <tuple>
#include <vector>

#include "tensor.h"

namespace tg::native {

using kernels::ActivationGrad;
using kernels::BinaryOp;
using kernels::RandomKind;
using kernels::ReduceOp;
using kernels::UnaryOp;

// The dispatch table: the kernels of `device`, or an error naming `op` if none were built.
const kernels::KernelTable& kernels_for(const char* op, Device device);
kernels::View kernel_view(const Tensor& t);

Tensor empty(const Shape& shape, DType dtype, Device device);
// A tensor sharing `base`'s storage (no autograd history).
Tensor as_strided(const Tensor& base, const Shape& sizes, const Shape& strides, int64_t offset);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& t);
void check_dims(const char* op, const Shape& shape);
void bump_version(const Tensor& t);
// A scalar as a 0-dim tensor on x's device, typed so that it does not promote x (PyTorch's
// "weak" scalars): x's dtype if floating, else int64 or float32 by the value.
Tensor scalar_like(const Tensor& x, double value);

// ---- copies
void fill_(const Tensor& t, double value);
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst, dtype converted
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);                        // contiguous copy
Tensor to_dtype(const Tensor& t, DType dtype);        // returns t itself when already dtype
Tensor to_device(const Tensor& t, Device device);     // returns t itself when already there

// ---- views (metadata only)
Shape infer_shape(const char* op, const Shape& shape, int64_t numel);
Tensor view(const Tensor& t, const Shape& shape);     // error if strides make it impossible
std::optional<Tensor> try_view(const Tensor& t, const Shape& shape);
Tensor reshape(const Tensor& t, const Shape& shape);  // view when possible, else a copy
Tensor permute(const Tensor& t, const Shape& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor select(const Tensor& t, int64_t dim, int64_t index);

// ---- pointwise
Tensor unary(const char* op_name, UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
void unary_(const char* op_name, UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
// PyTorch's result_type: the promoted dtype, except that a 0-dim operand only counts when its
// category (bool < integral < floating) is above the other, dimensioned one's.
DType result_type(const Tensor& a, const Tensor& b);
Tensor binary(const char* op_name, BinaryOp op, const Tensor& a, const Tensor& b);
void binary_(const char* op_name, BinaryOp op, const Tensor& self, const Tensor& other);
Tensor activation_grad(ActivationGrad op, const Tensor& grad, const Tensor& x, const Tensor& y,
                       double p0 = 0, double p1 = 0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- reductions: dims empty = all dims
std::vector<int64_t> reduce_dims(const char* op, const Tensor& t, const Shape& dims);
Tensor reduce(const char* op_name, ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim);
Tensor sum_to(const Tensor& x, const Shape& shape);  // sums broadcast dims away

// ---- linear algebra and rows
Tensor matmul(const Tensor& a, const Tensor& b);
// bias + a @ b for 2-D a and b, bias broadcast to the product: one GEMM that accumulates onto the
// bias (PyTorch's addmm with alpha = beta = 1).
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b);
Tensor softmax(const Tensor& x, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim, bool log);
// softmax(x with the entries where `mask` is false set to -inf) along dim, fused: masked entries
// get 0, a row without a true entry is NaN (as PyTorch's softmax of an all -inf row). mask is
// Bool and broadcasts to x's shape. The backward is softmax_backward of the output.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, int64_t dim);

// ---- indexing
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);

// ---- random: advances the global generator
void random_(const Tensor& t, RandomKind kind, double a, double b);

// ---- convolution and pooling (core/native_conv.cpp). NCHW images: input [N, C, H, W] or
// unbatched [C, H, W] (the result is then unbatched too). Float32 or float64.

// stride/dilation > 0; padding >= 0 on each side: pad_begin is the top/left padding, pad_end the
// bottom/right (equal except for PyTorch's padding="same" with an even total).
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> pad_begin{0, 0};
  std::array<int64_t, 2> pad_end{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};
// weight [out_channels, in_channels / groups, kH, kW], bias [out_channels] or undefined.
// Checks everything and names `op` ("conv2d", "conv1d") in errors.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
              const char* op = "conv2d");
// The gradient of conv2d w.r.t. its input of shape input_shape, plus bias (undefined: none) on
// the channel dim: conv_transpose2d's forward.
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& p, const Tensor& bias = Tensor());
// The gradient of conv2d w.r.t. its weight of shape weight_shape (summed over the batch).
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                              const Conv2dParams& p);
// weight [in_channels, out_channels / groups, kH, kW] (PyTorch's layout); the output's size is
// (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1 per axis.
// Checks everything; returns the output (conv2d_backward_input of the input, plus bias).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& p, std::array<int64_t, 2> output_padding);
// The output shape conv_transpose2d gives (after the same checks).
Shape conv_transpose2d_output_shape(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Conv2dParams& p, std::array<int64_t, 2> output_padding);

struct Pool2dParams {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
  int64_t divisor_override = 0;   // average pooling only; 0: none
};
// Values and int64 indices (y * W + x within each input plane) of each window's maximum.
std::tuple<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2dParams& p);
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& input, const Pool2dParams& p);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2dParams& p);
// output_size: [out_h, out_w].
Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);

}  // namespace tg::native
