"""``graphnn.nn.functional``: every function is composed from IR primitives, so it gets
gradients, fusion and codegen for free. Composite functions called outside a traced module
(``F.cross_entropy(out, y)`` in a training loop) run as one compiled graph each.

Argument checks run before anything is traced or launched and raise PyTorch's error types
with its wording, prefixed by the module path when called inside a module."""
from __future__ import annotations

import functools
import os

import numpy as np

from graphnn import _compile, _inplace, _ops, _trace
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.types import int32, int64

_GRAPH_FN_CACHE: dict = {}


def graph_function(fn=None, *, grad_name: str | None = None):
    """Runs ``fn`` as one compiled graph when it is called outside a trace. ``grad_name``
    is the grad_fn name PyTorch gives the result (``SoftmaxBackward0``)."""
    if fn is None:
        return functools.partial(graph_function, grad_name=grad_name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _trace.current() is not None or os.environ.get("GRAPHNN_EAGER"):
            return fn(*args, **kwargs)
        out = _compile.call_traced(fn, fn.__qualname__, list(args), fn.__name__, kwargs,
                                   cache=_GRAPH_FN_CACHE)
        return _ops._named(out, grad_name) if grad_name else out

    return wrapper


def _where(fn: str = "") -> str:
    """The module path that an error message starts with ("conv1: "), or else the name of
    the function ``fn`` ("linear: ") so that every message names where it comes from."""
    tr = _trace.current()
    if tr is not None and tr.scope_name:
        return f"{tr.scope_name}: "
    if tr is not None and tr.module_names and tr.root_name:
        return f"{tr.root_name}: "      # the top-level module being traced
    return f"{fn}: " if fn else ""


_TORCH_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                       "int32": "Int", "int64": "Long", "bool": "Bool"}


def _pair(v, name: str = "value") -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


# -- activations --------------------------------------------------------------------------
def _maybe_inplace(input: Tensor, inplace: bool, name: str, fn) -> Tensor:
    """``fn(input)``, written into ``input`` and returning it when ``inplace`` (PyTorch's
    ``inplace=True``: the input's storage and history are updated)."""
    if inplace:
        return _inplace.inplace(input, name, fn)
    return fn(input)


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


# -- linear and convolution ---------------------------------------------------------------
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


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over kH x kW windows. input (N, C, H, W) or (C, H, W); stride defaults to
    kernel_size; output size as in PyTorch's MaxPool2d docs."""
    if return_indices:
        raise NotImplementedError("max_pool2d(return_indices=True) is not supported yet")
    if input.dim() not in (3, 4):
        raise RuntimeError(f"{_where('max_pool2d')}non-empty 3D or 4D (batch mode) tensor expected for "
                           f"input, but got: {list(input.shape)}")
    unbatched = input.dim() == 3
    x = _ops.unsqueeze(input, 0) if unbatched else input
    k = _pair(kernel_size, "kernel_size")
    s = _pair(stride, "stride") if stride is not None and stride != [] else k
    out = apply("max_pool2d", x, kernel=k, stride=s, padding=_pair(padding, "padding"),
                dilation=_pair(dilation, "dilation"), ceil_mode=bool(ceil_mode))
    return _ops._named(_ops.squeeze(out, 0) if unbatched else out,
                       "MaxPool2DWithIndicesBackward0")


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _ops.flatten(input, start_dim, end_dim)


# -- losses -------------------------------------------------------------------------------
def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _ops.mean(loss)
    if reduction == "sum":
        return _ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_targets(input: Tensor, target: Tensor, fn: str, ignore_index: int) -> bool:
    """Validates class-index targets; returns False when ``ignore_index`` provably does not
    occur (a concrete target), so the loss graph can skip the masking."""
    if target.dtype not in (int64, int32):
        raise RuntimeError(f"{_where()}{fn}: expected target dtype to be Long or Byte, but got "
                           f"{_TORCH_SCALAR_NAMES[target.dtype.name]} (class indices); target "
                           f"shape {list(target.shape)}, input shape {list(input.shape)}")
    n_cls = input.shape[1] if input.dim() > 1 else input.shape[0]
    want = (input.shape[0],) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != want:
        raise ValueError(f"{_where()}{fn}: expected target of shape {list(want)} for input of "
                         f"shape {list(input.shape)}, got {list(target.shape)}")
    if target._sym is None:
        values = target._host()
        bad = values[(values != ignore_index) & ((values < 0) | (values >= n_cls))]
        if bad.size:
            raise IndexError(f"{_where()}{fn}: Target {int(bad.flat[0])} is out of bounds. Class "
                             f"indices must be in [0, {n_cls}) for input of shape "
                             f"{list(input.shape)}; target shape {list(target.shape)}")
        return bool(np.any(values == ignore_index))
    return True


@graph_function
def _nll(logp_or_x, target, weight, reduction, ignore_index, from_logits):
    x = logp_or_x
    c_axis = 1 if x.dim() > 1 else 0
    if x.dim() == 1:
        x = _ops.unsqueeze(x, 0)
        target = _ops.unsqueeze(target, 0)
    idx = _ops.unsqueeze(target, 1)
    if ignore_index is None:    # no target is ignored: no mask
        safe, w = idx, None
    else:
        valid = apply("ne", idx, ignore_index)
        safe = apply("where", valid, idx, 0)
        w = _ops.to_dtype(valid, x.dtype)
    picked = apply("gather", x, safe, axis=1)
    if from_logits:
        picked = picked - apply("logsumexp", x, axes=(1,), keepdim=True)
    if weight is not None:
        wshape = (1, -1) + (1,) * (x.dim() - 2)
        wt = apply("gather", _ops.expand(_ops.reshape(weight, wshape), tuple(x.shape)), safe,
                   axis=1)
        w = wt if w is None else w * wt
    loss = _ops.squeeze(-(picked * w) if w is not None else -picked, 1)
    if c_axis == 0:
        loss = _ops.squeeze(loss, 0)
    if reduction == "mean":
        return _ops.sum(loss) / _ops.sum(w) if w is not None else _ops.mean(loss)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of ``target`` class indices (N,) under log-probabilities
    input (N, C) (or (N, C, d1...) with target (N, d1...))."""
    masked = _check_targets(input, target, "nll_loss", ignore_index)
    return _ops._named(_nll(input, target, weight, reduction, ignore_index if masked else None,
                            False), "NllLossBackward0")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits input (N, C) against class indices (N,) int64, or against
    class probabilities of input's shape. = nll_loss(log_softmax(input, 1), target)."""
    if label_smoothing:
        raise NotImplementedError("cross_entropy(label_smoothing=...) is not supported yet")
    if target.dtype.is_float:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"{_where()}cross_entropy: expected target dtype to be Long or "
                               f"Byte, but got {_TORCH_SCALAR_NAMES[target.dtype.name]} (a "
                               "float target must hold class probabilities of the input's "
                               f"shape {list(input.shape)}, got shape {list(target.shape)})")
        return _soft_cross_entropy(input, target, weight, reduction)
    masked = _check_targets(input, target, "cross_entropy", ignore_index)
    return _ops._named(_nll(input, target, weight, reduction, ignore_index if masked else None,
                            True), "NllLossBackward0")


@graph_function
def _soft_cross_entropy(input, target, weight, reduction):
    axis = 1 if input.dim() > 1 else 0
    logp = log_softmax(input, axis)
    if weight is not None:
        logp = logp * _ops.reshape(weight, (-1,) + (1,) * (input.dim() - axis - 1))
    loss = -_ops.sum(logp * target, axis)
    if reduction == "mean":
        return _ops.sum(loss) / (input.shape[0] if input.dim() > 1 else 1)
    return _reduce(loss, reduction)


@graph_function
def _mse(input, target, reduction):
    diff = input - target
    return _reduce(diff * diff, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """mean((input - target)^2); shapes broadcast (PyTorch warns when they differ)."""
    if tuple(input.shape) != tuple(target.shape):
        import warnings
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the "
                      f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=2)
    return _ops._named(_mse(input, target, reduction), "MseLossBackward0")


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p)
    (Srivastava et al. 2014; PyTorch's Dropout). Any shape. The mask comes from graphnn's
    counter-based generator (``manual_seed``), not PyTorch's stream."""
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    from graphnn._creation import seed_source
    noise = apply("rand", seed_source(), shape=tuple(input.shape), dtype=input.dtype.name)
    return _maybe_inplace(input, inplace, "dropout_", lambda x: apply(
        "where", apply("ge", noise, p), x * (1.0 / (1.0 - p)), 0.0))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if num_classes < 0:
        num_classes = int(np.max(tensor._host())) + 1
    shape = tuple(tensor.shape) + (num_classes,)
    iota = _iota(shape, len(shape) - 1)
    return _ops.to_dtype(apply("eq", iota, _ops.unsqueeze(tensor, -1)), int64)


def _iota(shape, axis):
    tr = _trace.current()
    if tr is not None:
        nid = tr.graph.add("iota", (), {"shape": tuple(shape), "axis": axis, "dtype": "int64"})
        from graphnn.ir.builder import Sym
        return Tensor._symbolic(Sym(tr.graph, nid), False)
    from graphnn._creation import arange
    lead = (1,) * axis + (-1,) + (1,) * (len(shape) - axis - 1)
    return _ops.expand(_ops.reshape(arange(shape[axis]), lead), shape)


# -- normalization ------------------------------------------------------------------------
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


Tensor.softmax = lambda self, dim, dtype=None: softmax(self, dim, dtype=dtype)
Tensor.log_softmax = lambda self, dim, dtype=None: log_softmax(self, dim, dtype=dtype)
