"""Normalization layers' functional forms."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.nn.functional._base import _where

def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes each channel (dim 1) of input (N, C, *) by the batch statistics (training)
    or by ``running_mean``/``running_var`` (C,), then scales by weight and shifts by bias (C,).
    In training, the running stats are updated in place: r = (1 - momentum) * r + momentum *
    stat, with the unbiased batch variance (PyTorch's rule). Composite: gradients are derived.
    Raises ValueError when training sees one value per channel."""
    if input.dim() < 2:
        raise ValueError(f"{_where()}batch_norm expects an input of at least 2 dims, got "
                         f"{input.dim()}")
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.dim() - 2)
    if training:
        count = input.numel() // c
        if count <= 1:
            from graphnn._size import Size
            raise ValueError("Expected more than 1 value per channel when training, got "
                             f"input size {Size(input.shape)!r}")
        axes = (0,) + tuple(range(2, input.dim()))
        mean = _ops.mean(input, axes, keepdim=True)
        centered = input - mean
        var = _ops.mean(centered * centered, axes, keepdim=True)
        if running_mean is not None and running_var is not None:
            from graphnn.autograd import no_grad
            with no_grad():
                m = _ops.reshape(mean.detach(), (c,))
                v = _ops.reshape(var.detach(), (c,)) * (count / (count - 1))
                running_mean.mul_(1 - momentum).add_(m * momentum)
                running_var.mul_(1 - momentum).add_(v * momentum)
        out = centered * _ops.rsqrt(var + eps)
    else:
        out = (input - _ops.reshape(running_mean, shape)) * _ops.rsqrt(
            _ops.reshape(running_var, shape) + eps)
    if weight is not None:
        out = out * _ops.reshape(weight, shape)
    if bias is not None:
        out = out + _ops.reshape(bias, shape)
    return out
