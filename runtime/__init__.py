"""graphnn.runtime: devices, buffers, program build and cache, execution, profiling, and the
numpy reference interpreter."""
from __future__ import annotations

import os
import threading

from graphnn.runtime.device import DeviceInfo, describe, list_devices, select_device

_RUNTIMES: dict[str, object] = {}
_LOCK = threading.Lock()


def get_runtime(spec: str | None = None):
    """The runtime of the device named by ``spec`` (default: ``$GRAPHNN_DEVICE``)."""
    spec = spec if spec is not None else os.environ.get("GRAPHNN_DEVICE", "")
    with _LOCK:
        key = spec.strip().lower()
        if key in _RUNTIMES:
            return _RUNTIMES[key]
        if key == "reference":
            from graphnn.runtime.refruntime import ReferenceRuntime
            rt = ReferenceRuntime()
        else:
            from graphnn.runtime.opencl import OpenCLRuntime
            info = select_device(spec)
            rt = next((r for r in _RUNTIMES.values()
                       if getattr(r, "info", None) == info), None) or OpenCLRuntime(info)
        _RUNTIMES[key] = rt
        return rt


def device_name_of(buf) -> str:
    """The device a runtime buffer lives on, as error messages name it."""
    for rt in list(_RUNTIMES.values()):
        if rt.owns(buf):
            return rt.device_name
    return "an unknown device"


__all__ = ["DeviceInfo", "describe", "device_name_of", "get_runtime", "list_devices",
           "select_device"]
