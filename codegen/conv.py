"""Row-vectorised convolution kernels (forward with an optional max-pool tail, input grad,
weight grad).

A work-item owns whole output rows (all columns, held in ``floatN`` vectors) for a block of
channels; the taps of a kernel row are unrolled at codegen time (shapes are static), input
channels and kernel rows are loops unless they are few, so the hot code is vector loads,
broadcast weights and multiply-adds, with no builtin calls. Column padding and ragged edges
are static per lane; only row bounds are tested at run time. Simple epilogues (bias, relu,
masks) run on whole vectors (``vepi.py``).
Shapes these paths do not cover return None and the caller uses the generic kernels.
"""
from __future__ import annotations

from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, literal
from graphnn.codegen.side import channel_index, store_side
from graphnn.codegen.vec import ANY, ZERO, fits_int, hsum, is_float, lane, row_vector, \
    splat, vec_type, width_for
from graphnn.codegen.vepi import store_vector, vector_epilogue, vector_ok
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group

# Register blocking: the accumulators a work-item holds take three quarters of the device's
# vector registers (24 of AVX-512's 32, 12 of AVX2's 16); the rest hold the loaded row and the
# broadcast weight. A floatN accumulator takes N / lanes registers: a float16 row vector is
# two AVX2 registers, and the AVX-512 budget of 24 of them spilled on a 16-register CPU.
ACC_SHARE = 0.75
WGRAD_MAX = 48       # weight-grad accumulators (kw x vectors) of the smallest block; beyond:
                     # the generic kernel
# Unrolling limits. Real loops over input channels and kernel rows cost nothing measurable
# here (LeNet's conv2 forward ran 3x faster with its channel loop than fully unrolled) and
# keep the source, and PoCL's compile time, small.
UNROLL = 32          # max taps (channels x kh x kw) unrolled per row; beyond: a channel loop
TAP_UNROLL = 100     # max multiply-adds (kh x kw x vectors x channel block) unrolled per
                     # input channel; beyond: a loop over kernel rows
WGRAD_SHARE = 1.125  # weight-grad accumulators: a few spills cost less than extra loads
WGRAD_ITEMS = 12     # keep at least this many work-items when blocking allows it


def acc_budget(d: Dialect, width: int, share: float = ACC_SHARE) -> int:
    """floatN accumulators (N = ``width``) a work-item may hold on ``d``: ``share`` of its
    vector registers, each accumulator taking N / lanes of them (at least one)."""
    regs = max(1, -(-width // max(1, d.vector_width)))
    return max(1, int(d.vector_registers * share) // regs)


def group_nodes(graph: Graph, g: Group) -> list[int]:
    nodes = [g.anchor] + list(g.members) + list(g.stores)
    for m in g.members + g.side_epilogue:
        nodes += [a for a in graph.args(m) if graph.op(a) != "const"]
    return nodes


def scalar_epilogue(w: KernelWriter, g: Group, anchor: int, acc: str, index: list[str],
                    members: list[int], store: bool = True, after=None) -> None:
    """One output element: binds the anchor, emits the elementwise members and the stores in
    their own C scope; ``after(value)`` may add lines that use the last member's value."""
    saved = dict(w.temps)
    start = len(w.lines)
    w.temps[anchor] = acc
    w.emit_members(members, index)
    if store:
        for s in g.stores:
            if s == anchor or s in members:
                w.store(s, index)
    if after is not None:
        w.lines += after(w.temps[members[-1]] if members else acc)
    w.temps = saved
    w.lines[start:] = ["{"] + ["  " + ln for ln in w.lines[start:]] + ["}"]


def _conv_attrs(graph: Graph, node: int):
    at = graph.attrs(node)
    return at["stride"], at["padding"], at["dilation"], at["groups"]


def _divisor_at_most(n: int, cap: int) -> int:
    return max(b for b in range(1, min(n, cap) + 1) if n % b == 0)


def _row_local(rows: int, others: int, d: Dialect, cap: int = 4) -> int:
    """Work-items per group along the row dimension: a few (within the device's work-group
    size), but keep >= 16 groups."""
    best = 1
    for b in range(1, min(rows, cap, d.max_work_group) + 1):
        if rows % b == 0 and (rows // b) * others >= 16:
            best = b
    return best


def _range_check(lo_expr: str, lo: int, hi: int, size: int) -> str | None:
    """A C condition that ``lo_expr`` (statically within [lo, hi]) is in [0, size)."""
    conds = []
    if lo < 0:
        conds.append(f"{lo_expr} >= 0")
    if hi >= size:
        conds.append(f"{lo_expr} < {size}")
    return " && ".join(conds) if conds else None


def _conv_row(w: KernelWriter, x: int, wt: int, oh: str, n: str, oc0: str, ci0: str,
              ocb: int, width: int, nvec: int, t: str) -> list[list[str]]:
    """Accumulators acc[o][k] (vectors of ``width``) of one output row ``oh`` (known to be in
    range) for output channels oc0 .. oc0 + ocb - 1."""
    g = w.graph
    cv_attrs = w.conv_attrs
    (sh, sw), (ph, pw), (dh, dw) = cv_attrs
    _, _, h, wd = g.type(x).shape
    _, icg, kh, kw = g.type(wt).shape
    oh_n, ow_n = w.conv_out
    vt = vec_type(w, t, width)
    acc = [[w.fresh("acc") for _ in range(nvec)] for _ in range(ocb)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{a} = {splat(t, width)}" for a in row) + ";")
    static_ic = icg * kh * kw <= UNROLL
    static_u = kh * kw * nvec * ocb <= TAP_UNROLL
    if not static_ic:
        w.lines.append(f"for (int ic = 0; ic < {icg}; ic++) {{")
    if not static_u:
        w.lines.append(f"for (int u = 0; u < {kh}; u++) {{")
    for ic in (range(icg) if static_ic else ["ic"]):
        for u in (range(kh) if static_u else ["u"]):
            hh = w.fresh("hh")
            if static_u:
                w.lines.append(f"int {hh} = ({oh}) * {sh} + {u * dh - ph};")
                cond = _range_check(hh, u * dh - ph, (oh_n - 1) * sh + u * dh - ph, h)
            else:
                w.lines.append(f"int {hh} = ({oh}) * {sh} + u * {dh} - {ph};")
                cond = _range_check(hh, -ph, (oh_n - 1) * sh + (kh - 1) * dh - ph, h)
            if cond:
                w.lines.append(f"if ({cond}) {{")
            for v in range(kw):
                for k in range(nvec):
                    cols = []
                    for j in range(width):
                        ow = k * width + j
                        c = ow * sw - pw + v * dw
                        cols.append(ANY if ow >= ow_n else (c if 0 <= c < wd else ZERO))
                    xv = row_vector(w, x, [n, f"{ci0} + {ic}", hh], cols, width, t)
                    for o in range(ocb):
                        wv = w.load(wt, [f"{oc0} + {o}", str(ic), str(u), str(v)])
                        w.lines.append(f"{acc[o][k]} += {xv} * {wv};")
            if cond:
                w.lines.append("}")
    if not static_u:
        w.lines.append("}")
    if not static_ic:
        w.lines.append("}")
    return acc


def conv2d_rows(graph: Graph, g: Group, name: str, d: Dialect):
    cv = g.anchor
    x, wt = graph.args(cv)
    if not is_float(graph, cv, x, wt) or not fits_int(graph, group_nodes(graph, g)):
        return None
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_attrs(graph, cv)
    n_, c_, h_, w_ = graph.type(x).shape
    oc, icg, kh, kw = graph.type(wt).shape
    oh_n, ow_n = graph.type(cv).shape[2:]
    if ow_n > d.row_max or oh_n == 0 or ow_n == 0:
        return None
    width = width_for(ow_n)
    nvec = -(-ow_n // width)
    ocg = oc // groups
    ocb = _divisor_at_most(ocg, max(1, acc_budget(d, width) // nvec))
    nblk = oc // ocb
    t = graph.type(cv).dtype.cl
    w = KernelWriter(graph, name)
    w.conv_attrs = ((sh, sw), (ph, pw), (dh, dw))
    w.conv_out = (oh_n, ow_n)
    tail = g.tail
    epi = [m for m in g.members if m not in (cv, tail)]
    w.lines.append("int r = get_global_id(0), ob = get_global_id(1), n = get_global_id(2);")
    oc0 = "0" if nblk == 1 else f"(ob * {ocb})"
    ci0 = "0" if groups == 1 else f"(ob * {ocb} / {ocg} * {icg})"

    vector = vector_ok(graph, g, cv, epi)

    def full_row(oh: str, store: bool, after=None, vec_after=None) -> None:
        acc = _conv_row(w, x, wt, oh, "n", oc0, ci0, ocb, width, nvec, t)
        for o in range(ocb):
            if vector:
                for k in range(nvec):
                    v = vector_epilogue(w, g, cv, acc[o][k],
                                        ["n", f"({oc0} + {o})", oh, str(k * width)], width,
                                        min(width, ow_n - k * width), epi, store=store)
                    if vec_after:
                        vec_after(v, o, k)
                continue
            for col in range(ow_n):
                k, j = divmod(col, width)
                ln = f"{acc[o][k]}.s{'0123456789abcdef'[j]}"
                scalar_epilogue(w, g, cv, ln, ["n", f"({oc0} + {o})", oh, str(col)], epi,
                                store=store, after=(lambda v, o=o, col=col: after(v, o, col))
                                if after else None)

    if tail is None:
        w.lines.append("int oh = r;")
        full_row("oh", True)
        return w, (oh_n, nblk, n_), (_row_local(oh_n, nblk * n_, d), 1, 1)

    pat = graph.attrs(tail)
    (pkh, pkw), (psh, psw), (pph, ppw), (pdh, pdw) = (pat["kernel"], pat["stride"],
                                                      pat["padding"], pat["dilation"])
    p_h, p_w = graph.type(tail).shape[2:]
    tt = graph.type(tail).dtype
    pre_stores = [s for s in g.stores if s != tail]
    exact = pdh == 1 and psh == pkh and pph == 0 and p_h * psh == oh_n
    ninf = literal(float("-inf"), tt)
    windows = {}          # conv column -> pooled columns whose window holds it
    for q in range(p_w):
        for b in range(pkw):
            col = q * psw - ppw + b * pdw
            if 0 <= col < ow_n:
                windows.setdefault(col, []).append(q)
    best = {(o, q): w.fresh("best") for o in range(ocb) for q in range(p_w)}
    if vector:
        # the window rows' maximum per column as vectors, then across columns
        vt = vec_type(w, t, width)
        rowmax = {(o, k): w.fresh("m") for o in range(ocb) for k in range(nvec)}
        w.lines.append(f"{vt} " + ", ".join(f"{m} = {splat(t, width, ninf)}"
                                            for m in rowmax.values()) + ";")

        def vpool(v: str, o: int, k: int) -> None:
            m = rowmax[(o, k)]
            w.lines.append(f"{m} = (({v} > {m}) | ({v} != {v})) ? {v} : {m};")
    else:
        w.lines.append(f"{tt.cl} " + ", ".join(f"{b} = {ninf}" for b in best.values()) + ";")

    def pool(v: str, o: int, col: int) -> list[str]:
        return [f"if ({v} > {best[(o, q)]} || {v} != {v}) {best[(o, q)]} = {v};"
                for q in windows.get(col, [])]

    # the window's conv rows: one copy of the row code in a loop
    w.lines.append(f"for (int pa = 0; pa < {pkh}; pa++) {{")
    w.lines.append(f"int poh = r * {psh} + pa * {pdh} - {pph};")
    cond = _range_check("poh", -pph, (p_h - 1) * psh + (pkh - 1) * pdh - pph, oh_n)
    if cond:
        w.lines.append(f"if ({cond}) {{")
    full_row("poh", exact, pool, vpool if vector else None)
    if cond:
        w.lines.append("}")
    w.lines.append("}")
    if vector and pkw == psw == 2 and ppw == 0 and pdw == 1 and 2 * p_w <= ow_n \
            and tail in g.stores:
        half = width // 2
        ht = vec_type(w, t, half) if half > 1 else t
        for (o, k), m in rowmax.items():
            valid = min(half, p_w - k * half)
            if valid <= 0:
                continue
            pv = w.fresh("p")
            ev, od = (f"{m}.even", f"{m}.odd") if half > 1 else (f"{m}.x", f"{m}.y")
            w.lines.append(f"{ht} {pv} = (({od} > {ev}) | ({od} != {od})) ? {od} : {ev};")
            store_vector(w, tail, ["n", f"({oc0} + {o})", "r", str(k * half)], pv, half,
                         valid, t)
        tail_stored = True
    else:
        tail_stored = False
        if vector:
            w.lines.append(f"{tt.cl} " + ", ".join(f"{b} = {ninf}" for b in best.values())
                           + ";")
            for col, qs in windows.items():
                for o in range(ocb):
                    k, j = divmod(col, width)
                    w.lines += pool(lane(rowmax[(o, k)], j, width), o, col)
    if pre_stores and not exact:
        # conv rows no pooling window stores: each pooled row stores the rows it owns
        w.lines.append(f"int lo = r == 0 ? 0 : r * {psh} - {pph};")
        w.lines.append(f"int hi = r == {p_h - 1} ? {oh_n} : (r + 1) * {psh} - {pph};")
        w.lines.append(f"lo = lo < {oh_n} ? lo : {oh_n}; hi = hi < {oh_n} ? hi : {oh_n};")
        w.lines.append("for (int oh = lo; oh < hi; oh++) {")
        full_row("oh", True)
        w.lines.append("}")
    if tail in g.stores and not tail_stored:
        for (o, q), b in best.items():
            w.store(tail, ["n", f"({oc0} + {o})", "r", str(q)], b)
    return w, (p_h, nblk, n_), (_row_local(p_h, nblk * n_, d), 1, 1)


def conv2d_input_grad_rows(graph: Graph, g: Group, name: str, d: Dialect):
    node = g.anchor
    gy, wt = graph.args(node)
    if not is_float(graph, node, gy, wt) or not fits_int(graph, group_nodes(graph, g)):
        return None
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_attrs(graph, node)
    n_, c_, h_, w_ = graph.type(node).shape
    oc, icg, kh, kw = graph.type(wt).shape
    oh_n, ow_n = graph.type(gy).shape[2:]
    if w_ > d.row_max:
        return None
    width = width_for(w_)
    nvec = -(-w_ // width)
    ocg = oc // groups
    cb = _divisor_at_most(icg, max(1, acc_budget(d, width) // nvec))
    nblk = c_ // cb
    t = graph.type(node).dtype.cl
    vt = None
    w = KernelWriter(graph, name)
    vt = vec_type(w, t, width)
    w.lines.append("int h = get_global_id(0), cblk = get_global_id(1), n = get_global_id(2);")
    c0 = "0" if nblk == 1 else f"(cblk * {cb})"
    grp = "0" if groups == 1 else f"({c0} / {icg})"
    icl0 = c0 if groups == 1 else f"({c0} % {icg})"    # the block's first weight channel
    acc = [[w.fresh("acc") for _ in range(nvec)] for _ in range(cb)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{a} = {splat(t, width)}" for a in row) + ";")
    static_oc = ocg * kh * kw <= UNROLL
    if static_oc:
        ocs = [f"{grp} * {ocg} + {o}" for o in range(ocg)]
    else:
        w.lines.append(f"for (int oc = {grp} * {ocg}; oc < ({grp} + 1) * {ocg}; oc++) {{")
        ocs = ["oc"]
    for ocx in ocs:
        for u in range(kh):
            th = w.fresh("th")
            off = ph - u * dh
            w.lines.append(f"int {th} = h + {off};")
            conds = []
            if off < 0:
                conds.append(f"{th} >= 0")
            if sh != 1:
                conds.append(f"{th} % {sh} == 0")
            if (h_ - 1 + off) // sh >= oh_n:
                conds.append(f"{th} / {sh} < {oh_n}")
            if conds:
                w.lines.append(f"if ({' && '.join(conds)}) {{")
            for v in range(kw):
                for k in range(nvec):
                    cols = []
                    for j in range(width):
                        col = k * width + j
                        tw = col + pw - v * dw
                        if col >= w_:
                            cols.append(ANY)
                        elif tw >= 0 and tw % sw == 0 and tw // sw < ow_n:
                            cols.append(tw // sw)
                        else:
                            cols.append(ZERO)
                    gv = row_vector(w, gy, ["n", ocx, f"{th} / {sh}" if sh != 1 else th],
                                    cols, width, t)
                    for c in range(cb):
                        wv = w.load(wt, [ocx, f"{icl0} + {c}", str(u), str(v)])
                        w.lines.append(f"{acc[c][k]} += {gv} * {wv};")
            if conds:
                w.lines.append("}")
    if not static_oc:
        w.lines.append("}")
    epi = [m for m in g.members if m != node]
    if vector_ok(graph, g, node, epi):
        for c in range(cb):
            for k in range(nvec):
                vector_epilogue(w, g, node, acc[c][k], ["n", f"({c0} + {c})", "h",
                                str(k * width)], width, min(width, w_ - k * width), epi)
        return w, (h_, nblk, n_), (_row_local(h_, nblk * n_, d), 1, 1)
    for c in range(cb):
        for col in range(w_):
            k, j = divmod(col, width)
            scalar_epilogue(w, g, node, f"{acc[c][k]}.s{'0123456789abcdef'[j]}",
                            ["n", f"({c0} + {c})", "h", str(col)], epi)
    return w, (h_, nblk, n_), (_row_local(h_, nblk * n_, d), 1, 1)


def _wgrad_blocks(ocg: int, icg: int, oc: int, kh: int, kw: int, nvec: int,
                  budget: int) -> tuple[int, int]:
    """(out channels, kernel rows) per weight-grad work-item. Per (image, output row) a
    work-item loads ``ob * nvec`` dY vectors and ``u * kw * nvec`` x vectors for
    ``ob * u * kw * nvec`` multiply-adds: the best load/FMA ratio within the accumulator
    ``budget``, among blockings that keep WGRAD_ITEMS work-items where any does."""
    cands = [(ob, u) for ob in range(1, ocg + 1) if ocg % ob == 0
             for u in range(1, kh + 1) if kh % u == 0
             if ob * u * kw * nvec <= budget or ob * u == 1]
    items = {c: (kh // c[1]) * icg * (oc // c[0]) for c in cands}
    wide = [c for c in cands if items[c] >= WGRAD_ITEMS] or cands
    return min(wide, key=lambda c: (1 / c[0] + 1 / (c[1] * kw), -items[c]))


def conv2d_weight_grad_rows(graph: Graph, g: Group, name: str, d: Dialect):
    """dW[o, ic, u, v] = sum over (n, p, q) of x[n, ci, p*sh - ph + u*dh, q*sw - pw + v*dw]
    * dY[n, o, p, q]. A work-item owns ``ob`` output channels x ``ub`` kernel rows x all
    kernel columns of one input channel, each a vector accumulator over the output columns
    q, and loops over images and output rows: every loaded dY row vector feeds ub * kw
    taps and every loaded x row vector ob output channels (register blocking: the loads,
    not the multiply-adds, bound this kernel). The bias gradient (Group.side) adds up the
    dY rows the loop loads anyway and is stored by the work-items of the first input
    channel and kernel row."""
    node = g.anchor
    x, gy = graph.args(node)
    if not is_float(graph, node, gy, x) or not fits_int(graph, group_nodes(graph, g)):
        return None
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_attrs(graph, node)
    n_, c_, h_, w_ = graph.type(x).shape
    oc, icg, kh, kw = graph.type(node).shape
    oh_n, ow_n = graph.type(gy).shape[2:]
    if ow_n > d.row_max or kw * -(-ow_n // width_for(ow_n)) > WGRAD_MAX:
        return None
    width = width_for(ow_n)
    nvec = -(-ow_n // width)
    ocg = oc // groups
    ob, ub = _wgrad_blocks(ocg, icg, oc, kh, kw, nvec, acc_budget(d, width, WGRAD_SHARE))
    t = graph.type(node).dtype.cl
    w = KernelWriter(graph, name)
    vt = vec_type(w, t, width)
    w.lines.append("int ur = get_global_id(0), ic = get_global_id(1), "
                   "o0 = get_global_id(2) * %d;" % ob)
    ci = "ic" if groups == 1 else f"(o0 / {ocg} * {icg} + ic)"
    us = [f"(ur * {ub} + {uu})" if kh > ub else str(uu) for uu in range(ub)]
    acc = {(o, uu, v): [w.fresh("acc") for _ in range(nvec)]
           for o in range(ob) for uu in range(ub) for v in range(kw)}
    # the bias gradient (Group.side) adds up the dY rows this loop loads anyway
    side = [[w.fresh("bias") for _ in range(nvec)] for _ in range(ob)] \
        if g.side is not None else []
    rows = [[a for v in range(kw) for a in acc[(o, uu, v)]] for o in range(ob)
            for uu in range(ub)]
    for row in rows + side:
        w.lines.append(f"{vt} " + ", ".join(f"{a} = {splat(t, width)}" for a in row) + ";")
    w.lines.append(f"for (int n = 0; n < {n_}; n++) {{")
    w.lines.append(f"  for (int p = 0; p < {oh_n}; p++) {{")
    gys = []
    for o in range(ob):
        gys.append([])
        for k in range(nvec):
            cols = [k * width + j if k * width + j < ow_n else ZERO for j in range(width)]
            gys[o].append(row_vector(w, gy, ["n", f"o0 + {o}", "p"], cols, width, t))
            if side:
                w.lines.append(f"{side[o][k]} += {gys[o][k]};")
    lo, hi = -ph, (oh_n - 1) * sh - ph + (kh - 1) * dh
    for uu, u in enumerate(us):
        hh = w.fresh("hh")
        w.lines.append(f"int {hh} = p * {sh} - {ph} + {u} * {dh};")
        if kh == ub:
            cond = _range_check(hh, uu * dh - ph, (oh_n - 1) * sh - ph + uu * dh, h_)
        else:
            cond = _range_check(hh, lo, hi, h_)
        if cond:
            w.lines.append(f"if ({cond}) {{")
        for v in range(kw):
            for k in range(nvec):
                cols = []
                for j in range(width):
                    q = k * width + j
                    c = q * sw - pw + v * dw
                    cols.append(ZERO if q >= ow_n or not 0 <= c < w_ else c)
                xv = row_vector(w, x, ["n", ci, hh], cols, width, t)
                for o in range(ob):
                    w.lines.append(f"{acc[(o, uu, v)][k]} += {xv} * {gys[o][k]};")
        if cond:
            w.lines.append("}")
    w.lines.append("  }")
    w.lines.append("}")
    epi = [m for m in g.members if m != node]
    for (o, uu, v), vecs in acc.items():
        tot = w.fresh("s")
        w.lines.append(f"{vt} {tot} = " + " + ".join(vecs) + ";")
        s = hsum(w, tot, width, t)
        scalar_epilogue(w, g, node, s, [f"(o0 + {o})", "ic", us[uu], str(v)], epi)
    if side:
        first = "ic == 0" + (" && ur == 0" if kh > ub else "")
        w.lines.append(f"if ({first}) {{")
        for o in range(ob):
            both = w.fresh("bias")
            w.lines.append(f"{vt} {both} = " + " + ".join(side[o]) + ";")
            total = hsum(w, both, width, t)
            store_side(w, g, channel_index(graph, g.side, f"o0 + {o}"), total)
        w.lines.append("}")
    return w, (kh // ub, icg, oc // ob), (1, 1, 1)
