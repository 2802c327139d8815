"""Kernel counts and times of the pooling family (forward, and forward + backward) on
realistic sizes, against PyTorch CPU. Run: python benchmarks/pooling.py

Columns: kernel launches of an inference call and of a training step (forward, the sum,
backward), the first training call's trace + compile + build time (a warm kernel cache
makes it small), then median milliseconds of graphnn and PyTorch (CPU, 2 threads)."""
from __future__ import annotations

import time

import numpy as np
import torch

import graphnn




CASES = [
    ("MaxPool2d(3, 2, 1) 8x64x56x56", lambda L: L.nn.MaxPool2d(3, 2, 1), (8, 64, 56, 56)),
    ("MaxPool2d(2, return_indices) 8x64x56x56",
     lambda L: L.nn.MaxPool2d(2, return_indices=True), (8, 64, 56, 56)),
    ("MaxPool1d(3, 2) 8x64x1000", lambda L: L.nn.MaxPool1d(3, 2), (8, 64, 1000)),
    ("MaxPool3d(3, 2, 1) 2x32x16x28x28", lambda L: L.nn.MaxPool3d(3, 2, 1), (2, 32, 16, 28, 28)),
    ("MaxPool3d(2, return_indices) 2x32x16x28x28",
     lambda L: L.nn.MaxPool3d(2, return_indices=True), (2, 32, 16, 28, 28)),
    ("AvgPool2d(3, 2, 1) 8x64x56x56", lambda L: L.nn.AvgPool2d(3, 2, 1), (8, 64, 56, 56)),
    ("AvgPool3d(2) 2x32x16x28x28", lambda L: L.nn.AvgPool3d(2), (2, 32, 16, 28, 28)),
    ("AdaptiveAvgPool2d(1) 8x512x7x7", lambda L: L.nn.AdaptiveAvgPool2d((1, 1)), (8, 512, 7, 7)),
    ("AdaptiveAvgPool2d(6) 8x256x13x13", lambda L: L.nn.AdaptiveAvgPool2d(6), (8, 256, 13, 13)),
    ("AdaptiveMaxPool2d(6) 8x256x13x13", lambda L: L.nn.AdaptiveMaxPool2d(6), (8, 256, 13, 13)),
    ("Upsample(2, nearest) 8x64x56x56", lambda L: L.nn.Upsample(scale_factor=2), (8, 64, 56, 56)),
    ("Upsample(1.5, nearest) 8x64x56x56", lambda L: L.nn.Upsample(scale_factor=1.5),
     (8, 64, 56, 56)),
    ("Upsample(2, bilinear) 8x64x56x56", lambda L: L.nn.Upsample(scale_factor=2, mode="bilinear"),
     (8, 64, 56, 56)),
    ("Upsample(2, bicubic) 8x64x56x56", lambda L: L.nn.Upsample(scale_factor=2, mode="bicubic"),
     (8, 64, 56, 56)),
]


def kernels(fn) -> int:
    before = graphnn.stats().launches
    fn()
    return graphnn.stats().launches - before


def median_ms(fn, reps=5) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2] * 1e3


def main():
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"{'case':46s} {'fwd k':>5s} {'f+b k':>5s} {'compile s':>9s} {'fwd ms':>7s} "
          f"{'torch':>7s} {'f+b ms':>7s} {'torch':>7s}")
    for name, make, shape in CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        mg, mt = make(graphnn), make(torch)
        xg, xt = graphnn.tensor(x), torch.tensor(x)
        xgr = graphnn.tensor(x).requires_grad_()
        xtr = torch.tensor(x).requires_grad_()

        def first(o):
            return o[0] if isinstance(o, tuple) else o

        def fwd_g():
            first(mg(xg)).numpy()

        def step_g():
            first(mg(xgr)).sum().backward()
            xgr.grad.numpy()
            xgr.grad = None

        def step_t():
            first(mt(xtr)).sum().backward()
            xtr.grad = None

        t0 = time.perf_counter()
        with graphnn.no_grad():
            fwd_g()
        step_g()
        compile_s = time.perf_counter() - t0
        with graphnn.no_grad():
            kf = kernels(fwd_g)
        kb = kernels(step_g)
        with graphnn.no_grad():
            f_ms = median_ms(fwd_g)
        with torch.no_grad():
            ft_ms = median_ms(lambda: mt(xt))
        b_ms, bt_ms = median_ms(step_g), median_ms(step_t)
        print(f"{name:46s} {kf:5d} {kb:5d} {compile_s:9.2f} {f_ms:7.2f} {ft_ms:7.2f} "
              f"{b_ms:7.2f} {bt_ms:7.2f}")


if __name__ == "__main__":
    main()
