"""Rearrangements: pixel (un)shuffle, channel shuffle, and unfold/fold (im2col and its
adjoint), written with views, slices and ``slice_grad`` (which places a tensor into zeros
of a larger shape: padding, and the adjoint of a strided slice)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._dtypes import kernel_float as _kernel_float
from graphnn.nn.functional._base import _pair, _where


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r) (Shi et al. 2016)."""
    r = upscale_factor
    if input.dim() < 3:
        raise RuntimeError(f"{_where()}pixel_shuffle expects input to have at least 3 "
                           f"dimensions, but got input with {input.dim()} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"{_where()}pixel_shuffle expects its input's 'channel' dimension "
                           f"to be divisible by the square of upscale_factor, but input.size(-3)"
                           f"={c} is not divisible by {r * r}")
    n = len(lead)
    x = _ops.reshape(input, tuple(lead) + (c // (r * r), r, r, h, w))
    x = _ops.permute(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return _ops.reshape(x, tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle."""
    r = downscale_factor
    if input.dim() < 3:
        raise RuntimeError(f"{_where()}pixel_unshuffle expects input to have at least 3 "
                           f"dimensions, but got input with {input.dim()} dimension(s)")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"{_where()}pixel_unshuffle expects height and width to be "
                           f"divisible by downscale_factor, but got {h}x{w} and {r}")
    if input.numel() == 0:      # PyTorch returns an empty input as it is
        return _ops.clone(input)
    n = len(lead)
    x = _ops.reshape(input, tuple(lead) + (c, h // r, r, w // r, r))
    x = _ops.permute(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return _ops.reshape(x, tuple(lead) + (c * r * r, h // r, w // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with channels regrouped: (N, g, C/g, *) transposed to (N, C/g, g, *)."""
    if input.dim() <= 2:
        raise RuntimeError(f"{_where()}channel_shuffle expects input with > 2 dims, but got "
                           f"input with sizes {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % groups:
        raise RuntimeError(f"{_where()}Number of channels must be divisible by groups. Got {c} "
                           f"channels and {groups} groups.")
    rest = tuple(input.shape[2:])
    x = _ops.reshape(input, (n, groups, c // groups) + rest)
    x = _ops.transpose(x, 1, 2)
    return _ops.reshape(x, (n, c) + rest)


def _geometry(spatial, kernel_size, dilation, padding, stride):
    k, d, p, s = (_pair(v) for v in (kernel_size, dilation, padding, stride))
    out = tuple((spatial[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
    return k, d, p, s, out


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C kh kw, L), each column one sliding block (channel-major,
    then kernel row, then kernel column), L blocks in row-major order."""
    if input.dim() == 0:    # PyTorch reads input.size(1) first
        raise IndexError(f"{_where()}Dimension specified as 1 but tensor has no dimensions")
    _kernel_float("im2col_out_cpu", input, bools=True)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"{_where()}Input Error: Only 3D or 4D input Tensors are supported "
                           f"(got {input.dim()}D)")
    x = input if input.dim() == 4 else _ops.unsqueeze(input, 0)
    n, c, h, w = x.shape
    k, d, p, s, (oh, ow) = _geometry((h, w), kernel_size, dilation, padding, stride)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"{_where()}Given input with spatial size ({h}, {w}), kernel_size="
                           f"{k}, dilation={d}, padding={p}, calculated shape of the array of "
                           f"sliding blocks as ({oh}, {ow}), but its components must be at "
                           "least one.")
    if p != (0, 0):
        x = apply("slice_grad", x, shape=(n, c, h + 2 * p[0], w + 2 * p[1]),
                  starts=(0, 0, p[0], p[1]), steps=(1, 1, 1, 1))
    blocks = []
    for i in range(k[0]):
        for j in range(k[1]):
            top, left = i * d[0], j * d[1]
            blocks.append(x[:, :, top:top + (oh - 1) * s[0] + 1:s[0],
                            left:left + (ow - 1) * s[1] + 1:s[1]])
    cols = _ops.reshape(_ops.stack(blocks, 2), (n, c * k[0] * k[1], oh * ow))
    return cols if input.dim() == 4 else _ops.squeeze(cols, 0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, the adjoint of unfold: (N, C kh kw, L) -> (N, C, H, W), overlapping blocks
    summed."""
    _kernel_float("col2im_out_cpu", input, bools=True)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{_where()}Input Error: Only unbatched (2D) or batched (3D) input "
                           f"Tensors are supported (got {input.dim()}D)")
    x = input if input.dim() == 3 else _ops.unsqueeze(input, 0)
    h, w = _pair(output_size)
    k, d, p, s, (oh, ow) = _geometry((h, w), kernel_size, dilation, padding, stride)
    n, ck, length = x.shape
    if ck % (k[0] * k[1]) or length != oh * ow:
        raise RuntimeError(f"{_where()}Expected size of input's dimension 1 to be divisible by "
                           f"the product of kernel_size, but got input.size(1)={ck} and "
                           f"kernel_size={k}" if ck % (k[0] * k[1]) else
                           f"{_where()}Given output_size={(h, w)}, kernel_size={k}, dilation="
                           f"{d}, padding={p}, stride={s}, expected size of input's dimension 2 "
                           f"to match the calculated number of sliding blocks {oh} * {ow} = "
                           f"{oh * ow}, but got input.size(2)={length}.")
    c = ck // (k[0] * k[1])
    x = _ops.reshape(x, (n, c, k[0] * k[1], oh, ow))
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    out = None
    for i in range(k[0]):
        for j in range(k[1]):
            placed = apply("slice_grad", x[:, :, i * k[1] + j], shape=(n, c, hp, wp),
                           starts=(0, 0, i * d[0], j * d[1]), steps=(1, 1, s[0], s[1]))
            out = placed if out is None else out + placed
    out = out[:, :, p[0]:p[0] + h, p[1]:p[1] + w]
    return out if input.dim() == 3 else _ops.squeeze(out, 0)
