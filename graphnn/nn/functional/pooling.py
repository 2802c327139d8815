"""Max pooling over 1 to 3 spatial dims, its indices and its inverse (``max_unpool``).

Shapes: ``(N, C, L)`` / ``(N, C, H, W)`` / ``(N, C, D, H, W)``, or the same without N
(unbatched). Output sizes follow PyTorch's ``pooling_output_shape``:
``out = floor((in + 2*pad - dilation*(k-1) - 1 + (stride-1 if ceil_mode)) / stride) + 1``,
less one when ceil_mode lets the last window start past the input and its left padding.

How they are built:

- 2-d: the ``max_pool2d`` primitive (its VJP routes each window's gradient to the first
  maximum, as PyTorch's CPU kernel does: ``max_pool2d_grad``, or for overlapping windows
  the argmax and an accumulating ``scatter_set``) and, for ``return_indices``,
  ``max_pool2d_argmax`` (the position ``h * W + w`` of that maximum, int64).
- 1-d: the 2-d primitives on ``(N, C, 1, L)`` with ``(1, k)`` windows.
- 3-d: the 2-d primitives on each depth plane (``(N, C*D, H, W)``), then a running
  maximum over the ``kD`` depth taps (strided slices of the pooled planes, depth padding
  as -inf): elementwise compares and selects (one kernel without depth padding; a padded
  tap's placement is stored by a kernel of its own, as it has two users). A later tap wins
  only when strictly greater, so ties keep the lowest depth and, within its plane, the
  first (h, w): the first maximum in (d, h, w) order, PyTorch's choice for both the index
  and the gradient (routed through the selects and the 2-d VJP).

Min pooling is ``-max_pool(-x)`` (PyTorch has no min pooling function)."""
from __future__ import annotations

from graphnn import _ops, _trace
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.ops.nn import _pool_out
from graphnn.nn.functional._base import _where, graph_function
from graphnn.nn.functional._dtypes import kernel_float

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
           "max_pool2d_with_indices", "max_pool3d_with_indices", "max_unpool1d",
           "max_unpool2d", "max_unpool3d"]

_RANK_WORDS = {1: ("2D", "3D"), 2: ("3D", "4D"), 3: ("4D", "5D")}


def _ntuple(v, n: int, fn: str, name: str) -> tuple[int, ...]:
    """``v`` as n ints (an int, or a tuple/list of 1 or n ints), else PyTorch's error."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            pair = {1: "a single int", 2: "a tuple of two ints", 3: "a tuple of three ints"}
            raise RuntimeError(f"{_where(fn)}{name} must either be a single int, or "
                               f"{pair[n]}")
        return tuple(int(e) for e in v)
    return (int(v),) * n


def pool_input(input: Tensor, n: int, fn: str) -> tuple[Tensor, bool]:
    """``input`` with its batch dim (added when unbatched) and whether it was unbatched;
    raises PyTorch's error for a rank other than n+1 or n+2 or an empty non-batch dim."""
    lo, hi = _RANK_WORDS[n]
    d = input.dim()
    if d not in (n + 1, n + 2) or any(s == 0 for s in input.shape[d - n - 1:]):
        raise RuntimeError(f"{_where(fn)}Expected {lo} or {hi} (batch mode) tensor with "
                           f"optional 0 dim batch size for input, but got: "
                           f"{list(input.shape)}")
    unbatched = d == n + 1
    return (_ops.unsqueeze(input, 0) if unbatched else input), unbatched


def window_args(fn: str, n: int, kernel_size, stride, padding, dilation=1):
    """kernel, stride (defaults to kernel), padding and dilation as n-tuples, checked."""
    k = _ntuple(kernel_size, n, fn, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _ntuple(stride, n, fn, "stride")
    p = _ntuple(padding, n, fn, "padding")
    d = _ntuple(dilation, n, fn, "dilation")
    for name, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if any(e <= 0 for e in v):
            raise RuntimeError(f"{_where(fn)}{name} must be greater than zero, but got "
                               f"{name}={v if n > 1 else v[0]}")
    if any(e < 0 for e in p):
        raise RuntimeError(f"{_where(fn)}pad must be non-negative, but got pad: "
                           f"{p if n > 1 else p[0]}")
    for ke, pe, de in zip(k, p, d):
        if pe > ke // 2:
            raise RuntimeError(f"{_where(fn)}pad should be at most half of effective kernel "
                               f"size, but got pad={pe}, kernel_size={ke} and dilation={de}")
    return k, s, p, d


def out_sizes(fn: str, x: Tensor, k, s, p, d, ceil_mode: bool) -> tuple[int, ...]:
    """The pooled sizes of x's trailing dims (PyTorch's pooling_output_shape), or its
    "Output size is too small" error."""
    n = len(k)
    sizes = tuple(x.shape[-n:])
    out = tuple(_pool_out(i, *a, bool(ceil_mode)) for i, *a in zip(sizes, k, s, p, d))
    if any(o <= 0 for o in out):
        c = x.shape[-n - 1]
        raise RuntimeError(f"{_where(fn)}Given input size: ({'x'.join(map(str, (c,) + sizes))})"
                           f". Calculated output size: ({'x'.join(map(str, (c,) + out))}). "
                           "Output size is too small")
    return out


def beats(v: Tensor, best: Tensor) -> Tensor:
    """Where ``v`` replaces the running maximum ``best``: greater, or NaN where ``best`` is
    not (PyTorch's max pooling propagates NaN; the first NaN wins)."""
    nan_v = apply("logical_and", apply("ne", v, v), apply("eq", best, best))
    return apply("where", apply("gt", v, best), True, nan_v)


def _iota(shape, axis):
    return apply("iota", shape=tuple(shape), axis=axis, dtype="int64")


def _pool2d(x: Tensor, k, s, p, d, ceil: bool, indices: bool):
    at = dict(kernel=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil))
    y = apply("max_pool2d", x, **at)
    return (y, apply("max_pool2d_argmax", x, **at)) if indices else (y, None)


def tap(x: Tensor, axes, outs, starts, steps, fill) -> Tensor | None:
    """``x`` read at ``o * step + start`` along each of ``axes`` for o < out (start may be
    negative: padding), ``fill`` where that is outside x (None when no o reads x): a
    strided slice of x placed by ``slice_grad`` (zeros elsewhere) and, for another fill, a
    select on the output position. Read straight from x (no padded copy, which a consumer
    could only read through a materialised buffer), so a sum of taps fuses into one
    kernel."""
    shape = list(x.shape)
    place, full = [0] * x.dim(), list(shape)           # slice_grad's offsets and shape
    starts_, stops_, steps_ = [0] * x.dim(), list(shape), [1] * x.dim()
    ranges = []
    for a, o, b, s in zip(axes, outs, starts, steps):
        lo = (-b + s - 1) // s if b < 0 else 0           # first o that reads x
        hi = min(o, (shape[a] - 1 - b) // s + 1)         # past the last one
        if hi <= lo:
            return None
        ranges.append((lo, hi))
        place[a], full[a] = lo, o
        starts_[a], stops_[a], steps_[a] = b + lo * s, b + (hi - 1) * s + 1, s
    v = apply("slice", x, starts=tuple(starts_), stops=tuple(stops_), steps=tuple(steps_))
    if tuple(v.shape) == tuple(full):
        return v
    v = apply("slice_grad", v, shape=tuple(full), starts=tuple(place), steps=(1,) * x.dim())
    if fill == 0:
        return v
    inside = None
    for a, o, (lo, hi) in zip(axes, outs, ranges):
        if lo == 0 and hi == o:
            continue
        pos = _iota(tuple(o if e == a else 1 for e in range(x.dim())), a)
        ok = apply("logical_and", apply("ge", pos, lo), apply("lt", pos, hi))
        inside = ok if inside is None else apply("logical_and", inside, ok)
    return apply("where", inside, v, fill)


@graph_function
def _max_pool_nd(x: Tensor, k, s, p, d, ceil_mode: bool, indices: bool):
    """Values (and int64 flat indices) of n-d max pooling, x batched (N, C, *spatial)."""
    n = len(k)
    shape = tuple(x.shape)
    if n == 1:
        y, i = _pool2d(_ops.unsqueeze(x, 2), (1,) + k, (1,) + s, (0,) + p, (1,) + d,
                       ceil_mode, indices)
        y, i = _ops.squeeze(y, 2), (_ops.squeeze(i, 2) if indices else None)
        return (y, i) if indices else y
    if n == 2:
        y, i = _pool2d(x, k, s, p, d, ceil_mode, indices)
        return (y, i) if indices else y
    # 3-d: 2-d pooling of every depth plane, then the first maximum over the depth taps
    nb, c, dep, h, w = shape
    od = _pool_out(dep, k[0], s[0], p[0], d[0], bool(ceil_mode))
    y2, i2 = _pool2d(_ops.reshape(x, (nb, c * dep, h, w)), k[1:], s[1:], p[1:], d[1:],
                     ceil_mode, indices)
    oh, ow = y2.shape[2:]
    y2 = _ops.reshape(y2, (nb, c, dep, oh, ow))
    i2 = _ops.reshape(i2, (nb, c, dep, oh, ow)) if indices else None
    vals, idxs = [], []
    for t in range(k[0]):
        start = t * d[0] - p[0]
        v = tap(y2, (2,), (od,), (start,), (s[0],), float("-inf"))
        if v is None:            # a tap that only ever reads padding
            continue
        vals.append(v)
        if indices:
            # the flat index in (D, H, W): the plane's h * W + w plus its depth times H * W
            depth = _iota((1, 1, od, 1, 1), 2) * s[0] + start
            idxs.append(tap(i2, (2,), (od,), (start,), (s[0],), 0) + depth * (h * w))
    best = vals[0]
    at = idxs[0] if indices else None
    for t in range(1, len(vals)):
        later = beats(vals[t], best)
        best = apply("where", later, vals[t], best)
        if indices:
            at = apply("where", later, idxs[t], at)
    return (best, at) if indices else best


def _max_pool(fn: str, n: int, input: Tensor, kernel_size, stride, padding, dilation,
              ceil_mode: bool, return_indices: bool):
    x, unbatched = pool_input(input, n, fn)
    # PyTorch's kernels: max_pool1d without indices takes floats only, the others integers too
    kernel_float({1: "max_pool1d_impl", 2: "max_pool2d", 3: "max_pool3d"}[n], input,
                 ints=n > 1 or bool(return_indices))
    k, s, p, d = window_args(fn, n, kernel_size, stride, padding, dilation)
    out_sizes(fn, x, k, s, p, d, ceil_mode)
    out = _max_pool_nd(x, k, s, p, d, bool(ceil_mode), bool(return_indices))
    return max_result(out, return_indices, unbatched, input,
                      {1: "SqueezeBackward1", 2: "MaxPool2DWithIndicesBackward0",
                       3: "MaxPool3DWithIndicesBackward0"}[n])


def max_result(out, return_indices: bool, unbatched: bool, input: Tensor, grad_name: str):
    """A max pooling's values (and indices with ``return_indices``) without the batch
    dimension an unbatched ``input`` was given, the values named ``grad_name``."""
    y, i = out if return_indices else (out, None)
    if unbatched:
        y = _ops.squeeze(y, 0)
        i = _ops.squeeze(i, 0) if i is not None else None
    y = _ops._named(y, grad_name, input)
    return (y, i) if return_indices else y


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of ``kernel_size`` along L: (N, C, L) or (C, L) ->
    (N, C, L_out) float (and int64 positions in L with ``return_indices``).
    Raises RuntimeError for a bad rank, non-positive kernel/stride/dilation, padding over
    half the kernel or an empty output (PyTorch's MaxPool1d rules)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over kH x kW windows: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out)
    (and int64 positions ``h * W + w`` with ``return_indices``); output sizes and errors as
    in PyTorch's MaxPool2d docs."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over kD x kH x kW windows: (N, C, D, H, W) or (C, D, H, W) ->
    (N, C, D_out, H_out, W_out) (and int64 positions ``(d * H + h) * W + w`` with
    ``return_indices``); output sizes and errors as in PyTorch's MaxPool3d docs."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# -- max_unpool ------------------------------------------------------------------------------
def _unpool_output_size(fn: str, x: Tensor, k, s, p, output_size) -> tuple[int, ...]:
    """PyTorch's ``_unpool_output_size``: (in - 1) * stride + kernel - 2 * padding, or the
    given size when it is within one stride of that."""
    n = len(k)
    default = [(x.shape[x.dim() - n + d] - 1) * s[d] + k[d] - 2 * p[d] for d in range(n)]
    if output_size is None:
        return tuple(default)
    out = [int(o) for o in (output_size if isinstance(output_size, (tuple, list))
                            else (output_size,))]
    if len(out) == n + 2:
        out = out[2:]
    if len(out) != n:
        raise ValueError(f"{_where(fn)}output_size should be a sequence containing {n} or "
                         f"{n + 2} elements, but it has a length of '{len(out)}'")
    for d in range(n):
        lo, hi = default[d] - s[d], default[d] + s[d]
        if not lo < out[d] < hi:
            raise ValueError(f'{_where(fn)}invalid output_size "{tuple(output_size)}" '
                             f"(dim {d} must be between {lo} and {hi})")
    return tuple(out)


@graph_function
def _max_unpool_nd(x: Tensor, idx: Tensor, out: tuple):
    """x and idx (N, C, *in) -> (N, C, *out): out.flat[idx[j]] = x[j], zeros elsewhere, the
    last j naming a position winning (PyTorch's CPU loop writes in order); the gradient is
    PyTorch's ``grad_out.flat[idx[j]]`` for every j (the ``scatter_set`` primitive)."""
    nb, c = x.shape[:2]
    o = 1
    for e in out:
        o *= e
    y = apply("scatter_set", _ops.reshape(x, (nb, c, -1)), _ops.reshape(idx, (nb, c, -1)),
              size=o, accumulate=False)
    return _ops.reshape(y, (nb, c) + tuple(out))


def _max_unpool(fn: str, n: int, input: Tensor, indices: Tensor, kernel_size, stride,
                padding, output_size):
    lo, hi = n + 1, n + 2
    if input.dim() == 0:    # PyTorch reads input.size()[-n] in Python first
        raise IndexError(f"{_where(fn)}tuple index out of range")
    if input.dim() not in (lo, hi):
        raise RuntimeError(f"{_where(fn)}Input to max_unpooling{n}d should be a {lo}d or "
                           f"{hi}d Tensor, but got a tensor with {input.dim()} dimensions.")
    kernel_float("max_unpool3d" if n == 3 else "max_unpool2d", input)
    if indices.dtype.name != "int64":
        raise RuntimeError(f"{_where(fn)}elements in indices should be type int64 but got: "
                           f"{indices.dtype.name.capitalize()}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{_where(fn)}Expected shape of indices to be same as that of the "
                           f"input tensor ({list(input.shape)}) but got indices tensor with "
                           f"shape: {list(indices.shape)}")
    k = _ntuple(kernel_size, n, fn, "kernel_size")
    s = k if stride is None else _ntuple(stride, n, fn, "stride")
    p = _ntuple(padding, n, fn, "padding")
    out = _unpool_output_size(fn, input, k, s, p, output_size)
    for i, e in enumerate(out):
        if e < 0:
            raise ValueError(f"{_where(fn)}max_unpooling: output_size must contain "
                             f"non-negative spatial dimensions, but got output_size[{i}]={e} "
                             f"(kernel_size {k}, stride {s}, padding {p})")
    if any(e <= 0 for e in out):
        raise RuntimeError(f"{_where(fn)}max_unpooling: output_size must contain positive "
                           f"spatial dimensions, but got {list(out)}")
    total = 1
    for e in out:
        total *= e

    def check(values):
        bad = values[(values < 0) | (values >= total)]
        if bad.size:
            raise RuntimeError(f"{_where(fn)}Found an invalid max index: {int(bad.flat[0])} "
                               f"(output volumes are of size {'x'.join(map(str, out))})")
    _trace.check_values(indices, check)
    unbatched = input.dim() == lo
    x = _ops.unsqueeze(input, 0) if unbatched else input
    i = _ops.unsqueeze(indices, 0) if unbatched else indices
    y = _max_unpool_nd(x, i, out)
    y = _ops.squeeze(y, 0) if unbatched else y
    name = {1: "SqueezeBackward1", 2: "MaxUnpool2DBackward0", 3: "MaxUnpool3DBackward0"}[n]
    return _ops._named(y, name, input)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool1d: (N, C, L) or (C, L) values and their int64
    indices -> (N, C, L_out) with zeros where no index points, L_out =
    (L - 1) * stride + kernel_size - 2 * padding or ``output_size``. Raises RuntimeError
    for a bad rank, index dtype or shape, or an index outside [0, L_out); ValueError for an
    output_size more than a stride away from the default (PyTorch's rules)."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool2d: (N, C, H, W) or (C, H, W) and indices into the
    output plane -> (N, C, H_out, W_out), zeros elsewhere (see ``max_unpool1d``)."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool3d: (N, C, D, H, W) or (C, D, H, W) and indices into
    the output volume -> (N, C, D_out, H_out, W_out), zeros elsewhere."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)
