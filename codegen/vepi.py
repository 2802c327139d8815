"""Elementwise epilogues over a vector of outputs instead of one element at a time.

The row-vectorised families (convolution, GEMM) hold a row of results in a ``floatN``
accumulator. When every epilogue member has a ``vector`` rule in the registry (``+ - * /``,
``neg``, ``relu``, ``maximum``/``minimum``, comparisons used as a ``where`` condition,
``where``) and every operand from outside the group has the kernel's float type, the
epilogue runs once per vector: operands that vary along the row are vector loads, the others scalars that C's
vector arithmetic broadcasts. Comparisons give ``intN``/``longN`` masks that select
lane by lane in ``?:``. One copy of the epilogue per vector instead of per element keeps
the generated source (and PoCL's compile time) small. ``vector_ok`` says when it applies;
otherwise the caller runs the scalar epilogue.
"""
from __future__ import annotations

from graphnn.codegen.emit import KernelWriter, const_literal, literal
from graphnn.codegen.vec import lane, load_vector, store_vector_at, vec_type
from graphnn.ir.graph import Graph
from graphnn.ir.ops import REGISTRY, get
from graphnn.ir.passes.fusion import Group
from graphnn.ir.types import bool_
from graphnn.ir.views import resolve

_LANES = "0123456789abcdef"


def vector_ok(graph: Graph, g: Group, anchor: int, members: list[int]) -> bool:
    """True when ``members`` (the epilogue of ``anchor``) can run on vectors along the last
    dimension of the anchor's shape."""
    t = graph.type(anchor).dtype
    shape = graph.type(anchor).shape
    inside = {anchor, *members}
    masks = set()
    for m in members:
        op = graph.op(m)
        if op not in REGISTRY or get(op).vector is None or graph.type(m).shape != shape:
            return False
        if graph.type(m).dtype == bool_:
            masks.add(m)
        elif graph.type(m).dtype != t:
            return False
        for i, a in enumerate(graph.args(m)):
            if a in masks:
                if op != "where" or i != 0:
                    return False       # a mask is only ever a where condition
                continue
            if a in inside:
                continue
            v = resolve(graph, a)
            if graph.type(a).dtype != t or v is None or v.base in inside:
                return False
    for s in g.stores:
        if s in masks:
            return False
        if s in inside and (graph.type(s).shape != shape or
                            resolve(graph, s).strides[-1] != 1):
            return False
    return True


class _Val:
    """A C expression and whether it is a vector (``vec``) and/or a lane mask (``mask``)."""

    def __init__(self, expr: str, vec: bool, mask: bool = False):
        self.expr, self.vec, self.mask = expr, vec, mask


def _operand(w: KernelWriter, node: int, index: list[str], width: int, valid: int,
             t: str, vt: str, vals: dict, clamp: bool, opmath: bool = False) -> _Val:
    g = w.graph
    if node in vals:
        return vals[node]
    if g.op(node) == "const":
        return _Val(const_literal(g, node, opmath), False)
    idx = w.align(node, index)
    view = resolve(g, node)
    shape = g.type(node).shape
    if not shape or shape[-1] == 1 or view.strides[-1] == 0:     # the same for every lane
        name = w.fresh("s")
        w.lines.append(f"{t} {name} = {w.load(node, idx)};")
        return _Val(name, False)
    name = w.fresh("o")
    if view.strides[-1] == 1:
        ptr = f"{w.buf(view.base)} + {w.address(node, idx)}"
        w.lines.append(f"{vt} {name} = {load_vector(w, g.type(node).dtype, ptr, width)};")
    else:
        size = shape[-1]
        cols = [f"{idx[-1]} + {j}" for j in range(width)]
        if clamp:       # lanes of a ragged last tile may lie past the row
            cols = [f"({c} < {size} ? {c} : {size - 1})" for c in cols]
        parts = [w.load(node, idx[:-1] + [c]) if j < valid else f"({t})0"
                 for j, c in enumerate(cols)]
        w.lines.append(f"{vt} {name} = ({vt})({', '.join(parts)});")
    return _Val(name, True)


def _as_vec(v: _Val, vt: str) -> str:
    return v.expr if v.vec else f"(({vt})({v.expr}))"


def _expr(op: str, a: list[_Val], vt: str, zero: str, mask: bool) -> _Val:
    """The op's registry ``vector`` template on operands ``a``: when any operand is a vector,
    the others (lane masks aside) are widened to vectors, which C's ``?:`` needs."""
    vec = any(x.vec for x in a)
    args = [x.expr if x.mask or not vec else _as_vec(x, vt) for x in a]
    z = _as_vec(_Val(zero, False), vt) if vec else zero
    return _Val(get(op).vector.format(*args, zero=z), vec, mask=mask)


def store_vector(w: KernelWriter, node: int, index: list[str], value: str, width: int,
                 valid: int, t: str) -> None:
    """Stores the first ``valid`` lanes of ``value`` at ``index`` (last dim contiguous), as
    one vector or as power-of-two pieces (16-bit storage rounded in ``store_vector_at``)."""
    dtype = w.graph.type(node).dtype
    ptr = f"{w.buf(node, write=True)} + {w.address(node, index)}"
    if valid >= width:
        w.lines.append(store_vector_at(w, dtype, f"({ptr})", value, width))
        return
    off = 0
    while off < valid:
        size = 1
        while size * 2 <= valid - off and size * 2 <= width // 2:
            size *= 2
        if size == 1:
            w.lines.append(store_vector_at(w, dtype, f"({ptr} + {off})",
                                           lane(value, off, width), 1))
        else:
            sw = ".s" + _LANES[off:off + size]
            w.lines.append(store_vector_at(w, dtype, f"({ptr} + {off})", f"{value}{sw}", size))
        off += size


def vector_epilogue(w: KernelWriter, g: Group, anchor: int, acc: str, index: list[str],
                    width: int, valid: int, members: list[int], store: bool = True,
                    ragged: tuple[str, int] | None = None) -> str:
    """Runs ``members`` on the vector ``acc`` of ``width`` lanes whose last-dim index starts at
    ``index[-1]``; lanes from ``valid`` on are past the end and never stored. ``ragged`` =
    (C condition, lanes) stores only that many lanes where the condition holds (a last tile
    known only at run time). Returns the name of the last member's vector."""
    graph = w.graph
    if ragged is not None and ragged[1] >= valid:
        ragged = None
    t = graph.type(anchor).dtype.cl
    vt = vec_type(w, t, width)
    zero = literal(0, graph.type(anchor).dtype)
    vals = {anchor: _Val(acc, True)}
    for m in members:
        opmath = get(graph.op(m)).scalar_opmath
        args = [_operand(w, a, index, width, valid, t, vt, vals, ragged is not None,
                         i in opmath) for i, a in enumerate(graph.args(m))]
        v = _expr(graph.op(m), args, vt, zero, graph.type(m).dtype == bool_)
        name = w.fresh("e")
        kind = (f"{'long' if t == 'double' else 'int'}{width}" if v.mask else vt) \
            if v.vec else ("int" if v.mask else t)
        w.lines.append(f"{kind} {name} = {v.expr};")
        vals[m] = _Val(name, v.vec, v.mask)
    if store:
        for s in g.stores:
            if s in vals:
                val = _as_vec(vals[s], vt)
                if ragged is None:
                    store_vector(w, s, index, val, width, valid, t)
                    continue
                cond, part = ragged
                w.lines.append(f"if ({cond}) {{")
                store_vector(w, s, index, val, width, valid, t)
                if part > 0:
                    w.lines.append("} else {")
                    store_vector(w, s, index, val, width, part, t)
                w.lines.append("}")
    last = vals[members[-1]] if members else vals[anchor]
    return _as_vec(last, vt)
