"""A counter-based random generator: ``rand(seed)`` gives uniform [0, 1) floats.

Element i of the result is a pure function of (seed, i): a 32-bit integer hash
(Wellons' "lowbias32") of the element's linear index mixed with the seed, whose top 24
bits become the float. Kernels need no state, recomputing a value gives the same bits, and
the numpy reference produces exactly what the OpenCL kernel does."""
from __future__ import annotations

import numpy as np

from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import by_name

_M1, _M2, _GOLDEN = 0x7FEB352D, 0x846CA68B, 0x9E3779B9


def hash32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.uint32)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(_M1)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(_M2)
        return x ^ (x >> np.uint32(16))


def uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    key = hash32(np.uint32(seed & 0xFFFFFFFF) ^ hash32(np.uint32(
        ((seed >> 32) + _GOLDEN) & 0xFFFFFFFF)))
    n = int(np.prod(shape)) if shape else 1
    with np.errstate(over="ignore"):
        h = hash32(np.arange(n, dtype=np.uint32) ^ key)
    return ((h >> np.uint32(8)).astype(np.float64) * (1.0 / 16777216.0)).reshape(shape)


# the same hash in OpenCL C: uint arithmetic wraps exactly like numpy's uint32
CL_HASH = ("inline uint gnn_hash32(uint x) { x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; "
           "x *= 0x846ca68bu; x ^= x >> 16; return x; }\n"
           "inline uint gnn_key(ulong s) { return gnn_hash32((uint)s ^ gnn_hash32((uint)"
           "((s >> 32) + 0x9e3779b9u))); }")

register(OpDef(
    "rand", Kind.ELEMWISE, 1, lambda args, at: at["shape"],
    lambda args, at: by_name(at["dtype"]), NOT_DIFFERENTIABLE,
    lambda a, at: uniform(int(np.asarray(a[0]).reshape(())), at["shape"]).astype(
        by_name(at["dtype"]).np),
    "rand", doc="uniform [0, 1) of attrs['shape'] from a 0-d int64 seed (dropout masks)"))
