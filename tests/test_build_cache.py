"""The on-disk program cache: damaged entries are rebuilt, concurrent builders both succeed,
a driver or PoCL version change misses, and the directory stays within GRAPHNN_CACHE_MAX."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pyopencl as cl
import pytest

from graphnn.runtime import cache, get_runtime

_KERNEL = """__kernel void twice(__global float *x) {{
  x[get_global_id(0)] = 2.0f * x[get_global_id(0)] + {c}.0f;  /* {tag} */
}}"""


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNN_CACHE", str(tmp_path))
    monkeypatch.delenv("GRAPHNN_CACHE_MAX", raising=False)
    monkeypatch.setenv("GRAPHNN_BINARY_CACHE", "1")     # on PoCL too (its own cache aside)
    return tmp_path


def _source(c: int = 1) -> str:
    return _KERNEL.format(c=c, tag=uuid.uuid4().hex)    # never in the in-process memo


def _run(prg, c: int) -> None:
    """The program computes 2x + c: a binary read back from the cache really works."""
    rt = get_runtime()
    host = np.arange(8, dtype=np.float32)
    buf = cl.Buffer(rt.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                    hostbuf=host)
    cl.Kernel(prg, "twice")(rt.queue, (8,), None, buf)
    out = np.empty_like(host)
    cl.enqueue_copy(rt.queue, out, buf)
    np.testing.assert_array_equal(out, 2 * np.arange(8, dtype=np.float32) + c)


def _forget(rt, source: str) -> None:
    options = os.environ.get("GRAPHNN_CL_OPTIONS", "").split()
    rt._programs.pop(cache.program_key(source, options, rt.info.identity), None)


def _entries(path) -> list:
    return sorted(path.glob(f"*{cache.SUFFIX}"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign"])
def test_damaged_entry_is_rebuilt(fresh_cache, damage):
    rt = get_runtime()
    src = _source()
    before = rt.source_builds
    _run(rt.build_source(src, ()), 1)
    assert rt.source_builds == before + 1
    (entry,) = _entries(fresh_cache)
    data = entry.read_bytes()
    assert cache._verify(data) is not None
    if damage == "truncate":
        entry.write_bytes(data[:len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:-1] + bytes([data[-1] ^ 0x55]))
    elif damage == "empty":
        entry.write_bytes(b"")
    else:   # a payload that is no binary of this driver, with a correct digest
        junk = b"not a program binary" * 10
        entry.write_bytes(cache.MAGIC + __import__("hashlib").sha256(junk).digest()
                          + len(junk).to_bytes(8, "little") + junk)
    _forget(rt, src)
    corrupt = cache.STATS.corrupt
    _run(rt.build_source(src, ()), 1)
    assert rt.source_builds == before + 2, "the damaged entry should have been rebuilt"
    assert cache.STATS.corrupt == corrupt + (damage != "foreign")
    assert cache._verify(entry.read_bytes()) is not None, "a good entry replaces it"
    # and the good entry is read back without building
    _forget(rt, src)
    _run(rt.build_source(src, ()), 1)
    assert rt.source_builds == before + 2


@pytest.mark.parametrize("field", ["driver", "platform_version", "version"])
def test_version_change_misses(fresh_cache, monkeypatch, field):
    rt = get_runtime()
    src = _source(3)
    rt.build_source(src, ())
    builds = rt.source_builds
    _forget(rt, src)
    rt.build_source(src, ())
    assert rt.source_builds == builds, "same driver: read from the cache"
    info = rt.info
    monkeypatch.setattr(rt, "info", dataclasses.replace(
        info, **{field: getattr(info, field) + " (upgraded)"}))
    _run(rt.build_source(src, ()), 3)
    assert rt.source_builds == builds + 1, f"a new {field} must not read the old binary"
    assert len(_entries(fresh_cache)) == 2


def test_size_bound_evicts_least_recently_used(fresh_cache, monkeypatch):
    payload = b"x" * 100
    size = len(cache.MAGIC) + 40 + len(payload)
    monkeypatch.setenv("GRAPHNN_CACHE_MAX", str(2 * size + 10))
    cache._SIZE.clear()
    cache.store("a" * 64, payload)
    cache.store("b" * 64, payload)
    a, b = (fresh_cache / f"{k * 64}{cache.SUFFIX}" for k in "ab")
    os.utime(a, (1000, 1000))
    os.utime(b, (2000, 2000))
    assert cache.load("a" * 64) == payload      # a is now the most recently used
    evicted = cache.STATS.evicted
    cache.store("c" * 64, payload)
    assert cache.STATS.evicted == evicted + 1
    assert [p.name[0] for p in _entries(fresh_cache)] == ["a", "c"]
    assert sum(p.stat().st_size for p in _entries(fresh_cache)) <= 2 * size + 10
    # a bound below one entry keeps only the newest; 0 keeps nothing
    monkeypatch.setenv("GRAPHNN_CACHE_MAX", "1")
    cache.store("d" * 64, payload)
    assert [p.name[0] for p in _entries(fresh_cache)] == ["d"]
    monkeypatch.setenv("GRAPHNN_CACHE_MAX", "0")
    cache.store("e" * 64, payload)
    assert cache.load("e" * 64) is None


@pytest.mark.parametrize("text,value", [("", 1 << 30), ("12345", 12345), ("512M", 512 << 20),
                                        ("2G", 2 << 30), ("1.5k", 1536), ("0", 0)])
def test_cache_max_parsing(monkeypatch, text, value):
    monkeypatch.setenv("GRAPHNN_CACHE_MAX", text)
    assert cache.cache_max() == value


@pytest.mark.parametrize("text", ["lots", "-1", "5T"])
def test_cache_max_rejects_nonsense(monkeypatch, text):
    monkeypatch.setenv("GRAPHNN_CACHE_MAX", text)
    with pytest.raises(ValueError, match="GRAPHNN_CACHE_MAX"):
        cache.cache_max()


_BUILDER = """
import os, sys, time
import numpy as np
import graphnn
rt = graphnn.runtime.get_runtime()
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
x = graphnn.tensor(np.arange(6, dtype=np.float32))
print(((x * 3.0) - 1.0).numpy().tolist(), rt.source_builds)
"""


def test_two_processes_build_the_same_program_at_once(tmp_path):
    env = dict(os.environ, GRAPHNN_CACHE=str(tmp_path / "g"),
               POCL_CACHE_DIR=str(tmp_path / "p"), GRAPHNN_BINARY_CACHE="1")
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _BUILDER, str(tmp_path / f"w{i}"),
                               str(go)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.time() + 120
    while not all((tmp_path / f"w{i}.ready").exists() for i in range(2)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), \
            [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    want = str([float(3 * i - 1) for i in range(6)])
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert out.split("]")[0] + "]" == want
    entries = _entries(tmp_path / "g")
    assert entries and all(cache._verify(e.read_bytes()) is not None for e in entries)
    assert not list((tmp_path / "g").glob("*.tmp"))
    # every entry the two wrote is a binary the driver takes
    rt = get_runtime()
    for e in entries:
        binary = cache._verify(e.read_bytes())
        cl.Program(rt.context, [rt.device], [binary]).build()


@pytest.mark.parametrize("setting", ["auto", "0"])
def test_binaries_only_where_the_driver_keeps_none(fresh_cache, monkeypatch, setting):
    """``auto`` stores no binary for a driver with a build cache of its own (PoCL: asking it
    for one compiles every kernel again), and ``0`` stores none for any driver; the program
    still runs and is not built twice in the process."""
    monkeypatch.setenv("GRAPHNN_BINARY_CACHE", setting)
    rt = get_runtime()
    src = _source(3)
    before = rt.source_builds
    _run(rt.build_source(src, ()), 3)
    _run(rt.build_source(src, ()), 3)
    assert rt.source_builds == before + 1
    stored = setting == "auto" and not rt.info.caches_builds
    assert bool(_entries(fresh_cache)) == stored


def test_binary_cache_setting_is_checked(monkeypatch):
    monkeypatch.setenv("GRAPHNN_BINARY_CACHE", "yes")
    with pytest.raises(ValueError, match="GRAPHNN_BINARY_CACHE must be 0, 1 or auto"):
        cache.binaries_wanted(False)
    monkeypatch.setenv("GRAPHNN_BINARY_CACHE", "auto")
    assert cache.binaries_wanted(False) and not cache.binaries_wanted(True)
