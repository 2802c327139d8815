"""A runtime whose buffers are numpy arrays and whose executables interpret the graph."""
from __future__ import annotations

import os

import numpy as np

from graphnn.ir.graph import Graph
from graphnn.ir.types import DType, TensorType, from_storage, to_storage
from graphnn.runtime.buffers import out_of_memory
from graphnn.runtime.device import DeviceInfo
from graphnn.runtime.reference import interpret


class HostBuffer:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


class _Done:
    @staticmethod
    def wait() -> None:
        pass


class ReferenceRuntime:
    kind = "reference"

    def __init__(self):
        self.info = DeviceInfo(-1, -1, "graphnn", "numpy reference interpreter", "-", "-",
                               1, 0, 0, 1, True, True, False)
        self.profiler = None
        self.launches = 0
        self.syncs = 0
        self.builds = 0
        self.build_seconds = 0.0
        self.dialect = None

    device_name = "reference (numpy interpreter)"

    def owns(self, buf) -> bool:
        return isinstance(buf, HostBuffer)

    # buffers hold storage bits, as device buffers do (bfloat16 as uint16), so that byte
    # sizes and copies agree with the OpenCL runtime
    def alloc(self, t: TensorType) -> HostBuffer:
        self.check_alloc(t.numel * t.dtype.itemsize)
        return HostBuffer(np.empty(t.numel, t.dtype.storage_np or t.dtype.np))

    def check_alloc(self, nbytes: int, what: str = "") -> None:
        """OutOfMemoryError for more bytes than the host has (numpy would try first)."""
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if nbytes < 0:
            raise RuntimeError(f"reference: cannot allocate a negative size ({nbytes} bytes)")
        if nbytes > total:
            raise out_of_memory("reference (host memory)", nbytes, total, 0, 0, 0, what)

    def upload(self, array: np.ndarray, private: bool = False,
               dtype: DType | None = None) -> HostBuffer:
        if dtype is not None:
            array = to_storage(array, dtype)
        return HostBuffer(np.array(array, copy=True).reshape(-1))

    def download(self, buf: HostBuffer, t: TensorType) -> np.ndarray:
        bits = buf.array[:t.numel].view(t.dtype.storage_np or t.dtype.np)
        return from_storage(bits.reshape(t.shape).copy(), t.dtype)

    def read_async(self, buf: HostBuffer, out: np.ndarray) -> "_Done":
        """The OpenCL runtime's ``read_async``: here the copy is done at once."""
        out[...] = buf.array[:out.size].view(out.dtype).reshape(out.shape)
        return _Done()

    def fill(self, t: TensorType, value) -> HostBuffer:
        self.check_alloc(t.numel * t.dtype.itemsize)
        return HostBuffer(to_storage(np.full(t.numel, value, t.dtype.np), t.dtype))

    def copy_into(self, dst: HostBuffer, src: HostBuffer, nbytes: int,
                  dst_offset: int = 0, src_offset: int = 0) -> None:
        size = max(src.array.itemsize, 1)
        n, do, so = nbytes // size, dst_offset // size, src_offset // size
        dst.array[do:do + n] = src.array[so:so + n]

    def strided_copy(self, dst: HostBuffer, dst_layout, src: HostBuffer, src_layout,
                     shape: tuple[int, ...], itemsize: int) -> None:
        """The OpenCL runtime's ``strided_copy`` with numpy strided views."""
        if not shape or 0 not in shape:
            dst_view = _strided(dst.array, dst_layout, shape)
            dst_view[...] = _strided(src.array, src_layout, shape)

    def finish(self) -> None:
        pass

    def graph_executable(self, graph: Graph) -> "ReferenceExecutable":
        return ReferenceExecutable(graph)


class ReferenceExecutable:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.program = None

    def run(self, inputs: list[HostBuffer], ready: dict | None = None) -> list[HostBuffer]:
        types = [self.graph.type(n) for n in self.graph.inputs]
        arrays = [from_storage(b.array[:t.numel].reshape(t.shape), t.dtype)
                  for b, t in zip(inputs, types)]
        outs = [HostBuffer(to_storage(o, self.graph.type(n).dtype).reshape(-1))
                for o, n in zip(interpret(self.graph, arrays), self.graph.outputs)]
        for pos, callbacks in (ready or {}).items():    # all outputs are final at once
            for callback in callbacks:
                callback(outs[pos])
        return outs


def _strided(flat: np.ndarray, layout, shape) -> np.ndarray:
    offset, strides = layout
    return np.lib.stride_tricks.as_strided(
        flat[offset:], shape, tuple(st * flat.itemsize for st in strides), writeable=True)
