"""Two-stage reductions: a reduction with few outputs and a long reduced run is split.

It applies to reductions whose ``Reducer`` says ``splits`` (sum, amax, amin).

The reduce family runs one work-item per output with a serial loop over the reduced
elements, so ``x.sum()`` of 16M floats ran on one core. Here a reduction whose reduced axes
form one contiguous run of ``R`` elements is rewritten as

    op(x, axes=a..b)  ->  op(op(reshape(x, (..., P, Q, ...)), axis=a+1), axis=a)

with ``P * Q = R``: ``P`` partial results computed in parallel (each a serial, vectorised
loop over ``Q`` contiguous elements), then one reduction over the ``P`` partials (the
two-stage reduction of Harris, "Optimizing Parallel Reduction in CUDA", without the
work-group tree: the second stage is small). ``P`` is the largest divisor of ``R`` that
brings the outputs up to the device's parallelism while keeping ``Q >= MIN_RUN``.

The reduction's elementwise prologue (``(x * x).sum()``, a loss's terms) is rebuilt on
the reshaped operands where every node in it has the reduction input's shape or holds one
value, so the first stage still computes it inline. Where a node reads an operand that
broadcasts otherwise (a row's statistic, a column's weight: ``(layer_norm(x) ** 2).mean()``)
the value at that node is materialised and reshaped instead, which costs a write and a read
of it (nothing, when the backward saves it anyway) and gains the parallel, vectorised first
stage: left whole, such a loss over an 8 x 128 x 256 activation ran in one work-item, 0.5 ms
of scalar loads with 64-bit index arithmetic. Over a symbolic size (the batch) the split
depends only on the static sizes, so that a new batch size keeps reusing the built kernels.
``argmax`` and ``logsumexp`` stay whole: their partials would need an index or a running
maximum carried to the second stage.
"""
from __future__ import annotations

import math

from graphnn.ir.graph import LEAF_OPS, Graph
from graphnn.ir.ops.registry import REGISTRY, Kind, get
from graphnn.ir.passes.dce import dead_code_elimination
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.views import VIEW_OPS, resolve

MIN_RUN = 4096          # elements each partial result reduces at least
MAX_PROLOGUE = 32       # nodes of a prologue rebuilt on reshaped operands
BATCH_SPLIT_MIN = 512   # static elements per batch entry from which a run splits at the batch


def split_reductions(graph: Graph, parallelism: int) -> bool:
    """Splits each reduction with fewer than ``parallelism`` outputs whose reduced run is
    long enough to give every work-item ``MIN_RUN`` elements (see the module docstring)."""
    changed = False
    size = len(graph)
    for n in list(graph.topo()):
        fold = getattr(REGISTRY.get(graph.op(n)), "reducer", None)
        if fold is None or not fold.splits:
            continue
        plan = _plan(graph, n, parallelism)
        if plan is None:
            changed |= _split_leading(graph, n, parallelism)
            continue
        src = graph.args(n)[0]
        shape = graph.type(src).shape
        a, b, parts = plan
        reshaped = shape[:a] + (parts, math.prod(shape[a:b + 1]) // parts) + shape[b + 1:]
        operand = _rebuild(graph, src, reshaped)
        if operand is None:
            continue
        _two_stages(graph, n, operand, (a + 1,), (a,))
        changed = True
    if len(graph) != size:
        dead_code_elimination(graph)     # the original reductions, abandoned rebuilds
    return changed


def _split_leading(graph: Graph, n: int, parallelism: int) -> bool:
    """Splits reduction ``n`` at the batch: a run that starts with a symbolic dim followed
    by static ones of ``BATCH_SPLIT_MIN`` and ``parallelism`` elements or more (a loss's
    mean over (batch, features); shorter rows keep the one kernel, whose few elements do
    not repay a second launch) is reduced over the batch first, one output per static
    position and in parallel (column sums, the prologue computed inline as it is), then
    over those. Its static part is too short for ``_plan``'s partials, and whole it ran in
    one work-item: (layer_norm(x) * y).sum() over 1024 x 768 took 2.0 ms."""
    axes = sorted(graph.attrs(n)["axes"])
    shape = graph.type(graph.args(n)[0]).shape
    if len(axes) < 2 or axes != list(range(axes[0], axes[-1] + 1)):
        return False
    a, b = axes[0], axes[-1]
    outputs = max(1, graph.type(n).numel)
    rest = shape[a + 1:b + 1]
    if not is_symbolic(shape[a]) or is_symbolic(outputs) or outputs >= parallelism or \
            any(is_symbolic(s) for s in rest) or \
            math.prod(rest) < max(parallelism, BATCH_SPLIT_MIN):
        return False
    _two_stages(graph, n, graph.args(n)[0], (a,), tuple(range(a, b)))
    return True


def _two_stages(graph: Graph, n: int, operand: int, first_axes: tuple, final_axes: tuple
                ) -> None:
    """Replaces reduction ``n`` by its op over ``first_axes`` of ``operand``, then over
    ``final_axes`` of that, with ``n``'s type and shape."""
    op, attrs, name = graph.op(n), graph.attrs(n), graph.name(n)
    low = graph.type(n).dtype if graph.type(n).dtype.low_precision and \
        get(op).reducer.sums else None
    # partial sums of 16-bit floats stay float32 (a sum's own accumulator type): the
    # one-stage kernel rounds only its result, as PyTorch's float32 accumulation does
    first = graph.add(op, [operand], {**attrs, "axes": first_axes, "keepdim": False,
                                      **({"dtype": "float32"} if low else {})}, name=name)
    final = graph.add(op, [first], {**attrs, "axes": final_axes, "keepdim": False},
                      name=name)
    if low is not None:
        final = graph.add("cast", [final], {"dtype": low.name}, name=name)
    if graph.type(final).shape != graph.type(n).shape:       # keepdim
        final = graph.add("reshape", [final], {"shape": graph.type(n).shape}, name=name)
    graph.replace_all_uses(n, final)


def _plan(graph: Graph, n: int, parallelism: int) -> tuple[int, int, int] | None:
    """``(first axis, last axis, parts)`` for reduction ``n``, or None to leave it.

    With a symbolic size (the batch) in the run, ``parts`` divides the run's static part
    and is chosen from it alone, so that every batch size gets the same kernels; with a
    symbolic number of outputs the reduction is left whole for the same reason."""
    axes = sorted(graph.attrs(n)["axes"])
    shape = graph.type(graph.args(n)[0]).shape
    if not axes or axes != list(range(axes[0], axes[-1] + 1)):
        return None
    outputs = max(1, graph.type(n).numel)
    if is_symbolic(outputs):
        return None
    run = shape[axes[0]:axes[-1] + 1]
    static = math.prod(s for s in run if not is_symbolic(s))
    want = min(-(-parallelism // outputs), static // MIN_RUN)
    if want < 2:
        return None
    parts = max(p for p in range(1, want + 1) if static % p == 0)
    return (axes[0], axes[-1], parts) if parts >= 2 else None


def _rebuild(graph: Graph, n: int, shape: tuple) -> int | None:
    """A node computing ``n``'s values in ``shape`` (same element count and order): the
    elementwise ops above ``n`` re-added on reshaped operands, down to leaves and other
    kernels, which are reshaped as views. None when a leaf is a view that a reshape could
    only read through a copy."""
    memo: dict[int, int] = {}
    budget = [MAX_PROLOGUE]
    full = graph.type(n).shape

    def elementwise(m: int) -> bool:
        if graph.op(m) in LEAF_OPS or graph.op(m) in VIEW_OPS or not graph.args(m):
            return False
        if "shape" in graph.attrs(m) or "axis" in graph.attrs(m):
            return False    # values that depend on their position (rand, iota)
        return get(graph.op(m)).kind in (Kind.ELEMWISE, Kind.BROADCAST) and all(
            graph.type(a).shape == full or graph.type(a).numel == 1 for a in graph.args(m))

    def visit(m: int) -> int | None:
        if m in memo:
            return memo[m]
        t = graph.type(m)
        if t.numel == 1 and t.shape != full:
            out = m if not t.shape else graph.add("reshape", [m], {"shape": ()})
        elif graph.op(m) == "expand" and graph.type(graph.args(m)[0]).numel == 1:
            out = visit(graph.args(m)[0])        # one value broadcast: a 0-d operand
        elif elementwise(m) and budget[0] > 0:
            budget[0] -= 1
            args = [visit(a) for a in graph.args(m)]
            if any(a is None for a in args):
                return None
            out = graph.add(graph.op(m), args, graph.attrs(m), name=graph.name(m),
                            meta=graph.meta(m))
        else:
            # a value the first stage cannot compute on the reshaped index (a broadcast
            # row or column operand: layer norm's statistics and affine) is materialised
            # and read back: a pass over memory instead of one work-item for the whole run
            view = resolve(graph, m)
            if view is None or not view.contiguous:
                return None
            out = graph.add("reshape", [m], {"shape": shape}, name=graph.name(m))
        memo[m] = out
        return out

    return visit(n)


__all__ = ["split_reductions", "MIN_RUN"]
