"""Small local rewrites: identity ops, view chains, constant arithmetic identities."""
from __future__ import annotations

from graphnn.ir.graph import Graph
from graphnn.ir.passes.dce import dead_code_elimination


def _const(graph: Graph, n: int):
    return graph.attrs(n)["value"] if graph.op(n) == "const" else None


def simplify(graph: Graph) -> bool:
    """Removes detach/identity views/no-op casts, folds reshape and permute chains and
    x*1, x+0, x-0, x/1 where the other operand already has the result's type."""
    changed = False
    for n in graph.topo():
        if n not in graph:
            continue
        op, args, t = graph.op(n), graph.args(n), graph.type(n)
        repl = None
        if op in ("detach", "straight_through"):     # gradient-only ops, after autodiff
            repl = args[0]
        elif op in ("reshape", "expand", "cast") and graph.type(args[0]) == t:
            repl = args[0]
        elif op == "permute" and tuple(graph.attrs(n)["dims"]) == tuple(range(len(t.shape))):
            repl = args[0]
        elif op == "reshape" and graph.op(args[0]) == "reshape":
            graph.set_arg(n, 0, graph.args(args[0])[0])
            changed = True
        elif op in ("mul", "div") and _const(graph, args[1]) == 1 and graph.type(args[0]) == t:
            repl = args[0]
        elif op in ("add", "sub") and _const(graph, args[1]) == 0 and graph.type(args[0]) == t:
            repl = args[0]
        elif op in ("mul", "add") and _const(graph, args[0]) == (1 if op == "mul" else 0) \
                and graph.type(args[1]) == t:
            repl = args[1]
        if repl is not None and repl != n:
            graph.replace_all_uses(n, repl)
            changed = True
    if changed:
        dead_code_elimination(graph)
    return changed
