"""Pooling over 1 to 3 spatial dims against PyTorch: values, indices and every gradient.

Each test runs a table of configurations inside one module's ``forward`` (one compiled
graph per test in graphnn, the same calls eagerly in PyTorch): odd and prime sizes, size-1
dims, strides larger than the kernel, padding, dilation, ceil_mode where the last window
would start in the right padding, unbatched inputs. Inputs are distinct values (ties:
``test_max_pool_ties``)."""
from __future__ import annotations

import numpy as np
import pytest

import graphnn
import torch
from tests.test_ops import Case, check_case, randn


def table(fns, inputs, **kw) -> Case:
    """One Case whose function runs every ``fn(F, *inputs)`` inside one module forward."""
    def run(T, *xs):
        F = T.nn.functional

        class Table(T.nn.Module):
            def forward(self, *args):
                out = []
                for fn in fns:
                    r = fn(F, *args)
                    out += list(r) if isinstance(r, tuple) else [r]
                return tuple(out)

        return Table()(*xs)
    return Case("table", run, inputs, **kw)


X1 = randn(2, 3, 11, seed=1)
X2 = randn(2, 3, 7, 11, seed=2)
X3 = randn(2, 2, 7, 5, 6, seed=3)

MAX1 = [
    lambda F, x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
    lambda F, x: F.max_pool1d(x, 2, 3),                          # stride > kernel
    lambda F, x: F.max_pool1d(x, 3, 1, 1, dilation=3, return_indices=True),
    lambda F, x: F.max_pool1d(x[..., :5], 2, 2, 1, ceil_mode=True),   # last window dropped
    lambda F, x: F.max_pool1d(x[..., :1], 1),
    lambda F, x: F.max_pool1d(x[0], 4, return_indices=True),     # unbatched
    lambda F, x: F.max_pool1d_with_indices(x, (5,), (2,)),
]

MAX2 = [
    lambda F, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
    lambda F, x: F.max_pool2d(x, (2, 3), (3, 1), dilation=(2, 1), return_indices=True),
    lambda F, x: F.max_pool2d(x, 2, 3, ceil_mode=True),
    lambda F, x: F.max_pool2d(x[..., :5, :5], 2, 2, 1, ceil_mode=True, return_indices=True),
    lambda F, x: F.max_pool2d(x[:, :, :1, :1], 1, return_indices=True),
    lambda F, x: F.max_pool2d(x[0], (3, 2), padding=(1, 0), return_indices=True),
    lambda F, x: F.max_pool2d_with_indices(x, 3, 1),
]

MAX3 = [
    lambda F, x: F.max_pool3d(x, 3, 2, 1, return_indices=True),
    lambda F, x: F.max_pool3d(x, (2, 3, 2), (3, 1, 2), (1, 1, 0), dilation=(2, 1, 2),
                              ceil_mode=True, return_indices=True),
    lambda F, x: F.max_pool3d(x[:, :, :5, :5, :5], 2, 2, 1, ceil_mode=True,
                              return_indices=True),
    lambda F, x: F.max_pool3d(x, (1, 2, 2)),
    lambda F, x: F.max_pool3d(x, (3, 1, 1), (1, 1, 1)),
    lambda F, x: F.max_pool3d(x[0], 2, return_indices=True),    # unbatched
    lambda F, x: F.max_pool3d_with_indices(x[:, :, :1], (1, 5, 3), (1, 4, 4), (0, 2, 1)),
]


@pytest.mark.parametrize("fns,x", [(MAX1, X1), (MAX2, X2), (MAX3, X3)], ids=["1d", "2d", "3d"])
def test_max_pool(fns, x):
    check_case(table(fns, [x]))


def test_max_pool_ties():
    """Many equal maxima per window: PyTorch's index and gradient go to the first maximum
    in (d, h, w) scan order; the 3-d composition must pick the same one."""
    x3 = (np.arange(2 * 5 * 4 * 4) % 3).reshape(1, 2, 5, 4, 4).astype(np.float32)
    fns = [lambda F, x: F.max_pool3d(x, 2, 1, 1, return_indices=True),
           lambda F, x: F.max_pool3d(x, 3, 2, ceil_mode=True, return_indices=True),
           lambda F, x: F.max_pool2d(x[0], 3, 1, 1, return_indices=True)]
    check_case(table(fns, [x3]))


def test_min_pool_is_negated_max_pool():
    """Minimum pooling as documented: -max_pool2d(-x), against PyTorch's window minimum
    (``unfold`` + ``amin``; distinct values, so the gradients agree)."""
    x = randn(2, 3, 7, 8, seed=5)
    xg, xt = graphnn.tensor(x).requires_grad_(), torch.tensor(x).requires_grad_()
    ours = -graphnn.nn.functional.max_pool2d(-xg, (3, 2), (2, 2))
    ref = xt.unfold(2, 3, 2).unfold(3, 2, 2).amin((-1, -2))
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy())
    g = randn(*ref.shape, seed=6)
    ours.backward(graphnn.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy())


def test_max_pool_modules():
    x = randn(2, 3, 6, 5, 7, seed=7)
    for name, args, kw, inp in [("MaxPool1d", (3,), dict(return_indices=True), x[0, 0]),
                                ("MaxPool2d", ((2, 3), 1, 1), dict(ceil_mode=True), x[0]),
                                ("MaxPool3d", (2,), dict(return_indices=True), x)]:
        mg, mt = getattr(graphnn.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
        assert repr(mg) == repr(mt)
        og, ot = mg(graphnn.tensor(inp)), mt(torch.tensor(inp))
        og, ot = (og, ot) if kw.get("return_indices") else ((og,), (ot,))
        for a, b in zip(og, ot):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


POOL_ERRORS = [
    ("pad_over_half", lambda F, x: F.max_pool2d(x, 3, padding=2), (2, 3, 8, 8)),
    ("pad_over_half_1d", lambda F, x: F.max_pool1d(x, 2, padding=2), (2, 3, 5)),
    ("pad_over_half_3d", lambda F, x: F.max_pool3d(x, 3, padding=2), (1, 2, 4, 4, 4)),
    ("rank_1d", lambda F, x: F.max_pool1d(x, 2), (4,)),
    ("rank_2d", lambda F, x: F.max_pool2d(x, 2), (4, 4)),
    ("rank_3d", lambda F, x: F.max_pool3d(x, 2), (2, 3, 4)),
    ("too_small_2d", lambda F, x: F.max_pool2d(x, 3), (1, 2, 2, 2)),
    ("too_small_1d", lambda F, x: F.max_pool1d(x, 3), (1, 2, 2)),
    ("too_small_3d", lambda F, x: F.max_pool3d(x, 3), (1, 2, 2, 2, 2)),
    ("zero_stride", lambda F, x: F.max_pool2d(x, 2, stride=0), (1, 2, 4, 4)),
    ("zero_dilation", lambda F, x: F.max_pool1d(x, 2, dilation=0), (1, 2, 5)),
    ("three_kernel_sizes_2d", lambda F, x: F.max_pool2d(x, (2, 2, 2)), (1, 2, 4, 4)),
    ("empty_channels", lambda F, x: F.max_pool2d(x, 2), (2, 0, 4, 4)),
]


@pytest.mark.parametrize("name,fn,shape", POOL_ERRORS, ids=[e[0] for e in POOL_ERRORS])
def test_pool_errors(name, fn, shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(Exception) as ti:
        fn(torch.nn.functional, torch.tensor(x))
    with pytest.raises(type(ti.value)):
        fn(graphnn.nn.functional, graphnn.tensor(x))


def _pooled(x, fn, *args):
    """Values and int64 indices of a PyTorch pooling, as arrays (the unpooling inputs)."""
    v, i = fn(torch.tensor(x), *args, return_indices=True)
    return v.numpy(), i.numpy()


def test_max_unpool():
    """1-3 dims in one graph: overlapping windows (indices named twice: the value once, the
    gradient to every copy), output_size within a stride of the default, unbatched."""
    F = torch.nn.functional
    v1, i1 = _pooled(X1, F.max_pool1d, 3, 2, 1)
    v2, i2 = _pooled(X2, F.max_pool2d, 3, 2)            # overlapping: duplicate indices
    v3, i3 = _pooled(X3, F.max_pool3d, 2, 2)
    assert len(np.unique(i2[0, 0])) < i2[0, 0].size
    fns = [lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool1d(v1, i1, 3, 2, 1),
           lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool1d(v1[0], i1[0], 3, 2, 1,
                                                            output_size=[12]),
           lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool2d(v2, i2, 3, 2),
           lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool2d(v2, i2, 3, 2,
                                                            output_size=(2, 3, 7, 11)),
           lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool3d(v3, i3, 2,
                                                            output_size=X3.shape),
           lambda F, v1, i1, v2, i2, v3, i3: F.max_unpool3d(v3[1], i3[1], 2, 2,
                                                            output_size=(7, 5, 6))]
    check_case(table(fns, [v1, i1, v2, i2, v3, i3]))


def test_max_unpool_modules_and_errors():
    F = torch.nn.functional
    v, i = _pooled(X2, F.max_pool2d, 2)
    for name, args in [("MaxUnpool1d", (3, 1)), ("MaxUnpool2d", (2,)), ("MaxUnpool3d", (2, 1, 1))]:
        assert repr(getattr(graphnn.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))
    out = graphnn.nn.MaxUnpool2d(2)(graphnn.tensor(v), graphnn.tensor(i), output_size=[7, 11])
    ref = torch.nn.MaxUnpool2d(2)(torch.tensor(v), torch.tensor(i), output_size=[7, 11])
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    bad = [lambda F, v, i: F.max_unpool2d(v, i, 2, output_size=(9, 9)),
           lambda F, v, i: F.max_unpool2d(v, i, 2, output_size=(1, 2, 3)),
           lambda F, v, i: F.max_unpool2d(v, i * 0 + 100, 2),
           lambda F, v, i: F.max_unpool2d(v, i * 0 - 1, 2),
           lambda F, v, i: F.max_unpool2d(v, i[:, :, :1], 2),
           lambda F, v, i: F.max_unpool2d(v[0, 0], i[0, 0], 2),
           lambda F, v, i: F.max_unpool2d(v, i.int(), 2),
           lambda F, v, i: F.max_unpool3d(v[0], i[0], 2)]
    for k, fn in enumerate(bad):
        with pytest.raises(Exception) as ti:
            fn(torch.nn.functional, torch.tensor(v), torch.tensor(i))
        with pytest.raises(type(ti.value)):
            fn(graphnn.nn.functional, graphnn.tensor(v), graphnn.tensor(i))


AVG = [
    lambda F, x1, x2, x3: F.avg_pool1d(x1, 3, 2, 1, ceil_mode=True),
    lambda F, x1, x2, x3: F.avg_pool1d(x1, 4, 2, 2, ceil_mode=True, count_include_pad=False),
    lambda F, x1, x2, x3: F.avg_pool1d(x1[0], 2, 3),                     # unbatched, s > k
    lambda F, x1, x2, x3: F.avg_pool2d(x2, 3, 2, 1, ceil_mode=True),
    lambda F, x1, x2, x3: F.avg_pool2d(x2, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda F, x1, x2, x3: F.avg_pool2d(x2, (2, 3), (3, 1), (1, 0), divisor_override=5),
    lambda F, x1, x2, x3: F.avg_pool2d(x2[..., :5, :5], 2, 2, 1, ceil_mode=True),
    lambda F, x1, x2, x3: F.avg_pool2d(x2[0], 1),
    lambda F, x1, x2, x3: F.avg_pool3d(x3, 3, 2, 1, count_include_pad=False),
    lambda F, x1, x2, x3: F.avg_pool3d(x3[1], (2, 1, 3), (1, 2, 2), (1, 0, 1), True, True, 3),
]

ADAPTIVE = [
    lambda F, x1, x2, x3: F.adaptive_avg_pool1d(x1, 4),                  # 11 -> 4: overlaps
    lambda F, x1, x2, x3: F.adaptive_avg_pool1d(x1[0], 1),
    lambda F, x1, x2, x3: F.adaptive_avg_pool2d(x2, (3, 4)),
    lambda F, x1, x2, x3: F.adaptive_avg_pool2d(x2, (7, None)),
    lambda F, x1, x2, x3: F.adaptive_avg_pool2d(x2[..., :6, :10], (3, 5)),  # tiles
    lambda F, x1, x2, x3: F.adaptive_avg_pool2d(x2[0], 1),
    lambda F, x1, x2, x3: F.adaptive_avg_pool3d(x3, (2, 5, 4)),
    lambda F, x1, x2, x3: F.adaptive_max_pool1d(x1, 4, return_indices=True),
    lambda F, x1, x2, x3: F.adaptive_max_pool1d(x1[0], 3, True),
    lambda F, x1, x2, x3: F.adaptive_max_pool2d(x2, (3, 4), return_indices=True),
    lambda F, x1, x2, x3: F.adaptive_max_pool2d(x2[..., :6, :10], (2, 5), True),  # tiles
    lambda F, x1, x2, x3: F.adaptive_max_pool2d(x2[1], (5, 13), True),   # out > in
    lambda F, x1, x2, x3: F.adaptive_max_pool3d_with_indices(x3, (3, 2, 4)),
]

LP = [
    lambda F, x1, x2, x3: F.lp_pool1d(x1.abs() + 0.1, 2, 3, 2, ceil_mode=True),
    lambda F, x1, x2, x3: F.lp_pool1d(x1, 3, 2),                         # odd p: signs
    lambda F, x1, x2, x3: F.lp_pool2d(x2.abs() + 0.1, 1.5, (2, 3), (1, 2)),
    lambda F, x1, x2, x3: F.lp_pool2d(x2[0], float("inf"), 3, 2, True),
    lambda F, x1, x2, x3: F.lp_pool3d(x3.abs() + 0.1, 2, 2),
]


@pytest.mark.parametrize("fns", [AVG, ADAPTIVE, LP], ids=["avg", "adaptive", "lp"])
def test_avg_adaptive_lp_pool(fns):
    check_case(table(fns, [X1, X2, X3]))


def test_inference_kernel_counts():
    """The compositions stay cheap: global average pooling is one reduction kernel, an
    average pooling with padding one elementwise kernel (taps read straight from the
    input, no padded copy), a 2-d max pooling one kernel."""
    x = graphnn.tensor(randn(2, 8, 7, 7, seed=8))
    for module, kernels in [(graphnn.nn.AdaptiveAvgPool2d((1, 1)), 1),
                            (graphnn.nn.AvgPool2d(3, 2, 1), 1),
                            (graphnn.nn.MaxPool2d(3, 2, 1), 1)]:
        with graphnn.no_grad():
            module(x)
            before = graphnn.stats().launches
            module(x)
            assert graphnn.stats().launches - before == kernels, module


def test_pool_unpool_in_one_graph():
    """Indices made and consumed inside one traced forward (an encoder-decoder): pooling
    with indices, unpooling at them, convolutions around; every gradient against PyTorch."""
    def make(T):
        T.manual_seed(0)

        class Net(T.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = T.nn.Conv2d(2, 3, 3, padding=1)
                self.pool = T.nn.MaxPool2d(3, 2, 1, return_indices=True)
                self.unpool = T.nn.MaxUnpool2d(3, 2, 1)

            def forward(self, x):
                y, i = self.pool(T.relu(self.conv(x)))
                return self.unpool(y * 2, i, output_size=x.shape[-2:]) - x.mean()

        return Net()

    tnet, gnet = make(torch), make(graphnn)
    gnet.load_state_dict({k: graphnn.tensor(v.numpy()) for k, v in tnet.state_dict().items()})
    x = randn(2, 2, 7, 9, seed=9)
    xg, xt = graphnn.tensor(x).requires_grad_(), torch.tensor(x).requires_grad_()
    og, ot = gnet(xg), tnet(xt)
    np.testing.assert_allclose(og.detach().numpy(), ot.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = randn(*ot.shape, seed=10)
    og.backward(graphnn.tensor(g))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, pg), pt in zip(gnet.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(pg.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)
