"""Tensor operations, written once on top of ``apply`` and attached to ``Tensor`` as methods.

Shapes follow PyTorch: broadcasting for arithmetic, ``dim``/``keepdim`` for reductions,
views for movement ops. Each function raises PyTorch's error type for bad arguments before
anything is traced or run."""
from __future__ import annotations

import builtins
import functools
from collections import namedtuple

from graphnn._dispatch import apply
from graphnn._trace import current
from graphnn._tensor import C10_NAMES, SCALAR_NAMES, Tensor, check_scalar_fits
# the view and indexing ops are part of the op namespace (``_ops.reshape`` ...)
from graphnn._views import (_dims, _named, chunk, clone, contiguous, expand, flatten,  # noqa
                            gather, getitem, index_select, narrow, norm_dim, permute,
                            reshape, select, split, squeeze, t, transpose, unbind,
                            unsqueeze, view)
from graphnn.ir.types import DType, bool_, broadcast_shapes, by_name, float32, int64

_py_max, _py_min, _py_sum = builtins.max, builtins.min, builtins.sum


# -- arithmetic ---------------------------------------------------------------------------
def add(a, b, alpha=1):
    return apply("add", a, b if alpha == 1 else mul(b, alpha))


def _no_bool_sub(a, b) -> None:
    """PyTorch refuses ``-`` on bool tensors (``~`` or ``^`` is meant)."""
    bools = [isinstance(v, Tensor) and v.dtype == bool_ for v in (a, b)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not "
                           "supported. If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")


def sub(a, b, alpha=1):
    _no_bool_sub(a, b)
    return apply("sub", a, b if alpha == 1 else mul(b, alpha))


def rsub(a, b, alpha=1):
    """``b - alpha * a`` (``torch.rsub``, and ``2 - x``)."""
    _no_bool_sub(a, b)
    return _named(apply("sub", b, a if alpha == 1 else mul(a, alpha)), "RsubBackward1", a)


def mul(a, b):
    return apply("mul", a, b)


def div(a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise NotImplementedError("div(rounding_mode=...) is not supported yet")
    return apply("div", a, b)


def pow(a, b):
    T = Tensor
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
    if isinstance(a, Tensor) and a.dtype == bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return apply("neg", a)


def _binary_method(op):
    return lambda self, other: apply(op, self, other)


def _rbinary_method(op):
    return lambda self, other: apply(op, other, self)


for _n in ("exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs", "sign", "sin", "cos"):
    globals()[_n] = (lambda op: lambda a: apply(op, a))(_n)


def square(a):
    """``a * a``: ``torch.square`` (its gradient is ``PowBackward0``, as ``a ** 2``)."""
    return pow(a, 2)


def rsqrt(a):
    return _named(apply("div", 1.0, apply("sqrt", a)), "RsqrtBackward0", a)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    out = a
    # written with where so the gradient passes where x equals a bound, as in PyTorch
    if min is not None:
        out = apply("where", apply("lt", out, min), min, out) if not isinstance(min, Tensor) \
            else apply("where", apply("lt", out, min), min, out)
    if max is not None:
        out = apply("where", apply("gt", out, max), max, out)
    return _named(out, "ClampBackward0" if isinstance(min, Tensor) or isinstance(max, Tensor)
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


def opmath(fn):
    """``fn`` on float32 copies of its 16-bit float tensor arguments, its float results
    rounded once back into their dtype. PyTorch's CPU kernels for these composites (mean,
    var, softmax, the normalizations) compute in float32 (``at::opmath_type``) and round
    only their result; composed here from several kernels, their intermediates would
    otherwise be stored, and rounded, in 16 bits (see docs/design.md, "Storage and compute
    types"). Inside a trace the casts fuse into the kernels next to them."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        low = next((a.dtype for a in (*args, *kwargs.values())
                    if isinstance(a, Tensor) and a.dtype.low_precision), None)
        if low is None:
            return fn(*args, **kwargs)
        out = fn(*map(upcast, args), **{k: upcast(v) for k, v in kwargs.items()})

        def down(o):
            if not isinstance(o, Tensor) or o.dtype != float32:
                return o
            node = getattr(o, "_grad_fn", None)
            r = to_dtype(o, low)
            return _named(r, node.name(), o) if node is not None else r

        if isinstance(out, tuple):
            parts = [down(o) for o in out]
            return out._make(parts) if hasattr(out, "_make") else tuple(parts)
        return down(out)

    return wrapper


def upcast(a):
    """A 16-bit float tensor as float32; anything else (other tensors, None) as it is."""
    return to_dtype(a, float32) if isinstance(a, Tensor) and a.dtype.low_precision else a


# -- matrix products ----------------------------------------------------------------------
def check_same_dtype(a, b) -> None:
    """Products take one dtype: PyTorch raises rather than promote (a float32 input to a
    half model is the usual case)."""
    if a.dtype != b.dtype:
        raise RuntimeError("expected m1 and m2 to have the same dtype, but got: "
                           f"{C10_NAMES[a.dtype.name]} != {C10_NAMES[b.dtype.name]}")


def matmul(a, b):
    da, db = a.dim(), b.dim()
    if da == 0 or db == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{da}D and {db}D")
    if da == 1 and db == 1 and a.dtype != b.dtype:
        raise RuntimeError("dot : expected both vectors to have same dtype, but found "
                           f"{SCALAR_NAMES[a.dtype.name]} and {SCALAR_NAMES[b.dtype.name]}")
    check_same_dtype(a, b)
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
        rows = 1
        for s_ in lead:     # not -1: ambiguous when a's last dim is 0
            rows *= s_
        out = mm(reshape(a, (rows, a.shape[-1])), b)
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
    out = _product(a3, b3)
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
    if bool_ in (a.dtype, b.dtype):
        raise NotImplementedError("\"bmm\" not implemented for 'Bool'")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {SCALAR_NAMES[a.dtype.name]} but found "
                           f"{SCALAR_NAMES[b.dtype.name]}")
    return _named(apply("matmul", a, b, ta=False, tb=False), "BmmBackward0", a, b)


def mm(a, b, ta=False, tb=False):
    if a.dim() != 2 or b.dim() != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {a.dim()}D and {b.dim()}D")
    check_same_dtype(a, b)
    return _product(a, b, ta, tb)


def _product(a, b, ta: bool = False, tb: bool = False):
    """The ``matmul`` primitive of 2-D or batched 3-D operands; in eager mode a transposed
    operand is read through its flag (a trace's simplify pass folds the transposition
    itself)."""
    if current() is None:
        a, ta = _through_flag(a, ta)
        b, tb = _through_flag(b, tb)
    return apply("matmul", a, b, ta=ta, tb=tb)


def _through_flag(x, flag: bool):
    """An eager operand that is the transposition of a dense matrix (a Linear's ``W.T``), or
    of a batch of them (attention's ``k.transpose(-2, -1)``), is read as that matrix with the
    GEMM's transposition flag flipped: made dense, it was a strided copy per product (x @ W.T
    at 256 x 128 x 512 took 403 us, x @ W 141 us), and a batch of them took the generic
    kernel."""
    if x.is_contiguous():
        return x, flag
    xt = x.transpose(-1, -2)
    return (xt, not flag) if xt.is_contiguous() else (x, flag)


# -- reductions ---------------------------------------------------------------------------
def sum(a, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        a = to_dtype(a, dtype)
    axes = _dims(dim, a.dim())
    if not axes:
        return a if a.dtype.is_float else to_dtype(a, int64)
    return _named(apply("sum", a, axes=axes, keepdim=keepdim),
                  "SumBackward0" if dim is None else "SumBackward1", a)


@opmath
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
    # a division by the count, as PyTorch does; a symbolic count (a batch) stays a kernel
    # argument, where a reciprocal would be a float literal of this batch size
    return _named(div(sum(a, dim, keepdim), n),
                  "MeanBackward0" if dim is None else "MeanBackward1", a)


def safe_sqrt(a):
    """sqrt whose gradient is 0, not nan, where ``a`` is 0 (PyTorch's norm and std
    backward mask that point): the double ``where`` keeps 0/0 out of the VJP."""
    zero = apply("eq", a, 0.0)
    return where(zero, 0.0, apply("sqrt", where(zero, 1.0, a)))


def _correction(dim, unbiased, correction, keepdim):
    """PyTorch's var/std overloads: ``var(x, unbiased)``, ``var(x, dim, unbiased,
    keepdim)``, ``var(x, dim, *, correction=1, keepdim)``."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    elif unbiased is not None:
        raise RuntimeError("var(): cannot specify both unbiased and correction")
    return dim, correction, keepdim


@opmath
def var(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with Bessel's ``correction`` (default 1): sum((x - mean)^2) /
    max(0, n - correction)."""
    dim, correction, keepdim = _correction(dim, unbiased, correction, keepdim)
    if not a.dtype.is_float:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    axes = _dims(dim, a.dim())
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    centered = sub(a, mean(a, dim, keepdim=True))
    total = sum(mul(centered, centered), dim, keepdim)
    denom = n - correction
    # no degrees of freedom left: PyTorch divides by zero too (nan or inf)
    out = mul(total, 1.0 / denom) if denom > 0 else div(total, 0.0)
    return _named(out, "VarBackward0", a)


@opmath
def std(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """sqrt(var); the gradient is 0 where the standard deviation is 0."""
    return _named(safe_sqrt(var(a, dim, unbiased, keepdim, correction=correction)),
                  "StdBackward0", a)


def norm(a, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over ``dim`` (all elements by default): ``"fro"`` and 2 give
    sqrt(sum(x^2)), inf/-inf max/min |x|, 0 the count of non-zeros, else sum(|x|^p)^(1/p).
    The gradient at a zero norm is 0, as PyTorch's."""
    if dtype is not None:
        a = to_dtype(a, dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if p == "fro" and dim is not None and len(dim) > 2:
        # PyTorch takes "fro" over more than two dims for a matrix norm, and refuses it
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got "
                           + " ".join(str(d) for d in dim))
    if p in ("fro", 2, 2.0):
        out = safe_sqrt(sum(mul(a, a), dim, keepdim))
    elif p == float("inf"):
        out = amax(apply("abs", a), dim, keepdim)
    elif p == float("-inf"):
        out = amin(apply("abs", a), dim, keepdim)
    elif p == 0:
        # a count: a where with a false condition links it to ``a`` for a zero gradient
        out = apply("where", False, sum(a, dim, keepdim),
                    sum(to_dtype(apply("ne", a, 0.0), a.dtype), dim, keepdim))
    elif p == 1:
        out = sum(apply("abs", a), dim, keepdim)
    elif isinstance(p, str):
        raise RuntimeError(f"norm(): unsupported norm type {p!r}")
    else:
        s = sum(pow(apply("abs", a), float(p)), dim, keepdim)
        zero = apply("eq", s, 0.0)
        out = where(zero, 0.0, pow(where(zero, 1.0, s), 1.0 / p))
    return _named(out, "NormBackward1", a)


MinMax = namedtuple("MinMax", ["values", "indices"])
try:   # PyTorch's own result type names
    MinMax.__name__ = "return_types.max"
except AttributeError:
    pass


def _check_extremum(op: str, a, dim) -> None:
    """PyTorch's errors for a maximum, minimum or arg-extremum over nothing: no dim given
    for an empty tensor, or a reduced dim of size 0 (named as the caller wrote it). A dim
    that is not reduced may be empty: the result is then empty too."""
    if dim is None or dim == ():
        if a.numel() == 0:
            arg = op.startswith("arg")
            raise (IndexError if arg else RuntimeError)(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0."
                + ("" if arg else " Specify the reduction dim with the 'dim' argument."))
        return
    for d in (dim if isinstance(dim, (tuple, list)) else (dim,)):
        if a.dim() and a.shape[norm_dim(d, a.dim())] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _reduce_minmax(op: str, a, dim=None, keepdim=False):
    T = Tensor
    if isinstance(dim, T):
        return apply("maximum" if op == "max" else "minimum", a, dim)
    _check_extremum(op, a, dim)
    if dim is None:
        return _named(apply(op, a, axes=tuple(range(a.dim())), keepdim=False),
                      op.title() + "Backward1", a) if a.dim() else a
    d = norm_dim(dim, a.dim())
    if a.dim() == 0:
        return MinMax(a, to_dtype(a, int64) * 0)
    _nonempty_dim(op, a, d)
    # min: the first maximum of the negation (of the complement, for bools)
    src = a if op == "max" else apply("eq", a, False) if a.dtype == bool_ else apply("neg", a)
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


def _nonempty_dim(fn: str, a, d: int | None) -> None:
    """PyTorch's IndexError for a max/min/argmax over an empty dim (there is no identity)."""
    if d is None:
        if a.numel() == 0:
            raise RuntimeError(f"{fn}(): Expected reduction dim to be specified for "
                               "input.numel() == 0.")
    elif a.dim() and a.shape[d] == 0:
        raise IndexError(f"{fn}(): Expected reduction dim {d} to have non-zero size.")


def amax(a, dim=None, keepdim=False):
    _check_extremum("amax", a, dim)
    return apply("max", a, axes=_dims(dim, a.dim()), keepdim=keepdim)


def amin(a, dim=None, keepdim=False):
    _check_extremum("amin", a, dim)
    return apply("min", a, axes=_dims(dim, a.dim()), keepdim=keepdim)


def argmax(a, dim=None, keepdim=False, _name="argmax"):
    if a.dtype == bool_:
        raise RuntimeError(f"{_name}(): does not support bool input")
    _check_extremum(_name, a, dim)
    if dim is None:
        return apply("argmax", reshape(a, (-1,)), axes=(0,), keepdim=False)
    return apply("argmax", a, axes=(norm_dim(dim, a.dim()),), keepdim=keepdim)


def argmin(a, dim=None, keepdim=False):
    if a.dtype == bool_:
        raise RuntimeError("argmin(): does not support bool input")
    return argmax(neg(a), dim, keepdim, _name="argmin")


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


# -- method table -------------------------------------------------------------------------
def addcmul(a, tensor1, tensor2, value=1):
    """``a + value * tensor1 * tensor2``."""
    prod = mul(tensor1, tensor2)
    return _named(add(a, prod if value == 1 else mul(prod, value)), "AddcmulBackward0", a)


def addcdiv(a, tensor1, tensor2, value=1):
    """``a + value * tensor1 / tensor2``."""
    q = div(tensor1, tensor2)
    return _named(add(a, q if value == 1 else mul(q, value)), "AddcdivBackward0", a)


def lerp(a, end, weight):
    """``a + weight * (end - a)``."""
    return _named(add(a, mul(sub(end, a), weight)), "LerpBackward0", a)


def masked_fill(a, mask, value):
    """``a`` with ``value`` where ``mask`` (bool, broadcast to ``a``) is true."""
    if mask.dtype != bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.name}")
    if isinstance(value, Tensor) and value.dim() != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.dim()} dimension(s).")
    check_scalar_fits(value, a.dtype)
    return _named(where(mask, value, a), "MaskedFillBackward0", a)


def install(T) -> None:
    """Attaches the operations above to the Tensor class as methods and operators."""
    for op, name in [("add", "__add__"), ("mul", "__mul__"),
                     ("div", "__truediv__"), ("lt", "__lt__"), ("le", "__le__"),
                     ("gt", "__gt__"), ("ge", "__ge__"), ("eq", "__eq__"), ("ne", "__ne__"),
                     ("logical_and", "__and__")]:
        setattr(T, name, _binary_method(op))
    T.__sub__ = lambda self, other: sub(self, other)
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
    T.__abs__ = lambda self: apply("abs", self)
    for name in ("add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid",
                 "relu", "sqrt", "rsqrt", "square", "abs", "sign", "sin", "cos", "clamp",
                 "maximum", "minimum",
                 "matmul", "mm", "bmm", "sum", "mean", "max", "min", "amax", "amin", "argmax",
                 "argmin", "masked_fill", "addcmul", "addcdiv", "lerp", "var", "std", "norm"):
        setattr(T, name, globals()[name])
    T.multiply, T.divide, T.subtract, T.negative = mul, div, sub, neg
    T.clip = clamp
    T.type_as = lambda self, other: to_dtype(self, other.dtype)
    T.float = lambda self: to_dtype(self, float32)
    T.double = lambda self: to_dtype(self, by_name("float64"))
    T.half = lambda self: to_dtype(self, by_name("float16"))
    T.bfloat16 = lambda self: to_dtype(self, by_name("bfloat16"))
    T.long = lambda self: to_dtype(self, int64)
    T.int = lambda self: to_dtype(self, by_name("int32"))
    T.bool = lambda self: to_dtype(self, bool_)
    T.to = _to
    T.cpu = lambda self: self


def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``. A device other
    than the one graphnn runs on raises RuntimeError naming both."""
    from graphnn._device import check_device, device as Device
    dtype = kwargs.get("dtype")
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, DType):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, Device)):
            dev = a
    if dev is not None:
        check_device(dev)
    return to_dtype(self, dtype) if dtype is not None else self


install(Tensor)
