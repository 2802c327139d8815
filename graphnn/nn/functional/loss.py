"""Loss functions."""
from __future__ import annotations

import numpy as np

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn.ir.types import int32, int64
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._trace import check_values
from graphnn.nn.functional._base import _where, graph_function
from graphnn.nn.functional.activation import log_softmax

def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _ops.mean(loss)
    if reduction == "sum":
        return _ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_targets(input: Tensor, target: Tensor, fn: str, ignore_index: int) -> bool:
    """Validates class-index targets; returns False when ``ignore_index`` provably does not
    occur (a concrete target), so the loss graph can skip the masking."""
    if target.dtype not in (int64, int32):
        raise RuntimeError(f"{_where()}{fn}: expected target dtype to be Long or Byte, but got "
                           f"{SCALAR_NAMES[target.dtype.name]} (class indices); target "
                           f"shape {list(target.shape)}, input shape {list(input.shape)}")
    n_cls = input.shape[1] if input.dim() > 1 else input.shape[0]
    want = (input.shape[0],) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != want:
        raise ValueError(f"{_where()}{fn}: expected target of shape {list(want)} for input of "
                         f"shape {list(input.shape)}, got {list(target.shape)}")
    where = _where()

    def check(values):
        bad = values[(values != ignore_index) & ((values < 0) | (values >= n_cls))]
        if bad.size:
            raise IndexError(f"{where}{fn}: Target {int(bad.flat[0])} is out of bounds. Class "
                             f"indices must be in [0, {n_cls}) for input of shape "
                             f"{list(input.shape)}; target shape {list(target.shape)}")
    check_values(target, check)
    if target._sym is None:
        return bool(target.numel() and np.any(target._host() == ignore_index))
    return True


@graph_function
def _nll(logp_or_x, target, weight, reduction, ignore_index, from_logits):
    x = logp_or_x
    c_axis = 1 if x.dim() > 1 else 0
    if x.dim() == 1:
        x = _ops.unsqueeze(x, 0)
        target = _ops.unsqueeze(target, 0)
    idx = _ops.unsqueeze(target, 1)
    if ignore_index is None:    # no target is ignored: no mask
        safe, w = idx, None
    else:
        valid = apply("ne", idx, ignore_index)
        safe = apply("where", valid, idx, 0)
        w = _ops.to_dtype(valid, x.dtype)
    picked = apply("gather", x, safe, axis=1)
    if from_logits:
        picked = picked - apply("logsumexp", x, axes=(1,), keepdim=True)
    if weight is not None:
        wshape = (1, -1) + (1,) * (x.dim() - 2)
        wt = apply("gather", _ops.expand(_ops.reshape(weight, wshape), tuple(x.shape)), safe,
                   axis=1)
        w = wt if w is None else w * wt
    loss = _ops.squeeze(-(picked * w) if w is not None else -picked, 1)
    if c_axis == 0:
        loss = _ops.squeeze(loss, 0)
    if reduction == "mean":
        return _ops.sum(loss) / _ops.sum(w) if w is not None else _ops.mean(loss)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of ``target`` class indices (N,) under log-probabilities
    input (N, C) (or (N, C, d1...) with target (N, d1...))."""
    masked = _check_targets(input, target, "nll_loss", ignore_index)
    return _ops._named(_nll(input, target, weight, reduction, ignore_index if masked else None,
                            False), "NllLossBackward0")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits input (N, C) against class indices (N,) int64, or against
    class probabilities of input's shape. = nll_loss(log_softmax(input, 1), target)."""
    if label_smoothing:
        raise NotImplementedError("cross_entropy(label_smoothing=...) is not supported yet")
    if target.dtype.is_float:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"{_where()}cross_entropy: expected target dtype to be Long or "
                               f"Byte, but got {SCALAR_NAMES[target.dtype.name]} (a "
                               "float target must hold class probabilities of the input's "
                               f"shape {list(input.shape)}, got shape {list(target.shape)})")
        return _soft_cross_entropy(input, target, weight, reduction)
    masked = _check_targets(input, target, "cross_entropy", ignore_index)
    return _ops._named(_nll(input, target, weight, reduction, ignore_index if masked else None,
                            True), "NllLossBackward0")


@graph_function
def _soft_cross_entropy(input, target, weight, reduction):
    axis = 1 if input.dim() > 1 else 0
    logp = log_softmax(input, axis)
    if weight is not None:
        logp = logp * _ops.reshape(weight, (-1,) + (1,) * (input.dim() - axis - 1))
    loss = -_ops.sum(logp * target, axis)
    if reduction == "mean":
        return _ops.sum(loss) / (input.shape[0] if input.dim() > 1 else 1)
    return _reduce(loss, reduction)


@graph_function
def _mse(input, target, reduction):
    diff = input - target
    return _reduce(diff * diff, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """mean((input - target)^2); shapes broadcast (PyTorch warns when they differ)."""
    if tuple(input.shape) != tuple(target.shape):
        import warnings
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the "
                      f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=2)
    return _ops._named(_mse(input, target, reduction), "MseLossBackward0")
