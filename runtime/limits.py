"""``GRAPHNN_LIMITS``: run on this machine's device as if it were a smaller one.

``GRAPHNN_LIMITS="max_work_group=256,local_mem=32768,fp64=0,int64_index=0"`` lowers what
graphnn believes of every device before anything is compiled, so that the kernels, launch
geometry and errors of a small GPU can be checked on PoCL or Oclgrind:

``max_work_group=N``   work-items per work-group (every launch stays within it)
``local_mem=BYTES``    local memory per work-group (``32K`` and ``32KiB`` read as 32768)
``fp64=0``             no double precision: float64 tensors and graphs raise an error
                       naming the device before any kernel runs
``int64_index=0``      no 64-bit index arithmetic: kernels index with ``int`` and refuse
                       tensors of 2^31 - 2^16 elements or more
``int64_atomics=0``    no ``cl_khr_int64_base_atomics`` (float64/int64 ``scatter_add``)

Items are separated by commas; a limit never raises what the device has (``fp64=1`` on a
device without double precision changes nothing). An unknown key or a malformed value is
an error, so a typo does not silently test the full device.
"""
from __future__ import annotations

import dataclasses
import os

_SIZES = {"max_work_group": 1, "local_mem": 0}
_FLAGS = ("fp64", "int64_index", "int64_atomics")
KEYS = tuple(_SIZES) + _FLAGS


def parse(text: str) -> dict[str, int | bool]:
    """The limits ``text`` sets, by key."""
    out: dict[str, int | bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = (x.strip() for x in item.partition("="))
        if not sep or key not in KEYS:
            raise ValueError(f"GRAPHNN_LIMITS: {item!r} is not key=value with a key among "
                             f"{', '.join(KEYS)}")
        if key in _FLAGS:
            if value not in ("0", "1"):
                raise ValueError(f"GRAPHNN_LIMITS: {key} must be 0 or 1, not {value!r}")
            out[key] = value == "1"
            continue
        low = value.lower()
        scale = 1
        for suffix in ("kib", "k"):
            if low.endswith(suffix):
                low, scale = low[:-len(suffix)], 1024
                break
        if not low.isdigit() or int(low) * scale < _SIZES[key]:
            raise ValueError(f"GRAPHNN_LIMITS: {key} must be an integer of at least "
                             f"{_SIZES[key]}, not {value!r}")
        out[key] = int(low) * scale
    return out


def apply(info, text: str | None = None):
    """``info`` (a DeviceInfo) with the limits of ``text`` (default ``$GRAPHNN_LIMITS``)."""
    text = os.environ.get("GRAPHNN_LIMITS", "") if text is None else text
    limits = parse(text)
    if not limits:
        return info
    changes = {key: (min(getattr(info, key), value) if key in _SIZES
                     else getattr(info, key) and value) for key, value in limits.items()}
    shown = ",".join(f"{k}={int(v)}" for k, v in limits.items())
    return dataclasses.replace(info, limits=shown, **changes)
