"""Movement ops. All buffers are contiguous, so these are views that codegen folds into the
index arithmetic of their consumers; they never need a kernel of their own."""
from __future__ import annotations

import numpy as np

from graphnn.ir.builder import Sym, unbroadcast
from graphnn.ir.ops.registry import EVERY_ARG, NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import TensorType, promote


def _same_dtype(args, at):
    return args[0].dtype


def _reshape_shape(args, at):
    if int(np.prod(at["shape"])) != args[0].numel:
        raise ValueError(f"shape {list(at['shape'])} is invalid for input of size "
                         f"{args[0].numel}")
    return at["shape"]


register(OpDef("reshape", Kind.INJECTIVE, 1, _reshape_shape, _same_dtype,
               lambda c, g: [g.reshape(c.types[0].shape)],
               lambda a, at: np.reshape(a[0], at["shape"]), "view", grad_name="View"))


def _inverse(dims):
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return tuple(inv)


register(OpDef("permute", Kind.INJECTIVE, 1,
               lambda args, at: tuple(args[0].shape[d] for d in at["dims"]), _same_dtype,
               lambda c, g: [g.permute(_inverse(c.attrs["dims"]))],
               lambda a, at: np.transpose(a[0], at["dims"]), "view"))


def _expand_shape(args, at):
    src, dst = args[0].shape, at["shape"]
    lead = len(dst) - len(src)
    if lead < 0 or any(s not in (1, d) for s, d in zip(src, dst[lead:])):
        raise ValueError(f"expanded size {list(dst)} must match the existing size "
                         f"{list(src)} at non-singleton dimensions")
    return dst


register(OpDef("expand", Kind.BROADCAST, 1, _expand_shape, _same_dtype,
               lambda c, g: [unbroadcast(g, c.types[0].shape)],
               lambda a, at: np.broadcast_to(a[0], at["shape"]), "view"))


def _slice_shape(args, at):
    return tuple(len(range(b, e, s)) for b, e, s in zip(at["starts"], at["stops"],
                                                        at["steps"]))


def _slice_ref(a, at):
    return a[0][tuple(slice(b, e, s) for b, e, s in zip(at["starts"], at["stops"],
                                                         at["steps"]))]


register(OpDef("slice", Kind.INJECTIVE, 1, _slice_shape, _same_dtype,
               lambda c, g: [g.op("slice_grad", shape=c.types[0].shape,
                                  starts=c.attrs["starts"], steps=c.attrs["steps"])],
               _slice_ref, "view", doc="x[starts:stops:steps] per axis (steps > 0)"))


def _slice_grad_ref(a, at):
    out = np.zeros(at["shape"], a[0].dtype)
    idx = tuple(slice(b, b + n * s, s) for b, s, n in zip(at["starts"], at["steps"],
                                                          a[0].shape))
    out[idx] = a[0]
    return out


register(OpDef("slice_grad", Kind.INJECTIVE, 1, lambda args, at: at["shape"], _same_dtype,
               lambda c, g: [g.op("slice", starts=c.attrs["starts"],
                                  stops=tuple(b + n * s for b, s, n in zip(
                                      c.attrs["starts"], c.attrs["steps"], c.types[0].shape)),
                                  steps=c.attrs["steps"])],
               _slice_grad_ref, "slice_grad",
               doc="the adjoint of slice: g placed at the sliced positions of zeros(shape)",
               indexed_reads=(0,)))


def _gather_shape(args, at):
    x, idx = args
    ax = at["axis"]
    if len(x.shape) != len(idx.shape):
        raise ValueError("gather: index and input must have the same number of dimensions")
    if any(i > s for d, (i, s) in enumerate(zip(idx.shape, x.shape)) if d != ax):
        raise ValueError(f"gather: index shape {list(idx.shape)} exceeds input shape "
                         f"{list(x.shape)} outside dimension {ax}")
    return idx.shape


def _gather_vjp(c, g):
    x_t, idx_t = c.types
    ax = c.attrs["axis"]
    if idx_t.shape[ax] == 1:
        # one index per row (cross-entropy): compare in the input's own shape, one
        # elementwise kernel with no atomics
        pos = Sym(g.graph, g.graph.add("iota", (), {"shape": x_t.shape, "axis": ax,
                                                   "dtype": idx_t.dtype.name}, name=g.scope))
        return [pos.eq(c.args[1]).op("where", g, 0.0), None]
    # dx = zeros with g added at the indices (the index may be smaller than x outside
    # ``axis``: it then reads, and scatters back into, a leading block)
    zeros = g._lift(0.0).expand(x_t.shape)
    return [zeros.op("scatter_add", c.args[1], g, axis=ax), None]


register(OpDef("gather", Kind.INJECTIVE, 2, _gather_shape, _same_dtype, _gather_vjp,
               lambda a, at: np.take_along_axis(a[0], a[1].astype(np.int64), at["axis"]),
               "gather", doc="torch.gather / numpy take_along_axis along attrs['axis']",
               indexed_reads=(0,)))

register(OpDef("detach", Kind.ELEMWISE, 1, lambda args, at: args[0].shape, _same_dtype,
               lambda c, g: [None], lambda a, at: a[0], "{0}",
               doc="identity that stops gradients; removed by simplification after autodiff"))

def _same_shape(args, at):
    if args[0].shape != args[1].shape:
        raise ValueError(f"straight_through: shapes {list(args[0].shape)} and "
                         f"{list(args[1].shape)} differ")
    return args[0].shape


register(OpDef("straight_through", Kind.ELEMWISE, 2, _same_shape, _same_dtype,
               lambda c, g: [None, g], lambda a, at: a[0], "{0}",
               doc="the value of arg 0 with the gradient of arg 1 (a leaf written in place "
                   "under no_grad keeps its gradient); removed by simplification after "
                   "autodiff"))

register(OpDef("copy", Kind.ELEMWISE, 1, lambda args, at: args[0].shape, _same_dtype,
               lambda c, g: [g], lambda a, at: np.array(a[0], copy=True), "{0}",
               doc="materialise a value into a fresh contiguous buffer", grad_name="Clone",
               vector="{0}"))


def _concat_shape(args, at):
    ax = at["axis"]
    first = args[0].shape
    for a in args[1:]:
        if len(a.shape) != len(first) or any(x != y for d, (x, y) in enumerate(
                zip(a.shape, first)) if d != ax):
            raise ValueError(f"Sizes of tensors must match except in dimension {ax}. Got "
                             f"{list(first)} and {list(a.shape)}")
    return first[:ax] + (sum(a.shape[ax] for a in args),) + first[ax + 1:]


def _concat_dtype(args, at):
    out = args[0].dtype
    for a in args[1:]:
        out = promote(out, a.dtype)
    return out


def _concat_vjp(c, g):
    ax, start, grads = c.attrs["axis"], 0, []
    for t in c.types:
        size = t.shape[ax]
        starts = tuple(start if d == ax else 0 for d in range(len(t.shape)))
        stops = tuple(start + size if d == ax else s for d, s in enumerate(t.shape))
        grads.append(g.op("slice", starts=starts, stops=stops, steps=(1,) * len(t.shape)))
        start += size
    return grads


register(OpDef("concat", Kind.INJECTIVE, -1, _concat_shape, _concat_dtype, _concat_vjp,
               lambda a, at: np.concatenate(a, axis=at["axis"]), "concat",
               doc="torch.cat along attrs['axis']; each element reads one argument",
               indexed_reads=EVERY_ARG))
