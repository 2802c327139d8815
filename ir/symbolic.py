"""Symbolic sizes: ints that remember they derive from a dynamic dimension.

A traced function's inputs get a *dynamic* leading dimension (the batch, or the sequence
of a sequence-first tensor): a ``SymInt`` whose value is the size of this call and whose
``key`` names where it comes from. Shape rules, VJP rules and kernel families compute with
it as with any int (decisions compare values), and arithmetic keeps the key: ``N * 256``,
``N - 1``, ``-(-N // 8)``. Nothing else changes until codegen prints one: inside a kernel
being written (``printing``), a SymInt formats as a *size argument* of that kernel
(``s0``, ``s1``... in order of first use) whose value the launch passes, instead of a
literal. Kernel text then no longer holds the batch size, so a new batch size lowers to
the same text and reuses the built program (the program cache is keyed by source).

Why this is safe: each new input signature is traced and lowered again, and the launch
passes the values of *that* lowering; two lowerings share a binary only when their text is
equal. A size argument is declared ``int`` when its value fits, else ``long``, as C types
a literal of that value, so replacing a literal by an argument keeps every expression's
meaning. A size that loses its key on the way (``int(n)``, numpy, a float) is printed as a
literal: that costs reuse, never correctness. Families choose size-independent code where
a symbolic size would only remove a guard or a tail loop (``is_symbolic``).
"""
from __future__ import annotations

import itertools
import operator
from contextlib import contextmanager
from contextvars import ContextVar

from graphnn.ir.types import TensorType

_IDS = itertools.count()


class _Scope:
    writer = None       # the kernel being written (codegen's KernelWriter): has size(n)


_SCOPE: ContextVar = ContextVar("graphnn_size_scope", default=None)


@contextmanager
def printing():
    """Within it, the most recently started kernel (``start_kernel``) prints SymInts as its
    size arguments; outside it they print as values."""
    token = _SCOPE.set(_Scope())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def start_kernel(writer) -> None:
    scope = _SCOPE.get()
    if scope is not None:
        scope.writer = writer


class SymInt(int):
    """An int with a symbolic ``key``: ``("dim", id)`` for a dynamic dimension, or
    ``(op, key or int, key or int)`` for arithmetic on one."""

    def __new__(cls, value: int, key: tuple):
        obj = super().__new__(cls, value)
        obj.key = key
        return obj

    @classmethod
    def dim(cls, value: int) -> "SymInt":
        return cls(value, ("dim", next(_IDS)))

    # printing: the value everywhere except inside a kernel being written
    def __repr__(self) -> str:
        return int.__repr__(self)

    def __format__(self, spec: str) -> str:
        scope = _SCOPE.get()
        if scope is None or scope.writer is None or spec:
            return int.__format__(int(self), spec)
        return scope.writer.size(self)

    def __str__(self) -> str:
        return self.__format__("")

    def __reduce__(self):          # pickles and copies are plain ints
        return int, (int(self),)

    # arithmetic that keeps the key (methods made by _arith below)
    def __neg__(self):
        return SymInt(-int(self), ("neg", self.key))

    def __pos__(self):
        return self


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
        "%": operator.mod}
# right operands that leave the left one as it is (x + 0, x * 1...): no new key
_IDENTITY = {"+": 0, "-": 0, "*": 1, "//": 1}


def _arith(op: str, reflected: bool):
    fn = _OPS[op]

    def method(self: SymInt, other):
        if not isinstance(other, int):
            return NotImplemented           # floats and others: plain Python arithmetic
        plain_other = not isinstance(other, SymInt)
        if plain_other and other == _IDENTITY.get(op) and (not reflected or op in ("+", "*")):
            return self
        a, b = (other, self) if reflected else (self, other)
        key = (op, getattr(a, "key", int(a)), getattr(b, "key", int(b)))
        if op == "//" and _constant_quotient(key[1], key[2]):
            return fn(int(a), int(b))
        return SymInt(fn(int(a), int(b)), key)
    return method


def _monomial(key) -> tuple[int, dict] | None:
    """``key`` as ``(constant, {dimension key: power})`` when it is a product of dynamic
    dimensions and ints, else None."""
    if isinstance(key, int):
        return key, {}
    if key[0] == "dim":
        return 1, {key: 1}
    if key[0] != "*":
        return None
    a, b = _monomial(key[1]), _monomial(key[2])
    if a is None or b is None:
        return None
    powers = dict(a[1])
    for d, p in b[1].items():
        powers[d] = powers.get(d, 0) + p
    return a[0] * b[0], powers


def _constant_quotient(num, den) -> bool:
    """``num // den`` is the same int for every value of the dimensions: both are products
    with the same dimensions and the constants divide (``reshape(N * C, -1)`` of an
    (N, C, 128) tensor infers ``N * C * 128 // (N * C)``, which is 128; kept symbolic, it
    made a GEMM's K a run-time argument)."""
    n, d = _monomial(num), _monomial(den)
    return n is not None and d is not None and n[1] == d[1] and d[0] != 0 and \
        n[0] % d[0] == 0


for _op, _name in (("+", "add"), ("-", "sub"), ("*", "mul"), ("//", "floordiv"),
                   ("%", "mod")):
    setattr(SymInt, f"__{_name}__", _arith(_op, False))
    setattr(SymInt, f"__r{_name}__", _arith(_op, True))


def positive(n: SymInt) -> bool:
    """True when ``n`` is positive whatever its dimensions' values: sums and products of
    dynamic dimensions (never below 2, see ``dynamic_leading``) and positive ints."""
    def walk(key) -> bool:
        if isinstance(key, int):
            return key > 0
        if key[0] == "dim":
            return True
        return key[0] in ("+", "*") and walk(key[1]) and walk(key[2])
    return walk(n.key)


def is_symbolic(n) -> bool:
    return isinstance(n, SymInt)


def as_size(n) -> int:
    """``int(n)`` (numpy integers, sizes from torch) that keeps a SymInt symbolic."""
    return n if isinstance(n, SymInt) else int(n)


def dynamic_leading(t: TensorType) -> TensorType:
    """``t`` with a fresh dynamic leading dimension (and no other symbolic dimension).
    Sizes 0 and 1 stay static, as in PyTorch's dynamic shapes: a size-1 dimension
    broadcasts, so code for it differs anyway."""
    if not t.shape or t.shape[0] < 2:
        return plain(t)
    return TensorType((SymInt.dim(int(t.shape[0])),) + tuple(int(s) for s in t.shape[1:]),
                      t.dtype)


def plain(t: TensorType) -> TensorType:
    """``t`` with plain int dimensions (for real tensors and runtime buffers)."""
    if not any(isinstance(s, SymInt) for s in t.shape):
        return t
    return TensorType(tuple(int(s) for s in t.shape), t.dtype)


__all__ = ["SymInt", "as_size", "is_symbolic", "positive", "dynamic_leading", "plain",
           "printing", "start_kernel"]
