"""Element-wise losses (regression, binary, ranking and embedding losses), each one compiled
graph when called outside a traced module. Formulas as PyTorch 2.13 computes them (ATen
Loss.cpp and torch/nn/functional.py); reductions ``none``/``mean``/``sum`` (KL also
``batchmean``). Shape errors and warnings are PyTorch's."""
from __future__ import annotations

import math

from graphnn._errors import warn as _warn
from graphnn import _ops
from graphnn._creation import full_like
from graphnn._dispatch import apply
from graphnn._size import Size
from graphnn._tensor import Tensor
from graphnn.nn.functional._dtypes import float_result as _float_result
from graphnn.nn.functional._dtypes import kernel_float as _kernel_float
from graphnn.nn.functional._base import _where, graph_function
from graphnn.nn.functional.distance import pairwise_distance
from graphnn.nn.functional.loss import _legacy_reduction, _reduce


def _into_input(fn: str, input: Tensor, target: Tensor) -> None:
    """PyTorch computes these losses into a tensor like ``input``: the broadcast shape must
    be input's, and a float result cannot go into an integer input."""
    try:
        shape = tuple(_ops.broadcast_shapes(tuple(input.shape), tuple(target.shape)))
    except ValueError as e:
        raise RuntimeError(f"{_where()}{e}") from None
    if shape != tuple(input.shape):
        raise RuntimeError(f"{_where()}output with shape {list(input.shape)} doesn't match the "
                           f"broadcast shape {list(shape)}")
    if input.dtype.name in ("int64", "int32"):
        _float_result(input)


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        _warn(f"Using a target size ({Size(target.shape)}) that is different to the "
             f"input size ({Size(input.shape)}). This will likely lead to incorrect "
             "results due to broadcasting. Please ensure they have the same size.")


def _softplus_neg_abs(x: Tensor) -> Tensor:
    """log(1 + exp(-|x|)): the stable tail of softplus (log1p keeps it exact for large
    |x|)."""
    return apply("log1p", apply("exp", -apply("abs", x)))


# -- regression -----------------------------------------------------------------------------
@graph_function(grad_name="L1LossBackward0")
def _l1(input, target, reduction):
    return _reduce(apply("abs", input - target), reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean") -> Tensor:
    """mean(|input - target|); shapes broadcast (with PyTorch's warning when they differ)."""
    _warn_size(input, target)
    return _l1(input, target, _legacy_reduction(size_average, reduce, reduction))


@graph_function(grad_name="SmoothL1LossBackward0")
def _smooth_l1(input, target, reduction, beta):
    z = apply("abs", input - target)
    if beta == 0:
        return _reduce(z, reduction)
    return _reduce(_ops.where(apply("lt", z, beta), z * z * (0.5 / beta), z - 0.5 * beta),
                   reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 z^2 / beta where z = |input - target| < beta, else z - 0.5 beta (Girshick 2015)."""
    if beta < 0:
        raise RuntimeError(f"{_where()}smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    return _smooth_l1(input, target, _legacy_reduction(size_average, reduce, reduction), beta)


@graph_function(grad_name="HuberLossBackward0")
def _huber(input, target, reduction, delta):
    z = apply("abs", input - target)
    return _reduce(_ops.where(apply("lt", z, delta), z * z * 0.5, (z - 0.5 * delta) * delta),
                   reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 z^2 where z = |input - target| < delta, else delta (z - 0.5 delta) (Huber 1964)."""
    if delta <= 0:
        raise RuntimeError(f"{_where()}huber_loss does not support non-positive values for "
                           "delta.")
    _float_result(input)     # PyTorch writes the loss into a tensor of input's dtype
    _warn_size(input, target)
    if weight is not None:
        return _reduce(_huber(input, target, "none", delta) * weight, reduction)
    return _huber(input, target, reduction, delta)


@graph_function(grad_name="KlDivBackward0")
def _kl(input, target, reduction, log_target):
    if log_target:
        loss = apply("exp", target) * (target - input)
    else:
        # xlogy: 0 where target == 0 (and its gradient too)
        positive = apply("gt", target, 0.0)
        safe = _ops.where(positive, target, 1.0)
        loss = _ops.where(positive, target * (apply("log", safe) - input), 0.0)
    if reduction == "batchmean":
        return _ops.sum(loss) * (1.0 / input.shape[0]) if input.dim() else _ops.sum(loss)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: target (log target - input), input holding
    log-probabilities; ``batchmean`` divides the sum by the batch size."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not input.dtype.is_float:
        raise RuntimeError(f"{_where()}kl_div: Integral inputs not supported.")
    if reduction == "mean":
        _warn("reduction: 'mean' divides the total loss by both the batch size and the "
             "support size.'batchmean' divides only by the batch size, and aligns "
             "with the KL div math definition.'mean' will be changed to behave the "
             "same as 'batchmean' in the next major release.")
    return _kl(input, target, reduction, log_target)


@graph_function(grad_name="PoissonNllLossBackward0")
def _poisson(input, target, log_input, full, reduction, eps):
    if log_input:
        loss = apply("exp", input) - target * input
    else:
        loss = input - target * apply("log", input + eps)
    if full:
        # Stirling's approximation of log(target!), for target > 1
        big = apply("gt", target, 1.0)
        t = _ops.where(big, target, 1.0)
        stirling = t * apply("log", t) - t + apply("log", t * (2 * math.pi)) * 0.5
        loss = loss + _ops.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Negative log likelihood of ``target`` under Poisson(rate = exp(input) or input)."""
    return _poisson(input, target, log_input, full,
                    _legacy_reduction(size_average, reduce, reduction), eps)


@graph_function(grad_name="GaussianNllLossBackward0")
def _gaussian(input, target, var, full, eps, reduction):
    # PyTorch clamps a clone of var in place under no_grad: the values are clamped, the
    # gradient is var's own
    var = apply("straight_through", _ops.clamp(var, min=eps), var)
    diff = input - target
    loss = (apply("log", var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) (+ 0.5 log 2 pi with
    ``full``); ``var`` of input's shape, with one dim fewer, or its last dim 1 (homoscedastic),
    or a float."""
    _ops._no_bool_sub(input, target)
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = full_like(input, float(var))
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = _ops.unsqueeze(var, -1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"{_where()}var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    if var._sym is None and var.numel() and bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    return _gaussian(input, target, _ops.expand(var, tuple(input.shape)), full, eps, reduction)


# -- binary ----------------------------------------------------------------------------------
@graph_function(grad_name="BinaryCrossEntropyBackward0")
def _bce(input, target, weight, reduction):
    # PyTorch clamps each log at -100 so that log(0) stays finite
    log_x = _ops.clamp(apply("log", input), min=-100.0)
    log_1mx = _ops.clamp(apply("log", 1.0 - input), min=-100.0)
    loss = -(target * log_x + (1.0 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-(y log x + (1 - y) log(1 - x)) for probabilities ``input`` in [0, 1]."""
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{_where()}Using a target size ({Size(target.shape)}) that is "
                         f"different to the input size ({Size(input.shape)}) is deprecated. "
                         "Please ensure they have the same size.")
    if input._sym is None and input.numel():
        values = input._host()
        if (values < 0).any() or (values > 1).any():
            raise RuntimeError(f"{_where()}all elements of input should be between 0 and 1")
    return _bce(input, target, weight, _legacy_reduction(size_average, reduce, reduction))


@graph_function(grad_name="BinaryCrossEntropyWithLogitsBackward0")
def _bce_logits(input, target, weight, pos_weight, reduction):
    tail = _softplus_neg_abs(input) + _ops.clamp(-input, min=0.0)   # log(1 + exp(-x))
    if pos_weight is not None:
        log_weight = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + log_weight * tail
    else:
        loss = (1.0 - target) * input + tail
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid and binary cross entropy in one numerically stable form:
    (1 - y) x + w_pos (log(1 + exp(-|x|)) + max(-x, 0)), w_pos = 1 + (pos_weight - 1) y."""
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{_where()}Target size ({Size(target.shape)}) must be the same as "
                         f"input size ({Size(input.shape)})")
    _kernel_float("log_sigmoid_cpu", input)
    return _bce_logits(input, target, weight, pos_weight,
                       _legacy_reduction(size_average, reduce, reduction))


@graph_function(grad_name="SoftMarginLossBackward0")
def _soft_margin(input, target, reduction):
    return _reduce(apply("log1p", apply("exp", -target * input)), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) for targets y in {1, -1}. PyTorch writes the loss into a tensor of
    input's shape and dtype: a target that broadcasts it larger, or an integer input, raises
    RuntimeError."""
    _into_input("soft_margin_loss", input, target)
    if input.dtype.name == "bool":
        _ops.neg(input)     # PyTorch's bool negation error
    return _soft_margin(input, target, _legacy_reduction(size_average, reduce, reduction))


# -- ranking and embeddings -------------------------------------------------------------------
@graph_function
def _hinge_embedding(input, target, margin, reduction):
    margin_part = _ops.where(apply("ne", target, 1), _ops.clamp(margin - input, min=0.0), 0.0)
    self_part = _ops.where(apply("ne", target, -1), input, 0.0)
    return _reduce(margin_part + self_part, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1."""
    _ops._no_bool_sub(input, target)
    if not input.dtype.is_float and _legacy_reduction(size_average, reduce, reduction) == "mean":
        _ops.mean(input)    # PyTorch's mean of an integer loss
    return _hinge_embedding(input, target, margin,
                            _legacy_reduction(size_average, reduce, reduction))


@graph_function
def _margin_ranking(input1, input2, target, margin, reduction):
    return _reduce(_ops.clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin)."""
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"{_where()}margin_ranking_loss : All input tensors should have "
                           f"same dimension but got sizes: input1: {Size(input1.shape)}, "
                           f"input2: {Size(input2.shape)}, target: {Size(target.shape)} ")
    return _margin_ranking(input1, input2, target, margin,
                           _legacy_reduction(size_average, reduce, reduction))


@graph_function
def _cosine_embedding(input1, input2, target, margin, reduction):
    eps = 1e-12      # ATen's EPSILON: the squared norms are offset, not clamped
    axis = input1.dim() - 1
    prod = _ops.sum(input1 * input2, axis)
    mag1 = _ops.sum(input1 * input1, axis) + eps
    mag2 = _ops.sum(input2 * input2, axis) + eps
    cos = prod / apply("sqrt", mag1 * mag2)
    pos = _ops.where(apply("eq", target, 1), 1.0 - cos, 0.0)
    neg = _ops.where(apply("eq", target, -1), _ops.clamp(cos - margin, min=0.0), 0.0)
    return _reduce(pos + neg, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1; inputs (N, D)
    or (D,), target (N,) or ()."""
    if input1.dim() != input2.dim():
        raise RuntimeError(f"{_where()}cosine_embedding_loss : All input tensors should have "
                           f"same dimension but got sizes: input1: {Size(input1.shape)}, "
                           f"input2: {Size(input2.shape)}")
    return _cosine_embedding(input1, input2, target, margin,
                             _legacy_reduction(size_average, reduce, reduction))


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with pairwise p-norm distances (Schroff et al.
    2015); ``swap`` uses min(d(a, n), d(p, n)) (Balntas et al. 2016)."""
    if not (anchor.dim() == positive.dim() == negative.dim()):
        raise RuntimeError(f"{_where()}The anchor, positive, and negative tensors are expected "
                           "to have the same number of dimensions, but got: anchor "
                           f"{anchor.dim()}D, positive {positive.dim()}D, and negative "
                           f"{negative.dim()}D inputs")
    return triplet_margin_with_distance_loss(
        anchor, positive, negative,
        distance_function=lambda a, b: pairwise_distance(a, b, p, eps), margin=margin,
        swap=swap, reduction=_legacy_reduction(size_average, reduce, reduction))


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) for any distance function (default: pairwise
    2-norm)."""
    if not (anchor.dim() == positive.dim() == negative.dim()):
        raise RuntimeError(f"{_where()}The anchor, positive, and negative tensors are expected "
                           "to have the same number of dimensions, but got: anchor "
                           f"{anchor.dim()}D, positive {positive.dim()}D, and negative "
                           f"{negative.dim()}D inputs")
    dist = distance_function or pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = _ops.minimum(d_neg, dist(positive, negative))
    return _reduce(_ops.clamp(d_pos - d_neg + margin, min=0.0), reduction)
