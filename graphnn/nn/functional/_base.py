"""What every functional module shares: running a composite as one compiled graph
(``graph_function``), the module path errors start with (``_where``), argument helpers."""
from __future__ import annotations

import functools
import os

from graphnn import _compile, _inplace, _ops, _trace
from graphnn._tensor import Tensor

_GRAPH_FN_CACHE: dict = {}


def graph_function(fn=None, *, grad_name: str | None = None):
    """Runs ``fn`` as one compiled graph when it is called outside a trace. ``grad_name``
    is the grad_fn name PyTorch gives the result (``SoftmaxBackward0``)."""
    if fn is None:
        return functools.partial(graph_function, grad_name=grad_name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _trace.current() is not None or os.environ.get("GRAPHNN_EAGER"):
            return fn(*args, **kwargs)
        out = _compile.call_traced(fn, fn.__qualname__, list(args), fn.__name__, kwargs,
                                   cache=_GRAPH_FN_CACHE)
        return _ops._named(out, grad_name) if grad_name else out

    return wrapper


def _where(fn: str = "") -> str:
    """The module path that an error message starts with ("conv1: "), or else the name of
    the function ``fn`` ("linear: ") so that every message names where it comes from."""
    tr = _trace.current()
    if tr is not None and tr.scope_name:
        return f"{tr.scope_name}: "
    if tr is not None and tr.module_names and tr.root_name:
        return f"{tr.root_name}: "      # the top-level module being traced
    return f"{fn}: " if fn else ""


def _pair(v, name: str = "value") -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _maybe_inplace(input: Tensor, inplace: bool, name: str, fn) -> Tensor:
    """``fn(input)``, written into ``input`` and returning it when ``inplace`` (PyTorch's
    ``inplace=True``: the input's storage and history are updated)."""
    if inplace:
        return _inplace.inplace(input, name, fn)
    return fn(input)


def _iota(shape, axis):
    tr = _trace.current()
    if tr is not None:
        nid = tr.graph.add("iota", (), {"shape": tuple(shape), "axis": axis, "dtype": "int64"})
        from graphnn.ir.builder import Sym
        return Tensor._symbolic(Sym(tr.graph, nid), False)
    from graphnn._creation import arange
    lead = (1,) * axis + (-1,) + (1,) * (len(shape) - axis - 1)
    return _ops.expand(_ops.reshape(arange(shape[axis]), lead), shape)
