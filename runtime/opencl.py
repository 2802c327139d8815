"""The OpenCL runtime: one context and in-order queue per device, pooled buffers, a program
cache on disk, and executables that enqueue a whole graph with arguments bound once."""
from __future__ import annotations

import atexit
import dataclasses
import hashlib
import os
import time
from collections import defaultdict, deque
from pathlib import Path

import numpy as np
import pyopencl as cl

from graphnn.codegen import CPU, GPU, Dialect, Program
from graphnn.ir.types import DType, TensorType, from_storage, to_storage
from graphnn.runtime.buffers import BufferPool, DeviceBuffer
from graphnn.runtime.device import DeviceInfo


# copies between strided layouts (views of a storage); the layout is read from ``m``:
# [n, ndim, src offset, dst offset, shape..., src strides..., dst strides...]
STRIDED_COPY_SOURCE = "\n".join(
    f"__kernel void gnn_strided_copy{size}(__global {t} *dst, __global const {t} *src, "
    "__global const long *m) {\n"
    "  long i = get_global_id(0);\n"
    "  if (i >= m[0]) return;\n"
    "  int nd = (int)m[1];\n"
    "  long s = m[2], d = m[3], r = i;\n"
    "  for (int k = nd - 1; k >= 0; k--) {\n"
    "    long q = r % m[4 + k];\n"
    "    r /= m[4 + k];\n"
    "    s += q * m[4 + nd + k];\n"
    "    d += q * m[4 + 2 * nd + k];\n"
    "  }\n"
    "  dst[d] = src[s];\n"
    "}\n" for size, t in ((1, "uchar"), (2, "ushort"), (4, "uint"), (8, "ulong")))


def cache_dir() -> Path:
    return Path(os.environ.get("GRAPHNN_CACHE", Path.home() / ".cache" / "graphnn"))


class Profiler:
    """Collects one OpenCL event per launch; ``table()`` sums device time per kernel."""

    def __init__(self):
        self.events: list[tuple[str, object]] = []
        self.times: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def record(self, name: str, event) -> None:
        self.events.append((name, event))

    def collect(self) -> None:
        for name, ev in self.events:
            ev.wait()
            self.times[name] += (ev.profile.end - ev.profile.start) * 1e-9
            self.counts[name] += 1
        self.events.clear()


class OpenCLRuntime:
    kind = "opencl"

    def __init__(self, info: DeviceInfo):
        self.info = info
        platform = cl.get_platforms()[info.platform_index]
        self.device = platform.get_devices()[info.device_index]
        self.context = cl.Context([self.device])
        self.queue = cl.CommandQueue(
            self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        self.pool = BufferPool(self.context)
        # the device class picks the kernel dialect; GRAPHNN_DIALECT=cpu|gpu overrides it
        # (e.g. to run the CPU kernels under the Oclgrind simulator, which calls itself a GPU)
        kind = os.environ.get("GRAPHNN_DIALECT") or ("gpu" if info.is_gpu else "cpu")
        if kind not in ("cpu", "gpu"):
            raise RuntimeError(f"GRAPHNN_DIALECT must be cpu or gpu, not {kind!r}")
        self.dialect: Dialect = dataclasses.replace(
            GPU if kind == "gpu" else CPU, compute_units=info.compute_units,
            max_work_group=info.max_work_group, fp64=info.fp64,
            int64_atomics=info.int64_atomics, device=info.short)
        self._programs: dict[str, cl.Program] = {}
        # in-flight uploads (event, host array): the array must live until its copy is done
        self._pending: deque = deque()
        self.profiler: Profiler | None = None
        self.launches = 0
        self.syncs = 0
        self.builds = 0             # programs built or loaded from the disk cache
        self.build_seconds = 0.0
        self._strided: cl.Program | None = None
        # kernels still queued at exit would be compiled by PoCL's worker threads while the
        # process tears down its libraries (a segfault): drain the queue first
        atexit.register(self._drain)

    # -- memory ---------------------------------------------------------------------------
    def alloc(self, t: TensorType) -> DeviceBuffer:
        return self.pool.alloc(t.numel * t.dtype.itemsize)

    def upload(self, array: np.ndarray, private: bool = False,
               dtype: DType | None = None) -> DeviceBuffer:
        """A device buffer with ``array``'s values (as ``dtype``'s storage when given: a
        bfloat16 buffer is made from float32 values). The copy runs asynchronously, so the
        values are first copied on the host unless ``private`` says nobody else holds (and
        may change) the array: a caller's array, or a numpy view of a torch tensor that
        torch then updates in place, must be read as it is now."""
        if dtype is not None and dtype.storage_np is not None:
            array, private = to_storage(array, dtype), True     # a new array
        array = np.ascontiguousarray(array) if private else np.array(array, order="C")
        buf = self.pool.alloc(array.nbytes)
        if array.nbytes:
            event = cl.enqueue_copy(self.queue, buf.cl, array, is_blocking=False)
            self._pending.append((event, array))
            self._release_uploaded()
        return buf

    def _release_uploaded(self) -> None:
        """Drops the host copies of finished uploads (oldest first: the queue is in order),
        so a loop that never reads a value back keeps host memory flat."""
        done = cl.command_execution_status.COMPLETE
        pending = self._pending
        while pending and pending[0][0].command_execution_status == done:
            pending.popleft()

    def download(self, buf: DeviceBuffer, t: TensorType) -> np.ndarray:
        """The values of ``buf`` as a host array of ``t.dtype.np``."""
        out = np.empty(t.shape, t.dtype.storage_np or t.dtype.np)
        if out.nbytes:
            cl.enqueue_copy(self.queue, out, buf.cl, is_blocking=True)
        self._synced()
        return from_storage(out, t.dtype)

    def fill(self, t: TensorType, value) -> DeviceBuffer:
        buf = self.alloc(t)
        if t.numel:
            pattern = to_storage(np.array([value], t.dtype.np), t.dtype)
            cl.enqueue_fill_buffer(self.queue, buf.cl, pattern, 0, t.numel * t.dtype.itemsize)
        return buf

    def copy_into(self, dst: DeviceBuffer, src: DeviceBuffer, nbytes: int,
                  dst_offset: int = 0, src_offset: int = 0) -> None:
        """Copies ``nbytes`` bytes; offsets in bytes. The regions must not overlap."""
        if nbytes:
            cl.enqueue_copy(self.queue, dst.cl, src.cl, byte_count=nbytes,
                            dst_offset=dst_offset, src_offset=src_offset)

    def strided_copy(self, dst: DeviceBuffer, dst_layout: tuple[int, tuple[int, ...]],
                     src: DeviceBuffer, src_layout: tuple[int, tuple[int, ...]],
                     shape: tuple[int, ...], itemsize: int) -> None:
        """``dst[off + i . strides] = src[off' + i . strides']`` for every index ``i`` of
        ``shape``; layouts are ``(offset, strides)`` in elements of ``itemsize`` bytes. One
        prebuilt kernel per element size serves every shape and layout (the layout travels
        as a small argument buffer), so views never compile anything."""
        n = int(np.prod(shape)) if shape else 1
        if n == 0:
            return
        meta = np.array([n, len(shape), src_layout[0], dst_layout[0], *shape,
                         *src_layout[1], *dst_layout[1]], np.int64)
        if self._strided is None:
            self._strided = self.build_source(STRIDED_COPY_SOURCE, ())
        kernel = cl.Kernel(self._strided, f"gnn_strided_copy{itemsize}")
        kernel.set_args(dst.cl, src.cl, self.upload(meta, private=True).cl)
        cl.enqueue_nd_range_kernel(self.queue, kernel, (-(-n // 64) * 64,), (64,))
        self.launches += 1

    def _drain(self) -> None:
        try:
            self.queue.finish()
        except Exception:   # a broken context at exit: nothing left to protect
            pass

    def finish(self) -> None:
        self.queue.finish()
        self._synced()

    def _synced(self) -> None:
        self.syncs += 1
        self._pending.clear()
        if self.profiler is not None:
            self.profiler.collect()

    # -- programs -------------------------------------------------------------------------
    def build(self, program: Program) -> cl.Program:
        return self.build_source(program.source, program.options)

    def build_source(self, source: str, options) -> cl.Program:
        # GRAPHNN_CL_OPTIONS: extra build options (e.g. -cl-opt-disable while debugging)
        options = list(options) + os.environ.get("GRAPHNN_CL_OPTIONS", "").split()
        key = hashlib.sha256("\0".join([source, *options, self.info.platform,
                                        self.info.name, self.info.driver]).encode()).hexdigest()
        if key in self._programs:
            return self._programs[key]
        start = time.perf_counter()
        path = cache_dir() / f"{key[:32]}.bin"
        prg = None
        if path.exists():
            try:
                prg = cl.Program(self.context, [self.device], [path.read_bytes()])
                prg.build(options=options)
            except cl.Error:
                prg = None
        if prg is None:
            prg = cl.Program(self.context, source)
            try:
                prg.build(options=options)
            except cl.RuntimeError as e:
                raise RuntimeError(f"OpenCL build failed on {self.info.short}:\n{e}") from None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(prg.get_info(cl.program_info.BINARIES)[0])
                tmp.replace(path)
            except OSError:
                pass    # a read-only home only costs a rebuild next time
        self.build_seconds += time.perf_counter() - start
        self.builds += 1
        self._programs[key] = prg
        return prg

    def executable(self, program: Program, label: str = "") -> "OpenCLExecutable":
        return OpenCLExecutable(self, program, self.build(program), label)


class OpenCLExecutable:
    """A built program plus its launch plan. Each launch owns its ``cl.Kernel`` (a kernel
    object holds its arguments), and arguments are set again only when a buffer changes."""

    def __init__(self, rt: OpenCLRuntime, program: Program, prg: cl.Program, label: str = ""):
        self.rt = rt
        self.program = program
        self.names = [f"{label}/{launch.kernel}" if label else launch.kernel
                      for launch in program.launches]
        self.kernels = [cl.Kernel(prg, launch.kernel) for launch in program.launches]
        self.bound: list[list] = [[None] * len(launch.args) for launch in program.launches]
        for launch, kernel in zip(program.launches, self.kernels):
            # size arguments (codegen: symbolic sizes) follow the buffers and never change
            for i, (ctype, value) in enumerate(launch.sizes, start=len(launch.args)):
                kernel.set_arg(i, (np.int32 if ctype == "int" else np.int64)(value))
        self.allocs, self.frees = _liveness(program)

    def run(self, inputs: list[DeviceBuffer]) -> list[DeviceBuffer]:
        rt, prog = self.rt, self.program
        env: dict[int, DeviceBuffer] = dict(zip(prog.inputs, inputs))
        queue, profiler = rt.queue, rt.profiler
        for launch, kernel, bound, name, allocs, frees in zip(
                prog.launches, self.kernels, self.bound, self.names, self.allocs, self.frees):
            for node in allocs:
                env[node] = rt.alloc(prog.buffers[node])
            for i, node in enumerate(launch.args):
                buf = env[node].cl
                if bound[i] is not buf:
                    kernel.set_arg(i, buf)
                    bound[i] = buf
            ev = cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size,
                                            launch.local_size)
            if profiler is not None:
                profiler.record(name, ev)
            for node in frees:     # the in-order queue makes immediate reuse safe
                del env[node]
        rt.launches += len(prog.launches)
        return [env[base] for base, _ in prog.outputs]


def _liveness(program: Program) -> tuple[list[list[int]], list[list[int]]]:
    """Memory planning: per launch, the buffers to allocate just before it (first written)
    and to release just after it (last read, not an output), so that later launches of the
    same run reuse them through the pool."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, launch in enumerate(program.launches):
        for node in launch.args:
            if node in program.buffers:
                first.setdefault(node, i)
                last[node] = i
    keep = {base for base, _ in program.outputs}
    allocs = [[] for _ in program.launches]
    frees = [[] for _ in program.launches]
    for node in program.buffers:
        if node in first:
            allocs[first[node]].append(node)
        if node in last and node not in keep:
            frees[last[node]].append(node)
    return allocs, frees
