"""``graphnn.save``/``graphnn.load`` of state_dicts through safetensors (no pickle).

The file is a plain safetensors file (readable by ``safetensors.torch.load_file``); the key
order of the state_dict is kept in the metadata entry ``graphnn.order``. float16 tensors
are stored as ``F16`` and bfloat16 tensors as ``BF16``, as PyTorch's safetensors files
hold them.

The file is written here rather than by ``safetensors.numpy.save_file``: numpy has no
bfloat16, and the library's lower-level API for raw bytes changed between the versions
graphnn accepts. The format is the documented one: an 8-byte little-endian header size,
a JSON header (dtype, shape and byte range of each tensor, ``__metadata__``) padded with
spaces to 8 bytes, then the tensors' bytes, widest elements first so each is aligned."""
from __future__ import annotations

import json
import struct
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


def load(f, map_location=None, weights_only: bool = True):
    """Loads a safetensors file into an OrderedDict of tensors, in the saved key order.
    ``map_location`` and ``weights_only`` are accepted for torch.load compatibility."""
    from safetensors import safe_open
    from graphnn._creation import tensor

    with safe_open(str(f), framework="numpy") as fh:
        meta = fh.metadata() or {}
        keys = list(fh.keys())
        if "graphnn.order" in meta:
            order = json.loads(meta["graphnn.order"])
            keys = order + [k for k in keys if k not in set(order)]
        bf16 = {k for k in keys if fh.get_slice(k).get_dtype() == "BF16"}
        out = OrderedDict((k, None if k in bf16 else tensor(fh.get_tensor(k))) for k in keys)
    if bf16:
        out.update(_bf16_tensors(f, bf16))
    return out


def _bf16_tensors(f, keys: set) -> dict:
    """The BF16 tensors of file ``f`` (numpy cannot hold them: ``safe_open`` raises), from
    the raw bytes that ``safetensors.deserialize`` returns."""
    from safetensors import deserialize
    from graphnn._creation import tensor
    from graphnn.ir.types import bf16_values, bfloat16

    with open(f, "rb") as fh:
        raw = fh.read()
    out = {}
    for name, info in deserialize(raw):
        if name in keys:
            bits = np.frombuffer(bytes(info["data"]), "<u2").reshape(info["shape"])
            out[name] = tensor(bf16_values(bits), dtype=bfloat16)
    return out
