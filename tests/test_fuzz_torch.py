"""Differential fuzzing of the ops users call against PyTorch (hypothesis): elementwise
chains over broadcast operands seen through permuted, sliced and expanded views, reductions
over any axes, matmul with broadcast batches, convolution and pooling configurations and
composite layers; shapes with size-1, odd and prime sizes and empty tensors; float32,
float64 and integer dtypes; forward and every gradient (tests/kernel_check.py).

The suite runs a small derandomised subset. ``make fuzz`` runs every fuzz test with
``GRAPHNN_FUZZ_EXAMPLES`` random examples each (docs/fuzz.md holds the last result). A
failure prints the example; its shapes and attributes go to an explicit regression test.
When PyTorch raises on an input (a reduction over an empty dim, say), graphnn must raise
the same exception type."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphnn as G
from tests.kernel_check import check, conv_path, logsumexp

EXAMPLES = int(os.environ.get("GRAPHNN_FUZZ_EXAMPLES", "0"))
BIG = EXAMPLES > 0
# sizes: 1 (broadcast), odd and prime sizes, and in the long run past vector widths
SIZE = st.sampled_from([1, 1, 2, 3, 5, 7, 13] + ([16, 17, 31, 64, 67] if BIG else []))
FLOATS = st.sampled_from(["float32", "float32", "float64"])


def fuzz(ci_examples: int):
    return settings(max_examples=EXAMPLES or ci_examples, deadline=None,
                    derandomize=not BIG, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


@st.composite
def shapes(draw, min_rank: int = 0, max_rank: int = 4, empty: bool = True):
    """A shape; one dim in ten examples is 0 (an empty tensor) when ``empty``."""
    shape = [draw(SIZE) for _ in range(draw(st.integers(min_rank, max_rank)))]
    if empty and shape and draw(st.integers(0, 9)) == 0:
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    return tuple(shape)


def _tol(dtype: str, terms: int = 1) -> dict:
    if dtype == "float64":
        return {"rtol": 1e-9, "atol": 1e-9}
    return {"rtol": 1e-4, "atol": 1e-4 * max(1.0, (terms / 64) ** 0.5)}


def _conditioned(tol: dict, values, axes) -> dict:
    """``tol`` widened for a standard deviation or a normalisation over ``axes`` of
    ``values``: their gradients divide by the spread of each group, so float32 rounding of
    values far larger than their spread (two nearly equal values, drawn at random among
    thousands of groups) is amplified by max|x| / std, in PyTorch's kernels as in graphnn's
    (both measured against float64: neither is the more exact). Past 1e5 the case has no
    float32 reference and is skipped."""
    a = np.asarray(values, np.float64)
    if not a.size or "rtol" not in tol or tol["rtol"] < 1e-6:
        return tol
    spread = a.std(axis=tuple(axes), keepdims=True)
    big = np.abs(a).max(axis=tuple(axes), keepdims=True)
    cond = float(np.max(big / np.maximum(spread, 1e-300)))
    assume(cond < 1e5)
    scale = max(1.0, cond / 100)
    return {"rtol": tol["rtol"] * scale, "atol": tol["atol"] * scale}


def _values(rng, shape, dtype: str) -> np.ndarray:
    if dtype.startswith("int"):
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _same_error(fn, arrays) -> bool:
    """True (after checking graphnn raises the same type) when PyTorch rejects the input."""
    try:
        fn(torch, *[torch.tensor(a) for a in arrays])
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        with pytest.raises(type(e)):
            fn(G, *[G.tensor(a) for a in arrays])
        return True
    return False


def _out_dtype(fn, arrays) -> str:
    """The dtype of PyTorch's result, which sets the tolerance (float64 operands can give a
    float32 result: 0-d tensors promote only across categories)."""
    out = fn(torch, *[torch.tensor(a) for a in arrays])
    return "float64" if out.dtype == torch.float64 else "float32"


# -- views: how an operand of ``shape`` is stored and seen ---------------------------------
LAYOUTS = ["dense", "permuted", "sliced", "expanded"]


def stored(rng, shape, layout: str, dtype: str, dim: int):
    """(array, view) where ``view(lib, tensor)`` presents the stored array as ``shape``."""
    rank = len(shape)
    if layout == "permuted" and rank >= 2:
        perm = list(range(rank))[::-1]
        arr = _values(rng, tuple(shape[p] for p in perm), dtype)
        return arr, lambda lib, t: t.permute(*np.argsort(perm).tolist())
    if layout == "sliced" and rank >= 1:
        big = list(shape)
        big[dim] = 2 * shape[dim] + 1
        arr = _values(rng, tuple(big), dtype)
        index = (slice(None),) * dim + (slice(1, 2 * shape[dim] + 1, 2),)
        return arr, lambda lib, t: t[index]      # every other element from the second
    if layout == "expanded" and rank >= 1:
        small = list(shape)
        small[dim] = 1
        arr = _values(rng, tuple(small), dtype)
        return arr, lambda lib, t: t.expand(*shape)
    return _values(rng, shape, dtype), lambda lib, t: t


# -- elementwise chains --------------------------------------------------------------------
UNARY = {
    "neg": lambda lib, x: -x, "abs": lambda lib, x: x.abs(),
    "exp": lambda lib, x: x.clamp(-5, 5).exp(), "log": lambda lib, x: (x.abs() + 0.5).log(),
    "sqrt": lambda lib, x: (x * x + 0.1).sqrt(), "tanh": lambda lib, x: x.tanh(),
    "sigmoid": lambda lib, x: x.sigmoid(), "relu": lambda lib, x: lib.relu(x),
    "gelu": lambda lib, x: lib.nn.functional.gelu(x), "sin": lambda lib, x: x.sin(),
    "square": lambda lib, x: x * x, "recip": lambda lib, x: 1.0 / (x.abs() + 1.0),
    "clamp": lambda lib, x: x.clamp(-0.7, 0.6), "erf": lambda lib, x: x.erf(),
    "softplus": lambda lib, x: lib.nn.functional.softplus(x),
    "leaky": lambda lib, x: lib.nn.functional.leaky_relu(x, 0.1), "floor": lambda lib, x: x.floor(),
    "rsqrt": lambda lib, x: (x.abs() + 0.5).rsqrt(), "log1p": lambda lib, x: x.abs().log1p(),
}
BINARY = {
    "add": lambda lib, x, y: x + y, "sub": lambda lib, x, y: x - y,
    "mul": lambda lib, x, y: x * y, "div": lambda lib, x, y: x / (y.abs() + 0.5),
    "max": lambda lib, x, y: lib.maximum(x, y), "min": lambda lib, x, y: lib.minimum(x, y),
    "where": lambda lib, x, y: lib.where(x > y, x, y * 2.0),
    "pow": lambda lib, x, y: (x.abs() + 0.5) ** y.clamp(-2, 2),
    "atan2": lambda lib, x, y: lib.atan2(x, y + 0.1 * (y == 0)),
    "fmod": lambda lib, x, y: lib.fmod(x, y.abs() + 0.5),
}
INT_UNARY = ["neg", "abs", "square"]
INT_BINARY = ["add", "sub", "mul", "max", "min", "where"]


@st.composite
def elementwise_cases(draw):
    shape = draw(shapes(max_rank=4))
    rank = len(shape)
    # the other operand broadcasts: fewer leading dims, some dims of size 1
    lead = draw(st.integers(0, rank))
    other = tuple(1 if draw(st.integers(0, 2)) == 0 else s for s in shape[lead:])
    if draw(st.booleans()):
        shape, other = other, shape
    kind = draw(st.sampled_from(["float", "float", "float", "int"]))
    dtype = draw(FLOATS) if kind == "float" else draw(st.sampled_from(["int32", "int64"]))
    dtype2 = dtype if draw(st.integers(0, 3)) else draw(st.sampled_from(
        ["float32", "float64", "int64"]))
    unary, binary = (INT_UNARY, INT_BINARY) if kind == "int" else (list(UNARY), list(BINARY))
    chain = [(draw(st.sampled_from(binary)), None) if draw(st.booleans()) else
             (None, draw(st.sampled_from(unary))) for _ in range(draw(st.integers(1, 4)))]
    return dict(shapes=(shape, other), dtypes=(dtype, dtype2), chain=chain,
                layouts=(draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(LAYOUTS))),
                dims=(draw(st.integers(0, 3)), draw(st.integers(0, 3))),
                seed=draw(st.integers(0, 2 ** 16)))


@fuzz(4)
@given(elementwise_cases())
def test_fuzz_elementwise_chains(case):
    rng = np.random.default_rng(case["seed"])
    ints = case["dtypes"][0].startswith("int")
    if ints:    # integer chains mix only integer operands (division and pow stay float)
        case["dtypes"] = (case["dtypes"][0], case["dtypes"][0])
    arrays, views = [], []
    for shape, layout, dt, dim in zip(case["shapes"], case["layouts"], case["dtypes"],
                                      case["dims"]):
        a, v = stored(rng, shape, layout, dt, dim % max(1, len(shape)))
        arrays.append(a)
        views.append(v)

    def fn(lib, x, y):
        x, y = views[0](lib, x), views[1](lib, y)
        for b, u in case["chain"]:
            x = BINARY[b](lib, x, y) if b else UNARY[u](lib, x)
        return x

    if _same_error(fn, arrays):
        return
    # the gradient of a float32 input is float32 even when the result is float64 (a float32
    # (13,) plus a float64 (1,) found it): the loosest input's tolerance applies
    dtype = "float32" if "float32" in case["dtypes"] else _out_dtype(fn, arrays)
    check(fn, arrays, seed=case["seed"], what=str(case), **_tol(dtype, 8))


# -- reductions over any axes, normalisations along any dim -------------------------------
REDUCTIONS = ["sum", "mean", "var", "std", "amax", "amin", "logsumexp", "norm", "softmax",
              "log_softmax", "cumsum", "argmin", "max_dim", "int_sum"]


def _reduce(op, axes, keepdim):
    def fn(lib, x):
        if op in ("sum", "mean", "amax", "amin", "int_sum"):
            return getattr(x, op.replace("int_", ""))(dim=axes, keepdim=keepdim)
        if op in ("var", "std"):
            return getattr(x, op)(dim=axes, keepdim=keepdim, correction=0 if keepdim else 1)
        if op == "logsumexp":
            return logsumexp(lib, x, axes, keepdim)
        if op == "norm":
            return x.norm(dim=axes, keepdim=keepdim)
        if op in ("softmax", "log_softmax", "cumsum"):
            return getattr(x, op)(axes[0])
        if op == "argmin":
            return x.argmin(dim=axes[0], keepdim=keepdim)
        return x.max(dim=axes[0], keepdim=keepdim).values
    return fn


@st.composite
def reduction_cases(draw):
    shape = draw(shapes(min_rank=1))
    rank = len(shape)
    op = draw(st.sampled_from(REDUCTIONS))
    one = op in ("softmax", "log_softmax", "cumsum", "argmin", "max_dim")
    axes = [draw(st.integers(-rank, rank - 1))] if one else \
        sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1)))
    return dict(shape=shape, op=op, axes=tuple(axes), keepdim=draw(st.booleans()),
                layout=draw(st.sampled_from(LAYOUTS)), dim=draw(st.integers(0, rank - 1)),
                dtype="int64" if op == "int_sum" else draw(FLOATS),
                seed=draw(st.integers(0, 2 ** 16)))


@fuzz(4)
@given(reduction_cases())
def test_fuzz_reductions_any_axes(case):
    rng = np.random.default_rng(case["seed"])
    arr, view = stored(rng, case["shape"], case["layout"], case["dtype"], case["dim"])
    red = _reduce(case["op"], case["axes"], case["keepdim"])

    def fn(lib, x):
        return red(lib, view(lib, x))

    if _same_error(fn, [arr]):
        return
    # std of values that are all equal (an expanded view reduced along its broadcast dim)
    # has no derivative (0/0): PyTorch's rounding leaves a tiny variance and a finite
    # gradient, graphnn's an exact 0; neither is a reference
    assume(not (case["op"] in ("std", "var") and case["layout"] == "expanded"))
    terms = int(np.prod([case["shape"][a] for a in case["axes"]]))
    nograd = (0,) if case["op"] == "argmin" else ()
    tol = _tol(case["dtype"], terms)
    if case["op"] in ("std", "var") and terms > 1:
        tol = _conditioned(tol, view(torch, torch.tensor(arr)).numpy(), case["axes"])
    check(fn, [arr], nograd=nograd, seed=case["seed"], what=str(case), **tol)


# -- matmul: broadcast batches, vectors, views, empty dims ------------------------------------
@st.composite
def matmul_cases(draw):
    m, k, n = draw(SIZE), draw(SIZE), draw(SIZE)
    if draw(st.integers(0, 9)) == 0:
        m, k, n = [0 if i == draw(st.integers(0, 2)) else s for i, s in enumerate((m, k, n))]
    batch_a = tuple(draw(st.sampled_from([1, 2, 3])) for _ in range(draw(st.integers(0, 2))))
    batch_b = tuple(1 if draw(st.booleans()) else s for s in batch_a)[draw(st.integers(0, 1)):]
    return dict(a=batch_a + (m, k), b=batch_b + (k, n), vec=draw(st.sampled_from(
        ["none", "none", "left", "right"])), ta=draw(st.booleans()), tb=draw(st.booleans()),
        dtype=draw(FLOATS), seed=draw(st.integers(0, 2 ** 16)))


@fuzz(3)
@given(matmul_cases())
def test_fuzz_matmul_broadcast(case):
    rng = np.random.default_rng(case["seed"])
    a_shape, b_shape = case["a"], case["b"]
    if case["vec"] == "left":
        a_shape = a_shape[-1:]
    elif case["vec"] == "right":
        b_shape = b_shape[-2:-1]
    swap = lambda s, on: s[:-2] + s[:-3:-1] if on and len(s) >= 2 else s  # noqa: E731
    a = _values(rng, swap(a_shape, case["ta"]), case["dtype"])
    b = _values(rng, swap(b_shape, case["tb"]), case["dtype"]) / max(1, a_shape[-1]) ** 0.5

    def fn(lib, a, b):
        if case["ta"] and a.dim() >= 2:
            a = a.transpose(-1, -2)
        if case["tb"] and b.dim() >= 2:
            b = b.transpose(-1, -2)
        return lib.matmul(a, b)

    if _same_error(fn, [a, b]):
        return
    check(fn, [a, b], seed=case["seed"], what=str(case), **_tol(case["dtype"], a_shape[-1]))


# -- convolution and pooling configurations ---------------------------------------------------
@st.composite
def window_cases(draw):
    kind = draw(st.sampled_from(["conv1d", "conv_transpose2d", "avg_pool2d", "adaptive_avg",
                                 "adaptive_max", "max_pool1d"]))
    groups = draw(st.integers(1, 2))
    c, oc = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    p = draw(st.integers(0, (k - 1) * d // 2 if kind != "avg_pool2d" else k // 2))
    return dict(kind=kind, n=draw(st.integers(1, 2)), c=c, oc=oc, groups=groups,
                h=draw(st.integers(1, 9)), w=draw(st.integers(1, 11)), k=k, stride=s,
                pad=p, dil=d, out_pad=draw(st.integers(0, max(0, max(s, d) - 1))),
                ceil=draw(st.booleans()), count_pad=draw(st.booleans()),
                out=(draw(st.integers(1, 4)), draw(st.integers(1, 4))), bias=draw(st.booleans()),
                gemm=draw(st.booleans()), dtype=draw(FLOATS), seed=draw(st.integers(0, 2 ** 16)))


@fuzz(4)
@given(window_cases())
def test_fuzz_conv_and_pooling(case):
    rng = np.random.default_rng(case["seed"])
    kind, n, c, h, w = case["kind"], case["n"], case["c"], case["h"], case["w"]
    k, s, p, d, g = case["k"], case["stride"], case["pad"], case["dil"], case["groups"]
    dt = case["dtype"]
    one_d = kind in ("conv1d", "max_pool1d")
    x = _values(rng, (n, c, w) if one_d else (n, c, h, w), dt)
    arrays = [x]
    if kind == "conv1d":
        arrays.append(_values(rng, (case["oc"], c // g, k), dt) / (c * k) ** 0.5)
    elif kind == "conv_transpose2d":
        arrays.append(_values(rng, (c, case["oc"] // g, k, k), dt) / (c * k) ** 0.5)
    if kind.startswith("conv") and case["bias"]:
        arrays.append(_values(rng, (case["oc"],), dt))

    def fn(lib, x, *wb):
        F = lib.nn.functional
        bias = wb[1] if len(wb) > 1 else None
        if kind == "conv1d":
            return F.conv1d(x, wb[0], bias, s, p, d, g)
        if kind == "conv_transpose2d":
            return F.conv_transpose2d(x, wb[0], bias, s, p, case["out_pad"], g, d)
        if kind == "avg_pool2d":
            return F.avg_pool2d(x, k, s, p, case["ceil"], case["count_pad"])
        if kind == "adaptive_avg":
            return F.adaptive_avg_pool2d(x, case["out"])
        if kind == "adaptive_max":
            return F.adaptive_max_pool2d(x, case["out"])
        return F.max_pool1d(x, k, s, p, d, case["ceil"])

    if _same_error(fn, arrays):
        return
    # a max-pooling window entirely in the padding has no reference: PyTorch's CPU kernel
    # reports an index past the input and its backward adds the gradient there (into the
    # next channel's first element); graphnn's output is -inf with no gradient
    assume(kind != "max_pool1d" or _every_window_reads_input(w, k, s, p, d, case["ceil"]))
    with conv_path("gemm" if case["gemm"] else None):
        check(fn, arrays, seed=case["seed"], what=str(case), **_tol(dt, c * k * k))


def _every_window_reads_input(w: int, k: int, s: int, p: int, d: int, ceil: bool) -> bool:
    _, idx = torch.nn.functional.max_pool1d(torch.zeros(1, 1, w), k, s, p, d, ceil,
                                            return_indices=True)
    return bool(((idx >= 0) & (idx < w)).all())


# -- composite layers -------------------------------------------------------------------------
@st.composite
def layer_cases(draw):
    kind = draw(st.sampled_from(["linear", "layer_norm", "group_norm", "batch_norm",
                                 "cross_entropy", "attention", "embedding"]))
    return dict(kind=kind, batch=draw(shapes(min_rank=1, max_rank=2, empty=False)),
                features=draw(SIZE), groups=draw(st.sampled_from([1, 2, 3])),
                norm_dims=draw(st.integers(1, 2)), affine=draw(st.booleans()),
                smoothing=draw(st.sampled_from([0.0, 0.0, 0.2])),
                ignore=draw(st.booleans()), causal=draw(st.booleans()),
                dtype=draw(FLOATS), seed=draw(st.integers(0, 2 ** 16)))


@fuzz(4)
@given(layer_cases())
def test_fuzz_composite_layers(case):
    rng = np.random.default_rng(case["seed"])
    kind, batch, f, dt = case["kind"], case["batch"], case["features"], case["dtype"]
    nograd = ()
    if kind == "linear":
        arrays = [_values(rng, batch + (f,), dt), _values(rng, (3, f), dt), _values(rng, (3,), dt)]

        def fn(lib, x, w, b):
            return lib.nn.functional.linear(x, w, b)
    elif kind in ("layer_norm", "group_norm", "batch_norm"):
        g = case["groups"]
        c = g * f if kind == "group_norm" else f
        shape = (batch[0], c) + batch[1:] + ((3,) if kind != "layer_norm" else ())
        norm = shape[-case["norm_dims"]:]
        wshape = norm if kind == "layer_norm" else (c,)
        arrays = [_values(rng, shape, dt), _values(rng, wshape, dt), _values(rng, wshape, dt)]
        # each element of the weight's and bias's gradients sums this many products
        terms = int(np.prod(shape)) // int(np.prod(wshape))
        if kind == "batch_norm":
            assume(np.prod(shape) // c > 1)     # training statistics need two values

        def fn(lib, x, w, b):
            F = lib.nn.functional
            w, b = (w, b) if case["affine"] else (None, None)
            if kind == "layer_norm":
                return F.layer_norm(x, norm, w, b)
            if kind == "group_norm":
                return F.group_norm(x, g, w, b)
            return F.batch_norm(x, None, None, w, b, training=True)
    elif kind == "cross_entropy":
        classes = max(2, f)
        y = rng.integers(0, classes, batch[:1])
        if case["ignore"]:
            y[0] = 1
        arrays = [_values(rng, batch[:1] + (classes,), dt), y, np.abs(_values(rng, (classes,), dt))]
        nograd = (1, 2)

        def fn(lib, x, y, w):
            return lib.nn.functional.cross_entropy(
                x, y, weight=w, ignore_index=1 if case["ignore"] else -100,
                label_smoothing=case["smoothing"])
    elif kind == "attention":
        q_len, kv_len = batch[-1], f
        if case["causal"]:
            kv_len = q_len
        arrays = [_values(rng, (2, q_len, 4), dt), _values(rng, (2, kv_len, 4), dt),
                  _values(rng, (2, kv_len, 3), dt)]

        def fn(lib, q, k, v):
            return lib.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                  is_causal=case["causal"])
    else:
        ids = rng.integers(0, f + 1, batch)
        arrays = [ids, _values(rng, (f + 1, 3), dt)]
        nograd = (0,)

        def fn(lib, i, w):
            return lib.nn.functional.embedding(i, w, padding_idx=0)
    if _same_error(fn, arrays):
        return
    tol = _tol(dt, 64)
    if kind in ("layer_norm", "group_norm", "batch_norm"):
        tol = _tol(dt, max(64, terms))
        x = arrays[0]
        groups = x.reshape(x.shape[0], case["groups"], -1) if kind == "group_norm" else x
        axes = (2,) if kind == "group_norm" else \
            tuple(range(x.ndim - len(norm), x.ndim)) if kind == "layer_norm" else \
            tuple(i for i in range(x.ndim) if i != 1)
        tol = _conditioned(tol, groups, axes)
    check(fn, arrays, nograd=nograd, seed=case["seed"], what=str(case), **tol)
