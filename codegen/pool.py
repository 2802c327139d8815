"""Max pooling by pooled rows: the 2x2 forward, and the gradient for windows that do not
overlap.

Gradient: a work-item owns one pooled row of one (image, channel) plane: it loads the window
rows once, finds each window's first maximum (PyTorch's row-major order) with unrolled
compares, and writes every input element of those rows (the gradient or zero) through the
elementwise epilogue. Input rows no window covers are zero-filled by the pooled row that
owns them. Overlapping windows (stride < extent) take the generic gather kernel.

Forward (2x2 windows, stride 2): a work-item owns one pooled row and computes it a vector
of input columns at a time, with the group's elementwise prologue (BatchNorm's
scale-and-shift and ReLU in training) run on the two input row vectors first.
"""
from __future__ import annotations

from graphnn.codegen.conv import _range_check, _row_local, group_nodes, scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, literal
from graphnn.codegen.vec import ZERO, fits_int, row_vector, splat, vec_type, width_for
from graphnn.codegen.vepi import vector_epilogue, vector_ok
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.types import TensorType, float32, float64


def max_pool2d_grad_rows(graph: Graph, g: Group, name: str, d: Dialect):
    node = g.anchor
    gy, x = graph.args(node)
    at = graph.attrs(node)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = at["kernel"], at["stride"], at["padding"], \
        at["dilation"]
    n_, c_, h_, w_ = graph.type(x).shape
    p_h, p_w = graph.type(gy).shape[2:]
    if w_ > d.row_max or sh < (kh - 1) * dh + 1 or sw < (kw - 1) * dw + 1 or p_h == 0 \
            or not graph.type(node).dtype.is_float \
            or not fits_int(graph, group_nodes(graph, g)):
        return None
    tt = graph.type(x).dtype
    t = tt.cl
    epi = [m for m in g.members if m != node]
    if (kh, kw, sh, sw, ph, pw, dh, dw) == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * p_w <= w_ \
            and 2 * p_h <= h_ \
            and tt.is_float and graph.type(gy).dtype == tt \
            and vector_ok(graph, g, node, epi):
        return _grad_rows_2x2(graph, g, name, epi, d)
    w = KernelWriter(graph, name)
    w.lines.append("int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);")
    rows, oks = [], []
    for a in range(kh):
        off = a * dh - ph
        hv = f"h{a}"
        w.lines.append(f"int {hv} = p * {sh} + {off};")
        cond = _range_check(hv, off, (p_h - 1) * sh + off, h_)
        if cond:
            w.lines.append(f"int ok{a} = {cond}; int hc{a} = ok{a} ? {hv} : 0;")
        rows.append(hv)
        oks.append(f"ok{a}" if cond else None)
    owner = {}            # input column -> (pooled column, position in the window)
    ninf = literal(float("-inf"), tt)
    for q in range(p_w):
        elems = []
        for a in range(kh):
            for b in range(kw):
                col = q * sw - pw + b * dw
                if 0 <= col < w_:
                    elems.append((a, col))
        if not elems:
            continue
        for e, (a, col) in enumerate(elems):
            xi = w.load(x, ["n", "c", f"hc{a}" if oks[a] else rows[a], str(col)])
            val = f"({oks[a]} ? {xi} : {ninf})" if oks[a] else xi
            w.lines.append(f"{t} x{q}_{e} = {val};")
            owner[(a, col)] = (q, e)
            if e == 0:
                w.lines.append(f"{t} m{q} = x{q}_0; int i{q} = 0;")
            else:
                w.lines.append(f"int u{q}_{e} = x{q}_{e} > m{q} || x{q}_{e} != x{q}_{e}; "
                               f"i{q} = u{q}_{e} ? {e} : i{q}; "
                               f"m{q} = u{q}_{e} ? x{q}_{e} : m{q};")
        w.lines.append(f"{t} g{q} = {w.load(gy, ['n', 'c', 'p', str(q)])};")
    epi = [m for m in g.members if m != node]
    zero = literal(0, tt)
    for a in range(kh):
        if oks[a]:
            w.lines.append(f"if ({oks[a]}) {{")
        for col in range(w_):
            if (a, col) in owner:
                q, e = owner[(a, col)]
                val = f"(i{q} == {e} ? g{q} : {zero})"
            else:
                val = zero
            scalar_epilogue(w, g, node, val, ["n", "c", rows[a], str(col)], epi)
        if oks[a]:
            w.lines.append("}")
    exact = dh == 1 and sh == kh and ph == 0 and p_h * sh == h_
    if not exact:
        w.lines.append(f"int lo = p == 0 ? 0 : p * {sh} - {ph};")
        w.lines.append(f"int hi = p == {p_h - 1} ? {h_} : (p + 1) * {sh} - {ph};")
        w.lines.append(f"lo = lo < {h_} ? lo : {h_}; hi = hi < {h_} ? hi : {h_};")
        w.lines.append("for (int h = lo; h < hi; h++) {")
        w.lines.append(f"  int dd = h - (p * {sh} - {ph});")
        w.lines.append(f"  if (dd >= 0 && dd % {dh} == 0 && dd / {dh} < {kh}) continue;")
        for col in range(w_):
            scalar_epilogue(w, g, node, zero, ["n", "c", "h", str(col)], epi)
        w.lines.append("}")
    return w, (p_h, c_, n_), (_row_local(p_h, c_ * n_, d, cap=8), 1, 1)


def _grad_rows_2x2(graph: Graph, g: Group, name: str, epi: list[int], d: Dialect):
    """2x2 windows, stride 2: vectors of ``width`` input columns (``width / 2`` windows).
    The window maximum's position is found on the even/odd lanes of the two rows, the
    gradient lands in the lanes of that position, and the epilogue runs on whole vectors."""
    node = g.anchor
    gy, x = graph.args(node)
    n_, c_, h_, w_ = graph.type(x).shape
    p_h, p_w = graph.type(gy).shape[2:]
    t = graph.type(x).dtype.cl
    width = width_for(w_)
    half = width // 2
    it = "long" if t == "double" else "int"
    w = KernelWriter(graph, name)
    vt, ht = vec_type(w, t, width), vec_type(w, t, half)
    w.lines.append("int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);")
    w.lines.append("int h0 = p * 2, h1 = p * 2 + 1;")
    zero = splat(t, half)
    inter = ", ".join(f"{{0}}.s{'0123456789abcdef'[j]}, {{1}}.s{'0123456789abcdef'[j]}"
                      for j in range(half))
    for k in range(-(-w_ // width)):
        cols = list(range(k * width, (k + 1) * width))
        r0 = row_vector(w, x, ["n", "c", "h0"], cols, width, t)
        r1 = row_vector(w, x, ["n", "c", "h1"], cols, width, t)
        gv = row_vector(w, gy, ["n", "c", "p"], [q if q < p_w else ZERO for q in
                                                 range(k * half, (k + 1) * half)], half, t)
        xs = [f"{r0}.even", f"{r0}.odd", f"{r1}.even", f"{r1}.odd"]
        m, i = w.fresh("m"), w.fresh("i")
        w.lines.append(f"{ht} {m} = {xs[0]}; {it}{half} {i} = ({it}{half})(0);")
        for e in range(1, 4):
            u = w.fresh("u")
            w.lines.append(f"{it}{half} {u} = ({xs[e]} > {m}) | ({xs[e]} != {xs[e]}); "
                           f"{i} = {u} ? ({it}{half})({e}) : "
                           f"{i}; {m} = {u} ? {xs[e]} : {m};")
        parts = []
        for e in range(4):
            pe = w.fresh("g")
            w.lines.append(f"{ht} {pe} = {i} == ({it}{half})({e}) ? {gv} : {zero};")
            parts.append(pe)
        valid = min(width, w_ - k * width)
        for a, row in enumerate(("h0", "h1")):
            v = w.fresh("d")
            w.lines.append(f"{vt} {v} = ({vt})({inter.format(parts[2 * a], parts[2 * a + 1])});")
            vector_epilogue(w, g, node, v, ["n", "c", row, str(k * width)], width, valid, epi)
    if 2 * p_h < h_:
        # the input rows below the last window get zeros (and their epilogue)
        w.lines.append(f"if (p == {p_h - 1}) {{")
        w.lines.append(f"for (int h = {2 * p_h}; h < {h_}; h++) {{")
        for k in range(-(-w_ // width)):
            vector_epilogue(w, g, node, splat(t, width), ["n", "c", "h", str(k * width)], width,
                            min(width, w_ - k * width), epi)
        w.lines.append("}")
        w.lines.append("}")
    return w, (p_h, c_, n_), (_row_local(p_h, c_ * n_, d, cap=8), 1, 1)


def max_pool2d_rows(graph: Graph, g: Group, name: str, d: Dialect):
    """2x2 windows, stride 2, no padding: one work-item per pooled row of a plane, ``width``
    input columns (``width / 2`` windows) at a time. The prologue runs on the two input
    rows as vectors (storing what it stores: fusion allows that only when the windows tile
    the input); the rows' lane-wise maximum, then that of its even and odd lanes, is the
    pooled vector, on which the epilogue runs. A NaN wins every compare (PyTorch)."""
    node = g.anchor
    x = graph.args(node)[0]
    at = graph.attrs(node)
    n_, c_, h_, w_ = graph.type(x).shape
    p_h, p_w = graph.type(node).shape[2:]
    tt = graph.type(node).dtype
    epi = [m for m in g.members if m != node]
    nodes = group_nodes(graph, g) + [x] + [a for m in g.prologue for a in graph.args(m)
                                           if graph.op(a) != "const"]
    if (tuple(at["kernel"]), tuple(at["stride"]), tuple(at["padding"]),
            tuple(at["dilation"])) != ((2, 2), (2, 2), (0, 0), (1, 1)) or \
            w_ > d.row_max or 2 * p_w > w_ or 2 * p_h > h_ or p_h == 0 or p_w == 0 or \
            tt not in (float32, float64) or graph.type(x).dtype != tt or \
            not fits_int(graph, nodes) or not vector_ok(graph, g, node, epi) or \
            (g.prologue and not vector_ok(graph, g, None, g.prologue,
                                          TensorType(tuple(graph.type(x).shape), tt))):
        return None
    t = tt.cl
    width = width_for(w_)
    half = width // 2
    it = "long" if t == "double" else "int"
    w = KernelWriter(graph, name)
    vt, ht = vec_type(w, t, width), vec_type(w, t, half)
    w.lines.append("int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);")
    w.lines.append("int h0 = p * 2, h1 = p * 2 + 1;")
    for k in range(-(-w_ // width)):
        col = k * width
        valid = min(width, w_ - col)
        rows = []
        for h in ("h0", "h1"):
            if g.prologue:
                rows.append(vector_epilogue(w, g, None, "", ["n", "c", h, str(col)], width,
                                            valid, g.prologue))
            else:
                rows.append(row_vector(w, x, ["n", "c", h], list(range(col, col + width)),
                                       width, t))
        m, u = w.fresh("m"), w.fresh("u")
        w.lines.append(f"{it}{width} {u} = ({rows[1]} > {rows[0]}) | ({rows[1]} != {rows[1]});")
        w.lines.append(f"{vt} {m} = {u} ? {rows[1]} : {rows[0]};")
        pv, u = w.fresh("m"), w.fresh("u")
        w.lines.append(f"{it}{half} {u} = ({m}.odd > {m}.even) | ({m}.odd != {m}.odd);")
        w.lines.append(f"{ht} {pv} = {u} ? {m}.odd : {m}.even;")
        vector_epilogue(w, g, node, pv, ["n", "c", "p", str(k * half)], half,
                        min(half, p_w - k * half), epi)
    return w, (p_h, c_, n_), (_row_local(p_h, c_ * n_, d, cap=8), 1, 1)
