"""tapegrad.save / tapegrad.load in the safetensors format (readable by other frameworks).

save(model.state_dict(), "model.safetensors") writes named tensors; save(opt.state_dict(), path)
writes an optimizer's state; load(path) gives back whichever was saved."""
import collections
import os

from . import _C
from ._C import Tensor


def _path(f):
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"save/load: expected a file path, got {type(f).__name__} "
                        "(tapegrad writes safetensors files by name)")
    return os.fspath(f)


def save(obj, f, metadata=None):
    """Writes obj, a dict of name -> Tensor (a state_dict) or an optimizer's state_dict(), to the
    file f atomically (a crash mid-write leaves the previous file)."""
    path = _path(f)
    if isinstance(obj, dict) and "state" in obj and "param_groups" in obj:
        from .optim import _to_native_state_dict
        _C._optim.save_state_dict(_to_native_state_dict(obj), path)
        return
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict of tensors (a state_dict), got {type(obj).__name__}")
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            raise TypeError(f"save: every entry must be str -> Tensor, got {type(k).__name__} -> "
                            f"{type(v).__name__} for key {k!r}")
    meta = {"format": "pt"}
    meta.update(metadata or {})
    _C._save_safetensors(path, [(k, v.detach()) for k, v in obj.items()], meta)


def load(f, map_location=None, weights_only=True):
    """Reads a file written by save(): an OrderedDict of tensors, or an optimizer state dict."""
    path = _path(f)
    tensors, metadata = _C._load_safetensors(path)
    if "tapegrad.param_groups" in metadata:
        from .optim import _from_native_state_dict
        out = _from_native_state_dict(_C._optim.load_state_dict(path))
        if map_location is not None:
            for s in out["state"].values():
                for k, v in s.items():
                    if isinstance(v, Tensor):
                        s[k] = v.to(map_location)
        return out
    out = collections.OrderedDict()
    for name, t in tensors:
        out[name] = t if map_location is None else t.to(map_location)
    return out
