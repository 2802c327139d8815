"""The GPU dialect's GEMM: work-group tiles staged through local memory.

Each work-group computes a BM x BN tile of C with 16 x 16 work-items, each holding a
TM x TN block of accumulators in registers. The k loop walks BK-deep slices of A and B:

1. the slices in registers (loaded in the previous step) are written to local memory, A
   transposed (``As[k][m]``), so that the inner loop reads both operands along a row;
2. a barrier; then the next slices are loaded from global memory into registers
   (register prefetch: their latency hides behind the arithmetic of step 3);
3. BK rank-1 updates from local memory; a barrier before the slices are overwritten.

Work-item (lx, ly) owns rows ``ly + 16 r`` and columns ``lx + 16 c`` of the tile: the 16
work-items of a half-warp read 16 consecutive words of ``Bs`` and one word of ``As`` (a
broadcast), so local reads have no bank conflicts, and the stores of C are coalesced along
N. Global loads are coalesced along whichever dimension of each operand is contiguous (the
``ta``/``tb`` layout: ``Linear``'s ``x @ W.T`` reads W along K). Out-of-range rows, columns
and k are read as zeros and not stored, so any M, N, K (and a symbolic batch) runs.

Two tile configurations (the classic SGEMM design; OPENCL_NOTES.md measured a plain
128 x 128 tile at 29.5 TFLOP/s on an H100): 128 x 128 with 8 x 8 per work-item when the
product has at least as many such tiles as the device has compute units, else 64 x 64 with
4 x 4, so that a small product still spreads over the device; a tuner (``codegen/tuning.py``)
times both where the product is large enough. ``reqd_work_group_size``
tells the compiler the work-group's shape. Float32 only; other types take the generic
kernel (``families.gemm``).
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.codegen.conv import group_nodes, scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter
from graphnn.codegen.gemm import Product, product, question
from graphnn.codegen.tuning import decide
from graphnn.codegen.side import gemm_side
from graphnn.codegen.vec import fits_int
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group
from graphnn.ir.types import float32

THREADS = 16        # work-items along each side of the work-group


@dataclass(frozen=True)
class Tile:
    bm: int     # rows of C per work-group
    bn: int     # columns of C per work-group
    bk: int     # depth of the k slice staged in local memory
    tm: int     # rows per work-item (bm / THREADS)
    tn: int     # columns per work-item (bn / THREADS)

    @property
    def local_bytes(self) -> int:
        return (self.bm + self.bn + 2) * self.bk * 4      # with each row's padding word


LARGE = Tile(128, 128, 16, 8, 8)
SMALL = Tile(64, 64, 16, 4, 4)


def tiles(d: Dialect, p: Product) -> list[Tile]:
    """The tiles for product ``p`` on ``d``, the rule's pick first: LARGE when its tiles
    cover the compute units, else SMALL; then the other one (a tuner's second candidate).
    Empty when the device cannot hold a tile (local memory, work-group size)."""
    if THREADS * THREADS > d.max_work_group:
        return []
    count = -(-p.m // LARGE.bm) * -(-p.n // LARGE.bn) * max(int(p.batch), 1)
    order = (LARGE, SMALL) if count >= d.compute_units else (SMALL, LARGE)
    return [tile for tile in order if tile.local_bytes <= d.local_mem]


def gemm_tiled(graph: Graph, g: Group, name: str, d: Dialect):
    """The tiled kernel for ``g``'s product, or None where it does not apply (not the GPU
    dialect, not float32, an empty product, sizes past 32-bit indexing)."""
    mm = g.anchor
    p = product(graph, mm)
    if d.name != "gpu" or any(graph.type(n).dtype != float32 for n in (mm, p.a, p.b)) or \
            0 in (p.m, p.n, p.k) or len(graph.type(mm).shape) == 3 and p.batch == 0 or \
            not fits_int(graph, group_nodes(graph, g)):
        return None
    fits = tiles(d, p)
    if not fits:
        return None
    pick = decide(d, question(p, graph.type(mm).dtype, "tiled",
                              [(t.bm, t.bn, t.bk, t.tm, t.tn) for t in fits]))
    return _write(graph, g, name, p, Tile(*pick))


def _write(graph: Graph, g: Group, name: str, p: Product, tile: Tile):
    w = KernelWriter(graph, name)
    w.attributes = f"__attribute__((reqd_work_group_size({THREADS}, {THREADS}, 1)))"
    bm, bn, bk, tm, tn = tile.bm, tile.bn, tile.bk, tile.tm, tile.tn
    per = THREADS * THREADS
    la, lb = bm * bk // per, bn * bk // per         # elements each work-item stages
    lead = ["bz"] if p.batch else []
    # a slice loaded across its rows (A along K, or W along K for tb) is stored with rows one
    # word longer, so that the 16 work-items writing one column hit 16 different banks
    sa, sb = bm + (0 if p.ta else 1), bn + (1 if p.tb else 0)
    L = w.lines
    L += [f"__local float As[{bk * sa}];", f"__local float Bs[{bk * sb}];",
          "int lx = get_local_id(0), ly = get_local_id(1);",
          f"int lid = ly * {THREADS} + lx;",
          f"int m0 = get_group_id(1) * {bm}, n0 = get_group_id(0) * {bn};"]
    if p.batch:
        L.append("int bz = get_group_id(2);")
    # bias-gradient side sums (codegen/side.py): one row per work-item of the first column
    # of work-groups
    gemm_side(w, graph, g, "(m0 + lid)", 1, f"get_group_id(0) == 0 && lid < {bm}")

    # where each staged element comes from: (row or column within the tile, k within the
    # slice) for element e = lid + i * 256, with consecutive work-items along the operand's
    # contiguous dimension
    def a_at(i: int) -> tuple[str, str]:
        e = f"(lid + {i * per})"
        return (f"{e} % {bm}", f"{e} / {bm}") if p.ta else (f"{e} / {bk}", f"{e} % {bk}")

    def b_at(i: int) -> tuple[str, str]:
        e = f"(lid + {i * per})"
        return (f"{e} / {bk}", f"{e} % {bk}") if p.tb else (f"{e} % {bn}", f"{e} / {bn}")

    def fetch(k0: str) -> list[str]:
        out = []
        for i in range(la):
            r, k = a_at(i)
            out += [f"{{ int r = m0 + {r}, k = {k0} + {k};",
                    f"  ra{i} = r < {p.m} && k < {p.k} ? "
                    f"{w.load(p.a, p.a_index('r', 'k'))} : 0.0f; }}"]
        for i in range(lb):
            c, k = b_at(i)
            out += [f"{{ int c = n0 + {c}, k = {k0} + {k};",
                    f"  rb{i} = c < {p.n} && k < {p.k} ? "
                    f"{w.load(p.b, p.b_index('k', 'c'))} : 0.0f; }}"]
        return out

    L.append("float " + ", ".join(f"ra{i}" for i in range(la)) + ";")
    L.append("float " + ", ".join(f"rb{i}" for i in range(lb)) + ";")
    for r in range(tm):
        L.append("float " + ", ".join(f"c{r}_{c} = 0.0f" for c in range(tn)) + ";")
    L += fetch("0")
    L.append(f"for (int k0 = 0; k0 < {p.k}; k0 += {bk}) {{")
    for i in range(la):
        r, k = a_at(i)
        L.append(f"    As[({k}) * {sa} + {r}] = ra{i};")
    for i in range(lb):
        c, k = b_at(i)
        L.append(f"    Bs[({k}) * {sb} + {c}] = rb{i};")
    L += ["    barrier(CLK_LOCAL_MEM_FENCE);", f"    if (k0 + {bk} < {p.k}) {{"]
    L += ["        " + line for line in fetch(f"(k0 + {bk})")]
    # a work-item whose rows or columns all lie past C's edge only stages slices (a product
    # narrower than the tile: a small batch, a classifier's few outputs)
    L += ["    }", f"    if (m0 + ly < {p.m} && n0 + lx < {p.n}) {{", "    #pragma unroll",
          f"    for (int kk = 0; kk < {bk}; kk++) {{"]
    L.append("        float " + ", ".join(
        f"av{r} = As[kk * {sa} + ly + {r * THREADS}]" for r in range(tm)) + ";")
    L.append("        float " + ", ".join(
        f"bv{c} = Bs[kk * {sb} + lx + {c * THREADS}]" for c in range(tn)) + ";")
    for r in range(tm):
        L.append("        " + " ".join(f"c{r}_{c} += av{r} * bv{c};" for c in range(tn)))
    L += ["    }", "    }", "    barrier(CLK_LOCAL_MEM_FENCE);", "}"]

    epi = [m for m in g.members if m != g.anchor]
    for r in range(tm):
        L.append(f"if (m0 + ly + {r * THREADS} < {p.m}) {{")
        L.append(f"    int row = m0 + ly + {r * THREADS};")
        for c in range(tn):
            L.append(f"    if (n0 + lx + {c * THREADS} < {p.n}) {{")
            L.append(f"        int col = n0 + lx + {c * THREADS};")
            start = len(L)
            scalar_epilogue(w, g, g.anchor, f"c{r}_{c}", lead + ["row", "col"], epi)
            L[start:] = ["        " + line for line in L[start:]]
            L.append("    }")
        L.append("}")
    tiles_n, tiles_m = -(-p.n // bn), -(-p.m // bm)
    lead_size = (p.batch,) if p.batch else (1,)
    return w, (tiles_n * THREADS, tiles_m * THREADS) + lead_size, (THREADS, THREADS, 1)
