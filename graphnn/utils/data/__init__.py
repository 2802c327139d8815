"""``graphnn.utils.data``: Dataset, TensorDataset, random_split, DataLoader (PyTorch's API,
single process: ``num_workers`` is accepted and ignored)."""
from graphnn.utils.data.dataloader import (DataLoader, Dataset, Subset, TensorDataset,
                                           default_collate, random_split)
from graphnn.utils.data import distributed
from graphnn.utils.data.distributed import DistributedSampler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "Subset", "TensorDataset",
           "default_collate", "distributed", "random_split"]
