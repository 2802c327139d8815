"""graphnn on a GPU's OpenCL against PyTorch CUDA on the same GPU, in one process.

    GRAPHNN_DEVICE=nvidia python benchmarks/gpu.py [--rounds 5] [--only sgemm,ew,lenet,bert]

The issue's GPU goals, measured side by side (torch in float32 with TF32 off, so both
libraries do the same arithmetic):

- ``sgemm``: ``a @ b`` for n = 1024, 2048, 4096: GFLOP/s and the share of cuBLAS's;
- ``ew``: the fused chain ``relu(x * a + b)`` over 64M floats against a plain float4 copy
  kernel on the same OpenCL device, and torch's chain;
- ``lenet``: LeNet-5's training step at batch 64 (SGD with momentum), eager and compiled;
- ``bert``: a BERT-base-shaped ``nn.TransformerEncoder`` (d_model 768, 12 heads, ffn 3072,
  12 layers) forward on 32 x 128 tokens, eval mode.

graphnn's calls are enqueued back to back and the queue drained once; torch's are followed
by ``torch.cuda.synchronize()``. Each case keeps the best of interleaved rounds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernels import Fn, best_of  # noqa: E402
from models import _rel, _train_pair  # noqa: E402

ALL = "sgemm,ew,lenet,bert"
DEV = "cuda"    # --torch-device cpu tries the script on a machine without CUDA


def race(g_fn, t_fn, rt, rounds: int, calls: int = 5) -> tuple[float, float]:
    import torch
    sync = torch.cuda.synchronize if DEV == "cuda" else (lambda: None)
    g = t = float("inf")
    for _ in range(rounds):
        g = min(g, best_of(g_fn, rt.finish, calls))
        t = min(t, best_of(t_fn, sync, calls))
    return g, t


PROFILES: list[str] = []    # --profile: each workload's costliest kernels, printed at the end


def _profiled(fn, rt):
    """The profiler of one more call of ``fn``: an event per launch, device time per
    kernel."""
    from graphnn.runtime.opencl import Profiler

    rt.finish()
    rt.profiler = Profiler()
    fn()
    rt.finish()
    prof, rt.profiler = rt.profiler, None
    return prof


def _profile(label: str, fn, rt, top: int = 12) -> None:
    """``fn``'s costliest kernels, kept for the end of the output."""
    prof = _profiled(fn, rt)
    total = sum(prof.times.values())
    PROFILES.extend([f"{label}: {total * 1e3:.3f} ms of kernels in {sum(prof.counts.values())} "
                     "launches", "| kernel | launches | ms | share |", "|---|---|---|---|"])
    for name, t in sorted(prof.times.items(), key=lambda kv: -kv[1])[:top]:
        PROFILES.append(f"| {name} | {prof.counts[name]} | {t * 1e3:.3f} | "
                        f"{100 * t / total:.0f} % |")
    PROFILES.append("")


def sgemm_rows(rounds: int, rt, sizes=(1024, 2048, 4096)) -> list[str]:
    import graphnn as G
    import torch

    rows = ["| a @ b | graphnn GFLOP/s | cuBLAS GFLOP/s | share of cuBLAS | goal | "
            "max rel. diff |", "|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
        ga, gb = G.tensor(a), G.tensor(b)
        ta, tb = torch.tensor(a, device=DEV), torch.tensor(b, device=DEV)
        mod = Fn(lambda x: x @ gb)
        err = _rel(mod(ga).numpy(), (ta @ tb).cpu().numpy())
        g, t = race(lambda: mod(ga), lambda: ta @ tb, rt, rounds)
        flops = 2.0 * n ** 3
        goal = ">= 90 %" if n >= 2048 else ">= 70 %"
        rows.append(f"| {n}^3 | {flops / g / 1e9:.0f} | {flops / t / 1e9:.0f} | "
                    f"{100 * t / g:.0f} % | {goal} | {err:.1e} |")
    # Linear's layout, x @ W.T, at BERT-base's feed-forward shapes (4096 tokens)
    for m, k, n in ((4096, 768, 3072), (4096, 3072, 768)):
        x = rng.standard_normal((m, k)).astype(np.float32)
        wt = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        gx, gw = G.tensor(x), G.tensor(wt)
        tx, tw = torch.tensor(x, device=DEV), torch.tensor(wt, device=DEV)
        mod = Fn(lambda v: G.nn.functional.linear(v, gw))
        err = _rel(mod(gx).numpy(), torch.nn.functional.linear(tx, tw).cpu().numpy())
        g, t = race(lambda: mod(gx), lambda: torch.nn.functional.linear(tx, tw), rt, rounds)
        flops = 2.0 * m * n * k
        rows.append(f"| linear {m}x{k} -> {n} | {flops / g / 1e9:.0f} | "
                    f"{flops / t / 1e9:.0f} | {100 * t / g:.0f} % | | {err:.1e} |")
    return rows + [""]


COPY = """__kernel void copy4(__global const float4* restrict src, __global float4* restrict dst)
{ dst[get_global_id(0)] = src[get_global_id(0)]; }"""


def ew_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import pyopencl as cl
    import torch

    n = 1 << 26
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    gx, ga, gb = G.tensor(x), G.tensor(np.float32(1.5)), G.tensor(np.float32(-0.25))
    tx = torch.tensor(x, device=DEV)
    chain = Fn(lambda v, a, b: (v * a + b).relu())
    err = _rel(chain(gx, ga, gb).numpy(), torch.relu(tx * 1.5 - 0.25).cpu().numpy())
    kern = cl.Program(rt.context, COPY).build().copy4
    dst = rt.pool.alloc(4 * n)
    kern.set_args(gx._storage.buf.cl, dst.cl)

    def copy():
        cl.enqueue_nd_range_kernel(rt.queue, kern, (n // 4,), (256,))

    c = min(best_of(copy, rt.finish, 5) for _ in range(rounds))
    g, t = race(lambda: chain(gx, ga, gb), lambda: torch.relu(tx * 1.5 - 0.25), rt, rounds)
    # the kernel's own time (profiling events): at 134 us a call, the host's work per call
    # (the module call, the launch) may take longer than the kernel
    dev = min(sum(_profiled(lambda: chain(gx, ga, gb), rt).times.values())
              for _ in range(rounds))
    gbs = lambda s: 8 * n / s / 1e9  # noqa: E731
    return ["| 64M floats, one read and one write | GB/s | share of the OpenCL copy "
            "kernel | goal | max rel. diff |", "|---|---|---|---|---|",
            f"| float4 copy kernel (OpenCL) | {gbs(c):.0f} | 100 % | | |",
            f"| graphnn relu(x * a + b), fused, per call | {gbs(g):.0f} | {100 * c / g:.0f} % "
            f"| | {err:.1e} |",
            f"| graphnn relu(x * a + b), fused, kernel time | {gbs(dev):.0f} | "
            f"{100 * c / dev:.0f} % | >= 85 % | |",
            f"| torch CUDA relu(x * 1.5 - 0.25) (two kernels) | {gbs(t):.0f} | "
            f"{100 * c / t:.0f} % | | |", ""]


def lenet_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import torch
    from lenet import LeNet, torch_twin

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    G.manual_seed(0)
    rows = []
    for compiled in (False, True):
        net = LeNet()
        ref = torch_twin(net).to(DEV)
        t_opt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9)
        g_opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        gx, gy = G.tensor(x), G.tensor(y)
        tx, ty = torch.tensor(x, device=DEV), torch.tensor(y, device=DEV)
        g_train = _train_pair(G, net, g_opt, lambda m, a, b: G.nn.functional.cross_entropy(
            m(a), b), compiled)
        t_train = _train_pair(torch, ref, t_opt, lambda m, a, b: torch.nn.functional
                              .cross_entropy(m(a), b), False)

        def step():
            return g_train(gx, gy)

        def t_step():
            return t_train(tx, ty)

        err = _rel(step().item(), t_step().item())
        g, t = race(step, t_step, rt, rounds)
        _profile(f"LeNet-5 step{', compiled' if compiled else ''}", step, rt)
        label = "LeNet-5 training step, batch 64" + (", compiled" if compiled else "")
        rows.append(f"| {label} | {g * 1e3:.3f} | {t * 1e3:.3f} | {g / t:.2f}x | "
                    f"<= 0.5 ms | {err:.1e} |")
    return rows


def bert_rows(rounds: int, rt, layers: int = 12) -> list[str]:
    import graphnn as G
    import torch

    x = np.random.default_rng(0).standard_normal((32, 128, 768)).astype(np.float32)
    torch.manual_seed(0)
    t_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, batch_first=True), layers,
        enable_nested_tensor=False).eval()
    g_enc = G.nn.TransformerEncoder(
        G.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, batch_first=True), layers).eval()
    g_enc.load_state_dict({k: v.detach().numpy().copy()
                           for k, v in t_enc.state_dict().items()})
    t_enc.to(DEV)
    gx, tx = G.tensor(x), torch.tensor(x, device=DEV)

    def g_fn():
        with G.no_grad():
            return g_enc(gx)

    def t_fn():
        with torch.no_grad():
            return t_enc(tx)

    err = _rel(g_fn().numpy(), t_fn().cpu().numpy())
    g, t = race(g_fn, t_fn, rt, rounds, calls=2)
    _profile("BERT-base-shaped encoder forward", g_fn, rt)
    return [f"| BERT-base-shaped encoder forward (12 x 768, b32 s128) | {g * 1e3:.2f} | "
            f"{t * 1e3:.2f} | {g / t:.2f}x | <= 0.9x | {err:.1e} |"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=ALL, help=f"comma-separated parts of {ALL}")
    ap.add_argument("--torch-device", default="cuda")
    ap.add_argument("--sizes", default="1024,2048,4096", help="sgemm's n")
    ap.add_argument("--layers", type=int, default=12, help="bert's encoder layers")
    args = ap.parse_args()
    global DEV
    DEV = args.torch_device
    import torch
    from graphnn.runtime import get_runtime

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rt = get_runtime()
    ref = torch.cuda.get_device_name() if DEV == "cuda" else DEV
    print(f"### {rt.info.short} (OpenCL) against torch {torch.__version__} on "
          f"{ref}, TF32 off, {time.strftime('%Y-%m-%d')}\n\n"
          f"`GRAPHNN_DEVICE={os.environ.get('GRAPHNN_DEVICE', '')} python benchmarks/gpu.py "
          f"--rounds {args.rounds}`, dialect {rt.dialect.name}\n", flush=True)
    table = False
    for part in args.only.split(","):
        t0 = time.perf_counter()
        if part in ("lenet", "bert"):
            rows = [] if table else ["| workload | graphnn ms | torch ms | graphnn / torch "
                                     "time | goal | max rel. diff |", "|---|---|---|---|---|---|"]
            table = True
            rows += lenet_rows(args.rounds, rt) if part == "lenet" else \
                bert_rows(args.rounds, rt, args.layers)
        else:
            table = False
            rows = sgemm_rows(args.rounds, rt, [int(n) for n in args.sizes.split(",")]) \
                if part == "sgemm" else ew_rows(args.rounds, rt)
        print("\n".join(rows), flush=True)
        print(f"<!-- {part}: {time.perf_counter() - t0:.1f} s -->", file=sys.stderr, flush=True)
    print("\n".join(PROFILES), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
