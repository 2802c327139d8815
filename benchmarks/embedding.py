"""Embedding lookup forward + backward: graphnn against PyTorch CPU in one process.

    python benchmarks/embedding.py [--rows 30522] [--dim 384] [--indices 1024] [--steps 5]

An ``nn.Embedding(rows, dim)`` (BERT's vocabulary at MiniLM's width) looks up ``indices``
random token ids (with repeats); a step is the lookup, ``(out * w).sum()`` with a fixed
random ``w`` and ``backward()``, the host waiting for the device at the end. Reported: the
first step (trace, compile, run; warm kernel caches of this machine), the median of
``steps`` later steps, the same for torch, kernel launches per step and the largest
difference of the weight gradient from torch's.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=30522)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--indices", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    import torch
    import graphnn as G
    from graphnn.runtime import get_runtime
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    ids = rng.integers(0, args.rows, args.indices).astype(np.int64)
    cot = rng.standard_normal((args.indices, args.dim)).astype(np.float32)

    class Lookup(G.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = G.nn.Embedding(args.rows, args.dim)

        def forward(self, i, w):
            return (self.emb(i) * w).sum()

    ours = Lookup()
    with G.no_grad():
        ours.emb.weight.copy_(G.tensor(weight))
    gi, gw = G.tensor(ids), G.tensor(cot)
    theirs = torch.nn.Embedding(args.rows, args.dim)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(weight))
    ti, tw = torch.tensor(ids), torch.tensor(cot)
    rt = get_runtime()

    def ours_step():
        ours.emb.weight.grad = None
        ours(gi, gw).backward()
        rt.finish()

    def torch_step():
        theirs.weight.grad = None
        (theirs(ti) * tw).sum().backward()

    start = time.perf_counter()
    ours_step()
    first = time.perf_counter() - start
    times, ttimes, launches = [], [], 0
    for _ in range(args.steps):
        before = rt.launches
        start = time.perf_counter()
        ours_step()
        times.append(time.perf_counter() - start)
        launches = rt.launches - before
        start = time.perf_counter()
        torch_step()
        ttimes.append(time.perf_counter() - start)
    diff = np.abs(ours.emb.weight.grad.numpy() - theirs.weight.grad.numpy()).max()
    print(f"Embedding({args.rows}, {args.dim}), {args.indices} indices, forward + backward")
    print(f"first step (trace + compile + run): {first:.2f} s")
    print(f"graphnn median step: {statistics.median(times) * 1e3:.1f} ms, "
          f"{launches} launches per step")
    print(f"torch median step: {statistics.median(ttimes) * 1e3:.1f} ms")
    print(f"max |grad difference|: {diff:.1e}")


if __name__ == "__main__":
    main()
