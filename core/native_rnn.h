// The fused recurrent-cell steps without autograd (kernels' lstm_cell / gru_cell): each checks
// its operands and calls the device's kernel. Gate pre-activations come as two addends,
// input_gates (x W_ih^T + b_ih) and hidden_gates (h W_hh^T + b_hh), each [N, G * H] with
// PyTorch's gate blocks (LSTM i, f, g, o; GRU r, z, n); states are [N, H].
#pragma once
#include <tuple>

#include "tensor.h"

namespace tg::native {

// Whether `device`'s kernels include the fused cells (else callers compose the step from ops).
bool has_fused_rnn_cells(Device device);

// (h_out, c_out): c_out = f * c + i * g, h_out = o * tanh(c_out).
std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input_gates, const Tensor& hidden_gates,
                                     const Tensor& c);
// (grad_gates, grad_c) from the gradients w.r.t. h_out and c_out; grad_gates is the gradient
// w.r.t. each of the two gate addends.
std::tuple<Tensor, Tensor> lstm_cell_backward(const Tensor& input_gates, const Tensor& hidden_gates,
                                              const Tensor& c, const Tensor& grad_h,
                                              const Tensor& grad_c);

// h_out = (1 - z) * n + z * h, n = tanh(in + r * hn).
Tensor gru_cell(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& h);
// (grad_input_gates, grad_hidden_gates, grad_h) from the gradient w.r.t. h_out.
std::tuple<Tensor, Tensor, Tensor> gru_cell_backward(const Tensor& input_gates,
                                                     const Tensor& hidden_gates, const Tensor& h,
                                                     const Tensor& grad_h);

// Checks the operands of a cell step with `gates` gate blocks (4: LSTM, 3: GRU); errors name op.
void check_rnn_cell_operands(const char* op, int64_t gates, const Tensor& input_gates,
                             const Tensor& hidden_gates, const Tensor& state);

}  // namespace tg::native
