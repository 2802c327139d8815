"""``sort``, ``argsort`` and ``topk``: the ``argsort`` primitive gives the order, the values
are a ``gather`` at it, so their gradient is a ``scatter_add`` of the incoming gradient at
the indices (PyTorch's rule). The kernel is stable and puts NaN last ascending, first
descending, as PyTorch does; see ``codegen/sort.py`` for its cost (n^2 per row of n)."""
from __future__ import annotations

from collections import namedtuple

from graphnn import _views
from graphnn._dispatch import apply
from graphnn._tensor import Tensor

SortResult = namedtuple("sort", ["values", "indices"])
TopKResult = namedtuple("topk", ["values", "indices"])


def _order(input: Tensor, d: int, descending: bool) -> Tensor:
    return apply("argsort", input, axis=d, descending=bool(descending))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """int64 indices (same shape as ``input``) that sort ``input`` along ``dim``. Always
    stable: equal values keep their order. Raises IndexError for a bad ``dim``."""
    d = _views.norm_dim(dim, max(input.dim(), 1))
    if input.dim() == 0:
        return _views.reshape(_order(_views.reshape(input, (1,)), 0, descending), ())
    return _order(input, d, descending)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> SortResult:
    """(values, indices): ``input`` sorted along ``dim`` (ascending unless ``descending``;
    always stable) and the int64 positions the values come from. Raises IndexError for a
    bad ``dim`` (``torch.sort``)."""
    idx = argsort(input, dim, descending)
    if input.dim() == 0:
        return SortResult(_views.clone(input), idx)
    values = _views._named(apply("gather", input, idx, axis=_views.norm_dim(dim, input.dim())),
                           "SortBackward0", input)
    return SortResult(values, idx)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> TopKResult:
    """(values, indices) of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``, in sorted order also when ``sorted=False`` (PyTorch leaves that order
    unspecified). Raises RuntimeError "selected index k out of range" unless
    0 <= k <= size (``torch.topk``)."""
    d = _views.norm_dim(dim, max(input.dim(), 1))
    size = input.shape[d] if input.dim() else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    if input.dtype.name == "bool":
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if input.dim() == 0:
        return TopKResult(_views.clone(input), _views.reshape(argsort(input), ()))
    idx = _order(input, d, largest)
    if k != size:
        idx = _views.narrow(idx, d, 0, k)
    values = _views._named(apply("gather", input, idx, axis=d), "TopkBackward0", input)
    return TopKResult(values, idx)


def install(T) -> None:
    T.sort, T.argsort, T.topk = sort, argsort, topk


install(Tensor)
