"""``graphnn.save``/``graphnn.load``.

``save`` writes state_dicts as safetensors (no pickle); the key order is kept in the
metadata entry ``graphnn.order``. ``load`` reads safetensors files and PyTorch checkpoints
(``torch.save``'s zip archive and its legacy format) with a restricted unpickler that never
imports or calls anything but tensor rebuilding and plain containers
(``graphnn/_torch_load.py``)."""
from __future__ import annotations

import json
import os
import warnings
from collections import OrderedDict

import numpy as np


def save(obj, f) -> None:
    """Saves a dict of tensors (a state_dict) to path ``f`` in safetensors format.
    Raises TypeError for anything else (graphnn never pickles)."""
    from safetensors.numpy import save_file
    from graphnn._tensor import Tensor

    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError("graphnn.save stores a dict of tensors (a state_dict); got "
                        f"{type(obj).__name__}")
    # (np.ascontiguousarray would turn 0-d arrays into 1-d ones)
    arrays = {k: np.array(v.detach()._host(), order="C") for k, v in obj.items()}
    save_file(arrays, str(f), metadata={"graphnn.order": json.dumps(list(obj))})


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
    """A safetensors file (a path: memory-mapped, or a file object: read whole)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load as load_bytes
    from graphnn._creation import tensor

    try:
        if isinstance(f, (str, os.PathLike)):
            with safe_open(str(f), framework="numpy") as fh:
                meta = fh.metadata() or {}
                arrays = {k: fh.get_tensor(k) for k in fh.keys()}
        else:
            data = f.read()
            arrays = load_bytes(data)
            n = int.from_bytes(data[:8], "little")
            meta = json.loads(data[8:8 + n]).get("__metadata__") or {}
    except (SafetensorError, ValueError) as e:
        raise RuntimeError("graphnn.load: the file is neither a PyTorch checkpoint nor a "
                           f"safetensors file ({e})") from None
    keys = list(arrays)
    if "graphnn.order" in meta:
        order = json.loads(meta["graphnn.order"])
        keys = order + [k for k in keys if k not in set(order)]
    return OrderedDict((k, tensor(arrays[k])) for k in keys)


__all__ = ["load", "save"]
