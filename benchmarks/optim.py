"""Optimizer steps: graphnn's Adam against ``torch.optim.Adam(foreach=True)`` on the CPU,
measured side by side in one process.

    python benchmarks/optim.py [--layers 5] [--width 2048] [--steps 10] [--bert 256]
                               [--out benchmarks/RESULTS.md]

The model is the parameters of ``layers`` Linear(width, width) layers (5 x 2048: 21.0M
parameters in 10 tensors) with random gradients, the same values in both libraries. A
step is timed with the host waiting for the device (``rt.finish()``); the table gives
medians of ``steps`` steps after warm-up, over interleaved rounds. Also reported: the
first step (tracing and compiling the update, with warm kernel caches of this machine),
kernel launches per step, the largest relative difference from torch's parameters after
the timed steps, and PyTorch's default single-tensor Adam as a second reference.
``--bert H`` adds a BERT-base-shaped parameter list (199 tensors, hidden size H) to show
how the update scales with the number of tensors; its first step is also timed with empty
graphnn and PoCL caches in a fresh process.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def bert_shapes(hidden: int, layers: int = 12, vocab: int = 30522) -> list[tuple]:
    """The parameter shapes of BERT-base (hidden 768) at another hidden size: embeddings,
    12 encoder layers of 16 tensors, the pooler."""
    h, i = hidden, 4 * hidden
    shapes = [(vocab, h), (512, h), (2, h), (h,), (h,)]
    for _ in range(layers):
        shapes += [(h, h), (h,)] * 4 + [(h,), (h,), (i, h), (i,), (h, i), (h,), (h,), (h,)]
    return shapes + [(h, h), (h,)]


def linear_shapes(layers: int, width: int) -> list[tuple]:
    return [s for _ in range(layers) for s in ((width, width), (width,))]


COLD = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from benchmarks.optim import bert_shapes
import graphnn as G
ps = [G.nn.Parameter(G.zeros(*s)) for s in bert_shapes(int(sys.argv[2]))]
for p in ps:
    p.grad = G.ones(*p.shape)
opt = G.optim.Adam(ps, lr=1e-3)
t0 = time.perf_counter()
opt.step()
from graphnn.runtime import get_runtime
get_runtime().finish()
print(time.perf_counter() - t0)
"""


def median_ms(fn, sync, steps: int) -> float:
    time.sleep(0.2)     # let the other library's worker threads go idle first
    fn()                # and warm this one up again
    sync()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def compare(shapes: list[tuple], steps: int, rounds: int = 3) -> dict:
    import torch
    import graphnn as G
    from graphnn.runtime import get_runtime

    rt = get_runtime()
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal(s).astype(np.float32) * 0.02 for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gp = [G.nn.Parameter(G.tensor(w)) for w in ws]
    tp = [torch.nn.Parameter(torch.tensor(w)) for w in ws]
    for p, q, g in zip(gp, tp, gs):
        p.grad, q.grad = G.tensor(g), torch.tensor(g)
    gopt = G.optim.Adam(gp, lr=1e-3)
    topt = torch.optim.Adam(tp, lr=1e-3, foreach=True)
    # PyTorch's default on the CPU (the single-tensor loop), on copies: a reference point
    sp = [torch.nn.Parameter(torch.tensor(w)) for w in ws]
    for q, g in zip(sp, gs):
        q.grad = torch.tensor(g)
    sopt = torch.optim.Adam(sp, lr=1e-3)
    G.reset_stats()
    t0 = time.perf_counter()
    gopt.step()
    rt.finish()
    first = time.perf_counter() - t0
    compiles = G.stats().compiles
    topt.step()
    launches = rt.launches
    gopt.step()
    rt.finish()
    per_step = rt.launches - launches
    topt.step()
    sopt.step()
    g_ms, t_ms, s_ms = [], [], []
    for _ in range(rounds):     # interleave the libraries to share the machine's noise
        g_ms.append(median_ms(gopt.step, rt.finish, steps))
        t_ms.append(median_ms(topt.step, lambda: None, steps))
        s_ms.append(median_ms(sopt.step, lambda: None, steps))
    # both took the same number of steps from the same values
    diff = max(float(np.max(np.abs(p.detach().numpy() - q.detach().numpy())
                            / (np.abs(q.detach().numpy()) + 1e-3)))
               for p, q in zip(gp, tp))
    return dict(tensors=len(shapes), params=sum(int(np.prod(s)) for s in shapes),
                g=statistics.median(g_ms), t=statistics.median(t_ms),
                single=statistics.median(s_ms), first=first,
                compiles=compiles, launches=per_step, diff=diff)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--bert", type=int, default=0, help="hidden size of a BERT-shaped run")
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()

    import torch
    from graphnn.runtime import get_runtime

    torch.set_num_threads(os.cpu_count() or 1)
    runs = [(f"{args.layers} x Linear({args.width}, {args.width})",
             compare(linear_shapes(args.layers, args.width), args.steps))]
    cold = None
    if args.bert:
        runs.append((f"BERT-base shapes, hidden {args.bert}",
                     compare(bert_shapes(args.bert), args.steps)))
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, GRAPHNN_CACHE=os.path.join(tmp, "g"),
                       POCL_CACHE_DIR=os.path.join(tmp, "p"))
            cold = float(subprocess.run([sys.executable, "-c", COLD, ROOT, str(args.bert)],
                                        env=env, capture_output=True, text=True,
                                        check=True).stdout.strip().splitlines()[-1])
    cmd = (f"python benchmarks/optim.py --layers {args.layers} --width {args.width} "
           f"--steps {args.steps}" + (f" --bert {args.bert}" if args.bert else ""))
    lines = [f"### Adam step, {get_runtime().info.short}", "",
             f"`{cmd}` on {cpu_model()} ({os.cpu_count()} cores), torch {torch.__version__} "
             f"(`torch.optim.Adam(foreach=True)`) with {torch.get_num_threads()} threads, "
             f"{time.strftime('%Y-%m-%d')}", "",
             "| parameters | tensors | graphnn ms | torch foreach ms | graphnn / torch "
             "| torch single-tensor ms | launches | first step s | compiles "
             "| max rel. diff |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs:
        lines.append(f"| {name}: {r['params'] / 1e6:.1f}M | {r['tensors']} | {r['g']:.1f} | "
                     f"{r['t']:.1f} | {r['g'] / r['t']:.2f}x | {r['single']:.1f} | "
                     f"{r['launches']} | {r['first']:.1f} | {r['compiles']} | "
                     f"{r['diff']:.1e} |")
    lines.append("")
    lines.append("- times: median of the per-step medians of 3 interleaved rounds, host "
                 "waiting for the device; torch single-tensor: `torch.optim.Adam()`, "
                 "PyTorch's default on the CPU; first step: tracing and compiling, warm "
                 "kernel caches of this machine; max rel. diff: graphnn's parameters "
                 "against torch foreach's after the same steps, |a - b| / (|b| + 1e-3)")
    if cold is not None:
        lines.append(f"- BERT-shaped first step in a fresh process with empty caches: "
                     f"{cold:.1f} s")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
