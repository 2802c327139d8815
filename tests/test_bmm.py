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


TRANSPOSED = [("a@bT", (3, 7, 17), (3, 9, 17), False, True),      # attention's q @ k^T
              ("aT@b", (3, 17, 7), (3, 17, 9), True, False),
              ("aT@bT", (2, 17, 7), (2, 9, 17), True, True),
              ("2d x@wT", (5, 33), (19, 33), False, True),
              # heads flattened to one batch: reshape(k.transpose(-2, -1)) (simplify)
              ("4d a@bT", (2, 3, 7, 17), (2, 3, 9, 17), False, True),
              ("4d aT@b", (2, 3, 17, 7), (2, 3, 17, 9), True, False)]


@pytest.mark.parametrize("name,sa,sb,ta_,tb_", TRANSPOSED, ids=[c[0] for c in TRANSPOSED])
def test_matmul_of_transposed_views(name, sa, sb, ta_, tb_):
    """An operand transposed by a view (``x.transpose(-1, -2)``, ``.mT``, ``.t()``) is read
    through the product's transposition flag (simplify), so the vectorised GEMM kernels take
    it: forward and both gradients against PyTorch, and the row kernel checked."""
    from tests.kernel_check import Case, check_all, dialect

    def fn(lib, a, b):
        a = a.transpose(-1, -2) if ta_ else a
        b = b.transpose(-1, -2) if tb_ else b
        return lib.matmul(a, b)

    rng = np.random.default_rng(7)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    with dialect("cpu"):
        # both transposed: no vectorised layout reads A and B that way (the generic kernel)
        check_all([Case(fn, [a, b], name)], expect={"matmul": not (ta_ and tb_)})


def test_eager_products_read_transposed_matrices_through_the_flags():
    """``x @ W.T``, ``A.T @ B`` and a 4-D attention's ``q @ k.transpose(-2, -1)`` in eager
    mode: one launch each (the transposed operand is read in place through the GEMM's flag,
    not copied dense first), PyTorch's values and gradients."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in ((5, 7), (6, 7), (5, 4), (2, 3, 5, 9), (2, 3, 6, 9))]
    ours = [graphnn.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for _ in range(2):          # the second time: compiled, so only launches count
        before = graphnn.stats().launches
        y = ours[0] @ ours[1].T
        z = ours[0].T @ ours[2]
        s = ours[3] @ ours[4].transpose(-2, -1)
        assert graphnn.stats().launches - before == 3
    ty, tz = refs[0] @ refs[1].T, refs[0].T @ refs[2]
    ts = refs[3] @ refs[4].transpose(-2, -1)
    assert_close(y, ty)
    assert_close(z, tz)
    assert_close(s, ts)
    (y.sum() + (z * z).sum() + (s * s).sum()).backward()
    (ty.sum() + (tz * tz).sum() + (ts * ts).sum()).backward()
    for o, r in zip(ours, refs):
        assert_close(o.grad, r.grad)
