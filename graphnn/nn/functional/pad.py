"""Padding (``F.pad``).

Constant padding is composed: the (cropped) input placed into zeros of the padded shape
with one ``slice_grad`` and, for a non-zero value, a ``where`` on an index mask, all read
at the consumer's index (one elementwise kernel, or part of one). Reflect, replicate and
circular padding are the ``pad`` primitive (``ir/ops/pad.py``): one indexed read per
element forward, and ``pad_grad`` backward, which sums at each input position the
gradients of every output position that read it (so reflected, repeated and wrapped
elements accumulate as in PyTorch). docs/design.md says why this is a primitive."""
from __future__ import annotations

import operator

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.types import bool_
from graphnn.nn.functional._dtypes import kernel_float
from graphnn.nn.functional._base import _where, graph_function

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _check(input: Tensor, pad: tuple, mode: str, value) -> None:
    """PyTorch's argument checks for F.pad (torch/nn/functional.py, PadNd.cpp)."""
    where = _where("pad")
    if mode not in _MODES:
        raise NotImplementedError(f"{where}Unrecognised padding mode {mode}")
    if len(pad) % 2:
        raise RuntimeError(f"{where}Padding length must be divisible by 2")
    dim = input.dim()
    if len(pad) // 2 > dim:
        raise RuntimeError(f"{where}Padding length should be less than or equal to two times "
                           f"the input dimension but got padding length {len(pad)} and input "
                           f"of dimension {dim}")
    if mode == "constant":
        for i in range(len(pad) // 2):
            d = dim - 1 - i
            if input.shape[d] + pad[2 * i] + pad[2 * i + 1] < 0:
                raise RuntimeError(f"{where}narrow(): length must be non-negative.")
        return
    if value is not None and value != 0:
        raise RuntimeError(f'{where}Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if not (1 <= k <= 3 and dim in (k + 1, k + 2)):
        raise NotImplementedError(
            f"{where}Padding size {len(pad)} is not supported for {dim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode in ("reflect", "replicate"):     # PyTorch's kernels take no bools
        kernel_float(f"{'reflection' if mode == 'reflect' else 'replication'}_pad{k}d", input,
                     ints=True)
    shape = list(input.shape)
    lead = shape[:dim - k]
    if mode in ("reflect", "replicate") and (any(s == 0 for s in shape[dim - k:]) or (
            len(lead) == k + 1 and lead[-1] == 0)):
        raise RuntimeError(f"{where}Expected {k + 1}D or {k + 2}D (batch mode) tensor with "
                           "possibly 0 batch size and other non-zero dimensions for input, "
                           f"but got: {shape}")
    for i in range(k):
        d = dim - 1 - i
        lo, hi, n = pad[2 * i], pad[2 * i + 1], shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"{where}Argument #{2 * k + 2}: Padding size should be less "
                               "than the corresponding input dimension, but got: padding "
                               f"({lo}, {hi}) at dimension {d} of input {shape}")
        # PyTorch checks against the input size; a pad wider than the cropped size reads
        # past the data there, so it is refused here too
        kept = n - max(-lo, 0) - max(-hi, 0)
        if mode == "circular" and (lo > n or hi > n or lo > kept or hi > kept):
            raise RuntimeError(f"{where}Padding value causes wrapping around more than once.")
        if n + lo + hi <= 0 or max(-lo, 0) + max(-hi, 0) > n:
            axis = "WHD"[i]
            raise RuntimeError(f"{where}input ({axis}: {n}) is too small. Calculated output "
                               f"{axis}: {n + lo + hi}")


def _constant(x: Tensor, pad: tuple, value) -> Tensor:
    dim = x.dim()
    k = len(pad) // 2
    for i in range(k):               # crops (negative pads) are views
        d, lo, hi = dim - 1 - i, pad[2 * i], pad[2 * i + 1]
        if lo < 0 or hi < 0:
            start = max(-lo, 0)
            x = _ops.narrow(x, d, start, x.shape[d] - start - max(-hi, 0))
    starts, shape = [0] * dim, list(x.shape)
    for i in range(k):
        d = dim - 1 - i
        starts[d] = max(pad[2 * i], 0)
        shape[d] += max(pad[2 * i], 0) + max(pad[2 * i + 1], 0)
    if tuple(shape) == tuple(x.shape):
        return _ops.clone(x)
    out = apply("slice_grad", x, shape=tuple(shape), starts=tuple(starts), steps=(1,) * dim)
    if value is None or value == 0 or 0 in shape:
        return out
    value = bool(value) if x.dtype == bool_ else value if x.dtype.is_float else int(value)
    inside = None
    for d in range(dim):
        if shape[d] == x.shape[d]:
            continue
        pos = apply("iota", shape=tuple(shape), axis=d, dtype="int64")
        ok = apply("logical_and", apply("ge", pos, starts[d]),
                   apply("lt", pos, starts[d] + x.shape[d]))
        inside = ok if inside is None else apply("logical_and", inside, ok)
    return apply("where", inside, out, value)


@graph_function
def _pad(input: Tensor, pad: tuple, mode: str, value) -> Tensor:
    if mode == "constant":
        return _constant(input, pad, value)
    dim = input.dim()
    lo, hi = [0] * dim, [0] * dim
    for i in range(len(pad) // 2):
        lo[dim - 1 - i], hi[dim - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if not any(lo) and not any(hi):
        return _ops.clone(input)
    return apply("pad", input, mode=mode, lo=tuple(lo), hi=tuple(hi))


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads ``input`` (any shape for ``mode='constant'``; the last 1-3 dims of a batched or
    unbatched input, (N, C, W) / (C, W) for 1-D up to (N, C, D, H, W) / (C, D, H, W) for
    3-D, otherwise). ``pad`` lists (before, after) pairs starting from the last dimension,
    as in PyTorch: ``(left, right, top, bottom, front, back)``; negative values crop.
    ``mode``: ``'constant'`` (fill with ``value``, default 0), ``'reflect'`` (mirror about
    the edge element, needs pad < size), ``'replicate'`` (repeat the edge element),
    ``'circular'`` (wrap around, needs pad <= size). The dtype is the input's.

    Raises PyTorch's errors: RuntimeError for an odd pad length, more pairs than dims, a
    reflect pad not less than the size, a circular pad wrapping more than once or a
    ``value`` with a non-constant mode; NotImplementedError for an unknown mode or a pad
    length that does not fit the input's rank (torch/nn/functional.py, PadNd.cpp)."""
    try:
        pad = tuple(operator.index(p) for p in pad)
    except TypeError:
        raise TypeError(f"pad(): argument 'pad' must be tuple of ints, but got {pad!r}") \
            from None
    _check(input, pad, mode, value)
    return _pad(input, pad, mode, value)
