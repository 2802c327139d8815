"""Column sums on row-vector devices: a ``sum`` over every dim but the last.

Layer norm's weight and bias gradients are such sums (over the 1,024 rows of a 1024 x 768
gradient, with a product as the prologue), and so is a ``Linear`` bias gradient outside its
GEMM. The generic reduce kernel gives each column a work-item and a serial loop down the
column: scalar loads 768 floats apart, which PoCL cannot vectorise across work-items
because of the loop (layer norm's backward spent 2.0 of its 2.5 ms there). Here a
work-item owns ``width`` neighbouring columns and walks down the rows, loading each row's
piece as one vector and running the prologue on vectors (``vepi.vector_values``); sibling
sums share the loop. Rows are summed in blocks of ``SUM_BLOCK`` (as the other sums) and
each column's result runs the epilogue as a scalar.
"""
from __future__ import annotations

import math

from graphnn.codegen import vec as _vec
from graphnn.codegen.conv import group_nodes
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d
from graphnn.codegen.vepi import vector_ok, vector_values
from graphnn.ir.graph import Graph
from graphnn.ir.ops import get
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.types import TensorType, float32, float64

_LANES = "0123456789abcdef"


def sum_columns(graph: Graph, g: Group, name: str, d: Dialect, epilogue, sibling_index,
                block: int):
    """The column kernel for ``g`` (a sum over all dims but a static last one, a multiple
    of 4, with its prologue and siblings), or None. ``epilogue`` and ``sibling_index`` are
    the reduce family's; ``block`` its summation block."""
    r = g.anchor
    src = graph.args(r)[0]
    dtype = graph.type(r).dtype
    in_shape = graph.type(src).shape
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    rank = len(in_shape)
    anchors = g.anchors()
    if d.row_max == 0 or not get(graph.op(r)).reducer.sums or rank < 2 or \
            tuple(axes) != tuple(range(rank - 1)) or dtype not in (float32, float64):
        return None
    cols = in_shape[-1]
    width = None if is_symbolic(cols) else \
        next((v for v in (16, 8, 4) if v <= _vec.width_for(cols) and cols % v == 0), None)
    if width is None or \
            any(graph.type(a).dtype != dtype or graph.type(graph.args(a)[0]).dtype != dtype
                or graph.type(graph.args(a)[0]).shape != in_shape or
                graph.attrs(a)["axes"] != axes for a in anchors) or \
            not _vec.fits_int(graph, group_nodes(graph, g) + g.prologue) or \
            (g.prologue and not vector_ok(graph, g, None, g.prologue,
                                          TensorType(in_shape, dtype))):
        return None
    t = dtype.cl
    w = KernelWriter(graph, name)
    vt = _vec.vec_type(w, t, width)
    tiles = cols // width
    rows = math.prod(in_shape[:-1])
    accs = [f"va{i}" for i in range(len(anchors))]
    w.lines += ["int gid = get_global_id(0);", f"if (gid >= {tiles}) return;",
                f"int c0 = gid * {width};",
                f"{vt} " + ", ".join(f"b{a} = ({vt})(0)" for a in accs) + ";",
                f"for ({w.it} rb = 0; rb < {rows}; rb += {block}) {{",
                f"  {w.it} re = rb + {block} < {rows} ? rb + {block} : {rows};",
                f"  {vt} " + ", ".join(f"{a} = ({vt})(0)" for a in accs) + ";",
                f"  for ({w.it} q = rb; q < re; q++) {{"]
    start = len(w.lines)
    lines, lead = decompose("q", in_shape[:-1], "i")
    w.lines += lines
    saved = dict(w.temps)
    values = vector_values(w, g, lead + ["c0"], width, g.prologue,
                           [graph.args(a)[0] for a in anchors], dtype)
    w.lines += [f"{a} += {v};" for a, v in zip(accs, values)]
    w.temps = saved
    w.lines[start:] = ["    " + line for line in w.lines[start:]]
    w.lines += ["  }", "  " + " ".join(f"b{a} += {a};" for a in accs), "}"]
    members = [m for m in g.members if m not in anchors]
    for lane in range(width):
        out_idx = ["0"] * (rank - 1) + [f"(c0 + {lane})"] if keep else [f"(c0 + {lane})"]
        saved, start = dict(w.temps), len(w.lines)
        for a, acc in zip(anchors[1:], accs[1:]):
            w.temps[a] = f"b{acc}.s{_LANES[lane]}"
        epilogue(w, g, r, f"b{accs[0]}.s{_LANES[lane]}", out_idx, members)
        for a in anchors[1:]:
            if a in g.stores:
                w.store(a, sibling_index(graph, r, a, out_idx))
        w.temps = saved
        w.lines[start:] = ["{"] + ["  " + line for line in w.lines[start:]] + ["}"]
    return w, *launch_1d(tiles, d)
