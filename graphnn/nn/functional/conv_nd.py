"""Convolution over 1, 2 and 3 spatial dims, plain and transposed, on the 2-D primitives.

- ``conv2d``: the ``conv2d`` primitive.
- ``conv1d``: a 2-D convolution of (N, C, 1, L) with a (O, C/g, 1, k) kernel (views only).
- ``conv3d``: the depth taps stacked into channels, then one 2-D convolution: input
  (N, C, D, H, W) becomes (N * D_out, C * kD, H, W), element (n, z, c, t) the depth slice
  z * sD + t * dD - pD of channel c (zero outside), and the weight (O, C/g, kD, kH, kW) is
  read as (O, C/g * kD, kH, kW) (a view; channel order c-major, tap-minor keeps groups
  contiguous). One gather kernel (kD copies of the input) and one convolution, whatever
  kD and D.
- Transposed convolutions are the input gradient of the matching convolution: the
  ``conv2d_input_grad`` primitive for 1-D and 2-D; for 3-D the adjoint of the stacked
  form: one ``conv2d_input_grad`` over (N * D, C_in, H, W) into (N * D, C_out * kD, H', W'),
  then each tap's slices placed at their output depths (``slice_grad``) and summed.

Output sizes, argument checks and messages follow PyTorch (torch/nn/modules/conv.py,
aten/src/ATen/native/Convolution.cpp)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import C10_NAMES, SCALAR_NAMES, Tensor
from graphnn.nn.functional._base import _where

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]

_AXES = ("depth", "height", "width")


def _tuple(v, n: int, name: str, fn: str) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            raise RuntimeError(f"{_where(fn)}expected {name} to be a single integer value or a "
                               f"list of {n} values to match the convolution dimensions, but "
                               f"got {name}={list(v)}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


def _batched(input: Tensor, n: int, fn: str) -> tuple[Tensor, bool]:
    if input.dim() not in (n + 1, n + 2):
        raise RuntimeError(f"{_where(fn)}Expected {n + 1}D (unbatched) or {n + 2}D (batched) "
                           f"input to {fn}, but got input of size: {list(input.shape)}")
    unbatched = input.dim() == n + 1
    return (_ops.unsqueeze(input, 0) if unbatched else input), unbatched


def _common_checks(x: Tensor, weight: Tensor, bias, n: int, stride, dilation, groups: int,
                   fn: str, transposed: bool) -> None:
    where = _where(fn)
    if not transposed and bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"{where}Input type ({C10_NAMES[x.dtype.name]}) and bias type "
                           f"({C10_NAMES[bias.dtype.name]}) should be the same")
    if weight.dtype != x.dtype:
        raise RuntimeError(f"{where}expected scalar type {SCALAR_NAMES[x.dtype.name]} but "
                           f"found {SCALAR_NAMES[weight.dtype.name]}")
    if weight.dim() != n + 2:
        raise RuntimeError(f"{where}Expected {weight.dim()}-dimensional input for "
                           f"{weight.dim()}-dimensional weight {list(weight.shape)}, but got "
                           f"{x.dim()}-dimensional input of size {list(x.shape)} instead")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{where}non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{where}non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError(f"{where}non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise RuntimeError(f"{where}Given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension 0, but got weight of size "
                           f"[{list(weight.shape)}] instead")
    if transposed:
        if x.shape[1] != weight.shape[0]:
            raise RuntimeError(f"{where}Given transposed=1, weight of size "
                               f"{list(weight.shape)}, expected input{list(x.shape)} to have "
                               f"{weight.shape[0]} channels, but got {x.shape[1]} channels "
                               "instead")
        out_c = weight.shape[1] * groups
    else:
        if x.shape[1] != weight.shape[1] * groups:
            raise RuntimeError(f"{where}Given groups={groups}, weight of size "
                               f"{list(weight.shape)}, expected input{list(x.shape)} to have "
                               f"{weight.shape[1] * groups} channels, but got {x.shape[1]} "
                               "channels instead")
        out_c = weight.shape[0]
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != out_c):
        lead = "Given transposed=1, weight" if transposed else "Given weight"
        raise RuntimeError(f"{where}{lead} of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {out_c} elements, but got bias of size "
                           f"{list(bias.shape)} instead")


def _same_padding(weight: Tensor, n: int, stride, dilation, fn: str):
    """PyTorch's padding='same': total d*(k-1) per dim, the odd one extra on the right."""
    if any(s != 1 for s in stride):
        raise RuntimeError(f"{_where(fn)}padding='same' is not supported for strided "
                           "convolutions")
    total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


def _zero_pad_right(x: Tensor, extra: tuple) -> Tensor:
    n = len(extra)
    shape = tuple(x.shape[:2]) + tuple(s + e for s, e in zip(x.shape[2:], extra))
    return apply("slice_grad", x, shape=shape, starts=(0,) * (n + 2), steps=(1,) * (n + 2))


def _conv(input, weight, bias, stride, padding, dilation, groups, n: int) -> Tensor:
    fn = f"conv{n}d"
    x, unbatched = _batched(input, n, fn)
    stride = _tuple(stride, n, "stride", fn)
    dilation = _tuple(dilation, n, "dilation", fn)
    _common_checks(x, weight, bias, n, stride, dilation, groups, fn, False)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * n
        elif padding == "same":
            padding, right = _same_padding(weight, n, stride, dilation, fn)
            extra = tuple(r - p for r, p in zip(right, padding))
            if any(extra):
                x = _zero_pad_right(x, extra)
        else:
            raise RuntimeError(f"{_where(fn)}Invalid padding string: '{padding}'")
    padding = _tuple(padding, n, "padding", fn)
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{_where(fn)}negative padding is not supported")
    padded = [s + 2 * p for s, p in zip(x.shape[2:], padding)]
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"{_where(fn)}Calculated padded input size per channel: "
                           f"({' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, eff))}). Kernel size can't be greater "
                           "than actual input size")
    if n == 2:
        out = apply("conv2d", x, weight, stride=stride, padding=padding, dilation=dilation,
                    groups=groups)
    elif n == 1:
        nb, c, length = x.shape
        out = apply("conv2d", _ops.reshape(x, (nb, c, 1, length)),
                    _ops.unsqueeze(weight, 2), stride=(1,) + stride, padding=(0,) + padding,
                    dilation=(1,) + dilation, groups=groups)
        out = _ops.reshape(out, tuple(out.shape[:2]) + (out.shape[3],))
    else:
        out = _conv3d(x, weight, bias, stride, padding, dilation, groups)
    if bias is not None and n != 3:
        out = out + _ops.reshape(bias, (1, -1) + (1,) * n)
    out = _ops.squeeze(out, 0) if unbatched else out
    return _ops._named(out, "ConvolutionBackward0")


def _conv3d(x: Tensor, weight: Tensor, bias, stride, padding, dilation, groups) -> Tensor:
    nb, c, d, h, w = x.shape
    o, cg, kd = weight.shape[:3]
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = stride, padding, dilation
    d_out = (d + 2 * pd - dd * (kd - 1) - 1) // sd + 1
    # stacked[n, z, ci, t] = x[n, ci, z * sD + t * dD - pD] (zero outside): each tap's
    # in-range output depths placed by a slice_grad, summed. The sum reads x directly (one
    # kernel, no padded copy) and its adjoint is slices of one gradient buffer
    stacked = None
    for t in range(kd):
        z0 = max(0, -(-(pd - t * dd) // sd))
        z1 = min(d_out, (d - 1 + pd - t * dd) // sd + 1)
        if z0 >= z1:
            continue
        start = z0 * sd + t * dd - pd
        xs = x[:, :, start:start + sd * (z1 - z0 - 1) + 1:sd]          # (N, C, z1-z0, H, W)
        xs = _ops.unsqueeze(_ops.permute(xs, (0, 2, 1, 3, 4)), 3)
        placed = apply("slice_grad", xs, shape=(nb, d_out, c, kd, h, w),
                       starts=(0, z0, 0, t, 0, 0), steps=(1,) * 6)
        stacked = placed if stacked is None else stacked + placed
    stacked = _ops.reshape(stacked, (nb * d_out, c * kd, h, w))
    wt = _ops.reshape(weight, (o, cg * kd) + tuple(weight.shape[3:]))
    y = apply("conv2d", stacked, wt, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
              groups=groups)
    if bias is not None:            # before the permute: it joins the convolution's epilogue
        y = y + _ops.reshape(bias, (1, -1, 1, 1))
    ho, wo = y.shape[2:]
    return _ops.permute(_ops.reshape(y, (nb, d_out, o, ho, wo)), (0, 2, 1, 3, 4))


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation. input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups,
    k), bias (C_out,) -> (N, C_out, L_out), L_out = floor((L + 2*padding - dilation*(k-1)
    - 1) / stride + 1) (PyTorch's Conv1d docs). ``padding``: int, 1-tuple, 'valid' or
    'same' (stride 1 only; an odd total d*(k-1) puts the extra zero on the right, as
    PyTorch). Raises RuntimeError with PyTorch's messages for a wrong input rank, channels
    that do not match weight and groups, a wrong bias size, non-positive stride/dilation/
    groups, negative padding and a kernel larger than the padded input. Runs as a 2-D
    convolution of (N, C, 1, L)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation. input (N, C_in, H, W) or (C_in, H, W); weight
    (C_out, C_in/groups, kH, kW); bias (C_out,) -> (N, C_out, H_out, W_out) with
    H_out = floor((H + 2*padding - dilation*(kH-1) - 1) / stride + 1) (PyTorch docs).
    ``padding``: int, pair, 'valid' or 'same'; errors as ``conv1d``."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D cross-correlation. input (N, C_in, D, H, W) or (C_in, D, H, W); weight
    (C_out, C_in/groups, kD, kH, kW); bias (C_out,) -> (N, C_out, D_out, H_out, W_out), each
    size as in ``conv1d``. ``padding``: int, triple, 'valid' or 'same'; errors as
    ``conv1d``. Runs as one 2-D convolution over the depth taps stacked into channels."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3)


# -- transposed ---------------------------------------------------------------------------
def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    n: int) -> Tensor:
    fn = f"conv_transpose{n}d"
    for name, v in (("padding", padding), ("output_padding", output_padding)):
        if isinstance(v, str):
            raise TypeError(f"{fn}(): argument '{name}' must be tuple of ints, not str")
    x, unbatched = _batched(input, n, fn)
    stride = _tuple(stride, n, "stride", fn)
    dilation = _tuple(dilation, n, "dilation", fn)
    padding = _tuple(padding, n, "padding", fn)
    output_padding = _tuple(output_padding, n, "output_padding", fn)
    _common_checks(x, weight, bias, n, stride, dilation, groups, fn, True)
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{_where(fn)}negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError(f"{_where(fn)}negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        # PyTorch reports 1-D sizes as the 2-D convolution it runs
        axes = _AXES[3 - max(n, 2):]
        lift = (lambda t, fill: (fill,) + t) if n == 1 else (lambda t, fill: t)
        parts = [f"{what}_{a}: {v}" for what, t, fill in
                 (("output_padding", output_padding, 0), ("stride", stride, 1),
                  ("dilation", dilation, 1)) for a, v in zip(axes, lift(t, fill))]
        raise RuntimeError(f"{_where(fn)}output padding must be smaller than either stride or "
                           f"dilation, but got {' '.join(parts)}")
    sizes = tuple((s - 1) * st - 2 * p + d * (k - 1) + op + 1 for s, st, p, d, k, op in
                  zip(x.shape[2:], stride, padding, dilation, weight.shape[2:],
                      output_padding))
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"{_where(fn)}Given input size per channel: "
                           f"({' x '.join(str(s) for s in x.shape[2:])}), the calculated "
                           f"output size ({' x '.join(map(str, sizes))}) is too small")
    out_c = weight.shape[1] * groups
    nb = x.shape[0]
    if n == 2:
        out = apply("conv2d_input_grad", x, weight, shape=(nb, out_c) + sizes, stride=stride,
                    padding=padding, dilation=dilation, groups=groups)
    elif n == 1:
        out = apply("conv2d_input_grad", _ops.unsqueeze(x, 2), _ops.unsqueeze(weight, 2),
                    shape=(nb, out_c, 1, sizes[0]), stride=(1,) + stride,
                    padding=(0,) + padding, dilation=(1,) + dilation, groups=groups)
        out = _ops.squeeze(out, 2)
    else:
        out = _conv_transpose3d(x, weight, sizes, stride, padding, dilation, groups)
    if bias is not None:
        out = out + _ops.reshape(bias, (1, -1) + (1,) * n)
    out = _ops.squeeze(out, 0) if unbatched else out
    return _ops._named(out, "ConvolutionBackward0")


def _conv_transpose3d(x: Tensor, weight: Tensor, sizes, stride, padding, dilation,
                      groups) -> Tensor:
    nb, c, d, h, w = x.shape
    cg, kd = weight.shape[1], weight.shape[2]
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = stride, padding, dilation
    d_out, ho, wo = sizes
    xs = _ops.reshape(_ops.permute(x, (0, 2, 1, 3, 4)), (nb * d, c, h, w))
    wt = _ops.reshape(weight, (c, cg * kd) + tuple(weight.shape[3:]))
    y = apply("conv2d_input_grad", xs, wt, shape=(nb * d, cg * groups * kd, ho, wo),
              stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
    y = _ops.reshape(y, (nb, d, cg * groups, kd, ho, wo))
    out = None
    for t in range(kd):
        # input depth i lands on output depth i * sD + t * dD - pD; keep those inside
        first = max(0, -(-(pd - t * dd) // sd))
        last = min(d, (d_out - 1 + pd - t * dd) // sd + 1)
        if first >= last:
            continue
        part = _ops.permute(y[:, first:last, :, t], (0, 2, 1, 3, 4))  # (N, C_out, i, H', W')
        placed = apply("slice_grad", part, shape=(nb, cg * groups, d_out, ho, wo),
                       starts=(0, 0, first * sd + t * dd - pd, 0, 0), steps=(1, 1, sd, 1, 1))
        out = placed if out is None else out + placed
    # tap 0 reaches output depth (ceil(pD / sD) * sD - pD) < D_out whenever output_padding
    # < stride or dilation, so some tap always lands
    assert out is not None
    return out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 1-D convolution (the input gradient of conv1d). input (N, C_in, L) or
    (C_in, L), weight (C_in, C_out/groups, k), bias (C_out,) -> (N, C_out, L_out) with
    L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1 (PyTorch's
    ConvTranspose1d docs). Raises RuntimeError with PyTorch's messages for a wrong input
    rank, input channels != weight.shape[0], weight.shape[0] not divisible by groups, a
    wrong bias size, output_padding not smaller than stride or dilation, negative padding;
    TypeError for a string padding."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution. input (N, C_in, H, W) or (C_in, H, W), weight
    (C_in, C_out/groups, kH, kW), bias (C_out,) -> (N, C_out, H_out, W_out), each size as
    in ``conv_transpose1d`` (errors too). The ``conv2d_input_grad`` primitive."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 3-D convolution. input (N, C_in, D, H, W) or (C_in, D, H, W), weight
    (C_in, C_out/groups, kD, kH, kW), bias (C_out,) -> (N, C_out, D_out, H_out, W_out), each
    size as in ``conv_transpose1d`` (errors too)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 3)
