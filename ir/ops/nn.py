"""Ops with kernels of their own: matmul, 2-D convolution and its gradients, max pooling
(values, their gradient, and the argmax indices), and the scatter behind max_unpool."""
from __future__ import annotations

import math

import numpy as np

from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import int64, promote


# -- matmul -----------------------------------------------------------------------------
def _mm_dims(args, at):
    """(batch, M, N, K) of a 2-D product (batch None) or a batched 3-D one."""
    a, b = args[0].shape, args[1].shape
    if len(a) != len(b) or len(a) not in (2, 3):
        raise ValueError(f"matmul expects two 2-D or two 3-D operands, got {list(a)} and "
                         f"{list(b)}")
    batch = None
    if len(a) == 3:
        if a[0] != b[0]:
            raise ValueError(f"batch1 and batch2 must have the same batch size, got {a[0]} and "
                             f"{b[0]}")
        batch, a, b = a[0], a[1:], b[1:]
    m, ka = (a[1], a[0]) if at["ta"] else a
    kb, n = (b[1], b[0]) if at["tb"] else b
    if ka != kb:
        raise ValueError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{ka} and {kb}x{n})")
    return batch, m, n, ka


def _mm_shape(args, at):
    batch, m, n, _ = _mm_dims(args, at)
    return (m, n) if batch is None else (batch, m, n)


def _mm_vjp(c, g):
    a, b = c.args
    ta, tb = c.attrs["ta"], c.attrs["tb"]
    mm = lambda x, y, p, q: x.op("matmul", y, ta=p, tb=q)  # noqa: E731
    if not ta and not tb:
        return [mm(g, b, False, True), mm(a, g, True, False)]
    if not ta and tb:
        return [mm(g, b, False, False), mm(g, a, True, False)]
    if ta and not tb:
        return [mm(b, g, False, True), mm(a, g, False, False)]
    return [mm(b, g, True, True), mm(g, a, True, True)]


def _mm_ref(a, at):
    x = np.swapaxes(a[0], -1, -2) if at["ta"] else a[0]
    y = np.swapaxes(a[1], -1, -2) if at["tb"] else a[1]
    return np.matmul(x, y)


def _mm_flops(args, out, at) -> int:
    *batch, m, n = out.shape
    k = args[0].shape[-2 if at["ta"] else -1]
    return 2 * m * n * k * (batch[0] if batch else 1)


register(OpDef("matmul", Kind.OUT_EWISE_FUSABLE, 2, _mm_shape,
               lambda args, at: promote(args[0].dtype, args[1].dtype), _mm_vjp, _mm_ref,
               "gemm", doc="matrix product of 2-D, or batched 3-D, operands; ta/tb read an "
                           "operand's last two dims transposed", grad_name="Mm",
               flops=_mm_flops,
               # dW = dY^T X of a Linear: its bias gradient, dY summed over the batch
               side_sum=lambda args, at: (0, (0,)) if at["ta"] and len(args[0].shape) == 2
               else None))


# -- 2-D convolution --------------------------------------------------------------------
def conv_out_size(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _conv_shape(args, at):
    x, w = args[0].shape, args[1].shape
    n, c, h, wd = x
    oc, icg, kh, kw = w
    sh, sw = at["stride"]
    ph, pw = at["padding"]
    dh, dw = at["dilation"]
    if c != icg * at["groups"]:
        raise ValueError(f"expected input {list(x)} to have {icg * at['groups']} channels, "
                         f"but got {c} channels instead")
    oh, ow = conv_out_size(h, kh, sh, ph, dh), conv_out_size(wd, kw, sw, pw, dw)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"kernel size ({kh}x{kw}) can't be greater than padded input size")
    return (n, oc, oh, ow)


def _conv_ref(a, at):
    x, w = a
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), groups = at["stride"], at["padding"], at["dilation"], at["groups"]
    oh, ow = _conv_shape([_T(x.shape), _T(w.shape)], at)[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, oc, oh, ow), np.result_type(x, w))
    ocg = oc // groups
    for gi in range(groups):
        xs = xp[:, gi * icg:(gi + 1) * icg]
        ws = w[gi * ocg:(gi + 1) * ocg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                           j * dw: j * dw + sw * (ow - 1) + 1: sw]
                out[:, gi * ocg:(gi + 1) * ocg] += np.einsum("nchw,oc->nohw", patch,
                                                             ws[:, :, i, j])
    return out


class _T:  # a shape holder so the reference can reuse the shape rule
    def __init__(self, shape):
        self.shape = shape


def _conv_attrs(at):
    return {k: at[k] for k in ("stride", "padding", "dilation", "groups")}


def _conv_vjp(c, g):
    x, w = c.args
    at = _conv_attrs(c.attrs)
    return [g.op("conv2d_input_grad", w, shape=c.types[0].shape, **at),
            x.op("conv2d_weight_grad", g, shape=c.types[1].shape, **at)]


def _conv_flops(out_shape, w_shape) -> int:
    """2 flops per multiply-add: every output element of the convolution takes one per
    weight element of its group (C/groups x kH x kW)."""
    return 2 * math.prod(out_shape) * math.prod(w_shape[1:])


register(OpDef("conv2d", Kind.OUT_EWISE_FUSABLE, 2, _conv_shape,
               lambda args, at: promote(args[0].dtype, args[1].dtype), _conv_vjp, _conv_ref,
               "conv2d", doc="cross-correlation of (N, C, H, W) with (O, C/groups, kH, kW)",
               grad_name="ConvolutionBackward",
               flops=lambda args, out, at: _conv_flops(out.shape, args[1].shape)))


def _input_grad_ref(a, at):
    # adjoint of the reference conv, by linearity: dx = J^T g via the weight layout
    g, w = a
    x = np.zeros(at["shape"], g.dtype)
    n, c, h, wd = at["shape"]
    oc, icg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), groups = at["stride"], at["padding"], at["dilation"], at["groups"]
    oh, ow = g.shape[2:]
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), g.dtype)
    ocg = oc // groups
    for gi in range(groups):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nohw,oc->nchw", g[:, gi * ocg:(gi + 1) * ocg],
                                    w[gi * ocg:(gi + 1) * ocg, :, i, j])
                xp[:, gi * icg:(gi + 1) * icg, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                   j * dw: j * dw + sw * (ow - 1) + 1: sw] += contrib
    x[:] = xp[:, :, ph:ph + h, pw:pw + wd]
    return x


def _weight_grad_ref(a, at):
    x, g = a
    oc, icg, kh, kw = at["shape"]
    (sh, sw), (ph, pw), (dh, dw), groups = at["stride"], at["padding"], at["dilation"], at["groups"]
    oh, ow = g.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dw_ = np.zeros(at["shape"], x.dtype)
    ocg = oc // groups
    for gi in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, gi * icg:(gi + 1) * icg, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                           j * dw: j * dw + sw * (ow - 1) + 1: sw]
                dw_[gi * ocg:(gi + 1) * ocg, :, i, j] = np.einsum(
                    "nchw,nohw->oc", patch, g[:, gi * ocg:(gi + 1) * ocg])
    return dw_


def _input_grad_vjp(c, g2):
    gy, w = c.args
    at = _conv_attrs(c.attrs)
    dgy = g2.op("conv2d", w, **at)
    gshape = c.types[0].shape
    if dgy.shape != gshape:
        # a transposed convolution with output_padding >= stride (allowed when it is below
        # the dilation) has output rows that no input row reaches; the convolution of its
        # gradient has outputs for them, which no gy element matches
        dgy = dgy.op("slice", starts=(0,) * 4, stops=gshape, steps=(1,) * 4)
    return [dgy, g2.op("conv2d_weight_grad", gy, shape=c.types[1].shape, **at)]


def _weight_grad_vjp(c, g2):
    x, gy = c.args
    at = _conv_attrs(c.attrs)
    return [gy.op("conv2d_input_grad", g2, shape=c.types[0].shape, **at),
            x.op("conv2d", g2, **at)]


register(OpDef("conv2d_input_grad", Kind.OUT_EWISE_FUSABLE, 2, lambda args, at: at["shape"],
               lambda args, at: args[0].dtype, _input_grad_vjp, _input_grad_ref,
               "conv2d_input_grad", doc="d conv2d / d input: (grad_out, weight) -> (N,C,H,W)",
               flops=lambda args, out, at: _conv_flops(args[0].shape, args[1].shape)))
register(OpDef("conv2d_weight_grad", Kind.OUT_EWISE_FUSABLE, 2, lambda args, at: at["shape"],
               lambda args, at: args[0].dtype, _weight_grad_vjp, _weight_grad_ref,
               "conv2d_weight_grad", doc="d conv2d / d weight: (input, grad_out) -> weight",
               flops=lambda args, out, at: _conv_flops(args[1].shape, out.shape),
               # a Conv2d's bias gradient: dY summed over N, H and W
               side_sum=lambda args, at: (1, (0, 2, 3))))


# -- max pooling ------------------------------------------------------------------------
def _pool_shape(args, at):
    n, c, h, w = args[0].shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (at["kernel"], at["stride"], at["padding"],
                                              at["dilation"])
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError("pad should be at most half of effective kernel size, but got "
                         f"pad={ph if ph > kh // 2 else pw}, kernel_size={kh if ph > kh // 2 else kw}")
    oh = _pool_out(h, kh, sh, ph, dh, at["ceil_mode"])
    ow = _pool_out(w, kw, sw, pw, dw, at["ceil_mode"])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"max_pool2d: output size is too small for input {list(args[0].shape)}")
    return (n, c, oh, ow)


def _pool_out(size, k, s, p, d, ceil):
    # PyTorch's pooling_output_shape, including the ceil_mode rule that the last window
    # must start inside the input or left padding
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff + ((s - 1) if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_windows(x, at):
    """Reference helper: (N, C, OH, OW, kH*kW) windows of x padded with -inf."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (at["kernel"], at["stride"], at["padding"],
                                              at["dilation"])
    _, _, oh, ow = _pool_shape([_T(x.shape)], at)
    big = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.full((n, c, max(big[0], h + 2 * ph), max(big[1], w + 2 * pw)), -np.inf, x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    wins = [xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
            for i in range(kh) for j in range(kw)]
    return np.stack(wins, -1)


def _pool_ref(a, at):
    return pool_windows(a[0], at).max(-1)


def _pool_grad_ref(a, at):
    g, x = a
    wins = pool_windows(x, at)
    first = wins.argmax(-1)                  # PyTorch routes the gradient to the first maximum
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (at["kernel"], at["stride"], at["padding"],
                                              at["dilation"])
    out = np.zeros(x.shape, g.dtype)
    oh, ow = g.shape[2:]
    ii, jj = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    for ni in range(n):
        for ci in range(c):
            k = first[ni, ci]
            r = ii * sh + (k // kw) * dh - ph
            s = jj * sw + (k % kw) * dw - pw
            np.add.at(out[ni, ci], (r, s), g[ni, ci])
    return out


def _pool_vjp(c, g):
    at = c.attrs
    (kh, kw), (sh, sw), (dh, dw) = at["kernel"], at["stride"], at["dilation"]
    if sh >= (kh - 1) * dh + 1 and sw >= (kw - 1) * dw + 1:
        return [g.op("max_pool2d_grad", c.args[0], **at)]
    # overlapping windows: max_pool2d_grad would find, for every input element, the
    # argmax of every window holding it (O(k^4) per element: 260 ms for the backward of
    # MaxPool2d(3, 2, 1) on (8, 64, 56, 56)). Instead each window's argmax once, and its
    # gradient added there by a scatter over each plane, PyTorch's own scheme.
    n, ch, h, w = c.types[0].shape
    oh, ow = g.shape[2:]
    idx = c.args[0].op("max_pool2d_argmax", **at).reshape((n, ch, oh * ow))
    dx = g.reshape((n, ch, oh * ow)).op("scatter_set", idx, size=h * w, accumulate=True)
    return [dx.reshape((n, ch, h, w))]


register(OpDef("max_pool2d", Kind.OUT_EWISE_FUSABLE, 1, _pool_shape,
               lambda args, at: args[0].dtype, _pool_vjp, _pool_ref, "max_pool2d",
               doc="max over kH x kW windows of (N, C, H, W)",
               grad_name="MaxPool2DWithIndices"))
register(OpDef("max_pool2d_grad", Kind.OUT_EWISE_FUSABLE, 2, lambda args, at: args[1].shape,
               lambda args, at: args[0].dtype, NOT_DIFFERENTIABLE, _pool_grad_ref,
               "max_pool2d_grad",
               doc="(grad_out, input) -> grad_in: each window's gradient to its first maximum"))


def _pool_argmax_ref(a, at):
    x = a[0]
    first = pool_windows(x, at).argmax(-1)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (at["kernel"], at["stride"], at["padding"],
                                              at["dilation"])
    oh, ow = first.shape[2:]
    r = np.arange(oh)[:, None] * sh + (first // kw) * dh - ph
    s = np.arange(ow)[None, :] * sw + (first % kw) * dw - pw
    return (r * x.shape[3] + s).astype(np.int64)


# the indices PyTorch's max_pool2d(return_indices=True) gives: the first maximum of each
# window (row-major scan) as a position in the flattened H x W plane. A kernel of its own
# (the value kernel's loop, keeping the position) rather than a composition: a compare per
# window tap against the pooled value would need kH*kW strided reads and a chain of selects.
register(OpDef("max_pool2d_argmax", Kind.OUT_EWISE_FUSABLE, 1, _pool_shape,
               lambda args, at: int64, NOT_DIFFERENTIABLE, _pool_argmax_ref,
               "max_pool2d_argmax",
               doc="h * W + w of each kH x kW window's first maximum in (N, C, H, W)"))


# -- scatter ------------------------------------------------------------------------------
def _scatter_shape(args, at):
    x, idx = args
    if tuple(x.shape) != tuple(idx.shape) or not x.shape:
        raise ValueError(f"scatter_set: values {list(x.shape)} and indices "
                         f"{list(idx.shape)} must have the same non-empty shape")
    return tuple(x.shape[:-1]) + (at["size"],)


def _scatter_ref(a, at):
    x, idx = a
    rows = x.reshape(-1, x.shape[-1])
    pos = idx.reshape(rows.shape).astype(np.int64)
    out = np.zeros((rows.shape[0], at["size"]), x.dtype)
    r = np.arange(rows.shape[0])
    for j in range(rows.shape[1]):          # in order: the last index naming a position wins
        ok = (pos[:, j] >= 0) & (pos[:, j] < at["size"])
        if at.get("accumulate"):
            np.add.at(out, (r[ok], pos[ok, j]), rows[ok, j])
        else:
            out[r[ok], pos[ok, j]] = rows[ok, j]
    return out.reshape(x.shape[:-1] + (at["size"],))


def _scatter_vjp(c, g):
    return [g.op("gather", c.args[1], axis=len(c.types[0].shape) - 1), None]


# max_unpool: out[..., idx[..., j]] = x[..., j] along the last axis, zeros elsewhere (``+=``
# with ``accumulate``: the max_pool2d gradient for overlapping windows). Opaque
# (no epilogue joins it): each work-item owns a row, zeroes it and writes its values at
# computed positions in order, O(size + J) per row. Composing it would compare every index
# with every position (O(size * J): 2.7 s for an unpooling to (8, 64, 56, 56)). Indices
# outside [0, size) are skipped (callers check them on the host where they can).
register(OpDef("scatter_set", Kind.OPAQUE, 2, _scatter_shape, lambda args, at: args[0].dtype,
               _scatter_vjp, _scatter_ref, "scatter_set",
               doc="zeros(..., size) with x[..., j] written (the last j wins) or, with "
                   "attrs['accumulate'], added at idx[..., j] along the last axis; its "
                   "gradient gathers at idx"))
