"""Convolutions as GEMMs over im2col columns (``ir/passes/conv_gemm.py``): the rule on both
sides of each of its thresholds, and lowered convolutions (forward, input, weight and bias
gradients) against PyTorch over strides, paddings, dilations, kernels wider than tall,
positions that no output reads, rows around the column kernels' work-group sizes, a
symbolic batch, float64 and a transposed convolution."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.codegen.unfold import MAX_LOCAL
from graphnn.ir.ops import REGISTRY
from tests.kernel_check import Case, check_all, conv_path, programs

conv_gemm = sys.modules["graphnn.ir.passes.conv_gemm"]


def _at(stride=1, groups=1):
    return {"stride": (stride, stride), "padding": (1, 1), "dilation": (1, 1), "groups": groups}


@pytest.mark.parametrize("lanes", [16, 8, 4])
def test_rule_on_both_sides_of_each_threshold(lanes):
    rule = conv_gemm.as_gemm
    fwd_max = int(conv_gemm.ROW_VECTORS["conv2d"] * lanes)
    grad_max = int(conv_gemm.ROW_VECTORS["conv2d_input_grad"] * lanes)
    wide = grad_max + 1

    def shapes(c, o, ow, k=3):
        return (8, c, ow, ow), (o, c, k, k), (8, o, ow, ow)

    lo = conv_gemm.MIN_CHANNELS
    for op in conv_gemm.OPS:
        # short rows: lowered from MIN_CHANNELS channels on, in and out
        assert rule(op, *shapes(lo, lo, 2), _at(), lanes)
        assert not rule(op, *shapes(lo - 1, lo, 2), _at(), lanes)
        assert not rule(op, *shapes(lo, lo - 1, 2), _at(), lanes)
        # strided: lowered whatever the rows; grouped: never
        assert rule(op, *shapes(64, 64, wide), _at(stride=2), lanes)
        assert not rule(op, *shapes(64, 64, 2), _at(stride=2, groups=2), lanes)
    assert rule("conv2d", *shapes(64, 64, fwd_max), _at(), lanes)
    assert not rule("conv2d", *shapes(64, 64, fwd_max + 1), _at(), lanes)
    for op in ("conv2d_input_grad", "conv2d_weight_grad"):
        assert rule(op, *shapes(64, 64, grad_max), _at(), lanes)
        assert not rule(op, *shapes(64, 64, wide), _at(), lanes)
    # columns up to MAX_COLUMNS elements: C*kH*kW * N*OH*OW
    n_at = conv_gemm.MAX_COLUMNS // (lo * 9 * 4)
    assert rule("conv2d", (n_at, lo, 2, 2), (lo, lo, 3, 3), (n_at, lo, 2, 2), _at(), lanes)
    assert not rule("conv2d", (n_at + 1, lo, 2, 2), (lo, lo, 3, 3), (n_at + 1, lo, 2, 2),
                    _at(), lanes)
    # a 1 x 1 kernel's weight gradient is lowered on wide rows too; its other two are not
    assert rule("conv2d_weight_grad", *shapes(64, 64, wide, k=1), _at(), lanes)
    assert not rule("conv2d_input_grad", *shapes(64, 64, wide, k=1), _at(), lanes)


@pytest.fixture
def every_conv_lowered():
    """Every ungrouped convolution runs as a GEMM, whatever this device's vectors, so the
    cases reach the columns however few their channels."""
    with conv_path("gemm"):
        yield


def _case(n, c, o, h, w, k, stride=1, padding=0, dilation=1, bias=True, dtype=np.float32,
          seed=0) -> Case:
    rng = np.random.default_rng(seed)
    kh, kw = (k, k) if isinstance(k, int) else k
    fan = c * kh * kw
    arrays = [rng.standard_normal((n, c, h, w)).astype(dtype),
              (rng.standard_normal((o, c, kh, kw)) / fan ** 0.5).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(o).astype(dtype))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)

    def fn(lib, x, wt, *b):
        return lib.nn.functional.conv2d(x, wt, b[0] if b else None, **kwargs)

    tol = dict(rtol=1e-9, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    return Case(fn, arrays, f"n{n}c{c}o{o}h{h}w{w}k{k}s{stride}p{padding}d{dilation}", **tol)


CASES = [
    _case(2, 3, 4, 7, 9, 3, padding=1),
    # a kernel wider than tall, stride and dilation differing by axis
    _case(1, 2, 3, 8, 11, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), seed=1),
    # 1 x 1, strided: every other input position is read by no output
    _case(3, 4, 2, 5, 5, 1, stride=2, bias=False, seed=2),
    # a stride past the kernel: whole rows of the input unread
    _case(2, 2, 2, 6, 7, 2, stride=3, seed=3),
    # padding past half the kernel, dilated and strided
    _case(1, 3, 2, 9, 8, 3, stride=2, padding=2, dilation=2, seed=4),
    # rows of the column kernels' work-group size, one past it, and a prime (groups of 1)
    _case(1, 2, 2, 3, MAX_LOCAL, (1, 3), padding=(0, 1), seed=5),
    _case(1, 2, 2, 3, MAX_LOCAL + 1, (1, 3), padding=(0, 1), seed=6),
    _case(1, 2, 2, 3, 67, (1, 3), padding=(0, 1), seed=7),
    # rows of one element: the row kernel's input row has stride 1 along H (its address
    # was misparsed there, a wild read: found by the fuzz tests)
    _case(2, 3, 2, 4, 1, (3, 1), padding=(1, 0), seed=14),
]


def test_lowered_convolutions_match_torch(every_conv_lowered):
    with programs() as progs:
        check_all(CASES)
    ops = {op for p in progs for launch in p.launches for op in launch.ops}
    assert {"im2col", "col2im", "matmul"} <= ops
    assert not ops & set(conv_gemm.OPS), "a convolution kept its direct kernel"


def test_lowered_float64_and_eager(every_conv_lowered):
    check_all([_case(2, 3, 2, 6, 5, 3, stride=2, padding=1, dtype=np.float64, seed=8)])
    # eager (no trace): the batch is a plain size
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    gx, gw = G.tensor(x, requires_grad=True), G.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    with programs() as progs:
        y = G.nn.functional.conv2d(gx, gw, stride=2, padding=1)
        (y * y).sum().backward()
    ty = torch.nn.functional.conv2d(tx, tw, stride=2, padding=1)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert any("im2col" in launch.ops for p in progs for launch in p.launches)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_lowered_transposed_convolution(every_conv_lowered):
    """ConvTranspose2d's forward is a convolution's input gradient: its columns' adjoint."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 4, 3, 4)).astype(np.float32)
    w = (rng.standard_normal((4, 3, 3, 3)) / 6).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)

    def fn(lib, x, w, b):
        return lib.nn.functional.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                  output_padding=1)

    with programs() as progs:
        check_all([Case(fn, [x, w, b], "conv_transpose2d")])
    assert any("col2im" in launch.ops for p in progs for launch in p.launches)


def test_column_references_match_unfold_and_fold(rng):
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    at = {"kernel": (3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}
    cols = REGISTRY["im2col"].ref([x], at)
    unfold = torch.nn.functional.unfold(torch.tensor(x), (3, 2), dilation=(1, 2),
                                        padding=(1, 0), stride=(2, 1)).numpy()
    c, kh, kw, n, oh, ow = cols.shape
    # unfold: (N, C*kH*kW, OH*OW); the columns: (C, kH, kW, N, OH, OW)
    np.testing.assert_array_equal(cols.reshape(c * kh * kw, n, oh * ow).transpose(1, 0, 2),
                                  unfold)
    back = REGISTRY["col2im"].ref([cols], {**at, "shape": x.shape})
    fold = torch.nn.functional.fold(torch.tensor(unfold), (7, 6), (3, 2), dilation=(1, 2),
                                    padding=(1, 0), stride=(2, 1)).numpy()
    np.testing.assert_allclose(back, fold, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_lowered_16_bit_storage(every_conv_lowered, dtype):
    """16-bit columns: the row kernel converts each vector and lane where it reads and
    writes; the product computes in float32, as PyTorch's CPU convolution does."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 5, 19)).astype(np.float32)
    w = (rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32)
    gx = G.tensor(x).to(getattr(G, dtype))
    gw = G.tensor(w).to(getattr(G, dtype))
    tx = torch.tensor(x).to(getattr(torch, dtype))
    tw = torch.tensor(w).to(getattr(torch, dtype))
    with programs() as progs:
        y = G.nn.functional.conv2d(gx, gw, padding=1)
    ref = torch.nn.functional.conv2d(tx, tw, padding=1)
    assert y.dtype == getattr(G, dtype)
    assert any("im2col" in launch.ops for p in progs for launch in p.launches)
    tol = 1e-2 if dtype == "float16" else 4e-2
    np.testing.assert_allclose(y.float().numpy(), ref.float().numpy(), rtol=tol, atol=tol)


def test_forward_epilogue_joins_the_product(every_conv_lowered):
    """The elementwise ops after a lowered forward (bias, a folded BatchNorm, ReLU) are the
    product's epilogue: computed on ``W @ cols`` itself, not through its permuted view."""
    rng = np.random.default_rng(12)
    seq = lambda lib: lib.nn.Sequential(  # noqa: E731
        lib.nn.Conv2d(3, 4, 3, stride=2, padding=1), lib.nn.BatchNorm2d(4), lib.nn.ReLU(),
        lib.nn.Conv2d(4, 2, 1))
    ours, ref = seq(G), seq(torch)
    state = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32)
             for k, v in ref.state_dict().items() if v.dtype == torch.float32}
    state["1.running_var"] = np.abs(state["1.running_var"]) + 0.5
    ref.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    ours.load_state_dict({k: G.tensor(v) for k, v in state.items()}, strict=False)
    ours.eval(), ref.eval()
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    with G.no_grad(), programs() as progs:
        y = ours(G.tensor(x))
    with torch.no_grad():
        want = ref(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)
    ops = [launch.ops for p in progs for launch in p.launches]
    assert any("matmul" in o and "relu" in o and "sqrt" in o for o in ops), ops


def test_forward_epilogue_gradients(every_conv_lowered):
    """Training through the epilogue: bias and ReLU in the product's layout, the mask read
    back in the backward."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = (rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)

    def fn(lib, x, w, b):
        return lib.relu(lib.nn.functional.conv2d(x, w, b, padding=1)) * 2.0 + 1.0

    check_all([Case(fn, [x, w, b], "conv-bias-relu")])
