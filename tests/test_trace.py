"""Tracing: one compile per input signature, graph breaks, scopes, captured parameters."""
import warnings

import numpy as np
import pytest
import torch

import graphnn
import graphnn.nn as nn
from graphnn import _compile
from tests.conftest import assert_close


class Gate(nn.Module):
    """Data-dependent control flow: cannot be traced, must still be right."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:
            return y.relu()
        return -y


def test_compiles_once_per_signature(rng):
    graphnn.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = graphnn.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    traces = _compile.STATS["traces"]
    m(x)
    m(x)
    m(graphnn.tensor(rng.standard_normal((2, 4)).astype(np.float32)))
    assert _compile.STATS["traces"] == traces + 1
    m(graphnn.tensor(rng.standard_normal((5, 4)).astype(np.float32)))   # new shape
    m.eval()
    m(x)                                                                # eval mode
    assert _compile.STATS["traces"] == traces + 3


def test_parameters_are_read_at_every_call(rng):
    graphnn.manual_seed(0)
    m = nn.Linear(2, 2)
    x = graphnn.ones(1, 2)
    before = m(x).detach().numpy()
    with graphnn.no_grad():
        m.bias.add_(1.0)
    after = m(x).detach().numpy()
    np.testing.assert_allclose(after, before + 1.0, rtol=1e-6)
    m.weight = nn.Parameter(graphnn.zeros(2, 2))         # a new Parameter object: retrace
    np.testing.assert_allclose(m(x).detach().numpy(), m.bias.detach().numpy()[None],
                               rtol=1e-6)


def test_graph_break_runs_op_by_op(rng):
    graphnn.manual_seed(0)
    g = Gate()
    t = torch.nn.Linear(3, 3)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.fc.state_dict().items()})
    for sign in (1.0, -1.0):
        x = (sign * np.abs(rng.standard_normal((2, 3)))).astype(np.float32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = g(graphnn.tensor(x))
        ty = t(torch.tensor(x))
        ref = ty.relu() if ty.sum() > 0 else -ty
        assert_close(out, ref)
    assert g._graph_break is not None


def test_scopes_name_modules():
    from graphnn.dump import dump_model
    graphnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2), nn.Tanh()))
    (d,) = dump_model(net, [(2, 3)], after="trace")
    names = {d.graph.name(n) for n in d.graph.nodes()}
    assert {"0", "1.0", "1.1", "0.weight", "1.0.bias"} <= names


def test_shape_errors_name_the_module():
    graphnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x4 and 5x2\)") as e:
        net(graphnn.ones(2, 3))
    assert str(e.value).startswith("1: ")


def test_graph_break_warning_names_module_and_line():
    graphnn.manual_seed(0)
    g = Gate()
    with pytest.warns(UserWarning, match=r"Gate\.forward cannot be traced whole \(test_trace\.py:\d+ "
                                         r"needs the value"):
        g(graphnn.ones(1, 3))


class Net(nn.Module):
    """A value read in the middle of a model's own ``forward``."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 8)
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 2)

    def forward(self, x):
        h = self.fc1(x).relu()
        scale = h.mean().item()            # the break
        h = self.fc2(h) * (2.0 if scale > 0.5 else -1.0)
        return self.fc3(h.tanh())


def _torch_net(g):
    t = torch.nn.Module()
    for name in ("fc1", "fc2", "fc3"):
        lin = torch.nn.Linear(*reversed(getattr(g, name).weight.shape))
        lin.load_state_dict({k: torch.tensor(v.detach().numpy())
                             for k, v in getattr(g, name).state_dict().items()})
        setattr(t, name, lin)
    t.forward = lambda x: Net.forward(t, x)
    return t


def test_graph_break_splits_the_call_into_compiled_segments(rng):
    graphnn.manual_seed(1)
    g = Net()
    t = _torch_net(g)
    xs = [(s * np.abs(rng.standard_normal((4, 3)))).astype(np.float32) for s in (3.0, -3.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in xs:                        # both branches once: their segments compile
            g(graphnn.tensor(x)).sum().backward()
    g.zero_grad()
    graphnn.reset_stats()
    for x in xs * 2:
        out, ref = g(graphnn.tensor(x)), t(torch.tensor(x))
        assert_close(out, ref)
        out.sum().backward()
        ref.sum().backward()
    assert graphnn.stats().compiles == 0, "segments are compiled once and reused"
    assert g._graph_break is not None and not g._segments_failed
    for name in ("fc1", "fc2", "fc3"):
        for a, b in zip(getattr(g, name).parameters(), getattr(t, name).parameters()):
            assert_close(a.grad, b.grad, what=f"{name} grad")
    # two segments per call, not one kernel per op
    graphnn.reset_stats()
    g(graphnn.tensor(xs[0]))
    assert graphnn.stats().launches <= 6


class Scaled(nn.Module):
    """A submodule that reads a value: the break is two levels below the called module."""

    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, h):
        scale = h.mean().item()            # the break
        return self.fc(h) * (2.0 if scale > 0.5 else -1.0)


def _nested(L, scaled):
    return L.nn.Sequential(L.nn.Linear(3, 8), L.nn.ReLU(), L.nn.Sequential(scaled, L.nn.Tanh()),
                           L.nn.Linear(8, 8), L.nn.ReLU(), L.nn.Linear(8, 2))


class _TorchScaled(torch.nn.Module):
    def __init__(self, fc):
        super().__init__()
        self.fc = fc

    def forward(self, h):
        return Scaled.forward(self, h)


def test_graph_break_in_a_nested_submodule_keeps_the_rest_compiled(rng, monkeypatch):
    """The break splits the call where the value is read; the layers before and after it
    (in the top-level module and in the submodule's own parent) stay compiled kernels."""
    graphnn.manual_seed(2)
    g = _nested(graphnn, Scaled(8))
    t = _nested(torch, _TorchScaled(torch.nn.Linear(8, 8)))
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in g.state_dict().items()})
    xs = [(s * np.abs(rng.standard_normal((4, 3)))).astype(np.float32) for s in (3.0, -3.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in xs:                        # both branches once: their segments compile
            g(graphnn.tensor(x)).sum().backward()
    g.zero_grad()
    graphnn.reset_stats()
    for x in xs * 2:
        out, ref = g(graphnn.tensor(x)), t(torch.tensor(x))
        assert_close(out, ref)
        out.sum().backward()
        ref.sum().backward()
    assert graphnn.stats().compiles == 0, "segments are compiled once and reused"
    assert g._graph_break is not None and not g._segments_failed
    for (name, a), b in zip(g.named_parameters(), t.parameters()):
        assert_close(a.grad, b.grad, what=f"{name} grad")
    # a few kernels per segment, not one launch per op as when the whole model runs op by
    # op (GRAPHNN_EAGER): each Linear a kernel or two, every relu, tanh, mean and product one
    graphnn.reset_stats()
    g(graphnn.tensor(xs[0]))
    segmented = graphnn.stats().launches
    monkeypatch.setenv("GRAPHNN_EAGER", "1")
    graphnn.reset_stats()
    g(graphnn.tensor(xs[0]))
    eager = graphnn.stats().launches
    assert segmented <= 6 and 2 * segmented < eager, (segmented, eager)
