"""Stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay
and ``maximize`` (the update rule of PyTorch's ``torch.optim.SGD`` docs; Nesterov momentum
after Sutskever et al., 2013).

The update of all parameters of a group is one compiled graph (``graphnn/optim/_graph.py``).
A parameter's first momentum step stores its gradient as the buffer (PyTorch's
``clone``); here it is the same graph as every later step, run on a zero buffer with the
coefficients ``(0, 1)`` instead of ``(momentum, 1 - dampening)``: ``0 * 0 + 1 * g`` is
``g`` exactly, and no step needs a graph of its own."""
from __future__ import annotations

from graphnn._tensor import Tensor
from graphnn.optim._graph import GraphOptimizer, check_options, lr_of


class SGD(GraphOptimizer):
    """``torch.optim.SGD``: for each parameter, with ``g`` the gradient (negated when
    ``maximize``)::

        g = g + weight_decay * p
        b = momentum * b + (1 - dampening) * g      (b = g on the first step)
        g = g + momentum * b if nesterov else b     (when momentum != 0)
        p = p - lr * g
    """

    _STEP = False   # PyTorch's SGD keeps no step count

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_options(lr, foreach, fused, differentiable)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _prepare_state(self, p: Tensor, state: dict, group: dict) -> bool:
        if group["momentum"] == 0 or state.get("momentum_buffer") is not None:
            return False
        from graphnn._creation import zeros_like
        state["momentum_buffer"] = zeros_like(p)
        return True

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        s = [-lr_of(group)]
        if group["weight_decay"] != 0:
            s.append(group["weight_decay"])
        m = group["momentum"]
        if m != 0:
            s += [0.0, 1.0] if fresh else [m, 1 - group["dampening"]]
            s.append(m)
        return tuple(s)

    def _statics(self, group: dict) -> tuple:
        return (("maximize", bool(group["maximize"])), ("decay", group["weight_decay"] != 0),
                ("momentum", group["momentum"] != 0), ("nesterov", bool(group["nesterov"])))

    @staticmethod
    def _rule(p, g, state, s, *, maximize: bool, decay: bool, momentum: bool,
              nesterov: bool) -> tuple:
        neg_lr, rest = s[0], list(s[1:])
        d_p = -g if maximize else g
        if decay:
            d_p = d_p + rest.pop(0) * p
        if not momentum:
            return (p + neg_lr * d_p,)
        buf_coef, grad_coef, m = rest
        buf = state[0] * buf_coef + grad_coef * d_p
        d_p = d_p + m * buf if nesterov else buf
        return p + neg_lr * d_p, buf
