import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
from conftest import close, need_torch

W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B0 = np.array([0.1, -0.2])
X = np.array([[1.0, 2.0, -1.0], [0.5, -0.3, 0.8], [-1.2, 0.4, 0.9], [2.0, 1.0, 0.0]])
Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5], [2.0, 1.0]])


def loss_of(lib, w, b):
    x, y = lib.tensor(X, dtype=lib.float64), lib.tensor(Y, dtype=lib.float64)
    out = (x @ w.t() + b).tanh()
    return ((out - y) ** 2).mean() + 0.1 * (w ** 4).sum()


def params(lib):
    return (lib.tensor(W0, dtype=lib.float64, requires_grad=True),
            lib.tensor(B0, dtype=lib.float64, requires_grad=True))


def run(lib, make, steps=6, edit=None):
    w, b = params(lib)
    opt = make(lib, [w, b])
    for i in range(steps):
        opt.zero_grad()
        loss_of(lib, w, b).backward()
        opt.step()
        if edit:
            edit(opt, i)
    return w, b


CONFIGS = {
    "sgd": lambda lib, p: lib.optim.SGD(p, lr=0.1),
    "sgd_momentum_wd": lambda lib, p: lib.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov_max": lambda lib, p: lib.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, maximize=True),
    "adam": lambda lib, p: lib.optim.Adam(p, lr=0.05),
    "adam_amsgrad_wd": lambda lib, p: lib.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
    "adamw": lambda lib, p: lib.optim.AdamW(p, lr=0.05, weight_decay=0.3),
    "rmsprop": lambda lib, p: lib.optim.RMSprop(p, lr=0.01),
    "rmsprop_centered_momentum": lambda lib, p: lib.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
    "adagrad": lambda lib, p: lib.optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "groups": lambda lib, p: lib.optim.SGD([{"params": [p[0]]}, {"params": [p[1]], "lr": 0.5, "momentum": 0.5}], lr=0.1),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_optimizer_steps_match_torch(name):
    torch = need_torch()
    w, b = run(tg, CONFIGS[name])
    tw, tb = run(torch, CONFIGS[name])
    close(w, tw, rtol=1e-10, atol=1e-12)
    close(b, tb, rtol=1e-10, atol=1e-12)


def test_sgd_step_by_hand():
    p = tg.tensor([1.0, -2.0], requires_grad=True)
    opt = tg.optim.SGD([p], lr=0.5, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (p * tg.tensor([3.0, 4.0])).sum().backward()
        opt.step()
    # v1 = g, v2 = 0.9 g + g = 1.9 g: p = p0 - 0.5 (g + 1.9 g)
    close(p, [1.0 - 0.5 * 2.9 * 3.0, -2.0 - 0.5 * 2.9 * 4.0])


def test_param_groups_are_live():
    torch = need_torch()

    def edit(opt, i):
        if i == 2:
            for g in opt.param_groups:
                g["lr"] = g["lr"] * 0.1
                g["betas"] = (0.5, 0.9)

    make = CONFIGS["adam"]
    w, _ = run(tg, make, edit=edit)
    tw, _ = run(torch, make, edit=edit)
    close(w, tw, rtol=1e-10, atol=1e-12)
    opt = tg.optim.Adam(params(tg), lr=0.01)
    g = opt.param_groups[0]
    assert g["lr"] == 0.01 and g["betas"] == (0.9, 0.999) and g["amsgrad"] is False
    assert set(g) >= {"params", "lr", "betas", "eps", "weight_decay", "amsgrad"}
    assert len(g["params"]) == 2
    with pytest.raises(KeyError):
        g["nope"]


def test_add_param_group_and_state():
    w, b = params(tg)
    opt = tg.optim.SGD([w], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["momentum"] == 0.9  # defaults fill what the group leaves out
    assert len(opt.state) == 0
    loss_of(tg, w, b).backward()
    opt.step()
    assert len(opt.state) == 2
    assert opt.state[w]["momentum_buffer"].shape == w.shape


def state_after(opt_make, steps, w, b, opt=None):
    opt = opt or opt_make([w, b])
    for _ in range(steps):
        opt.zero_grad()
        loss_of(tg, w, b).backward()
        opt.step()
    return opt


def test_state_dict_roundtrip_resumes_exactly(tmp_path):
    make = lambda p: tg.optim.Adam(p, lr=0.05, amsgrad=True)  # noqa: E731
    w, b = params(tg)
    opt = state_after(make, 3, w, b)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert float(sd["state"][0]["step"]) == 3
    tg.save(sd, tmp_path / "opt.safetensors")
    tg.save({"w": w, "b": b}, tmp_path / "model.safetensors")

    state_after(make, 3, w, b, opt)  # the uninterrupted run

    model = tg.load(tmp_path / "model.safetensors")
    w2 = model["w"].requires_grad_()
    b2 = model["b"].requires_grad_()
    opt2 = make([w2, b2])
    opt2.load_state_dict(tg.load(tmp_path / "opt.safetensors"))
    state_after(make, 3, w2, b2, opt2)
    close(w2, w, rtol=0, atol=0)
    close(b2, b, rtol=0, atol=0)


def test_torch_state_dict_loads_into_tapegrad():
    torch = need_torch()
    tw, tb = params(torch)
    topt = torch.optim.Adam([tw, tb], lr=0.05)
    for _ in range(3):
        topt.zero_grad()
        loss_of(torch, tw, tb).backward()
        topt.step()
    tsd = topt.state_dict()
    sd = {"state": {k: {n: (tg.tensor(v.numpy()) if hasattr(v, "numpy") else v) for n, v in s.items()}
                    for k, s in tsd["state"].items()},
          "param_groups": tsd["param_groups"]}
    w = tg.tensor(tw.detach().numpy(), requires_grad=True)
    b = tg.tensor(tb.detach().numpy(), requires_grad=True)
    opt = tg.optim.Adam([w, b], lr=0.05)
    opt.load_state_dict(sd)
    for _ in range(3):
        topt.zero_grad()
        loss_of(torch, tw, tb).backward()
        topt.step()
    state_after(None, 3, w, b, opt)
    close(w, tw, rtol=1e-10, atol=1e-12)


def test_load_state_dict_errors():
    w, b = params(tg)
    opt = tg.optim.SGD([w, b], lr=0.1)
    other = tg.optim.SGD([w], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="param"):
        opt.load_state_dict(other)


def test_lbfgs_matches_torch():
    torch = need_torch()

    def fit(lib):
        w, b = params(lib)
        opt = lib.optim.LBFGS([w, b], lr=1, max_iter=15, history_size=5, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_of(lib, w, b)
            loss.backward()
            return loss

        losses = [float(opt.step(closure)) for _ in range(3)]
        return w, losses

    w, losses = fit(tg)
    tw, tlosses = fit(torch)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8)
    close(w, tw, rtol=1e-6, atol=1e-8)


def test_optimizer_errors():
    w, _ = params(tg)
    with pytest.raises(ValueError, match="empty parameter list"):
        tg.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        tg.optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        tg.optim.SGD([w, 3.0], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate: -1"):
        tg.optim.Adam([w], lr=-1.0)
    with pytest.raises(RuntimeError, match="closure"):
        tg.optim.LBFGS([w]).step()


def test_pytorch_implementation_flags():
    # foreach / fused pick PyTorch's loop; tapegrad takes them and steps to the same values.
    plain = run(tg, CONFIGS["adam"])
    for flags in ({"foreach": True}, {"fused": True}, {"foreach": False, "fused": False}):
        got = run(tg, lambda lib, p: lib.optim.Adam(p, lr=0.05, **flags))
        close(got[0], plain[0], rtol=0, atol=0)
        close(got[1], plain[1], rtol=0, atol=0)
    w, _ = params(tg)
    tg.optim.SGD([w], lr=0.1, foreach=True, fused=None)
    tg.optim.AdamW([w], fused=False)
    tg.optim.RMSprop([w], foreach=False)
    tg.optim.Adagrad([w], fused=True)
    with pytest.raises(NotImplementedError, match="Adam: differentiable=True"):
        tg.optim.Adam([w], differentiable=True)
    with pytest.raises(NotImplementedError, match="AdamW: capturable=True"):
        tg.optim.AdamW([w], capturable=True)
    with pytest.raises(TypeError, match="SGD: fused must be None or a bool, got str"):
        tg.optim.SGD([w], lr=0.1, fused="yes")
    with pytest.raises(TypeError):
        tg.optim.LBFGS([w], fused=True)  # PyTorch's LBFGS has no such switch either


SCHEDULERS = {
    "step": lambda lib, o: lib.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda lib, o: lib.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 6], gamma=0.3),
    "exponential": lambda lib, o: lib.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "cosine": lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    "onecycle": lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=12),
    "onecycle_linear_3phase": lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.8, epochs=3, steps_per_epoch=4, anneal_strategy="linear", three_phase=True),
}


def two_group_sgd(lib):
    w, b = params(lib)
    return lib.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.2}], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_schedulers_match_torch(name):
    torch = need_torch()
    seqs = []
    for lib in (tg, torch):
        opt = two_group_sgd(lib)
        sched = SCHEDULERS[name](lib, opt)
        seq = []
        for _ in range(11):
            opt.step()
            sched.step()
            seq.append([g["lr"] for g in opt.param_groups] + [g["momentum"] for g in opt.param_groups]
                       + list(sched.get_last_lr()))
        seqs.append(seq)
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12, atol=1e-15)


def test_step_lr_by_hand():
    opt = two_group_sgd(tg)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.05, 0.025, 0.025])
    assert sched.last_epoch == 5 and sched.base_lrs == [0.1, 0.2]


def test_reduce_lr_on_plateau_matches_torch():
    torch = need_torch()
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    seqs = []
    for lib in (tg, torch):
        opt = two_group_sgd(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1,
                                                         min_lr=[0.0, 0.06])
        seqs.append([])
        for m in metrics:
            sched.step(m)
            seqs[-1].append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12)


def test_early_stopping():
    stop = tg.optim.lr_scheduler.EarlyStopping(patience=2, min_delta=0.1)
    assert [stop.step(m) for m in [1.0, 0.95, 0.8, 0.85, 0.79]] == [False, False, False, False, True]


def test_scheduler_errors():
    opt = two_group_sgd(tg)
    with pytest.raises(ValueError, match="OneCycleLR"):
        tg.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 2.0, 3.0], total_steps=10)
    with pytest.raises(ValueError, match="StepLR"):
        tg.optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="mode"):
        tg.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="sideways")


def test_training_a_module_end_to_end():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
    x = tg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = tg.tensor([[0.0], [1.0], [1.0], [0.0]])
    loss_fn = nn.MSELoss()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    assert loss.item() < 1e-3
    np.testing.assert_allclose(model(x).detach().numpy(), y.numpy(), atol=0.05)
