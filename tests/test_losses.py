"""Every loss x reduction x option against PyTorch 2.13: the value and the gradient of every
float input, on the same inputs; and the errors for bad targets."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

R = np.random.default_rng(51)
N, C = 4, 5


def f32(*shape, lo=None, hi=None):
    x = R.standard_normal(shape).astype(np.float32)
    return x if lo is None else R.uniform(lo, hi, shape).astype(np.float32)


LOGITS, LOGITS_K = f32(N, C), f32(2, C, 3)
CLASSES = np.array([1, 0, 4, 1]), np.array([[1, 0, 4], [2, 2, 3]])
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
X, Y = f32(N, 3), f32(N, 3)
P01, T01 = f32(N, 3, lo=0.02, hi=0.98), f32(N, 3, lo=0.0, hi=1.0)
SIGNS = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
MULTILABEL = np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [0, -1, 2, 1, 3], [-1, 0, 1, 2, 3]])
W_C = f32(C, lo=0.2, hi=2.0)

# (id, call(F, L, *tensors), inputs as (array, requires_grad), option sets)
CASES = [
    ("mse", lambda F, L, a, b, **o: F.mse_loss(a, b, **o), [(X, 1), (Y, 1)], [{}]),
    ("l1", lambda F, L, a, b, **o: F.l1_loss(a, b, **o), [(X, 1), (Y, 1)], [{}]),
    ("smooth_l1", lambda F, L, a, b, **o: F.smooth_l1_loss(a, b, **o), [(X, 1), (Y, 1)],
     [{}, {"beta": 0.5}, {"beta": 0.0}]),
    ("huber", lambda F, L, a, b, **o: F.huber_loss(a, b, **o), [(X, 1), (Y, 1)],
     [{}, {"delta": 0.3}]),
    ("kl_div", lambda F, L, a, b, **o: F.kl_div(a, b, **o), [(np.log(P01), 1), (T01, 1)],
     [{"reduction_extra": "batchmean"}, {"log_target": True}]),
    ("poisson", lambda F, L, a, b, **o: F.poisson_nll_loss(a, b, **o),
     [(X, 1), (np.abs(Y) * 3, 0)], [{}, {"log_input": False, "full": True}]),
    ("gaussian", lambda F, L, a, b, v, **o: F.gaussian_nll_loss(a, b, v, **o),
     [(X, 1), (Y, 1), (f32(N, 3, lo=0.1, hi=2.0), 1)], [{}, {"full": True}]),
    ("gaussian_homo", lambda F, L, a, b, v, **o: F.gaussian_nll_loss(a, b, v, **o),
     [(X, 1), (Y, 1), (f32(N, 1, lo=0.1, hi=2.0), 1)], [{}]),
    ("bce", lambda F, L, a, b, **o: F.binary_cross_entropy(a, b, **o), [(P01, 1), (T01, 1)],
     [{}, {"weight": "W3"}]),
    ("bce_logits", lambda F, L, a, b, **o: F.binary_cross_entropy_with_logits(a, b, **o),
     [(X * 4, 1), (T01, 1)], [{}, {"pos_weight": "W3"}, {"weight": "W3"}]),
    ("soft_margin", lambda F, L, a, b, **o: F.soft_margin_loss(a, b, **o),
     [(X, 1), (np.sign(Y) + (Y == 0), 0)], [{}]),
    ("hinge", lambda F, L, a, b, **o: F.hinge_embedding_loss(a, b, **o),
     [(X, 1), (np.sign(Y) + (Y == 0), 0)], [{}, {"margin": 0.5}]),
    ("margin_ranking", lambda F, L, a, b, y, **o: F.margin_ranking_loss(a, b, y, **o),
     [(X[:, 0], 1), (Y[:, 0], 1), (SIGNS, 0)], [{}, {"margin": 0.3}]),
    ("cosine_embedding", lambda F, L, a, b, y, **o: F.cosine_embedding_loss(a, b, y, **o),
     [(X, 1), (Y, 1), (SIGNS, 0)], [{}, {"margin": 0.2}]),
    ("triplet", lambda F, L, a, b, c, **o: F.triplet_margin_loss(a, b, c, **o),
     [(X, 1), (Y, 1), (f32(N, 3), 1)], [{}, {"p": 1.0, "swap": True, "margin": 2.0}]),
    ("cross_entropy", lambda F, L, a, t, **o: F.cross_entropy(a, t, **o),
     [(LOGITS, 1), (CLASSES[0], 0)],
     [{}, {"weight": "WC"}, {"ignore_index": 1}, {"label_smoothing": 0.2},
      {"label_smoothing": 0.1, "weight": "WC", "ignore_index": 4}]),
    ("cross_entropy_k", lambda F, L, a, t, **o: F.cross_entropy(a, t, **o),
     [(LOGITS_K, 1), (CLASSES[1], 0)], [{}, {"label_smoothing": 0.3, "ignore_index": 2}]),
    ("cross_entropy_probs", lambda F, L, a, t, **o: F.cross_entropy(a, t, **o),
     [(LOGITS, 1), (PROBS, 1)], [{}, {"label_smoothing": 0.25, "weight": "WC"}]),
    ("nll", lambda F, L, a, t, **o: F.nll_loss(F.log_softmax(a, 1), t, **o),
     [(LOGITS, 1), (CLASSES[0], 0)], [{}, {"weight": "WC", "ignore_index": 0}]),
    ("multi_margin", lambda F, L, a, t, **o: F.multi_margin_loss(a, t, **o),
     [(LOGITS, 1), (CLASSES[0], 0)], [{}, {"p": 2, "margin": 0.5, "weight": "WC"}]),
    ("multilabel_margin", lambda F, L, a, t, **o: F.multilabel_margin_loss(a, t, **o),
     [(LOGITS, 1), (MULTILABEL, 0)], [{}]),
    ("multilabel_soft_margin",
     lambda F, L, a, t, **o: F.multilabel_soft_margin_loss(a, t, **o),
     [(LOGITS * 3, 1), ((LOGITS > 0).astype(np.float32), 0)], [{}, {"weight": "WC"}]),
]

ROWS = [(cid, fn, inputs, opts, red) for cid, fn, inputs, options in CASES
        for opts in options for red in ("none", "mean", "sum")]


def _options(L, opts):
    out = {}
    for k, v in opts.items():
        if v == "W3":
            v = L.tensor(W_C[:3].copy())
        elif v == "WC":
            v = L.tensor(W_C.copy())
        out[k] = v
    return out


@pytest.mark.parametrize("cid,fn,inputs,opts,reduction", ROWS,
                         ids=[f"{r[0]}-{i}-{r[4]}" for i, r in enumerate(ROWS)])
def test_loss_matches_pytorch(cid, fn, inputs, opts, reduction):
    opts = dict(opts)
    extra = opts.pop("reduction_extra", None)      # kl_div's batchmean replaces mean
    reduction = extra if extra and reduction == "mean" else reduction
    results = []
    for L in (G, torch):
        tensors = [L.tensor(a.copy(), requires_grad=bool(rg) and a.dtype.kind == "f")
                   for a, rg in inputs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = fn(L.nn.functional, L, *tensors, reduction=reduction, **_options(L, opts))
        r = np.linspace(0.5, 1.5, max(y.numel(), 1), dtype=np.float32).reshape(tuple(y.shape))
        (y * L.tensor(r)).sum().backward()
        results.append([y.detach().numpy().copy()] +
                       [t.grad.numpy().copy() for t in tensors if t.requires_grad])
    for i, (ours, ref) in enumerate(zip(*results)):
        assert_close(ours, ref, rtol=2e-4, atol=2e-5, what="value" if i == 0 else f"grad {i}")


MODULES = [
    ("L1Loss", {}), ("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 2.0}),
    ("KLDivLoss", {"reduction": "batchmean"}), ("BCELoss", {}),
    ("BCEWithLogitsLoss", {"reduction": "sum"}), ("SoftMarginLoss", {}),
    ("MultiLabelSoftMarginLoss", {}), ("MultiMarginLoss", {"p": 2, "margin": 0.5}),
    ("HingeEmbeddingLoss", {"margin": 2.0}), ("CosineEmbeddingLoss", {"margin": 0.1}),
    ("MarginRankingLoss", {"margin": 0.1}), ("TripletMarginLoss", {"margin": 0.5, "p": 1.0}),
    ("PoissonNLLLoss", {"log_input": False}), ("GaussianNLLLoss", {"full": True}),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}), ("MultiLabelMarginLoss", {}),
]


@pytest.mark.parametrize("name,kw", MODULES)
def test_loss_module_reprs_and_options(name, kw):
    g, t = getattr(G.nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(g) == repr(t)
    assert g.reduction == t.reduction
    for k in kw:
        if k != "reduction":
            assert getattr(g, k if k != "p" or name != "TripletMarginLoss" else "p") == kw[k]


def test_legacy_size_average_and_reduce():
    for sa, red, want in ((False, None, "sum"), (None, False, "none"), (True, True, "mean")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert G.nn.MSELoss(size_average=sa, reduce=red).reduction == want
            assert torch.nn.MSELoss(size_average=sa, reduce=red).reduction == want


ERRORS = [
    ("bce_range", lambda F, L: F.binary_cross_entropy(L.tensor([0.5, 1.5]), L.tensor([0., 1.]))),
    ("bce_shape", lambda F, L: F.binary_cross_entropy(L.tensor([0.5, 0.5]), L.ones(2, 1))),
    ("bce_logits_shape", lambda F, L: F.binary_cross_entropy_with_logits(L.ones(3), L.ones(4))),
    ("ce_target_range", lambda F, L: F.cross_entropy(L.ones(2, 3), L.tensor([0, 3]))),
    ("ce_smoothing", lambda F, L: F.cross_entropy(L.ones(2, 3), L.tensor([0, 1]),
                                                  label_smoothing=1.5)),
    ("smooth_l1_beta", lambda F, L: F.smooth_l1_loss(L.ones(2), L.ones(2), beta=-1.0)),
    ("huber_delta", lambda F, L: F.huber_loss(L.ones(2), L.ones(2), delta=0.0)),
    ("gaussian_var_size", lambda F, L: F.gaussian_nll_loss(L.ones(3), L.ones(3), L.ones(2))),
    ("gaussian_var_negative", lambda F, L: F.gaussian_nll_loss(L.ones(3), L.ones(3),
                                                               -L.ones(3))),
    ("multi_margin_target", lambda F, L: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 3]))),
    ("multi_margin_p", lambda F, L: F.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]), p=3)),
    ("margin_ranking_dims", lambda F, L: F.margin_ranking_loss(L.ones(3), L.ones(3),
                                                               L.ones(3, 1))),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_loss_errors_match_pytorch(name, fn):
    with pytest.raises(Exception) as ref:
        fn(torch.nn.functional, torch)
    with pytest.raises(Exception) as ours:
        fn(G.nn.functional, G)
    assert isinstance(ours.value, type(ref.value)) or isinstance(ref.value, type(ours.value)), \
        (type(ours.value), type(ref.value), str(ours.value))
