"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update of all parameters is one traced graph (PyTorch's update rule, torch.optim.SGD
docs), so each step is a fixed set of fused kernels and no host synchronisation."""
from __future__ import annotations

from graphnn import _compile
from graphnn._dispatch import scalar_tensor
from graphnn.autograd import no_grad
from graphnn.optim.optimizer import Optimizer

_CACHE: dict = {}


def _sgd_update(lr, *flat, n: int, momentum, dampening, weight_decay, nesterov, maximize,
                first: bool):
    # lr is a 0-d tensor (a graph input): schedulers change it without recompiling
    params, grads, bufs = flat[:n], flat[n:2 * n], flat[2 * n:]
    new_params, new_bufs = [], []
    for i, (p, g) in enumerate(zip(params, grads)):
        d_p = -g if maximize else g
        if weight_decay != 0:
            d_p = d_p + p * weight_decay
        if momentum != 0:
            buf = d_p if first else bufs[i] * momentum + d_p * (1 - dampening)
            new_bufs.append(buf)
            d_p = d_p + buf * momentum if nesterov else buf
        new_params.append(p - d_p * lr)
    return tuple(new_params + new_bufs)


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            from graphnn.autograd import enable_grad
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                momentum = group["momentum"]
                bufs = [self.state.get(p, {}).get("momentum_buffer") for p in params]
                first = momentum != 0 and any(b is None for b in bufs)
                if first and not all(b is None for b in bufs):
                    # mixed first/later steps: update the parameters one by one
                    for p in params:
                        self._update([p], group)
                    continue
                self._update(params, group)
        return loss

    def _update(self, params, group) -> None:
        momentum = group["momentum"]
        bufs = [self.state.get(p, {}).get("momentum_buffer") for p in params]
        first = momentum != 0 and bufs[0] is None
        flat = params + [p.grad for p in params] + ([] if first or momentum == 0 else bufs)
        opts = dict(n=len(params), momentum=momentum,
                    dampening=group["dampening"], weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"], maximize=group["maximize"], first=first)
        lr = scalar_tensor(float(group["lr"]), params[0].dtype)
        outs = _compile.call_traced(_sgd_update, "sgd", [lr] + flat, "sgd_step", opts,
                                    cache=_CACHE)
        n = len(params)
        for p, new in zip(params, outs[:n]):
            p._write(new._dense()[0], True)    # a fresh result: it becomes p's storage
        if momentum != 0:
            for p, b in zip(params, outs[n:]):
                self.state.setdefault(p, {})["momentum_buffer"] = b
