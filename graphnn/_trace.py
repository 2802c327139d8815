"""Tracing: running Python code on symbolic tensors to record an IR graph.

While a ``Tracer`` is active, every tensor op on a symbolic tensor adds a node to its
graph. A real tensor met during tracing (a parameter, a buffer, a tensor built in
``forward``) is *captured*: it becomes a graph input, read at every call, so the compiled
graph always sees the current parameter values.
"""
from __future__ import annotations

import threading
import traceback

from graphnn.ir.builder import Sym
from graphnn.ir.graph import Graph
from graphnn.ir.ops import infer_type
from graphnn.ir.types import TensorType, by_name

_local = threading.local()


class GraphBreak(Exception):
    """Raised when traced code needs a concrete value (``.item()``, ``if tensor:``)."""


def current() -> "Tracer | None":
    return getattr(_local, "tracer", None)


class Tracer:
    def __init__(self, module_names: dict[int, str] | None = None,
                 tensor_names: dict[int, str] | None = None):
        self.graph = Graph()
        self.tensor_names = tensor_names or {}
        self.captured: list = []                # real tensors captured, in input order
        self._captured_ids: dict[int, int] = {}  # id(tensor) -> node
        # real tensors made by factories (zeros, empty ...) while tracing, by id: an in-place
        # random fill may turn one into a graph value when nothing has captured it yet
        self.fresh: dict[int, object] = {}
        self.scope: list[str] = []
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
    def input(self, tensor, name: str = "") -> "object":
        from graphnn._tensor import Tensor

        nid = self.graph.add_input(tensor._type, name=name)
        return Tensor._symbolic(Sym(self.graph, nid), tensor.requires_grad)

    def node_of(self, t) -> int:
        if t._sym is not None and t._sym.graph is self.graph:
            return t._sym.id
        if t._sym is not None:
            raise RuntimeError("a symbolic tensor from another trace leaked into this one")
        key = id(t)
        if key not in self._captured_ids:
            from graphnn.nn.parameter import Parameter

            op = "param" if isinstance(t, Parameter) else "input"
            name = self.tensor_names.get(key, "")
            self._captured_ids[key] = self.graph.add_input(t._type, name=name, op=op)
            self.captured.append(t)
        return self._captured_ids[key]

    def is_captured(self, t) -> bool:
        return id(t) in self._captured_ids

    def const(self, value, dtype) -> int:
        return self.graph.add_const(value, TensorType((), dtype))

    def apply(self, op: str, args: list, attrs: dict, requires_grad: bool):
        from graphnn._tensor import Tensor

        ids = [self.node_of(a) if isinstance(a, Tensor) else a for a in args]
        types = [self.graph.type(i) for i in ids]
        try:
            infer_type(op, types, attrs)
        except (ValueError, TypeError) as e:
            where = self.scope_name or self.root_name
            where = f"{where}: " if where else ""
            raise RuntimeError(f"{where}{e}") from None
        nid = self.graph.add(op, ids, attrs, name=self.scope_name,
                             meta={"line": _user_line()})
        return Tensor._symbolic(Sym(self.graph, nid, self.scope_name), requires_grad)


def _user_line() -> str:
    """The innermost stack frame outside graphnn, as ``file:line``."""
    for frame in reversed(traceback.extract_stack(limit=12)):
        if "/graphnn/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return ""


def dtype_attr(dtype) -> str:
    return dtype.name if not isinstance(dtype, str) else by_name(dtype).name
