"""Datasets and a single-process DataLoader with PyTorch's semantics.

Batches are assembled on the host with numpy and uploaded once per batch, so a training
loop pays one transfer per tensor per step."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

import numpy as np

from graphnn import _creation
from graphnn._tensor import Tensor


class Dataset:
    """An indexable collection of samples (``__getitem__``, ``__len__``)."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset"):
        return _Concat([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors (or arrays)."""

    def __init__(self, *tensors):
        if any(len(t) != len(tensors[0]) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        # rows are gathered on the host: keep numpy copies of device tensors
        self.tensors = tensors
        self._host = [t.detach().numpy() if isinstance(t, Tensor) else np.asarray(t)
                      for t in tensors]

    def __getitem__(self, index):
        return tuple(h[index] for h in self._host)

    def __len__(self) -> int:
        return len(self._host[0])


class Subset(Dataset):
    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class _Concat(Dataset):
    def __init__(self, datasets: list):
        self.datasets = datasets
        self.ends = np.cumsum([len(d) for d in datasets])

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        k = int(np.searchsorted(self.ends, idx, side="right"))
        start = 0 if k == 0 else int(self.ends[k - 1])
        return self.datasets[k][idx - start]

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0


def random_split(dataset: Dataset, lengths: Sequence, generator=None) -> list[Subset]:
    """Splits into non-overlapping subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if all(isinstance(f, float) and 0 <= f <= 1 for f in lengths) and \
            math.isclose(sum(lengths), 1):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _creation.host_rng().permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length].tolist()))
        start += length
    return out


def default_collate(batch: list) -> Any:
    """Stacks samples: arrays/numbers become one tensor per field, tuples stay tuples,
    dicts stay dicts (PyTorch's default_collate)."""
    first = batch[0]
    if isinstance(first, Tensor):
        return _creation.tensor(np.stack([b.detach().numpy() for b in batch]))
    if isinstance(first, (np.ndarray, np.number, int, float, bool)):
        # numpy keeps each array's dtype; Python floats become float64 and ints int64
        return _creation.tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, (tuple, list)):
        return [default_collate(list(s)) for s in zip(*batch)] if isinstance(first, list) \
            else tuple(default_collate(list(s)) for s in zip(*batch))
    return batch


class DataLoader:
    """Iterates over ``dataset`` in batches (``batch_size``, ``shuffle``, ``drop_last``,
    ``collate_fn``, ``sampler``/``batch_sampler`` as index iterables)."""

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 generator=None, **kwargs):
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                             "shuffle, sampler, and drop_last")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.collate_fn = collate_fn or default_collate

    def _indices(self) -> Iterator[int]:
        if self.sampler is not None:
            return iter(self.sampler)
        n = len(self.dataset)
        return iter(_creation.host_rng().permutation(n).tolist() if self.shuffle else range(n))

    def _batches(self) -> Iterator[list[int]]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        batch: list[int] = []
        for i in self._indices():
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self):
        if self.batch_size is None and self.batch_sampler is None:
            for i in self._indices():
                yield self.collate_fn([self.dataset[i]])
            return
        for idx in self._batches():
            if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
                # fast path: one fancy-indexing gather per field instead of per-sample rows
                yield tuple(_creation.tensor(h[np.asarray(idx)]) for h in self.dataset._host)
            else:
                yield self.collate_fn([self.dataset[i] for i in idx])

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
