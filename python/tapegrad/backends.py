"""tapegrad.backends: torch.backends.cuda.matmul.allow_tf32 (TF32 tensor cores for float32 matmul)."""
from . import _C


class _Matmul:
    @property
    def allow_tf32(self):
        return _C.cuda_allow_tf32()

    @allow_tf32.setter
    def allow_tf32(self, allow):
        _C.cuda_set_allow_tf32(bool(allow))


class _Cuda:
    matmul = _Matmul()


cuda = _Cuda()
