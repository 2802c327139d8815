"""Linear layers and convolution (pooling: ``pooling.py``)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._base import _pair, _where

def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k. input1 (*, in1), input2 (*, in2) with the same leading dims,
    weight (out, in1, in2), bias (out,) -> (*, out). One GEMM: x1 times W laid out as
    (in1, out * in2), then a product with x2 summed over in2."""
    if input1.dim() == 0 or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(f"{_where('bilinear')}input1 and input2 must have the same size "
                           f"except for the last dimension, but got {list(input1.shape)} and "
                           f"{list(input2.shape)}")
    out, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(f"{_where('bilinear')}input sizes {input1.shape[-1]} and "
                           f"{input2.shape[-1]} do not match the weight's {in1} and {in2}")
    lead = tuple(input1.shape[:-1])
    x1 = _ops.reshape(input1, (-1, in1))
    x2 = _ops.reshape(input2, (-1, 1, in2))
    w = _ops.reshape(_ops.permute(weight, (1, 0, 2)), (in1, out * in2))
    y = _ops.sum(_ops.reshape(x1 @ w, (-1, out, in2)) * x2, -1)
    if bias is not None:
        y = y + bias
    return _ops.reshape(y, lead + (out,))


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b. input (*, in_features), weight (out_features, in_features),
    bias (out_features,) -> (*, out_features)."""
    if input.dim() == 0 or input.shape[-1] != weight.shape[-1]:
        rows = 1
        for s in input.shape[:-1]:
            rows *= s
        cols = input.shape[-1] if input.dim() else 1
        raise RuntimeError(f"{_where('linear')}mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} "
                           f"and {weight.shape[1]}x{weight.shape[0]})")
    lead = tuple(input.shape[:-1])
    x2 = _ops.reshape(input, (-1, input.shape[-1])) if input.dim() != 2 else input
    out = apply("matmul", x2, weight, ta=False, tb=True)
    if bias is not None:
        out = out + bias
    if input.dim() != 2:
        return _ops._named(_ops.reshape(out, lead + (weight.shape[0],)), "ViewBackward0")
    return _ops._named(out, "AddmmBackward0" if bias is not None else "MmBackward0")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation. input (N, C_in, H, W) or (C_in, H, W); weight
    (C_out, C_in/groups, kH, kW); bias (C_out,) -> (N, C_out, H_out, W_out) with
    H_out = floor((H + 2*padding - dilation*(kH-1) - 1) / stride + 1) (PyTorch docs)."""
    if input.dim() not in (3, 4):
        raise RuntimeError(f"{_where('conv2d')}Expected 3D (unbatched) or 4D (batched) input to conv2d, "
                           f"but got input of size: {list(input.shape)}")
    unbatched = input.dim() == 3
    x = _ops.unsqueeze(input, 0) if unbatched else input
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            kh, kw = weight.shape[2:]
            total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
            if total[0] % 2 or total[1] % 2:
                raise NotImplementedError("padding='same' with an even kernel is not supported")
            padding = (total[0] // 2, total[1] // 2)
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
    padding = _pair(padding, "padding")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"{_where('conv2d')}Given groups={groups}, weight of size "
                           f"{list(weight.shape)}, expected input{list(x.shape)} to have "
                           f"{weight.shape[1] * groups} channels, but got {x.shape[1]} "
                           "channels instead")
    ph, pw = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    eh = dilation[0] * (weight.shape[2] - 1) + 1
    ew = dilation[1] * (weight.shape[3] - 1) + 1
    if ph < eh or pw < ew:
        raise RuntimeError(f"{_where('conv2d')}Calculated padded input size per channel: ({ph} x {pw}). "
                           f"Kernel size: ({eh} x {ew}). Kernel size can't be greater than "
                           "actual input size")
    out = apply("conv2d", x, weight, stride=stride, padding=padding, dilation=dilation,
                groups=groups)
    if bias is not None:
        out = out + _ops.reshape(bias, (1, -1, 1, 1))
    return _ops._named(_ops.squeeze(out, 0) if unbatched else out, "ConvolutionBackward0")


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _ops.flatten(input, start_dim, end_dim)
