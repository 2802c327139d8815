"""``graphnn.cuda``: answers whether an OpenCL GPU exists, so that the usual
``device = "cuda" if torch.cuda.is_available() else "cpu"`` line runs."""
from __future__ import annotations

from graphnn.runtime.buffers import OutOfMemoryError  # noqa: F401  (torch.cuda's name too)


def is_available() -> bool:
    from graphnn.runtime import list_devices
    return device_count() > 0


def device_count() -> int:
    from graphnn.runtime import list_devices
    return sum(1 for d in list_devices() if d.is_gpu and "oclgrind" not in d.platform.lower())


def synchronize(device=None) -> None:
    from graphnn.runtime import get_runtime
    get_runtime().finish()
