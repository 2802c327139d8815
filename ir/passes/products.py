"""A sum of matrix products becomes one product over concatenated inner dimensions.

The weight gradient of a weight used at every step of an unrolled loop (an RNN's W_hh) is
the sum over the steps of dG_t^T h_{t-1}: autodiff accumulates it as a chain of ``add``s,
one GEMM per step with the running sum added in its epilogue. Since

    sum_t A_t B_t = [A_1 ... A_T] [B_1; ...; B_T]

(the products' inner dimensions laid end to end), the chain is one GEMM over T times the
inner size, its operands the concatenations of the A_t and of the B_t. T small GEMMs that
each wait for the previous one become one large GEMM: an LSTM's backward loses one launch
per layer and step. This is how cuDNN computes a recurrent layer's weight gradient (one
GEMM after the backward recursion).
"""
from __future__ import annotations

from graphnn.ir.graph import Graph
from graphnn.ir.passes.dce import dead_code_elimination


def merge_product_sums(graph: Graph) -> bool:
    """Rewrites each maximal ``add`` chain that sums two or more 2-D ``matmul``s of one
    layout (``ta``, ``tb``), dtype and shape, each read only by the chain, into one
    ``matmul`` of two ``concat``s plus the chain's other terms."""
    changed = False
    for n in graph.topo():
        if n not in graph or graph.op(n) != "add" or _inner(graph, n):
            continue
        terms = _terms(graph, n)
        products: dict[tuple, list[int]] = {}
        for t in terms:
            if _mergeable(graph, t, n):
                at = graph.attrs(t)
                products.setdefault((at["ta"], at["tb"]), []).append(t)
            elif _leading_sum(graph, t, n):
                products.setdefault(("sum",), []).append(t)
        products = {k: v for k, v in products.items() if len(v) > 1}
        if not products:
            continue
        rest = [t for t in terms if not any(t in v for v in products.values())]
        for key, ts in products.items():
            if key == ("sum",):
                rest.append(_one_sum(graph, _ordered(graph, ts, 0), n))
            else:
                ta, tb = key
                rest.append(_one_product(graph, _ordered(graph, ts, 0 if ta else 1), ta, tb, n))
        total = rest[0]
        for t in rest[1:]:
            total = graph.add("add", [total, t], name=graph.name(n), meta=graph.meta(n))
        graph.replace_all_uses(n, total)
        changed = True
    if changed:
        dead_code_elimination(graph)
    return changed


def _chained(graph: Graph, a: int, user: int) -> bool:
    """``a`` is an ``add`` of ``user``'s type read only by ``user``: a link of its chain."""
    return graph.op(a) == "add" and graph.type(a) == graph.type(user) and \
        a not in graph.outputs and graph.user_nodes(a) == [user]


def _inner(graph: Graph, n: int) -> bool:
    users = graph.user_nodes(n)
    return len(users) == 1 and graph.op(users[0]) == "add" and _chained(graph, n, users[0])


def _terms(graph: Graph, tip: int) -> list[int]:
    """The values the chain ending at ``tip`` adds, in the order the chain adds them."""
    out, stack = [], [tip]
    while stack:
        n = stack.pop()
        for a in reversed(graph.args(n)):
            if _chained(graph, a, n):
                stack.append(a)
            else:
                out.append(a)
    out.reverse()
    return out


def _mergeable(graph: Graph, t: int, tip: int) -> bool:
    if graph.op(t) != "matmul" or t in graph.outputs or len(graph.users(t)) != 1:
        return False
    a, b = (graph.type(x) for x in graph.args(t))
    return len(a.shape) == 2 and len(b.shape) == 2 and graph.type(t) == graph.type(tip) \
        and a.dtype == b.dtype == graph.type(t).dtype


def _leading_sum(graph: Graph, t: int, tip: int) -> bool:
    """``t`` sums its argument over the leading axis only (a bias gradient over a batch),
    read only by the chain: sum_t (sum_0 X_t) = sum_0 [X_1; ...; X_T]."""
    if graph.op(t) != "sum" or t in graph.outputs or len(graph.users(t)) != 1:
        return False
    at, x = graph.attrs(t), graph.type(graph.args(t)[0])
    return tuple(at["axes"]) == (0,) and not at.get("keepdim") and len(x.shape) >= 1 and \
        graph.type(t) == graph.type(tip) and x.dtype == graph.type(t).dtype


def _ordered(graph: Graph, mms: list[int], axis: int) -> list[int]:
    """``mms`` in the order of an existing concatenation of their first arguments along
    ``axis`` (the inner axis of a product's left operand), if there is one (the slices'
    gradient of an unrolled loop's input projection concatenates the same step values in
    step order): common-subexpression elimination then merges the two."""
    lefts = [graph.args(m)[0] for m in mms]
    if len(set(lefts)) != len(lefts):
        return mms
    for c in graph.user_nodes(lefts[0]):
        if graph.op(c) == "concat" and graph.attrs(c)["axis"] == axis and \
                sorted(graph.args(c)) == sorted(lefts):
            where = {x: i for i, x in enumerate(graph.args(c))}
            return sorted(mms, key=lambda m: where[graph.args(m)[0]])
    return mms


def _one_product(graph: Graph, mms: list[int], ta: bool, tb: bool, tip: int) -> int:
    """One ``matmul`` of the concatenated operands: A_t is (M, K_t), or (K_t, M) when
    ``ta``; B_t is (K_t, N), or (N, K_t) when ``tb``."""
    name = graph.name(tip)
    a = graph.add("concat", [graph.args(m)[0] for m in mms], {"axis": 0 if ta else 1},
                  name=name)
    b = graph.add("concat", [graph.args(m)[1] for m in mms], {"axis": 1 if tb else 0},
                  name=name)
    return graph.add("matmul", [a, b], {"ta": ta, "tb": tb}, name=name, meta=graph.meta(mms[0]))


def _one_sum(graph: Graph, sums: list[int], tip: int) -> int:
    """One ``sum`` over the leading axis of the concatenated arguments: the GRU's b_hn
    gradient, a sum a step, becomes one sum that shares its concatenation with W_hh's
    product (and so becomes that GEMM's side sum)."""
    cat = graph.add("concat", [graph.args(s)[0] for s in sums], {"axis": 0},
                    name=graph.name(tip))
    return graph.add("sum", [cat], dict(graph.attrs(sums[0])), name=graph.name(tip),
                     meta=graph.meta(sums[0]))


__all__ = ["merge_product_sums"]
