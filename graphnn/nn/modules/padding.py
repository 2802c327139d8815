"""Padding layers: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad over
1, 2 and 3 trailing dims, each a call of ``F.pad`` (``nn/functional/pad.py``). ``padding``
is an int (the same on every side) or a tuple in F.pad's order, last dim first:
``(left, right)``, ``(left, right, top, bottom)``, ``(left, right, top, bottom, front,
back)``."""
from __future__ import annotations

from graphnn.nn import functional as F
from graphnn.nn.module import Module


def _sides(padding, n: int) -> tuple:
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2 * n:
            raise ValueError(f"padding must be an int or a tuple of {2 * n} ints, got "
                             f"{padding}")
        return tuple(int(p) for p in padding)
    return (int(padding),) * (2 * n)


class _PadNd(Module):
    _n = 1
    _mode = "constant"

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _sides(padding, self._n)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        # PyTorch's CircularPadNd checks the rank itself (ValueError), the others leave it
        # to F.pad (NotImplementedError)
        if input.dim() not in (self._n + 1, self._n + 2):
            raise ValueError(f"expected {self._n + 1}D or {self._n + 2}D input (got "
                             f"{input.dim()}D input)")
        return F.pad(input, self.padding, "circular")


def _layer(name: str, base: type, n: int, mode: str, shapes: str) -> type:
    doc = (f"Pads the last {n} dim{'s' if n > 1 else ''} of {shapes} with F.pad's "
           f"``mode='{mode}'``; ``padding`` is an int or a {2 * n}-tuple, last dim first.")
    return type(name, (base,), {"_n": n, "__doc__": doc, "__module__": __name__})


_SHAPES = {1: "(N, C, W) or (C, W)", 2: "(N, C, H, W) or (C, H, W)",
           3: "(N, C, D, H, W) or (C, D, H, W)"}

ZeroPad1d = _layer("ZeroPad1d", _ZeroPadNd, 1, "constant", _SHAPES[1])
ZeroPad2d = _layer("ZeroPad2d", _ZeroPadNd, 2, "constant", _SHAPES[2])
ZeroPad3d = _layer("ZeroPad3d", _ZeroPadNd, 3, "constant", _SHAPES[3])
ConstantPad1d = _layer("ConstantPad1d", _ConstantPadNd, 1, "constant", _SHAPES[1])
ConstantPad2d = _layer("ConstantPad2d", _ConstantPadNd, 2, "constant", _SHAPES[2])
ConstantPad3d = _layer("ConstantPad3d", _ConstantPadNd, 3, "constant", _SHAPES[3])
ReflectionPad1d = _layer("ReflectionPad1d", _ReflectionPadNd, 1, "reflect", _SHAPES[1])
ReflectionPad2d = _layer("ReflectionPad2d", _ReflectionPadNd, 2, "reflect", _SHAPES[2])
ReflectionPad3d = _layer("ReflectionPad3d", _ReflectionPadNd, 3, "reflect", _SHAPES[3])
ReplicationPad1d = _layer("ReplicationPad1d", _ReplicationPadNd, 1, "replicate", _SHAPES[1])
ReplicationPad2d = _layer("ReplicationPad2d", _ReplicationPadNd, 2, "replicate", _SHAPES[2])
ReplicationPad3d = _layer("ReplicationPad3d", _ReplicationPadNd, 3, "replicate", _SHAPES[3])
CircularPad1d = _layer("CircularPad1d", _CircularPadNd, 1, "circular", _SHAPES[1])
CircularPad2d = _layer("CircularPad2d", _CircularPadNd, 2, "circular", _SHAPES[2])
CircularPad3d = _layer("CircularPad3d", _CircularPadNd, 3, "circular", _SHAPES[3])
