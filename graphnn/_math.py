"""Elementwise math beyond ``graphnn._ops``' set: ``sin`` and ``cos`` (the primitives the
Box-Muller normal sampler needs), as functions and Tensor methods."""
from __future__ import annotations

from graphnn._dispatch import apply


def sin(input):
    """sin(x), elementwise; integer inputs give float32, as PyTorch's."""
    return apply("sin", input)


def cos(input):
    """cos(x), elementwise; integer inputs give float32, as PyTorch's."""
    return apply("cos", input)


def install(T) -> None:
    """Attaches ``sin`` and ``cos`` to the Tensor class."""
    T.sin, T.cos = sin, cos
