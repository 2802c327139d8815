"""Bilinear, Identity, CosineSimilarity and PairwiseDistance against PyTorch 2.13: values
and every gradient on the same weights and inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

RNG = np.random.default_rng(21)


def _pair(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    return G.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


@pytest.mark.parametrize("lead,bias", [((4,), True), ((2, 3), False), ((), True)])
def test_bilinear_matches_pytorch(lead, bias):
    t = torch.nn.Bilinear(3, 5, 4, bias=bias)
    g = G.nn.Bilinear(3, 5, 4, bias=bias)
    assert repr(g) == repr(t)
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    (a, at), (b, bt) = _pair(lead + (3,)), _pair(lead + (5,))
    y, yt = g(a, b), t(at, bt)
    assert_close(y, yt, what="output")
    r = RNG.standard_normal(tuple(yt.shape)).astype(np.float32)
    (y * G.tensor(r)).sum().backward()
    (yt * torch.tensor(r)).sum().backward()
    assert_close(a.grad, at.grad, what="input1 grad")
    assert_close(b.grad, bt.grad, what="input2 grad")
    for (name, p), q in zip(g.named_parameters(), t.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4, what=f"{name} grad")


def test_bilinear_init_range_and_errors():
    g = G.nn.Bilinear(9, 2, 3)
    assert float(g.weight.abs().max()) <= 1 / 3 and float(g.bias.abs().max()) <= 1 / 3
    with pytest.raises(RuntimeError, match="same size except for the last dimension"):
        g(G.ones(4, 9), G.ones(5, 2))


def test_identity_takes_any_arguments():
    for L in (G, torch):
        m = L.nn.Identity(54, unused_argument=0.1)
        x = L.ones(2, 3)
        assert m(x) is x


@pytest.mark.parametrize("shapes,dim", [(((4, 6), (4, 6)), 1), (((4, 6), (1, 6)), 1),
                                        (((2, 3, 5), (2, 3, 5)), -1), (((5,), (5,)), 0)])
def test_cosine_similarity_matches_pytorch(shapes, dim):
    (a, at), (b, bt) = _pair(shapes[0]), _pair(shapes[1])
    y, yt = G.nn.CosineSimilarity(dim)(a, b), torch.nn.CosineSimilarity(dim)(at, bt)
    assert_close(y, yt)
    y.sum().backward()
    yt.sum().backward()
    assert_close(a.grad, at.grad, atol=1e-5, what="x1 grad")
    assert_close(b.grad, bt.grad, atol=1e-5, what="x2 grad")


@pytest.mark.parametrize("p,keepdim", [(2.0, False), (1.0, True), (3.0, False),
                                       (float("inf"), False)])
def test_pairwise_distance_matches_pytorch(p, keepdim):
    (a, at), (b, bt) = _pair((5, 7)), _pair((5, 7))
    y = G.nn.PairwiseDistance(p, keepdim=keepdim)(a, b)
    yt = torch.nn.PairwiseDistance(p, keepdim=keepdim)(at, bt)
    assert_close(y, yt)
    y.sum().backward()
    yt.sum().backward()
    assert_close(a.grad, at.grad, atol=1e-5, what="x1 grad")
