"""Scalar dtypes and tensor types of the IR."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """A scalar element type: its PyTorch name, IR short name, numpy and OpenCL C types.

    ``cl`` is the *compute* type: kernels hold values, accumulators and vectors in it.
    ``storage`` is the element type of buffers. They differ for the 16-bit floats, which
    are storage types only (see "Storage and compute types" in docs/design.md): their
    buffers hold ``ushort`` bits that kernels convert to and from ``float`` with operators
    (``codegen/half.py``), so no device needs cl_khr_fp16. ``np`` is the host type of the
    values (numpy has no bfloat16: its values travel as float32, exactly, and become
    16-bit storage in ``to_storage``)."""

    name: str          # PyTorch spelling: "float32"
    short: str         # IR text spelling: "f32"
    np: type           # numpy scalar type of host values
    cl: str            # OpenCL C type kernels compute in
    is_float: bool
    storage: str = ""  # OpenCL C type of buffer elements, when it is not ``cl``
    storage_np: type | None = None   # numpy type of the stored bits, when not ``np``

    @property
    def itemsize(self) -> int:
        return np.dtype(self.storage_np or self.np).itemsize

    @property
    def cl_storage(self) -> str:
        return self.storage or self.cl

    @property
    def low_precision(self) -> bool:
        """A 16-bit float: stored in 16 bits, computed in float32."""
        return bool(self.storage) and self.is_float

    def __repr__(self) -> str:
        return f"graphnn.{self.name}"

    def __reduce__(self):
        return (by_name, (self.name,))


float32 = DType("float32", "f32", np.float32, "float", True)
float64 = DType("float64", "f64", np.float64, "double", True)
float16 = DType("float16", "f16", np.float16, "float", True, storage="ushort")
bfloat16 = DType("bfloat16", "bf16", np.float32, "float", True, storage="ushort",
                 storage_np=np.uint16)
int64 = DType("int64", "i64", np.int64, "long", False)
int32 = DType("int32", "i32", np.int32, "int", False)
bool_ = DType("bool", "b8", np.bool_, "uchar", False)

ALL = (float32, float64, float16, bfloat16, int64, int32, bool_)
# numpy arrays map to the type whose host values they are (float32 stays float32)
_BY_NP = {np.dtype(d.np): d for d in ALL if d is not bfloat16}
_BY_NAME = {d.name: d for d in ALL}


def by_name(name: str) -> DType:
    return _BY_NAME[name]


def from_numpy(dt) -> DType:
    """The DType of a numpy dtype; raises TypeError for unsupported ones (complex, uint16 ...)."""
    try:
        return _BY_NP[np.dtype(dt)]
    except KeyError:
        raise TypeError(f"graphnn does not support numpy dtype {np.dtype(dt)}") from None


# the largest finite value of each float type (PyTorch's checked scalar conversions)
FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
             "float32": 3.4028234663852886e38}


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 bits (uint16): to nearest, ties to even, NaN as
    0x7FC0, PyTorch's ``c10::detail::round_to_nearest_even``."""
    f = np.array(values, np.float32, order="C")   # (a 0-d array stays 0-d)
    u = f.view(np.uint32).astype(np.uint64)
    bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(f), np.uint16(0x7FC0), bits)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) as float32 values (exact: the high half of a float32)."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def quantize(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Host values of ``dtype`` (``dtype.np``): values rounded to it as a kernel's store
    would round them."""
    if dtype.name == "bfloat16":
        return bf16_values(bf16_bits(np.asarray(values, np.float32)))
    with np.errstate(over="ignore"):     # float16 overflows to inf, silently as in PyTorch
        return np.asarray(values, dtype.np)


def to_storage(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Host values as the bits a device buffer of ``dtype`` holds."""
    if dtype.name == "bfloat16":
        return bf16_bits(np.asarray(values, np.float32))
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype.np)


def from_storage(bits: np.ndarray, dtype: DType) -> np.ndarray:
    """The host values (``dtype.np``) of a buffer's bits."""
    if dtype.name == "bfloat16":
        return bf16_values(bits)
    return bits


def promote(a: DType, b: DType) -> DType:
    """Type promotion of two tensor operands (PyTorch's category order: bool < int < float)."""
    if a == b:
        return a
    if {a, b} == {float16, bfloat16}:
        return float32          # neither holds the other (PyTorch's promotion table)
    rank = {bool_: 0, int32: 1, int64: 2, float16: 3, bfloat16: 3, float32: 4, float64: 5}
    return a if rank[a] >= rank[b] else b


_CATEGORY = {"bool": 0, "int32": 1, "int64": 1, "float16": 2, "bfloat16": 2, "float32": 2,
             "float64": 2}


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
