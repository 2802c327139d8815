"""GEMM, elementwise and the MLP training step: graphnn against torch CPU in one process.

    python benchmarks/kernels.py [--rounds 7] [--only sgemm,linear,batched,ew,math,mlp]
                                 [--target haswell] [--threads 1] [--device pocl]
                                 [--out benchmarks/RESULTS.md]

- ``sgemm``: ``a @ b`` for n = 256 ... 2048 (float32, both operands row-major);
- ``linear``: ``F.linear(x, w)`` (``x @ w.T``) at the shapes of the MLP 784-1024-1024-10
  (batch 128) and of BERT-base (4096 tokens, 768 -> 768 and 768 <-> 3072);
- ``batched``: 3-D products (attention's scores and a larger batch of squares);
- ``ew``: the fused chain ``relu(x * a + b)`` over 16M floats against a plain copy kernel
  on the same device (a float16 vector per work-item, written here) and torch's chain;
- ``math``: the elementwise ops that are OpenCL builtins (``erf``, ``log``, ``sqrt``,
  ``sin``, ``expm1``, ``log1p``) and exact GELU over 1024 x 1536 floats;
- ``mlp``: a training step (forward, cross-entropy, backward, SGD with momentum) of the MLP
  784-1024-1024-10 at batch 128;
- ``tune``: the SGEMM and ``Linear`` shapes with the blocking rules' register blocks
  (``GRAPHNN_TUNE=0``) and tuned, the tuner's pick and how long tuning took (from an empty
  build cache and tuning record: a first run's cost).

Every case runs each library in turn for ``--rounds`` rounds; a round times a few runs of
3 calls (graphnn's enqueued back to back, the device drained once) and keeps the fastest.
The machines are shared and noisy: the best of interleaved rounds is what both libraries
reach when the machine is quiet. ``--target haswell`` (or another CPU name LLVM 14 knows)
makes PoCL compile for that CPU and sets the kernels' vector width and register count to
match (AVX2: 8 lanes, 16 registers), with torch's MKL held to the same instructions: the
AVX2-only machines of this machine kind (Zen 3) simulated on an AVX-512 one, caches and
clock aside.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, simulate_cpu  # noqa: E402

# the simulated targets: (vector width in floats, vector registers)
TARGETS = {"haswell": (8, 16), "znver3": (8, 16), "znver2": (8, 16),
           "skylake-avx512": (16, 32), "icelake-server": (16, 32)}


def best_of(fn, sync, calls: int, samples: int = 3) -> float:
    """Seconds per call of the fastest of ``samples`` runs of ``calls`` calls enqueued back
    to back and drained once, as a model's kernels run (graphnn's host waits only when it
    reads a value; torch returns when done)."""
    fn()
    sync()
    best = float("inf")
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def race(g_fn, t_fn, rt, rounds: int, calls: int = 3) -> tuple[float, float]:
    """Best seconds per call of graphnn and torch over interleaved rounds."""
    g = t = float("inf")
    for _ in range(rounds):
        time.sleep(0.05)    # the other library's worker threads go idle first
        g = min(g, best_of(g_fn, rt.finish, calls))
        time.sleep(0.05)
        t = min(t, best_of(t_fn, lambda: None, calls))
    return g, t


class Fn:
    """``fn`` as a traced module (one compiled graph, as inside a model)."""

    def __new__(cls, fn):
        import graphnn as G

        class _M(G.nn.Module):
            def forward(self, *xs):
                return fn(*xs)
        return _M()


def gemm_cases(kind: str) -> list[tuple[str, tuple, tuple, bool]]:
    """(label, A's shape, B's shape, whether B is a ``Linear`` weight stored N x K)."""
    if kind == "sgemm":
        return [(f"{n}^3", (n, n), (n, n), False) for n in (256, 512, 1024, 2048)]
    if kind == "linear":
        return [(f"MLP {m}x{k} -> {n}", (m, k), (n, k), True)
                for m, k, n in ((128, 784, 1024), (128, 1024, 1024), (128, 1024, 10))] + \
            [(f"BERT {m}x{k} -> {n}", (m, k), (n, k), True)
             for m, k, n in ((4096, 768, 768), (4096, 768, 3072), (4096, 3072, 768))]
    if kind == "batched":
        return [("scores 96 x (128x64 @ 64x128)", (96, 128, 64), (96, 64, 128), False),
                ("context 96 x (128x128 @ 128x64)", (96, 128, 128), (96, 128, 64), False),
                ("16 x 512^3", (16, 512, 512), (16, 512, 512), False)]
    if kind == "wgrad":
        # weight gradients dY^T X (A read transposed, K the batch): (K, M) and (K, N)
        return [(f"dY^T X, K {k}, {m} x {n}", (k, m), (k, n), False)
                for k, m, n in ((1024, 1024, 256), (1024, 256, 1024), (1024, 1536, 384),
                                (1024, 1024, 1024), (128, 1024, 1024))]
    raise ValueError(kind)


def gemm_case(sa: tuple, sb: tuple, linear: bool, rng, wgrad: bool = False):
    """(graphnn module, its input, torch's call, flops) for one product; B is captured (a
    weight), not a graph input: only inputs have a dynamic (batch) leading dimension.
    ``wgrad``: the product is A^T B (a weight gradient, K the batch)."""
    import graphnn as G
    import torch

    a = rng.standard_normal(sa).astype(np.float32)
    b = (rng.standard_normal(sb) / np.sqrt(sa[-1])).astype(np.float32)
    ga, gb, ta, tb = G.tensor(a), G.tensor(b), torch.tensor(a), torch.tensor(b)
    if wgrad:
        make = lambda: Fn(lambda x: x.t() @ gb)  # noqa: E731
        t_fn = lambda: ta.t() @ tb  # noqa: E731
        return make, ga, t_fn, 2 * np.prod(sa) * sb[-1]
    if linear:
        make = lambda: Fn(lambda x: G.nn.functional.linear(x, gb))  # noqa: E731
        t_fn = lambda: torch.nn.functional.linear(ta, tb)  # noqa: E731
    else:
        make = lambda: Fn(lambda x: x @ gb)  # noqa: E731
        t_fn = lambda: ta @ tb  # noqa: E731
    return make, ga, t_fn, 2 * np.prod(sa) * sb[-2 if linear else -1]


def rel_err(got, want) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def gemm_rows(kind: str, rounds: int, rt) -> list[str]:
    rng = np.random.default_rng(0)
    rows = []
    for label, sa, sb, linear in gemm_cases(kind):
        make, ga, t_fn, flops = gemm_case(sa, sb, linear, rng, kind == "wgrad")
        mod = make()
        err = rel_err(mod(ga).numpy(), t_fn().numpy())
        g, t = race(lambda: mod(ga), t_fn, rt, rounds)
        rows.append(f"| {label} | {flops / g / 1e9:.0f} | {flops / t / 1e9:.0f} | "
                    f"{t / g:.2f} | {err:.1e} |")
    return [f"| {kind} | graphnn GFLOP/s | torch GFLOP/s | graphnn / torch speed | "
            "max rel. diff |", "|---|---|---|---|---|", *rows, ""]


def tune_rows(rounds: int, rt) -> list[str]:
    """The SGEMM and ``Linear`` shapes compiled twice in one process: with the blocking
    rules' picks (``GRAPHNN_TUNE=0``) and tuned (``runtime/tune.py``, into an empty tuning
    record: the first run's cost), each timed against torch."""
    from graphnn.runtime import tune

    rng = np.random.default_rng(0)
    rows = []
    for label, sa, sb, linear in gemm_cases("sgemm") + gemm_cases("linear"):
        make, ga, t_fn, flops = gemm_case(sa, sb, linear, rng)
        os.environ["GRAPHNN_TUNE"] = "0"
        rule = make()
        rule(ga).numpy()
        os.environ["GRAPHNN_TUNE"] = "1"
        before = dict(tune.STATS)
        known = set(rt.dialect.tuner.records())
        tuned = make()
        err = rel_err(tuned(ga).numpy(), t_fn().numpy())
        spent = tune.STATS["tune_seconds"] - before["tune_seconds"]
        picks = [f"{r.pick} of {len(r.candidates)}" for k, r in
                 rt.dialect.tuner.records().items() if k not in known]
        g_rule = g_tuned = t = float("inf")
        for _ in range(rounds):
            g_rule = min(g_rule, race(lambda: rule(ga), t_fn, rt, 1)[0])
            g, tt = race(lambda: tuned(ga), t_fn, rt, 1)
            g_tuned, t = min(g_tuned, g), min(t, tt)
        rows.append(f"| {label} | {flops / g_rule / 1e9:.0f} | {flops / g_tuned / 1e9:.0f} | "
                    f"{flops / t / 1e9:.0f} | {t / g_tuned:.2f} | {'; '.join(picks) or '-'} | "
                    f"{spent:.1f} | {err:.1e} |")
    return ["| product | rule GFLOP/s | tuned GFLOP/s | torch GFLOP/s | tuned / torch speed | "
            "tuned block (width, vectors, rows) | tuning s | max rel. diff |",
            "|---|---|---|---|---|---|---|---|", *rows, ""]


COPY = """typedef float16 __attribute__((aligned(4))) u_float16;
__kernel void copy16(__global const float* restrict src, __global float* restrict dst) {
    size_t i = get_global_id(0) * 16;
    *(__global u_float16*)(dst + i) = *(__global const u_float16*)(src + i);
}"""


def ew_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import pyopencl as cl
    import torch

    n = 1 << 24
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    gx, ga, gb = G.tensor(x), G.tensor(np.float32(1.5)), G.tensor(np.float32(-0.25))
    tx = torch.tensor(x)
    chain = Fn(lambda v, a, b: (v * a + b).relu())
    clone = Fn(lambda v: v.clone())
    chain(gx, ga, gb), clone(gx)
    prg = cl.Program(rt.context, COPY).build()
    kern = prg.copy16
    src = gx._storage.buf.cl
    dst = rt.pool.alloc(4 * n)
    kern.set_args(src, dst.cl)
    local = rt.dialect.local_1d(n // 16)

    def copy():
        cl.enqueue_nd_range_kernel(rt.queue, kern, (n // 16,), (local,))

    cases = {"copy": (copy, rt.finish),
             "chain": (lambda: chain(gx, ga, gb), rt.finish),
             "clone": (lambda: clone(gx), rt.finish),
             "torch chain": (lambda: torch.relu(tx * 1.5 - 0.25), lambda: None),
             "torch clone": (tx.clone, lambda: None)}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):     # all five in every round: they share the machine's noise
        for key, (fn, sync) in cases.items():
            time.sleep(0.05)
            best[key] = min(best[key], best_of(fn, sync, 3))
    out = []
    for label, key in (("relu(x * a + b), fused", "chain"), ("x.clone()", "clone")):
        g, t = best[key], best[f"torch {key}"]
        out.append(f"| {label} | {8 * n / g / 1e9:.1f} | {best['copy'] / g:.2f} | "
                   f"{8 * n / t / 1e9:.1f} | {t / g:.2f} |")
    return [f"| 16M floats (one read, one write) | graphnn GB/s | share of the copy kernel's "
            f"{8 * n / best['copy'] / 1e9:.1f} GB/s | torch GB/s | graphnn / torch speed |",
            "|---|---|---|---|---|", *out, ""]


def math_rows(rounds: int, rt) -> list[str]:
    """The builtin math ops (one OpenCL builtin call per vector) and exact GELU over a
    1024 x 1536 activation (MiniLM's FFN at 8 x 128 tokens), each a traced module."""
    import graphnn as G
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 1536)).astype(np.float32)
    pos = np.abs(x) + 0.5
    cases = [("erf", lambda L, v: L.erf(v), x), ("log", lambda L, v: L.log(v), pos),
             ("sqrt", lambda L, v: L.sqrt(v), pos), ("sin", lambda L, v: L.sin(v), x),
             ("expm1", lambda L, v: L.expm1(v), x), ("log1p", lambda L, v: L.log1p(v), pos),
             ("gelu (exact, erf)", lambda L, v: L.nn.functional.gelu(v), x)]
    out = ["| 1024 x 1536 floats | graphnn ms | torch ms | graphnn / torch time | "
           "max rel. diff |", "|---|---|---|---|---|"]
    for label, fn, arr in cases:
        g_fn, gx, tx = Fn(lambda v, fn=fn: fn(G, v)), G.tensor(arr), torch.tensor(arr)
        err = rel_err(g_fn(gx).numpy(), fn(torch, tx).numpy())
        g, t = race(lambda: g_fn(gx), lambda: fn(torch, tx), rt, rounds)
        out.append(f"| {label} | {g * 1e3:.2f} | {t * 1e3:.2f} | {g / t:.2f}x | {err:.1e} |")
    return out + [""]


def mlp_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import graphnn.nn.functional as F
    import torch

    widths = (784, 1024, 1024, 10)
    rng = np.random.default_rng(0)
    G.manual_seed(0)
    layers, twins = [], []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(G.nn.Linear(a, b))
        twins.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [G.nn.ReLU()]
            twins += [torch.nn.ReLU()]
    net, ref = G.nn.Sequential(*layers), torch.nn.Sequential(*twins)
    with torch.no_grad():
        for p, q in zip(net.parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9)
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 128)
    x, y, tx, ty = G.tensor(xs), G.tensor(ys), torch.tensor(xs), torch.tensor(ys)

    def g_step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    def t_step():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(ref(tx), ty).backward()
        topt.step()

    g, t = race(g_step, t_step, rt, rounds)
    # forward, dX and dW of three layers (the first layer's dX is not needed)
    flops = 2 * 128 * sum(a * b for a, b in zip(widths, widths[1:])) * 3 - \
        2 * 128 * widths[0] * widths[1]
    return ["| MLP 784-1024-1024-10, batch 128 | graphnn ms | torch ms | graphnn / torch time "
            "| graphnn GFLOP/s |", "|---|---|---|---|---|",
            f"| training step (SGD, momentum) | {g * 1e3:.2f} | {t * 1e3:.2f} | {g / t:.2f}x | "
            f"{flops / g / 1e9:.0f} |", ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="sgemm,linear,batched,ew,mlp")
    ap.add_argument("--target", default=None, choices=sorted(TARGETS),
                    help="make PoCL compile for this CPU (simulating an AVX2-only one)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="PoCL's worker threads and torch's threads (default: every core); "
                         "one thread each is less disturbed by a loaded machine")
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()
    if "tune" in args.only.split(","):
        # tuning from scratch: an empty build cache and tuning record (the first run's cost)
        import tempfile
        os.environ["GRAPHNN_CACHE"] = tempfile.mkdtemp(prefix="graphnn-tune-")
    if args.device:
        os.environ["GRAPHNN_DEVICE"] = args.device
    if args.threads:
        os.environ["POCL_MAX_PTHREAD_COUNT"] = str(args.threads)
    if args.target:
        simulate_cpu(args.target)
        if TARGETS[args.target][0] == 8:
            os.environ["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"
    import dataclasses

    import torch
    from graphnn.runtime import get_runtime

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    rt = get_runtime()
    if args.target:
        width, regs = TARGETS[args.target]
        rt.dialect = dataclasses.replace(rt.dialect, vector_width=width,
                                         vector_registers=regs)
    d = rt.dialect
    lines = [f"### Kernels, {rt.info.short}" + (f" compiling for {args.target}"
                                                 if args.target else ""), "",
             f"`python benchmarks/kernels.py --rounds {args.rounds} --only {args.only}"
             + (f" --target {args.target}" if args.target else "")
             + (f" --threads {args.threads}" if args.threads else "") + f"` on {cpu_model()} "
             f"({os.cpu_count()} cores; PoCL {rt.info.compute_units} compute units), torch "
             f"{torch.__version__} with {torch.get_num_threads()} threads, "
             f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}; kernels for "
             f"{d.vector_width} float lanes, {d.vector_registers} vector registers, "
             f"L1 {d.l1_bytes >> 10} KiB, L2 {d.l2_bytes >> 10} KiB", ""]
    print("\n".join(lines), flush=True)
    for part in args.only.split(","):
        if part in ("sgemm", "linear", "batched", "wgrad"):
            rows = gemm_rows(part, args.rounds, rt)
        elif part == "tune":
            rows = tune_rows(args.rounds, rt)
        elif part == "ew":
            rows = ew_rows(args.rounds, rt)
        elif part == "mlp":
            rows = mlp_rows(args.rounds, rt)
        elif part == "math":
            rows = math_rows(args.rounds, rt)
        else:
            raise SystemExit(f"--only: unknown part {part!r}")
        print("\n".join(rows), flush=True)
        lines += rows
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
