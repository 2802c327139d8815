"""Distances between batches of vectors."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.ir.types import broadcast_shapes
from graphnn.nn.functional._base import _where


def _broadcast(x1: Tensor, x2: Tensor, fn: str) -> tuple[Tensor, Tensor]:
    try:
        shape = broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError as e:
        raise RuntimeError(f"{_where(fn)}{e}") from None
    return _ops.expand(x1, shape), _ops.expand(x2, shape)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along ``dim`` of the broadcast
    inputs; the output drops ``dim`` (PyTorch's cosine_similarity: each input is divided by
    its own clamped norm, which avoids overflow in the product of norms)."""
    x1, x2 = _broadcast(x1, x2, "cosine_similarity")
    n1 = _ops.clamp(_ops.norm(x1, 2, dim, keepdim=True), min=eps)
    n2 = _ops.clamp(_ops.norm(x2, 2, dim, keepdim=True), min=eps)
    return _ops.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim of the broadcast inputs (N, D) -> (N,)."""
    x1, x2 = _broadcast(x1, x2, "pairwise_distance")
    return _ops.norm(x1 - x2 + eps, p, x1.dim() - 1 if x1.dim() else None, keepdim)
