"""The seed's LeNet-5 trains through the whole compiler exactly as in PyTorch."""
import os
import sys

import numpy as np
import torch

import graphnn
import graphnn.nn.functional as F
from graphnn.runtime import get_runtime
from tests.conftest import assert_close
from tests.kernel_check import UNPACKED_L2, own_dialect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from lenet import LeNet, torch_twin  # noqa: E402


def _pair_models():
    graphnn.manual_seed(0)
    ours = LeNet()
    return ours, torch_twin(ours)


def test_five_sgd_steps_match_torch(rng):
    ours, ref = _pair_models()
    opt = graphnn.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for step in range(5):
        x = rng.standard_normal((16, 1, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, 16)
        opt.zero_grad()
        ropt.zero_grad()
        out, rout = ours(graphnn.tensor(x)), ref(torch.tensor(x))
        assert_close(out, rout, what=f"logits, step {step}")
        loss = F.cross_entropy(out, graphnn.tensor(y))
        rloss = torch.nn.functional.cross_entropy(rout, torch.tensor(y))
        assert_close(loss, rloss, what=f"loss, step {step}")
        loss.backward()
        rloss.backward()
        for (name, p), rp in zip(ours.named_parameters(), ref.parameters()):
            assert_close(p.grad, rp.grad, rtol=1e-3, atol=1e-5, what=f"{name}.grad step {step}")
        opt.step()
        ropt.step()
    for (name, p), rp in zip(ours.named_parameters(), ref.parameters()):
        assert_close(p, rp, rtol=1e-3, atol=1e-5, what=name)


def test_training_step_launches_and_syncs(rng):
    ours, _ = _pair_models()
    opt = graphnn.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    x = graphnn.tensor(rng.standard_normal((16, 1, 32, 32)).astype(np.float32))
    y = graphnn.tensor(rng.integers(0, 10, 16))

    def step():
        opt.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        opt.step()

    rt = get_runtime()
    with own_dialect(l2_bytes=UNPACKED_L2):   # the count without a device's packing launches
        step()
        step()
        rt.finish()
        launches, syncs = rt.launches, rt.syncs
        step()
    per_step = rt.launches - launches
    assert rt.syncs == syncs, "a training step must not wait for the device"
    # 5 forward, 3 loss, 11 backward, 1 for the SGD update of all ten parameters
    assert per_step <= 20, f"{per_step} kernel launches per LeNet training step"


def test_inference_is_five_fused_kernels():
    from graphnn.dump import dump_model
    ours, _ = _pair_models()
    with own_dialect(l2_bytes=UNPACKED_L2):   # no packing launch, whatever the L2
        (d,) = dump_model(ours, [(4, 1, 32, 32)])
    ops = [launch.ops for launch in d.program.launches]
    assert ops == [["conv2d", "add", "relu", "max_pool2d"]] * 2 + \
        [["matmul", "add", "relu"]] * 2 + [["matmul", "add"]]


def test_learning_rate_changes_do_not_recompile(rng):
    from graphnn import _compile
    ours, ref = _pair_models()
    opt = graphnn.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    x = rng.standard_normal((8, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    for step in range(4):
        if step == 2:
            traces = _compile.STATS["traces"]
        for group, rgroup in zip(opt.param_groups, ropt.param_groups):
            group["lr"] = rgroup["lr"] = 0.1 / (step + 1)
        opt.zero_grad()
        ropt.zero_grad()
        F.cross_entropy(ours(graphnn.tensor(x)), graphnn.tensor(y)).backward()
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        ropt.step()
    assert _compile.STATS["traces"] == traces
    for p, rp in zip(ours.parameters(), ref.parameters()):
        assert_close(p, rp, rtol=1e-3, atol=1e-5)
