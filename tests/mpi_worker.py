"""The program ``tests/test_distributed.py`` runs under ``mpirun -n 2``: one scenario per
launch, named by ``argv[1]``; results go to ``argv[2]`` (one ``.npz`` per rank) and are
checked by the test against numpy and a single-process graphnn run.

Inputs come from ``inputs(rank)`` and ``batch(rank, step)`` so that the test can rebuild
every rank's data without running MPI itself."""
from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

import numpy as np

STEPS = 3                   # synced DDP steps, then one step of two no_sync micro-batches
BATCH = 4                   # samples per rank and step


def inputs(rank: int) -> dict:
    """Each rank's collective inputs."""
    rng = np.random.default_rng(100 + rank)
    return {"f32": rng.standard_normal((2, 3)).astype(np.float32),
            "f64": rng.standard_normal(5),
            "i64": rng.integers(-50, 50, (4,)).astype(np.int64),
            "bool": rng.random(6) < 0.5,
            "wide": rng.standard_normal((3, 4)).astype(np.float32),
            "scatter": rng.standard_normal((2, 3, 2)).astype(np.float32)}


def batch(rank: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 * step + rank)
    return (rng.standard_normal((BATCH, 6)).astype(np.float32),
            rng.integers(0, 3, BATCH).astype(np.int64))


def mlp(seed: int):
    import graphnn as torch

    torch.manual_seed(seed)
    # both layers 6 x 6: no_sync's gradient accumulation compiles one add per shape
    return torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.ReLU(), torch.nn.Linear(6, 6))


def train(model, opt, steps: list):
    """SGD steps on ``model``; each step is a list of (x, y) micro-batches whose gradients
    accumulate (all but the last inside ``no_sync`` when the model is DDP)."""
    import graphnn as torch
    import graphnn.nn.functional as F
    from contextlib import nullcontext

    early = []
    for micro in steps:
        opt.zero_grad()
        for k, (x, y) in enumerate(micro):
            last = k == len(micro) - 1
            ctx = model.no_sync() if hasattr(model, "no_sync") and not last else nullcontext()
            with ctx:
                F.cross_entropy(model(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        early.append(model.reducer.early if hasattr(model, "reducer") else 0)
    return early


def collectives(dist, torch, rank: int, out: dict) -> None:
    data = inputs(rank)
    for op in ("SUM", "AVG", "MAX", "MIN"):
        t = torch.tensor(data["f32"])
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        out[f"all_reduce_f32_{op}"] = t.numpy()
    t = torch.tensor(data["f64"])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    out["all_reduce_f64_SUM"] = t.numpy()
    for op in ("SUM", "MAX", "MIN"):
        t = torch.tensor(data["i64"])
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        out[f"all_reduce_i64_{op}"] = t.numpy()
    t = torch.tensor(data["bool"])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    out["all_reduce_bool_MAX"] = t.numpy()
    wide = torch.tensor(data["wide"])
    view = wide[1:3]                            # a view: written back into its base
    work = dist.all_reduce(view, op=dist.ReduceOp.SUM, async_op=True)
    work.wait()
    out["all_reduce_view"] = wide.numpy()
    out["async_completed"] = np.array(work.is_completed())
    t = torch.tensor(data["f32"])
    dist.broadcast(t, src=1)
    out["broadcast"] = t.numpy()
    gathered = [torch.zeros(2, 3) for _ in range(2)]
    dist.all_gather(gathered, torch.tensor(data["f32"]))
    out["all_gather"] = np.stack([g.numpy() for g in gathered])
    big = torch.zeros(4, 3)
    dist.all_gather_into_tensor(big, torch.tensor(data["f32"]))
    out["all_gather_into_tensor"] = big.numpy()
    for op in ("SUM", "AVG"):
        t = torch.zeros(3, 2)
        dist.reduce_scatter(t, list(torch.tensor(data["scatter"])),
                            op=getattr(dist.ReduceOp, op))
        out[f"reduce_scatter_{op}"] = t.numpy()
    t = torch.zeros(3, 2)
    dist.reduce_scatter_tensor(t, torch.tensor(data["scatter"]).reshape(6, 2))
    out["reduce_scatter_tensor"] = t.numpy()
    dist.barrier()
    out["rank"], out["world"] = np.array(dist.get_rank()), np.array(dist.get_world_size())


def bad_input(dist, torch, rank: int, out: dict) -> None:
    """Errors that every rank must raise alike, leaving the group usable."""
    checks = {
        "shape": lambda: dist.all_reduce(torch.ones(2, 3) if rank == 0 else torch.ones(3)),
        "dtype": lambda: dist.all_reduce(torch.ones(3) if rank == 0
                                         else torch.ones(3, dtype=torch.int64)),
        "mismatch": lambda: dist.all_reduce(torch.ones(3)) if rank == 0
        else dist.broadcast(torch.ones(3), src=0),
        "avg_int": lambda: dist.all_reduce(torch.ones(3, dtype=torch.int64),
                                           op=dist.ReduceOp.AVG),
        "root": lambda: dist.broadcast(torch.ones(3), src=2),
        "list": lambda: dist.all_gather([torch.ones(3)], torch.ones(3)),
        "not_tensor": lambda: dist.all_reduce(np.ones(3)),
        "twice": lambda: dist.init_process_group("mpi"),
    }
    for name, call in checks.items():
        try:
            call()
            out[f"error_{name}"] = np.array("no error")
        except Exception as e:
            out[f"error_{name}"] = np.array(f"{type(e).__name__}: {e}")
    t = torch.ones(2)
    dist.all_reduce(t)
    out["after_errors"] = t.numpy()


def ddp(dist, torch, rank: int, out: dict) -> None:
    from graphnn.nn.parallel import DistributedDataParallel as DDP
    from graphnn.utils.data import DistributedSampler

    model = mlp(seed=rank)      # different weights per rank: DDP takes rank 0's
    # a cap of 64 bytes makes two buckets, one per layer
    net = DDP(model, bucket_cap_mb=64 / 2**20)
    out["buckets"] = np.array(len(net.reducer.buckets))
    out["init"] = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    steps = [[batch(rank, s)] for s in range(STEPS)]
    steps.append([batch(rank, STEPS), batch(rank, STEPS + 1)])
    out["early"] = np.array(train(net, opt, steps))
    out["params"] = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])

    # BatchNorm: rank 1's running statistics start elsewhere and follow rank 0's
    torch.manual_seed(rank)
    bn_model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4))
    if rank == 1:
        bn_model[1].running_mean.data = torch.full((4,), 5.0)
    bn = DDP(bn_model)
    out["bn_init"] = bn_model[1].running_mean.numpy()
    w = bn_model[0].weight.detach().numpy()
    out["bn_w"], out["bn_b"] = w, bn_model[0].bias.detach().numpy()
    for s in range(2):
        with torch.no_grad():   # training-mode statistics; no backward graph to build
            bn(torch.tensor(batch(rank, 10 + s)[0]))
        out[f"bn_mean_{s}"] = bn_model[1].running_mean.numpy()
        out[f"bn_var_{s}"] = bn_model[1].running_var.numpy()

    unused(torch, rank, out)
    sampler = DistributedSampler(list(range(11)), shuffle=True, seed=3)
    sampler.set_epoch(2)
    out["sampler"] = np.array(list(sampler))


def unused(torch, rank: int, out: dict) -> None:
    """A parameter no forward uses: PyTorch's error without find_unused_parameters; with
    it the others are averaged and the unused one keeps no gradient."""
    import graphnn.nn.functional as F
    from graphnn.nn.parallel import DistributedDataParallel as DDP

    class WithUnused(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = mlp(seed=0)
            self.spare = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.body(x)

    x, y = batch(rank, 0)
    for find in (False, True):
        model = WithUnused()
        net = DDP(model, find_unused_parameters=find)
        try:
            F.cross_entropy(net(torch.tensor(x)), torch.tensor(y)).backward()
            out[f"unused_{find}"] = np.array("no error")
        except RuntimeError as e:
            out[f"unused_{find}"] = np.array(str(e))
    out["unused_spare_grad_is_none"] = np.array(model.spare.weight.grad is None)
    out["unused_grads"] = np.concatenate([p.grad.numpy().ravel()
                                          for p in model.body.parameters()])


def warm_up(torch) -> None:
    """Builds the programs of the DDP steps once, on rank 0, before rank 1 needs them:
    two ranks compiling the same kernels at once cost the test suite twice the CPU."""
    model = mlp(seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, [[batch(0, 0)], [batch(0, 0), batch(0, 1)]])
    with torch.no_grad():
        torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4))(
            torch.tensor(batch(0, 0)[0]))


def main() -> None:
    scenario, outdir = sys.argv[1], sys.argv[2]
    import graphnn as torch
    import graphnn.distributed as dist

    if scenario == "timeout":
        dist.init_process_group("mpi", timeout=timedelta(seconds=1))
    else:
        dist.init_process_group(backend="mpi")
    rank = dist.get_rank()
    out: dict = {}
    if scenario == "main":
        if rank == 0:
            warm_up(torch)
        # rank 1 then loads what rank 0 built from the disk cache; it waits asleep (an
        # MPI barrier would spin on a core that rank 0 is compiling on)
        from mpi4py import MPI
        request = MPI.COMM_WORLD.Ibarrier()
        while not request.Test():
            time.sleep(0.05)
        collectives(dist, torch, rank, out)
        bad_input(dist, torch, rank, out)
        ddp(dist, torch, rank, out)
    elif scenario == "raise":
        dist.barrier()
        if rank == 1:
            raise ValueError("rank 1 cannot go on")
        dist.all_reduce(torch.ones(3))
    elif scenario == "timeout":
        dist.barrier()
        if rank == 1:
            time.sleep(60)      # alive but never joins: rank 0's all_reduce must time out
        dist.all_reduce(torch.ones(3))
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
