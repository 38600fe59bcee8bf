"""tapegrad.autograd: grad(), backward() and gradcheck(), as torch.autograd."""
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
