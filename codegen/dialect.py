"""Per-device-class choices for generated kernels, kept in one place.

PoCL runs a work-group as a loop over work-items on one thread and vectorises across
work-items when the body has no loops or calls; its OpenCL builtins are out-of-line calls.
GPUs want many work-groups of a few hundred work-items and have native builtins.
See OPENCL_NOTES.md for the measurements behind these choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class DeviceFeatureError(RuntimeError):
    """The device lacks a capability a tensor or kernel needs (float64, 64-bit index math,
    64-bit atomics); raised before any kernel of the work runs, naming the device."""


@dataclass(frozen=True)
class Dialect:
    name: str                 # "cpu" or "gpu"
    compute_units: int
    max_work_group: int       # work-items per work-group, every launch stays within it
    fp64: bool = True
    gemm_tile: tuple[int, int] = (4, 4)     # outputs per work-item (rows, cols)
    row_max: int = 64         # widest row a row-vectorised kernel unrolls (0: never)
    int64_atomics: bool = True  # cl_khr_int64_base_atomics: float64/int64 scatter_add
    int64_index: bool = True  # 64-bit index arithmetic; without it kernels index with int
    local_mem: int = 32768    # bytes of local memory (no family uses local memory yet)
    device: str = ""          # the device's name, for errors about what it lacks
    # the CPU kernels' SIMD target (codegen/blocking.py derives the GEMM's blocking from it):
    # float lanes of one vector register (the device's preferred_vector_width_float), vector
    # registers (16 on x86-64 without AVX-512), per-core L1 data and L2 cache bytes. The
    # defaults are an AVX-512 Xeon's; the runtime sets a CPU device's own.
    vector_width: int = 16
    vector_registers: int = 32
    l1_bytes: int = 32 << 10
    l2_bytes: int = 1 << 20
    # times the candidate configurations of a kernel family once per shape class and
    # returns the fastest (``codegen/tuning.py``); None: every family uses its rule's pick.
    # Not part of the dialect's identity: a tuned choice shows in the kernel text.
    tuner: Callable | None = field(default=None, compare=False, repr=False)

    def lacks(self, what: str) -> DeviceFeatureError:
        return DeviceFeatureError(f"{what}, which device {self.device or self.name} lacks")

    def pass_options(self):
        """What the IR passes should know of this device: the work-items a kernel needs to
        keep it busy (16 per CPU core, so that a core's work-groups balance; a GPU wants
        thousands per compute unit's worth of warps)."""
        from graphnn.ir.passes import PassOptions
        per_unit = 16 if self.name == "cpu" else 1024
        return PassOptions(parallelism=self.compute_units * per_unit,
                           row_vectors=self.row_max > 0,
                           lanes=self.vector_width if self.row_max > 0 else 1)

    def local_1d(self, n: int) -> int:
        """Work-group size for a 1-D launch of ``n`` work-items: a power of two that still
        leaves several work-groups per compute unit, within the device's maximum."""
        target = 256 if self.name == "gpu" else 64
        size = 1
        while size * 2 <= min(target, self.max_work_group) and n >= size * 2 * \
                (self.compute_units * 4 if self.name == "cpu" else 1):
            size *= 2
        return size


CPU = Dialect("cpu", compute_units=2, max_work_group=4096)
GPU = Dialect("gpu", compute_units=80, max_work_group=1024, gemm_tile=(4, 4), row_max=0)
