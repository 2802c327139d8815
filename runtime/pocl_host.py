"""Makes the pip-installed PoCL usable on CPUs newer than its bundled LLVM.

PoCL passes LLVM's host CPU name to clang. LLVM 14 (in the pyopencl wheels) reports
"generic" for CPUs it does not know (AMD Zen 5, for instance), and clang then rejects every
build with "unknown target CPU 'generic'". When a one-off probe sees that, graphnn writes a
copy of libpocl whose ``pocl_get_llvm_cpu_name`` returns a CPU that LLVM 14 knows and that
the host supports (``skylake-avx512`` with AVX-512, else ``haswell``), beside the original so
that PoCL still finds its kernel library, and points the OpenCL ICD loader at it through
``OCL_ICD_VENDORS``. Nothing changes on machines where PoCL works as installed.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from graphnn.runtime.hostcpu import host_cpu

# pocl_get_llvm_cpu_name: push rbp; push rbx; sub rsp,8; call getHostCPUName; test rdx,rdx;
# je fallback ... fallback: mov edi,8; mov ebx,7; lea rbp,[rip+"generic"]; jmp copy
_HEAD = bytes.fromhex("55534883ec08e8")
_AFTER_CALL = bytes.fromhex("4885d274304889c54889d3488d7a01e8")
_FALLBACK = bytes.fromhex("bf08000000bb07000000488d2d")


def _pocl_library() -> Path | None:
    try:
        import pyopencl
    except ImportError:
        return None
    libs = sorted(glob.glob(os.path.join(os.path.dirname(pyopencl.__file__), ".libs",
                                         "libpocl-*.so")))
    return Path(libs[0]) if libs else None


def _target_cpu() -> str:
    flags = host_cpu().flags
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
        return "skylake-avx512"
    return "haswell" if {"avx2", "fma", "bmi2"} <= flags else "nehalem"


def _find_function(data: bytes) -> int | None:
    start = 0
    found = []
    while True:
        i = data.find(_HEAD, start)
        if i < 0:
            break
        if data[i + 11:i + 11 + len(_AFTER_CALL)] == _AFTER_CALL and \
                data[i + 0x40:i + 0x40 + len(_FALLBACK)] == _FALLBACK:
            found.append(i)
        start = i + 1
    return found[0] if len(found) == 1 else None


def _offset_is_vaddr(data: bytes, *offsets: int) -> bool:
    """True when every offset lies in a PT_LOAD segment mapped at its own file offset."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for off in offsets:
        ok = False
        for k in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", data, phoff + k * phentsize)
            if p_type == 1 and p_offset <= off < p_offset + p_filesz and p_offset == p_vaddr:
                ok = True
        if not ok:
            return False
    return True


def patch(original: Path, target: Path, cpu: str) -> bool:
    data = bytearray(original.read_bytes())
    func = _find_function(bytes(data))
    name = data.find(b"\x00" + cpu.encode() + b"\x00")
    if func is None or name < 0:
        return False
    name += 1
    fallback = func + 0x40
    if not _offset_is_vaddr(bytes(data), func, name):
        return False
    data[func + 6:func + 11] = bytes.fromhex("eb38909090")     # jmp fallback
    lea_end = fallback + 10 + 7
    data[fallback:lea_end] = (b"\xbf" + struct.pack("<I", len(cpu) + 1) + b"\xbb"
                              + struct.pack("<I", len(cpu)) + b"\x48\x8d\x2d"
                              + struct.pack("<i", name - lea_end))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(bytes(data))
    tmp.chmod(0o755)
    tmp.replace(target)
    return True


_PROBE = ("import ctypes,sys; f=ctypes.CDLL(sys.argv[1]).pocl_get_llvm_cpu_name; "
          "f.restype=ctypes.c_char_p; print(f().decode())")


def _verdict(lib: Path, cache: Path) -> str:
    """LLVM's name for this CPU as the given libpocl sees it (probed once, cached on disk)."""
    stat = lib.stat()
    key = f"{lib}:{stat.st_size}:{int(stat.st_mtime)}"
    path = cache / "pocl_cpu.json"
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if key not in verdicts:
        try:
            verdicts[key] = subprocess.run([sys.executable, "-c", _PROBE, str(lib)],
                                           capture_output=True, text=True,
                                           timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            verdicts[key] = ""
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(verdicts))
            tmp.replace(path)
        except OSError:
            pass
    return verdicts[key]


def ensure_usable() -> None:
    """Called before the first OpenCL platform query; see the module docstring."""
    if os.environ.get("OCL_ICD_VENDORS") or os.environ.get("GRAPHNN_NO_POCL_FIX"):
        return
    lib = _pocl_library()
    if lib is None:
        return
    cache = Path(os.environ.get("GRAPHNN_CACHE", Path.home() / ".cache" / "graphnn"))
    if _verdict(lib, cache) != "generic":
        return
    cpu = _target_cpu()
    patched = lib.with_name(f"libpocl-graphnn-{cpu}.so")
    try:
        if not patched.exists() and not patch(lib, patched, cpu):
            return
    except OSError:
        return
    # OCL_ICD_VENDORS replaces the loader's search path: list every other ICD there too
    digest = hashlib.sha1(str(patched).encode()).hexdigest()[:16]
    vendors = cache / "icd" / digest
    try:
        vendors.mkdir(parents=True, exist_ok=True)
        for icd in sorted(glob.glob(str(lib.parent / "*.icd"))) + \
                sorted(glob.glob("/etc/OpenCL/vendors/*.icd")):
            name = Path(icd).name
            text = Path(icd).read_text()
            if "libpocl" in text:
                text = str(patched) + "\n"
            elif not text.strip().startswith("/") and (lib.parent / text.strip()).exists():
                text = str(lib.parent / text.strip()) + "\n"
            tmp = vendors / f".{name}.{os.getpid()}.tmp"   # atomic for parallel starts
            tmp.write_text(text)
            tmp.replace(vendors / name)
    except OSError:
        return
    os.environ["OCL_ICD_VENDORS"] = str(vendors)
