"""Optimizer steps as compiled graphs.

An optimizer built on ``GraphOptimizer`` says three things: the per-parameter update rule
(``_rule``, written with tensor ops on one parameter, its gradient and its state
tensors), the per-step scalars the rule reads (``_scalars``: learning rate, bias
corrections ... computed on the host in double precision, as PyTorch computes them), and
the options that change the rule's structure (``_statics``: amsgrad, maximize, nesterov).

``step()`` then updates the parameters of a group with a few traced graphs
(``graphnn._compile.call_traced``; ``plan`` says which): a large parameter alone, the
small ones up to ``MAX_CHUNK`` to a graph (a small model is one graph). Each graph applies
the rule to its parameters, so the passes fuse each update into one elementwise kernel
and horizontal fusion lays the kernels of a chunk end to end in one launch. The scalars
are 0-d graph inputs (``scalar_tensor``, one cached device tensor per value), so a new
learning rate, step count or bias correction never recompiles; parameters whose scalars
are equal share one set of them (normally all of a graph). A graph compiles once per
signature of its parameters' shapes, so the repeated layers of a deep model share
compiled graphs.

Parameters take their new values with ``Tensor._write`` (the new buffer becomes their
storage); state tensors are written the same way, so they keep their identity as
PyTorch's in-place updates do. Step counts are 0-d float32 tensors in ``state`` (PyTorch's
format) whose host copy is kept, so reading them costs no device round trip."""
from __future__ import annotations

from typing import Any, Callable

from graphnn import _compile, _ops
from graphnn._dispatch import scalar_tensor
from graphnn._tensor import Tensor
from graphnn.ir.types import bool_, float32
from graphnn.autograd import enable_grad, no_grad
from graphnn.optim.optimizer import Optimizer, host_scalar, host_value, set_host_scalar

_CACHE: dict = {}

# as many parts as a horizontal kernel holds; a parameter of ALONE elements or more gets a
# graph (and kernel) of its own. LeNet-5's ten parameters (the largest 69,120 elements) are
# one graph and one launch a step; a 384 x 384 matrix runs alone.
MAX_CHUNK = 16
ALONE = 1 << 17


def chunk_size(n_scalars: int, n_state: int) -> int:
    """How many parameters one update graph takes: at most MAX_CHUNK, and few enough that
    its kernel stays within 128 buffer arguments (OpenCL's minimum
    CL_DEVICE_MAX_PARAMETER_SIZE, 1024 bytes)."""
    per_param = 3 + 2 * n_state             # param, grad, state in; param, state out
    return max(1, min(MAX_CHUNK, (128 - n_scalars) // per_param))


def plan(params: list[Tensor], size: int) -> list[list[int]]:
    """Which parameters share an update graph (indices into ``params``).

    A horizontal kernel picks its part with a chain of range tests, which stops PoCL from
    vectorising it: Adam over two 512 x 512 tensors in one kernel ran 20 times slower
    per element than over one tensor alone. Its build time also grows faster than its
    size (Adam over a BERT's 199 tensors as one graph: 96 s of passes, 229 s to build,
    1.4 s a step). So a parameter of ``ALONE`` elements or more runs alone, a plain
    elementwise kernel compiled once per shape (the repeated layers of a deep model share
    it); the small ones (biases, norms), where a launch costs more than the chain, are
    sorted by shape and run ``size`` to a graph, so their chunks repeat too."""
    alone = [[i] for i, p in enumerate(params) if p.numel() >= ALONE]
    small = sorted((i for i, p in enumerate(params) if p.numel() < ALONE),
                   key=lambda i: tuple(params[i].shape))
    return alone + [small[i:i + size] for i in range(0, len(small), size)]


def _traced_step(*flat, rule: Callable, n: int, slots: tuple[int, ...], width: int,
                 n_state: int, statics: tuple) -> tuple:
    """The update of ``n`` parameters: ``flat`` holds the scalar slots (``width`` scalars
    each), the parameters, their gradients and their state tensors (parameter-major)."""
    n_scalars = (max(slots) + 1) * width
    scalars, rest = flat[:n_scalars], flat[n_scalars:]
    params, grads, states = rest[:n], rest[n:2 * n], rest[2 * n:]
    opts = dict(statics)
    new_params, new_states = [], []
    for i in range(n):
        s = scalars[slots[i] * width:(slots[i] + 1) * width]
        own = states[i * n_state:(i + 1) * n_state]
        out = rule(params[i], grads[i], own, s, **opts)
        # 16-bit parameters: the scalars are float32 (PyTorch's opmath scalars), so the
        # new values are computed in float32 and rounded once into the tensors' dtype
        new_params.append(_ops.to_dtype(out[0], params[i].dtype))
        new_states.extend(_ops.to_dtype(v, t.dtype) for v, t in zip(out[1:], own))
    return tuple(new_params + new_states)


def lerp(a, b, w, small: bool):
    """``a.lerp(b, w)`` as PyTorch's CPU kernel computes it: ``a + w * (b - a)`` when
    ``|w| < 0.5``, else ``b - (b - a) * (1 - w)`` (``small`` is that test, on the host)."""
    return a + w * (b - a) if small else b - (b - a) * (1.0 - w)


def addcmul(a, t1, t2, v):
    """``a.addcmul(t1, t2, value=v)``: PyTorch's CPU order ``a + v * t1 * t2``."""
    return a + v * t1 * t2


def addcdiv(a, t1, t2, v):
    """``a.addcdiv(t1, t2, value=v)``: PyTorch's CPU order ``a + v * t1 / t2``."""
    return a + v * t1 / t2


def check_options(lr, foreach=None, fused=None, differentiable: bool = False) -> None:
    """The argument checks every optimizer shares (PyTorch's types and messages)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= host_value(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("graphnn optimizers do not support differentiable=True: "
                                  "the update runs as a compiled graph without history")


class GraphOptimizer(Optimizer):
    """An optimizer whose step is one compiled graph per parameter group (and dtype)."""

    _STEP = True    # keeps PyTorch's 'step' count in the state

    # -- what each optimizer defines ----------------------------------------------------------
    def _state_names(self, group: dict) -> tuple[str, ...]:
        """The per-parameter state tensors the rule reads and returns, in order."""
        raise NotImplementedError

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Any]:
        """The state of a parameter's first step: zeros for every state tensor."""
        from graphnn._creation import zeros_like
        st: dict[str, Any] = {"step": host_scalar(0.0)} if self._STEP else {}
        for name in self._state_names(group):
            st[name] = zeros_like(p)
        return st

    def _prepare_state(self, p: Tensor, state: dict, group: dict) -> bool:
        """Creates a parameter's state before its first step (PyTorch's lazy state);
        returns whether it did."""
        if state:
            return False
        state.update(self._init_state(p, group))
        return True

    def _scalars(self, group: dict, state: dict, step: int, fresh: bool) -> tuple:
        """The rule's per-step scalars (Python floats, or bools for a ``where``) for a
        parameter at ``step`` (the count after this step); ``fresh``: its state was
        created for this step."""
        raise NotImplementedError

    def _statics(self, group: dict) -> tuple:
        """``(name, value)`` pairs passed to the rule: they shape the graph (part of the
        compile key), so only structural options belong here."""
        raise NotImplementedError

    @staticmethod
    def _rule(p, g, state, s, **statics) -> tuple:
        """New ``(param, *state)`` for one parameter, from tensor ops."""
        raise NotImplementedError

    # -- the step -----------------------------------------------------------------------------
    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the
        model and returns the loss (run with gradients enabled, before the update)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                by_dtype: dict[str, list[Tensor]] = {}
                for p in group["params"]:
                    if p.grad is not None:
                        by_dtype.setdefault(p.dtype.name, []).append(p)
                for params in by_dtype.values():
                    self._update(params, group)
        return loss

    def _update(self, params: list[Tensor], group: dict) -> None:
        from graphnn._trace import current
        tracer = current()
        if getattr(tracer, "whole_step", False):
            return self._traced_update(tracer, params, group)
        names = self._state_names(group)
        values = []
        stateless = not (self._STEP or names)
        for p in params:
            # an optimizer without state leaves self.state empty (PyTorch's plain SGD)
            st = {} if stateless else self.state[p]
            fresh = self._prepare_state(p, st, group)
            step = 0
            if self._STEP:
                step = int(host_value(st["step"])) + 1
                if isinstance(st["step"], Tensor):
                    set_host_scalar(st["step"], step)
                else:   # a number from an old state dict: PyTorch keeps a tensor
                    st["step"] = host_scalar(float(step))
            values.append(tuple(self._scalars(group, st, step, fresh)))
        statics = tuple(self._statics(group))
        for idx in plan(params, chunk_size(len(values[0]), len(names))):
            self._run_chunk([params[i] for i in idx], [values[i] for i in idx], names,
                            statics)

    def _advance(self, p: Tensor, st: dict) -> int:
        """The step count after this step, stored in the state."""
        if not self._STEP:
            return 0
        step = int(host_value(st["step"])) + 1
        if isinstance(st["step"], Tensor):
            set_host_scalar(st["step"], step)
        else:   # a number from an old state dict: PyTorch keeps a tensor
            st["step"] = host_scalar(float(step))
        return step

    def _traced_update(self, tracer, params: list[Tensor], group: dict) -> None:
        """The update inside a whole-step trace (``graphnn.compile``): the rule on the traced
        gradients, written in place. Each scalar is a 0-d holder tensor read by the graph;
        a prelude run before every call points the holders at that step's values (cached
        device scalars, so a repeated value uploads nothing) and advances the step counts."""
        names = self._state_names(group)
        stateless = not (self._STEP or names)
        states = {id(p): ({} if stateless else self.state[p]) for p in params}
        fresh = {id(p): self._prepare_state(p, states[id(p)], group) for p in params}
        statics = dict(self._statics(group))
        holders: dict[int, list[Tensor]] = {}
        for p in params:
            st = states[id(p)]
            step = int(host_value(st["step"])) + 1 if self._STEP else 0
            holders[id(p)] = [_holder(v, p) for v in
                              self._scalars(group, st, step, fresh[id(p)])]

        def prelude() -> None:
            for p in params:
                st = states[id(p)]
                values = self._scalars(group, st, self._advance(p, st), fresh.pop(id(p), False))
                for h, v in zip(holders[id(p)], values):
                    h._storage.buf = _scalar(v, p)._storage.buf
        tracer.preludes.append(prelude)
        for p in params:
            st = states[id(p)]
            out = type(self)._rule(p, p.grad, [st[n] for n in names], holders[id(p)],
                                   **statics)
            for t, new in zip([p] + [st[n] for n in names], out):
                t.copy_(new)

    def _run_chunk(self, params: list[Tensor], values: list[tuple], names: tuple[str, ...],
                   statics: tuple) -> None:
        slot_of: dict[tuple, int] = {}
        slots = [slot_of.setdefault(v, len(slot_of)) for v in values]
        slot_values = list(slot_of)
        dtype = float32 if params[0].dtype.low_precision else params[0].dtype
        # a bool stays a bool: a where's condition read straight from an input (a
        # condition computed in the graph would be a kernel of its own)
        scalars = [scalar_tensor(v, bool_) if isinstance(v, bool) else
                   scalar_tensor(float(v), dtype) for vs in slot_values for v in vs]
        states = [self.state[p][name] for p in params for name in names]
        args = scalars + params + [p.grad for p in params] + states
        opts = dict(rule=type(self)._rule, n=len(params), slots=tuple(slots),
                    width=len(values[0]), n_state=len(names), statics=statics)
        outs = _compile.call_traced(_traced_step, type(self).__name__, args,
                                    f"{type(self).__name__.lower()}_step", opts, cache=_CACHE)
        used: set[int] = set()
        for t, new in zip(params + states, outs):
            buf = new._dense()[0]
            # a fresh result becomes t's storage; two results that are one value (the same
            # node) share a buffer, which only the first may take
            t._write(buf, id(buf) not in used)
            used.add(id(buf))


def _scalar(v, p: Tensor) -> Tensor:
    return scalar_tensor(v, bool_) if isinstance(v, bool) else scalar_tensor(float(v), p.dtype)


def _holder(v, p: Tensor) -> Tensor:
    """A 0-d tensor of its own (captured as its own graph input) on a scalar's buffer."""
    s = _scalar(v, p)
    return Tensor._wrap(s._storage.buf, s._type)


def lr_of(group: dict) -> float:
    """The group's learning rate as a Python float (a 0-d tensor lr is read)."""
    return host_value(group["lr"])
