"""Per-coordinate adaptive steps: ``RMSprop`` (centered, momentum; Hinton's lecture 6e,
centered form from Graves 2013), ``Adagrad`` (Duchi et al. 2011, with PyTorch's
``lr_decay``) and ``Adadelta`` (Zeiler 2012).

Update rules: PyTorch 2.13's ``torch.optim`` docs and single-tensor code paths. Each step
of a group is one compiled graph (``graphnn/optim/_graph.py``) with every scalar a 0-d
input and PyTorch's order of operations."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.optim._graph import (GraphOptimizer, addcdiv, addcmul, check_options, lerp,
                                  lr_of)
from graphnn.optim.optimizer import host_scalar, host_value


def _lr_checks(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= host_value(lr):
        raise ValueError(f"Invalid learning rate: {lr}")


def _l2(p, g, s: list, decay: bool, maximize: bool):
    """The gradient after ``maximize`` and L2 weight decay (its scalar first in ``s``)."""
    g = -g if maximize else g
    return g + s.pop(0) * p if decay else g


class RMSprop(GraphOptimizer):
    """``torch.optim.RMSprop``::

        v = alpha * v + (1 - alpha) * g * g
        a = sqrt(v - m_g * m_g) + eps,  m_g = lerp(m_g, g, 1 - alpha)   (centered)
        a = sqrt(v) + eps                                               (otherwise)
        b = momentum * b + g / a;  p = p - lr * b                       (momentum > 0)
        p = p - lr * g / a                                              (otherwise)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False):
        _lr_checks(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)
        check_options(lr, foreach, None, differentiable)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        wd = (group["weight_decay"],) if group["weight_decay"] != 0 else ()
        alpha = group["alpha"]
        return wd + (alpha, 1 - alpha, group["eps"], group["momentum"], -lr_of(group))

    def _statics(self, group: dict) -> tuple:
        return (("decay", group["weight_decay"] != 0), ("maximize", bool(group["maximize"])),
                ("momentum", group["momentum"] > 0), ("centered", bool(group["centered"])),
                ("small", abs(1 - group["alpha"]) < 0.5))

    @staticmethod
    def _rule(p, g, state, s, *, decay: bool, maximize: bool, momentum: bool,
              centered: bool, small: bool) -> tuple:
        s = list(s)
        g = _l2(p, g, s, decay, maximize)
        alpha, one_minus_alpha, eps, mom, neg_lr = s
        v = addcmul(state[0] * alpha, g, g, one_minus_alpha)
        new = [v]
        if centered:
            g_avg = lerp(state[-1], g, one_minus_alpha, small)
            # PyTorch's v.addcmul(g_avg, g_avg, value=-1), v + (-1 * g_avg) * g_avg, is
            # exactly v - g_avg * g_avg; written so, g_avg (a graph output) has one user
            # and fuses with the rest of the update
            avg = _ops.sqrt(v - g_avg * g_avg)
        else:
            avg = _ops.sqrt(v)
        avg = avg + eps
        if momentum:
            buf = addcdiv(state[1] * mom, g, avg, 1.0)
            new.append(buf)
            p = p + neg_lr * buf
        else:
            p = addcdiv(p, g, avg, neg_lr)
        if centered:
            new.append(g_avg)
        return (p, *new)


class Adagrad(GraphOptimizer):
    """``torch.optim.Adagrad``::

        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    The state (``step``, ``sum`` filled with ``initial_accumulator_value``) is created for
    every parameter when the optimizer is, as PyTorch does."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None):
        _lr_checks(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)
        check_options(lr, foreach, fused, differentiable)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._init_state(p, group))

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("sum",)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        from graphnn._creation import full_like
        # PyTorch fills from the constructor's value, not the group's
        return {"step": host_scalar(0.0),
                "sum": full_like(p, float(self.defaults["initial_accumulator_value"]))}

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        wd = (group["weight_decay"],) if group["weight_decay"] != 0 else ()
        clr = lr_of(group) / (1 + (step - 1) * group["lr_decay"])
        return wd + (group["eps"], -clr)

    def _statics(self, group: dict) -> tuple:
        return (("decay", group["weight_decay"] != 0), ("maximize", bool(group["maximize"])))

    @staticmethod
    def _rule(p, g, state, s, *, decay: bool, maximize: bool) -> tuple:
        s = list(s)
        g = _l2(p, g, s, decay, maximize)
        eps, neg_clr = s
        total = addcmul(state[0], g, g, 1.0)
        return addcdiv(p, g, _ops.sqrt(total) + eps, neg_clr), total


class Adadelta(GraphOptimizer):
    """``torch.optim.Adadelta``::

        v = rho * v + (1 - rho) * g * g
        d = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        _lr_checks(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, capturable=capturable, foreach=foreach,
                        differentiable=differentiable)
        super().__init__(params, defaults)
        check_options(lr, foreach, None, differentiable)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        wd = (group["weight_decay"],) if group["weight_decay"] != 0 else ()
        rho = group["rho"]
        return wd + (rho, 1 - rho, group["eps"], -lr_of(group))

    def _statics(self, group: dict) -> tuple:
        return (("decay", group["weight_decay"] != 0), ("maximize", bool(group["maximize"])))

    @staticmethod
    def _rule(p, g, state, s, *, decay: bool, maximize: bool) -> tuple:
        s = list(s)
        g = _l2(p, g, s, decay, maximize)
        rho, one_minus_rho, eps, neg_lr = s
        v = addcmul(state[0] * rho, g, g, one_minus_rho)
        std = _ops.sqrt(v + eps)
        delta = _ops.sqrt(state[1] + eps) / std * g
        u = addcmul(state[1] * rho, delta, delta, one_minus_rho)
        return p + neg_lr * delta, v, u


__all__ = ["RMSprop", "Adagrad", "Adadelta"]
