"""Every tensor op goes through ``apply``: it adds a node when tracing, else runs a cached
one-op compiled graph on the device (an *eager op*). Eager view ops run no kernel: the
result shares the input's storage (``graphnn/_storage.py``).

Python scalars in eager ops are 0-d graph inputs (``scalar_tensor``), not constants baked
into the kernel: ``x * lr`` with a new ``lr`` every step reuses the compiled op. The same
cached 0-d tensors carry per-step scalars into traced functions (the optimizers' learning
rates and bias corrections)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from graphnn import autograd
from graphnn._compile import CompiledGraph
from graphnn._tensor import Tensor
from graphnn._trace import current
from graphnn.ir.graph import Graph
from graphnn.ir.ops import get, infer_type
from graphnn.ir.types import DType, TensorType, bool_, float32, int64, promote
from graphnn.ir.views import VIEW_OPS
from graphnn.runtime import get_runtime

_EAGER: dict = {}


def scalar_dtype(value, other: DType) -> DType:
    """PyTorch's rule for a Python scalar meeting a tensor of dtype ``other``. A bool is
    bool (the lowest dtype: promotion then gives PyTorch's result, and a ``where``
    condition stays a condition)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64 if other == bool_ else other
    return other if other.is_float else float32


# least recently used last out; the learning rate and betas of a training loop stay while
# per-step values (bias corrections, a decaying learning rate) pass through
_SCALARS: OrderedDict = OrderedDict()
SCALARS_MAX = 64


def scalar_tensor(value, dtype: DType) -> Tensor:
    """A 0-d device tensor holding ``value``, uploaded once per distinct (value, dtype) and
    shared: a graph input for a scalar that changes between calls. Never written in place.
    At most ``SCALARS_MAX`` are kept (least recently used go first), so a schedule of
    distinct values keeps memory flat."""
    rt = get_runtime()
    key = (type(value), value, dtype.name, id(rt))
    t = _SCALARS.get(key)
    if t is None:
        if len(_SCALARS) >= SCALARS_MAX:
            _SCALARS.popitem(last=False)
        t = _SCALARS[key] = Tensor._wrap(rt.upload(np.array(value, dtype.np), private=True,
                                                   dtype=dtype), TensorType((), dtype))
    else:
        _SCALARS.move_to_end(key)
    return t


def _freeze(attrs: dict) -> tuple:
    return tuple(sorted(attrs.items()))


def apply(op: str, *args, **attrs):
    """Applies IR op ``op`` to tensors and Python scalars; returns one Tensor."""
    # Python scalars take their type from the tensors' common type, not the first
    # tensor's: where(mask, half_x, 0.0) is half, x.clamp(max=0.6) of a float64 x float64
    ref_dtype = None
    for a in args:
        if isinstance(a, Tensor):
            ref_dtype = a.dtype if ref_dtype is None else promote(ref_dtype, a.dtype)
    ref_dtype = ref_dtype or float32
    requires = autograd.is_grad_enabled() and any(
        isinstance(a, Tensor) and a.requires_grad for a in args)
    tracer = current()
    if tracer is not None:
        ids = [a if isinstance(a, Tensor) else tracer.const(a, scalar_dtype(a, ref_dtype))
               for a in args]
        out = tracer.apply(op, ids, attrs, requires)
        if op in VIEW_OPS:
            tracer.mark_view(out, args[0], op, attrs)
        if not autograd.is_grad_enabled():
            view = out
            out = tracer.apply("detach", [view], {}, False)
            if op in VIEW_OPS:
                tracer.mark_view(out, view, "detach", {})
        return out
    scalars = [None if isinstance(a, Tensor) else _eager_scalar_dtype(op, i, a, ref_dtype)
               for i, a in enumerate(args)]
    key = (op, id(get_runtime()), _freeze(attrs), tuple(
        (tuple(a.shape), a.dtype.name, a.requires_grad and requires) if isinstance(a, Tensor)
        else ("s", d.name) for a, d in zip(args, scalars)))
    if op in VIEW_OPS:
        out = _eager_view(key, op, args[0], attrs, requires)
        if out is not None:
            return out
    return _eager_graph(key, op, args, attrs, ref_dtype).run(
        [a if isinstance(a, Tensor) else scalar_tensor(a, d) for a, d in zip(args, scalars)])[0]


def _eager_scalar_dtype(op: str, position: int, value, ref: DType) -> DType:
    """The type of an eager op's scalar input: float32 where PyTorch reads a scalar
    operand of 16-bit tensors in float32 (the registry's ``scalar_opmath``: ``x * 0.1``
    rounds once, not 0.1 first; ``_build`` casts the result back to the op's own dtype),
    else the tensors' type. In a trace the scalars are literals and ``codegen/emit.py``
    applies the same rule."""
    d = scalar_dtype(value, ref)
    if ref.low_precision and d == ref and position in get(op).scalar_opmath:
        return float32
    return d


def _eager_graph(key, op: str, args, attrs, ref_dtype) -> CompiledGraph:
    cg = _EAGER.get(key)
    if cg is None:
        cg = _EAGER[key] = _build(op, args, attrs, ref_dtype)
    return cg


def _eager_view(key, op: str, a: Tensor, attrs: dict, requires: bool) -> Tensor | None:
    """The view ``op(a)`` sharing ``a``'s storage, with a tape node for its gradient; None
    when strides cannot express it (a reshape of a non-contiguous tensor copies)."""
    try:
        t = infer_type(op, [a._type], attrs)
    except (ValueError, TypeError) as e:
        raise RuntimeError(str(e)) from None
    out = a._view_data(op, attrs, t)
    if out is None:
        return None
    if requires:
        node = _eager_graph(key, op, (a,), attrs, a.dtype).record([a])
        out._grad_fn, out._requires_grad = node, True
    elif not autograd.is_grad_enabled():
        out._no_grad_view = True    # its history is never rebuilt (PyTorch: no-grad views)
    return out


def _build(op: str, args, attrs, ref_dtype) -> CompiledGraph:
    g = Graph()
    ids = []
    for a in args:
        t = a._type if isinstance(a, Tensor) else \
            TensorType((), _eager_scalar_dtype(op, len(ids), a, ref_dtype))
        ids.append(g.add_input(t))
    try:
        want = infer_type(op, [a._type if isinstance(a, Tensor) else
                               TensorType((), scalar_dtype(a, ref_dtype)) for a in args], attrs)
        infer_type(op, [g.type(i) for i in ids], attrs)
    except (ValueError, TypeError) as e:
        raise RuntimeError(str(e)) from None
    out = g.add(op, ids, attrs)
    if g.type(out).dtype != want.dtype:     # a float32 scalar operand (opmath): round once
        out = g.add("cast", [out], {"dtype": want.dtype.name})
    g.outputs = [out]
    cg = CompiledGraph(g, len(g.inputs), f"eager_{op}", None)
    cg.named_op = op
    return cg
