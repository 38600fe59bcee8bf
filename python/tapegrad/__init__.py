"""tapegrad: a small, fast deep-learning engine in C++ with a PyTorch-compatible Python API.

    import tapegrad as tg
    x = tg.randn(4, 3, requires_grad=True)
    (x * x).sum().backward()
    x.grad  # 2 * x
"""
from . import _C
from ._C import (  # noqa: F401  (the public API re-exported)
    Tensor, device, dtype,
    tensor, scalar_tensor, from_numpy, from_dlpack,
    zeros, ones, empty, full, arange, linspace, eye, rand, randn, randint, randperm,
    zeros_like, ones_like, empty_like, full_like, rand_like, randn_like,
    manual_seed, initial_seed, get_rng_state, set_rng_state, set_num_threads, get_num_threads,
    is_grad_enabled, is_anomaly_enabled, is_anomaly_check_nan_enabled, is_tensor, numel,
    neg, negative, exp, log, sqrt, rsqrt, square, abs, sign, sin, cos, log1p, expm1, tanh, sigmoid,
    relu, softplus, clamp, clip, maximum, minimum, where, masked_fill,
    logical_not, logical_and, logical_or,
    add, sub, subtract, mul, multiply, div, divide, pow, eq, ne, lt, le, gt, ge, greater, less,
    sum, mean, var, std, amax, amin, max, min, argmax, argmin, logsumexp, any, all,
    matmul, mm, bmm, addmm, softmax, log_softmax, cat, concat, stack, split, chunk, unbind,
    index_select, gather, scatter_add,
    floor, ceil, trunc, round, reciprocal, erf, remainder, fmod, floor_divide, lerp, addcmul, addcdiv,
    tril, triu, flip, roll, dot, outer, isclose, masked_select, broadcast_to, norm,
    isnan, isinf, isfinite, nan_to_num,
    reshape, flatten, transpose, permute, squeeze, unsqueeze, t, narrow, select, clone,
)
from ._grad_mode import no_grad, enable_grad, set_grad_enabled, inference_mode  # noqa: F401
from ._serialization import save, load  # noqa: F401
from . import autograd, backends, nn, optim, utils, cuda, return_types  # noqa: F401

float32 = float = dtype.float32
float64 = double = dtype.float64
int64 = long = dtype.int64
bool = dtype.bool  # noqa: A001  (PyTorch's name)
import builtins as _builtins  # noqa: E402


class Size(tuple):
    """A tensor's shape: a tuple that prints as tapegrad.Size([2, 3])."""

    def __repr__(self):
        return "tapegrad.Size([" + ", ".join(str(d) for d in self) + "])"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


_C._set_size_type(Size)


def is_floating_point(input):
    return input.is_floating_point()


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when isclose holds everywhere (NumPy's rule; equal infinities are close)."""
    return _builtins.bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other):
    """True when both have the same shape and the same values."""
    return tuple(input.shape) == tuple(other.shape) and _builtins.bool((input == other).all().item())


def as_tensor(data, dtype=None, device=None):
    """data itself when it is already a tensor of that dtype and device, else a new tensor."""
    if isinstance(data, Tensor):
        out = data
        if device is not None:
            out = out.to(device)
        if dtype is not None:
            out = out.to(dtype)
        return out
    if type(data).__module__ == "numpy" and hasattr(data, "flags") and data.flags.writeable \
            and device in (None, "cpu"):
        try:  # shares the array's memory where the dtype and layout allow, as PyTorch does
            out = from_numpy(data)
        except (TypeError, ValueError):
            return tensor(data, dtype=dtype, device=device)
        return out if dtype is None or out.dtype == dtype else out.to(dtype)
    return tensor(data, dtype=dtype, device=device)


def nonzero(input, as_tuple=False):
    coords = Tensor._nonzero(input)
    if as_tuple:
        return tuple(coords[:, d] for d in range(input.dim()))
    return coords


def isnan(input):
    return input != input


def isinf(input):
    return input.abs() == _builtins.float("inf")


def isfinite(input):
    return (input == input) & (input.abs() != _builtins.float("inf"))


Tensor.nonzero = nonzero
Tensor.isnan = isnan
Tensor.isinf = isinf
Tensor.isfinite = isfinite
Tensor.allclose = allclose
Tensor.equal = equal
Tensor.is_floating_point = Tensor.is_floating_point
Tensor.__array_priority__ = 1000  # numpy_array * tensor defers to Tensor.__rmul__

__version__ = "0.1.0"
__all__ = [n for n in dir() if not n.startswith("_")]
