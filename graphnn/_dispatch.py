"""Every tensor op goes through ``apply``: it adds a node when tracing, else runs a cached
one-op compiled graph on the device (an eager op)."""
from __future__ import annotations

from graphnn import autograd
from graphnn._trace import current
from graphnn.ir.graph import Graph
from graphnn.ir.ops import infer_type
from graphnn.ir.types import DType, TensorType, bool_, float32, int64

_EAGER: dict = {}


def scalar_dtype(value, other: DType) -> DType:
    """PyTorch's rule for a Python scalar meeting a tensor of dtype ``other``."""
    if isinstance(value, bool):
        return other
    if isinstance(value, int):
        return int64 if other == bool_ else other
    return other if other.is_float else float32


def _freeze(attrs: dict) -> tuple:
    return tuple(sorted(attrs.items()))


def apply(op: str, *args, **attrs):
    """Applies IR op ``op`` to tensors and Python scalars; returns one Tensor."""
    from graphnn._tensor import Tensor

    ref = next((a for a in args if isinstance(a, Tensor)), None)
    ref_dtype = ref.dtype if ref is not None else float32
    requires = autograd.is_grad_enabled() and any(
        isinstance(a, Tensor) and a.requires_grad for a in args)
    tracer = current()
    if tracer is not None:
        ids = [a if isinstance(a, Tensor) else tracer.const(a, scalar_dtype(a, ref_dtype))
               for a in args]
        out = tracer.apply(op, ids, attrs, requires)
        if not autograd.is_grad_enabled():
            out = tracer.apply("detach", [out], {}, False)
        return out
    key = (op, _freeze(attrs), tuple(
        (tuple(a.shape), a.dtype.name, a.requires_grad and requires) if isinstance(a, Tensor)
        else ("s", type(a).__name__, a, scalar_dtype(a, ref_dtype).name) for a in args))
    cg = _EAGER.get(key)
    if cg is None:
        cg = _build(op, args, attrs, ref_dtype)
        _EAGER[key] = cg
    return cg.run([a for a in args if isinstance(a, Tensor)])[0]


def _build(op: str, args, attrs, ref_dtype):
    from graphnn._compile import CompiledGraph
    from graphnn._tensor import Tensor

    g = Graph()
    ids = []
    for a in args:
        if isinstance(a, Tensor):
            ids.append(g.add_input(a._type))
        else:
            ids.append(g.add_const(a, TensorType((), scalar_dtype(a, ref_dtype))))
    try:
        infer_type(op, [g.type(i) for i in ids], attrs)
    except (ValueError, TypeError) as e:
        raise RuntimeError(str(e)) from None
    g.outputs = [g.add(op, ids, attrs)]
    return CompiledGraph(g, len(g.inputs), f"eager_{op}", None)
