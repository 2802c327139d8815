"""Dead-code elimination and common-subexpression elimination."""
from __future__ import annotations

from graphnn.ir.graph import Graph


def dead_code_elimination(graph: Graph) -> bool:
    """Erases nodes that no graph output depends on (graph inputs always stay)."""
    live = graph.ancestors(graph.outputs)
    inputs = set(graph.inputs)
    dead = [n for n in graph.nodes() if n not in live and n not in inputs]
    graph.remove_nodes(dead)
    return bool(dead)


def _key(graph: Graph, n: int):
    attrs = tuple(sorted((k, repr(v)) for k, v in graph.attrs(n).items()))
    return graph.op(n), attrs, str(graph.type(n)), tuple(graph.args(n))


def common_subexpression_elimination(graph: Graph) -> bool:
    """Merges nodes with the same op, attributes, type and arguments (and equal consts)."""
    seen: dict = {}
    changed = False
    inputs = set(graph.inputs)
    for n in graph.topo():
        if n in inputs:
            continue
        key = _key(graph, n)
        if key in seen:
            graph.replace_all_uses(n, seen[key])
            changed = True
        else:
            seen[key] = n
    if changed:
        dead_code_elimination(graph)
    return changed
