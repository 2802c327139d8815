"""Elementwise primitives: unary, binary and ternary ops with numpy broadcasting."""
from __future__ import annotations

import math

import numpy as np

from graphnn.ir.builder import Sym
from graphnn.ir.ops.registry import NOT_DIFFERENTIABLE, Kind, OpDef, register
from graphnn.ir.types import DType, TensorType, bool_, broadcast_shapes, by_name, float32, \
    result_type


def _bshape(args: list[TensorType], attrs: dict) -> tuple:
    return broadcast_shapes(*(a.shape for a in args))


def _same(args, attrs) -> DType:
    return args[0].dtype


def _float(args, attrs) -> DType:
    return args[0].dtype if args[0].dtype.is_float else float32


def _promote(args, attrs) -> DType:
    return result_type(*args)


def _promote_float(args, attrs) -> DType:
    out = _promote(args, attrs)
    return out if out.is_float else float32


def _bool(args, attrs) -> DType:
    return bool_


def _where0(c: Sym, g: Sym, zero_first: bool) -> Sym:
    zero = g._lift(0.0)
    return c.op("where", zero, g) if zero_first else c.op("where", g, zero)


def _zero(g: Sym) -> Sym:
    """A zero cotangent of g's shape: a where with a false condition, exact when g holds
    inf or nan (0 * g is not). derivatives.yaml: zeros_like(grad) for floor, round..."""
    false = Sym(g.graph, g.graph.add_const(False, TensorType((), bool_)), g.scope)
    return false.op("where", g, g._lift(0.0))


def _f(a: np.ndarray) -> np.ndarray:
    """Integer and bool arguments as float32, as the float ops' dtype rule says (numpy
    would compute a bool argument in float16)."""
    return a if a.dtype.kind == "f" else a.astype(np.float32)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _erf(a: np.ndarray) -> np.ndarray:
    return _ERF(a).astype(a.dtype)


def unary(name: str, template: str, ref, vjp, dtype=_float, doc: str = "", **rules) -> OpDef:
    return register(OpDef(name, Kind.ELEMWISE, 1, _bshape, dtype, vjp, ref, template, doc,
                          **rules))


def binary(name: str, template: str, ref, vjp, dtype=_promote, operand="out", **rules) -> OpDef:
    return register(OpDef(name, Kind.BROADCAST, 2, _bshape, dtype, vjp, ref, template,
                          operand_dtype=operand, **rules))


# -- unary ------------------------------------------------------------------------------
unary("neg", "(-{0})", lambda a, at: -a[0], lambda c, g: [-g], dtype=_same, vector="(-{0})")
# on vectors too: PoCL's vector exp is one call per vector (an operator-only Cephes expf
# measured 1.5x slower on float16 there), where a scalar kernel makes one call per element
unary("exp", "exp({0})", lambda a, at: np.exp(_f(a[0])), lambda c, g: [g * c.out],
      vector="exp({0})")
unary("log", "log({0})", lambda a, at: np.log(_f(a[0])), lambda c, g: [g / c.args[0]],
      vector="log({0})")
# PoCL's float tanh stops one ulp short of +-1 for |x| >= 12.5, which leaves 1 - tanh^2
# nonzero in the gradients of tanh-GELU and Mish: float values saturate at |x| > 9.1, where
# the correctly rounded tanh is +-1 (sizeof folds at compile time; doubles are right)
unary("tanh", "(sizeof({0}) != 4 ? tanh({0}) : ({0}) > 9.1f ? 1 : ({0}) < -9.1f ? -1 : "
      "tanh({0}))", lambda a, at: np.tanh(_f(a[0])), lambda c, g: [g * (1.0 - c.out * c.out)],
      vector="(sizeof({E}) != 4 ? tanh({0}) : ({0}) > ({T})(9.1f) ? ({T})(1) : "
             "({0}) < ({T})(-9.1f) ? ({T})(-1) : tanh({0}))")
unary("sigmoid", "(1 / (1 + exp(-{0})))", lambda a, at: 1 / (1 + np.exp(-_f(a[0]))),
      lambda c, g: [g * c.out * (1.0 - c.out)], doc="1 / (1 + exp(-x))",
      vector="(1 / (1 + exp(-{0})))")
unary("sqrt", "sqrt({0})", lambda a, at: np.sqrt(_f(a[0])), lambda c, g: [g / (c.out * 2.0)],
      vector="sqrt({0})")
unary("sin", "sin({0})", lambda a, at: np.sin(_f(a[0])), lambda c, g: [g * c.args[0].op("cos")],
      vector="sin({0})")
unary("cos", "cos({0})", lambda a, at: np.cos(_f(a[0])), lambda c, g: [-(g * c.args[0].op("sin"))],
      doc="cosine (Box-Muller normals)", vector="cos({0})")
unary("abs", "({0} < 0 ? -{0} : {0})", lambda a, at: np.abs(a[0]),
      lambda c, g: [g * c.args[0].op("sign")], dtype=_same,
      vector="({0} < {zero} ? -{0} : {0})")
# a vector comparison is -1 where true, so the vector form selects instead of subtracting
unary("sign", "(({0} > 0) - ({0} < 0))", lambda a, at: np.sign(a[0]),
      lambda c, g: [g * 0.0], dtype=_same,
      vector="({0} > {zero} ? ({T})(1) : {0} < {zero} ? ({T})(-1) : {zero})")
# relu, maximum and minimum propagate NaN as PyTorch does (a comparison with NaN is false)
unary("relu", "({0} < 0 ? 0 : {0})", lambda a, at: np.maximum(a[0], 0),
      lambda c, g: [_where0(c.out > 0.0, g, False)], dtype=_same,
      vector="({0} < {zero} ? {zero} : {0})")
# Math that the ops above cannot compose exactly (PyTorch's derivatives.yaml for the VJPs).
# OpenCL's builtins are out-of-line calls on PoCL, exact to a few ulp, which no operator-only
# form of them is. The vector overloads are one call per vector and as exact (measured on
# PoCL 3.0, 1.5M floats: erf 31.5 -> 2.9 ms, log 14.1 -> 1.2 ms, same ulp errors), so every
# builtin here has a vector template too. erf's vector template is written with operators
# instead (codegen/mathfn.py: 2.8 ulp against the builtin's 0.85, 2.2x faster on float16).
unary("erf", "erf({0})", lambda a, at: _erf(_f(a[0])),
      lambda c, g: [g * (c.args[0] * c.args[0] * -1.0).op("exp") * (2.0 / math.sqrt(math.pi))],
      doc="error function (exact GELU); d/dx = 2/sqrt(pi) exp(-x^2)",
      vector="gnn_erf_{T}({0})")      # operators, 2.2x faster than the builtin (codegen/mathfn)
unary("expm1", "expm1({0})", lambda a, at: np.expm1(_f(a[0])), lambda c, g: [g * (c.out + 1.0)],
      doc="exp(x) - 1, exact near 0 where exp(x) - 1 cancels (ELU, CELU, SELU)",
      vector="expm1({0})")
unary("log1p", "log1p({0})", lambda a, at: np.log1p(_f(a[0])), lambda c, g: [g / (c.args[0] + 1.0)],
      doc="log(1 + x), exact for small x where 1 + x rounds (softplus, log_sigmoid)",
      vector="log1p({0})")
unary("floor", "floor({0})", lambda a, at: np.floor(a[0]), lambda c, g: [_zero(g)], dtype=_same,
      doc="largest integer <= x, float inputs (ceil, trunc and frac are composed from it); "
          "a cast to an integer type overflows and loses -0.0, so it is a builtin",
      vector="floor({0})")
unary("rint", "rint({0})", lambda a, at: np.rint(a[0]), lambda c, g: [_zero(g)], dtype=_same,
      doc="round half to even, float inputs (torch.round); floor(x + 0.5) is wrong for ties "
          "and for 0.49999997", vector="rint({0})")
unary("cast", "{0}", lambda a, at: a[0].astype(by_name(at["dtype"]).np),
      lambda c, g: [g.cast(c.types[0].dtype) if c.types[0].dtype.is_float else None],
      dtype=lambda args, at: by_name(at["dtype"]), doc="convert to attrs['dtype']",
      grad_name="ToCopy")

# -- binary -----------------------------------------------------------------------------
# C's vector arithmetic takes the scalar templates as they are
binary("add", "({0} + {1})", lambda a, at: a[0] + a[1], lambda c, g: [g, g],
       vector="({0} + {1})")
binary("sub", "({0} - {1})", lambda a, at: a[0] - a[1], lambda c, g: [g, -g],
       vector="({0} - {1})")
binary("mul", "({0} * {1})", lambda a, at: a[0] * a[1],
       lambda c, g: [g * c.args[1], g * c.args[0]], vector="({0} * {1})",
       scalar_opmath=(0, 1))
binary("div", "({0} / {1})", lambda a, at: np.true_divide(a[0], a[1]),
       lambda c, g: [g / c.args[1], -(g * c.out) / c.args[1]], dtype=_promote_float,
       vector="({0} / {1})", scalar_opmath=(1,))
binary("pow", "pow({0}, {1})", lambda a, at: np.power(a[0], a[1]),
       lambda c, g: [g * c.args[1] * c.args[0].op("pow", c.args[1] - 1.0),
                     g * c.out * c.args[0].op("log")], dtype=_promote_float,
       vector="pow({0}, {1})")

binary("atan2", "atan2({0}, {1})", lambda a, at: np.arctan2(a[0], a[1]),
       lambda c, g: [g * c.args[1] / _sumsq(c), -(g * c.args[0]) / _sumsq(c)],
       dtype=_promote_float, vector="atan2({0}, {1})")
binary("fmod", "fmod({0}, {1})", lambda a, at: np.fmod(a[0], a[1]),
       lambda c, g: [g, -(g * _trunc(c.args[0] / c.args[1]))], dtype=_promote_float,
       vector="fmod({0}, {1})")
# integer fmod: C's % truncates like fmod. PyTorch raises ZeroDivisionError on a zero divisor
# (checked on the host where the values are known); a kernel must not trap, so x % 0 is 0,
# and x % -1 is 0 (INT64_MIN % -1 overflows). (ulong)b + 1 <= 1 tests b in {0, -1} without
# a || that clang warns about when b is a constant.
binary("imod", "((ulong)({1}) + 1 <= 1 ? 0 : ({0}) % ({1}))",
       lambda a, at: np.fmod(a[0], np.where(a[1] == 0, 1, a[1])), NOT_DIFFERENTIABLE)


def _sumsq(c) -> Sym:
    return c.args[0] * c.args[0] + c.args[1] * c.args[1]


def _trunc(q: Sym) -> Sym:
    """Rounds toward zero: floor for q >= 0, -floor(-q) below (derivatives.yaml's
    div(rounding_mode="trunc") in fmod's gradient)."""
    return (q < 0.0).op("where", -((-q).op("floor")), q.op("floor"))


def _minmax_vjp(cmp: str):
    # derivatives.yaml: the gradient is split in half where both arguments are equal
    def vjp(c, g):
        a, b = c.args
        eq = a.eq(b)
        half = eq.op("where", g * 0.5, g)
        win_a = a.op(cmp, b)
        win_b = b.op(cmp, a)
        return [_where0(win_b, half, True), _where0(win_a, half, True)]
    return vjp


binary("maximum", "(({0} > {1} || {0} != {0}) ? {0} : {1})",
       lambda a, at: np.maximum(a[0], a[1]), _minmax_vjp("gt"),
       vector="((({0} > {1}) | ({0} != {0})) ? {0} : {1})")
binary("minimum", "(({0} < {1} || {0} != {0}) ? {0} : {1})",
       lambda a, at: np.minimum(a[0], a[1]), _minmax_vjp("lt"),
       vector="((({0} < {1}) | ({0} != {0})) ? {0} : {1})")

for _name, _sym, _fn in [("eq", "==", np.equal), ("ne", "!=", np.not_equal),
                         ("lt", "<", np.less), ("le", "<=", np.less_equal),
                         ("gt", ">", np.greater), ("ge", ">=", np.greater_equal)]:
    binary(_name, f"({{0}} {_sym} {{1}})", (lambda f: lambda a, at: f(a[0], a[1]))(_fn),
           NOT_DIFFERENTIABLE, dtype=_bool, operand="promote",
           vector=f"({{0}} {_sym} {{1}})")      # a lane mask (intN / longN)

binary("logical_and", "({0} && {1})", lambda a, at: np.logical_and(a[0], a[1]),
       NOT_DIFFERENTIABLE, dtype=_bool, operand="promote")

# -- ternary and generators -------------------------------------------------------------
register(OpDef(
    "where", Kind.BROADCAST, 3, _bshape, lambda args, at: result_type(args[1], args[2]),
    lambda c, g: [None, _where0(c.args[0], g, False), _where0(c.args[0], g, True)],
    lambda a, at: np.where(a[0], a[1], a[2]), "({0} ? {1} : {2})",
    doc="where(cond, x, y): x where cond is true, else y",
    vector="({0} ? {1} : {2})"))     # a lane mask selects lane by lane

register(OpDef(
    "iota", Kind.ELEMWISE, 0, lambda args, at: at["shape"],
    lambda args, at: by_name(at["dtype"]), NOT_DIFFERENTIABLE,
    lambda a, at: np.broadcast_to(
        np.arange(at["shape"][at["axis"]]).reshape(
            [-1 if i == at["axis"] else 1 for i in range(len(at["shape"]))]),
        at["shape"]).astype(by_name(at["dtype"]).np),
    "{axis_index}", doc="the index along attrs['axis'] at every position (one_hot, arange)"))
