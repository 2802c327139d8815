"""The kernel graph during fusion: what a group reads, the tests that keep the groups
acyclic when reductions take sibling sums and epilogue DAGs, and the launch order.

Groups (``fusion.Group``) are kernels; a group reads another when one of its nodes reads a
node of the other (through views). Fusion keeps that graph acyclic by the *settled reads*
test (``reads_settled``) on every join that adds an edge into or out of a reduction, and
``schedule`` orders the kernels topologically."""
from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from graphnn.ir.graph import PLACEHOLDERS, Graph
from graphnn.ir.ops import Kind, get
from graphnn.ir.views import VIEW_OPS, view_base

if TYPE_CHECKING:
    from graphnn.ir.passes.fusion import Group

MAX_SIBLINGS = 7        # sums folded into one reduction loop besides its anchor
SIBLING_SCAN = 8        # earlier sums over the same index space tried as a sibling's loop
STREAM_NUMEL = 1 << 18  # an epilogue operand from this size on is a stream of its own
STREAM_DEPTH = 4        # elementwise steps after a GEMM's result searched for such operands


def touches_reduce(graph: Graph, g: Group, n: int, ew_srcs: list[Group],
                    group_of: dict[int, Group]) -> bool:
    """n joining g adds an edge into or out of a reduction kernel. Reductions take epilogue
    nodes that read any member and sibling sums, so such joins get the settled-reads test;
    the other kernels' joins are the single-use chains they always were."""
    if g.kind == "reduce":
        return True
    for m in [n] + [m for e in ew_srcs for m in e.nodes()]:
        for a in graph.args(m):
            a = view_base(graph, a)
            src = group_of.get(a)
            if src is not None and src is not g and src.kind == "reduce":
                return True
    return False


def reads_settled(graph: Graph, g: Group, nodes: list[int],
                   group_of: dict[int, Group]) -> bool:
    """``nodes`` may become part of g without a cycle of kernels: everything they read from
    outside is a leaf, or a member of g, or a member of a kernel g already reads (which, the
    kernels being acyclic now, cannot depend on g). A sound test that needs no closure of
    the kernel graph: two reductions each taking a node that reads the other's result
    (``clip_grad_norm_``'s sum of per-tensor norms) would otherwise deadlock."""
    before = None
    inside = set(nodes)
    for m in nodes:
        for a in graph.args(m):
            a = view_base(graph, a)
            src = group_of.get(a)
            if a in inside or src is None or src is g:
                continue
            if before is None:
                before = {id(x) for x in _sources_groups(graph, g, group_of)}
            if id(src) not in before:
                return False
    return True


def _sources_groups(graph: Graph, g: Group, group_of: dict[int, Group]) -> list[Group]:
    out = []
    inside = set(g.nodes())
    for m in g.nodes():
        for a in graph.args(m):
            a = view_base(graph, a)
            src = group_of.get(a)
            if a not in inside and src is not None and src is not g:
                out.append(src)
    return out


def _sources(graph: Graph, g: Group, group_of: dict[int, Group]) -> set:
    """What g's nodes read from outside g: producing groups and leaf nodes (through views)."""
    inside = set(g.nodes())
    out = set()
    for m in g.nodes():
        for a in graph.args(m):
            a = view_base(graph, a)
            if a in inside or graph.op(a) == "const":
                continue
            src = group_of.get(a)
            out.add(("group", id(src)) if src is not None else ("node", a))
    return out


def merge_sibling(graph: Graph, g: Group, sums: dict, group_of: dict[int, Group],
                   groups: dict[int, Group], reach: dict[int, int], bits) -> None:
    """Folds the new sum group ``g`` into an earlier sum over the same index space that reads
    a value g reads too and that g does not depend on: one loop, one accumulator each.
    BatchNorm's sum(x - K) and sum((x - K)^2), and the sums of its backward, read their
    input once."""
    n = g.anchor
    fold = get(graph.op(n)).reducer
    if not fold.sums or fold.index or fold.finish:
        return
    src = graph.args(n)[0]
    at = graph.attrs(n)
    # keepdim is not in the key: it changes only the output's index, not the loop (a bias
    # gradient's sum drops its kept dims, BatchNorm's statistics keep them)
    key = (graph.type(src).shape, tuple(at["axes"]), graph.type(n).dtype)
    reads = _sources(graph, g, group_of)
    # the latest few: sums of one layer are near each other, and a bounded scan keeps an
    # unrolled loop's hundreds of same-shaped bias-gradient sums linear
    for cand in reversed(sums.get(key, [])[-SIBLING_SCAN:]):
        if id(cand) not in groups or reach[n] & bits(cand) or \
                len(cand.siblings) >= MAX_SIBLINGS or \
                not (reads & _sources(graph, cand, group_of) or
                     _computed_scalar(graph, n) and _computed_scalar(graph, cand.anchor)) or \
                not reads_settled(graph, cand, g.nodes(), group_of):
            continue
        cand.prologue += g.prologue
        cand.members.append(n)
        cand.siblings.append(n)
        for m in g.prologue + g.members:
            group_of[m] = cand
        del groups[id(g)]
        cand.tip = n
        return
    sums.setdefault(key, []).append(g)


def epilogue_streams(graph: Graph, n: int) -> set[int]:
    """The large graph inputs of ``n``'s shape (``STREAM_NUMEL`` elements or more) that ``n``
    and the elementwise ops of its shape after it (``STREAM_DEPTH`` steps) read, directly or
    through an elementwise op of such inputs: what a GEMM's epilogue starting at ``n`` would
    stream besides the product. An optimizer's update reads the parameter and its state
    (SGD with momentum: two; Adam: three)."""
    shape = graph.type(n).shape
    found: set[int] = set()

    def big_input(b: int) -> bool:
        return graph.op(b) in PLACEHOLDERS and graph.type(b).shape == shape and \
            graph.type(b).numel >= STREAM_NUMEL

    def elementwise(m: int) -> bool:
        return graph.op(m) not in VIEW_OPS and graph.op(m) not in PLACEHOLDERS and \
            graph.op(m) != "const" and get(graph.op(m)).kind in (Kind.ELEMWISE, Kind.BROADCAST) \
            and graph.type(m).shape == shape

    seen: set[int] = set()
    frontier = [n]
    for _ in range(STREAM_DEPTH):
        after = []
        for m in frontier:
            if m in seen:
                continue
            seen.add(m)
            for a in graph.args(m):
                b = view_base(graph, a)
                if big_input(b):
                    found.add(b)
                elif elementwise(b) and b not in seen:
                    found |= {c for c in (view_base(graph, x) for x in graph.args(b))
                              if big_input(c)}
            after += [u for u, _ in graph.users(m) if elementwise(u)]
        frontier = after
    return found


def _computed_scalar(graph: Graph, n: int) -> bool:
    """A sum to a single value that the graph computes with (a mean's numerator or its
    count), not a gradient that is only returned. Two of them share a loop even when they
    read different values (a loss and its count of targets: one launch); sums that only feed
    outputs stay apart for the weight-gradient kernels that take them as side sums."""
    return graph.type(n).numel == 1 and any(graph.op(u) not in VIEW_OPS
                                            for u in graph.user_nodes(n))


def schedule(graph: Graph, groups: list[Group], group_of: dict[int, Group],
             key) -> list[Group]:
    """The groups in an order where each runs after the groups it reads (a topological order
    of the kernel graph, earliest tip first). A group's tip is not enough: a reduction that
    took a later sibling is read by kernels placed between the two sums."""
    ids = {id(g): g for g in groups}
    preds: dict[int, set[int]] = {id(g): set() for g in groups}
    succs: dict[int, list[int]] = {id(g): [] for g in groups}
    for g in groups:
        for m in g.nodes():
            for a in graph.args(m):
                a = view_base(graph, a)
                src = group_of.get(a)
                if src is not None and src is not g and id(src) not in preds[id(g)]:
                    preds[id(g)].add(id(src))
                    succs[id(src)].append(id(g))
    ready = [(key(g.tip), id(g)) for g in groups if not preds[id(g)]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, gid = heapq.heappop(ready)
        order.append(ids[gid])
        for s_ in succs[gid]:
            preds[s_].discard(gid)
            if not preds[s_]:
                heapq.heappush(ready, (key(ids[s_].tip), s_))
    if len(order) != len(groups):
        raise AssertionError("fusion made a cycle of kernels")
    return order
