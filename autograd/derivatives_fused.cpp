// The fused ops of functions_fused.h (recurrent-cell steps, layer norm's normalization, batch
// normalization, softmax cross-entropy) and unbind, each with its backward formula. Each fused
// op is one node: its forward and first-order backward are the device's fused kernels (core's
// native_rnn, native_norm, native_loss) where it has them; the composed forms below are the
// same formulas written with differentiable ops, used elsewhere and under create_graph (so that
// gradients of gradients are on the tape).
#include <atomic>
#include <tuple>

#include "../core/native.h"
#include "../core/native_loss.h"
#include "../core/native_norm.h"
#include "../core/native_rnn.h"
#include "functions.h"
#include "functions_fused.h"

namespace tg {

using autograd::Grads;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;

namespace {

Tensor one_minus(const Tensor& x) { return rsub(x, 1.0); }

// sigmoid'(a) from s = sigmoid(a), tanh'(a) from t = tanh(a).
Tensor sigmoid_slope(const Tensor& s) { return mul(s, one_minus(s)); }
Tensor tanh_slope(const Tensor& t) { return one_minus(mul(t, t)); }

struct LstmGates {
  Tensor i, f, g, o;
  LstmGates(const Tensor& input_gates, const Tensor& hidden_gates) {
    std::vector<Tensor> blocks = chunk(add(input_gates, hidden_gates), 4, 1);
    i = sigmoid(blocks[0]);
    f = sigmoid(blocks[1]);
    g = tanh(blocks[2]);
    o = sigmoid(blocks[3]);
  }
};

std::tuple<Tensor, Tensor> lstm_cell_composed(const Tensor& input_gates, const Tensor& hidden_gates,
                                              const Tensor& c) {
  const LstmGates gate(input_gates, hidden_gates);
  Tensor c_out = add(mul(gate.f, c), mul(gate.i, gate.g));
  return {mul(gate.o, tanh(c_out)), c_out};
}

// (grad_gates, grad_c): see kernels/cpu/rnn.cpp for the same formula, element by element.
std::tuple<Tensor, Tensor> lstm_cell_backward_composed(const Tensor& input_gates,
                                                       const Tensor& hidden_gates, const Tensor& c,
                                                       const Tensor& grad_h, const Tensor& grad_c) {
  const LstmGates gate(input_gates, hidden_gates);
  Tensor tanh_cell = tanh(add(mul(gate.f, c), mul(gate.i, gate.g)));
  Tensor d_cell = add(grad_c, mul(mul(grad_h, gate.o), tanh_slope(tanh_cell)));
  Tensor d_gates = cat({mul(mul(d_cell, gate.g), sigmoid_slope(gate.i)),
                        mul(mul(d_cell, c), sigmoid_slope(gate.f)),
                        mul(mul(d_cell, gate.i), tanh_slope(gate.g)),
                        mul(mul(grad_h, tanh_cell), sigmoid_slope(gate.o))},
                       1);
  return {d_gates, mul(d_cell, gate.f)};
}

struct GruGates {
  Tensor r, z, n, hidden_n;  // hidden_n: the n block of hidden_gates, which r scales
  GruGates(const Tensor& input_gates, const Tensor& hidden_gates) {
    std::vector<Tensor> in = chunk(input_gates, 3, 1), hid = chunk(hidden_gates, 3, 1);
    r = sigmoid(add(in[0], hid[0]));
    z = sigmoid(add(in[1], hid[1]));
    hidden_n = hid[2];
    n = tanh(add(in[2], mul(r, hidden_n)));
  }
};

Tensor gru_cell_composed(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& h) {
  const GruGates gate(input_gates, hidden_gates);
  return add(gate.n, mul(gate.z, sub(h, gate.n)));
}

// (grad_input_gates, grad_hidden_gates, grad_h).
std::tuple<Tensor, Tensor, Tensor> gru_cell_backward_composed(const Tensor& input_gates,
                                                              const Tensor& hidden_gates,
                                                              const Tensor& h,
                                                              const Tensor& grad_h) {
  const GruGates gate(input_gates, hidden_gates);
  Tensor d_n = mul(mul(grad_h, one_minus(gate.z)), tanh_slope(gate.n));  // w.r.t. n's argument
  Tensor d_r = mul(mul(d_n, gate.hidden_n), sigmoid_slope(gate.r));
  Tensor d_z = mul(mul(grad_h, sub(h, gate.n)), sigmoid_slope(gate.z));
  return {cat({d_r, d_z, d_n}, 1), cat({d_r, d_z, mul(d_n, gate.r)}, 1), mul(grad_h, gate.z)};
}

std::atomic<bool> fused_cells_enabled{true};

bool use_fused(const Tensor& t) {
  return fused_cells_enabled.load(std::memory_order_relaxed) &&
         native::has_fused_rnn_cells(t.device());
}

// The fused kernels serve a first-order backward; create_graph needs the composed formula.
bool use_fused_backward(const Tensor& t) { return !autograd::is_grad_enabled() && use_fused(t); }

}  // namespace

void set_fused_rnn_cells_enabled(bool enabled) { fused_cells_enabled = enabled; }
bool fused_rnn_cells_enabled() { return fused_cells_enabled; }

std::tuple<Tensor, Tensor> lstm_cell_update(const Tensor& input_gates, const Tensor& hidden_gates,
                                            const Tensor& c) {
  native::check_rnn_cell_operands("lstm_cell_update", 4, input_gates, hidden_gates, c);
  if (!use_fused(c))
    return lstm_cell_composed(input_gates, hidden_gates, c);
  auto [h_out, c_out] = native::lstm_cell(input_gates, hidden_gates, c);
  if (needs_grad({&input_gates, &hidden_gates, &c}))
    record("lstm_cell_update", {input_gates, hidden_gates, c}, {h_out, c_out},
           [si = SavedTensor(input_gates), sh = SavedTensor(hidden_gates),
            sc = SavedTensor(c)](Grads& g) {
             const Tensor &ig = si.get(), &hg = sh.get(), &cv = sc.get();
             auto [d_gates, d_c] = use_fused_backward(cv)
                                       ? native::lstm_cell_backward(ig, hg, cv, g.out[0], g.out[1])
                                       : lstm_cell_backward_composed(ig, hg, cv, g.out[0], g.out[1]);
             g.in[0] = d_gates;
             g.in[1] = d_gates;
             g.in[2] = d_c;
           });
  return {h_out, c_out};
}

Tensor gru_cell_update(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& h) {
  native::check_rnn_cell_operands("gru_cell_update", 3, input_gates, hidden_gates, h);
  if (!use_fused(h))
    return gru_cell_composed(input_gates, hidden_gates, h);
  Tensor h_out = native::gru_cell(input_gates, hidden_gates, h);
  if (needs_grad({&input_gates, &hidden_gates, &h}))
    record("gru_cell_update", {input_gates, hidden_gates, h}, {h_out},
           [si = SavedTensor(input_gates), sh = SavedTensor(hidden_gates),
            sv = SavedTensor(h)](Grads& g) {
             const Tensor &ig = si.get(), &hg = sh.get(), &hv = sv.get();
             auto [d_in, d_hid, d_h] = use_fused_backward(hv)
                                           ? native::gru_cell_backward(ig, hg, hv, g.g())
                                           : gru_cell_backward_composed(ig, hg, hv, g.g());
             g.in[0] = d_in;
             g.in[1] = d_hid;
             g.in[2] = d_h;
           });
  return h_out;
}

namespace {

std::atomic<bool> fused_layer_norm{true};

Tensor normalize_composed(const Tensor& x, double eps) {
  const Shape last{x.dim() - 1};
  return mul(sub(x, mean(x, last, true)), rsqrt(add(var(x, last, 0, true), eps)));
}

}  // namespace

void set_fused_layer_norm_enabled(bool enabled) { fused_layer_norm = enabled; }
bool fused_layer_norm_enabled() { return fused_layer_norm; }

Tensor layer_norm_normalize(const Tensor& x, double eps) {
  TG_CHECK(x.defined() && x.dim() >= 1, Value, "layer_norm: expected at least 1 dim, got ",
           x.defined() ? "a 0-dim tensor" : "an undefined tensor");
  if (!fused_layer_norm.load(std::memory_order_relaxed) || !native::has_fused_layer_norm(x.device()) ||
      x.numel() == 0 || !(x.dtype() == kFloat32 || x.dtype() == kFloat64))
    return normalize_composed(x, eps);
  const int64_t cols = x.size(x.dim() - 1);
  const Tensor rows = native::reshape(native::contiguous(x), {x.numel() / cols, cols});
  auto [y, row_mean, row_rstd] = native::layer_norm_rows(rows, eps);
  Tensor out = native::reshape(y, x.sizes());
  if (needs_grad({&x}))
    record("layer_norm", {x}, {out},
           [sx = SavedTensor(x), m = row_mean, r = row_rstd, eps](Grads& g) {
             const Tensor& xv = sx.get();
             if (autograd::is_grad_enabled()) {  // create_graph: differentiable all the way
               const Shape last{xv.dim() - 1};
               Tensor rstd = rsqrt(add(var(xv, last, 0, true), eps));
               Tensor y2 = mul(sub(xv, mean(xv, last, true)), rstd);
               Tensor gy = g.g();
               g.in[0] = mul(rstd, sub(sub(gy, mean(gy, last, true)), mul(y2, mean(mul(gy, y2), last, true))));
               return;
             }
             const int64_t c = xv.size(xv.dim() - 1);
             const Shape flat{xv.numel() / c, c};
             g.in[0] = native::reshape(
                 native::layer_norm_rows_backward(native::reshape(native::contiguous(xv), flat), m, r,
                                                  native::reshape(native::contiguous(g.g()), flat)),
                 xv.sizes());
           });
  return out;
}

namespace {

std::atomic<bool> fused_batch_norm{true};

// The gradients of batch_norm_fused from differentiable ops (for create_graph). training: the
// statistics are x's own, recomputed differentiably; otherwise the given ones are constants.
void batch_norm_grads_composed(const Tensor& x, const Tensor& weight, const native::BatchNormStats& stats,
                               bool training, double eps, Grads& g) {
  Shape dims, stat_shape(static_cast<size_t>(x.dim()), 1);
  stat_shape[1] = x.size(1);
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  Tensor mu = training ? mean(x, dims, true) : reshape(stats.mean, stat_shape);
  Tensor rstd = rsqrt(add(training ? var(x, dims, 0, true) : reshape(stats.var, stat_shape), eps));
  Tensor xhat = mul(sub(x, mu), rstd);
  const Tensor gy = g.g();
  if (g.needs(1)) g.in[1] = sum(mul(gy, xhat), dims);
  if (g.needs(2)) g.in[2] = sum(gy, dims);
  if (!g.needs(0)) return;
  Tensor scale = weight.defined() ? mul(rstd, reshape(weight, stat_shape)) : rstd;
  g.in[0] = training ? mul(scale, sub(sub(gy, mean(gy, dims, true)), mul(xhat, mean(mul(gy, xhat), dims, true))))
                     : mul(scale, gy);
}

}  // namespace

void set_fused_batch_norm_enabled(bool enabled) { fused_batch_norm = enabled; }
bool fused_batch_norm_enabled() { return fused_batch_norm.load(std::memory_order_relaxed); }

std::tuple<Tensor, Tensor, Tensor> batch_norm_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    bool training, double eps) {
  auto [y, stats] = native::batch_norm(x, weight.defined() ? weight.detach() : Tensor(),
                                       bias.defined() ? bias.detach() : Tensor(),
                                       {running_mean.defined() ? running_mean.detach() : Tensor(),
                                        running_var.defined() ? running_var.detach() : Tensor()},
                                       training, eps);
  if (needs_grad({&x, &weight, &bias}))
    record("batch_norm", {x, weight, bias}, {y},
           [sx = SavedTensor(x), sw = SavedTensor(weight), stats = stats, training, eps](Grads& g) {
             const Tensor& xv = sx.get();
             const Tensor w = sw.defined() ? sw.get() : Tensor();
             if (autograd::is_grad_enabled()) return batch_norm_grads_composed(xv, w, stats, training, eps, g);
             native::BatchNormGrads r = native::batch_norm_backward(xv, w.defined() ? w.detach() : Tensor(), stats,
                                                                    g.g(), training, eps, g.needs(0), g.needs(1),
                                                                    g.needs(2));
             g.in[0] = r.x;
             g.in[1] = r.weight;
             g.in[2] = r.bias;
           });
  return {y, stats.mean, stats.var};
}

namespace {

std::atomic<bool> fused_cross_entropy{true};

// The first derivative of cross_entropy_rows' loss w.r.t. the logits, scaled per row by g, from
// differentiable ops (for create_graph): the formula of kernels::CrossEntropyArgs.
Tensor cross_entropy_grad_composed(const Tensor& x, const Tensor& target, const Tensor& weight,
                                   const Tensor& row_weight, int64_t ignore_index, double s,
                                   const Tensor& g) {
  const int64_t c = x.size(1);
  const TensorOptions opts = TensorOptions(x.dtype()).device(x.device());
  Tensor kept = to(ne(target, full({}, static_cast<double>(ignore_index), TensorOptions(kInt64).device(x.device()))),
                   x.dtype());
  Tensor classes = reshape(arange(0.0, static_cast<double>(c), 1.0, TensorOptions(kInt64).device(x.device())), {1, c});
  Tensor onehot = to(eq(classes, unsqueeze(target, 1)), x.dtype());
  Tensor w = weight.defined() ? reshape(to(weight.detach(), x.dtype()), {1, c}) : full({1, c}, 1.0, opts);
  const double share = s / static_cast<double>(c);
  Tensor weight_sum = sum(w);
  // p * ((1 - s) w_t + s / C * sum(w)) - (1 - s) w_t onehot - s / C * w, on kept rows.
  Tensor p_scale = add(mul(row_weight, 1.0 - s), mul(mul(kept, weight_sum), share));
  Tensor grad = sub(mul(softmax(x, 1), unsqueeze(p_scale, 1)),
                    add(mul(onehot, unsqueeze(mul(row_weight, 1.0 - s), 1)),
                        mul(mul(unsqueeze(kept, 1), w), share)));
  return mul(grad, unsqueeze(g, 1));
}

}  // namespace

void set_fused_cross_entropy_enabled(bool enabled) { fused_cross_entropy = enabled; }
bool fused_cross_entropy_enabled() { return fused_cross_entropy.load(std::memory_order_relaxed); }

std::tuple<Tensor, Tensor> cross_entropy_rows(const Tensor& logits, const Tensor& target,
                                              const Tensor& weight, int64_t ignore_index,
                                              double label_smoothing) {
  native::CrossEntropyRowsOptions o;
  o.weight = weight.defined() ? weight.detach() : Tensor();
  o.ignore_index = ignore_index;
  o.label_smoothing = label_smoothing;
  auto [loss, stats, row_weight] = native::cross_entropy_rows(logits, target, o);
  if (needs_grad({&logits}))
    record("cross_entropy", {logits}, {loss},
           [sx = SavedTensor(logits), target, stats = stats, row_weight = row_weight, o](Grads& g) {
             const Tensor& x = sx.get();
             if (autograd::is_grad_enabled()) {  // create_graph: differentiable all the way
               g.in[0] = cross_entropy_grad_composed(x, target, o.weight, row_weight, o.ignore_index,
                                                     o.label_smoothing, g.g());
               return;
             }
             g.in[0] = native::cross_entropy_rows_backward(x, target, stats, native::contiguous(g.g()), o);
           });
  return {loss, row_weight};
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  TG_CHECK(x.defined() && x.dim() > 0, Value, "unbind: expected a tensor with at least 1 dim, got ",
           x.defined() ? "a 0-dim tensor" : "an undefined tensor");
  const int64_t d = wrap_dim("unbind", dim, x.dim());
  std::vector<Tensor> slices;
  for (int64_t i = 0; i < x.size(d); ++i) slices.push_back(native::select(x, d, i));
  if (!slices.empty() && needs_grad({&x}))
    record("unbind", {x}, slices, [d](Grads& g) { g.in[0] = stack(g.out, d); });
  return slices;
}

}  // namespace tg
