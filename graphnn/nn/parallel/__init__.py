"""``graphnn.nn.parallel``: ``DistributedDataParallel`` over MPI (``graphnn.distributed``)."""
from graphnn.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
