"""Batched matrix products (torch.matmul with batch dims, torch.bmm) against PyTorch."""
import numpy as np
import pytest
import torch

import graphnn
from tests.conftest import assert_close, pair

CASES = [((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
         ((4,), (3, 4, 2)), ((3, 2, 4), (4,)), ((2, 3, 17), (2, 17, 9))]


@pytest.mark.parametrize("sa,sb", CASES, ids=[f"{a}@{b}" for a, b in CASES])
def test_batched_matmul_forward_and_gradients(sa, sb, rng):
    ga, ta = pair(rng.standard_normal(sa).astype(np.float32), requires_grad=True)
    gb, tb = pair(rng.standard_normal(sb).astype(np.float32), requires_grad=True)
    out, ref = ga @ gb, ta @ tb
    assert_close(out, ref)
    w = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    (out * graphnn.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_close(ga.grad, ta.grad, what="grad a")
    assert_close(gb.grad, tb.grad, what="grad b")


def test_bmm_and_its_errors(rng):
    ga, ta = pair(rng.standard_normal((3, 2, 5)).astype(np.float32))
    gb, tb = pair(rng.standard_normal((3, 5, 4)).astype(np.float32))
    assert_close(graphnn.bmm(ga, gb), torch.bmm(ta, tb))
    with pytest.raises(RuntimeError, match="batch2"):
        graphnn.bmm(ga, graphnn.zeros(3, 4, 4))
    with pytest.raises(RuntimeError, match="batch"):
        graphnn.zeros(2, 3, 4) @ graphnn.zeros(3, 4, 2)


def test_batched_matmul_inside_a_module_fuses_its_epilogue(rng):
    import graphnn.nn as nn
    from graphnn.dump import dump_model

    class Scores(nn.Module):
        def forward(self, q, k):
            return (q @ k.transpose(-2, -1) * 0.5).relu()

    (d,) = dump_model(Scores(), [(2, 3, 4), (2, 5, 4)])
    assert [launch.ops for launch in d.program.launches] == [["matmul", "mul", "relu"]]
    gq, tq = pair(rng.standard_normal((2, 3, 4)).astype(np.float32))
    gk, tk = pair(rng.standard_normal((2, 5, 4)).astype(np.float32))
    assert_close(Scores()(gq, gk), (tq @ tk.transpose(-2, -1) * 0.5).relu())
