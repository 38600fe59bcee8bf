// Recurrent layers: RNN/LSTM/GRU and their cells against PyTorch 1.13 (outputs, final states and
// the gradients of a scalar loss w.r.t. inputs, initial states and every parameter, hard-coded
// by tests/cpp/rnn_reference.py), gradcheck of the modules and of the fused cell ops (first and
// second order), state-dict names and shapes, printing, errors, dropout between layers, and a
// small LSTM trained on a memory task.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "autograd/functions_fused.h"
#include "autograd/gradcheck.h"
#include "core/tensor.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tests/cpp/rnn_reference.h"

namespace {

using tg::Shape;
using tg::Tensor;
namespace nn = tg::nn;
using rnn_reference::Case;

// scale * sin(seed * 1.7 + i * 0.913), as det() in rnn_reference.py.
Tensor Det(const Shape& shape, int seed, double scale = 1.0, tg::DType dtype = tg::kFloat64) {
  std::vector<double> v(static_cast<size_t>(tg::numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = scale * std::sin(seed * 1.7 + static_cast<double>(i) * 0.913);
  return tg::tensor(v, shape, dtype);
}

// Shape and values of t against the reference `name`: |got - want| <= atol + rtol |want|.
::testing::AssertionResult MatchesReference(const Tensor& t, const std::string& name,
                                            double rtol = 1e-9, double atol = 1e-12) {
  auto it = rnn_reference::values().find(name);
  if (it == rnn_reference::values().end())
    return ::testing::AssertionFailure() << "no reference named " << name;
  if (!t.defined()) return ::testing::AssertionFailure() << name << ": tensor undefined";
  if (t.sizes() != it->second.shape)
    return ::testing::AssertionFailure() << name << ": shape " << tg::shape_str(t.sizes())
                                         << ", PyTorch " << tg::shape_str(it->second.shape);
  const std::vector<double> got = t.to_vector<double>();
  const std::vector<double>& want = it->second.data;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i])))
      return ::testing::AssertionFailure() << name << "[" << i << "]: got " << got[i]
                                           << ", PyTorch " << want[i];
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Gradchecks(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                      const std::vector<Tensor>& inputs) {
  try {
    if (tg::gradcheck(fn, inputs)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "gradcheck returned false";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

// The message of the tg::Error that `fn` throws, or "" if none.
std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// ---------------------------------------------------------------- a case of the reference

// A module or cell of any kind behind one call: (output or undefined, h_n, c_n or undefined).
struct Recurrent {
  std::shared_ptr<nn::Module> module;
  std::function<std::tuple<Tensor, Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&)>
      run;
};

Recurrent Build(const Case& c, tg::TensorOptions options) {
  Recurrent r;
  const nn::LSTMOptions o{.num_layers = c.num_layers, .bias = c.bias,
                          .batch_first = c.batch_first, .bidirectional = c.bidirectional};
  if (c.mode == "RNN") {
    auto m = std::make_shared<nn::RNN>(c.input_size, c.hidden_size,
                                       nn::RNNOptions{.num_layers = c.num_layers,
                                                      .nonlinearity = c.nonlinearity,
                                                      .bias = c.bias,
                                                      .batch_first = c.batch_first,
                                                      .bidirectional = c.bidirectional},
                                       options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor&) {
      auto [out, h_n] = m->forward(x, h);
      return std::make_tuple(out, h_n, Tensor());
    };
    r.module = m;
  } else if (c.mode == "LSTM") {
    auto m = std::make_shared<nn::LSTM>(c.input_size, c.hidden_size, o, options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor& c0) {
      auto [out, state] =
          h.defined() ? m->forward(x, std::make_tuple(h, c0)) : m->forward(x);
      return std::make_tuple(out, std::get<0>(state), std::get<1>(state));
    };
    r.module = m;
  } else if (c.mode == "GRU") {
    auto m = std::make_shared<nn::GRU>(c.input_size, c.hidden_size, o, options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor&) {
      auto [out, h_n] = m->forward(x, h);
      return std::make_tuple(out, h_n, Tensor());
    };
    r.module = m;
  } else if (c.mode == "RNNCell") {
    auto m = std::make_shared<nn::RNNCell>(c.input_size, c.hidden_size, c.bias, c.nonlinearity,
                                           options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor&) {
      return std::make_tuple(Tensor(), m->forward(x, h), Tensor());
    };
    r.module = m;
  } else if (c.mode == "LSTMCell") {
    auto m = std::make_shared<nn::LSTMCell>(c.input_size, c.hidden_size, c.bias, options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor& c0) {
      auto [h1, c1] = h.defined() ? m->forward(x, std::make_tuple(h, c0)) : m->forward(x);
      return std::make_tuple(Tensor(), h1, c1);
    };
    r.module = m;
  } else {
    auto m = std::make_shared<nn::GRUCell>(c.input_size, c.hidden_size, c.bias, options);
    r.run = [m](const Tensor& x, const Tensor& h, const Tensor&) {
      return std::make_tuple(Tensor(), m->forward(x, h), Tensor());
    };
    r.module = m;
  }
  // As set_parameters in rnn_reference.py.
  tg::NoGradGuard no_grad;
  int seed = 10;
  for (auto& [name, p] : r.module->named_parameters())
    p.copy_(Det(p.sizes(), seed++, 0.5, p.dtype()));
  return r;
}

// The initial states' shape for a case, as rnn_reference.py computes it.
Shape StateShape(const Case& c) {
  const bool cell = c.mode.size() > 4 && c.mode.substr(c.mode.size() - 4) == "Cell";
  const bool batched = c.input_shape.size() == (cell ? 2u : 3u);
  Shape s;
  if (!cell) s.push_back((c.bidirectional ? 2 : 1) * c.num_layers);
  if (batched) s.push_back(cell ? c.input_shape[0] : c.input_shape[c.batch_first ? 0 : 1]);
  s.push_back(c.hidden_size);
  return s;
}

struct CaseRun {
  Recurrent r;
  Tensor x, h0, c0, out, h_n, c_n;
};

// Runs a case and backpropagates the reference's loss.
CaseRun RunCase(const Case& c, tg::DType dtype) {
  CaseRun run;
  run.r = Build(c, dtype);
  run.x = Det(c.input_shape, 1, 1.0, dtype).requires_grad_();
  if (c.with_state) {
    run.h0 = Det(StateShape(c), 2, 0.5, dtype).requires_grad_();
    if (c.mode.rfind("LSTM", 0) == 0) run.c0 = Det(StateShape(c), 3, 0.5, dtype).requires_grad_();
  }
  std::tie(run.out, run.h_n, run.c_n) = run.r.run(run.x, run.h0, run.c0);
  Tensor loss = tg::zeros({}, dtype);
  for (auto [t, seed] : {std::pair{run.out, 99}, {run.h_n, 98}, {run.c_n, 97}})
    if (t.defined()) loss = loss + tg::sum(t * Det(t.sizes(), seed, 1.0, dtype));
  loss.backward();
  return run;
}

void ExpectMatchesPyTorch(const Case& c, tg::DType dtype, double rtol, double atol) {
  SCOPED_TRACE(c.name);
  CaseRun run = RunCase(c, dtype);
  // Every tensor the reference recorded for this case, and nothing it did not.
  std::vector<std::pair<std::string, Tensor>> checked = {
      {"output", run.out}, {"h_n", run.h_n}, {"c_n", run.c_n}, {"grad.input", run.x.grad()}};
  if (run.h0.defined()) checked.emplace_back("grad.h_0", run.h0.grad());
  if (run.c0.defined()) checked.emplace_back("grad.c_0", run.c0.grad());
  for (auto& [name, p] : run.r.module->named_parameters()) checked.emplace_back("grad." + name, p.grad());
  size_t compared = 0;
  for (const auto& [what, t] : checked) {
    if (!t.defined() && rnn_reference::values().count(c.name + "." + what) == 0) continue;
    EXPECT_TRUE(MatchesReference(t, c.name + "." + what, rtol, atol));
    ++compared;
  }
  size_t recorded = 0;
  for (const auto& [name, values] : rnn_reference::values()) recorded += name.rfind(c.name + ".", 0) == 0;
  EXPECT_EQ(compared, recorded);
}

TEST(RnnReference, EveryModuleAndCellMatchesPyTorch) {
  ASSERT_EQ(rnn_reference::cases().size(), 20u);
  for (const Case& c : rnn_reference::cases()) ExpectMatchesPyTorch(c, tg::kFloat64, 1e-9, 1e-12);
}

TEST(RnnReference, Float32MatchesPyTorchWithinFloatPrecision) {
  for (const Case& c : rnn_reference::cases()) ExpectMatchesPyTorch(c, tg::kFloat32, 1e-4, 1e-5);
}

// The cell steps composed from ops (the path of devices without fused kernels).
TEST(RnnReference, ComposedCellStepsMatchPyTorch) {
  tg::set_fused_rnn_cells_enabled(false);
  for (const Case& c : rnn_reference::cases()) ExpectMatchesPyTorch(c, tg::kFloat64, 1e-9, 1e-12);
  tg::set_fused_rnn_cells_enabled(true);
  EXPECT_TRUE(tg::fused_rnn_cells_enabled());
}

// ---------------------------------------------------------------- gradcheck

// Output, h_n and c_n flattened into one tensor.
Tensor Flat(const std::tuple<Tensor, Tensor, Tensor>& r) {
  std::vector<Tensor> parts;
  for (const Tensor& t : {std::get<0>(r), std::get<1>(r), std::get<2>(r)})
    if (t.defined()) parts.push_back(tg::reshape(t, {-1}));
  return tg::cat(parts, 0);
}

// Tiny sizes: gradcheck perturbs the module's own parameters in place, one element at a time.
void ExpectGradcheck(const Case& c) {
  SCOPED_TRACE(c.name);
  Recurrent r = Build(c, tg::kFloat64);
  Tensor x = Det(c.input_shape, 4, 0.8).requires_grad_();
  Tensor h0 = Det(StateShape(c), 5, 0.5).requires_grad_();
  Tensor c0 = Det(StateShape(c), 6, 0.5).requires_grad_();
  std::vector<Tensor> inputs{x, h0, c0};
  for (const Tensor& p : r.module->parameters()) inputs.push_back(p);
  EXPECT_TRUE(Gradchecks([&](const std::vector<Tensor>& in) { return Flat(r.run(in[0], in[1], in[2])); },
                         inputs));
}

Case TinyCase(const std::string& mode, bool batch_first = false, const std::string& nonlinearity = "tanh") {
  return Case{"tiny_" + mode, mode, 2, 2, 2, true, batch_first, true, nonlinearity,
              batch_first ? Shape{2, 3, 2} : Shape{3, 2, 2}, true};
}

TEST(RnnGradcheck, TwoLayerBidirectionalModules) {
  ExpectGradcheck(TinyCase("RNN"));
  ExpectGradcheck(TinyCase("RNN", true, "relu"));
  ExpectGradcheck(TinyCase("LSTM"));
  ExpectGradcheck(TinyCase("LSTM", true));
  ExpectGradcheck(TinyCase("GRU"));
  ExpectGradcheck(TinyCase("GRU", true));
}

TEST(RnnGradcheck, Cells) {
  for (const std::string mode : {"RNNCell", "LSTMCell", "GRUCell"})
    ExpectGradcheck(Case{mode, mode, 3, 2, 1, true, false, false, "tanh", Shape{2, 3}, true});
}

TEST(RnnGradcheck, FusedCellUpdatesFirstAndSecondOrder) {
  const int64_t n = 2, h = 3;
  Tensor lstm_in = Det({n, 4 * h}, 7).requires_grad_();
  Tensor lstm_hid = Det({n, 4 * h}, 8).requires_grad_();
  Tensor c = Det({n, h}, 9).requires_grad_();
  auto lstm = [](const std::vector<Tensor>& in) {
    auto [h1, c1] = tg::lstm_cell_update(in[0], in[1], in[2]);
    return tg::cat({tg::reshape(h1, {-1}), tg::reshape(c1, {-1})}, 0);
  };
  EXPECT_TRUE(Gradchecks(lstm, {lstm_in, lstm_hid, c}));
  // One node for the whole step on the fused path; many on the composed one.
  auto [h1, c1] = tg::lstm_cell_update(lstm_in, lstm_hid, c);
  ASSERT_TRUE(h1.grad_fn() && c1.grad_fn() == h1.grad_fn());
  EXPECT_STREQ(h1.grad_fn()->name, "lstm_cell_update");
  tg::set_fused_rnn_cells_enabled(false);
  EXPECT_STREQ(std::get<0>(tg::lstm_cell_update(lstm_in, lstm_hid, c)).grad_fn()->name, "mul");
  tg::set_fused_rnn_cells_enabled(true);

  Tensor gru_in = Det({n, 3 * h}, 10).requires_grad_();
  Tensor gru_hid = Det({n, 3 * h}, 11).requires_grad_();
  Tensor hx = Det({n, h}, 12).requires_grad_();
  auto gru = [](const std::vector<Tensor>& in) { return tg::gru_cell_update(in[0], in[1], in[2]); };
  EXPECT_TRUE(Gradchecks(gru, {gru_in, gru_hid, hx}));

  // Under create_graph the backward is the composed formula: its values must equal the fused
  // kernel's, and its own derivatives must be right (gradcheck of the gradient).
  auto first_grads = [](const std::function<Tensor(const std::vector<Tensor>&)>& f,
                        const std::vector<Tensor>& in, bool create_graph) {
    tg::EnableGradGuard grad_mode;  // gradcheck's finite differences run under no-grad
    Tensor out = f(in);
    Tensor loss = tg::sum(out * Det(out.sizes(), 13));
    std::vector<Tensor> g = tg::autograd::grad({loss}, in, {}, create_graph, create_graph);
    std::vector<Tensor> flat;
    for (const Tensor& t : g) flat.push_back(tg::reshape(t, {-1}));
    return tg::cat(flat, 0);
  };
  for (auto [f, in] : {std::pair{std::function<Tensor(const std::vector<Tensor>&)>(lstm),
                                 std::vector<Tensor>{lstm_in, lstm_hid, c}},
                       {gru, {gru_in, gru_hid, hx}}}) {
    const std::vector<double> fused = first_grads(f, in, false).to_vector<double>();
    const std::vector<double> composed = first_grads(f, in, true).to_vector<double>();
    ASSERT_EQ(fused.size(), composed.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], composed[i], 1e-12) << i;
    EXPECT_TRUE(Gradchecks([&](const std::vector<Tensor>& v) { return first_grads(f, v, true); }, in));
  }
}

TEST(RnnGradcheck, UnbindValuesAndGradient) {
  Tensor x = Det({3, 2, 2}, 14).requires_grad_();
  std::vector<Tensor> parts = tg::unbind(x, 1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].sizes(), (Shape{3, 2}));
  EXPECT_EQ(parts[1].to_vector<double>(), tg::select(x, 1, 1).to_vector<double>());
  // Only one slice used: the other's gradient is zeros.
  EXPECT_TRUE(Gradchecks([](const std::vector<Tensor>& in) { return tg::unbind(in[0], 1)[0] * 2.0; }, {x}));
  EXPECT_TRUE(Gradchecks(
      [](const std::vector<Tensor>& in) {
        std::vector<Tensor> p = tg::unbind(in[0], -1);
        return p[0] * p[1];
      },
      {x}));
}

// ---------------------------------------------------------------- names, shapes, printing

TEST(RnnModules, StateDictNamesAndShapesArePyTorchs) {
  std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> modules = {
      {"rnn_default", std::make_shared<nn::RNN>(10, 20)},
      {"rnn_relu", std::make_shared<nn::RNN>(10, 20, nn::RNNOptions{.nonlinearity = "relu"})},
      {"lstm_full", std::make_shared<nn::LSTM>(10, 20, nn::LSTMOptions{.num_layers = 2,
                                                                       .bias = false,
                                                                       .batch_first = true,
                                                                       .dropout = 0.5,
                                                                       .bidirectional = true})},
      {"lstm_2layer_batch_first",
       std::make_shared<nn::LSTM>(10, 20, nn::LSTMOptions{.num_layers = 2, .batch_first = true})},
      {"gru_dropout",
       std::make_shared<nn::GRU>(3, 5, nn::GRUOptions{.num_layers = 3, .dropout = 0.25})},
      {"rnn_cell_relu_no_bias", std::make_shared<nn::RNNCell>(3, 4, false, "relu")},
      {"lstm_cell", std::make_shared<nn::LSTMCell>(3, 4)},
      {"gru_cell_no_bias", std::make_shared<nn::GRUCell>(3, 4, false)},
  };
  for (const auto& [name, m] : modules) {
    SCOPED_TRACE(name);
    EXPECT_EQ(m->repr(), rnn_reference::reprs().at(name));
    const auto& want = rnn_reference::state_dicts().at(name);
    const nn::StateDict got = m->state_dict();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].first, want[i].first);
      EXPECT_EQ(got[i].second.sizes(), want[i].second) << got[i].first;
    }
  }
}

TEST(RnnModules, DefaultInitIsUniformWithinOneOverSqrtHidden) {
  tg::manual_seed(3);
  nn::LSTM lstm(5, 16, {.num_layers = 2, .bidirectional = true});
  const double bound = 1.0 / std::sqrt(16.0);
  double lo = 1, hi = -1, sum = 0;
  int64_t count = 0;
  for (const Tensor& p : lstm.parameters())
    for (double v : p.to_vector<double>()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
      ++count;
    }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.95 * bound);  // the whole range is used
  EXPECT_GT(hi, 0.95 * bound);
  EXPECT_NEAR(sum / static_cast<double>(count), 0.0, 0.01);
  // all_weights: per layer and direction, PyTorch's order.
  const auto w = lstm.all_weights();
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[2][0].sizes(), (Shape{64, 32}));
  EXPECT_TRUE(w[3][3].is_same(lstm.named_parameters()[15].second));
}

TEST(RnnModules, LoadsAStateDictAndConvertsDtype) {
  nn::GRU a(3, 4, {.num_layers = 2});
  nn::GRU b(3, 4, {.num_layers = 2});
  b.load_state_dict(a.state_dict());
  Tensor x = Det({5, 2, 3}, 1, 1.0, tg::kFloat32);
  EXPECT_EQ(std::get<0>(a.forward(x)).to_vector<float>(), std::get<0>(b.forward(x)).to_vector<float>());
  b.to(tg::kFloat64);
  auto [out, h_n] = b.forward(Det({5, 2, 3}, 1));
  EXPECT_EQ(out.dtype(), tg::kFloat64);
  EXPECT_EQ(h_n.sizes(), (Shape{2, 2, 4}));
}

// ---------------------------------------------------------------- dropout between layers

TEST(RnnModules, DropoutActsBetweenLayersOnlyInTraining) {
  Case c{"dropout", "LSTM", 3, 4, 2, true, false, false, "tanh", Shape{5, 2, 3}, false};
  Recurrent plain = Build(c, tg::kFloat64);
  auto dropped = std::make_shared<nn::LSTM>(3, 4, nn::LSTMOptions{.num_layers = 2, .dropout = 0.5},
                                            tg::kFloat64);
  dropped->load_state_dict(plain.module->state_dict());
  Tensor x = Det(c.input_shape, 1);
  const std::vector<double> want = Flat(plain.run(x, Tensor(), Tensor())).to_vector<double>();
  auto run = [&] {
    auto [out, state] = dropped->forward(x);
    return Flat({out, std::get<0>(state), std::get<1>(state)}).to_vector<double>();
  };
  dropped->eval();
  EXPECT_EQ(run(), want);
  dropped->train();
  tg::manual_seed(1);
  const std::vector<double> trained = run();
  EXPECT_NE(trained, want);
  // The first layer sees no dropout: its final state (h_n[0], first 8 of the h_n values) is the
  // same as without dropout.
  const size_t h_n_at = 5 * 2 * 4;
  for (size_t i = h_n_at; i < h_n_at + 8; ++i) EXPECT_DOUBLE_EQ(trained[i], want[i]) << i;
  // A single layer has nothing to drop between.
  nn::GRU single(3, 4, {.dropout = 0.9});
  Tensor xf = Det({4, 2, 3}, 1, 1.0, tg::kFloat32);
  const auto train_out = std::get<0>(single.forward(xf)).to_vector<float>();
  single.eval();
  EXPECT_EQ(train_out, std::get<0>(single.forward(xf)).to_vector<float>());
}

// ---------------------------------------------------------------- errors

TEST(RnnErrors, BadOptions) {
  EXPECT_TRUE(Contains(ErrorOf([] { nn::LSTM(3, 0); }), "LSTM: hidden_size must be greater than zero, got 0"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::GRUCell(3, -2); }), "GRUCell: hidden_size must be greater than zero, got -2"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::GRU(3, 4, {.num_layers = 0}); }), "GRU: num_layers must be greater than zero, got 0"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::LSTM(3, 4, {.dropout = 1.5}); }), "LSTM: dropout should be a number in range [0, 1]"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::RNN(3, 4, {.dropout = -0.1}); }), "got -0.1"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::RNN(3, 4, {.nonlinearity = "sigmoid"}); }), "RNN: unknown nonlinearity 'sigmoid'"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::RNNCell(3, 4, true, "gelu"); }), "RNNCell: unknown nonlinearity 'gelu'"));
  EXPECT_TRUE(Contains(ErrorOf([] { nn::LSTM(3, 4, {}, tg::kInt64); }), "LSTM: parameters must be floating-point"));
}

TEST(RnnErrors, BadInputsAndStates) {
  nn::LSTM lstm(3, 4, {.num_layers = 2});
  EXPECT_TRUE(Contains(ErrorOf([&] { lstm.forward(tg::zeros({2, 3, 3, 1})); }),
                       "LSTM: expected input to be 2-D or 3-D but received a 4-D tensor of shape [2, 3, 3, 1]"));
  EXPECT_TRUE(Contains(ErrorOf([&] { lstm.forward(tg::zeros({5, 2, 7})); }),
                       "LSTM: input.size(-1) must be equal to input_size. Expected 3, got 7"));
  EXPECT_TRUE(Contains(ErrorOf([&] { lstm.forward(tg::zeros({0, 2, 3})); }),
                       "expected sequence length to be larger than 0"));
  EXPECT_TRUE(Contains(ErrorOf([&] { lstm.forward(tg::zeros({5, 2, 3}, tg::kFloat64)); }),
                       "LSTM: input dtype float64 does not match the parameters' float32"));
  EXPECT_TRUE(Contains(
      ErrorOf([&] { lstm.forward(tg::zeros({5, 2, 3}), std::make_tuple(tg::zeros({2, 3, 4}), tg::zeros({2, 2, 4}))); }),
      "LSTM: expected h_0 of shape [2, 2, 4] for input of shape [5, 2, 3], got [2, 3, 4]"));
  EXPECT_TRUE(Contains(
      ErrorOf([&] { lstm.forward(tg::zeros({5, 2, 3}), std::make_tuple(tg::zeros({2, 2, 4}), tg::zeros({1, 2, 4}))); }),
      "LSTM: expected c_0 of shape [2, 2, 4] for input of shape [5, 2, 3], got [1, 2, 4]"));
  EXPECT_TRUE(Contains(
      ErrorOf([&] { lstm.forward(tg::zeros({5, 3}), std::make_tuple(tg::zeros({2, 1, 4}), tg::zeros({2, 1, 4}))); }),
      "LSTM: expected h_0 of shape [2, 4] for input of shape [5, 3], got [2, 1, 4]"));
  EXPECT_TRUE(Contains(ErrorOf([&] { lstm.forward(tg::zeros({5, 2, 3}), std::make_tuple(tg::zeros({2, 2, 4}), Tensor())); }),
                       "LSTM: hx = (h_0, c_0) needs both tensors defined"));
  nn::GRU gru(3, 4, {.batch_first = true, .bidirectional = true});
  EXPECT_TRUE(Contains(ErrorOf([&] { gru.forward(tg::zeros({2, 5, 3}), tg::zeros({1, 2, 4})); }),
                       "GRU: expected h_0 of shape [2, 2, 4] for input of shape [2, 5, 3], got [1, 2, 4]"));
  EXPECT_TRUE(Contains(ErrorOf([&] { gru.forward(tg::zeros({2, 5, 3}), tg::zeros({2, 2, 4}, tg::kFloat64)); }),
                       "GRU: h_0 dtype float64 does not match the parameters' float32"));
  EXPECT_TRUE(Contains(ErrorOf([&] { gru(tg::zeros({2, 5, 3})); }), "GRU: this module does not take a single tensor"));

  nn::LSTMCell cell(3, 4);
  EXPECT_TRUE(Contains(ErrorOf([&] { cell.forward(tg::zeros({2, 2, 3})); }),
                       "LSTMCell: expected input to be 1-D or 2-D but received a 3-D tensor"));
  EXPECT_TRUE(Contains(ErrorOf([&] { cell.forward(tg::zeros({2, 5})); }),
                       "LSTMCell: input has inconsistent input_size: got 5, expected 3"));
  EXPECT_TRUE(Contains(ErrorOf([&] { cell.forward(tg::zeros({2, 3}), std::make_tuple(tg::zeros({3, 4}), tg::zeros({2, 4}))); }),
                       "LSTMCell: expected hx of shape [2, 4] for input of shape [2, 3], got [3, 4]"));
  EXPECT_TRUE(Contains(ErrorOf([&] { cell.forward(tg::zeros({2, 3}), std::make_tuple(tg::zeros({2, 4}), tg::zeros({2, 5}))); }),
                       "LSTMCell: expected cx of shape [2, 4] for input of shape [2, 3], got [2, 5]"));
  nn::RNNCell rnn_cell(3, 4);
  EXPECT_TRUE(Contains(ErrorOf([&] { rnn_cell.forward(tg::zeros({3}), tg::zeros({1, 4})); }),
                       "RNNCell: expected hx of shape [4] for input of shape [3], got [1, 4]"));

  EXPECT_TRUE(Contains(ErrorOf([] { tg::lstm_cell_update(tg::zeros({2, 8}), tg::zeros({2, 8}), tg::zeros({2, 4})); }),
                       "lstm_cell_update: input_gates and hidden_gates must have shape [2, 16]"));
  EXPECT_TRUE(Contains(ErrorOf([] { tg::gru_cell_update(tg::zeros({2, 6}), tg::zeros({2, 6}, tg::kFloat64), tg::zeros({2, 2})); }),
                       "gru_cell_update: expected one dtype"));
  EXPECT_TRUE(Contains(ErrorOf([] { tg::unbind(tg::zeros({})); }), "unbind: expected a tensor with at least 1 dim"));
}

// ---------------------------------------------------------------- training

// Remember the first value of a sequence of +-1 through 5 more steps: an LSTM and a linear
// read-out, trained with Adam; the loss must fall far below that of predicting 0 (1.0).
TEST(RnnTraining, LstmLearnsToRememberTheFirstStep) {
  tg::manual_seed(0);
  const int64_t steps = 6, batch = 32;
  auto lstm = std::make_shared<nn::LSTM>(1, 8);
  auto head = std::make_shared<nn::Linear>(8, 1);
  std::vector<Tensor> params = lstm->parameters();
  for (const Tensor& p : head->parameters()) params.push_back(p);
  tg::optim::Adam opt(params, {.lr = 0.03});
  Tensor x = tg::sign(tg::randn({steps, batch, 1}));
  Tensor target = tg::select(x, 0, 0);
  double first = 0, last = 0;
  for (int it = 0; it < 150; ++it) {
    auto [out, state] = lstm->forward(x);
    Tensor loss = tg::mean(tg::square(head->forward(tg::select(out, 0, steps - 1)) - target));
    if (it == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 0.05) << "first loss " << first;
}

}  // namespace
