"""The columns of a convolution (``im2col``) and their adjoint (``col2im``): how a 2-D
convolution becomes one matrix product (``ir/passes/conv_gemm.py``).

``im2col(x)`` of x (N, C, H, W) has attrs ``kernel`` (kH, kW), ``stride``, ``padding`` and
``dilation`` (pairs, as ``conv2d``'s) and shape (C, kH, kW, N, OH, OW): element
[c, i, j, n, oh, ow] is x[n, c, oh*sH - pH + i*dH, ow*sW - pW + j*dW], zero where that lies in
the padding. Read as a (C*kH*kW) x (N*OH*OW) matrix it is the B of ``W @ B``: rows are the
weight's (c, i, j) in its own order, columns the batch's output positions, so that one
product covers the whole batch (a product per image would be 49 columns wide at 7 x 7).
``col2im(g)`` (attrs those and ``shape``, the input's (N, C, H, W)) sums, at each input
position, the column entries that read it: kH*kW guarded reads, a stride's phase checked
with a remainder. Both are kernels of their own (``codegen/unfold.py``), one indexed read
(or a sum of them) per element, listed by ``OpDef.guarded_reads``.

Formulas: PyTorch's ``F.unfold`` / ``F.fold`` (Im2Col.cpp), with the batch moved inside.
"""
from __future__ import annotations

import numpy as np

from graphnn.ir.ops.nn import conv_out_size
from graphnn.ir.ops.registry import Kind, OpDef, register

_KEYS = ("kernel", "stride", "padding", "dilation")


def columns_shape(x_shape, at) -> tuple:
    """(C, kH, kW, N, OH, OW) of the columns of an input of ``x_shape`` (N, C, H, W)."""
    n, c, h, w = x_shape
    oh, ow = (conv_out_size(s, *p) for s, p in zip(
        (h, w), zip(at["kernel"], at["stride"], at["padding"], at["dilation"])))
    if oh <= 0 or ow <= 0:
        raise ValueError(f"im2col: kernel {tuple(at['kernel'])} is larger than the padded "
                         f"input {list(x_shape)}")
    return (c, *at["kernel"], n, oh, ow)


def _im2col_shape(args, at):
    if len(args[0].shape) != 4:
        raise ValueError(f"im2col expects an (N, C, H, W) input, got {list(args[0].shape)}")
    return columns_shape(args[0].shape, at)


def _col2im_shape(args, at):
    if tuple(args[0].shape) != columns_shape(at["shape"], at):
        raise ValueError(f"col2im: columns {list(args[0].shape)} do not match an input of "
                         f"{list(at['shape'])}")
    return tuple(at["shape"])


def _geometry(at):
    return zip(at["kernel"], at["stride"], at["padding"], at["dilation"])


def im2col_reads(at, in_shape, out_shape, idx: list[str]):
    """The one guarded read of ``im2col`` at its index ``idx`` (C expressions)."""
    c, i, j, n, oh, ow = (f"({e})" for e in idx)
    conds, pos = [], []
    for o, k, (_, s, p, d), size in zip((oh, ow), (i, j), _geometry(at), in_shape[2:]):
        e = o if s == 1 else f"{o}*{s}"
        e = f"({e} + {k}*{d} - {p})" if p else f"({e} + {k}*{d})"
        if p:
            conds.append(f"{e} >= 0")
        conds.append(f"{e} < {size}")
        pos.append(e)
    return [(conds, [n, c, *pos])]


def col2im_reads(at, in_shape, out_shape, idx: list[str]):
    """The kH*kW guarded reads of ``col2im`` at input position ``idx`` (n, c, h, w): the
    column entry of tap (i, j) that read it, when that tap's output position exists."""
    n, c, h, w = (f"({e})" for e in idx)
    outs = in_shape[4:]
    per_dim = []
    for x, (k, s, p, d), size in zip((h, w), _geometry(at), outs):
        taps = []
        for t in range(k):
            shift = p - t * d
            e = f"({x} + {shift})" if shift > 0 else f"({x} - {-shift})" if shift else x
            conds = [f"{e} >= 0"] if shift < 0 else []
            if s == 1:
                conds.append(f"{e} < {size}")
                taps.append((t, conds, e))
            else:
                conds += [f"{e} % {s} == 0", f"{e} / {s} < {size}"]
                taps.append((t, conds, f"{e} / {s}"))
        per_dim.append(taps)
    reads = []
    for ti, ch, eh in per_dim[0]:
        for tj, cw, ew in per_dim[1]:
            reads.append((ch + cw, [c, str(ti), str(tj), n, eh, ew]))
    return reads


def _im2col_ref(a, at):
    x = a[0]
    n, ch = x.shape[:2]
    (kh, sh, ph, dh), (kw, sw, pw, dw) = _geometry(at)
    _, _, _, _, oh, ow = columns_shape(x.shape, at)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((ch, kh, kw, n, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                       j * dw: j * dw + sw * (ow - 1) + 1: sw]
            out[:, i, j] = patch.transpose(1, 0, 2, 3)
    return out


def _col2im_ref(a, at):
    g = a[0]
    n, ch, h, w = at["shape"]
    (kh, sh, ph, dh), (kw, sw, pw, dw) = _geometry(at)
    oh, ow = g.shape[4:]
    xp = np.zeros((n, ch, h + 2 * ph + sh, w + 2 * pw + sw), g.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
               j * dw: j * dw + sw * (ow - 1) + 1: sw] += g[:, i, j].transpose(1, 0, 2, 3)
    return xp[:, :, ph:ph + h, pw:pw + w]


def _attrs(at):
    return {k: at[k] for k in _KEYS}


register(OpDef("im2col", Kind.OPAQUE, 1, _im2col_shape, lambda args, at: args[0].dtype,
               lambda c, g: [g.op("col2im", shape=c.types[0].shape, **_attrs(c.attrs))],
               _im2col_ref, "im2col",
               doc="the columns of a 2-D convolution: (N, C, H, W) -> (C, kH, kW, N, OH, OW); "
                   "attrs kernel, stride, padding, dilation",
               indexed_reads=(0,), guarded_reads=im2col_reads))
register(OpDef("col2im", Kind.OPAQUE, 1, _col2im_shape, lambda args, at: args[0].dtype,
               lambda c, g: [g.op("im2col", **_attrs(c.attrs))], _col2im_ref, "col2im",
               doc="the adjoint of im2col: each input position sums the column entries that "
                   "read it; attrs shape, kernel, stride, padding, dilation",
               indexed_reads=(0,), guarded_reads=col2im_reads))
