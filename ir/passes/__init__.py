"""The pass pipeline: one ordered list, each pass ``fn(graph, options) -> changed``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from graphnn.ir.graph import Graph
from graphnn.ir.passes.conv_gemm import lower_convolutions
from graphnn.ir.passes.dce import common_subexpression_elimination, dead_code_elimination
from graphnn.ir.passes.fusion import Group, fuse
from graphnn.ir.passes.horizontal import fuse_horizontal
from graphnn.ir.passes.products import merge_product_sums
from graphnn.ir.passes.rows import fuse_rows
from graphnn.ir.passes.simplify import simplify
from graphnn.ir.passes.split_reduce import split_reductions
from graphnn.ir.passes.wide import split_wide_concats


@dataclass(frozen=True)
class PassOptions:
    """What the passes know of the device the graph will run on."""

    # work-items a kernel should offer to keep every compute unit busy (1: never split)
    parallelism: int = 1
    # the device runs row-vector kernels (the CPU dialect): a row's reduction and the
    # elementwise kernel that reads it back along the row share one work-item per row
    row_vectors: bool = False
    # float lanes of the device's vectors: the direct convolution kernels vectorise along
    # output rows, and convolutions with short rows run as GEMMs over im2col columns
    lanes: int = 1
    # False: every convolution keeps its direct kernel
    conv_gemm: bool = True


PIPELINE: list[tuple[str, Callable[[Graph, PassOptions], bool]]] = [
    # remove what no output needs (traces and VJP rules leave unused intermediates)
    ("dce", lambda g, o: dead_code_elimination(g)),
    # wide convolutions and their gradients become GEMMs over im2col columns
    ("conv_gemm", lambda g, o: lower_convolutions(g, o.lanes, o.conv_gemm)),
    # drop detach, identity views and casts, x*1 and x+0; fold reshape chains
    ("simplify", lambda g, o: simplify(g)),
    # a sum of matrix products (a weight's gradient over a loop's steps) becomes one product
    # of concatenations
    ("products", lambda g, o: merge_product_sums(g)),
    # merge duplicate computations (the backward graph repeats masks and casts)
    ("cse", lambda g, o: common_subexpression_elimination(g)),
    # concatenations of more than 16 arguments become trees of 16-way concatenations
    ("split_concat", lambda g, o: split_wide_concats(g)),
    # reductions with few outputs and long runs become two stages (partials in parallel)
    ("split_reduce", lambda g, o: split_reductions(g, o.parallelism)),
    # partition into kernels: elementwise chains, reduce prologue/epilogue, GEMM/conv
    # epilogues, conv + max_pool2d
    ("fuse", lambda g, o: fuse(g)),
    # a reduction over the last dim and the elementwise kernel reading it back along the
    # row as one kernel (softmax, layer norm)
    ("rows", lambda g, o: fuse_rows(g, o.row_vectors)),
    # lay independent elementwise kernels that read only inputs end to end in one launch
    ("horizontal", lambda g, o: fuse_horizontal(g, o.row_vectors)),
]
PASS_NAMES = ["trace"] + [name for name, _ in PIPELINE]


def run_pipeline(graph: Graph, label: str = "graph", until: str | None = None,
                 verify: bool = False, log: list | None = None,
                 options: PassOptions = PassOptions()) -> Graph:
    """Runs the passes in order on ``graph`` (in place) and returns it.

    ``until`` stops after the named pass ("trace" runs none). With ``GRAPHNN_DUMP=dir`` set,
    the graph is written to ``dir/<label>.<n>.<pass>.txt`` after each pass. ``log`` receives
    one ``(pass, changed, nodes after, kernels after)`` row per pass run. ``options``
    describe the device (``Dialect.pass_options()``).
    """
    dump = os.environ.get("GRAPHNN_DUMP")
    _dump(dump, label, 0, "trace", graph)
    if until == "trace":
        return graph
    for i, (name, fn) in enumerate(PIPELINE, start=1):
        changed = fn(graph, options)
        if log is not None:
            log.append((name, bool(changed), len(graph), len(getattr(graph, "groups", []))))
        if verify:
            graph.verify()
        _dump(dump, label, i, name, graph)
        if until == name:
            break
    return graph


def _dump(folder: str | None, label: str, i: int, name: str, graph: Graph) -> None:
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{label}.{i}.{name}.txt").write_text(str(graph) + "\n")


__all__ = ["PIPELINE", "PASS_NAMES", "Group", "PassOptions", "run_pipeline"]
