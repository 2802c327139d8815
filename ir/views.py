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


def view_base(graph: Graph, n: int) -> int:
    """The node whose buffer a read of ``n`` touches: below any chain of views."""
    while graph.op(n) in VIEW_OPS:
        n = graph.args(n)[0]
    return n


def resolve(graph: Graph, n: int) -> View | None:
    """The view chain from ``n`` down to a materialised base, or None when a reshape of a
    non-contiguous view needs a copy first. Memoised per graph (codegen asks for the same
    views at every address it writes)."""
    memo = graph.memo("views")
    if n not in memo:
        memo[n] = _resolve(graph, n)
    return memo[n]


def _resolve(graph: Graph, n: int) -> View | None:
    op = graph.op(n)
    shape = graph.type(n).shape
    if op not in VIEW_OPS:
        return View(n, 0, contiguous_strides(shape), shape)
    src = resolve(graph, graph.args(n)[0])
    if src is None:
        return None
    layout = view_layout(op, graph.attrs(n), src.shape, src.strides, src.offset, shape)
    return None if layout is None else View(src.base, layout[0], layout[1], shape)


def view_layout(op: str, attrs: dict, shape: tuple[int, ...], strides: tuple[int, ...],
                offset: int, out_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]] | None:
    """``(offset, strides)`` of view op ``op`` applied to a tensor laid out as ``(shape,
    strides, offset)`` in its storage (elements), or None for a reshape that strides cannot
    express. Shared by codegen's view resolution and the front end's storage views."""
    if op == "reshape":
        new = reshape_strides(shape, strides, out_shape)
        return None if new is None else (offset, new)
    if op == "permute":
        return offset, tuple(strides[d] for d in attrs["dims"])
    if op == "expand":
        lead = len(out_shape) - len(shape)
        return offset, tuple([0] * lead + [0 if s == 1 and d != 1 else st for s, d, st in
                                           zip(shape, out_shape[lead:], strides)])
    if op == "slice":
        return (offset + sum(b * st for b, st in zip(attrs["starts"], strides)),
                tuple(st * s for st, s in zip(strides, attrs["steps"])))
    raise ValueError(f"{op} is not a view op")


def reshape_strides(old_shape: tuple[int, ...], old_strides: tuple[int, ...],
                    new_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Strides that view ``old`` as ``new_shape`` without a copy, or None (the algorithm of
    PyTorch's ``computeStride``): each run of new dims must split a run of old dims that is
    contiguous in memory (size-1 dims and broadcast dims included)."""
    numel = 1
    for s in old_shape:
        numel *= s
    if numel == 0 or not old_shape:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1]
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                             old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = old_strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)
