"""Tensor functions composed from the ops: ``repeat``, ``tile``, ``flip``, ``roll``,
``tril``/``triu``, ``diag``/``diagonal``, ``eye``, ``outer``, ``einsum``, ``cumsum``,
``any``/``all``/``count_nonzero``/``isin``, and the ``new_*`` constructors. Each gets its
gradient from the primitives it is built from."""
from __future__ import annotations

import builtins
import string

import numpy as np

from graphnn import _ops, _views
from graphnn._creation import full, tensor
from graphnn._dispatch import apply
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._views import _shape_args, norm_dim
from graphnn.ir.types import DType, bool_, by_name, float32, int64

_py_sum = builtins.sum


def _iota(shape: tuple, axis: int, dtype: DType = int64) -> Tensor:
    return apply("iota", shape=tuple(shape), axis=axis, dtype=dtype.name)


# -- repetition and reordering -------------------------------------------------------------
def repeat(a: Tensor, *sizes) -> Tensor:
    """``a`` tiled ``sizes[i]`` times along each dim (leading sizes add dims): an expand of an
    interleaved view, then a reshape."""
    sizes = _shape_args(sizes)
    if len(sizes) < a.dim():
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    shape = (1,) * (len(sizes) - a.dim()) + tuple(a.shape)
    inter = []
    for s in shape:
        inter += [1, s]
    x = _views.reshape(a, tuple(inter))
    big = []
    for r, s in zip(sizes, shape):
        big += [r, s]
    x = _views.expand(x, tuple(big))
    return _views.reshape(x, tuple(r * s for r, s in zip(sizes, shape)))


def tile(a: Tensor, dims) -> Tensor:
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    return repeat(a, (1,) * (a.dim() - len(dims)) + dims)


def flip(a: Tensor, dims) -> Tensor:
    """``a`` reversed along ``dims`` (a copy, as PyTorch's), read by index."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    out = a
    for d in sorted({norm_dim(d, a.dim()) for d in dims}):
        n = a.shape[d]
        if n <= 1:
            continue
        shape = tuple(out.shape)
        rev = apply("sub", n - 1, _iota(shape, d))
        out = _views.gather(out, d, rev)
    return out if out is not a else _views.clone(a)


def roll(a: Tensor, shifts, dims=None) -> Tensor:
    """Elements shifted by ``shifts`` along ``dims`` with wrap-around (the flattened tensor
    when ``dims`` is None): two slices joined."""
    if dims is None:
        return _views.reshape(roll(_views.reshape(a, (-1,)), shifts, 0), tuple(a.shape))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    out = a
    for s, d in zip(shifts, dims):
        d = norm_dim(d, a.dim())
        n = a.shape[d]
        s = s % n if n else 0
        if s == 0:
            continue
        lead = (slice(None),) * d
        out = _ops.cat([out[lead + (slice(n - s, n),)], out[lead + (slice(0, n - s),)]], d)
    return out if out is not a else _views.clone(a)


# -- triangles and diagonals ---------------------------------------------------------------
def _triangle(a: Tensor, diagonal: int, lower: bool) -> Tensor:
    if a.dim() < 2:
        raise RuntimeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 "
                           "dimensions")
    shape = tuple(a.shape)
    offset = apply("sub", _iota(shape, a.dim() - 1), _iota(shape, a.dim() - 2))
    keep = apply("le" if lower else "ge", offset, diagonal)
    return apply("where", keep, a, False if a.dtype == bool_ else 0)


def tril(a: Tensor, diagonal: int = 0) -> Tensor:
    return _ops._named(_triangle(a, diagonal, True), "TrilBackward0", a)


def triu(a: Tensor, diagonal: int = 0) -> Tensor:
    return _ops._named(_triangle(a, diagonal, False), "TriuBackward0", a)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    dtype = by_name(dtype) if isinstance(dtype, str) else (dtype or float32)
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    from graphnn._creation import check_room
    check_room((n, m), dtype)
    out = _ops.to_dtype(apply("eq", _iota((n, m), 0), _iota((n, m), 1)), dtype)
    return out.requires_grad_(True) if requires_grad else out


def diagonal(a: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the 2-D planes (dim1, dim2) as a view (the last dim of the result)."""
    d1, d2 = norm_dim(dim1, a.dim()), norm_dim(dim2, a.dim())
    rest = [d for d in range(a.dim()) if d not in (d1, d2)]
    x = _views.permute(a, rest + [d1, d2])
    n1, n2 = x.shape[-2], x.shape[-1]
    start1, start2 = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(n1 - start1, n2 - start2))
    lead = tuple(x.shape[:-2])
    # every (n2 + 1)-th element of the flattened plane, from (start1, start2): a view when
    # the planes are contiguous, as PyTorch's diagonal
    flat = _views.reshape(x, lead + (n1 * n2,))
    start = start1 * n2 + start2
    stop = start + (length - 1) * (n2 + 1) + 1 if length else start
    return flat[(...,) + (slice(start, stop, n2 + 1),)]


def diag(a: Tensor, diagonal_: int = 0) -> Tensor:
    """A 1-D input becomes a square matrix with it on the ``diagonal``-th diagonal; a 2-D
    input gives that diagonal (a copy)."""
    if a.dim() == 1:
        n = a.shape[0] + abs(diagonal_)
        row, col = _iota((n, n), 0), _iota((n, n), 1)
        on = apply("eq", apply("sub", col, row), diagonal_)
        pos = row if diagonal_ >= 0 else col
        idx = _ops.clamp(pos, max=a.shape[0] - 1)
        vals = _views.gather(_views.expand(_views.reshape(a, (1, -1)), (n, a.shape[0])), 1,
                             idx)
        return apply("where", on, vals, 0)
    if a.dim() == 2:
        return _views.clone(diagonal(a, diagonal_))
    raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{a.dim()}D")


def outer(a: Tensor, b: Tensor) -> Tensor:
    """(n,) x (m,) -> (n, m); RuntimeError for operands that are not 1-D."""
    for name, t in (("self", a), ("vec2", b)):
        if t.dim() != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.dim()}-D")
    return _views.reshape(a, (-1, 1)) * _views.reshape(b, (1, -1))


# -- scans and logical reductions -----------------------------------------------------------
def cumsum(a: Tensor, dim: int, dtype=None) -> Tensor:
    """Inclusive prefix sums along ``dim`` in log2(n) steps, each adding a copy shifted by
    1, 2, 4, ... (Hillis-Steele), so every step is elementwise and fuses."""
    if dtype is not None:
        a = _ops.to_dtype(a, dtype)
    elif not a.dtype.is_float:
        a = _ops.to_dtype(a, int64)
    d = norm_dim(dim, a.dim())
    if a.dim() == 0:
        return _views.clone(a)
    n = a.shape[d]
    out = a
    shift = 1
    lead = (slice(None),) * d
    while shift < n:
        zeros_shape = tuple(out.shape[:d]) + (shift,) + tuple(out.shape[d + 1:])
        moved = _ops.cat([_ops.mul(_views.expand(out[lead + (slice(0, 1),)], zeros_shape), 0),
                          out[lead + (slice(0, n - shift),)]], d)
        out = out + moved
        shift *= 2
    return _ops._named(out if out is not a else _views.clone(a), "CumsumBackward0", a)


def any(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    nonzero = apply("ne", a, False if a.dtype == bool_ else 0)
    return _ops.to_dtype(_ops.amax(_ops.to_dtype(nonzero, int64), dim, keepdim), bool_)


def all(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    nonzero = apply("ne", a, False if a.dtype == bool_ else 0)
    return _ops.to_dtype(_ops.amin(_ops.to_dtype(nonzero, int64), dim, keepdim), bool_)


def count_nonzero(a: Tensor, dim=None) -> Tensor:
    return _ops.sum(_ops.to_dtype(apply("ne", a, 0), int64), dim)


def isin(elements, test_elements, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """Whether each element occurs in ``test_elements`` (one compare per pair)."""
    if not isinstance(elements, Tensor):
        elements = tensor(elements)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements)
    tests = _views.reshape(test_elements, (-1,))
    hit = apply("eq", _views.unsqueeze(elements, -1), tests)
    if not tests.shape[0]:
        found = apply("ne", elements, elements) & False
    else:
        found = any(hit, -1)
    return apply("eq", found, False) if invert else found


# -- einsum --------------------------------------------------------------------------------
def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation: each operand is permuted and broadcast into one index space,
    multiplied, and summed over the indices missing from the output (implicit output:
    the indices that occur once, sorted)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    # PyTorch contracts through bmm: one dtype, and no bools
    for op in operands[1:]:
        if op.dtype != operands[0].dtype:
            if bool_ in (op.dtype, operands[0].dtype):
                raise NotImplementedError("\"bmm\" not implemented for 'Bool'")
            raise RuntimeError(f"expected scalar type {SCALAR_NAMES[operands[0].dtype.name]} "
                               f"but found {SCALAR_NAMES[op.dtype.name]}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} operands in the equation but "
                           f"{len(operands)} given")
    terms = [_expand_ellipsis(t, op.dim()) for t, op in zip(terms, operands)]
    if not arrow:
        counts = {c: _py_sum(t.count(c) for t in terms) for t in terms for c in t}
        rhs = "".join(sorted(c for c, k in counts.items() if k == 1))
    else:
        width = max((op.dim() - len(t.replace("...", "")) for t, op in
                     zip(lhs.split(","), operands)), default=0)
        rhs = rhs.replace("...", _ELLIPSIS[-width:] if width else "")
    letters = list(rhs) + sorted({c for t in terms for c in t} - set(rhs))
    sizes: dict[str, int] = {}
    product = None
    for term, op in zip(terms, operands):
        x = op
        # repeated indices in one operand (a trace, "ii"): take the diagonal first
        while len(set(term)) < len(term):
            c = next(c for c in term if term.count(c) > 1)
            i, j = term.index(c), term.index(c, term.index(c) + 1)
            x = diagonal(x, 0, i, j)
            term = "".join(ch for k, ch in enumerate(term) if k not in (i, j)) + c
        for c, s in zip(term, x.shape):
            if sizes.setdefault(c, s) != s and s != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes "
                                   f"(original->remapped): size {s} for index {c} vs "
                                   f"{sizes[c]}")
            sizes[c] = max(sizes[c], s)
        order = [term.index(c) for c in letters if c in term]
        x = _views.permute(x, order) if order != list(range(len(order))) else x
        shape = tuple(x.shape[[c for c in letters if c in term].index(c)] if c in term else 1
                      for c in letters)
        x = _views.reshape(x, shape)
        product = x if product is None else product * x
    reduce = tuple(range(len(rhs), len(letters)))
    out = _ops.sum(product, reduce) if reduce else product
    return _views.expand(out, tuple(sizes[c] for c in rhs)) if rhs else out


_ELLIPSIS = "".join(c for c in string.ascii_uppercase)


def _expand_ellipsis(term: str, ndim: int) -> str:
    if "..." not in term:
        if len(term) != ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                               f"({len(term)}) does not match the number of dimensions "
                               f"({ndim}) for operand")
        return term
    n = ndim - len(term.replace("...", ""))
    return term.replace("...", _ELLIPSIS[-n:] if n else "")


# -- constructors --------------------------------------------------------------------------
def _dtype(dtype, default: DType) -> DType:
    if dtype is None:
        return default
    return by_name(dtype) if isinstance(dtype, str) else dtype


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    out = full(tuple(_shape_args((size,) if isinstance(size, int) else (size,))),
               fill_value, dtype=_dtype(dtype, self.dtype))
    return out.requires_grad_(True) if requires_grad else out


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return new_full(self, _shape_args(size), 0, dtype=dtype, requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return new_full(self, _shape_args(size), 1, dtype=dtype, requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return new_zeros(self, *size, dtype=dtype, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    out = tensor(np.asarray(data.detach().numpy() if isinstance(data, Tensor) else data),
                 dtype=_dtype(dtype, self.dtype))
    return out.requires_grad_(True) if requires_grad else out


def type_(self, dtype=None, non_blocking: bool = False, **kwargs):
    """``type()``: PyTorch's type name (``torch.FloatTensor``); ``type(dtype)``: a cast."""
    if dtype is None:
        return self.type_name()
    if isinstance(dtype, str) and dtype.startswith("torch."):
        names = {"torch.FloatTensor": "float32", "torch.DoubleTensor": "float64",
                 "torch.LongTensor": "int64", "torch.IntTensor": "int32",
                 "torch.BoolTensor": "bool"}
        dtype = names.get(dtype, dtype)
    return _ops.to_dtype(self, _dtype(dtype, self.dtype))


def install(T) -> None:
    for name in ("repeat", "tile", "flip", "roll", "tril", "triu", "diagonal", "diag",
                 "outer", "cumsum", "any", "all", "count_nonzero", "new_full", "new_zeros",
                 "new_ones", "new_empty", "new_tensor"):
        setattr(T, name, globals()[name])
    T.type = type_
    T.is_cuda = property(lambda self: False)
    T.is_xpu = property(lambda self: False)
    T.fliplr = lambda self: flip(self, 1)
    T.flipud = lambda self: flip(self, 0)


install(Tensor)
