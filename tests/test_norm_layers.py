"""Normalization layers against PyTorch 2.13: one row per configuration (constructor and
input shape). Each row checks repr, state_dict keys, two training steps (outputs, input and
parameter gradients, running statistics) and eval mode; invalid inputs raise PyTorch's
error type and message."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

ROWS = [
    # (id, constructor taking the library, input shape)
    ("layernorm", lambda L: L.nn.LayerNorm(5), (3, 5)),
    ("layernorm_2d", lambda L: L.nn.LayerNorm((4, 5), eps=1e-3), (2, 3, 4, 5)),
    ("layernorm_noaffine", lambda L: L.nn.LayerNorm(5, elementwise_affine=False), (2, 4, 5)),
    ("layernorm_nobias", lambda L: L.nn.LayerNorm(5, bias=False), (3, 5)),
    ("groupnorm", lambda L: L.nn.GroupNorm(2, 6), (2, 6, 3, 4)),
    ("groupnorm_1d", lambda L: L.nn.GroupNorm(3, 6, affine=False), (4, 6, 5)),
    ("groupnorm_one", lambda L: L.nn.GroupNorm(1, 4, eps=1e-2), (3, 4)),
    ("instancenorm1d", lambda L: L.nn.InstanceNorm1d(3), (2, 3, 5)),
    ("instancenorm1d_unbatched", lambda L: L.nn.InstanceNorm1d(3, affine=True), (3, 7)),
    ("instancenorm2d_stats", lambda L: L.nn.InstanceNorm2d(3, affine=True,
                                                           track_running_stats=True),
     (2, 3, 4, 4)),
    ("instancenorm3d", lambda L: L.nn.InstanceNorm3d(2, momentum=0.3,
                                                     track_running_stats=True), (2, 2, 2, 3, 3)),
    ("lrn", lambda L: L.nn.LocalResponseNorm(3), (2, 5, 4, 4)),
    ("lrn_3d_even", lambda L: L.nn.LocalResponseNorm(4, alpha=0.1, beta=0.5, k=2.0), (2, 6, 5)),
]


def _copy_params(g, t):
    with torch.no_grad():
        for p in t.parameters():
            p.uniform_(-1.5, 1.5)
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})


@pytest.mark.parametrize("name,make,shape", ROWS, ids=[r[0] for r in ROWS])
def test_norm_layer_matches_pytorch(name, make, shape):
    rng = np.random.default_rng(11)
    t, g = make(torch), make(G)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    _copy_params(g, t)
    for step in range(2):
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        r = rng.standard_normal(shape).astype(np.float32)
        xt, xg = torch.tensor(x, requires_grad=True), G.tensor(x, requires_grad=True)
        yt, yg = t(xt), g(xg)
        assert_close(yg, yt, what=f"step {step} output")
        (yt * torch.tensor(r)).sum().backward()
        (yg * G.tensor(r)).sum().backward()
        assert_close(xg.grad, xt.grad, atol=1e-4, what=f"step {step} input grad")
        for (pname, p), q in zip(g.named_parameters(), t.parameters()):
            assert_close(p.grad, q.grad, atol=1e-4, what=f"step {step} {pname}.grad")
        for k, v in t.state_dict().items():
            assert_close(g.state_dict()[k], v, what=f"step {step} {k}")
    t.eval()
    g.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close(g(G.tensor(x)), t(torch.tensor(x)), what="eval output")


ERRORS = [
    ("layernorm_shape", lambda L: L.nn.LayerNorm(4)(L.ones(2, 3))),
    ("groupnorm_divisible", lambda L: L.nn.GroupNorm(3, 4)),
    ("groupnorm_channels", lambda L: L.nn.GroupNorm(2, 4)(L.ones(2, 6, 3))),
    ("instancenorm_dims", lambda L: L.nn.InstanceNorm1d(3)(L.ones(2, 3, 4, 5))),
    ("instancenorm_affine_channels", lambda L: L.nn.InstanceNorm1d(3, affine=True)(
        L.ones(2, 4, 5))),
    ("lrn_dims", lambda L: L.nn.LocalResponseNorm(2)(L.ones(2, 3))),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_norm_layer_errors_match_pytorch(name, fn):
    with pytest.raises(Exception) as ref:
        fn(torch)
    with pytest.raises(Exception) as ours:
        fn(G)
    assert type(ours.value) is type(ref.value)
    ours_text, ref_text = (" ".join(str(e.value).split()) for e in (ours, ref))
    assert ours_text.endswith(ref_text), (ours_text, ref_text)


def test_instancenorm_warns_on_channel_mismatch_without_affine():
    for L in (G, torch):
        with pytest.warns(UserWarning, match="does not match num_features"):
            L.nn.InstanceNorm1d(3)(L.ones(2, 4, 5))


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize_matches_pytorch(p, dim):
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    x[1] = 0.0                           # a zero vector: the eps clamp, zero gradient
    results = []
    for L in (G, torch):
        xt = L.tensor(x, requires_grad=True)
        y = L.nn.functional.normalize(xt, p=p, dim=dim)
        (y * L.tensor(x + 1)).sum().backward()
        results.append((y.detach().numpy().copy(), xt.grad.numpy().copy()))
    assert_close(results[0][0], results[1][0], what="normalize")
    assert_close(results[0][1], results[1][1], atol=1e-4, what="grad")


@pytest.mark.parametrize("expr", [
    "x.var()", "x.var(1)", "x.var(0, unbiased=False)", "x.var(1, keepdim=True, correction=0)",
    "x.std()", "x.std(1)", "L.std(x, 0, keepdim=True)", "x.norm()", "x.norm(p=1, dim=1)",
    "L.norm(x, 3, 0)", "x.norm(float('inf'), 1)", "x.norm(0)", "x.norm(dim=(0, 1))",
])
def test_reduction_statistics_match_pytorch(expr):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    x[0, 1] = 0.0
    results = []
    for L in (G, torch):
        xt = L.tensor(x, requires_grad=True)
        y = eval(expr, {"x": xt, "L": L})
        y.sum().backward()
        # norm(0) is a count: PyTorch gives no gradient at all, graphnn zeros
        grad = np.zeros_like(x) if xt.grad is None else xt.grad.numpy().copy()
        results.append((y.detach().numpy().copy(), grad))
    assert_close(results[0][0], results[1][0], what="value")
    assert_close(results[0][1], results[1][1], atol=1e-4, what="grad")


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.nn.BatchNorm1d(4), (64, 4)),
    (lambda L: L.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda L: L.nn.LayerNorm(16), (6, 16)),
], ids=["batchnorm1d", "batchnorm2d", "layernorm"])
def test_statistics_of_data_far_from_zero(make, shape):
    """Mean 1000, standard deviation 1: the one-pass statistics (sums of x - K, K a value of
    each run) keep float32 precision where E[x^2] - E[x]^2 would lose all of it. Compared with
    PyTorch in float64 on the same float32 values."""
    rng = np.random.default_rng(5)
    x = (1000 + rng.standard_normal(shape)).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32)
    t, g = make(torch).double(), make(G)
    xt, xg = torch.tensor(x, dtype=torch.float64, requires_grad=True), \
        G.tensor(x, requires_grad=True)
    yt, yg = t(xt), g(xg)
    assert_close(yg, yt.float(), atol=2e-3, what="output")
    (yt * torch.tensor(r, dtype=torch.float64)).sum().backward()
    (yg * G.tensor(r)).sum().backward()
    assert_close(xg.grad, xt.grad.float(), atol=2e-3, what="input grad")
    for (pname, p), q in zip(g.named_parameters(), t.parameters()):
        assert_close(p.grad, q.grad.float(), atol=2e-3, what=f"{pname}.grad")
    for k, v in t.state_dict().items():
        if v.dtype == torch.float64:
            assert_close(g.state_dict()[k], v.float(), what=k)
