"""Index writes built on the ``scatter_add`` primitive: ``scatter_add``, ``index_add``,
``scatter``, ``index_copy``, ``index_fill`` and their in-place forms.

Each checks its arguments as PyTorch does (types, shapes, index bounds on the host) before
any kernel runs. Overwriting forms (``scatter``, ``index_copy``) are a ``where`` between
``self`` and a ``scatter_add`` onto zeros under a mask of the written positions (a
``scatter_add`` of ones): exact when no position is written twice, the case PyTorch
defines (with repeated indices PyTorch leaves the result unspecified; here the values sum)."""
from __future__ import annotations

from graphnn import _ops, _views
from graphnn._dispatch import apply
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._trace import check_values
from graphnn.ir.types import bool_


def _index_dtype(index: Tensor, fn: str) -> None:
    if index.dtype.is_float or index.dtype == bool_:
        raise RuntimeError(f"{fn}(): Expected dtype int32/int64 for index")


def _check_bounds(index: Tensor, size: int, dim: int) -> None:
    def check(values):
        bad = values[(values < 0) | (values >= size)]
        if bad.size:
            raise RuntimeError(f"index {int(bad.flat[0])} is out of bounds for dimension {dim} "
                               f"with size {size}")
    check_values(index, check)


def filled(shape: tuple, dtype, value) -> Tensor:
    """A tensor of ``shape`` holding ``value``; inside a trace a broadcast constant."""
    from graphnn._inplace import _filled
    return _filled(tuple(shape), dtype, value)


def _scatter_checks(self: Tensor, dim: int, index: Tensor, src, fn: str = "scatter"):
    """PyTorch's scatter/gather argument checks; returns the normalised dim."""
    d = _views.norm_dim(dim, max(self.dim(), 1))
    _index_dtype(index, fn)
    if index.numel() == 0:
        return d
    if index.dim() != self.dim():
        raise RuntimeError("Index tensor must have the same number of dimensions as self "
                           "tensor")
    if isinstance(src, Tensor):
        if index.dim() != src.dim():
            raise RuntimeError("Index tensor must have the same number of dimensions as src "
                               "tensor")
        if src.dtype != self.dtype:
            raise RuntimeError(f"{fn}(): Expected self.dtype to be equal to src.dtype")
    ishape, sshape = tuple(index.shape), tuple(self.shape)
    too_big = any(i > s for k, (i, s) in enumerate(zip(ishape, sshape)) if k != d)
    if isinstance(src, Tensor):
        too_big = too_big or any(i > s for i, s in zip(ishape, tuple(src.shape)))
        if too_big:
            raise RuntimeError(f"Expected index {list(ishape)} to be no larger than self "
                               f"{list(sshape)} apart from dimension {d} and to be no larger "
                               f"size than src {list(src.shape)}")
    elif too_big:
        raise RuntimeError(f"Expected index {list(ishape)} to be no larger than self "
                           f"{list(sshape)} apart from dimension {d}")
    _check_bounds(index, self.shape[d] if self.dim() else 1, d)
    return d


def _scatter_add(self: Tensor, d: int, index: Tensor, src: Tensor) -> Tensor:
    """The primitive on checked arguments (0-d tensors as 1-element vectors)."""
    if self.dim() == 0:
        one = (1,)
        return _views.reshape(_scatter_add(_views.reshape(self, one), 0,
                                           _views.reshape(index, one),
                                           _views.reshape(src, one)), ())
    return apply("scatter_add", self, index, src, axis=d)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``input`` (*) with ``src[i]`` added at position i of ``input`` whose ``dim`` component
    is replaced by ``index[i]``, for every position i of ``index`` (int64 or int32, the
    same number of dimensions, no larger than ``src``, nor than ``input`` outside ``dim``).
    Raises RuntimeError for a wrong index dtype, shapes or dtypes, or an index out of range
    (``torch.scatter_add``)."""
    d = _scatter_checks(input, dim, index, src)
    if index.numel() == 0:
        return _views.clone(input)
    return _views._named(_scatter_add(input, d, index, src), "ScatterAddBackward0", input)


def install(T) -> None:
    T.scatter_add = scatter_add


install(Tensor)
