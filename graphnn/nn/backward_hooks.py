"""Module backward hooks (``register_full_backward_pre_hook``, ``register_full_backward_hook``
and the deprecated ``register_backward_hook``), as PyTorch's ``BackwardHook``.

A hooked module runs eagerly. Its tensor inputs and outputs pass through identity boundary
nodes on the autograd tape: the output boundary's backward receives ``grad_output`` (one
gradient per output tensor) and runs the pre-hooks, which may replace it; the input boundary's
backward receives the gradients w.r.t. the module's tensor inputs and runs the full hooks as
``hook(module, grad_input, grad_output)``, which may return a replacement ``grad_input``.
The deprecated ``register_backward_hook`` gets the same (full-hook) arguments here."""
from __future__ import annotations

from graphnn import autograd
from graphnn._tensor import Tensor


class _Boundary:
    """The tape-facing half of an identity node: ``fn(grads) -> grads``."""

    def __init__(self, types: list, fn):
        self.types = types
        self.fn = fn

    def grad_outputs_types(self):
        return list(enumerate(self.types))

    def run_backward(self, node, grads: list, ready: dict | None = None) -> list:
        results = self.fn(grads)
        for i, callback in (ready or {}).items():
            if results[i] is not None:
                callback(results[i]._dense()[0])
        return results


def _identity(tensors: list, fn) -> list:
    node = autograd.BackwardNode(_Boundary([t._type for t in tensors], fn), [],
                                 list(tensors), "BackwardHookFunctionBackward")
    outs = []
    for i, t in enumerate(tensors):
        o = t._alias()          # the same storage, with the boundary node as history
        o.requires_grad = True
        o.grad_fn = node
        o._out_index = i
        outs.append(o)
    return outs


def _check(result, expected: int, what: str) -> tuple:
    if not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != expected:
        raise RuntimeError(f"Backward hook returned an invalid number of {what}, got "
                           f"{len(result)}, but expected {expected}")
    return tuple(result)


def setup_input_hook(module, args: tuple):
    """Wraps the tensor positional inputs that require grad; returns (args, state)."""
    state = {"grad_output": None, "n_inputs": sum(isinstance(a, Tensor) for a in args),
             "inputs_hooked": False}
    if not autograd.is_grad_enabled() or not module._backward_hooks:
        return args, state
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    req = [i for i in positions if args[i].requires_grad]
    if not req:
        return args, state

    def input_backward(grads):
        grad_input = [None] * len(positions)
        for i, g in zip(req, grads):
            grad_input[positions.index(i)] = g
        grad_input = tuple(grad_input)
        for hook in list(module._backward_hooks.values()):
            res = hook(module, grad_input, state["grad_output"])
            if res is not None:
                grad_input = _check(res, len(positions), "grad_input")
        return [grad_input[positions.index(i)] for i in req]

    wrapped = _identity([args[i] for i in req], input_backward)
    args = list(args)
    for i, w in zip(req, wrapped):
        args[i] = w
    state["inputs_hooked"] = True
    return tuple(args), state


def setup_output_hook(module, out, state):
    """Wraps the output tensors that require grad so that backward reports grad_output."""
    if not autograd.is_grad_enabled() or not (module._backward_hooks or
                                               module._backward_pre_hooks):
        return out
    flat = [out] if isinstance(out, Tensor) else (
        list(out) if isinstance(out, (tuple, list)) else [])
    req = [k for k, t in enumerate(flat) if isinstance(t, Tensor) and t.requires_grad]
    if not req:
        return out

    def output_backward(grads):
        grad_output = tuple(grads)
        for hook in list(module._backward_pre_hooks.values()):
            res = hook(module, grad_output)
            if res is not None:
                grad_output = _check(res, len(grad_output), "grad_output")
        state["grad_output"] = grad_output
        if module._backward_hooks and not state["inputs_hooked"]:
            # no input requires grad: the hooks still run, with grad_input all None
            for hook in list(module._backward_hooks.values()):
                hook(module, (None,) * state["n_inputs"], grad_output)
        return list(grad_output)

    wrapped = _identity([flat[k] for k in req], output_backward)
    for k, w in zip(req, wrapped):
        flat[k] = w
    if isinstance(out, Tensor):
        return flat[0]
    return type(out)(flat) if not hasattr(out, "_fields") else type(out)(*flat)
