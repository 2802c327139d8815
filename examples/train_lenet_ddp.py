"""Data-parallel LeNet-5 on MNIST digits over MPI: ``train_lenet.py`` split over ranks.

    mpirun -n 2 python examples/train_lenet_ddp.py [--epochs 8] [--batch 64] [--lr 0.03]

Each rank trains a replica wrapped in ``DistributedDataParallel`` on its share of every
global batch of ``--batch`` samples (``DistributedSampler``); gradients are averaged over
the ranks during backward, so the replicas stay identical and the run follows the
single-process recipe of ``train_lenet.py`` (same data split, global batch, learning rate
and epochs). The test digits are split over the ranks and the correct counts summed with
``all_reduce``. Rank 0 prints the accuracy and the mean step time of epochs 2 onwards.
Run as root in a container with ``mpirun --allow-run-as-root``; on one machine give each
rank its own cores and PoCL threads (``-x POCL_MAX_PTHREAD_COUNT=1`` on 2 cores)."""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphnn as torch  # noqa: E402
import graphnn.distributed as dist  # noqa: E402
import graphnn.nn.functional as F  # noqa: E402
from graphnn.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from graphnn.runtime import get_runtime  # noqa: E402
from graphnn.utils.data import DataLoader, DistributedSampler, TensorDataset  # noqa: E402
from lenet import LeNet  # noqa: E402
from train_lenet import load_mnist  # noqa: E402


def evaluate(net, images, labels, batch: int) -> float:
    """Accuracy over all ranks: each rank scores every world-size-th slice."""
    rank, world = dist.get_rank(), dist.get_world_size()
    net.eval()
    correct = torch.zeros(2, dtype=torch.int64)     # correct, seen
    with torch.no_grad():
        for i in range(rank * batch, len(images), world * batch):
            out = net(torch.tensor(images[i:i + batch]))
            hits = int((out.argmax(1) == torch.tensor(labels[i:i + batch])).sum().item())
            correct += torch.tensor([hits, len(labels[i:i + batch])])
    net.train()
    dist.all_reduce(correct)
    hits, seen = correct.tolist()
    return hits / seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64, help="global batch (all ranks)")
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bucket-cap-mb", type=float, default=None)
    args = ap.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} is not divisible by {world} ranks")
    images, labels = load_mnist()
    # the single-process example's split: 400 + 100 of each digit
    split = np.random.default_rng(1234).permutation(len(images))
    train_idx = np.concatenate([split[labels[split] == d][:400] for d in range(10)])
    test_idx = np.setdiff1d(split, train_idx)
    torch.manual_seed(args.seed)
    model = LeNet()
    net = DDP(model, bucket_cap_mb=args.bucket_cap_mb)     # rank 0's initial weights
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    train = TensorDataset(images[train_idx], labels[train_idx])
    sampler = DistributedSampler(train, seed=args.seed)
    loader = DataLoader(train, batch_size=args.batch // world, sampler=sampler, drop_last=True)
    if rank == 0:
        print(f"{world} rank(s), device: {get_runtime().info.short}, "
              f"{args.batch // world} samples per rank and step", flush=True)
    steps, timed = 0, 0.0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        start = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
        get_runtime().finish()
        seconds = time.perf_counter() - start
        if epoch > 0:               # the first epoch compiles
            steps += len(loader)
            timed += seconds
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.3f}, "
                  f"{seconds:.2f} s", flush=True)
    accuracy = evaluate(net.module, images[test_idx], labels[test_idx], 200)
    if rank == 0:
        if steps:
            print(f"step time: {1e3 * timed / steps:.2f} ms (mean of epochs 2-{args.epochs})")
        print(f"test accuracy: {accuracy:.4f} on {len(test_idx)} held-out digits")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
