// Fused differentiable ops of the layers (autograd/derivatives_fused.cpp): the pointwise step of
// each recurrent cell, layer norm's normalization, batch normalization and the softmax
// cross-entropy, each one op with its own backward formula, and unbind.
//
// Gate pre-activations come as two addends, input_gates (x W_ih^T + b_ih) and hidden_gates
// (h W_hh^T + b_hh), each [N, G * H] in PyTorch's block order; states are [N, H]. On a device
// with fused cell kernels (CPU) the forward and the first-order backward are each one pass over
// the gates; elsewhere, and for gradients of higher order (create_graph), the same formulas are
// composed from differentiable ops.
#pragma once
#include <tuple>
#include <vector>

#include "../core/tensor.h"

namespace tg {

// LSTM (blocks i, f, g, o): i, f, o = sigmoid, g = tanh of input_gates + hidden_gates;
// returns (h_out, c_out) with c_out = f * c + i * g, h_out = o * tanh(c_out).
std::tuple<Tensor, Tensor> lstm_cell_update(const Tensor& input_gates, const Tensor& hidden_gates,
                                            const Tensor& c);

// GRU (blocks r, z, n): r, z = sigmoid of the sums, n = tanh(in + r * hn) where in, hn are the
// n blocks of input_gates and hidden_gates; returns h_out = (1 - z) * n + z * h.
Tensor gru_cell_update(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& h);

// Whether cell steps use the device's fused kernels where it has them (the default) or the
// composed ops everywhere: the two paths stay selectable, to test and time one against the other.
void set_fused_rnn_cells_enabled(bool enabled);
bool fused_rnn_cells_enabled();

// (x - mean) / sqrt(var + eps) over the last dim of x (any shape, biased variance): layer norm
// without its affine part, one node. Forward and first-order backward are the device's fused
// kernels where it has them; elsewhere, and under create_graph, composed from differentiable ops.
Tensor layer_norm_normalize(const Tensor& x, double eps);
// Whether layer_norm_normalize uses the fused kernels (the default) or the composed ops.
void set_fused_layer_norm_enabled(bool enabled);
bool fused_layer_norm_enabled();

// Batch normalization of x [N, C, *] over every dim but the channels, with the optional affine
// weight and bias [C], one node (the contract of kernels::BatchNormArgs). training: normalized
// with the batch's statistics, which are returned (mean, biased var; no gradient) for the caller's
// running averages; otherwise with running_mean and running_var (returned as given). Needs the
// device's fused kernels (native::has_fused_batch_norm); under create_graph the backward is
// composed from differentiable ops.
std::tuple<Tensor, Tensor, Tensor> batch_norm_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    bool training, double eps);
// Whether nn::functional::batch_norm uses batch_norm_fused (the default, where the device has the
// kernels) or composes it from mean, var and elementwise ops.
void set_fused_batch_norm_enabled(bool enabled);
bool fused_batch_norm_enabled();

// Softmax cross-entropy of logits [N, C] against int64 class indices target [N], one node: the
// contract of kernels::CrossEntropyArgs. Returns (loss [N], row_weight [N]); row_weight (w[t], 0
// where ignored: the mean reduction's denominator) carries no gradient. Needs the device's fused
// kernels (native::has_fused_cross_entropy); under create_graph the backward is composed from
// differentiable ops.
std::tuple<Tensor, Tensor> cross_entropy_rows(const Tensor& logits, const Tensor& target,
                                              const Tensor& weight, int64_t ignore_index,
                                              double label_smoothing);
// Whether nn::functional::cross_entropy uses cross_entropy_rows (the default, where the device
// has the kernels) or composes log_softmax and nll_loss.
void set_fused_cross_entropy_enabled(bool enabled);
bool fused_cross_entropy_enabled();

// The slices of x along dim, as views (torch.unbind). One node for all of them, whose backward
// stacks their gradients, so a loop over time steps costs no more than the tensor once.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);

}  // namespace tg
