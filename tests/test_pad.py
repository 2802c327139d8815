"""F.pad and the padding layers against PyTorch: values and input gradients for every mode,
negative pads (crops), unbatched inputs and size-1 dims, PyTorch's errors and reprs. Each
test runs many configurations in one traced module, so it compiles few graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close, pair

# (pad, mode, value) applied to one input inside one forward
CASES_4D = [                                   # input (2, 3, 5, 7)
    ((1, 2), "constant", None),
    ((1, 2, -1, 3), "constant", 1.5),
    ((2, 0, 1, 1, 1, 0, 0, 1), "constant", -2.0),   # every dim, the batch too
    ((-2, -1), "constant", 0.0),                     # crop only
    ((1, 2, 0, 0), "reflect", None),
    ((2, 6, 4, 1), "reflect", None),                 # pad = size - 1
    ((-1, 3, 2, -2), "reflect", None),
    ((1, 2, 3, 1), "replicate", None),
    ((3, -2, 0, 0), "replicate", None),
    ((2, 3, 1, 0), "circular", None),
    ((-1, 3, 0, 1), "circular", None),
    ((7, 0, 5, 5), "circular", None),                # wraps the whole size
]
CASES_5D = [                                   # input (2, 2, 3, 4, 5)
    ((1, 1, 2, 0, 1, 2), "reflect", None),
    ((3, 3, 3, 3, 2, 2), "replicate", None),         # many terms: one adjoint per dim
    ((1, 2, 0, 1, 2, 1), "circular", None),
    ((1, 0, 1, 0, 1, 0), "replicate", None),
]
CASES_SMALL = [                                # input (3, 1): unbatched 1-D, size-1 dim
    ((2, 3), "replicate", None),
    ((1, 1), "circular", None),
    ((2, 1, 1, 0), "constant", 3.0),
]
CASES_3D = [                                  # input (3, 5, 17): unbatched 2-D or batched 1-D
    ((2, 2), "reflect", None),
    ((1, 2, 1, 1), "replicate", None),
    ((3, 1, 2, 4), "circular", None),
    ((6, 6, 4, 4), "reflect", None),
    ((16, 15, 0, 0), "reflect", None),               # output 48 wide, pads past 16
    ((17, 0), "circular", None),
]


class Pads(G.nn.Module):
    def __init__(self, cases):
        super().__init__()
        self.cases = cases

    def forward(self, x):
        return tuple(G.nn.functional.pad(x, p, m, v) for p, m, v in self.cases)


@pytest.mark.parametrize("shape,cases", [((2, 3, 5, 7), CASES_4D), ((2, 2, 3, 4, 5), CASES_5D),
                                         ((3, 1), CASES_SMALL), ((3, 5, 17), CASES_3D)],
                         ids=["4d", "5d", "small", "3d"])
def test_pad_values_and_gradients(shape, cases, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    gx, tx = pair(x, True)
    outs_g = Pads(cases)(gx)
    outs_t = [torch.nn.functional.pad(tx, p, m, v) for p, m, v in cases]
    cots = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in outs_t]
    for (p, m, v), og, ot in zip(cases, outs_g, outs_t):
        assert_close(og, ot, what=f"pad {p} {m}")
    sum((o * G.tensor(c)).sum() for o, c in zip(outs_g, cots)).backward()
    sum((o * torch.tensor(c)).sum() for o, c in zip(outs_t, cots)).backward()
    assert_close(gx.grad, tx.grad, atol=1e-5, what="input gradient")


def test_pad_outside_a_module_and_integer_values():
    x = np.arange(24).reshape(2, 3, 4)
    for p, m, v in [((1, 2), "constant", 2.7), ((1, 1, 2, 0), "reflect", None)]:
        ours = G.nn.functional.pad(G.tensor(x), p, m, v)
        ref = torch.nn.functional.pad(torch.tensor(x), p, m, v)
        assert ours.dtype == G.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


ERRORS = [
    ((2, 3, 4), (1, 2, 3), "constant", None),
    ((2, 3, 4), (1,) * 8, "constant", None),
    ((2, 3, 4), (-3, -2), "constant", None),
    ((2, 3, 4), (1, 1), "foo", None),
    ((2, 3, 5), (5, 2), "reflect", None),
    ((2, 3, 4, 5), (1, 1, 4, 1), "reflect", None),
    ((2, 3, 5), (6, 2), "circular", None),
    ((2, 3, 5), (-2, -3), "replicate", None),
    ((2, 3, 5), (1, 1), "reflect", 2.0),
    ((2, 3, 4, 5), (1, 1), "reflect", None),
    ((5,), (1, 1), "replicate", None),
    ((3, 4, 5, 6, 7), (1, 1, 1, 1), "circular", None),
    ((2, 0, 5), (1, 1), "reflect", None),
]


@pytest.mark.parametrize("shape,p,mode,value", ERRORS)
def test_pad_errors_match_torch(shape, p, mode, value):
    with pytest.raises(Exception) as ref:
        torch.nn.functional.pad(torch.zeros(shape), p, mode, value)
    with pytest.raises(type(ref.value)) as ours:
        G.nn.functional.pad(G.zeros(shape), p, mode, value)
    assert str(ref.value) in str(ours.value)


LAYERS = [("ZeroPad1d", (2,)), ("ZeroPad2d", ((1, 2, 3, 4),)), ("ZeroPad3d", (1,)),
          ("ConstantPad1d", ((1, 2), 3.5)), ("ConstantPad2d", (1, -1.0)),
          ("ConstantPad3d", ((1, 0, 2, 1, 0, 1), 2)), ("ReflectionPad1d", ((2, 1),)),
          ("ReflectionPad2d", (1,)), ("ReflectionPad3d", ((1, 0, 1, 0, 0, 1),)),
          ("ReplicationPad1d", (3,)), ("ReplicationPad2d", ((1, 2, 0, 1),)),
          ("ReplicationPad3d", (1,)), ("CircularPad1d", (2,)), ("CircularPad2d", ((1, 0, 2, 1),)),
          ("CircularPad3d", (1,))]


@pytest.mark.parametrize("name,args", LAYERS)
def test_layer_repr_and_attributes(name, args):
    ours, ref = getattr(G.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(ref)
    assert ours.padding == ref.padding
    assert getattr(ours, "value", None) == getattr(ref, "value", None)


def test_layers_in_one_model(rng):
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.ReflectionPad2d((1, 2, 2, 1)), nn.ReplicationPad2d(1),
                             nn.CircularPad2d((2, 1, 0, 1)), nn.ConstantPad2d(1, 0.5),
                             nn.ZeroPad2d((0, 1, 1, 0)))
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    gx, tx = pair(x, True)
    og, ot = build(G)(gx), build(torch)(tx)
    assert_close(og, ot)
    (og * og).sum().backward()
    (ot * ot).sum().backward()
    assert_close(gx.grad, tx.grad)
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        G.nn.CircularPad2d(1)(G.zeros(3, 4))
