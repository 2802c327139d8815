"""Runs the device lane's cases (tests/lane_cases.py) on the device ``GRAPHNN_DEVICE`` names
and writes what they computed: ``python -m tests.lane_run OUT_DIR [case ...]``.

Writes ``OUT_DIR/outputs.npz`` (each case's arrays as ``case/i``) and ``OUT_DIR/lane.json``:
per case its seconds and the lines it added to the Oclgrind log (``OCLGRIND_LOG``; the
queue is drained before reading, so every report lands with the case that caused it), and
which kernel families and fast paths were lowered. A case that raises is recorded with its
traceback and the run goes on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import graphnn as G
from graphnn import codegen
from graphnn.codegen import conv as _conv
from graphnn.codegen import families as _families
from graphnn.codegen import gemm as _gemm
from graphnn.codegen import pool as _pool
from graphnn.codegen import rows as _rows
from graphnn.codegen import sort as _sort
from graphnn.codegen import tiled as _tiled
from graphnn.codegen import vepi as _vepi
from graphnn.codegen import workgroup as _workgroup
from graphnn.runtime import get_runtime
from tests.lane_cases import CASES

# the row-vectorised paths (the CPU dialect's kernels) and the two sorts: a hit is a call
# that returned a kernel
FAST_PATHS = {"conv2d_rows": _conv, "conv2d_input_grad_rows": _conv,
              "conv2d_weight_grad_rows": _conv, "gemm_vec": _gemm,
              "max_pool2d_grad_rows": _pool, "max_pool2d_rows": _pool,
              "_reduce_vec": _families,
              "_rank": _sort, "_heap": _sort, "_pack": _gemm, "_pack_transposed": _gemm,
              "elementwise_rows": _vepi, "logsumexp_rows": _rows, "sum_rows": _rows}
# the GPU dialect's kernels with local memory and barriers
GPU_PATHS = {"gemm_tiled": _tiled, "conv2d_weight_grad_groups": _workgroup,
             "reduce_groups": _workgroup}


ROOT = Path(__file__).resolve().parent.parent
# the test models compared across devices (PoCL builds are the lane's costliest part)
MODELS = ("lenet", "mlp", "conv_bn_relu_pool", "decoder", "lstm", "transformer")
CROSS_RTOL = 1e-5


def _start(out: Path, device: str, dialect: str, cases=(), **env) -> subprocess.Popen:
    """This lane in a subprocess on ``device`` (``dialect`` '' for the device's own)."""
    # the caller's PYTHONPATH stays behind the root (pyopencl may be installed there)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    full = dict(os.environ, GRAPHNN_DEVICE=device, GRAPHNN_DIALECT=dialect,
                GRAPHNN_CACHE=str(out / "cache"), PYTHONPATH=path, **env)
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


def _record(seen: set):
    def wrap(name, fn):
        def recorded(*args, **kwargs):
            made = fn(*args, **kwargs)
            if made is not None:
                seen.add(name)
            return made
        return recorded

    for name, fn in list(codegen.FAMILIES.items()):
        codegen.FAMILIES[name] = wrap(name, fn)
    for name, module in {**FAST_PATHS, **GPU_PATHS}.items():
        setattr(module, name, wrap(name, getattr(module, name)))


def main(out_dir: str, names: list[str]) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(os.environ.get("OCLGRIND_LOG", os.devnull))
    seen: set = set()
    _record(seen)
    rt = get_runtime()
    arrays, cases = {}, {}
    for name in names or list(CASES):
        start = time.perf_counter()
        offset = log.stat().st_size if log.is_file() else 0
        error = kind = None
        try:
            for i, a in enumerate(CASES[name](G)):
                arrays[f"{name}/{i}"] = np.asarray(a)
        except Exception as e:   # recorded and reported by the test, next to the others
            error, kind = traceback.format_exc(), type(e).__name__
        rt.finish()
        report = ""
        if log.is_file():
            with open(log, errors="replace") as f:
                f.seek(offset)
                report = f.read()
        cases[name] = {"seconds": time.perf_counter() - start, "report": report,
                       "error": error, "error_type": kind}
        print(f"{name}: {cases[name]['seconds']:.1f} s", file=sys.stderr, flush=True)
    np.savez(out / "outputs.npz", **arrays)
    (out / "lane.json").write_text(json.dumps(
        {"device": rt.info.short, "dialect": rt.dialect.name, "cases": cases,
         "families": sorted(seen)}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
