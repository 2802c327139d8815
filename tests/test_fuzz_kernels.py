"""Differential fuzzing of the kernel families against PyTorch: random shapes, strides,
channel counts, groups, padding, dilation, kernel sizes, transposes, layouts and fused
epilogues; forward and every gradient (tests/kernel_check.py).

The suite runs a small fixed (derandomised) subset on small shapes. A larger random run:
``GRAPHNN_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -p no:xdist tests/test_fuzz_kernels.py``
(each example compiles a few OpenCL programs; about a second each on PoCL). Hypothesis
prints the failing example and its seed; the shapes then go to the boundary tables."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernel_check import check, conv_path, dialect, reduce_fn

EXAMPLES = int(os.environ.get("GRAPHNN_FUZZ_EXAMPLES", "0"))
BIG = EXAMPLES > 0
# sizes: the long run reaches past every vector width, channel block and row_max (64)
ROW = 70 if BIG else 20
COL = 16 if BIG else 8
CHANNELS = st.one_of(st.integers(1, 6), st.integers(7, 40)) if BIG else st.integers(1, 5)
DTYPES = st.sampled_from(["float32", "float32", "float64"])
DIALECTS = ["cpu", "gpu"] if BIG else ["cpu"]


def fuzz(ci_examples: int):
    return settings(max_examples=EXAMPLES or ci_examples, deadline=None,
                    derandomize=not BIG, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def _tol(dtype: str, terms: int = 1) -> dict:
    """Tolerances for sums of ``terms`` products of O(1) values."""
    if dtype == "float64":
        return {"rtol": 1e-9, "atol": 1e-9}
    return {"rtol": 1e-4, "atol": 1e-4 * max(1.0, (terms / 64) ** 0.5)}


def _window(draw, size: int, max_kernel: int = 5):
    """(kernel, stride, padding, dilation) of one spatial dim whose window fits ``size``."""
    k = draw(st.integers(1, max_kernel))
    d = draw(st.integers(1, 2))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    if d * (k - 1) + 1 > size + 2 * p:
        k, d = 1, 1
    return k, s, p, d


# -- convolution: forward, input, weight and bias gradients, fused epilogues -----------------
@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    icg, ocg = draw(CHANNELS), draw(CHANNELS)
    h, w = draw(st.integers(1, COL)), draw(st.integers(1, ROW))
    kh, sh, ph, dh = _window(draw, h)
    kw, sw, pw, dw = _window(draw, w)
    return dict(n=draw(st.integers(1, 2)), c=icg * groups, oc=ocg * groups, h=h, w=w,
                kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                groups=groups, bias=draw(st.booleans()),
                tail=draw(st.sampled_from(["none", "relu", "relu_pool", "mask"])),
                pool=(draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                      draw(st.booleans())),
                x_transposed=draw(st.booleans()), dtype=draw(DTYPES),
                dialect=draw(st.sampled_from(DIALECTS)), gemm=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 16)))


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@fuzz(3)
@given(conv_cases())
def test_fuzz_conv2d(case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    n, c, oc, h, w = (case[k] for k in ("n", "c", "oc", "h", "w"))
    kh, kw = case["kernel"]
    x = rng.standard_normal((n, c, w, h) if case["x_transposed"] else (n, c, h, w)).astype(dt)
    fan = c // case["groups"] * kh * kw
    wt = (rng.standard_normal((oc, c // case["groups"], kh, kw)) / fan ** 0.5).astype(dt)
    arrays = [x, wt] + ([rng.standard_normal(oc).astype(dt)] if case["bias"] else [])
    oh = _conv_out(h, kh, case["stride"][0], case["padding"][0], case["dilation"][0])
    ow = _conv_out(w, kw, case["stride"][1], case["padding"][1], case["dilation"][1])
    pk, ps, ceil = case["pool"]
    pool = dict(kernel_size=pk, stride=ps, padding=pk // 2 if pk > 2 else 0, ceil_mode=ceil)
    tail = case["tail"]
    if tail == "relu_pool" and pk > min(oh, ow):
        tail = "relu"
    if tail == "mask":
        arrays.append(rng.standard_normal((n, oc, oh, ow)).astype(dt))
    attrs = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}

    def fn(lib, x, wt, *rest):
        F = lib.nn.functional
        if case["x_transposed"]:
            x = x.transpose(2, 3)
        y = F.conv2d(x, wt, rest[0] if case["bias"] else None, **attrs)
        if tail in ("relu", "relu_pool"):
            y = lib.relu(y)
        if tail == "relu_pool":
            y = F.max_pool2d(y, **pool)
        if tail == "mask":
            m = rest[-1]
            y = lib.where(m > 0, y, m)
        return y

    with dialect(case["dialect"]), conv_path("gemm" if case["gemm"] else None):
        check(fn, arrays, inference=tail == "relu_pool", seed=case["seed"], what=str(case),
              **_tol(dt, fan))


# -- max_pool2d and its gradient ------------------------------------------------------------
@st.composite
def pool_cases(draw):
    h, w = draw(st.integers(1, COL)), draw(st.integers(1, ROW))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if dh * (kh - 1) + 1 > h:
        kh, dh = 1, 1
    if dw * (kw - 1) + 1 > w:
        kw, dw = 1, 1
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w),
                kernel=(kh, kw), stride=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
                padding=(draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))),
                dilation=(dh, dw), ceil_mode=draw(st.booleans()), relu=draw(st.booleans()),
                ties=draw(st.booleans()), dtype=draw(DTYPES),
                dialect=draw(st.sampled_from(DIALECTS)), seed=draw(st.integers(0, 2 ** 16)))


@fuzz(3)
@given(pool_cases())
def test_fuzz_max_pool2d(case):
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    # ties: few distinct values, so windows hold several maxima (the first one gets dY)
    x = rng.integers(-2, 3, shape) if case["ties"] else rng.standard_normal(shape)
    attrs = {k: case[k] for k in ("stride", "padding", "dilation", "ceil_mode")}

    def fn(lib, x):
        if case["relu"]:
            x = lib.relu(x)
        return lib.nn.functional.max_pool2d(x, case["kernel"], **attrs)

    with dialect(case["dialect"]):
        check(fn, [x.astype(case["dtype"])], inference=False, seed=case["seed"],
              what=str(case), **_tol(case["dtype"]))


# -- matmul: every transposition layout, batched, fused epilogues ------------------------------
@st.composite
def gemm_cases(draw):
    dims = st.integers(1, 2 * ROW)
    return dict(m=draw(dims), n=draw(dims), k=draw(dims), ta=draw(st.booleans()),
                tb=draw(st.booleans()), batch=draw(st.sampled_from([0, 0, 1, 3])),
                epilogue=draw(st.sampled_from(["none", "bias_relu", "add_t", "mask"])),
                dtype=draw(DTYPES), dialect=draw(st.sampled_from(DIALECTS)),
                seed=draw(st.integers(0, 2 ** 16)))


@fuzz(4)
@given(gemm_cases())
def test_fuzz_matmul(case):
    rng = np.random.default_rng(case["seed"])
    m, n, k, bt, dt = case["m"], case["n"], case["k"], case["batch"], case["dtype"]
    lead = (bt,) if bt else ()
    a = rng.standard_normal(lead + ((k, m) if case["ta"] else (m, k)))
    b = rng.standard_normal(lead + ((n, k) if case["tb"] else (k, n))) / k ** 0.5
    arrays = [a.astype(dt), b.astype(dt)]
    epi = case["epilogue"]
    if epi == "bias_relu":
        arrays.append(rng.standard_normal(n).astype(dt))
    elif epi == "add_t":        # an operand read along the row with a stride
        arrays.append(rng.standard_normal(lead + (n, m)).astype(dt))
    elif epi == "mask":
        arrays.append(rng.standard_normal(lead + (m, n)).astype(dt))

    def fn(lib, a, b, *rest):
        if case["ta"]:
            a = a.transpose(-1, -2)
        if case["tb"]:
            b = b.transpose(-1, -2)
        y = a @ b
        if epi == "bias_relu":
            y = lib.relu(y + rest[0])
        elif epi == "add_t":
            y = y + rest[0].transpose(-1, -2)
        elif epi == "mask":
            y = lib.where(rest[0] > 0, y, rest[0] * 2.0)
        return y

    with dialect(case["dialect"]):
        check(fn, arrays, inference=False, seed=case["seed"], what=str(case),
              **_tol(dt, k))


# -- reductions over any axes -----------------------------------------------------------------
REDUCTIONS = ["sum", "mean", "sum_sq", "amax", "amin", "argmax", "max_dim", "logsumexp"]


@st.composite
def reduce_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, COL)) for _ in range(rank - 1)) + \
        (draw(st.integers(1, 2 * ROW)),)
    op = draw(st.sampled_from(REDUCTIONS))
    if op in ("argmax", "max_dim"):
        axes = (draw(st.integers(0, rank - 1)),)
    else:
        axes = tuple(sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1))))
    return dict(shape=shape, op=op, axes=axes, keepdim=draw(st.booleans()),
                perm=tuple(draw(st.permutations(range(rank)))), dtype=draw(DTYPES),
                dialect=draw(st.sampled_from(DIALECTS)), seed=draw(st.integers(0, 2 ** 16)))


@fuzz(5)
@given(reduce_cases())
def test_fuzz_reductions(case):
    rng = np.random.default_rng(case["seed"])
    shape, perm = case["shape"], case["perm"]
    x = rng.standard_normal(tuple(shape[p] for p in perm)).astype(case["dtype"])
    fn = reduce_fn(case["op"], case["axes"], case["keepdim"], perm)
    terms = int(np.prod([shape[a] for a in case["axes"]]))
    with dialect(case["dialect"]):
        check(fn, [x], inference=False, seed=case["seed"], what=str(case),
              **_tol(case["dtype"], terms))

