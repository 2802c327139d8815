"""Kernel launches and first-step time of padded and 3-D convolution blocks.

    python benchmarks/conv_nd.py

Each case is a training step with the input requiring grad, in a fresh process with empty
``GRAPHNN_CACHE`` and ``POCL_CACHE_DIR``: launches of the forward and backward programs
(after the passes), the first step's wall time (trace, build, run) and the best of three
later steps. Cases:

- ``conv-pad1``: Conv2d(4, 8, 3, padding=1) on (2, 4, 15, 17), the reference;
- ``zero``, ``constant``, ``reflect``, ``replicate``, ``circular``: a padding layer of 1
  (F.pad) in front of Conv2d(4, 8, 3);
- ``conv3d``: Conv3d(8, 8, 3, padding=1) + ReLU on (2, 8, 9, 16, 16);
- ``conv3d-per-tap``: the same as one conv2d per depth tap over depth-strided slices,
  reshaped into the batch and summed (the composition conv_nd.py does not use);
- ``convt3d``: ConvTranspose3d(8, 8, 3, padding=1) + ReLU on the same input.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

CASES = ["conv-pad1", "zero", "constant", "reflect", "replicate", "circular", "conv3d",
         "conv3d-per-tap", "convt3d"]


def _per_tap(x, conv):
    from graphnn import _ops
    from graphnn._dispatch import apply
    import graphnn.nn.functional as F
    w, n, c, d, h, wd = conv.weight, *x.shape
    x = apply("slice_grad", x, shape=(n, c, d + 2, h, wd), starts=(0, 0, 1, 0, 0),
              steps=(1,) * 5)
    total = None
    for k in range(3):
        xs = _ops.reshape(_ops.permute(x[:, :, k:k + d], (0, 2, 1, 3, 4)), (n * d, c, h, wd))
        y = F.conv2d(xs, w[:, :, k], None, 1, 1)
        total = y if total is None else total + y
    out = _ops.permute(_ops.reshape(total, (n, d, w.shape[0], h, wd)), (0, 2, 1, 3, 4))
    return out + _ops.reshape(conv.bias, (1, -1, 1, 1, 1))


def run_case(case: str) -> str:
    import numpy as np

    import graphnn as G
    from graphnn import _compile
    from graphnn.codegen import lower
    from graphnn.ir.autodiff import differentiate
    from graphnn.ir.passes import run_pipeline
    nn = G.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            pads = {"zero": nn.ZeroPad2d(1), "constant": nn.ConstantPad2d(1, 0.5),
                    "reflect": nn.ReflectionPad2d(1), "replicate": nn.ReplicationPad2d(1),
                    "circular": nn.CircularPad2d(1)}
            if case == "conv-pad1":
                self.body = nn.Conv2d(4, 8, 3, padding=1)
            elif case in pads:
                self.body = nn.Sequential(pads[case], nn.Conv2d(4, 8, 3))
            elif case == "convt3d":
                self.body = nn.ConvTranspose3d(8, 8, 3, padding=1)
            else:
                self.body = nn.Conv3d(8, 8, 3, padding=1)

        def forward(self, x):
            if case == "conv3d-per-tap":
                return G.relu(_per_tap(x, self.body))
            y = self.body(x)
            return G.relu(y) if "3d" in case else y

    shape = (2, 8, 9, 16, 16) if "3d" in case else (2, 4, 15, 17)
    m = Block()
    x = G.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32),
                 requires_grad=True)
    cg, captured = _compile.trace(m._call_forward, [x], {}, "m", m._names())
    split = differentiate(cg.graph, [i for i, t in enumerate([x] + captured)
                                     if t.requires_grad])
    launches = []
    for g in (split.forward, split.backward):
        g = g.copy()
        run_pipeline(g, label="bench")
        launches.append(len(lower(g).launches))
    times = []
    for _ in range(4):
        t = time.perf_counter()
        y = m(x)
        y.backward(G.ones_like(y))
        x.grad.numpy()
        times.append(time.perf_counter() - t)
    return (f"| {case} | {launches[0]} / {launches[1]} | {times[0]:.2f} | "
            f"{min(times[1:]) * 1e3:.2f} |")


def main() -> None:
    if len(sys.argv) > 1:
        print(run_case(sys.argv[1]))
        return
    print("| case | launches fwd / bwd | first step s | later step ms |")
    print("|---|---|---|---|")
    for case in CASES:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, GRAPHNN_CACHE=d, POCL_CACHE_DIR=os.path.join(d, "pocl"))
            out = subprocess.run([sys.executable, __file__, case], env=env, text=True,
                                 capture_output=True)
            print(out.stdout.strip() or f"| {case} | failed: {out.stderr[-200:]} |")


if __name__ == "__main__":
    main()
