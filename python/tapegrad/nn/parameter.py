"""nn.Parameter: a tensor that a Module registers as a parameter (requires grad by default)."""
from .._C import Tensor


class Parameter(Tensor):
    def __init__(self, data=None, requires_grad=True):
        if data is None:
            from .. import _C
            data = _C.zeros(0)
        super().__init__(data, requires_grad)

    @classmethod
    def _share(cls, tensor):
        """A Parameter that is the same engine tensor (same values, grad and identity in C++)."""
        p = cls.__new__(cls)
        Tensor.__init__(p, tensor, tensor.requires_grad, True)
        return p

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
