"""One-hot encoding and embedding lookups (``embedding``, ``embedding_bag``).

Bags are rows of a (bags, indices) membership matrix computed on the device from the bag
starts, so sum and mean are one GEMM with the looked-up rows and nothing is read back."""
from __future__ import annotations

import numpy as np

from graphnn import _ops
from graphnn._creation import tensor
from graphnn._dispatch import apply
from graphnn._index import filled, scatter_add
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._trace import check_values
from graphnn.ir.types import int64
from graphnn.nn.functional._base import _iota, _where

def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (*, num_classes) with a 1 at each class index of ``tensor`` (*). RuntimeError
    for a negative index or one >= num_classes (checked on the host before any kernel)."""
    where = _where("one_hot")

    def check(values):
        if values.size and values.min() < 0:
            raise RuntimeError(f"{where}Class values must be non-negative. (got "
                               f"{int(values.min())})")
        if values.size and num_classes >= 0 and values.max() >= num_classes:
            raise RuntimeError(f"{where}Class values must be smaller than num_classes. (got "
                               f"{int(values.max())}, num_classes={num_classes})")
    check_values(tensor, check)
    if num_classes < 0:
        num_classes = int(np.max(tensor._host())) + 1
    shape = tuple(tensor.shape) + (num_classes,)
    iota = _iota(shape, len(shape) - 1)
    return _ops.to_dtype(apply("eq", iota, _ops.unsqueeze(tensor, -1)), int64)


def _check_indices(input: Tensor, num: int, fn: str = "embedding") -> None:
    """Index dtype and bounds. embedding raises IndexError, embedding_bag RuntimeError
    naming the position and value (PyTorch's two kernels)."""
    if input.dtype.is_float or input.dtype.name == "bool":
        raise RuntimeError(f"{_where(fn)}Expected tensor for argument #1 'indices' to "
                           f"have one of the following scalar types: Long, Int; but got "
                           f"{SCALAR_NAMES.get(input.dtype.name)} instead")
    if num == 0 and fn == "embedding" and input.numel():
        raise RuntimeError(f"{_where(fn)}index_select(): self indexing axis dim should be "
                           "positive")
    where = _where(fn)

    def check(values):
        bad = np.flatnonzero((values < 0) | (values >= num))
        if not bad.size:
            return
        v = int(values.reshape(-1)[bad[0]])
        if fn == "embedding":
            # the values are on the host for this check already: the extreme is free
            hi = int(values.max())
            side = f"max index {hi}" if hi >= num else f"min index {int(values.min())}"
            raise IndexError(f"{where}num_embeddings {num}, {side}: index out of range in "
                             "self")
        raise RuntimeError(f"{where}Index {int(bad[0])} of input takes value {v} which is not "
                           f"in the valid range [0, {num})")
    check_values(input, check)


def _renorm_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """Rescales (in place, without history) the rows of ``weight`` that ``input`` looks up
    and whose ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm``
    (PyTorch's embedding_renorm_)."""
    from graphnn.autograd import no_grad
    with no_grad():
        rows = _ops.reshape(input, (-1,))
        norms = _ops.norm(_ops.index_select(weight, 0, rows), norm_type, 1)
        scale = _ops.where(apply("gt", norms, max_norm), max_norm / (norms + 1e-7), 1.0)
        weight[rows] = _ops.index_select(weight, 0, rows) * _ops.unsqueeze(scale, 1)


def _lookup(weight: Tensor, input: Tensor, padding_idx, scale_grad_by_freq: bool) -> Tensor:
    """The rows of ``weight`` at ``input``: shape input.shape + (embedding_dim,). The
    backward is one ``scatter_add`` of the rows' gradients into the table. Positions that
    look up the padding row pass no gradient; with ``scale_grad_by_freq`` each position's
    gradient is divided by how often its index occurs in ``input`` (values unchanged)."""
    flat = _ops.reshape(input, (-1,))
    out = _ops.index_select(weight, 0, flat)
    if padding_idx is not None:
        # masked per looked-up row (K, D), not over the whole table
        keep = _ops.reshape(apply("eq", flat, padding_idx), (-1, 1))
        out = _ops.where(keep, out.detach(), out)
    if scale_grad_by_freq:
        # occurrences per table row (a scatter_add of ones), read back at each position
        ones = filled((flat.shape[0],), weight.dtype, 1)
        count = scatter_add(filled((weight.shape[0],), weight.dtype, 0), 0, flat, ones)
        freq = _ops.reshape(_ops.index_select(count, 0, flat), (-1, 1)).detach()
        out = out.detach() + (out - out.detach()) / freq
    return _ops.reshape(out, tuple(input.shape) + (weight.shape[1],))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at integer ``input`` (*) ->
    (*, embedding_dim). ``max_norm`` renormalises the looked-up rows of ``weight`` in place
    first; ``padding_idx`` gets no gradient. Raises IndexError for an index out of range."""
    if weight.dim() != 2:
        raise RuntimeError(f"{_where('embedding')}'weight' must be 2-D")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    _check_indices(input, num)
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    return _lookup(weight, input, padding_idx, scale_grad_by_freq)


def _membership(input: Tensor, offsets: Tensor | None, include_last_offset: bool):
    """(indices (K,), membership (B, K) bool): which bag each index belongs to, computed on
    the device from the bag starts, so a traced call needs no index values on the host."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found "
                             f"offsets of type {type(offsets).__name__}")
        b, length = input.shape
        k = _iota((b, b * length), 1)
        start = _ops.mul(_iota((b, b * length), 0), length)
        member = apply("logical_and", apply("ge", k, start), apply("lt", k, start + length))
        return _ops.reshape(input, (-1,)), member
    if input.dim() != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.dim()}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")

    def check(values):
        if values.size and values[0] != 0:
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the "
                               "mini-batch has to start from position 0. However, got "
                               f"{values[0]}")
    check_values(offsets, check)
    n = input.shape[0]
    ends = tensor([n], dtype=offsets.dtype)
    starts = offsets[:-1] if include_last_offset else offsets
    nxt = offsets[1:] if include_last_offset else _ops.cat([offsets[1:], ends])
    nbags = starts.shape[0]
    k = _iota((nbags, n), 1)
    member = apply("logical_and", apply("ge", k, _ops.reshape(starts, (-1, 1))),
                   apply("lt", k, _ops.reshape(nxt, (-1, 1))))
    return input, member


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2, scale_grad_by_freq:
                  bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxes of ``weight`` rows over bags: input (B, L) (fixed-length bags) or
    (K,) with ``offsets`` (B,) (bag starts) -> (B, embedding_dim). Empty bags give zeros;
    ``padding_idx`` entries are left out of every bag (and of the mean's count)."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, but got {mode}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. "
                                  "per_sample_weights is only supported for mode='sum' (got "
                                  f"mode='{mode}'). Please open a feature request on GitHub.")
    if not weight.dtype.is_float:
        kind = "CPUBoolType" if weight.dtype.name == "bool" else weight.type_name()
        raise RuntimeError(f"{_where('embedding_bag')}Expected tensor for argument #1 'weight' "
                           "to have one of the following scalar types: Half, BFloat16, Float, "
                           f"Double; but got {kind} instead (while checking arguments for "
                           "embedding_bag)")
    if weight.dim() != 2:
        raise ValueError(f"{_where('embedding_bag')}weight has to be a 2D Tensor, but got "
                         f"Tensor of dimension {weight.dim()}")
    num = weight.shape[0]
    if padding_idx is not None:
        padding_idx %= num
    if input.dim() in (1, 2):      # bounds first: the bag membership runs kernels
        _check_indices(input, num, "embedding_bag")
    flat, member = _membership(input, offsets, include_last_offset)
    if max_norm is not None:
        _renorm_(weight, flat, max_norm, norm_type)
    rows = _lookup(weight, flat, padding_idx, scale_grad_by_freq)       # (K, D)
    if padding_idx is not None:
        member = apply("logical_and", member,
                       _ops.reshape(apply("ne", flat, padding_idx), (1, -1)))
    nbags, k = member.shape
    if mode == "max":
        m = _ops.reshape(member, (nbags, k, 1))
        vals = _ops.where(m, _ops.unsqueeze(rows, 0), float("-inf"))
        best = _ops.amax(_ops.expand(vals, (nbags, k, weight.shape[1])), 1)
        empty = _ops.reshape(apply("eq", _ops.sum(_ops.to_dtype(member, int64), 1), 0),
                             (nbags, 1))
        return _ops.where(empty, 0.0, best)
    w = _ops.to_dtype(member, weight.dtype)
    if mode == "mean":
        w = w / _ops.clamp(_ops.sum(w, 1, keepdim=True), min=1.0)
    if per_sample_weights is not None:
        w = w * _ops.reshape(per_sample_weights, (1, -1))
    return w @ rows
