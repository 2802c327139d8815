"""scatter_add, index_add, scatter, index_copy, index_fill, index_put (and their in-place
forms) against PyTorch: values and every gradient in one traced module, in-place forms
eagerly (under autograd, through a view, without grad), and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close

R = np.random.default_rng(7)
X = R.standard_normal((5, 4)).astype(np.float32)
S = R.standard_normal((3, 4)).astype(np.float32)
V0 = np.array(1.5, np.float32)
REP = np.array([4, 0, 4])               # repeated index (accumulating forms)
DIS = np.array([4, 0, 2])               # distinct index (overwriting forms)
SIDX = np.array([[1, 2, 3, 4], [0, 3, 4, 1]])


def everything(T, x, s, v):
    """Each op once; the in-place forms on clones and through a view."""
    rep, dis, sidx = T.tensor(REP), T.tensor(DIS), T.tensor(SIDX)
    outs = [
        T.scatter_add(x, 0, sidx, s[:2]),
        x.index_add(0, rep, s, alpha=2.5),
        x.index_add(1, T.tensor([3, 3]), x[:, :2]),
        x.scatter(0, sidx, s[:2]),
        x.scatter(1, T.tensor([[0], [3]]), 2.0),
        # (PyTorch has no derivative for scatter with reduce)
        x.detach().scatter(0, sidx, s[:2].detach(), reduce="add"),
        x.index_copy(0, dis, s),
        x.index_fill(1, T.tensor([0, 3]), v),   # (PyTorch's backward rejects -1 here)
        x.index_fill(0, T.tensor(2), -3.0),
        x.index_put((rep, T.tensor([1, 2, 1])), s[:, 0], accumulate=True),
        x.index_put((rep,), s, accumulate=True),
        x.index_put((dis,), s[0]),
    ]
    y = x * 1
    y.index_add_(0, rep, s)
    y[1:].scatter_add_(1, T.tensor([[0, 0], [3, 3]]), s[:2, :2])
    y.index_copy_(1, T.tensor([2]), x[:, 1:2] * v)
    y.index_fill_(0, T.tensor([3]), 0.5)
    y.scatter_(0, T.tensor([[2, 1, 0, 4]]), s[2:])
    y.index_put_((T.tensor([0, 0]),), s[0], accumulate=True)
    return outs + [y]


def with_loss(T, x, s, v, *cots):
    """The outputs and one loss (the outputs weighted by cotangents), so that the whole
    backward is one compiled graph."""
    outs = everything(T, x, s, v)
    return outs, sum((o * w).sum() for o, w in zip(outs, cots))


class Everything(G.nn.Module):
    def forward(self, *args):
        outs, loss = with_loss(G, *args)
        return (*outs, loss)


def test_values_and_gradients_match_torch():
    leaves = [(G.tensor(a).requires_grad_(), torch.tensor(a).requires_grad_())
              for a in (X, S, V0)]
    ref, _ = with_loss(torch, *[t for _, t in leaves])
    cots = [R.standard_normal(tuple(r.shape)).astype(np.float32) for r in ref]
    ref, loss_t = with_loss(torch, *[t for _, t in leaves], *map(torch.tensor, cots))
    *ours, loss_g = Everything()(*[g for g, _ in leaves], *map(G.tensor, cots))
    assert len(ours) == len(ref)
    for i, (o, r) in enumerate(zip(ours, ref)):
        assert_close(o, r.detach(), what=f"output {i}")
    loss_g.backward()
    loss_t.backward()
    for name, (g, t) in zip(("x", "src", "value"), leaves):
        assert_close(g.grad, t.grad, what=f"d {name}")


def test_eager_inplace_under_autograd_through_a_view():
    """The base takes the write's history: gradients reach both the base's inputs and the
    written source (eager one-op graphs, not a trace)."""
    grads = []
    for lib in (G, torch):
        x, s = lib.tensor(X).requires_grad_(), lib.tensor(S).requires_grad_()
        y = x * 2
        y[1:].index_add_(0, lib.tensor([3, 0, 3]), s, alpha=-1.5)
        y.scatter_add_(1, lib.tensor([[0, 0]]), s[:1, :2])
        (y * lib.tensor(np.arange(20.0, dtype=np.float32).reshape(5, 4))).sum().backward()
        grads.append((y.detach().numpy(), x.grad.numpy(), s.grad.numpy()))
    for ours, ref in zip(*grads):
        assert_close(ours, ref)


def test_inplace_without_grad_writes_storage_and_views():
    for lib in (G, torch):
        base = lib.tensor(X.copy())
        view = base[1:3]
        view.index_add_(1, lib.tensor([0, 0]), lib.tensor(S[:2, :2]))
        base.scatter_add_(0, lib.tensor([[4, 4, 4, 4]]), lib.tensor(S[:1]))
        base.index_put_((lib.tensor([0, 0]), lib.tensor([1, 1])), lib.tensor(1.0),
                        accumulate=True)
        base.index_fill_(1, lib.tensor([-1]), 2.0)
        if lib is G:
            ours = (base.numpy(), view.numpy(), base._version)
        else:
            ref = (base.numpy(), view.numpy(), base._version)
    assert_close(ours[0], ref[0])
    assert_close(ours[1], ref[1])
    assert ours[2] == ref[2]


ERRORS = [
    ("scatter_add_float_index", lambda T, x, s: T.scatter_add(x, 0, T.zeros(2, 4), s)),
    ("scatter_add_ndim", lambda T, x, s: x.scatter_add(0, T.tensor([0, 1]), s)),
    ("scatter_add_too_big", lambda T, x, s: x.scatter_add(1, T.zeros(3, 5).long(), s)),
    ("scatter_add_dtype", lambda T, x, s: x.scatter_add(0, T.zeros(3, 4).long(), s.double())),
    ("scatter_add_oob", lambda T, x, s: x.scatter_add(0, T.full((3, 4), 5).long(), s)),
    ("scatter_add_neg", lambda T, x, s: x.scatter_add(0, T.full((3, 4), -1).long(), s)),
    ("scatter_add_dim", lambda T, x, s: x.scatter_add(2, T.zeros(3, 4).long(), s)),
    ("scatter_reduce_bad", lambda T, x, s: x.scatter(0, T.zeros(3, 4).long(), s,
                                                     reduce="mean")),
    ("index_add_2d_index", lambda T, x, s: x.index_add(0, T.zeros(3, 1).long(), s)),
    ("index_add_float_index", lambda T, x, s: x.index_add(0, T.zeros(3), s)),
    ("index_add_count", lambda T, x, s: x.index_add(0, T.zeros(2).long(), s)),
    ("index_add_shape", lambda T, x, s: x.index_add(0, T.zeros(3).long(), s[:, :3])),
    ("index_add_dtype", lambda T, x, s: x.index_add(0, T.zeros(3).long(), s.double())),
    ("index_add_oob", lambda T, x, s: x.index_add(0, T.tensor([0, 5, 1]), s)),
    ("index_copy_float_index", lambda T, x, s: x.index_copy(0, T.zeros(3), s)),
    ("index_copy_count", lambda T, x, s: x.index_copy(0, T.zeros(2).long(), s)),
    ("index_copy_dtype", lambda T, x, s: x.index_copy(0, T.tensor([0, 1, 2]), s.double())),
    ("index_fill_float_index", lambda T, x, s: x.index_fill(0, T.zeros(2), 1.0)),
    ("index_fill_2d_index", lambda T, x, s: x.index_fill(0, T.zeros(1, 2).long(), 1.0)),
    ("index_fill_oob", lambda T, x, s: x.index_fill(0, T.tensor([5]), 1.0)),
    ("index_fill_value_1d", lambda T, x, s: x.index_fill(0, T.tensor([1]), s[0])),
    ("index_put_oob", lambda T, x, s: x.index_put((T.tensor([0, 5]),), T.tensor(2.0),
                                                  accumulate=True)),
    ("index_put_float", lambda T, x, s: x.index_put((T.tensor([0.0]),), T.tensor(2.0),
                                                    accumulate=True)),
    ("index_put_shape", lambda T, x, s: x.index_put((T.tensor([0, 1]),), T.ones(3),
                                                    accumulate=True)),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn):
    with pytest.raises(Exception) as ti:
        fn(torch, torch.tensor(X), torch.tensor(S))
    with pytest.raises(type(ti.value)) as gi:
        fn(G, G.tensor(X), G.tensor(S))
    from graphnn.codegen import DeviceFeatureError
    if isinstance(gi.value, DeviceFeatureError):
        raise gi.value      # a limited device's refusal (GRAPHNN_LIMITS: conftest skips it)
    # graphnn's message names the function and the shapes first
    assert str(gi.value).split("\n")[0].endswith(str(ti.value).split("\n")[0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_scatter_multiply_matches_torch(dtype):
    """Products at repeated indices (every repeat takes part), a number as src, no
    derivative (the result does not require grad), integer products exact."""
    x = (X * 3).astype(dtype)
    s = (S * 3).astype(dtype)
    idx = np.array([[1, 2, 3, 4], [1, 2, 4, 1], [0, 2, 3, 1]])
    outs = {}
    for L in (torch, G):
        xt = L.tensor(x, requires_grad=dtype.startswith("float"))
        outs[L] = [xt.scatter(0, L.tensor(idx), L.tensor(s), reduce="multiply"),
                   xt.scatter(1, L.tensor(idx[:, :2]), -2, reduce="multiply")]
        if L is torch:
            outs[L] = [o.detach() for o in outs[L]]
    for o, t in zip(outs[G], outs[torch]):
        assert not o.requires_grad
        assert_close(o, t)
    y = G.tensor(x)
    y.scatter_(0, G.tensor(idx), G.tensor(s), reduce="multiply")
    assert_close(y, outs[torch][0])
