"""Tracing a model for the dump tool: the graphs it compiles to, after each pass, lowered
with the chosen device's dialect (so the kernels shown are the ones that run)."""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from graphnn.ir.autodiff import BackwardSplit, differentiate
from graphnn.ir.graph import Graph
from graphnn.ir.passes import PASS_NAMES, run_pipeline

DTYPES = {"f32": "float32", "f64": "float64", "i64": "int64"}
# integer example inputs are drawn from [0, INT_HIGH): valid class targets and indices for
# the small tables a debugging session uses
INT_HIGH = 10


class DumpError(ValueError):
    """Bad input to the dump tool (a model spec, an input shape, a pass name); the message
    names the argument. The CLI prints it and exits with status 2."""


@dataclass
class PassSnapshot:
    """The graph after one pass (``--all-passes``)."""

    name: str           # "trace" or a PIPELINE pass
    changed: bool
    text: str           # the graph's text form after the pass
    seconds: float      # the pass's own time


@dataclass
class Dumped:
    """One compiled graph of a model: ``inference``, or ``forward`` and ``backward``."""

    label: str          # "forward", "backward" or "inference"
    graph: Graph        # after the passes up to --after
    program: object     # codegen.Program when the graph was fused, else None
    traced_nodes: int = 0
    passes: list = field(default_factory=list)  # (pass, changed, nodes, kernels) per pass
    snapshots: list[PassSnapshot] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)   # "passes", "codegen"


@dataclass
class Traced:
    """A model traced on example inputs, with what a device run needs."""

    name: str                   # the model's class name
    graphs: list[Dumped]
    inputs: list                # the example input tensors
    captured: list              # the parameters and buffers the graph reads, in input order
    split: BackwardSplit | None  # the training pair (``train=True``)
    dialect: object             # codegen.Dialect the kernels were lowered for
    device: str                 # the device's name
    trace_seconds: float = 0.0
    autodiff_seconds: float = 0.0


def load_model(spec: str):
    """``FILE.py:ATTR`` -> a Module: ATTR is a Module subclass or a zero-argument factory.

    Raises DumpError naming the part of ``spec`` that is wrong."""
    from graphnn.nn.module import Module

    path, sep, attr = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise DumpError(f"model: expected FILE.py:ATTR, got {spec!r}")
    if not os.path.exists(path):
        raise DumpError(f"model: no such file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    mspec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise DumpError(f"model: {path} defines no {attr!r}")
    obj = getattr(module, attr)
    if not isinstance(obj, Module) and (inspect.isclass(obj) or callable(obj)):
        try:
            obj = obj()
        except TypeError as e:
            raise DumpError(f"model: {spec} must be a Module class or a factory that takes no "
                            f"arguments ({e})") from None
    if not isinstance(obj, Module):
        raise DumpError(f"model: {spec} did not give a graphnn.nn.Module "
                        f"(got {type(obj).__name__})")
    return obj


def parse_shape(text: str) -> tuple[int, ...]:
    """``"64,1,32,32"`` -> ``(64, 1, 32, 32)``; ``""`` is a 0-d input. Raises DumpError."""
    try:
        shape = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise DumpError(f"--input takes comma-separated sizes such as 64,1,32,32, "
                        f"got {text!r}") from None
    if any(s < 0 for s in shape):
        raise DumpError(f"--input sizes must not be negative, got {text!r}")
    return shape


def example_inputs(shapes: list[tuple[int, ...]], dtypes: list[str] | None = None,
                   seed: int = 0) -> list:
    """Random example tensors: floats standard normal, ``i64`` integers in [0, INT_HIGH).

    ``dtypes`` holds one of ``f32``, ``f64``, ``i64`` for all inputs or one per input.
    Raises DumpError for an unknown dtype or a count that matches neither."""
    import graphnn

    dtypes = dtypes or ["f32"]
    if len(dtypes) == 1:
        dtypes = dtypes * len(shapes)
    if len(dtypes) != len(shapes):
        raise DumpError(f"--dtype is given {len(dtypes)} times for {len(shapes)} inputs: give "
                        "it once for all inputs or once per --input")
    rng = np.random.default_rng(seed)
    out = []
    for shape, dt in zip(shapes, dtypes):
        if dt not in DTYPES:
            raise DumpError(f"--dtype must be one of {', '.join(DTYPES)}, got {dt!r}")
        if dt == "i64":
            out.append(graphnn.tensor(rng.integers(0, INT_HIGH, shape, dtype=np.int64)))
        else:
            out.append(graphnn.tensor(rng.standard_normal(shape).astype(DTYPES[dt])))
    return out


def trace_model(model, inputs: list, train: bool = False, after: str | None = None,
                dialect=None, snapshots: bool = False) -> Traced:
    """Traces ``model(*inputs)``, differentiates it when ``train`` (gradients of what
    requires grad: the parameters, and inputs that require grad), runs the passes up to
    ``after`` and lowers each graph with ``dialect`` (default: the chosen device's).
    ``snapshots`` keeps the graph's text after every pass. Raises DumpError for an unknown
    pass name."""
    import graphnn
    from graphnn import _compile
    from graphnn.runtime import get_runtime

    if after is not None and after not in PASS_NAMES:
        raise DumpError(f"--after must be one of {', '.join(PASS_NAMES)}, got {after!r}")
    rt = get_runtime()
    if dialect is None:
        from graphnn.codegen import CPU
        dialect = rt.dialect or CPU     # the reference interpreter has no kernels: show CPU's
    model.train(train)
    start = time.perf_counter()
    try:
        with graphnn.set_grad_enabled(train):
            cg, captured = _compile.trace(model._call_forward, inputs, {},
                                          type(model).__name__, model._names())
    except (RuntimeError, TypeError, ValueError, IndexError) as e:
        # most often inputs of the wrong shape or dtype for the model
        given = ", ".join(f"{t.dtype.name}{list(t.shape)}" for t in inputs)
        raise DumpError(f"--input/--dtype: tracing {type(model).__name__} on inputs "
                        f"({given}) failed: {e}") from e
    traced = Traced(type(model).__name__, [], list(inputs), list(captured), None, dialect,
                    rt.info.short, trace_seconds=time.perf_counter() - start)
    if train:
        all_inputs = list(inputs) + list(captured)
        wrt = [i for i, t in enumerate(all_inputs) if t.requires_grad]
        start = time.perf_counter()
        traced.split = differentiate(cg.graph, wrt)
        traced.autodiff_seconds = time.perf_counter() - start
        graphs = [("forward", traced.split.forward), ("backward", traced.split.backward)]
    else:
        graphs = [("inference", cg.graph)]
    for label, g in graphs:
        traced.graphs.append(_compile_graph(label, g, after, dialect, snapshots))
    return traced


def _compile_graph(label: str, graph: Graph, after: str | None, dialect,
                   snapshots: bool) -> Dumped:
    from graphnn.codegen import lower
    from graphnn.ir.passes import PIPELINE

    g = graph.copy()
    log: list = []
    shots = [PassSnapshot("trace", False, str(g), 0.0)] if snapshots else []
    start = time.perf_counter()
    if snapshots:
        # one pass at a time, so that each pass's graph and time are its own
        for name, _ in PIPELINE:
            t0 = time.perf_counter()
            run_pipeline_step(g, name, dialect, log)
            shots.append(PassSnapshot(name, log[-1][1], str(g), time.perf_counter() - t0))
            if name == after:
                break
    else:
        run_pipeline(g, label=label, until=after, verify=True, log=log,
                     options=dialect.pass_options())
    passes = time.perf_counter() - start
    program = lower(g, dialect) if hasattr(g, "groups") else None
    return Dumped(label, g, program, len(graph), log, shots,
                  {"passes": passes, "codegen": time.perf_counter() - start - passes})


def run_pipeline_step(graph: Graph, name: str, dialect, log: list) -> None:
    """Runs the one pass called ``name`` on ``graph`` (in place), appending its log row."""
    from graphnn.ir.passes import PIPELINE

    fn = dict(PIPELINE)[name]
    changed = fn(graph, dialect.pass_options())
    graph.verify()
    log.append((name, bool(changed), len(graph), len(getattr(graph, "groups", []))))


def dump_model(model, shapes: list[tuple[int, ...]], train: bool = False,
               after: str | None = None, seed: int = 0, dialect=None,
               dtypes: list[str] | None = None) -> list[Dumped]:
    """Traces ``model`` on random inputs of ``shapes`` (float32 unless ``dtypes`` says) and
    runs the pass pipeline; returns one Dumped per compiled graph."""
    return trace_model(model, example_inputs(shapes, dtypes, seed), train=train, after=after,
                       dialect=dialect).graphs
