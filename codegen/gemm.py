"""Register-blocked GEMM kernels with explicit vectors (PoCL), 2-D and batched 3-D.

Two kernels, blocked for the device (``codegen/blocking.py``):

- the broadcast kernel: each work-item holds an RM x (VN*W) block of C in ``floatW``
  accumulators, broadcasting one element of A per row and loading VN vectors of B per k
  step. B is read where it lies when it is contiguous along N and small, else from
  *packed panels*: a first launch copies B (any layout: ``Linear``'s N x K weight is
  transposed in registers) into ``[batch][N/(VN*W)][K][VN*W]``, zero-padded past N, so that
  the k loop streams one contiguous panel that the work-group's row blocks share;
- the dot-product kernel (A and B contiguous along K, B small): each work-item holds RM x
  RN dot products as ``floatW`` partial sums over K, reduced at the end.

Work-groups are row blocks of one column tile (``row_group``): PoCL runs a group's
work-items one after another on one core, so its panel of B is read from cache after the
first. Anything else (non-float types, short rows) uses the generic scalar kernel. The
elementwise epilogue runs once per vector where its members allow (``vepi``), else per
element, with bounds guards for ragged M and N. A symbolic M or N (a batch:
``ir/symbolic.py``) is treated as ragged whatever its value, so that every batch size gets
the same kernel text.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.codegen.blocking import VEC_MIN, NBlock, kvec_blockings, nvec_blockings, \
    pack_b, row_group
from graphnn.codegen.conv import group_nodes, scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, launch_1d, start_1d
from graphnn.codegen.side import gemm_side
from graphnn.codegen.tuning import Question, decide, matmul_probe, size_class
from graphnn.codegen.vepi import vector_epilogue, vector_ok
from graphnn.codegen.vec import INT_MAX, ZERO, fits_int, hsum, is_float, load_vector, \
    row_vector, splat, vec_type
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.types import TensorType
from graphnn.ir.views import resolve

_LANES = "0123456789abcdef"
PANEL_STRIDE = 1024   # A's row stride (bytes) from which it is read from row panels
PANEL_MIN_M = 64      # narrower A is copied for less than the copy costs
PANEL_SCRATCH = 1 << 20   # scratch ids of A's row panels: below the B panels' ids
PANEL_K = 64          # k steps of A's row panel copied by one work-item (_panel_a)
ROWS_FIRST_SHARE = 0.5    # A within this share of the L2, B past it: row blocks first


@dataclass(frozen=True)
class Product:
    """The matmul being written: operands, transposition flags and sizes (``batch`` 0 for a
    2-D product)."""
    a: int
    b: int
    ta: bool
    tb: bool
    m: int
    n: int
    k: int
    batch: int
    t: str            # the C type
    itemsize: int     # of the compute type (a 16-bit float computes in float)

    @property
    def lead(self) -> list[str]:
        """The batch index that leads every operand's index."""
        return ["bz"] if self.batch else []

    def a_index(self, row: str, k: str) -> list[str]:
        return self.lead + ([k, row] if self.ta else [row, k])

    def b_index(self, k: str, col: str) -> list[str]:
        return self.lead + ([col, k] if self.tb else [k, col])


def product(graph: Graph, mm: int) -> Product:
    a, b = graph.args(mm)
    at = graph.attrs(mm)
    shape = graph.type(mm).shape
    t = graph.type(mm).dtype
    return Product(a, b, at["ta"], at["tb"], shape[-2], shape[-1],
                   graph.type(a).shape[-2 if at["ta"] else -1],
                   shape[0] if len(shape) == 3 else 0, t.cl, 4 if t.storage else t.itemsize)


def gemm_vec(graph: Graph, g: Group, name: str, d: Dialect):
    mm = g.anchor
    p = product(graph, mm)
    if d.row_max == 0 or not is_float(graph, mm, p.a, p.b) or \
            not fits_int(graph, group_nodes(graph, g)) or 0 in (p.m, p.n, p.k) or \
            len(graph.type(mm).shape) == 3 and p.batch == 0:
        return None
    va, vb = resolve(graph, p.a), resolve(graph, p.b)
    dtype = graph.type(mm).dtype
    if p.n >= VEC_MIN:
        blocks = nvec_blockings(d, p.m, p.n, p.itemsize)
        # panels (N rounded up to a whole panel) hold the compute type: 16-bit storage is
        # read where it lies
        panels = max(p.batch, 1) * (p.n + max(b.cols for b in blocks)) * p.k
        packed = pack_b(d, p.m, p.k, p.n, p.itemsize, p.tb) and graph.op(vb.base) != "const" \
            and not graph.type(p.b).dtype.storage and panels + 64 <= INT_MAX
        if packed or not p.tb and vb.strides[-1] == 1:
            panel = panel_a(graph, p)
            layout = ("packed" if packed else "direct") + ("-panels" if panel else "")
            blk = NBlock(*decide(d, question(
                p, dtype, f"nvec-{layout}",
                [(b.width, b.vectors, b.rows) for b in blocks])))
            return _gemm_nvec(graph, g, name, d, p, blk, packed=packed, panel=panel)
    if not p.ta and p.tb and va.strides[-1] == 1 and vb.strides[-1] == 1 and p.k >= VEC_MIN:
        blk = decide(d, question(p, dtype, "kvec", kvec_blockings(d, p.m, p.n, p.k,
                                                                   p.itemsize)))
        return _gemm_kvec(graph, g, name, d, p, blk)
    return None


def question(p: Product, dtype, kernel: str, candidates: list) -> Question:
    """The tuning question for product ``p``'s ``kernel`` (``codegen/tuning.py``): its
    shape class is the kernel, the layout, the type and each size's power of two (a
    symbolic batch is one class whatever its value, as it is one kernel text)."""
    sizes = "x".join(size_class(s) for s in (p.batch, p.m, p.n, p.k))
    key = f"gemm-{kernel}/{dtype.name}/t{int(p.ta)}{int(p.tb)}/{sizes}"
    flops = 2 * max(int(p.batch), 1) * int(p.m) * int(p.n) * int(p.k)
    return Question(key, tuple(tuple(c) for c in candidates),
                    matmul_probe(p.m, p.n, p.k, p.batch, p.ta, p.tb, dtype), flops)


def _clamped(w: KernelWriter, var: str, base: str, count: int, limit: int,
             ragged: bool) -> list[str]:
    """Row (column) indices ``base + r`` of a block, clamped to the last one where the
    block may reach past ``limit`` (the loads stay in bounds; those values are never
    stored). Where no block can (``ragged`` False), the clamps are left out: LLVM cannot
    prove them dead, and with them a static 512^3 product's 4 x 3 block ran 2-3x slower
    on an AVX2 Zen 2 (5-10 ms against 1.7-2.8 ms, PoCL)."""
    names = []
    for r in range(count):
        nm = f"{var}{r}"
        value = f"{base} + {r} < {limit} ? {base} + {r} : {limit - 1}" if ragged \
            else f"{base} + {r}"
        w.lines.append(f"int {nm} = {value};")
        names.append(nm)
    return names


def rows_first(d: Dialect, p: Product) -> bool:
    """Whether the launch's first dimension walks the row blocks rather than the column
    tiles. PoCL runs work-groups in the order of their ids, first dimension fastest;
    with column tiles first, consecutive work-groups read the same rows of A and each column
    of B is read again by every group of row blocks: from memory, once B is past the L2.
    Where A fits in ``ROWS_FIRST_SHARE`` of the L2 and B does not, A stays there while
    consecutive groups walk down one column tile, and B is read once (an Emerald Rapids
    Xeon, the MLP's 128-row products in its training step, both orders built in one
    process, ms: 784 -> 1024 from 1.16 to 0.97, 1024 -> 1024 from 1.45 to 1.27, its input
    gradient from 1.21 to 0.96; with both in the L2, the weight gradients at K = 128 were
    0.05-0.12 ms slower rows first). A batch's sizes count by their value, as M does in
    ``pack_b``."""
    if d.l2_bytes <= 0:
        return False
    fits = ROWS_FIRST_SHARE * d.l2_bytes
    return int(p.m) * int(p.k) * p.itemsize <= fits < int(p.n) * int(p.k) * p.itemsize


def _grid(d: Dialect, p: Product, tn: int, tm: int,
          first: bool) -> tuple[tuple, tuple, int]:
    """(global size, local size, row blocks launched): work-groups of row blocks of one
    column tile; the row blocks are rounded up to whole groups, whose extra rows the row
    guards skip. The first dimension is the rows' where ``first`` (``rows_first``)."""
    group = row_group(d, tn, tm)
    rows = -(-tm // group) * group
    lead = (p.batch,) if p.batch else ()
    if first:
        return (rows, tn) + lead, (group, 1) + ((1,) if p.batch else ()), rows
    return (tn, rows) + lead, (1, group) + ((1,) if p.batch else ()), rows


def _ids(w: KernelWriter, p: Product, first: bool) -> None:
    if first:
        w.lines.append("int ti = get_global_id(0), tj = get_global_id(1);")
    else:
        w.lines.append("int tj = get_global_id(0), ti = get_global_id(1);")
    if p.batch:
        w.lines.append("int bz = get_global_id(2);")


def _vector_epilogues(w: KernelWriter, g: Group, mm: int, p: Product, rows: int, width: int,
                      nvec: int, vector, tn: int, ragged_rows: bool) -> bool:
    """The epilogue on each row's ``nvec`` vectors ``vector(r, c)`` of ``width`` columns, if
    its members allow (``vepi.vector_ok``). Rows past M are skipped; the last column tile
    stores only its valid lanes."""
    epi = [m for m in g.members if m != mm]
    if not vector_ok(w.graph, g, mm, epi):
        return False
    tile = width * nvec
    last = p.n - (tn - 1) * tile       # valid columns in the last tile
    for r in range(rows):
        if ragged_rows:
            w.lines.append(f"if (i0 + {r} < {p.m}) {{")
        for c in range(nvec):
            if is_symbolic(p.n):     # the last tile's lanes are counted at run time
                ragged = (f"j0 + {(c + 1) * width} <= {p.n}",
                          f"{p.n} - j0 - {c * width}")
            else:
                ragged = (f"tj < {tn - 1}", max(0, min(width, last - c * width))) \
                    if p.n % tile else None
            vector_epilogue(w, g, mm, vector(r, c),
                            p.lead + [f"(i0 + {r})", f"(j0 + {c * width})"],
                            width, width, epi, ragged=ragged)
        if ragged_rows:
            w.lines.append("}")
    return True


def _looped_epilogues(w: KernelWriter, g: Group, mm: int, p: Product, rows: int, width: int,
                      nvec: int, acc, ragged_rows: bool) -> None:
    """The scalar epilogue of each row as a loop over its columns, read from a private copy
    of its vectors: one copy of the epilogue per row instead of per element (a 6 x 64 block
    unrolled was 39 KB of source)."""
    epi = [m for m in g.members if m != mm]
    cols = width * nvec
    for r in range(rows):
        w.lines.append(f"{{ {p.t} row[{cols}];")
        for c in range(nvec):
            w.lines.append(f"  *(u_{vec_type(w, p.t, width)}*)(row + {c * width}) = "
                           f"{acc[r][c]};")
        guards = [f"j0 + c < {p.n}"] if p.n % cols or is_symbolic(p.n) else []
        if ragged_rows:
            guards.append(f"i0 + {r} < {p.m}")
        w.lines.append(f"  for (int c = 0; c < {cols}; c++)" +
                       (f" if ({' && '.join(guards)})" if guards else ""))
        scalar_epilogue(w, g, mm, "row[c]", p.lead + [f"(i0 + {r})", "(j0 + c)"], epi)
        w.lines.append("}")


def _epilogues(w: KernelWriter, g: Group, mm: int, p: Product, rows: int, cols: int, value,
               ragged_rows: bool) -> None:
    epi = [m for m in g.members if m != mm]
    for r in range(rows):
        for c in range(cols):
            conds = []
            if ragged_rows:
                conds.append(f"i0 + {r} < {p.m}")
            if p.n % cols or is_symbolic(p.n):
                conds.append(f"j0 + {c} < {p.n}")
            if conds:
                w.lines.append(f"if ({' && '.join(conds)})")
            scalar_epilogue(w, g, mm, value(r, c), p.lead + [f"(i0 + {r})", f"(j0 + {c})"],
                            epi)


def _rows_ragged(p: Product, rows: int, tiles: int) -> bool:
    """Whether row blocks (``tiles`` of them, rounded up to whole work-groups) may run past M
    (always, for a symbolic M)."""
    return is_symbolic(p.m) or tiles * rows != p.m


def _gemm_nvec(graph, g, name, d, p: Product, blk: NBlock, packed: bool, panel: bool):
    """The broadcast kernel; ``panel``: A is read from row panels (``panel_a``), copied by a
    launch before the product."""
    mm = g.anchor
    width, cn, rm = blk.width, blk.vectors, blk.rows
    tn, tm = -(-p.n // blk.cols), -(-p.m // rm)
    first = rows_first(d, p)
    gsize, lsize, row_tiles = _grid(d, p, tn, tm, first)
    ragged_rows = _rows_ragged(p, rm, row_tiles)
    kernels = []
    sid = -1 - g.id
    panels = TensorType((max(p.batch, 1) * int(tn) * blk.cols * int(p.k),),
                        graph.type(mm).dtype)
    if packed:     # written first: a kernel being written owns the symbolic sizes printed
        kernels.append(_pack(graph, name, d, p, blk, tn, sid, panels))
    if panel:
        a_panels = TensorType((int(tm) * rm * int(p.k),), graph.type(mm).dtype)
        kernels.append(_panel_a(graph, name, d, p, sid - PANEL_SCRATCH, a_panels, rm, tm))
    w = KernelWriter(graph, name)
    vt = vec_type(w, p.t, width)
    _ids(w, p, first)
    w.lines.append(f"int i0 = ti * {rm}, j0 = tj * {blk.cols};")
    if ragged_rows:     # the row blocks that round the launch up to whole work-groups
        w.lines.append(f"if (i0 >= {p.m}) return;")
    if panel:
        sa = w.scratch_buf(sid - PANEL_SCRATCH, a_panels)
        w.lines.append(f"__global const {p.t}* ap = {sa} + ti * {p.k} * {rm};")
    gemm_side(w, graph, g, "i0", rm, "tj == 0",
              (lambda r: f"ap[k * {rm} + {r}]") if panel else None)
    ia = _clamped(w, "ia", "i0", rm, p.m, ragged_rows)
    acc = [[f"c{r}_{c}" for c in range(cn)] for r in range(rm)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{x} = {splat(p.t, width)}" for x in row) + ";")
    if packed:
        sb = w.scratch_buf(sid, panels)
        tile = f"bz * {tn} + tj" if p.batch else "tj"
        w.lines.append(f"__global const {p.t}* bq = {sb} + ({tile}) * {p.k} * {blk.cols};")
    ragged_n = is_symbolic(p.n) or p.n % blk.cols
    if not packed and ragged_n:
        # vectors of the last tile that start past N read from its last column (lanes never
        # stored), so that no load reaches more than a vector past B's end
        for c in range(1, cn):
            w.lines.append(f"int jc{c} = min(j0 + {c * width}, {p.n - 1});")
    w.lines.append(f"for (int k = 0; k < {p.k}; k++) {{")
    bb = w.buf(resolve(graph, p.b).base) if not packed else None
    for c in range(cn):
        if packed:
            bv = f"*(__global const u_{vt}*)(bq + k * {blk.cols} + {c * width})"
        else:
            col = f"jc{c}" if ragged_n and c else f"j0 + {c * width}"
            bv = load_vector(w, graph.type(p.b).dtype,
                             f"{bb} + {w.address(p.b, p.b_index('k', col))}", width)
        w.lines.append(f"  {vt} bv{c} = {bv};")
    for r in range(rm):
        av = f"ap[k * {rm} + {r}]" if panel else w.load(p.a, p.a_index(ia[r], 'k'))
        w.lines.append(f"  {p.t} av{r} = {av};")
        w.lines.append("  " + " ".join(f"{acc[r][c]} += av{r} * bv{c};" for c in range(cn)))
    w.lines.append("}")
    if not _vector_epilogues(w, g, mm, p, rm, width, cn, lambda r, c: acc[r][c], tn,
                             ragged_rows):
        _looped_epilogues(w, g, mm, p, rm, width, cn, acc, ragged_rows)
    kernels.append((w, gsize, lsize))
    return kernels if len(kernels) > 1 else kernels[0]


def panel_a(graph: Graph, p: Product) -> bool:
    """Whether the broadcast kernel reads A from row panels (``_panel_a``) rather than where
    it lies. A stored K x M (``ta``: a weight gradient's dY^T) is read down its columns:
    each k step reads the block's rows from a line of its own, a row of A apart. From
    ``PANEL_STRIDE`` bytes on, that stride is past what the prefetchers follow, and at a
    multiple of 1 KiB the lines fall into at most 4 of the 64 sets of a 4 KiB L1 way and
    evict one another (and B's panel); from panels the k loop reads one stream. Measured on
    an Emerald Rapids Xeon, both variants built in one process: the Transformer encoder's
    weight gradients (K = 1024 tokens) from 15.1 to 12.6 ms per step against a copy with
    rows one line longer (which cured the aliasing only), a 384 x 384 product at K = 4096
    from 9.7 to 7.6 ms and at M = 384, N = 1536, K = 1024 from 5.2-5.6 to 5.1-5.2 ms against
    A read where it lies; strides of 1200 and 4000 bytes within 3 %."""
    va = resolve(graph, p.a)
    t = graph.type(p.a).dtype
    if not p.ta or p.batch or t.storage or is_symbolic(p.m) or p.m < PANEL_MIN_M or \
            va.strides[-1] != 1 or va.strides[-2] < p.m or \
            va.strides[-2] * t.itemsize < PANEL_STRIDE:
        return False
    return True


def _arg(w: KernelWriter, value: int) -> str:
    """A size as a kernel argument: the packing kernels of one layout and vector block share
    one text whatever the sizes (a program holds it once, PoCL compiles it once)."""
    return f"{value}" if is_symbolic(value) else w.varying(int(value))


def _arg_address(w: KernelWriter, node: int, index: list[str]) -> str:
    """``KernelWriter.address`` with the offset and strides as arguments."""
    view = resolve(w.graph, node)
    terms = [_arg(w, view.offset)] if view.offset else []
    for ix, size, stride in zip(index, view.shape, view.strides):
        if size != 1 and stride != 0:
            terms.append(ix if stride == 1 else f"({ix})*{_arg(w, stride)}")
    return " + ".join(terms) if terms else "0"


def _pack(graph, name, d, p: Product, blk: NBlock, tn: int, sid: int, panels: TensorType):
    """The launch that packs B into ``[batch][tn][K][cols]`` panels, zero past N."""
    w = KernelWriter(graph, f"{name}_pack")
    w.ops = ["pack"]
    vb = resolve(graph, p.b)
    if p.tb and vb.strides[-1] == 1 and blk.width > 1:
        return _pack_transposed(w, d, p, blk, tn, sid, panels)
    # B contiguous along N, or any other layout: a work-item per (k, column panel)
    sb = w.scratch_buf(sid, panels, write=True)
    n_, k_ = _arg(w, p.n), _arg(w, p.k)
    w.lines.append("int k = get_global_id(0), jp = get_global_id(1);")
    if p.batch:
        w.lines.append("int bz = get_global_id(2);")
    tile = f"bz * {_arg(w, tn)} + jp" if p.batch else "jp"
    w.lines.append(f"__global {p.t}* dst = {sb} + (({tile}) * {k_} + k) * {blk.cols};")
    w.lines.append(f"int j0 = jp * {blk.cols};")
    bb = w.buf(vb.base)
    if not p.tb and vb.strides[-1] == 1:
        vt = vec_type(w, p.t, blk.width)
        w.lines.append(f"if (j0 + {blk.cols} <= {n_}) {{")
        for c in range(blk.vectors):
            ptr = f"{bb} + {_arg_address(w, p.b, p.b_index('k', f'j0 + {c * blk.width}'))}"
            w.lines.append(f"  *(__global u_{vt}*)(dst + {c * blk.width}) = "
                           f"*(__global const u_{vt}*)({ptr});")
        w.lines.append("  return;")
        w.lines.append("}")
    w.lines.append(f"for (int c = 0; c < {blk.cols}; c++)")
    at = _arg_address(w, p.b, p.b_index('k', f'min(j0 + c, {n_} - 1)'))
    w.lines.append(f"  dst[c] = j0 + c < {n_} ? {bb}[{at}] : 0;")
    return _pack_launch(w, d, (p.k, tn) + ((p.batch,) if p.batch else ()))


def _panel_a(graph, name, d, p: Product, sid: int, panels: TensorType, rm: int, tm: int):
    """The launch that copies A (stored K x M) into row panels ``[M/rm][K][rm]``: the
    product then reads its block's ``rm`` rows of each k step from one run, and its k loop
    streams one panel. A work-item copies ``PANEL_K`` k steps of one panel (one run it
    writes whole); consecutive work-items read the adjacent runs of the same rows of A.
    Rows past M repeat the last row (never stored)."""
    w = KernelWriter(graph, f"{name}_panel")
    w.ops = ["pack"]
    sa = w.scratch_buf(sid, panels, write=True)
    ba = w.buf(resolve(graph, p.a).base)
    chunks = -(-p.k // PANEL_K)
    total = tm * chunks
    start_1d(w, total, d)
    # tm as a literal: a division by a kernel argument cost more than the copy
    w.lines.append(f"int ti = gid % {tm}, k0 = gid / {tm} * {PANEL_K};")
    w.lines.append(f"__global {p.t}* dst = {sa} + (ti * {_arg(w, p.k)} + k0) * {rm};")
    for r in range(rm):
        w.lines.append(f"int i{r} = min(ti * {rm} + {r}, {_arg(w, p.m)} - 1);")
    w.lines.append(f"for (int k = k0; k < min(k0 + {PANEL_K}, {_arg(w, p.k)}); k++) {{")
    for r in range(rm):
        w.lines.append(f"  dst[(k - k0) * {rm} + {r}] = "
                       f"{ba}[{_arg_address(w, p.a, p.a_index(f'i{r}', 'k'))}];")
    w.lines.append("}")
    return (w, *launch_1d(total, d))


def _pack_transposed(w: KernelWriter, d: Dialect, p: Product, blk: NBlock, tn: int,
                     sid: int, panels: TensorType):
    """B stored N x K (``Linear``'s weight): a work-item loads W rows of W elements along K
    as vectors, transposes the W x W tile in registers by log2(W) rounds of even/odd
    swizzles (compiled to shuffles, never calls) and stores W vectors of consecutive
    columns. Rows past N are zeros; lanes past K are loaded (the buffer's slack) and never
    stored."""
    width, t = blk.width, p.t
    vt = vec_type(w, t, width)
    sb = w.scratch_buf(sid, panels, write=True)
    bb = w.buf(resolve(w.graph, p.b).base)
    n_, k_ = _arg(w, p.n), _arg(w, p.k)
    # consecutive work-items (a work-group runs them in turn) step along K: W sequential
    # streams, which the prefetchers follow, rather than W rows at a stride
    w.lines.append("int kt = get_global_id(0), jt = get_global_id(1);")
    if p.batch:
        w.lines.append("int bz = get_global_id(2);")
    w.lines.append(f"int j0 = jt * {width}, k0 = kt * {width};")
    rows = []
    for i in range(width):
        ptr = f"{bb} + {_arg_address(w, p.b, p.b_index('k0', f'min(j0 + {i}, {n_} - 1)'))}"
        w.lines.append(f"{vt} x0_{i} = j0 + {i} < {n_} ? *(__global const u_{vt}*)({ptr})"
                       f" : {splat(t, width)};")
        rows.append(f"x0_{i}")
    # rounds of y[i] = (x[2i].even, x[2i + 1].even), y[i + W/2] = (x[2i].odd, x[2i + 1].odd):
    # after log2(W) rounds x[k] is column k
    half, step = width // 2, 0
    while (1 << step) < width:
        step += 1
        for i in range(half):
            a, b = rows[2 * i], rows[2 * i + 1]
            w.lines.append(f"{vt} x{step}_{i} = ({vt})({a}.even, {b}.even), "
                           f"x{step}_{i + half} = ({vt})({a}.odd, {b}.odd);")
        rows = [f"x{step}_{i}" for i in range(width)]
    tile = f"bz * {_arg(w, tn)} + j0 / {blk.cols}" if p.batch else f"j0 / {blk.cols}"
    w.lines.append(f"__global {t}* dst = {sb} + (({tile}) * {k_} + k0) * {blk.cols} "
                   f"+ j0 % {blk.cols};")
    w.lines.append(f"if (k0 + {width} <= {k_}) {{")
    for i in range(width):
        w.lines.append(f"  *(__global u_{vt}*)(dst + {i * blk.cols}) = {rows[i]};")
    w.lines.append("} else {")
    for i in range(width):
        w.lines.append(f"  if (k0 + {i} < {k_}) *(__global u_{vt}*)(dst + {i * blk.cols}) = "
                       f"{rows[i]};")
    w.lines.append("}")
    lead = (p.batch,) if p.batch else ()
    return _pack_launch(w, d, (-(-p.k // width), tn * blk.vectors) + lead)


def _pack_launch(w: KernelWriter, d: Dialect, gsize: tuple) -> tuple:
    """A packing launch with an explicit local size: up to 8 work-items (within the
    device's work-group limit) along the first dimension of known size. Left to PoCL
    (``None``), the local size of these kernels built with ``-cl-opt-disable`` overflowed
    the stack of PoCL's worker threads (a segfault)."""
    local = [1] * len(gsize)
    for i, size in enumerate(gsize):
        if not is_symbolic(size):
            local[i] = max(g for g in range(1, min(8, d.max_work_group) + 1)
                           if int(size) % g == 0)
            break
    return w, gsize, tuple(local)


def _gemm_kvec(graph, g, name, d, p: Product, blk: tuple[int, int, int]):
    mm = g.anchor
    width, rm, rn = blk
    tn, tm = -(-p.n // rn), -(-p.m // rm)
    first = rows_first(d, p)
    gsize, lsize, row_tiles = _grid(d, p, tn, tm, first)
    ragged_rows = _rows_ragged(p, rm, row_tiles)
    w = KernelWriter(graph, name)
    vt = vec_type(w, p.t, width)
    _ids(w, p, first)
    w.lines.append(f"int i0 = ti * {rm}, j0 = tj * {rn};")
    if ragged_rows:
        w.lines.append(f"if (i0 >= {p.m}) return;")
    gemm_side(w, graph, g, "i0", rm, "tj == 0")
    ia = _clamped(w, "ia", "i0", rm, p.m, ragged_rows)
    jb = _clamped(w, "jb", "j0", rn, p.n, is_symbolic(p.n) or p.n % rn != 0)
    acc = [[f"c{r}_{c}" for c in range(rn)] for r in range(rm)]
    for row in acc:
        w.lines.append(f"{vt} " + ", ".join(f"{x} = {splat(p.t, width)}" for x in row) + ";")
    full = p.k // width * width
    ba, bb = w.buf(resolve(graph, p.a).base), w.buf(resolve(graph, p.b).base)

    def step(av: list[str], bv: list[str]) -> None:
        for r in range(rm):
            w.lines.append("  " + " ".join(f"{acc[r][c]} += {av[r]} * {bv[c]};"
                                           for c in range(rn)))

    if full:
        w.lines.append(f"for (int k = 0; k < {full}; k += {width}) {{")
        av, bv = [], []
        for r in range(rm):
            w.lines.append(f"  {vt} av{r} = " + load_vector(
                w, graph.type(p.a).dtype, f"{ba} + {w.address(p.a, p.a_index(ia[r], 'k'))}",
                width) + ";")
            av.append(f"av{r}")
        for c in range(rn):
            w.lines.append(f"  {vt} bv{c} = " + load_vector(
                w, graph.type(p.b).dtype, f"{bb} + {w.address(p.b, p.b_index('k', jb[c]))}",
                width) + ";")
            bv.append(f"bv{c}")
        step(av, bv)
        w.lines.append("}")
    if full < p.k:
        cols = [full + j if full + j < p.k else ZERO for j in range(width)]
        av = [row_vector(w, p.a, p.lead + [ia[r]], cols, width, p.t) for r in range(rm)]
        bv = [row_vector(w, p.b, p.lead + [jb[c]], cols, width, p.t) for c in range(rn)]
        step(av, bv)
    sums = {}
    for r in range(rm):
        for c in range(rn):
            sums[(r, c)] = hsum(w, acc[r][c], width, p.t)
    if rn in (2, 4, 8, 16) and not is_symbolic(p.n) and \
            vector_ok(graph, g, mm, [m for m in g.members if m != mm]):
        rvt = vec_type(w, p.t, rn)
        rows = []
        for r in range(rm):
            rows.append(w.fresh("row"))
            w.lines.append(f"{rvt} {rows[r]} = ({rvt})("
                           + ", ".join(sums[(r, c)] for c in range(rn)) + ");")
        _vector_epilogues(w, g, mm, p, rm, rn, 1, lambda r, c: rows[r], tn, ragged_rows)
        return w, gsize, lsize
    _epilogues(w, g, mm, p, rm, rn, lambda r, c: sums[(r, c)], ragged_rows)
    return w, gsize, lsize
