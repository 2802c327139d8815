"""Scalar dtypes and tensor types of the IR."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """A scalar element type: its PyTorch name, IR short name, numpy and OpenCL C types."""

    name: str          # PyTorch spelling: "float32"
    short: str         # IR text spelling: "f32"
    np: type           # numpy scalar type
    cl: str            # OpenCL C type used in kernels
    is_float: bool

    @property
    def itemsize(self) -> int:
        return np.dtype(self.np).itemsize

    def __repr__(self) -> str:
        return f"graphnn.{self.name}"

    def __reduce__(self):
        return (by_name, (self.name,))


float32 = DType("float32", "f32", np.float32, "float", True)
float64 = DType("float64", "f64", np.float64, "double", True)
float16 = DType("float16", "f16", np.float16, "half", True)
int64 = DType("int64", "i64", np.int64, "long", False)
int32 = DType("int32", "i32", np.int32, "int", False)
bool_ = DType("bool", "b8", np.bool_, "uchar", False)

ALL = (float32, float64, float16, int64, int32, bool_)
_BY_NP = {np.dtype(d.np): d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}


def by_name(name: str) -> DType:
    return _BY_NAME[name]


def from_numpy(dt) -> DType:
    """The DType of a numpy dtype; raises TypeError for unsupported ones (complex, uint16 ...)."""
    try:
        return _BY_NP[np.dtype(dt)]
    except KeyError:
        raise TypeError(f"graphnn does not support numpy dtype {np.dtype(dt)}") from None


def promote(a: DType, b: DType) -> DType:
    """Type promotion of two tensor operands (PyTorch's category order: bool < int < float)."""
    if a == b:
        return a
    rank = {bool_: 0, int32: 1, int64: 2, float16: 3, float32: 4, float64: 5}
    return a if rank[a] >= rank[b] else b


_CATEGORY = {"bool": 0, "int32": 1, "int64": 1, "float16": 2, "float32": 2, "float64": 2}


def result_type(*types: "TensorType") -> DType:
    """PyTorch's result type of operands: the dimensioned ones decide within their category;
    a zero-dim one (a 0-d tensor, or the constant of a Python scalar) only when its
    category is higher. So a float64 0-d tensor plus a float32 tensor is float32, an int32
    tensor plus a 0-d int64 tensor int32, a float 0-d tensor plus an int tensor float."""
    dims = [t.dtype for t in types if t.shape != ()]
    zeros = [t.dtype for t in types if t.shape == ()]
    d = functools.reduce(promote, dims) if dims else None
    z = functools.reduce(promote, zeros) if zeros else None
    if d is None or z is None:
        return d or z
    return promote(d, z) if _CATEGORY[z.name] > _CATEGORY[d.name] else d


@dataclass(frozen=True)
class TensorType:
    """Static type of an IR value: a shape and a dtype."""

    shape: tuple[int, ...]
    dtype: DType

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(map(str, self.shape))}]"


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy/PyTorch broadcasting; raises ValueError with PyTorch's message when two sizes
    differ at a dimension where neither is 1."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            d = s[i - ndim + len(s)] if i - ndim + len(s) >= 0 else 1
            if d != 1:
                if size not in (1, d):
                    raise ValueError(f"The size of tensor a ({size}) must match the size of "
                                     f"tensor b ({d}) at non-singleton dimension {i}")
                size = d
        out.append(size)
    return tuple(out)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    return tuple(reversed(strides))
