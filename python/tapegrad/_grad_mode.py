"""Grad mode as PyTorch's: no_grad() / enable_grad() / set_grad_enabled(mode) as context managers
and decorators; the mode itself is thread-local in the engine."""
import functools

from . import _C


class _GradMode:
    _mode = None

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._mode)
        return None

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record nothing on the tape (for evaluation and parameter updates)."""
    _mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a no_grad block."""
    _mode = True


class inference_mode(no_grad):
    """No recording, as no_grad (tapegrad has no separate inference tensors)."""

    def __init__(self, mode=True):
        self._mode = not mode


class set_grad_enabled(_GradMode):
    """Sets grad mode now (as a function) or for a block (as a context manager)."""

    def __init__(self, mode):
        self._prev = _C.is_grad_enabled()
        self._mode = bool(mode)
        _C._set_grad_enabled(self._mode)

    def __enter__(self):
        return None

    def __call__(self, fn):
        mode = self._mode
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _C.is_grad_enabled()
            _C._set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _C._set_grad_enabled(prev)
        return wrapper
