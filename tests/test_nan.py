"""NaN propagates as in PyTorch 2.13: through relu, maximum/minimum, amax/amin/argmax and
every max-pooling kernel (the generic window loop, the conv + pool tail, the pooled-row
gradient kernels); a window's NaN takes its gradient."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
import graphnn.nn.functional as F

from tests.conftest import assert_close


def _with_nans(shape, seed=0, every=7):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    x.reshape(-1)[3::every] = np.nan
    return x


def test_elementwise_and_reductions_propagate_nan():
    x, y = _with_nans((5, 9)), _with_nans((5, 9), seed=1, every=5)
    for L in (G, torch):
        a, b = L.tensor(x), L.tensor(y)
        out = [L.relu(a), L.maximum(a, b), L.minimum(a, b), a.amax(1), a.amin(0),
               a.argmax(1), a.argmin(0), a.max(1).values, a.max(1).indices]
        if L is G:
            ours = out
        else:
            ref = out
    for i, (o, r) in enumerate(zip(ours, ref)):
        assert_close(o, r, what=f"output {i}")


@pytest.mark.parametrize("kernel,stride,padding,shape", [
    (2, 2, 0, (2, 3, 8, 16)),       # pooled-row gradient kernel, vector 2x2 path
    (3, 3, 1, (1, 2, 9, 7)),        # pooled-row gradient kernel, scalar path
    (3, 1, 1, (1, 2, 6, 5)),        # overlapping windows: generic kernels
])
def test_max_pool2d_nan_values_indices_and_gradient(kernel, stride, padding, shape):
    x = _with_nans(shape, every=11)
    r = np.random.default_rng(2).standard_normal(
        torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding).shape
    ).astype(np.float32)
    res = {}
    for L in (G, torch):
        xt = L.tensor(x, requires_grad=True)
        y, idx = L.nn.functional.max_pool2d(xt, kernel, stride, padding, return_indices=True)
        (L.nn.functional.max_pool2d(xt, kernel, stride, padding) * L.tensor(r)).sum().backward()
        res[L] = (y, idx, xt.grad)
    for what, o, t in zip(("output", "indices", "grad"), res[G], res[torch]):
        assert_close(o, t, what=what)


def test_conv_pool_tail_propagates_nan():
    """conv2d + max_pool2d in one kernel (the pool as the conv's tail), scalar and vector."""
    for width in (6, 16):
        x = _with_nans((2, 3, 8, width), every=13)
        res = {}
        for L in (torch, G):
            L.manual_seed(0)
            conv = L.nn.Conv2d(3, 4, 3, padding=1)
            if L is G:
                conv.load_state_dict({k: v.detach().numpy() for k, v in ref_state.items()})
            else:
                ref_state = conv.state_dict()
            m = L.nn.Sequential(conv, L.nn.MaxPool2d(2))
            xt = L.tensor(x, requires_grad=True)
            y = m(xt)
            y.sum().backward()
            res[L] = (y, xt.grad, conv.weight.grad)
        for what, o, t in zip(("output", "input grad", "weight grad"), res[G], res[torch]):
            assert_close(o, t, rtol=1e-4, atol=1e-4, what=f"width {width} {what}")


def test_softmax_rows_with_infinities():
    """The online log-sum-exp behind softmax, log_softmax and cross_entropy: rows that start
    with -inf (a left-padding mask), are all -inf, hold +inf or NaN, at a short and a long
    row length; values and the gradient of log_softmax where torch's is finite."""
    inf, nan = np.inf, np.nan
    rows = [[-inf, 1.0, 2.0], [-inf, -inf, 3.0], [1.0, -inf, 2.0], [-inf, -inf, -inf],
            [inf, 1.0, 2.0], [nan, 1.0, 2.0], [0.5, 1.0, 2.0]]
    for reps in (1, 7):
        x = np.array([r * reps for r in rows], np.float32)
        g, t = G.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        for fn in (lambda L, v: v.softmax(1), lambda L, v: v.log_softmax(1)):
            a, b = fn(G, g).detach().numpy(), fn(torch, t).detach().numpy()
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        y = np.array([2, 2, 2, 0, 1, 1, 0])
        ce_g = F.cross_entropy(g, G.tensor(y), reduction="none")
        ce_t = torch.nn.functional.cross_entropy(t, torch.tensor(y), reduction="none")
        np.testing.assert_allclose(ce_g.detach().numpy(), ce_t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, equal_nan=True)
        finite = np.array([0, 1, 2, 6])
        ce_g[G.tensor(finite)].sum().backward()
        ce_t[torch.tensor(finite)].sum().backward()
        assert_close(g.grad.numpy()[finite], t.grad.numpy()[finite], rtol=1e-5, atol=1e-6)
