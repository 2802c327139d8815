"""Dropout: PyTorch's semantics with graphnn's counter-based generator."""
import numpy as np
import pytest

import graphnn
import graphnn.nn as nn
import graphnn.nn.functional as F
from graphnn._dispatch import apply
from graphnn.ir.ops.random import uniform


def test_rand_kernel_matches_the_reference_bits():
    for seed in (0, 7, 2 ** 40 + 3):
        s = graphnn.tensor(np.array(seed, np.int64))
        got = apply("rand", s, shape=(4, 33), dtype="float32").numpy()
        want = uniform(seed, (4, 33)).astype(np.float32)
        assert np.array_equal(got, want)
        assert 0.0 <= got.min() and got.max() < 1.0


def test_uniform_is_uniform():
    u = uniform(99, (200_000,))
    hist = np.histogram(u, bins=10, range=(0, 1))[0] / u.size
    assert np.all(np.abs(hist - 0.1) < 0.005)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_statistics_and_gradient(p):
    graphnn.manual_seed(3)
    x = graphnn.ones(64, 100, requires_grad=True)
    y = F.dropout(x, p)
    out = y.detach().numpy()
    assert abs((out == 0).mean() - p) < 0.02
    np.testing.assert_allclose(np.unique(out), [0.0, 1.0 / (1.0 - p)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out, rtol=1e-6)   # mask / (1 - p)


def test_module_dropout_draws_a_new_mask_per_call_and_is_identity_in_eval():
    graphnn.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 32), nn.Dropout(0.5))
    x = graphnn.ones(4, 8)
    a, b = m(x).detach().numpy(), m(x).detach().numpy()
    assert (a != b).any()
    m.eval()
    np.testing.assert_allclose(m(x).detach().numpy(), m[0](x).detach().numpy(), rtol=1e-6)
    assert repr(m[1]) == "Dropout(p=0.5, inplace=False)"


def test_dropout_edge_probabilities():
    x = graphnn.ones(3, 3)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_manual_seed_reproduces_masks():
    graphnn.manual_seed(11)
    a = F.dropout(graphnn.ones(50), 0.5).numpy()
    graphnn.manual_seed(11)
    b = F.dropout(graphnn.ones(50), 0.5).numpy()
    assert np.array_equal(a, b)


# -- channel-wise and alpha dropout ---------------------------------------------------------
FEATURE = [
    # (function, input shape, shape of one draw)
    (F.dropout1d, (8, 16, 5), (8, 16, 1)),
    (F.dropout1d, (64, 5), (64, 1)),                  # unbatched
    (F.dropout2d, (8, 16, 3, 3), (8, 16, 1, 1)),
    (F.dropout3d, (4, 16, 2, 2, 2), (4, 16, 1, 1, 1)),
    (F.dropout3d, (64, 2, 2, 2), (64, 1, 1, 1)),      # unbatched
]


@pytest.mark.parametrize("fn,shape,draw", FEATURE)
def test_channel_dropout_zeroes_whole_channels(fn, shape, draw):
    graphnn.manual_seed(5)
    p = 0.4
    x = graphnn.ones(*shape, requires_grad=True)
    y = fn(x, p)
    out = y.detach().numpy()
    mask = out.reshape(draw + (-1,))
    assert np.all(mask == mask[..., :1]), "one draw per channel"
    assert abs((out == 0).mean() - p) < 0.2      # >= 64 draws: 3 standard deviations
    np.testing.assert_allclose(np.unique(out), [0.0, 1.0 / (1.0 - p)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out, rtol=1e-6)


def test_alpha_dropout_keeps_mean_and_variance():
    """For standard normal input (what SELU keeps), the output is still ~N(0, 1)."""
    graphnn.manual_seed(6)
    x = graphnn.randn(200, 500)
    for fn in (F.alpha_dropout, F.feature_alpha_dropout):
        y = fn(x, 0.2, True).numpy()
        assert abs(y.mean()) < 0.02 and abs(y.var() - 1.0) < 0.03
        a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * 0.2 + 1) * 0.8)
        dropped = -1.7580993408473766 * a + 1.7580993408473766 * a * 0.2
        assert np.isclose(y, dropped, atol=1e-6).mean() == pytest.approx(0.2, abs=0.03)
    assert F.alpha_dropout(x, 0.2) is x                    # functional default: training=False


def test_dropout_modules_match_pytorch_reprs_errors_and_eval():
    import torch
    import warnings
    for name, shape in (("Dropout1d", (2, 3, 4)), ("Dropout2d", (2, 3, 4, 4)),
                        ("Dropout3d", (2, 3, 2, 4, 4)), ("AlphaDropout", (2, 3)),
                        ("FeatureAlphaDropout", (2, 3, 4, 4))):
        assert repr(getattr(nn, name)(0.3, inplace=True)) == \
            repr(getattr(torch.nn, name)(0.3, inplace=True))
        m = getattr(nn, name)(0.3).eval()
        x = graphnn.randn(*shape)
        assert np.array_equal(m(x).numpy(), x.numpy())
    for L in (graphnn, torch):
        with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
            L.nn.functional.dropout1d(L.ones(2, 3, 4, 5), 0.5)
        with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
            L.nn.AlphaDropout(1.5)
        with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
            L.nn.functional.dropout2d(L.ones(2, 3, 4), 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert tuple(L.nn.functional.dropout2d(L.ones(2, 3, 4), 1.0).shape) == (2, 3, 4)


def test_inplace_channel_dropout_writes_the_input():
    graphnn.manual_seed(8)
    x = graphnn.ones(4, 6, 5)
    y = F.dropout1d(x, 0.5, inplace=True)
    assert y is x and x._version == 1
    assert set(np.unique(x.numpy())) <= {0.0, 2.0}
