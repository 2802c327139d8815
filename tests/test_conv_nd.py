"""Convolutions over 1, 2 and 3 spatial dims, plain and transposed, against PyTorch: forward
values and the gradients of input, weight and bias over tables of configurations (odd and
prime sizes, stride > kernel, dilation, groups and depthwise, 'same' with even kernels,
unbatched inputs, output_padding below the stride or only below the dilation), each table
one traced module (one forward and one backward graph); padding modes, output_size, errors,
reprs, parameter shapes and initialisation of the layers."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import graphnn as G
from tests.conftest import assert_close

# (function, input shape, weight shape, bias, kwargs)
CONV = [
    ("conv1d", (2, 4, 11), (6, 4, 3), True, dict(stride=2, padding=1)),
    ("conv1d", (1, 3, 13), (5, 3, 4), True, dict(padding="same", dilation=3)),   # asymmetric
    ("conv1d", (2, 6, 7), (6, 1, 3), True, dict(groups=6, padding="same")),      # depthwise
    ("conv1d", (4, 9), (2, 4, 2), False, dict(stride=5)),                        # unbatched
    ("conv1d", (2, 4, 10), (4, 2, 1), True, dict(groups=2, padding="valid", dilation=2)),
    ("conv2d", (3, 7, 6), (4, 3, 2, 4), True, dict(padding="same", dilation=(1, 2))),
    ("conv3d", (2, 3, 5, 6, 7), (4, 3, 3, 2, 3), True, dict(stride=(2, 1, 2),
                                                            padding=(1, 0, 1))),
    ("conv3d", (1, 4, 4, 5, 5), (4, 2, 2, 3, 3), False, dict(groups=2, padding="same",
                                                             dilation=(3, 1, 2))),
    ("conv3d", (3, 4, 5, 6), (2, 3, 1, 3, 3), True, dict(dilation=(1, 2, 1))),    # unbatched
    ("conv3d", (1, 2, 7, 4, 5), (2, 1, 3, 1, 2), False, dict(groups=2, stride=(3, 1, 1),
                                                             padding=(2, 0, 1))),
    ("conv3d", (2, 1, 1, 3, 3), (3, 1, 1, 2, 2), True, {}),                        # size 1
]
TRANSPOSED = [
    ("conv_transpose1d", (2, 4, 7), (4, 3, 3), True, dict(stride=2, padding=1,
                                                         output_padding=1)),
    ("conv_transpose1d", (4, 5), (4, 2, 2), False, dict(groups=2, stride=3)),     # unbatched
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 2), True, dict(stride=(2, 3), padding=(1, 0),
                                                               output_padding=(1, 2))),
    ("conv_transpose2d", (1, 6, 4, 4), (6, 1, 3, 3), True, dict(groups=6, dilation=2,
                                                               padding=2)),     # depthwise
    ("conv_transpose2d", (2, 2, 5, 5), (2, 3, 3, 3), True, dict(dilation=2, output_padding=1)),
    ("conv_transpose2d", (1, 3, 1, 1), (3, 2, 2, 3), True, dict(stride=2)),        # size 1
    ("conv_transpose3d", (2, 4, 3, 4, 5), (4, 2, 3, 2, 3), True,
     dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 1), groups=2)),
    ("conv_transpose3d", (4, 2, 3, 3), (4, 1, 2, 3, 3), False, dict(groups=2, dilation=(2, 1, 1),
                                                                   padding=1)),
    ("conv_transpose3d", (1, 2, 3, 3, 3), (2, 2, 1, 2, 2), True, dict(stride=(3, 1, 1),
                                                                     output_padding=(2, 0, 0))),
    ("conv_transpose1d", (1, 2, 8), (2, 3, 3), True, dict(stride=2, output_padding=1)),  # 17
]


class Table(G.nn.Module):
    """Every configuration of a table in one forward."""

    def __init__(self, cases, weights, biases):
        super().__init__()
        self.cases = [(fn, kw) for fn, _, _, _, kw in cases]
        self.weights = G.nn.ParameterList(weights)
        self.biases = G.nn.ParameterList([b for b in biases if b is not None])
        self.has_bias = [b is not None for b in biases]

    def forward(self, *xs):
        outs, k = [], 0
        for (fn, kw), x, w, has in zip(self.cases, xs, self.weights, self.has_bias):
            b = self.biases[k] if has else None
            k += has
            outs.append(getattr(G.nn.functional, fn)(x, w, b, **kw))
        return tuple(outs)


def _check_table(cases, rng):
    xs, ws, bs = [], [], []
    for fn, xshape, wshape, bias, kw in cases:
        xs.append(rng.standard_normal(xshape).astype(np.float32))
        ws.append((rng.standard_normal(wshape) * 0.3).astype(np.float32))
        c_out = wshape[1] * kw.get("groups", 1) if "transpose" in fn else wshape[0]
        bs.append(rng.standard_normal(c_out).astype(np.float32) if bias else None)
    gxs = [G.tensor(x, requires_grad=True) for x in xs]
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    table = Table(cases, [G.nn.Parameter(G.tensor(w)) for w in ws],
                  [None if b is None else G.nn.Parameter(G.tensor(b)) for b in bs])
    tws = [torch.tensor(w, requires_grad=True) for w in ws]
    tbs = [None if b is None else torch.tensor(b, requires_grad=True) for b in bs]
    outs_g = table(*gxs)
    outs_t = [getattr(torch.nn.functional, fn)(x, w, b, **kw)
              for (fn, _, _, _, kw), x, w, b in zip(cases, txs, tws, tbs)]
    cots = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in outs_t]
    for case, og, ot in zip(cases, outs_g, outs_t):
        assert_close(og, ot, what=f"{case[0]} {case[1]} {case[4]} forward")
    sum((o * G.tensor(c)).sum() for o, c in zip(outs_g, cots)).backward()
    sum((o * torch.tensor(c)).sum() for o, c in zip(outs_t, cots)).backward()
    gbs = iter(table.biases)
    for case, gx, tx, gw, tw, tb in zip(cases, gxs, txs, table.weights, tws, tbs):
        what = f"{case[0]} {case[1]} {case[4]}"
        assert_close(gx.grad, tx.grad, atol=1e-4, what=f"{what} input grad")
        assert_close(gw.grad, tw.grad, atol=1e-4, what=f"{what} weight grad")
        if tb is not None:
            assert_close(next(gbs).grad, tb.grad, atol=1e-4, what=f"{what} bias grad")


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_conv_1d_2d_3d_table(rng):
    _check_table(CONV, rng)


def test_conv_transpose_table(rng):
    _check_table(TRANSPOSED, rng)


def _copy_params(ours, ref):
    for (name, p), (tname, tp) in zip(ours.named_parameters(), ref.named_parameters()):
        assert name == tname and tuple(p.shape) == tuple(tp.shape)
        p.data = G.tensor(tp.detach().numpy())


def _layers(lib):
    nn = lib.nn

    class Layers(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([
                nn.Conv1d(3, 4, 4, padding="same", padding_mode="reflect"),
                nn.Conv2d(2, 4, (3, 2), padding=(1, 2), padding_mode="circular", groups=2),
                nn.Conv3d(2, 3, 3, padding=1, padding_mode="replicate", stride=(1, 2, 1)),
                nn.Conv2d(3, 3, 3, padding="same", padding_mode="zeros", bias=False),
            ])

        def forward(self, a, b, c, d):
            return tuple(layer(x) for layer, x in zip(self.layers, (a, b, c, d)))

    return Layers()


def test_padding_modes_in_layers(rng):
    shapes = [(2, 3, 7), (2, 2, 5, 6), (2, 3, 4, 5), (3, 4, 5)]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours, ref = _layers(G), _layers(torch)
    _copy_params(ours, ref)
    gxs = [G.tensor(x, requires_grad=True) for x in xs]
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    og, ot = ours(*gxs), ref(*txs)
    for a, b in zip(og, ot):
        assert_close(a, b)
    sum((o * o).sum() for o in og).backward()
    sum((o * o).sum() for o in ot).backward()
    for a, b in zip(gxs, txs):
        assert_close(a.grad, b.grad, atol=1e-4)
    for (name, p), (_, tp) in zip(ours.named_parameters(), ref.named_parameters()):
        assert_close(p.grad, tp.grad, atol=1e-4, what=name)


def test_conv_transpose_output_size(rng):
    tm = torch.nn.ConvTranspose2d(4, 3, 3, stride=(2, 3), padding=1)
    gm = G.nn.ConvTranspose2d(4, 3, 3, stride=(2, 3), padding=1)
    _copy_params(gm, tm)
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    for size in ([10, 15], [2, 3, 9, 13]):
        assert_close(gm(G.tensor(x), output_size=size), tm(torch.tensor(x), output_size=size))
    for size in ([11, 12], [12]):
        with pytest.raises(ValueError) as ref:
            tm(torch.tensor(x), output_size=size)
        with pytest.raises(ValueError) as err:
            gm(G.tensor(x), output_size=size)
        # graphnn's message starts with the module and the input's shape
        assert str(err.value).split(" (for an input")[0].endswith(str(ref.value).split(
            " (for an input")[0])
    t1, g1 = torch.nn.ConvTranspose1d(4, 2, 3, stride=2), G.nn.ConvTranspose1d(4, 2, 3, stride=2)
    _copy_params(g1, t1)
    x1 = rng.standard_normal((4, 5)).astype(np.float32)                    # unbatched
    assert_close(g1(G.tensor(x1), output_size=[12]), t1(torch.tensor(x1), output_size=[12]))


LAYERS = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, bias=False)),
    ("Conv1d", (4, 6, 4), dict(padding="same", padding_mode="reflect")),
    ("Conv2d", (4, 6, (2, 3)), dict(padding="valid", dilation=2, groups=2)),
    ("Conv3d", (4, 6, (2, 3, 4)), dict(padding="same", dilation=(1, 2, 3))),
    ("Conv3d", (2, 4, 3), dict(padding_mode="circular", padding=(1, 0, 2))),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, output_padding=1, groups=2, dilation=2,
                                        bias=False)),
    ("ConvTranspose3d", (4, 6, (2, 3, 1)), dict(groups=2, padding=(1, 0, 0))),
]


@pytest.mark.parametrize("name,args,kw", LAYERS)
def test_layer_repr_parameters_and_init(name, args, kw):
    torch.manual_seed(0)
    ours, ref = getattr(G.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(ref)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    for attr in ("stride", "padding", "dilation", "output_padding", "groups", "transposed",
                 "padding_mode", "kernel_size", "_reversed_padding_repeated_twice"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    # kaiming_uniform(a=sqrt(5)) and the bias both lie in +-1/sqrt(fan_in)
    w = ours.weight.detach().numpy()
    bound = 1 / math.sqrt(w.shape[1] * int(np.prod(w.shape[2:])))
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.5 * bound
    if ours.bias is not None:
        b = ours.bias.detach().numpy()
        assert np.abs(b).max() <= bound * (1 + 1e-6)


def _text(e: Exception) -> str:
    # a set in a message prints in hash order, which differs between processes
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", ")))
                  + "}", str(e))


def _raises_like_torch(call):
    with pytest.raises(Exception) as ref:
        call(torch)
    with pytest.raises(type(ref.value)) as ours:
        call(G)
    assert _text(ref.value) in _text(ours.value), (str(ours.value), str(ref.value))


def _z(lib, *shape):
    return lib.zeros(*shape)


ERRORS = [
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), padding="same", stride=2),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), padding="foo"),
    lambda T: T.nn.functional.conv1d(_z(T, 9), _z(T, 6, 4, 3)),
    lambda T: T.nn.functional.conv3d(_z(T, 4, 5), _z(T, 6, 4, 3, 3, 3)),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 2, 3)),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 3, 3), groups=2),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 5, 2, 3), groups=2),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 13)),
    lambda T: T.nn.functional.conv3d(_z(T, 2, 4, 3, 5, 5), _z(T, 4, 4, 4, 3, 3)),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), _z(T, 5)),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), stride=0),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), padding=-1),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 9), _z(T, 6, 4, 3), stride=(1, 2)),
    lambda T: T.nn.functional.conv1d(_z(T, 2, 4, 5), _z(T, 4, 4, 3), dilation=0),
    lambda T: T.nn.functional.conv2d(_z(T, 2, 4, 5, 5), _z(T, 4, 4, 3, 3), groups=0),
    lambda T: T.nn.functional.conv_transpose2d(_z(T, 2, 4, 5, 5), _z(T, 4, 3, 3, 3),
                                               output_padding=1),
    lambda T: T.nn.functional.conv_transpose1d(_z(T, 2, 4, 5), _z(T, 4, 3, 3),
                                               output_padding=1),
    lambda T: T.nn.functional.conv_transpose3d(_z(T, 2, 4, 3, 5, 5), _z(T, 4, 3, 3, 3, 3),
                                               output_padding=(1, 0, 0)),
    lambda T: T.nn.functional.conv_transpose2d(_z(T, 2, 5, 5, 5), _z(T, 4, 3, 3, 3)),
    lambda T: T.nn.functional.conv_transpose2d(_z(T, 2, 4, 5, 5), _z(T, 4, 3, 3, 3), groups=3),
    lambda T: T.nn.functional.conv_transpose2d(_z(T, 2, 4, 5, 5), _z(T, 4, 3, 3, 3), _z(T, 4)),
    lambda T: T.nn.functional.conv_transpose1d(_z(T, 4), _z(T, 4, 3, 3)),
    lambda T: T.nn.functional.conv_transpose1d(_z(T, 4, 5), _z(T, 4, 3, 3), padding="same"),
    lambda T: T.nn.Conv1d(4, 6, 3, padding="same", stride=2),
    lambda T: T.nn.Conv1d(4, 6, 3, padding_mode="foo"),
    lambda T: T.nn.Conv1d(4, 6, 3, padding="foo"),
    lambda T: T.nn.Conv1d(4, 6, 3, groups=0),
    lambda T: T.nn.Conv1d(5, 6, 3, groups=2),
    lambda T: T.nn.Conv1d(4, 5, 3, groups=2),
    lambda T: T.nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"),
    lambda T: T.nn.Conv1d(4, 6, 3)(_z(T, 2, 5, 9)),
    lambda T: T.nn.Conv1d(4, 6, 3)(_z(T, 2, 2, 5, 9)),
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_match_torch(call):
    _raises_like_torch(call)
