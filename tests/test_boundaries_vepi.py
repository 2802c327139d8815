"""Vector epilogues (codegen/vepi.py) at ragged last vectors, against PyTorch: bias and relu,
comparison masks in ``where``, per-element operands read contiguously or with a stride,
``maximum``/``minimum``/``neg``/``div``, on the convolution rows (last vector known at
codegen time), the convolution input gradient (a residual's gradient added in its
epilogue), the N-vector GEMM (last column tile known only at run time) and the K-vector
GEMM (a work-item's columns as one short vector). The row lengths are the ragged ones
around every vector width (w-1, w+1, 2w+1) and the GEMM tiles, from codegen's choosers."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pytest

from graphnn.codegen.gemm import kvec_blocking, nvec_blocking
from graphnn.codegen.vec import width_for
from tests.kernel_check import ROW_MAX, ROWS, check, dialect, matmul

EPILOGUES = ["bias_relu", "mask", "strided", "minmax"]


def epilogue(lib, name, y, extra):
    """``y`` (N, C, H, W) or (M, N) through one epilogue; ``extra`` is y-shaped (for
    'strided': its last two dims swapped, read back as a transposed view)."""
    if name == "bias_relu":
        return lib.relu(y + extra)
    if name == "mask":
        return lib.where(extra > 0, y, extra * 2.0)
    if name == "strided":
        return y - extra.transpose(-1, -2)
    return lib.minimum(lib.maximum(y, -extra), y / 2.0 + 1.0)


def extra_shape(name, shape):
    if name == "bias_relu":         # one bias per channel (conv) or column (gemm)
        return (shape[1], 1, 1) if len(shape) == 4 else (shape[-1],)
    return shape[:-2] + shape[-2:][::-1] if name == "strided" else shape


RAGGED = [w for w in ROWS if w % width_for(w) and w <= ROW_MAX]


def conv_cases() -> list:
    return [pytest.param(w, EPILOGUES[i % len(EPILOGUES)], i % 2 == 0,
                         id=f"conv-ow{w}-{EPILOGUES[i % len(EPILOGUES)]}" +
                         ("-residual" if i % 2 == 0 else "")) for i, w in enumerate(RAGGED)]


@pytest.mark.parametrize("ow,ep,residual", [p.values for p in conv_cases()],
                         ids=[p.id for p in conv_cases()])
def test_conv_vector_epilogue_boundaries(ow, ep, residual):
    """conv (3x3, padding 1) through an epilogue; with ``residual`` the input is added to
    the result, so the input gradient kernel adds dY in its own (vector) epilogue."""
    rng = np.random.default_rng(0)
    c = 3
    x = rng.standard_normal((2, c, 4, ow)).astype(np.float32)
    wt = (rng.standard_normal((c, c, 3, 3)) / 5).astype(np.float32)
    extra = rng.standard_normal(extra_shape(ep, (2, c, 4, ow))).astype(np.float32)

    def fn(lib, x, wt, extra):
        y = lib.nn.functional.conv2d(x, wt, padding=1)
        return epilogue(lib, ep, y + x if residual else y, extra)

    with dialect("cpu"):
        check(fn, [x, wt, extra], inference=not residual, what=f"conv ow={ow} {ep}",
              expect={"conv2d": True, "conv2d_input_grad": True})


def nvec_cases() -> list:
    """Column counts whose last tile is ragged, around each tile the blocking picks."""
    tiles = sorted({w * c for w, c, _ in (nvec_blocking(1, n) for n in range(8, 4 * ROW_MAX))})
    ns = sorted({t + d for t in tiles for d in (1, t + 1)})
    rows = max(nvec_blocking(m, 64)[2] for m in range(1, 64))
    ms = cycle([rows + 1, 2 * rows + 1, rows - 1])
    eps = cycle(EPILOGUES)
    return [pytest.param(next(ms), n, next(eps), id=f"nvec-n{n}") for n in ns]


@pytest.mark.parametrize("m,n,ep", [p.values for p in nvec_cases()],
                         ids=[f"{p.id}-{p.values[2]}" for p in nvec_cases()])
def test_gemm_nvec_epilogue_boundaries(m, n, ep):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, 5)).astype(np.float32)
    b = rng.standard_normal((5, n)).astype(np.float32)
    extra = rng.standard_normal(extra_shape(ep, (m, n))).astype(np.float32)
    with dialect("cpu"):
        check(lambda lib, a, b, e: epilogue(lib, ep, a @ b, e), [a, b, extra], inference=True,
              what=f"nvec m={m} n={n} {ep}", expect={"matmul": True})


def kvec_cases() -> list:
    """A work-item's column count below, at and past its block (n % block), with K one
    vector and a remainder."""
    k = 2 * kvec_blocking(1, 1, 64)[0] + 1
    rn = max(kvec_blocking(1, n, k)[2] for n in range(1, 64))
    eps = cycle(EPILOGUES)
    return [pytest.param(n, k, next(eps), id=f"kvec-n{n}-k{k}") for n in
            sorted({1, 2, rn - 1, rn, rn + 1, 2 * rn + 1})]


KVEC = [pytest.param(*p.values, "float32", id=f"{p.id}-{p.values[2]}") for p in kvec_cases()]
# float64: the comparison masks are long vectors
KVEC += [pytest.param(*p.values, "float64", id=f"{p.id}-{p.values[2]}-f64")
         for p in kvec_cases() if p.values[2] == "mask"]


@pytest.mark.parametrize("n,k,ep,dtype", KVEC)
def test_gemm_kvec_epilogue_boundaries(n, k, ep, dtype):
    """x @ W^T as F.linear computes it (W read along K), through an epilogue."""
    rng = np.random.default_rng(0)
    m = 5
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    extra = rng.standard_normal(extra_shape(ep, (m, n))).astype(dtype)
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == "float64" else {}
    with dialect("cpu"):
        check(lambda lib, x, w, e: epilogue(lib, ep, matmul(lib, x, w, tb=True), e),
              [x, w, extra], inference=True, what=f"kvec n={n} {ep}", expect={"matmul": True},
              **tol)
