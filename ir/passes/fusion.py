"""Fusion: partitions compute nodes into kernel groups (TVM-style, by fusion kind).

Each group becomes one kernel. Shapes of group:

- ``elementwise``: ELEMWISE/BROADCAST/INJECTIVE ops computed at each index of ``domain``;
- ``reduce``: a reduction with an elementwise *prologue* (computed inside the reduction loop
  at the input's index) and an elementwise *epilogue* (at the output's index);
- an anchor family (``gemm``, ``conv2d``, ``max_pool2d`` ...): an OUT_EWISE_FUSABLE op with
  an elementwise epilogue; a ``conv2d`` group may end with a ``max_pool2d`` *tail*, and a
  ``max_pool2d`` group may start with an elementwise *prologue* computed at each tap;
- an OPAQUE op (``scatter_add``, ``argsort``) alone: its work-items write output elements
  other than their own (and scatter_add over two launches), so no epilogue can join it.

A producer joins its consumer's group only when the consumer is its single user inside the
graph; a member that is also a graph output is additionally stored (a multi-output kernel),
so training graphs keep the values the backward graph saves without an extra kernel.
Values read through views are always materialised.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from graphnn.ir.graph import LEAF_OPS, Graph
from graphnn.ir.ops import REGISTRY, Kind, get
from graphnn.ir.passes.kernel_graph import epilogue_streams, merge_sibling, reads_settled, \
    schedule, touches_reduce
from graphnn.ir.types import broadcast_shapes
from graphnn.ir.views import VIEW_OPS, resolve, view_base

# Why a value computed by one kernel is read from memory by another instead of being fused
# into it. The fusion pass records one ``FusionDecision`` per such read as it decides
# (``graph.fusion_decisions``), so ``graphnn dump --why-not-fused`` reports the pass's own
# reasons rather than guessing them again afterwards.
REASONS = {
    "multiple_users": "the value has several users: it is stored once and each user reads it",
    "layout_change": "read through a view (reshape, permute, expand, slice): the consumer "
                     "reads the stored buffer with strides",
    "indexed_read": "the consumer reads this argument at another index (gather, concat, pad, "
                    "slice_grad...), so the argument is materialised",
    "anchor_operand": "an anchor (matmul, conv, pooling) reads its operands at many indices: "
                      "only elementwise epilogues join it",
    "opaque": "scatter and sort kernels write at computed positions: nothing joins them",
    "reduction_boundary": "only an elementwise prologue of the reduced operand's shape joins "
                          "a reduction",
    "broadcast": "the consumer's index space differs from the producer's kernel (broadcast "
                 "or reduced shape)",
    "stored_output": "the producer's kernel stores a graph output that this kernel could not "
                     "write",
    "pool_tail": "the convolution kernel cannot take this pooling as its tail",
    "pool_prologue": "the max-pool kernel cannot compute this elementwise kernel at its taps",
    "shorter_epilogue": "the consumer reads two kernels' results and joined the one with the "
                        "shorter epilogue",
    "not_tip": "the value is not the last one its kernel computes",
    "cycle": "joining would make two kernels each wait for the other",
    "epilogue_streams": "the consumer and the elementwise ops after it read two or more large "
                        "inputs of the product's shape (an optimizer's update): a GEMM's "
                        "epilogue walks them in its row blocks' tiles, a kernel of their own "
                        "streams them",
}


@dataclass(frozen=True)
class FusionDecision:
    """Why ``consumer`` reads ``producer`` (a value of another kernel) from memory."""

    producer: int       # the materialised node (below any views)
    consumer: int       # the node that reads it
    reason: str         # a key of REASONS
    detail: str = ""    # the specifics: user counts, shapes, the view op


@dataclass
class Group:
    id: int
    kind: str                       # "elementwise", "reduce" or an anchor kernel family
    domain: tuple[int, ...]         # index space of the epilogue / elementwise members
    anchor: int | None = None
    members: list[int] = field(default_factory=list)   # in join order (topological)
    prologue: list[int] = field(default_factory=list)  # reduce: computed at input index
    tail: int | None = None         # conv2d group: the fused max_pool2d
    stores: list[int] = field(default_factory=list)    # members written to memory
    tip: int = -1                   # the last member; consumers outside read it
    parts: list["Group"] = field(default_factory=list)  # horizontal: independent groups
    side: int | None = None         # a bias-gradient sum computed by this anchor's kernel
    # the side sum's elementwise epilogue (an optimizer's update of the bias), at its index
    side_epilogue: list[int] = field(default_factory=list)
    # reduce: sibling sums over the same index space, folded in the anchor's loop
    siblings: list[int] = field(default_factory=list)
    # concat node -> {argument position: the elementwise members computing that argument},
    # each computed only in its branch of the concat, at the argument's own index
    pieces: dict[int, dict[int, list[int]]] = field(default_factory=dict)

    def ops(self, graph: Graph) -> list[str]:
        return [graph.op(m) for m in self.nodes()]

    def nodes(self) -> list[int]:
        return [m for by_arg in self.pieces.values() for ms in by_arg.values() for m in ms] + \
            self.prologue + self.members + \
            ([self.side] + self.side_epilogue if self.side is not None else [])

    def anchors(self) -> list[int]:
        return ([self.anchor] if self.anchor is not None else []) + self.siblings


def _compute(graph: Graph, n: int) -> bool:
    return graph.op(n) not in LEAF_OPS and graph.op(n) not in VIEW_OPS


def materialize_views(graph: Graph) -> bool:
    """Inserts ``copy`` where a view cannot be expressed by strides: a reshape of a
    non-contiguous view, or a graph output that is not a plain alias of a buffer."""
    changed = False
    for n in graph.topo():
        if graph.op(n) == "reshape" and resolve(graph, graph.args(n)[0]) is not None \
                and resolve(graph, n) is None:
            src = graph.args(n)[0]
            c = graph.add("copy", [src], name=graph.name(n))
            graph.set_arg(n, 0, c)
            changed = True
    for i, o in enumerate(list(graph.outputs)):
        v = resolve(graph, o)
        if graph.op(o) in VIEW_OPS and (v is None or not v.is_alias
                                        or graph.op(v.base) == "const"):
            graph.outputs[i] = graph.add("copy", [o], name=graph.name(o))
            changed = True
        elif graph.op(o) == "const":
            graph.outputs[i] = graph.add("copy", [o], name=graph.name(o))
            changed = True
    return changed


_CHEAP = (Kind.ELEMWISE, Kind.BROADCAST)
MAX_USERS = 8           # users of a cheap value that each compute it again (recompute_cheap)


def recompute_cheap(graph: Graph, max_clones: int = 64) -> dict[int, str]:
    """Clones an elementwise node (or a view of a single value) whose users are all
    elementwise or reductions, once per extra user, so that each consumer's kernel recomputes
    it instead of reading it from memory. Visiting consumers first lets cheap chains be
    recomputed whole; ``max_clones`` bounds the growth. A graph output keeps its first user,
    whose kernel stores it (BatchNorm's centred input, saved for the backward graph, is
    stored by the statistics' reduction loop); the clones are not outputs. Returns, per
    elementwise value with several users left uncloned, why it was not."""
    clones = 0
    kept: dict[int, str] = {}

    def elementwise(n: int) -> bool:
        return _compute(graph, n) and get(graph.op(n)).kind in _CHEAP

    def absorbs(n: int, k: int) -> bool:   # a consumer whose kernel can compute argument k
        if elementwise(n) or graph.op(n) in VIEW_OPS:
            return True
        if not _compute(graph, n):
            return False
        op = get(graph.op(n))
        # a gather's index is read at the gather's own index, as an elementwise op reads
        return op.kind == Kind.REDUCE or (op.kind == Kind.INJECTIVE and
                                          k not in op.indexed_reads)

    for n in reversed(graph.topo()):
        if graph.op(n) in LEAF_OPS:
            continue
        view = resolve(graph, n) if graph.op(n) in VIEW_OPS else None
        scalar_view = view is not None and graph.type(view.base).numel == 1
        if not (elementwise(n) or scalar_view):
            continue
        users = graph.users(n)
        if len({u for u, _ in users}) < 2:
            continue
        if len(users) > MAX_USERS:
            kept[n] = f"{len(users)} reads: recomputation stops at {MAX_USERS}"
            continue
        other = next((u for u, k in users if not absorbs(u, k)), None)
        if other is not None:
            kept[n] = f"read by %{other} ({graph.op(other)}), which cannot recompute it"
            continue
        first = users[0][0]
        for user, k in users:
            if user == first:
                continue
            if clones >= max_clones:
                kept[n] = f"the pass's budget of {max_clones} recomputed values was spent"
                continue
            c = graph.add(graph.op(n), graph.args(n), graph.attrs(n), name=graph.name(n),
                          type=graph.type(n), meta=graph.meta(n))
            graph.set_arg(user, k, c)
            clones += 1
    return kept


def _through_views(graph: Graph, a: int) -> int:
    """The node below a chain of single-use views, or ``a`` itself."""
    while graph.op(a) in VIEW_OPS and len(graph.users(graph.args(a)[0])) == 1:
        a = graph.args(a)[0]
    return a


def fuse(graph: Graph) -> bool:
    """Assigns every compute node to a group; sets ``graph.groups`` and ``meta['group']``,
    and ``graph.fusion_decisions``: why each value read by another kernel stayed apart."""
    materialize_views(graph)
    kept = recompute_cheap(graph)
    outputs = set(graph.outputs)
    group_of: dict[int, Group] = {}
    # by id(group), in creation order: absorbing a group deletes it in O(1) (a list's remove
    # made fusing a 128-step LSTM's backward take 6 s)
    groups: dict[int, Group] = {}
    decisions: list[FusionDecision] = []

    def inner_users(n: int) -> list[int]:
        return graph.user_nodes(n)

    def note(a: int, n: int, reason: str, detail: str = "") -> None:
        if _compute(graph, a):
            decisions.append(FusionDecision(a, n, reason, detail))

    def new(kind: str, domain, n: int, anchor=None) -> Group:
        g = Group(len(groups), kind, tuple(domain), anchor=anchor, members=[n], tip=n)
        groups[id(g)] = g
        group_of[n] = g
        return g

    def joinable_tip(a: int, n: int) -> Group | None:
        g = group_of.get(a)
        if g is None:
            return None
        users = inner_users(a)
        if users != [n]:
            why = f"read by {', '.join(f'%{u}' for u in users)}"
            note(a, n, "multiple_users", why + (f"; {kept[a]}" if a in kept else ""))
            return None
        if g.tip != a:
            note(a, n, "not_tip", f"its kernel goes on to %{g.tip}")
            return None
        return g

    def retire(dst: Group, src: Group) -> None:
        """``dst`` takes over the nodes of ``src``, which is no longer a kernel."""
        for m in src.nodes():
            group_of[m] = dst
        dst.pieces.update(src.pieces)
        del groups[id(src)]

    def absorb(dst: Group, src: Group, into_prologue: bool = False) -> None:
        (dst.prologue if into_prologue else dst.members)[:0] = src.members
        retire(dst, src)

    def piece(a: int, n: int) -> Group | None:
        """The elementwise group computing only ``a``, the argument of concat ``n``, which
        ``n``'s kernel can compute in ``a``'s branch: every value of it feeds only the
        group itself or ``n`` (once), and none is stored."""
        src = group_of.get(a)
        if src is None or src.kind != "elementwise" or src.tip != a or src.parts or \
                len(graph.users(a)) != 1 or tuple(src.domain) != graph.type(a).shape:
            return None
        inside = set(src.nodes())
        if any(m in outputs or any(u not in inside and u != n for u in graph.user_nodes(m))
               for m in src.nodes()):
            return None
        return src

    # reach[n]: the anchors n depends on, as a bitset (anchor_bit); a group may not take a
    # node that reads a value depending on the group's own anchors (a cycle of kernels)
    reach: dict[int, int] = {}
    anchor_bit: dict[int, int] = {}

    def bits(g: Group) -> int:
        return sum(1 << anchor_bit[a] for a in g.anchors())

    def acyclic(g: Group, n: int) -> bool:
        """n may join g: no argument from outside g depends on g's anchors."""
        own = bits(g)
        return not any(group_of.get(a) is not g and reach[a] & own for a in graph.args(n))

    sums: dict[tuple, list[Group]] = {}     # sibling candidates by their index space

    for n in graph.topo():
        r = 0
        for a in graph.args(n):
            r |= reach[a] | (1 << anchor_bit[a] if a in anchor_bit else 0)
        reach[n] = r
        if not _compute(graph, n):
            continue
        op = get(graph.op(n))
        shape = graph.type(n).shape
        args = graph.args(n)
        if op.kind in (Kind.OUT_EWISE_FUSABLE, Kind.OPAQUE, Kind.REDUCE):
            anchor_bit[n] = len(anchor_bit)
        if op.kind == Kind.OUT_EWISE_FUSABLE:
            a = args[0]
            covered = op.name == "max_pool2d" and group_of.get(a) is not None and \
                group_of[a].tip == a and _windows_cover(graph, n)
            # the conv's result may have other users too (a whole training step's backward
            # reads it) when the kernel stores every pre-pool value
            src = group_of[a] if covered else \
                joinable_tip(a, n) if op.name == "max_pool2d" else None
            if src is not None and src.kind == "conv2d" and src.tail is None and (
                    _windows_cover(graph, n) or not any(m in outputs for m in src.members)):
                src.members.append(n)
                src.tail = src.tip = n
                group_of[n] = src
            else:
                if src is not None and src.kind == "conv2d":
                    note(a, n, "pool_tail", "it already has a pooling tail" if src.tail
                         is not None else "windows skip values the kernel also stores")
                if covered and src.kind == "elementwise":
                    src = joinable_tip(a, n)    # a prologue needs the pool as its only user
                for i, b in enumerate(args):
                    # a pool's input was judged above (users, the conv kernel's tail) or
                    # below (an elementwise prologue)
                    if not (op.name == "max_pool2d" and i == 0 and
                            (src is None or src.kind in ("conv2d", "elementwise"))):
                        note(view_base(graph, b), n, "anchor_operand", f"{op.name} argument {i}")
                g = new(op.cl, shape, n, anchor=n)
                if op.name == "max_pool2d" and src is not None and src.kind == "elementwise":
                    why = _pool_prologue_refused(graph, src, n, outputs)
                    if why:
                        note(a, n, "pool_prologue", why)
                    else:
                        absorb(g, src, into_prologue=True)
            continue
        if op.kind == Kind.OPAQUE:
            for i, b in enumerate(args):
                note(view_base(graph, b), n, "opaque", f"{op.name} argument {i}")
            new(op.cl, shape, n, anchor=n)
            continue
        if op.kind == Kind.REDUCE:
            g = new("reduce", shape, n, anchor=n)
            a = args[0]
            if graph.op(a) in VIEW_OPS:
                note(view_base(graph, a), n, "layout_change", f"through {graph.op(a)}")
                continue
            src = joinable_tip(a, n)
            if src is not None and src.kind != "elementwise":
                note(a, n, "reduction_boundary", f"the producer is a {src.kind} kernel")
            elif src is not None and src.domain != graph.type(a).shape:
                note(a, n, "reduction_boundary",
                     f"its kernel runs over {list(src.domain)}, not {list(graph.type(a).shape)}")
            elif src is not None:
                # a prologue member that is also a graph output is stored from inside the
                # loop: each input element is visited once
                absorb(g, src, into_prologue=True)
            merge_sibling(graph, g, sums, group_of, groups, reach, bits)
            continue
        # an elementwise-computable node: join the groups of single-use producers
        skip = op.indexed_reads       # read at a transformed index: materialised
        anchor_src, ew_srcs = None, []
        pieces: dict[int, Group] = {}   # a concat's arguments computed in its branches
        for i, a in enumerate(args):
            if graph.op(a) in VIEW_OPS and i not in skip:
                # a single value (numel 1) seen through views is recomputed in place
                b = _through_views(graph, a)
                if b != a and graph.type(b).numel == 1 and len(graph.users(a)) == 1:
                    src = group_of.get(b)
                    if src is not None and src.kind == "elementwise" and src.tip == b and \
                            b not in outputs and len(graph.users(b)) == 1:
                        if src not in ew_srcs:
                            ew_srcs.append(src)
                        continue
                note(view_base(graph, a), n, "layout_change", f"through {graph.op(a)}")
                continue
            if i in skip:
                src = piece(a, n) if op.name == "concat" else None
                if src is not None:
                    pieces[i] = src
                    continue
                note(view_base(graph, a), n, "indexed_read", f"{op.name} argument {i}")
                continue
            member = group_of.get(a)
            if member is not None and member.kind == "reduce" and a in member.members:
                # a reduction's epilogue is a DAG at the output index: any member's users
                # can join it (a member that other kernels read is stored as well)
                src = member
            else:
                src = joinable_tip(a, n)
            if src is None or src in ew_srcs or src is anchor_src:
                continue
            if src.kind == "elementwise":
                stored = [m for m in src.members if m in outputs
                          and graph.type(m).shape != shape]
                if stored:
                    note(a, n, "stored_output", f"%{stored[0]} of shape "
                         f"{list(graph.type(stored[0]).shape)}")
                elif broadcast_shapes(src.domain, shape) != shape:
                    note(a, n, "broadcast", f"{list(src.domain)} into {list(shape)}")
                else:
                    ew_srcs.append(src)
            elif src.tail is not None:
                note(a, n, "pool_tail", "a kernel with a pooling tail takes no epilogue")
            elif src.domain != shape:
                note(a, n, "reduction_boundary" if src.kind == "reduce" else "broadcast",
                     f"{list(src.domain)} into {list(shape)}")
            elif get(graph.op(src.anchor)).kind == Kind.OPAQUE:
                note(a, n, "opaque", f"{graph.op(src.anchor)} kernel")
            elif not acyclic(src, n):
                note(a, n, "cycle", "another argument is computed from this kernel's result")
            elif graph.op(src.anchor) == "matmul" and \
                    len(streams := epilogue_streams(graph, n)) >= 2:
                note(a, n, "epilogue_streams", f"{len(streams)} inputs of {list(shape)}")
            elif anchor_src is None or len(src.members) <= len(anchor_src.members):
                # of two kernels whose result n reads, join the one with the shorter
                # epilogue (the later one on a tie): a gradient summed over the steps of a
                # loop, ((g0 + g1) + g2) + ..., then adds one step in each step's GEMM
                # kernel (equal text for every step) instead of all T in the first one
                if anchor_src is not None:
                    note(anchor_src.tip, n, "shorter_epilogue", f"joined %{src.tip}'s kernel")
                anchor_src = src
            else:
                note(a, n, "shorter_epilogue", f"joined %{anchor_src.tip}'s kernel")
        if anchor_src is not None and touches_reduce(graph, anchor_src, n, ew_srcs, group_of) \
                and not reads_settled(graph, anchor_src, [n] + [m for e in ew_srcs
                                                                for m in e.nodes()], group_of):
            note(anchor_src.tip, n, "cycle", "it reads values of kernels that may depend on "
                 f"%{anchor_src.tip}'s kernel")
            anchor_src = None
        if anchor_src is not None:
            g = anchor_src
            g.members.append(n)
            g.tip = n
            group_of[n] = g
        else:
            g = new("elementwise", shape, n)
        for src in ew_srcs:
            absorb(g, src)
            g.members.sort(key=_order(graph))
        if pieces:
            g.pieces[n] = {}
            for i, src in pieces.items():
                g.pieces[n][i] = src.members
                retire(g, src)
    _fuse_side_sums(graph, groups, group_of)
    _finish(graph, list(groups.values()), group_of, outputs)
    graph.fusion_decisions = decisions
    return True


def _feeds_only_outputs(graph: Graph, n: int, outputs: set[int]) -> bool:
    for u in graph.user_nodes(n):
        if graph.op(u) not in VIEW_OPS or not _feeds_only_outputs(graph, u, outputs):
            return False
    return n in outputs or bool(graph.user_nodes(n))


def _side_sum(graph: Graph, anchor: int):
    """The anchor op's ``side_sum`` rule: (argument, axes) of a sum its kernel can add."""
    rule = get(graph.op(anchor)).side_sum if graph.op(anchor) in REGISTRY else None
    return rule([graph.type(a) for a in graph.args(anchor)], graph.attrs(anchor)) \
        if rule is not None else None


def _fuse_side_sums(graph: Graph, groups: dict[int, Group],
                    group_of: dict[int, Group]) -> None:
    """A bias gradient (a sum that only feeds outputs) joins the weight-gradient kernel
    that reads the same value, as its anchor's ``side_sum`` rule allows. The sum's
    elementwise epilogue comes along (``Group.side_epilogue``: in a whole training step, the
    optimizer's update of the bias) when it too feeds only outputs and reads nothing but
    graph inputs besides the sum: then no other kernel waits for it, nor it for one."""
    outputs = set(graph.outputs)
    by_source: dict[int, list[Group]] = {}      # summed value -> anchor groups that read it
    for g in groups.values():
        side = _side_sum(graph, g.anchor) if g.anchor is not None else None
        if side is not None:
            by_source.setdefault(graph.args(g.anchor)[side[0]], []).append(g)
    for r in [g for g in groups.values() if g.kind == "reduce"]:
        node = r.anchor
        if graph.op(node) != "sum" or r.prologue or r.siblings or \
                not _side_epilogue_free(graph, r, outputs):
            continue
        src = graph.args(node)[0]
        for g in by_source.get(src, []):
            if g.side is not None:
                continue
            if tuple(graph.attrs(node)["axes"]) != _side_sum(graph, g.anchor)[1]:
                continue
            g.side = node
            g.side_epilogue = [m for m in r.members if m != node]
            for m in r.members:
                group_of[m] = g
            del groups[id(r)]
            break


def _side_epilogue_free(graph: Graph, r: Group, outputs: set[int]) -> bool:
    """The reduce group ``r`` (a sum and its epilogue) can be computed by another kernel
    anywhere in the schedule: its values feed only graph outputs (or each other) and it
    reads only graph inputs and constants besides its own values."""
    inside = set(r.members)
    for m in r.members:
        users = [u for u in graph.user_nodes(m) if u not in inside]
        if not all(graph.op(u) in VIEW_OPS and _feeds_only_outputs(graph, u, outputs)
                   for u in users) or not (m in outputs or users or
                                            any(u in inside for u in graph.user_nodes(m))):
            return False
        if m == r.anchor:
            continue
        for a in graph.args(m):
            if a not in inside and graph.op(view_base(graph, a)) not in LEAF_OPS:
                return False
    return True


def _windows_cover(graph: Graph, pool: int) -> bool:
    """True when max_pool2d's windows visit every input position: then a conv + pool kernel
    that also stores the pre-pool values (for the backward graph) writes all of them."""
    at = graph.attrs(pool)
    _, _, oh, ow = graph.type(pool).shape
    _, _, h, w = graph.type(graph.args(pool)[0]).shape
    for size, out, k, s, p, d in ((h, oh, at["kernel"][0], at["stride"][0], at["padding"][0],
                                   at["dilation"][0]),
                                  (w, ow, at["kernel"][1], at["stride"][1], at["padding"][1],
                                   at["dilation"][1])):
        if d != 1 or s > k or (out - 1) * s - p + k - 1 < size - 1:
            return False
    return True


def _pool_prologue_refused(graph: Graph, src: Group, pool: int, outputs: set[int]) -> str:
    """Why the elementwise group ``src`` (the pool input's kernel) cannot be computed at the
    pool's taps, or "". The pool kernel computes it for each tap it reads (BatchNorm's
    scale-and-shift and the ReLU in training, whose statistics come from a reduction and so
    cannot join the convolution's epilogue); values the group must store (saved for the
    backward graph) are stored there too, which needs every input position visited exactly
    once."""
    x = graph.args(pool)[0]
    if tuple(src.domain) != tuple(graph.type(x).shape):
        return f"its kernel runs over {list(src.domain)}, not the pool's input"
    stored = [m for m in src.members if m in outputs]
    if stored and not _windows_tile(graph, pool):
        return f"windows visit some inputs twice or never, and %{stored[0]} is stored"
    return ""


def _windows_tile(graph: Graph, pool: int) -> bool:
    """Every input position of max_pool2d lies in exactly one window: windows as wide as
    their stride (no dilation) that cover the input."""
    at = graph.attrs(pool)
    return all(d == 1 and s == k for k, s, d in zip(at["kernel"], at["stride"],
                                                    at["dilation"])) and \
        _windows_cover(graph, pool)


def _order(graph: Graph):
    return graph.position().__getitem__


def _finish(graph: Graph, groups: list[Group], group_of: dict[int, Group], outputs) -> None:
    key = _order(graph)
    groups[:] = schedule(graph, groups, group_of, key)
    for n in graph.nodes():
        if graph.op(n) == "concat":
            graph.meta(n).pop("pieces", None)   # from an earlier fusion of this graph
    for i, g in enumerate(groups):
        g.id = i
        g.members.sort(key=key)
        g.prologue.sort(key=key)
        g.stores = [m for m in g.prologue + g.members
                    if m in outputs or any(group_of.get(u) is not g for u in graph.user_nodes(m))]
        if g.side is not None:
            g.stores.append(g.side)
            g.stores += [m for m in g.side_epilogue
                         if m in outputs or any(group_of.get(u) is not g
                                                for u in graph.user_nodes(m))]
        for m in g.nodes():
            graph.meta(m)["group"] = i
        for c, by_arg in g.pieces.items():
            for ms in by_arg.values():
                ms.sort(key=key)
            graph.meta(c)["pieces"] = by_arg    # for the kernel writer (codegen/emit.py)
    graph.groups = groups
