"""Reductions with few outputs: graphnn's two-stage split against one serial work-item per
output, and against torch, side by side in one process.

    python benchmarks/reduce.py [--steps 30] [--out benchmarks/RESULTS.md]

Each case runs as one compiled graph; times are medians of ``--steps`` calls including the
read-back of the (small) result, taken in interleaved rounds.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from unittest import mock

import numpy as np
import torch

import graphnn as G
from graphnn.codegen.dialect import Dialect
from graphnn.ir.passes import PassOptions
from graphnn.runtime import get_runtime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

# a leading 1 keeps every size static (a longer leading dimension is the symbolic batch)
CASES = [
    ("x.sum(), x: (1, 16M)", (1, 1 << 24), lambda x: x.sum()),
    ("(x * x).sum(), x: (1, 16M)", (1, 1 << 24), lambda x: (x * x).sum()),
    ("x.sum(dim=2), x: (1, 4, 4M)", (1, 4, 1 << 22), lambda x: x.sum(dim=2)),
    ("x.sum(), x: (64, 256K)", (64, 1 << 18), lambda x: x.sum()),
    ("x.amax(), x: (1, 16M)", (1, 1 << 24), lambda x: x.amax()),
]


class Graph(G.nn.Module):
    """``fn`` as one compiled graph (a module's forward is traced and compiled once)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def median_ms(fn, steps: int) -> float:
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    rng = np.random.default_rng(0)
    rows = []
    for label, shape, fn in CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        g, t = G.tensor(x), torch.tensor(x)
        # two functions: the trace cache keys modules by their attributes
        split, whole = Graph(fn), Graph(lambda v, f=fn: f(v))
        with mock.patch.object(Dialect, "pass_options", lambda self: PassOptions()):
            whole(g).numpy()          # compiled now, without the split
        split(g).numpy()
        best = {"split": [], "whole": [], "torch": []}
        for _ in range(args.rounds):
            best["split"].append(median_ms(lambda: split(g).numpy(), args.steps))
            best["whole"].append(median_ms(lambda: whole(g).numpy(), args.steps))
            best["torch"].append(median_ms(lambda: fn(t).numpy(), args.steps))
        s, w, tt = (min(best[k]) for k in ("split", "whole", "torch"))
        err = float(np.max(np.abs(split(g).numpy() - fn(t).numpy())))
        rows.append(f"| {label} | {s:.2f} | {w:.2f} | {tt:.2f} | {s / tt:.2f}x | "
                    f"{w / tt:.2f}x | {err:.1e} |")
    dev = get_runtime().device.name.strip()
    text = "\n".join([
        f"### Reductions with few outputs, {dev}",
        "",
        f"`python benchmarks/reduce.py --steps {args.steps}` on {cpu_model()} "
        f"({platform.machine()}), torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}",
        "",
        "| case | graphnn split ms | graphnn one pass ms | torch ms | split / torch | "
        "one pass / torch | max abs diff |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- split: the two-stage reduction (`ir/passes/split_reduce.py`); one pass: the same",
        "  graph compiled with the split off (one work-item per output); best of "
        f"{args.rounds} interleaved rounds of medians, result read back each call",
        "",
    ])
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
