"""Compiled graphs and their caches: eager ops, graph functions and traced module calls all
run as a ``CompiledGraph`` (forward executable, lazily compiled backward executable)."""
from __future__ import annotations

import os
import time
from typing import Callable

from graphnn import autograd
from graphnn._trace import GraphBreak, Tracer
from graphnn.ir.autodiff import differentiate
from graphnn.ir.graph import Graph
from graphnn.ir.passes import run_pipeline
from graphnn.ir.types import TensorType
from graphnn.runtime import get_runtime

# op name -> PyTorch's grad_fn class stem, so that reprs read like PyTorch's
_GRAD_NAMES = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "matmul": "Mm",
               "sum": "Sum", "relu": "Relu", "exp": "Exp", "log": "Log", "tanh": "Tanh",
               "sigmoid": "Sigmoid", "neg": "Neg", "reshape": "View", "permute": "Permute",
               "expand": "Expand", "conv2d": "ConvolutionBackward", "max_pool2d":
               "MaxPool2DWithIndices", "pow": "Pow", "sqrt": "Sqrt", "abs": "Abs",
               "max": "Amax", "min": "Amin", "where": "Where", "slice": "Slice",
               "gather": "Gather", "maximum": "Maximum", "minimum": "Minimum",
               "cast": "ToCopy", "copy": "Clone"}

STATS = {"compiles": 0, "compile_seconds": 0.0, "traces": 0}


def grad_fn_name(op: str) -> str:
    stem = _GRAD_NAMES.get(op, op.title().replace("_", ""))
    return stem if stem.endswith("Backward") else f"{stem}Backward0"


def build_executable(rt, graph: Graph, label: str):
    """Runs the pass pipeline on a copy of ``graph``, lowers it and builds it for ``rt``."""
    if rt.kind == "reference":
        return rt.graph_executable(graph)
    from graphnn.codegen import lower

    start = time.perf_counter()
    g = graph.copy()
    run_pipeline(g, label=label, verify=bool(os.environ.get("GRAPHNN_VERIFY")))
    exe = rt.executable(lower(g, rt.dialect), label)
    exe.fused_graph = g
    STATS["compiles"] += 1
    STATS["compile_seconds"] += time.perf_counter() - start
    return exe


class CompiledGraph:
    """A traced graph, compiled for inference and (on demand) for training."""

    def __init__(self, graph: Graph, n_args: int, label: str, out_tree):
        self.graph = graph
        self.n_args = n_args
        self.label = label
        self.out_tree = out_tree
        self.rt = get_runtime()
        self._infer = None
        self._train: dict[tuple[int, ...], tuple] = {}

    def inference(self):
        if self._infer is None:
            self._infer = build_executable(self.rt, self.graph, self.label)
        return self._infer

    def training(self, wrt: tuple[int, ...]):
        if wrt not in self._train:
            split = differentiate(self.graph, list(wrt))
            fwd = build_executable(self.rt, split.forward, self.label + ".fwd")
            self._train[wrt] = [split, fwd, None]
        return self._train[wrt]

    def run(self, inputs: list):
        """Runs on real tensors; returns output tensors with grad_fn set when needed."""
        from graphnn._tensor import Tensor

        bufs = [t._buf for t in inputs]
        wrt = tuple(i for i, t in enumerate(inputs) if t.requires_grad) \
            if autograd.is_grad_enabled() else ()
        if not wrt:
            outs = self.inference().run(bufs)
            return [Tensor._wrap(b, self.graph.type(o)) for b, o in zip(outs, self.graph.outputs)]
        entry = self.training(wrt)
        split, fwd, _ = entry
        outs = fwd.run(bufs)
        n = split.n_outputs
        last_op = self.graph.op(self.graph.outputs[0]) if self.graph.outputs else ""
        node = autograd.BackwardNode(_Backward(self, entry), outs[n:],
                                     [inputs[i] for i in wrt], grad_fn_name(last_op))
        result = []
        for pos, (b, o) in enumerate(zip(outs[:n], self.graph.outputs)):
            t = Tensor._wrap(b, self.graph.type(o))
            if pos in split.grad_outputs:
                t.requires_grad = True
                t.grad_fn = node
                t._out_index = pos
            result.append(t)
        return result


class _Backward:
    """The backward half of a CompiledGraph's training entry, as seen by the tape."""

    def __init__(self, cg: CompiledGraph, entry: list):
        self.cg = cg
        self.entry = entry

    def grad_outputs_types(self) -> list[tuple[int, TensorType]]:
        split = self.entry[0]
        return [(pos, split.forward.type(split.forward.outputs[pos]))
                for pos in split.grad_outputs]

    def run_backward(self, node, grads: list) -> list:
        from graphnn._tensor import Tensor

        split = self.entry[0]
        if node.saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly "
                               "access saved tensors after they have already been freed). "
                               "Specify retain_graph=True if you need to backward through "
                               "the graph a second time.")
        if self.entry[2] is None:
            self.entry[2] = build_executable(self.cg.rt, split.backward, self.cg.label + ".bwd")
        outs = self.entry[2].run(list(node.saved) + [g._buf for g in grads])
        bwd = split.backward
        result = []
        for idx in split.grad_index:
            if idx is None:
                result.append(None)
            else:
                result.append(Tensor._wrap(outs[idx], bwd.type(bwd.outputs[idx])))
        return result


# -- caches -------------------------------------------------------------------------------
_CACHE: dict = {}


def signature(tensors: list) -> tuple:
    return tuple((tuple(t.shape), t.dtype.name) for t in tensors)


def call_traced(fn: Callable, key, args: list, label: str, kwargs: dict | None = None,
                names: tuple[dict, dict] | Callable | None = None, cache: dict | None = None):
    """Calls ``fn(*args, **kwargs)`` through a compiled graph, tracing it on a cache miss.

    ``args`` may hold tensors (graph inputs) and other values (baked into the trace, part of
    the key). Raises GraphBreak if ``fn`` needs a concrete value while tracing."""
    from graphnn._tensor import Tensor

    kwargs = kwargs or {}
    tensors = [a for a in args if isinstance(a, Tensor)]
    # grad mode is part of the key: a trace made under no_grad detaches every value
    full_key = (key, autograd.is_grad_enabled(), signature(tensors),
                tuple(a.requires_grad for a in tensors),
                tuple(_static(a) for a in args), tuple(sorted((k, _static(v))
                                                             for k, v in kwargs.items())))
    cache = _CACHE if cache is None else cache
    entry = cache.get(full_key)
    if entry is None:
        entry = trace(fn, args, kwargs, label, names() if callable(names) else names)
        cache[full_key] = entry
    cg, captured = entry
    outs = cg.run(tensors + captured)
    return _unflatten(cg.out_tree, outs)


def _static(v):
    from graphnn._tensor import Tensor

    if isinstance(v, Tensor):
        return "T"
    if isinstance(v, (list, tuple)):
        return tuple(_static(x) for x in v)
    if isinstance(v, (int, float, bool, str, type(None))):
        return v
    return repr(v) if not hasattr(v, "__dict__") else id(v)


def trace(fn, args, kwargs, label, names=None):
    from graphnn._tensor import Tensor

    STATS["traces"] += 1
    tracer = Tracer(*(names or ({}, {})))
    tracer.root_name = label
    sym_args = [tracer.input(a, name=f"arg{i}") if isinstance(a, Tensor) else a
                for i, a in enumerate(args)]
    n_args = len(tracer.graph.inputs)
    with tracer:
        out = fn(*sym_args, **kwargs)
    flat, tree = _flatten(out)
    outputs = []
    for t in flat:
        outputs.append(tracer.node_of(t))
    tracer.graph.outputs = outputs
    cg = CompiledGraph(tracer.graph, n_args, label, tree)
    return cg, list(tracer.captured)


def _flatten(out):
    from graphnn._tensor import Tensor

    if isinstance(out, Tensor):
        return [out], None
    if isinstance(out, (tuple, list)):
        flat, trees = [], []
        for o in out:
            f, t = _flatten(o)
            trees.append((len(flat), len(f), t))
            flat += f
        return flat, (type(out), trees)
    raise TypeError(f"a traced function must return tensors or tuples of tensors, "
                    f"got {type(out).__name__}")


def _unflatten(tree, flat):
    if tree is None:
        return flat[0]
    kind, trees = tree
    items = [_unflatten(t, flat[start:start + n]) for start, n, t in trees]
    if hasattr(kind, "_fields"):
        return kind(*items)
    return kind(items)


__all__ = ["CompiledGraph", "GraphBreak", "call_traced", "build_executable", "STATS"]
