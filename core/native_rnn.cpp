#include "native_rnn.h"

#include "native.h"

namespace tg::native {

namespace {

kernels::RnnCellArgs cell_args(const Tensor& input_gates, const Tensor& hidden_gates,
                               const Tensor& state) {
  kernels::RnnCellArgs a;
  a.dtype = state.dtype();
  a.batch = state.size(0);
  a.hidden = state.size(1);
  a.input_gates = input_gates.data_ptr();
  a.hidden_gates = hidden_gates.data_ptr();
  a.state = state.data_ptr();
  return a;
}

const kernels::KernelTable& cell_kernels(const char* op, const Tensor& state) {
  const kernels::KernelTable& table = kernels_for(op, state.device());
  TG_CHECK(table.lstm_cell && table.gru_cell, Runtime, op,
           ": no fused recurrent-cell kernel on ", state.device());
  return table;
}

void check_state_grad(const char* op, const char* name, const Tensor& grad, const Tensor& state) {
  TG_CHECK(grad.defined() && grad.sizes() == state.sizes() && grad.dtype() == state.dtype(), Value,
           op, ": ", name, " must be ", state.dtype(), " of shape ", state.sizes(), ", got ",
           grad.defined() ? shape_str(grad.sizes()) : std::string("an undefined tensor"));
  check_same_device(op, grad, state);
}

}  // namespace

bool has_fused_rnn_cells(Device device) {
  const kernels::KernelTable& table = kernels_for("rnn cell", device);
  return table.lstm_cell && table.lstm_cell_backward && table.gru_cell && table.gru_cell_backward;
}

void check_rnn_cell_operands(const char* op, int64_t gates, const Tensor& input_gates,
                             const Tensor& hidden_gates, const Tensor& state) {
  TG_CHECK(input_gates.defined() && hidden_gates.defined() && state.defined(), Value, op,
           ": input_gates, hidden_gates and the state must all be defined");
  TG_CHECK(state.dim() == 2, Value, op, ": the state must be 2-D [batch, hidden], got shape ",
           state.sizes());
  const Shape gate_shape{state.size(0), gates * state.size(1)};
  TG_CHECK(input_gates.sizes() == gate_shape && hidden_gates.sizes() == gate_shape, Value, op,
           ": input_gates and hidden_gates must have shape ", gate_shape, " (", gates,
           " gates for a state of shape ", state.sizes(), "), got ", input_gates.sizes(), " and ",
           hidden_gates.sizes());
  check_floating(op, state);
  TG_CHECK(input_gates.dtype() == state.dtype() && hidden_gates.dtype() == state.dtype(), Type, op,
           ": expected one dtype, got input_gates ", input_gates.dtype(), ", hidden_gates ",
           hidden_gates.dtype(), " and the state ", state.dtype());
  check_same_device(op, input_gates, state);
  check_same_device(op, hidden_gates, state);
}

std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input_gates, const Tensor& hidden_gates,
                                     const Tensor& c) {
  const char* op = "lstm_cell";
  check_rnn_cell_operands(op, 4, input_gates, hidden_gates, c);
  Tensor h_out = empty(c.sizes(), c.dtype(), c.device());
  Tensor c_out = empty(c.sizes(), c.dtype(), c.device());
  if (c.numel() == 0) return {h_out, c_out};
  const Tensor ig = contiguous(input_gates), hg = contiguous(hidden_gates), cc = contiguous(c);
  cell_kernels(op, c).lstm_cell(cell_args(ig, hg, cc), h_out.data_ptr(), c_out.data_ptr());
  return {h_out, c_out};
}

std::tuple<Tensor, Tensor> lstm_cell_backward(const Tensor& input_gates, const Tensor& hidden_gates,
                                              const Tensor& c, const Tensor& grad_h,
                                              const Tensor& grad_c) {
  const char* op = "lstm_cell_backward";
  check_rnn_cell_operands(op, 4, input_gates, hidden_gates, c);
  check_state_grad(op, "grad_h", grad_h, c);
  check_state_grad(op, "grad_c", grad_c, c);
  Tensor grad_gates = empty(input_gates.sizes(), c.dtype(), c.device());
  Tensor grad_state = empty(c.sizes(), c.dtype(), c.device());
  if (c.numel() == 0) return {grad_gates, grad_state};
  const Tensor ig = contiguous(input_gates), hg = contiguous(hidden_gates), cc = contiguous(c);
  const Tensor gh = contiguous(grad_h), gc = contiguous(grad_c);
  cell_kernels(op, c).lstm_cell_backward(cell_args(ig, hg, cc), gh.data_ptr(), gc.data_ptr(),
                                         grad_gates.data_ptr(), grad_state.data_ptr());
  return {grad_gates, grad_state};
}

Tensor gru_cell(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& h) {
  const char* op = "gru_cell";
  check_rnn_cell_operands(op, 3, input_gates, hidden_gates, h);
  Tensor h_out = empty(h.sizes(), h.dtype(), h.device());
  if (h.numel() == 0) return h_out;
  const Tensor ig = contiguous(input_gates), hg = contiguous(hidden_gates), hc = contiguous(h);
  cell_kernels(op, h).gru_cell(cell_args(ig, hg, hc), h_out.data_ptr());
  return h_out;
}

std::tuple<Tensor, Tensor, Tensor> gru_cell_backward(const Tensor& input_gates,
                                                     const Tensor& hidden_gates, const Tensor& h,
                                                     const Tensor& grad_h) {
  const char* op = "gru_cell_backward";
  check_rnn_cell_operands(op, 3, input_gates, hidden_gates, h);
  check_state_grad(op, "grad_h", grad_h, h);
  Tensor grad_ig = empty(input_gates.sizes(), h.dtype(), h.device());
  Tensor grad_hg = empty(input_gates.sizes(), h.dtype(), h.device());
  Tensor grad_state = empty(h.sizes(), h.dtype(), h.device());
  if (h.numel() == 0) return {grad_ig, grad_hg, grad_state};
  const Tensor ig = contiguous(input_gates), hg = contiguous(hidden_gates), hc = contiguous(h);
  const Tensor gh = contiguous(grad_h);
  cell_kernels(op, h).gru_cell_backward(cell_args(ig, hg, hc), gh.data_ptr(), grad_ig.data_ptr(),
                                        grad_hg.data_ptr(), grad_state.data_ptr());
  return {grad_ig, grad_hg, grad_state};
}

}  // namespace tg::native
