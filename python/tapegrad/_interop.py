"""Copies from NumPy-like data, for tapegrad.tensor(array)."""
import numpy as np

from . import _C

_SUPPORTED = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)}


def as_tensor_copy(data):
    """A tensor holding a copy of data (a NumPy array, or anything with __array_interface__ or
    __dlpack__): other integer kinds become int64, other floating kinds float32 (float16) or
    float64, as the nearest dtype tapegrad has."""
    if hasattr(data, "__dlpack__") and not hasattr(data, "__array_interface__"):
        data = np.from_dlpack(data)
    a = np.asarray(data)
    if a.dtype not in _SUPPORTED:
        if a.dtype.kind in "iu":
            a = a.astype(np.int64)
        elif a.dtype.kind == "f":
            a = a.astype(np.float32 if a.dtype.itemsize < 4 else np.float64)
        else:
            raise TypeError(f"tensor: numpy dtype {a.dtype} is not supported "
                            "(float32, float64, int64 and bool are)")
    return _C.from_numpy(np.array(a, copy=True, order="C"))
