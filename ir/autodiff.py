"""Reverse-mode autodiff on the IR: derives a backward graph from a forward graph.

``differentiate`` runs each op's VJP rule in reverse topological order on a scratch copy of
the forward graph (the *joint* graph), then splits it: nodes the VJP rules created form the
backward graph; forward values they read become extra outputs of the forward graph
("saved" values) and inputs of the backward graph. Un-broadcasting and dtype matching of
cotangents happen here, once, not in the rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.ir.builder import Sym, unbroadcast
from graphnn.ir.graph import LEAF_OPS, PLACEHOLDERS, Graph
from graphnn.ir.ops import NOT_DIFFERENTIABLE, VJPContext, get
from graphnn.ir.views import VIEW_OPS, resolve


@dataclass
class BackwardSplit:
    """The result of differentiating a forward graph.

    ``forward`` is the original graph whose outputs are followed by the saved values;
    ``backward`` takes ``(saved..., grad_outputs...)`` and returns one gradient per entry of
    ``wrt`` that is not None (``grad_index`` maps wrt position -> backward output index).
    """

    forward: Graph
    backward: Graph
    n_outputs: int          # the forward graph's own outputs (before the saved values)
    saved: list[int]        # forward node ids saved for the backward graph
    grad_outputs: list[int]  # forward output positions that receive a cotangent input
    grad_index: list[int | None]


def differentiable(graph: Graph, nid: int) -> bool:
    return graph.type(nid).dtype.is_float


def differentiate(fwd: Graph, wrt: list[int]) -> BackwardSplit:
    """Backward graph of ``fwd`` with respect to graph inputs at positions ``wrt``."""
    joint = fwd.copy()
    forward_nodes = set(joint.nodes())
    wrt_nodes = [fwd.inputs[i] for i in wrt]
    active = _live(fwd, wrt_nodes) & fwd.ancestors(fwd.outputs)
    seeds, grad_outputs = [], []
    for pos, o in enumerate(fwd.outputs):
        if o in active and differentiable(fwd, o) and pos not in grad_outputs:
            gin = joint.add("input", (), {}, name=f"grad_out{pos}", type=fwd.type(o))
            joint.inputs.append(gin)
            grad_outputs.append(pos)
            seeds.append((o, gin))
    wrt_grads = _vjp_pass(fwd, joint, seeds, wrt_nodes, active)
    return _split(fwd, joint, forward_nodes, grad_outputs, wrt_grads)


def gradients(graph: Graph, seeds: list[tuple[int, int]], wrt: list[int]) -> list[int | None]:
    """Adds to ``graph`` itself the nodes of the gradients of its values: ``seeds`` pairs a
    value with the node of its cotangent (a loss and a constant 1), ``wrt`` names the nodes
    to differentiate with respect to. Returns the gradient node of each (None where none
    depends on it). ``graphnn.compile`` traces a whole training step this way: forward,
    backward and the optimizer update in one graph."""
    active = _live(graph, wrt) & graph.ancestors([v for v, _ in seeds])
    grads = _vjp_pass(graph, graph, [(v, g) for v, g in seeds if v in active], wrt, active)
    return [g.id if g is not None else None for g in grads]


def _vjp_pass(fwd: Graph, joint: Graph, seeds: list[tuple[int, int]], wrt_nodes: list[int],
              active: set[int]) -> list[Sym | None]:
    """Runs each VJP rule in reverse topological order of ``fwd``, adding the gradient nodes
    to ``joint`` (a copy of fwd, or fwd itself); returns the gradient of each wrt node."""
    grads: dict[int, Sym] = {}
    placed: dict[int, list[Sym]] = {}     # slice_grad contributions, joined when read
    for value, seed in seeds:
        _accumulate(grads, placed, value, Sym(joint, seed, fwd.name(value)))
    for n in reversed(fwd.topo()):
        if n in placed:
            _join_placed(grads, placed, n)
        if n not in grads or fwd.op(n) in LEAF_OPS:
            continue
        op = get(fwd.op(n))
        if op.vjp == NOT_DIFFERENTIABLE:
            continue
        args = fwd.args(n)
        scope = fwd.name(n)
        ctx = VJPContext([Sym(joint, a, scope) for a in args], Sym(joint, n, scope),
                         fwd.attrs(n), [fwd.type(a) for a in args], fwd.type(n))
        g = grads[n]
        g.scope = scope
        for a, ga in zip(args, op.vjp(ctx, g)):
            if ga is None or a not in active or not differentiable(fwd, a):
                continue
            ga = unbroadcast(ga, fwd.type(a).shape).cast(fwd.type(a).dtype)
            _accumulate(grads, placed, a, ga)
    for w in wrt_nodes:
        if w in placed:
            _join_placed(grads, placed, w)
    return [grads.get(w) for w in wrt_nodes]


def _live(fwd: Graph, wrt_nodes: list[int]) -> set[int]:
    """Values that depend differentiably on ``wrt_nodes``: a detach, a non-differentiable op
    or a non-float value stops the dependence (a running statistic updated under no_grad in
    a traced BatchNorm is not an output that carries a gradient)."""
    live = set(wrt_nodes)
    for n in fwd.topo():
        if n in live or fwd.op(n) in LEAF_OPS or fwd.op(n) == "detach":
            continue
        if get(fwd.op(n)).vjp == NOT_DIFFERENTIABLE or not differentiable(fwd, n):
            continue
        if any(a in live for a in fwd.args(n)):
            live.add(n)
    return live


def _accumulate(grads: dict[int, Sym], placed: dict[int, list[Sym]], node: int,
                g: Sym) -> None:
    if g.graph.op(g.id) == "slice_grad" and all(st == 1 for st in g.graph.attrs(g.id)["steps"]):
        placed.setdefault(node, []).append(g)
        return
    grads[node] = grads[node] + g if node in grads else g


def _join_placed(grads: dict[int, Sym], placed: dict[int, list[Sym]], node: int) -> None:
    """Adds the slice_grad contributions to ``node``'s gradient. Those that tile a run of
    one axis (the steps of a loop unrolled over ``x[t]``) become one ``concat`` placed by a
    single ``slice_grad``: summed one by one, T placed slices cost T buffers of the full
    size and a T-term sum (an unrolled recursion over T frames wrote O(T^2) elements)."""
    parts = placed.pop(node)
    graph = parts[0].graph
    runs: dict = {}
    rest = []
    for p in parts:
        full, start = graph.attrs(p.id)["shape"], graph.attrs(p.id)["starts"]
        shape = graph.type(graph.args(p.id)[0]).shape
        axes = [d for d in range(len(full)) if shape[d] != full[d] or start[d] != 0]
        if len(axes) != 1:
            rest.append(p)
            continue
        runs.setdefault((tuple(full), axes[0]), []).append((start[axes[0]], shape[axes[0]], p))
    for (full, ax), pieces in runs.items():
        pieces.sort(key=lambda x: x[0])
        run: list = []
        for piece in pieces + [None]:
            if piece is not None and run and piece[0] == run[-1][0] + run[-1][1]:
                run.append(piece)
                continue
            if len(run) > 1:
                rest.append(_placed_run(graph, run, full, ax))
            else:
                rest.extend(r[2] for r in run)
            run = [piece] if piece is not None else []
    for p in rest:
        grads[node] = grads[node] + p if node in grads else p


def _placed_run(graph: Graph, run: list, full: tuple, ax: int) -> Sym:
    first = run[0][2]
    args = [Sym(graph, graph.args(r[2].id)[0], first.scope) for r in run]
    joined = args[0].op("concat", *args[1:], axis=ax)
    start, stop = run[0][0], run[-1][0] + run[-1][1]
    if start == 0 and stop == full[ax]:
        return joined
    starts = tuple(start if d == ax else 0 for d in range(len(full)))
    return joined.op("slice_grad", shape=full, starts=starts, steps=(1,) * len(full))


def _views_of_input(graph: Graph, n: int) -> bool:
    """A view of a graph input that a saved output could not alias (it would be copied)."""
    v = resolve(graph, n)
    if v is not None and v.is_alias:
        return False
    while graph.op(n) in VIEW_OPS:
        n = graph.args(n)[0]
    return graph.op(n) in PLACEHOLDERS


def _split(fwd: Graph, joint: Graph, forward_nodes: set[int], grad_outputs: list[int],
           wrt_grads: list[Sym | None]) -> BackwardSplit:
    bwd = Graph()
    mapping: dict[int, int] = {}
    saved: list[int] = []
    targets = [g.id for g in wrt_grads if g is not None]
    needed = joint.ancestors(targets)

    def value(n: int) -> int:
        if n in mapping:
            return mapping[n]
        if n in forward_nodes:
            if joint.op(n) == "const":
                mapping[n] = bwd.add_const(joint.attrs(n)["value"], joint.type(n))
            elif joint.op(n) in VIEW_OPS and _views_of_input(joint, n):
                # a view of an input (x[t] of an unrolled loop) is taken again from the
                # saved input: saved itself, it would be copied out of the forward once
                # per step
                mapping[n] = bwd.add(joint.op(n), [value(joint.args(n)[0])], joint.attrs(n),
                                     name=joint.name(n), type=joint.type(n))
            else:
                saved.append(n)
                mapping[n] = bwd.add_input(joint.type(n), name=joint.name(n) or f"saved%{n}")
        return mapping[n]

    # saved values (forward values a backward node reads) first, then the cotangent inputs
    backward_nodes = [n for n in needed if n not in forward_nodes]
    read = {a for n in backward_nodes for a in joint.args(n)} | set(targets)
    for n in sorted(read & forward_nodes):
        value(n)
    for gin in joint.inputs[len(fwd.inputs):]:
        mapping[gin] = bwd.add_input(joint.type(gin), name=joint.name(gin))
    for n in joint.topo():
        if n in forward_nodes or n in mapping or n not in needed:
            continue
        mapping[n] = bwd.add(joint.op(n), [value(a) for a in joint.args(n)], joint.attrs(n),
                             name=joint.name(n), type=joint.type(n))
    grad_index: list[int | None] = []
    for g in wrt_grads:
        if g is None:
            grad_index.append(None)
        else:
            grad_index.append(len(bwd.outputs))
            bwd.outputs.append(mapping[g.id])
    forward = fwd.copy()
    n_out = len(forward.outputs)
    forward.outputs = forward.outputs + saved
    return BackwardSplit(forward, bwd, n_out, saved, grad_outputs, grad_index)
