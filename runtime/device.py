"""OpenCL device discovery and selection (``GRAPHNN_DEVICE``).

Specs: ``pocl``, ``nvidia``, ``oclgrind``, ``cpu`` (first CPU device), ``gpu``/``cuda`` (first
GPU), ``cl:P:D`` (platform and device index), ``reference`` (the numpy interpreter), or any
substring of a platform or device name. Default: the first GPU, else PoCL, else any device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pyopencl as cl


@dataclass(frozen=True)
class DeviceInfo:
    platform_index: int
    device_index: int
    platform: str
    name: str
    version: str
    driver: str
    compute_units: int
    global_mem: int
    local_mem: int
    max_work_group: int
    fp64: bool
    fp16: bool
    is_gpu: bool
    int64_atomics: bool = False     # cl_khr_int64_base_atomics (64-bit atom_cmpxchg)
    platform_version: str = ""      # "OpenCL 3.0 PoCL 3.0-rc2 Linux, ... LLVM 14.0.6"
    max_alloc: int = 0              # CL_DEVICE_MAX_MEM_ALLOC_SIZE in bytes (0: unknown)
    vector_width: int = 1           # preferred_vector_width_float: float lanes of one vector
    int64_index: bool = True        # 64-bit index arithmetic (off only through limits)
    limits: str = ""                # the GRAPHNN_LIMITS applied (runtime/limits.py)

    @property
    def spec(self) -> str:
        return f"cl:{self.platform_index}:{self.device_index}"

    @property
    def short(self) -> str:
        """The name errors use; a limited device says so, since it is not what it says."""
        limited = f" (GRAPHNN_LIMITS={self.limits})" if self.limits else ""
        return f"{self.platform} / {self.name}{limited}"

    @property
    def identity(self) -> tuple[str, ...]:
        """What a built binary depends on besides its source and options: a driver or PoCL
        release changes a version string, PoCL's target CPU its device version."""
        return (self.platform, self.platform_version, self.name, self.version, self.driver)

    @property
    def caches_builds(self) -> bool:
        """Whether the driver keeps built programs on disk itself: PoCL's kernel cache
        (``POCL_KERNEL_CACHE=0`` turns it off). ``runtime/cache.py`` stores binaries only
        for the others."""
        return _is_pocl(self) and os.environ.get("POCL_KERNEL_CACHE", "1") != "0"


def _platforms() -> list:
    from graphnn.runtime.pocl_host import ensure_usable
    ensure_usable()
    try:
        return cl.get_platforms()
    except cl.LogicError:   # no ICD installed at all
        return []


_DEVICES: list[DeviceInfo] | None = None


def list_devices() -> list[DeviceInfo]:
    """Every OpenCL device, enumerated once per process: the platforms and their devices do
    not change while it runs. Querying every platform again (``graphnn.cuda.is_available()``)
    while PoCL's worker threads run queued kernels was the one call in flight when a test
    process died of a signal; once per process also keeps the query off the hot path."""
    global _DEVICES
    if _DEVICES is None:
        from graphnn.runtime.limits import apply
        _DEVICES = [apply(d) for d in _enumerate()]     # GRAPHNN_LIMITS, if set
    return list(_DEVICES)


def _enumerate() -> list[DeviceInfo]:
    out = []
    seen = set()
    for pi, p in enumerate(_platforms()):
        # an ICD listed twice that resolves to one loaded library gives the same platform
        if p.int_ptr in seen:
            continue
        seen.add(p.int_ptr)
        try:
            devices = p.get_devices()
        except cl.Error:
            continue
        for di, d in enumerate(devices):
            ext = d.extensions.split()
            out.append(DeviceInfo(
                pi, di, p.name.strip(), d.name.strip(), d.version.strip(),
                d.driver_version.strip(), d.max_compute_units, d.global_mem_size,
                d.local_mem_size, d.max_work_group_size, "cl_khr_fp64" in ext,
                "cl_khr_fp16" in ext, bool(d.type & cl.device_type.GPU),
                "cl_khr_int64_base_atomics" in ext, p.version.strip(),
                d.max_mem_alloc_size, d.preferred_vector_width_float))
    return out


def _is_pocl(d: DeviceInfo) -> bool:
    return "portable computing language" in d.platform.lower() or "pocl" in d.platform.lower()


def _is_simulator(d: DeviceInfo) -> bool:
    return "oclgrind" in d.platform.lower()


def default_device(devices: list[DeviceInfo]) -> DeviceInfo:
    """The first GPU (the Oclgrind simulator calls itself one: it is never a default),
    else PoCL, else the first other device."""
    for pred in (lambda d: d.is_gpu and not _is_simulator(d), _is_pocl,
                 lambda d: not _is_simulator(d)):
        for d in devices:
            if pred(d):
                return d
    if devices:
        return devices[0]
    raise RuntimeError("graphnn found no OpenCL device: install PoCL with "
                       "`pip install 'pyopencl[pocl]'` or a vendor OpenCL driver")


def select_device(spec: str | None = None) -> DeviceInfo:
    """The device named by ``spec`` (default: ``$GRAPHNN_DEVICE``, else the default)."""
    devices = list_devices()
    spec = (spec if spec is not None else os.environ.get("GRAPHNN_DEVICE", "")).strip()
    if not spec:
        return default_device(devices)
    low = spec.lower()
    if low.startswith("cl:"):
        try:
            _, p, d = low.split(":")
            return next(x for x in devices
                        if (x.platform_index, x.device_index) == (int(p), int(d)))
        except (ValueError, StopIteration):
            raise RuntimeError(f"no OpenCL device {spec!r}; run `graphnn devices`") from None
    if low == "pocl":
        match = [d for d in devices if _is_pocl(d)]
    elif low == "cpu":
        match = [d for d in devices if not d.is_gpu and not _is_simulator(d)]
    elif low in ("gpu", "cuda"):
        match = [d for d in devices if d.is_gpu and not _is_simulator(d)]
    else:
        match = [d for d in devices if low in d.platform.lower() or low in d.name.lower()]
    if not match:
        raise RuntimeError(f"GRAPHNN_DEVICE={spec!r} matches no OpenCL device; available: "
                           + "; ".join(f"{d.spec} {d.short}" for d in devices))
    return match[0]


def describe(devices: list[DeviceInfo] | None = None) -> str:
    """The table printed by ``graphnn devices``."""
    devices = list_devices() if devices is None else devices
    if not devices:
        return "no OpenCL devices found"
    try:
        default = select_device()
    except RuntimeError:
        default = None
    lines = []
    for d in devices:
        mark = "*" if d == default else " "
        lines.append(
            f"{mark} {d.spec}  {d.platform} / {d.name}\n"
            f"      {d.version}, driver {d.driver}, {'GPU' if d.is_gpu else 'CPU/other'}, "
            f"{d.compute_units} compute units\n"
            f"      global memory {d.global_mem / 2**30:.1f} GiB, local memory "
            f"{d.local_mem // 1024} KiB, max work-group {d.max_work_group}, "
            f"fp64 {'yes' if d.fp64 else 'no'}, fp16 {'yes' if d.fp16 else 'no'}"
            + (f"\n      limited by GRAPHNN_LIMITS={d.limits}" if d.limits else ""))
    lines.append("(* = default; choose with GRAPHNN_DEVICE=pocl|nvidia|oclgrind|cl:P:D|name)")
    return "\n".join(lines)
