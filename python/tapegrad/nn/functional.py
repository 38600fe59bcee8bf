"""tapegrad.nn.functional: the stateless forms of the layers and losses (torch.nn.functional)."""
from .. import _C
from .._C._F import (  # noqa: F401
    linear, relu, leaky_relu, gelu, sigmoid, tanh, softplus, dropout, layer_norm, batch_norm,
    embedding, mse_loss, l1_loss, smooth_l1_loss, nll_loss, cross_entropy, binary_cross_entropy,
    binary_cross_entropy_with_logits, conv1d, conv2d, conv_transpose2d, avg_pool2d,
    adaptive_avg_pool2d, scaled_dot_product_attention, masked_softmax,
)
from .._C._F import max_pool2d as _max_pool2d
from .._C._F import softmax as _softmax, log_softmax as _log_softmax


def _legacy_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _softmax(input, _legacy_dim(input.dim()) if dim is None else dim)


def log_softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _log_softmax(input, _legacy_dim(input.dim()) if dim is None else dim)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def one_hot(tensor, num_classes=-1):
    """[*, num_classes] int64 with a 1 at each index (num_classes=-1: max + 1)."""
    if tensor.dtype != _C.dtype.int64:
        raise TypeError(f"one_hot: expects an int64 tensor, got {tensor.dtype}")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    classes = _C.arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def silu(input):
    return input * input.sigmoid()


def mish(input):
    return input * softplus(input).tanh()


def normalize(input, p=2.0, dim=1, eps=1e-12):
    norm = (input.abs() ** p).sum(dim, keepdim=True) ** (1.0 / p)
    return input / norm.clamp(min=eps)
