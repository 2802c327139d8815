"""Cross-device equality on whatever devices a machine has:
``python -m tests.cross_device OUT_DIR DEVICE[:DIALECT] ...``.

Runs the device lane's cases (tests/lane_cases.py, through tests/lane_run.py) on the first
device and the test models on the others, each device in its own process, and compares
every output: with PyTorch on the same inputs (1e-4 relative, 1e-5 absolute, as the lane
test does) and, for the test models, with the first device (1e-5 relative to each output's
largest magnitude). Prints one line per
case and device and exits non-zero on any difference or error. test_oclgrind.py checks PoCL
against Oclgrind in CI; this runs the same comparison where another vendor's device exists
(the NVIDIA machine of ../shared/GPU.md: ``python -m tests.cross_device out nvidia pocl``)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.lane_cases import CASES, RANDOM
from tests.lane_run import CROSS_RTOL, MODELS, _arrays, _finish, _mismatch, _start


def main(out: Path, devices: list[str]) -> int:
    import torch

    procs = {}
    for i, spec in enumerate(devices):
        device, _, dialect = spec.partition(":")
        # the first device runs every case, the others the test models (the lane's PoCL
        # builds are its costliest part)
        procs[spec] = _start(out / spec.replace(":", "-"), device, dialect or "",
                             MODELS if i else (),
                             GRAPHNN_CL_OPTIONS=os.environ.get("GRAPHNN_CL_OPTIONS", ""))
    ref = {name: [np.asarray(a) for a in fn(torch)] for name, fn in CASES.items()
           if name not in RANDOM}
    runs = {spec: _finish(p, out / spec.replace(":", "-")) for spec, p in procs.items()}
    bad = 0
    first = devices[0]
    for name in CASES:
        for spec in devices:
            info, outputs = runs[spec]
            if name not in info["cases"]:
                continue
            case = info["cases"][name]
            ok = not case["error"]
            if not ok:
                verdict = "raised " + case["error"].strip().splitlines()[-1]
            elif name in ref:
                diff = _mismatch(_arrays(outputs, name), ref[name], 1e-4, 1e-5)
                ok = not diff
                verdict = diff or "matches PyTorch"
                if spec != first and name in MODELS and not runs[first][0]["cases"][name][
                        "error"]:
                    cross = _mismatch(_arrays(outputs, name), _arrays(runs[first][1], name),
                                      CROSS_RTOL, CROSS_RTOL, scaled=True)
                    ok = ok and not cross
                    verdict += f"; vs {first}: " + (cross or f"equal within {CROSS_RTOL}")
            else:
                verdict = "ran (random outputs)"
            bad += not ok
            print(f"{'ok ' if ok else 'BAD'} {name:18} {spec:14} {info['device']} "
                  f"[{info['dialect']}] {case['seconds']:.1f} s: {verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    target = Path(sys.argv[1])
    if target.exists():
        target = Path(tempfile.mkdtemp(dir=target))
    sys.exit(main(target, sys.argv[2:]))
