"""Autotuning's effect on eager matrix products (static sizes), against torch in one process.

    python benchmarks/tuning.py [--rounds 5] [--out benchmarks/RESULTS.md]

Each product runs in two fresh processes, ``GRAPHNN_TUNE=0`` (the blocking rules' register
block) and ``GRAPHNN_TUNE=1`` with an empty tuning record (a first run: the tuning time is
part of its first call), each timed against torch's same product in the same process. An
eager op has static sizes, whose kernels differ from a traced model's (a symbolic batch):
``kernels.py --only tune`` measures those.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

CASES = [("512^3", (512, 512), (512, 512), False), ("1024^3", (1024, 1024), (1024, 1024), False),
         ("2048^3", (2048, 2048), (2048, 2048), False),
         ("MLP 128x784 -> 1024", (128, 784), (1024, 784), True),
         ("BERT 4096x768 -> 768", (4096, 768), (768, 768), True),
         ("BERT 4096x768 -> 3072", (4096, 768), (3072, 768), True),
         ("BERT 4096x3072 -> 768", (4096, 3072), (768, 3072), True)]

CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
from kernels import race
import graphnn as G, torch
from graphnn.runtime import get_runtime
sa, sb, linear, rounds = {sa!r}, {sb!r}, {linear!r}, {rounds!r}
torch.set_num_threads({threads})
rng = np.random.default_rng(0)
a = rng.standard_normal(sa).astype(np.float32)
b = (rng.standard_normal(sb) / np.sqrt(sa[-1])).astype(np.float32)
ga, gb, ta, tb = G.tensor(a), G.tensor(b), torch.tensor(a), torch.tensor(b)
g_fn = (lambda: G.nn.functional.linear(ga, gb)) if linear else (lambda: ga @ gb)
t_fn = (lambda: torch.nn.functional.linear(ta, tb)) if linear else (lambda: ta @ tb)
start = time.perf_counter()
got = g_fn().numpy()
first = time.perf_counter() - start
want = t_fn().numpy()
g, t = race(g_fn, t_fn, get_runtime(), rounds)
print(json.dumps(dict(g=g, t=t, first=first, tune=G.stats().tune_seconds,
                      err=float(np.max(np.abs(got - want)) / np.max(np.abs(want))))))
"""


def child(sa, sb, linear, rounds, tune: bool) -> dict:
    env = dict(os.environ, GRAPHNN_TUNE="1" if tune else "0",
               GRAPHNN_CACHE=tempfile.mkdtemp(prefix="graphnn-tuning-"))
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), sa=sa, sb=sb,
                        linear=linear, rounds=rounds, threads=os.cpu_count() or 1)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()
    import torch
    lines = ["### Autotuning, eager products (static sizes)", "",
             f"`python benchmarks/tuning.py --rounds {args.rounds}` on {cpu_model()} "
             f"({os.cpu_count()} cores), torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}", "",
             "| product | rule GFLOP/s | tuned GFLOP/s | torch GFLOP/s (rule / tuned run) | "
             "tuned / torch speed | tuning s (first call s) | max rel. diff |",
             "|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for label, sa, sb, linear in CASES:
        flops = 2 * sa[0] * sa[1] * sb[0 if linear else 1]
        rule = child(sa, sb, linear, args.rounds, False)
        tuned = child(sa, sb, linear, args.rounds, True)
        row = (f"| {label} | {flops / rule['g'] / 1e9:.0f} | {flops / tuned['g'] / 1e9:.0f} | "
               f"{flops / rule['t'] / 1e9:.0f} / {flops / tuned['t'] / 1e9:.0f} | "
               f"{tuned['t'] / tuned['g']:.2f} | {tuned['tune']:.1f} ({tuned['first']:.1f}) | "
               f"{tuned['err']:.1e} |")
        print(row, flush=True)
        lines.append(row)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
