// Fused differentiable ops of the layers (autograd/derivatives_rnn.cpp): the pointwise step of
// each recurrent cell and layer norm's normalization, each one op with its own backward formula,
// and unbind.
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

// The slices of x along dim, as views (torch.unbind). One node for all of them, whose backward
// stacks their gradients, so a loop over time steps costs no more than the tensor once.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);

}  // namespace tg
