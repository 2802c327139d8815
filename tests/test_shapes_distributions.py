"""Rearranging layers (pixel shuffle, channel shuffle, unflatten, fold/unfold) and
torch.distributions' Categorical, Normal and Bernoulli against PyTorch 2.13."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

R = np.random.default_rng(61)


@pytest.mark.parametrize("expr,shape", [
    ("F.pixel_shuffle(x, 2)", (2, 8, 3, 3)), ("F.pixel_unshuffle(x, 3)", (1, 2, 6, 6)),
    ("F.pixel_shuffle(x, 2)", (4, 2, 3)), ("F.channel_shuffle(x, 2)", (2, 6, 3, 2)),
    ("L.nn.Unflatten(1, (2, 3))(x)", (4, 6, 2)),
    ("F.unfold(x, (2, 3), padding=1, stride=2)", (2, 3, 5, 6)),
    ("F.unfold(x, 2, dilation=2)", (1, 2, 5, 5)),
    ("F.fold(x, (4, 5), (2, 3), padding=1, stride=2)", (2, 12, 9)),
    ("F.fold(x, 5, 2, dilation=2)", (1, 8, 9)),
])
def test_rearrangements_match_pytorch(expr, shape):
    x = R.standard_normal(shape).astype(np.float32)
    results = []
    for L in (G, torch):
        t = L.tensor(x.copy(), requires_grad=True)
        y = eval(expr, {"x": t, "L": L, "F": L.nn.functional})
        r = np.linspace(-1, 1, y.numel(), dtype=np.float32).reshape(tuple(y.shape))
        (y * L.tensor(r)).sum().backward()
        results.append((y.detach().numpy().copy(), t.grad.numpy().copy()))
    assert_close(results[0][0], results[1][0], what="value")
    assert_close(results[0][1], results[1][1], what="grad")


def test_rearranging_module_reprs():
    for make in (lambda L: L.nn.PixelShuffle(2), lambda L: L.nn.ChannelShuffle(3),
                 lambda L: L.nn.Fold((4, 5), (2, 2)), lambda L: L.nn.Unfold(3, padding=1),
                 lambda L: L.nn.Unflatten(1, (2, 3))):
        assert repr(make(G)) == repr(make(torch))


def _dists(L):
    logits = L.tensor([[0.1, 1.2, -0.5], [2.0, 0.0, 0.3]])
    return {
        "categorical_logits": L.distributions.Categorical(logits=logits),
        "categorical_probs": L.distributions.Categorical(probs=L.tensor([0.2, 0.5, 0.3])),
        "normal": L.distributions.Normal(L.tensor([0.0, 1.5]), L.tensor([1.0, 0.5])),
        "bernoulli_probs": L.distributions.Bernoulli(probs=L.tensor([0.3, 0.9])),
        "bernoulli_logits": L.distributions.Bernoulli(logits=L.tensor([-1.0, 2.0])),
    }


VALUES = {"categorical_logits": [[2, 0], [1, 1]], "categorical_probs": [0, 2],
          "normal": [[0.3, 1.0], [-1.0, 2.5]], "bernoulli_probs": [1.0, 0.0],
          "bernoulli_logits": [0.0, 1.0]}


@pytest.mark.parametrize("name", list(VALUES))
def test_distribution_log_prob_entropy_and_samples(name):
    d_g, d_t = _dists(G)[name], _dists(torch)[name]
    value = VALUES[name]
    assert_close(d_g.log_prob(G.tensor(value)), d_t.log_prob(torch.tensor(value)),
                 what="log_prob")
    assert_close(d_g.entropy(), d_t.entropy(), what="entropy")
    assert tuple(d_g.batch_shape) == tuple(d_t.batch_shape)
    G.manual_seed(0)
    s_g, s_t = d_g.sample((400,)), d_t.sample((400,))
    assert tuple(s_g.shape) == tuple(s_t.shape) and s_g.dtype.name == str(s_t.dtype)[6:]
    # sample means agree with the distribution's (4 standard errors)
    if name.startswith("categorical"):
        probs = d_t.probs.numpy()
        freq = np.stack([(s_g.numpy() == k).mean(0) for k in range(probs.shape[-1])], -1)
        assert np.all(np.abs(freq - probs) < 4 * np.sqrt(probs * (1 - probs) / 400) + 1e-3)
    else:
        mean, std = d_t.mean.numpy(), d_t.stddev.numpy()
        assert np.all(np.abs(s_g.numpy().mean(0) - mean) < 4 * std / 20 + 1e-3)


def test_normal_rsample_carries_gradients():
    loc = G.tensor([0.5, -1.0], requires_grad=True)
    scale = G.tensor([1.0, 2.0], requires_grad=True)
    d = G.distributions.Normal(loc, scale)
    z = d.rsample((50,))
    z.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [50.0, 50.0])
    eps = (z.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-4)
    assert not d.sample().requires_grad
