"""The graph-dump tool behind ``graphnn dump``: what was traced, what each pass did, which
ops share a kernel, the kernel source and its cost."""
from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from graphnn.ir.autodiff import differentiate
from graphnn.ir.graph import Graph
from graphnn.ir.passes import PASS_NAMES, run_pipeline


@dataclass
class Dumped:
    label: str          # "forward", "backward" or "inference"
    graph: Graph        # after the passes up to --after
    program: object     # codegen.Program when the graph was fused, else None
    traced_nodes: int = 0
    passes: list = None  # (pass, changed, nodes after, kernels after) per pass


def load_model(spec: str):
    """``FILE.py:ATTR`` -> a Module: ATTR is a Module subclass or a zero-argument factory."""
    from graphnn.nn.module import Module

    path, sep, attr = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise SystemExit(f"expected FILE.py:ATTR, got {spec!r}")
    if not os.path.exists(path):
        raise SystemExit(f"no such file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    mspec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise SystemExit(f"{path} defines no {attr!r}")
    obj = getattr(module, attr)
    model = obj() if (inspect.isclass(obj) or callable(obj)) else obj
    if not isinstance(model, Module):
        raise SystemExit(f"{spec} did not give a graphnn.nn.Module (got {type(model).__name__})")
    return model


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"--input takes comma-separated sizes such as 64,1,32,32, got {text!r}")


def dump_model(model, shapes: list[tuple[int, ...]], train: bool = False,
               after: str | None = None, seed: int = 0) -> list[Dumped]:
    """Traces ``model`` on random float32 inputs of ``shapes`` and runs the pass pipeline."""
    import graphnn
    from graphnn import _compile
    from graphnn.codegen import lower
    from graphnn.codegen.dialect import CPU

    if after is not None and after not in PASS_NAMES:
        raise SystemExit(f"--after must be one of {', '.join(PASS_NAMES)}")
    rng = np.random.default_rng(seed)
    inputs = [graphnn.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    model.train(train)
    with graphnn.set_grad_enabled(train):
        cg, captured = _compile.trace(model._call_forward, inputs, {}, type(model).__name__,
                                      model._names())
    graphs: list[tuple[str, Graph]]
    if train:
        all_inputs = inputs + captured
        wrt = [i for i, t in enumerate(all_inputs) if t.requires_grad]
        split = differentiate(cg.graph, wrt)
        graphs = [("forward", split.forward), ("backward", split.backward)]
    else:
        graphs = [("inference", cg.graph)]
    out = []
    for label, g in graphs:
        g = g.copy()
        traced, log = len(g), []
        run_pipeline(g, label=label, until=after, verify=True, log=log,
                     options=CPU.pass_options())
        program = lower(g) if hasattr(g, "groups") else None
        out.append(Dumped(label, g, program, traced, log))
    return out


def as_text(dumped: list[Dumped], kernels: bool = False) -> str:
    parts = []
    for d in dumped:
        if d.passes:
            steps = ", ".join(f"{name} {'changed' if changed else 'no change'} ({nodes} nodes"
                              + (f", {kernels} kernels)" if kernels else ")")
                              for name, changed, nodes, kernels in d.passes)
            parts.append(f"# {d.label} passes: traced {d.traced_nodes} nodes; {steps}")
        parts.append(f"# {d.label} graph")
        parts.append(str(d.graph))
        if d.program is not None:
            parts.append(f"# {d.label} kernels ({len(d.program.launches)} launches, "
                         "one OpenCL program)")
            for launch in d.program.launches:
                parts.append(f"{launch.kernel}: {', '.join(launch.ops)}"
                             + (f"  # {launch.scope}" if launch.scope else "")
                             + f"  [{launch.flops} flops, {launch.bytes} bytes]")
            if kernels:
                parts.append(f"# {d.label} OpenCL source")
                parts.append(d.program.source)
        parts.append("")
    return "\n".join(parts)


def as_json(dumped: list[Dumped], kernels: bool = False) -> str:
    nodes, kernel_rows = [], []
    offset = 0
    for d in dumped:
        g = d.graph
        for n in g.topo():
            t = g.type(n)
            nodes.append({"id": n + offset, "op": g.op(n), "shape": list(t.shape),
                          "dtype": t.dtype.name, "scope": g.name(n),
                          "inputs": [a + offset for a in g.args(n)], "graph": d.label,
                          "attrs": {k: (list(v) if isinstance(v, tuple) else v)
                                    for k, v in g.attrs(n).items()}})
        if d.program is not None:
            for launch in d.program.launches:
                row = {"name": launch.kernel, "ops": launch.ops, "scope": launch.scope,
                       "graph": d.label, "flops": launch.flops, "bytes": launch.bytes}
                kernel_rows.append(row)
        offset += max(g.nodes(), default=-1) + 1
    doc = {"nodes": nodes, "kernels": kernel_rows}
    if kernels:
        doc["source"] = {d.label: d.program.source for d in dumped if d.program is not None}
    return json.dumps(doc, indent=1)
