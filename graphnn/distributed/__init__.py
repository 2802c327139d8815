"""``graphnn.distributed``: data-parallel training over MPI (``torch.distributed``'s names).

Run a script under ``mpirun -n N python script.py``; ``init_process_group(backend="mpi")``
joins every process of the job. Collectives work on graphnn tensors of any shape and
dtype, staged through host memory (see ``_collectives``); ``graphnn.nn.parallel.
DistributedDataParallel`` averages gradients with them."""
from graphnn.distributed._collectives import (all_gather, all_gather_into_tensor, all_reduce,
                                              broadcast, reduce_scatter, reduce_scatter_tensor)
from graphnn.distributed._group import (Backend, DistBackendError, DistError, ProcessGroup,
                                        ReduceOp, Work, barrier, default_pg_timeout,
                                        destroy_process_group, get_backend, get_rank,
                                        get_world_size, group, init_process_group,
                                        is_available, is_initialized, is_mpi_available)

__all__ = ["Backend", "DistBackendError", "DistError", "ProcessGroup", "ReduceOp", "Work",
           "all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast",
           "default_pg_timeout", "destroy_process_group", "get_backend", "get_rank",
           "get_world_size", "group", "init_process_group", "is_available", "is_initialized",
           "is_mpi_available", "reduce_scatter", "reduce_scatter_tensor"]
