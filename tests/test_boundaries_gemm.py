"""GEMM kernels on both sides of every register-block, vector-width, panel and tile boundary,
against PyTorch: the product and the gradients of both operands (which run the other
layouts), for every transposition layout and batched 3-D products.

Sizes come from codegen's blocking functions (``codegen/blocking.py``) called with the
dialect of the device under test, and with simulated CPUs: the same functions given
another vector width and register count (an AVX-512 x86: 16 lanes, 32 registers; an
AVX2-only one: 8 lanes, 16 registers), whose kernels run on this device all the same. Each
target runs with an L2 so large that B is read where it lies and so small that every
product packs B into panels first (``pack_b``). The dialects' ``gemm_tile`` sizes the
generic kernel; the GPU dialect's tiled kernel is tested around both of its tiles."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pytest

from graphnn.codegen import GPU
from graphnn.codegen.tiled import LARGE, SMALL, THREADS
from graphnn.codegen.blocking import PACK_WEIGHT_BYTES, VEC_MIN, kvec_blocking, nvec_blocking, \
    pack_b, row_group
from graphnn.ir.symbolic import SymInt
from tests.kernel_check import SIMD_FIELDS, Case, around, check, check_all, chunks, dialect, \
    dialect_for, matmul, prime_between, programs, UNPACKED_L2

LIMIT = 256                 # sizes scanned for the choosers' thresholds
UNPACKED, PACKED = {"l2_bytes": UNPACKED_L2}, {"l2_bytes": 1}
SIMULATED = {"avx512": {"vector_width": 16, "vector_registers": 32},
             "avx2": {"vector_width": 8, "vector_registers": 16}}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]


def thresholds(choose, lo: int = 1) -> list[int]:
    """Sizes at which ``choose(size)`` changes."""
    return [s for s in range(lo + 1, LIMIT) if choose(s) != choose(s - 1)]


def beyond(w: int) -> list[int]:
    """Sizes around a block of ``w`` and a prime that no block divides."""
    return around(w) + [prime_between(w + 1, 2 * w + 1)]


def nvec_n(d) -> list[int]:
    """N around VEC_MIN, around every column tile (width x vectors) and every size where the
    blocking changes, and a prime."""
    tiles = {nvec_blocking(d, 1, n).cols for n in range(VEC_MIN, LIMIT)}
    sizes = {VEC_MIN - 1} | {s for t in tiles for s in around(t) if s >= VEC_MIN - 1}
    sizes |= {s + e for s in thresholds(lambda n: nvec_blocking(d, 1, n), VEC_MIN)
              for e in (-1, 0, 1)}
    return sorted(sizes | {prime_between(max(tiles), 2 * max(tiles))})


def group_m(d, n: int) -> int:
    """An M whose row blocks do not fill whole work-groups of more than one row block
    (rows past M in the last group), for N = ``n``."""
    blk = nvec_blocking(d, 1 << 12, n)
    tn = -(-n // blk.cols)
    for tm in range(2, LIMIT):
        group = row_group(d, tn, tm)
        if group > 1 and tm % group:
            return tm * blk.rows - 1
    raise AssertionError("no row-group boundary below LIMIT")


def case(m, n, k, ta=False, tb=False, batch=0, view=False, tag=""):
    cid = f"{tag}-m{m}n{n}k{k}" + ("-ta" if ta else "") + ("-tb" if tb else "") + \
        (f"-b{batch}" if batch else "") + ("-view" if view else "")
    return dict(m=m, n=n, k=k, ta=ta, tb=tb, batch=batch, view=view, id=cid)


def nvec_cases(d, ks, flags=((False, False),), tag="nvec") -> list[dict]:
    """Every N of ``nvec_n`` once, M cycling around that N's row block, K through ``ks``."""
    out = []
    fl, kk = cycle(flags), cycle(ks)
    for i, n in enumerate(nvec_n(d)):
        ms = beyond(nvec_blocking(d, 1 << 12, n).rows)
        ta, tb = next(fl)
        out.append(case(ms[i % len(ms)], n, next(kk), ta, tb, tag=tag))
    n = max(nvec_n(d))
    return out + [case(group_m(d, n), n, 3, tag=f"{tag}-group")]


def kvec_cases(d) -> list[dict]:
    """A and B contiguous along K: K around VEC_MIN and every vector width over K (a full
    part and a remainder), M and N around the block."""
    widths = {kvec_blocking(d, 1, 1, k)[0] for k in range(VEC_MIN, LIMIT)}
    ks = {VEC_MIN - 1} | {s for w in widths for s in around(w) if s >= VEC_MIN - 1}
    ks = sorted(ks | {prime_between(2 * max(widths) + 1, 3 * max(widths))})
    _, rm, rn = kvec_blocking(d, 1 << 12, 1 << 12, 64)
    ms, ns = beyond(rm), beyond(rn)
    return [case(ms[i % len(ms)], ns[(i + 1) % len(ns)], k, tb=True, tag="kvec")
            for i, k in enumerate(ks)]


def generic_cases(d, tag="generic") -> list[dict]:
    """Both operands transposed and short rows: the generic kernel and its tile."""
    rm, rn = d.gemm_tile
    return [case(m, n, k, ta=True, tb=True, tag=tag) for m, n, k in
            zip(beyond(rm), beyond(rn)[1:] + [1], cycle([1, 5, VEC_MIN + 1]))]


def batched_cases(d, tag="batched") -> list[dict]:
    """3-D products around the generic tile and the vector block, every layout."""
    rm, rn = d.gemm_tile
    blk = nvec_blocking(d, 1 << 12, 1 << 12)
    sizes = [(m, n, k) for m, n, k in zip(beyond(rm)[1:], beyond(rn)[1:], cycle([9, 3, 16]))]
    sizes += [(blk.rows + 1, blk.cols + 1, 5), (2 * blk.rows + 1, VEC_MIN, blk.width + 1)]
    return [case(m, n, k, ta=ta, tb=tb, batch=b, tag=tag)
            for (m, n, k), (ta, tb), b in zip(sizes, cycle(FLAGS), cycle([1, 3, 2]))]


def packed_cases(d, tag) -> list[dict]:
    """Every product with a static K packs B: N around the panel, K around the vector width
    (the transposed pack's tiles), every layout, and batched; and a B big enough that its
    gradient, summed over the batch, packs too."""
    blk = nvec_blocking(d, 1 << 12, 1 << 12)
    ns = sorted({VEC_MIN, blk.width + 1, *beyond(blk.cols)} - {1})
    ks = beyond(blk.width)
    ms = beyond(blk.rows)
    out = [case(ms[i % len(ms)], n, ks[i % len(ks)], ta, tb, tag=tag)
           for i, (n, (ta, tb)) in enumerate(zip(ns, cycle(FLAGS)))]
    # B's gradient sums over the batch (a symbolic K): packed for results of
    # PACK_WEIGHT_BYTES, here k x n
    n = blk.cols * 8 + 1
    k = -(-PACK_WEIGHT_BYTES // (4 * n))
    return out + [case(blk.rows + 1, blk.cols + 3, blk.width - 1, tb=True, batch=2, tag=tag),
                  case(3, VEC_MIN + 1, 2 * blk.width + 1, batch=3, tag=tag),
                  case(blk.rows + 1, n, k, tag=tag),
                  # B a transposed view: read through the tb flag (simplify), packed
                  case(blk.rows - 1, blk.width + 3, 5, tb=True, view=True, tag=tag)]


def views(tag="view") -> list[dict]:
    """Operands that are transposed views (read through the ta/tb flags), one size per
    combination."""
    return [case(9, 17, 16 + i, ta=ta, tb=tb, view=True, tag=tag)
            for i, (ta, tb) in enumerate(FLAGS)]


def targets() -> list[tuple[str, dict, list[dict]]]:
    """(name, dialect fields, cases): this device B unpacked (every table) and packed, and
    each simulated CPU whose blocking differs from this device's, unpacked and packed."""
    dev = dialect_for("cpu")
    own = {f: getattr(dev, f) for f in SIMD_FIELDS}
    d = dialect_for("cpu", **UNPACKED)
    out = [("device", UNPACKED, nvec_cases(d, [1, 2, 7, 17]) +
            nvec_cases(d, [3, 16], [(True, False)], "nvec-ta")[::4] + kvec_cases(d) +
            generic_cases(d) + views() + batched_cases(d)),
           ("device-packed", PACKED, packed_cases(dialect_for("cpu", **PACKED), "packed"))]
    for name, simd in SIMULATED.items():
        if all(own[f] == v for f, v in simd.items()):
            continue
        d = dialect_for("cpu", **simd, **UNPACKED)
        out.append((name, {**simd, **UNPACKED}, nvec_cases(d, [2, 9])[1::3] +
                    kvec_cases(d)[1::3]))
        out.append((f"{name}-packed", {**simd, **PACKED},
                    packed_cases(dialect_for("cpu", **simd, **PACKED), "packed")[::2]))
    return out


def row_path(cs) -> bool:
    """gemm.py's vectorised layouts: B contiguous along N (not tb) or A and B contiguous
    along K (tb, not ta), the vectorised dimension long enough. An operand transposed by a
    view is read through the product's flag (simplify), as if stored that way."""
    return not cs["tb"] and cs["n"] >= VEC_MIN or \
        not cs["ta"] and cs["tb"] and cs["k"] >= VEC_MIN


def gemm_case(cs, dtype, seed) -> Case:
    rng = np.random.default_rng(seed)
    m, n, k, lead = cs["m"], cs["n"], cs["k"], (cs["batch"],) if cs["batch"] else ()
    a = rng.standard_normal(lead + ((k, m) if cs["ta"] else (m, k))).astype(dtype)
    b = (rng.standard_normal(lead + ((n, k) if cs["tb"] else (k, n))) / k ** 0.5).astype(dtype)

    def fn(lib, a, b):
        if cs["view"]:
            return (a.transpose(-1, -2) if cs["ta"] else a) @ \
                (b.transpose(-1, -2) if cs["tb"] else b)
        return matmul(lib, a, b, cs["ta"], cs["tb"])

    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-4}
    return Case(fn, [a, b], cs["id"], **tol)


def packs(d, cs, itemsize: int = 4) -> bool:
    """Whether the forward product of ``cs`` packs B (``pack_b``), with the sizes that are
    symbolic in it: the leading dimension of each (2-D) input, M of A, or K of A read
    transposed, and N of B read transposed."""
    m, n, k = cs["m"], cs["n"], cs["k"]
    if not cs["batch"]:
        m, k = (m, SymInt.dim(k)) if cs["ta"] else (SymInt.dim(m), k)
        n = SymInt.dim(n) if cs["tb"] else n
    return n >= VEC_MIN and pack_b(d, m, k, n, itemsize, cs["tb"])


def run_gemm(chunk, name="cpu", dtype=np.float32, simulated=None, paths=True):
    """The products of ``chunk`` (cases whose forward takes the same path, which ``paths``
    asserts) in one graph."""
    with dialect(name, **(simulated or {})) as d:
        expect = {}
        if name == "cpu" and paths and d is not None:
            packed = packs(d, chunk[0], np.dtype(dtype).itemsize)
            expect["matmul"] = packed or row_path(chunk[0])
            if packed:
                expect["pack"] = True
        check_all([gemm_case(cs, dtype, i) for i, cs in enumerate(chunk)], expect=expect)


def params(size: int = 6) -> list:
    out = []
    for name, fields, cases in targets():
        d = dialect_for("cpu", **fields)
        tagged = [pytest.param((name, fields, cs), id=f"{name}-{cs['id']}") for cs in cases]
        out += chunks(tagged, size, lambda p: (p.values[0][0], packs(d, p.values[0][2]),
                                               row_path(p.values[0][2])))
    return out


@pytest.mark.parametrize("chunk", params())
def test_gemm_boundaries(chunk):
    run_gemm([c[2] for c in chunk], simulated=chunk[0][1])


@pytest.mark.parametrize("chunk", [c for c in params(12)
                                   if c.values[0][0][0] in ("device", "device-packed")])
def test_gemm_boundaries_rows_first(chunk, monkeypatch):
    """The same products with their launches' first dimension walking the row blocks
    (``gemm.rows_first``, which the real rule picks for an A in the L2 and a B past it):
    every guard and clamp of ragged row blocks, work-groups and side sums read the row
    index from the other grid dimension."""
    import graphnn.codegen.gemm as gemm

    monkeypatch.setattr(gemm, "rows_first", lambda d, p: True)
    with programs() as built:
        run_gemm([c[2] for c in chunk], simulated=chunk[0][1])
    sources = [p.source for p in built]
    assert not any("int tj = get_global_id(0)" in s for s in sources)
    if any(row_path(c[2]) for c in chunk):
        assert any("int ti = get_global_id(0)" in s for s in sources)


def test_gemm_boundaries_float64():
    """A broadcast, a packed, a dot-product and a generic product in float64 (half the
    lanes per vector)."""
    d = dialect_for("cpu", **UNPACKED)
    blk = nvec_blocking(d, 1 << 12, 1 << 12, 8)
    chunk = [case(blk.rows + 1, blk.cols - 1, 2, tag="f64"),
             case(9, 7, kvec_blocking(d, 9, 7, 64, 8)[0] + 1, tb=True, tag="f64"),
             case(9, 7, 1, ta=True, tb=True, tag="f64")]
    run_gemm(chunk, dtype=np.float64, simulated=UNPACKED, paths=False)
    run_gemm([case(blk.rows - 1, blk.cols + 1, blk.width + 1, tag="f64")],
             dtype=np.float64, simulated=PACKED)


# whether this device holds a tile (GRAPHNN_LIMITS may shrink its work-group or local memory:
# then every product takes the generic kernel)
TILES_FIT = THREADS * THREADS <= dialect_for("gpu").max_work_group and \
    SMALL.local_bytes <= dialect_for("gpu").local_mem


def gpu_cases() -> list:
    """The GPU dialect's tiled kernel (codegen/tiled.py): M, N and K one below, at and one
    past the small tile, the large tile and the local-memory slice, every layout (each
    case's gradients run two more), batched. At 128 and past it this device's few compute
    units take the large tile, below it the small one."""
    s, l, k = SMALL.bm, LARGE.bm, SMALL.bk
    sizes = [(s - 1, s + 1, k - 1), (s + 1, s - 1, k + 1), (s, s, k), (l - 1, l + 1, 2 * k + 1),
             (l + 1, l - 1, 1), (l, 2 * l + 1, k)]
    cases = [case(m, n, kk, ta=ta, tb=tb, tag="gpu")
             for (m, n, kk), (ta, tb) in zip(sizes, cycle(FLAGS))]
    cases += [case(l + 1, s - 1, k + 1, tb=True, batch=2, tag="gpu"),
              case(s - 1, l + 1, 3, ta=True, batch=3, tag="gpu")]
    return [pytest.param(c, id=c["id"]) for c in cases]


@pytest.mark.parametrize("chunk", chunks(gpu_cases(), 4))
def test_gemm_boundaries_gpu(chunk, monkeypatch):
    # built without LLVM's optimisations (a fifth of the build time of a kernel of 64
    # accumulators): this tests the source, which a GPU's compiler optimises its own way
    monkeypatch.setenv("GRAPHNN_CL_OPTIONS", "-cl-opt-disable")
    with programs() as built:
        run_gemm(chunk, name="gpu")
    products = [p for p in built if "matmul" in p.source]
    assert products and all(("__local float As" in p.source) == TILES_FIT for p in products)


def test_gemm_boundaries_gpu_generic():
    """The GPU dialect's generic kernel (float64, which the tiled kernel leaves to it)
    around its tile (``gemm_tile``) in every layout."""
    rm, rn = GPU.gemm_tile
    sizes = zip(beyond(rm), beyond(rn), cycle([1, VEC_MIN + 1, 2 * VEC_MIN + 1]))
    with programs() as built:
        run_gemm([case(m, n, k, ta=ta, tb=tb, tag="gpu-f64")
                  for (m, n, k), (ta, tb) in zip(sizes, cycle(FLAGS))], name="gpu",
                 dtype=np.float64)
    products = [p for p in built if "matmul" in p.source]
    assert products and not any("__local" in p.source for p in products)
    assert all("double c0_0" in p.source for p in products)


def test_linear_epilogue_and_bias_sum_gpu(monkeypatch):
    """``relu(x @ W.T + b)`` in the tiled kernel, forward and backward: the bias and ReLU
    epilogue, and the bias gradient as the side sum of W's gradient product (one row per
    work-item of the first column of work-groups), with M past both tiles."""
    monkeypatch.setenv("GRAPHNN_CL_OPTIONS", "-cl-opt-disable")
    rng = np.random.default_rng(3)
    for m in (SMALL.bm + 1, 2 * LARGE.bm + 3):
        x = rng.standard_normal((m, 37)).astype(np.float32)
        w = (rng.standard_normal((LARGE.bn + 5, 37)) / 6).astype(np.float32)
        b = rng.standard_normal(LARGE.bn + 5).astype(np.float32)
        with dialect("gpu"), programs() as built:
            check(lambda L, x, w, b: L.nn.functional.linear(x, w, b).relu(), [x, w, b])
        assert any("__local float As" in p.source for p in built) == TILES_FIT


def test_packing_built_without_optimisation(monkeypatch):
    """The packing launches built with ``-cl-opt-disable`` (the layer suites' options, and a
    user's GRAPHNN_CL_OPTIONS): a BERT feed-forward's ``Linear(384, 1536)`` on 18 tokens,
    ``x @ W.T`` (the transposed pack) and ``x @ B`` (the plain pack). With the local size
    left to PoCL, the transposed pack's work-groups overflowed the stack of PoCL's worker
    threads and killed the process."""
    monkeypatch.setenv("GRAPHNN_CL_OPTIONS", "-cl-opt-disable")
    run_gemm([case(18, 1536, 384, tb=True, tag="O0"), case(18, 1536, 384, tag="O0")],
             simulated=PACKED)


def test_packed_batched_product_keeps_pool_counters_plain():
    """A batched product's packed panels are sized by the symbolic batch; their buffer type
    is made plain, so the pool's byte counters stay ints (a symbolic counter grew its
    expression by one link per allocation and release for the rest of the process)."""
    from graphnn.runtime import get_runtime
    from graphnn.ir.symbolic import SymInt
    run_gemm([case(5, 33, 17, batch=3, tag="plain")], simulated=PACKED)
    pool = get_runtime().pool
    for name in ("in_use", "allocated", "peak"):
        value = getattr(pool, name)
        assert not isinstance(value, SymInt), f"pool.{name} is symbolic"


def test_linear_bias_gradient_side_sum_cpu():
    """The bias gradient as the side sum of W's gradient product on the CPU dialect (one
    pass over the batch with an accumulator per row of the work-item's register block):
    out_features on both sides of the row blocks (rows past M read the last row and are not
    stored), a batch past the sum's first vector widths, against PyTorch."""
    rng = np.random.default_rng(4)
    cases = []
    for out in (1, 5, 6, 7, 13, 47):
        x = rng.standard_normal((37, 9)).astype(np.float32)
        w = (rng.standard_normal((out, 9)) / 3).astype(np.float32)
        b = rng.standard_normal(out).astype(np.float32)
        cases.append(Case(lambda L, x, w, b: L.nn.functional.linear(x, w, b), [x, w, b],
                          f"out {out}"))
    with dialect("cpu"), programs() as built:
        check_all(cases)
    assert any("side0" in p.source for p in built)


def test_a_row_panels():
    """A stored K x M (``ta``) at a row stride of ``PANEL_STRIDE`` bytes or more is copied
    into row panels first (``panel_a``): M on both sides of that stride (256 and 257 are
    copied, 255 is not) and of ``PANEL_MIN_M`` (columns of a wider buffer: a slice of 64
    of its 256 columns is copied, of 63 is not), M not a multiple of the row
    block (the last panel repeats the last row), K from 1 to both sides of the copy's
    ``PANEL_K`` steps a work-item, and ``Linear``'s weight gradient (dY^T X with the bias
    gradient beside it, over a symbolic batch), forward and every gradient against
    PyTorch."""
    from graphnn.codegen.gemm import PANEL_K, PANEL_MIN_M, PANEL_STRIDE

    stride = PANEL_STRIDE // 4
    rng = np.random.default_rng(5)
    cases, copied = [], []
    for m, width, k in [(stride, stride, 3), (stride - 1, stride - 1, 17),
                        (stride + 1, stride + 1, 1), (PANEL_MIN_M, stride, 18),
                        (PANEL_MIN_M - 1, stride, 5), (stride - 6, stride, 33),
                        (PANEL_MIN_M, stride, PANEL_K - 1), (stride, stride, PANEL_K),
                        (stride - 5, stride, PANEL_K + 1),
                        (PANEL_MIN_M + 1, stride, 2 * PANEL_K + 3)]:
        x = rng.standard_normal((k, width)).astype(np.float32)
        b = (rng.standard_normal((k, 19)) / k ** 0.5).astype(np.float32)
        cases.append(Case(lambda L, x, b, m=m: matmul(L, x[:, :m], b, ta=True), [x, b],
                          f"m{m} of {width}, k{k}"))
        copied.append(m >= PANEL_MIN_M and width >= stride)
    with dialect("cpu"), programs() as built:
        for c, panel in zip(cases, copied):
            before = len(built)
            check_all([c])
            assert any("_panel(" in p.source for p in built[before:]) == panel, c.what
    # two layers: the first weight's gradient reads dY (the second product's epilogue
    # output, batch x stride) transposed, with the bias gradient as its side sum
    x = rng.standard_normal((37, 9)).astype(np.float32)
    w1 = (rng.standard_normal((stride, 9)) / 3).astype(np.float32)
    b1 = rng.standard_normal(stride).astype(np.float32)
    w2 = (rng.standard_normal((5, stride)) / 16).astype(np.float32)
    with dialect("cpu"), programs() as built:
        check(lambda L, x, w1, b1, w2: L.nn.functional.linear(
            L.nn.functional.linear(x, w1, b1).relu(), w2), [x, w1, b1, w2])
    assert any("_panel(" in p.source and "side0" in p.source for p in built)


def test_linear_weight_packed_from_its_size():
    """A ``Linear`` weight (B stored N x K, sizes fixed) is packed for the broadcast kernel
    whatever the L2: over a K of at most ``PACK_SHORT_K`` from ``PACK_SHORT_MIN_N`` columns
    and ``PACK_SHORT_MIN_M`` rows of the batch on, over a longer K from ``PACK_TB_MIN_N``
    columns and ``PACK_TB_MIN_M`` rows on, and read by the dot-product kernel otherwise:
    each size on both sides of its threshold (an LSTM's 16-row recurrent product too).
    Forward and the gradients of the input, weight and bias against PyTorch."""
    import torch
    import graphnn as G
    from graphnn.codegen.blocking import PACK_SHORT_K, PACK_SHORT_MIN_M, PACK_SHORT_MIN_N, \
        PACK_TB_MIN_M, PACK_TB_MIN_N
    from tests.conftest import assert_close

    short, long_ = PACK_SHORT_K, PACK_SHORT_K + 1
    rng = np.random.default_rng(8)
    for rows, n, k, packed in ((PACK_SHORT_MIN_M, PACK_SHORT_MIN_N, short, True),
                               (PACK_SHORT_MIN_M - 1, PACK_SHORT_MIN_N, short, False),
                               (PACK_SHORT_MIN_M, PACK_SHORT_MIN_N - 1, short, False),
                               (16, 512, 128, False),
                               (PACK_SHORT_MIN_M, PACK_TB_MIN_N, long_, False),
                               (PACK_TB_MIN_M - 1, PACK_TB_MIN_N, long_, False),
                               (PACK_TB_MIN_M, PACK_TB_MIN_N, long_, True),
                               (PACK_TB_MIN_M, PACK_TB_MIN_N - 1, long_, False)):
        x = rng.standard_normal((rows, k)).astype(np.float32)
        w = (rng.standard_normal((n, k)) / 16).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal((rows, n)).astype(np.float32)
        tm = torch.nn.Linear(k, n)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(w))
            tm.bias.copy_(torch.tensor(b))
        gm = G.nn.Linear(k, n)
        gm.load_state_dict({"weight": w, "bias": b})
        tx, gx = torch.tensor(x, requires_grad=True), G.tensor(x).requires_grad_(True)
        with dialect("cpu", **UNPACKED), programs() as built:
            gy = gm(gx)
            gy.backward(G.tensor(g))
        ty = tm(tx)
        ty.backward(torch.tensor(g))
        what = f"Linear({k}, {n}) on {rows} rows"
        assert_close(gy, ty, what=what)
        assert_close(gx.grad, tx.grad, what=f"{what} input grad")
        # (sums over up to 1024 rows, of values of order 10: float32 rounding near 1e-5)
        assert_close(gm.weight.grad, tm.weight.grad, atol=1e-3, what=f"{what} weight grad")
        assert_close(gm.bias.grad, tm.bias.grad, rtol=1e-4, atol=1e-3, what=f"{what} bias grad")
        # (the gradients' products pack nothing of this size with this L2)
        assert any("_pack(" in p.source for p in built) == packed, what


def test_scores_packed_over_a_short_k():
    """Attention scores ``q @ k^T`` (B stored N x K, a batch of them) are packed for the
    broadcast kernel when K is at most ``PACK_SHORT_K`` and M and N reach
    ``PACK_SHORT_MIN_M`` and ``PACK_SHORT_MIN_N``, whatever the L2, and read by the
    dot-product kernel otherwise: each size on both sides of its threshold, N and K ragged
    against the panel's vectors, forward and both gradients against PyTorch."""
    import torch
    import graphnn as G
    from graphnn.codegen.blocking import PACK_SHORT_K, PACK_SHORT_MIN_M, PACK_SHORT_MIN_N
    from tests.conftest import assert_close

    m_at, n_at, k_at = PACK_SHORT_MIN_M, PACK_SHORT_MIN_N, PACK_SHORT_K
    rng = np.random.default_rng(9)
    for m, n, k, packed in ((m_at, n_at, k_at, True), (m_at - 1, n_at, k_at, False),
                            (m_at, n_at - 1, k_at, False), (m_at, n_at, k_at + 1, False),
                            (m_at + 1, n_at + 37, 61, True)):
        q = rng.standard_normal((3, m, k)).astype(np.float32)
        kk = rng.standard_normal((3, n, k)).astype(np.float32)
        g = rng.standard_normal((3, m, n)).astype(np.float32)
        gq, gk = G.tensor(q).requires_grad_(True), G.tensor(kk).requires_grad_(True)
        tq, tk = torch.tensor(q, requires_grad=True), torch.tensor(kk, requires_grad=True)
        with dialect("cpu", **UNPACKED), programs() as built:
            gy = gq @ gk.transpose(-1, -2)
            gy.backward(G.tensor(g))
        ty = tq @ tk.transpose(-1, -2)
        ty.backward(torch.tensor(g))
        what = f"scores {m} x {n} over {k}"
        assert_close(gy, ty, rtol=1e-4, atol=1e-4, what=what)
        assert_close(gq.grad, tq.grad, rtol=1e-4, atol=1e-4, what=f"{what}: grad of q")
        assert_close(gk.grad, tk.grad, rtol=1e-4, atol=1e-4, what=f"{what}: grad of k")
        forward = [p for p in built if "_pack(" in p.source or "matmul" in p.source]
        assert any("_pack(" in p.source for p in forward[:1]) == packed, what
