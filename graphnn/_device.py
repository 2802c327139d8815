"""``graphnn.device``: names an OpenCL device the PyTorch way.

``"cpu"`` is an OpenCL CPU device (PoCL), ``"gpu"`` and ``"cuda"`` the first OpenCL GPU,
``"cl:P:D"`` a platform/device pair. Tensors live on the runtime's device."""
from __future__ import annotations


class device:
    def __init__(self, type: str = "cpu", index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index
        text = str(type)
        if ":" in text and not text.startswith("cl:"):
            text, idx = text.split(":", 1)
            index = int(idx)
        self.type = text
        self.index = index

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None
                                              else ")")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        other = device(other) if isinstance(other, str) else other
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def device_of_runtime(rt) -> device:
    info = rt.info
    return device("gpu" if info.is_gpu else "cpu")


def check_device(dev) -> None:
    """Raises RuntimeError unless ``dev`` names the device graphnn is running on."""
    from graphnn.runtime import get_runtime, list_devices

    d = device(dev) if not isinstance(dev, device) else dev
    info = get_runtime().info
    kind = d.type
    if kind in ("cuda", "gpu"):
        if not any(x.is_gpu and "oclgrind" not in x.platform.lower() for x in list_devices()):
            raise RuntimeError(f"no OpenCL GPU is available for device '{d}'")
        if not info.is_gpu:
            raise RuntimeError(f"graphnn runs on {info.short}; set GRAPHNN_DEVICE=gpu to use "
                               f"device '{d}'")
    elif kind == "cpu":
        return
    elif kind.startswith("cl:"):
        if kind != info.spec:
            raise RuntimeError(f"graphnn runs on {info.spec} ({info.short}); set "
                               f"GRAPHNN_DEVICE={kind} to use that device")
    else:
        raise RuntimeError(f"Expected one of cpu, gpu, cuda, cl:P:D device type at start of "
                           f"device string: {d}")
