"""Register-blocked GEMM kernels with explicit vectors (PoCL).

Two layouts are vectorised:

- ``B`` contiguous along N (``C = A @ B``, B row-major): each work-item holds an
  RM x (16*CN) block of C in ``floatN`` accumulators, broadcasting one element of A per row
  and loading one vector of B's row per k step;
- A and B both contiguous along K (``C = A @ B^T``, both row-major): each work-item holds
  RM x RN dot products as ``floatN`` partial sums over K and reduces them at the end.

Anything else (and non-float types) uses the generic scalar kernel. The elementwise
epilogue runs per element with bounds guards for ragged M and N. A symbolic M or N (a batch:
``ir/symbolic.py``) is treated as ragged whatever its value, so that every batch size gets
the same kernel text.
"""
from __future__ import annotations

from graphnn.codegen.conv import group_nodes, scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter
from graphnn.codegen.side import gemm_side
from graphnn.codegen.vepi import vector_epilogue, vector_ok
from graphnn.codegen.vec import ZERO, fits_int, hsum, is_float, lane, load_vector, \
    row_vector, splat, vec_type
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.views import resolve


VEC_MIN = 8      # the vectorised dimension (N or K) must be at least this long


def nvec_blocking(m: int, n: int) -> tuple[int, int, int]:
    """B contiguous along N: (vector width, vectors per row, rows) of a work-item's C block."""
    width = 16 if n >= 16 else 8
    return width, 2 if n >= 4 * width else 1, _block(m, 8)


def kvec_blocking(m: int, n: int, k: int) -> tuple[int, int, int]:
    """A and B contiguous along K: (vector width over K, rows, columns) of a work-item."""
    return 16 if k >= 16 else 8, _block(m, 4), _block(n, 4)


def _local(tiles0: int, tiles1: int, cap: int = 4) -> int:
    best = 1
    for b in range(1, min(tiles0, cap) + 1):
        if tiles0 % b == 0 and (tiles0 // b) * tiles1 >= 16:
            best = b
    return best


def gemm_vec(graph: Graph, g: Group, name: str, d: Dialect):
    mm = g.anchor
    if len(graph.type(mm).shape) != 2:      # batched products use the generic kernel
        return None
    a, b = graph.args(mm)
    at = graph.attrs(mm)
    m_, n_ = graph.type(mm).shape
    k_ = graph.type(a).shape[0 if at["ta"] else 1]
    if d.row_max == 0 or not is_float(graph, mm, a, b) or \
            not fits_int(graph, group_nodes(graph, g)) or 0 in (m_, n_, k_):
        return None
    va, vb = resolve(graph, a), resolve(graph, b)
    if not at["tb"] and vb.strides[1] == 1 and n_ >= VEC_MIN:
        return _gemm_nvec(graph, g, name, d, m_, n_, k_)
    if not at["ta"] and at["tb"] and va.strides[1] == 1 and vb.strides[1] == 1 and \
            k_ >= VEC_MIN:
        return _gemm_kvec(graph, g, name, d, m_, n_, k_)
    return None


def _clamped(w: KernelWriter, var: str, base: str, count: int, limit: int) -> list[str]:
    names = []
    for r in range(count):
        nm = f"{var}{r}"
        w.lines.append(f"int {nm} = {base} + {r} < {limit} ? {base} + {r} : {limit - 1};")
        names.append(nm)
    return names


def _vector_epilogues(w: KernelWriter, g: Group, mm: int, rows: int, width: int, nvec: int,
                      vector, m_: int, n_: int, tn: int) -> bool:
    """The epilogue on each row's ``nvec`` vectors ``vector(r, c)`` of ``width`` columns, if
    its members allow (``vepi.vector_ok``). Rows past M are skipped; the last column tile
    stores only its valid lanes."""
    epi = [m for m in g.members if m != mm]
    if not vector_ok(w.graph, g, mm, epi):
        return False
    tile = width * nvec
    last = n_ - (tn - 1) * tile       # valid columns in the last tile
    if is_symbolic(n_):
        return False        # the ragged last tile's lanes would depend on N's value
    for r in range(rows):
        if _ragged(m_, rows):
            w.lines.append(f"if (i0 + {r} < {m_}) {{")
        for c in range(nvec):
            ragged = (f"tj < {tn - 1}", max(0, min(width, last - c * width))) \
                if n_ % tile else None
            vector_epilogue(w, g, mm, vector(r, c), [f"(i0 + {r})", f"(j0 + {c * width})"],
                            width, width, epi, ragged=ragged)
        if _ragged(m_, rows):
            w.lines.append("}")
    return True


def _ragged(size: int, block: int) -> bool:
    """Whether blocks of ``block`` may run past ``size`` (always, for a symbolic size)."""
    return bool(size % block) or is_symbolic(size)


def _block(size: int, block: int) -> int:
    """Rows per work-item: ``block``, or fewer for a short fixed size (a symbolic size keeps
    ``block`` and relies on the bounds guards)."""
    return block if size >= block or is_symbolic(size) else size


def _epilogues(w: KernelWriter, g: Group, mm: int, rows: int, cols: int, value, m_: int,
               n_: int) -> None:
    epi = [m for m in g.members if m != mm]
    for r in range(rows):
        for c in range(cols):
            conds = []
            if _ragged(m_, rows):
                conds.append(f"i0 + {r} < {m_}")
            if _ragged(n_, cols):
                conds.append(f"j0 + {c} < {n_}")
            if conds:
                w.lines.append(f"if ({' && '.join(conds)})")
            scalar_epilogue(w, g, mm, value(r, c), [f"(i0 + {r})", f"(j0 + {c})"], epi)


def _gemm_nvec(graph, g, name, d, m_, n_, k_):
    mm = g.anchor
    a, b = graph.args(mm)
    ta = graph.attrs(mm)["ta"]
    t = graph.type(mm).dtype.cl
    width, cn, rm = nvec_blocking(m_, n_)
    tn, tm = -(-n_ // (width * cn)), -(-m_ // rm)
    w = KernelWriter(graph, name)
    vt = vec_type(w, t, width)
    w.lines.append("int tj = get_global_id(0), ti = get_global_id(1);")
    w.lines.append(f"int i0 = ti * {rm}, j0 = tj * {width * cn};")
    gemm_side(w, graph, g, "i0", rm, "tj == 0")
    ia = _clamped(w, "ia", "i0", rm, m_)
    acc = [[f"c{r}_{c}" for c in range(cn)] for r in range(rm)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{x} = {splat(t, width)}" for x in row) + ";")
    w.lines.append(f"for (int k = 0; k < {k_}; k++) {{")
    bb = w.buf(resolve(graph, b).base)
    for c in range(cn):
        addr = w.address(b, ["k", f"j0 + {c * width}"])
        bv = load_vector(w, graph.type(b).dtype, f"{bb} + {addr}", width)
        w.lines.append(f"  {vt} bv{c} = {bv};")
    for r in range(rm):
        av = w.load(a, ["k", ia[r]] if ta else [ia[r], "k"])
        w.lines.append(f"  {t} av{r} = {av};")
        w.lines.append("  " + " ".join(f"{acc[r][c]} += av{r} * bv{c};" for c in range(cn)))
    w.lines.append("}")
    if not _vector_epilogues(w, g, mm, rm, width, cn, lambda r, c: acc[r][c], m_, n_, tn):
        _epilogues(w, g, mm, rm, width * cn,
                   lambda r, c: lane(acc[r][c // width], c % width, width), m_, n_)
    return w, (tn, tm), (_local(tn, tm), 1)


def _gemm_kvec(graph, g, name, d, m_, n_, k_):
    mm = g.anchor
    a, b = graph.args(mm)
    t = graph.type(mm).dtype.cl
    width, rm, rn = kvec_blocking(m_, n_, k_)
    tn, tm = -(-n_ // rn), -(-m_ // rm)
    w = KernelWriter(graph, name)
    vt = vec_type(w, t, width)
    w.lines.append("int tj = get_global_id(0), ti = get_global_id(1);")
    w.lines.append(f"int i0 = ti * {rm}, j0 = tj * {rn};")
    gemm_side(w, graph, g, "i0", rm, "tj == 0")
    ia = _clamped(w, "ia", "i0", rm, m_)
    jb = _clamped(w, "jb", "j0", rn, n_)
    acc = [[f"c{r}_{c}" for c in range(rn)] for r in range(rm)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{x} = {splat(t, width)}" for x in row) + ";")
    full = k_ // width * width
    ba, bb = w.buf(resolve(graph, a).base), w.buf(resolve(graph, b).base)

    def step(av: list[str], bv: list[str]) -> None:
        for r in range(rm):
            w.lines.append("  " + " ".join(f"{acc[r][c]} += {av[r]} * {bv[c]};"
                                           for c in range(rn)))

    if full:
        w.lines.append(f"for (int k = 0; k < {full}; k += {width}) {{")
        av, bv = [], []
        for r in range(rm):
            w.lines.append(f"  {vt} av{r} = " + load_vector(
                w, graph.type(a).dtype, f"{ba} + {w.address(a, [ia[r], 'k'])}", width) + ";")
            av.append(f"av{r}")
        for c in range(rn):
            w.lines.append(f"  {vt} bv{c} = " + load_vector(
                w, graph.type(b).dtype, f"{bb} + {w.address(b, [jb[c], 'k'])}", width) + ";")
            bv.append(f"bv{c}")
        step(av, bv)
        w.lines.append("}")
    if full < k_:
        cols = [full + j if full + j < k_ else ZERO for j in range(width)]
        av = [row_vector(w, a, [ia[r]], cols, width, t) for r in range(rm)]
        bv = [row_vector(w, b, [jb[c]], cols, width, t) for c in range(rn)]
        step(av, bv)
    sums = {}
    for r in range(rm):
        for c in range(rn):
            sums[(r, c)] = hsum(w, acc[r][c], width, t)
    if rn in (2, 4, 8, 16) and not is_symbolic(n_) and \
            vector_ok(graph, g, mm, [m for m in g.members if m != mm]):
        rvt = vec_type(w, t, rn)
        rows = []
        for r in range(rm):
            rows.append(w.fresh("row"))
            w.lines.append(f"{rvt} {rows[r]} = ({rvt})("
                           + ", ".join(sums[(r, c)] for c in range(rn)) + ");")
        _vector_epilogues(w, g, mm, rm, rn, 1, lambda r, c: rows[r], m_, n_, tn)
        return w, (tn, tm), (_local(tn, tm), 1)
    _epilogues(w, g, mm, rm, rn, lambda r, c: sums[(r, c)], m_, n_)
    return w, (tn, tm), (_local(tn, tm), 1)
