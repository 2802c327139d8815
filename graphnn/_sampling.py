"""Random samples written as graph ops: the device side of ``graphnn._random``.

Every sampler here draws from the counter-based primitives of ``ir/ops/random.py`` fed by
one seed tensor per call (``seed_source()`` unless a test passes its own), composed with
ordinary elementwise ops and reductions, so it traces into a graph (a fresh seed, hence new
numbers, on every run of the compiled graph) and also runs op by op outside a trace. Callers
check arguments; these functions assume them valid. Shapes are static Python tuples.
"""
from __future__ import annotations

import math

from graphnn import _ops, _trace
from graphnn._creation import seed_source, tensor, zeros
from graphnn._dispatch import apply
from graphnn.ir.types import DType, bool_, float32, int64


def _seed(seed):
    return seed_source() if seed is None else seed


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


# mantissa digits of the 16-bit floats: their uniform draws are multiples of 2^-digits, so
# that none rounds up to 1 (PyTorch's uniform_real for Half and BFloat16)
MANTISSA_DIGITS = {"float16": 11, "bfloat16": 8}


def uniform(shape: tuple[int, ...], dtype: DType, seed=None, offset: int = 0):
    """U[0, 1) of ``shape`` and float ``dtype``: multiples of 2^-24 (``rand``), of 2^-11
    for float16 and 2^-8 for bfloat16."""
    if _numel(shape) == 0:
        return zeros(tuple(shape), dtype=dtype)
    attrs = {"offset": offset} if offset else {}
    if dtype.low_precision:
        scale = float(1 << MANTISSA_DIGITS[dtype.name])
        u = apply("rand", _seed(seed), shape=tuple(shape), dtype="float32", **attrs)
        return _ops.to_dtype(apply("div", apply("floor", apply("mul", u, scale)), scale), dtype)
    return apply("rand", _seed(seed), shape=tuple(shape), dtype=dtype.name, **attrs)


def integers(shape: tuple[int, ...], low: int, high: int, dtype: DType, seed=None):
    """Integers uniform in [low, high) (low < high, both int64), converted to ``dtype``."""
    if _numel(shape) == 0:
        return zeros(tuple(shape), dtype=dtype)
    return apply("randint", _seed(seed), shape=tuple(shape), low=int(low), high=int(high),
                 dtype=dtype.name)


def standard_normal(shape: tuple[int, ...], dtype: DType, seed=None):
    """N(0, 1) of ``shape`` and float ``dtype`` by Box-Muller from two uniform streams of one
    seed: sqrt(-2 log(1 - u1)) cos(2 pi u2). 1 - u1 lies in [2^-24, 1], so the log is finite
    and |z| <= 5.8."""
    if _numel(shape) == 0:
        return zeros(tuple(shape), dtype=dtype)
    if dtype.low_precision:     # drawn in float32, rounded once
        return _ops.to_dtype(standard_normal(shape, float32, seed), dtype)
    seed = _seed(seed)
    u1 = uniform(shape, dtype, seed)
    u2 = uniform(shape, dtype, seed, offset=_numel(shape))
    radius = apply("sqrt", apply("mul", apply("log", apply("sub", 1.0, u1)), -2.0))
    return apply("mul", radius, apply("cos", apply("mul", u2, 2.0 * math.pi)))


def exponential(shape: tuple[int, ...], dtype: DType, rate: float = 1.0, seed=None):
    """Exp(rate) by inversion: -log(1 - u) / rate (0 when u = 0, finite otherwise)."""
    if dtype.low_precision:     # drawn in float32, rounded once
        return _ops.to_dtype(exponential(shape, float32, rate, seed), dtype)
    e = apply("neg", apply("log", apply("sub", 1.0, uniform(shape, dtype, seed))))
    return e if rate == 1.0 else apply("div", e, float(rate))


def zero_grad_link(out, *inputs):
    """``out`` unchanged, made to depend on each input that requires grad with a zero
    gradient: PyTorch's ``normal`` and ``bernoulli`` record a backward node whose gradient
    is ``zeros_like`` (derivatives.yaml), so their results require grad. ``where`` with a
    false condition selects ``out`` exactly (inf and nan inputs included, unlike 0 * x) and
    passes a zero cotangent to the unselected branch."""
    from graphnn._tensor import Tensor

    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype.is_float:
            out = apply("where", _false(), _ops.to_dtype(t, out.dtype), out)
    return out


def _false():
    """A 0-d bool False: a graph constant while tracing, else a tensor."""
    from graphnn._tensor import Tensor
    from graphnn.ir.builder import Sym

    tracer = _trace.current()
    if tracer is None:
        return tensor(False)
    return Tensor._symbolic(Sym(tracer.graph, tracer.const(False, bool_)), False)


def normal(mean, std, shape: tuple[int, ...], dtype: DType, seed=None):
    """mean + std * N(0, 1) at the broadcast ``shape``; ``mean``/``std`` are tensors or
    floats. The sample carries no gradient to them (as PyTorch's), see ``zero_grad_link``."""
    from graphnn._tensor import Tensor

    def plain(v):
        return _ops.to_dtype(v.detach(), dtype) if isinstance(v, Tensor) else float(v)

    out = standard_normal(shape, dtype, seed)
    if _numel(shape) == 0:
        return zero_grad_link(out, mean, std)
    m, s = plain(mean), plain(std)
    if not (isinstance(s, float) and s == 1.0):
        out = apply("mul", out, s)
    if not (isinstance(m, float) and m == 0.0):
        out = apply("add", out, m)
    return zero_grad_link(out, mean, std)


def bernoulli(p, shape: tuple[int, ...], dtype: DType, seed=None):
    """1 where U[0, 1) < p else 0, as ``dtype``; ``p`` a float or a float tensor that
    broadcasts to ``shape`` (p = 1 always gives 1, p = 0 never). A tensor ``p`` that
    requires grad gets zeros back (PyTorch's BernoulliBackward)."""
    from graphnn._tensor import Tensor

    if not isinstance(p, Tensor):
        return _ops.to_dtype(apply("lt", uniform(shape, float32, seed), float(p)), dtype)
    hit = apply("lt", uniform(shape, p.dtype, seed), p.detach())
    return zero_grad_link(_ops.to_dtype(hit, dtype), p)


def _iota(shape: tuple[int, ...], axis: int):
    from graphnn.nn.functional import _iota as iota
    return iota(tuple(shape), axis)


def _exp_keys(p, shape: tuple[int, ...], seed=None):
    """p / E with E ~ Exp(1) (E clamped away from 0 so that p = 0 gives 0, never nan): the
    category with the largest key of a row is a draw from p; sorting the keys gives draws
    without replacement (Efraimidis-Spirakis, what PyTorch's CPU multinomial does)."""
    e = exponential(shape, p.dtype, seed=seed)
    return apply("div", p, apply("maximum", e, 1e-30))


def rank_descending(keys):
    """For keys (..., K): the position of each key in a descending sort, ties in index
    order, as int64 (..., K). O(K^2) comparisons, fused into one reduction."""
    k = keys.shape[-1]
    lead = tuple(keys.shape[:-1])
    full = lead + (k, k)
    mine = _ops.reshape(keys, lead + (k, 1))
    other = _ops.reshape(keys, lead + (1, k))
    first = apply("lt", _iota(full, len(full) - 1), _iota(full, len(full) - 2))
    ahead = apply("where", apply("eq", other, mine), first, apply("gt", other, mine))
    return apply("sum", ahead, axes=(len(full) - 1,), keepdim=False)


def multinomial(probs, num_samples: int, replacement: bool, seed=None):
    """Category indices (int64) drawn from the rows of ``probs`` ((K,) or (B, K),
    unnormalised, non-negative). With replacement each sample is the argmax of its own
    exponential keys (O(S K) work); without, the ``num_samples`` largest keys of one set in
    descending order (O(K^2) comparisons)."""
    p = probs.detach()
    one_row = p.dim() == 1
    if one_row:
        p = _ops.reshape(p, (1, p.shape[0]))
    b, k = p.shape
    s = num_samples
    if b == 0:
        out = zeros((0, s), dtype=int64)
    elif replacement or s == 1:
        keys = _exp_keys(_ops.reshape(p, (b, 1, k)), (b, s, k), seed)
        out = apply("argmax", keys, axes=(2,), keepdim=False)
    else:
        rank = rank_descending(_exp_keys(p, (b, k), seed))
        hit = apply("eq", _ops.reshape(rank, (b, 1, k)), _iota((b, s, k), 1))
        out = apply("sum", apply("where", hit, _iota((b, s, k), 2), 0), axes=(2,),
                    keepdim=False)
    return _ops.reshape(out, (s,)) if one_row else out


def randperm(n: int, dtype: DType, seed=None):
    """A uniformly random permutation of 0..n-1: the ranks of n iid 62-bit keys (ties,
    about n^2 / 2^63 likely, break by index). O(n^2) comparisons in one reduction."""
    if n == 0:
        return zeros((0,), dtype=dtype)
    keys = integers((n,), 0, 1 << 62, int64, seed)
    rank = rank_descending(keys)
    return _ops.to_dtype(rank, dtype) if dtype != int64 else rank


__all__ = ["uniform", "integers", "standard_normal", "exponential", "normal", "bernoulli",
           "multinomial", "randperm", "zero_grad_link", "rank_descending"]
