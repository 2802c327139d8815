"""Explicit-vector helpers for the row-vectorised kernel families.

PoCL does not vectorise across work-items when a kernel has loops, so the convolution,
pooling and GEMM families hold rows of outputs in ``floatN`` vectors themselves and unroll
everything whose extent is static. Loads go through an under-aligned vector typedef (one
unaligned load instead of N scalar ones); lanes that must read as zero (padding, ragged
edges) are built with swizzles, which compile to shuffles, never to builtin calls.
"""
from __future__ import annotations

from graphnn.codegen import half
from graphnn.codegen.emit import KernelWriter
from graphnn.ir.graph import Graph
from graphnn.ir.types import DType
from graphnn.ir.views import resolve

ZERO = None          # lane must read as zero
ANY = "any"          # lane value is never used

_LANES = "0123456789abcdef"
INT_MAX = 2 ** 31 - 1


def fits_int(graph: Graph, nodes) -> bool:
    """True when every buffer behind ``nodes`` can be indexed with 32-bit ``int``."""
    for n in nodes:
        v = resolve(graph, n)
        if v is None or graph.type(v.base).numel + 64 > INT_MAX:
            return False
    return True


def is_float(graph: Graph, *nodes: int) -> bool:
    """Float values (any storage: the vector loads and stores below convert 16-bit
    storage to and from the float compute type)."""
    return all(graph.type(n).dtype.is_float for n in nodes)


_ALIGN = {"double": 8, "long": 8, "ulong": 8, "uchar": 1, "char": 1, "ushort": 2}


def vec_type(w: KernelWriter, t: str, width: int) -> str:
    """The vector type name ``tN`` and, registered in the preamble, its unaligned alias."""
    if width > 1:
        align = _ALIGN.get(t, 4)
        w.preamble[f"GNN_U_{t}{width}"] = \
            f"typedef {t}{width} __attribute__((aligned({align}))) u_{t}{width};"
    return f"{t}{width}" if width > 1 else t


def load_vector(w: KernelWriter, dtype: DType, ptr: str, width: int) -> str:
    """``width`` consecutive elements of a buffer of ``dtype`` from pointer expression
    ``ptr``, as a vector of the compute type: one unaligned vector load, 16-bit storage
    converted lane by lane (``codegen/half.py``)."""
    if dtype.storage:
        bits = f"*({ptr})" if width == 1 else \
            f"*(__global const u_{vec_type(w, dtype.storage, width)}*)({ptr})"
        return f"{half.function(w.preamble, dtype, 'load', width)}({bits})"
    if width == 1:
        return f"*({ptr})"
    return f"*(__global const u_{vec_type(w, dtype.cl, width)}*)({ptr})"


def store_vector_at(w: KernelWriter, dtype: DType, ptr: str, value: str, width: int) -> str:
    """The C statement storing the compute-type vector ``value`` as ``width`` consecutive
    elements at ``ptr``, rounding to 16-bit storage as the scalar store does."""
    if dtype.storage:
        value = f"{half.function(w.preamble, dtype, 'store', width)}({value})"
    t = dtype.cl_storage
    if width == 1:
        return f"*({ptr}) = {value};"
    return f"*(__global u_{vec_type(w, t, width)}*)({ptr}) = {value};"


def lane(vec: str, j: int, width: int) -> str:
    return f"{vec}.s{_LANES[j]}" if width > 1 else vec


def splat(t: str, width: int, value: str = "0") -> str:
    return f"(({t}{width})({value}))" if width > 1 else f"(({t})({value}))"


def last_stride(graph: Graph, node: int) -> int | None:
    v = resolve(graph, node)
    return None if v is None else v.strides[-1]


def row_vector(w: KernelWriter, node: int, prefix: list[str], cols: list, width: int,
               t: str) -> str:
    """Emits a vector of ``width`` lanes of ``node`` along its last dimension and returns its
    name. ``prefix`` indexes the other dims; ``cols[j]`` is lane j's static column, ZERO or
    ANY. A contiguous run becomes one unaligned load at its first valid column (reading at
    most width-1 elements past the last valid one: buffers carry slack for that)."""
    name = w.fresh("v")
    valid = [(j, c) for j, c in enumerate(cols) if c is not ZERO and c != ANY]
    vt = vec_type(w, t, width)
    if not valid:
        w.lines.append(f"{vt} {name} = {splat(t, width)};")
        return name
    start = min(c for _, c in valid)
    span_ok = last_stride(w.graph, node) == 1 and width > 1 and \
        all(c - start < width for _, c in valid)
    if span_ok:
        ptr = f"({w.buf(resolve(w.graph, node).base)} + {w.address(node, prefix + [str(start)])})"
        ident = all(c - start == j for j, c in valid) and \
            all(c != ZERO for c in cols) and \
            all(c - start == j for j, c in enumerate(cols) if c != ANY)
        load = load_vector(w, w.graph.type(node).dtype, ptr, width)
        if ident:
            w.lines.append(f"{vt} {name} = {load};")
            return name
        raw = w.fresh("r")
        w.lines.append(f"{vt} {raw} = {load};")
        parts = []
        for c in cols:
            if c is ZERO or c == ANY:
                parts.append("0")
            else:
                parts.append(lane(raw, c - start, width))
        w.lines.append(f"{vt} {name} = ({vt})({', '.join(parts)});")
        return name
    parts = []
    for c in cols:
        if c is ZERO or c == ANY:
            parts.append(f"({t})0")
        else:
            parts.append(w.load(node, prefix + [str(c)]))
    expr = f"({vt})({', '.join(parts)})" if width > 1 else parts[0]
    w.lines.append(f"{vt} {name} = {expr};")
    return name


def hsum(w: KernelWriter, vec: str, width: int, t: str) -> str:
    """Horizontal sum of a vector by halving swizzles; returns a scalar temporary."""
    while width > 1:
        width //= 2
        name = w.fresh("h")
        lo, hi = (".lo", ".hi") if width > 1 else (".x", ".y")
        w.lines.append(f"{t}{width if width > 1 else ''} {name} = {vec}{lo} + {vec}{hi};")
        vec = name
    return vec


def width_for(n: int) -> int:
    """Vector width for a row of ``n`` elements: 16 (one AVX-512 register) unless the row is
    short enough that 8 or 4 wastes fewer lanes."""
    for v in (4, 8):
        if n <= v:
            return v
    return 16
