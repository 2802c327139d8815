"""CTC loss training step: graphnn against PyTorch CPU in one process.

    python benchmarks/ctc.py [--T 50] [--N 8] [--C 20] [--S 10] [--steps 20] [--cold]

A step is ``F.ctc_loss(F.log_softmax(x, 2), targets, input_lengths, target_lengths)``
('mean') on logits x (T, N, C) and ``backward()``, the host reading the gradient at the
end. Input lengths are drawn in [3T/4, T], target lengths in [S/2, S]. Reported: the first
step's wall and compile times (``--cold``: empty graphnn and PoCL caches in a temporary
folder), the kernels of the programs built (distinct / launched, source bytes), launches
per later step, the min and median of ``steps`` later steps for graphnn and torch.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import count_kernels  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    for name, default in (("T", 50), ("N", 8), ("C", 20), ("S", 10), ("steps", 20)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--cold", action="store_true")
    a = ap.parse_args()
    if a.cold:
        tmp = tempfile.mkdtemp()
        os.environ["GRAPHNN_CACHE"] = os.path.join(tmp, "graphnn")
        os.environ["POCL_CACHE_DIR"] = os.path.join(tmp, "pocl")
    import torch
    import graphnn as G
    import graphnn.nn.functional as F
    torch.set_num_threads(2)

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((a.T, a.N, a.C)).astype(np.float32)
    targets = rng.integers(1, a.C, (a.N, a.S))
    il = rng.integers(a.T - a.T // 4, a.T + 1, a.N)
    tl = rng.integers(a.S // 2, a.S + 1, a.N)

    kernels = count_kernels()

    def ours():
        x = G.tensor(logits, requires_grad=True)
        F.ctc_loss(F.log_softmax(x, 2), G.tensor(targets), G.tensor(il),
                   G.tensor(tl)).backward()
        x.grad.numpy()

    def theirs():
        x = torch.tensor(logits, requires_grad=True)
        torch.nn.functional.ctc_loss(torch.log_softmax(x, 2), torch.tensor(targets),
                                     torch.tensor(il), torch.tensor(tl)).backward()

    def timed(fn):
        out = []
        for _ in range(a.steps):
            start = time.perf_counter()
            fn()
            out.append(1e3 * (time.perf_counter() - start))
        return round(min(out), 3), round(statistics.median(out), 3)

    G.reset_stats()
    start = time.perf_counter()
    ours()
    first = time.perf_counter() - start
    s = G.stats()
    G.reset_stats()
    ours()
    launches = G.stats().launches
    theirs()
    print(json.dumps({"T": a.T, "N": a.N, "C": a.C, "S": a.S, "cold": a.cold,
                      "first_s": round(first, 2), "compile_s": round(s.compile_seconds, 2),
                      "build_s": round(s.build_seconds, 2), **kernels,
                      "launches_per_step": launches, "graphnn_ms_min_median": timed(ours),
                      "torch_ms_min_median": timed(theirs)}))


if __name__ == "__main__":
    main()
