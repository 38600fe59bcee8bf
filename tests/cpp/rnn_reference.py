#!/usr/bin/python3
"""Reference values for tests/cpp/test_rnn.cpp, computed with PyTorch (1.13) in float64.

    /usr/bin/python3 tests/cpp/rnn_reference.py          # prints the generated header
    /usr/bin/python3 tests/cpp/rnn_reference.py --write  # writes tests/cpp/rnn_reference.h

Nothing is random: det(shape, seed, scale) fills a tensor with scale * sin(seed * 1.7 + i * 0.913)
(i the row-major index), which the C++ test computes the same way. Each case lists how to build
the module and its inputs, so the C++ test rebuilds it from the header alone:
  - the k-th parameter in registration order (named_parameters) is det(shape, 10 + k, 0.5);
  - the input is det(input_shape, 1), h_0 (when with_state) det(h_shape, 2, 0.5), c_0 det(., 3, 0.5);
  - the loss is sum(output * det(., 99)) + sum(h_n * det(., 98)) + sum(c_n * det(., 97)).
Recorded per case: output, h_n, c_n (values and shapes), and the loss's gradient w.r.t. the
input, the initial states and every parameter ("<case>.grad.<name>").
"""
import math
import os
import sys

import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
D = torch.float64

values = {}   # name -> (shape, flat values)
reprs = {}    # name -> repr string
states = {}   # name -> [(key, shape)]
cases = []    # (name, mode, input_size, hidden_size, num_layers, bias, batch_first,
              #  bidirectional, nonlinearity, input_shape, with_state)


def det(shape, seed, scale=1.0):
    n = math.prod(shape)
    vals = [scale * math.sin(seed * 1.7 + i * 0.913) for i in range(n)]
    return torch.tensor(vals, dtype=D).reshape(shape)


def rec(name, t):
    values[name] = (list(t.shape), [float(v) for v in t.detach().reshape(-1).tolist()])


def set_parameters(module):
    with torch.no_grad():
        for k, (_, p) in enumerate(module.named_parameters()):
            p.copy_(det(list(p.shape), 10 + k, 0.5))


def run_case(name, mode, input_size, hidden_size, input_shape, num_layers=1, bias=True,
             batch_first=False, bidirectional=False, nonlinearity="tanh", with_state=False):
    """A module (mode RNN/LSTM/GRU) or a cell (RNNCell/LSTMCell/GRUCell)."""
    cell = mode.endswith("Cell")
    if cell:
        kwargs = {"nonlinearity": nonlinearity} if mode == "RNNCell" else {}
        m = getattr(nn, mode)(input_size, hidden_size, bias=bias, **kwargs)
    else:
        kwargs = {"nonlinearity": nonlinearity} if mode == "RNN" else {}
        m = getattr(nn, mode)(input_size, hidden_size, num_layers=num_layers, bias=bias,
                              batch_first=batch_first, bidirectional=bidirectional, **kwargs)
    set_parameters(m)
    x = det(input_shape, 1).requires_grad_()
    batched = len(input_shape) == (2 if cell else 3)
    if cell:
        h_shape = ([input_shape[0]] if batched else []) + [hidden_size]
    else:
        batch = [input_shape[0 if batch_first else 1]] if batched else []
        h_shape = [(2 if bidirectional else 1) * num_layers] + batch + [hidden_size]
    lstm = mode.startswith("LSTM")
    inputs = {"input": x}
    hx = None
    if with_state:
        inputs["h_0"] = det(h_shape, 2, 0.5).requires_grad_()
        hx = inputs["h_0"]
        if lstm:
            inputs["c_0"] = det(h_shape, 3, 0.5).requires_grad_()
            hx = (inputs["h_0"], inputs["c_0"])
    result = m(x, hx)
    if cell:
        output = None
        h_n, c_n = result if lstm else (result, None)
    else:
        output, h = result
        h_n, c_n = h if lstm else (h, None)
    loss = 0
    for what, t, seed in (("output", output, 99), ("h_n", h_n, 98), ("c_n", c_n, 97)):
        if t is not None:
            rec(f"{name}.{what}", t)
            loss = loss + (t * det(list(t.shape), seed)).sum()
    loss.backward()
    for what, t in inputs.items():
        rec(f"{name}.grad.{what}", t.grad)
    for pname, p in m.named_parameters():
        rec(f"{name}.grad.{pname}", p.grad)
    cases.append((name, mode, input_size, hidden_size, num_layers, bias, batch_first,
                  bidirectional, nonlinearity, list(input_shape), with_state))


def all_cases():
    run_case("rnn_cell_tanh", "RNNCell", 3, 4, [2, 3], with_state=True)
    run_case("rnn_cell_relu", "RNNCell", 3, 4, [2, 3], nonlinearity="relu")
    run_case("rnn_cell_unbatched", "RNNCell", 3, 4, [3], with_state=True)
    run_case("lstm_cell", "LSTMCell", 3, 4, [2, 3], with_state=True)
    run_case("lstm_cell_zero_state", "LSTMCell", 3, 4, [2, 3])
    run_case("lstm_cell_unbatched", "LSTMCell", 3, 4, [3], with_state=True)
    run_case("gru_cell", "GRUCell", 3, 4, [2, 3], with_state=True)
    run_case("gru_cell_no_bias", "GRUCell", 3, 4, [2, 3], bias=False, with_state=True)

    run_case("rnn", "RNN", 3, 4, [5, 2, 3])
    run_case("rnn_relu_2layer", "RNN", 3, 4, [5, 2, 3], num_layers=2, nonlinearity="relu",
             with_state=True)
    run_case("rnn_bidirectional", "RNN", 3, 4, [4, 2, 3], bidirectional=True, with_state=True)
    run_case("lstm", "LSTM", 3, 4, [5, 2, 3], with_state=True)
    run_case("lstm_zero_state", "LSTM", 3, 4, [5, 2, 3])
    run_case("lstm_2layer_bidirectional_batch_first", "LSTM", 3, 4, [2, 5, 3], num_layers=2,
             bidirectional=True, batch_first=True)
    run_case("lstm_2layer_bidirectional_state", "LSTM", 3, 4, [4, 3, 3], num_layers=2,
             bidirectional=True, with_state=True)
    run_case("lstm_unbatched_2layer", "LSTM", 3, 4, [5, 3], num_layers=2, with_state=True)
    run_case("gru", "GRU", 3, 4, [5, 2, 3])
    run_case("gru_2layer_state", "GRU", 3, 4, [5, 2, 3], num_layers=2, with_state=True)
    run_case("gru_bidirectional_batch_first", "GRU", 3, 4, [2, 4, 3], bidirectional=True,
             batch_first=True, with_state=True)
    run_case("gru_no_bias_unbatched", "GRU", 3, 4, [4, 3], bias=False)


def reprs_and_state_dicts():
    modules = {
        "rnn_default": nn.RNN(10, 20),
        "rnn_relu": nn.RNN(10, 20, nonlinearity="relu"),
        "lstm_full": nn.LSTM(10, 20, num_layers=2, bias=False, batch_first=True, dropout=0.5,
                             bidirectional=True),
        "lstm_2layer_batch_first": nn.LSTM(10, 20, num_layers=2, batch_first=True),
        "gru_dropout": nn.GRU(3, 5, num_layers=3, dropout=0.25),
        "rnn_cell_relu_no_bias": nn.RNNCell(3, 4, bias=False, nonlinearity="relu"),
        "lstm_cell": nn.LSTMCell(3, 4),
        "gru_cell_no_bias": nn.GRUCell(3, 4, bias=False),
    }
    for name, m in modules.items():
        reprs[name] = repr(m)
        states[name] = [(k, list(v.shape)) for k, v in m.state_dict().items()]


# ---------------------------------------------------------------- output
def cpp_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def cpp_bool(b):
    return "true" if b else "false"


def cpp_shape(s):
    return "{" + ", ".join(str(d) for d in s) + "}"


def generate():
    all_cases()
    reprs_and_state_dicts()
    out = [f"// GENERATED by tests/cpp/rnn_reference.py (PyTorch {torch.__version__}, float64):",
           "// do not edit; rerun `/usr/bin/python3 tests/cpp/rnn_reference.py --write`.",
           "// clang-format off",
           "#pragma once",
           "#include <cstdint>",
           "#include <map>",
           "#include <string>",
           "#include <utility>",
           "#include <vector>",
           "",
           "namespace rnn_reference {",
           "",
           "using Shape = std::vector<int64_t>;",
           "",
           "struct Values {",
           "  Shape shape;",
           "  std::vector<double> data;",
           "};",
           "",
           "// How rnn_reference.py built each module or cell (see its docstring).",
           "struct Case {",
           "  std::string name, mode;",
           "  int64_t input_size, hidden_size, num_layers;",
           "  bool bias, batch_first, bidirectional;",
           "  std::string nonlinearity;",
           "  Shape input_shape;",
           "  bool with_state;",
           "};",
           "",
           "inline const std::vector<Case>& cases() {",
           "  static const std::vector<Case> c = {"]
    for (name, mode, i, h, layers, bias, bf, bidir, nl, shape, ws) in cases:
        out.append(f"      {{{cpp_string(name)}, {cpp_string(mode)}, {i}, {h}, {layers}, "
                   f"{cpp_bool(bias)}, {cpp_bool(bf)}, {cpp_bool(bidir)}, {cpp_string(nl)}, "
                   f"{cpp_shape(shape)}, {cpp_bool(ws)}}},")
    out += ["  };", "  return c;", "}", "",
            "inline const std::map<std::string, Values>& values() {",
            "  static const std::map<std::string, Values> v = {"]
    for name, (shape, vals) in values.items():
        body = ", ".join(repr(x) for x in vals)
        out.append(f"      {{{cpp_string(name)}, {{{cpp_shape(shape)}, {{{body}}}}}}},")
    out += ["  };", "  return v;", "}", "",
            "inline const std::map<std::string, std::string>& reprs() {",
            "  static const std::map<std::string, std::string> r = {"]
    for name, s in reprs.items():
        out.append(f"      {{{cpp_string(name)}, {cpp_string(s)}}},")
    out += ["  };", "  return r;", "}", "",
            "inline const std::map<std::string, std::vector<std::pair<std::string, Shape>>>& "
            "state_dicts() {",
            "  static const std::map<std::string, std::vector<std::pair<std::string, Shape>>> s = {"]
    for name, entries in states.items():
        body = ", ".join(f"{{{cpp_string(k)}, {cpp_shape(s)}}}" for k, s in entries)
        out.append(f"      {{{cpp_string(name)}, {{{body}}}}},")
    out += ["  };", "  return s;", "}", "", "}  // namespace rnn_reference",
            "// clang-format on"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    header = generate()
    if "--write" in sys.argv:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn_reference.h")
        open(path, "w").write(header)
        print(f"wrote {len(cases)} cases, {len(values)} value sets, {len(reprs)} reprs, "
              f"{len(states)} state dicts to {path}")
    else:
        sys.stdout.write(header)
