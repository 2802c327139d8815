"""Tensor operations, written once on top of ``apply`` and attached to ``Tensor`` as methods.

Shapes follow PyTorch: broadcasting for arithmetic, ``dim``/``keepdim`` for reductions,
views for movement ops. Each function raises PyTorch's error type for bad arguments before
anything is traced or run."""
from __future__ import annotations

import builtins
from collections import namedtuple

from graphnn._dispatch import apply
from graphnn.ir.types import DType, bool_, broadcast_shapes, by_name, float32, int64

_py_max, _py_min, _py_sum = builtins.max, builtins.min, builtins.sum


def _T():
    from graphnn._tensor import Tensor
    return Tensor


def _named(out, name: str, *inputs):
    """Gives ``out``'s tape node PyTorch's grad_fn name for the op the user called (a
    composite such as ``mean`` otherwise shows its last primitive). Leaves a node alone
    that is not new (an op that returned its input unchanged)."""
    node = getattr(out, "grad_fn", None)
    if node is not None and all(node is not getattr(i, "grad_fn", None) for i in inputs):
        node._name = name
    return out


def norm_dim(dim: int, ndim: int) -> int:
    n = _py_max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def _dims(dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    return tuple(sorted({norm_dim(d, ndim) for d in dim}))


# -- arithmetic ---------------------------------------------------------------------------
def add(a, b, alpha=1):
    return apply("add", a, b if alpha == 1 else mul(b, alpha))


def sub(a, b, alpha=1):
    return apply("sub", a, b if alpha == 1 else mul(b, alpha))


def rsub(a, b, alpha=1):
    """``b - alpha * a`` (``torch.rsub``, and ``2 - x``)."""
    return _named(apply("sub", b, a if alpha == 1 else mul(a, alpha)), "RsubBackward1", a)


def mul(a, b):
    return apply("mul", a, b)


def div(a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise NotImplementedError("div(rounding_mode=...) is not supported yet")
    return apply("div", a, b)


def pow(a, b):
    T = _T()
    if not isinstance(b, T) and isinstance(a, T):
        if b == 2:
            return _named(apply("mul", a, a), "PowBackward0", a)
        if b == 1:
            return _named(apply("copy", a), "PowBackward0", a)
        if b == 0.5:
            return _named(apply("sqrt", a), "PowBackward0", a)
        return _named(apply("pow", a, b), "PowBackward0", a)
    return _named(apply("pow", a, b), "PowBackward1" if isinstance(a, T) else "PowBackward2",
                  a, b)


def neg(a):
    return apply("neg", a)


def _binary_method(op):
    return lambda self, other: apply(op, self, other)


def _rbinary_method(op):
    return lambda self, other: apply(op, other, self)


for _n in ("exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs", "sign"):
    globals()[_n] = (lambda op: lambda a: apply(op, a))(_n)


def rsqrt(a):
    return _named(apply("div", 1.0, apply("sqrt", a)), "RsqrtBackward0", a)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    out = a
    # written with where so the gradient passes where x equals a bound, as in PyTorch
    if min is not None:
        out = apply("where", apply("lt", out, min), min, out) if not isinstance(min, _T()) \
            else apply("where", apply("lt", out, min), min, out)
    if max is not None:
        out = apply("where", apply("gt", out, max), max, out)
    return _named(out, "ClampBackward0" if isinstance(min, _T()) or isinstance(max, _T())
                  else "ClampBackward1", a)


def maximum(a, b):
    return apply("maximum", a, b)


def minimum(a, b):
    return apply("minimum", a, b)


def where(cond, a, b):
    return apply("where", cond, a, b)


def to_dtype(a, dtype: DType):
    if isinstance(dtype, str):
        dtype = by_name(dtype)
    return a if a.dtype == dtype else apply("cast", a, dtype=dtype.name)


# -- matrix products ----------------------------------------------------------------------
def matmul(a, b):
    da, db = a.dim(), b.dim()
    if da == 0 or db == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{da}D and {db}D")
    if da == 1 and db == 1:
        if a.shape[0] != b.shape[0]:
            raise RuntimeError("inconsistent tensor size, expected tensor [%d] and src [%d] to "
                               "have the same number of elements, but got %d and %d elements "
                               "respectively" % (a.shape[0], b.shape[0], a.shape[0], b.shape[0]))
        return _named(mm(reshape(a, (1, -1)), reshape(b, (-1, 1))).reshape(()),
                      "DotBackward0", a, b)
    if da == 1:
        return _named(reshape(mm(reshape(a, (1, -1)), b), (b.shape[-1],)) if db == 2 else
                      squeeze(matmul(unsqueeze(a, 0), b), -2), "SqueezeBackward4", a, b)
    if db == 1:
        return _named(squeeze(matmul(a, unsqueeze(b, 1)), -1),
                      "MvBackward0" if da == 2 else "SqueezeBackward4", a, b)
    if db == 2:
        if da == 2:
            return mm(a, b)
        lead = tuple(a.shape[:-1])
        out = mm(reshape(a, (-1, a.shape[-1])), b)
        return _named(reshape(out, lead + (b.shape[1],)), "UnsafeViewBackward0", a, b)
    # batched: broadcast the batch dims (numpy rules), flatten them, one batched product
    try:
        batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(a.shape)}) must match the size of "
                           f"tensor b ({list(b.shape)}) in their batch dimensions") from None
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[-1]}, {b.shape[-1]}] but got: "
                           f"[{b.shape[-2]}, {b.shape[-1]}].")
    flat = 1
    for s_ in batch:
        flat *= s_
    a3 = reshape(expand(a, batch + tuple(a.shape[-2:])), (flat,) + tuple(a.shape[-2:]))
    b3 = reshape(expand(b, batch + tuple(b.shape[-2:])), (flat,) + tuple(b.shape[-2:]))
    out = apply("matmul", a3, b3, ta=False, tb=False)
    return _named(reshape(out, batch + (a.shape[-2], b.shape[-1])), "UnsafeViewBackward0",
                  a, b)


def bmm(a, b):
    """(B, N, M) @ (B, M, P) -> (B, N, P)."""
    if a.dim() != 3 or b.dim() != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor" if a.dim() != 3 else
                           "batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    return _named(apply("matmul", a, b, ta=False, tb=False), "BmmBackward0", a, b)


def mm(a, b, ta=False, tb=False):
    if a.dim() != 2 or b.dim() != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {a.dim()}D and {b.dim()}D")
    return apply("matmul", a, b, ta=ta, tb=tb)


# -- reductions ---------------------------------------------------------------------------
def sum(a, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        a = to_dtype(a, dtype)
    axes = _dims(dim, a.dim())
    if not axes:
        return a if a.dtype.is_float else to_dtype(a, int64)
    return _named(apply("sum", a, axes=axes, keepdim=keepdim),
                  "SumBackward0" if dim is None else "SumBackward1", a)


def mean(a, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        a = to_dtype(a, dtype)
    if not a.dtype.is_float:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {a.dtype.name.capitalize()}")
    axes = _dims(dim, a.dim())
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    if not axes:
        return a
    return _named(mul(sum(a, dim, keepdim), 1.0 / n),
                  "MeanBackward0" if dim is None else "MeanBackward1", a)


MinMax = namedtuple("MinMax", ["values", "indices"])
try:   # PyTorch's own result type names
    MinMax.__name__ = "return_types.max"
except AttributeError:
    pass


def _reduce_minmax(op: str, a, dim=None, keepdim=False):
    T = _T()
    if isinstance(dim, T):
        return apply("maximum" if op == "max" else "minimum", a, dim)
    if a.numel() == 0:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    if dim is None:
        return _named(apply(op, a, axes=tuple(range(a.dim())), keepdim=False),
                      op.title() + "Backward1", a) if a.dim() else a
    d = norm_dim(dim, a.dim())
    if a.dim() == 0:
        return MinMax(a, to_dtype(a, int64) * 0)
    src = a if op == "max" else neg(a)
    indices = apply("argmax", src, axes=(d,), keepdim=True)
    # the values are gathered at the indices so that, as in PyTorch, the gradient flows to
    # the selected element only (amax/amin share it between tied extrema instead)
    values = apply("gather", a, indices, axis=d)
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return MinMax(_named(values, op.title() + "Backward0", a), indices)


def max(a, dim=None, keepdim=False):
    return _reduce_minmax("max", a, dim, keepdim)


def min(a, dim=None, keepdim=False):
    return _reduce_minmax("min", a, dim, keepdim)


def amax(a, dim=None, keepdim=False):
    return apply("max", a, axes=_dims(dim, a.dim()), keepdim=keepdim)


def amin(a, dim=None, keepdim=False):
    return apply("min", a, axes=_dims(dim, a.dim()), keepdim=keepdim)


def argmax(a, dim=None, keepdim=False):
    if dim is None:
        return apply("argmax", reshape(a, (-1,)), axes=(0,), keepdim=False)
    return apply("argmax", a, axes=(norm_dim(dim, a.dim()),), keepdim=keepdim)


def argmin(a, dim=None, keepdim=False):
    return argmax(neg(a), dim, keepdim)


# -- views --------------------------------------------------------------------------------
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
    return tuple(int(s) for s in shape)


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)) or \
            (len(shape) == 1 and type(shape[0]).__name__ == "Size"):
        return tuple(shape[0])
    return tuple(shape)


def reshape(a, *shape):
    shape = _infer_shape(_shape_args(shape), a.numel())
    return a if shape == tuple(a.shape) else apply("reshape", a, shape=shape)


def flatten(a, start_dim=0, end_dim=-1):
    if a.dim() == 0:
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


def contiguous(a):
    return a


def clone(a):
    return apply("copy", a)


def getitem(a, index):
    """Basic indexing: ints, slices (step > 0), None, Ellipsis, and one integer index
    tensor."""
    T = _T()
    if not isinstance(index, tuple):
        index = (index,)
    last = next((i for i in reversed(index) if i is not Ellipsis), Ellipsis)
    name = ("IndexBackward0" if isinstance(last, T) else "SliceBackward0"
            if isinstance(last, slice) else "UnsqueezeBackward0" if last is None
            else "AliasBackward0" if last is Ellipsis else "SelectBackward0")
    out = _getitem(a, index)
    if out is a and a.requires_grad:
        out = apply("copy", a)   # indexing makes a new tensor (a view) in PyTorch too
    return _named(out, name, a)


def _getitem(a, index):
    T = _T()
    if _py_sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = _py_sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > a.dim():
        raise IndexError(f"too many indices for tensor of dimension {a.dim()}")
    if Ellipsis in [i for i in index if not isinstance(i, T)]:
        pos = [k for k, i in enumerate(index) if i is Ellipsis][0]
        index = index[:pos] + (slice(None),) * (a.dim() - used) + index[pos + 1:]
    starts, stops, steps, out_shape = [], [], [], []
    dim = 0
    tensor_index = None
    for i in index:
        if i is None:
            out_shape.append(1)
            continue
        size = a.shape[dim]
        if isinstance(i, T):
            if tensor_index is not None or i.dtype.is_float:
                raise IndexError("only one integer index tensor is supported")
            tensor_index = (dim, i)
            starts.append(0), stops.append(size), steps.append(1)
            out_shape.append(("T", dim))
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
    if tensor_index is not None:
        d, idx = tensor_index
        out = index_select(out, d, idx)
        out_shape = [s if not isinstance(s, tuple) else ("I", idx) for s in out_shape]
        final = []
        for s in out_shape:
            final += list(s[1].shape) if isinstance(s, tuple) else [s]
        return reshape(out, final)
    return reshape(out, out_shape)


def cat(tensors, dim=0):
    """torch.cat: join tensors along ``dim``; all other sizes must match."""
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    # PyTorch skips legacy empty 1-D tensors (shape [0]) when joining
    tensors = [t for t in tensors if not (t.dim() == 1 and t.shape[0] == 0)] or tensors[:1]
    d = norm_dim(dim, tensors[0].dim())
    if len(tensors) == 1:
        return clone(tensors[0])
    return _named(apply("concat", *tensors, axis=d), "CatBackward0", *tensors)


def stack(tensors, dim=0):
    """torch.stack: join equally shaped tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(shape)} at entry 0 and {list(t.shape)} at entry {i}")
    d = norm_dim(dim, len(shape) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(a, split_size_or_sections, dim=0):
    """torch.split: views of ``a`` along ``dim`` of the given size(s)."""
    d = norm_dim(dim, a.dim())
    size = a.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [_py_min(step, size - s) for s in range(0, size, step)] or [0]
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
    """torch.chunk: at most ``chunks`` views of equal size (the last may be smaller)."""
    d = norm_dim(dim, a.dim())
    step = -(-a.shape[d] // chunks)
    return split(a, step, d)


def index_select(a, dim, index):
    d = norm_dim(dim, a.dim())
    if index.dtype.is_float or index.dtype == bool_:
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    size = a.shape[d]
    if index._sym is None and index.numel():
        values = index._host()
        bad = values[(values < -size) | (values >= size)]
        if bad.size:
            raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {d} "
                             f"with size {size}")
    # negative indices count from the end, as in PyTorch
    index = apply("where", apply("lt", index, 0), apply("add", index, size), index)
    flat = reshape(index, (-1,))
    n = flat.shape[0]
    shape = [1] * a.dim()
    shape[d] = n
    full = list(a.shape)
    full[d] = n
    idx = expand(reshape(flat, shape), full)
    return _named(apply("gather", a, idx, axis=d), "IndexSelectBackward0", a)


def gather(a, dim, index):
    return apply("gather", a, index, axis=norm_dim(dim, a.dim()))


# -- method table -------------------------------------------------------------------------
def install(T) -> None:
    """Attaches the operations above to the Tensor class as methods and operators."""
    for op, name in [("add", "__add__"), ("sub", "__sub__"), ("mul", "__mul__"),
                     ("div", "__truediv__"), ("lt", "__lt__"), ("le", "__le__"),
                     ("gt", "__gt__"), ("ge", "__ge__"), ("eq", "__eq__"), ("ne", "__ne__"),
                     ("logical_and", "__and__")]:
        setattr(T, name, _binary_method(op))
    T.__rsub__ = lambda self, other: rsub(self, other)
    for op, name in [("add", "__radd__"), ("mul", "__rmul__"), ("div", "__rtruediv__")]:
        setattr(T, name, _rbinary_method(op))
    for name in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(T, name, _binary_method(name))
    T.__neg__ = neg
    T.__pow__ = pow
    T.__rpow__ = lambda self, other: pow(other, self)
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__getitem__ = getitem
    T.__abs__ = lambda self: apply("abs", self)
    for name in ("add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid",
                 "relu", "sqrt", "rsqrt", "abs", "sign", "clamp", "maximum", "minimum",
                 "matmul", "mm", "bmm", "sum", "mean", "max", "min", "amax", "amin", "argmax",
                 "argmin", "split", "chunk", "reshape", "flatten", "permute", "transpose",
                 "t", "unsqueeze", "squeeze", "expand", "contiguous", "clone", "index_select", "gather"):
        setattr(T, name, globals()[name])
    T.multiply, T.divide, T.subtract, T.negative = mul, div, sub, neg
    T.clip = clamp
    T.view = reshape
    T.T = property(lambda self: permute(self, tuple(reversed(range(self.dim())))))
    T.mT = property(lambda self: transpose(self, -2, -1))
    T.expand_as = lambda self, other: expand(self, tuple(other.shape))
    T.view_as = lambda self, other: reshape(self, tuple(other.shape))
    T.reshape_as = T.view_as
    T.type_as = lambda self, other: to_dtype(self, other.dtype)
    T.float = lambda self: to_dtype(self, float32)
    T.double = lambda self: to_dtype(self, by_name("float64"))
    T.long = lambda self: to_dtype(self, int64)
    T.int = lambda self: to_dtype(self, by_name("int32"))
    T.bool = lambda self: to_dtype(self, bool_)
    T.to = _to
    T.cpu = lambda self: self
    T.softmax = lambda self, dim: __import__("graphnn.nn.functional", fromlist=["x"]).softmax(
        self, dim)
    T.log_softmax = lambda self, dim: __import__(
        "graphnn.nn.functional", fromlist=["x"]).log_softmax(self, dim)


def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``."""
    T = _T()
    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, DType):
            dtype = a
        elif isinstance(a, T):
            dtype = a.dtype
    return to_dtype(self, dtype) if dtype is not None else self
