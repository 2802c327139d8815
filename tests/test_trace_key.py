"""Changing what ``forward`` reads between calls changes the result, as in PyTorch: module
attributes (``Dropout.p``, ``LeakyReLU.negative_slope``, ``BatchNorm.momentum``/``eps``,
``training``, a user's plain attribute, a tensor attribute reassigned) are part of the
trace key."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

X = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)


class Scaled(object):
    """A user module whose forward reads plain attributes and a tensor attribute."""

    @staticmethod
    def make(L):
        class M(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = 2.0
                self.use_offset = False
                self.offset = L.ones(3)

            def forward(self, x):
                y = x * self.scale
                return y + self.offset if self.use_offset else y

        return M()


CHANGES = {
    "dropout_p": (lambda L: L.nn.Dropout(0.0), lambda m, L: setattr(m, "p", 1.0)),
    "negative_slope": (lambda L: L.nn.LeakyReLU(0.01),
                       lambda m, L: setattr(m, "negative_slope", 0.5)),
    "bn_momentum": (lambda L: L.nn.BatchNorm1d(3, momentum=0.1),
                    lambda m, L: setattr(m, "momentum", 0.7)),
    "bn_eps": (lambda L: L.nn.BatchNorm1d(3, eps=1e-5), lambda m, L: setattr(m, "eps", 2.0)),
    "training": (lambda L: L.nn.BatchNorm1d(3), lambda m, L: m.eval()),
    "plain_attribute": (Scaled.make, lambda m, L: setattr(m, "scale", -3.0)),
    "flag_attribute": (Scaled.make, lambda m, L: setattr(m, "use_offset", True)),
    "tensor_attribute": (Scaled.make, lambda m, L: (setattr(m, "use_offset", True),
                                                    setattr(m, "offset", L.full((3,), 5.0)))),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_attribute_change_between_calls(name):
    make, change = CHANGES[name]
    results = []
    for L in (G, torch):
        m = make(L)
        outs = [m(L.tensor(X.copy())).detach().numpy().copy()]
        change(m, L)
        outs.append(m(L.tensor(X.copy())).detach().numpy().copy())
        outs += [b.detach().numpy().copy() for b in m.buffers()]
        results.append(outs)
    for i, (ours, ref) in enumerate(zip(*results)):
        assert_close(ours, ref, what=f"result {i}")
