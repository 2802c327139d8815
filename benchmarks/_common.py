"""What the benchmark scripts share: the CPU model they record and a counter of the
kernels the programs they build hold."""
from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), recorded with every result."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def count_kernels() -> dict:
    """Counts, from now on in this process, the kernel functions in the sources of the
    programs built (``distinct``), their launches and the source bytes."""
    from graphnn.runtime import opencl

    kernels = {"distinct": 0, "launches": 0, "source_bytes": 0}
    build = opencl.OpenCLRuntime.executable

    def counting(self, program, label=""):
        kernels["distinct"] += program.source.count("__kernel void")
        kernels["launches"] += len(program.launches)
        kernels["source_bytes"] += len(program.source)
        return build(self, program, label)

    opencl.OpenCLRuntime.executable = counting
    return kernels
