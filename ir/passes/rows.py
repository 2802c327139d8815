"""Row fusion: a reduction over the last dim and the elementwise kernel that reads its
result back along that dim, as one kernel with one work-item per row.

Softmax is ``logsumexp`` over each row, then ``exp(x - lse)`` over the row; layer norm is
the statistics of each row, then ``(x - mean) * rstd * w + b`` over it. ``fuse`` keeps the
two apart (the elementwise kernel's index space is the row's, the reduction's result is one
value per row: ``reduction_boundary``), so each row is read from memory twice, by two
launches. A ``row`` group holds both as ``parts`` = [reduction, elementwise]: its kernel
reduces a row, then runs the elementwise part over the same row while it is in cache
(``codegen/rows.row_group``). The reduction's values that the elementwise part reads are
stored (one per row) and read back by the same work-item.

Only where the device runs row-vector kernels (``PassOptions.row_vectors``: the CPU
dialect); a GPU wants a work-item per element, not per row. Conditions, so that the merge
cannot make a cycle of kernels or change what is computed: one reduced axis, the last, of a
``sum`` or ``logsumexp`` group; an elementwise group over exactly the reduction's input
shape that reads the reduction's values; everything else it reads is a graph input, a
value of the reduction's group, or a value of a kernel the reduction itself reads.
"""
from __future__ import annotations

from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.views import view_base

ROW_REDUCTIONS = ("sum", "logsumexp")


def _reads(graph: Graph, g: Group) -> set[int]:
    """The values (below views) that g's nodes read from outside g."""
    inside = set(g.nodes())
    return {view_base(graph, a) for m in g.nodes() for a in graph.args(m)} - inside


def _row_reduction(graph: Graph, r: Group) -> bool:
    if r.kind != "reduce" or r.parts or r.pieces or graph.op(r.anchor) not in ROW_REDUCTIONS:
        return False
    shape = graph.type(graph.args(r.anchor)[0]).shape
    return len(shape) >= 1 and all(graph.attrs(a)["axes"] == (len(shape) - 1,) and
                                   graph.type(graph.args(a)[0]).shape == shape
                                   for a in r.anchors())


def fuse_rows(graph: Graph, enabled: bool) -> bool:
    """Merges each elementwise group into the row reduction whose values it reads back
    along the row (see the module). Returns whether any merged."""
    groups = getattr(graph, "groups", None)
    if not enabled or not groups:
        return False
    group_of = {m: g for g in groups for m in g.nodes()}
    taken: set[int] = set()
    merged: dict[int, Group] = {}       # id(reduction group) -> its row group
    for e in groups:
        if e.kind != "elementwise" or e.parts or e.pieces or id(e) in taken:
            continue
        reads = _reads(graph, e)
        sources = {id(group_of[v]): group_of[v] for v in reads if v in group_of}
        # of the row reductions it reads (a second layer norm also reads the first one's
        # statistics, recomputing its output), the one every other source precedes
        r = None
        for cand in sources.values():
            if not _row_reduction(graph, cand) or id(cand) in taken or \
                    tuple(e.domain) != tuple(graph.type(graph.args(cand.anchor)[0]).shape):
                continue
            before = {id(group_of[v]) for v in _reads(graph, cand) if v in group_of}
            if all(gid == id(cand) or gid in before for gid in sources):
                r = cand
                break
        if r is None:
            continue
        inside_r = set(r.nodes())
        read_back = sorted({view_base(graph, a) for m in e.nodes() for a in graph.args(m)}
                           & inside_r)
        row = Group(0, "row", tuple(e.domain), members=r.nodes() + e.nodes(),
                    stores=list(dict.fromkeys(r.stores + read_back + e.stores)),
                    tip=e.tip, parts=[r, e])
        r.stores = list(dict.fromkeys(r.stores + read_back))
        merged[id(r)] = row
        taken |= {id(r), id(e)}
    if not merged:
        return False
    order = []
    for g in groups:
        if id(g) in merged:
            order.append(merged[id(g)])
        elif id(g) not in taken:
            order.append(g)
    # the row group runs where its reduction ran: everything the elementwise part reads is
    # computed before the reduction, and its readers come after both
    graph.groups = order
    for i, g in enumerate(order):
        g.id = i
        for m in g.nodes():
            graph.meta(m)["group"] = i
    same = {m: g.id for g in merged.values() for m in g.nodes()}
    graph.fusion_decisions = [d for d in getattr(graph, "fusion_decisions", [])
                              if not (d.producer in same and same.get(d.consumer) ==
                                      same[d.producer])]
    return True
