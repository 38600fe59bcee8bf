"""tapegrad.nn's modules, as torch.nn's.

Module is plain Python, so models are written as in PyTorch: attributes that are Parameters,
Modules or registered buffers are found by parameters(), state_dict(), to() and the rest. The
built-in layers wrap the engine's C++ layers (tapegrad._C._nn): the C++ layer draws the initial
values (PyTorch's init) and runs the forward pass; the Python module holds the same tensors, so
both always agree.
"""
import collections

from .. import _C
from .._C import Tensor
from . import functional as F
from .parameter import Parameter

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class of every layer and model: subclass it, assign layers and Parameters as
    attributes in __init__, and write forward()."""

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_buffers", collections.OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", collections.OrderedDict())

    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")

    # ---- attributes
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            if name not in params:
                self._forget(name)
            self._set_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(tapegrad.nn.Parameter or None expected)")
            self._set_parameter(name, None)
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._forget(name)
            self._modules[name] = value
        elif self.__dict__.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(tapegrad.nn.Module or None expected)")
            self._modules[name] = None
        elif self.__dict__.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(tapegrad.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _set_parameter(self, name, value):
        self._parameters[name] = value

    def _forget(self, name):
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            d.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name, param):
        self._check_init("parameters")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_parameter: invalid name {name!r} (non-empty, no '.')")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"register_parameter: attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: cannot assign '{type(param).__name__}' as "
                            f"parameter '{name}' (tapegrad.nn.Parameter or None expected)")
        self._set_parameter(name, param)

    def register_buffer(self, name, tensor, persistent=True):
        self._check_init("buffers")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: invalid name {name!r} (non-empty, no '.')")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"register_buffer: attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: cannot assign '{type(tensor).__name__}' as buffer "
                            f"'{name}' (tapegrad.Tensor or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        self._check_init("child modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"add_module: invalid name {name!r} (non-empty, no '.')")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}'")
            mod = mod._modules[part]
        return mod

    # ---- running
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate and id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                           remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("train: training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach().zero_()

    # ---- devices and dtypes: every tensor keeps its identity (optimizers still hold it)
    def _apply_to_tensors(self, convert):
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    new = convert(t)
                    if new is not t:
                        t.data = new.detach()
                        if t.grad is not None:
                            t.grad = convert(t.grad)
        return self

    def to(self, *args, **kwargs):
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, _C.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            else:
                device = a
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got {dtype}")

        def convert(t):
            out = t.detach()
            if device is not None:
                out = out.to(device)
            if dtype is not None and t.is_floating_point():
                out = out.to(dtype)
            return t if (out.dtype == t.dtype and out.device == t.device) else out
        return self._apply_to_tensors(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def float(self):
        return self.to(_C.dtype.float32)

    def double(self):
        return self.to(_C.dtype.float64)

    # ---- state dicts
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        out = collections.OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=out, prefix=prefix + name + ".", keep_vars=keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copies the values of state_dict into this module's tensors; shapes must match, and with
        strict every key must match both ways. The error lists every problem found."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, t in own.items():
            if k not in state_dict:
                continue
            src = state_dict[k]
            if not isinstance(src, Tensor):
                errors.append(f'While copying the parameter named "{k}", expected a Tensor, '
                              f"got {type(src).__name__}.")
            elif tuple(src.shape) != tuple(t.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape "
                              f"{list(src.shape)} from checkpoint, the shape in current model is "
                              f"{list(t.shape)}.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with _C_no_grad():
            for k, t in own.items():
                if k in state_dict:
                    t.copy_(state_dict[k])
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(m), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class _C_no_grad:
    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)


# ---------------------------------------------------------------- containers

class Sequential(Module):
    """Runs its modules in order; Sequential(a, b) or Sequential(OrderedDict(name=module))."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(collections.OrderedDict(list(self._modules.items())[idx]))
        return mods[_index(idx, len(mods), "Sequential")]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


def _index(idx, n, what):
    if not -n <= idx < n:
        raise IndexError(f"{what}: index {idx} is out of range for {n} modules")
    return idx % n


class ModuleList(Module):
    """Holds modules under the names 0, 1, ...; has no forward of its own."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class ParameterList(Module):
    def __init__(self, values=None):
        super().__init__()
        for v in values or []:
            self.append(v)

    def append(self, value):
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(len(self._parameters)), value)
        return self

    def __getitem__(self, idx):
        ps = list(self._parameters.values())
        return ps[_index(idx, len(ps), "ParameterList")]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())


# ---------------------------------------------------------------- the engine's layers

class _Native(Module):
    """A module whose values and forward pass are a C++ layer's (tapegrad._C._nn). Its
    parameters, buffers and children are the C++ layer's own tensors and submodules."""

    _native_class = None
    # Layers whose forward is written here with the module's own attributes, so a Parameter
    # may be swapped in (weight tying); the others run the C++ forward, which reads its own.
    _python_forward = False

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._adopt(self._native_class(*args, **kwargs))

    def _adopt(self, native):
        object.__setattr__(self, "_native", native)
        for name, t in native.named_parameters():
            self._parameters[name] = Parameter._share(t) if t is not None else None
        for name, t in native.named_buffers():
            self._buffers[name] = t
        for name, child in native.named_children():
            self._modules[name] = _wrap_native(child)
        return self

    def _set_parameter(self, name, value):
        if "_native" in self.__dict__ and name in self._parameters and not self._python_forward:
            old = self._parameters[name]
            if value is not old:
                raise TypeError(
                    f"{type(self).__name__}: replacing parameter '{name}' is not supported (its "
                    "forward pass runs in C++ on the original tensor); change its values in "
                    f"place instead, e.g. `with tapegrad.no_grad(): m.{name}.copy_(new)`")
        self._parameters[name] = value

    def train(self, mode=True):
        super().train(mode)
        self._native.train(mode)
        return self

    def forward(self, input):
        return self._native.forward(input)

    def extra_repr(self):
        return self._native.extra_repr()

    def _get_name(self):
        return self._native.type_name


def _wrap_native(native):
    cls = _NATIVE_CLASSES.get(type(native).__name__, _Native)
    obj = cls.__new__(cls)
    Module.__init__(obj)
    # A child of a C++ layer is run by that layer's C++ forward, which reads its own tensors.
    object.__setattr__(obj, "_python_forward", False)
    return obj._adopt(native)


class Linear(_Native):
    """y = x W^T + b, with weight [out_features, in_features] and PyTorch's init."""
    _native_class = _C._nn.Linear
    _python_forward = True

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, dtype=dtype, device=device)

    def _adopt(self, native):
        super()._adopt(native)
        if "bias" not in self._parameters:
            self._parameters["bias"] = None
        self.out_features, self.in_features = self.weight.shape
        return self

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, "
                f"bias={self.bias is not None}")


class Embedding(_Native):
    _native_class = _C._nn.Embedding
    _python_forward = True

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__(num_embeddings, embedding_dim, padding_idx, dtype=dtype, device=device)

    def _adopt(self, native):
        super()._adopt(native)
        self.padding_idx = native.padding_idx
        self.num_embeddings, self.embedding_dim = self.weight.shape
        return self

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        rows, cols = embeddings.shape
        m = cls(rows, cols, padding_idx=padding_idx, dtype=embeddings.dtype)
        with _C_no_grad():
            m.weight.copy_(embeddings)
        m.weight.requires_grad_(not freeze)
        return m


def _native_layer(name, cpp, doc, python_forward=False):
    def __init__(self, *args, **kwargs):
        _Native.__init__(self, *args, **kwargs)
    return type(name, (_Native,), {"__init__": __init__, "_native_class": cpp, "__doc__": doc,
                                   "_python_forward": python_forward})


_N = _C._nn
Identity = _native_layer("Identity", _N.Identity, "Returns its input.")
Flatten = _native_layer("Flatten", _N.Flatten, "Flattens dims start_dim..end_dim into one.")
ReLU = _native_layer("ReLU", _N.ReLU, "max(x, 0).")
LeakyReLU = _native_layer("LeakyReLU", _N.LeakyReLU, "x, or negative_slope * x below 0.")
Sigmoid = _native_layer("Sigmoid", _N.Sigmoid, "1 / (1 + exp(-x)).")
Tanh = _native_layer("Tanh", _N.Tanh, "tanh(x).")
GELU = _native_layer("GELU", _N.GELU, "x * Phi(x); approximate='tanh' for the tanh form.")
Softmax = _native_layer("Softmax", _N.Softmax, "softmax over dim.")
LogSoftmax = _native_layer("LogSoftmax", _N.LogSoftmax, "log_softmax over dim.")
Dropout = _native_layer("Dropout", _N.Dropout, "Inverted dropout in training; identity in eval.")
LayerNorm = _native_layer("LayerNorm", _N.LayerNorm, "Normalizes over the trailing dims.")
BatchNorm1d = _native_layer("BatchNorm1d", _N.BatchNorm1d, "Batch normalization of [N, C(, L)].")
BatchNorm2d = _native_layer("BatchNorm2d", _N.BatchNorm2d, "Batch normalization of [N, C, H, W].")
Conv1d = _native_layer("Conv1d", _N.Conv1d, "1-D convolution over [N, C, L].")
Conv2d = _native_layer("Conv2d", _N.Conv2d, "2-D convolution over [N, C, H, W].")
AvgPool2d = _native_layer("AvgPool2d", _N.AvgPool2d, "2-D average pooling.")
AdaptiveAvgPool2d = _native_layer("AdaptiveAvgPool2d", _N.AdaptiveAvgPool2d,
                                  "Average pooling to a fixed output size.")
RNNCell = _native_layer("RNNCell", _N.RNNCell, "One step of an Elman RNN.")
LSTMCell = _native_layer("LSTMCell", _N.LSTMCell, "One LSTM step: returns (h', c').")
GRUCell = _native_layer("GRUCell", _N.GRUCell, "One GRU step.")


def _forward_all(self, *args, **kwargs):
    return self._native.forward(*args, **kwargs)


class MaxPool2d(_Native):
    """2-D max pooling; with return_indices, forward gives (output, indices)."""
    _native_class = _N.MaxPool2d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self.return_indices = return_indices

    def forward(self, input):
        if getattr(self, "return_indices", False):
            return self._native.forward_with_indices(input)
        return self._native.forward(input)


class ConvTranspose2d(_Native):
    """The adjoint of Conv2d; forward(input, output_size=None) as PyTorch's."""
    _native_class = _N.ConvTranspose2d

    def forward(self, input, output_size=None):
        if output_size is None:
            return self._native.forward(input)
        return self._native.forward_output_size(input, list(output_size))


RNNCell.forward = LSTMCell.forward = GRUCell.forward = _forward_all


class _Recurrent(_Native):
    forward = _forward_all

    @property
    def all_weights(self):
        """Per layer and direction: [weight_ih, weight_hh, bias_ih, bias_hh] (as PyTorch)."""
        groups = []
        for name in self._parameters:
            if name.startswith("weight_ih"):
                suffix = name[len("weight_ih"):]
                names = [f"weight_ih{suffix}", f"weight_hh{suffix}", f"bias_ih{suffix}",
                         f"bias_hh{suffix}"]
                groups.append([self._parameters[n] for n in names if n in self._parameters])
        return groups


class RNN(_Recurrent):
    """A multi-layer Elman RNN; forward(input, hx=None) -> (output, h_n)."""
    _native_class = _N.RNN


class LSTM(_Recurrent):
    """A multi-layer LSTM; forward(input, hx=None) -> (output, (h_n, c_n))."""
    _native_class = _N.LSTM


class GRU(_Recurrent):
    """A multi-layer GRU; forward(input, hx=None) -> (output, h_n)."""
    _native_class = _N.GRU


class MultiheadAttention(_Native):
    """forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None)."""
    _native_class = _N.MultiheadAttention
    forward = _forward_all


class TransformerEncoderLayer(_Native):
    _native_class = _N.TransformerEncoderLayer
    forward = _forward_all


class TransformerDecoderLayer(_Native):
    _native_class = _N.TransformerDecoderLayer
    forward = _forward_all


def _native_of(m, what):
    if m is None:
        return None
    if not isinstance(m, _Native):
        raise TypeError(f"{what} must be a tapegrad.nn layer of the right kind, got {type(m).__name__}")
    return m._native


class TransformerEncoder(_Native):
    """num_layers deep copies of encoder_layer, then norm (if given)."""
    forward = _forward_all

    def __init__(self, encoder_layer, num_layers, norm=None):
        Module.__init__(self)
        self._adopt(_N.TransformerEncoder(_native_of(encoder_layer, "encoder_layer"), num_layers,
                                          _native_of(norm, "norm")))


class TransformerDecoder(_Native):
    forward = _forward_all

    def __init__(self, decoder_layer, num_layers, norm=None):
        Module.__init__(self)
        self._adopt(_N.TransformerDecoder(_native_of(decoder_layer, "decoder_layer"), num_layers,
                                          _native_of(norm, "norm")))


class Transformer(_Native):
    forward = _forward_all

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 device=None, dtype=None):
        Module.__init__(self)
        self._adopt(_N.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                   dim_feedforward, dropout, activation,
                                   _native_of(custom_encoder, "custom_encoder"),
                                   _native_of(custom_decoder, "custom_decoder"), layer_norm_eps,
                                   batch_first, norm_first, dtype=dtype, device=device))

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        return _N.generate_square_subsequent_mask(sz, dtype=dtype, device=device)


# ---------------------------------------------------------------- losses

class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', "
                             f"got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return ""


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


_NATIVE_CLASSES = {
    name: obj for name, obj in list(globals().items())
    if isinstance(obj, type) and issubclass(obj, _Native) and obj is not _Native
    and not name.startswith("_")
}


__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "Parameter",
           "MSELoss", "L1Loss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
           "BCEWithLogitsLoss"] + sorted(_NATIVE_CLASSES)
