"""Counter-based random generators: ``rand`` (uniform floats) and ``randint`` (integers).

Element i of a result is a pure function of (seed, counter): a 32-bit integer hash
(Wellons' "lowbias32") of the counter mixed with a key derived from the 0-d int64 seed.
The counter of element i is ``i + attrs['offset']`` (``offset`` defaults to 0), so one seed
feeds several independent streams (the two uniforms of a Box-Muller normal). Kernels need no
state, recomputing a value gives the same bits, and the numpy references produce exactly
what the OpenCL kernels do (uint32 and uint64 arithmetic wraps the same way in both)."""
from __future__ import annotations

import numpy as np

from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import by_name

_M1, _M2, _GOLDEN = 0x7FEB352D, 0x846CA68B, 0x9E3779B9
_U32, _U64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def hash32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.uint32)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(_M1)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(_M2)
        return x ^ (x >> np.uint32(16))


def key32(seed: int) -> np.uint32:
    """The per-seed key every counter is mixed with (``gnn_key`` in C)."""
    seed = int(seed) & _U64
    return hash32(np.uint32(seed & _U32) ^ hash32(np.uint32(((seed >> 32) + _GOLDEN) & _U32)))


def bits(seed: int, counters: np.ndarray) -> np.ndarray:
    """uint32 hash of each counter (taken modulo 2^32) under ``seed``."""
    c = (np.asarray(counters, np.uint64) & np.uint64(_U32)).astype(np.uint32)
    return hash32(c ^ key32(seed))


def uniform(seed: int, shape: tuple[int, ...], offset: int = 0) -> np.ndarray:
    """Floats k / 2^24 in [0, 1) (float64 array; exact in float32): the top 24 hash bits."""
    n = int(np.prod(shape)) if shape else 1
    h = bits(seed, np.arange(n, dtype=np.uint64) + np.uint64(offset))
    return ((h >> np.uint32(8)).astype(np.float64) * (1.0 / 16777216.0)).reshape(shape)


def integers(seed: int, shape: tuple[int, ...], low: int, high: int,
             offset: int = 0) -> np.ndarray:
    """int64 values in [low, high): a 64-bit draw (the hashes of counters 2c and 2c + 1, c
    = i + offset) reduced modulo high - low (bias below (high - low) / 2^64)."""
    n = int(np.prod(shape)) if shape else 1
    c = (np.arange(n, dtype=np.uint64) + np.uint64(offset)) * np.uint64(2)
    x = (bits(seed, c).astype(np.uint64) << np.uint64(32)) | bits(seed, c + np.uint64(1))
    with np.errstate(over="ignore"):
        r = x % np.uint64(high - low) + np.uint64(low & _U64)
    return r.view(np.int64).reshape(shape)


# the same hashes in OpenCL C: uint and ulong arithmetic wraps exactly like numpy's
CL_HASH = ("static inline uint gnn_hash32(uint x) { x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; "
           "x *= 0x846ca68bu; x ^= x >> 16; return x; }\n"
           "static inline uint gnn_key(ulong s) { return gnn_hash32((uint)s ^ gnn_hash32((uint)"
           "((s >> 32) + 0x9e3779b9u))); }\n"
           "static inline ulong gnn_bits64(uint c, uint k) { "
           "return ((ulong)gnn_hash32(c ^ k) << 32) | (ulong)gnn_hash32((c + 1u) ^ k); }")


def _seed(a: list) -> int:
    return int(np.asarray(a[0]).reshape(()))


register(OpDef(
    "rand", Kind.ELEMWISE, 1, lambda args, at: at["shape"],
    lambda args, at: by_name(at["dtype"]), NOT_DIFFERENTIABLE,
    lambda a, at: uniform(_seed(a), at["shape"], at.get("offset", 0)).astype(
        by_name(at["dtype"]).np),
    "rand", doc="uniform [0, 1) of attrs['shape'] from a 0-d int64 seed; counters start at "
                "attrs.get('offset', 0)"))

register(OpDef(
    "randint", Kind.ELEMWISE, 1, lambda args, at: at["shape"],
    lambda args, at: by_name(at["dtype"]), NOT_DIFFERENTIABLE,
    lambda a, at: integers(_seed(a), at["shape"], at["low"], at["high"],
                           at.get("offset", 0)).astype(by_name(at["dtype"]).np),
    "randint", doc="integers in [attrs['low'], attrs['high']) of attrs['shape'] from a 0-d "
                   "int64 seed, converted to attrs['dtype']"))
