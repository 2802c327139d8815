"""A long training run: host memory, device memory and step time over 20,000 steps.

    python benchmarks/long_run.py [--steps 20000] [--window 1000] [--out benchmarks/RESULTS.md]

The model is small so that the loop, not the arithmetic, is what is measured: Linear(32,
64), BatchNorm1d, ReLU, Dropout(0.1), Linear(64, 10), batch 64, cross-entropy, Adam with
a StepLR schedule (a new learning rate every 100 steps, new bias corrections every step),
a new batch uploaded every step from 16 host batches, and ``loss.item()`` every 10 steps,
as a training loop prints its loss. Per window of steps the table gives the median and
90th percentile step time (wall clock; the host waits for the device only at the
``item()`` reads, so a step's time includes its share of device work), the process's RSS,
the live device buffers and their bytes (without the shared 0-d scalars, an LRU of at
most ``SCALARS_MAX`` values), the bytes the buffer pool holds, and the Python objects and
allocated blocks (``sys.getallocatedblocks``) after a collection."""
from __future__ import annotations

import argparse
import datetime
import gc
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import graphnn as G  # noqa: E402
import graphnn.nn as nn  # noqa: E402
import graphnn.nn.functional as F  # noqa: E402
from graphnn import _dispatch  # noqa: E402
from graphnn.runtime import get_runtime  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def device_memory(rt) -> tuple[int, int]:
    pool = rt.pool
    scalars = [t._storage.buf for t in _dispatch._SCALARS.values()
               if getattr(t._storage.buf, "pool", None) is pool]
    return pool.live - len(scalars), pool.in_use - sum(b.cl.size for b in scalars)


def run(steps: int, window: int) -> tuple[list[dict], float]:
    G.manual_seed(0)
    net = nn.Sequential(nn.Linear(32, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.1),
                        nn.Linear(64, 10))
    opt = G.optim.Adam(net.parameters(), lr=1e-3)
    sched = G.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.999)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((16, 64, 32)).astype(np.float32)
    ys = rng.integers(0, 10, (16, 64))
    rt = get_runtime()
    rows, times = [], []
    start = time.perf_counter()
    first = None
    for step in range(1, steps + 1):
        t = time.perf_counter()
        x, y = G.tensor(xs[step % 16]), G.tensor(ys[step % 16])
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            value = loss.item()
        times.append(time.perf_counter() - t)
        if step == 1:
            rt.finish()
            first = time.perf_counter() - start
        if step % window == 0:
            rt.finish()
            gc.collect()
            live, nbytes = device_memory(rt)
            rows.append(dict(step=step, median=statistics.median(times) * 1e3,
                             p90=sorted(times)[int(0.9 * len(times))] * 1e3,
                             rss=rss() / 2**20, live=live, nbytes=nbytes,
                             held=rt.pool.allocated, objects=len(gc.get_objects()),
                             blocks=sys.getallocatedblocks(), loss=value))
            times.clear()
            print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in rows[-1].items()), flush=True)
    return rows, first


def report(rows: list[dict], first: float, args) -> str:
    rt = get_runtime()
    date = datetime.date.today().isoformat()
    lines = [f"### Long run: {args.steps} training steps, {rt.info.short}", "",
             f"`python benchmarks/long_run.py --steps {args.steps} --window {args.window}` on "
             f"{cpu_model()} ({os.cpu_count()} cores), {date}", "",
             "| steps | median step ms | p90 ms | RSS MiB | live buffers | live bytes | "
             "pool bytes | Python objects | allocated blocks |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['median']:.2f} | {r['p90']:.2f} | {r['rss']:.1f} | "
                     f"{r['live']} | {r['nbytes']} | {r['held']} | {r['objects']} | "
                     f"{r['blocks']} |")
    load = os.getloadavg()
    warm = rows[1:] if len(rows) > 1 else rows
    meds = [r["median"] for r in warm]
    lines += ["", f"- first step (trace, compile, warm caches of this machine): {first:.1f} s",
              f"- from step {warm[0]['step']} to {rows[-1]['step']}: RSS "
              f"{warm[0]['rss']:.1f} -> {rows[-1]['rss']:.1f} MiB, live device buffers "
              f"{warm[0]['live']} -> {rows[-1]['live']}, Python objects "
              f"{warm[0]['objects']} -> {rows[-1]['objects']}; median step "
              f"{min(meds):.2f}-{max(meds):.2f} ms per window",
              f"- load average at the end (the machine is shared): {load[0]:.1f} / "
              f"{load[1]:.1f} / {load[2]:.1f}", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--out", default=None, help="append the table to this markdown file")
    args = ap.parse_args()
    rows, first = run(args.steps, args.window)
    text = report(rows, first, args)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
