"""NaN and Inf inputs propagate as in torch 2.13 (no exception), through every kernel family
on the device; tensors on a device graphnn does not run on, or on two devices at once,
raise RuntimeError naming the devices. The rest of the bad-input table is
tests/test_bad_input_table.py."""
from __future__ import annotations

import numpy as np
import pytest

import graphnn
import torch
from graphnn.runtime import get_runtime
from tests.bad_input_specs import train_step


def _poisoned() -> np.ndarray:
    """(2, 3, 4, 4): NaN, +inf and -inf in some windows and rows, others finite."""
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 1, 2] = np.inf
    x[0, 2, 3, 3] = -np.inf
    x[1, 0, 2, 1] = np.inf
    x[1, 0, 2, 2] = -np.inf
    x[1, 1, 0, 0] = np.nan
    return x


def _outputs(T, x, w, conv_w):
    """The same calls in either library, on a poisoned x (N, C, H, W)."""
    F = T.nn.functional
    rows = T.reshape(x, (8, 12))
    # torch's vectorised float32 GELU gives NaN for +inf, its scalar and float64 paths inf
    gelu = F.gelu(x) if T is graphnn else F.gelu(x.double()).float()
    out = [F.relu(x), F.relu6(x), F.hardtanh(x), F.leaky_relu(x), F.elu(x), gelu,
           F.silu(x), F.softplus(x), T.sigmoid(x), T.tanh(x), F.mish(x), F.hardswish(x),
           F.logsigmoid(x), F.softsign(x), F.selu(x), F.hardshrink(x), F.softshrink(x),
           T.clamp(x, -0.5, 0.5), T.maximum(x, T.flip(x, (3,))),
           T.minimum(x, T.flip(x, (3,))), T.abs(x), T.exp(x), T.sqrt(x), T.log(x),
           F.softmax(rows, 1), F.log_softmax(rows, 1), T.amax(rows, 1), T.amin(rows, 1),
           T.argmax(rows, 1), T.sum(rows, 1), T.mean(rows, 1), T.cumsum(rows, 1),
           T.sort(rows, 1)[0], T.topk(rows, 3, 1)[0],
           F.max_pool2d(x, 2), F.avg_pool2d(x, 2), F.adaptive_max_pool2d(x, 3),
           F.adaptive_avg_pool2d(x, 3), F.max_pool2d(x, 3, 1, 1), F.layer_norm(x, (4,)),
           F.group_norm(x, 3), F.linear(rows, w), F.conv2d(x, conv_w, padding=1),
           F.interpolate(x, scale_factor=2, mode="bilinear"), F.normalize(rows),
           F.mse_loss(rows, T.zeros_like(rows), reduction="none"),
           F.smooth_l1_loss(rows, T.zeros_like(rows), reduction="none"),
           F.cross_entropy(rows, T.tensor([0, 1, 2, 3, 4, 5, 6, 7]), reduction="none"),
           F.binary_cross_entropy_with_logits(rows, T.ones_like(rows), reduction="none")]
    return out


class _Net(graphnn.nn.Module):
    def forward(self, x, w, conv_w):
        return tuple(_outputs(graphnn, x, w, conv_w))


def test_nan_and_inf_propagate_as_in_torch():
    x = _poisoned()
    rng = np.random.default_rng(8)
    w = rng.standard_normal((5, 12)).astype(np.float32)
    conv_w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    with torch.no_grad():
        want = _outputs(torch, torch.tensor(x), torch.tensor(w), torch.tensor(conv_w))
    with graphnn.no_grad():    # one compiled graph for every family
        got = _Net()(graphnn.tensor(x), graphnn.tensor(w), graphnn.tensor(conv_w))
    bad = []
    for i, (g, t) in enumerate(zip(got, want)):
        a, b = g.numpy(), t.numpy()
        ok = a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(
            np.nan_to_num(a, nan=0.0, posinf=1e30, neginf=-1e30),
            np.nan_to_num(b, nan=0.0, posinf=1e30, neginf=-1e30), rtol=1e-4, atol=1e-5)
        if not ok:
            bad.append(f"output {i}: ours {a.ravel()[:6]} torch {b.ravel()[:6]}")
    assert not bad, "\n".join(bad)
    train_step()


def test_optimizer_step_with_nan_gradient_propagates():
    # an SGD step with a NaN in a gradient writes NaN there, finite values elsewhere
    rng = np.random.default_rng(9)
    p0, g0 = rng.standard_normal((16, 8)).astype(np.float32), np.ones((16, 8), np.float32)
    g0[3, 4] = np.nan
    g0[5, 1] = np.inf
    results = []
    for T in (torch, graphnn):
        p = T.nn.Parameter(T.tensor(p0))
        p.grad = T.tensor(g0)
        opt = T.optim.SGD([p], lr=0.1, momentum=0.9)
        opt.step()
        opt.step()
        results.append(p.detach().numpy())
    np.testing.assert_array_equal(np.isnan(results[0]), np.isnan(results[1]))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    train_step()


# -- devices ------------------------------------------------------------------------------
def _other_device() -> str:
    """A device name that is not the one graphnn runs on."""
    info = get_runtime().info
    return "cl:9:9" if info.is_gpu else "cuda"


@pytest.mark.parametrize("call", [
    lambda d: graphnn.zeros(2, 3, device=d),
    lambda d: graphnn.tensor([1.0, 2.0], device=d),
    lambda d: graphnn.ones(2).to(d),
    lambda d: graphnn.nn.Linear(2, 3).to(d),
    lambda d: graphnn.randn(2, device=d),
], ids=["zeros", "tensor", "Tensor.to", "Module.to", "randn"])
def test_a_device_graphnn_does_not_run_on(call):
    rt = get_runtime()
    launches = rt.launches
    other = _other_device()
    with pytest.raises(RuntimeError, match=other.split(":")[0]):
        call(other)
    assert rt.launches == launches
    train_step()


def test_tensors_of_two_devices_in_one_op(monkeypatch):
    a = graphnn.ones(2, 3)
    monkeypatch.setenv("GRAPHNN_DEVICE", "reference")
    b = graphnn.ones(2, 3)
    for fn in (lambda: a + b, lambda: b * a, lambda: graphnn.cat([a, b]),
               lambda: graphnn.nn.functional.linear(b, a)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, "
                                               "but found at least two devices") as err:
            fn()
        assert "reference" in str(err.value) and get_runtime("").info.spec in str(err.value)
    np.testing.assert_array_equal((b + b).numpy(), np.full((2, 3), 2.0))   # each on its own
    monkeypatch.delenv("GRAPHNN_DEVICE")
    np.testing.assert_array_equal((a + a).numpy(), np.full((2, 3), 2.0))
    train_step()
