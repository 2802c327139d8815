"""``nn.init`` against PyTorch 2.13: fan computations and gains (values and errors),
deterministic fills equal to PyTorch's, random fills by their distributions (bounds,
moments, orthogonality, sparsity, truncation), no_grad semantics, warnings and errors.

Random fills cannot equal PyTorch's numbers (different generators), so they are checked
against the distribution PyTorch's documentation gives, with sample sizes that make the
bounds tight (60,000 draws: 5 standard errors of the mean are about 0.02 std)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import graphnn as G

N_ROWS, N_COLS = 200, 300      # 60,000 draws


def _moments(t) -> tuple[float, float]:
    a = t.detach().numpy().astype(np.float64)
    return float(a.mean()), float(a.std())


def _close_moments(t, mean: float, std: float) -> None:
    m, s = _moments(t)
    n = t.numel()
    assert abs(m - mean) < 5 * std / math.sqrt(n), (m, mean)
    assert abs(s - std) < 0.02 * std, (s, std)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2), (7, 2, 3), (2, 3, 4, 5, 6), (6, 0)])
def test_fans_match_torch(shape):
    ours = G.nn.init._calculate_fan_in_and_fan_out(G.empty(*shape))
    ref = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    assert ours == ref
    for mode in ("fan_in", "fan_out", "FAN_IN"):
        assert G.nn.init._calculate_correct_fan(G.empty(*shape), mode) == \
            torch.nn.init._calculate_correct_fan(torch.empty(*shape), mode)


@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("conv_transpose3d",),
                                  ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",)])
def test_gains_match_torch(args):
    ours, ref = G.nn.init.calculate_gain(*args), torch.nn.init.calculate_gain(*args)
    assert ours == ref and type(ours) is type(ref)


def _same_error(fn) -> None:
    got = []
    for L in (G, torch):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn(L)
            got.append((None, None))
        except Exception as e:      # noqa: BLE001  (the type is what is compared)
            got.append((type(e), str(e)))
    assert got[1][0] is not None, "torch accepted it"
    assert got[0] == got[1]


@pytest.mark.parametrize("fn", [
    lambda L: L.nn.init._calculate_fan_in_and_fan_out(L.empty(4)),
    lambda L: L.nn.init.xavier_uniform_(L.empty(4)),
    lambda L: L.nn.init.kaiming_normal_(L.empty(3, 4), mode="fan_avg"),
    lambda L: L.nn.init.calculate_gain("gelu"),
    lambda L: L.nn.init.calculate_gain("leaky_relu", "0.1"),
    lambda L: L.nn.init.calculate_gain("leaky_relu", True),
    lambda L: L.nn.init.eye_(L.empty(2, 2, 2)),
    lambda L: L.nn.init.dirac_(L.empty(3, 3)),
    lambda L: L.nn.init.dirac_(L.empty(5, 2, 3), groups=2),
    lambda L: L.nn.init.orthogonal_(L.empty(5)),
    lambda L: L.nn.init.sparse_(L.empty(2, 3, 4), 0.1),
    lambda L: L.nn.init.normal_(L.empty(3), 0.0, -1.0),
    lambda L: L.nn.init.uniform_(L.empty(3), 1.0, 0.0),
], ids=["fan_1d", "xavier_1d", "fan_mode", "gain_name", "gain_param_str", "gain_param_bool",
        "eye_3d", "dirac_2d", "dirac_groups", "orthogonal_1d", "sparse_3d", "normal_std",
        "uniform_range"])
def test_errors_match_torch(fn):
    _same_error(fn)


def test_deterministic_fills_equal_torch():
    cases = [
        (lambda L, t: L.nn.init.constant_(t, 0.25), (3, 4)),
        (lambda L, t: L.nn.init.ones_(t), (2, 5)),
        (lambda L, t: L.nn.init.zeros_(t), (2, 5)),
        (lambda L, t: L.nn.init.eye_(t), (3, 5)),
        (lambda L, t: L.nn.init.eye_(t), (5, 3)),
        (lambda L, t: L.nn.init.dirac_(t), (4, 3, 3)),
        (lambda L, t: L.nn.init.dirac_(t, groups=2), (6, 2, 3, 3)),
        (lambda L, t: L.nn.init.dirac_(t), (2, 4, 3, 2, 3)),
    ]
    for fn, shape in cases:
        g, t = G.nn.Parameter(G.full(shape, 7.0)), torch.nn.Parameter(torch.full(shape, 7.0))
        assert fn(G, g) is g
        fn(torch, t)
        np.testing.assert_array_equal(g.detach().numpy(), t.detach().numpy())


def test_uniform_family_bounds_and_moments():
    t = G.empty(N_ROWS, N_COLS)
    G.nn.init.uniform_(t, -0.5, 1.5)
    a = t.numpy()
    assert a.min() >= -0.5 and a.max() < 1.5
    _close_moments(t, 0.5, 2 / math.sqrt(12))
    # xavier: bound = gain sqrt(6 / (fan_in + fan_out)); kaiming: gain sqrt(3 / fan)
    fan_in, fan_out = N_COLS, N_ROWS
    for fn, bound in [
        (lambda t: G.nn.init.xavier_uniform_(t, gain=2.0),
         2.0 * math.sqrt(6.0 / (fan_in + fan_out))),
        (lambda t: G.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
         math.sqrt(2.0 / 6) * math.sqrt(3.0 / fan_in)),
        (lambda t: G.nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
         math.sqrt(2.0) * math.sqrt(3.0 / fan_out)),
    ]:
        fn(t)
        a = np.abs(t.numpy())
        assert a.max() <= bound * (1 + 1e-6) and a.max() > 0.999 * bound
        _close_moments(t, 0.0, bound / math.sqrt(3))


def test_normal_family_moments():
    t = G.empty(N_ROWS, N_COLS)
    G.nn.init.normal_(t, 0.3, 2.0)
    _close_moments(t, 0.3, 2.0)
    G.nn.init.xavier_normal_(t, gain=0.5)
    _close_moments(t, 0.0, 0.5 * math.sqrt(2.0 / (N_ROWS + N_COLS)))
    G.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="tanh")
    _close_moments(t, 0.0, (5.0 / 3) / math.sqrt(N_ROWS))
    w = G.empty(128, 8, 5, 5)     # conv weight: fan_in = 8 * 25 (25,600 draws)
    G.nn.init.kaiming_normal_(w)
    _close_moments(w, 0.0, math.sqrt(2.0 / (1 + 0.01 ** 2)) / math.sqrt(200))


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 1.5),
                                          (0.0, 1.0, 1.0, 3.0)])
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    """Both of PyTorch's regimes: the normal rejected outside [a, b] (mass > 0.3), and
    uniform proposals accepted by density (the third case has mass 0.16)."""
    t = G.empty(N_ROWS, N_COLS)
    G.nn.init.trunc_normal_(t, mean, std, a, b)
    x = t.numpy()
    assert x.min() >= a and x.max() <= b
    alpha, beta = (a - mean) / std, (b - mean) / std

    def pdf(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def cdf(z):
        return (1 + math.erf(z / math.sqrt(2))) / 2

    mass = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / mass
    var = std ** 2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass
                      - ((pdf(alpha) - pdf(beta)) / mass) ** 2)
    _close_moments(t, m, math.sqrt(var))


def test_trunc_normal_warns_as_torch():
    msgs = []
    for L in (G, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            L.nn.init.trunc_normal_(L.empty(10), mean=5.0, std=1.0, a=-1.0, b=1.0)
        msgs.append([str(x.message) for x in w])
    assert msgs[0] == msgs[1] and msgs[0]


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (6, 2, 3, 3)])
def test_orthogonal(shape):
    t = G.empty(*shape)
    G.nn.init.orthogonal_(t, gain=2.0)
    q = t.numpy().reshape(shape[0], -1) / 2.0
    rows, cols = q.shape
    gram = q.T @ q if rows >= cols else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=2e-5)


def test_sparse_columns():
    t = G.empty(N_ROWS, N_COLS)
    G.nn.init.sparse_(t, 0.25, std=0.5)
    x = t.numpy()
    zeros = (x == 0).sum(axis=0)
    assert (zeros == math.ceil(0.25 * N_ROWS)).all()
    nz = x[x != 0]
    assert abs(nz.std() - 0.5) < 0.02 * 0.5


def test_parameters_stay_leaves_under_no_grad_semantics():
    """Filling a parameter needs no ``no_grad`` from the caller and leaves no history."""
    layer = G.nn.Linear(6, 4)
    version = layer.weight._version
    with G.enable_grad():
        for fn in (G.nn.init.xavier_uniform_, G.nn.init.orthogonal_, G.nn.init.zeros_,
                   lambda t: G.nn.init.trunc_normal_(t, std=0.02),
                   lambda t: G.nn.init.sparse_(t, 0.5)):
            out = fn(layer.weight)
            assert out is layer.weight
            assert layer.weight.is_leaf and layer.weight.requires_grad
            assert layer.weight.grad_fn is None
    assert layer.weight._version > version
    layer(G.ones(2, 6)).sum().backward()
    assert layer.weight.grad is not None


def test_warnings_and_deprecated_names():
    for L in (G, torch):
        with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
            L.nn.init.kaiming_uniform_(L.empty(0, 3))
        with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
            L.nn.init.kaiming_normal_(L.empty(3, 0))
        with pytest.warns(FutureWarning, match="`nn.init.uniform` is now deprecated in favor "
                                               "of `nn.init.uniform_`"):
            L.nn.init.uniform(L.empty(3))
    names = [n for n in torch.nn.init.__all__]
    assert sorted(names) == sorted(G.nn.init.__all__)
