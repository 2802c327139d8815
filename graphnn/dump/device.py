"""Running a dumped model's graphs on the device: ``--profile`` (OpenCL profiling events per
launch), ``--memory`` (live device bytes after each launch) and ``--check`` (every value a
kernel stores against the numpy reference interpreter)."""
from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from graphnn.dump.model import DumpError, Dumped, Traced
from graphnn.ir.graph import LEAF_OPS
from graphnn.ir.passes import PIPELINE
from graphnn.ir.symbolic import plain
from graphnn.ir.views import VIEW_OPS


@dataclass
class LaunchProfile:
    """One launch's cost: median device time over the timed runs."""

    graph: str
    index: int              # position in the graph's launch plan
    kernel: str
    group: int
    ops: list[str]
    scope: str
    time_us: float
    share: float            # of the whole call's device time, 0-1
    bytes: int              # bytes of the buffers the kernel reads and writes
    flops: int

    @property
    def gbps(self) -> float:
        return self.bytes / (self.time_us * 1e3) if self.time_us > 0 else 0.0

    @property
    def gflops(self) -> float:
        return self.flops / (self.time_us * 1e3) if self.time_us > 0 else 0.0


@dataclass
class Profile:
    runs: int                            # timed calls (after one warm-up call)
    launches: list[LaunchProfile]
    launches_per_call: int
    compile_seconds: dict[str, float]    # trace, autodiff, passes, codegen, device build

    @property
    def total_us(self) -> float:
        return sum(p.time_us for p in self.launches)


@dataclass
class MemoryPoint:
    graph: str
    index: int              # the launch after which it was measured
    kernel: str
    live_bytes: int         # device bytes held by live buffers (pool buckets, slack included)


@dataclass
class Memory:
    points: list[MemoryPoint]
    baseline: dict[str, int]     # per graph: bytes live before its first launch
    peak: dict[str, int]         # per graph: the most bytes live after any of its launches


@dataclass
class NodeCheck:
    graph: str
    node: int
    op: str
    scope: str
    kernel: str             # the launch that computes it
    stored: bool            # False: fused inside its kernel, checked through what it stores
    max_abs: float = 0.0
    max_rel: float = 0.0
    ok: bool = True


@dataclass
class Check:
    atol: float
    rtol: float
    nodes: list[NodeCheck] = field(default_factory=list)

    @property
    def first_bad(self) -> NodeCheck | None:
        return next((c for c in self.nodes if not c.ok), None)


class DeviceRunner:
    """The executables of a Traced model's graphs on the current OpenCL device."""

    def __init__(self, traced: Traced):
        from graphnn.runtime import get_runtime

        self.rt = get_runtime()
        if self.rt.kind != "opencl":
            raise DumpError("--profile, --memory and --check run kernels: choose an OpenCL "
                            "device (GRAPHNN_DEVICE), not the reference interpreter")
        if any(d.program is None or len(d.passes) < len(PIPELINE) for d in traced.graphs):
            raise DumpError("--profile, --memory and --check run the whole pass pipeline: "
                            "drop --after")
        self.traced = traced
        self.build_seconds = 0.0
        self.exes = {}
        for d in traced.graphs:
            start = time.perf_counter()
            self.exes[d.label] = self.rt.executable(d.program, d.label)
            self.build_seconds += time.perf_counter() - start
        rng = np.random.default_rng(1)
        self.grad_outputs = []
        if traced.split is not None:
            fwd = traced.split.forward
            for pos in traced.split.grad_outputs:
                t = plain(fwd.type(fwd.outputs[pos]))
                self.grad_outputs.append(rng.standard_normal(t.shape).astype(t.dtype.np))

    def first_inputs(self) -> list:
        return [t._dense()[0] for t in self.traced.inputs + self.traced.captured]

    def call(self, observe=None) -> list[tuple[Dumped, list, list]]:
        """Runs every graph once as a training step or inference call would; returns, per
        graph, (dumped, input buffers, output buffers). ``observe(label, i, event)`` is
        called after each launch ``i``, and with ``i = -1`` before a graph's first one."""
        out = []
        inputs = self.first_inputs()
        for d in self.traced.graphs:
            hook = (lambda i, ev, label=d.label: observe(label, i, ev)) if observe else None
            if d.label == "backward":
                n = self.traced.split.n_outputs
                inputs = list(out[0][2][n:]) + [self.rt.upload(g) for g in self.grad_outputs]
            if observe:
                observe(d.label, -1, None)      # before the first launch: the baseline
            outs = self.exes[d.label].run(inputs, observe=hook)
            out.append((d, inputs, outs))
        return out


def profile(traced: Traced, runs: int = 10) -> Profile:
    """Median device time of every launch over ``runs`` calls after one warm-up call (PoCL
    specialises a kernel at its first launch)."""
    if runs < 1:
        raise DumpError(f"profile runs must be at least 1, got {runs}")
    runner = DeviceRunner(traced)
    runner.call()
    runner.rt.finish()
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):
        events = []
        runner.call(lambda label, i, ev: events.append((label, i, ev)) if i >= 0 else None)
        runner.rt.finish()
        for label, i, ev in events:
            times.setdefault((label, i), []).append((ev.profile.end - ev.profile.start) * 1e-3)
    rows = []
    for d in traced.graphs:
        for i, launch in enumerate(d.program.launches):
            rows.append(LaunchProfile(d.label, i, launch.kernel, launch.group, launch.ops,
                                      launch.scope, statistics.median(times[(d.label, i)]),
                                      0.0, launch.bytes, launch.flops))
    total = sum(r.time_us for r in rows)
    for r in rows:
        r.share = r.time_us / total if total > 0 else 0.0
    seconds = {"trace": traced.trace_seconds, "autodiff": traced.autodiff_seconds,
               "passes": sum(d.seconds.get("passes", 0.0) for d in traced.graphs),
               "codegen": sum(d.seconds.get("codegen", 0.0) for d in traced.graphs),
               "device build": runner.build_seconds}
    return Profile(runs, rows, sum(len(d.program.launches) for d in traced.graphs), seconds)


def memory(traced: Traced) -> Memory:
    """Device bytes held by live buffers after each launch of one call (the pool's count:
    inputs, parameters, saved values and every intermediate the plan has not released)."""
    runner = DeviceRunner(traced)
    pool = runner.rt.pool
    runner.rt.finish()
    points: list[MemoryPoint] = []
    baseline: dict[str, int] = {}
    names = {d.label: [ln.kernel for ln in d.program.launches] for d in traced.graphs}

    def observe(label: str, i: int, ev) -> None:
        if i < 0:
            baseline[label] = pool.in_use
        else:
            points.append(MemoryPoint(label, i, names[label][i], pool.in_use))

    runner.call(observe)
    runner.rt.finish()
    peak = {label: max(p.live_bytes for p in points if p.graph == label)
            for label in names if any(p.graph == label for p in points)}
    return Memory(points, baseline, peak)


def tolerances(traced: Traced) -> tuple[float, float]:
    """(atol, rtol) for the widest float type in the graphs: fused kernels reorder sums."""
    wide = any(d.graph.type(n).dtype.name == "float64" for d in traced.graphs
               for n in d.graph.nodes())
    return (1e-9, 1e-7) if wide else (1e-4, 1e-3)


def check(traced: Traced, atol: float | None = None, rtol: float | None = None) -> Check:
    """Runs each graph on the device, keeping every value a kernel stores, and in the
    reference interpreter on the same inputs (the backward graph on the device's saved
    values), and compares them node by node: an element fails when
    ``|device - reference| > atol + rtol * |reference|`` (integers and bools: when they
    differ; NaN matches NaN)."""
    from graphnn.runtime.reference import interpret_all

    default = tolerances(traced)
    atol = default[0] if atol is None else atol
    rtol = default[1] if rtol is None else rtol
    runner = DeviceRunner(traced)
    rt = runner.rt
    result = Check(atol, rtol)
    saved: list = []
    for d in traced.graphs:
        prog = d.program
        keep = dataclasses.replace(prog, outputs=list(prog.outputs) + [
            (n, t) for n, t in prog.buffers.items()])
        exe = rt.executable(keep, d.label)
        g = d.graph
        if d.label == "backward":
            inputs = saved + [rt.upload(x) for x in runner.grad_outputs]
        else:
            inputs = runner.first_inputs()      # a dropout seed is drawn here, once
        # the reference reads what the device reads
        host = [rt.download(b, plain(g.type(n))) for b, n in zip(inputs, g.inputs)]
        outs = exe.run(inputs)
        n_plain = len(prog.outputs)
        if d.label == "forward":
            saved = outs[traced.split.n_outputs:n_plain]
        device = {n: rt.download(b, plain(t)) for (n, t), b in
                  zip(list(prog.buffers.items()), outs[n_plain:])}
        reference = interpret_all(g, host)
        kernel_of = {}
        for launch in prog.launches:
            kernel_of.setdefault(launch.group, launch.kernel)
        for n in g.topo():
            if g.op(n) in LEAF_OPS or g.op(n) in VIEW_OPS:
                continue
            row = NodeCheck(d.label, n, g.op(n), g.name(n),
                            kernel_of.get(g.meta(n).get("group"), ""), n in device)
            if n in device:
                row.max_abs, row.max_rel, row.ok = compare(
                    device[n], reference[n].reshape(device[n].shape), atol, rtol)
            result.nodes.append(row)
    return result


def compare(dev: np.ndarray, ref: np.ndarray, atol: float, rtol: float
            ) -> tuple[float, float, bool]:
    """(max absolute error, max relative error, within tolerance) of two arrays of one
    shape; NaNs and infinities match when both sides hold the same one."""
    if dev.dtype.kind in "biu" and ref.dtype.kind in "biu":
        diff = np.abs(dev.astype(np.int64) - ref.astype(np.int64)).astype(np.float64)
        worst = float(diff.max(initial=0.0))
        return worst, float((diff / np.maximum(np.abs(ref), 1)).max(initial=0.0)), worst == 0
    a, b = dev.astype(np.float64), ref.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.abs(np.where(np.isfinite(b), b, 0.0))
    rel = diff / np.maximum(scale, atol)     # near zero the absolute error is what counts
    ok = bool(np.all(diff <= atol + rtol * scale))
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), ok
