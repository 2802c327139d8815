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
from graphnn.ir.types import bool_, float32


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


def scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "scatter_add_", lambda t: scatter_add(t, dim, index, src), src)


# -- index_add, index_copy, index_fill: one index vector along ``dim`` -----------------------
def _vector_index(self: Tensor, dim: int, index: Tensor, source, fn: str):
    """PyTorch's index_add_/index_copy_ checks; returns (dim, index as a vector)."""
    d = _views.norm_dim(dim, max(self.dim(), 1))
    if index.dtype.is_float or index.dtype == bool_:
        if fn == "index_copy_":
            raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got "
                               f"{SCALAR_NAMES.get(index.dtype.name)}")
        raise RuntimeError(f"{fn}(): Expected dtype int32/int64 for index but got: "
                           f"{SCALAR_NAMES.get(index.dtype.name)}")
    if index.dim() > 1:
        if fn == "index_copy_":
            raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got "
                             f"{index.dim()})")
        raise IndexError(f"{fn}(): Index is supposed to be a vector, but got dim: "
                         f"{index.dim()} with type: {SCALAR_NAMES.get(index.dtype.name)} "
                         f"and size: {list(index.shape)}")
    flat = _views.reshape(index, (-1,))
    if source.dtype != self.dtype:
        a, b = SCALAR_NAMES.get(self.dtype.name), SCALAR_NAMES.get(source.dtype.name)
        if fn == "index_copy_":
            raise RuntimeError(f"index_copy_(): self and source expected to have the same "
                               f"dtype, but got (self) {a} and (source) {b}")
        raise RuntimeError(f"{fn}(): self ({a}) and source ({b}) must have the same scalar "
                           "type")
    sshape = tuple(self.shape) or (1,)
    oshape = tuple(source.shape) or (1,)
    if len(oshape) != len(sshape) or any(a != b for k, (a, b) in enumerate(
            zip(sshape, oshape)) if k != d):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(self.shape)} "
                           f"source.shape = {list(source.shape)}")
    if flat.shape[0] != oshape[d]:
        if fn == "index_copy_":
            raise IndexError(f"index_copy_(): Number of indices ({flat.shape[0]}) should be "
                             f"equal to source.size(dim) ({oshape[d]})")
        raise RuntimeError(f"{fn}(): Number of indices ({flat.shape[0]}) should be equal to "
                           f"source.size(dim): ({oshape[d]}), for dim: {d}")
    _check_bounds(flat, sshape[d], d)
    return d, flat


def _along(flat: Tensor, d: int, shape: tuple) -> Tensor:
    """The index vector laid along ``d`` and broadcast to ``shape`` (a scatter index)."""
    lay = [1] * len(shape)
    lay[d] = flat.shape[0]
    return _views.expand(_views.reshape(flat, tuple(lay)), shape)


def _as_vector(t: Tensor) -> Tensor:
    return _views.reshape(t, (1,)) if t.dim() == 0 else t


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` (*) with ``alpha * source[..., k, ...]`` added to ``input[..., index[k],
    ...]`` along ``dim`` (``source`` has ``input``'s shape with ``len(index)`` along
    ``dim``; repeated indices accumulate). Raises PyTorch's errors for the index dtype and
    shape, source shape and dtype, and indices out of range (``torch.index_add``)."""
    d, flat = _vector_index(input, dim, index, source, "index_add_")
    if flat.shape[0] == 0:
        return _views.clone(input)
    if alpha != 1:
        source = _ops.mul(source, alpha)
    x, src = _as_vector(input), _as_vector(source)
    out = apply("scatter_add", x, _along(flat, d, tuple(src.shape)), src, axis=d)
    out = _views.reshape(out, ()) if input.dim() == 0 else out
    return _views._named(out, "IndexAddBackward0", input)


def index_add_(self: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "index_add_",
                   lambda t: index_add(t, dim, index, source, alpha=alpha), source)


def _rows_hit(size: int, flat: Tensor, d: int, ndim: int) -> Tensor:
    """bool (1, .., size, .., 1): which positions along ``d`` the index vector names."""
    count = apply("scatter_add", filled((size,), float32, 0), flat,
                  filled((flat.shape[0],), float32, 1), axis=0)
    lay = [1] * ndim
    lay[d] = size
    return _views.reshape(apply("gt", count, 0.0), tuple(lay))


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with ``input[..., index[k], ...] = source[..., k, ...]`` along ``dim``
    (indices should be distinct, as PyTorch requires; repeated ones sum here). Errors as
    ``torch.index_copy``."""
    d, flat = _vector_index(input, dim, index, source, "index_copy_")
    if flat.shape[0] == 0:
        return _views.clone(input)
    x, src = _as_vector(input), _as_vector(source)
    written = apply("scatter_add", filled(tuple(x.shape), x.dtype, 0),
                    _along(flat, d, tuple(src.shape)), src, axis=d)
    out = _ops.where(_rows_hit(x.shape[d], flat, d, x.dim()), written, x)
    out = _views.reshape(out, ()) if input.dim() == 0 else out
    return _views._named(out, "IndexCopyBackward0", input)


def index_copy_(self: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "index_copy_", lambda t: index_copy(t, dim, index, source), source)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with the slices ``index`` along ``dim`` set to ``value`` (a number or a 0-d
    tensor, which gets the gradient of the filled elements); negative indices count from the
    end. Errors as ``torch.index_fill``."""
    d = _views.norm_dim(dim, max(input.dim(), 1))
    if index.dtype.is_float or index.dtype == bool_:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if index.dim() > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    if isinstance(value, Tensor) and value.dim():
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.dim()} dimension(s).")
    x = _as_vector(input)
    flat = _views.normalize_index(_views.reshape(index, (-1,)), x.shape[d], d)
    if flat.shape[0] == 0:
        return _views.clone(input)
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        value = _ops.to_dtype(value, x.dtype)
    out = _ops.where(_rows_hit(x.shape[d], flat, d, x.dim()), value, x)
    out = _views.reshape(out, ()) if input.dim() == 0 else out
    return _views._named(out, "IndexFillBackward0", input)


def index_fill_(self: Tensor, dim: int, index: Tensor, value) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "index_fill_", lambda t: index_fill(t, dim, index, value), value,
                   casting="unsafe")


# -- scatter ---------------------------------------------------------------------------------
def scatter(input: Tensor, dim: int, index: Tensor, src=None, value=None, *,
            reduce: str | None = None) -> Tensor:
    """``input`` with ``input[... index[i] ...] = src[i]`` (or the number ``value``) for every
    position i of ``index``; ``reduce='add'`` adds instead. Indices should be distinct
    without ``reduce`` (PyTorch leaves repeats unspecified; here they sum).
    ``reduce='multiply'`` multiplies (every repeat of an index takes part); like PyTorch it
    has no derivative: its result does not require grad. Errors as ``torch.scatter``."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing 1 required argument: 'src' or 'value'")
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    d = _scatter_checks(input, dim, index, src)
    if index.numel() == 0:
        return _views.clone(input)
    if not isinstance(src, Tensor):
        src = filled(tuple(index.shape), input.dtype, src)
    if reduce == "multiply":
        return apply("scatter_mul", input.detach(), index, src.detach(), axis=d)
    if reduce == "add":
        return _views._named(_scatter_add(input, d, index, src), "ScatterBackward0", input)
    hit = _scatter_add(filled(tuple(input.shape), float32, 0), d, index,
                       filled(tuple(index.shape), float32, 1))
    written = _scatter_add(filled(tuple(input.shape), input.dtype, 0), d, index, src)
    out = _ops.where(apply("gt", hit, 0.0), written, input)
    return _views._named(out, "ScatterBackward0", input)


def scatter_(self: Tensor, dim: int, index: Tensor, src=None, value=None, *,
             reduce: str | None = None) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "scatter_",
                   lambda t: scatter(t, dim, index, src, value, reduce=reduce),
                   src if src is not None else value, casting="unsafe")


# -- index_put with several index tensors, and accumulate -----------------------------------
def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """``input[indices] = values`` (``input[indices] += values`` with ``accumulate``, where
    repeated indices all add) for a tuple of integer index tensors, broadcast together, one
    per leading dimension; negative indices count from the end. Without ``accumulate`` the
    last of repeated indices wins. Bool masks are supported only without ``accumulate``."""
    indices = tuple(indices)
    if not indices or len(indices) > input.dim():
        raise IndexError(f"too many indices for tensor of dimension {input.dim()} (got "
                         f"{len(indices)})")
    if any(i.dtype.is_float for i in indices):
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if any(i.dtype == bool_ for i in indices):
        # a mask selects a data-dependent number of elements: only the form that needs no
        # count (one full-shape mask, one value) is a ``where``
        one = not isinstance(values, Tensor) or values.numel() == 1
        if accumulate or len(indices) > 1 or tuple(indices[0].shape) != tuple(input.shape) \
                or not one:
            raise NotImplementedError("index_put with a bool mask is implemented only for one "
                                      "mask of the tensor's shape, one value and "
                                      "accumulate=False")
        if isinstance(values, Tensor):
            values = _views.reshape(values, ())
        return _ops.where(indices[0], values, input)
    from graphnn.ir.types import broadcast_shapes
    shape = ()
    for i in indices:
        shape = broadcast_shapes(shape, tuple(i.shape))
    lead = tuple(input.shape[:len(indices)])
    rest = tuple(input.shape[len(indices):])
    linear = None
    for k, (i, size) in enumerate(zip(indices, lead)):
        i = _views.expand(_views.normalize_index(i, size, k), shape)
        linear = i if linear is None else _ops.add(_ops.mul(linear, size), i)
    flat = _views.reshape(linear, (-1,))
    k = flat.shape[0]
    if isinstance(values, Tensor):
        try:
            v = _views.expand(values, shape + rest)
        except Exception:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} "
                               f"cannot be broadcast to indexing result of shape "
                               f"{list(shape + rest)}") from None
        v = _views.reshape(v, (k,) + rest)
        if v.dtype != input.dtype:
            v = _ops.to_dtype(v, input.dtype)
    else:
        v = filled((k,) + rest, input.dtype, values)
    rows = _views.reshape(input, (-1,) + rest)
    if k == 0:
        return _views.clone(input)
    if accumulate:
        out = apply("scatter_add", rows, _along(flat, 0, (k,) + rest), v, axis=0)
    else:
        from graphnn._inplace import index_put as _put
        out = _put(rows, 0, flat, v)
    return _views._named(_views.reshape(out, tuple(input.shape)), "IndexPutBackward0", input)


def index_put_(self: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    from graphnn._inplace import inplace
    return inplace(self, "index_put_",
                   lambda t: index_put(t, indices, values, accumulate), values,
                   casting="unsafe")


def install(T) -> None:
    for name in ("scatter_add", "scatter_add_", "index_add", "index_add_", "index_copy",
                 "index_copy_", "index_fill", "index_fill_", "scatter", "scatter_",
                 "index_put", "index_put_"):
        setattr(T, name, globals()[name])


install(Tensor)
