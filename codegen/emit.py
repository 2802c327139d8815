"""Writing one kernel: parameters, index arithmetic, and elementwise expressions.

``KernelWriter`` turns IR values into C expressions at a given index (one C expression per
dimension of the value's shape). Members of the kernel's group become temporaries; values
from outside are read from their buffers through their strided view.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from graphnn.codegen import half, mathfn
from graphnn.ir.graph import Graph
from graphnn.ir.ops import get
from graphnn.ir.symbolic import SymInt, is_symbolic, positive, start_kernel
from graphnn.ir.types import DType, TensorType, bool_, contiguous_strides, float32, \
    quantize, result_type
from graphnn.ir.views import VIEW_OPS, resolve


# ops whose expression the writer builds itself (indexed reads), by their registry "cl" name
INDEXED_EXPRESSIONS = ("gather", "slice_grad", "rand", "randint", "concat", "pad",
                       "pad_grad", "im2col", "col2im")


# an assumption PoCL's LLVM may use (where it was measured); elsewhere a no-op (Oclgrind's
# interpreter knows no llvm.assume)
_ASSUME = """#if defined(__clang__) && defined(POCL_DEVICE_ADDRESS_BITS)
#define GNN_ASSUME(c) __builtin_assume(c)
#else
#define GNN_ASSUME(c)
#endif"""


def low_load(w: "KernelWriter", dtype: DType, buf: str, addr: str) -> str:
    """The float value of element ``addr`` of a 16-bit buffer ``buf`` (``codegen/half.py``)."""
    return f"{half.function(w.preamble, dtype, 'load')}({buf}[{addr}])"


def low_store(w: "KernelWriter", dtype: DType, buf: str, addr: str, value: str) -> str:
    """The C statement storing float ``value`` into element ``addr`` of a 16-bit buffer,
    rounded to nearest even."""
    return f"{buf}[{addr}] = {half.function(w.preamble, dtype, 'store')}({value});"


def low_round(w: "KernelWriter", dtype: DType, value: str) -> str:
    """``value`` (a float) rounded to the 16-bit ``dtype``, as a store and a load would
    round it (a cast to float16 rounds, as PyTorch's does)."""
    load = half.function(w.preamble, dtype, "load")
    return f"{load}({half.function(w.preamble, dtype, 'store')}({value}))"


def literal(value, dtype: DType) -> str:
    if isinstance(value, SymInt):          # a size used as a value (a mean's divisor)
        return f"(({dtype.cl}){value})"
    if dtype.is_float:
        v = float(value)
        if dtype.low_precision:         # the constant's value in its own type
            with np.errstate(over="ignore"):
                v = float(quantize(np.array(v, np.float32), dtype))
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INFINITY" if v > 0 else "(-INFINITY)"
        text = repr(v)
        return f"{text}f" if dtype.cl == "float" else text
    if dtype == bool_:
        return "1" if value else "0"
    return f"{int(value)}" + ("L" if dtype.name == "int64" else "")


# The C type of index arithmetic in the kernels being written: ``long``, or ``int`` on a
# device without 64-bit index math (``Dialect.int64_index``; ``lower`` checks the sizes fit)
_INDEX = ["long"]


def index_type() -> str:
    return _INDEX[-1]


@contextlib.contextmanager
def indexing(ctype: str):
    """Kernels written inside index with ``ctype`` (``long`` or ``int``)."""
    _INDEX.append(ctype)
    try:
        yield
    finally:
        _INDEX.pop()


def const_literal(graph: Graph, node: int, opmath: bool = False) -> str:
    """The C literal of constant ``node``: its value in its own dtype, or, for an operand
    that PyTorch reads in float32 when the tensors are 16-bit (``OpDef.scalar_opmath``:
    ``x * 0.1``), its float32 value."""
    dtype = graph.type(node).dtype
    return literal(graph.attrs(node)["value"], float32 if opmath and dtype.low_precision
                   else dtype)


def decompose(var: str, shape: tuple[int, ...], prefix: str) -> tuple[list[str], list[str]]:
    """C statements that split linear index ``var`` into one index per dimension."""
    lines, names = [], []
    rest = f"{prefix}_r"
    it = index_type()
    lines.append(f"{it} {rest} = {var};")
    for d in range(len(shape) - 1, -1, -1):
        name = f"{prefix}{d}"
        names.insert(0, name)
        if d == 0:
            lines.append(f"{it} {name} = {rest};")
        else:
            lines.append(f"{it} {name} = {rest} % {shape[d]}; {rest} /= {shape[d]};")
    return lines, names


def linear_guard(w: "KernelWriter", n: int) -> None:
    """Declares ``gid``, the work-item's element, and returns past ``n`` (``launch_1d``
    rounds the launch up to whole work-groups)."""
    w.lines.append(f"{w.it} gid = get_global_id(0);")
    w.lines.append(f"if (gid >= {n}) return;")


def reduction_index(in_shape: tuple, axes, keep: bool, out_idx: list[str]) -> list[str]:
    """The input index of a reduction's element: kept dims from the output index
    ``out_idx``, reduced dim ``axes[i]`` from the loop counter ``k{i}``."""
    kept = [i for i in range(len(in_shape)) if i not in axes]
    return [f"k{axes.index(i)}" if i in axes else
            out_idx[i] if keep else out_idx[kept.index(i)] for i in range(len(in_shape))]


def reduction_body(w: "KernelWriter", g, anchors: list[int], in_idx: list[str]
                   ) -> tuple[list[str], list[str]]:
    """(lines, values) of a reduction loop's body at ``in_idx``: the group's prologue, the
    prologue values the group stores (each input element is in one run), and the value
    each anchor folds in. The lines are taken out of ``w`` and the prologue's temporaries
    forgotten, so that the caller places them inside its loop."""
    saved, start = dict(w.temps), len(w.lines)
    w.emit_members(g.prologue, in_idx)
    for s in g.stores:
        if s in g.prologue:
            w.store(s, in_idx)
    values = [w.value(w.graph.args(a)[0], in_idx) for a in anchors]
    lines = w.lines[start:]
    del w.lines[start:]
    w.temps = saved
    return lines, values


def launch_1d(n: int, d) -> tuple[tuple[int], tuple[int]]:
    """(global, local) sizes of a launch of one work-item per element of ``n``: the global
    size rounded up to the dialect's work-group size (``Dialect.local_1d``)."""
    local = d.local_1d(n)
    return ((n + local - 1) // local * local,), (local,)


def start_1d(w: "KernelWriter", n: int, d) -> None:
    """Declares ``gid``, the work-item's element, with an early return past ``n`` only where
    ``launch_1d`` rounds the launch up beyond it (always for a symbolic ``n``): the test
    kept PoCL from vectorising elementwise kernels whose size the work-group divides."""
    w.lines.append(f"{w.it} gid = get_global_id(0);")
    if is_symbolic(n) or n % d.local_1d(n):
        w.lines.append(f"if (gid >= {n}) return;")


class KernelWriter:
    def __init__(self, graph: Graph, name: str):
        self.graph = graph
        self.name = name
        self.params: list[int] = []          # buffer node ids, in argument order
        self.writable: set[int] = set()
        self.lines: list[str] = []
        self.temps: dict[int, str] = {}
        self.preamble: dict[str, str] = {}   # guarded program-level declarations (typedefs)
        self.counter = 0
        # (per-dim index, shape) -> a variable holding the linear index of that position, so
        # dense operands of the domain's own shape are addressed without index arithmetic
        self.flat: dict[tuple, str] = {}
        # size arguments (ir/symbolic.py): (C type, value) in order, and key -> name
        self.sizes: list[tuple[str, int]] = []
        self._size_names: dict[tuple, str] = {}
        self._positive: list[str] = []
        # buffers no graph value owns (a GEMM's packed operand): negative ids -> their type;
        # ``lower`` allocates them like stored values, for the launches that name them
        self.scratch: dict[int, TensorType] = {}
        self.ops: list[str] | None = None     # the launch's ops, if not its group's
        # written before ``__kernel`` (reqd_work_group_size of a kernel with local memory)
        self.attributes = ""
        self.it = index_type()               # the C type of index arithmetic
        start_kernel(self)

    def size(self, n: SymInt) -> str:
        """The name of the size argument that carries ``n`` (declared ``int`` when the value
        fits, as C would type the literal)."""
        name = self._size_names.get(n.key)
        if name is None:
            name = f"s{len(self.sizes)}"
            self._size_names[n.key] = name
            self.sizes.append(("int" if -2 ** 31 <= n < 2 ** 31 else "long", int(n)))
            if positive(n):
                self._positive.append(name)
        elif self.sizes[int(name[1:])][1] != int(n):
            raise AssertionError(f"size {n.key} printed with two values")
        return name

    def varying(self, value: int) -> str:
        """An integer that differs between kernels of otherwise equal code (a view's offset
        into its buffer, a random stream's counter offset), as an argument: the slices of
        one buffer at each step of an unrolled loop then share one kernel text (an
        ``nn.LSTM`` over 32 steps had 95 distinct kernels, one per step and gate slice)."""
        return self.size(SymInt(value, ("varying", int(value))))

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- parameters and memory ----------------------------------------------------------
    def buf(self, node: int, write: bool = False) -> str:
        """The parameter name of ``node``'s buffer. Names are positional (``a0``, ``a1``...
        in order of first use), never node ids, so that kernels of equal code have equal
        text and ``lower`` emits them once."""
        if node not in self.params:
            self.params.append(node)
        if write:
            self.writable.add(node)
        return f"a{self.params.index(node)}"

    def scratch_buf(self, sid: int, t: TensorType, write: bool = False) -> str:
        """The parameter name of scratch buffer ``sid`` (a negative id) of type ``t``."""
        self.scratch[sid] = t
        return self.buf(sid, write)

    def type_of(self, node: int) -> TensorType:
        return self.scratch[node] if node < 0 else self.graph.type(node)

    def ctype(self, node: int) -> str:
        return self.graph.type(node).dtype.cl

    def address(self, node: int, index: list[str]) -> str:
        """Element address of ``node`` (a value or a view) at its own per-dim ``index``: C
        expressions, each a term of the sum as it stands where its stride is 1 (parenthesise
        a conditional or comparison)."""
        view = resolve(self.graph, node)
        flat = self.flat.get((tuple(index), view.shape))
        if flat is not None and view.offset == 0 and view.strides == contiguous_strides(
                view.shape):
            return flat
        terms = [self.varying(view.offset)] if view.offset else []
        for ix, size, stride in zip(index, view.shape, view.strides):
            if size != 1 and stride != 0:
                terms.append(ix if stride == 1 else f"({ix})*{stride}")
        return " + ".join(terms) if terms else "0"

    def load(self, node: int, index: list[str]) -> str:
        """The value of ``node`` at ``index``, in its compute type (16-bit storage is
        converted here and in ``store``: the one place a scalar read or write happens)."""
        view = resolve(self.graph, node)
        dtype = self.graph.type(node).dtype
        if self.graph.op(view.base) == "const":    # a constant seen through views
            return literal(self.graph.attrs(view.base)["value"], dtype)
        if dtype.storage:
            return low_load(self, dtype, self.buf(view.base), self.address(node, index))
        return f"{self.buf(view.base)}[{self.address(node, index)}]"

    def align(self, node: int, domain_index: list[str]) -> list[str]:
        """Broadcasting: the index of ``node`` at a position of a (larger) domain."""
        shape = self.graph.type(node).shape
        lead = len(domain_index) - len(shape)
        return ["0" if s == 1 else domain_index[lead + d] for d, s in enumerate(shape)]

    # -- values -----------------------------------------------------------------------------
    def value(self, node: int, domain_index: list[str]) -> str:
        if node in self.temps:
            return self.temps[node]
        g = self.graph
        view = resolve(g, node) if g.op(node) in VIEW_OPS else None
        base = view.base if view is not None else node
        if base in self.temps and g.type(base).numel == 1:
            # a fused single value seen through views (any of them: fusion joins it through
            # permutes and slices too, and its buffer is written by this very kernel)
            return self.temps[base]
        if g.op(node) == "const":
            return literal(g.attrs(node)["value"], g.type(node).dtype)
        return self.load(node, self.align(node, domain_index))

    def emit_members(self, members: list[int], domain_index: list[str]) -> None:
        for m in members:
            expr = self.expression(m, domain_index)
            name = self.fresh("t")
            self.lines.append(f"{self.ctype(m)} {name} = {expr};")
            self.temps[m] = name

    def expression(self, n: int, idx: list[str]) -> str:
        g = self.graph
        op = g.op(n)
        args = g.args(n)
        out_t = g.type(n).dtype
        at = g.attrs(n)
        if op == "iota":
            return f"({out_t.cl})({self.align(n, idx)[at['axis']]})"
        if op == "gather":
            own = self.align(n, idx)
            pos = self.value(args[1], idx)
            src = list(own)
            src[at["axis"]] = f"({self.it})({pos})"
            return self.load(args[0], src)
        if op == "slice_grad":
            return self._slice_grad(n, idx)
        if op in ("rand", "randint"):
            return self._rand(n, idx)
        if op == "concat":
            return self._concat(n, idx)
        d = get(op)
        if d.guarded_reads is not None:
            return self.guarded_reads(n, idx)
        if op == "cast" and out_t == bool_:
            return f"({self.value(args[0], idx)} != 0)"
        if d.operand_dtype == "promote":
            want = result_type(*(g.type(a) for a in args))
        else:
            want = out_t
        vals = []
        for i, a in enumerate(args):
            if g.op(a) == "const" and a not in self.temps:
                v = const_literal(g, a, i in d.scalar_opmath)
            else:
                v = self.value(a, idx)
            a_t = g.type(a).dtype
            if a_t != want and not (op == "where" and a == args[0]):
                v = f"(({want.cl})({v}))"
            vals.append(v)
        expr = d.cl.format(*vals)
        if op != "cast":
            return expr
        if out_t.storage and g.type(args[0]).dtype != out_t:
            return low_round(self, out_t, f"(float)({expr})")
        return f"(({out_t.cl})({expr}))"

    def concat_parts(self, n: int, own: list[str]) -> list[tuple[int, int, list[str]]]:
        """Concat ``n``'s arguments at its index ``own``: ``(end along the axis, argument,
        the argument's own index)`` for each."""
        g = self.graph
        ax = g.attrs(n)["axis"] % len(g.type(n).shape)
        parts, start = [], 0
        for a in g.args(n):
            pos = list(own)
            pos[ax] = f"({own[ax]} - {start})" if start else own[ax]
            start += g.type(a).shape[ax]
            parts.append((start, a, pos))
        return parts

    def concat_branches(self, n: int, own: list[str]):
        """Opens, for each argument of concat ``n``, its branch of an ``if`` chain on the
        index along the axis and yields ``(argument position, argument, its index)``; what
        the caller writes in the branch is indented when it resumes; the chain is closed
        at the end."""
        ax = own[self.graph.attrs(n)["axis"] % len(own)]
        parts = self.concat_parts(n, own)
        for k, (end, a, pos) in enumerate(parts):
            last = k == len(parts) - 1
            self.lines.append(("} else {" if k else "{") if last else
                              f"{'} else ' if k else ''}if ({ax} < {end}) {{")
            begin = len(self.lines)
            yield k, a, pos
            self.lines[begin:] = ["    " + line for line in self.lines[begin:]]
        self.lines.append("}")

    def _concat(self, n: int, idx: list[str]) -> str:
        """Nested selects on the concatenated axis; each argument read at its own offset.
        Arguments that fusion made *pieces* of this kernel (``Group.pieces``) are computed
        instead, each in its own branch of an ``if`` chain at the argument's index."""
        g = self.graph
        own = self.align(n, idx)
        out_t = g.type(n).dtype
        pieces = g.meta(n).get("pieces", {})

        def cast(a: int, v: str) -> str:
            return v if g.type(a).dtype == out_t else f"(({out_t.cl})({v}))"

        if not pieces:
            ax = own[g.attrs(n)["axis"] % len(own)]
            parts = self.concat_parts(n, own)
            expr = cast(parts[-1][1], self.load(parts[-1][1], parts[-1][2]))
            for end, a, pos in reversed(parts[:-1]):
                expr = f"({ax} < {end} ? {cast(a, self.load(a, pos))} : {expr})"
            return expr
        var = self.fresh("cat")
        self.lines.append(f"{out_t.cl} {var};")
        for i, a, pos in self.concat_branches(n, own):
            members = pieces.get(i)
            if members is None:
                self.lines.append(f"{var} = {cast(a, self.load(a, pos))};")
            else:
                self.emit_members(members, pos)
                self.lines.append(f"{var} = {cast(a, self.temps[a])};")
                for m in members:       # their temporaries end with the branch
                    del self.temps[m]
        return var

    def _rand(self, n: int, idx: list[str]) -> str:
        """``rand``: the top 24 bits of the counter's hash as a float in [0, 1); ``randint``:
        low + a 64-bit draw modulo (high - low), added in ulong so that it wraps as numpy's
        uint64 does (``ir/ops/random.py`` holds the matching references)."""
        from graphnn.ir.ops.random import CL_HASH
        g = self.graph
        at = g.attrs(n)
        shape = g.type(n).shape
        own = self.align(n, idx)
        strides = contiguous_strides(shape)
        lin = " + ".join(f"({i})*{st}" for i, st, s in zip(own, strides, shape) if s != 1)
        counter = f"(uint)({lin or '0'})"
        if at.get("offset", 0):
            counter = f"({counter} + (uint){self.varying(at['offset'] & 0xFFFFFFFF)})"
        self.preamble["GNN_RAND"] = CL_HASH
        seed = self.value(g.args(n)[0], idx)
        key = f"gnn_key((ulong)({seed}))"
        ct = g.type(n).dtype.cl
        if g.op(n) == "rand":
            return f"(({ct})(gnn_hash32({counter} ^ {key}) >> 8) * (1.0f / 16777216.0f))"
        span, low = at["high"] - at["low"], at["low"] & 0xFFFFFFFFFFFFFFFF
        draw = f"gnn_bits64({counter} * 2u, {key}) % {span}UL"
        return f"(({ct})(long)({draw} + {low}UL))"

    def guarded_reads(self, n: int, idx: list[str]) -> str:
        """``pad``, ``im2col`` and their adjoints at ``n``'s index ``idx``: the sum of the
        guarded reads of argument 0 that the op's ``guarded_reads`` rule lists."""
        g = self.graph
        src = g.args(n)[0]
        terms = []
        for conds, pos in get(g.op(n)).guarded_reads(g.attrs(n), g.type(src).shape,
                                                     g.type(n).shape, self.align(n, idx)):
            v = self.load(src, pos)
            terms.append(f"(({' && '.join(conds)}) ? {v} : 0)" if conds else v)
        return terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"

    def _slice_grad(self, n: int, idx: list[str]) -> str:
        g = self.graph
        at = g.attrs(n)
        src = g.args(n)[0]
        own = self.align(n, idx)
        conds, pos = [], []
        for ix, start, step, size in zip(own, at["starts"], at["steps"], g.type(src).shape):
            if ix.isdigit():     # a broadcast dim: decide here, not in C
                q, r = divmod(int(ix) - start, step)
                if r or not 0 <= q < size:
                    return "0"
                pos.append(str(q))
                continue
            t = f"({ix} - {start})" if start else ix
            if step == 1:
                conds.append(f"{t} >= 0 && {t} < {size}")
                pos.append(t)
            else:
                conds.append(f"{t} >= 0 && {t} % {step} == 0 && {t} / {step} < {size}")
                pos.append(f"{t} / {step}")
        if not conds:
            return self.load(src, pos)
        return f"(({' && '.join(conds)}) ? {self.load(src, pos)} : 0)"

    def store(self, node: int, index: list[str], value: str | None = None) -> None:
        dtype = self.graph.type(node).dtype
        buf, addr = self.buf(node, write=True), self.address(node, index)
        value = value or self.temps[node]
        if dtype.storage:
            self.lines.append(low_store(self, dtype, buf, addr, value))
            return
        self.lines.append(f"{buf}[{addr}] = {value};")

    # -- output -----------------------------------------------------------------------------
    def source(self) -> str:
        params = []
        for i, p in enumerate(self.params):
            ct = self.type_of(p).dtype.cl_storage
            const = "" if p in self.writable else "const "
            params.append(f"__global {const}{ct}* restrict a{i}")
        params += [f"{ct} s{i}" for i, (ct, _) in enumerate(self.sizes)]
        lines = list(self.lines)
        positive = [f"{name} > 0" for name in self._positive]
        if positive:
            # a loop over the batch runs at least once: without this PoCL's LLVM compiled
            # LeNet's conv weight gradient 50% slower than with the literal bound. Only
            # sizes positive by construction (ir/symbolic.positive), so the text does not
            # depend on their values.
            self.preamble["GNN_ASSUME_DEFINED"] = _ASSUME
            lines.insert(0, f"GNN_ASSUME({' && '.join(positive)});")
        body = "\n".join("    " + line for line in lines)
        self.preamble.update(mathfn.definitions(body))
        pre = "".join(f"#ifndef {k}\n#define {k}\n{v}\n#endif\n" for k, v in
                      sorted(self.preamble.items()))
        attrs = self.attributes + "\n" if self.attributes else ""
        return pre + attrs + f"__kernel void {self.name}({', '.join(params)}) {{\n{body}\n}}\n"
