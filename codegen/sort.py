"""``argsort``: one work-item per element computes its rank in its row and writes its own
position there.

The rank of element i (ascending) is the number of elements of the row that sort before
it: smaller ones, and equal ones at a smaller position (so the sort is stable). Ranks are
distinct, so every output element is written once, without atomics or scratch memory, and
the result does not depend on scheduling. NaN counts as the largest value (PyTorch's
order); descending order flips the comparison, ties still in their original order.

Cost: a row of n elements takes n^2 comparisons (n work-items of n steps each). That is
fine for the short rows of top-k over classes or beams; a long row (a vocabulary of 30K)
costs about a second on PoCL. A merge or bitonic sort per row is the way to scale."""
from __future__ import annotations

import math

from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic


def argsort(graph: Graph, g: Group, name: str, d: Dialect):
    node = g.anchor
    x = graph.args(node)[0]
    at = graph.attrs(node)
    axis = at["axis"]
    shape = graph.type(node).shape
    n_row = shape[axis]
    t = graph.type(x).dtype
    w = KernelWriter(graph, name)
    n = math.prod(shape)
    local = d.local_1d(n)
    w.lines.append("long gid = get_global_id(0);")
    if is_symbolic(n) or n % local:
        w.lines.append(f"if (gid >= {n}) return;")
    lines, idx = decompose("gid", shape, "i")
    w.lines += lines
    me = w.load(x, idx)
    other = list(idx)
    other[axis] = "j"
    w.lines.append(f"{t.cl} v = {me};")
    w.lines.append("long rank = 0;")
    w.lines.append(f"for (long j = 0; j < {n_row}; j++) {{")
    w.lines.append(f"    {t.cl} u = {w.load(x, other)};")
    # u sorts before v: strictly before in the order, or equal and earlier in the row
    first, second = ("v", "u") if at["descending"] else ("u", "v")
    before = f"({first} < {second})"
    if t.is_float:
        # NaN is the largest value: a NaN is before every number when descending, after
        # every number when ascending; two NaNs are equal
        before = f"({before} || ({second} != {second} && {first} == {first}))"
        same = "(u == v || (u != u && v != v))"
    else:
        same = "(u == v)"
    w.lines.append(f"    rank += {before} || ({same} && j < {idx[axis]});")
    w.lines.append("}")
    out = list(idx)
    out[axis] = "rank"
    w.lines.append(f"{w.buf(node, write=True)}[{w.address(node, out)}] = {idx[axis]};")
    return w, ((n + local - 1) // local * local,), (local,)
