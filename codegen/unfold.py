"""``im2col`` and ``col2im`` (``ir/ops/unfold.py``): one work-item per element on a 3-D
grid whose first dimension runs along a row of the result.

As an elementwise kernel over the flat index, ``im2col`` split each index into its six
coordinates with 64-bit divisions, one by the batch size (a kernel argument): 130 ms for
ResNet-18's first stage's 14M columns. Here the row (ow, or w), the image's row (n, oh)
and the weight's row (c, i, j) come from the three grid ids, so the only divisions are by
literals (OH, kW, kH), once per work-item; consecutive work-items of a work-group write
consecutive elements, which PoCL vectorises across them.
"""
from __future__ import annotations

from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter
from graphnn.ir.graph import Graph
from graphnn.ir.ops import get
from graphnn.ir.passes.fusion import Group

MAX_LOCAL = 64      # work-items along a row in one work-group


def _local(row: int, d: Dialect) -> int:
    """The largest divisor of the row within MAX_LOCAL and the device's work-group."""
    cap = min(MAX_LOCAL, d.max_work_group)
    return max(g for g in range(1, min(row, cap) + 1) if row % g == 0)


def _kernel(graph: Graph, g: Group, name: str, d: Dialect, idx: list[str], lines: list[str],
            gsize: tuple):
    """The kernel storing the anchor's value at ``idx`` (declared by ``lines``) as the sum of
    its op's guarded reads."""
    w = KernelWriter(graph, name)
    node = g.anchor
    src = graph.args(node)[0]
    it = w.it
    w.lines += [f"{it} x0 = get_global_id(0), x1 = get_global_id(1), "
                f"x2 = get_global_id(2);"] + [f"{it} {line}" for line in lines]
    terms = []
    for conds, pos in get(graph.op(node)).guarded_reads(
            graph.attrs(node), graph.type(src).shape, graph.type(node).shape, idx):
        v = w.load(src, pos)
        terms.append(f"(({' && '.join(conds)}) ? {v} : 0)" if conds else v)
    w.store(node, idx, " + ".join(terms) if terms else "0")
    return w, gsize, (_local(gsize[0], d), 1, 1)


def im2col(graph: Graph, g: Group, name: str, d: Dialect):
    """Columns (C, kH, kW, N, OH, OW): the grid is (OW, N*OH, C*kH*kW)."""
    c, kh, kw, n, oh, ow = graph.type(g.anchor).shape
    lines = [f"n = x1 / {oh}, oh = x1 % {oh};",
             f"j = x2 % {kw}, i = x2 / {kw} % {kh}, c = x2 / {kw * kh};"]
    return _kernel(graph, g, name, d, ["c", "i", "j", "n", "oh", "x0"], lines,
                   (ow, n * oh, c * kh * kw))


def col2im(graph: Graph, g: Group, name: str, d: Dialect):
    """The input's gradient (N, C, H, W): the grid is (W, N*H, C)."""
    n, c, h, wd = graph.type(g.anchor).shape
    return _kernel(graph, g, name, d, ["n", "x2", "hh", "x0"],
                   [f"n = x1 / {h}, hh = x1 % {h};"], (wd, n * h, c))
