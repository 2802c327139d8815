"""Convolutions as matrix products: ``conv2d`` and its two gradients over ``im2col``
columns, so that they run on the register-blocked GEMM (``codegen/gemm.py``) instead of
the direct convolution kernels.

With the weight as an O x K matrix (K = C*kH*kW) and the columns of the input as a K x
(N*OH*OW) matrix (``ir/ops/unfold.py``), for a convolution with one group:

- forward: ``Y = W @ cols``, (O, N*OH*OW), read back as (N, O, OH, OW) through a permute;
  its elementwise consumers with per-channel operands are computed on Y, as the product's
  epilogue (``_epilogue_in_product_layout``);
- weight gradient: ``dW = dY' @ cols^T``, dY' the gradient as (O, N*OH*OW) (one copy);
- input gradient: ``dX = col2im(W^T @ dY')``.

One product covers the batch: its N is the batch's output positions (392 to 25,088 for
ResNet-18's stages at batch 8), and the weight gradient's K runs over them, so no
per-image partial weights are summed. The backward computes the columns again from the
saved input rather than keeping them from the forward (9x the input, per layer).

Which convolutions: ``as_gemm``. The direct kernels stay for narrow layers (LeNet: 1 -> 6
-> 16 channels), grouped convolutions and wide unstrided images, where they are as fast as
the product without its columns (docs/design.md, "Convolutions as GEMMs").
"""
from __future__ import annotations

from graphnn.ir.graph import Graph
from graphnn.ir.passes.dce import dead_code_elimination
from graphnn.ir.passes.simplify import reshapable

# both channel counts at least this; LeNet's layers (1 -> 6 -> 16) stay direct
MIN_CHANNELS = 16
OPS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad")
# outputs per row, in vectors of the device, up to which a product beats the direct kernel:
# the forward's row kernels hold whole rows, the gradients' sum over them
ROW_VECTORS = {"conv2d": 0.5, "conv2d_input_grad": 2, "conv2d_weight_grad": 2}
# columns of more elements than this stay direct: 512 MiB of float32 (ResNet-18's largest at
# batch 8 are 7M), and well within 32-bit indexing for devices without 64-bit index math
MAX_COLUMNS = 1 << 27


def as_gemm(op: str, x_shape, w_shape, out_shape, at: dict, lanes: int) -> bool:
    """Whether convolution ``op`` (``conv2d`` or one of its gradients) of an input of
    ``x_shape`` (N, C, H, W), a weight of ``w_shape`` (O, C, kH, kW) and an output of
    ``out_shape`` (N, O, OH, OW) runs as a GEMM on a device of ``lanes`` float lanes.

    The direct kernels vectorise along the output's rows and run near the GEMM's speed on
    wide images; they lose on strided convolutions (their rows are read at a stride), on
    short rows, and, for the weight gradient, on 1 x 1 kernels. Measured on an Emerald
    Rapids Xeon (16 lanes), batch 8, ms of direct against GEMM (with its im2col, col2im and
    copies) for forward / input gradient / weight gradient: 3 x 3 at 64 ch 56 x 56: 8.5 /
    9.0 / 16.0 against 19.2 / 17.0 / 24.3; 128 ch 28 x 28: 8.5 / 11.0 / 15.2 against 13.6
    / 10.8 / 13.3; 256 ch 14 x 14: 9.8 / 11.2 / 16.5 against 12.6 / 8.9 / 11.9; 512 ch 7 x
    7: 15.4 / 18.4 / 17.1 against 13.6 / 9.2 / 8.2; stride 2, 64 -> 128 ch at 56 x 56:
    13.0 / 10.9 / 24.2 against 6.4 / 7.2 / 6.6; 1 x 1 at 256 ch 28 x 28: 4.5 / 5.3 / 15.9
    against 4.8 / 4.7 / 4.8; 32 ch at 64 x 64: 9.2 in all against 27.9. Columns past
    ``MAX_COLUMNS`` elements stay direct (a large batch: the columns' memory, and a symbolic
    batch counts by its value, as each new input signature is lowered again)."""
    columns = w_shape[1] * w_shape[2] * w_shape[3] * out_shape[0] * out_shape[2] * out_shape[3]
    if at["groups"] != 1 or min(w_shape[0], w_shape[1]) < MIN_CHANNELS or \
            columns > MAX_COLUMNS:
        return False
    if max(at["stride"]) > 1 or op == "conv2d_weight_grad" and tuple(w_shape[2:]) == (1, 1):
        return True
    return out_shape[3] <= ROW_VECTORS[op] * lanes


def _geometry(graph: Graph, n: int) -> tuple[tuple, tuple, tuple, dict]:
    """(x's shape, w's shape, the output's shape, im2col attrs) of convolution ``n``."""
    op, args, at = graph.op(n), graph.args(n), graph.attrs(n)
    x_shape = graph.type(args[0]).shape if op != "conv2d_input_grad" else at["shape"]
    w_shape = graph.type(args[1]).shape if op != "conv2d_weight_grad" else at["shape"]
    out_shape = graph.type(n).shape if op == "conv2d" else \
        graph.type(args[0 if op == "conv2d_input_grad" else 1]).shape
    cols = {"kernel": tuple(w_shape[2:]), "stride": tuple(at["stride"]),
            "padding": tuple(at["padding"]), "dilation": tuple(at["dilation"])}
    return tuple(x_shape), tuple(w_shape), tuple(out_shape), cols


def lower_convolutions(graph: Graph, lanes: int, enabled: bool = True) -> bool:
    """Rewrites each ``conv2d``, ``conv2d_input_grad`` and ``conv2d_weight_grad`` that
    ``as_gemm`` picks for a device of ``lanes`` float lanes as a GEMM over columns."""
    if not enabled:
        return False
    changed = False
    for n in graph.topo():
        if graph.op(n) not in OPS:
            continue
        x_shape, w_shape, out_shape, cols = _geometry(graph, n)
        if not as_gemm(graph.op(n), x_shape, w_shape, out_shape, graph.attrs(n), lanes):
            continue
        out = _lower(graph, n, x_shape, w_shape, cols)
        graph.replace_all_uses(n, out)
        if graph.op(n) == "conv2d":
            _epilogue_in_product_layout(graph, out)
        changed = True
    if changed:
        dead_code_elimination(graph)
    return changed


def _lower(graph: Graph, n: int, x_shape: tuple, w_shape: tuple, cols: dict) -> int:
    op, args, meta, name = graph.op(n), graph.args(n), graph.meta(n), graph.name(n)
    batch = x_shape[0]
    o, k = w_shape[0], w_shape[1] * w_shape[2] * w_shape[3]

    def add(kind, inputs, attrs):
        return graph.add(kind, inputs, attrs, name=name, meta=meta)

    def columns(x):                       # (K, N*OH*OW)
        c = add("im2col", [x], cols)
        shape = graph.type(c).shape
        return add("reshape", [c], {"shape": (k, batch * shape[4] * shape[5])}), shape

    def as_rows(gy):                      # dY (N, O, OH, OW) -> (O, N*OH*OW), one copy
        oh, ow = graph.type(gy).shape[2:]
        t = add("permute", [gy], {"dims": (1, 0, 2, 3)})
        return add("reshape", [t], {"shape": (o, batch * oh * ow)})

    if op == "conv2d":
        x, w = args
        c, shape = columns(x)
        wm = add("reshape", [w], {"shape": (o, k)})
        y = add("matmul", [wm, c], {"ta": False, "tb": False})
        y = add("reshape", [y], {"shape": (o, batch, shape[4], shape[5])})
        return add("permute", [y], {"dims": (1, 0, 2, 3)})
    if op == "conv2d_weight_grad":
        x, gy = args
        c, _ = columns(x)
        dw = add("matmul", [as_rows(gy), c], {"ta": False, "tb": True})
        return add("reshape", [dw], {"shape": tuple(w_shape)})
    gy, w = args
    wm = add("reshape", [w], {"shape": (o, k)})
    dc = add("matmul", [wm, as_rows(gy)], {"ta": True, "tb": False})
    oh, ow = graph.type(gy).shape[2:]
    dc = add("reshape", [dc], {"shape": (w_shape[1], *w_shape[2:], batch, oh, ow)})
    return add("col2im", [dc], {"shape": tuple(x_shape), **cols})


# per-channel operands computed by elementwise ops of at most this depth are computed again
# in the product's layout (a folded BatchNorm's 1 / sqrt(var + eps)) rather than stored
REBUILD_DEPTH = 8


def _in_layout(graph: Graph, b: int, small: tuple, channels: int, depth: int) -> int:
    """Per-channel operand ``b`` in the product's layout ``small`` ((O, 1) or (1, 1)): a
    reshape of a leaf, or, for an elementwise op of per-channel values, the op on their
    reshapes: a reshape of a computed value is a layout change that fusion stores, and
    the product's epilogue would read a kernel of its own (one more launch per layer)."""
    t = graph.type(b)
    if not t.shape or t.shape == small:
        return b
    op = graph.op(b)
    if depth > 0 and reshapable(op) and graph.args(b):
        inner = [_per_channel(graph, a, channels) for a in graph.args(b)]
        if all(i is not None for i in inner):
            return graph.add(op, [_in_layout(graph, a, i, channels, depth - 1)
                                  for a, i in zip(graph.args(b), inner)],
                             graph.attrs(b), name=graph.name(b), meta=graph.meta(b))
    return graph.add("reshape", [b], {"shape": small}, name=graph.name(b))


def _per_channel(graph: Graph, b: int, channels: int) -> tuple | None:
    """The shape in the product's layout (O, N*OH*OW) of operand ``b`` of an elementwise op
    on the (N, O, OH, OW) output: (O, 1) or (1, 1) for a per-channel or single value
    ((1, O, 1, 1), (O, 1, 1), a 0-d constant), None for anything else."""
    shape = graph.type(b).shape
    if len(shape) > 4:
        return None
    full = (1,) * (4 - len(shape)) + tuple(shape)
    if full[0] != 1 or full[2:] != (1, 1) or full[1] not in (1, channels):
        return None
    return (full[1], 1)


def _epilogue_in_product_layout(graph: Graph, out: int) -> None:
    """A forward's elementwise consumers (bias, a folded BatchNorm, an activation) computed
    on the product ``W @ cols`` itself, (O, N*OH*OW), instead of on its (N, O, OH, OW) view:
    read through the permute, they were a kernel of their own (fusion joins an epilogue
    in the anchor's index space only; ``--why-not-fused``: layout_change). Each op whose
    only input of the output's shape is the chain so far, read by that op alone, and whose
    other operands are per channel or single values, moves into the product's layout; the
    chain's end is permuted back."""
    y = graph.args(graph.args(out)[0])[0]          # permute(reshape(y)): y is (O, N*P)
    shape = graph.type(out).shape
    while True:
        users = graph.users(out)
        if len(users) != 1 or out in graph.outputs:
            return
        u = users[0][0]
        op = graph.op(u)
        if not reshapable(op) or graph.type(u).shape != shape or \
                list(graph.args(u)).count(out) != 1:
            return
        args = []
        for a in graph.args(u):
            if a == out:
                args.append(y)
                continue
            small = _per_channel(graph, a, shape[1])
            if small is None:
                return
            args.append(_in_layout(graph, a, small, shape[1], REBUILD_DEPTH))
        y = graph.add(op, args, graph.attrs(u), name=graph.name(u), meta=graph.meta(u))
        back = graph.add("reshape", [y], {"shape": (shape[1], shape[0], *shape[2:])},
                         name=graph.name(u))
        out = graph.add("permute", [back], {"dims": (1, 0, 2, 3)}, name=graph.name(u),
                        meta=graph.meta(u))
        graph.replace_all_uses(u, out)
