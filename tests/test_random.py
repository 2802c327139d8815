"""Random sampling: the counter-based primitives against their numpy references, the
distributions (fixed seeds, bounds a correct sampler passes with room to spare), PyTorch's
shapes, dtypes, errors and gradients, and fresh numbers on every call of a traced module."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import graphnn
import graphnn.nn as nn
from graphnn import _compile, _sampling
from graphnn.ir.ops.random import integers, uniform
from graphnn.ir.types import by_name
from graphnn.runtime.reference import interpret


def _traced_graph(fn, seed: int):
    """Traces ``fn(seed_tensor)`` into one compiled graph; returns (device outputs,
    reference-interpreter outputs) for that seed."""
    s = graphnn.tensor(np.array(seed, np.int64))
    cg, captured = _compile.trace(fn, [s], {}, "test_random")
    assert not captured
    got = [t.numpy() for t in cg.run([s])]
    want = interpret(cg.graph, [np.array(seed, np.int64)])
    return got, want


# -- primitives ------------------------------------------------------------------------------
RANGES = [(0, 10, "int64"), (-5, 3, "int32"), (0, 1 << 62, "int64"),
          (-(1 << 63), (1 << 63) - 1, "int64"), (0, 7, "float32"), (0, 2, "bool")]


@pytest.mark.parametrize("seed", [0, 2 ** 40 + 3])
def test_primitives_match_their_references_bit_for_bit(seed):
    def fn(s):
        outs = [_sampling.uniform((4, 33), by_name("float32"), s, offset=17),
                _sampling.uniform((3, 5), by_name("float64"), s)]
        outs += [_sampling.integers((4, 33), lo, hi, by_name(dt), s) for lo, hi, dt in RANGES]
        return tuple(outs)

    got, want = _traced_graph(fn, seed)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    np.testing.assert_array_equal(got[0], uniform(seed, (4, 33), 17).astype(np.float32))
    np.testing.assert_array_equal(got[2], integers(seed, (4, 33), 0, 10))
    wide = got[5]
    assert wide.min() < -(1 << 60) and wide.max() > (1 << 60)    # the whole int64 range
    # a counter offset continues the same stream: offset 17 is elements 17.. of offset 0
    np.testing.assert_array_equal(uniform(seed, (50,))[17:], uniform(seed, (33,), 17))


def test_box_muller_and_exponential_match_the_reference():
    def fn(s):
        return (_sampling.standard_normal((64, 65), by_name("float32"), s),
                _sampling.exponential((7, 9), by_name("float32"), 2.5, s))

    got, want = _traced_graph(fn, 5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    assert np.all(np.isfinite(got[0])) and np.abs(got[0]).max() < 6


# -- distributions ---------------------------------------------------------------------------
_erf = np.frompyfunc(math.erf, 1, 1)


def _ks(sample: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance of a sample from a continuous cdf."""
    x = np.sort(sample.ravel().astype(np.float64))
    f = cdf(x)
    n = x.size
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def _chi2(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


def _chi2_bound(dof: int) -> float:
    # Wilson-Hilferty upper quantile at z = 4.4 (p ~ 5e-6)
    return dof * (1 - 2 / (9 * dof) + 4.4 * math.sqrt(2 / (9 * dof))) ** 3


N = 30_000
PERM = 1000
KS_BOUND = 2.2 / math.sqrt(N)       # p ~ 1e-4 for a correct sampler
NORMAL_CDF = lambda x: 0.5 * (1 + _erf(x / math.sqrt(2)).astype(np.float64))  # noqa: E731
PROBS = np.array([0.1, 0.0, 0.25, 0.4, 0.25], np.float32)


class Samplers(nn.Module):
    """Every sampler in one traced forward (one compiled graph)."""

    def forward(self, probs, x):
        return (graphnn.rand(N), graphnn.randn(N), graphnn.randint(3, 9, (N,)),
                graphnn.normal(2.0, 3.0, (N,)), graphnn.bernoulli(x),
                graphnn.zeros(N).exponential_(2.0),
                graphnn.multinomial(probs.expand(N // 10, 5), 1),
                graphnn.multinomial(probs.expand(N // 10, 5), 10, replacement=True),
                graphnn.multinomial(probs.expand(N // 10, 5), 2), graphnn.randperm(PERM))


def _eager_samples(probs, x):
    m = Samplers()
    m.register_forward_hook(lambda *a: None)        # hooks run forward op by op
    return m(probs, x)


@pytest.mark.parametrize("mode", ["traced", "eager"])
def test_distributions(mode):
    graphnn.manual_seed(2024)
    probs = graphnn.tensor(PROBS * 3)                # unnormalised weights
    x = graphnn.full((N,), 0.3)
    outs = Samplers()(probs, x) if mode == "traced" else _eager_samples(probs, x)
    u, z, k, n, b, e, m1, mr, m2, perm = [o.numpy() for o in outs]
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1
    assert _ks(u, lambda v: v) < KS_BOUND
    assert _ks(z, NORMAL_CDF) < KS_BOUND and abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.02
    assert _ks(n, lambda v: NORMAL_CDF((v - 2) / 3)) < KS_BOUND
    assert _ks(e, lambda v: 1 - np.exp(-2 * np.maximum(v, 0))) < KS_BOUND
    counts = np.bincount(k - 3, minlength=6)
    assert k.dtype == np.int64 and k.min() == 3 and k.max() == 8
    assert _chi2(counts, np.full(6, 1 / 6)) < _chi2_bound(5)
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.3) < 4.4 * math.sqrt(.21 / N)
    for draws in (m1.ravel(), mr.ravel(), m2[:, 0]):
        counts = np.bincount(draws, minlength=5)
        assert counts[1] == 0                        # a zero weight is never drawn
        keep = PROBS > 0
        assert _chi2(counts[keep], PROBS[keep]) < _chi2_bound(3)
    # without replacement: never the same category twice; the second draw follows
    # P(second = j) = sum_i p_i p_j / (1 - p_i)
    assert np.all(m2[:, 0] != m2[:, 1])
    second = np.array([sum(PROBS[i] * PROBS[j] / (1 - PROBS[i]) for i in range(5) if i != j)
                       for j in range(5)])
    counts = np.bincount(m2[:, 1], minlength=5)
    assert counts[1] == 0 and _chi2(counts[second > 0], second[second > 0]) < _chi2_bound(3)
    assert perm.dtype == np.int64 and np.array_equal(np.sort(perm), np.arange(PERM))
    rho = np.corrcoef(np.arange(PERM), perm)[0, 1]       # ~ N(0, 1 / (n - 1))
    assert abs(rho) < 4.4 / math.sqrt(PERM - 1)
    cells = np.bincount(np.arange(PERM) // 100 * 10 + perm // 100, minlength=100)
    assert _chi2(cells, np.full(100, 0.01)) < _chi2_bound(81)


# -- PyTorch's API: shapes, dtypes, requires_grad, errors ------------------------------------
def _outcome(lib, fn):
    """What a call gives: (dtype, shape, requires_grad, grad_fn name) or (error type,
    message's first line)."""
    from graphnn.codegen import DeviceFeatureError
    try:
        out = fn(lib)
    except DeviceFeatureError:
        raise       # a limited device's refusal (GRAPHNN_LIMITS: conftest skips it)
    except Exception as e:  # noqa: BLE001  (the error is the outcome compared)
        return type(e).__name__, str(e).splitlines()[0]
    node = type(out.grad_fn).__name__ if lib is torch else getattr(out.grad_fn, "_name", None)
    return (str(out.dtype).split(".")[-1], tuple(out.shape), out.requires_grad,
            node if out.grad_fn is not None else None)


def _x(T, dtype="float32", grad=False, value=1.0):
    return T.full((2, 3), value, dtype=getattr(T, dtype), requires_grad=grad)


API = {
    "rand": lambda T: T.rand(2, 3),
    "rand_tuple": lambda T: T.rand((2, 3)),
    "rand_size_kw": lambda T: T.rand(size=(4,)),
    "rand_f64": lambda T: T.rand(2, dtype=T.float64),
    "rand_grad": lambda T: T.rand(2, requires_grad=True),
    "rand_empty": lambda T: T.rand(0, 3),
    "rand_long": lambda T: T.rand(2, dtype=T.int64),
    "rand_negative": lambda T: T.rand(2, -3),
    "rand_float_size": lambda T: T.rand([2.0]),
    "randn": lambda T: T.randn([3]),
    "randn_bool": lambda T: T.randn(2, dtype=T.bool),
    "randint_high": lambda T: T.randint(5, (3,)),
    "randint_low_high": lambda T: T.randint(2, 5, (3, 1)),
    "randint_kw": lambda T: T.randint(low=1, high=5, size=(3,)),
    "randint_float": lambda T: T.randint(0, 5, (3,), dtype=T.float32),
    "randint_bool": lambda T: T.randint(0, 2, (3,), dtype=T.bool),
    "randint_bool_range": lambda T: T.randint(0, 5, (3,), dtype=T.bool),
    "randint_int32_range": lambda T: T.randint(0, 2 ** 40, (3,), dtype=T.int32),
    "randint_empty_range": lambda T: T.randint(3, 3, (3,)),
    "randint_reversed": lambda T: T.randint(5, 3, (3,)),
    "randint_grad": lambda T: T.randint(5, (3,), requires_grad=True),
    "randperm": lambda T: T.randperm(5),
    "randperm_float": lambda T: T.randperm(4, dtype=T.float32),
    "randperm_negative": lambda T: T.randperm(-1),
    "randperm_bool": lambda T: T.randperm(5, dtype=T.bool),
    "rand_like": lambda T: T.rand_like(_x(T)),
    "rand_like_f64": lambda T: T.rand_like(_x(T), dtype=T.float64),
    "rand_like_long": lambda T: T.rand_like(_x(T, "int64")),
    "randn_like_grad_input": lambda T: T.randn_like(_x(T, grad=True)),
    "randn_like_long": lambda T: T.randn_like(_x(T, "int64")),
    "randint_like": lambda T: T.randint_like(_x(T), 5),
    "randint_like_low_high": lambda T: T.randint_like(_x(T, "int64"), 2, 5),
    "randint_like_reversed": lambda T: T.randint_like(_x(T), 5, 2),
    "normal_tensor_float": lambda T: T.normal(_x(T, grad=True), 1.0),
    "normal_tensor_default": lambda T: T.normal(_x(T)),
    "normal_float_tensor": lambda T: T.normal(0.0, _x(T, grad=True)),
    "normal_tensor_tensor": lambda T: T.normal(_x(T, grad=True), T.ones(3)),
    "normal_broadcast": lambda T: T.normal(T.ones(3), _x(T)),
    "normal_f64_mean": lambda T: T.normal(T.ones(3, dtype=T.float64), _x(T)),
    "normal_int_std": lambda T: T.normal(_x(T), _x(T, "int64")),
    "normal_size": lambda T: T.normal(0.0, 1.0, (2, 3)),
    "normal_int_args": lambda T: T.normal(0, 1, size=(2,), dtype=T.float64),
    "normal_no_size": lambda T: T.normal(0.0, 1.0),
    "normal_tensor_size": lambda T: T.normal(_x(T), 1.0, (2, 3)),
    "normal_bad_broadcast": lambda T: T.normal(T.ones(6), _x(T)),
    "normal_negative_std": lambda T: T.normal(_x(T), -1.0),
    "normal_nan_std": lambda T: T.normal(0.0, float("nan"), (2,)),
    "normal_negative_std_tensor": lambda T: T.normal(0.0, -_x(T)),
    "normal_long_mean": lambda T: T.normal(_x(T, "int64"), 1.0),
    "bernoulli": lambda T: T.bernoulli(_x(T, value=0.5)),
    "bernoulli_grad": lambda T: T.bernoulli(_x(T, grad=True, value=0.5)),
    "bernoulli_f64": lambda T: T.bernoulli(_x(T, "float64", value=0.5)),
    "bernoulli_p": lambda T: T.bernoulli(_x(T, "int64"), 0.3),
    "bernoulli_p_kw": lambda T: T.bernoulli(_x(T), p=0.3),
    "bernoulli_p_range": lambda T: T.bernoulli(_x(T), p=1.5),
    "bernoulli_out_of_range": lambda T: T.bernoulli(_x(T, value=1.5)),
    "bernoulli_long": lambda T: T.bernoulli(_x(T, "int64")),
    "bernoulli_method": lambda T: _x(T, value=0.5).bernoulli(),
    "multinomial": lambda T: T.multinomial(T.tensor([0.2, 0.8]), 2),
    "multinomial_2d": lambda T: T.multinomial(T.tensor([[0.2, 0.8], [1.0, 0.0]]), 4, True),
    "multinomial_method": lambda T: T.tensor([0.2, 0.8]).multinomial(1, replacement=True),
    "multinomial_too_many": lambda T: T.multinomial(T.tensor([0.2, 0.8]), 3),
    "multinomial_zero": lambda T: T.multinomial(T.tensor([0.2, 0.8]), 0),
    "multinomial_3d": lambda T: T.multinomial(T.ones(2, 2, 2), 1),
    "multinomial_long": lambda T: T.multinomial(T.tensor([1, 2]), 1),
    "multinomial_negative": lambda T: T.multinomial(T.tensor([-0.2, 0.8]), 1),
    "multinomial_nan": lambda T: T.multinomial(T.tensor([float("nan"), 1.0]), 1),
    "multinomial_zero_sum": lambda T: T.multinomial(T.tensor([0.0, 0.0]), 1),
    "multinomial_float_n": lambda T: T.multinomial(T.tensor([0.2, 0.8]), 2.0),
    "multinomial_no_rows": lambda T: T.multinomial(T.ones(0, 3), 2),
    "uniform_": lambda T: _x(T).uniform_(2, 3),
    "uniform_reversed": lambda T: _x(T).uniform_(2, 1),
    "uniform_long": lambda T: _x(T, "int64").uniform_(),
    "uniform_leaf": lambda T: _x(T, grad=True).uniform_(),
    "normal_": lambda T: _x(T, "float64").normal_(1, 2),
    "normal_negative": lambda T: _x(T).normal_(0, -1),
    "normal_long": lambda T: _x(T, "int64").normal_(),
    "bernoulli_": lambda T: _x(T, "int64").bernoulli_(0.5),
    "bernoulli_tensor_p": lambda T: _x(T).bernoulli_(T.full((3,), 0.2)),
    "bernoulli_bad_p": lambda T: _x(T).bernoulli_(1.5),
    "bernoulli_p_shape": lambda T: _x(T).bernoulli_(T.full((4,), 0.2)),
    "exponential_": lambda T: _x(T).exponential_(2),
    "exponential_zero": lambda T: _x(T).exponential_(0),
    "exponential_long": lambda T: _x(T, "int64").exponential_(),
    "random_": lambda T: _x(T, "int32").random_(),
    "random_to": lambda T: _x(T).random_(5),
    "random_from_to": lambda T: _x(T, "int64").random_(-3, 4),
    "random_reversed": lambda T: _x(T).random_(5, 2),
    "random_bool": lambda T: T.ones(3, dtype=T.bool).random_(),
    "random_bool_range": lambda T: T.ones(3, dtype=T.bool).random_(0, 3),
}


@pytest.mark.parametrize("case", sorted(API))
def test_api_matches_torch(case):
    ours, ref = _outcome(graphnn, API[case]), _outcome(torch, API[case])
    if len(ref) == 2:   # an error: graphnn's message names the function, then PyTorch's text
        assert ours[0] == ref[0] and ours[1].endswith(ref[1]), (ours, ref)
    else:
        assert ours == ref


def test_values_are_in_range():
    graphnn.manual_seed(0)
    r = graphnn.randint(-3, 4, (500,)).numpy()
    assert r.min() == -3 and r.max() == 3
    f = graphnn.ones(200).random_().numpy()
    assert f.min() >= 0 and f.max() <= 2 ** 24 and f.max() > 2 ** 23
    i = graphnn.ones(200, dtype=graphnn.int64).random_().numpy()
    assert i.min() >= 0 and i.max() > 2 ** 61
    np.testing.assert_array_equal(graphnn.bernoulli(graphnn.tensor([0.0, 1.0] * 50)).numpy(),
                                  [0.0, 1.0] * 50)
    assert np.all(graphnn.normal(graphnn.arange(4.0), 0.0).numpy() == np.arange(4.0))


# -- gradients -------------------------------------------------------------------------------
def test_normal_and_bernoulli_give_torch_zero_gradients():
    """PyTorch's normal and bernoulli record a backward node that returns zeros (no
    reparameterisation); graphnn matches, broadcasting included."""
    for lib in (graphnn, torch):
        mean = lib.full((2, 3), 1.0, requires_grad=True)
        std = lib.full((3,), 2.0, requires_grad=True)
        p = lib.full((2, 3), 0.5, requires_grad=True)
        out = lib.normal(mean, std) * 3 + lib.normal(mean, 1.0) + lib.normal(0.0, std) + \
            lib.bernoulli(p)
        out.sum().backward()
        for t in (mean, std, p):
            assert t.grad is not None and tuple(t.grad.shape) == tuple(t.shape)
            assert not np.any(np.asarray(t.grad.numpy()))
    assert not graphnn.randn_like(graphnn.ones(2, requires_grad=True)).requires_grad


class Reparam(nn.Module):
    """A VAE's reparameterisation: z = mu + eps * std with eps = randn_like(std)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 6)
        self.dec = nn.Linear(3, 4)

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        std = (0.5 * logvar).exp()
        eps = graphnn.randn_like(std)
        z = mu + eps * std
        recon = self.dec(z)
        kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
        return ((recon - x) ** 2).sum() + kl, eps


def test_reparameterisation_gradients_match_torch_on_the_same_noise(rng):
    graphnn.manual_seed(0)
    m = Reparam()
    t = torch.nn.Module()
    t.enc, t.dec = torch.nn.Linear(4, 6), torch.nn.Linear(3, 4)
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    x = rng.standard_normal((5, 4)).astype(np.float32)
    loss, eps = m(graphnn.tensor(x))
    loss.backward()
    mu, logvar = t.enc(torch.tensor(x)).chunk(2, dim=1)
    std = (0.5 * logvar).exp()
    z = mu + torch.tensor(eps.numpy()) * std
    kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
    want = ((t.dec(z) - torch.tensor(x)) ** 2).sum() + kl
    want.backward()
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-5)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t.get_parameter(name).grad.numpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=name)


# -- fresh numbers on every call of a traced module ------------------------------------------
class Noisy(nn.Module):
    """Random ops written by hand in a forward (the frozen-noise bug's shapes)."""

    def forward(self, x):
        mask = (graphnn.rand(x.shape) > 0.5).float()
        noise = graphnn.zeros_like(x).normal_()         # a tensor made in forward, filled
        jitter = (x * 0).uniform_(-1, 1)                # a traced value, filled
        return (x * mask + graphnn.randn(x.shape) + 0.1 * noise + jitter,
                graphnn.randint(0, 1000, (4,)))


def test_traced_module_draws_anew_each_call_and_manual_seed_replays():
    m = Noisy()
    x = graphnn.ones(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a graph break would warn
        graphnn.manual_seed(7)
        first = [[o.numpy() for o in m(x)] for _ in range(3)]
        traces, compiles = _compile.STATS["traces"], _compile.STATS["compiles"]
        graphnn.manual_seed(7)
        again = [[o.numpy() for o in m(x)] for _ in range(3)]
    assert _compile.STATS["traces"] == traces and _compile.STATS["compiles"] == compiles
    assert m._graph_break is None
    for k in range(2):
        assert not np.array_equal(first[0][k], first[1][k])
        assert not np.array_equal(first[1][k], first[2][k])
    for a, b in zip(first, again):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_vae_training_steps_get_new_noise():
    graphnn.manual_seed(3)
    m = Reparam()
    opt = graphnn.optim.SGD(m.parameters(), lr=0.01)
    x = graphnn.tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    noises, losses = [], []
    for step in range(3):
        opt.zero_grad()
        loss, eps = m(x)
        loss.backward()
        opt.step()
        noises.append(eps.numpy())
        losses.append(loss.item())
        if step == 0:
            traces, compiles = _compile.STATS["traces"], _compile.STATS["compiles"]
    assert _compile.STATS["traces"] == traces and _compile.STATS["compiles"] == compiles
    assert not np.array_equal(noises[0], noises[1]) and not np.array_equal(noises[1], noises[2])
    assert all(np.isfinite(losses))


class FillsABuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("noise", graphnn.zeros(3))

    def forward(self, x):
        self.noise.normal_()                    # module state written in forward
        return x + self.noise


def test_in_place_fill_of_module_state_stays_in_the_graph():
    """The buffer's new sample is a graph output written back after every call."""
    m = FillsABuffer()
    x = graphnn.zeros(3)
    a = m(x).numpy()
    traces = _compile.STATS["traces"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no graph break
        b = m(x).numpy()
    assert _compile.STATS["traces"] == traces
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(m.noise.numpy(), b)


def test_random_leaf_requiring_grad_in_forward_runs_op_by_op():
    class Leaf(nn.Module):
        def forward(self, x):
            return x + graphnn.randn(3, requires_grad=True)

    m = Leaf()
    with pytest.warns(UserWarning, match="requires_grad=True"):
        a = m(graphnn.zeros(3)).detach().numpy()
    assert not np.array_equal(a, m(graphnn.zeros(3)).detach().numpy())
