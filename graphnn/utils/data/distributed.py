"""``DistributedSampler`` (``torch.utils.data.distributed.DistributedSampler``).

With ``shuffle=True`` the order of an epoch is ``torch.randperm(len(dataset))`` under a
``torch.Generator`` seeded with ``seed + epoch``, reproduced here without torch: PyTorch's
CPU generator is a 32-bit Mersenne Twister seeded with the low 32 bits of the seed
(numpy's legacy ``RandomState`` seeds the same way), and ``randperm`` is a Fisher-Yates
pass swapping position i with ``i + random() % (n - i)``. So a graphnn job and a PyTorch
job with the same seed visit the same samples on the same ranks."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from graphnn.utils.data.dataloader import Dataset


def torch_randperm(n: int, seed: int) -> list[int]:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()``."""
    state = np.random.RandomState((int(seed) % 2**64) & 0xFFFFFFFF)
    order = list(range(n))
    if n < 2:
        return order
    if n < 0xFFFFFFFF // 20:
        draws = state.randint(0, 2**32, size=n - 1, dtype=np.uint32).tolist()
    else:   # PyTorch draws 64 bits (two outputs, the first as the high word) for huge n
        pairs = state.randint(0, 2**32, size=2 * (n - 1), dtype=np.uint32).astype(np.uint64)
        draws = ((pairs[0::2] << np.uint64(32)) | pairs[1::2]).tolist()
    for i, r in enumerate(draws):
        j = i + r % (n - i)
        order[i], order[j] = order[j], order[i]
    return order


class DistributedSampler:
    """The indices of one rank's share of ``dataset``, for ``DataLoader(sampler=...)``.

    ``num_replicas`` and ``rank`` default to the default group's world size and rank
    (``graphnn.distributed``). Each epoch every rank takes every ``num_replicas``-th index,
    starting at its rank, of one permutation (``shuffle``, seeded by ``seed + epoch``:
    call ``set_epoch`` before each epoch) or of ``range(len(dataset))``. ``drop_last=False``
    pads with indices from the start so that all ranks get ``ceil(len / num_replicas)``;
    ``True`` drops the tail instead. Raises ValueError for a rank outside
    ``[0, num_replicas - 1]``, and ValueError (graphnn.distributed's) when the defaults are
    needed before ``init_process_group``."""

    def __init__(self, dataset: Dataset, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        from graphnn import distributed as dist

        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        if len(indices) != self.total_size:
            raise AssertionError(f"Number of indices ({len(indices)}) does not match "
                                 f"total_size ({self.total_size})")
        indices = indices[self.rank:self.total_size:self.num_replicas]
        if len(indices) != self.num_samples:
            raise AssertionError(f"Number of subsampled indices ({len(indices)}) does not "
                                 f"match num_samples ({self.num_samples})")
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch: with ``shuffle=True`` each epoch gets its own order, the same on
        every rank."""
        self.epoch = epoch
