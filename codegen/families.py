"""Kernel families: one function per group kind, each returning a filled KernelWriter and
its launch geometry. Written with operators only in hot loops (OPENCL_NOTES.md)."""
from __future__ import annotations

import math

from graphnn.codegen import columns as _columns
from graphnn.codegen import conv as _conv
from graphnn.codegen import gemm as _gemm
from graphnn.codegen import pooling as _pooling
from graphnn.codegen import rows as _rows
from graphnn.codegen import scatter as _scatter
from graphnn.codegen import sort as _sort
from graphnn.codegen import tiled as _tiled
from graphnn.codegen import unfold as _unfold
from graphnn.codegen import vec as _vec
from graphnn.codegen import vepi as _vepi
from graphnn.codegen import workgroup as _workgroup
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.side import conv_weight_side, gemm_side
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d, linear_guard, literal, \
    reduction_body, reduction_index, start_1d
from graphnn.ir.graph import Graph
from graphnn.ir.ops import get
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.views import resolve


def _epilogue(w: KernelWriter, g: Group, acc_node: int, acc: str, index: list[str],
              members: list[int]) -> None:
    """Binds the anchor's value and emits the elementwise epilogue and its stores."""
    w.temps[acc_node] = acc
    w.emit_members(members, index)
    for s in g.stores:
        if s in members or s == acc_node:
            w.store(s, index)


def elementwise(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _vepi.elementwise_rows(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    n = math.prod(g.domain)
    start_1d(w, n, d)
    lines, idx = decompose("gid", g.domain, "i")
    w.lines += lines
    w.flat[(tuple(idx), tuple(g.domain))] = "gid"
    w.emit_members(g.members, idx)
    for s in g.stores:
        w.store(s, idx)
    return w, *launch_1d(n, d)


REDUCE_WIDTH = 16    # the vectorised sum loads float16 vectors ...
REDUCE_ACCS = 4      # ... into this many accumulators per step of its main loop
SUM_BLOCK = 4096     # sums add blocks of this many elements, each summed from zero


def _reduce_vec(graph: Graph, g: Group, name: str, d: Dialect):
    """``sum`` whose innermost reduced dims are contiguous in memory: float16 vector loads
    over that run, other reduced dims as an outer loop."""
    r = g.anchor
    src = graph.args(r)[0]
    in_shape = graph.type(src).shape
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    view = resolve(graph, src)
    if not get(graph.op(r)).reducer.sums or g.prologue or d.row_max == 0 or view is None or \
            not _vec.is_float(graph, r, src) or \
            graph.type(r).dtype.cl != graph.type(src).dtype.cl \
            or not _vec.fits_int(graph, _conv.group_nodes(graph, g)):
        return None
    run, inner = 1, []
    for dim in range(len(in_shape) - 1, -1, -1):
        if dim not in axes or view.strides[dim] != run and in_shape[dim] != 1:
            break
        run *= in_shape[dim]
        inner.insert(0, dim)
    vw, step = REDUCE_WIDTH, REDUCE_WIDTH * REDUCE_ACCS
    if run < vw and not is_symbolic(run):
        return None
    t = graph.type(r).dtype.cl
    w = KernelWriter(graph, name)
    vt = _vec.vec_type(w, t, vw)
    out_shape = graph.type(r).shape
    n_out = max(1, graph.type(r).numel)
    w.lines.append("int gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {n_out}) return;")
    lines, out_idx = decompose("gid", out_shape, "o")
    w.lines += [ln.replace("long ", "int ") for ln in lines]
    kept = [i for i in range(len(in_shape)) if i not in axes]
    outer = [a for a in axes if a not in inner]
    outer_shape = tuple(in_shape[a] for a in outer)
    n_outer = 1
    for s_ in outer_shape:
        n_outer *= s_
    in_idx = []
    for i in range(len(in_shape)):
        if i in inner:
            in_idx.append("0")
        elif i in outer:
            in_idx.append(f"k{outer.index(i)}")
        else:
            in_idx.append(out_idx[i] if keep else out_idx[kept.index(i)])
    accs = [f"va{i}" for i in range(REDUCE_ACCS)]
    w.lines.append(f"{vt} " + ", ".join(f"{a} = ({vt})(0)" for a in accs) + f"; {t} acc = 0;")
    w.lines.append(f"for (int rr = 0; rr < {n_outer}; rr++) {{")
    body, _ = decompose("rr", outer_shape, "k")
    w.lines += ["  " + ln.replace("long ", "int ") for ln in body]
    base = w.buf(view.base)
    src_t = graph.type(src).dtype
    w.lines.append(f"  int base = {w.address(src, in_idx)};")

    def vload(at: str) -> str:       # a vector of the run at element ``at`` (any storage)
        return _vec.load_vector(w, src_t, f"{base} + base + {at}", vw)

    def sload(at: str) -> str:
        return _vec.load_vector(w, src_t, f"{base} + base + {at}", 1)

    full = run // step * step
    # blocked summation: each block of SUM_BLOCK elements is summed from zero and then added
    # to the running total, so rounding grows with the block count, not the run length
    # (float32 lanes that added 262,144 values each lost 3% of a 16M-element sum of squares)
    if is_symbolic(run) or full > SUM_BLOCK:
        w.lines.append(f"  for (int kb = 0; kb < {full}; kb += {SUM_BLOCK}) {{")
        w.lines.append(f"    int ke = kb + {SUM_BLOCK} < {full} ? kb + {SUM_BLOCK} : {full};")
        w.lines.append(f"    {vt} " + ", ".join(f"b{a} = ({vt})(0)" for a in accs) + ";")
        w.lines.append(f"    for (int k = kb; k < ke; k += {step}) {{")
        for i, a in enumerate(accs):
            w.lines.append(f"      b{a} += {vload(f'k + {vw * i}')};")
        w.lines.append("    }")
        w.lines.append("    " + " ".join(f"{a} += b{a};" for a in accs))
        w.lines.append("  }")
    elif full:
        w.lines.append(f"  for (int k = 0; k < {full}; k += {step}) {{")
        for i, a in enumerate(accs):
            w.lines.append(f"    {a} += {vload(f'k + {vw * i}')};")
        w.lines.append("  }")
    if is_symbolic(run):
        # a run whose length is a size argument: the tails are loops, not unrolled
        w.lines.append(f"  for (int k = {full}; k < {run // vw * vw}; k += {vw}) "
                       f"{accs[0]} += {vload('k')};")
        w.lines.append(f"  for (int k = {run // vw * vw}; k < {run}; k++) "
                       f"acc += {sload('k')};")
    else:
        for k in range(full, run // vw * vw, vw):
            w.lines.append(f"  {accs[0]} += {vload(str(k))};")
        for k in range(run // vw * vw, run):
            w.lines.append(f"  acc += {sload(str(k))};")
    w.lines.append("}")
    w.lines.append(f"{vt} vs = {' + '.join(accs)};")
    total = _vec.hsum(w, "vs", vw, t)
    w.lines.append(f"acc += {total};")
    _epilogue(w, g, r, "acc", out_idx, [m for m in g.members if m != r])
    return w, *launch_1d(n_out, d)


def reduce(graph: Graph, g: Group, name: str, d: Dialect):
    """One work-item per output, a serial loop over its reduced run. The prologue is
    computed in the loop (prologue values that are graph outputs are stored there: each input
    element belongs to one run); sibling sums (``g.siblings``) fold their own values in the
    same loop, one accumulator each."""
    fast = _reduce_vec(graph, g, name, d) if not g.siblings else None
    fast = fast or _rows.logsumexp_rows(graph, g, name, d, _epilogue) or \
        _rows.sum_rows(graph, g, name, d, _epilogue, _sibling_index) or \
        _columns.sum_columns(graph, g, name, d, _epilogue, _sibling_index, SUM_BLOCK) or \
        _workgroup.reduce_groups(graph, g, name, d, _epilogue, _sibling_index)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    r = g.anchor
    anchors = g.anchors()
    op = graph.op(r)
    src = graph.args(r)[0]
    in_shape = graph.type(src).shape
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    out_shape = graph.type(r).shape
    n_out = max(1, graph.type(r).numel)
    linear_guard(w, n_out)
    lines, out_idx = decompose("gid", out_shape, "o")
    w.lines += lines
    red_shape = tuple(in_shape[a] for a in axes)
    total = math.prod(red_shape)
    in_idx = reduction_index(in_shape, axes, keep, out_idx)
    fold = get(op).reducer
    # an index result keeps the compared values in the input's type
    acc_t = (graph.type(src) if fold.index else graph.type(r)).dtype.cl
    computed, values = reduction_body(w, g, anchors, in_idx)

    t_src = graph.type(src).dtype
    accs = ["acc"] + [f"acc{i}" for i in range(1, len(anchors))]
    w.lines.append(f"{acc_t} {' = 0, '.join(accs)} = 0; {w.it} best = 0, r = 0; {acc_t} "
                   f"run_max = {literal(float('-inf'), t_src) if t_src.is_float else 0};")
    step = fold.float_step if t_src.is_float and fold.float_step else fold.step
    body = computed + [f"{acc_t} v = {values[0]};", step] + \
        [f"{a} += {v};" for a, v in zip(accs[1:], values[1:])] + ["r++;"]
    # siblings are sums (fusion._merge_sibling); ``r`` counts the positions for argmax
    w.lines += _reduction_loops(w, red_shape, accs, acc_t, body,
                                fold.sums and (is_symbolic(total) or total > SUM_BLOCK))
    if fold.finish:
        w.lines.append(fold.finish)
    result = "acc"
    if fold.index:
        w.lines.append(f"{w.it} res = best % {red_shape[0]};")
        result = "res"
    for a, acc in zip(anchors[1:], accs[1:]):
        w.temps[a] = acc
    _epilogue(w, g, r, result, out_idx, [m for m in g.members if m not in anchors])
    for a in anchors[1:]:
        if a in g.stores:
            w.store(a, _sibling_index(graph, r, a, out_idx))
    return w, *launch_1d(n_out, d)


def _reduction_loops(w: KernelWriter, red_shape: tuple, accs: list[str], acc_t: str,
                     body: list[str], blocked: bool) -> list[str]:
    """One loop per reduced dim (``k0``, ``k1``...), the last innermost: no division per
    element (a flat loop split its counter into the dims with a 64-bit division and
    remainder per dim and element: BatchNorm's backward statistics over (N, H, W) at 8 x
    56 x 56 took 10.8 ms for 64 channels, 3.1 ms nested). ``blocked``: blocked summation,
    each block summed from zero into ``b<acc>``: a block is one iteration of the loops
    outside the trailing dims whose sizes multiply to at most SUM_BLOCK (a symbolic dim
    is never inside a block, so the text does not depend on its value); a last dim past
    SUM_BLOCK (or symbolic) is itself cut into blocks of SUM_BLOCK."""
    it, dims = w.it, list(red_shape)
    inner, size = len(dims), 1
    while blocked and inner > 0 and not is_symbolic(dims[inner - 1]) and \
            size * dims[inner - 1] <= SUM_BLOCK:
        inner -= 1
        size *= dims[inner]
    cut = blocked and inner == len(dims)       # the last dim alone is past a block
    lines, depth = [], 0

    def open_(text: str) -> None:
        nonlocal depth
        lines.append("    " * depth + text)
        depth += 1

    if blocked:
        lines.append(f"{acc_t} {' = 0, '.join('b' + a for a in accs)} = 0;")
    last = len(dims) - 1
    for i, n in enumerate(dims):
        if blocked and i == (last if cut else inner):
            if cut:
                open_(f"for ({it} kb = 0; kb < {n}; kb += {SUM_BLOCK}) {{")
                lines.append("    " * depth + f"{it} ke = kb + {SUM_BLOCK} < {n} ? "
                             f"kb + {SUM_BLOCK} : {n};")
            lines.append("    " * depth + " ".join(f"{a} = 0;" for a in accs))
        if cut and i == last:
            open_(f"for ({it} k{i} = kb; k{i} < ke; k{i}++) {{")
        else:
            open_(f"for ({it} k{i} = 0; k{i} < {n}; k{i}++) {{")
    lines += ["    " * depth + line for line in body]
    for i in range(len(dims) - 1, -1, -1):
        depth -= 1
        lines.append("    " * depth + "}")
        if blocked and i == (last if cut else inner):
            lines.append("    " * depth + " ".join(f"b{a} += {a};" for a in accs))
            if cut:
                depth -= 1
                lines.append("    " * depth + "}")
    if blocked:
        lines.append(" ".join(f"{a} = b{a};" for a in accs))
    return lines


def _sibling_index(graph: Graph, anchor: int, sibling: int, out_idx: list[str]) -> list[str]:
    """The anchor's output index for a sibling sum that keeps its dims, or does not, the
    other way (the same elements in the same order)."""
    keep, own = graph.attrs(anchor)["keepdim"], graph.attrs(sibling)["keepdim"]
    if keep == own:
        return out_idx
    axes = graph.attrs(anchor)["axes"]
    if keep:
        return [ix for i, ix in enumerate(out_idx) if i not in axes]
    rank = len(graph.type(graph.args(anchor)[0]).shape)
    it = iter(out_idx)
    return ["0" if i in axes else next(it) for i in range(rank)]


def gemm(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _gemm.gemm_vec(graph, g, name, d) or _tiled.gemm_tiled(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    mm = g.anchor
    a, b = graph.args(mm)
    at = graph.attrs(mm)
    batched = len(graph.type(mm).shape) == 3
    m_, n_ = graph.type(mm).shape[-2:]
    k_ = graph.type(a).shape[-2 if at["ta"] else -1]
    batch = graph.type(mm).shape[0] if batched else 1
    bz = ["bz"] if batched else []          # the batch index leads every operand's index
    rm, rn = d.gemm_tile
    tiles_n, tiles_m = -(-n_ // rn), -(-m_ // rm)
    t = graph.type(mm).dtype.cl
    it = w.it
    w.lines.append(f"{it} tj = get_global_id(0), ti = get_global_id(1), bz = get_global_id(2);")
    w.lines.append(f"if (tj >= {tiles_n} || ti >= {tiles_m}) return;")
    w.lines.append(f"{it} i0 = ti * {rm}, j0 = tj * {rn};")
    gemm_side(w, graph, g, "i0", rm, "tj == 0")
    for r in range(rm):
        w.lines.append(f"{it} ia{r} = min(i0 + {r}, ({it})({m_ - 1}));")
    for c in range(rn):
        w.lines.append(f"{it} jb{c} = min(j0 + {c}, ({it})({n_ - 1}));")
    for r in range(rm):
        w.lines.append(f"{t} " + ", ".join(f"c{r}_{c} = 0" for c in range(rn)) + ";")
    w.lines.append(f"for ({it} k = 0; k < {k_}; k++) {{")

    def opnd(node, trans, row, col):
        return w.load(node, bz + ([col, row] if trans else [row, col]))

    for r in range(rm):
        w.lines.append(f"    {t} aq{r} = {opnd(a, at['ta'], f'ia{r}', 'k')};")
    for c in range(rn):
        w.lines.append(f"    {t} bq{c} = {opnd(b, at['tb'], 'k', f'jb{c}')};")
    for r in range(rm):
        w.lines.append("    " + " ".join(f"c{r}_{c} += aq{r} * bq{c};" for c in range(rn)))
    w.lines.append("}")
    epi = [m for m in g.members if m != mm]
    for r in range(rm):
        for c in range(rn):
            w.lines.append(f"if (i0 + {r} < {m_} && j0 + {c} < {n_}) {{")
            start = len(w.lines)
            saved = dict(w.temps)
            _epilogue(w, g, mm, f"c{r}_{c}", bz + [f"(i0 + {r})", f"(j0 + {c})"], epi)
            w.temps = saved
            w.lines[start:] = ["    " + line for line in w.lines[start:]]
            w.lines.append("}")
    return w, (tiles_n, tiles_m, batch), None


def _conv_params(graph: Graph, node: int):
    at = graph.attrs(node)
    return at["stride"], at["padding"], at["dilation"], at["groups"]


def conv2d(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _conv.conv2d_rows(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    cv = g.anchor
    x, wt = graph.args(cv)
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_params(graph, cv)
    n, c, h, wd = graph.type(x).shape
    oc, icg, kh, kw = graph.type(wt).shape
    t = graph.type(cv).dtype.cl
    ocg = oc // groups
    tail = g.tail
    out_node = tail if tail is not None else cv
    out_shape = graph.type(out_node).shape
    total = graph.type(out_node).numel
    linear_guard(w, total)
    lines, idx = decompose("gid", out_shape, "o")
    w.lines += lines
    epi = [m for m in g.members if m not in (cv, tail)]

    def conv_at(oh: str, ow: str, pad: str) -> None:
        xi = lambda ci, hh, ww: w.load(x, [idx[0], ci, hh, ww])  # noqa: E731
        w.lines.append(f"{pad}{t} acc = 0;")
        w.lines.append(f"{pad}{w.it} cbase = ({idx[1]} / {ocg}) * {icg};")
        w.lines.append(f"{pad}for ({w.it} ic = 0; ic < {icg}; ic++) {{")
        w.lines.append(f"{pad}  for ({w.it} u = 0; u < {kh}; u++) {{")
        w.lines.append(f"{pad}    {w.it} hh = {oh} * {sh} - {ph} + u * {dh};")
        w.lines.append(f"{pad}    if (hh < 0 || hh >= {h}) continue;")
        w.lines.append(f"{pad}    for ({w.it} v = 0; v < {kw}; v++) {{")
        w.lines.append(f"{pad}      {w.it} ww = {ow} * {sw} - {pw} + v * {dw};")
        w.lines.append(f"{pad}      if (ww < 0 || ww >= {wd}) continue;")
        w.lines.append(f"{pad}      acc += {xi('cbase + ic', 'hh', 'ww')} * "
                       f"{w.load(wt, [idx[1], 'ic', 'u', 'v'])};")
        w.lines.append(f"{pad}    }}\n{pad}  }}\n{pad}}}")

    if tail is None:
        conv_at(idx[2], idx[3], "")
        _epilogue(w, g, cv, "acc", idx, epi)
        return w, *launch_1d(total, d)
    pat = graph.attrs(tail)
    (pkh, pkw), (psh, psw), (pph, ppw), (pdh, pdw) = (pat["kernel"], pat["stride"],
                                                      pat["padding"], pat["dilation"])
    oh_, ow_ = graph.type(cv).shape[2:]
    w.lines.append(f"{t} best = {literal(float('-inf'), graph.type(cv).dtype)};")
    w.lines.append(f"for ({w.it} pu = 0; pu < {pkh}; pu++) {{")
    w.lines.append(f"  {w.it} oh = {idx[2]} * {psh} - {pph} + pu * {pdh};")
    w.lines.append(f"  if (oh < 0 || oh >= {oh_}) continue;")
    w.lines.append(f"  for ({w.it} pv = 0; pv < {pkw}; pv++) {{")
    w.lines.append(f"    {w.it} ow = {idx[3]} * {psw} - {ppw} + pv * {pdw};")
    w.lines.append(f"    if (ow < 0 || ow >= {ow_}) continue;")
    start = len(w.lines)
    conv_at("oh", "ow", "")
    full = [idx[0], idx[1], "oh", "ow"]
    saved = dict(w.temps)
    w.temps[cv] = "acc"
    w.emit_members(epi, full)
    for s in g.stores:
        if s != tail:
            w.store(s, full)
    last = w.temps[epi[-1]] if epi else "acc"
    w.lines.append(f"if ({last} > best || {last} != {last}) best = {last};")
    w.temps = saved
    w.lines[start:] = ["    " + line for line in w.lines[start:]]
    w.lines.append("  }\n}")
    w.temps[tail] = "best"
    if tail in g.stores:
        w.store(tail, idx)
    return w, *launch_1d(total, d)


def conv2d_input_grad(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _conv.conv2d_input_grad_rows(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    node = g.anchor
    gy, wt = graph.args(node)
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_params(graph, node)
    n, c, h, wd = graph.type(node).shape
    oc, icg, kh, kw = graph.type(wt).shape
    _, _, oh_, ow_ = graph.type(gy).shape
    ocg = oc // groups
    t = graph.type(node).dtype.cl
    total = graph.type(node).numel
    linear_guard(w, total)
    lines, idx = decompose("gid", graph.type(node).shape, "o")
    w.lines += lines
    w.lines += [f"{t} acc = 0;",
                f"{w.it} grp = {idx[1]} / {icg}, icl = {idx[1]} % {icg};",
                f"for ({w.it} oc = grp * {ocg}; oc < (grp + 1) * {ocg}; oc++) {{",
                f"  for ({w.it} u = 0; u < {kh}; u++) {{",
                f"    {w.it} th = {idx[2]} + {ph} - u * {dh};",
                f"    if (th < 0 || th % {sh} != 0 || th / {sh} >= {oh_}) continue;",
                f"    for ({w.it} v = 0; v < {kw}; v++) {{",
                f"      {w.it} tw = {idx[3]} + {pw} - v * {dw};",
                f"      if (tw < 0 || tw % {sw} != 0 || tw / {sw} >= {ow_}) continue;",
                f"      acc += {w.load(gy, [idx[0], 'oc', f'th / {sh}', f'tw / {sw}'])} * "
                f"{w.load(wt, ['oc', 'icl', 'u', 'v'])};",
                "    }", "  }", "}"]
    _epilogue(w, g, node, "acc", idx, [m for m in g.members if m != node])
    return w, *launch_1d(total, d)


def conv2d_weight_grad(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _conv.conv2d_weight_grad_rows(graph, g, name, d) or \
        _workgroup.conv2d_weight_grad_groups(graph, g, name, d, _conv_params(graph, g.anchor))
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    node = g.anchor
    x, gy = graph.args(node)
    (sh, sw), (ph, pw), (dh, dw), groups = _conv_params(graph, node)
    n, c, h, wd = graph.type(x).shape
    oc, icg, kh, kw = graph.type(node).shape
    _, _, oh_, ow_ = graph.type(gy).shape
    ocg = oc // groups
    t = graph.type(node).dtype.cl
    total = graph.type(node).numel
    linear_guard(w, total)
    lines, idx = decompose("gid", graph.type(node).shape, "o")
    w.lines += lines
    conv_weight_side(w, graph, g, idx[0],
                     f"{idx[1]} == 0 && {idx[2]} == 0 && {idx[3]} == 0")
    w.lines += [f"{t} acc = 0;",
                f"{w.it} ci = ({idx[0]} / {ocg}) * {icg} + {idx[1]};",
                f"for ({w.it} b = 0; b < {n}; b++) {{",
                f"  for ({w.it} p = 0; p < {oh_}; p++) {{",
                f"    {w.it} hh = p * {sh} - {ph} + {idx[2]} * {dh};",
                f"    if (hh < 0 || hh >= {h}) continue;",
                f"    for ({w.it} q = 0; q < {ow_}; q++) {{",
                f"      {w.it} ww = q * {sw} - {pw} + {idx[3]} * {dw};",
                f"      if (ww < 0 || ww >= {wd}) continue;",
                f"      acc += {w.load(x, ['b', 'ci', 'hh', 'ww'])} * "
                f"{w.load(gy, ['b', idx[0], 'p', 'q'])};",
                "    }", "  }", "}"]
    _epilogue(w, g, node, "acc", idx, [m for m in g.members if m != node])
    return w, *launch_1d(total, d)


def scatter_set(graph: Graph, g: Group, name: str, d: Dialect):
    """One work-item per row: zeroes its ``size`` outputs, then writes (or adds) each value
    at its index in order (the last wins); indices outside the row are skipped."""
    w = KernelWriter(graph, name)
    node = g.anchor
    x, idx = graph.args(node)
    shape = graph.type(node).shape
    size, width = shape[-1], graph.type(x).shape[-1]
    rows = math.prod(shape[:-1])
    linear_guard(w, rows)
    lines, lead = decompose("gid", tuple(shape[:-1]) or (1,), "r")
    w.lines += lines
    lead = lead if len(shape) > 1 else []
    zero = literal(0, graph.type(node).dtype)
    # the index is compared in its own type: narrowed first, a wild one could land in range
    ct = w.ctype(idx)
    at = "i" if ct == w.it else f"({w.it})i"
    w.lines.append(f"for ({w.it} o = 0; o < {size}; o++) {{")
    w.store(node, lead + ["o"], zero)
    w.lines += ["}", f"for ({w.it} j = 0; j < {width}; j++) {{",
                f"  {ct} i = {w.load(idx, lead + ['j'])};",
                f"  if (i >= 0 && i < {size}) {{"]
    value = w.load(x, lead + ["j"])
    if graph.attrs(node).get("accumulate"):
        value = f"{w.load(node, lead + [at])} + {value}"
    w.store(node, lead + [at], value)
    w.lines += ["  }", "}"]
    return w, *launch_1d(rows, d)


FAMILIES = {
    "elementwise": elementwise, "reduce": reduce, "gemm": gemm, "conv2d": conv2d,
    "conv2d_input_grad": conv2d_input_grad, "conv2d_weight_grad": conv2d_weight_grad,
    "max_pool2d": _pooling.max_pool2d, "max_pool2d_grad": _pooling.max_pool2d_grad,
    # a list of kernels, launched in order
    "scatter_add": _scatter.scatter_add,
    "argsort": _sort.argsort,
    "max_pool2d_argmax": _pooling.max_pool2d_argmax, "scatter_set": scatter_set,
    "im2col": _unfold.im2col, "col2im": _unfold.col2im,
}
