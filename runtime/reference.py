"""The numpy reference interpreter: runs any IR graph with each op's ``ref`` rule.

It is the test oracle and a debugging aid (``GRAPHNN_DEVICE=reference``), never a silent
fallback for a missing kernel. One graph shape runs on it on every device: a graph with an
empty value (a batch of 0), which has nothing for kernels to do (``HostExecutable``).
"""
from __future__ import annotations

import numpy as np

from graphnn.ir.graph import PLACEHOLDERS, Graph
from graphnn.ir.ops import get


def has_empty(graph: Graph) -> bool:
    """Whether a value of ``graph`` has no elements."""
    return any(graph.type(n).numel == 0 for n in graph.nodes())


class HostExecutable:
    """Runs a graph that holds an empty value with the interpreter, on host copies of its
    inputs, and uploads the results. OpenCL cannot launch an empty range (before 2.1), and
    kernels written for dense ranges would read past empty buffers; the values involved are
    empty or are reductions of empty values (a sum of nothing is 0), so the host computes
    them without a build or a launch."""

    def __init__(self, rt, graph: Graph):
        self.rt = rt
        self.graph = graph
        self.program = None

    def run(self, inputs: list) -> list:
        g, rt = self.graph, self.rt
        arrays = [rt.download(b, g.type(n)) for b, n in zip(inputs, g.inputs)]
        return [rt.upload(np.ascontiguousarray(a).reshape(-1), private=True)
                for a in interpret(g, arrays)]


def interpret(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph takes {len(graph.inputs)} inputs, got {len(inputs)}")
    env: dict[int, np.ndarray] = {}
    for n, v in zip(graph.inputs, inputs):
        env[n] = np.asarray(v, graph.type(n).dtype.np).reshape(graph.type(n).shape)
    for n in graph.topo():
        op = graph.op(n)
        t = graph.type(n)
        if op in PLACEHOLDERS:
            continue
        if op == "const":
            env[n] = np.array(graph.attrs(n)["value"], t.dtype.np)
            continue
        with np.errstate(all="ignore"):
            out = get(op).ref([env[a] for a in graph.args(n)], graph.attrs(n))
        # np.array, not np.ascontiguousarray: that one turns a 0-d result into shape (1,)
        env[n] = np.array(np.broadcast_to(np.asarray(out), t.shape), t.dtype.np, order="C")
    return [env[o] for o in graph.outputs]
