"""The on-disk cache of built OpenCL programs (``GRAPHNN_CACHE``, default
``~/.cache/graphnn``), bounded by ``GRAPHNN_CACHE_MAX``.

Layout: one file per program, ``<key>.prg``, where ``key`` is the SHA-256 of the kernel
source, the build options and the device's identity (platform name and version, device
name and version, driver version: a new driver or PoCL release, or PoCL targeting another
CPU, never reads an old binary). A file is ``MAGIC``, the SHA-256 of the payload, the
payload's length (8 bytes, little-endian) and the payload (the driver's binary).

- A file that is truncated, or whose payload does not match its digest, reads as a miss
  and is deleted; the caller rebuilds from source and stores a good copy.
- Writers write a private temporary file and rename it over the entry: a rename is atomic,
  so two processes that build the same program at once both succeed and a reader sees a
  whole entry or none.
- Least recently used entries are deleted when the directory holds more than
  ``GRAPHNN_CACHE_MAX`` bytes. A read marks an entry used by touching its mtime (atime is
  often not updated: ``noatime`` mounts).
- Binaries are kept only for drivers without a build cache of their own
  (``binaries_wanted``): on PoCL, its kernel cache does the job, at half the cold cost."""
from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"GNNPRG1\n"
SUFFIX = ".prg"
_HEADER = len(MAGIC) + 32 + 8
DEFAULT_MAX = 1 << 30           # 1 GiB
_STALE_TMP_SECONDS = 3600       # a temporary file this old belongs to a dead writer


def cache_dir() -> Path:
    return Path(os.environ.get("GRAPHNN_CACHE", Path.home() / ".cache" / "graphnn"))


def cache_max() -> int:
    """``GRAPHNN_CACHE_MAX`` in bytes: a number of bytes, or a number with a ``K``, ``M`` or
    ``G`` suffix (powers of 1024: ``512M``). Default 1 GiB. ``0`` keeps nothing on disk.
    Raises ValueError for anything else."""
    text = os.environ.get("GRAPHNN_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_MAX
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"GRAPHNN_CACHE_MAX must be a size in bytes such as 1073741824, "
                         f"512M or 2G, not {text!r}")
    return int(value * scale)


def binaries_wanted(driver_caches: bool) -> bool:
    """Whether built programs are stored here and read back (``GRAPHNN_BINARY_CACHE``):
    ``1`` always, ``0`` never, unset or ``auto`` unless the driver keeps a build cache of
    its own (``DeviceInfo.caches_builds``), and never with ``GRAPHNN_CACHE_MAX=0``.

    PoCL keeps one (its kcache, keyed on the source, the options and the target CPU, which
    also holds each kernel as specialised for its local size at its first launch), and
    asking PoCL for a program's binary compiles every kernel once more, for a generic local
    size. Measured on ``tests/test_attention.py`` (113 programs, 2 cores): cold, 131 s with
    binaries stored here and 62 s without; warm, 9.9 s with both caches, 11.2 s with
    PoCL's alone and 49 s with this one alone (PoCL still specialises at first launch)."""
    text = os.environ.get("GRAPHNN_BINARY_CACHE", "auto").strip().lower()
    if text not in ("0", "1", "auto", ""):
        raise ValueError(f"GRAPHNN_BINARY_CACHE must be 0, 1 or auto, not {text!r}")
    if text == "0" or cache_max() == 0:
        return False
    return text == "1" or not driver_caches


def program_key(source: str, options, identity) -> str:
    """The cache key: a hex SHA-256 over the source, the options and the device identity
    strings (``DeviceInfo.identity``)."""
    return hashlib.sha256("\0".join([source, *options, "\0", *identity]).encode()).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0           # entries read and verified
    misses: int = 0         # no entry
    corrupt: int = 0        # entries deleted because they were truncated or damaged
    stores: int = 0
    evicted: int = 0


STATS = CacheStats()
_LOCK = threading.Lock()
_SIZE: dict[Path, int] = {}     # per directory: bytes of entries, as last counted + stored


def _entry(key: str) -> Path:
    return cache_dir() / f"{key}{SUFFIX}"


def load(key: str) -> bytes | None:
    """The stored binary for ``key``, or None (missing, unreadable, truncated, damaged)."""
    path = _entry(key)
    try:
        data = path.read_bytes()
    except OSError:         # missing, or evicted by another process meanwhile
        STATS.misses += 1
        return None
    payload = _verify(data)
    if payload is None:
        STATS.corrupt += 1
        try:
            path.unlink()
        except OSError:
            pass
        return None
    try:
        os.utime(path)      # most recently used
    except OSError:
        pass
    STATS.hits += 1
    return payload


def _verify(data: bytes) -> bytes | None:
    if len(data) < _HEADER or not data.startswith(MAGIC):
        return None
    digest = data[len(MAGIC):len(MAGIC) + 32]
    length = int.from_bytes(data[len(MAGIC) + 32:_HEADER], "little")
    payload = data[_HEADER:]
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def write_atomic(path: Path, data: bytes) -> bool:
    """Writes ``data`` to a temporary file unique to this process and thread, renamed over
    ``path``: readers see the whole old file or the whole new one, and two writers never
    share a temporary file. False (nothing written) when it fails: a read-only home."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
    return True


def store(key: str, binary: bytes) -> None:
    """Writes the entry for ``key`` atomically, then evicts least recently used entries
    beyond ``GRAPHNN_CACHE_MAX``. Failures to write (a read-only home) are ignored: they
    only cost a rebuild next time."""
    limit = cache_max()
    if limit == 0:
        return
    path = _entry(key)
    data = MAGIC + hashlib.sha256(binary).digest() + len(binary).to_bytes(8, "little") + binary
    if not write_atomic(path, data):
        return
    STATS.stores += 1
    with _LOCK:
        directory = path.parent
        if directory not in _SIZE:
            _SIZE[directory] = _scan_size(directory)
        else:
            _SIZE[directory] += len(data)
        if _SIZE[directory] > limit:
            _SIZE[directory] = evict(directory, limit, keep=path)


def _scan_size(directory: Path) -> int:
    return sum(size for _, _, size in _entries(directory))


def _entries(directory: Path) -> list[tuple[float, Path, int]]:
    out = []
    try:
        scan = list(os.scandir(directory))
    except OSError:
        return out
    now = time.time()
    for e in scan:
        try:
            st = e.stat()
        except OSError:     # deleted by another process
            continue
        if e.name.endswith(SUFFIX):
            out.append((st.st_mtime, Path(e.path), st.st_size))
        elif e.name.endswith(".tmp") and now - st.st_mtime > _STALE_TMP_SECONDS:
            _unlink(Path(e.path))
    return out


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False


def evict(directory: Path, limit: int, keep: Path | None = None) -> int:
    """Deletes the least recently used entries of ``directory`` (oldest mtime first, never
    ``keep``) until at most ``limit`` bytes remain; returns the bytes that remain."""
    entries = sorted(_entries(directory), key=lambda e: e[0])
    total = sum(size for _, _, size in entries)
    for _, path, size in entries:
        if total <= limit:
            break
        if path == keep:
            continue
        if _unlink(path):
            STATS.evicted += 1
        total -= size       # gone either way: another process may have deleted it
    return total
