"""Strided views: how a movement op reads the buffer of a materialised value.

All buffers are dense and row-major, so ``reshape``/``permute``/``expand``/``slice`` never
need a kernel: a consumer reads the base buffer at ``offset + sum(index[d] * strides[d])``.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.ir.graph import Graph
from graphnn.ir.types import contiguous_strides

VIEW_OPS = ("reshape", "permute", "expand", "slice")


@dataclass(frozen=True)
class View:
    base: int                     # the materialised node whose buffer is read
    offset: int                   # in elements
    strides: tuple[int, ...]      # per dimension of ``shape``, in elements (0 = broadcast)
    shape: tuple[int, ...]

    @property
    def contiguous(self) -> bool:
        dims = [(s, st) for s, st in zip(self.shape, self.strides) if s != 1]
        want = contiguous_strides(tuple(s for s, _ in dims))
        return all(st == w for (_, st), w in zip(dims, want))

    @property
    def is_alias(self) -> bool:
        """True when the view is the base buffer itself, reinterpreted (offset 0, dense)."""
        return self.offset == 0 and self.contiguous


def resolve(graph: Graph, n: int) -> View | None:
    """The view chain from ``n`` down to a materialised base, or None when a reshape of a
    non-contiguous view needs a copy first."""
    op = graph.op(n)
    shape = graph.type(n).shape
    if op not in VIEW_OPS:
        return View(n, 0, contiguous_strides(shape), shape)
    src = resolve(graph, graph.args(n)[0])
    if src is None:
        return None
    at = graph.attrs(n)
    if op == "reshape":
        if not src.contiguous:
            return None
        return View(src.base, src.offset, contiguous_strides(shape), shape)
    if op == "permute":
        return View(src.base, src.offset, tuple(src.strides[d] for d in at["dims"]), shape)
    if op == "expand":
        lead = len(shape) - len(src.shape)
        strides = [0] * lead + [0 if s == 1 and d != 1 else st for s, d, st in
                                zip(src.shape, shape[lead:], src.strides)]
        return View(src.base, src.offset, tuple(strides), shape)
    # slice
    offset = src.offset + sum(b * st for b, st in zip(at["starts"], src.strides))
    strides = tuple(st * s for st, s in zip(src.strides, at["steps"]))
    return View(src.base, offset, strides, shape)
