"""Tracing: running Python code on symbolic tensors to record an IR graph.

While a ``Tracer`` is active, every tensor op on a symbolic tensor adds a node to its
graph. A real tensor met during tracing (a parameter, a buffer, a tensor built in
``forward``) is *captured*: it becomes a graph input, read at every call, so the compiled
graph always sees the current parameter values. A real view is read through its base: the
base is captured and the view ops replayed in the graph.

In-place ops are functional inside a graph: a write rebinds the written tensor to a new
node (a write through a view rebuilds its base with the view's region replaced, see
``graphnn._inplace``). A real tensor written during the trace (a BatchNorm buffer, a
module input changed by ``ReLU(inplace=True)``) gets its final value as an extra graph
output, which the caller writes back after every call (``mutations``).
"""
from __future__ import annotations

import threading
import weakref

from graphnn import _errors
from graphnn._errors import GraphBreak, user_frame, user_line
from graphnn import _tensor
from graphnn._tensor import Tensor
from graphnn.ir.builder import Sym
from graphnn.ir.graph import Graph
from graphnn.ir.ops import infer_type
from graphnn.ir.symbolic import dynamic_leading
from graphnn.ir.types import TensorType, by_name

_local = threading.local()
_user_line = user_line   # the name other modules import


def current() -> "Tracer | None":
    return getattr(_local, "tracer", None)


# inside a trace the module being traced names errors, not the functions it calls
_errors.IN_TRACE[0] = lambda: current() is not None


class Tracer:
    def __init__(self, module_names: dict[int, str] | None = None,
                 tensor_names: dict[int, str] | None = None):
        self.graph = Graph()
        self.tensor_names = tensor_names or {}
        self.captured: list = []                 # real tensors captured, in input order
        self._captured_ids: dict[int, int] = {}  # id(tensor) -> input node
        self.mutated: dict[int, tuple[Tensor, int]] = {}   # id(real tensor) -> (it, node)
        # written leaves that require grad: reads see the new value with the leaf's gradient
        self._leaf_reads: dict[int, int] = {}
        # (graph input position, check): run on every call's real input before kernels run
        self.checks: list[tuple[int, object]] = []
        self._real_views: dict[int, tuple[Tensor, int, int]] = {}  # id -> (view, base, node)
        self.scope: list[str] = []
        # a segmented trace: called when a traced value is needed (run the graph so far)
        self.on_value = None
        self.made: list = []    # weak references to the symbolic tensors made, for on_value
        self.root_name = ""     # the traced module's class (or function) name, for errors
        self.module_names = module_names or {}
        self.prev = None

    def __enter__(self):
        self.prev = current()
        _local.tracer = self
        return self

    def __exit__(self, *exc):
        _local.tracer = self.prev
        return False

    @property
    def scope_name(self) -> str:
        return self.scope[-1] if self.scope else ""

    # -- values ----------------------------------------------------------------------------
    def new_segment(self) -> None:
        """Starts an empty graph (a segmented trace, after running the previous one)."""
        self.graph = Graph()
        self.captured, self._captured_ids, self.mutated = [], {}, {}
        self._leaf_reads, self.checks = {}, []
        self._real_views, self.made = {}, []

    def _made(self, t: Tensor) -> Tensor:
        if self.on_value is not None:
            self.made.append(weakref.ref(t))
        return t

    def input(self, tensor: Tensor, name: str = "") -> Tensor:
        # the leading dimension is symbolic (ir/symbolic.py): kernels take it as an argument,
        # so the next batch size reuses the built program
        nid = self.graph.add_input(dynamic_leading(tensor._type), name=name)
        out = Tensor._symbolic(Sym(self.graph, nid), tensor.requires_grad)
        out._traced_leaf = tensor.is_leaf    # in-place writes to a leaf that requires grad fail
        return out

    def node_of(self, t: Tensor) -> int:
        """The node holding ``t``'s current value in this graph."""
        if t._sym is not None:
            if t._sym.graph is not self.graph:
                raise RuntimeError("a symbolic tensor from another trace leaked into this one")
            if t._base is not None and t._base_seen != self.current_node(t._base):
                # the base was written after this view was taken: read the view anew
                t._sym = self._replay(t._base, t._view_chain)._sym
                t._base_seen = self.current_node(t._base)
            return t._sym.id
        if t._base is None:
            return self.current_node(t)
        base = self.current_node(t._base)
        memo = self._real_views.get(id(t))
        if memo is None or memo[1] != base:
            memo = (t, base, self._replay(t._base, t._view_chain)._sym.id)
            self._real_views[id(t)] = memo
        return memo[2]

    def current_node(self, t: Tensor) -> int:
        """The node of a tensor that is not a view: its symbolic value, the value written to
        it in this trace, or its capture as a graph input."""
        if t._sym is not None:
            return t._sym.id
        written = self.mutated.get(id(t))
        if written is not None:
            return self._leaf_reads.get(id(t), written[1])
        key = id(t)
        if key not in self._captured_ids:
            self._captured_ids[key] = self.graph.add_input(
                t._type, name=self.tensor_names.get(key, ""),
                op="param" if t._is_param else "input")
            self.captured.append(t)
        return self._captured_ids[key]

    def value_of(self, t: Tensor) -> Tensor:
        """``t``'s current value as a symbolic tensor (for reading a base)."""
        return self._made(Tensor._symbolic(Sym(self.graph, self.node_of(t), self.scope_name),
                                           t.requires_grad))

    def write_root(self, t: Tensor, new: Tensor) -> None:
        """``t`` (not a view) now holds ``new``'s value: a symbolic tensor is rebound, a
        real one is recorded for write-back after the call."""
        if t._sym is not None:
            t._sym = new._sym
            t._requires_grad = new._requires_grad
            return
        if t.requires_grad:
            # a leaf that requires grad written under no_grad (embedding max_norm): later
            # reads take the new values, but the gradient still belongs to the leaf
            source = self._captured_node(t)
            self._leaf_reads[id(t)] = self.graph.add(
                "straight_through", [self.node_of(new), source], {}, name=self.scope_name)
        self.mutated[id(t)] = (t, self.node_of(new))

    def _captured_node(self, t: Tensor) -> int:
        if id(t) not in self._captured_ids:
            self.current_node(t)
        return self._captured_ids[id(t)]

    def check_values(self, t: Tensor, check) -> None:
        """Runs ``check(values)`` on the real tensor behind ``t`` at every call, before any
        kernel (index bounds): possible when ``t`` is a graph input as it was traced."""
        if t._sym is not None and t._sym.graph is self.graph and \
                t._sym.id in self.graph.inputs:
            self.checks.append((self.graph.inputs.index(t._sym.id), check))

    def mark_view(self, out: Tensor, src, op: str, attrs: dict) -> None:
        """Records that ``out = op(src)`` is a view, so writes to it reach ``src``'s base."""
        if not isinstance(src, Tensor):
            return
        base = src._base if src._base is not None else src
        out._base = base
        out._view_chain = src._view_chain + ((op, dict(attrs)),)
        out._base_seen = self.current_node(base)

    def _replay(self, base: Tensor, chain) -> Tensor:
        value = self.value_of(base)
        for op, attrs in chain:
            value = self.apply(op, [value], attrs, value.requires_grad)
        return value

    def const(self, value, dtype) -> int:
        return self.graph.add_const(value, TensorType((), dtype))

    def apply(self, op: str, args: list, attrs: dict, requires_grad: bool) -> Tensor:
        ids = [self.node_of(a) if isinstance(a, Tensor) else a for a in args]
        types = [self.graph.type(i) for i in ids]
        try:
            infer_type(op, types, attrs)
        except (ValueError, TypeError) as e:
            where = self.scope_name or self.root_name
            where = f"{where}: " if where else ""
            raise RuntimeError(f"{where}{e}") from None
        # the Python line that made the node: "file.py:12" for errors, the full path for the
        # dump tool, which shows the line's text next to the kernel that computes it
        frame = user_frame()
        meta = {"line": f"{frame[0].rsplit('/', 1)[-1]}:{frame[1]}", "file": frame[0]} \
            if frame else {"line": ""}
        nid = self.graph.add(op, ids, attrs, name=self.scope_name, meta=meta)
        return self._made(Tensor._symbolic(Sym(self.graph, nid, self.scope_name),
                                           requires_grad))


def check_values(t: Tensor, check) -> None:
    """Runs ``check`` on ``t``'s host values (bounds of indices and class targets) before any
    kernel reads them: now for a real tensor, at every call for a traced graph input."""
    if t._sym is None:
        if t.numel():
            check(t._host())
        return
    tracer = current()
    if tracer is not None:
        tracer.check_values(t, check)


def _materialize(t: Tensor) -> bool:
    tracer = current()
    if tracer is None or tracer.on_value is None or t._sym.graph is not tracer.graph:
        return False
    tracer.on_value()
    return t._sym is None


_tensor._MATERIALIZE[0] = _materialize


def dtype_attr(dtype) -> str:
    return dtype.name if not isinstance(dtype, str) else by_name(dtype).name


__all__ = ["GraphBreak", "Tracer", "current", "dtype_attr"]
