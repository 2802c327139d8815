"""A training loop keeps host and device memory flat: a few hundred steps of a small model
(the 20,000-step figure with step times is benchmarks/long_run.py)."""
from __future__ import annotations

import gc
import os
import sys
from collections import Counter

import numpy as np

import graphnn as G
import graphnn.nn as nn
import graphnn.nn.functional as F
from graphnn import _dispatch
from graphnn.runtime import get_runtime


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _device_memory(rt) -> tuple[int, int]:
    """Live buffers and their bytes, without the shared 0-d scalars (an LRU cache of at
    most SCALARS_MAX values: per-step scalars such as Adam's bias corrections pass
    through it, so its size is bounded by construction, not by the loop)."""
    pool = rt.pool
    scalars = [t._storage.buf for t in _dispatch._SCALARS.values()
               if getattr(t._storage.buf, "pool", None) is pool]
    assert len(_dispatch._SCALARS) <= _dispatch.SCALARS_MAX
    return pool.live - len(scalars), pool.in_use - sum(b.cl.size for b in scalars)


def _growth(step_once) -> list:
    """The object types that grow over 50 more steps (shown when the loop leaks)."""
    gc.collect()
    before = Counter(type(o).__name__ for o in gc.get_objects())
    for step in range(50):
        step_once(step)
    get_runtime().finish()
    gc.collect()
    after = Counter(type(o).__name__ for o in gc.get_objects())
    return sorted(((n - before.get(k, 0), k) for k, n in after.items()), reverse=True)[:8]


def test_training_loop_memory_is_flat():
    G.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(16, 4))
    opt = G.optim.Adam(net.parameters(), lr=1e-2)
    sched = G.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.99)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 8, 8)).astype(np.float32)
    ys = rng.integers(0, 4, (4, 8))
    rt = get_runtime()
    samples = {}

    def step_once(step: int):
        x, y = G.tensor(xs[step % 4]), G.tensor(ys[step % 4])   # a loader's new batch
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss

    for step in range(301):
        loss = step_once(step)
        if step % 10 == 0:
            assert np.isfinite(loss.item())
        if step in (100, 200, 300):
            rt.finish()
            gc.collect()
            # two new scalars a step (Adam's bias corrections) have filled the LRU by now
            assert len(_dispatch._SCALARS) == _dispatch.SCALARS_MAX
            samples[step] = (_device_memory(rt), rt.pool.allocated, sys.getallocatedblocks(),
                             _rss(), len(gc.get_objects()))
    # consecutive intervals of 100 steps: a leak grows in each; a one-off event (garbage
    # of an earlier test collected here, a lazy import) does not repeat
    for a, b in ((100, 200), (200, 300)):
        (live0, bytes0), held0, blocks0, rss0, objs0 = samples[a]
        (live, nbytes), held, blocks, rss, objs = samples[b]
        where = f"steps {a}-{b}"
        # the same tensors are alive at the same point of every step: parameters,
        # gradients, Adam's state, BatchNorm's statistics, the last batch and loss
        assert abs(live - live0) <= 2, f"{where}: {live - live0:+d} live device buffers"
        assert abs(nbytes - bytes0) <= 2048, f"{where}: {nbytes - bytes0:+d} device bytes"
        assert held - held0 <= 64 << 10, f"{where}: the pool grew {held - held0} bytes"
        # one leaked container a step adds 100 objects; a leaked number or string a step
        # 100 blocks. Blocks also move with the interpreter's own caches (about +110 over
        # 100 steps after some test files ran before this one, with no object growing),
        # so their bound is 3 a step
        if b == 300 and (blocks - blocks0 >= 300 or objs - objs0 >= 100):
            raise AssertionError(f"{where}: {blocks - blocks0:+d} allocated blocks, "
                                 f"{objs - objs0:+d} objects; growing: {_growth(step_once)}")
        assert rss - rss0 < 16 << 20, f"{where}: RSS grew {(rss - rss0) >> 20} MiB"
    assert float(sched.get_last_lr()[0]) < 1e-2     # the schedule really ran
