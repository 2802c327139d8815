"""Max pooling's generic kernels, one work-item per output element: the forward (and the
argmax of ``return_indices``) and the gradient for any window, stride, padding and
dilation. The row kernels of ``codegen/pool.py`` take the common shapes on row-vector
devices first."""
from __future__ import annotations

from graphnn.codegen import pool as _pool
from graphnn.codegen.conv import scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d, linear_guard, literal
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group


def _pool_attrs(graph: Graph, node: int):
    at = graph.attrs(node)
    return at["kernel"], at["stride"], at["padding"], at["dilation"]


def max_pool2d(graph: Graph, g: Group, name: str, d: Dialect, argmax: bool = False):
    """One work-item per pooled value: the window's maximum, or with ``argmax`` the
    position ``h * W + w`` of its first maximum (strict ``>``: PyTorch's row-major scan).
    An elementwise prologue (fusion) is computed at each tap, and its stored values are
    stored there: fusion lets it store only when every input is in exactly one window."""
    fast = None if argmax else _pool.max_pool2d_rows(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    node = g.anchor
    x = graph.args(node)[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pool_attrs(graph, node)
    h, wd = graph.type(x).shape[2:]
    t = graph.type(x).dtype
    total = graph.type(node).numel
    linear_guard(w, total)
    lines, idx = decompose("gid", graph.type(node).shape, "o")
    w.lines += lines
    tap = [idx[0], idx[1], "hh", "ww"]
    # the loop body's prologue (its temporaries are local to the loop, as in ``reduce``)
    saved, start = dict(w.temps), len(w.lines)
    w.emit_members(g.prologue, tap)
    for s in g.stores:
        if s in g.prologue:
            w.store(s, tap)
    xv = w.value(x, tap)
    computed = ["    " + line for line in w.lines[start:]]
    del w.lines[start:]
    w.temps = saved
    # a NaN is the window's maximum (its last one), as in PyTorch's CPU kernel
    keep = "if (xv > best || xv != xv) { best = xv; at = hh * %s + ww; }" % wd if argmax else \
        "if (xv > best || xv != xv) best = xv;"
    w.lines += [f"{t.cl} best = {literal(float('-inf'), t)};"]
    if argmax:
        # a window of only -inf reports its first tap inside the input, as PyTorch does
        w.lines += [f"{w.it} h0 = {idx[2]} * {sh} - {ph}, w0 = {idx[3]} * {sw} - {pw};",
                    f"if (h0 < 0) h0 += (-h0 + {dh - 1}) / {dh} * {dh};",
                    f"if (w0 < 0) w0 += (-w0 + {dw - 1}) / {dw} * {dw};",
                    f"{w.it} at = h0 * {wd} + w0;"]
    oh, ow = graph.type(node).shape[2:]
    # taps that always fall inside the input need no test (a branch per tap)
    h_in = ph == 0 and (oh - 1) * sh + (kh - 1) * dh < h
    w_in = pw == 0 and (ow - 1) * sw + (kw - 1) * dw < wd
    w.lines += [
                f"for ({w.it} u = 0; u < {kh}; u++) {{",
                f"  {w.it} hh = {idx[2]} * {sh} - {ph} + u * {dh};",
                *([] if h_in else [f"  if (hh < 0 || hh >= {h}) continue;"]),
                f"  for ({w.it} v = 0; v < {kw}; v++) {{",
                f"    {w.it} ww = {idx[3]} * {sw} - {pw} + v * {dw};",
                *([] if w_in else [f"    if (ww < 0 || ww >= {wd}) continue;"]),
                *computed,
                f"    {t.cl} xv = {xv};",
                "    " + keep,
                "  }", "}"]
    scalar_epilogue(w, g, node, "at" if argmax else "best", idx,
                    [m for m in g.members if m != node])
    return w, *launch_1d(total, d)


def max_pool2d_argmax(graph: Graph, g: Group, name: str, d: Dialect):
    return max_pool2d(graph, g, name, d, argmax=True)


def max_pool2d_grad(graph: Graph, g: Group, name: str, d: Dialect):
    fast = _pool.max_pool2d_grad_rows(graph, g, name, d)
    if fast is not None:
        return fast
    w = KernelWriter(graph, name)
    node = g.anchor
    gy, x = graph.args(node)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pool_attrs(graph, node)
    h, wd = graph.type(x).shape[2:]
    oh_, ow_ = graph.type(gy).shape[2:]
    t = graph.type(node).dtype
    total = graph.type(node).numel
    linear_guard(w, total)
    lines, idx = decompose("gid", graph.type(node).shape, "o")
    w.lines += lines
    n0, c0 = idx[0], idx[1]
    w.lines += [f"{t.cl} acc = 0;",
                f"for ({w.it} u = 0; u < {kh}; u++) {{",
                f"  {w.it} th = {idx[2]} + {ph} - u * {dh};",
                f"  if (th < 0 || th % {sh} != 0 || th / {sh} >= {oh_}) continue;",
                f"  for ({w.it} v = 0; v < {kw}; v++) {{",
                f"    {w.it} tw = {idx[3]} + {pw} - v * {dw};",
                f"    if (tw < 0 || tw % {sw} != 0 || tw / {sw} >= {ow_}) continue;",
                f"    {w.it} p = th / {sh}, q = tw / {sw};",
                # the window's first maximum, in PyTorch's row-major scan order
                f"    {t.cl} best = {literal(float('-inf'), t)}; {w.it} bh = -1, bw = -1;",
                f"    for ({w.it} a = 0; a < {kh}; a++) {{",
                f"      {w.it} hh = p * {sh} - {ph} + a * {dh};",
                f"      if (hh < 0 || hh >= {h}) continue;",
                f"      for ({w.it} e = 0; e < {kw}; e++) {{",
                f"        {w.it} ww = q * {sw} - {pw} + e * {dw};",
                f"        if (ww < 0 || ww >= {wd}) continue;",
                f"        {t.cl} xv = {w.load(x, [n0, c0, 'hh', 'ww'])};",
                "        if (xv > best || xv != xv || bh < 0) { best = xv; bh = hh; bw = ww; }",
                "      }", "    }",
                f"    if (bh == {idx[2]} && bw == {idx[3]}) "
                f"acc += {w.load(gy, [n0, c0, 'p', 'q'])};",
                "  }", "}"]
    scalar_epilogue(w, g, node, "acc", idx, [m for m in g.members if m != node])
    return w, *launch_1d(total, d)
