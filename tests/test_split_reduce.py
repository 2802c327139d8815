"""Two-stage reductions (``ir/passes/split_reduce.py``) against PyTorch, on both sides of
``MIN_RUN``, with run lengths no partition divides evenly into vectors, prime runs (no
split), prologues rebuilt on reshaped operands and prologues that stop the split."""
from __future__ import annotations

import numpy as np
import torch

import graphnn as G
from graphnn.codegen.dialect import Dialect
from graphnn.ir.builder import Sym
from graphnn.ir.graph import Graph
from graphnn.ir.passes.split_reduce import BATCH_SPLIT_MIN, MIN_RUN, split_reductions
from graphnn.ir.types import TensorType, float32
from tests.conftest import assert_close, pair


def _reductions(fn, *shapes, parallelism=32) -> list:
    """(op, input shape, axes) of each reduction after the split, for ``fn`` on inputs."""
    g = Graph()
    xs = [Sym(g, g.add_input(TensorType(s, float32))) for s in shapes]
    g.outputs = [fn(*xs).id]
    split_reductions(g, parallelism)
    return sorted((g.op(n), g.type(g.args(n)[0]).shape, tuple(g.attrs(n)["axes"]))
                  for n in g.nodes() if g.op(n) in ("sum", "max", "min"))


def test_plan():
    n = 4 * MIN_RUN
    # partials up to the parallelism, each over at least MIN_RUN elements
    assert _reductions(lambda x: x.sum((0,)), (n,)) == \
        [("sum", (4,), (0,)), ("sum", (4, MIN_RUN), (1,))]
    # a run just under two partials' worth stays whole; a prime run cannot be split
    assert _reductions(lambda x: x.sum((0,)), (2 * MIN_RUN - 1,)) == \
        [("sum", (2 * MIN_RUN - 1,), (0,))]
    assert _reductions(lambda x: x.sum((0, 1)), (1, 65537)) == [("sum", (1, 65537), (0, 1))]
    # enough outputs already: nothing to do; axes that are not one run: nothing either
    assert len(_reductions(lambda x: x.sum((1,)), (64, n))) == 1
    assert len(_reductions(lambda x: x.sum((0, 2)), (2, 3, n))) == 1
    # the prologue is rebuilt on reshaped operands (one value broadcasts as a 0-d)
    assert _reductions(lambda x, s: (x * x + s).sum((0,)), (n,), (1,)) == \
        [("sum", (4,), (0,)), ("sum", (4, MIN_RUN), (1,))]
    # a broadcast inside the prologue: the value there is materialised, and split
    assert _reductions(lambda x, m: ((x - m) * 2.0).sum((0, 1)), (2, n), (2, 1)) == \
        [("sum", (8,), (0,)), ("sum", (8, MIN_RUN), (1,))]
    assert Dialect("cpu", compute_units=8, max_work_group=64).pass_options().parallelism == 128


def test_split_sums_match_torch(rng):
    """Each shape splits into partials (except the prime run) on a 2-core device."""
    class Reduce(G.nn.Module):
        def forward(self, a, b, c, d):
            return (a.sum(), (a * a + 1).sum(), b.sum(dim=1), b.amax(dim=1, keepdim=True),
                    c.sum(dim=(1, 2)), c.amin(dim=(1, 2)), d.sum(), (d > 0).sum(),
                    a.mean())

    shapes = [(3 * (MIN_RUN + 3),), (3, 40000), (2, 3, 5003), (1, 65537)]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs, ts = zip(*(pair(x) for x in xs))
    a, b, c, d = ts
    want = (a.sum(), (a * a + 1).sum(), b.sum(dim=1), b.amax(dim=1, keepdim=True),
            c.sum(dim=(1, 2)), c.amin(dim=(1, 2)), d.sum(), (d > 0).sum(), a.mean())
    got = Reduce()(*gs)
    for i, (x, y) in enumerate(zip(got, want)):
        assert x.shape == tuple(y.shape) and str(x.dtype)[8:] == str(y.dtype)[6:], i
        assert_close(x, y, rtol=1e-4, atol=1e-3, what=f"output {i}")


def test_split_sum_gradients_and_integers(rng):
    x = rng.standard_normal((2, 5 * MIN_RUN)).astype(np.float32)
    w = rng.standard_normal((5 * MIN_RUN,)).astype(np.float32)
    (gx, tx), (gw, tw) = pair(x, True), pair(w, True)
    ((gx * gw).sum() * 0.5).backward()
    ((tx * tw).sum() * 0.5).backward()
    assert_close(gx.grad, tx.grad)
    assert_close(gw.grad, tw.grad)
    k = rng.integers(-1000, 1000, size=(6 * MIN_RUN,))
    assert int(G.tensor(k).sum()) == int(torch.tensor(k).sum())


def test_long_sums_keep_float32_precision(rng):
    """A sum of 4M squares, contiguous (vectorised kernel, split into partials) and through a
    permutation (the generic kernel, one long serial loop per output): blocked summation
    keeps the error near float32's rounding of the result, as torch's cascade sum does."""
    x = rng.standard_normal((2, 1 << 21)).astype(np.float32)
    exact = (x.astype(np.float64) ** 2).sum()
    g = G.tensor(x)
    assert abs(float((g * g).sum()) - exact) < 1e-5 * exact
    per_row = (x.astype(np.float64) ** 2).sum(1)
    got = (g * g).permute(1, 0).sum(dim=0).numpy()
    assert np.all(np.abs(got - per_row) < 1e-5 * per_row)


def test_split_through_a_broadcast_prologue(rng):
    """A loss over a layer norm's output, (layer_norm(x) * w + b - y) ** 2 averaged: the
    prologue reads row statistics and column parameters, so the value at that node is
    materialised and the sum split into partials (it ran in one work-item before). Forward
    and the gradients of x, the weight, the bias and y against PyTorch, at a row length
    that is not a multiple of the vector width."""
    shape = (3, 7, 4 * MIN_RUN // 21 + 5)          # 3 * 7 rows: 4 partials' worth and more
    x, y = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    w, b = (rng.standard_normal(shape[-1:]).astype(np.float32) for _ in range(2))
    (gx, tx), (gy, ty), (gw, tw), (gb, tb) = (pair(a, True) for a in (x, y, w, b))

    class Loss(G.nn.Module):
        def forward(self, a, t, weight, bias):
            return ((G.nn.functional.layer_norm(a, a.shape[-1:], weight, bias) - t) ** 2).mean()

    got = Loss()(gx, gy, gw, gb)
    want = ((torch.nn.functional.layer_norm(tx, tx.shape[-1:], tw, tb) - ty) ** 2).mean()
    assert_close(got, want, rtol=1e-5, atol=1e-5, what="loss")
    got.backward()
    want.backward()
    for g_, t_, what in ((gx, tx, "x"), (gy, ty, "y"), (gw, tw, "weight"), (gb, tb, "bias")):
        assert_close(g_.grad, t_.grad, rtol=1e-4, atol=1e-5, what=f"grad of {what}")
    def loss(a, m, s):
        v = (a - m) * s
        return (v * v).sum((0, 1, 2))

    assert _reductions(loss, shape, shape[:2] + (1,), shape[:2] + (1,)) != \
        [("sum", shape, (0, 1, 2))], "the loss should split"


def test_split_at_the_batch(rng):
    """A reduction over (batch, features...) with a symbolic batch: the static part is too
    short for partials, so it is reduced over the batch first (one output per feature) and
    then over the features; a short static part, or enough outputs, stays whole. Through a
    traced module (the batch is symbolic there), forward and gradients against PyTorch,
    with a layer norm's broadcast prologue and a mean over three dims."""
    from graphnn.ir.symbolic import SymInt
    batch = SymInt.dim(64)
    assert _reductions(lambda x: (x * x).sum((0, 1)), (batch, BATCH_SPLIT_MIN)) == \
        [("sum", (batch, BATCH_SPLIT_MIN), (0,)), ("sum", (BATCH_SPLIT_MIN,), (0,))]
    too_short = (batch, BATCH_SPLIT_MIN - 1)
    assert len(_reductions(lambda x: x.sum((0, 1)), too_short)) == 1
    assert len(_reductions(lambda x: x.sum((1, 2)), (batch, 8, 99))) == 1   # outputs: B

    x = rng.standard_normal((37, 4, 130)).astype(np.float32)     # 520 per batch entry
    y = rng.standard_normal((37, 4, 130)).astype(np.float32)
    w = rng.standard_normal((130,)).astype(np.float32)
    (gx, tx), (gy, ty), (gw, tw) = (pair(a, True) for a in (x, y, w))

    class Loss(G.nn.Module):
        def forward(self, a, t, weight):
            n = G.nn.functional.layer_norm(a, a.shape[-1:], weight)
            return (n * t).sum(), ((n - t) ** 2).mean(), n.amax(dim=(0, 1))

    got = Loss()(gx, gy, gw)
    tn = torch.nn.functional.layer_norm(tx, tx.shape[-1:], tw)
    want = ((tn * ty).sum(), ((tn - ty) ** 2).mean(), tn.amax(dim=(0, 1)))
    for i, (g_, t_) in enumerate(zip(got, want)):
        assert_close(g_, t_, rtol=1e-4, atol=1e-4, what=f"output {i}")
    (got[0] + got[1]).backward()
    (want[0] + want[1]).backward()
    for g_, t_, what in ((gx, tx, "x"), (gy, ty, "y"), (gw, tw, "weight")):
        assert_close(g_.grad, t_.grad, rtol=1e-4, atol=1e-4, what=f"grad of {what}")
