"""Row reductions on vectors: ``logsumexp`` over a contiguous last run (softmax,
log-softmax and cross-entropy rows), and sums over such a run with an elementwise prologue
and sibling sums (layer norm's statistics: the shifted sum and sum of squares in one loop).

The scalar reduction kernel folds a row one element at a time with the online log-sum-exp,
two builtin ``exp`` calls per element at worst (on PoCL each builtin is an out-of-line call,
``../shared/OPENCL_NOTES.md``). A work-item here owns one row and reads it twice, as vectors
of the device's width: the maximum, then the sum of ``exp(x - max)`` with one vector ``exp``
call per vector, then ``max + log(sum)``. Two passes over a row that stays in cache cost less
than the branches and calls of one. The result is -inf for a row of only -inf and NaN where
the maximum is +inf, as the scalar kernel's (``ir/ops/reduce.py``); a NaN in the row makes
the sum, and the result, NaN.
The elementwise epilogue (cross-entropy's ``lse - x[target]``) runs at the row's index.

The sums' prologue runs on vectors of the row (``vepi.vector_values``; values it must store
are stored there), each sum in a vector accumulator of its own; the last ``run % width``
elements run the scalar prologue. Runs up to ``SUM_BLOCK`` elements (longer ones keep the
scalar kernel's blocked summation).
"""
from __future__ import annotations

from graphnn.codegen import vec as _vec
from graphnn.codegen.conv import group_nodes
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d, literal
from graphnn.codegen.vepi import vector_epilogue, vector_ok, vector_values
from graphnn.ir.ops import get
from graphnn.ir.types import TensorType
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.types import float32, float64
from graphnn.ir.views import resolve


def contiguous_run(graph: Graph, node: int) -> int | None:
    """The length of the reduction's run when its reduced axes are exactly the innermost
    dims and contiguous in memory (a row of a row-major tensor); else None."""
    src = graph.args(node)[0]
    shape = graph.type(src).shape
    axes = set(graph.attrs(node)["axes"])
    view = resolve(graph, src)
    if view is None or not axes:
        return None
    run = 1
    for dim in range(len(shape) - 1, len(shape) - 1 - len(axes), -1):
        if dim not in axes or (view.strides[dim] != run and shape[dim] != 1):
            return None
        run *= shape[dim]
    return run


def logsumexp_rows(graph: Graph, g: Group, name: str, d: Dialect, epilogue):
    """The row kernel for a ``logsumexp`` group, or None when it does not apply (the GPU
    dialect, a prologue, a strided or symbolic run, other dtypes). ``epilogue(w, g, node,
    acc, index, members)`` emits the group's epilogue and stores (``families._epilogue``)."""
    made = _logsumexp_writer(graph, g, name, d, epilogue)
    return None if made is None else (made[0], *launch_1d(made[2], d))


def _logsumexp_writer(graph: Graph, g: Group, name: str, d: Dialect, epilogue,
                      softmax: int | None = None):
    """(writer, the row's index in the input without its last dim, rows) or None. An
    elementwise prologue (attention's scale and mask) is computed on the row's vectors in
    both passes and stores what it stores in the first. ``softmax`` (``_softmax_exp``): an
    ``exp(x - lse)`` of the row part whose output receives ``exp(x - max)`` in the second
    pass; the sum is left in ``ssum`` for the row part to scale it by."""
    r = g.anchor
    src = graph.args(r)[0]
    dtype = graph.type(r).dtype
    in_shape = graph.type(src).shape
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    run = contiguous_run(graph, r) if not g.prologue else \
        in_shape[-1] if tuple(axes) == (len(in_shape) - 1,) else None
    if graph.op(r) != "logsumexp" or g.siblings or d.row_max == 0 or \
            run is None or is_symbolic(run) or run == 0 or \
            dtype not in (float32, float64) or graph.type(src).dtype != dtype or \
            not _vec.fits_int(graph, group_nodes(graph, g) + g.prologue) or \
            (g.prologue and not vector_ok(graph, g, None, g.prologue,
                                          TensorType(in_shape, dtype))):
        return None
    t = dtype.cl
    vw = _vec.width_for(run)
    w = KernelWriter(graph, name)
    vt = _vec.vec_type(w, t, vw)
    out_shape = graph.type(r).shape
    n_out = max(1, graph.type(r).numel)
    w.lines.append("int gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {n_out}) return;")
    lines, out_idx = decompose("gid", out_shape, "ro")   # not a fresh() prefix
    w.lines += [ln.replace("long ", "int ") for ln in lines]
    kept = [i for i in range(len(in_shape)) if i not in axes]
    in_idx = ["0" if i in axes else out_idx[i] if keep else out_idx[kept.index(i)]
              for i in range(len(in_shape))]
    if not g.prologue:
        ptr = f"{w.buf(resolve(graph, src).base)} + {w.address(src, in_idx)}"
        w.lines.append(f"__global const {dtype.cl_storage}* row = {ptr};")
    full = run // vw * vw
    ninf = literal(float("-inf"), dtype)

    def each(first: int, last: int, vector: bool, step: str, store: bool) -> None:
        """Lines that bind ``v`` to the row's values at k (a vector of ``vw`` or one value)
        from ``first`` to ``last`` and then run ``step``; the prologue's temporaries stay in
        the loop's scope, and what it stores (the input saved for the backward graph) is
        stored when ``store``."""
        if first >= last:
            return
        saved, start = dict(w.temps), len(w.lines)
        idx = in_idx[:-1] + ["k"]
        if vector:
            value = _vec.load_vector(w, dtype, "row + k", vw) if not g.prologue else \
                vector_values(w, g, idx, vw, g.prologue, [src], dtype, store)[0]
            w.lines.append(f"{vt} v = {value};")
        else:
            w.emit_members(g.prologue, idx)
            for st in g.stores:
                if store and st in g.prologue:
                    w.store(st, idx)
            value = w.value(src, in_idx[:-1] + ["k"]) if g.prologue else "row[k]"
            w.lines.append(f"{t} v = {value};")
        w.lines.append(step)
        w.temps = saved
        inc = f"k += {vw}" if vector else "k++"
        w.lines[start:] = [f"for (int k = {first}; k < {last}; {inc}) {{"] + \
            ["  " + ln for ln in w.lines[start:]] + ["}"]

    # pass 1: the maximum (a comparison: NaN never wins here, the sum below carries it)
    w.lines.append(f"{vt} vm = ({vt})({ninf});")
    each(0, full, True, "vm = v > vm ? v : vm;", True)
    w.lines.append(f"{t} m = {_hmax(w, 'vm', vw, t)};")
    each(full, run, False, "m = v > m ? v : m;", True)
    # pass 2: the sum of exp(x - max), one vector exp call per vector; a row of -inf (and
    # NaN) shifts by 0, so that the sum is 0 (or NaN), not exp(-inf + inf)
    w.lines.append(f"{t} ms = m == -INFINITY ? 0 : m;")
    w.lines.append(f"{vt} vs = ({vt})(0);")
    if softmax is None:
        each(0, full, True, "vs += exp(v - ms);", False)
    else:
        out = f"{w.buf(softmax, write=True)} + {w.address(softmax, in_idx[:-1] + ['k'])}"
        each(0, full, True, f"{vt} p = exp(v - ms); vs += p; "
             f"{_vec.store_vector_at(w, dtype, f'({out})', 'p', vw)}", False)
    w.lines.append(f"{t} acc = {_vec.hsum(w, 'vs', vw, t)};")
    each(full, run, False, "acc += exp(v - ms);", False)
    if softmax is not None:
        w.lines.append(f"{t} ssum = acc;")
    # m - m: 0, or NaN for an infinite maximum; nothing above -inf (and no NaN): log(0)
    w.lines.append("acc = (m - m == 0) ? m + log(acc) : m == -INFINITY && acc == 0 ? m : m - m;")
    epilogue(w, g, r, "acc", out_idx, [m_ for m_ in g.members if m_ != r])
    return w, in_idx[:-1], n_out


def _hmax(w: KernelWriter, vec: str, width: int, t: str) -> str:
    """Horizontal maximum of a vector by halving swizzles and ``?:``."""
    while width > 1:
        width //= 2
        name = w.fresh("h")
        lo, hi = (".lo", ".hi") if width > 1 else (".x", ".y")
        w.lines.append(f"{t}{width if width > 1 else ''} {name} = {vec}{lo} > {vec}{hi} ? "
                       f"{vec}{lo} : {vec}{hi};")
        vec = name
    return vec


SUM_BLOCK = 4096        # as families.SUM_BLOCK: longer runs are summed in blocks there


def sum_rows(graph: Graph, g: Group, name: str, d: Dialect, epilogue, sibling_index):
    """The row kernel for a ``sum`` group with a prologue or siblings over a contiguous last
    run, or None. ``sibling_index(graph, anchor, sibling, out_idx)`` places a sibling's
    result (``families._sibling_index``)."""
    if not (g.prologue or g.siblings):
        return None         # families._reduce_vec's plain vector sum
    made = _sum_writer(graph, g, name, d, epilogue, sibling_index)
    return None if made is None else (made[0], *launch_1d(made[2], d))


def _sum_writer(graph: Graph, g: Group, name: str, d: Dialect, epilogue, sibling_index):
    """(writer, the row's index without the run's dims, rows) or None."""
    r = g.anchor
    src = graph.args(r)[0]
    dtype = graph.type(r).dtype
    in_shape = graph.type(src).shape
    anchors = g.anchors()
    run = contiguous_run(graph, r)
    if not get(graph.op(r)).reducer.sums or d.row_max == 0 or run is None or \
            is_symbolic(run) or not 4 <= run <= SUM_BLOCK or \
            dtype not in (float32, float64) or \
            any(graph.type(a).dtype != dtype or graph.type(graph.args(a)[0]).dtype != dtype
                or graph.type(graph.args(a)[0]).shape != in_shape or
                graph.attrs(a)["axes"] != graph.attrs(r)["axes"] for a in anchors) or \
            not _vec.fits_int(graph, group_nodes(graph, g) + g.prologue) or \
            (g.prologue and not vector_ok(graph, g, None, g.prologue,
                                          TensorType(in_shape, dtype))):
        return None
    t = dtype.cl
    vw = _vec.width_for(run)
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    if len(axes) > 1 and in_shape[-1] % vw:
        # a vector must lie within one row of the last dim: operands broadcast along it
        # (or strided across rows) are read per row
        return None
    w = KernelWriter(graph, name)
    vt = _vec.vec_type(w, t, vw)
    out_shape = graph.type(r).shape
    n_out = max(1, graph.type(r).numel)
    w.lines.append("int gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {n_out}) return;")
    lines, out_idx = decompose("gid", out_shape, "ro")   # not a fresh() prefix
    w.lines += [ln.replace("long ", "int ") for ln in lines]
    kept = [i for i in range(len(in_shape)) if i not in axes]
    lead = [out_idx[i] if keep else out_idx[kept.index(i)] for i in kept]
    inner = list(axes)
    accs = [f"va{i}" for i in range(len(anchors))]
    w.lines.append(f"{vt} " + ", ".join(f"{a} = ({vt})(0)" for a in accs) + ";")
    full = run // vw * vw
    args = [graph.args(a)[0] for a in anchors]

    def index(flat: str) -> list[str]:
        """The input index of element ``flat`` of the run (a run may span several dims)."""
        parts, rest = {}, flat
        for dim in reversed(inner):
            size = in_shape[dim]
            parts[dim] = f"({rest}) % {size}" if dim != inner[0] else f"({rest})"
            rest = f"({rest}) / {size}"
        return [parts[i] if i in parts else lead[kept.index(i)] for i in range(len(in_shape))]

    if full:
        w.lines.append(f"for (int k = 0; k < {full}; k += {vw}) {{")
        saved, start = dict(w.temps), len(w.lines)
        values = vector_values(w, g, index("k"), vw, g.prologue, args, dtype)
        w.lines += [f"{a} += {v};" for a, v in zip(accs, values)]
        w.temps = saved
        w.lines[start:] = ["  " + ln for ln in w.lines[start:]]
        w.lines.append("}")
    sums = [w.fresh("sum") for _ in anchors]
    for a, s_ in zip(accs, sums):
        w.lines.append(f"{t} {s_} = {_vec.hsum(w, a, vw, t)};")
    for k in range(full, run):
        saved, start = dict(w.temps), len(w.lines)
        idx = index(str(k))
        w.emit_members(g.prologue, idx)
        for st in g.stores:
            if st in g.prologue:
                w.store(st, idx)
        w.lines += [f"{s_} += {w.value(a, idx)};" for s_, a in zip(sums, args)]
        w.temps = saved
        w.lines[start:] = ["{"] + ["  " + ln for ln in w.lines[start:]] + ["}"]
    for a, s_ in zip(anchors[1:], sums[1:]):
        w.temps[a] = s_
    epilogue(w, g, r, sums[0], out_idx, [m for m in g.members if m not in anchors])
    for a in anchors[1:]:
        if a in g.stores:
            w.store(a, sibling_index(graph, r, a, out_idx))
    return w, [i for i in index("0")[:len(in_shape) - len(inner)]], n_out


def _softmax_exp(graph: Graph, r: Group, e: Group) -> int | None:
    """The member ``exp(x - lse)`` of row part ``e`` (a softmax), where ``x`` is the
    ``logsumexp`` ``lse``'s own input and the value is stored along the row as the input
    lies, in the reduction's float type: the second pass of the row kernel computes
    ``exp(x - max)`` for its sum anyway, and stores it there (``_logsumexp_writer``)."""
    lse = r.anchor
    src = graph.args(lse)[0]
    in_t = graph.type(src)
    for m in e.members:
        if graph.op(m) != "exp" or m not in e.stores or graph.type(m) != in_t:
            continue
        s = graph.args(m)[0]
        if graph.op(s) != "sub" or s not in e.members or graph.args(s)[0] != src:
            continue
        view = resolve(graph, graph.args(s)[1])
        out = resolve(graph, m)
        if view is not None and view.base == lse and out is not None and \
                out.base == m and out.contiguous:
            return m
    return None


def row_group(graph: Graph, g: Group, name: str, d: Dialect):
    """A ``row`` group (``ir/passes/rows.py``): one work-item reduces its row, then runs the
    elementwise part over that row, as vectors of the row's width and a scalar tail (or as
    scalars, when a member has no vector form). Where the reduction has no row kernel, its
    two parts run as the two kernels they were."""
    from graphnn.codegen.families import _epilogue, _sibling_index, elementwise, reduce

    r, e = g.parts
    kept = None
    if graph.op(r.anchor) == "logsumexp":
        kept = _softmax_exp(graph, r, e)
        made = _logsumexp_writer(graph, r, name, d, _epilogue, kept)
    else:
        made = _sum_writer(graph, r, name, d, _epilogue, _sibling_index)
    if made is None:
        return [reduce(graph, r, name, d), elementwise(graph, e, name + "_rows", d)]
    w, lead, n_out = made
    shape = tuple(e.domain)
    run = shape[-1]
    dtype = next((graph.type(m).dtype for m in e.members if graph.type(m).dtype.is_float),
                 None)
    vw = _vec.width_for(run)
    full = run // vw * vw if dtype in (float32, float64) and \
        vector_ok(graph, e, None, e.members, TensorType(shape, dtype)) else 0
    preset = {}
    if full and kept is not None:
        # the softmax's exp(x - max) stored by the second pass, scaled by 1 / sum: one
        # exp per element instead of two
        w.lines.append(f"{dtype.cl} inv = 1 / ssum;")
        src = f"{w.buf(kept)} + {w.address(kept, lead + ['k'])}"
        preset[kept] = f"({_vec.load_vector(w, dtype, src, vw)} * inv)"
    if full:
        w.lines.append(f"for (int k = 0; k < {full}; k += {vw}) {{")
        start = len(w.lines)
        vector_epilogue(w, e, None, "", lead + ["k"], vw, vw, e.members, preset=preset)
        w.lines[start:] = ["  " + ln for ln in w.lines[start:]]
        w.lines.append("}")
    if full < run:
        # the tail (or the whole row) one element at a time
        w.lines.append(f"for (int k = {full}; k < {run}; k++) {{")
        saved, start = dict(w.temps), len(w.lines)
        w.emit_members(e.members, lead + ["k"])
        for st in e.stores:
            w.store(st, lead + ["k"])
        w.temps = saved
        w.lines[start:] = ["  " + ln for ln in w.lines[start:]]
        w.lines.append("}")
    return w, *launch_1d(n_out, d)
