"""Wide concatenations become trees of at most ``MAX_CONCAT`` arguments.

A ``concat`` kernel takes one buffer argument per input and finds an element's input by a
chain of selects along the axis. ``torch.stack`` of an RNN's outputs over T steps is a
T-way concat: at T = 512 its select chain passed clang's bracket nesting limit (256) and
the program did not build, its 512 buffer arguments would pass the 1,024-byte parameter
size an OpenCL device may limit kernels to, and its source grew with T. As a tree of
16-way concats, the inner kernels of full groups have equal text (the offsets of their
views are arguments), so one kernel serves every group whatever T is.
"""
from __future__ import annotations

from graphnn.ir.graph import Graph

MAX_CONCAT = 16


def split_wide_concats(graph: Graph) -> bool:
    changed = False
    for n in list(graph.topo()):
        if graph.op(n) != "concat" or len(graph.args(n)) <= MAX_CONCAT:
            continue
        args, at, name = list(graph.args(n)), graph.attrs(n), graph.name(n)
        while len(args) > MAX_CONCAT:
            args = [graph.add("concat", args[i:i + MAX_CONCAT], dict(at), name=name)
                    if len(args[i:i + MAX_CONCAT]) > 1 else args[i]
                    for i in range(0, len(args), MAX_CONCAT)]
        top = graph.add("concat", args, dict(at), name=name, type=graph.type(n))
        graph.replace_all_uses(n, top)
        graph.erase(n)
        changed = True
    return changed


__all__ = ["MAX_CONCAT", "split_wide_concats"]
