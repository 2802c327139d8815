"""Horizontal kernels: independent elementwise groups laid end to end in one launch."""
from __future__ import annotations

import math

from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group


def horizontal(graph: Graph, g: Group, name: str, d: Dialect):
    w = KernelWriter(graph, name)
    total = g.domain[0]
    w.lines.append("long gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {total}) return;")
    start = 0
    for p, part in enumerate(g.parts):
        n = math.prod(part.domain)
        keyword = "if" if p == 0 else "else if"
        w.lines.append(f"{keyword} (gid < {start + n}) {{")
        begin = len(w.lines)
        lines, idx = decompose(f"gid - {start}" if start else "gid", part.domain, f"p{p}_")
        w.lines += lines
        if start:
            w.lines.append(f"long p{p}_flat = gid - {start};")
        if part.domain:
            # (a 0-d part's index tuple is empty for every part: its values sit at 0)
            w.flat[(tuple(idx), tuple(part.domain))] = f"p{p}_flat" if start else "gid"
        w.emit_members(part.members, idx)
        for s in part.stores:
            w.store(s, idx)
        w.lines[begin:] = ["    " + line for line in w.lines[begin:]]
        w.lines.append("}")
        start += n
    local = d.local_1d(total)
    return w, ((total + local - 1) // local * local,), (local,)
