"""GPU-dialect kernels that reduce with a whole work-group per output.

The generic kernels give each output one work-item and a serial loop over what it reduces.
A convolution's weight gradient has few outputs and long reductions: LeNet's first layer
has 150 weights, each a sum over N x 28 x 28 = 50,176 products at batch 64, so 150
work-items ran on a GPU of 132 compute units and took 2.6 ms of a 3.7 ms training step on an
H200. Sums over long runs are the same shape: a BERT-base layer norm's statistics are 4,096
runs of 768, which 4,096 work-items summed at about 120 GB/s. Here each output gets a
work-group: its work-items stride over the reduction, then add their partial sums in a
tree in local memory (Harris, "Optimizing Parallel Reduction in CUDA", 2007), and the first
work-item runs the epilogue and stores.
"""
from __future__ import annotations

from graphnn.codegen.conv import scalar_epilogue
from graphnn.codegen.dialect import Dialect
from graphnn.codegen.emit import KernelWriter, decompose, reduction_body, reduction_index
from graphnn.codegen.side import channel_index, store_side
from graphnn.ir.graph import Graph
from graphnn.ir.passes.fusion import Group

GROUP = 256     # work-items per output, at most
MIN_RUN = 256   # the shortest reduced run a sum gives a work-group (shorter: a work-item)


def group_size(d: Dialect, itemsize: int, arrays: int) -> int:
    """The largest power of two up to GROUP that the device's work-group size and local
    memory (``arrays`` partial-sum arrays of ``itemsize`` bytes) allow."""
    size = GROUP
    while size > 1 and (size > d.max_work_group or size * itemsize * arrays > d.local_mem):
        size //= 2
    return size


def tree_sum(w: KernelWriter, size: int, arrays: list[tuple[str, str]]) -> None:
    """Adds ``size`` partial sums in each local array (name, value of this work-item) into
    element 0: log2(size) halving steps, each behind a barrier."""
    for arr, value in arrays:
        w.lines.append(f"{arr}[l] = {value};")
    w.lines += ["barrier(CLK_LOCAL_MEM_FENCE);",
                f"for (int s = {size // 2}; s > 0; s >>= 1) {{",
                "    if (l < s) {"]
    w.lines += [f"        {arr}[l] += {arr}[l + s];" for arr, _ in arrays]
    w.lines += ["    }", "    barrier(CLK_LOCAL_MEM_FENCE);", "}"]


def conv2d_weight_grad_groups(graph: Graph, g: Group, name: str, d: Dialect, params):
    """d conv2d / d weight with a work-group per weight element; with the bias gradient
    (``g.side``) reduced by the work-groups of each output channel's first element."""
    if d.name != "gpu":
        return None
    node = g.anchor
    x, gy = graph.args(node)
    (sh, sw), (ph, pw), (dh, dw), groups = params
    n, _, h, wd = graph.type(x).shape
    oc, icg, kh, kw = graph.type(node).shape
    _, _, oh_, ow_ = graph.type(gy).shape
    ocg = oc // groups
    dtype = graph.type(node).dtype
    t = dtype.cl
    itemsize = 4 if dtype.storage else dtype.itemsize
    size = group_size(d, itemsize, 2 if g.side is not None else 1)
    w = KernelWriter(graph, name)
    it = w.it
    w.attributes = f"__attribute__((reqd_work_group_size({size}, 1, 1)))"
    w.lines += [f"__local {t} red[{size}];"]
    if g.side is not None:
        w.lines.append(f"__local {t} sred[{size}];")
    w.lines += [f"{it} o = get_group_id(0);", "int l = get_local_id(0);"]
    lines, idx = decompose("o", graph.type(node).shape, "o")
    w.lines += lines
    w.lines += [f"{t} acc = 0, side = 0;",
                f"{it} ci = ({idx[0]} / {ocg}) * {icg} + {idx[1]};",
                f"for ({it} j = l; j < {n} * {oh_ * ow_}; j += {size}) {{",
                f"    {it} q = j % {ow_}, r = j / {ow_};",
                f"    {it} p = r % {oh_}, b = r / {oh_};",
                f"    {t} dy = {w.load(gy, ['b', idx[0], 'p', 'q'])};",
                "    side += dy;",
                f"    {it} hh = p * {sh} - {ph} + {idx[2]} * {dh};",
                f"    {it} ww = q * {sw} - {pw} + {idx[3]} * {dw};",
                f"    if (hh >= 0 && hh < {h} && ww >= 0 && ww < {wd})",
                f"        acc += {w.load(x, ['b', 'ci', 'hh', 'ww'])} * dy;",
                "}"]
    tree_sum(w, size, [("red", "acc")] + ([("sred", "side")] if g.side is not None else []))
    w.lines.append("if (l == 0) {")
    start = len(w.lines)
    scalar_epilogue(w, g, node, "red[0]", idx, [m for m in g.members if m != node])
    if g.side is not None:
        w.lines.append(f"if ({idx[1]} == 0 && {idx[2]} == 0 && {idx[3]} == 0)")
        store_side(w, g, channel_index(graph, g.side, idx[0]), "sred[0]")
    w.lines[start:] = ["    " + line for line in w.lines[start:]]
    w.lines.append("}")
    total = graph.type(node).numel
    return w, (total * size,), (size,)


def reduce_groups(graph: Graph, g: Group, name: str, d: Dialect, epilogue, sibling_index):
    """A sum (with its fused sibling sums, prologue and epilogue: a layer norm's statistics)
    with a work-group per output: the work-items stride over the reduced run, so that
    consecutive ones read consecutive elements of a contiguous run, then add up in a tree.
    Taken on GPUs for runs of at least MIN_RUN elements (or a symbolic length) over the
    innermost axis, or with few outputs; otherwise one work-item per output. ``epilogue``
    and ``sibling_index`` are the reduce family's own (codegen/families.py)."""
    import math

    from graphnn.ir.ops import get
    from graphnn.ir.symbolic import is_symbolic

    r = g.anchor
    fold = get(graph.op(r)).reducer
    src = graph.args(r)[0]
    in_shape = graph.type(src).shape
    axes, keep = graph.attrs(r)["axes"], graph.attrs(r)["keepdim"]
    red_shape = tuple(in_shape[a] for a in axes)
    total = math.prod(red_shape)
    dtype = graph.type(r).dtype
    if d.name != "gpu" or not fold.sums or fold.index or fold.finish or \
            not dtype.is_float or not is_symbolic(total) and total < MIN_RUN:
        return None
    # over a leading axis (a bias gradient's column sums) the generic kernel's neighbouring
    # work-items read neighbouring columns: coalesced, and enough of them unless few
    n_out = max(1, graph.type(r).numel)
    if len(in_shape) - 1 not in axes and not (not is_symbolic(n_out) and
                                              n_out < d.compute_units * 32):
        return None
    anchors = g.anchors()
    size = group_size(d, 4 if dtype.storage else dtype.itemsize, len(anchors))
    if not is_symbolic(total) and total < 4 * GROUP:
        size = min(size, GROUP // 4)
    w = KernelWriter(graph, name)
    it = w.it
    t = dtype.cl
    w.attributes = f"__attribute__((reqd_work_group_size({size}, 1, 1)))"
    accs = [f"acc{i}" for i in range(len(anchors))]
    w.lines += [f"__local {t} red{i}[{size}];" for i in range(len(anchors))]
    w.lines += [f"{it} o = get_group_id(0);", "int l = get_local_id(0);"]
    lines, out_idx = decompose("o", graph.type(r).shape, "o")
    w.lines += lines
    body, _ = decompose("j", red_shape, "k")
    computed, values = reduction_body(w, g, anchors,
                                      reduction_index(in_shape, axes, keep, out_idx))
    w.lines.append(f"{t} " + ", ".join(f"{a} = 0" for a in accs) + ";")
    w.lines.append(f"for ({it} j = l; j < {total}; j += {size}) {{")
    w.lines += ["    " + line for line in body + computed]
    w.lines += [f"    {a} += {v};" for a, v in zip(accs, values)]
    w.lines.append("}")
    tree_sum(w, size, [(f"red{i}", a) for i, a in enumerate(accs)])
    w.lines.append("if (l == 0) {")
    start = len(w.lines)
    for a, i in zip(anchors[1:], range(1, len(anchors))):
        w.temps[a] = f"red{i}[0]"
    epilogue(w, g, r, "red0[0]", out_idx, [m for m in g.members if m not in anchors])
    for a in anchors[1:]:
        if a in g.stores:
            w.store(a, sibling_index(graph, r, a, out_idx))
    w.lines[start:] = ["    " + line for line in w.lines[start:]]
    w.lines.append("}")
    return w, (n_out * size,), (size,)
