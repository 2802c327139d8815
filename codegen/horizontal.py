"""Horizontal kernels: independent elementwise groups laid end to end in one launch.

A work-item finds its part by a balanced tree of comparisons with the parts' start offsets
(log2 of the parts, not one comparison per part before it). Where a part can run as
vectors along its rows (``vepi.row_plan``: the CPU dialect), its work-items are vectors
and its body is the row-vector elementwise kernel's; otherwise one work-item is one
element. The range tests keep PoCL from vectorising across work-items, so a scalar part
ran one element at a time: an optimizer step over two 256 x 256 weights and ten biases
as one kernel took 1.6 ms more than as a kernel a weight."""
from __future__ import annotations

import math

from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d, start_1d
from graphnn.codegen.vepi import RowPlan, emit_rows, row_plan
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group


def horizontal(graph: Graph, g: Group, name: str, d: Dialect):
    w = KernelWriter(graph, name)
    plans = [row_plan(graph, part, d) for part in g.parts]
    starts = [0]
    for part, plan in zip(g.parts, plans):
        starts.append(starts[-1] + (plan.total if plan else math.prod(part.domain)))
    total = starts[-1]
    start_1d(w, total, d)

    def dispatch(lo: int, hi: int) -> None:
        begin = len(w.lines)
        if hi - lo == 1:
            _part(w, lo, g.parts[lo], starts[lo], plans[lo])
        else:
            mid = (lo + hi) // 2
            w.lines.append(f"if (gid < {starts[mid]}) {{")
            dispatch(lo, mid)
            w.lines.append("} else {")
            dispatch(mid, hi)
            w.lines.append("}")
        if lo or hi < len(g.parts):
            w.lines[begin:] = ["    " + line for line in w.lines[begin:]]

    dispatch(0, len(g.parts))
    return w, *launch_1d(total, d)


def _part(w: KernelWriter, p: int, part: Group, start, plan: RowPlan | None) -> None:
    if plan is not None:
        emit_rows(w, part, plan, f"gid - {start}" if p else "gid")
        return
    lines, idx = decompose(f"gid - {start}" if p else "gid", part.domain, f"p{p}_")
    w.lines += lines
    if p:
        w.lines.append(f"{w.it} p{p}_flat = gid - {start};")
    if part.domain:
        # (a 0-d part's index tuple is empty for every part: its values sit at 0)
        w.flat[(tuple(idx), tuple(part.domain))] = f"p{p}_flat" if p else "gid"
    w.emit_members(part.members, idx)
    for s in part.stores:
        w.store(s, idx)
    # the linear-index shortcut names this part's variable: a later part must not read it
    w.flat.clear()
