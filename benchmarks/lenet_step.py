"""LeNet training step: wall time per step and device time per kernel (PoCL)."""
import sys
import time

sys.path.insert(0, 'examples')
import numpy as np  # noqa: E402

import graphnn as G  # noqa: E402
from graphnn.runtime import get_runtime  # noqa: E402
from graphnn.runtime.opencl import Profiler  # noqa: E402
from lenet import LeNet  # noqa: E402

G.manual_seed(0)
net = LeNet()
opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = np.random.default_rng(1).standard_normal((64, 1, 32, 32)).astype(np.float32)
y = np.random.default_rng(2).integers(0, 10, 64)
rt = get_runtime()


def step():
    opt.zero_grad()
    out = net(G.tensor(x))
    loss = G.nn.functional.cross_entropy(out, G.tensor(y))
    loss.backward()
    opt.step()
    return loss


for i in range(4):
    step()
rt.finish()
t = time.perf_counter()
for i in range(20):
    step()
rt.finish()
print('step ms', (time.perf_counter() - t) / 20 * 1000)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
rt.profiler = Profiler()
for i in range(reps):
    step()
rt.finish()
tot = sum(rt.profiler.times.values())
print(f"{'device total':50s} {tot / reps * 1000:8.3f} ms")
for k, v in sorted(rt.profiler.times.items(), key=lambda kv: -kv[1]):
    print(f"{k:50s} {v / reps * 1000:8.3f} ms")
