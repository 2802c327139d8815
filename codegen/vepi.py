"""Elementwise epilogues over a vector of outputs instead of one element at a time.

The row-vectorised families (convolution, GEMM) hold a row of results in a ``floatN``
accumulator. When every epilogue member has a ``vector`` rule in the registry (``+ - * /``,
``neg``, ``abs``, ``relu``, ``maximum``/``minimum``, ``sigmoid``, ``tanh``, the builtin math
functions, comparisons used as a ``where`` condition, ``where``) and every operand from
outside the group has the kernel's float type, the epilogue runs once per vector: operands
that vary along the row are vector loads, the others scalars that C's vector arithmetic
broadcasts. Comparisons give ``intN``/``longN`` masks that select lane by lane in ``?:``.
One copy of the epilogue per vector instead of per element keeps the generated source (and
PoCL's compile time) small.
``vector_ok`` says when it applies; otherwise the caller runs the scalar epilogue.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.codegen.emit import KernelWriter, const_literal, decompose, launch_1d, literal
from graphnn.codegen.vec import lane, load_vector, store_vector_at, vec_type
from graphnn.ir.graph import Graph
from graphnn.ir.ops import REGISTRY, get
from graphnn.ir.passes.fusion import Group
from graphnn.ir.types import TensorType, bool_, float32, float64
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.views import resolve

_LANES = "0123456789abcdef"
ROW_MIN = 4     # shorter rows: the scalar elementwise kernel


def vector_ok(graph: Graph, g: Group, anchor: int | None, members: list[int],
              domain: TensorType | None = None) -> bool:
    """True when ``members`` (the epilogue of ``anchor``, or a whole elementwise group over
    ``domain``'s shape and type) can run on vectors along the last dimension of that
    shape."""
    t = graph.type(anchor).dtype if anchor is not None else domain.dtype
    shape = graph.type(anchor).shape if anchor is not None else domain.shape
    inside = {*members} | ({anchor} if anchor is not None else set())
    masks, scalars = set(), set()
    for m in members:
        op = graph.op(m)
        if op == "concat" and anchor is None:
            if graph.type(m) != TensorType(shape, t) or not _concat_ok(graph, g, m, t, inside):
                return False
            continue
        if op not in REGISTRY or get(op).vector is None:
            return False
        if graph.type(m).shape != shape:
            # a value that is the same for every lane of a vector (a 0-d scale, or one value
            # per row such as layer norm's shift, recomputed in each consumer) is a scalar
            # expression that C broadcasts, if all it reads is such values too; stored, it
            # would need a store per row
            if not _row_constant(graph.type(m).shape) or any(
                    not _row_constant(graph.type(a).shape) or a in inside and a not in scalars
                    for a in graph.args(m)) or \
                    (m in g.stores and graph.type(m).numel != 1):
                return False
            scalars.add(m)
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
            if graph.type(a).dtype == bool_ and op == "where" and i == 0:
                # a stored mask (a training forward saves relu's for the backward)
                v = resolve(graph, a)
                if v is None or v.base in inside:
                    return False
                continue
            v = resolve(graph, a)
            if v is not None and v.base in scalars:
                continue            # a single value seen through views (a broadcast)
            if graph.type(a).dtype != t or v is None or v.base in inside:
                return False
    for s in g.stores:
        if s in inside and s not in scalars and (graph.type(s).shape != shape or
                            resolve(graph, s).strides[-1] != 1):
            return False
    return True


def _concat_ok(graph: Graph, g: Group, n: int, t, inside: set) -> bool:
    """Concat ``n`` of an elementwise group can run on vectors: its arguments are values of
    type ``t`` read from other kernels, or pieces (``Group.pieces``) that can themselves run
    on vectors over the argument's shape. (That a vector's lanes lie in one argument is
    ``elementwise_rows``'s test: it knows the width.)"""
    pieces = g.pieces.get(n, {})
    for i, a in enumerate(graph.args(n)):
        at = graph.type(a)
        if at.dtype != t:
            return False
        if i in pieces:
            if not vector_ok(graph, g, None, pieces[i], at):
                return False
        elif a in inside or resolve(graph, a) is None:
            return False
    return True


def _splits_vectors(graph: Graph, members: list[int], width: int) -> bool:
    """A concat along the last dim with an argument whose length there is not a multiple of
    ``width``: a vector of the row could hold lanes of two arguments."""
    for m in members:
        if graph.op(m) != "concat":
            continue
        rank = len(graph.type(m).shape)
        if graph.attrs(m)["axis"] % rank == rank - 1 and any(
                is_symbolic(graph.type(a).shape[-1]) or graph.type(a).shape[-1] % width
                for a in graph.args(m)):
            return True
    return False


def _row_constant(shape: tuple) -> bool:
    """A value of this shape, broadcast to a vector's domain, is the same in every lane: a
    vector runs along the last dim of its domain, within one row."""
    return not shape or shape[-1] == 1


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
        return _Val(const_literal(g, node, opmath), False, g.type(node).dtype == bool_)
    idx = w.align(node, index)
    view = resolve(g, node)
    if view is not None and view.base in vals:     # a single value seen through views
        return vals[view.base]
    shape = g.type(node).shape
    mask = g.type(node).dtype == bool_      # a stored mask, read as a where condition
    et, evt = ("uchar", vec_type(w, "uchar", width)) if mask else (t, vt)
    if not shape or shape[-1] == 1 or view.strides[-1] == 0:     # the same for every lane
        name = w.fresh("sc")
        w.lines.append(f"{'int' if mask else t} {name} = {w.load(node, idx)};")
        return _Val(name, False, mask)
    name = w.fresh("o")
    if view.strides[-1] == 1:
        ptr = f"{w.buf(view.base)} + {w.address(node, idx)}"
        w.lines.append(f"{evt} {name} = {load_vector(w, g.type(node).dtype, ptr, width)};")
    else:
        size = shape[-1]
        cols = [f"{idx[-1]} + {j}" for j in range(width)]
        if clamp:       # lanes of a ragged last tile may lie past the row
            cols = [f"({c} < {size} ? {c} : {size - 1})" for c in cols]
        parts = [w.load(node, idx[:-1] + [c]) if j < valid else f"({et})0"
                 for j, c in enumerate(cols)]
        w.lines.append(f"{evt} {name} = ({evt})({', '.join(parts)});")
    if mask:    # lanes of all ones where true, as C's vector ?: selects on
        mt = f"{'long' if t == 'double' else 'int'}{width}"
        lanes_ = w.fresh("m")
        w.lines.append(f"{mt} {lanes_} = convert_{mt}({name}) != ({mt})0;")
        return _Val(lanes_, True, True)
    return _Val(name, True)


def _as_vec(v: _Val, vt: str) -> str:
    return v.expr if v.vec else f"(({vt})({v.expr}))"


def _expr(op: str, a: list[_Val], vt: str, zero: str, mask: bool, t: str) -> _Val:
    """The op's registry ``vector`` template on operands ``a``: when any operand is a vector,
    the others (lane masks aside) are widened to vectors, which C's ``?:`` needs. The
    template may name ``{zero}``, the value's type ``{T}`` (the vector type, or the element
    type ``t`` for a scalar) and the element type ``{E}``."""
    vec = any(x.vec for x in a)
    args = [x.expr if x.mask or not vec else _as_vec(x, vt) for x in a]
    z = _as_vec(_Val(zero, False), vt) if vec else zero
    return _Val(get(op).vector.format(*args, zero=z, T=vt if vec else t, E=t), vec, mask=mask)


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


def store_lanes(w: KernelWriter, node: int, index: list[str], value: str, width: int,
                count: str, t: str) -> None:
    """Stores the first ``count`` lanes of ``value``, a number known only at run time (a
    symbolic size's ragged last tile), through a private copy of the vector."""
    ptr = f"{w.buf(node, write=True)} + {w.address(node, index)}"
    lanes_ = w.fresh("l")
    # (the unaligned vector type: a private array is only aligned for its elements)
    w.lines.append(f"{{ {t} {lanes_}[{width}]; *(u_{vec_type(w, t, width)}*){lanes_} = {value};")
    w.lines.append(f"  for (int q = 0; q < {count}; q++) ({ptr})[q] = {lanes_}[q]; }}")


def _store(w: KernelWriter, s: int, index: list[str], val: str, width: int, valid: int,
           t: str, ragged) -> None:
    if ragged is None:
        store_vector(w, s, index, val, width, valid, t)
        return
    cond, part = ragged
    w.lines.append(f"if ({cond}) {{")
    store_vector(w, s, index, val, width, valid, t)
    if isinstance(part, str):
        w.lines.append("} else {")
        store_lanes(w, s, index, val, width, part, t)
    elif part > 0:
        w.lines.append("} else {")
        store_vector(w, s, index, val, width, part, t)
    w.lines.append("}")


def vector_epilogue(w: KernelWriter, g: Group, anchor: int, acc: str, index: list[str],
                    width: int, valid: int, members: list[int], store: bool = True,
                    ragged: tuple[str, int | str] | None = None,
                    preset: dict[int, str] | None = None) -> str:
    """Runs ``members`` on the vector ``acc`` of ``width`` lanes whose last-dim index starts at
    ``index[-1]``; lanes from ``valid`` on are past the end and never stored. ``ragged`` =
    (C condition, lanes) stores only that many lanes unless the condition holds (a last tile
    known only at run time); lanes given as a C expression are counted at run time. Returns
    the name of the last member's vector. ``preset`` gives members' vector values as C
    expressions (computed another way by the caller)."""
    vals = _run_members(w, anchor, acc, index, width, valid, members, ragged,
                        preset=preset)
    return _finish(w, g, anchor, index, width, valid, members, store, ragged, vals)


def vector_values(w: KernelWriter, g: Group, index: list[str], width: int, members: list[int],
                  wanted: list[int], dtype, store: bool = True) -> list[str]:
    """Runs ``members`` (a reduction's prologue) on ``width``-lane vectors of the row at
    ``index``, stores what the group stores of them (unless ``store`` is False: a second
    pass over the row), and returns vector expressions of the ``wanted`` values (members,
    or values loaded at ``index``)."""
    vals = _run_members(w, None, "", index, width, width, members, None, dtype)
    _finish(w, g, None, index, width, width, members, store, None, vals)
    t = dtype.cl
    vt = vec_type(w, t, width)
    return [_as_vec(_operand(w, a, index, width, width, t, vt, vals, False), vt)
            for a in wanted]


def _run_members(w: KernelWriter, anchor, acc: str, index: list[str], width: int, valid: int,
                 members: list[int], ragged, dtype=None, preset=None) -> dict:
    graph = w.graph
    if dtype is None:
        dtype = graph.type(anchor).dtype if anchor is not None else next(
            graph.type(m).dtype for m in members if graph.type(m).dtype != bool_)
    t = dtype.cl
    vt = vec_type(w, t, width)
    zero = literal(0, dtype)
    vals = {anchor: _Val(acc, True)} if anchor is not None else {}
    for m in members:
        if preset and m in preset:
            name = w.fresh("e")
            w.lines.append(f"{vt} {name} = {preset[m]};")
            vals[m] = _Val(name, True)
            continue
        _member(w, m, index, width, valid, t, vt, zero, vals, ragged)
    vals[None] = _Val(t, False)         # the element type, for _finish
    return vals


def _member(w: KernelWriter, m: int, index: list[str], width: int, valid: int, t: str,
            vt: str, zero: str, vals: dict, ragged) -> None:
    """Emits member ``m`` on the vectors at ``index``; its value goes into ``vals``."""
    graph = w.graph
    if graph.op(m) == "concat":
        vals[m] = _concat(w, m, index, width, valid, t, vt, zero, vals, ragged)
        return
    opmath = get(graph.op(m)).scalar_opmath
    args = [_operand(w, a, index, width, valid, t, vt, vals, ragged is not None,
                     i in opmath) for i, a in enumerate(graph.args(m))]
    v = _expr(graph.op(m), args, vt, zero, graph.type(m).dtype == bool_, t)
    name = w.fresh("e")
    kind = (f"{'long' if t == 'double' else 'int'}{width}" if v.mask else vt) \
        if v.vec else ("int" if v.mask else t)
    w.lines.append(f"{kind} {name} = {v.expr};")
    vals[m] = _Val(name, v.vec, v.mask)


def _concat(w: KernelWriter, n: int, index: list[str], width: int, valid: int, t: str,
            vt: str, zero: str, vals: dict, ragged) -> _Val:
    """Concat ``n`` on a vector whose lanes all lie in one argument: an ``if`` chain on the
    index along the axis picks the argument, read at its own offset, or computed in its
    branch if it is a piece (the scalar kernel's form, ``KernelWriter._concat``, on
    vectors: the scalar one ran a 131,072-element concat of an LSTM's gate gradients at
    8 ns an element, one work-item each)."""
    pieces = w.graph.meta(n).get("pieces", {})
    var = w.fresh("cat")
    w.lines.append(f"{vt} {var};")
    for k, a, pos in w.concat_branches(n, w.align(n, index)):
        branch = dict(vals)         # a piece's temporaries end with its branch
        if k in pieces:
            for m in pieces[k]:
                _member(w, m, pos, width, valid, t, vt, zero, branch, ragged)
            v = branch[a]
        else:
            v = _operand(w, a, pos, width, valid, t, vt, branch, ragged is not None)
        w.lines.append(f"{var} = {_as_vec(v, vt)};")
    return _Val(var, True)


def _finish(w: KernelWriter, g: Group, anchor, index: list[str], width: int, valid: int,
            members: list[int], store: bool, ragged, vals: dict) -> str:
    graph = w.graph
    t = vals.pop(None).expr
    vt = vec_type(w, t, width)
    if store:
        for s in g.stores:
            if s in vals and not vals[s].vec and graph.type(s).numel == 1:
                # a single value: every work-item stores the same
                v = f"({vals[s].expr} != 0)" if vals[s].mask else vals[s].expr
                w.lines.append(f"{w.buf(s, write=True)}[{w.address(s, w.align(s, index))}]"
                               f" = {v};")
                continue
            if s in vals and vals[s].mask:     # a mask saved as bools: lanes of 1 and 0
                st, mt = "uchar", f"{'long' if t == 'double' else 'int'}{width}"
                lanes_ = vals[s].expr if vals[s].vec else f"(({mt})({vals[s].expr}))"
                name = w.fresh("b")
                w.lines.append(f"{vec_type(w, st, width)} {name} = "
                               f"convert_{st}{width}({lanes_} & 1);")
                _store(w, s, index, name, width, valid, st, ragged)
                continue
            if s in vals:
                val = _as_vec(vals[s], vt)
                _store(w, s, index, val, width, valid, t, ragged)
    last = vals[members[-1]] if members else vals.get(anchor)
    return _as_vec(last, vt) if last is not None else ""


@dataclass(frozen=True)
class RowPlan:
    """An elementwise group as vectors along its rows: ``width`` lanes, ``per_row`` vectors
    a row, ``total`` work-items (one per vector)."""
    width: int
    per_row: int
    total: int


def row_plan(graph: Graph, g: Group, d) -> RowPlan | None:
    """How ``elementwise_rows`` runs group ``g``, or None where it cannot (GPU dialect, rows
    shorter than ``ROW_MIN``, a member without a vector rule, a type other than float32 or
    float64)."""
    from graphnn.codegen.blocking import row_lanes
    from graphnn.codegen.vec import fits_int

    shape = tuple(g.domain)
    if d.row_max == 0 or not shape or not g.stores or not g.members:
        return None
    dtype = next((graph.type(m).dtype for m in g.members if graph.type(m).dtype != bool_),
                 None)
    if dtype not in (float32, float64) or not fits_int(graph, g.members + g.stores) or \
            not vector_ok(graph, g, None, g.members, TensorType(shape, dtype)):
        return None
    last = shape[-1]
    if not is_symbolic(last) and last < ROW_MIN:
        return None
    width = row_lanes(d, dtype.itemsize, last)
    if _splits_vectors(graph, g.nodes(), width):        # pieces hold concats too
        return None
    per_row = -(-last // width)
    total = per_row
    for s_ in shape[:-1]:
        total = total * s_
    return RowPlan(width, per_row, total)


def emit_rows(w: KernelWriter, g: Group, plan: RowPlan, gid: str) -> None:
    """The body of ``elementwise_rows`` for the work-item whose vector is ``gid`` (a C
    expression) of group ``g``."""
    shape, width = tuple(g.domain), plan.width
    if len(shape) > 1:
        w.lines.append(f"long jv = ({gid}) % {plan.per_row}, row = ({gid}) / {plan.per_row};")
        lines, idx = decompose("row", shape[:-1], "i")
        w.lines += lines
    else:
        w.lines.append(f"long jv = {gid};")
        idx = []
    index = idx + [f"jv * {width}"]
    last = shape[-1]
    if is_symbolic(last):
        ragged = (f"jv * {width} + {width} <= {last}", f"{last} - jv * {width}")
    else:
        ragged = (f"jv < {plan.per_row - 1}", last % width) if last % width else None
    vector_epilogue(w, g, None, "", index, width, width, g.members, ragged=ragged)


def elementwise_rows(graph: Graph, g: Group, name: str, d):
    """An elementwise group as vectors along the last dimension of its domain (CPU dialect),
    when every member has a vector rule (``vector_ok``): one work-item per vector of
    ``lanes`` elements of a row; operands dense along the row are vector loads, the others
    scalars or gathered lanes; a ragged last vector of a row stores only its valid lanes
    (counted at run time for a symbolic row length). The scalar kernel relies on PoCL
    vectorising across work-items, which the bounds test of a launch rounded up to whole
    work-groups prevents, and every kernel over a batch has one: a fused ``relu(x * a +
    b)`` over 16M floats ran at a fifth of a copy's bandwidth."""
    plan = row_plan(graph, g, d)
    if plan is None:
        return None
    w = KernelWriter(graph, name)
    w.lines.append("long gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {plan.total}) return;")
    emit_rows(w, g, plan, "gid")
    return w, *launch_1d(plan.total, d)
