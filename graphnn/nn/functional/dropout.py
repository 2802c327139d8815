"""Dropout: random masks from graphnn's counter-based generator, a fresh seed per call."""
from __future__ import annotations

from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._base import _maybe_inplace

def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p)
    (Srivastava et al. 2014; PyTorch's Dropout). Any shape. The mask comes from graphnn's
    counter-based generator (``manual_seed``), not PyTorch's stream."""
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    from graphnn._creation import seed_source
    noise = apply("rand", seed_source(), shape=tuple(input.shape), dtype=input.dtype.name)
    return _maybe_inplace(input, inplace, "dropout_", lambda x: apply(
        "where", apply("ge", noise, p), x * (1.0 / (1.0 - p)), 0.0))
