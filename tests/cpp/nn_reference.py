#!/usr/bin/python3
"""Reference values for tests/cpp/test_nn.cpp, computed with PyTorch (1.13) in float64.

    /usr/bin/python3 tests/cpp/nn_reference.py          # prints the generated C++ block
    /usr/bin/python3 tests/cpp/nn_reference.py --write  # replaces it in test_nn.cpp

Inputs are not random: det(shape, seed) fills a tensor with scale * sin(seed * 1.7 + i * 0.913)
+ offset (i the row-major index), which the C++ test computes bit for bit the same way, so only
the outputs are hard-coded. Every case name here is looked up by the test; a gradient "X.grad"
is that of sum(out * det(out.shape, 99)) (or of the scalar loss itself).
"""
import math
import os
import re
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
D = torch.float64
refs = {}      # name -> flat list of floats
reprs = {}     # name -> repr string
states = {}    # name -> [(key, shape)]


def det(shape, seed, scale=1.0, offset=0.0):
    n = math.prod(shape)
    vals = [scale * math.sin(seed * 1.7 + i * 0.913) + offset for i in range(n)]
    return torch.tensor(vals, dtype=D).reshape(shape)


def leaf(t):
    return t.clone().requires_grad_()


def rec(name, t):
    refs[name] = [float(v) for v in t.detach().reshape(-1).tolist()]


def backward_weighted(out):
    """Gradient seed for a non-scalar output: sum(out * det(out.shape, 99))."""
    if out.dim() == 0:
        out.backward()
    else:
        (out * det(list(out.shape), 99)).sum().backward()


# ---------------------------------------------------------------- layers
def layers():
    x = leaf(det([3, 4], 1))
    w = leaf(det([5, 4], 2, 0.5))
    b = leaf(det([5], 3))
    out = F.linear(x, w, b)
    rec("linear.out", out)
    backward_weighted(out)
    rec("linear.x.grad", x.grad)
    rec("linear.w.grad", w.grad)
    rec("linear.b.grad", b.grad)
    x3 = det([2, 3, 4], 4)
    rec("linear3d.out", F.linear(x3, det([5, 4], 2, 0.5)))

    a = det([3, 4], 5, 3.0)
    rec("act.relu", F.relu(a))
    rec("act.leaky_relu", F.leaky_relu(a, 0.2))
    rec("act.gelu", F.gelu(a))
    rec("act.gelu_tanh", F.gelu(a, approximate="tanh"))
    rec("act.sigmoid", torch.sigmoid(a))
    rec("act.tanh", torch.tanh(a))
    rec("act.softmax1", F.softmax(a, dim=1))
    rec("act.log_softmax0", F.log_softmax(a, dim=0))
    a3 = det([2, 3, 2], 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec("act.softmax_legacy3d", nn.Softmax()(a3))  # implicit dim 0 for 3-D
    rec("act.flatten", nn.Flatten()(det([2, 3, 2], 7)))  # values unchanged; shape checked in C++

    # LayerNorm over the last two dims, with affine parameters set to det values.
    x = leaf(det([2, 3, 4], 6, 2.0, 0.5))
    ln = nn.LayerNorm([3, 4])
    with torch.no_grad():
        ln.weight.copy_(det([3, 4], 7))
        ln.bias.copy_(det([3, 4], 8))
    out = ln(x)
    rec("layer_norm.out", out)
    backward_weighted(out)
    rec("layer_norm.x.grad", x.grad)
    rec("layer_norm.w.grad", ln.weight.grad)
    rec("layer_norm.b.grad", ln.bias.grad)
    x = det([2, 3, 4], 9, 3.0)
    rec("layer_norm.noaffine", nn.LayerNorm(4, elementwise_affine=False)(x))

    # Embedding with a padding row that is not zero (set by hand): its lookups keep the values
    # but its gradient stays zero.
    emb = nn.Embedding(6, 3, padding_idx=3)
    with torch.no_grad():
        emb.weight.copy_(det([6, 3], 11))
    idx = torch.tensor([[1, 3, 0], [3, 5, 1]])
    out = emb(idx)
    rec("embedding.out", out)
    backward_weighted(out)
    rec("embedding.w.grad", emb.weight.grad)


def batchnorm():
    # BatchNorm1d on [N, C]: three training steps, then eval. Affine parameters set to det values.
    def run(name, bn, shapes, seeds):
        with torch.no_grad():
            if bn.affine:
                bn.weight.copy_(det([bn.num_features], 30))
                bn.bias.copy_(det([bn.num_features], 31))
        bn.train()
        for k, (shape, seed) in enumerate(zip(shapes, seeds)):
            x = leaf(det(shape, seed, 2.0, float(k)))
            out = bn(x)
            rec(f"{name}.train{k}", out)
            if k == 0:
                backward_weighted(out)
                rec(f"{name}.x.grad", x.grad)
                if bn.affine:
                    rec(f"{name}.w.grad", bn.weight.grad)
                    rec(f"{name}.b.grad", bn.bias.grad)
        if bn.track_running_stats:
            rec(f"{name}.running_mean", bn.running_mean)
            rec(f"{name}.running_var", bn.running_var)
            rec(f"{name}.num_batches_tracked", bn.num_batches_tracked.double())
        bn.eval()
        x = leaf(det(shapes[0], 40, 1.5))
        out = bn(x)
        rec(f"{name}.eval", out)
        backward_weighted(out)
        rec(f"{name}.eval.x.grad", x.grad)

    run("bn1d", nn.BatchNorm1d(3), [[4, 3]] * 3, [10, 11, 12])
    run("bn1d_3d", nn.BatchNorm1d(3, momentum=0.3), [[2, 3, 5]] * 3, [13, 14, 15])
    run("bn2d_cumulative", nn.BatchNorm2d(3, momentum=None), [[2, 3, 2, 2]] * 3, [16, 17, 18])
    run("bn2d_noaffine", nn.BatchNorm2d(2, affine=False, eps=1e-3), [[3, 2, 2, 1]] * 2, [19, 20])
    run("bn1d_notrack", nn.BatchNorm1d(3, track_running_stats=False), [[4, 3]] * 2, [21, 22])


# ---------------------------------------------------------------- losses
def loss_case(name, fn, x, *args, reductions=("none", "mean", "sum"), **kwargs):
    """Values for each reduction and the gradient of the mean w.r.t. x."""
    for r in reductions:
        xi = leaf(x)
        out = fn(xi, *args, reduction=r, **kwargs)
        rec(f"{name}.{r}", out)
        if r == "mean":
            backward_weighted(out)
            rec(f"{name}.grad", xi.grad)


def losses():
    x = det([4, 5], 13, 2.0)
    t = det([4, 5], 14, 1.5)
    loss_case("mse", F.mse_loss, x, t)
    loss_case("l1", F.l1_loss, x, t)
    loss_case("smooth_l1", F.smooth_l1_loss, x, t)
    loss_case("smooth_l1_b05", F.smooth_l1_loss, x, t, beta=0.5)
    loss_case("smooth_l1_b0", F.smooth_l1_loss, x, t, beta=0.0)

    logits = det([5, 4], 15, 3.0)
    w = torch.tensor([0.5, 2.0, 1.5, 1.0])
    t_plain = torch.tensor([1, 3, 0, 0, 2])
    t_ign = torch.tensor([1, 3, -100, 0, 2])
    loss_case("ce", F.cross_entropy, logits, t_plain)
    loss_case("ce_w_ign", F.cross_entropy, logits, t_ign, weight=w)
    loss_case("ce_ls", F.cross_entropy, logits, t_ign, label_smoothing=0.2)
    loss_case("ce_w_ls", F.cross_entropy, logits, t_ign, weight=w, label_smoothing=0.2)
    loss_case("ce_ign2", F.cross_entropy, logits, t_plain, ignore_index=2, label_smoothing=0.1)
    kx = det([2, 4, 3, 2], 16, 2.0)
    kt = torch.tensor([[[0, 1], [3, -100], [2, 2]], [[1, 1], [0, 3], [-100, 2]]])
    loss_case("ce_kdim", F.cross_entropy, kx, kt, weight=w, label_smoothing=0.15)
    probs = torch.softmax(det([5, 4], 17, 2.0), dim=1)
    loss_case("ce_prob", F.cross_entropy, logits, probs)
    loss_case("ce_prob_w_ls", F.cross_entropy, logits, probs, weight=w, label_smoothing=0.3)
    kprobs = torch.softmax(det([2, 4, 3, 2], 18), dim=1)
    loss_case("ce_prob_kdim", F.cross_entropy, kx, kprobs, weight=w)
    loss_case("ce_unbatched", F.cross_entropy, det([4], 19, 2.0), torch.tensor(2), label_smoothing=0.1)
    loss_case("ce_unbatched_prob", F.cross_entropy, det([4], 19, 2.0), torch.softmax(det([4], 20), 0))
    big = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [3.0, -1e4, 1e4]])
    loss_case("ce_big", F.cross_entropy, big, torch.tensor([1, 0, 2]), label_smoothing=0.1)

    lp = det([5, 4], 21, 2.0)
    loss_case("nll", F.nll_loss, lp, t_plain)
    loss_case("nll_w_ign", F.nll_loss, lp, t_ign, weight=w)
    kt3 = torch.where(kt == -100, 1, kt)
    loss_case("nll_kdim", F.nll_loss, kx, kt3, ignore_index=3)
    loss_case("nll_unbatched", F.nll_loss, det([4], 22), torch.tensor(1))

    p = torch.sigmoid(det([3, 4], 23, 2.0))
    bt = det([3, 4], 24, 0.5, 0.5)
    bw = det([4], 25, 0.5, 1.0)
    loss_case("bce", F.binary_cross_entropy, p, bt)
    loss_case("bce_w", F.binary_cross_entropy, p, bt, weight=bw)
    # Exactly 0 and 1: the logs clamp at -100; the input gradient divides by max(x(1-x), 1e-12).
    edge = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.25])
    edge_t = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5])
    loss_case("bce_edge", F.binary_cross_entropy, edge, edge_t)
    ti = leaf(edge_t)
    F.binary_cross_entropy(edge, ti, reduction="sum").backward()
    rec("bce_edge.target.grad", ti.grad)
    ti = leaf(bt)
    F.binary_cross_entropy(p, ti, weight=bw).backward()
    rec("bce_w.target.grad", ti.grad)

    lx = det([3, 4], 26, 4.0)
    loss_case("bcel", F.binary_cross_entropy_with_logits, lx, bt)
    loss_case("bcel_w_pw", F.binary_cross_entropy_with_logits, lx, bt, weight=bw,
              pos_weight=det([4], 27, 1.0, 2.0))
    ti = leaf(bt)
    F.binary_cross_entropy_with_logits(lx, ti, pos_weight=det([4], 27, 1.0, 2.0)).backward()
    rec("bcel_w_pw.target.grad", ti.grad)
    lbig = torch.tensor([1e4, -1e4, 1e4, -1e4, 0.0, 50.0])
    tbig = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.3, 0.7])
    loss_case("bcel_big", F.binary_cross_entropy_with_logits, lbig, tbig,
              pos_weight=torch.tensor(3.0))


# ---------------------------------------------------------------- reprs and state dicts
def modules():
    ms = {
        "linear": nn.Linear(784, 512),
        "linear_nobias": nn.Linear(4, 5, bias=False),
        "identity": nn.Identity(),
        "flatten": nn.Flatten(),
        "flatten_0_2": nn.Flatten(0, 2),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(),
        "leaky_relu_02": nn.LeakyReLU(0.2),
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "gelu": nn.GELU(),
        "gelu_tanh": nn.GELU(approximate="tanh"),
        "softmax": nn.Softmax(dim=1),
        "softmax_none": nn.Softmax(),
        "log_softmax": nn.LogSoftmax(dim=-1),
        "dropout": nn.Dropout(),
        "dropout_01": nn.Dropout(0.1),
        "embedding": nn.Embedding(10, 3),
        "embedding_pad": nn.Embedding(10, 3, padding_idx=-1),
        "layer_norm": nn.LayerNorm(10),
        "layer_norm_2d": nn.LayerNorm([2, 3], eps=1e-6, elementwise_affine=False),
        "bn1d": nn.BatchNorm1d(3),
        "bn1d_none": nn.BatchNorm1d(3, momentum=None, track_running_stats=False),
        "bn2d": nn.BatchNorm2d(16, eps=1e-3, momentum=0.01, affine=False),
        "mse": nn.MSELoss(),
        "l1": nn.L1Loss(),
        "smooth_l1": nn.SmoothL1Loss(),
        "ce": nn.CrossEntropyLoss(),
        "ce_w": nn.CrossEntropyLoss(weight=torch.ones(4)),
        "nll_w": nn.NLLLoss(weight=torch.ones(4)),
        "bce": nn.BCELoss(),
        "bcel_pw": nn.BCEWithLogitsLoss(pos_weight=torch.ones(4)),
        "bcel_w_pw": nn.BCEWithLogitsLoss(weight=torch.ones(4), pos_weight=torch.ones(4)),
        "mlp": nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)),
        "mixed": nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.GELU(), nn.Dropout(0.25),
                               nn.LayerNorm(6), nn.Linear(6, 3, bias=False)),
    }
    for name, m in ms.items():
        reprs[name] = repr(m)
        states[name] = [(k, list(v.shape)) for k, v in m.state_dict().items()]


# ---------------------------------------------------------------- output
def cpp_double(v):
    if math.isnan(v):
        return "kNaN"
    if math.isinf(v):
        return "kInf" if v > 0 else "-kInf"
    return repr(v)


def cpp_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def generate():
    layers()
    batchnorm()
    losses()
    modules()
    lines = [f"// BEGIN GENERATED by tests/cpp/nn_reference.py (PyTorch {torch.__version__}, float64)"]
    lines.append("const std::map<std::string, std::vector<double>>& Refs() {")
    lines.append("  static const std::map<std::string, std::vector<double>> refs = {")
    for name, vals in refs.items():
        body = ", ".join(cpp_double(v) for v in vals)
        lines.append(f"      {{{cpp_string(name)}, {{{body}}}}},")
    lines.append("  };")
    lines.append("  return refs;")
    lines.append("}")
    lines.append("const std::map<std::string, std::string>& ReprRefs() {")
    lines.append("  static const std::map<std::string, std::string> refs = {")
    for name, s in reprs.items():
        lines.append(f"      {{{cpp_string(name)}, {cpp_string(s)}}},")
    lines.append("  };")
    lines.append("  return refs;")
    lines.append("}")
    lines.append("const std::map<std::string, std::vector<std::pair<std::string, Shape>>>& StateDictRefs() {")
    lines.append("  static const std::map<std::string, std::vector<std::pair<std::string, Shape>>> refs = {")
    for name, entries in states.items():
        body = ", ".join(f"{{{cpp_string(k)}, {{{', '.join(str(d) for d in s)}}}}}" for k, s in entries)
        lines.append(f"      {{{cpp_string(name)}, {{{body}}}}},")
    lines.append("  };")
    lines.append("  return refs;")
    lines.append("}")
    lines.append("// END GENERATED")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    block = generate()
    if "--write" in sys.argv:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_nn.cpp")
        src = open(path).read()
        pattern = re.compile(r"// BEGIN GENERATED.*?// END GENERATED\n", re.S)
        if not pattern.search(src):
            sys.exit("test_nn.cpp has no generated block to replace")
        open(path, "w").write(pattern.sub(lambda _: block, src))
        print(f"wrote {len(refs)} value sets, {len(reprs)} reprs, {len(states)} state dicts to {path}")
    else:
        sys.stdout.write(block)
