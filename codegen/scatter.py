"""``scatter_add``: two launches, in order on the in-order queue.

1. a copy of ``self`` into the output (one work-item per element: no loop, no call, so
   PoCL vectorises it across work-items);
2. one work-item per ``index`` element, adding its ``src`` value into the output at the
   indexed position with an atomic add: integers with ``atomic_add``/``atom_add``, floats
   with a compare-and-swap loop on the value's bits (OpenCL 1.2 has no float atomics).

Repeated indices add in an unspecified order, as in PyTorch's CUDA kernel: float sums can
differ in the last bits between runs. A deterministic alternative (one work-item per
output row scanning every index) costs rows x indices comparisons: for an embedding
table's gradient (30522 rows, 1,024 indices) that is 31M comparisons against 1,024 rows of
atomic adds, so the atomic design is the one kept."""
from __future__ import annotations

import math

from graphnn.codegen import half
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, launch_1d, start_1d
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group

_INT64_PRAGMA = "#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable"

# float atomics as compare-and-swap loops on the bits, starting from a guess of the cell's
# value; the loop compares bits, so a NaN cell cannot spin forever. Products (scatter_mul) are
# compare-and-swap loops for every type.
_BITS = {"float": ("uint", "as_uint", "as_float", "atomic_cmpxchg"),
         "double": ("ulong", "as_ulong", "as_double", "atom_cmpxchg"),
         "int": ("int", "", "", "atomic_cmpxchg"),
         "long": ("long", "", "", "atom_cmpxchg")}
# (atom_max on long needs cl_khr_int64_extended_atomics: a compare-and-swap loop instead)
_NATIVE = {("+", "int"): "atomic_add", ("+", "long"): "atom_add", ("max", "int"): "atomic_max"}
_COMBINE = {"+": "{a} + {v}", "*": "{a} * {v}", "max": "({a} > {v} ? {a} : {v})"}
_NAMES = {"+": "add", "*": "mul", "max": "max"}


def _atomic(ct: str, op: str) -> tuple[str, str]:
    """(function name, definition) of the atomic ``*p = combine(*p, v)`` for C type ``ct``
    (``op``: "+", "*" or "max")."""
    name = f"gnn_atomic_{_NAMES[op]}_{ct}"
    pragma = _INT64_PRAGMA + "\n" if ct in ("double", "long") else ""
    if (op, ct) in _NATIVE:
        return name, (f"{pragma}static inline void {name}(volatile __global {ct}* p, {ct} v) {{\n"
                      f"    {_NATIVE[(op, ct)]}(p, v);\n}}")
    ut, to_u, to_t, cas = _BITS[ct]
    new = _COMBINE[op].format(a=f"{to_t}(old)", v="v")
    # no plain read of *p: it races with other work-items' swaps (Oclgrind's race check
    # flags it). The first swap compares with a guess, the operation's identity (what a
    # zero-filled gradient holds for sums); a wrong guess costs one more swap.
    one = "1" if op == "*" else "0"
    guess = {"float": f"{one}.0f", "double": f"{one}.0", "int": one, "long": f"{one}L"}[ct]
    return name, (f"{pragma}static inline void {name}(volatile __global {ct}* p, {ct} v) {{\n"
                  f"    {ut} old = {to_u}({guess}), seen;\n"
                  f"    while ((seen = {cas}((volatile __global {ut}*)p, old,\n"
                  f"            {to_u}({new}))) != old)\n"
                  f"        old = seen;\n}}")


# 16-bit storage (float16, bfloat16): no device has 16-bit atomics in OpenCL 1.2, so the
# compare-and-swap runs on the aligned 32-bit word holding the element, replacing its half
# of the bits (buffers start 4-byte aligned; the other half is left as it was seen).
def _atomic_low(dtype, op: str) -> tuple[str, str]:
    name = f"gnn_atomic_{_NAMES[op]}_{dtype.short}"
    # the conversions' definitions go first, guarded: preamble entries are sorted by key
    load_def, load = half.definition(dtype, "load")
    store_def, store = half.definition(dtype, "store")
    new = _COMBINE[op].format(a=f"{load}((ushort)(old >> shift))", v="v")
    # on a little-endian device the element at byte offset 2 is the word's high half
    return name, (f"{load_def}{store_def}"
                  f"static inline void {name}(volatile __global ushort* p, float v) {{\n"
                  f"    volatile __global uint* word = "
                  f"(volatile __global uint*)((uintptr_t)p & ~(uintptr_t)3);\n"
                  f"#ifdef __ENDIAN_LITTLE__\n"
                  f"    uint shift = ((uintptr_t)p & 2) ? 16u : 0u;\n"
                  f"#else\n"
                  f"    uint shift = ((uintptr_t)p & 2) ? 0u : 16u;\n"
                  f"#endif\n"
                  f"    uint old = *word, seen;\n"
                  f"    while (1) {{\n"
                  f"        uint h = (uint){store}({new});\n"
                  f"        uint nw = (old & ~(0xFFFFu << shift)) | (h << shift);\n"
                  f"        if ((seen = atomic_cmpxchg(word, old, nw)) == old) break;\n"
                  f"        old = seen;\n"
                  f"    }}\n}}")


def _copy_kernel(graph: Graph, node: int, name: str, d: Dialect):
    w = KernelWriter(graph, name)
    shape = graph.type(node).shape
    n = math.prod(shape)
    start_1d(w, n, d)
    lines, idx = decompose("gid", shape, "i")
    w.lines += lines
    w.flat[(tuple(idx), tuple(shape))] = "gid"
    w.store(node, idx, w.value(graph.args(node)[0], idx))
    return w, *launch_1d(n, d)


def _add_kernel(graph: Graph, node: int, name: str, d: Dialect):
    _, index, src = graph.args(node)
    axis = graph.attrs(node)["axis"]
    dtype = graph.type(node).dtype
    ct = dtype.cl
    op = graph.op(node)
    if not dtype.storage and ct not in _BITS:
        raise TypeError(f"{op}: no OpenCL kernel for dtype {graph.type(node).dtype.name}")
    if ct in ("double", "long") and not d.int64_atomics:
        raise d.lacks(f"{op} on {graph.type(node).dtype.name} needs 64-bit atomics "
                      "(cl_khr_int64_base_atomics)")
    w = KernelWriter(graph, name)
    combine = {"scatter_mul": "*", "scatter_max": "max"}.get(op, "+")
    if dtype.storage:
        fn, definition = _atomic_low(dtype, combine)
    else:
        fn, definition = _atomic(ct, combine)
    w.preamble[fn.upper()] = definition
    shape = graph.type(index).shape
    size = graph.type(node).shape[axis]
    n = math.prod(shape)
    start_1d(w, n, d)
    lines, idx = decompose("gid", shape, "i")
    w.lines += lines
    w.lines.append(f"long j = (long)({w.load(index, idx)});")
    # indices are checked on the host; this keeps a stray one from writing out of bounds
    w.lines.append(f"if (j < 0 || j >= {size}) return;")
    out = list(idx)
    out[axis] = "j" if w.it == "long" else f"({w.it})j"
    value = w.load(src, idx)
    w.lines.append(f"{fn}({w.buf(node, write=True)} + "
                   f"({w.address(node, out)}), {value});")
    return w, *launch_1d(n, d)


def scatter_add(graph: Graph, g: Group, name: str, d: Dialect):
    """The copy and, when the index is not empty, the atomic adds (a list of kernels: the
    launches run in this order)."""
    node = g.anchor
    kernels = [_copy_kernel(graph, node, name, d)]
    if graph.type(graph.args(node)[1]).numel:
        kernels.append(_add_kernel(graph, node, name + "_add", d))
    return kernels
