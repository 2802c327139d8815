"""GEMM kernels against PyTorch: transpose combinations, ragged sizes, fused epilogues and
gradients (which exercise the other layouts)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close, pair

SIZES = [(1, 3, 17), (3, 17, 64), (17, 1, 130), (64, 130, 3), (130, 64, 17), (17, 130, 1)]


def _operand(rng, rows, cols, trans, dtype=np.float32):
    shape = (cols, rows) if trans else (rows, cols)
    g, t = pair(rng.standard_normal(shape).astype(dtype), True)
    return (g.t() if trans else g), (t.t() if trans else t), g, t


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m,n,k", SIZES)
def test_matmul_transposes(rng, ta, tb, m, n, k):
    ag, at_, ag0, at0 = _operand(rng, m, k, ta)
    bg, bt, bg0, bt0 = _operand(rng, k, n, tb)
    out_g, out_t = ag @ bg, at_ @ bt
    assert_close(out_g, out_t, rtol=1e-4, atol=1e-4, what="matmul")
    r = rng.standard_normal((m, n)).astype(np.float32)
    rg, rt = pair(r)
    (out_g * rg).sum().backward()
    (out_t * rt).sum().backward()
    assert_close(ag0.grad, at0.grad, rtol=1e-4, atol=1e-4, what="grad a")
    assert_close(bg0.grad, bt0.grad, rtol=1e-4, atol=1e-4, what="grad b")


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("m,n,k", [(64, 120, 576), (17, 10, 84), (3, 130, 17)])
def test_linear_bias_activation(rng, act, m, n, k):
    x = rng.standard_normal((m, k)).astype(np.float32)
    wt = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    (xg, xt), (wg, wt_), (bg, bt) = pair(x, True), pair(wt, True), pair(b, True)
    fg = getattr(G.nn.functional, act)
    out_g = fg(G.nn.functional.linear(xg, wg, bg))
    out_t = getattr(torch, act)(torch.nn.functional.linear(xt, wt_, bt))
    assert_close(out_g, out_t, rtol=1e-4, atol=1e-5, what=act)
    r = rng.standard_normal((m, n)).astype(np.float32)
    rg, rt = pair(r)
    (out_g * rg).sum().backward()
    (out_t * rt).sum().backward()
    for ours, ref, what in ((xg, xt, "x"), (wg, wt_, "w"), (bg, bt, "b")):
        assert_close(ours.grad, ref.grad, rtol=1e-4, atol=1e-4, what=f"grad {what}")


def test_matmul_float64(rng):
    ag, at_, _, _ = _operand(rng, 17, 33, False, np.float64)
    bg, bt, _, _ = _operand(rng, 33, 20, True, np.float64)
    assert_close(ag @ bg, at_ @ bt, rtol=1e-12, atol=1e-12, what="f64 kvec")
    cg, ct, _, _ = _operand(rng, 33, 40, False, np.float64)
    assert_close(ag @ cg, at_ @ ct, rtol=1e-12, atol=1e-12, what="f64 nvec")
