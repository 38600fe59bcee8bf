"""Shared helpers: PyTorch (when importable) is the reference for the tests that name it."""
import numpy as np
import pytest

try:
    import torch  # noqa: F401
except ImportError:  # the tests that need it skip with a one-line reason
    torch = None

import tapegrad as tg


def need_torch():
    if torch is None:
        pytest.skip("PyTorch is not importable here (apt install python3-torch)")
    return torch


def to_np(t):
    return t.detach().numpy()


def close(a, b, rtol=1e-5, atol=1e-6):
    a = to_np(a) if isinstance(a, tg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
