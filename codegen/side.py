"""Bias-gradient sums computed inside the kernel of their weight gradient.

The fusion pass attaches ``sum(dY, batch axes)`` to the kernel that computes ``dW`` from the
same ``dY`` (``Group.side``): a few work-items add one plain loop over ``dY``, which costs far
less than a launch of its own. In a whole training step the sum's epilogue, the optimizer's
update of the bias, comes with it (``Group.side_epilogue``)."""
from __future__ import annotations

from typing import Callable

from graphnn.codegen.emit import KernelWriter
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group


def gemm_side(w: KernelWriter, graph: Graph, g: Group, row0: str, rows: int,
              first_col_tile: str, a_at: Callable[[int], str] | None = None) -> None:
    """dW = A^T B with A = dY stored (K, M): work-items of the first column tile also store
    sum_k A[k, i] for their rows i = row0 .. row0 + rows - 1, in one pass over k with an
    accumulator per row: the rows' elements of A are adjacent, one cache line per k (a pass
    per row read a line per row and k; an LSTM's (1024, 512) bias gradient took 1.9 ms of
    its GEMM's 3.3). Rows past M read the last row and are not stored. ``a_at(r)``: the
    expression of row ``r``'s element at ``k`` in the product's row panels of A
    (``gemm.panel_a``), read instead of A, whose lines a row of A apart cost here what they
    cost the product."""
    if g.side is None:
        return
    a = graph.args(g.anchor)[0]
    k_, m_ = graph.type(a).shape
    t = graph.type(g.side).dtype.cl
    lead = ["0"] * (len(graph.type(g.side).shape) - 1)
    rows_ = [f"({row0} + {r})" for r in range(rows)]
    w.lines.append(f"if ({first_col_tile}) {{")
    w.lines.append(f"  {t} " + ", ".join(f"side{r} = 0" for r in range(rows)) + ";")
    if a_at is None:     # (the panels repeat the last row past M themselves)
        for r, i in enumerate(rows_):
            w.lines.append(f"  int si{r} = {i} < {m_} ? {i} : {m_} - 1;")
    w.lines.append(f"  for (int k = 0; k < {k_}; k++) {{")
    for r in range(rows):
        value = a_at(r) if a_at else w.load(a, ['k', f'si{r}'])
        w.lines.append(f"    side{r} += {value};")
    w.lines.append("  }")
    for r, i in enumerate(rows_):
        w.lines.append(f"  if ({i} < {m_}) {{")
        store_side(w, g, lead + [i], f"side{r}")
        w.lines.append("  }")
    w.lines.append("}")


def conv_weight_side(w: KernelWriter, graph: Graph, g: Group, oc: str,
                     first: str) -> None:
    """conv2d_weight_grad: the work-item of (oc, first input channel, first kernel position)
    also stores sum over (N, H, W) of dY[:, oc]."""
    if g.side is None:
        return
    gy = graph.args(g.anchor)[1]
    n_, _, h_, w_ = graph.type(gy).shape
    t = graph.type(g.side).dtype.cl
    w.lines.append(f"if ({first}) {{")
    w.lines.append(f"  {t} side = 0;")
    w.lines.append(f"  for (int sn = 0; sn < {n_}; sn++)")
    w.lines.append(f"    for (int sp = 0; sp < {h_}; sp++)")
    w.lines.append(f"      for (int sq = 0; sq < {w_}; sq++)")
    w.lines.append(f"        side += {w.load(gy, ['sn', oc, 'sp', 'sq'])};")
    store_side(w, g, channel_index(graph, g.side, oc), "side")
    w.lines.append("}")


def store_side(w: KernelWriter, g: Group, index: list[str], value: str) -> None:
    """Stores the side sum's ``value`` at ``index`` and computes its epilogue there (an
    optimizer's update of the bias, in a whole training step), in a C scope of its own."""
    saved, start = dict(w.temps), len(w.lines)
    w.temps[g.side] = value
    w.emit_members(g.side_epilogue, index)
    for s in g.stores:
        if s == g.side or s in g.side_epilogue:
            w.store(s, index)
    w.temps = saved
    w.lines[start:] = ["{"] + ["  " + ln for ln in w.lines[start:]] + ["}"]


def channel_index(graph: Graph, side: int, oc: str) -> list[str]:
    """The index of channel ``oc`` in a conv bias gradient: (1, C, 1, 1) when the sum keeps
    its dims, (C,) when it does not (simplify drops kept dims a reshape would remove)."""
    return ["0", oc, "0", "0"] if len(graph.type(side).shape) == 4 else [oc]
