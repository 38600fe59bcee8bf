#include "rnn.h"

#include <cmath>
#include <sstream>

#include "functional.h"
#include "init.h"
#include "layers.h"

namespace tg::nn {

namespace {

int64_t gate_count(RecurrentKind kind) {
  switch (kind) {
    case RecurrentKind::Lstm: return 4;
    case RecurrentKind::Gru: return 3;
    default: return 1;
  }
}

RecurrentKind rnn_kind(const std::string& type_name, const std::string& nonlinearity) {
  if (nonlinearity == "tanh") return RecurrentKind::RnnTanh;
  if (nonlinearity == "relu") return RecurrentKind::RnnRelu;
  TG_FAIL(Value, type_name, ": unknown nonlinearity '", nonlinearity,
          "' (expected 'tanh' or 'relu')");
}

TensorOptions parameter_options(const std::string& type_name, TensorOptions options) {
  TG_CHECK(is_floating(options.dtype_), Type, type_name,
           ": parameters must be floating-point, got ", options.dtype_);
  return options.requires_grad(false);
}

void check_sizes(const std::string& type_name, int64_t input_size, int64_t hidden_size) {
  TG_CHECK(input_size >= 0, Value, type_name, ": input_size must be >= 0, got ", input_size);
  TG_CHECK(hidden_size > 0, Value, type_name, ": hidden_size must be greater than zero, got ",
           hidden_size);
}

// PyTorch's default: every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
void init_uniform_by_hidden_size(const std::vector<Tensor>& parameters, int64_t hidden_size) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : parameters) init::uniform_(p, -bound, bound);
}

// The input or a state must match the parameters' dtype and device.
void check_like_parameters(const std::string& type_name, const char* what, const Tensor& t,
                           const Tensor& weight) {
  TG_CHECK(t.dtype() == weight.dtype(), Type, type_name, ": ", what, " dtype ", t.dtype(),
           " does not match the parameters' ", weight.dtype(), " (convert one with .to())");
  TG_CHECK(t.device() == weight.device(), Value, type_name, ": ", what, " is on ", t.device(),
           " but the parameters are on ", weight.device());
}

Tensor zeros_like_parameters(const Shape& shape, const Tensor& weight) {
  return tg::zeros(shape, TensorOptions(weight.dtype()).device(weight.device()));
}

}  // namespace

std::vector<Tensor> recurrent_cell_update(RecurrentKind kind, const Tensor& input_gates,
                                          const Tensor& hidden_gates,
                                          const std::vector<Tensor>& state) {
  switch (kind) {
    case RecurrentKind::RnnTanh: return {tg::tanh(tg::add(input_gates, hidden_gates))};
    case RecurrentKind::RnnRelu: return {tg::relu(tg::add(input_gates, hidden_gates))};
    case RecurrentKind::Gru: return {gru_cell_update(input_gates, hidden_gates, state[0])};
    case RecurrentKind::Lstm: {
      auto [h, c] = lstm_cell_update(input_gates, hidden_gates, state[1]);
      return {h, c};
    }
  }
  TG_FAIL(Runtime, "recurrent_cell_update: unknown cell kind");
}

// ---------------------------------------------------------------- cells

RNNCellBase::RNNCellBase(std::string type_name, RecurrentKind kind, int64_t input_size,
                         int64_t hidden_size, bool bias, TensorOptions options)
    : Module(std::move(type_name)),
      input_size(input_size),
      hidden_size(hidden_size),
      bias(bias),
      kind_(kind) {
  check_sizes(this->type_name(), input_size, hidden_size);
  options = parameter_options(this->type_name(), options);
  const int64_t gates = gate_count(kind) * hidden_size;
  weight_ih = register_parameter("weight_ih", tg::empty({gates, input_size}, options));
  weight_hh = register_parameter("weight_hh", tg::empty({gates, hidden_size}, options));
  bias_ih = register_parameter("bias_ih", bias ? tg::empty({gates}, options) : Tensor());
  bias_hh = register_parameter("bias_hh", bias ? tg::empty({gates}, options) : Tensor());
  reset_parameters();
}

void RNNCellBase::reset_parameters() { init_uniform_by_hidden_size(parameters(), hidden_size); }

std::string RNNCellBase::extra_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (!bias) s += ", bias=False";
  return s;
}

std::vector<Tensor> RNNCellBase::step(const Tensor& input, std::vector<Tensor> state) {
  const std::string& name = type_name();
  TG_CHECK(input.defined(), Value, name, ": the input is undefined");
  TG_CHECK(input.dim() == 1 || input.dim() == 2, Value, name,
           ": expected input to be 1-D or 2-D but received a ", input.dim(),
           "-D tensor of shape ", input.sizes());
  TG_CHECK(input.size(-1) == input_size, Value, name, ": input has inconsistent input_size: got ",
           input.size(-1), ", expected ", input_size, " (input of shape ", input.sizes(), ")");
  check_like_parameters(name, "input", input, weight_ih);
  const bool batched = input.dim() == 2;
  const Tensor x = batched ? input : tg::unsqueeze(input, 0);
  const Shape expected = batched ? Shape{x.size(0), hidden_size} : Shape{hidden_size};
  static const char* state_names[] = {"hx", "cx"};
  for (size_t k = 0; k < state.size(); ++k) {
    if (!state[k].defined()) {
      state[k] = zeros_like_parameters({x.size(0), hidden_size}, weight_ih);
      continue;
    }
    TG_CHECK(state[k].sizes() == expected, Value, name, ": expected ", state_names[k],
             " of shape ", expected, " for input of shape ", input.sizes(), ", got ",
             state[k].sizes());
    check_like_parameters(name, state_names[k], state[k], weight_ih);
    if (!batched) state[k] = tg::unsqueeze(state[k], 0);
  }
  std::vector<Tensor> next =
      recurrent_cell_update(kind_, F::linear(x, weight_ih, bias_ih),
                            F::linear(state[0], weight_hh, bias_hh), state);
  if (!batched)
    for (Tensor& t : next) t = tg::squeeze(t, 0);
  return next;
}

RNNCell::RNNCell(int64_t input_size, int64_t hidden_size, bool bias, std::string nonlinearity,
                 TensorOptions options)
    : RNNCellBase("RNNCell", rnn_kind("RNNCell", nonlinearity), input_size, hidden_size, bias,
                  options),
      nonlinearity(std::move(nonlinearity)) {}

Tensor RNNCell::forward(const Tensor& input, const Tensor& hx) { return step(input, {hx})[0]; }

std::string RNNCell::extra_repr() const {
  std::string s = RNNCellBase::extra_repr();
  if (nonlinearity != "tanh") s += ", nonlinearity=" + nonlinearity;
  return s;
}

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, bool bias, TensorOptions options)
    : RNNCellBase("LSTMCell", RecurrentKind::Lstm, input_size, hidden_size, bias, options) {}

std::tuple<Tensor, Tensor> LSTMCell::forward(const Tensor& input,
                                             const std::optional<std::tuple<Tensor, Tensor>>& hx) {
  std::vector<Tensor> state(2);
  if (hx) {
    state = {std::get<0>(*hx), std::get<1>(*hx)};
    TG_CHECK(state[0].defined() && state[1].defined(), Value,
             "LSTMCell: hx = (h, c) needs both tensors defined (or pass no hx for zeros)");
  }
  std::vector<Tensor> next = step(input, state);
  return {next[0], next[1]};
}

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, bool bias, TensorOptions options)
    : RNNCellBase("GRUCell", RecurrentKind::Gru, input_size, hidden_size, bias, options) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& hx) { return step(input, {hx})[0]; }

// ---------------------------------------------------------------- multi-layer sequences

RNNBase::RNNBase(std::string type_name, RecurrentKind kind, int64_t input_size,
                 int64_t hidden_size, int64_t num_layers, bool bias, bool batch_first,
                 double dropout, bool bidirectional, TensorOptions options)
    : Module(std::move(type_name)),
      input_size(input_size),
      hidden_size(hidden_size),
      num_layers(num_layers),
      bias(bias),
      batch_first(batch_first),
      dropout(dropout),
      bidirectional(bidirectional),
      kind_(kind) {
  const std::string& name = this->type_name();
  check_sizes(name, input_size, hidden_size);
  TG_CHECK(num_layers > 0, Value, name, ": num_layers must be greater than zero, got ", num_layers);
  TG_CHECK(dropout >= 0.0 && dropout <= 1.0, Value, name,
           ": dropout should be a number in range [0, 1] representing the probability of an "
           "element being zeroed, got ",
           dropout);
  options = parameter_options(name, options);
  const int64_t gates = gate_count(kind) * hidden_size;
  const int64_t directions = bidirectional ? 2 : 1;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    const int64_t layer_input = layer == 0 ? input_size : hidden_size * directions;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const std::string suffix = "_l" + std::to_string(layer) + (direction ? "_reverse" : "");
      std::vector<Tensor> w;
      w.push_back(register_parameter("weight_ih" + suffix, tg::empty({gates, layer_input}, options)));
      w.push_back(register_parameter("weight_hh" + suffix, tg::empty({gates, hidden_size}, options)));
      if (bias) {
        w.push_back(register_parameter("bias_ih" + suffix, tg::empty({gates}, options)));
        w.push_back(register_parameter("bias_hh" + suffix, tg::empty({gates}, options)));
      }
      all_weights_.push_back(std::move(w));
    }
  }
  reset_parameters();
}

void RNNBase::reset_parameters() { init_uniform_by_hidden_size(parameters(), hidden_size); }

std::string RNNBase::extra_repr() const {
  std::ostringstream os;
  os << input_size << ", " << hidden_size;
  if (num_layers != 1) os << ", num_layers=" << num_layers;
  if (!bias) os << ", bias=False";
  if (batch_first) os << ", batch_first=True";
  if (dropout != 0.0) os << ", dropout=" << python_float_repr(dropout);
  if (bidirectional) os << ", bidirectional=True";
  return os.str();
}

std::tuple<Tensor, std::vector<Tensor>> RNNBase::run_direction(const Tensor& input,
                                                               const std::vector<Tensor>& weights,
                                                               std::vector<Tensor> state,
                                                               bool reverse) {
  const Tensor& weight_ih = weights[0];
  const Tensor& weight_hh = weights[1];
  // bias_hh joins the input projection, except in the GRU, whose r scales W_hn h + b_hn.
  Tensor input_bias, step_bias;
  if (bias) {
    const bool gru = kind_ == RecurrentKind::Gru;
    input_bias = gru ? weights[2] : tg::add(weights[2], weights[3]);
    if (gru) step_bias = weights[3];
  }
  // One GEMM gives the input's share of the gates for every step; each step then needs one
  // [N, H] x [H, G * H] product.
  const std::vector<Tensor> input_gates = unbind(F::linear(input, weight_ih, input_bias), 0);
  // Materialized once: each step's weight gradient is then a plain contiguous matrix, and the
  // per-step gradients sum without a strided (transposing) pass each.
  const Tensor weight_hh_t = tg::contiguous(tg::transpose(weight_hh, 0, 1));
  const int64_t steps = static_cast<int64_t>(input_gates.size());
  std::vector<Tensor> outputs(input_gates.size());
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    Tensor hidden_gates = tg::matmul(state[0], weight_hh_t);
    if (step_bias.defined()) hidden_gates = tg::add(hidden_gates, step_bias);
    state = recurrent_cell_update(kind_, input_gates[t], hidden_gates, state);
    outputs[t] = state[0];
  }
  return {tg::stack(outputs, 0), state};
}

std::tuple<Tensor, std::vector<Tensor>> RNNBase::run(const Tensor& input,
                                                     std::vector<Tensor> initial) {
  const std::string& name = type_name();
  TG_CHECK(input.defined(), Value, name, ": the input is undefined");
  TG_CHECK(input.dim() == 2 || input.dim() == 3, Value, name,
           ": expected input to be 2-D or 3-D but received a ", input.dim(), "-D tensor of shape ",
           input.sizes());
  TG_CHECK(input.size(-1) == input_size, Value, name,
           ": input.size(-1) must be equal to input_size. Expected ", input_size, ", got ",
           input.size(-1), " (input of shape ", input.sizes(), ")");
  const Tensor& weight = all_weights_[0][0];
  check_like_parameters(name, "input", input, weight);
  const bool batched = input.dim() == 3;
  // Time-major [L, N, input_size] from here on.
  const Tensor x = !batched     ? tg::unsqueeze(input, 1)
                   : batch_first ? tg::transpose(input, 0, 1)
                                 : input;
  TG_CHECK(x.size(0) > 0, Value, name,
           ": expected sequence length to be larger than 0, got input of shape ", input.sizes());
  const int64_t directions = bidirectional ? 2 : 1;
  const int64_t batch = x.size(1);
  const Shape expected = batched ? Shape{directions * num_layers, batch, hidden_size}
                                 : Shape{directions * num_layers, hidden_size};
  static const char* state_names[] = {"h_0", "c_0"};
  // per_layer[k][layer * directions + direction]: the initial value of state k there.
  std::vector<std::vector<Tensor>> per_layer;
  for (size_t k = 0; k < initial.size(); ++k) {
    Tensor s = initial[k];
    if (!s.defined()) {
      s = zeros_like_parameters({directions * num_layers, batch, hidden_size}, weight);
    } else {
      TG_CHECK(s.sizes() == expected, Value, name, ": expected ", state_names[k], " of shape ",
               expected, " for input of shape ", input.sizes(), ", got ", s.sizes());
      check_like_parameters(name, state_names[k], s, weight);
      if (!batched) s = tg::unsqueeze(s, 1);
    }
    per_layer.push_back(unbind(s, 0));
  }

  std::vector<std::vector<Tensor>> finals(initial.size());
  Tensor layer_input = x;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    if (layer > 0 && dropout > 0.0 && is_training())
      layer_input = F::dropout(layer_input, dropout, true);
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const size_t at = static_cast<size_t>(layer * directions + direction);
      std::vector<Tensor> state;
      for (const auto& states : per_layer) state.push_back(states[at]);
      auto [output, final_state] =
          run_direction(layer_input, all_weights_[at], std::move(state), direction == 1);
      outputs.push_back(output);
      for (size_t k = 0; k < finals.size(); ++k) finals[k].push_back(final_state[k]);
    }
    layer_input = directions == 1 ? outputs[0] : tg::cat(outputs, 2);
  }

  const Tensor output = !batched     ? tg::squeeze(layer_input, 1)
                        : batch_first ? tg::transpose(layer_input, 0, 1)
                                      : layer_input;
  std::vector<Tensor> final_states;
  for (const auto& f : finals) {
    Tensor s = tg::stack(f, 0);
    final_states.push_back(batched ? s : tg::squeeze(s, 1));
  }
  return {output, final_states};
}

RNN::RNN(int64_t input_size, int64_t hidden_size, RNNOptions opts, TensorOptions options)
    : RNNBase("RNN", rnn_kind("RNN", opts.nonlinearity), input_size, hidden_size,
              opts.num_layers, opts.bias, opts.batch_first, opts.dropout, opts.bidirectional,
              options),
      nonlinearity(opts.nonlinearity) {}

std::tuple<Tensor, Tensor> RNN::forward(const Tensor& input, const Tensor& hx) {
  auto [output, states] = run(input, {hx});
  return {output, states[0]};
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, LSTMOptions opts, TensorOptions options)
    : RNNBase("LSTM", RecurrentKind::Lstm, input_size, hidden_size, opts.num_layers, opts.bias,
              opts.batch_first, opts.dropout, opts.bidirectional, options) {}

std::tuple<Tensor, std::tuple<Tensor, Tensor>> LSTM::forward(
    const Tensor& input, const std::optional<std::tuple<Tensor, Tensor>>& hx) {
  std::vector<Tensor> initial(2);
  if (hx) {
    initial = {std::get<0>(*hx), std::get<1>(*hx)};
    TG_CHECK(initial[0].defined() && initial[1].defined(), Value,
             "LSTM: hx = (h_0, c_0) needs both tensors defined (or pass no hx for zeros)");
  }
  auto [output, states] = run(input, initial);
  return {output, {states[0], states[1]}};
}

GRU::GRU(int64_t input_size, int64_t hidden_size, GRUOptions opts, TensorOptions options)
    : RNNBase("GRU", RecurrentKind::Gru, input_size, hidden_size, opts.num_layers, opts.bias,
              opts.batch_first, opts.dropout, opts.bidirectional, options) {}

std::tuple<Tensor, Tensor> GRU::forward(const Tensor& input, const Tensor& hx) {
  auto [output, states] = run(input, {hx});
  return {output, states[0]};
}

}  // namespace tg::nn
