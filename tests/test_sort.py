"""sort, argsort and topk against PyTorch: values, indices and the input's gradient (a
scatter of the values' gradient at the indices), rows of lengths around the 1-D
work-group size (64 on PoCL) and both kernels (rank counting up to 16 elements a row,
heap sort above), ties under stable sort, NaN, integers, 0-d and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close

R = np.random.default_rng(3)


def distinct(*shape):
    """Distinct values (a permutation), so that the order has no ties."""
    n = int(np.prod(shape))
    return (R.permutation(n).reshape(shape) * 0.25 - n * 0.1).astype(np.float32)


A = distinct(3, 65)          # rows of 65: one work-group of 64 elements and one more
B = distinct(63, 2)          # sorted along 63 (below the work-group size)
C = distinct(1, 1, 4)


def everything(T, a, b, c):
    return [*T.sort(a, 1, True), *b.sort(dim=0), *c.sort(1), T.argsort(a, 0),
            *T.topk(a, 64, 1, largest=False), *b.topk(1, 0), *c.topk(4)]


def _is_float(t) -> bool:
    return str(t.dtype).split(".")[-1].startswith("float")


def with_loss(T, a, b, c, *cots):
    """The outputs and one loss: the float outputs weighted by cotangents (the whole
    backward in one compiled graph)."""
    outs = everything(T, a, b, c)
    floats = [o for o in outs if _is_float(o)]
    return outs, sum((o * w).sum() for o, w in zip(floats, cots))


class Everything(G.nn.Module):
    def forward(self, *args):
        outs, loss = with_loss(G, *args)
        return (*outs, loss)


def test_sort_and_topk_values_indices_and_gradients():
    leaves = [(G.tensor(x).requires_grad_(), torch.tensor(x).requires_grad_())
              for x in (A, B, C)]
    ref, _ = with_loss(torch, *[t for _, t in leaves])
    cots = [R.standard_normal(tuple(r.shape)).astype(np.float32) for r in ref
            if _is_float(r)]
    ref, loss_t = with_loss(torch, *[t for _, t in leaves], *map(torch.tensor, cots))
    *ours, loss_g = Everything()(*[g for g, _ in leaves], *map(G.tensor, cots))
    assert len(ours) == len(ref)
    for i, (o, r) in enumerate(zip(ours, ref)):
        assert str(o.dtype).split(".")[-1] == str(r.dtype).split(".")[-1], i
        assert_close(o, r.detach(), what=f"output {i}")
    loss_g.backward()
    loss_t.backward()
    for k, (g, t) in enumerate(leaves):
        assert_close(g.grad, t.grad, what=f"gradient of input {k}")


def test_stable_sort_with_ties_nan_and_integers():
    ties = np.array([[1, 0, 1, 2, 0, 1, np.nan, 2, 0, np.nan, -1]], np.float32)
    ints = (np.arange(70) % 7 - 3).reshape(1, 70).astype(np.int64)
    # rows of 11 (the rank-counting kernel) and 33 and 70 (the heap sort)
    for x in (ties, np.tile(ties, 3), ints):
        for desc in (False, True):
            ours = G.tensor(x).sort(dim=1, descending=desc, stable=True)
            ref = torch.tensor(x).sort(dim=1, descending=desc, stable=True)
            assert_close(ours.values, ref.values)
            assert ours.indices.tolist() == ref.indices.tolist()
            kw = dict(dim=1, descending=desc, stable=True)
            assert G.tensor(x).argsort(**kw).tolist() == torch.tensor(x).argsort(**kw).tolist()


def test_unsorted_topk_selects_the_same_elements():
    ours = G.tensor(B).topk(40, 0, sorted=False)
    ref = torch.tensor(B).topk(40, 0, sorted=False)      # in an unspecified order
    assert_close(np.sort(ours.values.numpy(), 0), np.sort(ref.values.numpy(), 0))
    assert_close(np.sort(ours.indices.numpy(), 0), np.sort(ref.indices.numpy(), 0))


def test_zero_dim_and_errors():
    s = np.array(2.5, np.float32)
    for fn in (lambda T, x: x.sort(), lambda T, x: x.topk(1), lambda T, x: x.topk(0)):
        ours, ref = fn(G, G.tensor(s)), fn(torch, torch.tensor(s))
        assert_close(ours[0], ref[0])
        assert ours[1].tolist() == ref[1].tolist()
    for fn in (lambda T, x: x.topk(6), lambda T, x: x.topk(-1), lambda T, x: x.sort(2),
               lambda T, x: x.topk(2, dim=3), lambda T, x: T.tensor(1.0).topk(2)):
        with pytest.raises(Exception) as ti:
            fn(torch, torch.tensor(C[0]))
        with pytest.raises(type(ti.value)) as gi:
            fn(G, G.tensor(C[0]))
        assert str(gi.value) == str(ti.value)


@pytest.mark.parametrize("n", [16, 17])
def test_rows_at_the_kernel_switch(n):
    x = distinct(2, n)
    ours, ref = G.tensor(x).sort(1, True), torch.tensor(x).sort(1, True)
    assert_close(ours.values, ref.values)
    assert ours.indices.tolist() == ref.indices.tolist()
