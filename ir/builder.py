"""``Sym``: a value in a graph under construction, with operators that add IR nodes.

VJP rules and the tracer write IR with ordinary Python arithmetic: ``g * (y > 0)`` adds a
``gt`` node, a ``cast`` and a ``mul``. Python scalars become ``const`` nodes of the other
operand's dtype.
"""
from __future__ import annotations

from typing import Sequence

from graphnn.ir.graph import Graph
from graphnn.ir.types import DType, TensorType, bool_, float32


class Sym:
    __slots__ = ("graph", "id", "scope")

    def __init__(self, graph: Graph, nid: int, scope: str = ""):
        self.graph = graph
        self.id = nid
        self.scope = scope

    # -- basics -------------------------------------------------------------------------
    @property
    def type(self) -> TensorType:
        return self.graph.type(self.id)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    def op(self, name: str, *args: "Sym | float", **attrs) -> "Sym":
        ids = [self._lift(a).id for a in (self,) + args]
        return Sym(self.graph, self.graph.add(name, ids, attrs, name=self.scope), self.scope)

    def _lift(self, v) -> "Sym":
        if isinstance(v, Sym):
            return v
        dt = self.dtype if self.dtype.is_float or isinstance(v, (int, bool)) else float32
        if isinstance(v, bool):
            dt = bool_ if self.dtype == bool_ else dt
        return Sym(self.graph, self.graph.add_const(v, TensorType((), dt)), self.scope)

    # -- arithmetic -----------------------------------------------------------------------
    def __add__(self, o): return self.op("add", o)
    def __radd__(self, o): return self._lift(o).op("add", self)
    def __sub__(self, o): return self.op("sub", o)
    def __rsub__(self, o): return self._lift(o).op("sub", self)
    def __mul__(self, o): return self.op("mul", o)
    def __rmul__(self, o): return self._lift(o).op("mul", self)
    def __truediv__(self, o): return self.op("div", o)
    def __rtruediv__(self, o): return self._lift(o).op("div", self)
    def __neg__(self): return self.op("neg")
    def __gt__(self, o): return self.op("gt", o)
    def __ge__(self, o): return self.op("ge", o)
    def __lt__(self, o): return self.op("lt", o)
    def __le__(self, o): return self.op("le", o)
    def eq(self, o): return self.op("eq", o)

    def cast(self, dtype: DType) -> "Sym":
        return self if dtype == self.dtype else self.op("cast", dtype=dtype.name)

    def sum(self, axes: Sequence[int], keepdim: bool = False) -> "Sym":
        nd = max(len(self.shape), 1)
        axes = tuple(sorted({a % nd for a in axes}))
        if all(self.shape[a] == 1 for a in axes):   # summing size-1 axes is a reshape
            keep = tuple(s for i, s in enumerate(self.shape) if keepdim or i not in axes)
            return self.reshape(keep)
        return self.op("sum", axes=axes, keepdim=keepdim)

    def reshape(self, shape: Sequence[int]) -> "Sym":
        shape = tuple(shape)
        return self if shape == self.shape else self.op("reshape", shape=shape)

    def expand(self, shape: Sequence[int]) -> "Sym":
        shape = tuple(shape)
        return self if shape == self.shape else self.op("expand", shape=shape)

    def permute(self, dims: Sequence[int]) -> "Sym":
        return self.op("permute", dims=tuple(dims))


def unbroadcast(g: Sym, shape: tuple[int, ...]) -> Sym:
    """Sums ``g`` down to ``shape`` (the adjoint of broadcasting)."""
    if g.shape == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = list(range(lead))
    axes += [lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1]
    out = g.sum(axes, keepdim=True) if axes else g
    return out.reshape(shape)
