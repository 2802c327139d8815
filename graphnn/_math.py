"""Elementwise math of the tensor surface: ``tan``, ``atan2``, ``erf``, ``expm1``, ``log1p``,
``exp2``, ``log2``, ``log10``, ``logit``, ``fmod``, ``remainder`` (``%``), ``floor``,
``ceil``, ``round`` (with ``decimals``), ``trunc``/``fix`` and ``frac``: functions, Tensor
methods and their in-place ``_`` forms.

dtypes follow PyTorch: integer and bool inputs give float32 for the transcendental
functions; ``floor``, ``ceil``, ``round`` and ``trunc`` of an integer tensor are a copy of the
same dtype (NotImplementedError for bool, as PyTorch); ``fmod`` and ``remainder`` of
integers stay integers (a zero divisor raises ``ZeroDivisionError`` where its value is known
on the host: a Python int, or a tensor made from host data; on the device it gives 0).

Gradients are derivatives.yaml's: zero for the rounding functions; ``fmod``:
``(g, -g * trunc(a / b))``, ``remainder``: ``(g, -g * floor(a / b))``. Composites run as
one compiled graph outside a trace (``graph_function``; Python scalars are constants of
that graph)."""
from __future__ import annotations

import math

from graphnn import _inplace, _trace
from graphnn._dispatch import apply
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn._views import _named, clone
from graphnn.nn.functional import activation as _act
from graphnn.nn.functional._base import graph_function
from graphnn.ir.types import bool_

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _scalar_name(t: Tensor) -> str:
    return SCALAR_NAMES.get(t.dtype.name, t.dtype.name)


def _not_for(t: Tensor, kernel: str, bool_only: bool = False) -> None:
    """PyTorch's NotImplementedError for a kernel without this dtype."""
    if (t.dtype == bool_) if bool_only else not t.dtype.is_float:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_scalar_name(t)}\'')


# -- transcendental functions -------------------------------------------------------------
def erf(input: Tensor) -> Tensor:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt."""
    return apply("erf", input)


def expm1(input: Tensor) -> Tensor:
    """exp(x) - 1, exact for small x."""
    return apply("expm1", input)


def log1p(input: Tensor) -> Tensor:
    """log(1 + x), exact for small x."""
    return apply("log1p", input)


@graph_function(grad_name="TanBackward0")
def tan(input: Tensor) -> Tensor:
    """sin(x) / cos(x); the gradient 1 / cos(x)^2 = 1 + tan(x)^2."""
    return apply("div", apply("sin", input), apply("cos", input))


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point (other, input) in [-pi, pi], broadcast (``arctan2``)."""
    return apply("atan2", input, other)


def exp2(input: Tensor) -> Tensor:
    """2 ** x (exact for integer x)."""
    return _named(apply("pow", 2.0, input), "Exp2Backward0", input)


@graph_function(grad_name="Log2Backward0")
def log2(input: Tensor) -> Tensor:
    """log(x) / log(2)."""
    return apply("log", input) / _LN2


@graph_function(grad_name="Log10Backward0")
def log10(input: Tensor) -> Tensor:
    """log(x) / log(10)."""
    return apply("log", input) / _LN10


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(z / (1 - z)) with z = x, or x clamped to [eps, 1 - eps]; the gradient is zero
    outside that interval (PyTorch's logit_backward)."""
    return _logit(input, None if eps is None else float(eps))


@graph_function(grad_name="LogitBackward0")
def _logit(input: Tensor, eps: float | None) -> Tensor:
    z = input
    if eps is not None:
        # strict comparisons: the gradient passes at the bounds themselves, as PyTorch's
        z = apply("where", apply("lt", z, eps), _const(eps, z), z)
        z = apply("where", apply("gt", z, 1.0 - eps), _const(1.0 - eps, z), z)
    return apply("log", z / (1.0 - z))


def _const(value, like: Tensor) -> Tensor:
    """A 0-d constant of ``like``'s dtype (a ``where`` branch takes its dtype from the
    condition's side, which would make a Python float a float32 constant)."""
    return _inplace._filled((), like.dtype, value)


# -- rounding -------------------------------------------------------------------------------
def floor(input: Tensor) -> Tensor:
    """The largest integer <= x; integer tensors are copied."""
    _not_for(input, "floor_vml_cpu", bool_only=True)
    return apply("floor", input) if input.dtype.is_float else clone(input)


def ceil(input: Tensor) -> Tensor:
    """The smallest integer >= x: -floor(-x) (exact, signed zeros included)."""
    _not_for(input, "ceil_vml_cpu", bool_only=True)
    return _ceil(input) if input.dtype.is_float else clone(input)


@graph_function(grad_name="CeilBackward0")
def _ceil(input: Tensor) -> Tensor:
    return -apply("floor", -input)


def trunc(input: Tensor) -> Tensor:
    """Rounds toward zero; integer tensors are copied (``fix``)."""
    _not_for(input, "trunc_vml_cpu", bool_only=True)
    return _trunc(input) if input.dtype.is_float else clone(input)


def _trunc_expr(x: Tensor) -> Tensor:
    return apply("where", apply("lt", x, 0.0), -apply("floor", -x), apply("floor", x))


_trunc = graph_function(_trunc_expr, grad_name="TruncBackward0")


@graph_function(grad_name="FracBackward0")
def _frac(input: Tensor) -> Tensor:
    return input - _trunc_expr(input)


def frac(input: Tensor) -> Tensor:
    """x - trunc(x), with the sign of x; gradient 1."""
    _not_for(input, "frac_cpu")
    return _frac(input)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounds half to even (``nearbyint``). With ``decimals`` d > 0: rint(x * 10^d) / 10^d,
    d < 0: rint(x / 10^-d) * 10^-d, in the input's dtype as PyTorch (so x * 10^d may
    overflow to inf)."""
    _not_for(input, "round_vml_cpu", bool_only=True)
    if not input.dtype.is_float:
        if decimals:
            _not_for(input, "round_cpu")
        return clone(input)
    if decimals == 0:
        return _named(apply("rint", input), "RoundBackward0", input)
    return _round_decimals(input, int(decimals))


@graph_function(grad_name="RoundBackward1")
def _round_decimals(input: Tensor, decimals: int) -> Tensor:
    scale = float(10 ** abs(decimals))
    if decimals > 0:
        return apply("rint", input * scale) / scale
    return apply("rint", input / scale) * scale


# -- fmod and remainder ---------------------------------------------------------------------
def _integral(input, other) -> bool:
    """Both operands integer (a Python int counts; bool tensors count as integers)."""
    def is_int(v):
        return not v.dtype.is_float if isinstance(v, Tensor) else isinstance(v, int)
    return is_int(input) and is_int(other)


def _check_divisor(other) -> None:
    """PyTorch's integer ZeroDivisionError, where the divisor's values are known without
    a device round trip."""
    if isinstance(other, Tensor):
        if _trace.current() is not None or other._sym is not None or other._storage is None:
            return
        if other._storage.host_copy() is None or other._offset or not other.is_contiguous():
            return
        if not (other._host() == 0).any():
            return
    elif other != 0:
        return
    raise RuntimeError("ZeroDivisionError")


def fmod(input, other):
    """C's fmod: input - trunc(input / other) * other, the sign of ``input``; exact.
    Broadcast; ``other`` a tensor or a number."""
    if _integral(input, other):
        _check_divisor(other)
        return apply("imod", input, other)
    return _named(apply("fmod", input, other),
                  "FmodBackward1" if isinstance(other, Tensor) else "FmodBackward0",
                  input, other)


def remainder(input, other):
    """Python's modulus: the sign of ``other`` (PyTorch: fmod, plus ``other`` where the
    result is nonzero and its sign differs from other's). ``input`` or ``other`` may be a
    number; ``%``."""
    integral = _integral(input, other)
    if integral:
        _check_divisor(other)
    out = _remainder(input, other, integral)
    if integral or not isinstance(input, Tensor):
        return out
    return _named(out, "RemainderBackward1" if isinstance(other, Tensor)
                  else "RemainderBackward0", input, other)


@graph_function
def _remainder(input, other, integral: bool):
    m = apply("imod" if integral else "fmod", input, other)
    b = other if isinstance(other, Tensor) else _const(other, m)
    fix = apply("logical_and", apply("ne", m, 0),
                apply("ne", apply("lt", b, 0), apply("lt", m, 0)))
    return apply("where", fix, m + b, m)


# -- installation ---------------------------------------------------------------------------
_UNARY = ("erf", "expm1", "log1p", "tan", "exp2", "log2", "log10", "floor", "ceil", "trunc",
          "frac")
_BINARY = ("atan2", "fmod", "remainder")


def _inplace_unary(name: str, fn):
    def method(self, *args, **kwargs):
        return _inplace.inplace(self, name, lambda t: fn(t, *args, **kwargs))
    method.__name__ = name
    return method


def _inplace_binary(name: str, fn):
    def method(self, other):
        return _inplace.inplace(self, name, lambda t: fn(t, other), other)
    method.__name__ = name
    return method


def fix(input: Tensor) -> Tensor:
    return trunc(input)


arctan2 = atan2
INPLACE = {}      # torch-level in-place functions: torch.floor_(x) ...
for _n in _UNARY + ("round", "logit", "fix"):
    INPLACE[_n + "_"] = _inplace_unary(_n + "_", globals()[_n])
for _n in _BINARY:
    INPLACE[_n + "_"] = _inplace_binary(_n + "_", globals()[_n])
INPLACE["arctan2_"] = INPLACE["atan2_"]


globals().update(INPLACE)

# activations PyTorch also has at the top level (torch.selu, torch.relu_ ...)
ACTIVATIONS = {name: getattr(_act, name) for name in (
    "selu", "celu", "rrelu", "threshold", "prelu", "hardshrink", "relu_", "selu_", "celu_",
    "rrelu_", "threshold_")}
ACTIVATIONS["sigmoid_"] = lambda input: input.sigmoid_()
ACTIVATIONS["tanh_"] = lambda input: input.tanh_()


def install(T) -> None:
    """Attaches the functions above to the Tensor class as methods, ``%`` and ``%=``."""
    for name in _UNARY + _BINARY + ("round", "logit", "fix", "arctan2"):
        setattr(T, name, globals()[name])
    for name, fn in INPLACE.items():
        setattr(T, name, fn)
    T.__mod__ = remainder
    T.__rmod__ = lambda self, other: remainder(other, self)
    T.__imod__ = INPLACE["remainder_"]
    T.hardshrink = lambda self, lambd=0.5: _act.hardshrink(self, lambd)
    T.prelu = lambda self, weight: _act.prelu(self, weight)


__all__ = list(_UNARY + _BINARY) + ["round", "logit", "fix", "arctan2"] + list(INPLACE)
