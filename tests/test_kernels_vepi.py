"""Vector epilogues (codegen/vepi.py) against PyTorch: GEMM and convolution epilogues with
operands that vary along the row (contiguous, strided), broadcast ones, masks from
comparisons, ragged last tiles and rows, float32 and float64."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.dump import dump_model
from tests.conftest import assert_close, pair

DTYPES = [np.float32, np.float64]


class StridedAdd(G.nn.Module):          # B contiguous along N; c read transposed (strided)
    def forward(self, a, b, c, m):
        return G.relu(a @ b + c.t()) * m


class MaskedBias(G.nn.Module):          # a mask from an outside operand, a broadcast bias
    def forward(self, a, b, c, m):
        return G.where(m > 0, a @ b + c, m)


class MaskedT(G.nn.Module):             # A @ B^T (dot-product layout), relu then a mask
    def forward(self, a, b, c, m):
        return G.where(m > 0, G.relu(a @ b.t() - c), m * 2.0)


def _torch(name, a, b, c, m):
    if name == "StridedAdd":
        return torch.relu(a @ b + c.t()) * m
    if name == "MaskedBias":
        return torch.where(m > 0, a @ b + c, m)
    return torch.where(m > 0, torch.relu(a @ b.t() - c), m * 2.0)


GEMM_CASES = [
    (StridedAdd, [(17, 10), (10, 84), (84, 17), (17, 84)]),     # ragged rows and columns
    (StridedAdd, [(16, 7), (7, 64), (64, 16), (16, 64)]),       # whole tiles
    (MaskedBias, [(9, 5), (5, 40), (40,), (9, 40)]),
    (MaskedT, [(17, 33), (10, 33), (10,), (17, 10)]),           # ragged 4-column tile
    (MaskedT, [(8, 20), (16, 20), (16,), (8, 16)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,shapes", GEMM_CASES)
def test_gemm_vector_epilogue(rng, dtype, cls, shapes):
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = cls()(*[G.tensor(x) for x in arrays])
    ref = _torch(cls.__name__, *[torch.tensor(x) for x in arrays])
    assert_close(ours, ref, rtol=1e-4, atol=1e-4, what=cls.__name__)
    if dtype == np.float32:
        names = [ln.kernel for d in dump_model(cls(), shapes) for ln in d.program.launches]
        assert len(names) == 1 and "matmul" in names[0], names


class ConvAdd(G.nn.Module):             # a per-element operand along the conv row
    def __init__(self, c, oc, k):
        super().__init__()
        self.conv = G.nn.Conv2d(c, oc, k)

    def forward(self, x, r):
        return G.relu(self.conv(x) - r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c,h,w,oc,k", [(2, 1, 12, 32, 6, 5), (1, 3, 9, 11, 4, 3),
                                          (1, 2, 6, 70, 2, 3)])
def test_conv_vector_epilogue(rng, dtype, n, c, h, w, oc, k):
    G.manual_seed(0)
    mod = ConvAdd(c, oc, k)
    if dtype == np.float64:
        mod = mod.double()
    ref = torch.nn.Conv2d(c, oc, k).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(mod.conv.weight.detach().numpy()))
        ref.bias.copy_(torch.tensor(mod.conv.bias.detach().numpy()))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    r = rng.standard_normal((n, oc, h - k + 1, w - k + 1)).astype(dtype)
    (gx, tx), (gr, tr) = pair(x, True), pair(r)
    out_g, out_t = mod(gx, gr), torch.relu(ref(tx) - tr)
    assert_close(out_g, out_t, rtol=1e-4, atol=1e-4, what="conv epilogue")
    g = rng.standard_normal(tuple(out_t.shape)).astype(dtype)
    (out_g * G.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    assert_close(gx.grad, tx.grad, rtol=1e-4, atol=1e-4, what="grad x")


@pytest.mark.parametrize("pool", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2},
                                  {"kernel_size": 2, "ceil_mode": True}])
def test_conv_relu_pool_float64(rng, pool):
    x = rng.standard_normal((2, 2, 15, 21))
    wt = rng.standard_normal((5, 2, 3, 3)) * 0.3
    b = rng.standard_normal(5)
    (gx, tx), (gw, tw), (gb, tb) = pair(x, True), pair(wt, True), pair(b, True)
    F, TF = G.nn.functional, torch.nn.functional
    out_g = F.max_pool2d(F.relu(F.conv2d(gx, gw, gb)), **pool)
    out_t = TF.max_pool2d(torch.relu(TF.conv2d(tx, tw, tb)), **pool)
    assert_close(out_g, out_t, rtol=1e-10, atol=1e-10, what="conv+relu+pool f64")
    g = rng.standard_normal(tuple(out_t.shape))
    (out_g * G.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    for ours, ref in ((gx, tx), (gw, tw), (gb, tb)):
        assert_close(ours.grad, ref.grad, rtol=1e-9, atol=1e-9, what="grad f64")


def test_horizontal_parts_as_vectors():
    """Independent elementwise kernels that read only inputs are parts of one horizontal
    kernel; a part whose rows can run as vectors (``vepi.row_plan``) has a work-item per
    vector. Row lengths on both sides of every vector width (ragged last vectors), rows
    shorter than ``ROW_MIN`` and a 0-d part (scalar parts) side by side, forward and every
    gradient (whose kernels are horizontal too) against PyTorch."""
    from graphnn.codegen.blocking import row_lanes
    from graphnn.codegen.vepi import ROW_MIN
    from tests.kernel_check import Case, around, check_all, dialect, programs

    rng = np.random.default_rng(7)
    with dialect("cpu") as d:
        width = row_lanes(d, 4, 1 << 10)
        lengths = sorted({n for w in (4, 8, width) for n in around(w)} | {ROW_MIN - 1})
        cases = [Case(lambda L, x: (x * 1.5 - 0.25).relu(),
                      [rng.standard_normal((3, n)).astype(np.float32)], f"rows of {n}")
                 for n in lengths]
        cases.append(Case(lambda L, x: x * x + 1.0, [np.float32(rng.standard_normal())],
                          "0-d"))
        with programs() as built:
            check_all(cases)
    horizontal = [p.source for p in built if "if (gid < " in p.source]
    assert horizontal and any("long jv = (gid - " in s for s in horizontal)
