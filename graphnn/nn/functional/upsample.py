"""``interpolate`` (and ``upsample``): resizing (N, C, L), (N, C, H, W) or (N, C, D, H, W)
maps with PyTorch's index and weight formulas (``aten/src/ATen/native/UpSample.h``).

Every mode is separable, so each spatial dim is resized on its own, from the last:

- Source positions, computed on the host in float32 as PyTorch's CPU kernels do: ``nearest``
  takes ``min(floor(o * scale), in - 1)`` (``o >> 1`` when out = 2 * in, o when out = in),
  ``nearest-exact`` ``min(floor((o + 0.5) * scale), in - 1)``; the linear modes and
  ``bicubic`` use ``area_pixel_compute_source_index``: ``scale * o`` with
  ``align_corners`` (scale ``(in - 1) / (out - 1)``), else ``scale * (o + 0.5) - 0.5``
  (clamped at 0 except for bicubic), where ``scale`` is ``1 / scale_factor`` when a scale
  factor is passed on (not recomputed), else ``in / out``. Linear: the taps
  ``floor(src)`` and the next one (if inside) with weights ``1 - l`` and ``l``; bicubic: the
  four taps around ``floor(src)``, clamped to the input, with Keys' cubic convolution
  coefficients (A = -0.75).
- A nearest map that repeats each element r times (out = r * in and index ``o // r``) is an
  expand and a reshape: exact, and its gradient is a sum. Any other dim is a weighted sum
  of gathers along it with constant indices and weights (one for nearest, two for linear,
  four for bicubic); the gathers' gradient adds at the indices (``scatter_set``). Each
  resized dim after the first reads the previous one's result, so takes a kernel more.
- ``area`` is ``adaptive_avg_pool``."""
from __future__ import annotations

import math

import numpy as np

from graphnn import _ops
from graphnn._creation import tensor
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._dtypes import kernel_float
from graphnn.nn.functional._base import graph_function
from graphnn.nn.functional.pooling_avg import (adaptive_avg_pool1d, adaptive_avg_pool2d,
                                               adaptive_avg_pool3d)

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_F32 = np.float32


def _scale(size: int, out: int, align_corners: bool, scale) -> np.float32:
    """area_pixel_compute_scale, in float32."""
    if align_corners:
        return _F32(size - 1) / _F32(out - 1) if out > 1 else _F32(0)
    if scale is not None and scale > 0:
        return _F32(1.0 / scale)
    return _F32(size) / _F32(out)


def resize_taps(size: int, out: int, mode: str, align_corners: bool, scale):
    """Along one dim: ``y[o] = sum_t w_t[o] * x[idx_t[o]]`` as [(idx_t, w_t)] (w None: 1),
    or the int r when the map is ``o // r`` (nearest repeats)."""
    o = np.arange(out)
    if mode in ("nearest", "nearest-exact"):
        s = _scale(size, out, False, scale)
        if mode == "nearest" and out == size:
            idx = o
        elif mode == "nearest" and out == 2 * size:
            idx = o >> 1
        elif mode == "nearest":
            idx = np.minimum(np.floor(o.astype(_F32) * s).astype(np.int64), size - 1)
        else:
            idx = np.minimum(np.floor((o + 0.5) * np.float64(s)).astype(np.int64), size - 1)
        if out % size == 0 and np.array_equal(idx, o // (out // size)):
            return out // size
        return [(idx, None)]
    s = _scale(size, out, align_corners, scale)
    cubic = mode == "bicubic"
    if align_corners:
        src = s * o.astype(_F32)
    else:
        src = s * (o.astype(_F32) + _F32(0.5)) - _F32(0.5)
        if not cubic:
            src = np.maximum(src, _F32(0))
    base = np.minimum(np.floor(src).astype(np.int64), size - 1)
    lam = np.clip(src - base.astype(_F32), 0, 1).astype(_F32)
    if not cubic:
        return [(base, 1 - lam), (base + (base < size - 1), lam)]
    a = _F32(-0.75)

    def near(x):   # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):    # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    coeffs = [far(lam + 1), near(lam), near(1 - lam), far(2 - lam)]
    return [(np.clip(base - 1 + j, 0, size - 1), c) for j, c in enumerate(coeffs)]


@graph_function
def _resize(x: Tensor, out: tuple, mode: str, align_corners: bool, scales: tuple):
    n = len(out)
    maps = [resize_taps(x.shape[2 + d], out[d], mode, align_corners, scales[d])
            for d in range(n)]
    y = x
    reps = [m if isinstance(m, int) else 1 for m in maps]
    if any(r > 1 for r in reps):
        # every repeating dim at once: one expand of an interleaved view, one copy
        shape = tuple(x.shape)
        split, big, merged = list(shape[:2]), list(shape[:2]), list(shape[:2])
        for size, r in zip(shape[2:], reps):
            split += [size, 1]
            big += [size, r]
            merged.append(size * r)
        y = _ops.reshape(_ops.expand(_ops.reshape(y, tuple(split)), tuple(big)),
                         tuple(merged))
    for d in range(n - 1, -1, -1):
        if isinstance(maps[d], int):
            continue
        axis = 2 + d
        full = list(y.shape)
        full[axis] = out[d]
        lead = [1] * y.dim()
        lead[axis] = out[d]
        total = None
        for idx, w in maps[d]:
            ix = _ops.expand(_ops.reshape(tensor(idx.astype(np.int64)), tuple(lead)),
                             tuple(full))
            v = apply("gather", y, ix, axis=axis)
            if w is not None:
                v = v * _ops.reshape(tensor(np.asarray(w, np.float32)).to(x.dtype),
                                     tuple(lead))
            total = v if total is None else total + v
        y = total
    return y


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resizes (N, C, L), (N, C, H, W) or (N, C, D, H, W) to ``size`` or by ``scale_factor``
    (output size ``floor(in * scale_factor)``). Modes: nearest, nearest-exact, linear (3-D),
    bilinear and bicubic (4-D), trilinear (5-D), area. Raises ValueError for conflicting
    or mis-sized size/scale_factor, align_corners with a non-interpolating mode,
    antialias=True (not supported); NotImplementedError for a mode the rank does not take
    (PyTorch's rules and messages). Formulas: see the module docstring."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError("Input and output must have the same number of spatial "
                                 "dimensions, but got input with spatial dimensions of "
                                 f"{list(input.shape[2:])} and output size of {size}. Please "
                                 "provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                 "output size in (o1, o2, ...,oK) format.")
            out = [int(s) for s in size]
        else:
            out = [int(size)] * dim
        scales = None
    elif scale_factor is not None:
        out = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError("Input and scale_factor must have the same number of spatial "
                                 "dimensions, but got input with spatial dimensions of "
                                 f"{list(input.shape[2:])} and scale_factor of shape "
                                 f"{scale_factor}. Please provide input tensor in (N, C, d1, "
                                 "d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                                 "format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out is None:
        recompute_scale_factor = True
    if out is None:
        out = [math.floor(float(input.shape[i + 2]) * scales[i]) for i in range(dim)]
        if recompute_scale_factor:
            scales = None
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if mode not in _MODES or input.dim() not in (3, 4, 5):
        raise NotImplementedError("Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.dim()}D) for the modes: nearest | linear | "
                                  "bilinear | bicubic | trilinear | area | nearest-exact "
                                  f"(got {mode})")
    need = _RANK.get(mode)
    if need is not None and input.dim() != need:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {need}D "
                                  "input")
    if any(o <= 0 for o in out) or any(s == 0 for s in input.shape[2:]):
        raise RuntimeError(f"interpolate: input {list(input.shape)} and output {out} sizes "
                           "should be greater than 0")
    if mode == "area":
        pool = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}[dim]
        return pool(input, tuple(out))
    # PyTorch's CPU kernels are float only; 4-D inputs take its channels-last path
    kind = {"nearest": "nearest", "nearest-exact": "nearest", "linear": "linear",
            "bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}[mode]
    kernel_float(f"upsample_{mode}2d_channels_last" if dim == 2 and mode in (
        "nearest", "bilinear") else f"compute_indices_weights_{kind}", input)
    y = _resize(input, tuple(out), mode, bool(align_corners),
                tuple(scales) if scales is not None else (None,) * dim)
    name = {"nearest": "UpsampleNearest", "nearest-exact": "UpsampleNearestExact",
            "linear": "UpsampleLinear", "bilinear": "UpsampleBilinear",
            "bicubic": "UpsampleBicubic", "trilinear": "UpsampleTrilinear"}[mode]
    return _ops._named(y, f"{name}{dim}DBackward0", input)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of ``interpolate`` (as in PyTorch)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
