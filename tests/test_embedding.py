"""Embedding and EmbeddingBag against PyTorch 2.13 on the same weights: outputs, the weight
gradient (padding row, scale_grad_by_freq), in-place max_norm renormalisation, bags by
offsets or fixed length, and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

W = np.random.default_rng(41).standard_normal((10, 4)).astype(np.float32) * 2
IDX = [[1, 0, 3], [3, 3, 9]]


def _modules(cls, **kw):
    t = getattr(torch.nn, cls)(10, 4, **kw)
    g = getattr(G.nn, cls)(10, 4, **kw)
    assert repr(g) == repr(t)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(W))
    g.load_state_dict({"weight": W.copy()})
    return g, t


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 3}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True}, {"max_norm": 1.5},
                                {"padding_idx": 3, "scale_grad_by_freq": True},
                                {"max_norm": 2.0, "norm_type": 1.0}])
def test_embedding_matches_pytorch(kw):
    g, t = _modules("Embedding", **kw)
    ig, it = G.tensor(IDX), torch.tensor(IDX)
    yg, yt = g(ig), t(it)
    assert_close(yg, yt, what="output")
    r = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yg * G.tensor(r)).sum().backward()
    (yt * torch.tensor(r)).sum().backward()
    assert_close(g.weight.grad, t.weight.grad, what="weight grad")
    assert_close(g.weight, t.weight, what="weight after max_norm")


def test_embedding_init_and_from_pretrained():
    g = G.nn.Embedding(5, 3, padding_idx=2)
    assert np.all(g.weight.detach().numpy()[2] == 0)
    for L in (G, torch):
        e = L.nn.Embedding.from_pretrained(L.tensor(W), freeze=True)
        assert not e.weight.requires_grad and tuple(e.weight.shape) == (10, 4)
        assert L.nn.Embedding.from_pretrained(L.tensor(W), freeze=False).weight.requires_grad


def test_embedding_errors_match_pytorch():
    for fn, kind in ((lambda L: L.nn.Embedding(10, 3, padding_idx=10), AssertionError),
                     (lambda L: L.nn.Embedding(10, 3)(L.tensor([10])), IndexError),
                     (lambda L: L.nn.Embedding(10, 3)(L.tensor([1.0])), RuntimeError)):
        for L in (G, torch):
            with pytest.raises(kind):
                fn(L)


@pytest.mark.parametrize("mode,kw,offsets", [
    ("sum", {}, [0, 2, 2, 5]), ("mean", {}, [0, 1, 4]), ("max", {}, [0, 3]),
    ("mean", {"padding_idx": 3}, [0, 2, 4]), ("sum", {"include_last_offset": True}, [0, 2, 6]),
    ("mean", {}, None), ("max", {}, None),
])
def test_embedding_bag_matches_pytorch(mode, kw, offsets):
    g, t = _modules("EmbeddingBag", mode=mode, **kw)
    flat = [1, 0, 3, 3, 9, 2]
    if offsets is None:
        args_g, args_t = (G.tensor(IDX),), (torch.tensor(IDX),)
    else:
        args_g = (G.tensor(flat), G.tensor(offsets))
        args_t = (torch.tensor(flat), torch.tensor(offsets))
    yg, yt = g(*args_g), t(*args_t)
    assert_close(yg, yt, what="output")
    yg.sum().backward()
    yt.sum().backward()
    assert_close(g.weight.grad, t.weight.grad, what="weight grad")


def test_embedding_bag_per_sample_weights():
    g, t = _modules("EmbeddingBag", mode="sum")
    flat, off = [1, 0, 3, 3], [0, 1]
    psw = np.array([0.5, 2.0, -1.0, 3.0], np.float32)
    pg, pt = G.tensor(psw, requires_grad=True), torch.tensor(psw, requires_grad=True)
    yg = g(G.tensor(flat), G.tensor(off), per_sample_weights=pg)
    yt = t(torch.tensor(flat), torch.tensor(off), per_sample_weights=pt)
    assert_close(yg, yt)
    yg.sum().backward()
    yt.sum().backward()
    assert_close(pg.grad, pt.grad, what="per_sample_weights grad")
    assert_close(g.weight.grad, t.weight.grad, what="weight grad")


def test_embedding_in_a_traced_module_trains_like_pytorch():
    class Net:
        @staticmethod
        def make(L):
            class M(L.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = L.nn.Embedding(10, 4, padding_idx=0)
                    self.fc = L.nn.Linear(4, 2)

                def forward(self, x):
                    return self.fc(self.emb(x).mean(1))
            return M()

    t, g = Net.make(torch), Net.make(G)
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    for L, m in ((G, g), (torch, t)):
        opt = L.optim.SGD(m.parameters(), lr=0.5)
        for _ in range(3):
            opt.zero_grad()
            m(L.tensor(IDX)).pow(2).sum().backward()
            opt.step()
    for k, v in t.state_dict().items():
        assert_close(g.state_dict()[k], v, what=k)
