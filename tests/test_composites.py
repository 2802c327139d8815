"""Tensor functions composed from primitives against PyTorch 2.13: values, dtypes and the
gradient of every differentiable input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

X = np.random.default_rng(31).standard_normal((3, 4)).astype(np.float32)
V = np.random.default_rng(32).standard_normal((4,)).astype(np.float32)

DIFFERENTIABLE = [
    "x.repeat(2, 1, 2)", "x.tile((2,))", "x.flip(1)", "L.flip(x, (0, 1))", "L.roll(x, 1)",
    "L.roll(x, (1, -2), (0, 1))", "L.tril(x, -1)", "L.triu(x, 1)", "L.diag(v)",
    "L.diag(v, -2)", "L.diag(x, 1)", "x.diagonal()", "x.diagonal(-1)", "L.outer(v, v[:3])",
    "L.einsum('ij,kj->ik', x, x)", "L.einsum('ij->', x)", "L.einsum('i,i->', v, v)",
    "L.einsum('bij,bkj->bik', x[None].expand(2, 3, 4), x[None].expand(2, 3, 4))",
    "L.einsum('...j,j->...', x, v)", "L.cumsum(x, 1)", "L.cumsum(x, 0)",
    "x.cumsum(-1) * v", "x.new_tensor([1.0, 2.0]) * 0 + x.sum()",
]


@pytest.mark.parametrize("expr", DIFFERENTIABLE)
def test_composite_values_and_gradients(expr):
    results = []
    for L in (G, torch):
        x = L.tensor(X.copy(), requires_grad=True)
        v = L.tensor(V.copy(), requires_grad=True)
        y = eval(expr, {"x": x, "v": v, "L": L})
        r = np.random.default_rng(5).standard_normal(tuple(y.shape)).astype(np.float32)
        (y * L.tensor(r)).sum().backward()
        results.append([y.detach().numpy().copy()] +
                       [np.zeros_like(t.detach().numpy()) if t.grad is None else
                        t.grad.numpy().copy() for t in (x, v)])
    for what, ours, ref in zip(("value", "x.grad", "v.grad"), *results):
        assert_close(ours, ref, what=what)


# ``empty`` holds whatever memory held: torch's can be NaN, and NaN * 0 is NaN, so its
# result is filled before it is compared (the test is of the size= keyword and the dtype)
VALUES = [
    "L.any(x > 1)", "L.all(x > -3, 1)", "L.any(x > 0, 0, keepdim=True)",
    "L.count_nonzero(x > 0)", "L.count_nonzero(L.tril(x), 0)",
    "L.isin(L.tensor([1, 2, 3, 4]), L.tensor([2, 4, 6]))",
    "L.isin(L.tensor([1, 2]), L.tensor([2]), invert=True)", "L.eye(3)", "L.eye(2, 4)",
    "L.cumsum(L.tensor([1, 2, 3, 4, 5]), 0)", "x.new_zeros(2, 3)", "x.new_ones((2,))",
    "x.new_full((2,), 7)", "L.tensor([1, 2]).new_tensor([3.5])", "L.FloatTensor([1, 2])",
    "L.LongTensor(2, 3) * 0", "L.empty(size=(2, 3)).fill_(3) * 0", "x.type(L.int64)",
    "L.tril(L.ones(3, 3, dtype=L.bool))",
]


@pytest.mark.parametrize("expr", VALUES)
def test_composite_values_and_dtypes(expr):
    ours, ref = (eval(expr, {"x": L.tensor(X.copy()), "L": L}) for L in (G, torch))
    assert tuple(ours.shape) == tuple(ref.shape)
    assert ours.dtype.name == str(ref.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_type_names_and_flags():
    for L in (G, torch):
        x = L.tensor(X.copy())
        assert x.type() == "torch.FloatTensor" and L.tensor([1]).type() == "torch.LongTensor"
        assert x.is_cuda is False
        v = L.autograd.Variable(x, requires_grad=True)
        assert v.requires_grad and np.array_equal(v.detach().numpy(), X)


def test_diagonal_is_a_view_and_einsum_errors():
    for L in (G, torch):
        x = L.zeros(3, 3)
        x.diagonal().fill_(1.0)
        assert float(x.sum()) == 3.0 and float(x[1, 1]) == 1.0
        with pytest.raises(RuntimeError):
            L.einsum("ij,jk->ik", L.ones(2, 3), L.ones(4, 2))
