"""Runtime: device choice, build cache, reference interpreter, profiling, buffer reuse."""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphnn
from graphnn.codegen import lower
from graphnn.ir.graph import Graph
from graphnn.ir.passes import run_pipeline
from graphnn.ir.types import TensorType, float32
from graphnn.runtime import describe, get_runtime, list_devices, select_device
from graphnn.runtime.opencl import Profiler
from graphnn.runtime.reference import interpret


def _graph() -> Graph:
    g = Graph()
    x = g.add_input(TensorType((3, 5), float32), "x")
    b = g.add_input(TensorType((5,), float32), "b")
    y = g.add("relu", [g.add("add", [x, b])])
    g.outputs = [g.add("sum", [g.add("exp", [y])], {"axes": (1,), "keepdim": False})]
    return g


def test_device_specs():
    devices = list_devices()
    assert devices, "PoCL should be installed with the pocl extra"
    pocl = select_device("pocl")
    assert "portable computing language" in pocl.platform.lower()
    assert select_device(pocl.spec) == pocl
    with pytest.raises(RuntimeError, match="matches no OpenCL device"):
        select_device("no-such-vendor")
    with pytest.raises(RuntimeError, match="no OpenCL device"):
        select_device("cl:99:0")
    text = describe()
    assert "compute units" in text and "fp64" in text and "*" in text


def test_opencl_matches_reference_interpreter(rng):
    g = _graph()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    want = interpret(g, [x, b])[0]
    fused = run_pipeline(g.copy(), verify=True)
    rt = get_runtime()
    exe = rt.executable(lower(fused, rt.dialect), "test")
    out = exe.run([rt.upload(x), rt.upload(b)])[0]
    np.testing.assert_allclose(rt.download(out, TensorType((3,), float32)), want, rtol=1e-5)
    ref = np.exp(np.maximum(x + b, 0)).sum(1)
    np.testing.assert_allclose(want, ref, rtol=1e-5)


def test_lower_is_deterministic():
    a, b = run_pipeline(_graph()), run_pipeline(_graph())
    assert lower(a).source == lower(b).source
    assert len(lower(a).launches) == 1      # add, relu, exp fused into the reduction


def test_profiler_and_launch_counter(rng):
    rt = get_runtime()
    x = graphnn.tensor(rng.standard_normal((4, 4)).astype(np.float32))
    (x * 2).relu()
    rt.finish()
    rt.profiler = Profiler()
    before = rt.launches
    (x * 2).relu()
    rt.finish()
    prof, rt.profiler = rt.profiler, None
    assert rt.launches > before
    assert sum(prof.counts.values()) == rt.launches - before
    assert all(t >= 0 for t in prof.times.values())


def test_buffers_are_reused():
    get_runtime()
    t = graphnn.zeros(1000)
    buf = t._storage.buf.cl
    del t
    t2 = graphnn.zeros(1000)
    assert t2._storage.buf.cl is buf


def test_build_cache_on_disk(tmp_path):
    code = ("import graphnn, numpy as np; x = graphnn.tensor(np.ones(7, np.float32)); "
            "print(float((x * 3 + 1).sum().item()))")
    env = dict(os.environ, GRAPHNN_CACHE=str(tmp_path), GRAPHNN_BINARY_CACHE="1")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "28.0"
    binaries = list(tmp_path.glob("*.prg"))
    assert binaries, "program binaries should be cached on disk"
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert second.stdout.strip() == "28.0"
    assert sorted(tmp_path.glob("*.prg")) == sorted(binaries)


def test_reference_device_runs_a_model(rng):
    code = ("import graphnn, numpy as np; import graphnn.nn as nn; graphnn.manual_seed(0);"
            "m = nn.Linear(3, 2); x = graphnn.ones(4, 3, requires_grad=True);"
            "m(x).sum().backward(); print(graphnn.runtime.get_runtime().kind, "
            "x.grad.numpy().round(5).tolist() == "
            "np.tile(m.weight.detach().numpy().sum(0), (4, 1)).round(5).tolist())")
    env = dict(os.environ, GRAPHNN_DEVICE="reference")
    out = subprocess.run([sys.executable, "-c", code.replace("graphnn.runtime", "__import__("
                          "'graphnn.runtime').runtime")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["reference", "True"]


_EXIT_WITH_QUEUED_KERNELS = """
import numpy as np
import torch  # noqa: F401  (its teardown at exit is long)
import graphnn as G
class M(G.nn.Module):
    def forward(self, x):
        outs = []
        for i in range(6):
            y = x * float(i + 1)
            y[:, i].add_(1.0)
            outs += [y.t() * 2.0, y[1:3, ::2] - 1.0]
        return tuple(outs)
M()(G.tensor(np.ones((4, 6), np.float32)))   # never read: kernels still queued at exit
"""


def test_exit_with_queued_kernels_does_not_crash(tmp_path):
    """PoCL compiles a kernel at its first launch on a worker thread; a process that exits
    with such launches queued must drain the queue before its libraries are torn down."""
    env = dict(os.environ, GRAPHNN_CACHE=str(tmp_path / "g"), POCL_CACHE_DIR=str(tmp_path / "p"))
    run = subprocess.run([sys.executable, "-c", _EXIT_WITH_QUEUED_KERNELS], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_uploads_release_host_memory_without_a_sync():
    """An upload's host copy is dropped once its transfer is done, not at the next host
    sync: 1,000 steps that upload 1 MiB each and never read a value back stay flat."""
    def rss_mib() -> int:
        with open("/proc/self/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) // 1024

    arr = np.ones((256, 1024), np.float32)
    w = graphnn.ones(1024, 8)
    for i in range(20):
        graphnn.tensor(arr * i) @ w
    start = rss_mib()
    for i in range(1000):
        graphnn.tensor(arr * i) @ w
    assert rss_mib() - start < 200    # the whole stream is 1,000 MiB


def test_reference_interpreter_keeps_scalar_results_scalar():
    """A 0-d value feeding another op (``-0.5 * x.sum()``) stays 0-d in the interpreter."""
    g = Graph()
    x = g.add_input(TensorType((3, 4), float32))
    s = g.add("sum", [x], {"axes": (0, 1), "keepdim": False})
    c = g.add_const(-0.5, TensorType((), float32))
    g.outputs = [g.add("mul", [c, s])]
    from graphnn.runtime.reference import interpret
    out = interpret(g, [np.ones((3, 4), np.float32)])[0]
    assert out.shape == () and float(out) == -6.0


def test_uploads_read_the_array_as_it_was_at_the_call():
    """Uploads run asynchronously: an array changed right after the call (a numpy view of a
    torch tensor that torch updates in place, as in ``load_state_dict(torch_sd)`` before a
    torch training step) must not leak its new values into the tensor."""
    for i in range(50):
        arr = np.full((256, 1024), float(i + 1), np.float32)
        t = graphnn.tensor(arr)
        m = graphnn.nn.Linear(1024, 1, bias=False)
        w = np.full((1, 1024), float(i + 2), np.float32)
        m.load_state_dict({"weight": w})
        arr[:] = -1.0
        w[:] = -1.0
        assert (t.numpy() == i + 1).all()
        assert (m.weight.detach().numpy() == i + 2).all()


def test_horizontal_parts_do_not_share_the_linear_index():
    """A 0-d value read in the second part of a horizontal kernel must read element 0, not
    the first part's linear index (it read past the buffer)."""
    g = Graph()
    s = g.add_input(TensorType((), float32))
    c1 = g.add_const(0.8, TensorType((), float32))
    c2 = g.add_const(0.04, TensorType((), float32))
    a = g.add("mul", [s, c1])
    b = g.add("neg", [g.add("expand", [g.add("mul", [s, c2])], {"shape": (4,)})])
    g.outputs = [a, b]
    run_pipeline(g, label="t")
    rt = get_runtime()
    exe = rt.executable(lower(g, rt.dialect))
    outs = exe.run([rt.upload(np.array(2.0, np.float32))])
    np.testing.assert_allclose(rt.download(outs[1], TensorType((4,), float32)), [-0.08] * 4,
                               rtol=1e-6)
    np.testing.assert_allclose(rt.download(outs[0], TensorType((), float32)), 1.6, rtol=1e-6)
