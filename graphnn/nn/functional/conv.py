"""Linear layers (convolutions: ``conv_nd``; pooling: ``pooling``)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import C10_NAMES, SCALAR_NAMES, Tensor
from graphnn.nn.functional._base import _pair, _where
from graphnn.nn.functional._dtypes import cname as _cname, scalar as _scalar

def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k. input1 (*, in1), input2 (*, in2) with the same leading dims,
    weight (out, in1, in2), bias (out,) -> (*, out). One GEMM: x1 times W laid out as
    (in1, out * in2), then a product with x2 summed over in2."""
    named = [("input1", input1), ("input2", input2), ("weight", weight)] + \
        ([("bias", bias)] if bias is not None else [])
    if any(t.dtype != input1.dtype for _, t in named):
        raise RuntimeError(f"{_where('bilinear')}All tensors must have the same dtype, got "
                           + ", ".join(f"{n}: {_cname(t)}" for n, t in named))
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
    bias (out_features,) -> (*, out_features). All three must share a dtype (RuntimeError,
    as PyTorch's addmm)."""
    if input.dtype != weight.dtype:
        raise RuntimeError(f"{_where('linear')}mat1 and mat2 must have the same dtype, but got "
                           f"{_scalar(input)} and {_scalar(weight)}" if bias is not None else
                           f"{_where('linear')}expected m1 and m2 to have the same dtype, but "
                           f"got: {_cname(input)} != {_cname(weight)}")
    if bias is not None and bias.dtype != weight.dtype:
        raise RuntimeError(f"{_where('linear')}self and mat2 must have the same dtype, but got "
                           f"{_scalar(bias)} and {_scalar(weight)}")
    if input.dim() == 0 or input.shape[-1] != weight.shape[-1]:
        rows = 1
        for s in input.shape[:-1]:
            rows *= s
        cols = input.shape[-1] if input.dim() else 1
        raise RuntimeError(f"{_where('linear')}mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} "
                           f"and {weight.shape[1]}x{weight.shape[0]})")
    _linear_dtypes(input, weight, bias)
    lead = tuple(input.shape[:-1])
    x2 = _ops.reshape(input, (-1, input.shape[-1])) if input.dim() != 2 else input
    out = apply("matmul", x2, weight, ta=False, tb=True)
    if bias is not None:
        out = out + bias
    if input.dim() != 2:
        return _ops._named(_ops.reshape(out, lead + (weight.shape[0],)), "ViewBackward0")
    return _ops._named(out, "AddmmBackward0" if bias is not None else "MmBackward0")




def _linear_dtypes(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's addmm / mm dtype errors (a float32 input to a half model)."""
    names = SCALAR_NAMES
    if bias is None and input.dtype != weight.dtype:
        raise RuntimeError(f"{_where('linear')}expected m1 and m2 to have the same dtype, but "
                           f"got: {C10_NAMES[input.dtype.name]} != "
                           f"{C10_NAMES[weight.dtype.name]}")
    if bias is None:
        return
    if input.dtype != weight.dtype:
        raise RuntimeError(f"{_where('linear')}mat1 and mat2 must have the same dtype, but got "
                           f"{names[input.dtype.name]} and {names[weight.dtype.name]}")
    elif bias.dtype != weight.dtype:
        raise RuntimeError(f"{_where('linear')}self and mat2 must have the same dtype, but got "
                           f"{names[bias.dtype.name]} and {names[weight.dtype.name]}")


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _ops.flatten(input, start_dim, end_dim)
