"""Device buffers with a size-bucketed pool, and the out-of-memory error.

Kernels are enqueued on one in-order queue, so a buffer released by Python can be reused at
once: any later kernel that writes it runs after every earlier kernel that read it.
"""
from __future__ import annotations

import pyopencl as cl

# every allocation gets this much slack so that vector loads may read past a row end
SLACK = 256


class OutOfMemoryError(RuntimeError, MemoryError):
    """A device allocation that cannot succeed (``torch.OutOfMemoryError``, which is a
    RuntimeError; a MemoryError too, as Python names the condition). The message names the
    device and the bytes asked for. Raised before any kernel of the failing call runs, and
    nothing is left half-allocated: the process goes on working."""


OutOfMemoryError.__module__ = "graphnn"     # as torch.OutOfMemoryError prints


def human(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} bytes"


def out_of_memory(device: str, nbytes: int, total: int, max_alloc: int, held: int,
                  in_use: int, what: str = "") -> OutOfMemoryError:
    """The error for an allocation of ``nbytes`` on ``device`` (PyTorch's CUDA wording:
    "out of memory. Tried to allocate ...")."""
    limits = f"a total capacity of {human(total)}" if total else "an unknown capacity"
    if max_alloc:
        limits += f", at most {human(max_alloc)} per buffer"
    return OutOfMemoryError(
        f"{device}: out of memory. Tried to allocate {human(nbytes)} ({nbytes} bytes)"
        f"{what}. The device has {limits}; graphnn holds {human(held)} of it "
        f"({human(in_use)} in use by tensors).")


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
    """Buffers bucketed by size. ``device`` names the device in errors; ``total`` and
    ``max_alloc`` are its global memory and largest buffer in bytes (0: unknown)."""

    def __init__(self, context, device: str = "OpenCL device", total: int = 0,
                 max_alloc: int = 0):
        self.context = context
        self.device = device
        self.total = total
        self.max_alloc = max_alloc
        self.free: dict[int, list] = {}
        self.allocated = 0      # bytes of OpenCL buffers held (in use or free in the pool)
        self.created = 0        # bytes of OpenCL buffers ever created
        self.in_use = 0         # bytes handed out to live DeviceBuffers
        self.live = 0           # live DeviceBuffers
        self.peak = 0           # the most ``in_use`` has been

    def check(self, nbytes: int, what: str = "") -> None:
        """Raises OutOfMemoryError if ``nbytes`` more cannot fit: larger than one buffer
        may be, or than the device's memory beside what the pool's tensors hold."""
        if nbytes < 0:
            raise RuntimeError(f"{self.device}: cannot allocate a negative size ({nbytes} "
                               "bytes)")
        size = _bucket(nbytes)
        if self.max_alloc and size > self.max_alloc or \
                self.total and size + self.in_use > self.total:
            raise out_of_memory(self.device, nbytes, self.total, self.max_alloc,
                                self.allocated, self.in_use, what)

    def alloc(self, nbytes: int) -> DeviceBuffer:
        # a symbolic size (ir/symbolic.py) would make the pool's counters symbolic too, each
        # later allocation and release lengthening their expression for good
        nbytes = int(nbytes)
        size = _bucket(nbytes)
        bucket = self.free.get(size)
        if bucket:
            clbuf = bucket.pop()
        else:
            self.check(nbytes)
            if self.total and size + self.allocated > self.total:
                self.trim()     # free buffers of other sizes make room
            try:
                clbuf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size)
            except (cl.MemoryError, cl.LogicError, cl.RuntimeError):
                self.trim()
                try:
                    clbuf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size)
                except (cl.MemoryError, cl.LogicError, cl.RuntimeError) as e:
                    raise out_of_memory(self.device, nbytes, self.total, self.max_alloc,
                                        self.allocated, self.in_use,
                                        f" ({type(e).__name__}: {e})") from None
            self.allocated += size
            self.created += size
        # counted only once the buffer exists: a failed allocation leaves no trace
        self.in_use += size
        self.live += 1
        self.peak = max(self.peak, self.in_use)
        return DeviceBuffer(clbuf, nbytes, self)

    def release(self, clbuf) -> None:
        try:
            self.in_use -= clbuf.size
            self.live -= 1
            self.free.setdefault(clbuf.size, []).append(clbuf)
        except Exception:   # interpreter shutdown: the context may be gone
            pass

    def trim(self) -> None:
        for bufs in self.free.values():
            for b in bufs:
                self.allocated -= b.size
                b.release()
        self.free.clear()
