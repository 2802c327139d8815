"""The OpenCL runtime: one context and in-order queue per device, pooled buffers, a program
cache on disk, and executables that enqueue a whole graph with arguments bound once."""
from __future__ import annotations

import atexit
import dataclasses
import os
import time
from collections import defaultdict, deque

import numpy as np
import pyopencl as cl

from graphnn.codegen import CPU, GPU, INT_INDEX_LIMIT, Dialect, Program
from graphnn.ir.types import DType, TensorType, from_storage, to_storage
from graphnn.runtime import cache as program_cache
from graphnn.runtime.buffers import BufferPool, DeviceBuffer, out_of_memory
from graphnn.runtime.debug import debug_level, log_launch
from graphnn.runtime.device import DeviceInfo
from graphnn.runtime.hostcpu import host_cpu
from graphnn.runtime.tune import Tuner


# copies between strided layouts (views of a storage); the layout is read from ``m``:
# [n, ndim, src offset, dst offset, shape..., src strides..., dst strides...], indexed with
# ``it`` (``int`` on a device without 64-bit index math)
def strided_copy_source(it: str = "long") -> str:
    return "\n".join(
        f"__kernel void gnn_strided_copy{size}(__global {t} *dst, __global const {t} *src, "
        f"__global const {it} *m) {{\n"
        f"  {it} i = get_global_id(0);\n"
        "  if (i >= m[0]) return;\n"
        "  int nd = (int)m[1];\n"
        f"  {it} s = m[2], d = m[3], r = i;\n"
        "  for (int k = nd - 1; k >= 0; k--) {\n"
        f"    {it} q = r % m[4 + k];\n"
        "    r /= m[4 + k];\n"
        "    s += q * m[4 + nd + k];\n"
        "    d += q * m[4 + 2 * nd + k];\n"
        "  }\n"
        "  dst[d] = src[s];\n"
        "}\n" for size, t in ((1, "uchar"), (2, "ushort"), (4, "uint"), (8, "ulong")))



class _Done:
    """The event of a command that had nothing to do."""

    @staticmethod
    def wait() -> None:
        pass


_DONE = _Done()


def simd_target(info: DeviceInfo) -> dict:
    """The CPU dialect's SIMD fields for a CPU device (PoCL: the host's registers and caches);
    other devices (GPUs, the Oclgrind simulator running the CPU kernels) keep the defaults."""
    if info.is_gpu:
        return {}
    cpu = host_cpu()
    width = info.vector_width if info.vector_width in (4, 8, 16) else 4
    return {"vector_width": width, "vector_registers": cpu.vector_registers,
            "l1_bytes": cpu.l1_bytes, "l2_bytes": cpu.l2_bytes}


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
        self.pool = BufferPool(self.context, f"{info.spec} ({info.short})", info.global_mem,
                               info.max_alloc)
        # the device class picks the kernel dialect; GRAPHNN_DIALECT=cpu|gpu overrides it
        # (e.g. to run the CPU kernels under the Oclgrind simulator, which calls itself a GPU)
        kind = os.environ.get("GRAPHNN_DIALECT") or ("gpu" if info.is_gpu else "cpu")
        if kind not in ("cpu", "gpu"):
            raise RuntimeError(f"GRAPHNN_DIALECT must be cpu or gpu, not {kind!r}")
        self.dialect: Dialect = dataclasses.replace(
            GPU if kind == "gpu" else CPU, compute_units=info.compute_units,
            max_work_group=info.max_work_group, fp64=info.fp64,
            int64_atomics=info.int64_atomics, int64_index=info.int64_index,
            local_mem=info.local_mem, device=info.short, tuner=Tuner(self),
            **simd_target(info))
        self._programs: dict[str, cl.Program] = {}
        # in-flight uploads (event, host array): the array must live until its copy is done
        self._pending: deque = deque()
        self.profiler: Profiler | None = None
        self.launches = 0
        self.syncs = 0
        self.builds = 0             # programs built or loaded from the disk cache
        self.source_builds = 0      # of those, built from source (not in the disk cache)
        self.build_seconds = 0.0
        self._strided: cl.Program | None = None
        self._strided_kernels: dict[int, tuple[cl.Program, cl.Kernel]] = {}
        # GRAPHNN_POISON=1: every buffer a kernel will write is first filled with 0xFF bytes
        # (a NaN in every float lane, -1 in every integer), so a kernel that reads memory
        # nothing wrote gives NaN or a wild index where the test compares, on any device
        self.poison = os.environ.get("GRAPHNN_POISON", "") not in ("", "0")
        # kernels still queued at exit would be compiled by PoCL's worker threads while the
        # process tears down its libraries (a segfault): drain the queue first
        atexit.register(self._drain)

    @property
    def device_name(self) -> str:
        return f"{self.info.spec} ({self.info.short})"

    def owns(self, buf) -> bool:
        """Whether ``buf`` is a buffer of this runtime's context."""
        return getattr(buf, "pool", None) is self.pool

    # -- memory ---------------------------------------------------------------------------
    def _check_dtype(self, name: str) -> None:
        """A float64 tensor on a device without double precision fails when it is made,
        before any kernel could read it (as PyTorch's MPS device refuses float64)."""
        if name == "float64" and not self.dialect.fp64:
            raise self.dialect.lacks("float64 tensors need cl_khr_fp64 (double precision)")

    def alloc(self, t: TensorType) -> DeviceBuffer:
        self._check_dtype(t.dtype.name)
        buf = self.pool.alloc(t.numel * t.dtype.itemsize)
        if self.poison:
            cl.enqueue_fill_buffer(self.queue, buf.cl, np.uint8(0xFF), 0, buf.cl.size)
        return buf

    def check_alloc(self, nbytes: int, what: str = "") -> None:
        """Raises OutOfMemoryError now if a buffer of ``nbytes`` could not be allocated
        (callers that fill host memory first check before they draw)."""
        self.pool.check(nbytes, what)

    def upload(self, array: np.ndarray, private: bool = False,
               dtype: DType | None = None) -> DeviceBuffer:
        """A device buffer with ``array``'s values (as ``dtype``'s storage when given: a
        bfloat16 buffer is made from float32 values). The copy runs asynchronously, so the
        values are first copied on the host unless ``private`` says nobody else holds (and
        may change) the array: a caller's array, or a numpy view of a torch tensor that
        torch then updates in place, must be read as it is now."""
        self._check_dtype(dtype.name if dtype is not None else array.dtype.name)
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

    def read_async(self, buf: DeviceBuffer, out: np.ndarray):
        """Enqueues a copy of the first ``out.nbytes`` bytes of ``buf`` into the contiguous
        host array ``out`` and returns its event (``wait()``); the in-order queue runs it
        after every kernel enqueued so far. ``out`` must stay alive and untouched until
        the event completed."""
        if not out.nbytes:
            return _DONE
        event = cl.enqueue_copy(self.queue, out, buf.cl, is_blocking=False)
        self.queue.flush()      # start the device on what is queued: the caller will wait
        return event

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
        wide = self.dialect.int64_index
        meta = [n, len(shape), src_layout[0], dst_layout[0], *shape, *src_layout[1],
                *dst_layout[1]]
        if not wide and max(map(abs, meta)) >= INT_INDEX_LIMIT:
            raise self.dialect.lacks(f"a copy of {n} elements needs 64-bit index math")
        if self._strided is None:
            self._strided = self.build_source(strided_copy_source("long" if wide else "int"),
                                              ())
        # one kernel object per element size: creating one per copy cost 0.4 ms of host time
        # (pyopencl generates its argument setter anew); arguments are captured at enqueue
        # (kept with its program: a test of a smaller device swaps in an int-indexed one)
        made = self._strided_kernels.get(itemsize)
        if made is None or made[0] is not self._strided:
            made = self._strided_kernels[itemsize] = (
                self._strided, cl.Kernel(self._strided, f"gnn_strided_copy{itemsize}"))
        kernel = made[1]
        kernel.set_args(dst.cl, src.cl, self.upload(
            np.array(meta, np.int64 if wide else np.int32), private=True).cl)
        local = min(64, self.dialect.max_work_group)
        cl.enqueue_nd_range_kernel(self.queue, kernel, (-(-n // local) * local,), (local,))
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
        key = program_cache.program_key(source, options, self.info.identity)
        if key in self._programs:
            return self._programs[key]
        start = time.perf_counter()
        prg = None
        keep = program_cache.binaries_wanted(self.info.caches_builds)
        binary = program_cache.load(key) if keep else None
        if binary is not None:
            try:
                prg = cl.Program(self.context, [self.device], [binary])
                prg.build(options=options)
            except cl.Error:    # a binary this driver refuses: build from source again
                prg = None
        if prg is None:
            prg = cl.Program(self.context, source)
            try:
                prg.build(options=options)
            except cl.RuntimeError as e:
                raise RuntimeError(f"OpenCL build failed on {self.info.short}:\n{e}") from None
            self.source_builds += 1
            if keep:
                program_cache.store(key, prg.get_info(cl.program_info.BINARIES)[0])
        self.build_seconds += time.perf_counter() - start
        self.builds += 1
        self._programs[key] = prg
        return prg

    def executable(self, program: Program, label: str = "") -> "OpenCLExecutable":
        # a buffer the device cannot hold fails here, before the program is even built
        for t in program.buffers.values():
            self.pool.check(t.numel * t.dtype.itemsize, f" for a value of {label or 'a graph'}"
                            f" of shape {list(t.shape)}")
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
        self.done = _outputs_done(program)
        self.debug = debug_level()      # GRAPHNN_DEBUG=2: every launch logged with its time
        launched = {node for launch in program.launches for node in launch.args}
        # buffers no launch writes: empty outputs, whose groups lower to no kernel
        self.unlaunched = [node for node in program.buffers if node not in launched]
        self.peak_bytes = _peak_bytes(program, self.allocs, self.frees)

    def run(self, inputs: list[DeviceBuffer], ready: dict | None = None,
            observe=None) -> list[DeviceBuffer]:
        """Enqueues every launch; returns the output buffers. ``ready``: output position ->
        callbacks(buffer), each called right after the launch that last touches that output
        is enqueued, so that what it enqueues (a read) runs before the launches after it.
        ``observe(i, event)``, when given, is called after launch ``i`` is enqueued and the
        buffers it last read are released (the dump tool's memory timeline and profile)."""
        rt, prog = self.rt, self.program
        pool = rt.pool
        if pool.total and self.peak_bytes + pool.in_use > pool.total:
            # the run's buffers cannot all fit: fail before the first launch
            pool.check(self.peak_bytes, f" for the buffers of {self.names[0].split('/')[0]}"
                       if self.names else "")
        env: dict[int, DeviceBuffer] = dict(zip(prog.inputs, inputs))
        for node in self.unlaunched:
            env[node] = rt.alloc(prog.buffers[node])
        if ready:
            _call_ready(ready, self.done[-1], prog, env)
        queue, profiler = rt.queue, rt.profiler
        debug = self.debug
        for li, (launch, kernel, bound, name, allocs, frees, done) in enumerate(zip(
                prog.launches, self.kernels, self.bound, self.names, self.allocs, self.frees,
                self.done)):
            for node in allocs:
                env[node] = rt.alloc(prog.buffers[node])
            for i, node in enumerate(launch.args):
                buf = env[node].cl
                if bound[i] is not buf:
                    kernel.set_arg(i, buf)
                    bound[i] = buf
            try:
                ev = cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size,
                                                launch.local_size)
            except cl.MemoryError as e:     # a driver that allocates at first use
                raise out_of_memory(pool.device, self.peak_bytes, pool.total, pool.max_alloc,
                                    pool.allocated, pool.in_use, f" ({e})") from None
            if profiler is not None:
                profiler.record(name, ev)
            if ready and done:
                _call_ready(ready, done, prog, env)
            for node in frees:     # the in-order queue makes immediate reuse safe
                del env[node]
            if observe is not None:
                observe(li, ev)
            if debug >= 2:
                log_launch(name, launch, ev)
        rt.launches += len(prog.launches)
        return [env[base] for base, _ in prog.outputs]


def _outputs_done(program: Program) -> list[list[int]]:
    """Per launch, the output positions whose buffer no later launch touches (their values
    are final once it ran); one more list at the end for outputs no launch touches (an
    input passed through)."""
    last: dict[int, int] = {}
    for i, launch in enumerate(program.launches):
        for node in launch.args:
            last[node] = i
    done: list[list[int]] = [[] for _ in range(len(program.launches) + 1)]
    for pos, (base, _) in enumerate(program.outputs):
        done[last.get(base, -1)].append(pos)
    return done


def _call_ready(ready: dict, positions: list[int], prog: Program, env: dict) -> None:
    for pos in positions:
        for callback in ready.get(pos, ()):
            callback(env[prog.outputs[pos][0]])


def _peak_bytes(program: Program, allocs: list, frees: list) -> int:
    """The most bytes a run holds at once in the buffers it allocates (pool buckets)."""
    from graphnn.runtime.buffers import _bucket

    size = {n: _bucket(t.numel * t.dtype.itemsize) for n, t in program.buffers.items()}
    held = peak = 0
    for a, f in zip(allocs, frees):
        held += sum(size[n] for n in a)
        peak = max(peak, held)
        held -= sum(size[n] for n in f)
    return peak


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
