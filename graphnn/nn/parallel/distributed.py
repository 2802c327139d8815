"""``DistributedDataParallel``: PyTorch's DDP over graphnn's MPI process group.

Each rank holds a replica of the module and feeds it its own share of the batch. At
construction the ranks check that their parameters agree in shape and dtype and take rank
0's parameters and buffers; during backward the gradients are averaged over the ranks in
buckets (``_reducer``), so after ``loss.backward()`` every replica holds the gradient of
the mean loss over all ranks' samples and the optimizer steps stay identical."""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from graphnn import autograd
from graphnn.distributed import _group
from graphnn.nn.module import Module
from graphnn.nn.parallel._reducer import Reducer

_DEFAULT_BUCKET_CAP_MB = 25
_DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024
_MB = 1024 * 1024


class DistributedDataParallel(Module):
    """Data parallelism over the processes of the default group
    (``torch.nn.parallel.DistributedDataParallel``).

    ``module``: the replica (any graphnn Module; its forward still runs compiled).
    ``bucket_cap_mb``: gradients are all-reduced in buckets of about this many MiB (default
    25, with a first bucket of 1 MiB as in PyTorch), each sent while backward computes the
    rest. ``broadcast_buffers`` / ``forward_sync_buffers`` (default: on): rank 0's buffers
    (BatchNorm's running statistics) are broadcast at the start of every forward.
    ``init_sync``: check parameter shapes across ranks and broadcast rank 0's parameters
    and buffers now. ``find_unused_parameters``: parameters that got no gradient on a rank
    count as zeros there (and keep their ``.grad`` when no rank produced one); without it
    such a backward raises RuntimeError. ``device_ids``, ``output_device``, ``dim``,
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted for compatibility: the
    device is the one graphnn runs on. Raises ValueError before ``init_process_group``,
    RuntimeError when the replicas' parameters differ in number, shape or dtype,
    NotImplementedError for mixed precision, device meshes and delayed all-reduce."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers=None, init_sync: bool = True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params: bool = False, bucket_cap_mb_list=None,
                 batched_grad_copy: bool = False, forward_sync_buffers=None):
        super().__init__()
        pg = _group.default_group("DistributedDataParallel", process_group)
        for name, value in (("mixed_precision", mixed_precision), ("device_mesh", device_mesh),
                            ("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("bucket_cap_mb_list", bucket_cap_mb_list)):
            if value is not None:
                raise NotImplementedError(f"DistributedDataParallel: {name} is not "
                                          "supported by graphnn")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        params = []
        for p in module.parameters():
            if p.requires_grad and all(p is not q for q in params):
                params.append(p)
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        if broadcast_buffers is not None:
            warnings.warn("`broadcast_buffers` is deprecated. Use `forward_sync_buffers` "
                          "instead.", FutureWarning, stacklevel=2)
        if forward_sync_buffers is not None:
            self.forward_sync_buffers = bool(forward_sync_buffers)
            init_sync_buffers = True
        else:
            self.forward_sync_buffers = True if broadcast_buffers is None \
                else bool(broadcast_buffers)
            init_sync_buffers = self.forward_sync_buffers
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.process_group = pg
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = int((_DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None
                                     else bucket_cap_mb) * _MB)
        first = _DEFAULT_FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        if init_sync:
            _verify_params(pg, list(module.parameters()))
            tensors = list(module.parameters())
            if init_sync_buffers:
                tensors += list(module.buffers())
            _broadcast_coalesced(pg, tensors, "DistributedDataParallel: initial broadcast")
        self.__dict__["reducer"] = Reducer(params, pg, self.bucket_bytes_cap, first,
                                           find_unused_parameters)

    @property
    def broadcast_buffers(self) -> bool:
        return self.forward_sync_buffers

    def will_sync_module_buffers(self) -> bool:
        return self.require_forward_param_sync and self.forward_sync_buffers and \
            any(True for _ in self.module.buffers())

    def forward(self, *inputs, **kwargs):
        """Syncs buffers from rank 0, arms the gradient reduction (unless in ``no_sync``
        or under ``no_grad``) and calls the wrapped module."""
        if autograd.is_grad_enabled() and self.require_backward_grad_sync:
            self.reducer.prepare_for_backward()
        if self.will_sync_module_buffers():
            _broadcast_coalesced(self.process_group, list(self.module.buffers()),
                                 "DistributedDataParallel: buffer broadcast")
        return self.module(*inputs, **kwargs)

    def __call__(self, *args, **kwargs):
        # DDP itself is never traced: its forward talks to MPI; the module call inside it
        # compiles as a top-level call
        if self._has_hooks():
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Disables gradient synchronisation: backward passes of forwards run inside the
        block accumulate local gradients, which the first synced backward after it
        averages (PyTorch's gradient accumulation recipe)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def __getstate__(self):
        raise RuntimeError("DistributedDataParallel cannot be pickled: save .module instead")


def _verify_params(pg, params: list) -> None:
    """PyTorch's ``_verify_param_shape_across_processes``: same count, shapes, dtypes."""
    mine = [(tuple(p.shape), p.dtype.name) for p in params]
    sigs = pg.wait(pg.submit(lambda: pg.comm.allgather(mine)),
                   "DistributedDataParallel: parameter check")
    for r, theirs in enumerate(sigs):
        if len(theirs) != len(mine):
            raise RuntimeError(f"DDP expects same model across all ranks, but Rank {pg.rank} "
                               f"has {len(mine)} params, while rank {r} has inconsistent "
                               f"{len(theirs)} params.")
        for i, (a, b) in enumerate(zip(mine, theirs)):
            if a != b:
                raise RuntimeError(f"DDP expects same model across all ranks, but parameter "
                                   f"{i} has shape {list(a[0])} and dtype {a[1]} on rank "
                                   f"{pg.rank} and shape {list(b[0])} and dtype {b[1]} on "
                                   f"rank {r}.")


def _broadcast_coalesced(pg, tensors: list, what: str) -> None:
    """Rank 0's values of ``tensors`` on every rank: one broadcast per dtype of all the
    tensors laid end to end (PyTorch coalesces the same way)."""
    by_dtype: dict[str, list] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype.name, []).append(t)
    for group in by_dtype.values():
        sizes = [t.numel() for t in group]
        if pg.rank == 0:
            flat = np.concatenate([t.detach()._host().reshape(-1) for t in group])
        else:
            flat = np.empty(sum(sizes), group[0].dtype.np)
        view = flat.view(np.uint8) if flat.dtype == np.bool_ else flat
        pg.wait(pg.submit(lambda v=view: pg.comm.Bcast(v, root=0)), what)
        if pg.rank != 0:
            start = 0
            for t, n in zip(group, sizes):
                with autograd.no_grad():
                    t.detach()._write_host(flat[start:start + n].reshape(tuple(t.shape)))
                start += n
