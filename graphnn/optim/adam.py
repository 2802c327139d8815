"""The Adam family: ``Adam`` (amsgrad, L2 or decoupled weight decay), ``AdamW``,
``Adamax``, ``NAdam`` and ``RAdam``.

Update rules: PyTorch 2.13's ``torch.optim`` docs and single-tensor code paths; the papers
are Kingma & Ba 2015 (Adam, Adamax), Reddi et al. 2018 (AMSGrad), Loshchilov & Hutter 2019
(AdamW), Dozat 2016 (NAdam, with PyTorch's momentum-decay schedule) and Liu et al. 2020
(RAdam). Each step of a group is one compiled graph (``graphnn/optim/_graph.py``); every
value that depends on the step count (bias corrections, NAdam's momentum products,
RAdam's rectification) is computed on the host in double precision, as PyTorch computes
it, and reaches the graph as a 0-d input. The scalars are rounded to the parameters' dtype
once, where PyTorch's kernels convert their scalar arguments, and the tensor arithmetic
keeps PyTorch's order of operations, so results agree to rounding."""
from __future__ import annotations

import numpy as np

from graphnn._tensor import Tensor
from graphnn.optim._graph import (GraphOptimizer, addcdiv, addcmul, check_options, lerp,
                                  lr_of)
from graphnn.optim.optimizer import host_scalar, host_value, set_host_scalar
from graphnn import _ops


def _check_betas(lr, eps: float, betas, weight_decay: float) -> None:
    if not 0.0 <= host_value(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _lr_tensor_check(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _decay(group: dict, lr: float) -> tuple[float, ...]:
    """The weight-decay scalar: ``1 - lr * wd`` (decoupled) or ``wd`` (L2), if any."""
    wd = group["weight_decay"]
    if wd == 0:
        return ()
    return (1 - lr * wd,) if group.get("decoupled_weight_decay") else (wd,)


def _apply_decay(p, g, s: list, decay: str):
    """Weight decay ``decay`` ("", "l2" or "decoupled") with its scalar first in ``s``."""
    if decay == "l2":
        return p, g + s.pop(0) * p
    if decay == "decoupled":
        return p * s.pop(0), g
    return p, g


def _decay_kind(group: dict) -> str:
    if group["weight_decay"] == 0:
        return ""
    return "decoupled" if group.get("decoupled_weight_decay") else "l2"


class Adam(GraphOptimizer):
    """``torch.optim.Adam``: with ``g`` the gradient (negated when ``maximize``) and
    ``t`` the step::

        g = g + weight_decay * p                 (or p = p * (1 - lr * wd), decoupled)
        m = lerp(m, g, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                     (amsgrad: v_max replaces v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused=None,
                 decoupled_weight_decay: bool = False):
        _lr_tensor_check(lr)
        _check_betas(lr, eps, betas, weight_decay)
        if not (all(isinstance(b, float) for b in betas) or
                all(isinstance(b, Tensor) for b in betas)):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(host_value(b) if isinstance(b, Tensor) else b for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        check_options(lr, foreach, fused, differentiable)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for k, v in (("amsgrad", False), ("maximize", False), ("foreach", None),
                         ("capturable", False), ("differentiable", False), ("fused", None),
                         ("decoupled_weight_decay", False)):
                group.setdefault(k, v)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        extra = ("max_exp_avg_sq",) if group["amsgrad"] else ()
        return ("exp_avg", "exp_avg_sq") + extra

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        beta1, beta2 = (host_value(b) for b in group["betas"])
        lr = lr_of(group)
        bc1 = 1 - beta1 ** step
        bc2 = 1 - beta2 ** step
        return _decay(group, lr) + (1 - beta1, beta2, 1 - beta2, bc2 ** 0.5, group["eps"],
                                    -(lr / bc1))

    def _statics(self, group: dict) -> tuple:
        beta1 = host_value(group["betas"][0])
        return (("decay", _decay_kind(group)), ("maximize", bool(group["maximize"])),
                ("amsgrad", bool(group["amsgrad"])), ("small", abs(1 - beta1) < 0.5))

    @staticmethod
    def _rule(p, g, state, s, *, decay: str, maximize: bool, amsgrad: bool,
              small: bool) -> tuple:
        s = list(s)
        g = -g if maximize else g
        p, g = _apply_decay(p, g, s, decay)
        w1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step = s
        m = lerp(state[0], g, w1, small)
        v = addcmul(state[1] * beta2, g, g, one_minus_beta2)
        if amsgrad:
            v_max = _ops.maximum(state[2], v)
            denom = _ops.sqrt(v_max) / bc2_sqrt + eps
            return addcdiv(p, m, denom, neg_step), m, v, v_max
        denom = _ops.sqrt(v) / bc2_sqrt + eps
        return addcdiv(p, m, denom, neg_step), m, v


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2),
    ``p = p * (1 - lr * weight_decay)`` before the Adam update."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach=None, capturable: bool = False,
                 differentiable: bool = False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class Adamax(GraphOptimizer):
    """``torch.optim.Adamax`` (Adam with the infinity norm)::

        m = lerp(m, g, 1 - beta1)
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        _lr_tensor_check(lr)
        _check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)
        check_options(lr, foreach, None, differentiable)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("exp_avg", "exp_inf")

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        beta1, beta2 = group["betas"]
        clr = lr_of(group) / (1 - beta1 ** step)
        return _decay(group, 0.0) + (1 - beta1, beta2, group["eps"], -clr)

    def _statics(self, group: dict) -> tuple:
        return (("decay", _decay_kind(group)), ("maximize", bool(group["maximize"])),
                ("small", abs(1 - group["betas"][0]) < 0.5))

    @staticmethod
    def _rule(p, g, state, s, *, decay: str, maximize: bool, small: bool) -> tuple:
        s = list(s)
        g = -g if maximize else g
        p, g = _apply_decay(p, g, s, decay)
        w1, beta2, eps, neg_clr = s
        m = lerp(state[0], g, w1, small)
        u = _ops.maximum(state[1] * beta2, _ops.abs(g) + eps)
        return addcdiv(p, m, u, neg_clr), m, u


class NAdam(GraphOptimizer):
    """``torch.optim.NAdam`` (Adam with Nesterov momentum; momentum decay
    ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``)::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr (1 - mu_t) / (1 - prod mu) * g / d
              - lr mu_{t+1} / (1 - mu_{t+1} prod mu) * m / d

    The product of the ``mu`` is a float32 0-d tensor in the state (``mu_product``), kept
    as PyTorch keeps it."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _lr_tensor_check(lr)
        _check_betas(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)
        check_options(lr, foreach, None, differentiable)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, p: Tensor, group: dict) -> dict:
        st = super()._init_state(p, group)
        return {"step": st.pop("step"), "mu_product": host_scalar(1.0), **st}

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        beta1, beta2 = group["betas"]
        lr, md = lr_of(group), group["momentum_decay"]
        bc2 = 1 - beta2 ** step
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
        # PyTorch multiplies a float32 tensor: mu_product *= mu
        mu_product = float(np.float32(host_value(state["mu_product"])) * np.float32(mu))
        set_host_scalar(state["mu_product"], mu_product)
        mu_product_next = mu_product * mu_next
        return _decay(group, lr) + (1 - beta1, beta2, 1 - beta2, bc2, group["eps"],
                                    -lr * (1.0 - mu) / (1.0 - mu_product),
                                    (-lr * mu_next) / (1.0 - mu_product_next))

    def _statics(self, group: dict) -> tuple:
        return (("decay", _decay_kind(group)), ("maximize", bool(group["maximize"])),
                ("small", abs(1 - group["betas"][0]) < 0.5))

    @staticmethod
    def _rule(p, g, state, s, *, decay: str, maximize: bool, small: bool) -> tuple:
        s = list(s)
        g = -g if maximize else g
        p, g = _apply_decay(p, g, s, decay)
        w1, beta2, one_minus_beta2, bc2, eps, c_grad, c_avg = s
        m = lerp(state[0], g, w1, small)
        v = addcmul(state[1] * beta2, g, g, one_minus_beta2)
        denom = _ops.sqrt(v / bc2) + eps
        p = addcdiv(p, g, denom, c_grad)
        return addcdiv(p, m, denom, c_avg), m, v


class RAdam(GraphOptimizer):
    """``torch.optim.RAdam`` (rectified Adam). With ``rho_inf = 2 / (1 - beta2) - 1`` and
    ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)``::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        u = m / (1 - beta1^t) * lr
        p = p - u * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t   if rho_t > 5
        p = p - u                                               otherwise

    with ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``.
    The branch is a ``where`` on a 0-d input, so the graph is the same at every step."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _lr_tensor_check(lr)
        _check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)
        check_options(lr, foreach, None, differentiable)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        beta1, beta2 = group["betas"]
        lr = lr_of(group)
        bc1 = 1 - beta1 ** step
        bc2 = 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bc2
        rect = 0.0
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf /
                    ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return _decay(group, lr) + (1 - beta1, beta2, 1 - beta2, bc1, lr, group["eps"],
                                    bc2 ** 0.5, rect, bool(rho_t > 5.0))

    def _statics(self, group: dict) -> tuple:
        return (("decay", _decay_kind(group)), ("maximize", bool(group["maximize"])),
                ("small", abs(1 - group["betas"][0]) < 0.5))

    @staticmethod
    def _rule(p, g, state, s, *, decay: str, maximize: bool, small: bool) -> tuple:
        s = list(s)
        g = -g if maximize else g
        p, g = _apply_decay(p, g, s, decay)
        w1, beta2, one_minus_beta2, bc1, lr, eps, bc2_sqrt, rect, rectify = s
        m = lerp(state[0], g, w1, small)
        v = addcmul(state[1] * beta2, g, g, one_minus_beta2)
        # PyTorch: bc2_sqrt / (sqrt(v) + eps) is a scalar over a tensor, computed as the
        # tensor's reciprocal times the scalar
        adaptive = (1.0 / (_ops.sqrt(v) + eps)) * bc2_sqrt
        # ((m / bc1 * lr) * adaptive) * rect when rectified, else m / bc1 * lr: the same
        # products with factors of 1 when not (exact), so m / bc1 * lr has one user and
        # the whole update stays one kernel
        update = m / bc1 * lr * _ops.where(rectify, adaptive, 1.0) * \
            _ops.where(rectify, rect, 1.0)
        return p - update, m, v


__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]
