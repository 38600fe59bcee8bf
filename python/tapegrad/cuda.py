"""tapegrad.cuda: the CUDA backend is not built yet, so no device is ever available."""
from . import _C


def is_available():
    return _C.cuda_is_available()


def device_count():
    return 0


def synchronize(device=None):
    """Nothing to wait for without a CUDA backend."""


def memory_allocated(device=None):
    return _C.memory_stats("cuda")["allocated_bytes"] if is_available() else 0


def empty_cache():
    _C.empty_cache()
