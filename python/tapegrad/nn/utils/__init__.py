"""tapegrad.nn.utils: gradient clipping, as torch.nn.utils."""
from ... import _C
from ..._C import Tensor


def _params(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales the gradients so that their total norm is at most max_norm; returns the total
    norm before clipping (a 0-dim tensor)."""
    norm = _C._optim.clip_grad_norm_(_params(parameters), float(max_norm), float(norm_type),
                                     error_if_nonfinite)
    return _C.tensor(norm)


def clip_grad_value_(parameters, clip_value):
    """Clamps every gradient to [-clip_value, clip_value]."""
    _C._optim.clip_grad_value_(_params(parameters), float(clip_value))
