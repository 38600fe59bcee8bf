"""tapegrad.cuda: device discovery, synchronization and memory statistics, as torch.cuda.

Besides PyTorch's names: set_matmul_impl / set_softmax_impl choose between tapegrad's own
kernels ("ours"), the vendor library ("cublas" / "cudnn") and "auto" (the faster on this device).
"""
from . import _C


def is_available():
    return _C.cuda_is_available()


def device_count():
    return _C.cuda_device_count()


def unavailable_reason():
    """Why is_available() is False ("" when it is True)."""
    return _C.cuda_unavailable_reason()


def _index(device):
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    d = _C.device(device) if isinstance(device, str) else device
    if d.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {d}")
    return d.index or 0


def current_device():
    return 0


def synchronize(device=None):
    """Waits for the device's queued work; raises any error the GPU found meanwhile."""
    _C.cuda_synchronize(_index(device))


def _cuda(device):
    return f"cuda:{_index(device)}"


def memory_stats(device=None):
    return _C.memory_stats(_cuda(device))


def memory_allocated(device=None):
    return memory_stats(device)["allocated_bytes"] if is_available() else 0


def memory_reserved(device=None):
    return memory_stats(device)["reserved_bytes"] if is_available() else 0


def max_memory_allocated(device=None):
    return memory_stats(device)["peak_allocated_bytes"] if is_available() else 0


def reset_peak_memory_stats(device=None):
    if is_available():
        _C.reset_peak_memory_stats(_cuda(device))


def empty_cache():
    if is_available():
        for i in range(device_count()):
            _C.empty_cache(_cuda(i))


def set_matmul_impl(name):
    """"ours", "cublas" or "auto" (also environment TG_CUDA_MATMUL)."""
    _C.cuda_set_matmul_impl(name)


def matmul_impl():
    return _C.cuda_matmul_impl()


def set_softmax_impl(name):
    """"ours", "cudnn" or "auto" (also environment TG_CUDA_SOFTMAX)."""
    _C.cuda_set_softmax_impl(name)


def softmax_impl():
    return _C.cuda_softmax_impl()
