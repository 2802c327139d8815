"""``interpolate`` and the upsampling modules against PyTorch: values and gradients of every
mode over up- and down-sampling, integer and fractional scale factors (passed on or
recomputed), explicit sizes, align_corners; one compiled graph per test (``table``)."""
from __future__ import annotations

import numpy as np
import pytest

import graphnn
import torch
from tests.test_ops import check_case, randn
from tests.test_pooling import table

X1 = randn(2, 3, 7, seed=11)
X2 = randn(2, 3, 5, 7, seed=12)
X3 = randn(1, 2, 3, 4, 5, seed=13)

ONE_D = [
    lambda F, x1, x2, x3: F.interpolate(x1, scale_factor=2),               # repeat
    lambda F, x1, x2, x3: F.interpolate(x1, scale_factor=1.7),
    lambda F, x1, x2, x3: F.interpolate(x1, scale_factor=1.7, recompute_scale_factor=True),
    lambda F, x1, x2, x3: F.interpolate(x1, size=3, mode="nearest"),        # down
    lambda F, x1, x2, x3: F.interpolate(x1, size=11, mode="nearest-exact"),
    lambda F, x1, x2, x3: F.interpolate(x1, size=13, mode="linear"),
    lambda F, x1, x2, x3: F.interpolate(x1, size=13, mode="linear", align_corners=True),
    lambda F, x1, x2, x3: F.interpolate(x1, scale_factor=0.6, mode="linear"),
    lambda F, x1, x2, x3: F.interpolate(x1, size=1, mode="linear", align_corners=True),
    lambda F, x1, x2, x3: F.interpolate(x1, size=5, mode="area"),
]

TWO_D = [
    lambda F, x1, x2, x3: F.interpolate(x2, scale_factor=(2, 3)),
    lambda F, x1, x2, x3: F.interpolate(x2, size=(7, 4)),
    lambda F, x1, x2, x3: F.interpolate(x2, scale_factor=1.5, mode="nearest-exact"),
    lambda F, x1, x2, x3: F.interpolate(x2, scale_factor=2, mode="bilinear"),
    lambda F, x1, x2, x3: F.interpolate(x2, size=(11, 3), mode="bilinear", align_corners=True),
    lambda F, x1, x2, x3: F.interpolate(x2, scale_factor=(1.3, 0.7), mode="bilinear"),
    lambda F, x1, x2, x3: F.interpolate(x2, size=(9, 13), mode="bicubic"),
    lambda F, x1, x2, x3: F.interpolate(x2, size=(3, 4), mode="bicubic", align_corners=True),
    lambda F, x1, x2, x3: F.interpolate(x2, scale_factor=(1, 2), mode="area"),
]

THREE_D = [
    lambda F, x1, x2, x3: F.interpolate(x3, scale_factor=2),
    lambda F, x1, x2, x3: F.interpolate(x3, size=(5, 3, 7), mode="trilinear"),
    lambda F, x1, x2, x3: F.interpolate(x3, scale_factor=(1.5, 2, 0.5), mode="trilinear",
                                        align_corners=True),
    lambda F, x1, x2, x3: F.interpolate(x3, size=(2, 5, 5), mode="nearest-exact"),
]


@pytest.mark.parametrize("fns", [ONE_D, TWO_D, THREE_D], ids=["1d", "2d", "3d"])
def test_interpolate(fns):
    check_case(table(fns, [X1, X2, X3]))


def test_upsampling_modules():
    x = randn(1, 2, 4, 5, seed=14)
    for name, kw in [("Upsample", dict(scale_factor=2)),
                     ("Upsample", dict(size=(3, 7), mode="bilinear", align_corners=True)),
                     ("Upsample", dict(scale_factor=(1.5, 2.0), mode="bicubic")),
                     ("UpsamplingNearest2d", dict(scale_factor=2)),
                     ("UpsamplingBilinear2d", dict(size=(6, 6)))]:
        mg, mt = getattr(graphnn.nn, name)(**kw), getattr(torch.nn, name)(**kw)
        assert repr(mg) == repr(mt)
        np.testing.assert_allclose(mg(graphnn.tensor(x)).numpy(),
                                   mt(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


ERRORS = [
    lambda F, x: F.interpolate(x, size=4, scale_factor=2),
    lambda F, x: F.interpolate(x),
    lambda F, x: F.interpolate(x, size=(4, 4, 4)),
    lambda F, x: F.interpolate(x, scale_factor=(2, 2, 2)),
    lambda F, x: F.interpolate(x, size=4, align_corners=True),
    lambda F, x: F.interpolate(x, size=4, recompute_scale_factor=True),
    lambda F, x: F.interpolate(x, size=4, mode="linear"),
    lambda F, x: F.interpolate(x, size=4, mode="trilinear"),
    lambda F, x: F.interpolate(x, size=4, mode="cubic"),
    lambda F, x: F.interpolate(x[0, 0], size=4),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_interpolate_errors(k):
    x = np.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(Exception) as ti:
        ERRORS[k](torch.nn.functional, torch.tensor(x))
    with pytest.raises(type(ti.value)):
        ERRORS[k](graphnn.nn.functional, graphnn.tensor(x))
