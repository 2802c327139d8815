"""Gradient clipping (PyTorch's ``clip_grad_norm_``/``clip_grad_value_``)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.autograd import no_grad


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scales gradients so that their joint ``norm_type`` norm is at most ``max_norm``;
    returns the total norm (a 0-d tensor). clip_coef = max_norm / (total_norm + 1e-6)."""
    # a generator (model.parameters()) can be read once: take the gradients in one pass
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    from graphnn._creation import tensor
    if not grads:
        return tensor(0.0)
    with no_grad():
        if norm_type == float("inf"):
            norms = [_ops.amax(_ops.abs(g)) for g in grads]
            total = norms[0]
            for n in norms[1:]:
                total = _ops.maximum(total, n)
        else:
            total = None
            for g in grads:
                s = _ops.sum(_ops.abs(g) ** norm_type) if norm_type != 2 else _ops.sum(g * g)
                total = s if total is None else total + s
            total = total ** (1.0 / norm_type)
        if error_if_nonfinite:
            v = total.item()
            if v != v or v in (float("inf"), float("-inf")):
                raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                                   "`parameters` is non-finite, so it cannot be clipped.")
        coef = _ops.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef)    # in place, as PyTorch: references to p.grad see the scaling
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
