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
