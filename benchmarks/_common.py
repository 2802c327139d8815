"""What the benchmark scripts share: the CPU model they record, a counter of the kernels
the programs they build hold, and PoCL compiling for another CPU."""
from __future__ import annotations

import glob
import os
import platform
import tempfile
from pathlib import Path


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


def simulate_cpu(name: str) -> None:
    """Makes PoCL compile kernels for the CPU ``name`` (an LLVM 14 CPU name the host can run,
    such as ``haswell``: AVX2, 16 vector registers) instead of the host's: a copy of libpocl
    whose CPU-name query returns ``name`` (``runtime/pocl_host.patch``), registered as the
    only OpenCL driver. Call before the first OpenCL query."""
    import pyopencl
    from graphnn.runtime.pocl_host import patch

    libs = sorted(glob.glob(os.path.join(os.path.dirname(pyopencl.__file__), ".libs",
                                         "libpocl-*.so")))
    original = next((Path(p) for p in libs if "graphnn" not in p), None)
    if original is None:
        raise SystemExit("--target needs the PoCL bundled with pyopencl")
    target = original.with_name(f"libpocl-graphnn-{name}.so")
    if not target.exists() and not patch(original, target, name):
        raise SystemExit(f"could not make a libpocl that compiles for {name}")
    vendors = Path(tempfile.mkdtemp(prefix="graphnn-icd-"))
    (vendors / "pocl.icd").write_text(f"{target}\n")
    os.environ["OCL_ICD_VENDORS"] = str(vendors)
