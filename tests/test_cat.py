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
    out, ref = graphnn.cat(ours, dim), torch.cat(refs, dim)
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
