"""What the host CPU offers the CPU kernels: SIMD register count and data cache sizes.

PoCL runs kernels on the host, so for a PoCL device these are the device's numbers. The
OpenCL device reports its vector width (``preferred_vector_width_float``) but not how many
vector registers the target has nor its per-core caches, which decide the GEMM's register
block and when it packs an operand (``codegen/blocking.py``). x86-64 has 16 SIMD registers
(``ymm0-15``) unless it has AVX-512 (32 ``zmm``); AArch64 has 32.
"""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class HostCPU:
    model: str
    flags: frozenset
    vector_registers: int
    l1_bytes: int          # per-core level 1 data cache
    l2_bytes: int          # per-core level 2 cache


def _cpuinfo() -> tuple[str, frozenset]:
    model, flags = platform.processor() or "unknown CPU", frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model != value.strip():
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _caches() -> dict[int, int]:
    """Level -> size in bytes of cpu0's data/unified caches (sysfs), where readable."""
    out = {}
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return out
    for e in entries:
        if not e.startswith("index"):
            continue
        try:
            with open(f"{root}/{e}/level") as f:
                level = int(f.read())
            with open(f"{root}/{e}/type") as f:
                kind = f.read().strip()
            with open(f"{root}/{e}/size") as f:
                size = _size(f.read())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified"):
            out[level] = size
    return out


def registers_for(flags: frozenset, machine: str) -> int:
    """SIMD registers the compiler can allocate on this CPU."""
    if machine in ("aarch64", "arm64"):
        return 32
    return 32 if "avx512f" in flags else 16


@functools.lru_cache(maxsize=None)
def host_cpu() -> HostCPU:
    model, flags = _cpuinfo()
    caches = _caches()
    # without sysfs: the smallest caches of the CPUs this targets (Zen 3: 32 KiB, 512 KiB)
    return HostCPU(model, flags, registers_for(flags, platform.machine()),
                   caches.get(1, 32 << 10), caches.get(2, 512 << 10))
