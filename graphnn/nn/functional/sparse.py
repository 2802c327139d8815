"""One-hot encoding and lookups."""
from __future__ import annotations

import numpy as np

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.types import int64
from graphnn.nn.functional._base import _iota

def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if num_classes < 0:
        num_classes = int(np.max(tensor._host())) + 1
    shape = tuple(tensor.shape) + (num_classes,)
    iota = _iota(shape, len(shape) - 1)
    return _ops.to_dtype(apply("eq", iota, _ops.unsqueeze(tensor, -1)), int64)
