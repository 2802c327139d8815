"""GEMM kernels on both sides of every register-block, vector-width and tile boundary,
against PyTorch: the product and the gradients of both operands (which run the other
layouts), for every transposition layout and batched 3-D products.

Sizes come from codegen's choosers: ``nvec_blocking`` (B contiguous along N: vector width
and vectors per row of a work-item's block, its rows), ``kvec_blocking`` (A and B
contiguous along K: vector width over K, rows and columns per work-item), ``VEC_MIN`` and
the dialect's ``gemm_tile`` for the generic kernel."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pytest

from graphnn.codegen import CPU, GPU
from graphnn.codegen.gemm import VEC_MIN, kvec_blocking, nvec_blocking
from tests.kernel_check import Case, around, check_all, chunks, dialect, matmul, prime_between

LIMIT = 4 * CPU.row_max     # sizes scanned for the choosers' thresholds


def thresholds(choose, lo: int = 1) -> list[int]:
    """Sizes at which ``choose(size)`` changes."""
    return [s for s in range(lo + 1, LIMIT) if choose(s) != choose(s - 1)]


def nvec_n() -> list[int]:
    """N around VEC_MIN, around every column tile (width x vectors) and every size where the
    blocking changes, and a prime."""
    tiles = {w * c for w, c, _ in (nvec_blocking(1, n) for n in range(VEC_MIN, LIMIT))}
    sizes = {VEC_MIN - 1} | {s for t in tiles for s in around(t) if s >= VEC_MIN - 1}
    sizes |= {s + d for s in thresholds(lambda n: nvec_blocking(1, n)[:2], VEC_MIN)
              for d in (-1, 0, 1)}
    return sorted(sizes | {prime_between(max(tiles), 2 * max(tiles))})


def nvec_m() -> list[int]:
    rows = max(nvec_blocking(m, VEC_MIN)[2] for m in range(1, LIMIT))
    return around(rows) + [prime_between(rows + 1, 2 * rows + 1)]


def kvec_k() -> list[int]:
    """K around VEC_MIN and every vector width over K (a full part and a remainder)."""
    widths = {kvec_blocking(1, 1, k)[0] for k in range(VEC_MIN, LIMIT)}
    sizes = {VEC_MIN - 1} | {s for w in widths for s in around(w) if s >= VEC_MIN - 1}
    return sorted(sizes | {prime_between(2 * max(widths) + 1, 3 * max(widths))})


def kvec_mn() -> tuple[list[int], list[int]]:
    rm = max(kvec_blocking(m, 1, VEC_MIN)[1] for m in range(1, LIMIT))
    rn = max(kvec_blocking(1, n, VEC_MIN)[2] for n in range(1, LIMIT))
    return (around(rm) + [prime_between(rm + 1, 2 * rm + 1)],
            around(rn) + [prime_between(rn + 1, 2 * rn + 1)])


def tile_sizes(tile: int) -> list[int]:
    return around(tile) + [prime_between(tile + 1, 2 * tile + 1)]


def zipped(main: list[int], *others: list[int]) -> list[tuple]:
    """Every size of ``main`` once, the other dims cycling through theirs (offset so that
    equal positions do not always meet)."""
    its = [cycle(o[i % len(o):] + o[:i % len(o)]) for i, o in enumerate(others, 1)]
    return [(s, *(next(it) for it in its)) for s in main]


def case(m, n, k, ta=False, tb=False, batch=0, view=False, tag=""):
    cid = f"{tag}-m{m}n{n}k{k}" + ("-ta" if ta else "") + ("-tb" if tb else "") + \
        (f"-b{batch}" if batch else "") + ("-view" if view else "")
    return pytest.param(dict(m=m, n=n, k=k, ta=ta, tb=tb, batch=batch, view=view, id=cid),
                        id=cid)


def cpu_cases() -> list:
    out = [case(m, n, k, tag="nvec") for n, m, k in zipped(nvec_n(), nvec_m(), [1, 2, 7, 17])]
    # A read transposed (ta): the same blocks, A's elements loaded down its columns
    out += [case(m, n, k, ta=True, tag="nvec") for n, m, k in
            zipped(nvec_n()[::3], nvec_m(), [3, 16])]
    ms, ns = kvec_mn()
    out += [case(m, n, k, tb=True, tag="kvec") for k, m, n in zipped(kvec_k(), ms, ns)]
    # both transposed: the generic kernel and its tile
    rm, rn = CPU.gemm_tile
    out += [case(m, n, k, ta=True, tb=True, tag="generic") for m, n, k in
            zipped(tile_sizes(rm), tile_sizes(rn), [1, 5, VEC_MIN + 1])]
    # operands that are transposed views (strided reads), one size per combination
    out += [case(9, 17, 16 + i, ta=ta, tb=tb, view=True, tag="view")
            for i, (ta, tb) in enumerate(FLAGS)]
    return out + batched_cases(CPU)


FLAGS = [(False, False), (True, False), (False, True), (True, True)]


def batched_cases(d) -> list:
    """3-D products (the generic kernel with a batch dimension) around its tile."""
    rm, rn = d.gemm_tile
    sizes = zipped(tile_sizes(rm)[1:], tile_sizes(rn)[1:], [VEC_MIN + 1, 3, 16])
    return [case(m, n, k, ta=ta, tb=tb, batch=b, tag="batched")
            for (m, n, k), (ta, tb), b in zip(sizes, cycle(FLAGS), cycle([1, 3, 2]))]


def row_path(cs) -> bool:
    """gemm.py's vectorised layouts: 2-D products with B contiguous along N (not tb) or A
    and B contiguous along K (tb, not ta), the vectorised dimension long enough. A
    transposed view of B is strided along N, and of A only changes A's element reads."""
    if cs["batch"]:
        return False
    if cs["view"]:
        return not cs["tb"] and cs["n"] >= VEC_MIN
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


def run_gemm(chunk, name="cpu", dtype=np.float32):
    """The products of ``chunk`` (cases whose forward takes the same path) in one graph."""
    with dialect(name):
        check_all([gemm_case(cs, dtype, i) for i, cs in enumerate(chunk)],
                  expect={"matmul": name == "cpu" and row_path(chunk[0])})


def by_path(p):
    return row_path(p.values[0])


CPU_CASES = cpu_cases()


@pytest.mark.parametrize("chunk", chunks(CPU_CASES, 6, by_path))
def test_gemm_boundaries(chunk):
    run_gemm(chunk)


@pytest.mark.parametrize("chunk", chunks([c for c in CPU_CASES if c.id in (
    "nvec-m17n15k2", "nvec-m7n65k7", "kvec-m9n7k15-tb", "generic-m9n7k1-ta-tb")], 4, by_path))
def test_gemm_boundaries_float64(chunk):
    run_gemm(chunk, dtype=np.float64)


def gpu_cases() -> list:
    """The generic kernel's tile (the gpu dialect's gemm_tile) in every layout, batched."""
    rm, rn = GPU.gemm_tile
    sizes = zipped(tile_sizes(rm), tile_sizes(rn), [1, VEC_MIN + 1, 2 * VEC_MIN + 1])
    return [case(m, n, k, ta=ta, tb=tb, tag="gpu") for (m, n, k), (ta, tb) in
            zip(sizes, cycle(FLAGS))] + batched_cases(GPU)[:2]


@pytest.mark.parametrize("chunk", chunks(gpu_cases(), 4))
def test_gemm_boundaries_gpu(chunk):
    run_gemm(chunk, name="gpu")
