"""Compile time at scale: the first training step of growing graphs, cold and warm.

    python benchmarks/compile.py [--cases mlp10,mlp20,mlp40,mlp80,bert,lstm] [--timeout 900]
                                 [--out benchmarks/RESULTS.md --title "after"]
    python benchmarks/compile.py --cases nnlstm32,nnlstm128,nnlstm512
    python benchmarks/compile.py --batches [--out ...]

Each case runs one training step (forward, loss, backward, SGD) in a fresh process:

- *cold*: empty ``GRAPHNN_CACHE`` and ``POCL_CACHE_DIR`` (temporary folders);
- *warm*: a new process on the disk caches the cold run left.

Reported per run: the step's wall time (compile and execution, until the queue drains) and
its compile time split as ``graphnn.stats()`` does (trace, autodiff, passes, codegen, device
build), the programs built, and the kernels of those programs (distinct kernel functions in
the sources / launches of their plans).

Cases: a plain MLP of depth d (``Linear(256, 256)`` + ``ReLU``, batch 32, cross-entropy);
a 6-layer BERT-base-shaped encoder (hidden 768, 12 heads, seq 128, batch 8; attention from
matmul and softmax, a layer norm from mean/var/rsqrt, tanh-approximated GELU, dropout);
a 2-layer LSTM-shaped cell loop unrolled over 64 steps (batch 32, hidden 256);
``nnlstmT``: ``nn.LSTM(256, 256, num_layers=2)`` over T steps (batch 8) with a linear head
on the last output, the recurrent layer as users write it.

``--batches``: in one process with empty caches, training steps of a 6-layer MLP at batch
64 twice (the second builds the momentum update), then at 32, 17 and 5 (a DataLoader's last
smaller batch, new sizes), and of LeNet-5 at 64 twice, then 32: each step's wall time,
compile time and programs built.
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
from _common import count_kernels, cpu_model  # noqa: E402

CASES = ["mlp10", "mlp20", "mlp40", "mlp80", "bert", "lstm"]
PHASES = ["trace", "autodiff", "passes", "codegen", "build"]


# -- the models (run in the child process) -------------------------------------------------
def _mlp(depth: int, batch: int = 32):
    import numpy as np
    import graphnn as G
    import graphnn.nn.functional as F
    layers = []
    for _ in range(depth):
        layers += [G.nn.Linear(256, 256), G.nn.ReLU()]
    net = G.nn.Sequential(*layers)
    rng = np.random.default_rng(0)
    x = G.tensor(rng.standard_normal((batch, 256)).astype(np.float32))
    y = G.tensor(rng.integers(0, 256, batch))
    return net, lambda: F.cross_entropy(net(x), y)


def _bert(layers: int = 6, hidden: int = 768, heads: int = 12, seq: int = 128, batch: int = 8):
    import numpy as np
    import graphnn as G
    import graphnn.nn.functional as F
    nn = G.nn

    class LayerNorm(nn.Module):
        def __init__(self, n: int):
            super().__init__()
            self.weight = nn.Parameter(G.ones(n))
            self.bias = nn.Parameter(G.zeros(n))

        def forward(self, x):
            mu = x.mean(-1, keepdim=True)
            d = x - mu
            var = (d * d).mean(-1, keepdim=True)
            return d * G.rsqrt(var + 1e-12) * self.weight + self.bias

    def gelu(x):
        return 0.5 * x * (1.0 + G.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(hidden, 3 * hidden)
            self.out = nn.Linear(hidden, hidden)
            self.ln1 = LayerNorm(hidden)
            self.ff1 = nn.Linear(hidden, 4 * hidden)
            self.ff2 = nn.Linear(4 * hidden, hidden)
            self.ln2 = LayerNorm(hidden)

        def forward(self, x):
            b, s, h = x.shape
            d = h // heads
            qkv = self.qkv(x).reshape(b, s, 3, heads, d).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            att = F.softmax(G.matmul(q, k.transpose(-2, -1)) * (1.0 / d ** 0.5), dim=-1)
            att = F.dropout(att, 0.1, self.training)
            ctx = G.matmul(att, v).permute(0, 2, 1, 3).reshape(b, s, h)
            x = self.ln1(x + F.dropout(self.out(ctx), 0.1, self.training))
            f = self.ff2(gelu(self.ff1(x)))
            return self.ln2(x + F.dropout(f, 0.1, self.training))

    net = nn.Sequential(*[Layer() for _ in range(layers)])
    rng = np.random.default_rng(0)
    x = G.tensor(rng.standard_normal((batch, seq, hidden)).astype(np.float32))
    return net, lambda: (net(x) * 0.01).pow(2).mean()


def _lstm(steps: int = 64, layers: int = 2, hidden: int = 256, batch: int = 32):
    import numpy as np
    import graphnn as G
    import graphnn.nn.functional as F
    nn = G.nn

    class Cells(nn.Module):
        def __init__(self):
            super().__init__()
            self.ih = nn.ModuleList([nn.Linear(hidden, 4 * hidden) for _ in range(layers)])
            self.hh = nn.ModuleList([nn.Linear(hidden, 4 * hidden, bias=False)
                                     for _ in range(layers)])
            self.head = nn.Linear(hidden, 10)

        def forward(self, xs):
            b = xs.shape[1]
            h = [G.zeros(b, hidden) for _ in range(layers)]
            c = [G.zeros(b, hidden) for _ in range(layers)]
            for t in range(xs.shape[0]):
                inp = xs[t]
                for i in range(layers):
                    gates = self.ih[i](inp) + self.hh[i](h[i])
                    ig, fg, gg, og = gates.chunk(4, 1)
                    c[i] = G.sigmoid(fg) * c[i] + G.sigmoid(ig) * G.tanh(gg)
                    h[i] = G.sigmoid(og) * G.tanh(c[i])
                    inp = h[i]
            return self.head(inp)

    net = Cells()
    rng = np.random.default_rng(0)
    x = G.tensor(rng.standard_normal((steps, batch, hidden)).astype(np.float32))
    y = G.tensor(rng.integers(0, 10, batch))
    return net, lambda: F.cross_entropy(net(x), y)


def _nn_lstm(steps: int, layers: int = 2, hidden: int = 256, batch: int = 8):
    """``nn.LSTM`` (2 layers, hidden 256) over ``steps`` time steps, a head on the last
    output: the recurrent layer as users write it (case names ``nnlstm32``, ``nnlstm512``)."""
    import numpy as np
    import graphnn as G
    import graphnn.nn.functional as F
    nn = G.nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(hidden, hidden, num_layers=layers)
            self.head = nn.Linear(hidden, 10)

        def forward(self, xs):
            out, _ = self.lstm(xs)
            return self.head(out[-1])

    net = Tagger()
    rng = np.random.default_rng(0)
    x = G.tensor(rng.standard_normal((steps, batch, hidden)).astype(np.float32))
    y = G.tensor(rng.integers(0, 10, batch))
    return net, lambda: F.cross_entropy(net(x), y)


def _build(case: str):
    if case.startswith("mlp"):
        return _mlp(int(case[3:]))
    if case.startswith("nnlstm"):
        return _nn_lstm(int(case[6:]))
    return {"bert": _bert, "lstm": _lstm}[case]()


def child(case: str) -> None:
    import graphnn as G
    from graphnn.runtime import get_runtime

    G.manual_seed(0)
    net, loss_fn = _build(case)
    opt = G.optim.SGD(net.parameters(), lr=0.01)
    rt = get_runtime()
    rt.finish()
    kernels = count_kernels()
    G.reset_stats()
    start = time.perf_counter()
    opt.zero_grad()
    loss_fn().backward()
    opt.step()
    rt.finish()
    wall = time.perf_counter() - start
    s = G.stats()
    print(json.dumps({"wall": wall, "trace": s.trace_seconds, "autodiff": s.autodiff_seconds,
                      "passes": s.passes_seconds, "codegen": s.codegen_seconds,
                      "build": s.build_seconds, "builds": s.builds, "compiles": s.compiles,
                      **kernels}))


def child_batches() -> None:
    import numpy as np
    import graphnn as G
    import graphnn.nn.functional as F
    from graphnn.runtime import get_runtime
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "examples"))
    from lenet import LeNet

    rt = get_runtime()
    rng = np.random.default_rng(0)
    G.manual_seed(0)
    mlp = _mlp(6)[0]
    rows = []
    for name, net, shape, classes, sizes in (("mlp6", mlp, (256,), 256, (64, 32, 17, 5)),
                                             ("lenet", LeNet(), (1, 32, 32), 10, (64, 32))):
        opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for b in sizes[:1] + sizes:     # the second step builds the momentum update
            x = G.tensor(rng.standard_normal((b,) + shape).astype(np.float32))
            y = G.tensor(rng.integers(0, classes, b))
            rt.finish()
            G.reset_stats()
            start = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            rt.finish()
            s = G.stats()
            rows.append([name, b, time.perf_counter() - start, s.compile_seconds, s.builds])
    print(json.dumps(rows))


# -- the driver ----------------------------------------------------------------------------
def run_case(case: str, timeout: float) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GRAPHNN_CACHE=os.path.join(tmp, "g"),
                   POCL_CACHE_DIR=os.path.join(tmp, "p"))
        for mode in ("cold", "warm"):
            try:
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                       case], env=env, capture_output=True, text=True,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                out[mode] = {"timeout": timeout}
                break
            if proc.returncode:
                out[mode] = {"error": proc.stderr.strip().splitlines()[-1:]}
                break
            out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def table(results: dict) -> list[str]:
    lines = ["| case | run | step s | trace | autodiff | passes | codegen | build | "
             "builds | kernels distinct/launched | source KB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, runs in results.items():
        for mode, r in runs.items():
            if "timeout" in r:
                lines.append(f"| {case} | {mode} | > {r['timeout']:.0f} (capped) |"
                             + " |" * 9)
                continue
            if "error" in r:
                lines.append(f"| {case} | {mode} | error: {r['error']} |" + " |" * 9)
                continue
            lines.append(f"| {case} | {mode} | {r['wall']:.2f} | "
                         + " | ".join(f"{r[p]:.2f}" for p in PHASES)
                         + f" | {r['builds']} | {r['distinct']}/{r['launches']} | "
                         f"{r['source_bytes'] / 1024:.0f} |")
    return lines


def batches(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GRAPHNN_CACHE=os.path.join(tmp, "g"),
                   POCL_CACHE_DIR=os.path.join(tmp, "p"))
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                               "batches"], env=env, capture_output=True, text=True,
                              timeout=args.timeout, check=True)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [f"### New batch sizes{': ' + args.title if args.title else ''}", "",
             f"`python benchmarks/compile.py --batches` on this machine ({os.cpu_count()} "
             f"cores, {cpu_model()}), {time.strftime('%Y-%m-%d')}. One process, empty caches "
             "at the start; one SGD (momentum) training step per row, in order.", "",
             "| model | batch | step s | compile s | programs built |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {b} | {w:.2f} | {c:.2f} | {n} |" for m, b, w, c, n in rows]
    text = "\n".join(lines + [""])
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per run before a case is reported as capped")
    ap.add_argument("--out", default=None, help="append a result section to this file")
    ap.add_argument("--title", default="", help="section title suffix")
    ap.add_argument("--batches", action="store_true", help="new batch sizes (see above)")
    args = ap.parse_args()
    if args.child:
        child_batches() if args.child == "batches" else child(args.child)
        return
    if args.batches:
        batches(args)
        return
    results = {}
    for case in args.cases.split(","):
        results[case] = run_case(case, args.timeout)
        print(case, json.dumps(results[case]), flush=True)
    cmd = "python benchmarks/compile.py" + (
        f" --cases {args.cases}" if args.cases != ",".join(CASES) else "")
    lines = [f"### Compile time at scale{': ' + args.title if args.title else ''}", "",
             f"`{cmd}` on this machine ({os.cpu_count()} cores, {cpu_model()}), "
             f"{time.strftime('%Y-%m-%d')}. Seconds; first training step in a fresh process "
             "(cold: empty graphnn and PoCL caches; warm: the disk caches of the cold run).",
             ""] + table(results) + [""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
