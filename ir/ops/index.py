"""Index ops with kernels of their own: ``scatter_add`` (the adjoint of ``gather``) and
``argsort`` (behind sort and topk)."""
from __future__ import annotations

import numpy as np

from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import int64


def _scatter_add_shape(args, at):
    x, idx, src = args
    ax = at["axis"]
    if not (len(x.shape) == len(idx.shape) == len(src.shape)):
        raise ValueError("scatter_add: index, self and src must have the same number of "
                         f"dimensions, got {len(idx.shape)}, {len(x.shape)} and "
                         f"{len(src.shape)}")
    if idx.dtype.is_float or idx.dtype.name == "bool":
        raise ValueError(f"scatter_add: index must be an integer tensor, not {idx.dtype.name}")
    if any(i > s for i, s in zip(idx.shape, src.shape)) or any(
            i > s for d, (i, s) in enumerate(zip(idx.shape, x.shape)) if d != ax):
        raise ValueError(f"scatter_add: index shape {list(idx.shape)} exceeds src shape "
                         f"{list(src.shape)} or self shape {list(x.shape)} outside dimension "
                         f"{ax}")
    return x.shape


def _scatter_add_dtype(args, at):
    if args[0].dtype != args[2].dtype:
        raise ValueError(f"scatter_add: self ({args[0].dtype.name}) and src "
                         f"({args[2].dtype.name}) must have the same dtype")
    return args[0].dtype


def _scatter_add_vjp(c, g):
    # out = self + sum of src at index: d self = g; d src = g read back at the index
    # (positions of a src larger than the index take no part and get zeros)
    _, idx_t, src_t = c.types
    dsrc = g.op("gather", c.args[1], axis=c.attrs["axis"])
    if idx_t.shape != src_t.shape:
        dsrc = dsrc.op("slice_grad", shape=src_t.shape, starts=(0,) * len(src_t.shape),
                       steps=(1,) * len(src_t.shape))
    return [g, None, dsrc]


def _scatter_add_ref(a, at):
    x, idx, src = a
    out = np.array(x, copy=True)
    if idx.size == 0:
        return out
    pos = list(np.indices(idx.shape, sparse=True))
    pos[at["axis"]] = idx.astype(np.int64)
    np.add.at(out, tuple(pos), src[tuple(slice(0, n) for n in idx.shape)])
    return out


register(OpDef("scatter_add", Kind.OPAQUE, 3, _scatter_add_shape, _scatter_add_dtype,
               _scatter_add_vjp, _scatter_add_ref, "scatter_add",
               doc="torch.scatter_add(self, axis, index, src): self with src[i] added at "
                   "position i of self, its ``axis`` component replaced by index[i], for "
                   "every position i of index (index no larger than src, nor than self "
                   "outside ``axis``). Its output is written by a kernel of its own: never "
                   "fused into another kernel"))



def _scatter_mul_ref(a, at):
    x, idx, src = a
    out = np.array(x, copy=True)
    if idx.size == 0:
        return out
    pos = list(np.indices(idx.shape, sparse=True))
    pos[at["axis"]] = idx.astype(np.int64)
    np.multiply.at(out, tuple(pos), src[tuple(slice(0, n) for n in idx.shape)])
    return out


def _scatter_mul_vjp(c, g):
    raise RuntimeError("derivative for aten::scatter is not implemented")


register(OpDef("scatter_mul", Kind.OPAQUE, 3, _scatter_add_shape, _scatter_add_dtype,
               _scatter_mul_vjp, _scatter_mul_ref, "scatter_add",
               doc="torch.scatter(self, axis, index, src, reduce='multiply'): scatter_add with "
                   "products (a compare-and-swap loop per index element); PyTorch defines no "
                   "derivative for it"))


def _scatter_max_ref(a, at):
    x, idx, src = a
    out = np.array(x, copy=True)
    if idx.size == 0:
        return out
    pos = list(np.indices(idx.shape, sparse=True))
    pos[at["axis"]] = idx.astype(np.int64)
    np.maximum.at(out, tuple(pos), src[tuple(slice(0, n) for n in idx.shape)])
    return out


register(OpDef("scatter_max", Kind.OPAQUE, 3, _scatter_add_shape, _scatter_add_dtype,
               NOT_DIFFERENTIABLE, _scatter_max_ref, "scatter_add",
               doc="scatter_add with the maximum (native atomic_max on integers): the last "
                   "position of each index in index_put, O(indices + rows)"))

# -- argsort ------------------------------------------------------------------------------
def _argsort_ref(a, at):
    x, ax = a[0], at["axis"]
    if not at["descending"]:
        return np.argsort(x, axis=ax, kind="stable").astype(np.int64)
    # descending and stable: sort the reversed row ascending, reverse the result (ties
    # then keep their original order; NaN, largest in PyTorch's order, comes first)
    n = x.shape[ax]
    rev = np.flip(np.argsort(np.flip(x, ax), axis=ax, kind="stable"), ax)
    return (n - 1 - rev).astype(np.int64)


register(OpDef("argsort", Kind.OPAQUE, 1, lambda args, at: args[0].shape,
               lambda args, at: int64, NOT_DIFFERENTIABLE, _argsort_ref, "argsort",
               doc="stable argsort along attrs['axis'] (ascending, or descending with "
                   "attrs['descending']); NaN is the largest value, as in PyTorch. "
                   "torch.sort's values are a gather at these indices (its gradient a "
                   "scatter_add)"))
