"""Sum reductions (the vectorised contiguous-run path and the generic one) against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G  # noqa: F401
from tests.conftest import assert_close, pair


@pytest.mark.parametrize("shape,dims,keep", [
    ((4, 6, 28, 28), (0, 2, 3), False),
    ((3, 5, 7, 9), (0, 2, 3), True),
    ((2, 67), (1,), False),
    ((5, 130), (0, 1), False),
    ((3, 4, 33), (1, 2), True),
    ((6, 40), (0,), False),
])
def test_sum(rng, shape, dims, keep):
    x = rng.standard_normal(shape).astype(np.float32)
    g, t = pair(x)
    assert_close(g.sum(dim=dims, keepdim=keep), t.sum(dim=dims, keepdim=keep),
                 rtol=1e-4, atol=1e-4)


def test_sum_permuted_and_float64(rng):
    x = rng.standard_normal((3, 40, 5)).astype(np.float64)
    g, t = pair(x)
    assert_close(g.permute(0, 2, 1).sum(dim=(1, 2)), t.permute(0, 2, 1).sum(dim=(1, 2)),
                 rtol=1e-12, atol=1e-12)
    assert_close((g * 2).sum(dim=(0, 1)), (t * 2).sum(dim=(0, 1)), rtol=1e-12, atol=1e-12)
    assert torch.float64 == t.dtype


@pytest.mark.parametrize("shape,dims", [((5, 3), (1, 0)), ((2, 3, 4), (2, 0, 1))])
def test_mean_grad_through_permuted_view(rng, shape, dims):
    """The gradient of a mean (a scalar times 1/n) reaches x through an expand and a
    permute: the kernel that scales it must not read its own scalar back from memory,
    which only the work-items after the first would see written."""
    class Mean(G.nn.Module):
        def forward(self, x):
            return x.permute(*dims).mean()

    mod = Mean()
    for _ in range(3):           # fresh values each call: a stale read cannot pass
        x = rng.standard_normal(shape).astype(np.float32)
        g, t = pair(x, True)
        mod(g).backward()
        t.permute(*dims).mean().backward()
        assert_close(g.grad, t.grad, what=f"mean of permute{dims}")
