"""Connectionist temporal classification loss (Graves et al. 2006, "Connectionist Temporal
Classification: Labelling Unsegmented Sequence Data with Recurrent Neural Networks"), with
PyTorch 2.13's arguments, checks, reductions and gradient.

The forward variables are computed in log space over the extended label sequence l' (the
target with blanks around and between its labels, length 2S + 1), unrolled over the T input
frames inside one compiled graph; each frame is the same few elementwise ops over (N, 2S + 1),
so every frame's kernels have equal text (the frame's offsets are kernel arguments) and the
compile cost does not grow with T. The gradient is autodiff of that recursion."""
from __future__ import annotations

import numpy as np

from graphnn import _ops
from graphnn._composites import cumsum
from graphnn._creation import tensor as _tensor
from graphnn._dispatch import apply
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._trace import check_values
from graphnn.ir.types import int64
from graphnn.nn.functional._base import _iota, _where, graph_function

# A finite stand-in for log(0): -inf arithmetic would give inf - inf = nan in the
# log-sum-exp and in its gradient. A path that starts here stays near it (adding log
# probabilities of a few hundred frames does not move 1e30 in float32), so a final value
# below half of it means that no alignment exists.
_NEG = -1e30

_CHECKED = "(while checking arguments for ctc_loss_allocate_outputs)"


def _lse(*xs: Tensor) -> Tensor:
    """log(sum(exp(x))) of equally shaped tensors, elementwise. The maximum is detached: the
    gradient of m + log(sum(exp(x - m))) does not depend on m, so it is exactly the softmax
    weights, and the backward reads only the exponentials and their sum (stored by the
    frame's kernel), not the shifted inputs, which the kernel can then recompute."""
    m = xs[0]
    for x in xs[1:]:
        m = _ops.maximum(m, x)
    m = m.detach()
    total = None
    for x in xs:
        e = apply("exp", x - m)
        total = e if total is None else total + e
    return m + apply("log", total)


def _shift(x: Tensor, k: int, fill) -> Tensor:
    """x[..., s - k] along the last dim, ``fill`` where s < k."""
    from graphnn.nn.functional.pad import pad
    return pad(x, (k, -k), value=fill)


@graph_function
def _pad_targets(targets, target_lengths, s_max):
    """Concatenated 1-D targets as padded (N, s_max): sample n's labels start at the sum of
    the earlier lengths (positions past a length read label 0, masked later)."""
    tl = _ops.to_dtype(target_lengths, int64)
    n = tl.shape[0]
    k = _iota((n, s_max), 1)
    start = _ops.unsqueeze(cumsum(tl, 0) - tl, 1)
    at = _ops.where(k < _ops.unsqueeze(tl, 1), start + k, 0)
    flat = _ops.expand(_ops.reshape(_ops.to_dtype(targets, int64), (1, -1)),
                       (n, targets.shape[0]))
    return apply("gather", flat, at, axis=1)


@graph_function
def _reduce(loss, target_lengths, reduction):
    if reduction == "mean":     # each loss over its target length, then the batch mean
        lengths = _ops.clamp(_ops.to_dtype(target_lengths, int64), min=1)
        return _ops.mean(loss / _ops.to_dtype(lengths, loss.dtype))
    return _ops.sum(loss)


@graph_function
def _frames(input_lengths, steps):
    """(T, N, 1): frame t is within sample n's input."""
    il = _ops.to_dtype(input_lengths, int64)
    return _ops.unsqueeze(_iota((steps, il.shape[0]), 0) < _ops.unsqueeze(il, 0), 2)


@graph_function
def _ctc(log_probs, targets, active, target_lengths, blank, zero_infinity):
    """Per-sample losses (N,) of log_probs (T, N, C) and padded targets (N, S); ``active``
    (T, N, 1) marks the frames within each input. It is an input of the graph so that the
    backward reads each frame's mask as a view of it rather than a copy saved per frame."""
    T, N, _ = log_probs.shape
    S = targets.shape[1]
    L = 2 * S + 1
    tl = _ops.to_dtype(target_lengths, int64)
    targets = _ops.to_dtype(targets, int64)
    in_target = _iota((N, S), 1) < _ops.unsqueeze(tl, 1)                   # (N, S)
    # labels past a target's length are read as blanks, so that any padding value is safe;
    # the clamp keeps reads in bounds for labels outside [0, C) (PyTorch reads past them)
    tgt = _ops.clamp(_ops.where(in_target, targets, blank), min=0, max=log_probs.shape[2] - 1)
    # l'(s): blank at even s, label (s - 1) / 2 at odd s; gathers with host-made indices
    s = np.arange(L)
    label = _ops.expand(_tensor(np.minimum(s // 2, S - 1)), (N, L))
    before = _ops.expand(_tensor(np.clip(s // 2 - 1, 0, S - 1)), (N, L))
    odd = _tensor(s % 2 == 1)
    ext = _ops.where(odd, apply("gather", tgt, label, axis=1), blank)          # (N, L)
    prev = apply("gather", tgt, before, axis=1)
    # alpha_t(s) may come from s - 2 when l'(s) is a label that differs from l'(s - 2)
    skip = apply("logical_and", odd, _tensor(s >= 3))
    skip = apply("logical_and", skip, apply("logical_and", apply("ne", ext, blank),
                                             apply("ne", ext, prev)))
    # every frame's log-probabilities at l', gathered once
    # (clamped first: -inf inputs, probability 0, stay finite)
    lp = apply("gather", _ops.maximum(log_probs, _NEG),
               _ops.expand(_ops.unsqueeze(ext, 0), (T, N, L)), axis=2)
    # alpha before the first frame: log 1 at s = 0, so frame 0 takes s = 0 and s = 1
    alpha = _ops.where(_iota((N, L), 1) == 0, 0.0, _NEG)
    for t in range(T):
        step = _lse(alpha, _shift(alpha, 1, _NEG),
                    _ops.where(skip, _shift(alpha, 2, _NEG), _NEG)) + lp[t]
        alpha = _ops.where(active[t], step, alpha)      # frozen past the input's length
    # log p(target) = logsumexp(alpha(2 tl), alpha(2 tl - 1)) at each input's own length
    end = _ops.unsqueeze(tl * 2, 1)
    last = apply("gather", alpha, end, axis=1)
    last2 = _ops.where(end > 0, apply("gather", alpha, _ops.clamp(end - 1, min=0), axis=1),
                       _NEG)
    nll = -_ops.squeeze(_lse(last, last2), 1)                                 # (N,)
    impossible = nll > -_NEG * 0.5
    # PyTorch's gradient adds exp(log_probs) at every frame within the input length (its
    # formula is the gradient with respect to logits under a log_softmax, which that term
    # cancels); impossible samples get nan there, as PyTorch's inf - inf gives
    e = _ops.where(active, apply("exp", log_probs), 0.0)
    if not zero_infinity:
        e = e * _ops.unsqueeze(_ops.where(impossible, float("nan"), 1.0), 1)
    surrogate = nll + _ops.sum(e, (0, 2))
    if zero_infinity:
        value = _ops.where(impossible, 0.0, nll)
        surrogate = _ops.where(impossible, 0.0, surrogate)
    else:
        value = _ops.where(impossible, float("inf"), nll)
    return apply("straight_through", value, surrogate)


def _lengths(v, name: str) -> Tensor:
    if not isinstance(v, Tensor):
        v = _tensor(np.asarray(list(v) if isinstance(v, (tuple, list)) else v, np.int64))
    if v.dtype.is_float or v.dtype.name == "bool":
        raise RuntimeError(f"{_where('ctc_loss')}{name} must be integral")
    return _ops.reshape(v, (-1,))


def _host_values(t: Tensor):
    return t._host() if t._sym is None else None


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss, -log p(target | input), summed over every alignment of the target to
    the input frames (Graves et al. 2006), as ``torch.nn.functional.ctc_loss`` computes it.

    - ``log_probs``: (T, N, C) or unbatched (T, C), float32 or float64 log-probabilities
      (usually a ``log_softmax`` over C).
    - ``targets``: padded (N, S) (or (S,) unbatched), or the targets concatenated, 1-D of
      length sum(target_lengths); class indices in [0, C) other than ``blank``, integer
      (a float tensor is read as integers, as PyTorch does).
    - ``input_lengths``, ``target_lengths``: (N,) integer tensors, or tuples/lists of ints;
      input lengths at most T, target lengths at most S.
    - ``reduction``: ``'none'`` gives (N,) (a scalar unbatched), ``'sum'`` the sum, ``'mean'``
      each loss divided by its target length (clamped to >= 1), then the batch mean.
    - ``zero_infinity``: infinite losses (no alignment: an input too short for its target)
      and their gradients become 0; otherwise the loss is inf and its gradient nan.

    The gradient with respect to ``log_probs`` is PyTorch's: exp(log_probs) minus the
    posterior of each class at each frame (Graves et al. eq. 16 taken through a
    log_softmax), zero past each input length.

    Raises PyTorch's errors: ValueError for an unknown reduction; RuntimeError for
    non-integral lengths, lengths not of size N, an empty ``log_probs``, a blank outside
    [0, C), a ``log_probs`` that is not 2-D or 3-D, targets of the wrong size or rank,
    negative lengths, input lengths above T or target lengths above S;
    NotImplementedError for integer ``log_probs``."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    fn = _where("ctc_loss")
    batched = log_probs.dim() == 3
    if not batched and log_probs.dim() == 2:
        log_probs = _ops.unsqueeze(log_probs, 1)
    il = _lengths(input_lengths, "input_lengths")
    tl = _lengths(target_lengths, "target_lengths")
    if log_probs.numel() == 0:
        raise RuntimeError(f"{fn}log_probs tensor must not be empty")
    if not log_probs.dtype.is_float:
        raise NotImplementedError(f"{fn}\"ctc_loss_cpu\" not implemented for "
                                  f"'{SCALAR_NAMES[log_probs.dtype.name]}'")
    n_cls = log_probs.shape[-1]
    if not 0 <= blank < n_cls:
        raise RuntimeError(f"{fn}blank must be in label range")
    if log_probs.dim() != 3:
        raise RuntimeError(f"{fn}Expected 3-dimensional tensor, but got {log_probs.dim() + 1}"
                           f"-dimensional tensor for argument #1 'log_probs' {_CHECKED}")
    n = log_probs.shape[1]
    for v, name in ((il, "input_lengths"), (tl, "target_lengths")):
        if v.shape[0] != n:
            raise RuntimeError(f"{fn}{name} must be of size batch_size")
    if not batched and targets.dim() == 1:
        targets = _ops.unsqueeze(targets, 0)        # unbatched targets are padded (1, S)
    if targets.dim() not in (1, 2):
        raise RuntimeError(f"{fn}Expected 1 to 2 dimensions, but got {targets.dim()}-"
                           f"dimensional tensor for argument #2 'targets' {_CHECKED}")
    T = log_probs.shape[0]
    tl_host, il_host = _host_values(tl), _host_values(il)
    concatenated = targets.dim() == 1
    if concatenated:
        total = int(tl_host.sum()) if tl_host is not None else None
        if total is not None and targets.shape[0] != total:
            raise RuntimeError(f"{fn}Expected tensor to have size {total} at dimension 0, "
                               f"but got size {targets.shape[0]} for argument #2 'targets' "
                               f"{_CHECKED}")
        # the longest target sizes the extended labels; a traced length bounds it by the sum
        s_max = int(tl_host.max()) if tl_host is not None and tl_host.size \
            else int(targets.shape[0])
    else:
        if targets.shape[0] != n:
            raise RuntimeError(f"{fn}Expected tensor to have size {n} at dimension 0, but got "
                               f"size {targets.shape[0]} for argument #2 'targets' {_CHECKED}")
        s_max = targets.shape[1]

    def check_tl(values):
        for v in values.reshape(-1):
            if v < 0:
                raise RuntimeError(f"{fn}Expected target_lengths to have value at least 0, "
                                   f"but got value {int(v)} {_CHECKED}")
            if not concatenated and v > s_max:
                raise RuntimeError(f"{fn}Expected tensor to have size at least {int(v)} at "
                                   f"dimension 1, but got size {s_max} for argument #2 "
                                   f"'targets' {_CHECKED}")

    def check_il(values):
        for v in values.reshape(-1):
            if v < 0:
                raise RuntimeError(f"{fn}Expected input_lengths to have value at least 0, but "
                                   f"got value {int(v)} {_CHECKED}")
            if v > T:
                raise RuntimeError(f"{fn}Expected input_lengths to have value at most {T}, "
                                   f"but got value {int(v)} {_CHECKED}")
    check_values(tl, check_tl)
    check_values(il, check_il)
    if s_max == 0 or targets.numel() == 0:
        # no labels at all: one column of blanks keeps the shapes non-empty
        from graphnn._creation import zeros
        targets, s_max, concatenated = zeros((n, 1), dtype=int64), 1, False
    if concatenated:
        targets = _pad_targets(targets, tl, int(s_max))
    active = _tensor(np.arange(T)[:, None, None] < il_host[None, :, None]) \
        if il_host is not None else _frames(il, T)
    loss = _ctc(log_probs, targets, active, tl, int(blank), bool(zero_infinity))
    if reduction != "none":
        return _reduce(loss, tl, reduction)
    return _ops.squeeze(loss, 0) if not batched else loss


__all__ = ["ctc_loss"]
