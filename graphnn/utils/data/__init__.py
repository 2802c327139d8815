"""``graphnn.utils.data``: Dataset, TensorDataset, random_split, DataLoader (PyTorch's API,
single process: ``num_workers`` is accepted and ignored)."""
from graphnn.utils.data.dataloader import (DataLoader, Dataset, Subset, TensorDataset,
                                           default_collate, random_split)

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "random_split"]
