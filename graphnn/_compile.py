"""Compiled graphs and their caches: eager ops, graph functions and traced module calls all
run as a ``CompiledGraph`` (forward executable, lazily compiled backward executable)."""
from __future__ import annotations

import itertools
import os
import time
from typing import Callable

from graphnn import autograd
from graphnn._errors import GraphBreak
from graphnn._tensor import Tensor
from graphnn._trace import Tracer
from graphnn.ir.autodiff import differentiate
from graphnn.ir.graph import Graph
from graphnn.ir.ops import REGISTRY
from graphnn.ir.passes import run_pipeline
from graphnn.ir.symbolic import plain
from graphnn.ir.types import TensorType
from graphnn.runtime import device_name_of, get_runtime
from graphnn.runtime.debug import LOG, debug_level
from graphnn.runtime.tune import STATS as TUNE

# op name -> PyTorch's grad_fn class stem, so that reprs read like PyTorch's
# counters read by graphnn.stats(); seconds by compile phase
STATS = {"compiles": 0, "compile_seconds": 0.0, "traces": 0, "trace_seconds": 0.0,
         "autodiff_seconds": 0.0, "passes_seconds": 0.0, "codegen_seconds": 0.0}


def grad_fn_name(op: str) -> str:
    """PyTorch's grad_fn name for a result of IR op ``op`` (its registry ``grad_name``)."""
    stem = (REGISTRY[op].grad_name if op in REGISTRY else "") or op.title().replace("_", "")
    return stem if stem.endswith("Backward") else f"{stem}Backward0"


def build_executable(rt, graph: Graph, label: str):
    """Runs the pass pipeline on a copy of ``graph``, lowers it and builds it for ``rt``."""
    if rt.kind == "reference":
        return rt.graph_executable(graph)
    from graphnn.codegen import lower

    start = time.perf_counter()
    g = graph.copy()
    run_pipeline(g, label=label, verify=bool(os.environ.get("GRAPHNN_VERIFY")),
                 options=rt.dialect.pass_options())
    passes = time.perf_counter()
    tuning = TUNE["tune_seconds"]
    program = lower(g, rt.dialect)
    # tuning runs inside codegen (runtime/tune.py) and is counted on its own
    codegen = time.perf_counter() - (TUNE["tune_seconds"] - tuning)
    build = rt.build_seconds
    exe = rt.executable(program, label)
    exe.fused_graph = g
    STATS["compiles"] += 1
    STATS["passes_seconds"] += passes - start
    STATS["codegen_seconds"] += codegen - passes
    STATS["compile_seconds"] += time.perf_counter() - start - (TUNE["tune_seconds"] - tuning)
    level = debug_level()
    if level:
        LOG.info("compiled %s: %d nodes, %d kernels, %d launches in %.3f s (passes %.3f, "
                 "codegen %.3f, device build %.3f)", label or "graph", len(g),
                 len(getattr(g, "groups", [])), len(program.launches),
                 time.perf_counter() - start, passes - start, codegen - passes,
                 rt.build_seconds - build)
        if level >= 3:
            LOG.info("OpenCL source of %s:\n%s", label or "graph", program.source)
    return exe


class CompiledGraph:
    """A traced graph, compiled for inference and (on demand) for training.

    ``mutations`` lists the real tensors the traced code wrote in place, in the order of
    the graph outputs that follow the function's own ``n_results`` outputs: ``("arg", i)``
    for the i-th tensor argument, ``("tensor", t)`` for a captured tensor."""

    def __init__(self, graph: Graph, n_args: int, label: str, out_tree,
                 mutations: list | None = None):
        self.graph = graph
        self.n_args = n_args
        self.label = label
        self.out_tree = out_tree
        self.mutations = mutations or []
        self.passthrough: dict[int, int] = {}   # result position -> tensor argument returned
        self.checks: list = []                  # (input position, value check) per call
        self.rt = get_runtime()
        self._infer = None
        self._train: dict[tuple[int, ...], list] = {}
        # which executables the latest call ran (graphnn.dump.compiled's .graph, .kernels)
        self.last_call = 0
        self.last_wrt: tuple[int, ...] = ()
        # the op whose grad_fn name results take, when not the last node's (an eager op
        # whose 16-bit result is rounded by a trailing cast)
        self.named_op: str | None = None

    def _grad_name(self) -> str:
        return grad_fn_name(self.named_op or (self.graph.op(self.graph.outputs[0])
                                              if self.graph.outputs else ""))

    def inference(self):
        if self._infer is None:
            self._infer = build_executable(self.rt, self.graph, self.label)
        return self._infer

    def training(self, wrt: tuple[int, ...]) -> list:
        """``[split, forward executable, backward executable]``, each built when first
        needed."""
        if wrt not in self._train:
            start = time.perf_counter()
            self._train[wrt] = [differentiate(self.graph, list(wrt)), None, None]
            STATS["autodiff_seconds"] += time.perf_counter() - start
        return self._train[wrt]

    def run(self, inputs: list) -> list:
        """Runs on real tensors; returns output tensors with grad_fn set when needed. Raises
        RuntimeError when an input lives on another device (PyTorch's wording)."""
        owns = self.rt.owns
        for t in inputs:
            if t._storage is not None and not owns(t._storage.buf):    # (seeds: no storage)
                raise RuntimeError(
                    "Expected all tensors to be on the same device, but found at least two "
                    f"devices, {self.rt.device_name} and {device_name_of(t._storage.buf)}!")
        dense = [t._dense() for t in inputs]
        bufs = [b for b, _ in dense]
        wrt = tuple(i for i, t in enumerate(inputs) if t.requires_grad) \
            if autograd.is_grad_enabled() else ()
        self.last_call, self.last_wrt = next(_CALLS), wrt
        if not wrt:
            return self._results(self.inference().run(bufs), inputs)
        entry = self.training(wrt)
        split = entry[0]
        if entry[1] is None:
            entry[1] = build_executable(self.rt, split.forward, self.label + ".fwd")
        outs = entry[1].run(bufs)
        n = split.n_outputs
        result = self._results(outs[:n], inputs)
        name = self._grad_name()
        node = autograd.BackwardNode(_Backward(self, entry), outs[n:], [inputs[i] for i in wrt],
                                     name, _saved_checks(outs[n:], inputs, dense, result, name))
        for pos in split.grad_outputs:
            t = result[pos]
            t._requires_grad, t._grad_fn, t._out_index = True, node, pos
        return result

    def record(self, inputs: list) -> autograd.BackwardNode:
        """The tape node of a graph that saves nothing for its backward (a view op), made
        without running the forward: the caller computed the outputs itself."""
        wrt = tuple(i for i, t in enumerate(inputs) if t.requires_grad)
        entry = self.training(wrt)
        if entry[0].saved:
            raise ValueError(f"{self.label}: record() needs a graph whose backward saves "
                             "nothing")
        return autograd.BackwardNode(_Backward(self, entry), [], [inputs[i] for i in wrt],
                                     self._grad_name())

    def _results(self, outs: list, inputs: list) -> list:
        """Output tensors for the output buffers. Each gets storage of its own: a buffer
        that is an input's storage (an output that simplified to an input) is copied, and
        outputs sharing one buffer share one storage."""
        own = {id(t._storage.buf) for t in inputs if t._storage is not None}
        storages: dict[int, Tensor] = {}
        result = []
        for b, o in zip(outs, self.graph.outputs):
            t = plain(self.graph.type(o))
            if id(b) in own:
                copy = self.rt.alloc(t)
                self.rt.copy_into(copy, b, t.numel * t.dtype.itemsize)
                b = copy
            first = storages.get(id(b))
            if first is None:
                out = storages[id(b)] = Tensor._wrap(b, t)
            else:   # the same values, maybe reshaped: a dense view of the first's storage
                out = Tensor._wrap(b, t)
                out._storage, out._version_counter = first._storage, first._version_counter
            result.append(out)
        return result


def _saved_checks(saved: list, inputs: list, dense: list, outputs: list, name: str) -> list:
    """Version checks for the saved values that are tensors users can write in place: an
    input's own storage buffer, or an output's buffer (PyTorch's saved-variable check)."""
    checks = []
    for b in saved:
        for t, (buf, private) in zip(inputs, dense):
            if b is buf and not private:
                checks.append((t, t._version_counter, t._version_counter.value, None))
                break
        else:
            for t in outputs:
                if b is t._storage.buf:
                    checks.append((t, t._version_counter, 0, name))
                    break
    return checks


class _Backward:
    """The backward half of a CompiledGraph's training entry, as seen by the tape."""

    def __init__(self, cg: CompiledGraph, entry: list):
        self.cg = cg
        self.entry = entry

    def grad_outputs_types(self) -> list[tuple[int, TensorType]]:
        split = self.entry[0]
        return [(pos, split.forward.type(split.forward.outputs[pos]))
                for pos in split.grad_outputs]

    def run_backward(self, node, grads: list, ready: dict | None = None) -> list:
        """The gradients for ``node.inputs``. ``ready``: input position -> callback(buffer),
        called as soon as the kernel that writes that input's gradient has been enqueued
        (autograd's grad-buffer hooks)."""
        split = self.entry[0]
        if node.saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly "
                               "access saved tensors after they have already been freed). "
                               "Specify retain_graph=True if you need to backward through "
                               "the graph a second time.")
        if self.entry[2] is None:
            self.entry[2] = build_executable(self.cg.rt, split.backward, self.cg.label + ".bwd")
        by_output = None
        if ready:
            by_output = {}
            for i, callback in ready.items():
                idx = split.grad_index[i]
                if idx is not None:
                    by_output.setdefault(idx, []).append(callback)
        outs = self.entry[2].run(list(node.saved) + [g._dense()[0] for g in grads],
                                 ready=by_output)
        bwd = split.backward
        result, seen = [], set()
        for idx in split.grad_index:
            if idx is None:
                result.append(None)
                continue
            buf, t = outs[idx], plain(bwd.type(bwd.outputs[idx]))
            if id(buf) in seen:     # one gradient for two inputs (a + b): each its own copy
                copy = self.cg.rt.alloc(t)
                self.cg.rt.copy_into(copy, buf, t.numel * t.dtype.itemsize)
                buf = copy
            seen.add(id(buf))
            result.append(Tensor._wrap(buf, t))
        return result


# -- caches -------------------------------------------------------------------------------
_CACHE: dict = {}
_CALLS = itertools.count(1)


def latest(cache: dict) -> "CompiledGraph | None":
    """The compiled graph in ``cache`` (a module's ``_compiled``) that ran last."""
    entries = [cg for cg, _ in cache.values() if cg.last_call]
    return max(entries, key=lambda cg: cg.last_call, default=None)


def signature(tensors: list) -> tuple:
    return tuple((tuple(t.shape), t.dtype.name) for t in tensors)


def call_traced(fn: Callable, key, args: list, label: str, kwargs: dict | None = None,
                names: tuple[dict, dict] | Callable | None = None, cache: dict | None = None):
    """Calls ``fn(*args, **kwargs)`` through a compiled graph, tracing it on a cache miss.

    ``args`` may hold tensors (graph inputs) and other values (baked into the trace, part of
    the key). Tensors the function wrote in place get their new values (and history) after
    the call. Raises GraphBreak if ``fn`` needs a concrete value while tracing."""
    kwargs = kwargs or {}
    tensors = tensor_leaves(args, kwargs)
    # grad mode is part of the key: a trace made under no_grad detaches every value
    # the runtime is part of the key: GRAPHNN_DEVICE may name another device later
    full_key = (key, id(get_runtime()), autograd.is_grad_enabled(), signature(tensors),
                tuple(a.requires_grad for a in tensors),
                tuple(_static(a) for a in args), tuple(sorted((k, _static(v))
                                                             for k, v in kwargs.items())))
    cache = _CACHE if cache is None else cache
    entry = cache.get(full_key)
    if entry is None:
        entry = trace(fn, args, kwargs, label, names() if callable(names) else names)
        cache[full_key] = entry
    cg, captured = entry
    inputs = tensors + captured
    for pos, check in cg.checks:
        if inputs[pos].numel():
            check(inputs[pos]._host())
    outs = cg.run(inputs)
    n = len(outs) - len(cg.mutations)
    returned = {id(o._storage) for o in outs[:n]}
    for (kind, ref), new in zip(cg.mutations, outs[n:]):
        write_back(tensors[ref] if kind == "arg" else ref, new, id(new._storage) not in returned)
    results = outs[:n]
    for pos, i in cg.passthrough.items():
        results[pos] = tensors[i]
    return _unflatten(cg.out_tree, results)


def write_back(target: Tensor, new: Tensor, private: bool) -> None:
    """``target`` takes the value (and, under autograd, the history) of ``new``, the result
    of a compiled call's in-place update; ``private``: no returned tensor shares it."""
    target._write(new._dense()[0], private)
    if new.requires_grad:
        target._take_history(new)


def call_segmented(fn: Callable, args: list, kwargs: dict, label: str,
                   names: tuple[dict, dict] | None, cache: dict):
    """Calls ``fn`` traced in segments: where the traced code needs a value (``.item()``,
    ``if tensor:``), the graph so far runs (compiled once per distinct segment, cached in
    ``cache``), every traced tensor still alive becomes real, and tracing goes on in a new
    graph. A graph break splits the call instead of making it run op by op. The trace is
    redone on every call (Python control flow may take another path); the compiled
    segments are reused."""
    tracer = Tracer(*(names or ({}, {})))
    tracer.root_name = label
    tracer.on_value = lambda: _run_segment(tracer, cache, label, [])
    with tracer:
        out = fn(*args, **kwargs)
        _run_segment(tracer, cache, label, _flatten(out)[0])
    return out


def _run_segment(tracer: Tracer, cache: dict, label: str, results: list) -> None:
    """Runs the traced graph so far; its live traced tensors become real tensors."""
    graph = tracer.graph
    live = [t for t in results if t._sym is not None]
    live += [t for t in (r() for r in tracer.made) if t is not None and t._sym is not None]
    nodes: dict[int, int] = {}
    keep, seen = [], set()
    for t in live:
        if t._sym.graph is graph and id(t) not in seen:
            seen.add(id(t))
            nodes.setdefault(tracer.node_of(t), len(nodes))
            keep.append(t)
    mutated = list(tracer.mutated.values())
    if not nodes and not mutated:
        tracer.new_segment()
        return
    graph.outputs = list(nodes) + [node for _, node in mutated]
    key = (str(graph), signature(tracer.captured))
    cg = cache.get(key)
    if cg is None:
        cg = cache[key] = CompiledGraph(graph, 0, label + ".segment", None)
    captured, checks = tracer.captured, tracer.checks
    tracer.new_segment()    # tensors read from here on are captured by the next segment
    for pos, check in checks:
        if captured[pos].numel():
            check(captured[pos]._host())
    outs = cg.run(captured)
    for t in keep:
        t._become(outs[nodes[t._sym.id]])
    returned = {id(o._storage) for o in outs[:len(nodes)]}
    for (t, _), new in zip(mutated, outs[len(nodes):]):
        write_back(t, new, id(new._storage) not in returned)


def _statics(v) -> tuple[str, ...]:
    """The fields of a tuple type whose tensors are host metadata (values in the key, not
    graph inputs: a ``PackedSequence``'s batch sizes)."""
    return getattr(type(v), "graph_static_fields", ())


def _leaves(v, out: list) -> None:
    if isinstance(v, Tensor):
        out.append(v)
    elif isinstance(v, (list, tuple)):
        skip = _statics(v)
        for name, x in zip(getattr(v, "_fields", ()) or [""] * len(v), v):
            if name not in skip:
                _leaves(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            _leaves(x, out)


def tensor_leaves(args, kwargs: dict) -> list[Tensor]:
    """Every tensor of a call's arguments, also inside lists, tuples (``nn.LSTM``'s
    ``(h_0, c_0)``, a ``PackedSequence``) and dicts, and in keyword arguments (sorted by
    name): each is a graph input. A tensor the trace only captured would keep the object
    of the call that was traced, and later calls would read it instead of their own."""
    out: list[Tensor] = []
    for a in args:
        _leaves(a, out)
    for k in sorted(kwargs):
        _leaves(kwargs[k], out)
    return out


def _replace(v, it):
    """``v`` with its tensors replaced, in ``_leaves`` order, by the next ones of ``it``."""
    if isinstance(v, Tensor):
        return next(it)
    if isinstance(v, tuple):
        skip = _statics(v)
        items = [x if name in skip else _replace(x, it)
                 for name, x in zip(getattr(v, "_fields", ()) or [""] * len(v), v)]
        return type(v)._make(items) if hasattr(type(v), "_make") else type(v)(items)
    if isinstance(v, list):
        return [_replace(x, it) for x in v]
    if isinstance(v, dict):
        return {k: _replace(x, it) for k, x in v.items()}
    return v


def _replace_leaves(args, kwargs: dict, it) -> tuple[list, dict]:
    new_args = [_replace(a, it) for a in args]
    new_kwargs = {k: _replace(kwargs[k], it) for k in sorted(kwargs)}
    return new_args, {k: new_kwargs[k] for k in kwargs}


def _static(v):
    if isinstance(v, Tensor):
        return "T"
    if isinstance(v, (list, tuple)):
        skip = _statics(v)
        return tuple((tuple(x._host().ravel().tolist()) if isinstance(x, Tensor) else x)
                     if name in skip else _static(x)
                     for name, x in zip(getattr(v, "_fields", ()) or [""] * len(v), v))
    if isinstance(v, (int, float, bool, str, type(None))):
        return v
    return repr(v) if not hasattr(v, "__dict__") else id(v)


def trace(fn, args, kwargs, label, names=None):
    STATS["traces"] += 1
    start = time.perf_counter()
    try:
        return _trace_call(fn, args, kwargs, label, names)
    finally:
        STATS["trace_seconds"] += time.perf_counter() - start


def _trace_call(fn, args, kwargs, label, names):
    tracer = Tracer(*(names or ({}, {})))
    tracer.root_name = label
    inputs = [tracer.input(t, name=f"arg{i}")
              for i, t in enumerate(tensor_leaves(args, kwargs))]
    sym_args, sym_kwargs = _replace_leaves(args, kwargs, iter(inputs))
    input_nodes = [s._sym.id for s in inputs]
    with tracer:
        out = fn(*sym_args, **sym_kwargs)
        flat, tree, outputs, mutations = traced_outputs(tracer, out, inputs, input_nodes)
    tracer.graph.outputs = outputs
    cg = CompiledGraph(tracer.graph, len(input_nodes), label, tree, mutations)
    # results that are argument tensors themselves (Identity, an in-place ReLU returning its
    # input): the caller gets its own tensor object back, as in PyTorch
    cg.passthrough = {pos: next(i for i, s in enumerate(inputs) if s is t)
                      for pos, t in enumerate(flat) if any(s is t for s in inputs)}
    cg.checks = list(tracer.checks)
    return cg, list(tracer.captured)


def traced_outputs(tracer, out, inputs: list, input_nodes: list) -> tuple:
    """``(flat results, tree, output nodes, mutations)`` of a traced call: the results'
    nodes, then in-place writes to real tensors as extra outputs written back by the
    caller (``("arg", i)`` for the i-th input, ``("tensor", t)`` for a captured one)."""
    flat, tree = _flatten(out)
    outputs = [tracer.node_of(t) for t in flat]
    mutations = []
    for i, (s, node) in enumerate(zip(inputs, input_nodes)):
        if s._sym.id != node:
            mutations.append(("arg", i))
            outputs.append(s._sym.id)
    for t, node in tracer.mutated.values():
        mutations.append(("tensor", t))
        outputs.append(node)
    return flat, tree, outputs, mutations


def _flatten(out):
    """The tensors of a traced function's result and the structure to rebuild it: tensors
    in tuples, lists, dicts and named tuples; None and plain Python values kept as they
    are (``(output, None)`` from attention without weights)."""
    if isinstance(out, Tensor):
        return [out], None
    if isinstance(out, (tuple, list)):
        flat, trees = [], []
        for o in out:
            f, t = _flatten(o)
            trees.append((len(flat), len(f), t))
            flat += f
        return flat, (type(out), trees)
    if isinstance(out, dict):
        flat, keys = _flatten(list(out.values()))
        return flat, (dict, (list(out.keys()), keys))
    if out is None or isinstance(out, (bool, int, float, str)):
        return [], ("value", out)
    raise TypeError(f"a traced function must return tensors, tuples, lists or dicts of "
                    f"tensors, got {type(out).__name__}")


def _unflatten(tree, flat):
    if tree is None:
        return flat[0]
    kind, trees = tree
    if kind == "value":
        return trees
    if kind is dict:
        keys, sub = trees
        return dict(zip(keys, _unflatten(sub, flat)))
    items = [_unflatten(t, flat[start:start + n]) for start, n, t in trees]
    if hasattr(kind, "_fields"):
        return kind(*items)
    return kind(items)


__all__ = ["CompiledGraph", "GraphBreak", "call_traced", "build_executable", "STATS"]
