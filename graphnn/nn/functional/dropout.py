"""Dropout: random masks from graphnn's counter-based generator (``rand``, a fresh seed per
call, reproducible under ``manual_seed``), so the mask is a graph value that fuses with its
neighbours. Element-wise (``dropout``, ``alpha_dropout``) or per channel (``dropout1d/2d/3d``,
``feature_alpha_dropout``: one draw per (N, C), broadcast over the spatial dims)."""
from __future__ import annotations

import math

from graphnn._errors import warn as _warn
from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._dtypes import float_result as _float_result
from graphnn.nn.functional._base import _maybe_inplace, _where

# SELU's negative saturation value -lambda * alpha (Klambauer et al. 2017)
_SELU_ALPHA = 1.7580993408473766


def _check_p(p: float) -> None:
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(input: Tensor, p: float, noise_shape: tuple, alpha: bool, inplace: bool,
                name: str) -> Tensor:
    """``input`` with each element (or each broadcast group along ``noise_shape``) kept with
    probability 1 - p: scaled by 1 / (1 - p), or for alpha dropout set to SELU's saturation
    and affinely rescaled so that mean and variance are kept (PyTorch's _dropout_impl)."""
    if p == 1:
        return _maybe_inplace(input, inplace, name, lambda x: x * 0.0)
    from graphnn._creation import seed_source
    noise = apply("rand", seed_source(), shape=tuple(noise_shape), dtype=input.dtype.name)
    keep = apply("ge", noise, p)
    if not alpha:
        return _maybe_inplace(input, inplace, name, lambda x: apply(
            "where", keep, x * (1.0 / (1.0 - p)), 0.0))
    a = 1.0 / math.sqrt((_SELU_ALPHA * _SELU_ALPHA * p + 1) * (1 - p))
    kept = _ops.to_dtype(keep, input.dtype)
    shift = (kept - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    return _maybe_inplace(input, inplace, name, lambda x: x * (kept * a) + shift)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p)
    (Srivastava et al. 2014; PyTorch's Dropout). Any shape; an integer input raises
    RuntimeError in training, as PyTorch's scaling cannot be written back into it."""
    _check_p(p)
    if not training or p == 0:
        return input
    _float_result(input)
    return _apply_mask(input, p, tuple(input.shape), False, inplace, "dropout_")


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped elements take SELU's negative saturation and the
    result is rescaled to keep zero mean and unit variance (Klambauer et al. 2017)."""
    _check_p(p)
    if not training or p == 0:
        return input
    _float_result(input)
    return _apply_mask(input, p, tuple(input.shape), True, inplace, "alpha_dropout_")


def _feature_shape(input: Tensor, batched: bool) -> tuple:
    lead = 2 if batched else 1
    return tuple(input.shape[:lead]) + (1,) * (input.dim() - lead)


def _feature(input: Tensor, p: float, training: bool, inplace: bool, alpha: bool,
             batched: bool, name: str) -> Tensor:
    _check_p(p)
    if input.dim() < 2:
        raise RuntimeError(f"{_where()}Feature dropout requires at least 2 dimensions in the "
                           "input")
    if not training or p == 0:
        return input
    _float_result(input)
    return _apply_mask(input, p, _feature_shape(input, batched), alpha, inplace, name)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) with probability ``p``."""
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{_where()}dropout1d: Expected 2D or 3D input, but received a "
                           f"{input.dim()}D input. Note that dropout1d exists to provide "
                           "channel-wise dropout on inputs with 1 spatial dimension, a channel "
                           "dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature(input, p, training, inplace, False, input.dim() == 3, "dropout1d_")


def _deprecated_dims(name: str, dim: int, spatial: int) -> None:
    _warn(f"{name}: Received a {dim}-D input to {name}, which is deprecated and will "
         f"result in an error in a future release. To retain the behavior and silence "
         f"this warning, please use dropout instead. Note that {name} exists to "
         f"provide channel-wise dropout on inputs with {spatial} spatial dimensions, a "
         "channel dimension, and an optional batch dimension (i.e. "
         f"{spatial + 1}D or {spatial + 2}D inputs).")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) with probability ``p``; a 3-D input
    is read as (N, C, L), as PyTorch does (with its warning)."""
    dim = input.dim()
    if dim not in (3, 4):
        _deprecated_dims("dropout2d", dim, 2)
    if dim == 3:
        _warn("dropout2d: Received a 3D input to dropout2d and assuming that "
             "channel-wise 1D dropout behavior is desired - input is interpreted as "
             "shape (N, C, L), where C is the channel dim. This behavior will change "
             "in a future release to interpret the input as one without a batch "
             "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
             "dropout behavior, please switch to using dropout1d instead.")
    return _feature(input, p, training, inplace, False, True, "dropout2d_")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) with probability ``p``."""
    dim = input.dim()
    if dim not in (4, 5):
        _deprecated_dims("dropout3d", dim, 3)
    return _feature(input, p, training, inplace, False, dim != 4, "dropout3d_")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels of (N, C, *)."""
    return _feature(input, p, training, inplace, True, True, "feature_alpha_dropout_")
