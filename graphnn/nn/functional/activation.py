"""Activation functions (any shape; the output has the input's shape unless stated)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.nn.functional._base import _maybe_inplace, _where, graph_function

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise; any shape."""
    return _maybe_inplace(input, inplace, "relu_", lambda x: apply("relu", x))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), elementwise (PyTorch: hardtanh(x, 0, 6))."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val); unlike clamp, the gradient is zero at the bounds
    (PyTorch's hardtanh_backward passes it only where min_val < x < max_val)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")

    def fn(x):
        out = apply("where", apply("le", x, min_val), min_val, x)
        out = apply("where", apply("ge", x, max_val), max_val, out)
        return _ops._named(out, "HardtanhBackward0", x)
    return _maybe_inplace(input, inplace, "hardtanh_", fn)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x (PyTorch docs, LeakyReLU)."""
    return _maybe_inplace(input, inplace, "leaky_relu_", lambda x: _ops._named(
        apply("where", apply("gt", x, 0.0), x, apply("mul", x, negative_slope)),
        "LeakyReluBackward0", x))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else a * x, with ``weight`` of shape (1,) or (C,) broadcast over dim 1."""
    if weight.numel() != 1:
        c = input.shape[1] if input.dim() > 1 else input.shape[0]
        if weight.numel() != c:
            raise RuntimeError(f"{_where()}Mismatch of parameter numbers and input channel size. "
                               f"Found parameter numbers = {weight.numel()} and channel size "
                               f"= {c}.")
        if input.dim() > 1:
            weight = _ops.reshape(weight, (c,) + (1,) * (input.dim() - 2))
    return _ops._named(apply("where", apply("gt", input, 0.0), input, apply("mul", weight, input)),
                       "PreluKernelBackward0", input, weight)


def tanh(input: Tensor) -> Tensor:
    return apply("tanh", input)


def sigmoid(input: Tensor) -> Tensor:
    return apply("sigmoid", input)


def _softmax_dim(input: Tensor, dim) -> int:
    if dim is None:
        # PyTorch's legacy implicit choice
        dim = 0 if input.dim() in (0, 1, 3) else 1
    return _ops.norm_dim(dim, input.dim())


@graph_function(grad_name="LogSoftmaxBackward0")
def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """x - log(sum(exp(x), dim)), computed with a one-pass log-sum-exp."""
    if dtype is not None:
        input = _ops.to_dtype(input, dtype)
    d = _softmax_dim(input, dim)
    if input.dim() == 0:
        return input * 0.0
    lse = apply("logsumexp", input, axes=(d,), keepdim=True)
    return input - lse


@graph_function(grad_name="SoftmaxBackward0")
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x - logsumexp(x, dim)) (PyTorch docs, Softmax)."""
    if dtype is not None:
        input = _ops.to_dtype(input, dtype)
    d = _softmax_dim(input, dim)
    if input.dim() == 0:
        return input * 0.0 + 1.0
    lse = apply("logsumexp", input, axes=(d,), keepdim=True)
    return apply("exp", input - lse)
