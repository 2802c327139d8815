"""Data-parallel training over MPI: all-reduce bandwidth, the DDP LeNet example's step time
at 1 and 2 ranks, and how much gradient communication overlaps backward.

    python benchmarks/ddp.py [--rounds 3] [--epochs 4]

The driver launches ``mpirun`` itself (as root in a container too). Each rank gets one
core (``--bind-to core``) and a one-thread PoCL device (``POCL_MAX_PTHREAD_COUNT=1``:
PoCL 3's pthread driver sizes its worker pool, and the compute units it reports, from
it), so 2 ranks on a 2-core machine do not fight over cores. Prints Markdown for
``benchmarks/RESULTS.md``."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import cpu_model  # noqa: E402

SIZES_MIB = [1, 2, 4, 8, 16, 32, 64]


def mpirun(n: int, args: list[str], threads: int = 1, timeout: float = 600) -> str:
    exe = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [exe, "-n", str(n), "--bind-to", "core" if threads == 1 else "none",
           "-x", f"POCL_MAX_PTHREAD_COUNT={threads}", sys.executable] + args
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# -- workers (run under mpirun) ------------------------------------------------------------
def worker_allreduce(rounds: int) -> None:
    """Per size: seconds of graphnn's all_reduce on a device tensor (download, signature
    exchange, MPI, upload) and of mpi4py's Allreduce on the same bytes in host memory."""
    from mpi4py import MPI

    import graphnn as torch
    import graphnn.distributed as dist

    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    for mib in SIZES_MIB:
        n = mib * 2**20 // 4
        t = torch.ones(n)
        host = np.ones(n, np.float32)
        ours, raw = [], []
        for _ in range(rounds + 1):     # the first round warms up
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            t.sum().item()              # the result is on the device
            ours.append(time.perf_counter() - start)
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
            raw.append(time.perf_counter() - start)
        if dist.get_rank() == 0:
            print(f"RESULT allreduce {mib} {statistics.median(ours[1:])} "
                  f"{statistics.median(raw[1:])}", flush=True)
    dist.destroy_process_group()


def worker_overlap(steps: int, cap: float | None) -> None:
    """LeNet DDP steps at 32 samples per rank; per step the reducer's bucket timeline."""
    sys.path.insert(0, str(ROOT / "examples"))
    import graphnn as torch
    import graphnn.distributed as dist
    import graphnn.nn.functional as F
    from graphnn.nn.parallel import DistributedDataParallel as DDP
    from graphnn.runtime import get_runtime
    from lenet import LeNet

    dist.init_process_group("mpi")
    torch.manual_seed(0)
    net = DDP(LeNet(), bucket_cap_mb=cap)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(32, 1, 32, 32), torch.randint(0, 10, (32,))
    shares, exposed, comm, step_ms = [], [], [], []
    for s in range(steps + 5):
        start = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        get_runtime().finish()
        end = time.perf_counter()
        if s < 5:
            continue
        tl = net.reducer.timeline
        last_data = max(t.data_ready for t in tl)
        total = sum(t.reduced - t.data_ready for t in tl)
        hidden = sum(max(0.0, min(t.reduced, last_data) - t.data_ready) for t in tl)
        shares.append(hidden / total if total else 0.0)
        exposed.append(max(t.reduced for t in tl) - last_data)
        comm.append(total)
        step_ms.append(end - start)
    if dist.get_rank() == 0:
        print(f"RESULT overlap {len(net.reducer.buckets)} {statistics.median(comm)} "
              f"{statistics.median(shares)} {statistics.median(exposed)} "
              f"{statistics.median(step_ms)} {net.reducer.early}", flush=True)
    dist.destroy_process_group()


# -- driver --------------------------------------------------------------------------------
def step_time(ranks: int, threads: int, epochs: int, batch: int) -> tuple[float, float]:
    out = mpirun(ranks, [str(ROOT / "examples" / "train_lenet_ddp.py"), "--epochs",
                         str(epochs), "--batch", str(batch)], threads)
    ms = float(re.search(r"step time: ([0-9.]+) ms", out).group(1))
    acc = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    return ms, acc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=["allreduce", "overlap"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--cap", type=float, default=None)
    args = ap.parse_args()
    if args.worker == "allreduce":
        return worker_allreduce(max(args.rounds, 10))
    if args.worker == "overlap":
        return worker_overlap(args.steps, args.cap)

    me = str(Path(__file__).resolve())
    print(f"### Data-parallel LeNet-5 over MPI, {cpu_model()} ({os.cpu_count()} cores)\n")
    print(f"`python benchmarks/ddp.py --rounds {args.rounds} --epochs {args.epochs}`, "
          f"{date.today()}; one core and `POCL_MAX_PTHREAD_COUNT=1` per rank\n")
    print("| size MiB | graphnn all_reduce ms | GB/s | mpi4py Allreduce (host) ms | GB/s |")
    print("|---|---|---|---|---|")
    for line in mpirun(2, [me, "--worker", "allreduce"]).splitlines():
        if line.startswith("RESULT allreduce"):
            mib, ours, raw = line.split()[2:]
            gb = int(mib) * 2**20 / 1e9
            print(f"| {mib} | {float(ours) * 1e3:.2f} | {gb / float(ours):.2f} | "
                  f"{float(raw) * 1e3:.2f} | {gb / float(raw):.2f} |")
    print("\nGB/s: the tensor's bytes over the time (algorithm bandwidth).\n")
    runs: dict[tuple, list] = {}
    configs = [(1, 1, 64), (2, 1, 64), (1, 2, 64), (1, 1, 32), (2, 1, 128)]
    for _ in range(args.rounds):            # interleaved: the machine's load drifts
        for ranks, threads, batch in configs:
            runs.setdefault((ranks, threads, batch), []).append(
                step_time(ranks, threads, args.epochs, batch))
    med = {k: statistics.median(ms for ms, _ in v) for k, v in runs.items()}
    acc = {k: [a for _, a in v] for k, v in runs.items()}
    print("| ranks | PoCL threads per rank | global batch | step ms (median) | all runs ms "
          "| test accuracy |")
    print("|---|---|---|---|---|---|")
    for k, v in runs.items():
        print(f"| {k[0]} | {k[1]} | {k[2]} | {med[k]:.2f} | "
              f"{', '.join(f'{ms:.2f}' for ms, _ in v)} | "
              f"{', '.join(f'{a:.3f}' for a in acc[k])} |")
    strong = med[(1, 1, 64)] / (2 * med[(2, 1, 64)])
    weak = med[(1, 1, 64)] / med[(2, 1, 128)]
    print(f"\n- strong scaling (global batch 64: 64 on one rank vs 32 per rank on two): "
          f"speed-up {med[(1, 1, 64)] / med[(2, 1, 64)]:.2f}x, efficiency {strong:.0%}")
    print(f"- weak scaling (64 per rank): efficiency {weak:.0%} "
          f"(1-rank step / 2-rank step)")
    print("\n| bucket_cap_mb | buckets | comm ms per step | comm hidden behind backward "
          "| comm after the last gradient ms | step ms | gradients staged early |")
    print("|---|---|---|---|---|---|---|")
    for cap in (None, 0.05):
        extra = ["--cap", str(cap)] if cap is not None else []
        for line in mpirun(2, [me, "--worker", "overlap", "--steps", str(args.steps)] +
                           extra).splitlines():
            if line.startswith("RESULT overlap"):
                b, total, share, exp, step, early = line.split()[2:]
                print(f"| {cap if cap is not None else 'default (25, first 1)'} | {b} | "
                      f"{float(total) * 1e3:.2f} | {float(share):.0%} | "
                      f"{float(exp) * 1e3:.2f} | {float(step) * 1e3:.2f} | {early} |")


if __name__ == "__main__":
    main()
