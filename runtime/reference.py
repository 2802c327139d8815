"""The numpy reference interpreter: runs any IR graph with each op's ``ref`` rule.

It is the test oracle and a debugging aid (``GRAPHNN_DEVICE=reference``), never a silent
fallback for a missing kernel.
"""
from __future__ import annotations

import numpy as np

from graphnn.ir.graph import PLACEHOLDERS, Graph
from graphnn.ir.ops import get
from graphnn.ir.types import quantize


def interpret(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    env = interpret_all(graph, inputs)
    return [env[o] for o in graph.outputs]


def interpret_all(graph: Graph, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """The value of every node (``graphnn dump --check`` compares them with the device's).
    Raises ValueError when the number of inputs is not the graph's."""
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
            env[n] = quantize(np.array(graph.attrs(n)["value"], t.dtype.np), t.dtype)
            continue
        # 16-bit floats compute in float32 and round each result, as PyTorch's CPU ops do;
        # a scalar operand PyTorch reads in float32 keeps its unrounded value
        opmath = get(op).scalar_opmath
        args = [np.array(graph.attrs(a)["value"], np.float32) if i in opmath and
                graph.op(a) == "const" and graph.type(a).dtype.low_precision else
                env[a].astype(np.float32) if env[a].dtype == np.float16 else env[a]
                for i, a in enumerate(graph.args(n))]
        with np.errstate(all="ignore"):
            out = get(op).ref(args, graph.attrs(n))
        # np.array, not np.ascontiguousarray: that one turns a 0-d result into shape (1,)
        env[n] = quantize(np.array(np.broadcast_to(np.asarray(out), t.shape), order="C"),
                          t.dtype)
    return env
