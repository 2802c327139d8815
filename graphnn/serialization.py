"""``graphnn.save``/``graphnn.load`` of state_dicts through safetensors (no pickle).

The file is a plain safetensors file (readable by ``safetensors.torch.load_file``); the key
order of the state_dict is kept in the metadata entry ``graphnn.order``."""
from __future__ import annotations

import json
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
        return OrderedDict((k, tensor(fh.get_tensor(k))) for k in keys)
