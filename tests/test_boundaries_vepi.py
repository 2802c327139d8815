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

from graphnn.codegen.blocking import kvec_blocking, nvec_blocking
from graphnn.codegen.vec import width_for
from tests.kernel_check import ROW_MAX, ROWS, Case, check_all, chunks, dialect, dialect_for, \
    matmul

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


def ragged_rows() -> list[int]:
    """Row lengths whose last vector is partial, one per (width, lanes stored) pair."""
    seen = {}
    for w in ROWS:
        if w % width_for(w) and w <= ROW_MAX:
            seen.setdefault((width_for(w), w % width_for(w)), w)
    return sorted(seen.values())


def param(kind, tag, **kw):
    cid = f"{kind}-" + "-".join(f"{k}{v}" for k, v in kw.items()) + (f"-{tag}" if tag else "")
    return pytest.param(dict(kind=kind, id=cid, **kw), id=cid)


RAGGED = ragged_rows()
# conv rows through each epilogue (the output, in inference)
CONV = [param("conv", "", ow=w, ep=EPILOGUES[i % len(EPILOGUES)])
        for i, w in enumerate(RAGGED)]
# a residual (gradients, in training): its gradient is added in the conv input-gradient
# kernel's vector epilogue
RESIDUAL = [param("conv", "residual", ow=w, ep="bias_relu") for w in RAGGED[1::3]]


def conv_check(cs, residual, seed) -> Case:
    """conv (3x3, padding 1) through an epilogue; with ``residual`` plus its input."""
    rng = np.random.default_rng(seed)
    c, ow, ep = 2, cs["ow"], cs["ep"]
    x = rng.standard_normal((2, c, 3, ow)).astype(np.float32)
    wt = (rng.standard_normal((c, c, 3, 3)) / 5).astype(np.float32)
    extra = rng.standard_normal(extra_shape(ep, (2, c, 3, ow))).astype(np.float32)

    def fn(lib, x, wt, extra):
        y = lib.nn.functional.conv2d(x, wt, padding=1)
        return epilogue(lib, ep, y + x if residual else y, extra)

    return Case(fn, [x, wt, extra], cs["id"])


@pytest.mark.parametrize("chunk", chunks(CONV, 4))
def test_conv_vector_epilogue_boundaries(chunk):
    with dialect("cpu"):
        check_all([conv_check(cs, False, i) for i, cs in enumerate(chunk)], train=False,
                  expect={"conv2d": True})


@pytest.mark.parametrize("chunk", chunks(RESIDUAL, 4))
def test_conv_residual_epilogue_boundaries(chunk):
    with dialect("cpu"):
        check_all([conv_check(cs, True, i) for i, cs in enumerate(chunk)],
                  expect={"conv2d": True, "conv2d_input_grad": True})


def nvec_cases() -> list:
    """Column counts whose last tile is ragged, around each tile the blocking picks."""
    dl = dialect_for("cpu")
    tiles = sorted({nvec_blocking(dl, 1, n).cols for n in range(8, 4 * ROW_MAX)})
    ns = sorted({t + d for t in tiles for d in (1, t + 1)})
    rows = max(nvec_blocking(dl, m, 64).rows for m in range(1, 64))
    ms = cycle([rows + 1, 2 * rows + 1, rows - 1])
    eps = cycle(EPILOGUES)
    return [param("nvec", "", m=next(ms), n=n, ep=next(eps)) for n in ns]


def kvec_cases() -> list:
    """A work-item's column count below, at and past its block (n % block), with K one
    vector and a remainder; float64 for the masks (long vectors)."""
    d = dialect_for("cpu")
    k = 2 * kvec_blocking(d, 1, 1, 64)[0] + 1
    rn = max(kvec_blocking(d, 1, n, k)[2] for n in range(1, 64))
    eps = cycle(EPILOGUES)
    # 2: a vector of 2; rn - 1: scalar epilogue; rn + 1, 2 rn + 1: a ragged last tile
    out = [param("kvec", "", m=5, n=n, k=k, ep=next(eps))
           for n in sorted({2, rn - 1, rn + 1, 2 * rn + 1})]
    return out + [param("kvec", "f64", m=5, n=rn + 1, k=k, ep="mask")]


def gemm_check(cs, seed) -> Case:
    """nvec: a @ b; kvec: x @ W^T as F.linear computes it (W read along K); then an
    epilogue."""
    rng = np.random.default_rng(seed)
    dtype = np.float64 if cs["id"].endswith("f64") else np.float32
    m, n, ep, k = cs["m"], cs["n"], cs["ep"], cs.get("k", 5)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if cs["kind"] == "kvec" else (k, n)).astype(dtype)
    extra = rng.standard_normal(extra_shape(ep, (m, n))).astype(dtype)

    def fn(lib, a, b, extra):
        return epilogue(lib, ep, matmul(lib, a, b, tb=cs["kind"] == "kvec"), extra)

    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else {}
    return Case(fn, [a, b, extra], cs["id"], **tol)


@pytest.mark.parametrize("chunk", chunks(nvec_cases() + kvec_cases(), 5))
def test_gemm_vector_epilogue_boundaries(chunk):
    with dialect("cpu"):
        check_all([gemm_check(cs, i) for i, cs in enumerate(chunk)], expect={"matmul": True})
