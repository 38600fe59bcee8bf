// The differentiable convolution and pooling ops (declared in functions.h) and, beside each, its
// backward formula.
//
// Three ops close under differentiation, so gradients of any order come out of the tape:
//   conv2d(x, w)                      -> d/dx: conv2d_input_grad(g, w), d/dw: conv2d_weight_grad(g, x)
//   conv2d_input_grad(g, w) [= conv_transpose2d]
//                                     -> d/dg: conv2d(v, w),            d/dw: conv2d_weight_grad(g, v)
//   conv2d_weight_grad(g, x)          -> d/dg: conv2d(x, v),            d/dx: conv2d_input_grad(g, v)
// (each from <conv2d(x, w), g> = <x, conv2d_input_grad(g, w)> = <w, conv2d_weight_grad(g, x)>).
// Pooling backwards are linear in the incoming gradient; their adjoints are the forward (average
// pooling) or a gather at the saved argmax indices (max pooling).
#include <algorithm>
#include <string>

#include "../core/native.h"
#include "functions.h"

namespace tg {

using autograd::Grads;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;

namespace {

using Pair = std::array<int64_t, 2>;

SavedTensor save_if(bool wanted, const Tensor& t) { return wanted ? SavedTensor(t) : SavedTensor(); }

// One value for both axes, or one per axis.
Pair pair_arg(const char* op, const char* name, const Shape& v) {
  TG_CHECK(v.size() == 1 || v.size() == 2, Value, op, ": ", name, " must have 1 or 2 values, got ",
           v);
  return v.size() == 1 ? Pair{v[0], v[0]} : Pair{v[0], v[1]};
}

int64_t single_arg(const char* op, const char* name, const Shape& v) {
  TG_CHECK(v.size() == 1, Value, op, ": ", name, " must have 1 value, got ", v);
  return v[0];
}

native::Conv2dParams conv_params(const char* op, const Shape& stride, const Shape& padding,
                                 const Shape& dilation, int64_t groups) {
  native::Conv2dParams p;
  p.stride = pair_arg(op, "stride", stride);
  p.pad_begin = p.pad_end = pair_arg(op, "padding", padding);
  p.dilation = pair_arg(op, "dilation", dilation);
  p.groups = groups;
  return p;
}

// PyTorch's padding="same": total dilation * (kernel - 1) per axis, the odd one at the end.
void set_same_padding(const char* op, native::Conv2dParams& p, int64_t kh, int64_t kw) {
  TG_CHECK(p.stride == (Pair{1, 1}), Value, op,
           ": padding=\"same\" is not supported for strided convolutions (stride (", p.stride[0],
           ", ", p.stride[1], "))");
  const Pair k{kh, kw};
  for (int i = 0; i < 2; ++i) {
    const int64_t total = std::max<int64_t>(p.dilation[i] * (k[i] - 1), 0);
    p.pad_begin[i] = total / 2;
    p.pad_end[i] = total - total / 2;
  }
}

// The bias gradient: an image-shaped gradient summed over every dim but the channels.
Tensor channel_sum(const Tensor& g) { return g.dim() == 4 ? sum(g, {0, 2, 3}) : sum(g, {1, 2}); }

// The leading rows/columns of t's last two dims that fit `shape` (conv2d of an input gradient
// can have more output positions than the conv_transpose2d input it is the gradient of, when
// output_padding >= stride).
Tensor fit_spatial(const Tensor& t, const Shape& shape) {
  Tensor r = t;
  for (int i = 1; i <= 2; ++i) {
    const int64_t d = r.dim() - i;
    const int64_t want = shape[shape.size() - i];
    if (r.sizes()[d] != want) r = slice(r, d, 0, want);
  }
  return r;
}

Tensor conv2d_input_grad(const Tensor& g, const Tensor& w, const Shape& x_shape,
                         const native::Conv2dParams& p, const Tensor& bias = Tensor(),
                         const char* name = "conv2d_backward_input");
Tensor conv2d_weight_grad(const Tensor& g, const Tensor& x, const Shape& w_shape,
                          const native::Conv2dParams& p);

Tensor conv2d_op(const Tensor& x, const Tensor& w, const Tensor& b, const native::Conv2dParams& p,
                 const char* name) {
  Tensor out = native::conv2d(x, w, b, p, name);
  if (needs_grad({&x, &w, &b}))
    record(name, {x, w, b}, {out},
           [sx = save_if(w.requires_grad(), x), sw = save_if(x.requires_grad(), w),
            x_shape = x.sizes(), w_shape = w.sizes(), p](Grads& g) {
             if (g.needs(0)) g.in[0] = conv2d_input_grad(g.g(), sw.get(), x_shape, p);
             if (g.needs(1)) g.in[1] = conv2d_weight_grad(g.g(), sx.get(), w_shape, p);
             if (g.needs(2)) g.in[2] = channel_sum(g.g());
           });
  return out;
}

// The gradient of conv2d w.r.t. its input (plus bias on the channels): conv_transpose2d.
Tensor conv2d_input_grad(const Tensor& g, const Tensor& w, const Shape& x_shape,
                         const native::Conv2dParams& p, const Tensor& bias, const char* name) {
  Tensor out = native::conv2d_backward_input(g, w, x_shape, p, bias);
  if (needs_grad({&g, &w, &bias}))
    record(name, {g, w, bias}, {out},
           [sg = save_if(w.requires_grad(), g), sw = save_if(g.requires_grad(), w),
            g_shape = g.sizes(), w_shape = w.sizes(), p](Grads& gr) {
             const Tensor& v = gr.g();
             if (gr.needs(0)) gr.in[0] = fit_spatial(conv2d_op(v, sw.get(), Tensor(), p, "conv2d"), g_shape);
             if (gr.needs(1)) gr.in[1] = conv2d_weight_grad(sg.get(), v, w_shape, p);
             if (gr.needs(2)) gr.in[2] = channel_sum(v);
           });
  return out;
}

// The gradient of conv2d w.r.t. its weight, summed over the batch.
Tensor conv2d_weight_grad(const Tensor& g, const Tensor& x, const Shape& w_shape,
                          const native::Conv2dParams& p) {
  Tensor out = native::conv2d_backward_weight(g, x, w_shape, p);
  if (needs_grad({&g, &x}))
    record("conv2d_backward_weight", {g, x}, {out},
           [sg = save_if(x.requires_grad(), g), sx = save_if(g.requires_grad(), x),
            g_shape = g.sizes(), x_shape = x.sizes(), p](Grads& gr) {
             const Tensor& v = gr.g();
             if (gr.needs(0)) gr.in[0] = fit_spatial(conv2d_op(sx.get(), v, Tensor(), p, "conv2d"), g_shape);
             if (gr.needs(1)) gr.in[1] = conv2d_input_grad(sg.get(), v, x_shape, p);
           });
  return out;
}

}  // namespace

ConvPadding conv_padding_from_string(const std::string& padding, const char* op) {
  if (padding == "valid") return ConvPadding::Valid;
  if (padding == "same") return ConvPadding::Same;
  TG_FAIL(Value, op, ": padding must be \"valid\" or \"same\" (or numbers), got \"", padding, "\"");
}

// ============================================================== convolution

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              const Shape& padding, const Shape& dilation, int64_t groups) {
  return conv2d_op(input, weight, bias, conv_params("conv2d", stride, padding, dilation, groups),
                   "conv2d");
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              ConvPadding padding, const Shape& dilation, int64_t groups) {
  native::Conv2dParams p = conv_params("conv2d", stride, {0}, dilation, groups);
  // A weight of the wrong rank is reported by conv2d itself.
  if (padding == ConvPadding::Same && weight.defined() && weight.dim() == 4)
    set_same_padding("conv2d", p, weight.sizes()[2], weight.sizes()[3]);
  return conv2d_op(input, weight, bias, p, "conv2d");
}

namespace {

// conv1d's own checks (so that messages show the 1-D shapes), then conv2d over [.., 1, L].
Tensor conv1d_impl(const Tensor& input, const Tensor& weight, const Tensor& bias,
                   native::Conv2dParams p) {
  const char* op = "conv1d";
  TG_CHECK(input.defined() && weight.defined(), Value, op, ": the input and weight must be defined");
  TG_CHECK(input.dim() == 2 || input.dim() == 3, Value, op,
           ": expected a 2-D (unbatched [C, L]) or 3-D (batched [N, C, L]) input, got input of "
           "shape ", input.sizes());
  TG_CHECK(weight.dim() == 3, Value, op,
           ": expected a 3-D weight [out_channels, in_channels / groups, kW], got weight of shape ",
           weight.sizes());
  TG_CHECK(p.groups > 0, Value, op, ": groups must be positive, got ", p.groups);
  const int64_t c = input.sizes()[input.dim() - 2];
  TG_CHECK(c == weight.sizes()[1] * p.groups, Value, op, ": expected input with ",
           weight.sizes()[1] * p.groups, " channels (weight ", weight.sizes(), ", groups ",
           p.groups, "), got input of shape ", input.sizes());
  const int64_t d = input.dim() - 1;  // the length dim; the unit height goes before it
  Tensor out = conv2d_op(unsqueeze(input, d), unsqueeze(weight, 2), bias, p, op);
  return squeeze(out, d);
}

native::Conv2dParams conv1d_params(const Shape& stride, const Shape& padding, const Shape& dilation,
                                   int64_t groups) {
  const char* op = "conv1d";
  native::Conv2dParams p;
  p.stride = {1, single_arg(op, "stride", stride)};
  const int64_t pad = single_arg(op, "padding", padding);
  p.pad_begin = p.pad_end = {0, pad};
  p.dilation = {1, single_arg(op, "dilation", dilation)};
  p.groups = groups;
  return p;
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              const Shape& padding, const Shape& dilation, int64_t groups) {
  return conv1d_impl(input, weight, bias, conv1d_params(stride, padding, dilation, groups));
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Shape& stride,
              ConvPadding padding, const Shape& dilation, int64_t groups) {
  native::Conv2dParams p = conv1d_params(stride, {0}, dilation, groups);
  if (padding == ConvPadding::Same && weight.defined() && weight.dim() == 3) {
    TG_CHECK(p.stride[1] == 1, Value, "conv1d: padding=\"same\" is not supported for strided "
             "convolutions (stride ", p.stride[1], ")");
    set_same_padding("conv1d", p, 1, weight.sizes()[2]);
  }
  return conv1d_impl(input, weight, bias, p);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const Shape& stride, const Shape& padding, const Shape& output_padding,
                        int64_t groups, const Shape& dilation) {
  const char* op = "conv_transpose2d";
  const native::Conv2dParams p = conv_params(op, stride, padding, dilation, groups);
  const Shape out_shape = native::conv_transpose2d_output_shape(
      input, weight, bias, p, pair_arg(op, "output_padding", output_padding));
  return conv2d_input_grad(input, weight, out_shape, p, bias, op);
}

// ============================================================== pooling

namespace {

native::Pool2dParams pool_params(const char* op, const Shape& kernel_size, const Shape& stride,
                                 const Shape& padding, const Shape& dilation, bool ceil_mode) {
  native::Pool2dParams p;
  p.kernel = pair_arg(op, "kernel_size", kernel_size);
  p.stride = stride.empty() ? p.kernel : pair_arg(op, "stride", stride);
  p.padding = pair_arg(op, "padding", padding);
  p.dilation = pair_arg(op, "dilation", dilation);
  p.ceil_mode = ceil_mode;
  return p;
}

// The gradient of max_pool2d: g scattered to the argmax positions. Its adjoint gathers.
Tensor max_pool2d_grad(const Tensor& g, const SavedTensor& indices, const Shape& x_shape,
                       const native::Pool2dParams& p) {
  Tensor out = native::max_pool2d_backward(g, indices.get(), x_shape, p);
  if (needs_grad({&g}))
    record("max_pool2d_backward", {g}, {out}, [indices, x_shape, g_shape = g.sizes()](Grads& gr) {
      const int64_t n = static_cast<int64_t>(x_shape.size());
      const int64_t plane = x_shape[n - 2] * x_shape[n - 1];
      const int64_t planes = numel_of(x_shape) / plane;
      const int64_t outs = g_shape[n - 2] * g_shape[n - 1];
      Tensor idx = native::reshape(indices.get(), {planes, outs});
      gr.in[0] = reshape(gather(reshape(gr.g(), {planes, plane}), 1, idx), g_shape);
    });
  return out;
}

Tensor avg_pool2d_op(const Tensor& x, const native::Pool2dParams& p);

// The gradient of avg_pool2d; its adjoint is avg_pool2d itself.
Tensor avg_pool2d_grad(const Tensor& g, const Shape& x_shape, const native::Pool2dParams& p) {
  Tensor out = native::avg_pool2d_backward(g, x_shape, p);
  if (needs_grad({&g}))
    record("avg_pool2d_backward", {g}, {out}, [p](Grads& gr) { gr.in[0] = avg_pool2d_op(gr.g(), p); });
  return out;
}

Tensor avg_pool2d_op(const Tensor& x, const native::Pool2dParams& p) {
  Tensor out = native::avg_pool2d(x, p);
  if (needs_grad({&x}))
    record("avg_pool2d", {x}, {out}, [x_shape = x.sizes(), p](Grads& g) {
      g.in[0] = avg_pool2d_grad(g.g(), x_shape, p);
    });
  return out;
}

Tensor adaptive_avg_pool2d_op(const Tensor& x, const Shape& output_size);

Tensor adaptive_avg_pool2d_grad(const Tensor& g, const Shape& x_shape) {
  Tensor out = native::adaptive_avg_pool2d_backward(g, x_shape);
  if (needs_grad({&g})) {
    const int64_t n = g.dim();
    const Shape output_size{g.sizes()[n - 2], g.sizes()[n - 1]};
    record("adaptive_avg_pool2d_backward", {g}, {out}, [output_size](Grads& gr) {
      gr.in[0] = adaptive_avg_pool2d_op(gr.g(), output_size);
    });
  }
  return out;
}

Tensor adaptive_avg_pool2d_op(const Tensor& x, const Shape& output_size) {
  Tensor out = native::adaptive_avg_pool2d(x, output_size);
  if (needs_grad({&x}))
    record("adaptive_avg_pool2d", {x}, {out}, [x_shape = x.sizes()](Grads& g) {
      g.in[0] = adaptive_avg_pool2d_grad(g.g(), x_shape);
    });
  return out;
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const Shape& kernel_size,
                                                   const Shape& stride, const Shape& padding,
                                                   const Shape& dilation, bool ceil_mode) {
  const native::Pool2dParams p =
      pool_params("max_pool2d", kernel_size, stride, padding, dilation, ceil_mode);
  auto [out, indices] = native::max_pool2d(input, p);
  if (needs_grad({&input}))
    record("max_pool2d", {input}, {out}, [si = SavedTensor(indices), x_shape = input.sizes(), p](Grads& g) {
      g.in[0] = max_pool2d_grad(g.g(), si, x_shape, p);
    });
  return {out, indices};
}

Tensor max_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride,
                  const Shape& padding, const Shape& dilation, bool ceil_mode) {
  return std::get<0>(max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor avg_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride,
                  const Shape& padding, bool ceil_mode, bool count_include_pad,
                  std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  native::Pool2dParams p = pool_params(op, kernel_size, stride, padding, {1}, ceil_mode);
  p.count_include_pad = count_include_pad;
  if (divisor_override) {
    TG_CHECK(*divisor_override != 0, Value, op, ": divisor_override must not be zero");
    p.divisor_override = *divisor_override;
  }
  return avg_pool2d_op(input, p);
}

Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size) {
  const Pair size = pair_arg("adaptive_avg_pool2d", "output_size", output_size);
  return adaptive_avg_pool2d_op(input, {size[0], size[1]});
}

}  // namespace tg
