"""Storage sharing: every view op x every in-place op, eager and traced, against PyTorch.

Checked for each pair: the values of the base and of the view after the write, both
tensors' ``_version``, and (traced) that the written module input and buffers hold
PyTorch's values after each call.

The whole table runs on the numpy reference runtime (the aliasing logic is the same on every
device and compiles nothing there); on the OpenCL device every view meets a few in-place ops
and every in-place op a few views, so each view layout and each op's kernels run too."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

# view functions of a (4, 6) tensor; each returns a view in PyTorch
VIEWS = {
    "row": lambda x: x[1],
    "cols": lambda x: x[:, 2:5],
    "step": lambda x: x[::2],
    "block": lambda x: x[1:3, ::2],
    "flat": lambda x: x.view(24),
    "view2": lambda x: x.view(2, 12),
    "t": lambda x: x.t(),
    "transpose_row": lambda x: x.transpose(0, 1)[2],
    "narrow": lambda x: x.narrow(1, 1, 3),
    "select": lambda x: x.select(1, 2),
    "unsqueeze": lambda x: x.unsqueeze(0),
    "none": lambda x: x[None, 1:],
    "reshape": lambda x: x.reshape(6, 4),
    "detach": lambda x: x.detach(),
    "split": lambda x: x.split(2)[1],
    "chunk": lambda x: x.chunk(3, 1)[2],
    "unbind": lambda x: x.unbind(0)[3],
    "ellipsis": lambda x: x[..., 1],
    "nested": lambda x: x.view(4, 2, 3)[:, 1].t(),
    "tt": lambda x: x.t().t()[2:],
    "squeeze": lambda x: x[1:2].squeeze(0),
}

# in-place ops applied to the view
OPS = {
    "add_": lambda v, L: v.add_(1.5),
    "add_alpha": lambda v, L: v.add_(L.ones(tuple(v.shape)), alpha=-2),
    "mul_": lambda v, L: v.mul_(2),
    "div_": lambda v, L: v.div_(4),
    "sub_t": lambda v, L: v.sub_(L.ones(tuple(v.shape))),
    "fill_": lambda v, L: v.fill_(7),
    "zero_": lambda v, L: v.zero_(),
    "copy_": lambda v, L: v.copy_(L.full(tuple(v.shape), -3.0)),
    "clamp_": lambda v, L: v.clamp_(-0.5, 0.5),
    "relu_": lambda v, L: v.relu_(),
    "neg_": lambda v, L: v.neg_(),
    "masked_fill_": lambda v, L: v.masked_fill_(v > 0, 0.25),
    "iadd": lambda v, L: v.__iadd__(1),
    "setitem": lambda v, L: v.__setitem__(..., 3.0),
    "exp_": lambda v, L: v.exp_(),
}

def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)   # torch's numpy() shares memory


_DATA = (np.arange(24, dtype=np.float32).reshape(4, 6) / 7 - 1.5)


def _run_eager(L, view, op):
    x = L.tensor(_DATA.copy())
    v = VIEWS[view](x)
    OPS[op](v, L)
    return _np(x), _np(v), x._version, v._version


@pytest.fixture
def reference(monkeypatch):
    monkeypatch.setenv("GRAPHNN_DEVICE", "reference")


# the OpenCL subset: every view with these ops, every op with these views
CL_OPS = ["add_", "copy_", "masked_fill_"]
CL_VIEWS = ["cols", "t", "nested"]
CL_PAIRS = sorted({(v, o) for v in VIEWS for o in CL_OPS} |
                  {(v, o) for v in CL_VIEWS for o in OPS})


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("op", list(OPS))
def test_eager_inplace_through_view(reference, view, op):
    _check_eager(view, op)


@pytest.mark.parametrize("view,op", CL_PAIRS)
def test_eager_inplace_through_view_on_device(view, op):
    _check_eager(view, op)


def _check_eager(view, op):
    ours = _run_eager(G, view, op)
    ref = _run_eager(torch, view, op)
    assert_close(ours[0], ref[0], what="base")
    assert_close(ours[1], ref[1], what="view")
    assert ours[2:] == ref[2:], f"versions (base, view): {ours[2:]} vs {ref[2:]}"


def _traced_module(L, op, views):
    """Writes through each view: of an intermediate value, of a buffer (one per view) and of
    the module's input (all views in turn), in one traced graph per in-place op."""
    class M(L.nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(len(views)):
                self.register_buffer(f"buf{i}", L.tensor(_DATA.copy()))

        def forward(self, x):
            outs = []
            for i, name in enumerate(views):
                y = x * 1.0
                OPS[op](VIEWS[name](y), L)
                OPS[op](VIEWS[name](getattr(self, f"buf{i}")), L)
                outs += [y + 0.0, VIEWS[name](y) * 1.0]
            for name in views:
                OPS[op](VIEWS[name](x), L)
            return tuple(outs)

    return M()


@pytest.mark.parametrize("op", list(OPS))
def test_traced_inplace_through_every_view(reference, op):
    _check_traced(op, list(VIEWS))


@pytest.mark.parametrize("op", CL_OPS)
def test_traced_inplace_through_views_on_device(op):
    _check_traced(op, CL_VIEWS + ["flat", "reshape", "detach", "select"])


def _check_traced(op, views):
    results = []
    for L in (G, torch):
        m = _traced_module(L, op, views)
        outs = []
        for scale in (1, -2):           # the second call writes the buffers again
            x = L.tensor(_DATA.copy() * scale)
            outs += [_np(o) for o in m(x)] + [_np(x)]
            outs += [_np(b) for b in m.buffers()]
        results.append(outs)
    for i, (a, b) in enumerate(zip(*results)):
        assert_close(a, b, what=f"result {i}")


def test_traced_module_does_not_break_on_inplace():
    """``out += identity`` (ResNet blocks) used to force op-by-op execution."""
    from graphnn import _compile

    class Block(G.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = G.nn.Linear(6, 6)

        def forward(self, x):
            out = self.fc(x)
            out += x
            out.relu_()
            return out

    m = Block()
    x = G.randn(4, 6)
    m(x)
    traces = _compile.STATS["traces"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a graph break warns
        y = m(x)
    assert _compile.STATS["traces"] == traces
    ref = torch.relu(torch.nn.functional.linear(torch.tensor(_np(x)),
                                                torch.tensor(_np(m.fc.weight)),
                                                torch.tensor(_np(m.fc.bias))) +
                     torch.tensor(_np(x)))
    assert_close(y, ref)
