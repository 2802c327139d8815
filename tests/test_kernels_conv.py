"""Convolution and pooling kernels against PyTorch: forward values and gradients of input,
weight and bias, over shapes and attributes that hit both the row-vectorised and the
generic code paths."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close, pair

F = G.nn.functional
TF = torch.nn.functional

# the direct kernels' cases: none runs as a GEMM (tests/test_conv_gemm.py covers those)
pytestmark = pytest.mark.usefixtures("direct_convolutions")


def _conv_case(rng, n, c, h, w, oc, k, bias=True, dtype=np.float32, **kw):
    groups = kw.get("groups", 1)
    kh, kw_ = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((oc, c // groups, kh, kw_)) * 0.3).astype(dtype)
    b = rng.standard_normal(oc).astype(dtype) if bias else None
    gx, tx = pair(x, True)
    gw, tw = pair(wt, True)
    gb, tb = pair(b, True) if bias else (None, None)
    return (gx, gw, gb), (tx, tw, tb), kw


def _check_grads(ours, ref, out_g, out_t, rng, rtol=1e-4, atol=1e-4):
    r = rng.standard_normal(tuple(out_t.shape)).astype(np.float32 if out_t.dtype ==
                                                         torch.float32 else np.float64)
    gr, tr = pair(r)
    (out_g * gr).sum().backward()
    (out_t * tr).sum().backward()
    for i, (a, b) in enumerate(zip(ours, ref)):
        if b is not None:
            assert_close(a.grad, b.grad, rtol=rtol, atol=atol, what=f"grad {i}")


CONV_CASES = [
    # (n, c, h, w, oc, k, kwargs)
    (2, 1, 12, 12, 6, 5, {}),
    (2, 3, 9, 13, 4, 3, {"stride": 2}),
    (1, 2, 7, 7, 3, 3, {"padding": 1}),
    (2, 2, 8, 11, 4, 3, {"padding": 2, "bias": False}),
    (1, 3, 13, 13, 2, 3, {"dilation": 2}),
    (2, 4, 10, 9, 6, 3, {"groups": 2}),
    (1, 2, 28, 28, 3, (3, 5), {"stride": (1, 2), "padding": (2, 1)}),
    (1, 1, 6, 70, 2, 3, {}),               # wider than the unrolled row path
    (1, 2, 5, 5, 3, 1, {"padding": 1, "stride": 3, "dilation": 2}),
]


@pytest.mark.parametrize("n,c,h,w,oc,k,kw", CONV_CASES)
def test_conv2d_forward_and_grads(rng, n, c, h, w, oc, k, kw):
    kw = dict(kw)
    bias = kw.pop("bias", True)
    (gx, gw, gb), (tx, tw, tb), kw = _conv_case(rng, n, c, h, w, oc, k, bias, **kw)
    out_g = F.conv2d(gx, gw, gb, **kw)
    out_t = TF.conv2d(tx, tw, tb, **kw)
    assert_close(out_g, out_t, what="conv2d")
    _check_grads((gx, gw, gb), (tx, tw, tb), out_g, out_t, rng)


# Shapes whose weight-grad work-items own several output channels and kernel rows
# (conv.py::_wgrad_blocks), with the bias gradient summed in the same kernel or absent.
WGRAD_BLOCK_CASES = [
    (2, 6, 10, 10, 16, 3, {"padding": 1, "dilation": 2, "stride": (2, 1)}),   # all rows
    (2, 8, 9, 9, 16, 3, {"groups": 2, "padding": 1}),
    (2, 12, 8, 8, 12, 3, {"groups": 3, "padding": 2, "stride": 2, "bias": False}),
    (2, 6, 12, 11, 8, (4, 3), {"padding": (1, 0)}),                        # row pairs
    (2, 6, 12, 11, 8, (4, 3), {"padding": (2, 0), "stride": 2}),
    (3, 2, 7, 22, 8, 3, {}),                                               # ragged 2nd vector
]


@pytest.mark.parametrize("n,c,h,w,oc,k,kw", WGRAD_BLOCK_CASES)
def test_conv2d_weight_grad_blocked(rng, n, c, h, w, oc, k, kw):
    test_conv2d_forward_and_grads(rng, n, c, h, w, oc, k, kw)


def test_conv2d_weight_grad_blocked_float64(rng):
    (gx, gw, gb), (tx, tw, tb), _ = _conv_case(rng, 2, 6, 9, 9, 16, 3, dtype=np.float64)
    out_g = F.conv2d(gx, gw, gb, padding=1)
    out_t = TF.conv2d(tx, tw, tb, padding=1)
    _check_grads((gx, gw, gb), (tx, tw, tb), out_g, out_t, rng, rtol=1e-10, atol=1e-10)

def test_conv2d_float64(rng):
    (gx, gw, gb), (tx, tw, tb), _ = _conv_case(rng, 2, 2, 9, 10, 3, 3, dtype=np.float64)
    out_g = F.conv2d(gx, gw, gb, padding=1)
    out_t = TF.conv2d(tx, tw, tb, padding=1)
    assert_close(out_g, out_t, rtol=1e-10, atol=1e-10, what="conv2d f64")
    _check_grads((gx, gw, gb), (tx, tw, tb), out_g, out_t, rng, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_conv2d_bias_activation(rng, act):
    (gx, gw, gb), (tx, tw, tb), _ = _conv_case(rng, 2, 3, 11, 11, 4, 3)
    out_g = getattr(F, act)(F.conv2d(gx, gw, gb))
    out_t = getattr(torch, act)(TF.conv2d(tx, tw, tb))
    assert_close(out_g, out_t, what=act)
    _check_grads((gx, gw, gb), (tx, tw, tb), out_g, out_t, rng)


POOL_TAIL_CASES = [
    # conv (n, c, h, w, oc, k, conv kwargs), pool kwargs
    ((2, 1, 32, 32, 6, 5, {}), {"kernel_size": 2}),
    ((2, 3, 15, 15, 4, 3, {}), {"kernel_size": 2}),                 # odd: row/col 12 uncovered
    ((1, 2, 12, 13, 3, 3, {"padding": 1}), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 14, 14, 3, 3, {}), {"kernel_size": 2, "stride": 3}),    # gaps between windows
    ((2, 2, 11, 11, 4, 2, {}), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ((1, 2, 13, 13, 2, 3, {}), {"kernel_size": 2, "dilation": 2}),
]


@pytest.mark.parametrize("conv,pool", POOL_TAIL_CASES)
def test_conv_relu_maxpool(rng, conv, pool):
    n, c, h, w, oc, k, ckw = conv
    (gx, gw, gb), (tx, tw, tb), ckw = _conv_case(rng, n, c, h, w, oc, k, **ckw)
    out_g = F.max_pool2d(F.relu(F.conv2d(gx, gw, gb, **ckw)), **pool)
    out_t = TF.max_pool2d(torch.relu(TF.conv2d(tx, tw, tb, **ckw)), **pool)
    assert_close(out_g, out_t, what="conv+relu+pool")
    _check_grads((gx, gw, gb), (tx, tw, tb), out_g, out_t, rng)


POOL_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 9, 9), {"kernel_size": 2, "stride": 3}),
    ((2, 2, 7, 7), {"kernel_size": 2, "ceil_mode": True}),
    ((1, 1, 10, 10), {"kernel_size": 3, "stride": 1}),               # overlapping windows
    ((1, 2, 9, 11), {"kernel_size": 2, "dilation": 2}),
    ((1, 1, 4, 70), {"kernel_size": 2}),
]


@pytest.mark.parametrize("shape,pool", POOL_CASES)
def test_max_pool2d_and_grad(rng, shape, pool):
    x = rng.standard_normal(shape).astype(np.float32)
    gx, tx = pair(x, True)
    out_g = F.max_pool2d(gx, **pool)
    out_t = TF.max_pool2d(tx, **pool)
    assert_close(out_g, out_t, what="max_pool2d")
    _check_grads((gx,), (tx,), out_g, out_t, rng)


@pytest.mark.parametrize("pool", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1},
                                  {"kernel_size": 3, "stride": 2, "ceil_mode": True}])
def test_max_pool2d_grad_ties(rng, pool):
    # few distinct values: many windows hold several maxima; the gradient goes to the first
    x = rng.integers(0, 3, (2, 2, 9, 9)).astype(np.float32)
    gx, tx = pair(x, True)
    out_g = F.max_pool2d(F.relu(gx - 1), **pool)
    out_t = TF.max_pool2d(torch.relu(tx - 1), **pool)
    assert_close(out_g, out_t, what="pool ties")
    _check_grads((gx,), (tx,), out_g, out_t, rng)


@pytest.mark.parametrize("n,c,h,w,oc,k,kw", [case for case in WGRAD_BLOCK_CASES
                                             if case[6].get("bias", True)])
def test_conv2d_module_bias_grad_in_weight_grad_kernel(rng, n, c, h, w, oc, k, kw):
    """A module's bias gradient is summed inside the blocked weight-grad kernel."""
    from graphnn.runtime import get_runtime
    from graphnn.runtime.opencl import Profiler
    ours = G.nn.Conv2d(c, oc, k, **kw)
    ref = torch.nn.Conv2d(c, oc, k, **kw)
    ref.load_state_dict({name: torch.tensor(v.detach().numpy())
                         for name, v in ours.state_dict().items()})
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    r = rng.standard_normal(tuple(ref(torch.tensor(x)).shape)).astype(np.float32)
    rt = get_runtime()
    rt.finish()
    rt.profiler = Profiler()
    (ours(G.tensor(x)) * G.tensor(r)).sum().backward()
    rt.finish()
    prof, rt.profiler = rt.profiler, None
    (ref(torch.tensor(x)) * torch.tensor(r)).sum().backward()
    assert any("conv2d_weight_grad_sum" in name for name in prof.times)
    assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4, what="weight grad")
    assert_close(ours.bias.grad, ref.bias.grad, rtol=1e-4, atol=1e-4, what="bias grad")


def test_conv2d_input_grad_second_channel_block(rng):
    """Input channels beyond the first channel block read their own weights: with a 1x1
    kernel and dY = 1, dX[0, c, 0, 0] is W[0, c, 0, 0] (it read W[0, c % block] before)."""
    x = rng.standard_normal((1, 32, 4, 4)).astype(np.float32)
    wt = rng.standard_normal((1, 32, 1, 1)).astype(np.float32)
    (gx, tx), (gw, tw) = pair(x, True), pair(wt)
    F.conv2d(gx, gw).sum().backward()
    TF.conv2d(tx, tw).sum().backward()
    assert_close(gx.grad, tx.grad, what="input grad")
    assert_close(gx.grad[0, :, 0, 0], wt[0, :, 0, 0], what="input grad = weights")
