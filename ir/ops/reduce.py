"""Reductions over a set of axes: sum, max, min, and argmax."""
from __future__ import annotations

import numpy as np

from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, Reducer, register
from graphnn.ir.types import bool_, by_name, int32, int64


def _rshape(args, at) -> tuple:
    shape, axes = args[0].shape, at["axes"]
    if at["keepdim"]:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _keep_shape(args, at) -> tuple:
    return tuple(1 if i in at["axes"] else s for i, s in enumerate(args[0].shape))


def _sum_dtype(args, at):
    if at.get("dtype"):     # an accumulator type of its own: float32 partial sums of 16-bit
        return by_name(at["dtype"])
    return int64 if args[0].dtype in (bool_, int32, int64) else args[0].dtype


def _sum_vjp(c, g):
    return [g.reshape(_keep_shape(c.types, c.attrs)).expand(c.types[0].shape)]


def _minmax_vjp(c, g):
    # PyTorch's amax/amin rule: the gradient is shared evenly between tied extrema
    x = c.args[0]
    keep = _keep_shape(c.types, c.attrs)
    y = c.out.reshape(keep)
    mask = x.eq(y).cast(x.dtype)
    count = mask.sum(c.attrs["axes"], keepdim=True)
    return [g.reshape(keep) * mask / count]


def _np_reduce(fn):
    return lambda a, at: fn(a[0], axis=tuple(at["axes"]), keepdims=at["keepdim"])


# the first extremum of the run wins, as in PyTorch's max/argmax
_KEEP_MAX = "if (r == 0 || v > acc) { acc = v; best = r; }"
_KEEP_MIN = "if (r == 0 || v < acc) { acc = v; best = r; }"
# floats: NaN wins, at its first position (torch.amax and argmax); v != v is the NaN test
# without a builtin call (on integers the compiler warns that it is always false)
_NAN_MAX = "if (r == 0 || v > acc || (v != v && acc == acc)) { acc = v; best = r; }"
_NAN_MIN = "if (r == 0 || v < acc || (v != v && acc == acc)) { acc = v; best = r; }"

register(OpDef("sum", Kind.REDUCE, 1, _rshape, _sum_dtype, _sum_vjp, _np_reduce(np.sum),
               "reduce", doc="sum over attrs['axes'] (in attrs.get('dtype') when given)",
               grad_name="Sum",
               reducer=Reducer("acc += v;", sums=True, splits=True)))
register(OpDef("max", Kind.REDUCE, 1, _rshape, lambda args, at: args[0].dtype, _minmax_vjp,
               _np_reduce(np.max), "reduce", doc="maximum over attrs['axes'] (amax)",
               grad_name="Amax", reducer=Reducer(_KEEP_MAX, _NAN_MAX, splits=True)))
register(OpDef("min", Kind.REDUCE, 1, _rshape, lambda args, at: args[0].dtype, _minmax_vjp,
               _np_reduce(np.min), "reduce", doc="minimum over attrs['axes'] (amin)",
               grad_name="Amin", reducer=Reducer(_KEEP_MIN, _NAN_MIN, splits=True)))


def _argmax_ref(a, at):
    out = np.argmax(a[0], axis=at["axes"][0])
    return np.expand_dims(out, at["axes"][0]) if at["keepdim"] else out


register(OpDef("argmax", Kind.REDUCE, 1, _rshape, lambda args, at: int64, NOT_DIFFERENTIABLE,
               _argmax_ref, "reduce",
               doc="index of the first maximum along the single axis in attrs['axes']",
               reducer=Reducer(_KEEP_MAX, _NAN_MAX, index=True)))


def _lse_ref(a, at):
    x = a[0]
    axes = tuple(at["axes"])
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    safe = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - safe), axis=axes, keepdims=True)) + safe
    # a maximum of -inf: log(0) = -inf, or NaN from a NaN in the run (safe is 0 there)
    out = np.where(np.isfinite(m) | (m == -np.inf), out, np.nan)
    return out if at["keepdim"] else np.squeeze(out, axis=axes)


def _lse_vjp(c, g):
    keep = _keep_shape(c.types, c.attrs)
    return [g.reshape(keep) * (c.args[0] - c.out.reshape(keep)).op("exp")]


register(OpDef("logsumexp", Kind.REDUCE, 1, _rshape, lambda args, at: args[0].dtype, _lse_vjp,
               _lse_ref, "reduce",
               doc="log(sum(exp(x))) over attrs['axes'], one pass with a running maximum; "
                   "-inf for an empty run or one of only -inf (log 0, as torch.logsumexp), "
                   "NaN where the maximum is +inf or NaN (the softmax family's x - max is "
                   "NaN there in PyTorch, and every user of this op is that family)",
               # online log-sum-exp: rescale the running sum whenever the maximum grows; a
               # -inf adds nothing (exp(-inf - -inf) would be NaN: a row that starts masked)
               reducer=Reducer("if (v > run_max) { acc = acc * exp(run_max - v) + 1; "
                               "run_max = v; } else if (v != -INFINITY) "
                               "{ acc += exp(v - run_max); }",
                               # run_max - run_max: 0, or NaN for an infinite maximum;
                               # nothing above -inf summed (and no NaN): log(0)
                               finish="acc = (run_max - run_max == 0) ? run_max + log(acc) "
                                      ": run_max == -INFINITY && acc == 0 ? run_max "
                                      ": run_max - run_max;")))
