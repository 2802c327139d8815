"""Loss functions."""
from __future__ import annotations


import numpy as np

from graphnn._errors import warn as _warn
from graphnn import _ops
from graphnn._composites import cumsum
from graphnn._dispatch import apply
from graphnn.ir.types import int32, int64
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._trace import check_values
from graphnn.nn.functional._dtypes import kernel_float as _kernel_float
from graphnn.nn.functional._base import _where, graph_function
from graphnn.nn.functional.activation import log_softmax

def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's _Reduction.legacy_get_string: the deprecated ``size_average``/``reduce``
    pair, when given, decides the reduction."""
    if size_average is None and reduce is None:
        return reduction
    _warn("size_average and reduce args will be deprecated, please use "
         f"reduction='{_legacy_string(size_average, reduce)}' instead.")
    return _legacy_string(size_average, reduce)


def _legacy_string(size_average, reduce) -> str:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


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
@_ops.opmath
def _nll(logp_or_x, target, weight, reduction, ignore_index, from_logits):
    x = logp_or_x
    c_axis = 1 if x.dim() > 1 else 0
    if x.dim() == 1:
        x = _ops.unsqueeze(x, 0)
        target = _ops.unsqueeze(target, 0)
    idx = _ops.unsqueeze(target, 1)
    valid = None if ignore_index is None else apply("ne", idx, ignore_index)
    safe = idx if valid is None else apply("where", valid, idx, 0)
    picked = apply("gather", x, safe, axis=1)
    if from_logits:
        picked = picked - apply("logsumexp", x, axes=(1,), keepdim=True)
    w = None                    # each target's weight: the mean's denominator sums them
    loss = -picked
    if weight is not None:
        wshape = (1, -1) + (1,) * (x.dim() - 2)
        w = apply("gather", _ops.expand(_ops.reshape(weight, wshape), tuple(x.shape)), safe,
                  axis=1)
        loss = loss * w
    if valid is not None:
        # ignored targets are selected out, not multiplied by 0: with every target ignored
        # the mean is 0 / 0 (nan, as in PyTorch) but its gradient must stay 0, not 0 * inf
        loss = _ops.where(valid, loss, 0.0)
        vw = _ops.to_dtype(valid, x.dtype)
        w = vw if w is None else w * vw
    if reduction == "mean" and w is not None:
        # both sums over the same (N, 1, ...) values, so that they share one reduction loop
        # and the division is its epilogue: one kernel
        return _ops.sum(loss) / _ops.sum(w)
    loss = _ops.squeeze(loss, 1)
    if c_axis == 0:
        loss = _ops.squeeze(loss, 0)
    if reduction == "mean":
        return _ops.mean(loss)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of ``target`` class indices (N,) under log-probabilities
    input (N, C) (or (N, C, d1...) with target (N, d1...))."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input.dim() == 0:
        raise ValueError(f"{_where()}Expected 1 or more dimensions (got 0)")
    _kernel_float("nll_loss2d_forward_out_frame" if input.dim() > 2 else "nll_loss_out_frame",
                 input)
    masked = _check_targets(input, target, "nll_loss", ignore_index)
    return _ops._named(_nll(input, target, weight, reduction, ignore_index if masked else None,
                            False), "NllLossBackward0")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits input (N, C) or (N, C, d1...) against class indices (N, d1...)
    or class probabilities of input's shape; ``label_smoothing`` mixes the target with the
    uniform distribution (Szegedy et al. 2016), as PyTorch computes it."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"{_where()}label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    # the log_softmax over the classes runs first (its kernel: dim 1, the last of 2-D input)
    _kernel_float(f"log_softmax{'_lastdim' if input.dim() <= 2 else ''}_kernel_impl", input)
    if target.dtype.is_float:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"{_where()}cross_entropy: expected target dtype to be Long or "
                               f"Byte, but got {SCALAR_NAMES[target.dtype.name]} (a "
                               "float target must hold class probabilities of the input's "
                               f"shape {list(input.shape)}, got shape {list(target.shape)})")
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    masked = _check_targets(input, target, "cross_entropy", ignore_index)
    ignore = ignore_index if masked else None
    loss = _nll(input, target, weight, reduction, ignore, True)
    if label_smoothing:
        loss = _smoothed(input, target, weight, reduction, ignore, label_smoothing, loss)
    return _ops._named(loss, "NllLossBackward0")


@graph_function
def _smoothed(input, target, weight, reduction, ignore_index, eps, nll):
    """(1 - eps) nll + eps / C * the loss against the uniform distribution, which PyTorch
    masks at ignored targets and (mean) normalises like nll: by the summed target weights."""
    axis = 1 if input.dim() > 1 else 0
    n_classes = input.shape[axis]
    logp = log_softmax(input, axis)
    wshape = (-1,) + (1,) * (input.dim() - axis - 1)
    if weight is not None:
        logp = logp * _ops.reshape(weight, wshape)
    smooth = -_ops.sum(logp, axis)
    valid = None
    if ignore_index is not None:
        valid = apply("ne", target, ignore_index)
        smooth = _ops.where(valid, smooth, 0.0)
    if reduction == "mean":
        if weight is not None:
            safe = target if valid is None else _ops.where(valid, target, 0)
            picked = _ops.index_select(weight, 0, _ops.reshape(safe, (-1,)))
            if valid is not None:
                picked = picked * _ops.to_dtype(_ops.reshape(valid, (-1,)), weight.dtype)
            smooth = _ops.sum(smooth) / _ops.sum(picked)
        elif valid is not None:
            smooth = _ops.sum(smooth) / _ops.sum(_ops.to_dtype(valid, input.dtype))
        else:
            smooth = _ops.mean(smooth)
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1.0 - eps) + smooth * (eps / n_classes)


@graph_function
def _soft_cross_entropy(input, target, weight, reduction, eps):
    axis = 1 if input.dim() > 1 else 0
    n_classes = input.shape[axis]
    if eps:
        target = target * (1.0 - eps) + eps / n_classes
    logp = log_softmax(input, axis)
    if weight is not None:
        logp = logp * _ops.reshape(weight, (-1,) + (1,) * (input.dim() - axis - 1))
    loss = -_ops.sum(logp * target, axis)
    if reduction == "mean":
        return _ops.sum(loss) * (n_classes / input.numel()) if input.dim() > 1 else loss
    return _reduce(loss, reduction)


@graph_function
def _multi_margin(input, target, p, margin, weight, reduction):
    x = input if input.dim() == 2 else _ops.unsqueeze(input, 0)
    t = _ops.reshape(target, (-1, 1))
    n_classes = x.shape[1]
    picked = apply("gather", x, t, axis=1)                        # x[y], (N, 1)
    z = _ops.clamp(x - picked + margin, min=0.0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * apply("gather", _ops.expand(_ops.reshape(weight, (1, -1)), tuple(x.shape)),
                      t, axis=1)
    own = apply("eq", apply("iota", shape=tuple(x.shape), axis=1, dtype="int64"), t)
    loss = _ops.sum(_ops.where(own, 0.0, z), 1) * (1.0 / n_classes)
    if input.dim() < 2:
        loss = _ops.reshape(loss, tuple(target.shape))
    return _reduce(loss, reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """sum over i != y of max(0, margin - x[y] + x[i])^p * weight[y] / C, per sample of
    input (N, C) or (C,) with class-index target (N,) or ()."""
    if p not in (1, 2):
        raise ValueError(f"{_where()}only p == 1 and p == 2 supported")
    _kernel_float("multi_margin_loss_cpu_kernel", input)
    n_classes = input.shape[-1] if input.dim() else 1
    where = _where()

    def check(values):
        bad = values[(values < 0) | (values >= n_classes)]
        if bad.size:
            raise RuntimeError(f"{where}target out of range: {int(bad.flat[0])} is not in "
                               f"[0, {n_classes})")
    check_values(target, check)
    return _multi_margin(input, target, p, margin, weight,
                         _legacy_reduction(size_average, reduce, reduction))


@graph_function
def _multilabel_margin(input, target, reduction):
    x = input if input.dim() == 2 else _ops.unsqueeze(input, 0)
    t = target if target.dim() == 2 else _ops.unsqueeze(target, 0)
    n, c = x.shape
    # the targets are the entries before the first -1
    stopped = apply("gt", cumsum(_ops.to_dtype(apply("lt", t, 0), "int64"), 1), 0)
    valid = apply("eq", stopped, False)                                       # (N, C_t)
    safe = _ops.where(valid, t, 0)
    classes = apply("iota", shape=(n, c, c), axis=2, dtype="int64")
    hit = apply("logical_and", apply("eq", _ops.unsqueeze(safe, 2), classes),
                _ops.unsqueeze(valid, 2))                                     # (N, j, i)
    is_target = _ops.to_dtype(_ops.amax(_ops.to_dtype(hit, "int64"), 1), "bool")  # (N, C)
    picked = apply("gather", x, safe, axis=1)                                 # x[y_j]
    z = _ops.clamp(1.0 - (_ops.unsqueeze(picked, 2) - _ops.unsqueeze(x, 1)), min=0.0)
    pair = apply("logical_and", _ops.unsqueeze(valid, 2),
                 apply("eq", _ops.unsqueeze(is_target, 1), False))           # j target, i not
    loss = _ops.sum(_ops.where(pair, z, 0.0), (1, 2)) * (1.0 / c)
    if input.dim() < 2:
        loss = _ops.reshape(loss, ())
    return _reduce(loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """sum over target classes j and non-target classes i of max(0, 1 - (x[y_j] - x[i])) /
    C; target (N, C) int64 lists the classes, ended by the first -1."""
    _kernel_float("multilabel_margin_loss_forward_out_frame", input)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"{_where()}inconsistent target size: {list(target.shape)} for "
                           f"input of size: {list(input.shape)}")
    n_classes = input.shape[-1] if input.dim() else 1
    where = _where()

    def check(values):      # class indices, or -1 that ends a sample's list
        bad = values[(values < -1) | (values >= n_classes)]
        if bad.size:
            raise RuntimeError(f"{where}argument #2 'target' is out of range: "
                               f"{int(bad.flat[0])} is not in [-1, {n_classes})")
    check_values(target, check)
    return _multilabel_margin(input, target, _legacy_reduction(size_average, reduce, reduction))


def _log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), finite for any x."""
    return _ops.clamp(x, max=0.0) - apply("log1p", apply("exp", -apply("abs", x)))


@graph_function
def _multilabel_soft_margin(input, target, weight, reduction):
    loss = -(target * _log_sigmoid(input) + (1.0 - target) * _log_sigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = _ops.mean(loss, input.dim() - 1)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-mean over classes of y log sigmoid(x) + (1 - y) log sigmoid(-x), per sample."""
    if input.dim() == 0:
        raise IndexError(f"{_where()}Dimension specified as -1 but tensor has no dimensions")
    _kernel_float("log_sigmoid_cpu", input)
    return _multilabel_soft_margin(input, target, weight,
                                   _legacy_reduction(size_average, reduce, reduction))


@graph_function
def _mse(input, target, reduction):
    diff = input - target
    return _reduce(diff * diff, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """mean((input - target)^2); shapes broadcast (PyTorch warns when they differ)."""
    if tuple(input.shape) != tuple(target.shape):
        _warn(f"Using a target size ({tuple(target.shape)}) that is different to the "
             f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
             "results due to broadcasting. Please ensure they have the same size.")
    return _ops._named(_mse(input, target, _legacy_reduction(size_average, reduce, reduction)),
                       "MseLossBackward0")
