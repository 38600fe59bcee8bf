"""tapegrad.optim: PyTorch's optimizers, run by the engine's C++ implementations.

    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    opt = tg.optim.SGD([{"params": body.parameters()}, {"params": head.parameters(), "lr": 0.1}],
                       lr=0.01, momentum=0.9)

param_groups are live views of the engine's groups: writing opt.param_groups[0]["lr"] changes the
learning rate the next step() uses, as in PyTorch."""
import collections.abc

from .. import _C
from .._C import Tensor
from . import lr_scheduler  # noqa: F401

_BOOL_OPTIONS = {"nesterov", "amsgrad", "maximize", "centered"}
_INT_OPTIONS = {"max_iter", "max_eval", "history_size"}


def _native_options(options):
    out = {}
    for k, v in options.items():
        if k == "params":
            continue
        if k == "betas":
            b1, b2 = v
            out["beta1"], out["beta2"] = float(b1), float(b2)
        elif isinstance(v, Tensor):
            out[k] = float(v.item())
        elif v is None or isinstance(v, str):
            continue
        else:
            out[k] = float(v)
    return out


def _python_value(key, v):
    if key in _BOOL_OPTIONS:
        return bool(v)
    if key in _INT_OPTIONS:
        return int(v)
    return v


def _param_list(params, where):
    if isinstance(params, Tensor):
        raise TypeError(f"{where}: params argument given to the optimizer should be an iterable of "
                        "Tensors or dicts, but got a Tensor")
    out = list(params)
    for p in out:
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: can only optimize Tensors, but one of the params is "
                            f"{type(p).__name__}")
    return out


def _groups(params, where):
    params = list(params) if not isinstance(params, Tensor) else params
    if isinstance(params, Tensor):
        _param_list(params, where)
    if not params:
        raise ValueError(f"{where}: optimizer got an empty parameter list")
    if isinstance(params[0], dict):
        return [(_param_list(g["params"] if not isinstance(g["params"], Tensor) else [g["params"]], where),
                 _native_options(g)) for g in params]
    return [(_param_list(params, where), {})]


def _from_native_state_dict(sd):
    """The engine's state dict in PyTorch's layout (betas as a pair, flags as bools)."""
    for g in sd["param_groups"]:
        if "beta1" in g:
            g["betas"] = (g.pop("beta1"), g.pop("beta2"))
        for k in list(g):
            g[k] = _python_value(k, g[k])
    return sd


def _to_native_state_dict(state_dict):
    """PyTorch's layout to the engine's; PyTorch keeps "step" as a one-element tensor."""
    if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
        raise ValueError("load_state_dict: an optimizer state dict is a dict with 'state' and "
                         "'param_groups'")
    state = {}
    for index, s in state_dict["state"].items():
        state[index] = {k: (float(v.item()) if k == "step" and isinstance(v, Tensor) else v)
                        for k, v in s.items()}
    groups = []
    for g in state_dict["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["beta1"], g["beta2"] = (float(b) for b in g.pop("betas"))
        groups.append({k: (float(v) if isinstance(v, (bool, int)) and k != "params" else v)
                       for k, v in g.items()})
    return {"state": state, "param_groups": groups}


class _ParamGroup(collections.abc.MutableMapping):
    """One parameter group, read from and written to the engine's optimizer."""

    def __init__(self, native, index):
        self._native, self._index = native, index

    def _options(self):
        return self._native.group_options(self._index)

    def __getitem__(self, key):
        if key == "params":
            return self._native.group_params(self._index)
        opts = self._options()
        if key == "betas" and "beta1" in opts:
            return (opts["beta1"], opts["beta2"])
        if key not in opts:
            raise KeyError(key)
        return _python_value(key, opts[key])

    def __setitem__(self, key, value):
        if key == "params":
            raise TypeError("param_groups: a group's params cannot be replaced; use "
                            "add_param_group() for new ones")
        for k, v in _native_options({key: value}).items():
            self._native.set_group_option(self._index, k, v)

    def __delitem__(self, key):
        raise TypeError("param_groups: options cannot be removed from a group")

    def _keys(self):
        keys = ["params"]
        for k in self._options():
            if k == "beta1":
                keys.append("betas")
            elif k != "beta2":
                keys.append(k)
        return keys

    def __iter__(self):
        return iter(self._keys())

    def __len__(self):
        return len(self._keys())

    def __repr__(self):
        return repr({k: (f"<{len(v)} tensors>" if k == "params" else v) for k, v in self.items()})


class _State(collections.abc.Mapping):
    """optimizer.state[p]: the engine's per-parameter state (a copy of its entries)."""

    def __init__(self, opt):
        self._opt = opt

    def _params(self):
        return [p for g in self._opt.param_groups for p in g["params"]]

    def __getitem__(self, p):
        return self._opt._native.param_state(p)

    def __iter__(self):
        return iter([p for p in self._params() if self._opt._native.param_state(p)])

    def __len__(self):
        return sum(1 for _ in self)


class Optimizer:
    """What every optimizer has: param_groups, state, step(closure), zero_grad(), add_param_group,
    state_dict() and load_state_dict() (PyTorch's layout)."""

    def __init__(self, native, defaults):
        self._native = native
        self.defaults = defaults

    @property
    def param_groups(self):
        return [_ParamGroup(self._native, i) for i in range(self._native.num_groups())]

    @property
    def state(self):
        return _State(self)

    def step(self, closure=None):
        loss = self._native.step(closure)
        return loss

    def zero_grad(self, set_to_none=True):
        self._native.zero_grad(set_to_none)

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError("add_param_group: expects a dict with a 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else _param_list(params, "add_param_group")
        self._native.add_param_group(params, _native_options(param_group))

    def state_dict(self):
        return _from_native_state_dict(self._native.state_dict())

    def load_state_dict(self, state_dict):
        self._native.load_state_dict(_to_native_state_dict(state_dict))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


def _check_implementation_flags(where, foreach=None, fused=None, differentiable=False,
                                capturable=False):
    """PyTorch's implementation switches. foreach and fused only pick how PyTorch loops over the
    parameters, not the values: tapegrad picks its own loop (one fused pass for SGD, Adam and
    AdamW), so any setting is accepted. differentiable and capturable change what a step is."""
    for name, v in (("foreach", foreach), ("fused", fused)):
        if v is not None and not isinstance(v, bool):
            raise TypeError(f"{where}: {name} must be None or a bool, got {type(v).__name__}")
    if differentiable:
        raise NotImplementedError(f"{where}: differentiable=True is not supported: tapegrad's "
                                  "optimizer steps are not recorded on the autograd tape")
    if capturable:
        raise NotImplementedError(f"{where}: capturable=True is not supported: tapegrad has no "
                                  "CUDA graph capture of optimizer steps")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        _check_implementation_flags("SGD", foreach, fused, differentiable)
        d = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                 nesterov=nesterov, maximize=maximize)
        super().__init__(_C._optim.SGD(_groups(params, "SGD"), _native_options(d)), d)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None):
        _check_implementation_flags("Adam", foreach, fused, differentiable, capturable)
        d = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize)
        super().__init__(_C._optim.Adam(_groups(params, "Adam"), _native_options(d)), d)


class AdamW(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        _check_implementation_flags("AdamW", foreach, fused, differentiable, capturable)
        d = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize)
        super().__init__(_C._optim.AdamW(_groups(params, "AdamW"), _native_options(d)), d)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_implementation_flags("RMSprop", foreach, None, differentiable, capturable)
        d = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 centered=centered, maximize=maximize)
        super().__init__(_C._optim.RMSprop(_groups(params, "RMSprop"), _native_options(d)), d)


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, foreach=None, maximize=False, differentiable=False, fused=None):
        _check_implementation_flags("Adagrad", foreach, fused, differentiable)
        d = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                 initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(_C._optim.Adagrad(_groups(params, "Adagrad"), _native_options(d)), d)


class LBFGS(Optimizer):
    """L-BFGS; step(closure) is required (the closure re-evaluates the loss and calls backward)."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        d = dict(lr=lr, max_iter=max_iter, max_eval=0 if max_eval is None else max_eval,
                 tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                 history_size=history_size)
        groups = _groups(params, "LBFGS")
        if len(groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().__init__(_C._optim.LBFGS(groups[0][0], _native_options(d), line_search_fn or ""),
                         dict(d, line_search_fn=line_search_fn))

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS: step() needs a closure that re-evaluates the model and "
                               "returns the loss")
        return self._native.step(closure)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "lr_scheduler"]
