"""``graphnn.save``/``graphnn.load``.

``save`` writes state_dicts as safetensors (no pickle), readable by
``safetensors.torch.load_file``; the key order is kept in the metadata entry
``graphnn.order``. float16 tensors are stored as ``F16`` and bfloat16 tensors as ``BF16``, as
PyTorch's safetensors files hold them. ``load`` reads safetensors files and PyTorch
checkpoints (``torch.save``'s zip archive and its legacy format) with a restricted unpickler
that never imports or calls anything but tensor rebuilding and plain containers
(``graphnn/_torch_load.py``).

The safetensors file is written here rather than by ``safetensors.numpy.save_file``: numpy
has no bfloat16, and the library's lower-level API for raw bytes changed between the
versions graphnn accepts. The format is the documented one: an 8-byte little-endian header
size, a JSON header (dtype, shape and byte range of each tensor, ``__metadata__``) padded
with spaces to 8 bytes, then the tensors' bytes, widest elements first so each is
aligned."""
from __future__ import annotations

import json
import os
import struct
import warnings
from collections import OrderedDict

import numpy as np

# safetensors' dtype codes
_CODES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16",
          "int64": "I64", "int32": "I32", "bool": "BOOL"}


def save(obj, f) -> None:
    """Saves a dict of tensors (a state_dict) to path ``f`` in safetensors format.
    Raises TypeError for anything else (graphnn never pickles)."""
    from graphnn._tensor import Tensor
    from graphnn.ir.types import to_storage

    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError("graphnn.save stores a dict of tensors (a state_dict); got "
                        f"{type(obj).__name__}")
    entries = []
    for k, v in obj.items():
        bits = to_storage(v.detach()._host(), v.dtype)     # bfloat16: its uint16 bits
        data = np.ascontiguousarray(bits, bits.dtype.newbyteorder("<")).tobytes()
        entries.append((k, _CODES[v.dtype.name], list(v.shape), data, v.element_size()))
    header, offset = {}, 0
    for k, code, shape, data, _ in sorted(entries, key=lambda e: -e[4]):
        header[k] = {"dtype": code, "shape": shape,
                     "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    header["__metadata__"] = {"graphnn.order": json.dumps(list(obj))}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(f, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for *_, data, _ in sorted(entries, key=lambda e: -e[4]):
            fh.write(data)


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None,
         mmap=None, **pickle_load_args):
    """Loads a checkpoint: a safetensors file (an OrderedDict of tensors in the saved key
    order) or a PyTorch ``.pt``/``.pth`` file written by ``torch.save`` (zip or legacy
    format; the object saved, typically a state_dict, with graphnn tensors).

    ``f``: a path or a binary file object. PyTorch files are read as ``torch.load(...,
    weights_only=True)`` reads them: tensors, Parameters, dict/OrderedDict/list/tuple/set,
    numbers, strings, bytes, ``torch.Size``, dtypes and devices. Tensors keep their shape,
    strides and storage sharing; bfloat16 loads as float32 and 8/16-bit integers as int32
    (exact, with a UserWarning) until graphnn stores those dtypes. ``map_location``,
    ``pickle_module``, ``weights_only`` and ``mmap`` are accepted for compatibility: tensors
    load onto graphnn's device, and pickled code never runs, whatever ``weights_only`` says.

    Raises ``pickle.UnpicklingError`` naming the global when the pickle refers to anything
    else (a pickled module or class, a function call) before anything is imported or run;
    RuntimeError for a truncated or inconsistent file; TypeError for unsupported dtypes."""
    from graphnn import _torch_load

    if pickle_module is not None and pickle_module.__name__ not in ("pickle", "_pickle"):
        raise TypeError("graphnn.load reads pickles with its own restricted unpickler; "
                        f"pickle_module={pickle_module.__name__} is not supported")
    fh, close = (open(f, "rb"), True) if isinstance(f, (str, os.PathLike)) else (f, False)
    try:
        start = fh.tell()
        head = fh.read(16)
        fh.seek(start)
        if head.startswith(b"PK\x03\x04"):
            obj, warning = _torch_load.load_zip(fh)
        elif _torch_load.is_legacy(head):
            obj, warning = _torch_load.load_legacy(fh)
        else:
            return _load_safetensors(f if close else fh)
        if warning:
            warnings.warn(warning, UserWarning, stacklevel=2)
        return obj
    finally:
        if close:
            fh.close()


def _load_safetensors(f):
    """A safetensors file (a path: memory-mapped, or a file object: read whole). BF16
    entries, which numpy cannot hold, are read from the raw bytes."""
    from safetensors import SafetensorError, safe_open
    from graphnn._creation import tensor
    from graphnn.ir.types import bf16_values, bfloat16

    try:
        if isinstance(f, (str, os.PathLike)):
            with safe_open(str(f), framework="numpy") as fh:
                meta = fh.metadata() or {}
                keys = list(fh.keys())
                bf16 = {k for k in keys if fh.get_slice(k).get_dtype() == "BF16"}
                arrays = {k: fh.get_tensor(k) for k in keys if k not in bf16}
            if bf16:
                with open(f, "rb") as fh:
                    arrays.update(_raw_arrays(fh.read(), bf16))
        else:
            data = f.read()
            n = int.from_bytes(data[:8], "little")
            header = json.loads(data[8:8 + n])
            meta = header.pop("__metadata__", None) or {}
            keys = list(header)
            bf16 = {k for k, v in header.items() if v["dtype"] == "BF16"}
            arrays = _raw_arrays(data, set(keys))
    except (SafetensorError, ValueError, KeyError) as e:
        raise RuntimeError("graphnn.load: the file is neither a PyTorch checkpoint nor a "
                           f"safetensors file ({e})") from None
    if "graphnn.order" in meta:
        order = json.loads(meta["graphnn.order"])
        keys = order + [k for k in keys if k not in set(order)]
    return OrderedDict((k, tensor(bf16_values(arrays[k]), dtype=bfloat16) if k in bf16
                        else tensor(arrays[k])) for k in keys)


# numpy types of safetensors' dtype codes (BF16: its uint16 bits)
_NUMPY = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "BOOL": "?"}


def _raw_arrays(data: bytes, keys: set) -> dict:
    """The entries ``keys`` of the safetensors bytes ``data`` as numpy arrays."""
    from safetensors import deserialize

    out = {}
    for name, info in deserialize(data):
        if name in keys:
            if info["dtype"] not in _NUMPY:
                raise ValueError(f"unsupported safetensors dtype {info['dtype']}")
            out[name] = np.frombuffer(bytes(info["data"]), _NUMPY[info["dtype"]]) \
                .reshape(info["shape"])
    return out


__all__ = ["load", "save"]
