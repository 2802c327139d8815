"""state_dict loading and module dtype/device conversion (PyTorch's semantics and wording)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from graphnn._tensor import Tensor
from graphnn.autograd import no_grad
from graphnn.ir.types import by_name
from graphnn.nn.parameter import is_lazy
from graphnn.runtime import get_runtime

class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """``load_state_dict``'s result (PyTorch's ``_IncompatibleKeys``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _shape_text(shape) -> str:
    return f"graphnn.Size({list(shape)})"


def _as_array(v) -> np.ndarray:
    if isinstance(v, Tensor):
        return v.detach()._host()
    if hasattr(v, "detach") and hasattr(v, "cpu"):     # a torch tensor
        v = v.detach().cpu()
        if str(v.dtype) == "torch.bfloat16":           # numpy has none: exact in float32
            v = v.float()
    return np.asarray(v)


def load_state_dict(module, state_dict, strict: bool = True, assign: bool = False):
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    missing, unexpected, errors = [], [], []
    expected = set()
    with no_grad():
        for prefix, m in module.named_modules():
            prefix = prefix + "." if prefix else ""
            local = [(k, v) for k, v in m._parameters.items() if v is not None]
            local += [(k, v) for k, v in m._buffers.items()
                      if v is not None and k not in m._non_persistent_buffers_set]
            for name, target in local:
                key = prefix + name
                expected.add(key)
                if key not in state_dict:
                    missing.append(key)
                    continue
                arr = _as_array(state_dict[key])
                if is_lazy(target):
                    target.materialize(arr.shape)
                if tuple(arr.shape) != tuple(target.shape):
                    errors.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{_shape_text(arr.shape)} from checkpoint, the shape in "
                                  f"current model is {_shape_text(target.shape)}.")
                    continue
                target._write_host(arr)     # PyTorch: param.copy_(input_param)
    for key in state_dict.keys():
        if key not in expected:
            unexpected.append(key)
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected)))
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing)))
    if errors:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            type(module).__name__, "\n\t".join(errors)))
    return IncompatibleKeys(missing, unexpected)


def check_dtype_supported(dtype) -> None:
    """Raises ``DeviceFeatureError`` (a RuntimeError) naming the device when it cannot store
    and compute ``dtype``: float64 needs cl_khr_fp64. (float16 and bfloat16 are 16-bit
    storage computed in float32, which every device has.)"""
    from graphnn.codegen import DeviceFeatureError

    name = dtype if isinstance(dtype, str) else dtype.name
    info = get_runtime().info
    if name == "float64" and not info.fp64:
        raise DeviceFeatureError(f"float64 needs cl_khr_fp64 (double precision), which "
                                 f"device {info.short} lacks")


def cast_module(module, dtype, all_dtypes: bool = False):
    check_dtype_supported(dtype)
    if isinstance(dtype, str):
        dtype = by_name(dtype)
    return module._apply_to_tensors(
        lambda t: _converted(t, dtype) if (t.dtype.is_float or all_dtypes) else t)


def _converted(t: Tensor, dtype) -> Tensor:
    """``t.to(dtype)`` computed on the host: a module's conversion is a one-off, and a cast
    kernel would be built for each distinct parameter shape (eager ops keep literal sizes;
    about a second of PoCL build each). numpy rounds to nearest even, as the kernels do."""
    if t.dtype == dtype:
        return t
    from graphnn._creation import tensor
    with np.errstate(over="ignore", invalid="ignore"):
        return tensor(t.detach()._host(), dtype=dtype)


def module_to(module, *args, **kwargs):
    from graphnn._device import device as Device
    from graphnn.ir.types import DType

    dtype = kwargs.get("dtype")
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, DType):
            dtype = a
        elif isinstance(a, (str, Device)):
            dev = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
    if dev is not None:
        from graphnn._device import check_device
        check_device(dev)
    if dtype is not None:
        if not dtype.is_float:
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dtype}")
        cast_module(module, dtype)
    return module
