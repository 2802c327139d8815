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
from graphnn.codegen import vepi as _vepi
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
    for name, module in FAST_PATHS.items():
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
