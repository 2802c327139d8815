"""The ``scatter_add`` kernels (a copy, then one atomic add per index element) against
PyTorch: sizes on both sides of the 1-D work-group size (64 on PoCL) and of the float16
vector width, repeated and all-equal indices, an empty index, every supported dtype, and
how fusion treats the op (its output written by its own kernels, never an epilogue)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.ir.graph import Graph
from graphnn.ir.passes import run_pipeline
from graphnn.ir.types import TensorType, float32, int64
from tests.conftest import assert_close, pair


def _case(rng, shape, ishape, axis, high=None, dtype=np.float32, src_shape=None):
    x = rng.standard_normal(shape) * 4
    src = rng.standard_normal(src_shape or ishape) * 4
    idx = rng.integers(0, high or shape[axis], ishape).astype(np.int64)
    return x.astype(dtype), idx, src.astype(dtype)


class Scatters(G.nn.Module):
    """Several scatter_adds in one traced graph (one program build for all the cases)."""

    def __init__(self, axes):
        super().__init__()
        self.axes = axes

    def forward(self, *args):
        return tuple(G.scatter_add(args[i], ax, args[i + 1], args[i + 2])
                     for ax, i in zip(self.axes, range(0, len(args), 3)))


def _run(cases, requires_grad=False):
    mod = Scatters([c[0] for c in cases])
    ours, theirs, leaves = [], [], []
    for _, x, idx, src in cases:
        gx, tx = pair(x, requires_grad)
        gs, ts = pair(src, requires_grad)
        ours += [gx, G.tensor(idx), gs]
        theirs += [(tx, torch.tensor(idx), ts)]
        leaves.append((gx, tx, gs, ts))
    out = mod(*ours)
    ref = [torch.scatter_add(t, ax, i, s) for (ax, *_), (t, i, s) in zip(cases, theirs)]
    return out, ref, leaves


def test_sizes_around_work_group_and_vector_width(rng):
    cases = []
    # index elements 63, 64, 65 (one work-group of 64 and its neighbours), 17 columns
    # (one float16 vector and one more), prime and size-1 shapes, axis 0 and 1, 3-D
    for n in (63, 64, 65):
        cases.append((0, *_case(rng, (5, 1), (n, 1), 0)))
    cases.append((1, *_case(rng, (3, 17), (3, 16), 1)))
    cases.append((1, *_case(rng, (2, 15), (2, 31), 1)))      # more indices than columns
    cases.append((1, *_case(rng, (2, 7, 5), (2, 13, 3), 1)))  # index narrower than self
    cases.append((0, *_case(rng, (1,), (1,), 0)))
    cases.append((2, *_case(rng, (2, 3, 4), (2, 2, 4), 2, src_shape=(3, 3, 5))))  # src larger
    out, ref, _ = _run(cases)
    for i, (o, r) in enumerate(zip(out, ref)):
        assert_close(o, r, rtol=1e-5, atol=1e-5, what=f"case {i}")


def test_repeated_and_equal_indices_and_gradients(rng):
    x, _, src = _case(rng, (6, 17), (130, 17), 0)
    equal = np.full((130, 17), 4, np.int64)          # every element adds into row 4
    repeated = rng.integers(0, 2, (130, 17)).astype(np.int64)
    out, ref, leaves = _run([(0, x, equal, src), (0, x, repeated, src)], requires_grad=True)
    for o, r in zip(out, ref):
        assert_close(o, r, rtol=1e-5, atol=1e-4)
    cot = [rng.standard_normal(x.shape).astype(np.float32) for _ in out]
    sum((o * G.tensor(c)).sum() for o, c in zip(out, cot)).backward()
    sum((r * torch.tensor(c)).sum() for r, c in zip(ref, cot)).backward()
    for gx, tx, gs, ts in leaves:
        assert_close(gx.grad, tx.grad, what="d self")
        assert_close(gs.grad, ts.grad, what="d src")


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_dtypes(rng, dtype):
    x, idx, src = _case(rng, (4, 67), (9, 67), 0, dtype=dtype)
    ours = G.tensor(x).scatter_add(0, G.tensor(idx), G.tensor(src))
    ref = torch.tensor(x).scatter_add(0, torch.tensor(idx), torch.tensor(src))
    assert str(ours.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_empty_index_and_int32_index(rng):
    x, idx, src = _case(rng, (3, 5), (2, 5), 0)
    empty = np.zeros((0, 5), np.int64)
    assert_close(G.tensor(x).scatter_add(0, G.tensor(empty), G.tensor(src)),
                 torch.tensor(x).scatter_add(0, torch.tensor(empty), torch.tensor(src)))
    i32 = idx.astype(np.int32)
    assert_close(G.tensor(x).scatter_add(0, G.tensor(i32), G.tensor(src)),
                 torch.tensor(x).scatter_add(0, torch.tensor(i32), torch.tensor(src)))


def test_not_fused_and_ordered():
    """An elementwise producer of self and an elementwise consumer stay in kernels of their
    own: the consumer may only read the output after the last atomic add."""
    g = Graph()
    x = g.add_input(TensorType((5, 3), float32))
    i = g.add_input(TensorType((4, 3), int64))
    s = g.add_input(TensorType((4, 3), float32))
    two = g.add_const(2.0, TensorType((), float32))
    doubled = g.add("mul", [x, two])
    sa = g.add("scatter_add", [doubled, i, s], {"axis": 0})
    out = g.add("exp", [sa])
    g.outputs = [out]
    run_pipeline(g)
    owner = {m: grp for grp in g.groups for m in grp.nodes()}
    assert owner[sa].nodes() == [sa] and owner[sa].kind == "scatter_add"
    assert owner[doubled] is not owner[sa] and owner[out] is not owner[sa]
    from graphnn.codegen import lower
    prog = lower(g)
    names = [launch.kernel for launch in prog.launches]
    assert len(names) == 4 and names[2].endswith("_add"), names   # mul, copy, adds, exp


def test_float64_needs_64_bit_atomics():
    import dataclasses
    from graphnn.codegen import CPU, lower
    from graphnn.ir.types import float64
    g = Graph()
    x = g.add_input(TensorType((5,), float64))
    i = g.add_input(TensorType((3,), int64))
    s = g.add_input(TensorType((3,), float64))
    g.outputs = [g.add("scatter_add", [x, i, s], {"axis": 0})]
    run_pipeline(g)
    assert "atom_cmpxchg" in lower(g, CPU).source
    bare = dataclasses.replace(CPU, int64_atomics=False, device="Some / Device")
    with pytest.raises(RuntimeError, match="cl_khr_int64_base_atomics.*Some / Device"):
        lower(g, bare)
