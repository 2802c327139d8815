"""DDP's gradient reducer: buckets, staging of gradients into host memory, and the
all-reduce of each bucket on the process group's MPI thread while backward goes on.

Buckets follow PyTorch's ``compute_bucket_assignment_by_size``: parameters in reverse
registration order (the order backward tends to finish them), one dtype per bucket, a
bucket closed once it holds ``cap`` bytes (the first one ``first_cap``). Each bucket owns
one flat host array. When the compiled backward has enqueued the kernel that writes a
parameter's final gradient, the reducer enqueues a read of that buffer into the bucket's
array right behind it (autograd's grad-buffer hook); a gradient added onto an existing
``.grad`` (after ``no_sync``) is read once accumulated (the post-accumulate hook). When
every gradient of a bucket is staged, and the buckets before it were handed on, the
bucket goes to the MPI thread, which waits for those reads and all-reduces the array in
place while the device still computes the rest of backward. At the end of backward the
main thread waits for the reductions and writes the averages back into ``.grad``."""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from graphnn import autograd
from graphnn._tensor import Tensor
from graphnn.runtime import get_runtime


@dataclass(eq=False)
class Bucket:
    index: int
    params: list
    offsets: list[int]          # each parameter's first element in ``host``
    host: np.ndarray            # flat staging memory: gradients in, averages out
    events: list = field(default_factory=list)
    pending: int = 0            # parameters not staged yet in this backward
    future: Future | None = None


@dataclass
class BucketTiming:
    """One bucket's reduction in one backward, in ``time.perf_counter()`` seconds."""

    bucket: int
    nbytes: int
    submitted: float            # handed to the MPI thread (main thread)
    data_ready: float           # its gradients arrived in host memory (MPI thread)
    reduced: float              # its all-reduce returned


def assign_buckets(params: list, cap: int, first_cap: int) -> list[list[int]]:
    """Indices of ``params`` per bucket (see the module docstring)."""
    buckets: list[list[int]] = []
    open_by_dtype: dict[str, tuple[list[int], int]] = {}
    for i in reversed(range(len(params))):
        p = params[i]
        key = p.dtype.name
        members, size = open_by_dtype.get(key, ([], 0))
        members.append(i)
        size += p.numel() * p.element_size()
        limit = first_cap if not buckets else cap
        if size >= limit:
            buckets.append(members)
            open_by_dtype.pop(key, None)
        else:
            open_by_dtype[key] = (members, size)
    buckets += [members for members, _ in open_by_dtype.values()]
    return buckets


class Reducer:
    """Averages the gradients of ``params`` over the process group ``pg`` in buckets."""

    def __init__(self, params: list, pg, cap: int, first_cap: int,
                 find_unused_parameters: bool):
        self.params = params
        self.pg = pg
        self.find_unused = find_unused_parameters
        self.buckets: list[Bucket] = []
        self.slot: dict[int, tuple[Bucket, int]] = {}
        for k, members in enumerate(assign_buckets(params, cap, first_cap)):
            offsets, n = [], 0
            for i in members:
                offsets.append(n)
                n += params[i].numel()
            b = Bucket(k, [params[i] for i in members], offsets,
                       np.empty(n, params[members[0]].dtype.np))
            self.buckets.append(b)
            for j, p in enumerate(b.params):
                self.slot[id(p)] = (b, j)
        self.handles = []
        for p in params:
            self.handles.append(autograd._register_grad_buffer_hook(p, self._buffer_ready))
            self.handles.append(p.register_post_accumulate_grad_hook(self._accumulated))
        self.armed = False          # a synced forward ran: its backward reduces
        self.staged: set[int] = set()
        self.next_submit = 0
        self.finalize_queued = False
        self.timeline: list[BucketTiming] = []   # the last backward's reductions
        self.early = 0              # gradients staged from inside the compiled backward

    # -- per iteration ------------------------------------------------------------------
    def prepare_for_backward(self) -> None:
        """Arms the reducer for the next backward (DDP's forward calls it)."""
        self.armed = True
        self.staged.clear()
        self.next_submit = 0
        self.finalize_queued = False
        self.timeline = []
        self.early = 0
        for b in self.buckets:
            b.events, b.pending, b.future = [], len(b.params), None

    def _buffer_ready(self, p: Tensor, buf) -> None:
        if self.armed and id(p) not in self.staged:
            self.early += 1
            self._stage(p, buf)

    def _accumulated(self, p: Tensor) -> None:
        if self.armed and id(p) not in self.staged and p.grad is not None:
            self._stage(p, p.grad._dense()[0])

    def _stage(self, p: Tensor, buf) -> None:
        if not self.finalize_queued:
            autograd.queue_callback(self._finalize)
            self.finalize_queued = True
        b, j = self.slot[id(p)]
        start = b.offsets[j]
        b.events.append(get_runtime().read_async(buf, b.host[start:start + p.numel()]))
        self.staged.add(id(p))
        b.pending -= 1
        self._submit_ready()

    def _submit_ready(self) -> None:
        # every rank hands buckets to MPI in index order, so the collectives match
        while self.next_submit < len(self.buckets) and \
                self.buckets[self.next_submit].pending == 0:
            b = self.buckets[self.next_submit]
            submitted = time.perf_counter()
            b.future = self.pg.submit(lambda b=b, t=submitted: self._reduce(b, t))
            self.next_submit += 1

    def _reduce(self, b: Bucket, submitted: float) -> BucketTiming:
        """On the MPI thread: wait for the bucket's reads, sum over ranks, average."""
        from mpi4py import MPI

        for event in b.events:
            event.wait()
        ready = time.perf_counter()
        self.pg.comm.Allreduce(MPI.IN_PLACE, b.host, op=MPI.SUM)
        np.divide(b.host, self.pg.size, out=b.host)
        return BucketTiming(b.index, b.host.nbytes, submitted, ready, time.perf_counter())

    def _finalize(self) -> None:
        """End of backward: stage what is missing, wait for every bucket, write back."""
        self.armed = False
        missing = [p for p in self.params if id(p) not in self.staged]
        if missing and not self.find_unused:
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting "
                "a new one. This error indicates that your module has parameters that were "
                f"not used in producing loss ({len(missing)} of {len(self.params)} parameters got "
                "no gradient). You can enable unused parameter detection by passing the "
                "keyword argument `find_unused_parameters=True` to "
                "`graphnn.nn.parallel.DistributedDataParallel`, and by making sure all "
                "`forward` function outputs participate in calculating loss.")
        for p in missing:           # locally unused: contributes zeros
            b, j = self.slot[id(p)]
            b.host[b.offsets[j]:b.offsets[j] + p.numel()] = 0
            self.staged.add(id(p))
            b.pending -= 1
        self._submit_ready()
        used = None
        if self.find_unused:
            local = np.array([p.grad is not None for p in self.params], np.int32)
            used = self.pg.wait(self.pg.submit(lambda: self._used_anywhere(local)),
                                "DistributedDataParallel: unused-parameter map")
        self.timeline = [self.pg.wait(b.future, "DistributedDataParallel: gradient all_reduce "
                                      f"of bucket {b.index}") for b in self.buckets]
        rt = get_runtime()
        index = {id(p): i for i, p in enumerate(self.params)}
        for b in self.buckets:
            for p, start in zip(b.params, b.offsets):
                if used is not None and not used[index[id(p)]]:
                    continue        # no rank produced a gradient: .grad stays as it was
                part = b.host[start:start + p.numel()].reshape(tuple(p.shape))
                # private upload of the bucket's own memory: the in-order queue finishes it
                # before the next backward's reads overwrite that memory
                buf = rt.upload(part, private=True)
                if p.grad is None:
                    p.grad = Tensor._wrap(buf, p._type)
                else:
                    p.grad._write(buf, True)

    def _used_anywhere(self, local: np.ndarray) -> np.ndarray:
        from mpi4py import MPI

        self.pg.comm.Allreduce(MPI.IN_PLACE, local, op=MPI.MAX)
        return local

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
