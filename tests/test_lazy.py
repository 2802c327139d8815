"""Lazy modules, Uninitialized{Parameter,Buffer}, Conv1d/Conv3d and BatchNorm against torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn
from tests.conftest import assert_close


def load_from(g, t):
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


@pytest.mark.parametrize("name,args,shape", [
    ("LazyLinear", (3,), (2, 5)),
    ("LazyConv1d", (3, 2), (2, 4, 6)),
    ("LazyConv2d", (3, 2), (4, 6, 6)),
    ("LazyConv3d", (3, 2), (1, 2, 4, 4, 4)),
    ("LazyBatchNorm1d", (), (4, 3)),
    ("LazyBatchNorm2d", (), (2, 3, 2, 2)),
    ("LazyBatchNorm3d", (), (2, 3, 2, 2, 2)),
])
def test_lazy_module_becomes_ordinary(name, args, shape, rng):
    t, g = getattr(torch.nn, name)(*args), getattr(graphnn.nn, name)(*args)
    assert repr(g) == repr(t)
    assert repr(g.weight) == repr(t.weight) == "<UninitializedParameter>"
    assert isinstance(g.weight, graphnn.nn.UninitializedParameter)
    assert list(g.state_dict()) == list(t.state_dict())
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        g.weight.shape
    x = rng.standard_normal(shape).astype(np.float32)
    t(torch.tensor(x))
    g(graphnn.tensor(x))
    assert type(g).__name__ == type(t).__name__ == name.replace("Lazy", "")
    assert repr(g) == repr(t)
    assert type(g.weight) is graphnn.nn.Parameter
    assert tuple(g.weight.shape) == tuple(t.weight.shape)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    load_from(g, t)
    assert_close(g(graphnn.tensor(x)), t(torch.tensor(x)))


def test_lazy_load_state_dict_materializes():
    t = torch.nn.Linear(4, 2)
    g = graphnn.nn.LazyLinear(2)
    load_from(g, t)
    assert tuple(g.weight.shape) == (2, 4)
    x = np.ones((1, 4), np.float32)
    assert_close(g(graphnn.tensor(x)), t(torch.tensor(x)))
    assert type(g) is graphnn.nn.Linear and g.in_features == 4


def test_uninitialized_buffer_and_parameter():
    b = graphnn.nn.UninitializedBuffer()
    assert repr(b) == "<UninitializedBuffer>" and not b.requires_grad
    with pytest.raises(RuntimeError):
        b.shape
    b.materialize((3,))
    assert type(b) is graphnn.Tensor and tuple(b.shape) == (3,)
    p = graphnn.nn.UninitializedParameter(dtype=graphnn.float64)
    assert p.requires_grad
    p.materialize((2, 2))
    assert type(p) is graphnn.nn.Parameter and p.dtype == graphnn.float64


def test_lazy_inside_a_model(rng):
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))

    t, g = build(torch), build(graphnn)
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    t(torch.tensor(x))
    g(graphnn.tensor(x))
    assert repr(g) == repr(t)
    load_from(g, t)
    assert_close(g(graphnn.tensor(x)), t(torch.tensor(x)))


@pytest.mark.parametrize("cls,shape,kw", [
    ("Conv1d", (2, 2, 7), dict(stride=2, padding=1)),
    ("Conv1d", (2, 7), {}),
    ("Conv3d", (2, 2, 5, 6, 5), dict(stride=(2, 1, 1), padding=1, dilation=(1, 2, 1))),
    ("Conv3d", (4, 2, 4, 4, 4), dict(groups=2, bias=False)),
])
def test_conv1d_conv3d_forward_backward(cls, shape, kw, rng):
    ci = shape[1] if len(shape) in (3, 5) else shape[0]
    t, g = getattr(torch.nn, cls)(ci, 4, 3, **kw), getattr(graphnn.nn, cls)(ci, 4, 3, **kw)
    assert repr(g) == repr(t)
    load_from(g, t)
    x = rng.standard_normal(shape).astype(np.float32)
    xt, xg = torch.tensor(x, requires_grad=True), graphnn.tensor(x, requires_grad=True)
    yt, yg = t(xt), g(xg)
    assert_close(yg, yt)
    yt.square().sum().backward()
    (yg * yg).sum().backward()
    assert_close(xg.grad, xt.grad)
    assert_close(g.weight.grad, t.weight.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls,shape,kw", [
    ("BatchNorm1d", (4, 3), {}),
    ("BatchNorm1d", (2, 3, 5), dict(momentum=None)),
    ("BatchNorm2d", (2, 3, 4, 4), dict(affine=False)),
    ("BatchNorm3d", (2, 3, 2, 2, 3), dict(track_running_stats=False)),
    ("BatchNorm2d", (2, 3, 2, 2), dict(bias=False)),
])
def test_batchnorm_train_eval_and_running_stats(cls, shape, kw, rng):
    t, g = getattr(torch.nn, cls)(3, **kw), getattr(graphnn.nn, cls)(3, **kw)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    with torch.no_grad():
        if t.weight is not None:
            t.weight.uniform_()
        if t.bias is not None:
            t.bias.uniform_()
    load_from(g, t)
    for _ in range(2):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        xt, xg = torch.tensor(x, requires_grad=True), graphnn.tensor(x, requires_grad=True)
        yt, yg = t(xt), g(xg)
        assert_close(yg, yt)
        yt.pow(3).sum().backward()
        (yg * yg * yg).sum().backward()
        assert_close(xg.grad, xt.grad, atol=1e-4)
        if t.weight is not None:
            assert_close(g.weight.grad, t.weight.grad, atol=1e-4)
        for k, v in t.state_dict().items():
            assert_close(g.state_dict()[k], v, what=k)
    t.eval(), g.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close(g(graphnn.tensor(x)), t(torch.tensor(x)))


def test_batchnorm_errors():
    for cls, bad in (("BatchNorm1d", (2, 3, 4, 4)), ("BatchNorm2d", (2, 3)),
                     ("BatchNorm3d", (2, 3, 4, 4))):
        with pytest.raises(ValueError) as et:
            getattr(torch.nn, cls)(3)(torch.zeros(bad))
        with pytest.raises(ValueError) as eg:
            getattr(graphnn.nn, cls)(3)(graphnn.zeros(bad))
        assert str(eg.value).endswith(str(et.value))   # after the module and the shape
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        graphnn.nn.BatchNorm1d(3)(graphnn.zeros(1, 3))
