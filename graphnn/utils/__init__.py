"""``graphnn.utils``: data loading helpers with PyTorch's names."""
from graphnn.utils import data

__all__ = ["data"]
