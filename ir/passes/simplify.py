"""Small local rewrites: identity ops, view chains, constant arithmetic identities."""
from __future__ import annotations

import math

from graphnn.ir.graph import LEAF_OPS, Graph
from graphnn.ir.ops import REGISTRY, Kind
from graphnn.ir.passes.dce import dead_code_elimination
from graphnn.ir.types import broadcast_shapes
from graphnn.ir.views import VIEW_OPS

# a slice pushed below elementwise ops copies the chain it crosses: bound the copy
PUSH_DEPTH = 8


def _const(graph: Graph, n: int):
    return graph.attrs(n)["value"] if graph.op(n) == "const" else None


def simplify(graph: Graph) -> bool:
    """Removes detach/identity views/no-op casts, folds reshape and permute chains and
    x*1, x+0, x-0, x/1 where the other operand already has the result's type."""
    changed = False
    for n in graph.topo():
        if n not in graph:
            continue
        op, args, t = graph.op(n), graph.args(n), graph.type(n)
        repl = None
        if op in ("detach", "straight_through"):     # gradient-only ops, after autodiff
            repl = args[0]
        elif op in ("reshape", "expand", "cast") and graph.type(args[0]) == t:
            repl = args[0]
        elif op == "permute" and tuple(graph.attrs(n)["dims"]) == tuple(range(len(t.shape))):
            repl = args[0]
        elif op == "reshape" and _drops_kept_dims(graph, n):
            # sum(x, keepdim=True).reshape(without its 1s) is sum(x, keepdim=False): the
            # value keeps its reduction's index space, so a bias update can be the epilogue
            # of the bias gradient's sum (unbroadcast and a bias's reshape leave this form)
            r = args[0]
            repl = graph.add(graph.op(r), graph.args(r), {**graph.attrs(r), "keepdim": False},
                             name=graph.name(r), meta=graph.meta(r))
        elif op == "reshape" and graph.op(args[0]) == "reshape":
            graph.set_arg(n, 0, graph.args(args[0])[0])
            changed = True
            if graph.type(graph.args(n)[0]) == t:      # the chain was an identity
                repl = graph.args(n)[0]
        elif op == "reshape" and _swaps_last_two(graph, args[0]) and len(t.shape) >= 2 and \
                t.shape[-2:] == graph.type(args[0]).shape[-2:]:
            # reshape(x.transpose(-2, -1)) that only merges or splits leading dims is
            # reshape(x).transpose(-2, -1): a 4-D attention's q @ k.transpose(-2, -1), its
            # heads flattened to one batch, then reads k through the product's transposition
            # flag (it ran the generic kernel: 32 heads of 128 x 128 x 64 in 2.5 ms, not 0.5)
            x = graph.args(args[0])[0]
            inner = graph.add("reshape", [x], {"shape": t.shape[:-2] + (t.shape[-1], t.shape[-2])},
                              name=graph.name(n), meta=graph.meta(n))
            r = len(t.shape)
            repl = graph.add("permute", [inner], {"dims": (*range(r - 2), r - 1, r - 2)},
                             name=graph.name(args[0]), meta=graph.meta(args[0]))
        elif op == "concat" and _stacks_reshapes(graph, n):
            # stacking x_i.reshape(1, *s) is concat(x_i).reshape: the slices' gradient of an
            # unrolled loop is this, and the concatenation of the x_i themselves (a merged
            # sum of products, its inner dims laid end to end) is then the same node
            inner = graph.add("concat", [graph.args(a)[0] for a in args], {"axis": 0},
                              name=graph.name(n), meta=graph.meta(n))
            repl = graph.add("reshape", [inner], {"shape": t.shape}, name=graph.name(n))
        elif op in ("mul", "div") and _const(graph, args[1]) == 1 and graph.type(args[0]) == t:
            repl = args[0]
        elif op in ("add", "sub") and _const(graph, args[1]) == 0 and graph.type(args[0]) == t:
            repl = args[0]
        elif op in ("mul", "add") and _const(graph, args[0]) == (1 if op == "mul" else 0) \
                and graph.type(args[1]) == t:
            repl = args[1]
        elif op == "slice" and _elementwise(graph, args[0]) and \
                t.numel < graph.type(args[0]).numel:
            repl = _slice_of(graph, args[0], graph.attrs(n), PUSH_DEPTH)
        elif _sinks_reshape(graph, n):
            # relu(reshape(y)) is reshape(relu(y)): the op joins y's kernel (a Linear on a
            # 3-D input multiplies a reshaped 2-D view, and its activation read the product
            # through the reshape back to 3-D, as a kernel of its own); so is the ReLU's
            # gradient where(reshape(y) > 0, reshape(dY), 0), in the kernel of dY's product
            r = next(a for a in args if graph.op(a) == "reshape")
            shape = graph.type(graph.args(r)[0]).shape
            inner = graph.add(op, [graph.args(a)[0] if graph.op(a) == "reshape" else
                                   _in_shape(graph, a, t.shape, shape) for a in args],
                              graph.attrs(n), name=graph.name(n), meta=graph.meta(n))
            repl = graph.add("reshape", [inner], {"shape": t.shape}, name=graph.name(r),
                             meta=graph.meta(r))
        elif op == "matmul" and any(_swaps_last_two(graph, a) for a in args):
            # a @ b.transpose(-1, -2) reads b through its transposition flag: the GEMM
            # kernels' fast layouts know ta/tb, not a permuted view (attention's q @ k^T ran
            # the generic batched kernel at a tenth of the speed)
            at = dict(graph.attrs(n))
            new_args = list(args)
            for i, flag in ((0, "ta"), (1, "tb")):
                if _swaps_last_two(graph, args[i]):
                    new_args[i] = graph.args(args[i])[0]
                    at[flag] = not at[flag]
            repl = graph.add("matmul", new_args, at, name=graph.name(n), meta=graph.meta(n))
        if repl is not None and repl != n:
            graph.replace_all_uses(n, repl)
            changed = True
    if changed:
        dead_code_elimination(graph)
    return changed


def _elementwise(graph: Graph, n: int) -> bool:
    """An op computed at each output index from its arguments broadcast to the output."""
    op = graph.op(n)
    if op not in REGISTRY or op in VIEW_OPS or not graph.args(n) or \
            REGISTRY[op].kind not in (Kind.ELEMWISE, Kind.BROADCAST):
        return False
    shape: tuple[int, ...] = ()
    for a in graph.args(n):
        shape = broadcast_shapes(shape, graph.type(a).shape)
    return shape == graph.type(n).shape


def _slice_of(graph: Graph, n: int, at: dict, depth: int) -> int:
    """A node computing ``n[starts:stops:steps]``: a slice of an elementwise op becomes the op
    of its arguments' slices. A small slice of a computed value (BatchNorm's shift, one value
    per channel) then reads the values below it instead of making the whole value a stored
    kernel output; the chain it crosses is computed again at the sliced positions only."""
    t = graph.type(n)
    if not _elementwise(graph, n) or depth == 0:
        return graph.add("slice", [n], at)
    rank = len(t.shape)
    new_args = []
    for a in graph.args(n):
        sa = graph.type(a).shape
        lead = rank - len(sa)
        if math.prod(sa) == 1 and graph.op(a) == "const":
            new_args.append(a)
            continue
        # aligned from the right; a broadcast dim (size 1 against a larger one) keeps its row
        starts, stops, steps = [], [], []
        for d in range(lead, rank):
            if sa[d - lead] == 1 and t.shape[d] != 1:
                starts.append(0), stops.append(1), steps.append(1)
            else:
                starts.append(at["starts"][d]), stops.append(at["stops"][d])
                steps.append(at["steps"][d])
        if all(b == 0 and e == s_ and st == 1 for b, e, st, s_ in zip(starts, stops, steps, sa)):
            new_args.append(a)
            continue
        new_args.append(_slice_of(graph, a, {"starts": tuple(starts), "stops": tuple(stops),
                                             "steps": tuple(steps)}, depth - 1))
    return graph.add(graph.op(n), new_args, graph.attrs(n), name=graph.name(n),
                     meta=graph.meta(n))


# elementwise ops whose attributes name the result's shape: not computed in another one
_SHAPED = frozenset({"expand", "iota", "rand", "randint"})


def reshapable(op: str) -> bool:
    """An elementwise op computed from its operands' values alone, so that it can be
    computed in another shape of its operands (reshaped, or in a product's layout)."""
    return op in REGISTRY and op not in _SHAPED and \
        REGISTRY[op].kind in (Kind.ELEMWISE, Kind.BROADCAST)
LEAFWISE_DEPTH = 2      # elementwise ops over leaves that _sinks_reshape computes again


def _sinks_reshape(graph: Graph, n: int) -> bool:
    """``n`` is an elementwise op whose arguments are reshapes of values of one shape, each
    read only by ``n``, or single values that broadcast into that shape, and one of them
    reshapes a computed value that is not a view: the op can be applied before the
    reshape."""
    if not reshapable(graph.op(n)):
        return False
    args = graph.args(n)
    shape = graph.type(n).shape
    reshapes = [a for a in args if graph.op(a) == "reshape"]
    if not reshapes:
        return False
    inner = graph.type(graph.args(reshapes[0])[0]).shape
    computed = False
    for a in args:
        if graph.op(a) != "reshape":
            t = graph.type(a)
            if _leafwise(graph, a, shape, n, LEAFWISE_DEPTH):
                continue
            if t.numel != 1 or broadcast_shapes(t.shape, inner) != inner:
                return False
            continue
        y = graph.args(a)[0]
        if a in graph.outputs or graph.type(a).shape != shape or \
                graph.type(y).shape != inner:
            return False
        # users that earlier rewrites of this pass left dead (a detach, now read by nobody)
        # do not count: the pass's dead-code elimination removes them
        if any(u != n and (graph.users(u) or u in graph.outputs) for u, _ in graph.users(a)):
            return False
        computed |= graph.op(y) not in VIEW_OPS and graph.op(y) not in LEAF_OPS
    return computed


def _leafwise(graph: Graph, a: int, shape: tuple, user: int, depth: int) -> bool:
    """``a`` (an argument of ``user``, of ``shape``) is a leaf of that shape, or an
    elementwise op of such leaves and single values read only by ``user``: it can be
    computed in another shape of as many elements from reshapes of its leaves (free views:
    leaves are dense). The mask of an eager ReLU's gradient, ``saved > 0``."""
    t = graph.type(a)
    if t.shape != shape or a in graph.outputs:
        return False
    op = graph.op(a)
    if op in LEAF_OPS:
        return True
    if depth == 0 or not reshapable(op) or any(u != user for u, _ in graph.users(a)):
        return False
    return all(graph.type(b).shape == () or _leafwise(graph, b, shape, a, depth - 1)
               for b in graph.args(a))


def _in_shape(graph: Graph, a: int, shape: tuple, inner: tuple) -> int:
    """``a`` (``_leafwise`` in ``shape``, or a 0-d value) computed in shape ``inner``."""
    if graph.type(a).shape != shape:
        return a
    if graph.op(a) in LEAF_OPS:
        return graph.add("reshape", [a], {"shape": inner}, name=graph.name(a))
    return graph.add(graph.op(a), [_in_shape(graph, b, shape, inner) for b in graph.args(a)],
                     graph.attrs(a), name=graph.name(a), meta=graph.meta(a))


def _stacks_reshapes(graph: Graph, n: int) -> bool:
    """``n`` concatenates, along axis 0, reshapes to (1, *s) of values of one shape with at
    least one dim (each value's elements are then one contiguous block of the result)."""
    args = graph.args(n)
    if graph.attrs(n)["axis"] != 0 or not all(graph.op(a) == "reshape" for a in args):
        return False
    inner = {graph.type(graph.args(a)[0]) for a in args}
    shape = graph.type(args[0]).shape
    return len(inner) == 1 and len(next(iter(inner)).shape) >= 1 and shape[0] == 1 and \
        all(graph.type(a).shape == shape for a in args)


def _swaps_last_two(graph: Graph, n: int) -> bool:
    """``n`` is a permute that swaps the last two dims and keeps the others in place."""
    if graph.op(n) != "permute":
        return False
    r = len(graph.type(n).shape)
    return r >= 2 and tuple(graph.attrs(n)["dims"]) == (*range(r - 2), r - 1, r - 2)


def _drops_kept_dims(graph: Graph, n: int) -> bool:
    """``n`` reshapes a keepdim reduction, its single user, to the reduction's shape
    without the kept dims."""
    r = graph.args(n)[0]
    op = graph.op(r)
    if op not in REGISTRY or REGISTRY[op].reducer is None or not graph.attrs(r).get("keepdim") \
            or len(graph.users(r)) != 1 or r in graph.outputs:
        return False
    axes = set(graph.attrs(r)["axes"])
    shape = graph.type(r).shape
    return tuple(s for i, s in enumerate(shape) if i not in axes) == graph.type(n).shape
