"""tapegrad.autograd: grad(), backward(), gradcheck() and anomaly mode, as torch.autograd."""
import functools

from . import _C
from ._C import Tensor


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of outputs with respect to inputs, returned (not accumulated into .grad)."""
    outs, ins = _as_list(outputs), _as_list(inputs)
    gos = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if len(gos) != len(outs):
        raise ValueError(f"grad: got {len(gos)} grad_outputs for {len(outs)} outputs")
    retain = create_graph if retain_graph is None else retain_graph
    return tuple(_C._autograd_grad(outs, ins, gos, retain, create_graph, allow_unused))


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulates the gradients of tensors into the .grad of the leaves they depend on."""
    roots = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(roots)
    if len(grads) != len(roots):
        raise ValueError(f"backward: got {len(grads)} grad_tensors for {len(roots)} tensors")
    retain = create_graph if retain_graph is None else retain_graph
    _C._run_backward(roots, grads, retain, create_graph)


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Analytic gradients of func at inputs (float64 tensors) against central differences."""
    ins = _as_list(inputs)
    try:
        return _C._gradcheck(func, ins, eps, atol, rtol)
    except RuntimeError:
        if raise_exception:
            raise
        return False


def _anomaly_state():
    return _C.is_anomaly_enabled(), _C.is_anomaly_check_nan_enabled()


def _restore_anomaly(state):
    enabled, check_nan = state
    _C._set_detect_anomaly(enabled, check_nan or not enabled)


class detect_anomaly:
    """Context manager and decorator: inside it, an op recorded on the tape whose forward, or a
    backward formula that, produces NaN (or Inf from finite values) raises a RuntimeError naming
    it, and errors from a backward formula show where that op's forward ran. Slow: every op's
    outputs are checked. Thread-local, as grad mode."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = _anomaly_state()
        _C._set_detect_anomaly(True, self.check_nan)
        return None

    def __exit__(self, *exc):
        _restore_anomaly(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """Turns anomaly mode on or off now (as a function) or for a block (as a context manager)."""

    def __init__(self, mode, check_nan=True):
        self._prev = _anomaly_state()
        _C._set_detect_anomaly(bool(mode), bool(check_nan))

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _restore_anomaly(self._prev)
        return False
