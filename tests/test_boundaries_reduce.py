"""Reductions on both sides of the reduction kernels' boundaries, against PyTorch, forward
and gradient: the vectorised sum (a contiguous run of reduced elements loaded as vectors of
``REDUCE_WIDTH``, ``REDUCE_ACCS`` of them per step, then single vectors, then a scalar tail;
other reduced dims as an outer loop) around each of those sizes; the generic kernel (max,
min, argmax, logsumexp, prologues, strided inputs) over first, middle, last and all axes;
and output counts around the dialect's work-group size (``local_1d``), where the last
work-group is partly past the end."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pytest

from graphnn.codegen.families import REDUCE_ACCS, REDUCE_WIDTH, SUM_BLOCK
from graphnn.codegen.vec import width_for
from tests.kernel_check import Case, around, check_all, chunks, dialect, dialect_for, \
    prime_between, programs, reduce_fn

STEP = REDUCE_WIDTH * REDUCE_ACCS


def run_lengths() -> list[int]:
    """Contiguous reduced runs around one vector, around one main-loop step, one step plus a
    vector plus a scalar, and a prime."""
    sizes = set(around(REDUCE_WIDTH)[1:]) | set(around(STEP)[1:4])
    return sorted(sizes | {STEP + REDUCE_WIDTH + 1, prime_between(2 * STEP + 1, 3 * STEP)})


def group_edges(d) -> list[int]:
    """Output counts around the largest 1-D work-group the dialect picks (scanned over
    counts up to 64 times the largest group it allows): one under, exact, one over."""
    top = max(range(2, 64 * min(d.max_work_group, 256)),
              key=lambda n: (d.local_1d(n), -n))
    return [top - 1, top, top + 1]


def case(shape, op, axes, keepdim=False, perm=None, tag=""):
    cid = f"{tag}-{op}-{'x'.join(map(str, shape))}-ax{''.join(map(str, axes))}" + \
        ("-keep" if keepdim else "") + (f"-perm{''.join(map(str, perm))}" if perm else "")
    return pytest.param(dict(shape=shape, op=op, axes=axes, keepdim=keepdim, perm=perm,
                             id=cid), id=cid)


def cpu_cases() -> list:
    rows = cycle([1, 3, 2])
    out = [case((next(rows), r), "sum", (1,), tag="vsum") for r in run_lengths()]
    # the run split over two contiguous dims, an outer reduced dim, keepdim
    out += [case((3, 2, STEP // 8, 8), "sum", (2, 3), keepdim=True, tag="vsum"),
            case((4, 2, REDUCE_WIDTH + 1), "sum", (0, 2), tag="vsum"),
            case((2, STEP + 1, 3), "sum", (0, 1), tag="sum"),            # not contiguous
            case((3, REDUCE_WIDTH + 1), "sum", (1,), perm=(1, 0), tag="sum"),   # strided
            case((2, REDUCE_WIDTH + 1), "sum_sq", (1,), tag="sum")]             # prologue
    ops = cycle(["amax", "amin", "logsumexp", "mean"])
    shape = (3, 5, 2, REDUCE_WIDTH + 1)
    for axes in [(0,), (1, 2), (3,), (0, 1, 2, 3), (0, 3)]:
        out.append(case(shape, next(ops), axes, keepdim=len(axes) == 2, tag="ops"))
    for ax in (0, 2, 3):
        out += [case(shape, "argmax", (ax,), keepdim=ax == 2, tag="ops"),
                case(shape, "max_dim", (ax,), tag="ops")]
    out.append(case(shape, "logsumexp", (1, 3), perm=(3, 0, 2, 1), tag="ops"))
    return out + block_cases() + edge_cases(dialect_for("cpu"))


def block_cases() -> list:
    """The generic kernel's loops, one per reduced dim, and its summation blocks
    (``families._reduction_loops``): trailing reduced dims that fill one block, one past it
    (a block per outer iteration), a last dim past a block alone (cut into blocks, with an
    outer reduced dim and without), and the batch (symbolic in a traced graph) outside the
    blocks. Sums of squares over dims that are not one contiguous run: no faster kernel."""
    b = SUM_BLOCK
    return [case((2, 2, b // 2, 1), "sum_sq", (1, 2), tag="blocks"),
            case((2, 2, b // 2 + 1, 1), "sum_sq", (1, 2), tag="blocks"),
            case((3, 2, b // 2 + 1), "sum_sq", (0, 2), tag="blocks"),
            case((2, b + 1, 1), "sum_sq", (1,), perm=(1, 0, 2), tag="blocks"),
            case((2, 3, b + 1), "sum_sq", (0, 2), tag="blocks")]


def edge_cases(d) -> list:
    """Output counts around the work-group size: a vectorised sum (cpu) or a plain one,
    and a generic max."""
    e = group_edges(d)
    return [case((e[0], REDUCE_WIDTH + 1), "sum", (1,), tag="groups"),
            case((e[1], 3), "amax", (1,), tag="groups"),
            case((2, e[2]), "logsumexp", (0,), tag="groups")]


def sum_path(cs) -> bool | None:
    """Whether the case's sum kernel is the vectorised one: a plain sum (or mean: a sum
    and a scale) over a contiguous run of at least one vector at the end of the shape, or a
    sum with a prologue over a contiguous run of every reduced axis (codegen/rows.py).
    None when the forward has no sum kernel."""
    if cs["op"] not in ("sum", "mean", "sum_sq"):
        return None
    run = 1
    for dim in reversed(range(len(cs["shape"]))):
        if dim not in cs["axes"]:
            break
        run *= cs["shape"][dim]
    if cs["op"] == "sum_sq":      # a prologue: the row kernel, when the run is all axes
        return not cs["perm"] and 4 <= run <= 4096 and \
            len(cs["axes"]) == len(cs["shape"]) - min(cs["axes"]) and \
            (len(cs["axes"]) == 1 or cs["shape"][-1] % width_for(run) == 0)
    return not cs["perm"] and run >= REDUCE_WIDTH


def reduce_check(cs, dtype, seed) -> Case:
    rng = np.random.default_rng(seed)
    shape, perm = cs["shape"], cs["perm"]
    stored = tuple(shape[p] for p in perm) if perm else shape
    x = rng.standard_normal(stored).astype(dtype)
    terms = int(np.prod([shape[a] for a in cs["axes"]]))
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else \
        {"rtol": 1e-4, "atol": 1e-5 * max(1.0, terms ** 0.5)}
    return Case(reduce_fn(cs["op"], cs["axes"], cs["keepdim"], perm), [x], cs["id"], **tol)


def run_reduce(chunk, name="cpu", dtype=np.float32):
    """The reductions of ``chunk`` (same sum kernel path) in one graph."""
    path = sum_path(chunk[0])
    with dialect(name):
        check_all([reduce_check(cs, dtype, i) for i, cs in enumerate(chunk)],
                  expect=None if path is None else {"sum": name == "cpu" and path})


def by_path(p):
    return sum_path(p.values[0])


CASES = cpu_cases()


@pytest.mark.parametrize("chunk", chunks(CASES, 5, by_path))
def test_reduce_boundaries(chunk):
    run_reduce(chunk)


def test_block_cases_reach_the_generic_loops():
    """The block cases' sums run in the generic kernel's nested loops (a change of path
    would leave the blocks untested)."""
    chunk = [p.values[0] for p in block_cases()]
    with programs() as progs, dialect("cpu"):
        check_all([reduce_check(cs, np.float32, i) for i, cs in enumerate(chunk)], train=False)
    sources = [p.source for p in progs]
    assert sum(s.count("for (long k1 = 0;") + s.count("for (int k1 = 0;") for s in sources) \
        >= 3
    assert any("kb += 4096" in s or f"kb += {SUM_BLOCK}" in s for s in sources)


@pytest.mark.parametrize("chunk", chunks([c for c in CASES if c.id in (
    "vsum-sum-2x17-ax1", f"vsum-sum-3x{STEP + REDUCE_WIDTH + 1}-ax1")], 5, by_path))
def test_reduce_boundaries_float64(chunk):
    run_reduce(chunk, dtype=np.float64)


GPU_CASES = edge_cases(dialect_for("gpu")) + [
    c for c in CASES if c.id in ("vsum-sum-2x64-ax1", "ops-logsumexp-3x5x2x17-ax13-perm3021",
                                 "ops-argmax-3x5x2x17-ax2-keep")]


@pytest.mark.parametrize("chunk", chunks(GPU_CASES, 5, by_path))
def test_reduce_boundaries_gpu(chunk):
    run_reduce(chunk, name="gpu")


# logsumexp over a contiguous last run: the row kernel (codegen/rows.py) loads vectors of
# vec.width_for(run) lanes (4, 8 or 16) and adds the rest one by one
LSE_RUNS = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_rows(dtype):
    cases = [case((3 - i % 2, r), "logsumexp", (1,), keepdim=bool(i % 2), tag="lse")
             for i, r in enumerate(LSE_RUNS)]
    cases += [case((2, 3, 5), "logsumexp", (1, 2), tag="lse"),        # a run of two dims
              case((2, 3, 17), "logsumexp", (2,), keepdim=True, tag="lse")]
    with dialect("cpu"):
        check_all([reduce_check(cs.values[0], dtype, i) for i, cs in enumerate(cases)],
                  expect={"logsumexp": True})


def test_logsumexp_rows_special_values():
    """Rows with -inf (a masked position; all masked), +inf, NaN and a large maximum, on both
    sides of a vector: log_softmax and softmax against PyTorch, NaN where PyTorch gives
    NaN."""
    import torch

    import graphnn as G
    x = np.random.default_rng(0).standard_normal((10, 33)).astype(np.float32)
    x[0, 0] = -np.inf                 # in the first vector
    x[1, 32] = -np.inf                # in the tail
    x[2, :] = -np.inf                 # every position masked
    x[3, 5] = np.inf
    x[4, 32] = np.inf
    x[5, 3] = np.nan
    x[6, 32] = np.nan
    x[7, :32] = -np.inf               # one finite value, in the tail
    x[8, 2] = 150.0                   # exp(x - m) overflows unless m is the row's maximum
    x[9, 32] = 150.0
    with dialect("cpu"):
        for fn in ("log_softmax", "softmax"):
            got = getattr(G.nn.functional, fn)(G.tensor(x), dim=1).numpy()
            want = getattr(torch.nn.functional, fn)(torch.tensor(x), dim=1).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True,
                                       err_msg=fn)


# sums with a prologue or siblings over a contiguous last run: the row kernel
# (codegen/rows.sum_rows) from 4 elements, vectors of width_for(run) lanes and a scalar tail;
# a run over two dims takes it when the last dim is whole vectors
SUM_ROW_RUNS = [4, 5, 7, 8, 9, 15, 16, 17, 33, 70]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_rows(dtype):
    cases = [case((3 - i % 2, r), "sum_sq", (1,), keepdim=bool(i % 2), tag="rsum")
             for i, r in enumerate(SUM_ROW_RUNS)]
    cases += [case((2, 3, 16), "sum_sq", (1, 2), tag="rsum"),
              case((2, 3, 20), "sum_sq", (2,), keepdim=True, tag="rsum")]   # 3-D output
    with dialect("cpu"):
        check_all([reduce_check(cs.values[0], dtype, i) for i, cs in enumerate(cases)],
                  expect={"sum": True})


@pytest.mark.parametrize("shape", [(3, 4), (2, 7), (3, 16), (2, 17), (2, 33), (2, 3, 8),
                                   (2, 3, 5)])
def test_layer_norm_rows(shape):
    """layer_norm's statistics (a shifted sum and sum of squares in one loop) over the last
    one or two dims, forward and every gradient against PyTorch."""
    from graphnn import nn as gnn
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    norm = shape[1:] if len(shape) == 3 else shape[-1:]
    x = (rng.standard_normal(shape) * 3 + 5).astype(np.float32)   # a mean to shift away
    wt = rng.standard_normal(norm).astype(np.float32)
    b = rng.standard_normal(norm).astype(np.float32)

    def fn(lib, x, wt, b):
        f = gnn.functional if lib is not torch else torch.nn.functional
        return f.layer_norm(x, norm, wt, b, 1e-5)

    import torch
    with dialect("cpu"):
        check_all([Case(fn, [x, wt, b], f"layer_norm-{shape}", rtol=1e-4, atol=1e-4)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_rows_with_a_prologue(dtype):
    """Attention's ``softmax(scores * scale + mask)`` and ``log_softmax``: the scale and the
    mask are the row kernel's prologue, computed on the row's vectors in both passes."""
    import torch

    from graphnn import nn as gnn

    def fn(kind):
        def f(lib, x, mask):
            fn_ = (torch.nn.functional if lib is torch else gnn.functional)
            return getattr(fn_, kind)(x * 0.5 + mask, dim=-1)
        return f

    rng = np.random.default_rng(5)
    cases = []
    for i, r in enumerate(LSE_RUNS):
        x = rng.standard_normal((3, 2, r)).astype(dtype)
        mask = np.where(rng.random((2, r)) < 0.3, -1e4, 0).astype(dtype)
        cases.append(Case(fn("softmax" if i % 2 else "log_softmax"), [x, mask],
                          f"lse-prologue-{r}", nograd=(1,),
                          **({"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else {})))
    with dialect("cpu"):
        check_all(cases, expect={"logsumexp": True})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_store_exp_once(dtype):
    """softmax's row kernel stores exp(x - max) in its sum's pass and scales it by 1 / sum
    on the row's vectors (the tail recomputes exp(x - lse)): every run of LSE_RUNS, one
    row of several, with -inf, +inf and NaN in vectors and tails, forward and gradient
    against PyTorch; the kernel calls exp once per vector."""
    import torch

    import graphnn as G
    from graphnn.dump import compiled

    rng = np.random.default_rng(9)

    def softmax(lib, x):
        f = lib.nn.functional
        return f.softmax(x * 1.5, dim=-1)

    cases = []
    for i, r in enumerate(LSE_RUNS):
        x = rng.standard_normal((3 - i % 2, 2, r)).astype(dtype)
        cases.append(Case(softmax, [x], f"softmax-{r}",
                          **({"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else {})))
    special = rng.standard_normal((5, 33)).astype(dtype)
    special[0, :] = -np.inf
    special[1, 3], special[2, 32] = np.inf, np.nan
    special[3, 0], special[4, :32] = -np.inf, -np.inf
    with dialect("cpu"):
        check_all(cases, expect={"logsumexp": True})
        got = G.nn.functional.softmax(G.tensor(special), dim=1).numpy()

        class Softmax(G.nn.Module):
            def forward(self, x):
                return G.nn.functional.softmax(x, dim=1)

        m = Softmax()
        m(G.tensor(special))
        source = "".join(k.source for k in compiled(m).kernels)
    want = torch.nn.functional.softmax(torch.tensor(special), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)
    # the sum's vectors and tail, and the row part's tail: none in the row part's vectors
    assert "ssum" in source and source.count(" exp(") == 3, source


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_logsumexp_of_empty_and_masked_runs(name):
    """log(0) = -inf for an empty run and for a run of only -inf, NaN for a NaN among -inf
    (torch.logsumexp), in the row kernel (cpu) and the generic one (gpu); found by
    ``make fuzz`` (an empty run gave NaN)."""
    import torch

    import graphnn as G
    from tests.kernel_check import logsumexp

    x = np.zeros((4, 17), np.float32)
    x[0] = -np.inf
    x[1] = -np.inf
    x[1, 16] = np.nan
    x[2, 3] = -np.inf
    x[3, :8] = -np.inf
    with dialect(name):
        for arr in (x, np.zeros((3, 0), np.float32)):
            got = logsumexp(G, G.tensor(arr), (1,)).numpy()
            want = logsumexp(torch, torch.tensor(arr), (1,)).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def test_sums_with_a_work_group_gpu(monkeypatch):
    """The GPU dialect's work-group sums (codegen/workgroup.py::reduce_groups): runs one
    below, at and past MIN_RUN (the generic kernel below it) and around the run where the
    group grows from GROUP / 4 to GROUP, over the innermost axis; a leading axis with few
    outputs (a work-group) and many (the generic kernel); a symbolic run; and layer norm's
    fused statistics (sibling sums, a prologue and an epilogue) over long rows."""
    from graphnn import nn as gnn
    from graphnn.codegen.workgroup import GROUP, MIN_RUN

    monkeypatch.setenv("GRAPHNN_CL_OPTIONS", "-cl-opt-disable")
    rng = np.random.default_rng(11)
    lengths = [MIN_RUN - 1, MIN_RUN, MIN_RUN + 1, 4 * GROUP - 1, 4 * GROUP, 4 * GROUP + 1]
    cases = [Case(reduce_fn("sum", (1,), False), [rng.standard_normal((3, n))
                                                  .astype(np.float32)], f"row{n}")
             for n in lengths]
    cases += [Case(reduce_fn("sum", (0,), True), [rng.standard_normal((MIN_RUN + 3, 5))
                                                  .astype(np.float32)], "few-columns"),
              Case(reduce_fn("sum", (0, 2), False), [rng.standard_normal((7, 2, MIN_RUN + 5))
                                                     .astype(np.float32)], "two-axes")]

    def norm(n):    # one function per case: check_all finds a case by equality
        def fn(lib, x, wt, b):
            f = gnn.functional if lib is not torch else torch.nn.functional
            return f.layer_norm(x, (n,), wt, b, 1e-5)
        return fn

    import torch
    for n in (MIN_RUN + 1, 4 * GROUP + 3):
        x = (rng.standard_normal((5, n)) * 3 + 5).astype(np.float32)
        cases.append(Case(norm(n), [x, rng.standard_normal(n).astype(np.float32),
                                 rng.standard_normal(n).astype(np.float32)],
                          f"layer_norm-{n}", rtol=1e-4, atol=1e-4))
    with dialect("gpu"), programs() as built:
        check_all(cases)
    grouped = sum(p.source.count("red0[l] = acc0") for p in built)
    assert grouped >= 10, grouped
    # symbolic: a batch of rows
    with dialect("gpu"), programs() as built:
        check_all([Case(reduce_fn("sum", (0,), False),
                        [rng.standard_normal((MIN_RUN + 7,)).astype(np.float32)], "symbolic")])
    assert any("red0[l] = acc0" in p.source for p in built)


def test_column_sums():
    """The CPU dialect's column kernel (codegen/columns.py): sums over every dim but the
    last, with columns a multiple of 4, 8 and 16 (each vector width it picks) and not a
    multiple of 4 (the generic kernel), rows one below, at and past the summation block,
    three dims, keepdim, and the shape of a layer norm's weight and bias gradients: two
    sibling sums, one with a product of normalised rows as its prologue, and an epilogue.
    (The columns must be static: a layer's weight is a parameter, not a graph input.)"""
    from graphnn.codegen.families import SUM_BLOCK

    rng = np.random.default_rng(5)
    shapes = [((5, 4), False), ((3, 12), True), ((7, 16), False), ((2, 40), False),
              ((SUM_BLOCK - 1, 8), False), ((SUM_BLOCK + 1, 4), True),
              ((2, SUM_BLOCK // 2 + 1, 8), False), ((3, 5, 6), False)]
    cases = [Case(reduce_fn("sum", tuple(range(len(s) - 1)), keep),
                  [rng.standard_normal(s).astype(np.float32)], f"cols-{s}-{keep}")
             for s, keep in shapes]

    def norm_grads():   # one function per case: check_all finds a case by equality
        def fn(lib, x, dy):
            xhat = (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + 1e-5).sqrt()
            return (dy * xhat).sum(0) + 2 * dy.sum(0)
        return fn

    for rows, n in ((9, 48), (33, 20)):
        cases.append(Case(norm_grads(), [(rng.standard_normal((rows, n)) * 2 + 1)
                                       .astype(np.float32),
                                       rng.standard_normal((rows, n)).astype(np.float32)],
                          f"norm-grads-{rows}x{n}", rtol=1e-4, atol=1e-4))
    with dialect("cpu"), programs() as built:
        check_all(cases)
    column = sum(p.source.count("int c0 = gid *") for p in built)
    assert column >= 7, column
