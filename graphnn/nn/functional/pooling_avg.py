"""Average, power-average (LP) and adaptive pooling over 1 to 3 spatial dims, composed
from primitives (no kernels of their own).

- ``avg_pool*d``: PyTorch's CPU rule per output position: the window
  ``[o*stride - pad, o*stride - pad + k)`` clipped to ``[-pad, size + pad)`` gives
  ``pool_size`` (the divisor with ``count_include_pad``), clipped to the input it gives the
  summed elements (and the divisor without ``count_include_pad``); ``divisor_override``
  replaces both. The window sum adds the ``kH * kW`` taps, each a strided slice of the
  input placed with zeros (``pooling.tap``), in one elementwise kernel; the divisor is a
  constant of the output positions (the product of per-dim factors). Summing per dim
  (``kH + kW`` terms) would read the first stage's result through a strided view, which
  needs it materialised: a second kernel and a buffer of the input's size (the first
  version, which also padded the input first, took 4 kernels for ``AvgPool2d(3, 2, 1)``).
- ``lp_pool*d``: PyTorch's formula on top of it,
  ``(sign(f) * relu(|f|) * prod(kernel)) ** (1 / p)`` with ``f = avg_pool(x ** p)``;
  ``p = inf`` is max pooling of ``|x|``.
- ``adaptive_avg_pool*d``: window ``i`` of ``out`` over ``L`` is
  ``[floor(i * L / out), ceil((i + 1) * L / out))``. Dims where ``out`` divides ``L`` are
  split by a reshape and averaged by one reduction (``(1, 1)`` of a ``(8, 512, 7, 7)`` map is
  one reduction kernel); any other dim sums its longest window's number of gathered taps
  (taps past a shorter window's end masked) and divides by the window sizes.
- ``adaptive_max_pool*d``: dims that divide are ``max_pool`` with ``kernel = stride =
  L / out`` (its kernels); otherwise, per dim from the last, the ``K`` taps of each window
  (``K`` its longest window; shorter windows repeat their last element, which leaves the
  maximum unchanged) are gathered and the first maximum kept by compares and selects, so
  indices and gradients go to the first maximum in row-major order, PyTorch's choice."""
from __future__ import annotations

import itertools
import math

import numpy as np

from graphnn import _ops
from graphnn._creation import check_room, tensor
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._dtypes import kernel_float
from graphnn.nn.functional._base import _where, graph_function
from graphnn.nn.functional.pooling import (_max_pool_nd, _ntuple, beats, max_pool1d,
                                           max_pool2d, max_pool3d, max_result, out_sizes,
                                           pool_input, tap)

__all__ = ["avg_pool1d", "avg_pool2d", "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices"]


# -- average pooling ---------------------------------------------------------------------
def _divisor(sizes, outs, k, s, p, count_include_pad: bool) -> np.ndarray:
    """PyTorch's divide factor per output position, as a float32 array of shape outs."""
    total = np.ones((), np.float64)
    for size, o, ke, se, pe in zip(sizes, outs, k, s, p):
        start = np.arange(o) * se - pe
        end = np.minimum(start + ke, size + pe)
        if count_include_pad:
            f = end - start
        else:
            f = np.minimum(end, size) - np.maximum(start, 0)
        total = np.multiply.outer(total, f.astype(np.float64))
    return total.astype(np.float32)


@graph_function
def _avg_pool_nd(x: Tensor, k, s, p, ceil_mode: bool, count_include_pad: bool, divisor):
    n = len(k)
    sizes = tuple(x.shape[-n:])
    outs = out_sizes("avg_pool", x, k, s, p, (1,) * n, ceil_mode)
    axes = tuple(range(x.dim() - n, x.dim()))
    y = None
    for offs in itertools.product(*(range(e) for e in k)):
        t = tap(x, axes, outs, tuple(o - pe for o, pe in zip(offs, p)), s, 0)
        if t is not None:
            y = t if y is None else y + t
    if divisor is not None:
        return y / float(divisor)
    return y / tensor(_divisor(sizes, outs, k, s, p, count_include_pad)).to(x.dtype)


def _avg_args(fn: str, n: int, input: Tensor, kernel_size, stride, padding, ceil_mode,
              divisor_override):
    """The checks of average pooling (also run by lp_pool before its power): batched input,
    whether it was unbatched, kernel, stride and padding tuples."""
    if input.dim() == 0 and n == 2:     # PyTorch indexes dim -3 first
        raise IndexError(f"{_where(fn)}Dimension specified as -3 but tensor has no dimensions")
    if input.dim() == 0 and n == 1:
        raise RuntimeError(f"{_where(fn)}Expected 2 to 3 dimensions, but got 0-dimensional "
                           f"tensor for argument #1 'self' (while checking arguments for {fn})")
    x, unbatched = pool_input(input, n, fn)
    kernel_float("avg_pool3d_out_frame" if n == 3 else "avg_pool2d", input, ints=True)
    k = _ntuple(kernel_size, n, fn, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _ntuple(stride, n, fn, "stride")
    p = _ntuple(padding, n, fn, "padding")
    if any(e <= 0 for e in k + s):
        raise RuntimeError(f"{_where(fn)}kernel_size and stride must be greater than zero, "
                           f"but got kernel_size={k}, stride={s}")
    for ke, pe in zip(k, p):
        if pe < 0 or pe > ke // 2:
            raise RuntimeError(f"{_where(fn)}pad should be at most half of effective kernel "
                               f"size, but got pad={pe}, kernel_size={ke} and dilation=1")
    if divisor_override is not None and int(divisor_override) == 0:
        raise RuntimeError(f"{_where(fn)}divisor must be not zero")
    out_sizes(fn, x, k, s, p, (1,) * n, ceil_mode)
    return x, unbatched, k, s, p


def _avg_pool(fn: str, n: int, input: Tensor, kernel_size, stride, padding, ceil_mode,
              count_include_pad, divisor_override):
    x, unbatched, k, s, p = _avg_args(fn, n, input, kernel_size, stride, padding, ceil_mode,
                                      divisor_override)
    y = _avg_pool_nd(x, k, s, p, bool(ceil_mode), bool(count_include_pad),
                     None if divisor_override is None else int(divisor_override))
    y = _ops.squeeze(y, 0) if unbatched else y
    name = {1: "SqueezeBackward1", 2: "AvgPool2DBackward0", 3: "AvgPool3DBackward0"}[n]
    return _ops._named(y, name, input)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows along L: (N, C, L) or (C, L) -> (N, C, L_out). Divisor and output
    size as in PyTorch's AvgPool1d; RuntimeError for a bad rank, non-positive kernel or
    stride, padding over half the kernel, or an empty output."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over kH x kW windows: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out)
    (PyTorch's AvgPool2d rules; ``divisor_override`` replaces the window size, 0 raises)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over kD x kH x kW windows: (N, C, D, H, W) or (C, D, H, W) ->
    (N, C, D_out, H_out, W_out) (PyTorch's AvgPool3d rules)."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


# -- power-average pooling -----------------------------------------------------------------
def _lp_pool(n: int, input: Tensor, norm_type, kernel_size, stride, ceil_mode):
    maxp = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}[n]
    avgp = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}[n]
    if norm_type == float("inf"):
        return maxp(_ops.abs(input), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == float("-inf"):
        return -maxp(-_ops.abs(input), kernel_size, stride, 0, 1, ceil_mode)
    k = _ntuple(kernel_size, n, f"lp_pool{n}d", "kernel_size")
    # the pooling's checks before the power runs a kernel
    _avg_args(f"avg_pool{n}d", n, input, kernel_size, stride, 0, ceil_mode, None)
    out = avgp(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    return (_ops.sign(out) * _ops.relu(_ops.abs(out)) * math.prod(k)) ** (1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling (N, C, L) or (C, L) -> (N, C, L_out): PyTorch's
    ``(sign(f) * relu(|f|) * k) ** (1/p)``, f = avg_pool1d(x ** p) (torch.nn.functional)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), as
    ``lp_pool1d`` with the kernel's area."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling (N, C, D, H, W) or (C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# -- adaptive pooling ----------------------------------------------------------------------
def _windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_args(fn: str, n: int, input: Tensor, output_size):
    if input.dim() not in (n + 1, n + 2) or any(s == 0 for s in input.shape[-n:]):
        if n == 1:
            raise RuntimeError(f"{_where(fn)}Expected 2 to 3 dimensions, but got "
                               f"{input.dim()}-dimensional tensor for argument #1 'self' "
                               f"(while checking arguments for {fn})")
        raise RuntimeError(f"{_where(fn)}{fn}(): Expected {n + 1}D or {n + 2}D tensor, but got"
                           f" {list(input.shape)}")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != n:
            raise RuntimeError(f"{_where(fn)}{fn}: output_size must be {n}")
        out = tuple(input.shape[input.dim() - n + d] if o is None else int(o)
                    for d, o in enumerate(output_size))
    else:
        out = (input.shape[-1] if output_size is None else int(output_size),) * n
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{_where(fn)}{fn}: elements of output_size must be greater than "
                           f"zero, but got {list(out)}")
    unbatched = input.dim() == n + 1
    # the windows are built on the host: an output the device cannot hold fails first
    check_room(tuple(input.shape[:-n]) + out, input.dtype)
    return (_ops.unsqueeze(input, 0) if unbatched else input), unbatched, out


@graph_function
def _adaptive_avg_nd(x: Tensor, out: tuple):
    n = len(out)
    lead = tuple(x.shape[:2])
    sizes = tuple(x.shape[2:])
    split, axes = list(lead), []
    for d, (size, o) in enumerate(zip(sizes, out)):
        if size % o == 0:
            split += [o, size // o]
            axes.append(len(split) - 1)
        else:
            split.append(size)
    y = x
    if any(size // o > 1 for size, o in zip(sizes, out) if size % o == 0):
        y = _ops.mean(_ops.reshape(x, tuple(split)), tuple(axes))
    for d, (size, o) in enumerate(zip(sizes, out)):
        if size % o == 0:
            continue
        start, end = _windows(size, o)
        # window taps gathered along the dim; taps past a short window's end are masked
        # (a select, not a zero weight, so an inf elsewhere stays out of the window)
        axis = 2 + d
        full = list(y.shape)
        full[axis] = o
        lead = [1] * y.dim()
        lead[axis] = o
        total = None
        for t in range(int((end - start).max())):
            idx = np.minimum(start + t, end - 1)
            ix = _ops.expand(_ops.reshape(tensor(idx.astype(np.int64)), tuple(lead)),
                             tuple(full))
            v = apply("gather", y, ix, axis=axis)
            if (start + t >= end).any():
                keep = tensor((start + t < end).reshape(lead))
                v = apply("where", keep, v, 0)
            total = v if total is None else total + v
        count = tensor((end - start).astype(np.float32).reshape(lead)).to(x.dtype)
        y = total / count
    return y


def _adaptive_avg(fn: str, n: int, input: Tensor, output_size) -> Tensor:
    x, unbatched, out = _adaptive_args(fn, n, input, output_size)
    kernel_float("adaptive_avg_pool3d_cpu" if n == 3 else "adaptive_avg_pool2d", input)
    y = _adaptive_avg_nd(x, out)
    y = _ops.squeeze(y, 0) if unbatched else y
    name = {1: "SqueezeBackward1", 2: "AdaptiveAvgPool2DBackward0",
            3: "AdaptiveAvgPool3DBackward0"}[n]
    return _ops._named(y, name, input)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Mean over windows [floor(i*L/out), ceil((i+1)*L/out)): (N, C, L) or (C, L) ->
    (N, C, out). RuntimeError for a bad rank or a non-positive size."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """(N, C, H, W) or (C, H, W) -> (N, C, out_h, out_w); an int or (int | None, ...)
    ``output_size`` (None keeps the input size). Windows as in ``adaptive_avg_pool1d``."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """(N, C, D, H, W) or (C, D, H, W) -> (N, C, out_d, out_h, out_w)."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


@graph_function
def _adaptive_max_nd(x: Tensor, out: tuple, indices: bool):
    n = len(out)
    sizes = tuple(x.shape[2:])
    if all(size % o == 0 for size, o in zip(sizes, out)):
        k = tuple(size // o for size, o in zip(sizes, out))
        return _max_pool_nd(x, k, k, (0,) * n, (1,) * n, False, indices)
    y, at = x, None
    stride = 1             # the flat index step of the dim being pooled
    for d in range(n - 1, -1, -1):
        size, o, axis = sizes[d], out[d], 2 + d
        start, end = _windows(size, o)
        taps = int((end - start).max())
        best = pos = None
        for t in range(taps):
            idx = np.minimum(start + t, end - 1)
            shape = [1] * y.dim()
            shape[axis] = o
            full = list(y.shape)
            full[axis] = o
            ix = _ops.expand(_ops.reshape(tensor(idx.astype(np.int64)), tuple(shape)),
                             tuple(full))
            v = apply("gather", y, ix, axis=axis)
            i = ix * stride if at is None else ix * stride + apply("gather", at, ix, axis=axis)
            if best is None:
                best, pos = v, i
            else:
                later = beats(v, best)
                best = apply("where", later, v, best)
                pos = apply("where", later, i, pos)
        y, at = best, pos
        stride *= size
    return (y, at) if indices else y


def _adaptive_max(fn: str, n: int, input: Tensor, output_size, return_indices: bool):
    x, unbatched, out = _adaptive_args(fn, n, input, output_size)
    kernel_float("adaptive_max_pool3d_cpu" if n == 3 else "adaptive_max_pool2d", input)
    return max_result(_adaptive_max_nd(x, out, bool(return_indices)), return_indices,
                      unbatched, input, {1: "SqueezeBackward1", 2: "AdaptiveMaxPool2DBackward0",
                                         3: "AdaptiveMaxPool3DBackward0"}[n])


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over windows [floor(i*L/out), ceil((i+1)*L/out)): (N, C, L) or (C, L) ->
    (N, C, out) (and int64 positions in L with ``return_indices``)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """(N, C, H, W) or (C, H, W) -> (N, C, out_h, out_w) (and int64 positions
    ``h * W + w``); windows as in ``adaptive_max_pool1d``."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """(N, C, D, H, W) or (C, D, H, W) -> (N, C, out_d, out_h, out_w) (and int64 positions
    ``(d * H + h) * W + w``)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool3d(input, output_size, True)
