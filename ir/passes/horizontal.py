"""Horizontal fusion: independent elementwise kernels that read only graph inputs, laid end
to end in one launch (the last pass of the pipeline, after ``fuse`` and ``rows``)."""
from __future__ import annotations

import math

from graphnn.ir.graph import LEAF_OPS, Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.views import view_base

# parts per horizontal kernel: PoCL's compile time (and a work-item's dispatch) grows with the
# parts of one kernel; chunks of equal parts lower to one deduplicated kernel
MAX_PARTS = 16


def fuse_horizontal(graph: Graph, row_vectors: bool = False) -> bool:
    """Merges elementwise groups that read only graph inputs and constants into kernels of
    up to MAX_PARTS parts (their work-items are laid end to end): an optimizer step over ten
    parameters becomes one launch instead of ten, over eighty five launches of one kernel.
    Where the device runs row vectors, a concatenation stays a kernel of its own: alone it
    copies whole vectors, as a part it selects one element at a time (the (T N, H) states
    of an LSTM's layer, concatenated for W_hh's gradient, took 400 us as a part)."""
    groups = getattr(graph, "groups", None)
    if not groups:
        return False

    def reads_only_leaves(g: Group) -> bool:
        inside = set(g.nodes())
        for m in g.nodes():
            for a in graph.args(m):
                base = view_base(graph, a)
                if base not in inside and graph.op(base) not in LEAF_OPS:
                    return False
        return True

    sources = [g for g in groups if g.kind == "elementwise" and reads_only_leaves(g) and not (
        row_vectors and any(graph.op(m) == "concat" for m in g.nodes()))]
    if len(sources) < 2:
        return False
    merged = []
    for i in range(0, len(sources), MAX_PARTS):
        parts = sources[i:i + MAX_PARTS]
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        merged.append(Group(0, "horizontal", (sum(math.prod(g.domain) for g in parts),),
                            members=[m for g in parts for m in g.members],
                            stores=[s for g in parts for s in g.stores], tip=parts[-1].tip,
                            parts=parts))
    taken = set(map(id, sources))
    graph.groups = merged + [g for g in groups if id(g) not in taken]
    for i, g in enumerate(graph.groups):
        g.id = i
        for m in g.nodes():
            graph.meta(m)["group"] = i
    return True


__all__ = ["MAX_PARTS", "fuse_horizontal"]
