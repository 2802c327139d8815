"""The dump tool's device runs on PoCL: ``--check`` passes correct kernels and flags the
first value of a deliberately broken one (forward and backward), ``--profile`` reports
non-zero times, ``--memory`` follows the launch plan's allocations and releases."""
import dataclasses
import json

import numpy as np
import pytest

import graphnn
from graphnn.dump import build_report, example_inputs, render
from graphnn.dump.explorer import node_data
from graphnn.ir.ops import REGISTRY
from graphnn.runtime.buffers import _bucket
from tests import models


def report(train=False, **options):
    graphnn.manual_seed(0)
    return build_report(models.mlp(), example_inputs([(4, 6)]), train=train, **options)


def break_op(monkeypatch, name: str, template: str, vector: str) -> None:
    """Makes the kernels compute ``name`` wrongly (scalar and row-vector templates); the
    reference interpreter (the numpy rule) keeps computing it right."""
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(REGISTRY[name], cl=template,
                                                            vector=vector))


def test_check_passes_correct_kernels_in_both_graphs():
    rep = report(train=True, check=True)
    c = rep.check
    assert c.first_bad is None
    stored = [x for x in c.nodes if x.stored]
    assert {x.graph for x in stored} == {"forward", "backward"}
    assert all(x.ok and x.max_abs <= c.atol + c.rtol for x in stored)
    assert "FIRST MISMATCH: none" in render(rep, "text")


def test_check_flags_the_first_value_of_a_broken_forward_kernel(monkeypatch):
    # relu that lets negative values through at a quarter: the kernel k0 is miscompiled
    break_op(monkeypatch, "relu", "({0} > 0 ? {0} : {0} * 0.25f)",
             "({0} > {zero} ? {0} : {0} * 0.25f)")
    rep = report(check=True)
    bad = rep.check.first_bad
    assert (bad.graph, bad.op, bad.kernel) == ("inference", "relu", "k0_matmul_add_relu")
    assert bad.max_abs > 1e-3 and not bad.ok
    # the wrong value propagates: the second kernel's output differs too, but is not first
    later = [x for x in rep.check.nodes if x.stored and x.node > bad.node]
    assert later and not later[-1].ok
    text = render(rep, "text")
    assert f"FIRST MISMATCH: inference %{bad.node} (relu, module 1) in kernel " \
           "k0_matmul_add_relu" in text


def test_check_flags_a_broken_backward_kernel(monkeypatch):
    # relu's gradient mask (x > 0) broken in the backward graph only: gt is not in the
    # forward graph, so the forward passes and the first mismatch is in the backward
    break_op(monkeypatch, "gt", "({0} > {1} - 1)", "({0} > {1} - 1)")
    rep = report(train=True, check=True)
    bad = rep.check.first_bad
    assert bad is not None and bad.graph == "backward"
    assert all(x.ok for x in rep.check.nodes if x.graph == "forward")
    assert bad.kernel == "k1_matmul_gt_where"
    doc = json.loads(render(rep, "json"))
    assert doc["check"]["first_bad"] in {k for row in doc["kernels"]
                                         if row["name"] == bad.kernel and
                                         row["graph"] == "backward" for k in row["nodes"]}


def test_profile_times_are_nonzero_and_consistent():
    rep = report(train=True, profile=True, runs=2)
    p = rep.profile
    assert p.launches_per_call == sum(len(d.program.launches) for d in rep.graphs) == 5
    assert all(x.time_us > 0 for x in p.launches)
    assert abs(sum(x.share for x in p.launches) - 1) < 1e-9
    for x in p.launches:
        assert x.gbps == pytest.approx(x.bytes / (x.time_us * 1e3))
        assert x.flops > 0 and x.gflops > 0
    assert set(p.compile_seconds) == {"trace", "autodiff", "passes", "codegen", "device build"}
    text = render(rep, "text")
    assert "launches per call" in text and "# compile time:" in text
    overlay = json.loads(node_data(rep))
    assert set(overlay) == {"forward", "backward"}
    fwd = rep.graphs[0].graph
    relu = next(n for n in fwd.nodes() if fwd.op(n) == "relu")
    k0 = next(x for x in p.launches if x.graph == "forward" and x.group == 0)
    assert overlay["forward"]["results"][str(relu)]["value"] == pytest.approx(k0.time_us,
                                                                              abs=1e-3)


def test_memory_follows_the_launch_plan():
    rep = report(train=True, memory=True)
    m = rep.memory
    for d in rep.graphs:
        prog = d.program
        points = [x for x in m.points if x.graph == d.label]
        assert len(points) == len(prog.launches)
        # the plan: a stored value lives from its first writer to its last reader (outputs
        # stay); the pool holds whole buckets
        first, last = {}, {}
        for i, launch in enumerate(prog.launches):
            for n in launch.args:
                if n in prog.buffers:
                    first.setdefault(n, i)
                    last[n] = i
        outputs = {o for o, _ in prog.outputs}
        for i, point in enumerate(points):
            live = sum(_bucket(t.numel * t.dtype.itemsize) for n, t in prog.buffers.items()
                       if first[n] <= i and (n in outputs or last[n] > i))
            assert point.live_bytes - m.baseline[d.label] == live, (d.label, i)
        assert m.peak[d.label] == max(x.live_bytes for x in points)
    assert "peak" in render(rep, "text")


def test_device_runs_need_the_whole_pipeline():
    with pytest.raises(ValueError, match="drop --after"):
        report(after="fuse", profile=True)
    with pytest.raises(ValueError, match="at least 1"):
        report(profile=True, runs=0)
    assert np.isfinite(report(check=True).check.nodes[-1].max_abs)
