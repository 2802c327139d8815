"""``graphnn.stats()``: what graphnn did since start or since ``reset_stats()``.

One API for users, tests and benchmarks: compile work by phase, device builds, kernel
launches, host synchronisations and device memory."""
from __future__ import annotations

from dataclasses import dataclass

from graphnn import _compile
from graphnn.runtime import get_runtime
from graphnn.runtime.tune import STATS as TUNE


@dataclass(frozen=True)
class Stats:
    traces: int = 0                 # forward functions traced into graphs
    compiles: int = 0               # graphs run through passes and codegen
    trace_seconds: float = 0.0
    autodiff_seconds: float = 0.0   # deriving backward graphs
    passes_seconds: float = 0.0
    codegen_seconds: float = 0.0
    build_seconds: float = 0.0      # the device compiler (or its disk cache)
    builds: int = 0                 # OpenCL programs built or loaded from the disk cache
    launches: int = 0               # kernel enqueues
    syncs: int = 0                  # host waits for the device (.item(), .numpy())
    bytes_allocated: int = 0        # device buffers created (bytes)
    peak_device_bytes: int = 0      # the most device memory in use by tensors at once
    tunings: int = 0                # shape classes whose kernel configurations were timed
    tune_seconds: float = 0.0       # timing them (runtime/tune.py), within compiles
    tunings_deferred: int = 0       # classes left to the rule once the tuning budget was spent

    @property
    def compile_seconds(self) -> float:
        return (self.trace_seconds + self.autodiff_seconds + self.passes_seconds +
                self.codegen_seconds + self.build_seconds + self.tune_seconds)


_BASE: dict = {}


def _now() -> dict:
    rt = get_runtime()
    pool = getattr(rt, "pool", None)
    s = _compile.STATS
    return dict(traces=s["traces"], compiles=s["compiles"], trace_seconds=s["trace_seconds"],
                autodiff_seconds=s["autodiff_seconds"], passes_seconds=s["passes_seconds"],
                codegen_seconds=s["codegen_seconds"], build_seconds=rt.build_seconds,
                builds=rt.builds, launches=rt.launches, syncs=rt.syncs,
                bytes_allocated=pool.created if pool is not None else 0,
                peak_device_bytes=pool.peak if pool is not None else 0,
                tunings=TUNE["tunings"], tune_seconds=TUNE["tune_seconds"],
                tunings_deferred=TUNE["deferred"])


def stats() -> Stats:
    """Counters since the start of the process or the last ``reset_stats()`` (the peak is
    the highest device memory in use since then)."""
    now = _now()
    return Stats(**{k: v if k == "peak_device_bytes" else v - _BASE.get(k, 0)
                    for k, v in now.items()})


def reset_stats() -> None:
    """Starts the counters from zero (and the peak from the memory in use now)."""
    _BASE.clear()
    _BASE.update(_now())
    pool = getattr(get_runtime(), "pool", None)
    if pool is not None:
        pool.peak = pool.in_use


__all__ = ["Stats", "stats", "reset_stats"]
