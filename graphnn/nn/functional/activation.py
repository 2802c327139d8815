"""Activation functions: any shape, the output has the input's shape unless stated.

Each is composed from IR primitives in the form PyTorch computes it (the formulas below
are ATen's CPU kernels; the gradients follow from the composition and match
derivatives.yaml, including at the breakpoints: ``where`` conditions are chosen so that the
branch PyTorch's backward uses is the one selected there). Branches that are not selected
are fed a harmless argument (``where(big, 0, x)`` inside ``exp``) so that their zero
cotangent never meets an inf (0 * inf would be nan in the gradient).

Outside a trace a composite runs as one compiled graph (``graph_function``); Python
scalars (``alpha``, ``beta``...) are constants of that graph. ``inplace=True`` writes the
result into the input (``_maybe_inplace``) and names the history PyTorch's in-place node
(``EluBackward1``). Functions PyTorch implements only for floating point raise its
NotImplementedError for integer inputs."""
from __future__ import annotations

import math

from graphnn._errors import warn as _warn
from graphnn import _inplace, _ops, autograd
from graphnn._creation import seed_source
from graphnn._dispatch import apply
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn.nn.functional._base import _maybe_inplace, _where, graph_function

_named = _ops._named

# SELU's constants (Klambauer et al. 2017, "Self-Normalizing Neural Networks"; ATen's)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _const(value, like: Tensor) -> Tensor:
    """A 0-d constant of ``like``'s dtype: a Python float in a ``where`` branch would
    otherwise take its dtype from the boolean condition (float32, also for float64)."""
    if not like.dtype.is_float:
        value = int(value)
    return _inplace._filled((), like.dtype, value)


def _floats_only(input: Tensor, kernel: str, fn: str) -> None:
    if not input.dtype.is_float:
        name = SCALAR_NAMES.get(input.dtype.name, input.dtype.name)
        raise NotImplementedError(f'{_where(fn)}"{kernel}" not implemented for \'{name}\'')


def _inplace_named(input, inplace: bool, name: str, grad_name: str, fn) -> Tensor:
    """``fn(input)``, or written into ``input`` with PyTorch's in-place node name."""
    if not inplace:
        return fn(input)
    return _maybe_inplace(input, True, name, lambda x: _named(fn(x), grad_name, x))


def _no_negative_inplace(input: Tensor, slope: float, what: str, tail: str = "") -> None:
    """PyTorch's in-place ELU and leaky ReLU save their result, whose sign no longer tells
    the branch when the slope is negative; PyTorch raises when ``backward`` reaches it,
    graphnn when the call records history."""
    if slope < 0 and autograd.is_grad_enabled() and input.requires_grad:
        raise RuntimeError(f"In-place {what} backward calculation is triggered with a negative "
                           "slope which is not supported. This is caused by calling in-place "
                           "forward function with a negative slope, please call out-of-place "
                           "version instead." + tail)


# -- the ReLU family ----------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); the gradient is 0 at x = 0. Integer tensors stay integer; bool ones raise
    RuntimeError, as in PyTorch."""
    if input.dtype.name == "bool":
        raise RuntimeError(f"{_where('relu')}Boolean inputs not supported for relu")
    return _maybe_inplace(input, inplace, "relu_", lambda x: apply("relu", x))


def relu_(input: Tensor) -> Tensor:
    return relu(input, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (PyTorch: hardtanh(x, 0, 6), gradient 0 at 0 and 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val); unlike clamp, the gradient is zero at the bounds
    (PyTorch's hardtanh_backward passes it only where min_val < x < max_val). Integer
    tensors stay integer."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if input.dtype.name == "bool":
        raise RuntimeError(f"{_where('hardtanh')}Bool inputs not supported for hardtanh")
    return _maybe_inplace(input, inplace, "hardtanh_",
                          lambda x: _hardtanh(x, float(min_val), float(max_val)))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, True)


@graph_function(grad_name="HardtanhBackward0")
def _hardtanh(x: Tensor, min_val: float, max_val: float) -> Tensor:
    out = apply("where", apply("le", x, min_val), _const(min_val, x), x)
    return apply("where", apply("ge", x, max_val), _const(max_val, x), out)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x if x > threshold else value; the gradient is 0 where x <= threshold. Integer
    tensors stay integer."""
    if input.dtype.name == "bool":
        _floats_only(input, "threshold_cpu", "threshold")
    return _inplace_named(input, inplace, "threshold_", "ThresholdBackward1",
                          lambda x: _threshold(x, float(threshold), float(value)))


_threshold_api = threshold     # the parameter of the same name hides it in threshold_


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _threshold_api(input, threshold, value, True)


@graph_function(grad_name="ThresholdBackward0")
def _threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    return apply("where", apply("le", x, threshold), _const(value, x), x)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x (the slope's gradient also at x = 0)."""
    _floats_only(input, "leaky_relu_cpu", "leaky_relu")
    if inplace:
        _no_negative_inplace(input, negative_slope, "leakyReLu", (
            " File an issue at https://github.com/pytorch/pytorch if you do require supporting "
            "in-place leakRelu backward calculation with negative slope"))
    return _inplace_named(input, inplace, "leaky_relu_", "LeakyReluBackward1", lambda x: _named(
        _leaky(x, float(negative_slope)), "LeakyReluBackward0", x))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, True)


@graph_function
def _leaky(x: Tensor, slope: float) -> Tensor:
    return apply("where", apply("gt", x, 0.0), x, x * slope)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else a * x, with ``weight`` a of shape (1,), () or (C,) broadcast over
    dim 1 (the channels; a 1-D input has one channel)."""
    _floats_only(input, "prelu_cpu", "prelu")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"{_where('prelu')}prelu: Type promoting not supported. Got "
                           f"{SCALAR_NAMES[input.dtype.name]} and "
                           f"{SCALAR_NAMES[weight.dtype.name]}")
    if weight.dim() > 1:
        raise RuntimeError(f"{_where('prelu')}prelu: Expected `weight` to be a scalar or 1D "
                           f"tensor, but got: ndim = {weight.dim()}")
    if weight.numel() != 1:
        c = input.shape[1] if input.dim() > 1 else 1
        if weight.numel() != c:
            raise RuntimeError(f"{_where('prelu')}Mismatch of parameter numbers and input "
                               f"channel size. Found parameter numbers = {weight.numel()} and "
                               f"channel size = {c}.")
    return _prelu(input, weight)


@graph_function(grad_name="PreluKernelBackward0")
def _prelu(x: Tensor, weight: Tensor) -> Tensor:
    if weight.numel() != 1 and x.dim() > 1:
        weight = _ops.reshape(weight, (weight.numel(),) + (1,) * (x.dim() - 2))
    return apply("where", apply("gt", x, 0.0), x, weight * x)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015): x if x > 0 else a * x. Training: a ~ U(lower,
    upper) per element, drawn from graphnn's generator (a fresh seed per call, not
    PyTorch's stream), and the gradient is a. Otherwise a = (lower + upper) / 2."""
    _floats_only(input, "leaky_relu_cpu", "rrelu")
    if lower > upper:
        raise RuntimeError(f"{_where('rrelu')}Lower bound should be less than or equal to the "
                           "upper bound")
    if training:
        fn = _rrelu_train
    else:
        def fn(x, lower, upper):
            return _named(_leaky(x, (lower + upper) / 2), "RreluWithNoiseBackward0", x)
    return _inplace_named(input, inplace, "rrelu_", "RreluWithNoiseBackward1",
                          lambda x: fn(x, float(lower), float(upper)))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, True)


@graph_function(grad_name="RreluWithNoiseBackward0")
def _rrelu_train(x: Tensor, lower: float, upper: float) -> Tensor:
    u = apply("rand", seed_source(), shape=tuple(x.shape), dtype=x.dtype.name)
    return apply("where", apply("gt", x, 0.0), x, x * (u * (upper - lower) + lower))


# -- exponential units --------------------------------------------------------------------
@graph_function
def _elu(x: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    # ATen: x > 0 ? x * scale : expm1(x * input_scale) * alpha * scale
    pos = apply("gt", x, 0.0)
    neg = apply("expm1", apply("where", pos, _const(0.0, x), x) * input_scale)
    return apply("where", pos, x * scale, neg * (alpha * scale))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1) (Clevert et al. 2015), with expm1."""
    _floats_only(input, "elu_cpu", "elu")
    if inplace:
        _no_negative_inplace(input, alpha, "elu")
    return _inplace_named(input, inplace, "elu_", "EluBackward1", lambda x: _named(
        _elu(x, float(alpha), 1.0, 1.0), "EluBackward0", x))


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6732632423543772,
    scale = 1.0507009873554805 (Klambauer et al. 2017)."""
    _floats_only(input, "elu_cpu", "selu")
    return _inplace_named(input, inplace, "selu_", "EluBackward1", lambda x: _named(
        _elu(x, _SELU_ALPHA, _SELU_SCALE, 1.0), "EluBackward0", x))


def selu_(input: Tensor) -> Tensor:
    return selu(input, True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (Barron 2017): ELU with input scale
    1 / alpha."""
    if alpha == 0:
        raise RuntimeError(f"{_where('celu')}ZeroDivisionError: alpha cannot be 0 for CELU")
    _floats_only(input, "elu_cpu", "celu")
    if inplace:
        _no_negative_inplace(input, alpha, "elu")
    return _inplace_named(input, inplace, "celu_", "CeluBackward1", lambda x: _named(
        _elu(x, float(alpha), 1.0, 1.0 / alpha), "CeluBackward0", x))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, True)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Hendrycks and Gimpel 2016): 'none': x/2 * (1 + erf(x / sqrt(2)));
    'tanh': x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"{_where('gelu')}approximate argument must be either none or "
                           "tanh.")
    _floats_only(input, "GeluKernelImpl", "gelu")
    return _gelu(input, approximate)


@graph_function(grad_name="GeluBackward0")
def _gelu(x: Tensor, approximate: str) -> Tensor:
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (apply("tanh", inner) + 1.0)
    return x * 0.5 * (apply("erf", x * math.sqrt(0.5)) + 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (Elfwing et al. 2017; swish)."""
    _floats_only(input, "silu_cpu", "silu")
    return _maybe_inplace(input, inplace, "silu_", _silu)


@graph_function(grad_name="SiluBackward0")
def _silu(x: Tensor) -> Tensor:
    return x * apply("sigmoid", x)


def _softplus_expr(x: Tensor, beta: float, threshold: float) -> Tensor:
    # ATen: x * beta > threshold ? x : log1p(exp(x * beta)) / beta
    bx = x * beta
    big = apply("gt", bx, threshold)
    soft = apply("log1p", apply("exp", apply("where", big, _const(0.0, x), bx))) / beta
    return apply("where", big, x, soft)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(log1p(exp(x))) (Misra 2019; ATen's form). exp reads min(x, 20): tanh is
    already 1 there in float64 too, and exp cannot overflow into the gradient (0 * inf);
    x has two uses, so chains of mish fuse."""
    _floats_only(input, "mish_cpu", "mish")
    return _maybe_inplace(input, inplace, "mish_", _mish)


@graph_function(grad_name="MishBackward0")
def _mish(x: Tensor) -> Tensor:
    return x * apply("tanh", apply("log1p", apply("exp", apply("minimum", x, 20.0))))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x where beta * x > threshold (PyTorch's linear
    regime, exact there in float32)."""
    _floats_only(input, "softplus_cpu", "softplus")
    return _softplus(input, float(beta), float(threshold))


_softplus = graph_function(_softplus_expr, grad_name="SoftplusBackward0")


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for large |x| (ATen's
    form; the gradient at 0 is 1/2)."""
    _floats_only(input, "log_sigmoid_cpu", "logsigmoid")
    return _logsigmoid(input)


@graph_function(grad_name="LogSigmoidBackward0")
def _logsigmoid(x: Tensor) -> Tensor:
    return apply("minimum", x, 0.0) - apply("log1p", apply("exp", -apply("abs", x)))


# -- sigmoid-like and hard approximations ---------------------------------------------------
def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)); integer inputs give float32."""
    return apply("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x); integer inputs give float32."""
    return apply("tanh", input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x + 3, 0), 6) / 6 (Howard et al. 2019); gradient 1/6 on -3 < x < 3 only."""
    _floats_only(input, "hardsigmoid_cpu", "hardsigmoid")
    return _maybe_inplace(input, inplace, "hardsigmoid_", _hardsigmoid)


@graph_function(grad_name="HardsigmoidBackward0")
def _hardsigmoid(x: Tensor) -> Tensor:
    mid = apply("where", apply("ge", x, 3.0), _const(1.0, x), (x + 3.0) / 6.0)
    return apply("where", apply("le", x, -3.0), _const(0.0, x), mid)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * min(max(x + 3, 0), 6) / 6 (Howard et al. 2019); PyTorch's gradient: 0 for
    x <= -3, (2x + 3) / 6 for -3 < x < 3, 1 for x >= 3."""
    _floats_only(input, "hardswish_cpu", "hardswish")
    return _maybe_inplace(input, inplace, "hardswish_", _hardswish)


@graph_function(grad_name="HardswishBackward0")
def _hardswish(x: Tensor) -> Tensor:
    # x * h / 6 with h = relu6(x + 3) passing its gradient only inside (-3, 3): PyTorch's
    # gradient at both breakpoints, and four uses of x (fusion recomputes it in a chain)
    h = apply("where", apply("ge", x, 3.0), _const(6.0, x), x + 3.0)
    return x * apply("where", apply("le", x, -3.0), _const(0.0, x), h) / 6.0


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|) (composed as in PyTorch; integer inputs give float32, bool ones raise
    NotImplementedError as PyTorch's abs)."""
    if input.dtype.name == "bool":
        _floats_only(input, "abs_cpu", "softsign")
    return _softsign(input)


@graph_function(grad_name="DivBackward0")
def _softsign(input: Tensor) -> Tensor:
    return input / (apply("abs", input) + 1)


@graph_function(grad_name="SubBackward0")
def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x) (composed as in PyTorch; integer inputs give float32)."""
    return input - apply("tanh", input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0 (nan stays nan)."""
    _floats_only(input, "softshrink_check", "softshrink")
    if lambd < 0:
        big = 3.40282e+38 if input.dtype.itemsize == 4 else 1.79769e+308
        raise RuntimeError(f"{_where('softshrink')}lambda must be in range [0, {big:g}] for "
                           f"input dtype {SCALAR_NAMES.get(input.dtype.name)}, but "
                           f"found {lambd:g}")
    return _softshrink(input, float(lambd))


@graph_function(grad_name="SoftshrinkBackward0")
def _softshrink(x: Tensor, lambd: float) -> Tensor:
    # x * 0 in the middle keeps nan, as ATen's kernel does
    mid = apply("where", apply("lt", x, -lambd), x + lambd, x * 0.0)
    return apply("where", apply("gt", x, lambd), x - lambd, mid)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where -lambd <= x <= lambd, else x (nan stays nan)."""
    _floats_only(input, "hardshrink_cpu", "hardshrink")
    return _hardshrink(input, float(lambd))


@graph_function(grad_name="HardshrinkBackward0")
def _hardshrink(x: Tensor, lambd: float) -> Tensor:
    inside = apply("logical_and", apply("ge", x, -lambd), apply("le", x, lambd))
    return apply("where", inside, _const(0.0, x), x)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the halves of ``input`` along ``dim``
    (Dauphin et al. 2016): (*, 2n, *) -> (*, n, *)."""
    if input.dim() == 0:
        raise RuntimeError(f"{_where('glu')}glu does not support scalars because halving size "
                           "must be even")
    _floats_only(input, "glu_cpu", "glu")
    d = _ops.norm_dim(dim, input.dim())
    if input.shape[d] % 2:
        raise RuntimeError(f"{_where('glu')}Halving dimension must be even, but dimension {d} "
                           f"is size {input.shape[d]}")
    return _glu(input, d)


@graph_function(grad_name="GluBackward0")
def _glu(x: Tensor, d: int) -> Tensor:
    a, b = _ops.chunk(x, 2, d)
    return a * apply("sigmoid", b)


# -- softmax ----------------------------------------------------------------------------------
def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy implicit dim (0 for 0-, 1- and 3-D inputs, else 1), with its
    deprecation warning."""
    _warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
         "to include dim=X as an argument.")
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_dim(input: Tensor, dim) -> int:
    """The softmax dim, normalized; ``None`` picks the legacy implicit dim silently."""
    if dim is None:
        dim = 0 if input.dim() in (0, 1, 3) else 1
    return _ops.norm_dim(dim, input.dim())


def _softmax_input(input: Tensor, dim: int, dtype, kernel: str, fn: str) -> Tensor:
    if dtype is not None:
        return _ops.to_dtype(input, dtype)
    if not input.dtype.is_float:
        d = _ops.norm_dim(dim, input.dim())
        last = "_lastdim" if d == input.dim() - 1 or input.dim() == 0 else ""
        _floats_only(input, f"{kernel}{last}_kernel_impl", fn)
    return input


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """exp(x - logsumexp(x, dim)) (PyTorch docs, Softmax); ``dim=None`` picks PyTorch's
    legacy implicit dim with its UserWarning."""
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _softmax(_softmax_input(input, dim, dtype, "softmax", "softmax"), dim)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """softmax(-x, dim)."""
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return _softmax(_softmax_input(input, dim, dtype, "softmax", "softmin"), dim, True)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """x - logsumexp(x, dim), one pass over the row for the log-sum-exp."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _log_softmax(_softmax_input(input, dim, dtype, "log_softmax", "log_softmax"), dim)


@graph_function(grad_name="SoftmaxBackward0")
@_ops.opmath
def _softmax(input: Tensor, dim: int, negate: bool = False) -> Tensor:
    d = _ops.norm_dim(dim, input.dim())
    if negate:
        input = -input
    if input.dim() == 0:
        return input * 0.0 + 1.0
    lse = apply("logsumexp", input, axes=(d,), keepdim=True)
    return apply("exp", input - lse)


@graph_function(grad_name="LogSoftmaxBackward0")
@_ops.opmath
def _log_softmax(input: Tensor, dim: int) -> Tensor:
    d = _ops.norm_dim(dim, input.dim())
    if input.dim() == 0:
        return input * 0.0
    lse = apply("logsumexp", input, axes=(d,), keepdim=True)
    return input - lse
