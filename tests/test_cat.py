"""torch.cat / stack / split / chunk against PyTorch, forward and gradients."""
import numpy as np
import pytest
import torch

import graphnn
from tests.conftest import assert_close, pair


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_forward_and_gradients(dim, rng):
    shapes = {0: [(2, 3), (4, 3), (1, 3)], 1: [(2, 3), (2, 1), (2, 4)],
              -1: [(2, 3), (2, 1), (2, 4)]}[dim]
    ours, refs = zip(*[pair(rng.standard_normal(s).astype(np.float32), requires_grad=True)
                       for s in shapes])
    _matches_torch(graphnn.cat(ours, dim), torch.cat(refs, dim), ours, refs, rng)


def _matches_torch(out, ref, ours, refs, rng) -> None:
    """``out`` equals PyTorch's ``ref``, and so do the gradients of ``ours`` and ``refs``
    under the same random weighting of the result."""
    assert_close(out, ref)
    w = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    (out * graphnn.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for o, r in zip(ours, refs):
        assert_close(o.grad, r.grad)


def test_stack_split_chunk(rng):
    ga, ta = pair(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    gb, tb = pair(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    for d in (0, 1, 2, -1):
        assert_close(graphnn.stack([ga, gb], d), torch.stack([ta, tb], d))
    for got, want in zip(graphnn.split(ga, 3, 1), torch.split(ta, 3, 1)):
        assert_close(got, want)
    for got, want in zip(ga.split([1, 2], 0), ta.split([1, 2], 0)):
        assert_close(got, want)
    for got, want in zip(ga.chunk(3, 1), ta.chunk(3, 1)):
        assert_close(got, want)
    (graphnn.stack([ga, gb * 2], 1) ** 2).sum().backward()
    (torch.stack([ta, tb * 2], 1) ** 2).sum().backward()
    assert_close(ga.grad, ta.grad)
    assert_close(gb.grad, tb.grad)


def test_cat_inside_a_module_fuses_with_its_consumer(rng):
    import graphnn.nn as nn
    from graphnn.dump import dump_model

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return graphnn.cat([x, self.fc(x).relu()], 1) * 2

    graphnn.manual_seed(0)
    (d,) = dump_model(Skip(), [(4, 3)])
    assert [launch.ops for launch in d.program.launches] == [["matmul", "add", "relu"],
                                                            ["concat", "mul"]]


def test_cat_errors():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        graphnn.cat([graphnn.zeros(2, 3), graphnn.zeros(3, 2)], 0)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        graphnn.stack([graphnn.zeros(2), graphnn.zeros(3)])


def test_wide_stack_becomes_a_tree_of_concats(rng):
    """``stack`` of 300 tensors (an RNN's outputs): a tree of 16-way concatenations, forward
    and gradient against PyTorch (one 300-way select chain passes clang's nesting limit)."""
    from graphnn.ir.graph import Graph
    from graphnn.ir.passes.wide import MAX_CONCAT, split_wide_concats
    from graphnn.ir.types import TensorType, float32

    g = Graph()
    ins = [g.add_input(TensorType((2, 3), float32)) for _ in range(300)]
    g.outputs = [g.add("concat", ins, {"axis": 0})]
    assert split_wide_concats(g)
    widths = sorted(len(g.args(n)) for n in g.nodes() if g.op(n) == "concat")
    assert max(widths) <= MAX_CONCAT and g.type(g.outputs[0]).shape == (600, 3)

    xs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(300)]
    w = rng.standard_normal((300, 2, 3)).astype(np.float32)
    results = []
    for L in (graphnn, torch):
        ts = [L.tensor(x, requires_grad=True) for x in xs]
        out = L.stack(ts)
        (out * L.tensor(w)).sum().backward()
        results.append((out.detach().numpy(), [t.grad.numpy() for t in ts]))
    np.testing.assert_allclose(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b)


class Gates(graphnn.nn.Module):
    """An LSTM cell's shape of concatenation: each part its own elementwise chain."""

    def forward(self, a, b, c):
        return _gates(graphnn, a, b, c)


def _gates(lib, a, b, c):
    x = a.sum() * 0.0                                   # the parts read a kernel output
    return lib.cat([(a + x).sigmoid(), (b * 2.0 + x).tanh(), (c + x > 0).float(),
                    c * b[:, :1] - x], 1)


@pytest.mark.parametrize("widths", [(1, 3, 2), (7, 9, 17), (16, 16, 33)])
def test_cat_of_elementwise_parts_in_one_kernel(widths, rng):
    """Concatenated elementwise chains (one a bool-to-float cast) are computed inside the
    concatenation's kernel, each in its own branch: forward and gradients against PyTorch at
    part widths on both sides of the vector widths, and the launch list."""
    from graphnn.dump import dump_model

    na, nb, nc = widths
    arrays = [rng.standard_normal((3, n)).astype(np.float32) for n in (na, nb, nc)]
    ours, refs = zip(*[pair(a, requires_grad=True) for a in arrays])
    _matches_torch(Gates()(*ours), _gates(torch, *refs), ours, refs, rng)
    (d,) = dump_model(Gates(), [(3, na), (3, nb), (3, nc)])
    cats = [launch.ops for launch in d.program.launches if "concat" in launch.ops]
    assert len(cats) == 1 and {"sigmoid", "tanh", "cast", "mul"} <= set(cats[0]), cats
