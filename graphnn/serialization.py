"""``graphnn.save``/``graphnn.load`` of state_dicts through safetensors (no pickle)."""
from __future__ import annotations

import numpy as np


def save(obj, f) -> None:
    """Saves a dict of tensors (a state_dict) to path ``f`` in safetensors format."""
    from safetensors.numpy import save_file
    from graphnn._tensor import Tensor

    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError("graphnn.save stores a dict of tensors (a state_dict); got "
                        f"{type(obj).__name__}")
    save_file({k: np.ascontiguousarray(v.detach()._host()) for k, v in obj.items()}, str(f))


def load(f, map_location=None, weights_only: bool = True):
    """Loads a safetensors file written by ``save`` into an ordered dict of tensors."""
    from collections import OrderedDict
    from safetensors.numpy import load_file
    from graphnn._creation import tensor

    return OrderedDict((k, tensor(v)) for k, v in load_file(str(f)).items())
