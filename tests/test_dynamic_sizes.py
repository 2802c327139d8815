"""Compiling at scale: deduplicated kernels and the batch size as a kernel argument.

Kernels equal up to their buffers are emitted once per program; the leading dimension of a
traced call's inputs is symbolic (``ir/symbolic.py``), so a new batch size traces and
lowers again but reuses the built program. Every size is checked against PyTorch, on both
sides of the kernels' block and vector boundaries (GEMM row blocks of 4 and 8, float16
vectors, the 64-element unrolled reduction step)."""
from __future__ import annotations

import os
import pickle
import re
import sys

import numpy as np
import pytest
import torch

import graphnn as G
import graphnn.nn.functional as F
from graphnn.ir.symbolic import SymInt, dynamic_leading, plain, printing
from graphnn.ir.types import TensorType, float32
from tests.conftest import assert_close

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


def _mlp(widths):
    """Linear layers with ReLU between them, and PyTorch's twin with the same weights."""
    layers, twins = [], []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(G.nn.Linear(a, b))
        twins.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(G.nn.ReLU())
            twins.append(torch.nn.ReLU())
    net, ref = G.nn.Sequential(*layers), torch.nn.Sequential(*twins)
    with torch.no_grad():
        for p, q in zip(net.parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return net, ref


def _distinct_kernels(depth: int) -> tuple[int, int]:
    from graphnn.dump import dump_model
    G.manual_seed(0)
    net, _ = _mlp([16] * (depth + 1))
    dumped = dump_model(net, [(8, 16)], train=True)
    return (sum(d.program.source.count("__kernel void") for d in dumped),
            sum(len(d.program.launches) for d in dumped))


def test_distinct_kernels_do_not_grow_with_depth():
    distinct4, launches4 = _distinct_kernels(4)
    distinct40, launches40 = _distinct_kernels(40)
    assert launches40 > 9 * launches4          # one launch per layer and pass
    assert distinct40 == distinct4 <= 8, (distinct4, distinct40)


def _step(net, ref, opt, ropt, x, y, what):
    opt.zero_grad()
    ropt.zero_grad()
    out, rout = net(G.tensor(x)), ref(torch.tensor(x))
    assert_close(out, rout, what=f"{what} logits")
    loss = F.cross_entropy(out, G.tensor(y))
    rloss = torch.nn.functional.cross_entropy(rout, torch.tensor(y))
    assert_close(loss, rloss, what=f"{what} loss")
    loss.backward()
    rloss.backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, what=f"{what} {name}.grad")
    opt.step()
    ropt.step()


def test_new_batch_sizes_reuse_the_built_programs(rng):
    G.manual_seed(0)
    net, ref = _mlp([24, 40, 19, 6])
    opt = G.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    builds = []
    for b in (24, 13, 7, 24):
        G.reset_stats()
        x = rng.standard_normal((b, 24)).astype(np.float32)
        _step(net, ref, opt, ropt, x, rng.integers(0, 6, b), f"batch {b}")
        builds.append(G.stats().builds)
    # the first step builds its programs (the SGD update's first step has no momentum
    # buffer yet, the second builds the update with one); new batch sizes build nothing
    assert builds[0] > 0 and builds[2:] == [0, 0], builds
    assert builds[1] <= 1, builds
    for p, q in zip(net.parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("widths", [[20, 33, 17, 5], [16, 64, 8]])
def test_every_batch_size_matches_torch(rng, widths):
    G.manual_seed(1)
    net, ref = _mlp(widths)
    opt = G.optim.SGD(net.parameters(), lr=0.05)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.05)
    for b in (1, 2, 3, 7, 8, 9, 16, 17, 63, 64, 65, 131):
        x = rng.standard_normal((b, widths[0])).astype(np.float32)
        _step(net, ref, opt, ropt, x, rng.integers(0, widths[-1], b), f"batch {b}")


class _Pairs(G.nn.Module):
    """Products whose output columns or contraction run over the batch: x @ y^T (N is the
    batch), x^T @ y (K is the batch), a batched attention-shaped product."""

    def forward(self, x, y):
        s = G.matmul(x, y.t())                                  # (B, B)
        c = G.matmul(x.t(), y)                                  # (F, F), summed over B
        q = x.reshape(x.shape[0], 2, -1)                        # (B, 2, F/2)
        a = F.softmax(G.matmul(q, q.transpose(1, 2)), dim=-1)   # (B, 2, 2)
        return s.sum() * 0.1 + c.sum() + G.matmul(a, q).pow(2).mean() + x.mean()


def _torch_pairs(x, y):
    s = x @ y.t()
    c = x.t() @ y
    q = x.reshape(x.shape[0], 2, -1)
    a = torch.softmax(q @ q.transpose(1, 2), dim=-1)
    return s.sum() * 0.1 + c.sum() + (a @ q).pow(2).mean() + x.mean()


def test_products_over_the_batch_dimension(rng):
    m = _Pairs()
    for b in (2, 5, 8, 17, 33):
        xs = rng.standard_normal((b, 32)).astype(np.float32)
        ys = rng.standard_normal((b, 32)).astype(np.float32)
        x, y = G.tensor(xs, requires_grad=True), G.tensor(ys, requires_grad=True)
        tx, ty = torch.tensor(xs, requires_grad=True), torch.tensor(ys, requires_grad=True)
        out, ref = m(x, y), _torch_pairs(tx, ty)
        assert_close(out, ref, rtol=1e-4, atol=1e-3, what=f"batch {b}")
        out.backward()
        ref.backward()
        assert_close(x.grad, tx.grad, rtol=1e-4, atol=1e-4, what=f"batch {b} dx")
        assert_close(y.grad, ty.grad, rtol=1e-4, atol=1e-4, what=f"batch {b} dy")


def test_lenet_last_smaller_batch_reuses_the_programs(rng):
    from lenet import LeNet, torch_twin
    G.manual_seed(0)
    net = LeNet()
    ref = torch_twin(net)
    opt = G.optim.SGD(net.parameters(), lr=0.05)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.05)
    builds = []
    for b in (12, 5):
        G.reset_stats()
        x = rng.standard_normal((b, 1, 32, 32)).astype(np.float32)
        _step(net, ref, opt, ropt, x, rng.integers(0, 10, b), f"batch {b}")
        builds.append(G.stats().builds)
    assert builds[0] > 0 and builds[1] == 0, builds


# -- the symbolic sizes themselves ---------------------------------------------------------
def test_symbolic_sizes_keep_their_key_and_print_as_values_outside_kernels():
    n = SymInt.dim(32)
    assert isinstance(n * 256, SymInt) and isinstance(256 * n - 1, SymInt)
    assert isinstance(-(-n // 8), SymInt) and isinstance(max(n, 3), SymInt)
    assert (n * 256) == 8192 and (n * 256).key == (n * 256).key != (n * 255).key
    assert f"{n}" == str(n) == repr(n) == "32"
    with printing():            # no kernel being written: still the value
        assert f"{n + 1}" == "33"
    assert type(pickle.loads(pickle.dumps(n))) is int
    t = TensorType((SymInt.dim(5), 3), float32)
    assert plain(t) == t and all(type(s) is int for s in plain(t).shape)
    # sizes 0 and 1 are specialised: they broadcast, so their code differs anyway
    assert all(type(s) is int for s in dynamic_leading(TensorType((1, 4), float32)).shape)
    assert isinstance(dynamic_leading(TensorType((2, 4), float32)).shape[0], SymInt)


def test_size_arguments_in_kernel_text():
    from graphnn.dump import dump_model
    G.manual_seed(0)
    net, _ = _mlp([16, 16])
    a = dump_model(net, [(24, 16)], train=True)
    b = dump_model(net, [(37, 16)], train=True)
    for da, db in zip(a, b):
        assert da.program.source == db.program.source, da.label
        assert not re.search(r"\b24\b", da.program.source), da.label
    sizes = [s for launch in b[0].program.launches for s in launch.sizes]
    assert ("int", 37) in sizes


def _conv_bn_net(L):
    return L.nn.Sequential(L.nn.Conv2d(3, 6, 3, padding=1), L.nn.BatchNorm2d(6), L.nn.ReLU(),
                           L.nn.MaxPool2d(2), L.nn.Flatten(), L.nn.Linear(6 * 4 * 4, 5))


def test_batchnorm_training_reuses_the_programs_across_batch_sizes(rng):
    """Training BatchNorm's running variance takes the unbiased factor count / (count - 1)
    of the batch statistics: computed from the symbolic count, the kernel text does not
    hold the batch size, so new batch sizes build nothing."""
    G.manual_seed(0)
    net, ref = _conv_bn_net(G), _conv_bn_net(torch)
    net.load_state_dict(ref.state_dict())
    opt = G.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    builds = []
    for b in (5, 5, 3, 7):
        G.reset_stats()
        x = rng.standard_normal((b, 3, 8, 8)).astype(np.float32)
        _step(net, ref, opt, ropt, x, rng.integers(0, 5, b), f"batch {b}")
        builds.append(G.stats().builds)
        for name in ("running_mean", "running_var"):
            assert_close(getattr(net[1], name), getattr(ref[1], name), what=f"batch {b} {name}")
    # the first step builds its programs, the second the momentum update; then none
    assert builds[0] > 0 and builds[2:] == [0, 0], builds
    for p, q in zip(net.parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_exact_quotients_of_symbolic_sizes_are_ints():
    """``reshape(N * C, -1)`` of an (N, C, 128) tensor infers ``N * C * 128 // (N * C)``:
    the same 128 for every N, so a plain int (a size argument there made the GEMM's K a
    run-time bound); quotients that depend on N stay symbolic."""
    n = SymInt.dim(64)
    assert type(n * 16 * 128 // (n * 16)) is int and n * 16 * 128 // (n * 16) == 128
    assert type((n * n * 4) // (n * 2)) is SymInt and (n * n * 4) // (n * 2) == 128
    assert type((n * 8) // 3) is SymInt and type((n + 1) * 4 // (n + 1)) is SymInt
    assert type((n * 6) // (n * 4)) is SymInt        # 6 // 4: constants must divide

    class Flat(G.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = G.nn.Parameter(G.randn(6, 4))

        def forward(self, x):
            return x.reshape(x.shape[0] * x.shape[1], -1) @ self.w

    from graphnn.dump import dump_model
    (d,) = dump_model(Flat(), [(5, 3, 6)])
    assert re.findall(r"k < (\w+)", d.program.source) == ["6"]      # not a size argument
