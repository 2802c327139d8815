"""Tensor reprs in PyTorch's format: ``tensor([[0.1000, 2.0000]], requires_grad=True)``."""
from __future__ import annotations

import numpy as np


def _float_formatter(arr: np.ndarray):
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return lambda x: str(x)
    amax = np.abs(finite).max()
    amin = np.abs(finite[finite != 0]).min() if np.any(finite != 0) else 0.0
    if np.all(finite == np.round(finite)) and amax < 1e8:
        width = max(len(f"{v:.0f}.") for v in finite)
        return lambda x: (f"{x:.0f}." if np.isfinite(x) else str(x).replace("inf", "inf")
                          ).rjust(width)
    if amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000):
        return lambda x: f"{x:.4e}"
    width = max(len(f"{v:.4f}") for v in finite)
    return lambda x: f"{x:.4f}".rjust(width)


def format_tensor(t) -> str:
    arr = t._host()
    if arr.dtype.kind == "f":
        fmt = _float_formatter(arr)
        body = np.array2string(arr, separator=", ", prefix="tensor(",
                               formatter={"float_kind": fmt}, threshold=1000, edgeitems=3,
                               max_line_width=80)
    elif arr.dtype == np.bool_:
        body = np.array2string(arr, separator=", ", prefix="tensor(",
                               formatter={"bool": lambda b: "True" if b else "False"})
    else:
        body = np.array2string(arr, separator=", ", prefix="tensor(", threshold=1000)
    extras = []
    if t.dtype.name not in ("float32", "int64", "bool"):
        extras.append(f"dtype=graphnn.{t.dtype.name}")
    if arr.size == 0:
        extras.insert(0, f"size={tuple(arr.shape)}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
