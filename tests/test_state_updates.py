"""State written in ``forward`` stays inside the compiled graph: BatchNorm's running
statistics (and any buffer written in place) are extra graph outputs written back after
each call, so a conv -> BatchNorm -> ReLU -> max-pool block trains as one graph."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn import _compile

from tests.conftest import assert_close


def _block(L, momentum):
    return L.nn.Sequential(L.nn.Conv2d(3, 8, 3, padding=1), L.nn.BatchNorm2d(8, momentum=momentum),
                           L.nn.ReLU(), L.nn.MaxPool2d(2))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_conv_bn_relu_pool_trains_as_one_graph(momentum):
    rng = np.random.default_rng(3)
    tm, gm = _block(torch, momentum), _block(G, momentum)
    gm.load_state_dict(tm.state_dict())
    traces = None
    for step in range(3):
        x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # a graph break warns
            yg = gm(G.tensor(x))
        yt = tm(torch.tensor(x))
        assert_close(yg, yt, what=f"output {step}")
        (yg * yg).sum().backward()
        (yt * yt).sum().backward()
        if traces is None:
            traces = _compile.STATS["traces"]
    assert _compile.STATS["traces"] == traces, "one trace for every training step"
    for name in ("running_mean", "running_var"):
        assert_close(getattr(gm[1], name), getattr(tm[1], name), what=name)
    assert int(gm[1].num_batches_tracked) == 3
    assert not gm[1].running_mean.requires_grad
    # the conv bias gradient is zero in exact arithmetic (BatchNorm subtracts the channel
    # mean): compare every gradient on the scale of the largest one
    scale = max(float(q.grad.abs().max()) for q in tm.parameters())
    for (name, p), q in zip(gm.named_parameters(), tm.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5 * scale, what=f"{name}.grad")
    gm.eval()
    tm.eval()
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert_close(gm(G.tensor(x)), tm(torch.tensor(x)), what="eval output")


def test_bn_scale_shift_and_relu_share_a_kernel():
    """In training the statistics come from a reduction over the convolution's output, so
    the scale-and-shift and the ReLU cannot join the convolution's epilogue: the max-pool
    kernel computes them at its taps (and stores what the backward graph reads)."""
    gm = _block(G, 0.1)
    x = G.randn(4, 3, 8, 8)
    gm(x).sum().backward()
    cg = next(iter(gm._compiled.values()))[0]
    fwd = next(iter(cg._train.values()))[1].fused_graph
    relu = next(n for n in fwd.nodes() if fwd.op(n) == "relu")
    group = fwd.meta(relu)["group"]
    members = [fwd.op(n) for n in fwd.nodes() if fwd.meta(n).get("group") == group]
    assert {"mul", "add", "max_pool2d"} <= set(members), members
    # conv + bias, the step counter, the statistics, then normalize + relu + pool
    assert len(fwd.groups) == 4, [g.ops(fwd) for g in fwd.groups]


def test_scalars_changing_every_step_do_not_recompile():
    """Per-step scalars are 0-d graph inputs: a learning rate set every step, an eager
    ``x * s`` with a new ``s``, a clipping threshold that changes."""
    G.manual_seed(0)
    model = G.nn.Sequential(G.nn.Linear(4, 8), G.nn.ReLU(), G.nn.Linear(8, 2))
    opt = G.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = G.randn(16, 4), G.randn(16, 2)

    def step(i):
        for group in opt.param_groups:
            group["lr"] = 0.1 / (1 + i)                       # a schedule
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean() * (1.0 + 0.01 * i)  # an eager scalar
        loss.backward()
        G.nn.utils.clip_grad_norm_(model.parameters(), 1.0 + 0.05 * i)
        opt.step()
        return loss

    for i in range(2):
        step(i)
    compiles = _compile.STATS["compiles"]
    for i in range(2, 100):
        loss = step(i)
    assert _compile.STATS["compiles"] == compiles
    assert np.isfinite(loss.item())
