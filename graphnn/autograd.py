"""Reverse-mode autograd over a tape of compiled graphs.

Every differentiable call (an eager op, a traced ``Module`` call, a graph function such as
``F.cross_entropy``) runs one compiled forward graph and records one ``BackwardNode`` whose
backward graph ``ir.autodiff`` derived from the forward graph. ``backward()`` walks those
nodes in reverse topological order, running one compiled backward graph per node.
"""
from __future__ import annotations

import re
import threading
from contextlib import ContextDecorator

from graphnn._tensor import Tensor

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def _set_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class set_grad_enabled(ContextDecorator):
    """Context manager and decorator that sets gradient recording on or off (as in PyTorch)."""

    def __init__(self, mode: bool):
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _set_enabled(self.mode)

    def __enter__(self):
        _set_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self.prev)
        return False


class no_grad(ContextDecorator):
    """Disables gradient recording inside the block (``torch.no_grad``)."""

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set_enabled(False)
        return self

    def __exit__(self, *exc):
        _set_enabled(self.prev)
        return False


class enable_grad(ContextDecorator):
    def __enter__(self):
        self.prev = is_grad_enabled()
        _set_enabled(True)
        return self

    def __exit__(self, *exc):
        _set_enabled(self.prev)
        return False


class BackwardNode:
    """One tape entry: a compiled call's backward graph and the buffers it saved."""

    def __init__(self, compiled, saved: list, inputs: list, name: str,
                 checks: list | None = None):
        self.compiled = compiled        # graphnn._compile.CompiledGraph
        self.saved = saved              # device buffers of the saved forward values
        # (tensor, its version counter, the version saved, the grad_fn name of a saved
        # output or None for an input): the saved values users can write in place
        self.checks = checks or []
        self.inputs = inputs            # tensors that receive gradients (wrt order)
        # where each input's gradient goes, fixed now: an in-place op may later give the
        # same tensor object a new history, which this node's gradient must not follow
        self.edges = [(t.grad_fn, t._out_index) if t.grad_fn is not None else None
                      for t in inputs]
        self._name = name

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    def check_saved(self) -> None:
        """PyTorch's error for a saved tensor written in place after it was saved."""
        for t, counter, version, made_by in self.checks:
            if counter.value != version:
                made_by = made_by or (t._grad_fn.name() if t._grad_fn is not None else None)
                what = f"[{t.type_name()} {list(t.shape)}]"
                if made_by is not None:
                    what += (f", which is output {t._out_index} of "
                             f"{re.sub('Backward[0-9]*$', '', made_by)},")
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: {what} is at version {counter.value}; "
                    f"expected version {version} instead. Hint: enable anomaly detection to "
                    "find the operation that failed to compute its gradient, with "
                    "torch.autograd.set_detect_anomaly(True, check_nan=False).")

    @property
    def next_functions(self):
        return tuple(e if e is not None else (None, 0) for e in self.edges)


def backward(tensors, grad_tensors=None, retain_graph: bool = False) -> None:
    """Accumulates gradients of ``tensors`` into the ``.grad`` of the leaves they depend on.

    A leaf's post-accumulate-grad hooks run once, after the last tape node that contributes
    to it ran (PyTorch's AccumulateGrad fires once per backward); callbacks queued with
    ``queue_callback`` during the walk run at its end."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors)
    from graphnn._trace import current
    tracer = current()
    if getattr(tracer, "whole_step", False):     # graphnn.compile: gradients in the graph
        return tracer.backward(list(tensors), list(grad_tensors))
    pending: dict[tuple[int, int], Tensor] = {}
    roots = []
    direct = []
    for t, g in zip(tensors, grad_tensors):
        given = g
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(got a tensor of shape {list(t.shape)})")
            g = Tensor._full(t._type, 1)
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of "
                               f"{tuple(g.shape)} and output[0] has a shape of {tuple(t.shape)}.")
        if t.grad_fn is None:
            # .grad must not share storage with the caller's gradient tensor
            _accumulate_leaf(t, g if given is None else g.detach().clone())
            direct.append(t)
            continue
        node, idx = t.grad_fn, t._out_index
        key = (id(node), idx)
        pending[key] = pending[key] + g if key in pending else g
        roots.append(node)
    order = _topo(roots)
    last = _last_contributors(order)
    got: set[int] = set()       # leaves that received a gradient in this pass
    outer = getattr(_state, "callbacks", None)
    _state.callbacks = []
    try:
        _post_accumulate(direct)
        for k, node in enumerate(order):
            outs = node.compiled.grad_outputs_types()
            grads = [pending.pop((id(node), pos), None) for pos, _ in outs]
            if all(g is None for g in grads):
                _post_accumulate([t for t in node.inputs
                                  if last.get(id(t)) == k and id(t) in got])
                continue
            grads = [g if g is not None else Tensor._full(t, 0)
                     for g, (_, t) in zip(grads, outs)]
            node.check_saved()
            results = node.compiled.run_backward(node, grads, _early_hooks(node, k, last))
            final = []
            for t, edge, g in zip(node.inputs, node.edges, results):
                if edge is not None:
                    if g is not None:
                        key = (id(edge[0]), edge[1])
                        pending[key] = pending[key] + g if key in pending else g
                elif t.requires_grad:
                    if g is not None:
                        _accumulate_leaf(t, g)
                        got.add(id(t))
                    if last.get(id(t)) == k and id(t) in got:
                        final.append(t)
            if not retain_graph:
                node.saved = None
            _post_accumulate(final)
        for callback in _state.callbacks:
            callback()
    finally:
        _state.callbacks = outer


def queue_callback(callback) -> None:
    """Runs ``callback()`` once the running ``backward`` has walked the whole tape
    (PyTorch's ``Variable._execution_engine.queue_callback``: DDP waits for its gradient
    reductions there). Raises RuntimeError outside a backward pass."""
    callbacks = getattr(_state, "callbacks", None)
    if callbacks is None:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    callbacks.append(callback)


def _last_contributors(order: list[BackwardNode]) -> dict[int, int]:
    """id(leaf) -> position in ``order`` of the last node that sends it a gradient."""
    last: dict[int, int] = {}
    for k, node in enumerate(order):
        for t, edge in zip(node.inputs, node.edges):
            if edge is None:
                last[id(t)] = k
    return last


def _early_hooks(node: BackwardNode, k: int, last: dict[int, int]) -> dict | None:
    """Input position -> callback(buffer) for the leaves whose final gradient is this node's
    output buffer as it is (no gradient yet, no later contributor, one input slot): a hook
    registered with ``_register_grad_buffer_hook`` sees that buffer as soon as the compiled
    backward enqueued the kernel that writes it, before the rest of the backward graph."""
    ready = None
    seen: set[int] = set()
    for i, (t, edge) in enumerate(zip(node.inputs, node.edges)):
        if edge is not None or id(t) in seen:
            continue
        seen.add(id(t))
        hooks = getattr(t, "_grad_buffer_hooks", None)
        if hooks and t.grad is None and last.get(id(t)) == k and \
                sum(u is t for u in node.inputs) == 1:
            ready = ready or {}
            ready[i] = lambda buf, t=t, hooks=tuple(hooks.values()): [h(t, buf) for h in hooks]
    return ready


def _post_accumulate(leaves: list) -> None:
    done: set[int] = set()
    for t in leaves:
        hooks = getattr(t, "_post_accumulate_grad_hooks", None)
        if hooks and id(t) not in done:
            done.add(id(t))
            for hook in list(hooks.values()):
                hook(t)


def _accumulate_leaf(t, g) -> None:
    with no_grad():
        if t.grad is None:
            t.grad = g.detach()
        else:
            t.grad = t.grad + g


def _register_hook(t, attr: str, hook):
    from graphnn.nn.hooks import RemovableHandle   # plain dict handles, no graphnn imports

    if t.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                           "tensors")
    hooks = t.__dict__.setdefault(attr, {})
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def _register_post_accumulate_grad_hook(self, hook):
    """``hook(tensor)`` runs after this leaf's gradient was accumulated into ``.grad`` in a
    backward pass, once per pass. Returns a handle whose ``remove()`` unregisters it.
    Raises RuntimeError on a non-leaf tensor."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    return _register_hook(self, "_post_accumulate_grad_hooks", hook)


def _register_grad_buffer_hook(t, hook):
    """``hook(tensor, buffer)``: the device buffer that will become this leaf's ``.grad`` in
    the running backward, called when the kernel writing it has been enqueued. graphnn's
    own hook (DDP stages gradients for communication from it); reading the buffer must go
    through the runtime's queue, which orders it after that kernel."""
    return _register_hook(t, "_grad_buffer_hooks", hook)


def _topo(roots: list[BackwardNode]) -> list[BackwardNode]:
    """Nodes reachable from ``roots``, consumers before producers."""
    seen: set[int] = set()
    post: list[BackwardNode] = []
    stack = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            post.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for edge in node.edges:
            if edge is not None and id(edge[0]) not in seen:
                stack.append((edge[0], False))
    return list(reversed(post))


def grad(outputs, inputs, grad_outputs=None, retain_graph=False):
    """``torch.autograd.grad``: gradients of ``outputs`` w.r.t. ``inputs`` (leaves only)."""
    inputs = list(inputs)
    saved = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    backward(outputs, grad_outputs, retain_graph=retain_graph)
    result = tuple(t.grad for t in inputs)
    for t, s in zip(inputs, saved):
        t.grad = s
    return result


def Variable(data, requires_grad: bool = False, volatile: bool = False):
    """The pre-0.4 wrapper: returns ``data`` itself (with ``requires_grad`` set)."""
    if requires_grad:
        data.requires_grad_(True)
    return data


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False) -> None:
    """Accumulates the gradient of this tensor into the leaves it depends on."""
    backward(self, gradient, retain_graph=bool(retain_graph))


Tensor.backward = _tensor_backward
Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
