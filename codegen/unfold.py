"""``im2col`` and ``col2im`` (``ir/ops/unfold.py``).

``col2im``, and ``im2col`` strided along W or in the GPU dialect: one work-item per element
on a 3-D grid whose first dimension runs along a row of the result. As an elementwise
kernel over the flat index, ``im2col`` split each index into its six coordinates with
64-bit divisions, one by the batch size (a kernel argument): 130 ms for ResNet-18's first
stage's 14M columns. Here the row (ow, or w), the image's row (n, oh) and the weight's row
(c, i, j) come from the three grid ids, so the only divisions are by literals (OH, kW,
kH), once per work-item; consecutive work-items of a work-group write consecutive
elements, which PoCL vectorises across them.

``im2col`` unstrided along W in the row-vector dialect: a work-item per row of columns
(``_im2col_rows``), copying vectors of the input row.
"""
from __future__ import annotations

from graphnn.codegen.blocking import row_lanes
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter
from graphnn.codegen.vec import load_vector, splat, store_vector_at
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.views import resolve

MAX_LOCAL = 64      # work-items along a row in one work-group


def _local(row: int, d: Dialect) -> int:
    """The largest divisor of the row within MAX_LOCAL and the device's work-group."""
    cap = min(MAX_LOCAL, d.max_work_group)
    return max(g for g in range(1, min(row, cap) + 1) if row % g == 0)


def _kernel(graph: Graph, g: Group, name: str, d: Dialect, idx: list[str], lines: list[str],
            gsize: tuple):
    """The kernel storing the anchor's value at ``idx`` (declared by ``lines``) as the sum of
    its op's guarded reads."""
    w = KernelWriter(graph, name)
    it = w.it
    w.lines += [f"{it} x0 = get_global_id(0), x1 = get_global_id(1), "
                f"x2 = get_global_id(2);"] + [f"{it} {line}" for line in lines]
    w.store(g.anchor, idx, w.guarded_reads(g.anchor, idx))
    return w, gsize, (_local(gsize[0], d), 1, 1)


def im2col(graph: Graph, g: Group, name: str, d: Dialect):
    """Columns (C, kH, kW, N, OH, OW): the grid is (OW, N*OH, C*kH*kW), or a row of OW per
    work-item (``_im2col_rows``)."""
    rows = _im2col_rows(graph, g, name, d)
    if rows is not None:
        return rows
    c, kh, kw, n, oh, ow = graph.type(g.anchor).shape
    lines = [f"n = x1 / {oh}, oh = x1 % {oh};",
             f"j = x2 % {kw}, i = x2 / {kw} % {kh}, c = x2 / {kw * kh};"]
    return _kernel(graph, g, name, d, ["c", "i", "j", "n", "oh", "x0"], lines,
                   (ow, n * oh, c * kh * kw))


def col2im(graph: Graph, g: Group, name: str, d: Dialect):
    """The input's gradient (N, C, H, W): the grid is (W, N*H, C)."""
    n, c, h, wd = graph.type(g.anchor).shape
    return _kernel(graph, g, name, d, ["n", "x2", "hh", "x0"],
                   [f"n = x1 / {h}, hh = x1 % {h};"], (wd, n * h, c))


def _im2col_rows(graph: Graph, g: Group, name: str, d: Dialect):
    """The row-vector dialect, unstrided along W, W contiguous: a work-item per row of OW
    columns, whose source is one contiguous run of the input row (or none, in the
    padding): vectors of the input copied where a whole vector lies inside that run,
    lanes one by one at its ends, zeros outside. The 3-D grid's element kernel wrote ResNet
    stage 2's 29 MB of columns at about 10 GB/s."""
    node = g.anchor
    x = graph.args(node)[0]
    at = graph.attrs(node)
    c, kh, kw, n, oh, ow = graph.type(node).shape
    view = resolve(graph, x)
    if d.row_max == 0 or at["stride"][1] != 1 or view.strides[-1] != 1:
        return None
    dtype = graph.type(node).dtype
    width = row_lanes(d, 4 if dtype.storage else dtype.itemsize, ow)
    (sh, _), (ph, pw), (dh, dw) = at["stride"], at["padding"], at["dilation"]
    hgt, wid = graph.type(x).shape[2:]
    w = KernelWriter(graph, name)
    it, t = w.it, dtype.cl
    src, dst = w.buf(view.base), w.buf(node, write=True)
    w.lines += [f"{it} x0 = get_global_id(0), x1 = get_global_id(1);",
                f"{it} n = x0 / {oh}, oh = x0 % {oh};",
                f"{it} j = x1 % {kw}, i = x1 / {kw} % {kh}, c = x1 / {kw * kh};",
                f"{it} h = oh * {sh} - {ph} + i * {dh};",
                f"{it} shift = j * {dw} - {pw};",      # input column of output column 0
                f"{it} lo = shift < 0 ? -shift : 0;",
                f"{it} hi = {wid} - shift < {ow} ? {wid} - shift : {ow};",
                f"if (h < 0 || h >= {hgt}) {{ lo = 0; hi = 0; }}",
                f"__global {dtype.cl_storage}* out = {dst} + "
                f"{w.address(node, ['c', 'i', 'j', 'n', 'oh', '0'])};",
                f"__global const {dtype.cl_storage}* in = {src} + "
                f"{w.address(x, ['n', 'c', '(h < 0 ? 0 : h)', '0'])} + shift;"]
    full = ow // width * width
    zero = splat(t, width)
    lane = f"(e >= lo && e < hi ? {load_vector(w, dtype, 'in + e', 1)} : 0)"
    if full:
        w.lines += [f"for (int o = 0; o < {full}; o += {width}) {{",
                    f"  if (o >= lo && o + {width} <= hi) "
                    + store_vector_at(w, dtype, "out + o",
                                      load_vector(w, dtype, "in + o", width), width),
                    f"  else if (o + {width} <= lo || o >= hi) "
                    + store_vector_at(w, dtype, "out + o", zero, width),
                    "  else",
                    f"    for (int e = o; e < o + {width}; e++) "
                    + store_vector_at(w, dtype, "out + e", lane, 1),
                    "}"]
    if full < ow:
        w.lines.append(f"for (int e = {full}; e < {ow}; e++) "
                       + store_vector_at(w, dtype, "out + e", lane, 1))
    k = c * kh * kw
    local = max(gs for gs in range(1, min(8, d.max_work_group) + 1) if k % gs == 0)
    return w, (n * oh, k), (1, local)
