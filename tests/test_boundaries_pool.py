"""Max pooling on both sides of the pooling kernels' boundaries, against PyTorch: the
max_pool2d gradient's 2x2 vector path (input rows around every vector width ``width_for``
picks, odd rows and columns no window covers, ties, the relu mask in its epilogue), its
scalar row path (other windows that do not overlap) and the generic kernel (rows past
``row_max``); overlapping windows, whose gradient is ``max_pool2d_argmax`` and
``scatter_set``; the pooling tail fused into a convolution (inference), whose 2x2
windows are taken from even/odd lanes of the conv row vectors; and the 2x2 forward by
rows, with an elementwise prologue (a per-channel scale-and-shift and ReLU, BatchNorm's in
training) that it stores when the windows tile the input."""
from __future__ import annotations

import numpy as np
import pytest

from tests.kernel_check import ROW_MAX, ROWS, WIDEST, Case, check_all, chunks, dialect

VECTOR_2X2 = dict(kernel_size=2)


def pool_case(shape, pool, relu=False, ties=False, tag=""):
    attrs = ",".join(f"{k[0]}{v}" for k, v in pool.items())
    cid = f"{tag}-{'x'.join(map(str, shape))}-{attrs}" + ("-relu" if relu else "") + \
        ("-ties" if ties else "")
    return pytest.param(dict(shape=shape, pool=pool, relu=relu, ties=ties, id=cid), id=cid)


def non_overlapping(pool) -> bool:
    k, s, d = (pool.get(key, dflt) for key, dflt in (("kernel_size", 2), ("stride", None),
                                                      ("dilation", 1)))
    k, s, d = [(v, v) if isinstance(v, int) else v for v in (k, s or k, d)]
    return all(s[i] >= (k[i] - 1) * d[i] + 1 for i in range(2))


def cases() -> list:
    out = []
    # 2x2 windows: input rows of every boundary length (1 has no window); odd heights leave
    # a row no window covers; every other case fuses the relu mask into the gradient
    for i, w in enumerate(r for r in ROWS if r >= 2):
        out.append(pool_case((2 if i % 2 else 1, 2, 4 + i % 2, w), VECTOR_2X2, relu=i % 2 == 1,
                             ties=i % 3 == 0, tag="2x2"))
    # other windows that do not overlap (scalar rows), at and past row_max
    out += [pool_case((1, 2, 7, w), dict(kernel_size=3, stride=3, padding=1), tag="rows")
            for w in (WIDEST + 1, ROW_MAX, ROW_MAX + 1)]
    out += [pool_case((1, 2, 6, WIDEST + 1), dict(kernel_size=2, stride=3), relu=True,
                      tag="rows"),
            pool_case((2, 1, 9, WIDEST + 1), dict(kernel_size=2, stride=3, dilation=2),
                      tag="rows"),
            pool_case((1, 2, 7, WIDEST - 1), dict(kernel_size=2, ceil_mode=True), ties=True,
                      tag="rows"),
            pool_case((1, 1, 8, 2 * WIDEST + 1), dict(kernel_size=(2, 3), stride=(2, 3)),
                      tag="rows"),
            # overlapping windows: argmax and scatter
            pool_case((1, 2, 7, WIDEST + 1), dict(kernel_size=3, stride=2, padding=1),
                      ties=True, tag="overlap"),
            pool_case((1, 1, 5, WIDEST - 1), dict(kernel_size=3, stride=1), relu=True,
                      tag="overlap")]
    return out


def pool_check(cs, dtype, seed) -> Case:
    rng = np.random.default_rng(seed)
    # ties: few distinct values, so windows hold several maxima (the first one gets dY)
    x = rng.integers(-2, 3, cs["shape"]) if cs["ties"] else rng.standard_normal(cs["shape"])

    def fn(lib, x):
        return lib.nn.functional.max_pool2d(lib.relu(x) if cs["relu"] else x, **cs["pool"])

    return Case(fn, [x.astype(dtype)], cs["id"])


def row_path(cs) -> bool:
    return cs["shape"][3] <= ROW_MAX and non_overlapping(cs["pool"])


def forward_row_path(cs) -> bool:
    """The forward's row kernel: 2x2 windows whose last ones are whole."""
    return cs["shape"][3] <= ROW_MAX and cs["pool"] == VECTOR_2X2


def run_pool(chunk, name="cpu", dtype=np.float32):
    """The poolings of ``chunk`` (same gradient kernel path) in one graph. Overlapping
    windows take their gradient by argmax and scatter (max_pool2d's VJP), not
    max_pool2d_grad."""
    expect = {}
    if any(non_overlapping(cs["pool"]) for cs in chunk):
        expect["max_pool2d_grad"] = name == "cpu" and row_path(chunk[0])
    if not all(non_overlapping(cs["pool"]) for cs in chunk):
        expect["scatter_set"] = False
    expect["max_pool2d"] = name == "cpu" and forward_row_path(chunk[0])
    with dialect(name):
        check_all([pool_check(cs, dtype, i) for i, cs in enumerate(chunk)], expect=expect)


def by_path(p):
    return row_path(p.values[0]), forward_row_path(p.values[0])


CASES = cases()


@pytest.mark.parametrize("chunk", chunks(CASES, 4, by_path))
def test_max_pool2d_boundaries(chunk):
    run_pool(chunk)


@pytest.mark.parametrize("chunk", chunks([c for c in CASES if c.id.startswith("2x2") and
                                          c.values[0]["shape"][3] in (WIDEST - 1, WIDEST + 1)],
                                         4))
def test_max_pool2d_boundaries_float64(chunk):
    run_pool(chunk, dtype=np.float64)


def tail_case(ow, pool, tag):
    cid = f"{tag}-ow{ow}-" + ",".join(f"{k[0]}{v}" for k, v in pool.items())
    return pytest.param(dict(ow=ow, pool=pool, id=cid), id=cid)


# conv (3x3, padding 1: ow = input width) + bias + relu + pool, fused in inference
TAIL_CASES = [tail_case(w, VECTOR_2X2, "tail2x2") for w in ROWS if w >= 2] + \
    [tail_case(w, dict(kernel_size=3, stride=2, padding=1), "tail") for w in (WIDEST + 1,)] + \
    [tail_case(w, dict(kernel_size=2, ceil_mode=True), "tail") for w in (WIDEST - 1,)]


def tail_check(cs, seed) -> Case:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 5, cs["ow"])).astype(np.float32)
    wt = (rng.standard_normal((3, 2, 3, 3)) / 4).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)

    def fn(lib, x, wt, b):
        F = lib.nn.functional
        return F.max_pool2d(lib.relu(F.conv2d(x, wt, b, padding=1)), **cs["pool"])

    return Case(fn, [x, wt, b], cs["id"])


@pytest.mark.parametrize("chunk", chunks(TAIL_CASES, 4, lambda p: p.values[0]["ow"] <= ROW_MAX))
def test_conv_pool_tail_boundaries(chunk):
    with dialect("cpu"):
        check_all([tail_check(cs, i) for i, cs in enumerate(chunk)], train=False,
                  expect={"conv2d": chunk[0]["ow"] <= ROW_MAX})


def prologue_case(w, h):
    cid = f"prologue-{h}x{w}"
    return pytest.param(dict(w=w, h=h, id=cid), id=cid)


# relu(x * scale + shift) before 2x2 windows: even sizes store the prologue's values from
# the pool kernel; odd ones leave inputs no window reads, so in training the prologue is a
# kernel of its own, and in inference (nothing stored) the pool computes it
PROLOGUE_CASES = [prologue_case(w, 4 + i % 2) for i, w in enumerate(r for r in ROWS if r >= 2)]


def prologue_check(cs, seed) -> Case:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, cs["h"], cs["w"])).astype(np.float32)
    scale = rng.standard_normal((3, 1, 1)).astype(np.float32)
    shift = rng.standard_normal((3, 1, 1)).astype(np.float32)

    def fn(lib, x, scale, shift):
        return lib.nn.functional.max_pool2d(lib.relu(x * scale + shift), 2)

    return Case(fn, [x, scale, shift], cs["id"])


@pytest.mark.parametrize("chunk", chunks(PROLOGUE_CASES, 4, lambda p: p.values[0]["w"] <= ROW_MAX))
def test_max_pool2d_prologue_boundaries(chunk):
    with dialect("cpu"):
        check_all([prologue_check(cs, i) for i, cs in enumerate(chunk)], inference=True,
                  expect={"max_pool2d": chunk[0]["w"] <= ROW_MAX})


# the generic kernels (no row paths): one shape of each window kind
GPU_CASES = [next(c for c in CASES if c.id.startswith(kind)) for kind in
             ("2x2", "rows-1x2x7", "overlap")] + [c for c in CASES if "cTrue" in c.id]


@pytest.mark.parametrize("chunk", chunks(GPU_CASES, 4))
def test_max_pool2d_boundaries_gpu(chunk):
    run_pool(chunk, name="gpu")
