"""Device buffers with a size-bucketed pool.

Kernels are enqueued on one in-order queue, so a buffer released by Python can be reused at
once: any later kernel that writes it runs after every earlier kernel that read it.
"""
from __future__ import annotations

import pyopencl as cl

# every allocation gets this much slack so that vector loads may read past a row end
SLACK = 256


def _bucket(nbytes: int) -> int:
    n = max(nbytes, 4) + SLACK
    return (n + 255) // 256 * 256


class DeviceBuffer:
    """An OpenCL buffer owned by a tensor; returned to its pool when garbage-collected."""

    __slots__ = ("cl", "nbytes", "pool", "__weakref__")

    def __init__(self, clbuf, nbytes: int, pool: "BufferPool | None"):
        self.cl = clbuf
        self.nbytes = nbytes
        self.pool = pool

    def __del__(self):
        pool = self.pool
        if pool is not None:
            pool.release(self.cl)


class BufferPool:
    def __init__(self, context):
        self.context = context
        self.free: dict[int, list] = {}
        self.allocated = 0      # bytes of OpenCL buffers held (in use or free in the pool)
        self.created = 0        # bytes of OpenCL buffers ever created
        self.in_use = 0         # bytes handed out to live DeviceBuffers
        self.peak = 0           # the most ``in_use`` has been

    def alloc(self, nbytes: int) -> DeviceBuffer:
        size = _bucket(nbytes)
        self.in_use += size
        self.peak = max(self.peak, self.in_use)
        bucket = self.free.get(size)
        if bucket:
            return DeviceBuffer(bucket.pop(), nbytes, self)
        try:
            buf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size)
        except cl.MemoryError:
            self.trim()
            buf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size)
        self.allocated += size
        self.created += size
        return DeviceBuffer(buf, nbytes, self)

    def release(self, clbuf) -> None:
        try:
            self.in_use -= clbuf.size
            self.free.setdefault(clbuf.size, []).append(clbuf)
        except Exception:   # interpreter shutdown: the context may be gone
            pass

    def trim(self) -> None:
        for bufs in self.free.values():
            for b in bufs:
                self.allocated -= b.size
                b.release()
        self.free.clear()
