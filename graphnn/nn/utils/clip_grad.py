"""Gradient clipping: ``clip_grad_norm_``, ``clip_grad_value_``, ``get_total_norm``,
``clip_grads_with_norm_`` (PyTorch 2.13's ``torch.nn.utils``).

The total norm is PyTorch's: the ``norm_type`` norm of each gradient, then the same norm of
those norms; the clipping coefficient is ``min(max_norm / (total + 1e-6), 1)``. A clip is
ONE compiled graph over all the gradients (their norms, the total, the coefficient and the
scaled gradients), with ``max_norm`` (or ``clip_value``) a 0-d input, so a threshold that
changes every step never recompiles. The scaled values are written into the existing
gradient tensors, as PyTorch's in-place ``mul_``: references to ``p.grad`` see them."""
from __future__ import annotations

import math
import types
import warnings

from graphnn import _compile, _ops, _trace
from graphnn._dispatch import scalar_tensor
from graphnn._tensor import Tensor
from graphnn.autograd import no_grad

_CACHE: dict = {}


def _tensors(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(g, p: float):
    """``vector_norm(g, p)`` without the zero-gradient guards of ``Tensor.norm`` (nothing
    is differentiated here): each norm stays one reduction with its epilogue."""
    if p == math.inf:
        return _ops.amax(_ops.abs(g))
    if p == -math.inf:
        return _ops.amin(_ops.abs(g))
    if p == 0:
        return _ops.sum(_ops.to_dtype(g != 0.0, g.dtype))
    if p == 1:
        return _ops.sum(_ops.abs(g))
    if p == 2:
        return _ops.sqrt(_ops.sum(g * g))
    return _ops.pow(_ops.sum(_ops.pow(_ops.abs(g), p)), 1.0 / p)


def _total(grads: list, norm_type: float):
    """PyTorch's total norm, ``vector_norm(stack([vector_norm(g, p) for g]), p)``, with
    the outer norm written over the list of 0-d norms (no stack of 0-d values)."""
    dtype = grads[0].dtype
    norms = [_ops.to_dtype(_norm(g, norm_type), dtype) for g in grads]
    p = norm_type
    if p in (math.inf, -math.inf):
        pick = _ops.maximum if p == math.inf else _ops.minimum
        total = _ops.abs(norms[0])
        for n in norms[1:]:
            total = pick(total, _ops.abs(n))
        return total
    if p == 0:
        terms = [_ops.to_dtype(n != 0.0, dtype) for n in norms]
    elif p == 1:
        terms = [_ops.abs(n) for n in norms]
    elif p == 2:
        terms = [n * n for n in norms]
    else:
        terms = [_ops.pow(_ops.abs(n), p) for n in norms]
    s = terms[0]
    for t in terms[1:]:
        s = s + t
    if p in (0, 1):
        return s
    return _ops.sqrt(s) if p == 2 else _ops.pow(s, 1.0 / p)


def _coef(max_norm, total):
    # PyTorch's max_norm / (total + 1e-6) is a number over a tensor: reciprocal times
    return _ops.clamp((1.0 / (total + 1e-6)) * max_norm, max=1.0)


def _clip_norm_graph(max_norm, *grads, norm_type: float) -> tuple:
    total = _total(list(grads), norm_type)
    coef = _coef(max_norm, total)
    return (total,) + tuple(_ops.to_dtype(g * coef, g.dtype) for g in grads)


def _norm_graph(*grads, norm_type: float):
    return _total(list(grads), norm_type)


def _scale_graph(max_norm, total, *grads) -> tuple:
    coef = _coef(max_norm, total)
    return tuple(_ops.to_dtype(g * coef, g.dtype) for g in grads)


def _clamp_graph(clip, *grads) -> tuple:
    return tuple(_ops.to_dtype(_ops.clamp(g, min=-clip, max=clip), g.dtype) for g in grads)


def _run(fn, label: str, args: list, kwargs: dict | None = None):
    """``fn`` as one compiled graph (inline when already tracing)."""
    if _trace.current() is not None:
        return fn(*args, **(kwargs or {}))
    return _compile.call_traced(fn, label, args, label, kwargs or {}, cache=_CACHE)


def _write(grads: list, new) -> None:
    """Stores the new values in the gradient tensors themselves (PyTorch's ``mul_``)."""
    for g, n in zip(grads, new):
        if _trace.current() is not None:
            g.copy_(n)
        else:
            g._write(n._dense()[0], True)


def _check_finite(total: Tensor, norm_type: float) -> None:
    v = float(total.item())     # a host read, only when asked for (as in PyTorch)
    if math.isnan(v) or math.isinf(v):
        raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """The ``norm_type`` norm of the tensors' norms (``torch.nn.utils.get_total_norm``)."""
    tensors = _tensors(tensors)
    norm_type = float(norm_type)
    from graphnn._creation import tensor
    if not tensors:
        return tensor(0.0)
    with no_grad():
        total = _run(_norm_graph, "grad_norm", tensors, dict(norm_type=norm_type))
    if error_if_nonfinite:
        _check_finite(total, norm_type)
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach=None) -> None:
    """Scales the gradients by ``min(max_norm / (total_norm + 1e-6), 1)`` in place."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        mx = scalar_tensor(float(max_norm), grads[0].dtype)
        _write(grads, _run(_scale_graph, "grad_scale", [mx, total_norm] + grads))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scales the gradients so that their total ``norm_type`` norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d tensor).
    ``parameters`` (a tensor or an iterable, read once) may include tensors without a
    gradient. ``error_if_nonfinite`` reads the norm on the host and raises before any
    gradient changes."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will "
                          "occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    from graphnn._creation import tensor
    if not grads:
        return tensor(0.0)
    with no_grad():
        mx = scalar_tensor(float(max_norm), grads[0].dtype)
        outs = _run(_clip_norm_graph, "clip_grad_norm", [mx] + grads,
                    dict(norm_type=norm_type))
        total, new = outs[0], outs[1:]
        if error_if_nonfinite:
            _check_finite(total, norm_type)
        _write(grads, new)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamps every gradient to ``[-clip_value, clip_value]`` in place (one graph)."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        clip = scalar_tensor(float(clip_value), grads[0].dtype)
        _write(grads, _run(_clamp_graph, "clip_grad_value", [clip] + grads))
