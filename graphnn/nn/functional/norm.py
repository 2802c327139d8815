"""Normalization layers' functional forms."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.nn.functional._base import _where
from graphnn.nn.functional._dtypes import kernel_float as _kernel_float
from graphnn.nn.functional._dtypes import mixed as _mixed, scalar as _scalar

def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes each channel (dim 1) of input (N, C, *) by the batch statistics (training)
    or by ``running_mean``/``running_var`` (C,), then scales by weight and shifts by bias (C,).
    In training, the running stats are updated in place: r = (1 - momentum) * r + momentum *
    stat, with the unbiased batch variance (PyTorch's rule). Composite: gradients are derived.
    Raises ValueError when training sees one value per channel, NotImplementedError for
    integer inputs and RuntimeError for inputs and statistics of two float dtypes."""
    c = input.shape[1] if input.dim() > 1 else 0
    if input.numel() == 0 and input.dim() > 1 and not (c == 0 and running_mean is not None
                                                       and running_mean.numel() == 0):
        return _ops.clone(input)    # PyTorch returns an empty input before any check
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() != c:    # PyTorch's check, also for 0-d and 1-d input
            raise RuntimeError(f"{_where()}{name} should contain {c} elements not {t.numel()}")
    if input.dim() < 2:
        raise ValueError(f"{_where()}batch_norm expects an input of at least 2 dims, got "
                         f"{input.dim()}")
    _kernel_float("batch_norm", input)
    _mixed(input, running_mean, running_var, weight, bias)
    if input.dtype.low_precision:
        return _ops.to_dtype(_batch_norm(*_float32(input, running_mean, running_var, weight,
                                                   bias), training, momentum, eps), input.dtype)
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    """``batch_norm`` once its arguments are checked (a 16-bit input arrives in float32,
    its running statistics in their own dtype)."""
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.dim() - 2)
    if c == 0 and running_mean is not None:     # PyTorch selects channel 0 of the stats
        raise IndexError(f"{_where()}select(): index 0 out of range for tensor of size [0] at "
                         "dimension 0")
    if training:
        count = input.numel() // c if c else 0
        if count == 1:
            from graphnn._size import Size
            raise ValueError("Expected more than 1 value per channel when training, got "
                             f"input size {Size(input.shape)!r}")
        axes = (0,) + tuple(range(2, input.dim()))
        mean, var = _moments(input, axes)
        # an empty batch leaves the running statistics as they are (PyTorch)
        if running_mean is not None and running_var is not None and count:
            from graphnn.autograd import no_grad
            with no_grad():
                # updated in the statistics' (1, C, 1, ...) shape, so the update is part of
                # the reduction kernel's epilogue; written back as (C,). The unbiased variance
                # multiplies by the count and divides by count - 1 rather than taking the
                # float count / (count - 1): a count over the batch is a symbolic size, a
                # kernel argument, so the kernel text does not depend on the batch size
                unbiased = var * count / (count - 1)
                for r, stat in ((running_mean, mean), (running_var, unbiased)):
                    new = _ops.reshape(r, shape) * (1 - momentum) + stat.detach() * momentum
                    r.copy_(_ops.reshape(new, (c,)))
        out = (input - mean) * _ops.rsqrt(var + eps)
    else:
        out = (input - _ops.reshape(running_mean, shape)) * _ops.rsqrt(
            _ops.reshape(running_var, shape) + eps)
    if weight is not None:
        out = out * _ops.reshape(weight, shape)
    if bias is not None:
        out = out + _ops.reshape(bias, shape)
    return out


def _float32(input, running_mean, running_var, weight, bias) -> tuple:
    """The arguments of a normalization of a 16-bit input as PyTorch's CPU kernels compute
    it (``_ops.opmath``): input, weight and bias in float32, the result rounded once by the
    caller. The running statistics stay themselves: read into float32 arithmetic by
    promotion, and updated in place in their own dtype."""
    return (_ops.upcast(input), running_mean, running_var, _ops.upcast(weight),
            _ops.upcast(bias))


def _moments(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Mean and biased variance of ``x`` over ``axes`` (keepdim), from one pass over ``x``.

    Shifted data (Chan, Golub & LeVeque 1983): with K one value of each reduced run,
    mean = K + E[x - K] and var = E[(x - K)^2] - E[x - K]^2. Both sums read the same
    values, so they share one reduction kernel; K, drawn from the data, keeps the
    cancellation of E[x^2] - E[x]^2 away. K is detached: the derivatives of mean and var
    with respect to K are exactly zero, so this changes no gradient.
    """
    first = tuple(slice(0, 1) if i in axes else slice(None) for i in range(x.dim()))
    k = x.detach()[first]
    d = x - k
    s1 = _ops.mean(d, axes, keepdim=True)
    s2 = _ops.mean(d * d, axes, keepdim=True)
    return k + s1, s2 - s1 * s1


def _normalize(x: Tensor, axes: tuple[int, ...], eps: float):
    """(x - mean) / sqrt(var + eps) over ``axes`` (biased variance), and the statistics."""
    mean, var = _moments(x, axes)
    return (x - mean) * _ops.rsqrt(var + eps), mean, var


@_ops.opmath
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalizes over the trailing ``normalized_shape`` dims of input (*, *normalized_shape)
    with the biased variance, then ``* weight + bias`` (both of normalized_shape). Ba et al.
    2016, "Layer Normalization"; PyTorch's LayerNorm. Raises RuntimeError when the trailing
    dims do not match."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(s) for s in normalized_shape)
    _kernel_float("LayerNormKernelImpl", input)
    _mixed(input, weight, bias)
    if tuple(input.shape[input.dim() - len(shape):]) != shape or input.dim() < len(shape):
        raise RuntimeError(f"{_where()}Given normalized_shape={list(shape)}, expected input "
                           f"with shape [*, {', '.join(str(s) for s in shape)}], but got "
                           f"input of size{list(input.shape)}")
    axes = tuple(range(input.dim() - len(shape), input.dim()))
    out, _, _ = _normalize(input, axes, eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


@_ops.opmath
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalizes input (N, C, *) over each group of C / num_groups channels and all other
    dims, then scales and shifts per channel with weight and bias (C,). Wu & He 2018,
    "Group Normalization"."""
    if input.dim() < 2:
        raise RuntimeError(f"{_where()}Expected at least 2 dimensions for input tensor but "
                           f"received {input.dim()}")
    _kernel_float("GroupNormKernelImpl", input)
    _mixed(input, weight, bias)
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0:
        raise RuntimeError(f"{_where()}Expected num groups to be greater than 0, got "
                           f"{num_groups}")
    if c % num_groups:
        raise RuntimeError(f"{_where()}Expected number of channels in input to be divisible "
                           f"by num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{_where()}Expected {name} to be a vector of size equal to the "
                               f"number of channels in input, but got {name} of shape "
                               f"{list(t.shape)} and input of shape {list(input.shape)}")
    rest = 1
    for size in input.shape[2:]:
        rest *= size
    grouped = _ops.reshape(input, (n, num_groups, c // num_groups * rest))
    out = _ops.reshape(_normalize(grouped, (2,), eps)[0], tuple(input.shape))
    shape = (1, c) + (1,) * (input.dim() - 2)
    if weight is not None:
        out = out * _ops.reshape(weight, shape)
    if bias is not None:
        out = out + _ops.reshape(bias, shape)
    return out


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes input (N, C, *) per sample and channel over the spatial dims (Ulyanov et
    al. 2016), or by the running statistics (C,) when ``use_input_stats`` is False. With
    running stats and input stats, r = (1 - momentum) * r + momentum * (the batch mean of
    the per-instance mean, and of the unbiased per-instance variance), as PyTorch."""
    if input.dim() < 3:
        raise ValueError(f"{_where()}instance_norm expects an input of at least 3 dims, got "
                         f"{input.dim()}")
    _kernel_float("batch_norm", input)
    _mixed(input, running_mean, running_var, weight, bias)
    if input.dtype.low_precision:
        return _ops.to_dtype(_instance_norm(*_float32(input, running_mean, running_var,
                                                      weight, bias), use_input_stats,
                                            momentum, eps), input.dtype)
    return _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                          momentum, eps)


def _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                   eps):
    """``instance_norm`` once its arguments are checked."""
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.dim() - 2)
    axes = tuple(range(2, input.dim()))
    if use_input_stats:
        count = 1
        for ax in axes:
            count *= input.shape[ax]
        if count == 1:
            from graphnn._size import Size
            raise ValueError(f"{_where()}Expected more than 1 spatial element when training, "
                             f"got input size {Size(input.shape)!r}")
        out, mean, var = _normalize(input, axes, eps)
        if running_mean is not None and running_var is not None and input.numel():
            from graphnn.autograd import no_grad
            with no_grad():
                m = _ops.mean(_ops.reshape(mean.detach(), (-1, c)), 0)
                v = _ops.mean(_ops.reshape(var.detach(), (-1, c)), 0) * (count / (count - 1))
                running_mean.mul_(1 - momentum).add_(m * momentum)
                running_var.mul_(1 - momentum).add_(v * momentum)
    else:
        out = (input - _ops.reshape(running_mean, shape)) * _ops.rsqrt(
            _ops.reshape(running_var, shape) + eps)
    if weight is not None:
        out = out * _ops.reshape(weight, shape)
    if bias is not None:
        out = out + _ops.reshape(bias, shape)
    return out


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """b_c = a_c / (k + alpha / size * sum of a_c'^2 over the ``size`` channels around c)^beta
    for input (N, C, *), channels zero-padded (Krizhevsky et al. 2012; PyTorch's
    LocalResponseNorm)."""
    if input.dim() < 3:
        raise ValueError(f"{_where()}Expected 3D or higher dimensionality input (got "
                         f"{input.dim()} dimensions)")
    if size <= 0:   # PyTorch pools the squares over a (size, 1, 1) window
        raise RuntimeError(f"{_where()}kernel size should be greater than zero, but got kT: "
                           f"{size} kH: 1 kW: 1 (size={size})")
    _kernel_float("avg_pool3d_out_frame", input, ints=True)
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = input * input
    before, after = size // 2, (size - 1) // 2
    parts = []
    if before:
        parts.append(_ops.expand(_ops.reshape(sq[:, :1] * 0.0, (input.shape[0], 1) +
                                              tuple(input.shape[2:])),
                                 (input.shape[0], before) + tuple(input.shape[2:])))
    parts.append(sq)
    if after:
        parts.append(_ops.expand(sq[:, :1] * 0.0, (input.shape[0], after) +
                                 tuple(input.shape[2:])))
    padded = _ops.cat(parts, 1) if len(parts) > 1 else sq
    window = padded[:, 0:c]
    for i in range(1, size):
        window = window + padded[:, i:i + c]
    div = (window * (alpha / size) + k) ** beta
    return input / div


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out=None) -> Tensor:
    """x / max(||x||_p over ``dim``, eps) (PyTorch's F.normalize). RuntimeError for integer
    inputs, IndexError for a ``dim`` out of range."""
    if not input.dtype.is_float:
        raise RuntimeError(f"{_where()}linalg.vector_norm: Expected a floating point or "
                           f"complex tensor as input. Got {_scalar(input)}")
    _ops.norm_dim(dim, input.dim())
    denom = _ops.clamp(_ops.norm(input, p, dim, keepdim=True), min=eps)
    return input / _ops.expand(denom, tuple(input.shape))
