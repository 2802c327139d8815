"""Views and indexing: ``view``/``reshape``, ``permute``/``transpose``, ``expand``,
``squeeze``/``unsqueeze``, basic indexing, ``split``/``chunk``/``unbind``/``narrow``/
``select``, and the gathers behind advanced indexing.

A view shares its base's storage (``graphnn/_storage.py``): eager views run no kernel and
writes through them reach the base. Also the dimension helpers the other op modules
share."""
from __future__ import annotations

import builtins

from graphnn import _tensor, autograd
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn._trace import check_values, current
from graphnn.ir.types import bool_
from graphnn.ir.symbolic import as_size
from graphnn.ir.views import resolve

_py_max, _py_min, _py_sum = builtins.max, builtins.min, builtins.sum


def _named(out, name: str, *inputs):
    """Gives ``out``'s tape node PyTorch's grad_fn name for the op the user called (a
    composite such as ``mean`` otherwise shows its last primitive). Leaves a node alone
    that is not new (an op that returned its input unchanged)."""
    node = getattr(out, "_grad_fn", None)
    if node is not None and all(node is not getattr(i, "_grad_fn", None) for i in inputs):
        node._name = name
    return out


def norm_dim(dim: int, ndim: int) -> int:
    return _tensor._norm_dim(dim, ndim)


def _dims(dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    return tuple(sorted({norm_dim(d, ndim) for d in dim}))


def _infer_shape(shape, numel: int) -> tuple[int, ...]:
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[shape.index(-1)] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(as_size(s) for s in shape)     # a symbolic batch stays symbolic


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)) or \
            (len(shape) == 1 and type(shape[0]).__name__ == "Size"):
        return tuple(shape[0])
    return tuple(shape)


# -- views --------------------------------------------------------------------------------
def reshape(a, *shape):
    """A view when strides can express it, else a copy (``torch.reshape``)."""
    shape = _infer_shape(_shape_args(shape), a.numel())
    return a if shape == tuple(a.shape) else apply("reshape", a, shape=shape)


def view(a, *shape):
    """Always a view: raises when ``a``'s strides cannot express ``shape``
    (``Tensor.view``)."""
    from graphnn.ir.types import DType
    if len(shape) == 1 and isinstance(shape[0], DType):
        raise NotImplementedError("view(dtype) is not supported")
    shape = _infer_shape(_shape_args(shape), a.numel())
    if not _viewable(a, shape):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return apply("reshape", a, shape=shape)


def _viewable(a, shape) -> bool:
    from graphnn.ir.views import reshape_strides
    if a._sym is None:
        strides = a._strides
    else:
        v = resolve(a._sym.graph, a._sym.id)
        if v is None:
            return False
        strides = v.strides
    return reshape_strides(tuple(a.shape), tuple(strides), tuple(shape)) is not None


def flatten(a, start_dim=0, end_dim=-1):
    if a.dim() == 0:    # a 0-d tensor has dims -1 and 0, as a 1-d one
        norm_dim(start_dim, 1), norm_dim(end_dim, 1)
        return reshape(a, (1,))
    s, e = norm_dim(start_dim, a.dim()), norm_dim(end_dim, a.dim())
    shape = tuple(a.shape)
    n = 1
    for x in shape[s:e + 1]:
        n *= x
    return reshape(a, shape[:s] + (n,) + shape[e + 1:])


def permute(a, *dims):
    dims = tuple(norm_dim(d, a.dim()) for d in _shape_args(dims))
    if sorted(dims) != list(range(a.dim())):
        raise RuntimeError("permute(sparse_coo): number of dimensions in the tensor input does "
                           "not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {a.dim()} is not equal to len(dims) = {len(dims)}")
    return a if dims == tuple(range(a.dim())) else apply("permute", a, dims=dims)


def transpose(a, d0, d1):
    if a.dim() == 0:
        norm_dim(d0, 1), norm_dim(d1, 1)
        return a
    dims = list(range(a.dim()))
    d0, d1 = norm_dim(d0, a.dim()), norm_dim(d1, a.dim())
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _named(permute(a, dims), "TransposeBackward0", a)


def t(a):
    if a.dim() > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {a.dim()}D")
    return _named(transpose(a, 0, 1), "TBackward0", a) if a.dim() == 2 else a


def unsqueeze(a, dim):
    d = norm_dim(dim, a.dim() + 1)
    shape = list(a.shape)
    shape.insert(d, 1)
    return _named(reshape(a, shape), "UnsqueezeBackward0", a)


def squeeze(a, dim=None):
    shape = list(a.shape)
    if dim is None:
        return _named(reshape(a, [s for s in shape if s != 1]), "SqueezeBackward0", a)
    dims = _dims(dim, a.dim())
    return _named(reshape(a, [s for i, s in enumerate(shape) if not (i in dims and s == 1)]),
                  "SqueezeBackward1" if isinstance(dim, int) else "SqueezeBackward2", a)


def expand(a, *sizes):
    sizes = _shape_args(sizes)
    lead = len(sizes) - a.dim()
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({a.dim()})")
    shape = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return a if shape == tuple(a.shape) else apply("expand", a, shape=shape)


def alias(a):
    """A view of all of ``a`` (what ``x[...]`` returns)."""
    return apply("reshape", a, shape=tuple(a.shape))


def contiguous(a, memory_format=None):
    """``a`` itself when it is contiguous, else a contiguous copy."""
    if a._sym is not None or a.is_contiguous():
        return a
    return clone(a)


def clone(a, memory_format=None):
    return apply("copy", a)


def detach(a):
    """A tensor sharing ``a``'s storage and version counter, without history."""
    if a._sym is not None:
        out = apply("detach", a)
        current().mark_view(out, a, "detach", {})   # shares storage: writes reach ``a``
        return out
    return a._alias()


def narrow(a, dim, start, length):
    if a.dim() == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = norm_dim(dim, a.dim())
    start = start + a.shape[d] if start < 0 else start
    if not 0 <= start <= start + length <= a.shape[d]:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({a.shape[d]}).")
    return getitem(a, (slice(None),) * d + (slice(start, start + length),))


def select(a, dim, index):
    d = norm_dim(dim, a.dim())
    return getitem(a, (slice(None),) * d + (index,))


def unbind(a, dim=0):
    d = norm_dim(dim, a.dim())
    return tuple(select(a, d, i) for i in range(a.shape[d]))


def _replay(view) -> None:
    """Rebuilds an eager view's history from its base after an in-place write to their
    storage, so gradients flow through the base's new history (PyTorch's view replay)."""
    if getattr(view, "_no_grad_view", False) or not autograd.is_grad_enabled():
        return
    base = view._base
    if not base.requires_grad:
        view._grad_fn, view._requires_grad = None, False
        return
    value = base
    for op, attrs in view._view_chain:
        value = apply(op, value, **attrs)
    view._grad_fn, view._out_index = value._grad_fn, value._out_index
    view._requires_grad = value._requires_grad


_tensor._REPLAY[0] = _replay


# -- indexing -----------------------------------------------------------------------------
def getitem(a, index):
    """Basic indexing (ints, slices with step > 0, None, Ellipsis) returns a view; one
    integer index tensor gathers a copy."""
    if not isinstance(index, tuple):
        index = (index,)
    last = next((i for i in reversed(index) if i is not Ellipsis), Ellipsis)
    name = ("IndexBackward0" if isinstance(last, Tensor) else "SliceBackward0"
            if isinstance(last, slice) else "UnsqueezeBackward0" if last is None
            else "AliasBackward0" if last is Ellipsis else "SelectBackward0")
    out, tdim, idx, shape = basic_index(a, index)
    if idx is not None:
        # negative indices count from the end here (IndexError out of range), unlike in
        # index_select
        out = _take(out, tdim, normalize_index(idx, out.shape[tdim], tdim))
        out = reshape(out, shape[:tdim] + tuple(idx.shape) + shape[tdim + 1:])
    elif out is a:
        out = alias(a)
    return _named(out, name, a)


def basic_index(a, index: tuple):
    """``(view, dim, index_tensor, shape)``: the view ``a[index]`` with an integer index
    tensor (at most one) replaced by ``:``, the view dimension that tensor indexes, the
    tensor, and the view's shape."""
    if _py_sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = _py_sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > a.dim():
        raise IndexError(f"too many indices for tensor of dimension {a.dim()}")
    if Ellipsis in [i for i in index if not isinstance(i, Tensor)]:
        pos = [k for k, i in enumerate(index) if i is Ellipsis][0]
        index = index[:pos] + (slice(None),) * (a.dim() - used) + index[pos + 1:]
    starts, stops, steps, out_shape = [], [], [], []
    dim = 0
    tensor_index = tensor_dim = None
    for i in index:
        if i is None:
            out_shape.append(1)
            continue
        size = a.shape[dim]
        if isinstance(i, Tensor):
            if tensor_index is not None or i.dtype.is_float or i.dtype == bool_:
                raise IndexError("only one integer index tensor is supported")
            tensor_index, tensor_dim = i, len(out_shape)
            starts.append(0), stops.append(size), steps.append(1)
            out_shape.append(size)
        elif isinstance(i, slice):
            b, e, s = i.indices(size)
            if s <= 0:
                raise ValueError("step must be greater than zero")
            starts.append(b), stops.append(_py_max(e, b)), steps.append(s)
            out_shape.append(len(range(b, _py_max(e, b), s)))
        else:
            i = int(i)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size "
                                 f"{size}")
            i %= size
            starts.append(i), stops.append(i + 1), steps.append(1)
        dim += 1
    for d in range(dim, a.dim()):
        starts.append(0), stops.append(a.shape[d]), steps.append(1)
        out_shape.append(a.shape[d])
    out = a
    if (tuple(starts), tuple(stops), tuple(steps)) != ((0,) * a.dim(), tuple(a.shape),
                                                        (1,) * a.dim()):
        out = apply("slice", a, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))
    return reshape(out, out_shape), tensor_dim, tensor_index, tuple(out_shape)


def split(a, split_size_or_sections, dim=0):
    """torch.split: views of ``a`` along ``dim`` of the given size(s)."""
    if a.dim() == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = norm_dim(dim, a.dim())
    size = a.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0 or (step == 0 and size):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {size}" if step == 0 else
                               f"split expects split_size be non-negative, but got "
                               f"split_size={step}")
        sizes = [_py_min(step, size - s) for s in range(0, size, step)] if step else []
        sizes = sizes or [0]
    else:
        sizes = list(split_size_or_sections)
        if _py_sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    out, start = [], 0
    for n in sizes:
        index = [slice(None)] * d + [slice(start, start + n)]
        out.append(getitem(a, tuple(index)))
        start += n
    return tuple(out)


def chunk(a, chunks, dim=0):
    """torch.chunk: at most ``chunks`` views of equal size (the last may be smaller); an
    empty dim gives ``chunks`` empty views, as PyTorch."""
    if a.dim() == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = norm_dim(dim, a.dim())
    if a.shape[d] == 0:
        return split(a, 0, d) * chunks
    step = -(-a.shape[d] // chunks)
    return split(a, step, d)


def normalize_index(index, size: int, d: int):
    """Integer index tensor ``index`` with negative entries counted from the end; raises
    PyTorch's IndexError for out-of-range values known on the host."""
    if index.dtype.is_float or index.dtype == bool_:
        raise IndexError("tensors used as indices must be long, int or bool tensors")

    def check(values):
        bad = values[(values < -size) | (values >= size)]
        if bad.size:
            raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {d} "
                             f"with size {size}")
    check_values(index, check)
    return apply("where", apply("lt", index, 0), apply("add", index, size), index)


def index_select(a, dim, index):
    """Entries of ``a`` along ``dim`` at the int64/int32 ``index`` (1-D or 0-d). Negative
    indices are out of range, as in PyTorch (RuntimeError, checked on the host)."""
    d = norm_dim(dim, a.dim())
    size = a.shape[d] if a.dim() else 1
    if index.dtype.is_float or index.dtype == bool_:
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    if size == 0 and index.numel():
        raise RuntimeError("index_select(): self indexing axis dim should be positive")

    def check(values):
        bad = values[(values < 0) | (values >= size)]
        if bad.size:
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={int(bad.flat[0])} "
                               f"axis_dim={size}")
    check_values(index, check)
    return _take(a, d, index)


def _take(a, d: int, index):
    """``a`` at the (in-range, checked) ``index`` along dim ``d``: one gather."""
    flat = reshape(index, (-1,))
    n = flat.shape[0]
    shape = [1] * a.dim()
    shape[d] = n
    full = list(a.shape)
    full[d] = n
    idx = expand(reshape(flat, shape), full)
    return _named(apply("gather", a, idx, axis=d), "IndexSelectBackward0", a)


def gather(a, dim, index):
    """``a`` read along ``dim`` at ``index`` (same rank as ``a``); RuntimeError for an index
    outside [0, size), checked on the host before any kernel."""
    d = norm_dim(dim, a.dim())
    size = a.shape[d] if a.dim() else 1

    def check(values):
        bad = values[(values < 0) | (values >= size)]
        if bad.size:
            raise RuntimeError(f"index {int(bad.flat[0])} is out of bounds for dimension {d} "
                               f"with size {size}")
    check_values(index, check)
    return apply("gather", a, index, axis=d)


def install(T) -> None:
    """Attaches the view and indexing ops to the Tensor class."""
    for name in ("reshape", "view", "flatten", "permute", "transpose", "t", "unsqueeze",
                 "squeeze", "expand", "contiguous", "clone", "detach", "narrow", "select",
                 "unbind", "split", "chunk", "index_select", "gather"):
        setattr(T, name, globals()[name])
    T.__getitem__ = getitem
    T.T = property(lambda self: permute(self, tuple(reversed(range(self.dim())))))
    T.mT = property(lambda self: transpose(self, -2, -1))
    T.expand_as = lambda self, other: expand(self, tuple(other.shape))
    T.view_as = lambda self, other: view(self, tuple(other.shape))
    T.reshape_as = lambda self, other: reshape(self, tuple(other.shape))
    T.swapaxes = T.swapdims = transpose


install(Tensor)
