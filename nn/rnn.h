// Recurrent layers with PyTorch's constructor arguments (names, order, defaults), parameter names,
// shapes and registration order (a state dict moves between the two unchanged), default
// initialization (every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))),
// input/state layouts and printed form. Arguments that PyTorch passes by keyword are an options
// struct, so C++20 designated initializers read the same:
//   nn::LSTM lstm(10, 20, {.num_layers = 2, .batch_first = true});
//   auto [output, state] = lstm.forward(x);   // state: (h_n, c_n)
// `options` (dtype, device) is PyTorch's device=/dtype= pair.
//
// Parameters per layer k (and direction: suffix "_reverse" for the backward one):
// weight_ih_lk [G * hidden_size, input_size (layer 0) or D * hidden_size], weight_hh_lk
// [G * hidden_size, hidden_size], bias_ih_lk and bias_hh_lk [G * hidden_size], with G gate
// blocks in PyTorch's order (RNN 1; LSTM 4: i, f, g, o; GRU 3: r, z, n) and D = 2 when
// bidirectional, else 1.
#pragma once
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "../autograd/functions.h"
#include "../autograd/functions_fused.h"
#include "module.h"

namespace tg::nn {

// What a step computes from its two gate addends and its state.
enum class RecurrentKind { RnnTanh, RnnRelu, Lstm, Gru };

// One step of a cell: input_gates = x W_ih^T + b_ih and hidden_gates = h W_hh^T + b_hh, each
// [N, G * H]; `state` is {h} or, for the LSTM, {h, c}. Returns the new state the same way.
std::vector<Tensor> recurrent_cell_update(RecurrentKind kind, const Tensor& input_gates,
                                          const Tensor& hidden_gates,
                                          const std::vector<Tensor>& state);

// ---------------------------------------------------------------- cells: one time step

// Input [N, input_size] or unbatched [input_size]; states [N, hidden_size] or [hidden_size]
// (undefined: zeros).
class RNNCellBase : public Module {
 public:
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t input_size, hidden_size;
  bool bias;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // biases undefined when bias=false

 protected:
  RNNCellBase(std::string type_name, RecurrentKind kind, int64_t input_size, int64_t hidden_size,
              bool bias, TensorOptions options);
  // Checks the input and states, runs the step on batched (2-D) tensors, and returns the new
  // states shaped like the input (unbatched in, unbatched out).
  std::vector<Tensor> step(const Tensor& input, std::vector<Tensor> state);

  RecurrentKind kind_;
};

// h' = tanh or relu (nonlinearity) of x W_ih^T + b_ih + h W_hh^T + b_hh.
class RNNCell : public RNNCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, bool bias = true,
          std::string nonlinearity = "tanh", TensorOptions options = {});
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
  Tensor forward(const Tensor& input, const Tensor& hx);
  std::string extra_repr() const override;
  std::string nonlinearity;
};

// Returns (h', c'); hx = (h, c), both or neither.
class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true, TensorOptions options = {});
  std::tuple<Tensor, Tensor> forward(const Tensor& input,
                                     const std::optional<std::tuple<Tensor, Tensor>>& hx = std::nullopt);
};

class GRUCell : public RNNCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true, TensorOptions options = {});
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
  Tensor forward(const Tensor& input, const Tensor& hx);
};

// ---------------------------------------------------------------- multi-layer sequences

// PyTorch's keyword arguments of nn.RNN (in its order).
struct RNNOptions {
  int64_t num_layers = 1;
  std::string nonlinearity = "tanh";  // or "relu"
  bool bias = true;
  bool batch_first = false;  // input and output [N, L, *] instead of [L, N, *]
  double dropout = 0.0;      // on each layer's output but the last, in training only
  bool bidirectional = false;
};

// PyTorch's keyword arguments of nn.LSTM and nn.GRU (in their order; proj_size is not supported).
struct LSTMOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
  bool bidirectional = false;
};
using GRUOptions = LSTMOptions;

// Input [L, N, input_size] ([N, L, input_size] when batch_first) or unbatched [L, input_size];
// initial states [D * num_layers, N, hidden_size] (unbatched: [D * num_layers, hidden_size]),
// undefined for zeros. The output is [L, N, D * hidden_size] (batch_first: [N, L, ...];
// unbatched: [L, D * hidden_size]), the last layer's h at every step, both directions
// concatenated; final states have the initial states' shape, indexed layer * D + direction.
class RNNBase : public Module {
 public:
  std::string extra_repr() const override;
  void reset_parameters();
  // PyTorch's all_weights: per layer and direction, [weight_ih, weight_hh, bias_ih, bias_hh]
  // (without the biases when bias=false).
  std::vector<std::vector<Tensor>> all_weights() const { return all_weights_; }

  int64_t input_size, hidden_size, num_layers;
  bool bias, batch_first;
  double dropout;
  bool bidirectional;

 protected:
  RNNBase(std::string type_name, RecurrentKind kind, int64_t input_size, int64_t hidden_size,
          int64_t num_layers, bool bias, bool batch_first, double dropout, bool bidirectional,
          TensorOptions options);
  // The whole stack: {output, final states in `initial`'s order}.
  std::tuple<Tensor, std::vector<Tensor>> run(const Tensor& input, std::vector<Tensor> initial);

  RecurrentKind kind_;

 private:
  // One direction of one layer over the whole sequence: the layer's h at every step
  // [L, N, hidden_size], and its final states.
  std::tuple<Tensor, std::vector<Tensor>> run_direction(const Tensor& input,
                                                        const std::vector<Tensor>& weights,
                                                        std::vector<Tensor> state, bool reverse);

  std::vector<std::vector<Tensor>> all_weights_;
};

class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions opts = {}, TensorOptions options = {});
  // (output, h_n).
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx = Tensor());
  std::string nonlinearity;
};

class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, LSTMOptions opts = {}, TensorOptions options = {});
  // (output, (h_n, c_n)); hx = (h_0, c_0), both or neither.
  std::tuple<Tensor, std::tuple<Tensor, Tensor>> forward(
      const Tensor& input, const std::optional<std::tuple<Tensor, Tensor>>& hx = std::nullopt);
};

class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, GRUOptions opts = {}, TensorOptions options = {});
  // (output, h_n).
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx = Tensor());
};

}  // namespace tg::nn
