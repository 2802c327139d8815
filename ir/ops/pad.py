"""Border padding (F.pad's ``reflect``, ``replicate`` and ``circular`` modes) and its adjoint.

``pad(x)`` has attrs ``mode`` and per-dim ``lo``/``hi`` (before/after amounts, negative
crops; 0 for dims not padded). Along a padded dim of input size n the output position o
reads input position src(o), a piecewise linear map given by ``segments``: each segment
``(start, stop, a, b)`` means src(o) = a*o + b for start <= o < stop, with a in {-1, 0, 1}.
The forward is one indexed read per element (a select per segment); the adjoint
``pad_grad`` sums, at each input position, the gradients of every output position that
read it: one guarded term per segment with a = +-1 and one per output position of a
segment with a = 0 (replicate's repeated edges), over the product of the padded dims.

Formulas: PyTorch's ReflectionPad.cpp (``2*pad_l - j`` / ``2*(n + pad_l - 1) - j``),
ReplicationPad (a clamp of ``j - pad_l``), and ``_pad_circular_symint`` (crop first, then
wrap the cropped tensor).
"""
from __future__ import annotations

import itertools

import numpy as np

from graphnn.ir.ops.registry import Kind, OpDef, register

MODES = ("reflect", "replicate", "circular")
# pad_grad terms per element beyond which the VJP adjoins one padded dim per op instead
MAX_TERMS = 64


def segments(mode: str, n: int, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """src(o) along one dim as (start, stop, a, b) pieces covering [0, n + lo + hi)."""
    out_n = n + lo + hi
    if mode == "reflect":
        segs = [(0, lo, -1, lo), (lo, n + lo, 1, -lo), (n + lo, out_n, -1, 2 * (n - 1) + lo)]
    elif mode == "replicate":
        segs = [(0, lo, 0, 0), (lo, n + lo, 1, -lo), (n + lo, out_n, 0, n - 1)]
    else:
        cl = max(-lo, 0)
        m = n - cl - max(-hi, 0)
        left = max(lo, 0)
        segs = [(0, left, 1, cl + m - left), (left, left + m, 1, cl - left),
                (left + m, out_n, 1, cl - left - m)]
    clipped = [(max(s, 0), min(e, out_n), a, b) for s, e, a, b in segs]
    return [seg for seg in clipped if seg[0] < seg[1]]


def source_index(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """src(o) for every output position o (the numpy references)."""
    src = np.empty(n + lo + hi, np.int64)
    for s, e, a, b in segments(mode, n, lo, hi):
        o = np.arange(s, e)
        src[s:e] = a * o + b
    return src


def _padded(at, shape) -> list[int]:
    return [d for d in range(len(shape)) if at["lo"][d] or at["hi"][d]]


def grad_terms(mode: str, n: int, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """The adjoint along one dim as terms (i_lo, i_hi, a, c): input position i in
    [i_lo, i_hi) receives the gradient of output position a*i + c. A repeated edge (a = 0
    segment) gives one term per output position with i_lo = b, i_hi = b + 1, a = 0, c = o."""
    terms = []
    for s, e, a, b in segments(mode, n, lo, hi):
        if a == 0:
            terms += [(b, b + 1, 0, o) for o in range(s, e)]
        elif a == 1:                      # o = i - b, s <= o < e
            terms.append((max(s + b, 0), min(e + b, n), 1, -b))
        else:                             # o = b - i, s <= o < e
            terms.append((max(b - e + 1, 0), min(b - s + 1, n), -1, b))
    return [t for t in terms if t[0] < t[1]]


def term_count(at, shape) -> int:
    count = 1
    for d in _padded(at, shape):
        count *= len(grad_terms(at["mode"], shape[d], at["lo"][d], at["hi"][d]))
    return count


def read_terms(at, in_shape, idx: list[str], grad: bool):
    """For codegen: at output index ``idx`` (C expressions) of ``pad`` (grad False) or of
    ``pad_grad`` (grad True, ``in_shape`` the unpadded shape), the reads as a list of
    (conditions, source index) pairs; the value is the sum of the reads whose conditions
    hold (``pad`` has one read whose index is a select over the segments)."""
    mode = at["mode"]
    dims = _padded(at, in_shape)
    if not grad:
        pos = list(idx)
        for d in dims:
            segs = segments(mode, in_shape[d], at["lo"][d], at["hi"][d])
            o = f"({idx[d]})"
            expr = _affine(o, *segs[-1][2:])
            for _, stop, a, b in reversed(segs[:-1]):
                expr = f"({o} < {stop} ? {_affine(o, a, b)} : {expr})"
            pos[d] = expr
        return [([], pos)]
    per_dim = []
    for d in dims:
        n = in_shape[d]
        i = f"({idx[d]})"
        opts = []
        for ilo, ihi, a, c in grad_terms(mode, n, at["lo"][d], at["hi"][d]):
            conds = []
            if ihi - ilo == 1 and (ilo > 0 or ihi < n):
                conds.append(f"{i} == {ilo}")
            else:
                if ilo > 0:
                    conds.append(f"{i} >= {ilo}")
                if ihi < n:
                    conds.append(f"{i} < {ihi}")
            opts.append((conds, str(c) if a == 0 else _affine(i, a, c)))
        per_dim.append(opts)
    reads = []
    for combo in itertools.product(*per_dim):
        pos = list(idx)
        conds = []
        for d, (cs, p) in zip(dims, combo):
            conds += cs
            pos[d] = p
        reads.append((conds, pos))
    return reads


def _affine(o: str, a: int, b: int) -> str:
    if a == 0:
        return str(b)
    head = o if a == 1 else f"-{o}"
    return head if b == 0 else f"({head} + {b})" if b > 0 else f"({head} - {-b})"


def _pad_shape(args, at):
    shape = args[0].shape
    if at["mode"] not in MODES:
        raise ValueError(f"pad: unknown mode {at['mode']!r}")
    if len(at["lo"]) != len(shape) or len(at["hi"]) != len(shape):
        raise ValueError(f"pad: lo/hi need one entry per dim of {list(shape)}")
    out = tuple(s + lo + hi for s, lo, hi in zip(shape, at["lo"], at["hi"]))
    if any(o <= 0 for o, lo, hi in zip(out, at["lo"], at["hi"]) if lo or hi):
        raise ValueError(f"pad: padding {at['lo']}/{at['hi']} leaves no elements of "
                         f"{list(shape)}")
    return out


def _split(at, shape) -> list[dict]:
    """Attrs of one pad per padded dim (applied last dim first, like F.pad's pairs)."""
    dims = _padded(at, shape)
    out = []
    for d in reversed(dims):
        lo = tuple(at["lo"][k] if k == d else 0 for k in range(len(shape)))
        hi = tuple(at["hi"][k] if k == d else 0 for k in range(len(shape)))
        out.append({"mode": at["mode"], "lo": lo, "hi": hi})
    return out


def _pad_vjp(c, g):
    at, shape = c.attrs, c.types[0].shape
    if term_count(at, shape) <= MAX_TERMS:
        return [g.op("pad_grad", shape=shape, **at)]
    # a wide replicate border in several dims: one adjoint per dim (a kernel each) instead
    # of a product of terms per element
    steps, cur = [], shape
    for part in _split(at, shape):
        steps.append((part, cur))
        cur = _pad_shape([_Shape(cur)], part)
    for part, before in reversed(steps):
        g = g.op("pad_grad", shape=before, **part)
    return [g]


class _Shape:
    def __init__(self, shape):
        self.shape = shape


def _pad_ref(a, at):
    x = a[0]
    for d in _padded(at, x.shape):
        x = np.take(x, source_index(at["mode"], x.shape[d], at["lo"][d], at["hi"][d]), d)
    return x


def _pad_grad_ref(a, at):
    g = a[0]
    shape = at["shape"]
    for d in reversed(_padded(at, shape)):
        src = source_index(at["mode"], shape[d], at["lo"][d], at["hi"][d])
        out_shape = list(g.shape)
        out_shape[d] = shape[d]
        acc = np.zeros(out_shape, g.dtype)
        for o, s in enumerate(src):
            acc[(slice(None),) * d + (s,)] += g[(slice(None),) * d + (o,)]
        g = acc
    return g


def _pad_grad_shape(args, at):
    if tuple(args[0].shape) != _pad_shape([_Shape(at["shape"])], at):
        raise ValueError(f"pad_grad: gradient {list(args[0].shape)} does not match the "
                         f"padded shape of {list(at['shape'])}")
    return at["shape"]


def _pad_attrs(at):
    return {k: at[k] for k in ("mode", "lo", "hi")}


register(OpDef("pad", Kind.INJECTIVE, 1, _pad_shape, lambda args, at: args[0].dtype,
               _pad_vjp, _pad_ref, "pad",
               doc="reflect/replicate/circular padding; attrs mode, lo, hi (per dim)",
               indexed_reads=(0,),
               guarded_reads=lambda at, i, o, idx: read_terms(at, i, idx, False)))
register(OpDef("pad_grad", Kind.INJECTIVE, 1, _pad_grad_shape, lambda args, at: args[0].dtype,
               lambda c, g: [g.op("pad", **_pad_attrs(c.attrs))], _pad_grad_ref, "pad_grad",
               doc="the adjoint of pad: each input position sums the gradients of the "
                   "output positions that read it; attrs shape, mode, lo, hi",
               indexed_reads=(0,),
               guarded_reads=lambda at, i, o, idx: read_terms(at, o, idx, True)))
