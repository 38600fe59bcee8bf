#!/usr/bin/python3
"""Expected values for tests/cpp/test_optim.cpp, computed with PyTorch (1.13, float64).

    /usr/bin/python3 tests/cpp/optim_reference.py           # prints the C++ block
    /usr/bin/python3 tests/cpp/optim_reference.py --write   # replaces it in test_optim.cpp

The problems are defined identically in the test: a 2-layer tanh net (inputs, targets and
initial weights from sin formulas) and the Rosenbrock function. Each case runs a few steps and
records the parameters (flattened, in order W1, b1, W2, b2), lr sequences of the schedulers, or
the L-BFGS iterate.
"""
import math
import re
import sys
from pathlib import Path

import torch

torch.set_default_dtype(torch.float64)


def fill(shape, scale, freq, offset):
    n = math.prod(shape)
    vals = [scale * math.sin(freq * (k + 1) + offset) for k in range(n)]
    return torch.tensor(vals).reshape(shape)


X = fill([4, 3], 1.0, 0.5, 0.1)
Y = fill([4, 2], 1.0, 0.3, 1.2)


def make_params():
    return [fill([3, 5], 0.5, 0.37, 0.0).requires_grad_(),
            fill([5], 0.2, 0.91, 0.5).requires_grad_(),
            fill([5, 2], 0.5, 0.53, 1.0).requires_grad_(),
            fill([2], 0.2, 1.3, 2.0).requires_grad_()]


def net_loss(p):
    w1, b1, w2, b2 = p
    out = torch.tanh(X @ w1 + b1) @ w2 + b2
    return ((out - Y) ** 2).mean()


def flat(params):
    return [v for p in params for v in p.detach().reshape(-1).tolist()]


STEPS = 5


def run(make_opt, steps=STEPS, scheduler=None):
    p = make_params()
    opt = make_opt(p)
    sched = scheduler(opt) if scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        net_loss(p).backward()
        opt.step()
        if sched:
            sched.step()
    return flat(p)


O = torch.optim
CASES = [
    # name, optimizer factory (the C++ test builds the same)
    ("SGD_plain", lambda p: O.SGD(p, lr=0.1)),
    ("SGD_momentum", lambda p: O.SGD(p, lr=0.1, momentum=0.9)),
    ("SGD_dampening", lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD_nesterov", lambda p: O.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD_weight_decay", lambda p: O.SGD(p, lr=0.1, weight_decay=0.1)),
    ("SGD_maximize", lambda p: O.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01, maximize=True)),
    ("SGD_groups", lambda p: O.SGD([{"params": p[:2], "momentum": 0.9},
                                    {"params": p[2:], "lr": 0.05}], lr=0.1, momentum=0.5)),
    ("Adam_plain", lambda p: O.Adam(p, lr=0.05)),
    ("Adam_defaults", lambda p: O.Adam(p)),
    ("Adam_betas_wd", lambda p: O.Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam_amsgrad", lambda p: O.Adam(p, lr=0.05, amsgrad=True)),
    ("Adam_maximize_eps", lambda p: O.Adam(p, lr=0.05, eps=1e-3, maximize=True)),
    ("AdamW_plain", lambda p: O.AdamW(p, lr=0.05)),
    ("AdamW_amsgrad_wd", lambda p: O.AdamW(p, lr=0.05, weight_decay=0.5, amsgrad=True)),
    ("RMSprop_plain", lambda p: O.RMSprop(p, lr=0.01)),
    ("RMSprop_momentum", lambda p: O.RMSprop(p, lr=0.01, momentum=0.9)),
    ("RMSprop_centered", lambda p: O.RMSprop(p, lr=0.01, centered=True)),
    ("RMSprop_all", lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1,
                                        momentum=0.5, centered=True)),
    ("RMSprop_maximize", lambda p: O.RMSprop(p, lr=0.01, maximize=True)),
    ("Adagrad_plain", lambda p: O.Adagrad(p, lr=0.1)),
    ("Adagrad_all", lambda p: O.Adagrad(p, lr=0.1, lr_decay=0.1, weight_decay=0.1,
                                        initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad_maximize", lambda p: O.Adagrad(p, lr=0.1, maximize=True)),
]

# Optimizer + scheduler stepped together (the scheduler's writes must reach the update).
SCHEDULED = [
    ("SGD_StepLR", lambda p: O.SGD(p, lr=0.1, momentum=0.9),
     lambda o: O.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    ("SGD_OneCycle", lambda p: O.SGD(p, lr=0.1, momentum=0.9),
     lambda o: O.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=6)),
    ("Adam_OneCycle", lambda p: O.Adam(p, lr=0.1),
     lambda o: O.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=6, anneal_strategy="linear",
                                         three_phase=True)),
]


def lr_sequence(make_sched, steps, groups=1, with_momentum=None):
    ps = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    if with_momentum == "beta1":
        opt = O.Adam([{"params": [q], "lr": 0.1 * (i + 1)} for i, q in enumerate(ps)])
    else:
        opt = O.SGD([{"params": [q], "lr": 0.1 * (i + 1)} for i, q in enumerate(ps)], lr=0.1,
                    momentum=0.9)
    sched = make_sched(opt)
    lrs, moms = [], []
    for i in range(steps + 1):  # the lr at construction, then after each step
        if i > 0:
            opt.step()
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        if with_momentum == "beta1":
            moms.append([g["betas"][0] for g in opt.param_groups])
        elif with_momentum:
            moms.append([g["momentum"] for g in opt.param_groups])
    return lrs, moms


S = O.lr_scheduler
SCHEDULERS = [
    ("StepLR", lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12, 2, None),
    ("MultiStepLR", lambda o: S.MultiStepLR(o, milestones=[5, 2, 9, 5], gamma=0.3), 12, 2, None),
    ("ExponentialLR", lambda o: S.ExponentialLR(o, gamma=0.9), 8, 1, None),
    ("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.01), 16, 2, None),
    ("OneCycleLR_cos", lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10), 10, 1, "momentum"),
    ("OneCycleLR_linear_three_phase",
     lambda o: S.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=12, pct_start=0.25,
                            anneal_strategy="linear", three_phase=True, div_factor=10.0,
                            final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9),
     12, 2, "momentum"),
    ("OneCycleLR_adam", lambda o: S.OneCycleLR(o, max_lr=0.5, epochs=2, steps_per_epoch=4,
                                               pct_start=0.4), 8, 1, "beta1"),
]

PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.91, 0.899, 0.8999, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91,
                   0.5, 0.6, 0.7, 0.8, 0.9]
PLATEAUS = [
    ("Plateau_min_rel", dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1)),
    ("Plateau_max_abs", dict(mode="max", factor=0.1, patience=1, threshold=0.02,
                             threshold_mode="abs", min_lr=[0.003, 0.05])),
]


def plateau_sequence(kwargs):
    ps = [torch.zeros(1, requires_grad=True) for _ in range(2)]
    opt = O.SGD([{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "lr": 0.2}], lr=0.1)
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in PLATEAU_METRICS:
        sched.step(m)
        out.append([g["lr"] for g in opt.param_groups])
    return out


def rosenbrock(xy):
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


def lbfgs_rosenbrock(steps, **kw):
    xy = torch.tensor([-1.5, 2.0], requires_grad=True)
    opt = O.LBFGS([xy], **kw)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(xy)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    st = opt.state[xy]
    return xy.detach().tolist(), st["func_evals"], st["n_iter"]


def lbfgs_net(steps, **kw):
    p = make_params()
    opt = O.LBFGS(p, **kw)

    def closure():
        opt.zero_grad()
        loss = net_loss(p)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    st = opt.state[p[0]]
    return flat(p), st["func_evals"], st["n_iter"]


def fmt(v):
    return repr(float(v))


def vec(vals):
    return "{" + ", ".join(fmt(v) for v in vals) + "}"


def generate():
    lines = ["// clang-format off", "// Generated by tests/cpp/optim_reference.py (PyTorch "
             + torch.__version__ + "); do not edit by hand."]
    lines.append("const std::map<std::string, std::vector<double>> kOptimizerExpected = {")
    for name, make in CASES:
        lines.append(f'  {{"{name}", {vec(run(make))}}},')
    for name, make, sched in SCHEDULED:
        lines.append(f'  {{"{name}", {vec(run(make, 6, sched))}}},')
    lines.append("};")
    lines.append("struct LrSequence { std::vector<std::vector<double>> lr, momentum; };")
    lines.append("const std::map<std::string, LrSequence> kSchedulerExpected = {")
    for name, make, steps, groups, mom in SCHEDULERS:
        lrs, moms = lr_sequence(make, steps, groups, mom)
        lines.append(f'  {{"{name}", {{{{{", ".join(vec(r) for r in lrs)}}},')
        lines.append(f'    {{{", ".join(vec(r) for r in moms)}}}}}}},')
    for name, kwargs in PLATEAUS:
        lrs = plateau_sequence(kwargs)
        lines.append(f'  {{"{name}", {{{{{", ".join(vec(r) for r in lrs)}}}, {{}}}}}},')
    lines.append("};")
    lines.append("struct LbfgsExpected { std::vector<double> params; double func_evals, n_iter; };")
    lines.append("const std::map<std::string, LbfgsExpected> kLbfgsExpected = {")
    cases = [
        ("rosenbrock_1step", lambda: lbfgs_rosenbrock(1, lr=0.1)),
        ("rosenbrock_1step_wolfe", lambda: lbfgs_rosenbrock(1, line_search_fn="strong_wolfe")),
        ("rosenbrock_3steps_wolfe", lambda: lbfgs_rosenbrock(3, line_search_fn="strong_wolfe",
                                                              max_iter=5)),
        ("rosenbrock_converged_wolfe", lambda: lbfgs_rosenbrock(10, line_search_fn="strong_wolfe")),
        ("net_history3", lambda: lbfgs_net(2, lr=0.5, max_iter=7, history_size=3)),
        ("net_history3_wolfe", lambda: lbfgs_net(2, max_iter=7, history_size=3,
                                                 line_search_fn="strong_wolfe")),
    ]
    for name, f in cases:
        params, evals, n_iter = f()
        lines.append(f'  {{"{name}", {{{vec(params)}, {evals}, {n_iter}}}}},')
    lines.append("};")
    lines.append("// clang-format on")
    return "\n".join(lines)


BEGIN = "// ---- BEGIN GENERATED (tests/cpp/optim_reference.py)\n"
END = "// ---- END GENERATED\n"

if __name__ == "__main__":
    block = generate()
    if "--write" in sys.argv:
        path = Path(__file__).with_name("test_optim.cpp")
        text = path.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        assert pattern.search(text), "markers not found in test_optim.cpp"
        path.write_text(pattern.sub(lambda m: BEGIN + block + "\n" + END, text))
        print(f"updated {path}")
    else:
        print(block)
