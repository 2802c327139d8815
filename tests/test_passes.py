"""Pass pipeline: golden text dumps of the fused IR, plus structural checks.

Set GRAPHNN_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change; review
the diff (it is the IR the compiler produces) before committing it."""
import os
from pathlib import Path

import pytest

import graphnn
from graphnn.codegen import CPU
from graphnn.dump import as_text, dump_model
from graphnn.ir.graph import Graph
from graphnn.ir.passes import run_pipeline
from graphnn.ir.types import TensorType, float32
from tests import models

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "conv_relu_pool": (models.conv_block, [(2, 1, 8, 8)], False),
    "linear_relu": (models.mlp, [(4, 6)], False),
    "elementwise_chain": (models.Chain, [(3, 4)], False),
    "softmax": (models.Softmax, [(2, 5)], False),
    "mean_square": (models.MeanSquare, [(3, 4)], False),
    "mlp_train": (models.mlp, [(4, 6)], True),
    # training: batch statistics as reductions, running stats written back, scale-and-shift
    # and ReLU in one kernel; eval: BatchNorm folded into the conv kernel's epilogue
    "conv_bn_relu_pool_train": (models.conv_bn_block, [(2, 2, 8, 8)], True),
    "conv_bn_relu_pool_eval": (models.conv_bn_block_eval, [(2, 2, 8, 8)], False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dump(name):
    factory, shapes, train = CASES[name]
    graphnn.manual_seed(0)
    # the fixed CPU dialect (2 compute units), not this machine's device: the golden text
    # must not depend on where the suite runs
    text = as_text(dump_model(factory(), shapes, train=train, dialect=CPU))
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("GRAPHNN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def _kernels(factory, shapes, train=False):
    graphnn.manual_seed(0)
    return [launch.ops for d in dump_model(factory(), shapes, train=train)
            for launch in d.program.launches]


def test_fusion_groups():
    assert _kernels(models.conv_block, [(2, 1, 8, 8)]) == [["conv2d", "add", "relu",
                                                            "max_pool2d"]]
    assert _kernels(models.mlp, [(4, 6)]) == [["matmul", "add", "relu"], ["matmul", "add"]]
    assert _kernels(models.Chain, [(3, 4)]) == [["mul", "add", "tanh", "mul", "relu"]]
    # eval BatchNorm is a per-channel scale and shift in the conv kernel's epilogue
    assert _kernels(models.conv_bn_block_eval, [(2, 2, 8, 8)]) == [
        ["conv2d", "add", "sub", "add", "sqrt", "div", "mul", "mul", "add", "relu",
         "max_pool2d"]]
    # x*x and the scale join the reduction as prologue and epilogue
    assert _kernels(models.MeanSquare, [(3, 4)]) == [["mul", "sum", "mul", "sqrt"]]


def test_training_forward_stores_what_backward_reads():
    graphnn.manual_seed(0)
    fwd, bwd = dump_model(models.conv_block(), [(2, 1, 8, 8)], train=True)
    (group,) = fwd.graph.groups
    ops = [fwd.graph.op(s) for s in group.stores]
    # the relu output feeds max_pool2d's gradient: the fused kernel writes it as well
    assert "relu" in ops and "max_pool2d" in ops
    bwd_ops = [launch.ops for launch in bwd.program.launches]
    assert ["max_pool2d_grad", "gt", "where"] in bwd_ops


def test_passes_keep_graph_valid_and_remove_dead_code():
    g = Graph()
    x = g.add_input(TensorType((4,), float32), "x")
    dead = g.add("exp", [x])
    g.add("log", [dead])
    a = g.add("relu", [x])
    b = g.add("relu", [x])                 # a duplicate: CSE merges it
    g.outputs = [g.add("add", [a, b])]
    run_pipeline(g, verify=True)
    ops = sorted(g.op(n) for n in g.nodes())
    assert ops == ["add", "input", "relu"]
    assert len(g.groups) == 1


def test_dump_after_each_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNN_DUMP", str(tmp_path))
    graphnn.manual_seed(0)
    dump_model(models.mlp(), [(4, 6)], after=None)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "inference.0.trace.txt" and any("fuse" in n for n in names)


def test_conv_pool_tail_only_when_windows_cover_stored_values():
    import graphnn.nn as nn
    graphnn.manual_seed(0)
    # stride 3 > kernel 2 leaves rows no window reads: in training the relu output is
    # stored for the backward graph, so the pool stays a kernel of its own
    gap = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2, stride=3))
    fwd, _ = dump_model(gap, [(1, 1, 9, 9)], train=True)
    assert [launch.ops for launch in fwd.program.launches] == [
        ["conv2d", "add", "relu"], ["max_pool2d"]]
    (inf,) = dump_model(gap, [(1, 1, 9, 9)])
    assert [launch.ops for launch in inf.program.launches] == [
        ["conv2d", "add", "relu", "max_pool2d"]]


def test_pool_prologue_only_when_windows_tile_stored_values():
    """Training BatchNorm's scale-and-shift and the ReLU are computed at the max-pool's taps
    (their statistics come from a reduction, so the convolution's epilogue cannot take
    them); the values saved for the backward graph are stored there, which needs every
    input in exactly one window."""
    import graphnn.nn as nn
    from graphnn.ir.passes.fusion import REASONS

    def block(pool):
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), pool)

    graphnn.manual_seed(0)
    fwd, _ = dump_model(block(nn.MaxPool2d(2)), [(2, 1, 10, 10)], train=True)
    assert fwd.program.launches[-1].ops == ["add", "sub", "mul", "mul", "add", "relu",
                                            "max_pool2d"]
    assert len(fwd.program.launches) == 4
    # overlapping windows would store some inputs twice: the pool reads the stored values
    fwd, _ = dump_model(block(nn.MaxPool2d(3, stride=2)), [(2, 1, 10, 10)], train=True)
    assert fwd.program.launches[-1].ops == ["max_pool2d"]
    why = [d for d in fwd.graph.fusion_decisions if d.reason == "pool_prologue"]
    assert len(why) == 1 and "pool_prologue" in REASONS, fwd.graph.fusion_decisions
    # in inference nothing is stored: any windows take the prologue (here the BatchNorm
    # folds into the convolution's epilogue, so a plain elementwise chain before the pool)
    (inf,) = dump_model(nn.Sequential(nn.Tanh(), nn.MaxPool2d(3, stride=2)), [(2, 1, 9, 9)])
    assert [launch.ops for launch in inf.program.launches] == [["tanh", "max_pool2d"]]


def test_horizontal_kernel_reads_scalars_at_zero_in_every_part():
    """Parts of a horizontal kernel after a 0-d part read 0-d inputs at element 0 (they
    read at the kernel's global index, past the end of the buffer)."""
    import numpy as np

    class M(graphnn.nn.Module):
        def forward(self, s, x):
            return s * 0.1, x * (s / 3)

    s = graphnn.tensor(np.float32(6.0))
    x = graphnn.tensor(np.arange(40, dtype=np.float32))
    a, b = M()(s, x)
    assert abs(a.item() - 0.6) < 1e-6
    np.testing.assert_allclose(b.numpy(), np.arange(40) * 2.0, rtol=1e-6)


class _Unrolled(graphnn.nn.Module):
    """A recursion over the rows of a parameter, as a loop over time steps writes it."""

    def __init__(self, steps: int):
        super().__init__()
        self.w = graphnn.nn.Parameter(graphnn.randn(steps, 3))

    def forward(self, x):
        h = x
        for t in range(self.w.shape[0]):
            h = (h * self.w[t]).tanh()
        return h.sum()


def test_gradients_of_unrolled_slices_join_in_one_concat():
    # the T rows' gradients are concatenated, not placed into T full-size buffers and summed
    # (T slice_grad kernels and one T-term sum: O(T^2) elements)
    graphnn.manual_seed(0)
    fwd, bwd = dump_model(_Unrolled(8), [(3,)], train=True)
    # the rows the backward reads are views of the saved parameter, not copies per step
    assert not any("copy" in launch.ops for launch in fwd.program.launches)
    ops = [op for launch in bwd.program.launches for op in launch.ops]
    assert "concat" in ops and "slice_grad" not in ops
    assert max(launch.ops.count("add") for launch in bwd.program.launches) <= 1


def test_sum_of_products_becomes_one_product():
    """``C + A1^T B1 + A2^T B2 + A3^T B3 + D E`` (a weight's gradient over three steps of a
    loop, another layout alone): the three products of one layout become one product of
    concatenations over their inner dims (2 + 3 + 1), the sum's value unchanged."""
    import numpy as np

    from graphnn.ir.passes.products import merge_product_sums
    from graphnn.runtime.reference import interpret

    g = Graph()
    ks = (2, 3, 1)
    a = [g.add_input(TensorType((k, 4), float32)) for k in ks]
    b = [g.add_input(TensorType((k, 5), float32)) for k in ks]
    c = g.add_input(TensorType((4, 5), float32))
    d, e = g.add_input(TensorType((4, 2), float32)), g.add_input(TensorType((2, 5), float32))
    total = g.add("add", [c, g.add("matmul", [a[0], b[0]], {"ta": True, "tb": False})])
    for x, y in zip(a[1:], b[1:]):
        total = g.add("add", [total, g.add("matmul", [x, y], {"ta": True, "tb": False})])
    g.outputs = [g.add("add", [total, g.add("matmul", [d, e], {"ta": False, "tb": False})])]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(g.type(i).shape).astype(np.float32) for i in g.inputs]
    before = interpret(g, inputs)[0]
    assert merge_product_sums(g)
    g.verify()
    mms = [n for n in g.nodes() if g.op(n) == "matmul"]
    assert len(mms) == 2 and sorted(g.type(g.args(m)[0]).shape for m in mms) == [(4, 2), (6, 4)]
    np.testing.assert_allclose(interpret(g, inputs)[0], before, rtol=1e-5, atol=1e-5)


def test_sum_of_leading_sums_becomes_one_sum():
    """``c + sum_0(X1) + sum_0(X2) + sum_0(X3)`` (a bias gradient over three steps of a loop,
    rows 2, 3 and 1) becomes one sum over the rows of their concatenation; a sum over
    another axis stays as it is; the value is unchanged."""
    import numpy as np

    from graphnn.ir.passes.products import merge_product_sums
    from graphnn.runtime.reference import interpret

    g = Graph()
    xs = [g.add_input(TensorType((k, 5), float32)) for k in (2, 3, 1)]
    c = g.add_input(TensorType((5,), float32))
    y = g.add_input(TensorType((5, 4), float32))
    total = c
    for x in xs:
        total = g.add("add", [total, g.add("sum", [x], {"axes": (0,), "keepdim": False})])
    g.outputs = [g.add("add", [total, g.add("sum", [y], {"axes": (1,), "keepdim": False})])]
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(g.type(i).shape).astype(np.float32) for i in g.inputs]
    before = interpret(g, inputs)[0]
    assert merge_product_sums(g)
    g.verify()
    sums = sorted(g.type(g.args(n)[0]).shape for n in g.nodes() if g.op(n) == "sum")
    assert sums == [(5, 4), (6, 5)]
    np.testing.assert_allclose(interpret(g, inputs)[0], before, rtol=1e-5, atol=1e-5)


def test_relu_gradient_of_a_3d_linear_joins_the_product():
    """A Linear on a 3-D input multiplies a 2-D view: in a whole training step the ReLU's
    gradient where(reshape(y) > 0, reshape(dY), 0) is computed before the reshapes
    (simplify), so it is the epilogue of dY's product rather than a kernel of its own;
    forward and every gradient against PyTorch."""
    import numpy as np

    from tests.kernel_check import check

    def net(L, x, w1, b1, w2):
        F = L.nn.functional
        return F.linear(F.linear(x, w1, b1).relu(), w2)

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in
              [(2, 3, 6), (8, 6), (8,), (4, 8)]]
    check(net, arrays)

    graphnn.manual_seed(0)
    a, b = graphnn.nn.Linear(6, 8), graphnn.nn.Linear(8, 4)
    x = graphnn.tensor(arrays[0])

    @graphnn.compile
    def step(x):
        loss = b(a(x).relu()).sum()
        loss.backward()
        return loss

    step(x)
    (cg, *_), = step._cache.values()
    ops = [launch.ops for launch in cg.inference().program.launches]
    assert any("matmul" in o and "where" in o for o in ops), ops
    assert not any(set(o) <= {"gt", "where"} for o in ops), ops


def test_eager_relu_gradient_of_a_3d_linear_joins_the_product():
    """In an eager backward the ReLU's output is a saved input of the backward graph, 3-D:
    where(saved > 0, reshape(dY), 0) is computed in the product's 2-D shape from a reshaped
    view of it (simplify), so it is the epilogue of dY's product rather than a kernel of
    its own; values and every gradient against PyTorch."""
    import numpy as np
    import torch

    from tests.conftest import assert_close
    from tests.kernel_check import programs

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    graphnn.manual_seed(0)
    net = graphnn.nn.Sequential(graphnn.nn.Linear(6, 8), graphnn.nn.ReLU(),
                                graphnn.nn.Linear(8, 4))
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    ref.load_state_dict({k: torch.tensor(v.detach().numpy())
                         for k, v in net.state_dict().items()})
    gx, tx = graphnn.tensor(x).requires_grad_(True), torch.tensor(x, requires_grad=True)
    with programs() as built:
        (net(gx) ** 2).sum().backward()
    (ref(tx) ** 2).sum().backward()
    assert_close(gx.grad, tx.grad, what="input grad")
    for (k, p), q in zip(net.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, what=k)
    ops = [launch.ops for p in built for launch in p.launches]
    assert any("matmul" in o and "where" in o for o in ops), ops
    assert not any(set(o) <= {"gt", "where"} for o in ops), ops
